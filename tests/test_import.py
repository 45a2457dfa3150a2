"""`sitroom import` and `sitroom scenario add` on files like the ones responders have.

A generated scenario written out as HXL-tagged CSV and XLSX comes back row for row into
an empty migrated database; a Kobo-style French form comes in through its mapping
file; files with a byte-order mark, semicolons, Excel dates, a title row, duplicates,
unknown P-codes, bad nationalities and immigration-status columns get a message naming
file, line, column, value and rule, and leave the database as it was. Expectations are
the tests' own SQL (tests/importfiles.py writes the files), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard.contract.models import Base
from dashboard.figures import quality
from dashboard.tools import cli
from dashboard.tools.generate import generate
from tests import importfiles as files
from tests.conftest import opened

ROOT = Path(__file__).resolve().parent.parent
KOBO = ROOT / "data" / "import" / "kobo-registration-fr.csv"
KOBO_MAPPING = ROOT / "data" / "import" / "kobo-registration-fr.yaml"
PERSONS = 2000
SEED = 5
LIVE = 1

# The contract's tables as the tests compare them: natural keys, no database numbering.
COMPARE = {
    "areas": files.EXPORTS["areas"],
    "facilities": files.EXPORTS["facilities"],
    "facility_occupancy": files.EXPORTS["occupancy"],
    "persons": files.EXPORTS["persons"].replace(", id AS pid", ""),
    "person_vulnerabilities": "SELECT p.ref, v.tag FROM person_vulnerabilities v JOIN persons p "
                              "ON p.id = v.person_id WHERE p.scenario_id = :s",
    "movements": files.EXPORTS["movements"],
    "evacuation_cases": files.EXPORTS["evacuation"],
    "referrals": files.EXPORTS["referrals"],
    "consular_posts": files.EXPORTS["consular-posts"],
    "hazards": files.EXPORTS["hazards"],
}
# The latest event of every row (greatest at, then id) equals its current row.
LATEST = {
    "person_events": ("persons", "person_id", "p.status = e.status AND {same}(p.facility_id, "
                      "e.facility_id) AND {same}(p.lat, e.lat) AND {same}(p.lon, e.lon)"),
    "referral_events": ("referrals", "referral_id", "p.status = e.status"),
    "evacuation_events": ("evacuation_cases", "case_id", "p.stage = e.stage"),
}


def sitroom(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _value(v):
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, bool):
        return int(v)
    return v


def rows(engine, sql: str, scenario: int = LIVE) -> list[tuple]:
    with engine.connect() as conn:
        return sorted((tuple(_value(x) for x in r) for r in conn.execute(text(sql),
                                                                        {"s": scenario})),
                      key=repr)


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in Base.metadata.tables}


def stale_events(engine, scenario: int) -> dict[str, int]:
    """Per history table: rows whose latest event differs from them, or that have none;
    both now and as of the scenario's data time (the latest change of its persons), so
    that a view as of that moment tells what the current rows tell."""
    same = "{same}"
    out = {}
    with engine.connect() as conn:
        null_safe = "IS" if conn.dialect.name == "sqlite" else "IS NOT DISTINCT FROM"
        as_of = conn.execute(text("SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
                             {"s": scenario}).scalar_one()
        for events, (table, owner, match) in LATEST.items():
            cond = match.replace(same + "(", "(").replace(", ", f" {null_safe} ")
            for moment in ("", " AND e2.at <= :as_of"):
                out[events] = out.get(events, 0) + conn.execute(text(
                    f"SELECT COUNT(*) FROM {table} p WHERE p.scenario_id = :s AND NOT EXISTS ("
                    f"SELECT 1 FROM {events} e WHERE e.id = (SELECT e2.id FROM {events} e2 "
                    f"WHERE e2.{owner} = p.id{moment} ORDER BY e2.at DESC, e2.id DESC LIMIT 1) "
                    f"AND {cond})"), {"s": scenario, "as_of": as_of}).scalar_one()
    return out


def new_database(backend: str, label: str, tmp_path: Path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{label}.sqlite'}"
    return request.getfixturevalue("pg_databases").create(label)


def ready(capsys, url: str, kind: str = "live", country: str = "LBN") -> int:
    """migrate and scenario add, as an operator would run them; the new scenario's id."""
    assert sitroom(capsys, "migrate", "--db-url", url)[0] == 0
    code, out, err = sitroom(capsys, "scenario", "add", "--db-url", url, "--name",
                             f"Test {kind}", "--kind", kind, "--country", country,
                             "--starts-at", "2026-10-26 00:00")
    assert code == 0, err
    return int(out.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def source(request, tmp_path_factory) -> str:
    """The original: a small generated scenario."""
    tmp = tmp_path_factory.mktemp("import_source")
    url = new_database(request.param, "import_src", tmp, request)
    generate(url, persons=PERSONS, seed=SEED)
    return url


@pytest.fixture(scope="module")
def exported(source, raw, tmp_path_factory) -> dict[str, tuple[list[str], list[list]]]:
    engine = raw(source)
    return {kind: files.table_rows(engine, kind, LIVE) for kind in files.ORDER}


@pytest.fixture(scope="module")
def raw(request):
    """A module-wide twin of conftest's `raw`: plain writable engines for the tests' SQL."""
    from sqlalchemy import create_engine

    engines = []

    def make(url: str):
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="module")
def base(source, exported, raw, tmp_path_factory, request) -> str:
    """A migrated database with a live scenario and the source's areas, facilities and
    persons imported: what the bad files are checked against (they never change it)."""
    tmp = tmp_path_factory.mktemp("import_base")
    backend = "sqlite" if source.startswith("sqlite") else "postgresql"
    url = new_database(backend, "import_base", tmp, request)
    cli.main(["migrate", "--db-url", url])
    cli.main(["scenario", "add", "--db-url", url, "--name", "Base", "--kind", "live",
              "--country", "LBN", "--starts-at", "2026-10-26"])
    for kind in ("areas", "facilities", "persons"):
        header, body = exported[kind]
        path = files.write_csv(tmp / f"{kind}.csv", kind, header, body)
        assert cli.main(["import", kind, str(path), "--db-url", url]) == 0
    return url


# --- scenario add, migrate --------------------------------------------------------------------


def test_migrate_fills_countries_and_scenario_add_prints_the_id(capsys, tmp_path, raw):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    with (ROOT / "data" / "countries.csv").open(encoding="utf-8") as f:
        shipped = {r["iso3"]: r["name"] for r in csv.DictReader(f)}
    assert ready(capsys, url) == 1
    engine = raw(url)
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT iso3, name FROM countries")).all())
        scenario = conn.execute(text("SELECT id, kind, country, starts_at, synthetic "
                                     "FROM scenarios")).one()
    assert stored == shipped
    assert (scenario.id, scenario.kind, scenario.country) == (1, "live", "LBN")
    assert str(scenario.starts_at).startswith("2026-10-26 00:00:00")
    assert not scenario.synthetic
    # migrate again: nothing doubled; a second live scenario is refused; an exercise is not
    assert sitroom(capsys, "migrate", "--db-url", url)[0] == 0
    assert counts(engine)["countries"] == len(shipped)
    code, _, err = sitroom(capsys, "scenario", "add", "--db-url", url, "--name", "Again",
                           "--kind", "live", "--country", "LBN")
    assert code == 2 and "already has a live scenario" in err and "Traceback" not in err
    code, out, _ = sitroom(capsys, "scenario", "add", "--db-url", url, "--name", "Drill",
                           "--kind", "exercise", "--country", "LBN", "--synthetic")
    assert code == 0 and out.strip().splitlines()[-1] == "2"
    code, _, err = sitroom(capsys, "scenario", "add", "--db-url", url, "--name", "X",
                           "--kind", "exercise", "--country", "XXX")
    assert code == 2 and "'XXX'" in err


# --- the round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_round_trip_of_a_generated_scenario(form, source, exported, raw, capsys, tmp_path,
                                            request):
    backend = "sqlite" if source.startswith("sqlite") else "postgresql"
    url = new_database(backend, f"import_rt_{form}", tmp_path, request)
    assert ready(capsys, url) == LIVE
    paths = {}
    for kind in files.ORDER:
        header, body = exported[kind]
        write = files.write_csv if form == "csv" else files.write_xlsx
        paths[kind] = write(tmp_path / f"{kind}.{form}", kind, header, body)
        code, out, err = sitroom(capsys, "import", kind, paths[kind], "--db-url", url)
        assert code == 0, out + err
        n = len(body)
        assert out.strip().splitlines()[-1] == (
            f"{kind}: {n} rows: {n} added, 0 updated, 0 unchanged, 0 dropped columns")
    original, imported = raw(source), raw(url)
    for table, sql in COMPARE.items():
        expected = rows(original, sql)
        assert expected, table
        assert rows(imported, sql) == expected, table
    assert stale_events(imported, LIVE) == dict.fromkeys(LATEST, 0)
    # the dashboard's own data-quality checks find what they find in the original: nothing
    breaks = quality.counts(opened(url), LIVE)
    assert breaks == quality.counts(opened(source), LIVE) == dict.fromkeys(breaks, 0)
    # importing the same files again changes nothing
    before = counts(imported)
    for kind in files.ORDER:
        code, out, _ = sitroom(capsys, "import", kind, paths[kind], "--db-url", url)
        n = len(exported[kind][1])
        assert code == 0
        assert out.strip().splitlines()[-1] == (
            f"{kind}: {n} rows: 0 added, 0 updated, {n} unchanged, 0 dropped columns")
    assert counts(imported) == before


def test_a_later_list_updates_rows_and_writes_their_history(source, exported, raw, capsys,
                                                            tmp_path, request):
    backend = "sqlite" if source.startswith("sqlite") else "postgresql"
    url = new_database(backend, "import_later", tmp_path, request)
    ready(capsys, url)
    for kind in ("areas", "facilities", "persons", "movements", "referrals"):
        header, body = exported[kind]
        assert sitroom(capsys, "import", kind, files.write_csv(
            tmp_path / f"{kind}.csv", kind, header, body), "--db-url", url)[0] == 0
    engine = raw(url)
    before = counts(engine)
    # persons: three change status at a later time, one only their phone
    header, body = exported["persons"]
    col = {name: i for i, name in enumerate(header)}
    later = [list(r) for r in body]
    moved = []
    for row in later:
        if len(moved) < 3 and row[col["status"]] == "located":
            row[col["status"]] = "missing"
            row[col["updated_at"]] = "2026-11-29 10:00:00"
            moved.append(row[col["ref"]])
    later[-1][col["phone"]] = "+961 70 000 000"
    path = files.write_csv(tmp_path / "persons-later.csv", "persons", header, later)
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", url)
    assert code == 0
    assert out.strip().splitlines()[-1] == (
        f"persons: {len(later)} rows: 0 added, 4 updated, {len(later) - 4} unchanged, "
        "0 dropped columns")
    with engine.connect() as conn:
        events = conn.execute(text(
            "SELECT p.ref, e.status, e.at FROM person_events e JOIN persons p "
            "ON p.id = e.person_id WHERE e.at >= :t"),
            {"t": datetime(2026, 11, 29, 10)}).all()
    assert sorted((r.ref, r.status, _value(r.at)) for r in events) == sorted(
        (ref, "missing", "2026-11-29 10:00:00") for ref in moved)
    after = counts(engine)
    assert after["person_events"] == before["person_events"] + 3
    assert stale_events(engine, LIVE) == dict.fromkeys(LATEST, 0)
    # the same list again: nothing
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", url)
    assert "0 added, 0 updated" in out.strip().splitlines()[-1]
    assert counts(engine) == after
    # a referral closes: one more referral event, closed_at as the file says
    header, body = exported["referrals"]
    col = {name: i for i, name in enumerate(header)}
    later = [list(r) for r in body]
    target = next(r for r in later if r[col["status"]] == "open")
    target[col["status"]], target[col["closed_at"]] = "closed", "2026-11-29 09:00:00"
    path = files.write_csv(tmp_path / "referrals-later.csv", "referrals", header, later)
    code, out, _ = sitroom(capsys, "import", "referrals", path, "--db-url", url)
    assert code == 0 and " 1 updated" in out
    with engine.connect() as conn:
        last = conn.execute(text("SELECT status, at FROM referral_events WHERE referral_id = :r "
                                 "ORDER BY at DESC, id DESC LIMIT 1"),
                            {"r": target[col["id"]]}).one()
    assert (last.status, _value(last.at)) == ("closed", "2026-11-29 09:00:00")
    assert counts(engine)["referral_events"] == after["referral_events"] + 1
    assert stale_events(engine, LIVE) == dict.fromkeys(LATEST, 0)
    # a change dated before the person's last recorded one is refused, nothing written
    header, body = exported["persons"]
    col = {name: i for i, name in enumerate(header)}
    older = [list(r) for r in body if r[col["ref"]] == moved[0]]
    older[0][col["status"]], older[0][col["updated_at"]] = "located", "2026-11-01 00:00:00"
    path = files.write_csv(tmp_path / "persons-older.csv", "persons", header, older)
    snapshot = counts(engine)
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", url)
    assert code == 1 and "history is never rewritten" in out
    assert counts(engine) == snapshot


def test_a_live_file_is_never_copied_into_an_exercise(base, exported, raw, capsys, tmp_path):
    engine = raw(base)
    with engine.connect() as conn:
        exercise = conn.execute(text("SELECT id FROM scenarios WHERE kind = 'exercise'")).scalar()
    if exercise is None:
        code, out, _ = sitroom(capsys, "scenario", "add", "--db-url", base, "--name", "Drill",
                               "--kind", "exercise", "--country", "LBN")
        exercise = int(out.strip().splitlines()[-1])
    header, body = exported["persons"]
    path = files.write_csv(tmp_path / "persons.csv", "persons", header, body[:5])
    before = counts(engine)
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base, "--scenario",
                           exercise)
    assert code == 1
    assert "persons.csv, line 3" in out
    assert f"belongs to scenario {LIVE} (live" in out and "never copied between scenarios" in out
    assert counts(engine) == before
    # the same for rows numbered by the upstream: a live facility's id
    header, body = exported["facilities"]
    path = files.write_csv(tmp_path / "facilities.csv", "facilities", header, body[:1])
    code, out, _ = sitroom(capsys, "import", "facilities", path, "--db-url", base,
                           "--scenario", exercise)
    assert code == 1
    assert (f"facilities.csv, line 3, column 'id': value '{body[0][0]}': facility {body[0][0]} "
            f"belongs to scenario {LIVE} (live") in out
    assert counts(engine) == before
    # the reverse: an exercise's own file goes in with its id, and never into live
    path = files.write_csv(tmp_path / "drill.csv", "persons", HEADER,
                           [person(901), person(902)])
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base, "--scenario",
                           exercise)
    assert code == 0 and "EXERCISE" in out
    before = counts(engine)
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert code == 1 and f"belongs to scenario {exercise} (exercise" in out
    assert counts(engine) == before


# --- files as responders have them ------------------------------------------------------------

HEADER = ["ref", "full_name", "sex", "birth_year", "nationality", "area_pcode", "status",
          "consent_consular", "documents", "registered_at"]
TAGS = ["#affected+id", "#affected+name", "#affected+sex", "#affected+birth+year",
        "#affected+nationality+code", "#adm2+code", "#status", "", "", "#date+registered"]


def person(n: int, **changes) -> list:
    row = {"ref": f"T-{n:04d}", "full_name": f"Test Person {n}", "sex": "f",
           "birth_year": 1990, "nationality": "ETH", "area_pcode": "LB0101",
           "status": "located", "consent_consular": "yes", "documents": "passport",
           "registered_at": "2026-10-28 09:00"}
    row.update(changes)
    return [row[h] for h in HEADER]


def write(path: Path, rows_: list[list], header=HEADER, tags=TAGS, delimiter=",",
          encoding="utf-8", title: str | None = None) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        out = csv.writer(f, delimiter=delimiter)
        if title:
            out.writerow([title])
        out.writerow(header)
        if tags:
            out.writerow(tags)
        out.writerows(rows_)
    return path


def refused(capsys, base, raw, path, *extra, kind: str = "persons") -> str:
    """Import a bad file: it must exit 1, write nothing, and return the report."""
    engine = raw(base)
    before = counts(engine)
    code, out, err = sitroom(capsys, "import", kind, path, "--db-url", base, *extra)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert out.strip().splitlines()[-1].endswith("nothing written")
    assert counts(engine) == before
    return out


def test_a_file_longer_than_a_chunk_is_all_or_nothing(base, raw, capsys, tmp_path, monkeypatch):
    """Files are checked and written a chunk at a time in one transaction: a bad row or
    a duplicate in a later chunk still leaves nothing written, and every bad row of
    every chunk is reported."""
    from dashboard.tools.importing import load

    monkeypatch.setattr(load, "CHUNK_ROWS", 3)
    body = [person(n) for n in range(101, 111)]
    body[6] = person(107, nationality="XYZ")  # line 9, in the third chunk
    body.append(person(102, full_name="Again"))  # line 13, a duplicate of line 4
    path = write(tmp_path / "long.csv", body)
    out = refused(capsys, base, raw, path)
    assert "long.csv, line 9, column 'nationality': value 'XYZ'" in out
    assert "long.csv, line 13, column 'ref': value 'T-0102': duplicate of line 4" in out
    write(path, body[:6] + [person(107)] + body[7:10])
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert code == 0 and out.strip().splitlines()[-1].startswith("persons: 10 rows: 10 added")
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert out.strip().splitlines()[-1].startswith("persons: 10 rows: 0 added, 0 updated, "
                                                   "10 unchanged")


def test_bom_semicolons_title_row_excel_dates_and_a_bad_nationality(base, raw, capsys,
                                                                    tmp_path):
    body = [person(1, registered_at="46322.5"), person(2, nationality="SDN"),
            person(3, nationality="XYZ"), person(4, nationality="PHL")]
    path = write(tmp_path / "liste.csv", body, delimiter=";", encoding="utf-8-sig",
                 title="Registration list, 28 October 2026")
    out = refused(capsys, base, raw, path)
    # title row 1, header 2, hashtags 3, then persons on lines 4..7: XYZ is on line 6
    assert ("liste.csv, line 6, column 'nationality': value 'XYZ': nationality: not an "
            "ISO 3166-1 alpha-3 code in countries") in out
    assert out.count("line ") == 1
    body[2] = person(3, nationality="SDN")
    write(path, body, delimiter=";", encoding="utf-8-sig", title="Registration list")
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert code == 0 and out.strip().splitlines()[-1].startswith("persons: 4 rows: 4 added")
    with raw(base).connect() as conn:
        got = conn.execute(text("SELECT registered_at FROM persons WHERE ref = 'T-0001'")
                           ).scalar_one()
    # Excel's serial day 46322.5 is noon on the 46322nd day after 1899-12-30
    assert _value(got) == (datetime(1899, 12, 30) + timedelta(days=46322.5)).strftime(
        "%Y-%m-%d %H:%M:%S")


def test_a_windows_encoded_tab_separated_file_without_hashtags(base, raw, capsys, tmp_path):
    body = [person(11, full_name="Zoé Hélène Béchara"), person(12)]
    path = write(tmp_path / "cp1252.txt", body, tags=None, delimiter="\t", encoding="cp1252")
    code, out, err = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert code == 0, out + err
    with raw(base).connect() as conn:
        name = conn.execute(text("SELECT full_name FROM persons WHERE ref = 'T-0011'")).scalar()
    assert name == "Zoé Hélène Béchara"


def test_a_duplicate_ref(base, raw, capsys, tmp_path):
    path = write(tmp_path / "dup.csv", [person(21), person(22), person(21, full_name="Again")])
    out = refused(capsys, base, raw, path)
    assert ("dup.csv, line 5, column 'ref': value 'T-0021': duplicate of line 3 (the same ref)"
            in out)
    assert refused(capsys, base, raw, path, "--dry-run") == out  # the same report


def test_the_other_kinds_refuse_their_bad_rows(base, raw, capsys, tmp_path):
    with raw(base).connect() as conn:
        ref = conn.execute(text("SELECT MIN(ref) FROM persons WHERE scenario_id = 1")).scalar()

    def csv_file(name: str, header: list[str], *body: list) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header, *body])
        return path

    fac = ["id", "name", "kind", "lat", "lon", "capacity", "status", "confidential"]
    code, out, _ = sitroom(capsys, "import", "facilities", csv_file(
        "fac.csv", fac, [9001, "House A", "safe_house", 33.9, 35.5, 10, "open", "no"]),
        "--db-url", base)
    assert code == 0 and "safe houses are written as confidential" in out
    with raw(base).connect() as conn:
        assert conn.execute(text("SELECT confidential FROM facilities WHERE id = 9001")
                            ).scalar_one()
    out = refused(capsys, base, raw, csv_file(
        "occ.csv", ["facility_id", "at", "occupants"], [9001, "2026-11-01 10:00", 11],
        [424242, "2026-11-01 10:00", 1]), kind="occupancy")
    assert ("occ.csv, line 2, column 'occupants': value '11': occupants above the facility's "
            "capacity of 10") in out
    assert "occ.csv, line 3, column 'facility_id': value '424242': facility_id: no facility " \
           "424242 in scenario 1" in out
    evac = ["id", "person_ref", "stage", "destination", "requested_at", "updated_at"]
    code, out, _ = sitroom(capsys, "import", "evacuation", csv_file(
        "evac.csv", evac, [9101, ref, "manifested", "ETH", "2026-11-01", "2026-11-05"]),
        "--db-url", base)
    assert code == 0, out
    out = refused(capsys, base, raw, csv_file(
        "evac2.csv", evac, [9101, ref, "verified", "ETH", "2026-11-01", "2026-11-09"]),
        kind="evacuation")
    assert ("evac2.csv, line 2, column 'stage': value 'verified': goes back from manifested"
            in out)
    out = refused(capsys, base, raw, csv_file(
        "evac3.csv", evac, [9102, "NOPE-1", "requested", "ETH", "2026-11-01", ""],
        [9103, ref, "requested", "XX", "2026-11-01", ""]), kind="evacuation")
    assert "evac3.csv, line 2, column 'person_ref': value 'NOPE-1': person_ref: no person " \
           "with ref NOPE-1" in out
    assert "evac3.csv, line 3, column 'destination': value 'XX'" in out
    ref_cols = ["id", "person_ref", "service", "from_org", "to_org", "priority", "status",
                "created_at"]
    out = refused(capsys, base, raw, csv_file(
        "ref.csv", ref_cols, [9201, ref, "food", "IOM", "UNHCR", "high", "open", "2026-11-01"]),
        kind="referrals")
    assert "ref.csv, line 2, column 'service': value 'food': service: not a known service" in out
    out = refused(capsys, base, raw, csv_file(
        "haz.csv", ["kind", "severity", "geometry", "valid_from"],
        ["flood", "high", '{"type": "Point", "coordinates": [35.5, 33.9]}', "2026-11-01"]),
        kind="hazards")
    assert "haz.csv, line 2, column 'geometry'" in out and "not a GeoJSON Polygon" in out
    out = refused(capsys, base, raw, csv_file(
        "posts.csv", ["country", "name", "lat", "lon", "status"],
        ["ETH", "Embassy", 33.9, 35.5, "shut"]), kind="consular-posts")
    assert "posts.csv, line 2, column 'status': value 'shut'" in out


def test_an_unknown_pcode(base, raw, capsys, tmp_path):
    path = write(tmp_path / "pcode.csv", [person(31), person(32, area_pcode="LB9999")])
    out = refused(capsys, base, raw, path)
    assert ("pcode.csv, line 4, column 'area_pcode': value 'LB9999': area_pcode: not a "
            "P-code in areas") in out


def test_coordinates_outside_the_country_and_a_bad_vocabulary(base, raw, capsys, tmp_path):
    header, tags = [*HEADER, "lat", "lon"], [*TAGS, "#geo+lat", "#geo+lon"]
    body = [person(41) + [33.9, 35.5], person(42) + [48.85, 2.35],
            person(43, status="lost") + [33.9, 35.5]]
    out = refused(capsys, base, raw, write(tmp_path / "geo.csv", body, header, tags))
    assert "geo.csv, line 4, column 'lat': value '48.85, 2.35': outside LBN" in out
    assert "geo.csv, line 5, column 'status': value 'lost': status: not a known status" in out


def test_an_ambiguous_date_is_refused_unless_the_mapping_says_which(base, raw, capsys,
                                                                   tmp_path):
    path = write(tmp_path / "dates.csv", [person(51, registered_at="03/04/2026")])
    out = refused(capsys, base, raw, path)
    assert "dates.csv, line 3, column 'registered_at': value '03/04/2026'" in out
    assert "ambiguous date" in out
    mapping = tmp_path / "dates.yaml"
    mapping.write_text("dates: day-first\n")
    before = counts(raw(base))
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base, "--mapping",
                           mapping, "--dry-run")
    assert code == 0
    assert out.strip().splitlines()[-1] == ("persons: 1 rows: 1 added, 0 updated, 0 unchanged, "
                                            "0 dropped columns (dry run: nothing written)")
    assert counts(raw(base)) == before
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base, "--mapping",
                           mapping)
    with raw(base).connect() as conn:
        got = conn.execute(text("SELECT registered_at FROM persons WHERE ref = 'T-0051'")
                           ).scalar_one()
    assert _value(got) == "2026-04-03 00:00:00"


def test_times_in_a_named_zone_are_stored_in_utc(base, raw, capsys, tmp_path):
    path = write(tmp_path / "beirut.csv", [person(61, registered_at="2026-11-10 10:00")])
    code, out, err = sitroom(capsys, "import", "persons", path, "--db-url", base,
                             "--timezone", "Asia/Beirut")
    assert code == 0, out + err
    with raw(base).connect() as conn:
        got = conn.execute(text("SELECT registered_at FROM persons WHERE ref = 'T-0061'")
                           ).scalar_one()
    assert _value(got) == "2026-11-10 08:00:00"  # Beirut is UTC+2 in November


def test_an_immigration_status_column_is_dropped_and_never_stored(base, raw, capsys,
                                                                 tmp_path):
    header = [*HEADER, "Immigration status", "Legal", "phone", "vulnerabilities"]
    tags = [*TAGS, "", "#status+legal", "#contact+phone", "#affected+vulnerability"]
    body = [person(71) + ["overstayer", "work visa expired", "+961 1", "undocumented;medical"],
            person(72) + ["asylum seeker", "", "+961 2", ""],
            person(73, consent_consular="") + ["", "recognised refugee", "+961 3", ""],
            person(74) + ["", "", "+961 4", "refugee; elderly"]]
    path = write(tmp_path / "status.csv", body, header, tags)
    code, out, err = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert code == 0, out + err
    assert ("status.csv: column 'Immigration status' dropped: immigration, residence or legal "
            "status: never stored") in out
    assert "status.csv: column 'Legal' dropped: immigration, residence or legal status" in out
    assert out.strip().splitlines()[-1].endswith("2 dropped columns")
    with raw(base).connect() as conn:
        stored = conn.execute(text(
            "SELECT ref, consent_consular, protection_confidential FROM persons "
            "WHERE ref IN ('T-0071', 'T-0072', 'T-0073', 'T-0074') ORDER BY ref")).all()
        tags_stored = conn.execute(text(
            "SELECT p.ref, v.tag FROM person_vulnerabilities v JOIN persons p "
            "ON p.id = v.person_id WHERE p.ref LIKE 'T-007%' ORDER BY p.ref, v.tag")).all()
        everything = json.dumps([list(map(str, r)) for r in conn.execute(
            text("SELECT * FROM persons WHERE ref LIKE 'T-007%'"))])
    # protected people are protection_confidential; no consent given is no consent
    assert [(r.ref, bool(r.consent_consular), bool(r.protection_confidential))
            for r in stored] == [("T-0071", True, False), ("T-0072", True, True),
                                 ("T-0073", False, True), ("T-0074", True, True)]
    # a tag that says a status is never stored either; one that says protection protects
    assert [tuple(r) for r in tags_stored] == [("T-0071", "medical"), ("T-0074", "elderly")]
    assert "vulnerability tag 'undocumented' not stored" in out
    for word in ("overstayer", "visa", "asylum", "refugee", "undocumented"):
        assert word not in everything


def test_no_consent_column_means_no_consent(base, raw, capsys, tmp_path):
    keep = [i for i, h in enumerate(HEADER) if h != "consent_consular"]
    body = [[person(81)[i] for i in keep]]
    path = write(tmp_path / "noconsent.csv", body, [HEADER[i] for i in keep],
                 [TAGS[i] for i in keep])
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base)
    assert code == 0 and "not consenting" in out
    with raw(base).connect() as conn:
        assert not conn.execute(text("SELECT consent_consular FROM persons "
                                     "WHERE ref = 'T-0081'")).scalar_one()


def test_a_kobo_xlsx_through_the_mapping_file(base, raw, capsys, tmp_path):
    import openpyxl

    with KOBO.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f, delimiter=";"))
    book = openpyxl.Workbook()
    book.active.title = "Enregistrement"
    for row in table:
        book.active.append(row)
    book.create_sheet("choices").append(["list_name", "name", "label"])
    path = tmp_path / "kobo.xlsx"
    book.save(path)
    code, out, err = sitroom(capsys, "import", "persons", path, "--db-url", base,
                             "--mapping", KOBO_MAPPING, "--sheet", "Enregistrement")
    assert code == 0, out + err
    assert "column 'Statut légal' dropped: immigration, residence or legal status" in out
    assert out.strip().splitlines()[-1] == (
        "persons: 5 rows: 5 added, 0 updated, 0 unchanged, 3 dropped columns")
    with raw(base).connect() as conn:
        got = conn.execute(text(
            "SELECT ref, sex, nationality, status, documents, consent_consular, "
            "protection_confidential, area_pcode, registered_at FROM persons "
            "WHERE ref LIKE 'KB-%' ORDER BY ref")).all()
        tags = conn.execute(text(
            "SELECT p.ref, v.tag FROM person_vulnerabilities v JOIN persons p "
            "ON p.id = v.person_id WHERE p.ref LIKE 'KB-%' ORDER BY p.ref")).all()
    assert [tuple(_value(x) for x in r) for r in got] == [
        ("KB-0001", "f", "SEN", "sheltered", "passport", 1, 0, "LB0101", "2026-10-27 08:15:00"),
        ("KB-0002", "m", "SEN", "located", "held_by_employer", 0, 0, "LB0101",
         "2026-10-27 08:31:12"),
        ("KB-0003", "f", "ETH", "sheltered", "none", 1, 1, "LB0202", "2026-10-27 09:12:45"),
        ("KB-0004", "f", "ETH", "missing", "national_id", 0, 0, "LB0202",
         "2026-10-27 09:48:30"),
        ("KB-0005", "m", "GHA", "located", "expired_passport", 1, 1, "LB0303",
         "2026-10-27 10:22:05"),
    ]
    assert [tuple(r) for r in tags] == [("KB-0001", "pregnant"), ("KB-0003", "gbv"),
                                        ("KB-0004", "disability"), ("KB-0005", "elderly")]
    code, out, _ = sitroom(capsys, "import", "persons", path, "--db-url", base,
                           "--mapping", KOBO_MAPPING, "--sheet", "Enregistrement")
    assert "5 rows: 0 added, 0 updated, 5 unchanged" in out


def test_areas_from_geojson(capsys, tmp_path, raw):
    url = f"sqlite:///{tmp_path / 'areas.sqlite'}"
    ready(capsys, url)
    level1 = tmp_path / "adm1.csv"
    level1.write_text("admin1Pcode,admin1Name_en\n#adm1+code,#adm1+name\nLB01,Beirut\n",
                      encoding="utf-8")
    code, out, _ = sitroom(capsys, "import", "areas", level1, "--db-url", url)
    assert code == 1 and "no column gives lat" in out  # a CSV names its centre itself
    level1.write_text("admin1Pcode,admin1Name_en,lat,lon\n#adm1+code,#adm1+name,#geo+lat,"
                      "#geo+lon\nLB01,Beirut,33.89,35.50\n", encoding="utf-8")
    assert sitroom(capsys, "import", "areas", level1, "--db-url", url)[0] == 0
    square = [[[35.40, 33.80], [35.60, 33.80], [35.60, 34.00], [35.40, 34.00], [35.40, 33.80]]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ADM2_PCODE": "LB0101", "ADM2_EN": "Beirut",
                                           "ADM2_FR": "Beyrouth", "ADM1_PCODE": "LB01",
                                           "ADM1_EN": "Beirut"},
         "geometry": {"type": "Polygon", "coordinates": square}}]}
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    # the common operational datasets' own property names need no mapping
    code, out, err = sitroom(capsys, "import", "areas", path, "--db-url", url)
    assert code == 0, out + err
    assert out.strip().splitlines()[-1] == (
        "areas: 1 rows: 1 added, 0 updated, 0 unchanged, 2 dropped columns")
    with raw(url).connect() as conn:
        got = conn.execute(text("SELECT pcode, name, admin_level, parent_pcode, country, lat, "
                                "lon FROM areas ORDER BY pcode")).all()
    assert [tuple(r) for r in got] == [("LB01", "Beirut", 1, None, "LBN", 33.89, 35.5),
                                      ("LB0101", "Beirut", 2, "LB01", "LBN", 33.9, 35.5)]
    # the feature's boundary is kept for the Map; a CSV row without one has none
    with raw(url).connect() as conn:
        shapes = dict(conn.execute(text("SELECT pcode, geometry FROM areas")).all())
    assert shapes["LB01"] is None
    assert json.loads(shapes["LB0101"]) == {"type": "Polygon", "coordinates": square}
    # the same file again changes nothing
    code, out, _ = sitroom(capsys, "import", "areas", path, "--db-url", url)
    assert code == 0 and "0 added, 0 updated, 1 unchanged" in out


# --- what cannot start says why, with no traceback --------------------------------------------


def test_every_bad_start_gets_a_message_and_no_traceback(base, capsys, tmp_path):
    good = write(tmp_path / "ok.csv", [person(91)])
    garbage = tmp_path / "broken.xlsx"
    garbage.write_bytes(b"this is not a workbook")
    (tmp_path / "not-migrated.sqlite").touch()
    empty = f"sqlite:///{tmp_path / 'not-migrated.sqlite'}"
    cases = {
        "no such file": ("persons", tmp_path / "missing.csv", "--db-url", base),
        "not a readable spreadsheet": ("persons", garbage, "--db-url", base),
        "unknown KIND 'people'": ("people", good, "--db-url", base),
        "is not ready for an import": ("persons", good, "--db-url", empty),
        "no database file at": ("persons", good, "--db-url",
                                f"sqlite:///{tmp_path / 'typo.sqlite'}"),
        "there is no scenario 99": ("persons", good, "--db-url", base, "--scenario", 99),
        "unknown time zone": ("persons", good, "--db-url", base, "--timezone", "Mars/Olympus"),
        "no such mapping file": ("persons", good, "--db-url", base, "--mapping",
                                 tmp_path / "none.yaml"),
    }
    for expected, args in cases.items():
        code, out, err = sitroom(capsys, "import", *args)
        assert code == 2 and expected in err, (expected, out, err)
    book = tmp_path / "one.xlsx"
    files.write_xlsx(book, "persons", HEADER, [person(92)], sheet="data")
    code, _, err = sitroom(capsys, "import", "persons", book, "--db-url", base, "--sheet",
                           "Feuil1")
    assert code == 2 and "no sheet named 'Feuil1' (sheets: 'data')" in err
