"""Making an empty database ready for imports: the ISO 3166 countries that `sitroom
migrate` writes, and a scenario (`sitroom scenario add`) to import into."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import DBAPIError, OperationalError

from dashboard import config
from dashboard.contract import schema
from dashboard.store import db
from dashboard.tools.importing import values as v
from dashboard.tools.importing.load import Refusal, open_existing

COUNTRIES_PATH = config.DATA_DIR / "countries.csv"


def fill_countries(engine: Engine) -> int:
    """Add the shipped ISO 3166-1 countries that `countries` lacks; return how many.
    Rows already there are kept as they are."""
    with COUNTRIES_PATH.open(encoding="utf-8", newline="") as f:
        shipped = list(csv.DictReader(f))
    with engine.begin() as conn:
        present = {r[0] for r in conn.execute(text("SELECT iso3 FROM countries"))}
        missing = [{"iso3": r["iso3"], "iso2": r["iso2"] or None, "name": r["name"]}
                   for r in shipped if r["iso3"] not in present]
        if missing:
            conn.execute(text("INSERT INTO countries (iso3, iso2, name) "
                              "VALUES (:iso3, :iso2, :name)"), missing)
    return len(missing)


def add(url: str, name: str, kind: str, country: str, starts_at: str | None = None,
        synthetic: bool = False) -> int:
    """Create a scenario in a migrated database; return its id. A database holds one live
    scenario and any number of exercises (docs/data-contract.md)."""
    if kind not in ("live", "exercise"):
        raise Refusal(f"--kind must be live or exercise, not {kind!r}")
    if not name.strip() or len(name) > 200:
        raise Refusal("--name must be 1 to 200 characters")
    try:
        start = (v.moment(starts_at) if starts_at else
                 datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    except v.Bad as exc:
        raise Refusal(f"--starts-at {starts_at!r}: {exc}") from None
    engine = open_existing(url)
    try:
        with engine.begin() as conn:
            try:
                schema.check(conn)
            except schema.SchemaMismatch as exc:
                raise Refusal(f"{db.describe(url)} is not ready: {exc}") from None
            code = country.strip().upper()
            if conn.execute(text("SELECT 1 FROM countries WHERE iso3 = :c"),
                            {"c": code}).first() is None:
                raise Refusal(f"--country {country!r} is not an ISO 3166-1 alpha-3 code in "
                              "countries (`sitroom migrate` fills them)")
            if kind == "live":
                live = conn.execute(text("SELECT id, name FROM scenarios WHERE kind = 'live'"
                                         )).first()
                if live is not None:
                    raise Refusal(f"{db.describe(url)} already has a live scenario: "
                                  f"{live.id} ({live.name}); a database holds one live "
                                  "scenario and any number of exercises")
            new_id = (conn.execute(text("SELECT MAX(id) FROM scenarios")).scalar() or 0) + 1
            conn.execute(text(
                "INSERT INTO scenarios (id, name, kind, starts_at, country, synthetic) "
                "VALUES (:id, :name, :kind, :starts_at, :country, :synthetic)").bindparams(
                bindparam("starts_at", type_=db.TIMESTAMP)),
                {"id": new_id, "name": name.strip(), "kind": kind, "starts_at": start,
                 "country": code, "synthetic": synthetic})
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT setval(pg_get_serial_sequence('scenarios', 'id'), "
                                  "COALESCE((SELECT MAX(id) FROM scenarios), 0) + 1, false)"))
    except (OperationalError, DBAPIError) as exc:
        raise Refusal(f"cannot write to the database {db.describe(url)}: "
                      f"{db.first_line(exc)}") from None
    finally:
        engine.dispose()
    return new_id
