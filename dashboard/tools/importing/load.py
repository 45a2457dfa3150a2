"""Importing one file: check every row against the contract and the database, and write
the whole file in one transaction, current rows and their history together, or nothing.

The order of work is the promise made to whoever runs it: a file with any bad row writes
nothing, and its report names every bad row; a dry run checks the same way and writes
nothing either. A file is read, checked and written a chunk of rows at a time inside one
transaction, so that a list of a million people fits in bounded memory: the first
problem stops the writing, the checking goes on to the end of the file, and the
transaction is rolled back. The history is written as the generator and the drill
simulator write it (docs/data-contract.md, "Current state and its history"): a new
person gets a `person_events` row with their status, a new referral an `open` event,
a new evacuation case a `requested` event, and every later change of status, place or
stage an event at the time of the change, so that as-of views, deltas and the
after-action review read imported rows exactly as generated ones.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from dashboard.contract import schema, vocab
from dashboard.contract.models import Base
from dashboard.store import db
from dashboard.tools import bulk
from dashboard.tools.importing import columns as cols
from dashboard.tools.importing import values as v
from dashboard.tools.importing.kinds import (
    BOOL,
    FACILITY,
    GEOMETRY,
    ID_WHEN_GIVEN,
    INT,
    ISO3,
    KINDS,
    LAT,
    LON,
    MOVEMENT,
    PCODE,
    PERSON,
    TAGS,
    TEXT,
    TIME,
    VOCAB,
    Field,
    Kind,
)
from dashboard.tools.importing.read import centre, read

if TYPE_CHECKING:
    import sqlite3

    import psycopg

EXTENT_MARGIN = 0.5  # degrees (about 50 km) around the scenario's areas
ONE_SECOND = timedelta(seconds=1)

# Vulnerability tags that would encode immigration or residence status: never stored
# (docs/data-contract.md, obligation 1). Those that say international protection make
# the person protection_confidential instead.
STATUS_TAG = re.compile(r"undocumented|overstay|irregular|\w+legal|legal.?status|visa|permit"
                        r"|deport|sans.?papiers|residen|migratory", re.IGNORECASE)


CHUNK_ROWS = 20_000  # rows read, checked, compared and written together
SQLITE_CACHE_KB = 262_144
# A list this long changes the shape of its tables: the planner's statistics are then
# refreshed, as after the generator's load, so that the dashboard's queries over imported
# rows are planned as over generated ones.
ANALYZE_AFTER_ROWS = 50_000
# What the report calls a row whose identifier belongs to another scenario.
OWNED = {"persons": "person with ref", "evacuation": "evacuation case",
         "referrals": "referral", "facilities": "facility", "movements": "movement",
         "hazards": "hazard"}


class Refusal(Exception):
    """The import cannot start: an unknown KIND, time zone, database or scenario."""


@dataclass
class Problem:
    line: int | None
    column: str | None
    value: Any
    rule: str

    def text(self, file: str) -> str:
        where = f"{file}, line {self.line}" if self.line is not None else file
        if self.column is not None:
            where += f", column {self.column!r}"
        shown = "" if self.value is None else f": value {_shown(self.value)!r}"
        return f"{where}{shown}: {self.rule}"


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


@dataclass
class Report:
    kind: str
    file: str
    dry_run: bool = False
    scenario: str | None = None
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (f"{self.kind}: {self.rows} rows: {self.added} added, {self.updated} updated, "
                f"{self.unchanged} unchanged, {len(self.dropped)} dropped columns")

    def lines(self) -> list[str]:
        out = [p.text(self.file) for p in self.problems]
        out += [f"{self.file}: column {h!r} dropped: {why}" for h, why in self.dropped]
        out += [f"{self.file}: {note}" for note in self.notes]
        if self.scenario:
            out.append(f"{self.file}: into {self.scenario}")
        if self.problems:
            bad = len({p.line for p in self.problems})
            out.append(f"{self.file}: {len(self.problems)} problem(s) in {bad} place(s); "
                       "nothing written")
        elif self.dry_run:
            out.append(f"{self.summary()} (dry run: nothing written)")
        else:
            out.append(self.summary())
        return out


@dataclass
class Scenario:
    id: int
    name: str
    kind: str
    country: str | None

    def label(self) -> str:
        mark = " — EXERCISE" if self.kind == "exercise" else ""
        return f"scenario {self.id} ({self.kind}: {self.name}){mark}"


# --- the entry point -----------------------------------------------------------------------


def run(url: str, kind_name: str, path: Path, scenario_id: int | None = None,
        mapping_path: Path | None = None, sheet: str | None = None, dry_run: bool = False,
        timezone: str | None = None) -> Report:
    """Import one file. Raises Refusal, FileProblem or MappingProblem when it cannot start;
    otherwise returns the report, with problems if the file was refused."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise Refusal(f"unknown KIND {kind_name!r} (one of {', '.join(KINDS)})")
    zone = _zone(timezone)
    mapping = cols.load_mapping(mapping_path, kind)
    loaded = read(path, sheet)
    layout = cols.layout(loaded, kind, mapping)
    report = Report(kind.name, loaded.name, dry_run=dry_run)
    report.dropped = [(c.header, c.why_dropped or "") for c in layout.dropped()]
    engine = open_existing(url)
    try:
        with engine.begin() as conn:
            _check_schema(conn, url)
            scenario = _scenario(conn, scenario_id, kind, url)
            report.scenario = scenario.label() if scenario else None
            if conn.dialect.name == "sqlite":
                # A page cache of 256 MB (not 2 MB) keeps the indexes of a million new
                # persons in memory while they grow, instead of spilling to the file.
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
            job = Job(conn, kind, scenario, mapping, zone, layout, report)
            job.run(write=not dry_run)
            if report.problems or dry_run:
                conn.rollback()
                return report
    except (OperationalError, DBAPIError) as exc:
        raise Refusal(f"cannot write to the database {db.describe(url)}: "
                      f"{db.first_line(exc)}") from None
    finally:
        engine.dispose()
    return report


def open_existing(url: str) -> Engine:
    """A writable engine on a database that exists: SQLite would quietly create a new,
    empty file for a mistyped path."""
    path = db.sqlite_path(url)
    if path is not None and not path.exists():
        raise Refusal(f"no database file at {path}; create it with `sitroom migrate --db-url "
                      f"{url}` first")
    return db.writable_engine(url)


def _zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refusal(f"unknown time zone {name!r} (an IANA name such as Asia/Beirut or "
                      "Europe/Paris)") from None


def _check_schema(conn: Connection, url: str) -> None:
    try:
        schema.check(conn)
    except schema.SchemaMismatch as exc:
        raise Refusal(f"{db.describe(url)} is not ready for an import: {exc}") from None


def _scenario(conn: Connection, scenario_id: int | None, kind: Kind, url: str) -> Scenario | None:
    rows = [Scenario(r.id, r.name, r.kind, r.country) for r in conn.execute(
        text("SELECT id, name, kind, country FROM scenarios ORDER BY id"))]
    listed = "; ".join(f"{s.id} {s.kind} {s.name!r}" for s in rows) or "none"
    if scenario_id is not None:
        found = next((s for s in rows if s.id == scenario_id), None)
        if found is None:
            raise Refusal(f"there is no scenario {scenario_id} in {db.describe(url)} "
                          f"(scenarios: {listed}); create one with `sitroom scenario add`")
        return found
    live = [s for s in rows if s.kind == "live"]
    if len(live) == 1:
        return live[0]
    if not kind.scenario_bound:
        return None
    if not live:
        raise Refusal(f"{db.describe(url)} has no live scenario to import into (scenarios: "
                      f"{listed}); give --scenario ID for an exercise, or create the live one "
                      "with `sitroom scenario add --kind live`")
    raise Refusal(f"{db.describe(url)} has {len(live)} live scenarios ({listed}); give "
                  "--scenario ID")


# --- one file's work -----------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    line: int
    values: dict[str, Any]               # contract columns as stored
    given: set[str]                      # the columns the file gave (the rest keep theirs)
    tags: set[str] | None = None         # persons: vulnerability tags, when the file has them
    protected: bool = False              # persons: a legal-status column said protection


Step = tuple[Row, dict | None, dict[str, Any]]  # a row, its stored row, what changes


class Job:
    def __init__(self, conn: Connection, kind: Kind, scenario: Scenario | None,
                 mapping: cols.Mapping, zone: tzinfo, layout: cols.Layout, report: Report):
        self.conn, self.kind, self.scenario = conn, kind, scenario
        self.mapping, self.zone, self.layout, self.report = mapping, zone, layout, report
        self.table = Base.metadata.tables[kind.table]
        self.columns = set(self.table.c.keys())
        self.now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        self.countries = {r[0] for r in conn.execute(text("SELECT iso3 FROM countries"))}
        # What every row needs of each column, worked out once: (contract column,
        # position, header, required, reader, the mapping's values for it (a tags cell
        # is mapped tag by tag), whether it holds tags).
        self.cells = [(name, c.position, c.header, c.field.required, self.converter(c.field),
                       None if c.field.kind == TAGS else mapping.values.get(name),
                       c.field.kind == TAGS)
                      for name, c in layout.stored().items() if c.field is not None]
        self.legal = [c for c in layout.dropped() if c.legal]
        self._complete = getattr(self, f"_complete_{kind.table}", None)  # what a row needs
        self.seen: dict[Any, int] = {}  # the key of each good row so far -> its line
        self.next_id: int | None = None  # the importer numbers new rows from here
        self._whole: dict[tuple, dict] | None = None
        self.areas = {r.pcode: r for r in conn.execute(
            text("SELECT pcode, country, admin_level, lat, lon FROM areas"))}
        self.extent = self._extent()
        self._facilities: dict[int, tuple[int, int]] | None = None
        self._movements: dict[int, int] | None = None
        self._persons: dict[str, tuple[int, int]] | None = None
        self._as_of: datetime | None = None

    # --- what the database already holds ---

    def _extent(self) -> tuple[float, float, float, float] | None:
        country = self.scenario.country if self.scenario else None
        points = [(a.lat, a.lon) for a in self.areas.values()
                  if country is None or a.country == country]
        points = [(lat, lon) for lat, lon in points if lat is not None and lon is not None]
        if not points:
            return None
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        m = EXTENT_MARGIN
        return min(lats) - m, max(lats) + m, min(lons) - m, max(lons) + m

    @property
    def sid(self) -> int | None:
        return self.scenario.id if self.scenario else None

    def facilities(self) -> dict[int, tuple[int, int]]:
        """Every facility: id -> (scenario, capacity)."""
        if self._facilities is None:
            self._facilities = {r.id: (r.scenario_id, r.capacity) for r in self.conn.execute(
                text("SELECT id, scenario_id, capacity FROM facilities"))}
        return self._facilities

    def movements(self) -> dict[int, int]:
        if self._movements is None:
            self._movements = {r.id: r.scenario_id for r in self.conn.execute(
                text("SELECT id, scenario_id FROM movements"))}
        return self._movements

    def persons(self) -> dict[str, tuple[int, int]]:
        """The persons the rows of this chunk name: ref -> (id, scenario)."""
        return self._persons or {}

    def _named_persons(self, chunk: list[Any]) -> dict[str, tuple[int, int]]:
        """The persons a chunk of referrals or evacuation cases names by ref, read for
        that chunk only: a scenario may hold a million persons."""
        column = self.layout.stored().get("person_ref")
        if column is None:
            return {}
        refs = set()
        for _line, cells, _geometry in chunk:
            raw = self.mapping.value("person_ref", cells[column.position]
                                     if column.position < len(cells) else None)
            if not v.blank(raw):
                refs.add(v.text(raw, 100_000))
        return {r["ref"]: (r["id"], r["scenario_id"]) for r in self._among(
            "SELECT ref, id, scenario_id FROM persons WHERE {among}", "ref", refs)}

    def elsewhere(self, what: str, ident: Any, owner: int) -> str:
        other = self.conn.execute(text("SELECT kind, name FROM scenarios WHERE id = :i"),
                                  {"i": owner}).first()
        label = f"{owner} ({other.kind}: {other.name})" if other else str(owner)
        return (f"{what} {ident} belongs to scenario {label}, not to "
                f"{self.scenario.label() if self.scenario else 'this import'}: rows are never "
                f"copied between scenarios (give --scenario {owner} to update it there)")

    # --- checking ---

    def run(self, write: bool) -> None:
        """Check every row and, while the file has no problem and `write` is set, write
        it: CHUNK_ROWS rows at a time are parsed, compared with what is stored and
        written into the caller's transaction. After the first problem nothing more is
        written (the caller rolls back what was); the checking goes on to the end."""
        given = self.layout.stored()
        for f in self.kind.fields:
            if f.required and f.name not in given and not self._filled(f):
                self.report.problems.append(Problem(
                    None, None, None, f"no column gives {f.name} (required for "
                    f"{self.kind.name}{'; HXL ' + f.hxl if f.hxl else ''}); name a column so, "
                    "tag it, or map one to it in the mapping file"))
        if self.report.problems:
            return
        if self.kind.name == "persons" and "consent_consular" not in given:
            self.report.notes.append("no consent column: every person is written as not "
                                     "consenting to consular sharing")
        records = self.layout.rows()
        while chunk := list(itertools.islice(records, CHUNK_ROWS)):
            self.report.rows += len(chunk)
            self._persons = self._named_persons(chunk)
            rows = [row for row in (self.parse(*record) for record in chunk) if row is not None]
            self._duplicates(rows)
            plan = self._plan(rows)
            if write and not self.report.problems:
                self.write(plan)
        if write and not self.report.problems:
            self._reset_sequences()
            if self.report.added + self.report.updated >= ANALYZE_AFTER_ROWS:
                bulk.analyze(self.conn)

    def _filled(self, f: Field) -> bool:
        """A required column the importer can fill without the file."""
        if self.kind.name == "areas":
            if f.name in ("lat", "lon"):  # GeoJSON: from each feature's geometry
                return self.layout.sheet.geojson
        return False

    def bad(self, line: int, column: str | None, value: Any, rule: str) -> None:
        self.report.problems.append(Problem(line, column, value, rule))

    def parse(self, line: int, cells: list[Any], geometry: dict | None) -> Row | None:
        before = len(self.report.problems)
        out: dict[str, Any] = {}
        given: set[str] = set()
        row = Row(line, out, given)
        width = len(cells)
        for name, position, header, required, convert, table, tags in self.cells:
            raw = cells[position] if position < width else None
            mapped = raw if table is None or raw is None else table.get(cols.norm(raw), raw)
            if not mapped.strip() if mapped.__class__ is str else v.blank(mapped):
                if required:
                    self.bad(line, header, None, f"{name} is required")
                continue
            try:
                value = convert(mapped)
                if tags:
                    row.tags = self._tags(value, row)
                    continue
            except v.Bad as exc:
                self.bad(line, header, raw, f"{name}: {exc}")
                continue
            out[name] = value
            given.add(name)
        for column in self.legal:
            raw = cells[column.position] if column.position < width else None
            if not v.blank(raw) and self._says_protected(column.header, raw):
                row.protected = True
        if len(self.report.problems) > before:
            return None
        self.complete(row, geometry)
        return None if len(self.report.problems) > before else row

    def _says_protected(self, header: str, raw: Any) -> bool:
        mapped = self.mapping.value(cols.LEGAL, raw)
        if mapped is True or cols.PROTECTED.search(str(mapped)):
            return True
        if cols.PROTECTED.search(header):  # a yes/no column such as "Réfugié"
            try:
                return v.boolean(mapped)
            except v.Bad:
                return False
        return False

    def converter(self, f: Field) -> Callable[[Any], Any]:
        """The reader of this field's cells, chosen once per column rather than once per
        cell (a million rows of twenty columns are twenty million cells), as a partial
        where it can be: called from C, without a Python frame of its own."""
        kind, name = f.kind, f.name
        if kind == TEXT:
            return partial(v.text, limit=f.limit)
        if kind == INT:
            low, high = {"birth_year": (1900, self.now.year), "admin_level": (1, 5),
                         "id": (1, None)}.get(name, (0, None))
            return partial(v.integer, low=low, high=high)
        if kind in (LAT, LON):
            bound = 90 if kind == LAT else 180
            return partial(v.decimal, low=-bound, high=bound)
        if kind == BOOL:
            return v.boolean
        if kind == TIME:
            return partial(v.moment, zone=self.zone, order=self.mapping.dates,
                           fmt=self.mapping.formats.get(name))
        if kind == ISO3:
            return partial(v.iso3, countries=self.countries)
        if kind == VOCAB:
            assert f.vocabulary is not None
            vocabulary, what = f.vocabulary, f"known {name}"
            # a value of the vocabulary as it is written there needs no tidying
            return lambda raw: raw if raw.__class__ is str and raw in vocabulary else v.code(
                "_".join(str(raw).strip().lower().split()), vocabulary, what)
        if kind == TAGS:  # read by _tags, which needs the row
            return lambda raw: raw
        return partial(self.convert, f)

    def convert(self, f: Field, raw: Any) -> Any:
        """A cell of a field that refers to other rows, or holds tags or a shape."""
        kind = f.kind
        if kind == PCODE:
            code = v.text(raw, f.limit)
            if code not in self.areas and not (self.kind.name == "areas" and code in
                                                self._file_pcodes()):
                raise v.Bad("not a P-code in areas (import the areas first)")
            return code
        if kind == FACILITY:
            ident = v.integer(raw, 1)
            owner = self.facilities().get(ident)
            if owner is None:
                raise v.Bad(f"no facility {ident} in {self._where()} (import facilities first)")
            if owner[0] != self.sid:
                raise v.Bad(self.elsewhere("facility", ident, owner[0]))
            return ident
        if kind == MOVEMENT:
            ident = v.integer(raw, 1)
            scenario = self.movements().get(ident)
            if scenario is None:
                raise v.Bad(f"no movement {ident} in {self._where()} (import movements first)")
            if scenario != self.sid:
                raise v.Bad(self.elsewhere("movement", ident, scenario))
            return ident
        if kind == PERSON:
            ref = v.text(raw, f.limit)
            person = self.persons().get(ref)
            if person is None:
                raise v.Bad(f"no person with ref {ref} in {self._where()} (import persons "
                            "first)")
            if person[1] != self.sid:
                raise v.Bad(self.elsewhere("person", ref, person[1]))
            return ref
        if kind == GEOMETRY:
            return _geometry(raw)
        raise AssertionError(kind)

    def undated(self, after: datetime | None) -> datetime:
        """The time of a change the file does not date (a referral's new status, a case's
        new stage without updated_at): the scenario's data-as-of, the latest change of
        its persons, so that a view as of that moment tells what the current rows tell;
        the import's own time when the scenario has no persons yet. Always after the
        row's previous event."""
        if self._as_of is None:
            value = self.conn.execute(text("SELECT MAX(updated_at) FROM persons "
                                           "WHERE scenario_id = :s"), {"s": self.sid}).scalar()
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            self._as_of = value or self.now
        base = self._as_of
        return base if after is None or base > after else after + ONE_SECOND

    def _where(self) -> str:
        return self.scenario.label() if self.scenario else "the database"

    def _file_pcodes(self) -> set[str]:
        if not hasattr(self, "_pcodes_in_file"):
            column = self.layout.stored().get("pcode")
            self._pcodes_in_file = {
                str(cells[column.position]).strip() for _, cells, _ in self.layout.rows()
                if column is not None and column.position < len(cells)
                and not v.blank(cells[column.position])}
        return self._pcodes_in_file

    def _tags(self, raw: Any, row: Row) -> set[str]:
        cell = str(raw).strip()
        whole = self.mapping.value("vulnerabilities", cell)
        if whole is not cell and not isinstance(whole, str | type(None)):
            items: list[Any] = list(whole) if isinstance(whole, list) else [whole]
        elif whole != cell:
            items = [whole]
        else:
            parts = re.split(r"[;,|\n]", cell)
            if len(parts) == 1:
                parts = cell.split()
            items = [self.mapping.value("vulnerabilities", p.strip()) for p in parts if p.strip()]
        tags: set[str] = set()
        for item in items:
            if v.blank(item) or item is False:
                continue
            tag = "_".join(str(item).strip().lower().split())
            if cols.PROTECTED.search(tag):
                row.protected = True
                self._note_once(f"vulnerability tag {tag!r} not stored: it says a legal status; "
                                "the person is written as protection_confidential")
            elif STATUS_TAG.search(tag):
                self._note_once(f"vulnerability tag {tag!r} not stored: it says immigration or "
                                "residence status")
            elif len(tag) > 32:
                raise v.Bad(f"tag {tag!r} longer than 32 characters")
            else:
                tags.add(tag)
                if tag not in vocab.VULNERABILITY_TAGS:
                    self._note_once(f"vulnerability tag {tag!r} is not one of the contract's "
                                    "known tags: kept as given (map it in the mapping file)")
        return tags

    def _note_once(self, note: str) -> None:
        if note not in self.report.notes:
            self.report.notes.append(note)

    # --- what one row needs beyond its cells ---

    def complete(self, row: Row, geometry: dict | None) -> None:
        if self._complete is not None:
            self._complete(row, geometry)
        values = row.values
        if "lat" in values or "lon" in values:
            self._place(row)

    def _place(self, row: Row) -> None:
        lat, lon = row.values.get("lat"), row.values.get("lon")
        header = self.layout.stored()
        shown = header["lat"].header if "lat" in header else "lat"
        if (lat is None) != (lon is None):
            self.bad(row.line, shown, lat if lat is not None else lon,
                     "latitude and longitude go together: give both or neither")
            return
        if self.extent is None or self.kind.name == "areas" or lat is None or lon is None:
            return
        lo_lat, hi_lat, lo_lon, hi_lon = self.extent
        if not (lo_lat <= lat <= hi_lat and lo_lon <= lon <= hi_lon):
            country = self.scenario.country if self.scenario and self.scenario.country else ""
            self.bad(row.line, shown, f"{lat}, {lon}",
                     f"outside {country + ' ' if country else ''}the scenario's areas "
                     f"(latitude {lo_lat:.2f} to {hi_lat:.2f}, longitude {lo_lon:.2f} to "
                     f"{hi_lon:.2f})")

    def _complete_areas(self, row: Row, geometry: dict | None) -> None:
        values = row.values
        if "lat" not in values and geometry is not None:
            middle = centre(geometry)
            if middle is None:
                self.bad(row.line, "geometry", None, "a feature without a usable geometry "
                         "(Polygon, MultiPolygon or Point) and without lat/lon")
                return
            values["lat"], values["lon"] = middle
            row.given |= {"lat", "lon"}
        if ("geometry" not in values and geometry is not None
                and geometry.get("type") in ("Polygon", "MultiPolygon")):
            # The feature's boundary is kept: the Map draws it as the area's shape.
            try:
                values["geometry"] = _geometry(json.dumps(geometry))
            except v.Bad as exc:
                self.bad(row.line, "geometry", None, str(exc))
                return
            row.given.add("geometry")
        if "admin_level" not in values:
            parent = values.get("parent_pcode")
            level = self.layout.admin_level
            if level is None:
                level = 1 if parent is None else None
                if parent in self.areas:
                    level = self.areas[parent].admin_level + 1
            if level is None:
                self.bad(row.line, None, None, "admin_level is required when the parent is "
                         "in the same file (or tag the P-codes #adm1+code, #adm2+code)")
                return
            values["admin_level"] = level
            row.given.add("admin_level")
        if "country" not in values:
            if self.scenario is None or not self.scenario.country:
                self.bad(row.line, None, None, "country is required (no scenario with a "
                         "country to take it from)")
                return
            values["country"] = self.scenario.country
            row.given.add("country")

    def _complete_facilities(self, row: Row, _geometry: dict | None) -> None:
        values = row.values
        if values.get("kind") == "safe_house" and not values.get("confidential"):
            values["confidential"] = True
            row.given.add("confidential")
            self._note_once("safe houses are written as confidential (never drawn on a map)")

    def _complete_facility_occupancy(self, row: Row, _geometry: dict | None) -> None:
        capacity = self.facilities()[row.values["facility_id"]][1]
        if row.values["occupants"] > capacity:
            column = self.layout.stored()["occupants"].header
            self.bad(row.line, column, row.values["occupants"],
                     f"occupants above the facility's capacity of {capacity}")

    def _complete_persons(self, row: Row, _geometry: dict | None) -> None:
        values = row.values
        # Sharing is voluntary: without an explicit yes, the person is not consenting.
        values.setdefault("consent_consular", False)
        row.given.add("consent_consular")
        if row.protected:
            values["protection_confidential"] = True
            row.given.add("protection_confidential")

    def _person_id(self, row: Row) -> None:
        ref = row.values.pop("person_ref")
        row.given.discard("person_ref")
        row.values["person_id"] = self.persons()[ref][0]
        row.given.add("person_id")

    def _complete_evacuation_cases(self, row: Row, _geometry: dict | None) -> None:
        self._person_id(row)

    def _complete_referrals(self, row: Row, _geometry: dict | None) -> None:
        self._person_id(row)
        values = row.values
        if "due_at" not in values:
            values["due_at"] = values["created_at"] + timedelta(
                hours=vocab.REFERRAL_DEADLINE_HOURS[values["service"]])
            row.given.add("due_at")

    def _duplicates(self, rows: list[Row]) -> None:
        """The same identifier twice in the file, in this chunk or an earlier one."""
        key = self._key()
        seen = self.seen
        header = self.layout.stored()
        for row in rows:
            ident = tuple(row.values.get(k) for k in key)
            if any(x is None for x in ident):
                continue
            # a single key is kept bare: a million refs take a third less memory so
            known = ident[0] if len(ident) == 1 else ident
            if known in seen:
                shown = header[key[0]].header if key[0] in header else key[0]
                self.bad(row.line, shown, ", ".join(_shown(x) for x in ident),
                         f"duplicate of line {seen[known]} (the same {' and '.join(key)})")
            else:
                seen[known] = row.line

    def _key(self) -> tuple[str, ...]:
        if self.kind.name in ID_WHEN_GIVEN and "id" in self.layout.stored():
            return ("id",)
        if self.kind.name == "persons":
            return ("ref",)
        if self.kind.name in ("referrals", "evacuation"):
            return ("id",)
        return self.kind.key

    # --- what changes ---

    def _stored_rows(self, rows: list[Row]) -> dict[tuple, dict]:
        """The stored rows with the identifiers of these rows (in any scenario)."""
        key = self._key()
        table = self.table
        stmt = select(table)
        if self.kind.name == "occupancy":
            column, wanted = table.c.facility_id, {r.values["facility_id"] for r in rows}
        elif len(key) == 1:
            column, wanted = table.c[key[0]], {r.values[key[0]] for r in rows}
        else:  # posts and hazards without ids: small tables, read whole once
            if self._whole is None:
                if "scenario_id" in table.c:
                    stmt = stmt.where(table.c.scenario_id == self.sid)
                self._whole = {tuple(r[k] for k in key): dict(r)
                               for r in self.conn.execute(stmt).mappings()}
            return self._whole
        sql = f"SELECT {', '.join(table.c.keys())} FROM {table.name} WHERE {{among}}"
        return {tuple(r[k] for k in key): dict(r) for r in self._among(
            sql, column.name, wanted, table.columns)}

    def _among(self, sql: str, column: str, values: Iterable[Any],
               typed: Iterable[Any] = ()) -> Iterator[Any]:
        """The rows of `sql` whose {among} is `column` among `values` (as mappings): one
        array parameter on PostgreSQL, where a statement of thousands of placeholders
        costs more to build than to run; batches of 5000 placeholders on SQLite.
        `typed`: the table columns it selects, so that times come back as times."""
        wanted = sorted({x for x in values if x is not None})
        if not wanted:
            return
        if self.conn.dialect.name == "postgresql":
            clause = text(sql.format(among=f"{column} = ANY(:among)"))
            batches = [wanted]
        else:
            clause = text(sql.format(among=f"{column} IN :among")).bindparams(
                bindparam("among", expanding=True))
            batches = [wanted[i:i + 5000] for i in range(0, len(wanted), 5000)]
        stmt = clause.columns(*typed) if typed else clause
        for batch in batches:
            yield from self.conn.execute(stmt, {"among": batch}).mappings()

    def _plan(self, rows: list[Row]) -> list[Step]:
        """What to do with each good row of a chunk: (row, its stored row or None, the
        changes to write). Counts them in the report."""
        stored = self._stored_rows(rows)
        key = self._key()
        plan: list[Step] = []
        for row in rows:
            ident = tuple(row.values.get(k) for k in key)
            before = stored.get(ident)
            # A row whose upstream identifier is another scenario's is never taken over.
            if before is not None and "scenario_id" in before and before["scenario_id"] != self.sid:
                shown = ", ".join(map(_shown, ident))
                column = self.layout.stored().get(key[0]) if len(key) == 1 else None
                self.bad(row.line, column.header if column else None, shown,
                         self.elsewhere(OWNED.get(self.kind.name, self.kind.name), shown,
                                        before["scenario_id"]))
                continue
            plan.append((row, before, self._changes(row, before)))
        getattr(self, f"_history_{self.kind.table}", lambda _plan: None)(plan)
        for _row, before, changes in plan:
            if before is None:
                self.report.added += 1
            elif changes:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        return plan

    def _changes(self, row: Row, before: dict | None) -> dict[str, Any]:
        if before is None:  # a new row is written whole, from its values
            return {}
        columns = self.columns
        return {c: x for c, x in row.values.items()
                if c in row.given and c in columns and not _same(before.get(c), x)}

    # History and the checks that need it, per table. Each may add problems, and
    # may add changes (the row's own change time) to the plan.

    def _last_events(self, table: str, column: str,
                     ids: Iterable[int]) -> dict[int, list[tuple]]:
        stage_or_status = "stage" if table == "evacuation_events" else "status"
        out: dict[int, list[tuple]] = {}
        for r in self._among(f"SELECT {column} AS owner, at, {stage_or_status} AS what "
                             f"FROM {table} WHERE {{among}} ORDER BY {column}, at, id",
                             column, ids):
            at = r["at"] if isinstance(r["at"], datetime) else datetime.fromisoformat(
                str(r["at"]))
            out.setdefault(r["owner"], []).append((at, r["what"]))
        return out

    def _history_persons(self, plan: list[Step]) -> None:
        header = self.layout.stored()
        tags = self._stored_tags([b["id"] for row, b, _ in plan
                                  if b is not None and row.tags is not None])
        changed: list[Step] = []
        for row, before, changes in plan:
            values = row.values
            if before is None:
                values.setdefault("updated_at", values["registered_at"])
                if values["updated_at"] < values["registered_at"]:
                    self.bad(row.line, header["updated_at"].header, values["updated_at"],
                             "updated_at is before registered_at")
                continue
            if row.tags is not None and row.tags != tags.get(before["id"], set()):
                changes["_tags"] = row.tags
            if not changes or set(changes) == {"updated_at"}:
                changes.clear()
                continue
            changed.append((row, before, changes))
        # Only a changed person's history is read: an unchanged list costs no event reads.
        events = self._last_events("person_events", "person_id",
                                   (b["id"] for _, b, _ in changed if b is not None))
        for row, before, changes in changed:
            assert before is not None
            values = row.values
            moved = {"status", "facility_id", "lat", "lon"} & set(changes)
            at = values.get("updated_at") if "updated_at" in row.given else None
            last = max((e[0] for e in events.get(before["id"], [])), default=None)
            last = max(filter(None, [last, before.get("updated_at")]), default=None)
            if moved and at is not None and last is not None and at <= last:
                self.bad(row.line, header["updated_at"].header, at,
                         f"a change of status or place must be later than the person's last "
                         f"recorded change ({_shown(last)}): history is never rewritten")
                continue
            if at is None:
                at = self.now if last is None or self.now > last else last + ONE_SECOND
            changes["updated_at"] = at
            if moved:
                changes["_event"] = {"at": at}

    def _stored_tags(self, person_ids: list[int]) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for r in self._among("SELECT person_id, tag FROM person_vulnerabilities WHERE {among}",
                             "person_id", person_ids):
            out.setdefault(r["person_id"], set()).add(r["tag"])
        return out

    def _history_facility_occupancy(self, plan: list[Step]) -> None:
        header = self.layout.stored()
        for row, before, changes in plan:
            if before is not None and changes:
                self.bad(row.line, header["occupants"].header, row.values["occupants"],
                         f"facility {row.values['facility_id']} already has a report at "
                         f"{_shown(row.values['at'])} saying {before['occupants']}: reports are "
                         "never rewritten; send the correction with a later time")

    def _history_referrals(self, plan: list[Step]) -> None:
        events = self._last_events("referral_events", "referral_id",
                                   (b["id"] for _, b, _ in plan if b is not None))
        for _row, before, changes in plan:
            if before is None or "status" not in changes:
                continue
            last = max((e[0] for e in events.get(before["id"], [])), default=None)
            at = changes.get("closed_at") if changes["status"] in vocab.REFERRAL_ENDED else None
            if at is None or (last is not None and at <= last):
                at = self.undated(last)
            changes["_event"] = {"at": at}
            if changes["status"] in vocab.REFERRAL_ENDED and before.get("closed_at") is None:
                changes.setdefault("closed_at", at)

    def _history_evacuation_cases(self, plan: list[Step]) -> None:
        events = self._last_events("evacuation_events", "case_id",
                                   (b["id"] for _, b, _ in plan if b is not None))
        header = self.layout.stored()
        path = list(vocab.EVACUATION_PATH)
        for row, before, changes in plan:
            if before is None or "stage" not in changes:
                continue
            history = events.get(before["id"], [])
            reached = [path.index(s) for _, s in history if s in path]
            new = changes["stage"]
            if new in path and reached and path.index(new) < max(reached):
                self.bad(row.line, header["stage"].header, new,
                         f"goes back from {path[max(reached)]}: along the path stages only move "
                         "forward")
                continue
            last = max((e[0] for e in history), default=None)
            at = row.values.get("updated_at") if "updated_at" in row.given else None
            if at is not None and last is not None and at <= last:
                self.bad(row.line, header["updated_at"].header, at,
                         f"a stage change must be later than the case's last recorded change "
                         f"({_shown(last)})")
                continue
            if at is None:
                at = self.undated(last)
            changes["updated_at"] = at
            changes["_event"] = {"at": at}

    # --- writing ---

    def write(self, plan: list[Step]) -> None:
        """Write one chunk's plan: new rows, changed columns, tags, history."""
        name = self.kind.name
        inserts: list[dict] = []
        events: list[dict] = []
        tags: list[dict] = []
        untag: list[int] = []
        updates: list[tuple[dict, dict]] = []
        if self.next_id is None and (name == "persons" or (
                name in ID_WHEN_GIVEN and "id" not in self.layout.stored())):
            self.next_id = self._next_id()
        next_id = self.next_id
        for row, before, changes in plan:
            values = row.values
            if before is None:
                new = {c: x for c, x in values.items() if c in self.columns}
                if "scenario_id" in self.columns:
                    new["scenario_id"] = self.sid
                for c, default in self.kind.defaults.items():
                    new.setdefault(c, default)
                if next_id is not None:
                    new["id"] = next_id
                    next_id += 1
                inserts.append(new)
                events += self._first_events(new, row)
                if name == "persons" and row.tags:
                    tags += [{"person_id": new["id"], "tag": t} for t in sorted(row.tags)]
                continue
            if not changes:
                continue
            event = changes.pop("_event", None)
            new_tags = changes.pop("_tags", None)
            update = {c: x for c, x in changes.items() if c in self.columns}
            if update:
                updates.append((before, update))
            if event is not None:
                events.append(self._event(before["id"], {**before, **update}, event["at"]))
            if new_tags is not None:
                untag.append(before["id"])
                tags += [{"person_id": before["id"], "tag": t} for t in sorted(new_tags)]
        self.next_id = next_id
        self._insert(self.kind.table, inserts)
        self._update(updates)
        for start in range(0, len(untag), 5000):
            self.conn.execute(text("DELETE FROM person_vulnerabilities WHERE person_id IN :ids")
                              .bindparams(bindparam("ids", expanding=True)),
                              {"ids": untag[start:start + 5000]})
        self._insert("person_vulnerabilities", tags)
        history = {"persons": "person_events", "referrals": "referral_events",
                   "evacuation": "evacuation_events"}.get(name)
        if history:
            self._insert(history, events)
        if name == "occupancy":
            self._confirm(inserts)

    def _next_id(self) -> int:
        top = self.conn.execute(text(f"SELECT MAX(id) FROM {self.kind.table}")).scalar()
        return (top or 0) + 1

    def _first_events(self, new: dict, row: Row) -> list[dict]:
        name = self.kind.name
        if name == "persons":
            return [self._event(new["id"], new, new["updated_at"])]
        if name == "referrals":
            out = [{"referral_id": new["id"], "at": new["created_at"], "status": "open"}]
            if new["status"] != "open":
                ended = new["status"] in vocab.REFERRAL_ENDED
                at = new.get("closed_at") if ended else None
                if at is None or at <= new["created_at"]:
                    at = self.undated(new["created_at"])
                if ended and new.get("closed_at") is None:
                    new["closed_at"] = at
                out.append({"referral_id": new["id"], "at": at, "status": new["status"]})
            return out
        if name == "evacuation":
            out = [{"case_id": new["id"], "at": new["requested_at"], "stage": "requested"}]
            if new["stage"] != "requested":
                at = new.get("updated_at")
                if at is None or at <= new["requested_at"]:
                    at = self.undated(new["requested_at"])
                new["updated_at"] = at
                out.append({"case_id": new["id"], "at": at, "stage": new["stage"]})
            else:
                new.setdefault("updated_at", new["requested_at"])
            return out
        return []

    def _event(self, owner: int, current: dict, at: datetime) -> dict:
        name = self.kind.name
        if name == "persons":
            return {"person_id": owner, "at": at, "status": current["status"],
                    "facility_id": current.get("facility_id"), "lat": current.get("lat"),
                    "lon": current.get("lon")}
        if name == "referrals":
            return {"referral_id": owner, "at": at, "status": current["status"]}
        return {"case_id": owner, "at": at, "stage": current["stage"]}

    def _insert(self, table_name: str, rows: list[dict]) -> None:
        """Append rows through the driver itself, inside the transaction: COPY on
        PostgreSQL (psycopg's copy, as dashboard.tools.bulk loads), executemany on SQLite.
        SQLAlchemy's parameter handling would cost more than the rest of an import of a
        million persons."""
        if not rows:
            return
        table = Base.metadata.tables[table_name]
        names = [c.name for c in table.columns if any(c.name in r for r in rows)]
        driver = self.conn.connection.dbapi_connection
        if self.conn.dialect.name == "postgresql":
            with cast("psycopg.Connection[Any]", driver).cursor() as cur, cur.copy(
                    f"COPY {table_name} ({', '.join(names)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row([r.get(c) for c in names])
            return
        # SQLite stores a time as the text SQLAlchemy reads back (store.db.TIMESTAMP).
        times = {c for c in names if table.c[c].type.python_type is datetime}
        cursor = cast("sqlite3.Connection", driver).cursor()
        cursor.executemany(
            f"INSERT INTO {table_name} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})",
            ([_sqlite_time(r.get(c)) if c in times else r.get(c) for c in names]
             for r in rows))
        cursor.close()

    def _update(self, updates: list[tuple[dict, dict]]) -> None:
        """Set the changed columns of stored rows: one executemany per set of columns."""
        if self.kind.name == "occupancy" or not updates:
            return
        key = "pcode" if self.kind.name == "areas" else "id"
        groups: dict[tuple[str, ...], list[dict]] = {}
        for before, update in updates:
            groups.setdefault(tuple(sorted(update)), []).append({**update, "key_": before[key]})
        for columns, params in groups.items():
            times = [bindparam(c, type_=db.TIMESTAMP) for c in columns
                     if self.table.c[c].type.python_type is datetime]
            sets = ", ".join(f"{c} = :{c}" for c in columns)
            self.conn.execute(text(f"UPDATE {self.kind.table} SET {sets} WHERE {key} = :key_")
                              .bindparams(*times), params)

    def _confirm(self, reports: list[dict]) -> None:
        """An occupancy report confirms the facility's figures at its time."""
        latest: dict[int, datetime] = {}
        for r in reports:
            latest[r["facility_id"]] = max(latest.get(r["facility_id"], r["at"]), r["at"])
        stmt = text("UPDATE facilities SET confirmed_at = :at WHERE id = :id AND "
                    "(confirmed_at IS NULL OR confirmed_at < :at)").bindparams(
            bindparam("at", type_=db.TIMESTAMP))
        for ident, at in latest.items():
            self.conn.execute(stmt, {"id": ident, "at": at})

    def _reset_sequences(self) -> None:
        """Rows written with their own ids leave PostgreSQL's id sequences behind: move
        them past the largest id, so the next writer that lets the database number its
        rows (the drill simulator) never collides."""
        if self.conn.dialect.name != "postgresql":
            return
        for table in (self.kind.table, "person_events", "referral_events", "evacuation_events",
                      "facility_occupancy"):
            if "id" not in Base.metadata.tables[table].c:
                continue
            self.conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


def _sqlite_time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(" ", "seconds")


def _same(a: Any, b: Any) -> bool:
    if a == b:  # nearly always, on a list imported again
        return True
    if isinstance(a, float) and isinstance(b, float | int):
        return math.isclose(a, float(b), rel_tol=0, abs_tol=1e-9)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(microsecond=0) == b
    return False


def _geometry(raw: Any) -> str:
    """The GeoJSON text as given, once checked: a Polygon or MultiPolygon in WGS84."""
    body = str(raw).strip()
    try:
        shape = json.loads(body)
    except json.JSONDecodeError:
        raise v.Bad("not GeoJSON") from None
    if not isinstance(shape, dict) or shape.get("type") not in ("Polygon", "MultiPolygon"):
        raise v.Bad("not a GeoJSON Polygon or MultiPolygon")
    polygons = [shape["coordinates"]] if shape["type"] == "Polygon" else shape["coordinates"]
    try:
        for polygon in polygons:
            for ring in polygon:
                if len(ring) < 4:
                    raise v.Bad("a ring of fewer than four points")
                for lon, lat, *_ in ring:
                    if not (-180 <= float(lon) <= 180 and -90 <= float(lat) <= 90):
                        raise v.Bad("a point outside WGS84 ranges (longitude first)")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, v.Bad):
            raise
        raise v.Bad("coordinates that are not [longitude, latitude] pairs") from None
    return body
