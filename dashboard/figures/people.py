"""Persons as they were at a moment, and a consular liaison's own nationals,
person by person (My nationals page).

`persons_at` is the persons table as of an earlier moment, worked out from the
history (person_events); the Map uses it too. The rest is only ever for a role
that sees person-level rows, and only the persons of its scope
(access.person_scope: own nationals by either nationality, consenting, not
under protection — docs/design.md §2.2). Filters are applied in the database and
the rows come back capped at ROW_LIMIT, with the total count, so a liaison with
a hundred thousand nationals still gets a fast page. Persons with a status
outside the vocabulary are left out, as the data-quality view counts them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from dashboard.contract import labels, vocab
from dashboard.figures import quality, scenarios, tallies
from dashboard.language import N_, _
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store import cache
from dashboard.store.db import Database

# --- persons at a moment ------------------------------------------------------------------


def earlier(database: Database, scenario_id: int, as_of: datetime | None) -> datetime | None:
    """`as_of` if it is before the scenario's latest data, else None: the latest
    moment is read from the current rows, exactly as without a moment."""
    latest = scenarios.data_as_of(database, scenario_id)
    if as_of is None or latest is None or as_of >= latest:
        return None
    return as_of


# The columns of `persons` that have no history: the same at every moment.
_FIXED = ("p.id, p.scenario_id, p.ref, p.full_name, p.phone, p.sex, p.birth_year, "
          "p.nationality, p.second_nationality, p.documents, p.registered_at")
# The latest event by the moment (latest `at`, then highest id: docs/data-contract.md),
# found by one seek per person on ix_person_events_person_at. SQLite reads the id
# order from that index too (its entries end with the rowid); PostgreSQL needs a
# LATERAL join to seek per person rather than hash the whole history.
_LATEST_EVENT = ("FROM person_events e2 WHERE e2.person_id = p.id AND e2.at <= :as_of "
                 "ORDER BY e2.at DESC, e2.id DESC LIMIT 1")
# Districts have no history: a person who was then in another facility than now is
# counted in that facility's district, anyone else in their current district.
_AREA_THEN = ("CASE WHEN e.facility_id IS NULL OR e.facility_id = p.facility_id "
              "THEN p.area_pcode ELSE COALESCE((SELECT ef.area_pcode FROM facilities ef "
              "WHERE ef.id = e.facility_id), p.area_pcode) END")


def persons_at(database: Database, viewer: Viewer, then: datetime | None) -> tuple[str, str, dict]:
    """The viewer's persons as they were at `then`: a FROM item aliased `p` with the
    columns of `persons`, a condition on it (scope, and a status in the vocabulary),
    and the parameters of both.

    With `then` None (the latest moment), `persons p` itself. Otherwise the persons
    of the scope registered by `then`, with the status, facility, place and change
    time of their latest event by `then`. Scope and the data-quality exclusion of an
    unknown current status are those of the latest moment; a person with no event
    by `then` has no known state then and is left out."""
    scope, params = access.person_scope(viewer, "p", database.dialect)
    if then is None:
        return "persons p", f"{scope} AND {quality.valid_person_status()}", params
    if database.dialect == "postgresql":
        event = ("CROSS JOIN LATERAL (SELECT e2.status, e2.facility_id, e2.lat, e2.lon, e2.at "
                 f"{_LATEST_EVENT}) e")
    else:
        event = f"JOIN person_events e ON e.id = (SELECT e2.id {_LATEST_EVENT})"
    source = (f"(SELECT {_FIXED}, e.status, e.facility_id, e.lat, e.lon, "
              f"{_AREA_THEN} AS area_pcode, e.at AS updated_at FROM persons p {event} "
              f"WHERE {scope} AND {quality.valid_person_status()} "
              "AND p.registered_at <= :as_of) p")
    return source, quality.valid_person_status(), {**params, "as_of": then}


# --- a liaison's nationals ----------------------------------------------------------------

ROW_LIMIT = 1000
NO_CASE = N_("no evacuation case")  # a filter's choice beside the stages (shown translated)
SHOW = {  # what the page's choice shows, translated where shown
    "all": N_("All my nationals"),
    "missing": N_("Missing"),
    "travel_document": N_("Need an emergency travel document"),
}
CONFIDENTIAL_FACILITY = N_("confidential facility")  # never a confidential facility's name


class NotPersonLevel(PermissionError):
    """Raised when a role that sees only aggregates asks for person rows."""


@dataclass(frozen=True)
class Filters:
    """What the liaison narrowed the list to. Hashable: part of the cache key."""

    show: str = "all"
    statuses: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()          # area names
    facilities: tuple[str, ...] = ()     # facility names
    documents: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()         # evacuation stages, or NO_CASE
    overdue_referral: bool = False       # only those with an overdue referral
    search: str = ""                     # part of a name or a registration reference

    def as_audit(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items() if v not in ((), "", False)}


@dataclass(frozen=True)
class Nationals:
    rows: pd.DataFrame      # at most ROW_LIMIT rows, sorted: the page asked for
    matching: int           # persons matching the filters
    page: int               # which ROW_LIMIT rows of the matching ones (0: the first)
    total: int              # every visible national
    missing: int
    travel_document: int
    as_of: datetime | None = None  # the earlier moment shown; None for the latest data


def _person_level(viewer: Viewer) -> None:
    if not access.sees_person_level(viewer.role):
        raise NotPersonLevel(f"The {viewer.role} role sees people only as counts.")


def _persons(database: Database, viewer: Viewer, then: datetime | None) -> tuple[str, str, dict]:
    _person_level(viewer)
    return persons_at(database, viewer, then)


# The person's evacuation case (the latest, should there be several) and whether it
# is one the data-quality view leaves out.
CASE_JOIN = ("LEFT JOIN evacuation_cases c ON c.id = (SELECT MAX(c2.id) FROM evacuation_cases c2 "
             "WHERE c2.person_id = p.id AND c2.scenario_id = p.scenario_id)")


# The details of a person `p`: area, facility, evacuation case and its movement.
JOINS = ("LEFT JOIN areas a ON a.pcode = p.area_pcode "
         "LEFT JOIN facilities f ON f.id = p.facility_id " + CASE_JOIN +
         " LEFT JOIN movements m ON m.id = c.movement_id")
# What a row shows of the person, from `persons p` or persons_at alike.
_PAGE_COLUMNS = ("p.id, p.scenario_id, p.ref, p.full_name, p.phone, p.sex, p.birth_year, "
                 "p.nationality, p.second_nationality, p.documents, p.status, p.facility_id, "
                 "p.area_pcode, p.updated_at")
ORDER = "CASE WHEN p.status = :v_missing THEN 0 ELSE 1 END, p.full_name, p.ref"


NO_FILTER = "1 = 1"


def _needs_joins(filters: Filters) -> bool:
    """Whether the filters read a joined table; if not, persons alone are filtered
    and counted, and the details are joined to the shown page only."""
    return bool(filters.areas or filters.facilities or filters.stages)


def _filter_sql(filters: Filters, referrals: tuple[str, dict],
                moment: datetime) -> tuple[str, dict]:
    """The filters as a condition on `p` (joined as JOINS where _needs_joins), with
    `referrals`, the viewer's referrals condition on `r` (for "has an overdue
    referral" at `moment`)."""
    parts: list[str] = []
    params: dict[str, object] = {}
    if filters.show == "missing":
        parts.append("p.status = :v_missing")
    elif filters.show == "travel_document":
        parts.append("p.documents IN :etd_documents")
        params["etd_documents"] = list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT)
    if filters.statuses:
        parts.append("p.status IN :f_statuses")
        params["f_statuses"] = list(filters.statuses)
    if filters.areas:
        parts.append("a.name IN :f_areas")
        params["f_areas"] = list(filters.areas)
    if filters.facilities:
        # confidential facilities are never named, so they cannot be chosen either
        parts.append("f.name IN :f_facilities AND f.confidential = :f_false")
        params.update(f_facilities=list(filters.facilities), f_false=False)
    if filters.documents:
        parts.append("p.documents IN :f_documents")
        params["f_documents"] = list(filters.documents)
    if filters.stages:
        stages = [s for s in filters.stages if s != NO_CASE]
        either = []
        if stages:
            either.append("c.stage IN :f_stages")
            params["f_stages"] = stages
        if NO_CASE in filters.stages:
            either.append("c.id IS NULL")
        parts.append("(" + " OR ".join(either) + ")")
    if filters.overdue_referral:
        where, rparams = referrals
        parts.append(f"p.id IN (SELECT r.person_id FROM referrals r WHERE {where} "
                     f"AND {tallies.OVERDUE_AT})")
        params.update(rparams, at=moment)
    if filters.search.strip():
        parts.append("(LOWER(p.full_name) LIKE :f_search OR LOWER(p.ref) LIKE :f_search)")
        params["f_search"] = f"%{filters.search.strip().lower()}%"
    return (" AND ".join(parts) or NO_FILTER), params


@cache.scoped()
def options(database: Database, viewer: Viewer,
            as_of: datetime | None = None) -> dict[str, list[str]]:
    """The areas and facilities where the liaison's nationals are, and at an earlier
    `as_of` also where they were then, for the filters. Today's stay offered, so that
    a filter chosen at the latest moment is kept while the reader steps back in time.
    Today's are read from the shared tallies of places, earlier ones from the history."""
    _person_level(viewer)
    mine = tallies.places(database, viewer.scenario_id).scope("places", viewer)
    found = {"areas": sorted({str(a) for a in mine["area"].dropna()}),
             "facilities": sorted({str(f) for f in mine["facility"].dropna()})}
    then = earlier(database, viewer.scenario_id, as_of)
    if then is not None:
        past = _places_then(database, viewer, then)
        found = {k: sorted(set(found[k]) | set(past[k])) for k in found}
    return found


@cache.scoped()
def _places_then(database: Database, viewer: Viewer, then: datetime) -> dict[str, list[str]]:
    source, scope, params = _persons(database, viewer, then)
    # One pass over the nationals for both lists; the names come from the small tables.
    where = database.read(
        f"SELECT DISTINCT p.area_pcode, p.facility_id FROM {source} WHERE {scope}", params)
    areas = database.read("SELECT pcode, name FROM areas")
    named = {"scenario": viewer.scenario_id, "not_confidential": False}
    facilities = database.read(
        "SELECT id, name FROM facilities WHERE scenario_id = :scenario "
        "AND confidential = :not_confidential", named)
    area_names = areas[areas["pcode"].isin(where["area_pcode"].dropna())]["name"]
    facility_names = facilities[facilities["id"].isin(where["facility_id"].dropna())]["name"]
    return {"areas": sorted({str(a) for a in area_names.dropna()}),
            "facilities": sorted({str(f) for f in facility_names.dropna()})}


def nationals(database: Database, viewer: Viewer, filters: Filters,
              as_of: datetime | None = None, page: int = 0) -> Nationals:
    """The liaison's visible nationals matching `filters`: the `page`-th ROW_LIMIT rows
    (missing first, then by name) and the counts, each row with the person's sex, age,
    vulnerabilities and open referrals (overdue first), in the reader's words
    (`said`). At an earlier `as_of`, status, facility, area and last change are those
    of that moment, and the rows start with an `as_of` column, so that an export says
    which moment it holds; documents, vulnerabilities, evacuation case and movement
    have no history here and are today's; referrals are those open at the moment."""
    data = _nationals(database, viewer, filters, as_of, page)
    return dataclasses.replace(data, rows=said(data.rows))


def said(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of `_nationals` as a reader reads them, in the reader's language (never
    cached: a cached result is in English): the vulnerabilities' labels ("Disability,
    Single parent"), the open referrals' services, overdue ones marked
    ("Documentation (overdue)"), and a confidential facility said so."""
    def tags(codes: tuple[str, ...]) -> str:
        return ", ".join(labels.word(v, labels.VULNERABILITY) for v in codes)

    def referrals(found: tuple[tuple[str, bool], ...]) -> str:
        return ", ".join(
            # Translators: an open referral of a person whose deadline has passed
            _("{service} (overdue)").format(service=service) if overdue else service
            for service, overdue in ((labels.word(s, labels.REFERRAL_SERVICE), o)
                                     for s, o in found))

    secret = rows["confidential_facility"].astype(bool)
    out = rows.assign(vulnerabilities=rows["vulnerabilities"].map(tags),
                      open_referrals=rows["open_referrals"].map(referrals),
                      facility=rows["facility"].where(~secret, _(CONFIDENTIAL_FACILITY)))
    return out.drop(columns="confidential_facility")


@cache.scoped()
def _nationals(database: Database, viewer: Viewer, filters: Filters,
               as_of: datetime | None = None, page: int = 0) -> Nationals:
    """`nationals` with codes where it has words: each row's vulnerability tags (a
    tuple), its open referrals ((service, overdue) pairs, overdue first) and whether
    its facility is confidential (its name then left out), for `said` to put in words."""
    then = earlier(database, viewer.scenario_id, as_of)
    moment = then or scenarios.data_as_of(database, viewer.scenario_id) or datetime.now()
    source, scope, params = _persons(database, viewer, then)
    referrals = quality.scoped_referrals(database, viewer)
    where, fparams = _filter_sql(filters, referrals, moment)
    filtered = f"FROM {source} {JOINS}" if _needs_joins(filters) else f"FROM {source}"
    params = {**params, **fparams}
    totals = summary(database, viewer, then)
    if where != NO_FILTER:
        matching = int(database.read(
            f"SELECT COUNT(*) AS n {filtered} WHERE {scope} AND {where}", params)["n"].iloc[0])
    else:  # no filter: every visible national, already counted
        matching = totals["total"]
    page = max(0, min(page, (matching - 1) // ROW_LIMIT)) if matching else 0
    params = {**params, "etd": list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT),
              "limit": ROW_LIMIT, "offset": page * ROW_LIMIT, "conf_true": True}
    # The page is cut first (the values of the moment shown); the details are joined
    # to its rows only.
    rows = database.read(
        f"WITH page AS (SELECT {_PAGE_COLUMNS} {filtered} WHERE {scope} AND {where} "
        f"ORDER BY {ORDER} LIMIT :limit OFFSET :offset) "
        "SELECT p.id, p.ref, p.full_name AS name, p.sex, p.birth_year, p.phone, "
        "p.nationality, p.second_nationality, a.name AS area, p.area_pcode AS pcode, "
        "CASE WHEN f.confidential = :conf_true THEN NULL ELSE f.name END AS facility, "
        "CASE WHEN f.confidential = :conf_true THEN 1 ELSE 0 END AS confidential_facility, "
        "p.status, COALESCE(c.stage, '') AS evacuation_stage, "
        "c.movement_id AS movement, m.departs_at AS movement_departs, p.documents, "
        "CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END AS needs_travel_document, "
        f"p.updated_at FROM page p {JOINS} ORDER BY {ORDER}", params)
    rows = _with_needs(database, rows, referrals, moment)
    rows["needs_travel_document"] = rows["needs_travel_document"].astype(int).astype(bool)
    rows["movement"] = rows["movement"].astype("Int64")
    for col in ("movement_departs", "updated_at"):
        rows[col] = pd.to_datetime(rows[col], format="mixed")
    if then is not None:
        rows.insert(0, "as_of", pd.Timestamp(then))

    return Nationals(rows=rows, matching=matching, page=page, total=totals["total"],
                     missing=totals["missing"], travel_document=totals["travel_document"],
                     as_of=then)


def _with_needs(database: Database, rows: pd.DataFrame, referrals: tuple[str, dict],
                moment: datetime) -> pd.DataFrame:
    """The page's rows with what a consular desk works from: age (in the moment's
    year), vulnerabilities (their codes) and the referrals the liaison may see that
    are open at the moment ((service, overdue) pairs, overdue first), in place of the
    person's id and birth year. Codes, not words: this is cached, `said` words them."""
    ids = [int(i) for i in rows["id"]] or [-1]
    tags = database.read("SELECT person_id, tag FROM person_vulnerabilities "
                         "WHERE person_id IN :page_ids ORDER BY tag", {"page_ids": ids})
    where, params = referrals
    open_ = database.read(
        f"SELECT r.person_id, r.service, r.due_at, CASE WHEN {tallies.OVERDUE_AT} THEN 1 "
        f"ELSE 0 END AS overdue FROM referrals r WHERE {where} AND r.person_id IN :page_ids "
        f"AND {tallies.OPEN_AT} ORDER BY overdue DESC, r.due_at, r.id",
        {**params, "page_ids": ids, "at": moment})
    said_tags = tags.groupby("person_id")["tag"].agg(tuple)
    said_refs = open_.groupby("person_id", sort=False).apply(
        lambda g: tuple((s, bool(o)) for s, o in zip(g["service"], g["overdue"], strict=True)),
        include_groups=False) if len(open_) else pd.Series(dtype=object)
    overdue = open_.groupby("person_id")["overdue"].max() if len(open_) else pd.Series(dtype=int)
    age = moment.year - pd.to_numeric(rows["birth_year"], errors="coerce")
    out = rows.assign(age=age.where(age >= 0).astype("Int64"),
                      vulnerabilities=rows["id"].map(lambda i: said_tags.get(i, ())),
                      open_referrals=rows["id"].map(lambda i: said_refs.get(i, ())),
                      overdue_referral=rows["id"].map(lambda i: bool(overdue.get(i, 0))))
    first = ["ref", "name", "sex", "age", "phone", "nationality", "second_nationality",
             "area", "pcode", "facility", "status", "vulnerabilities", "open_referrals",
             "overdue_referral"]
    return out[first + [c for c in out.columns if c not in first + ["id", "birth_year"]]]


@cache.scoped()
def summary(database: Database, viewer: Viewer, as_of: datetime | None = None) -> dict[str, int]:
    """All the liaison's visible nationals (registered by `as_of`), the missing (then),
    and those needing an emergency travel document (documents have no history:
    today's): the same whatever the filters, so counted once."""
    _person_level(viewer)
    then = earlier(database, viewer.scenario_id, as_of)
    if then is None:  # the latest moment: summed from the shared tallies, for every scope
        mine = tallies.now(database, viewer.scenario_id).scope("persons", viewer)
        return {"total": int(mine["n"].sum()),
                "missing": int(mine.loc[mine["status"] == "missing", "n"].sum()),
                "travel_document": int(mine["travel_document"].sum())}
    source, scope, params = _persons(database, viewer, then)
    params = {**params, "etd": list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT)}
    counts = database.read(
        "SELECT COUNT(*) AS total, "
        "SUM(CASE WHEN p.status = :v_missing THEN 1 ELSE 0 END) AS missing, "
        "SUM(CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END) AS travel_document "
        f"FROM {source} WHERE {scope}", params)
    return {col: 0 if pd.isna(counts[col].iloc[0]) else int(counts[col].iloc[0])
            for col in ("total", "missing", "travel_document")}
