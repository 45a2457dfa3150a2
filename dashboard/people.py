"""A consular liaison's own nationals, person by person (My nationals page).

Only ever for a role that sees person-level rows, and only the persons of its
scope (access.person_scope: own nationals by either nationality, consenting,
not under protection — DESIGN.md §2.2). Filters are applied in the database and
the rows come back capped at ROW_LIMIT, with the total count, so a liaison with
a hundred thousand nationals still gets a fast page. Persons with a status
outside the vocabulary are left out, as the data-quality view counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dashboard import access, cache, db, quality, runtime, vocab
from dashboard.access import Viewer

ROW_LIMIT = 1000
NO_CASE = "no evacuation case"
SHOW = {
    "all": "All my nationals",
    "missing": "Missing",
    "travel_document": "Need an emergency travel document",
}


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
    search: str = ""                     # part of a name or a registration reference

    def as_audit(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items() if v not in ((), "")}


@dataclass(frozen=True)
class Nationals:
    rows: pd.DataFrame      # at most ROW_LIMIT rows, sorted
    matching: int           # persons matching the filters
    total: int              # every visible national
    missing: int
    travel_document: int


def _scope(viewer: Viewer) -> tuple[str, dict]:
    if not access.sees_person_level(viewer.role):
        raise NotPersonLevel(f"The {viewer.role} role sees people only as counts.")
    scope, params = access.person_scope(viewer, "p")
    return f"{scope} AND {quality.VALID_PERSON_STATUS}", params


# The person's evacuation case (the latest, should there be several) and whether it
# is one the data-quality view leaves out.
CASE_JOIN = ("LEFT JOIN evacuation_cases c ON c.id = (SELECT MAX(c2.id) FROM evacuation_cases c2 "
             "WHERE c2.person_id = p.id AND c2.scenario_id = p.scenario_id)")
JOINS = ("LEFT JOIN areas a ON a.pcode = p.area_pcode "
         "LEFT JOIN facilities f ON f.id = p.facility_id " + CASE_JOIN +
         " LEFT JOIN movements m ON m.id = c.movement_id")
FROM = "FROM persons p " + JOINS
ORDER = "CASE WHEN p.status = 'missing' THEN 0 ELSE 1 END, p.full_name, p.ref"


def _needs_joins(filters: Filters) -> bool:
    """Whether the filters read a joined table; if not, persons alone are filtered
    and counted, and the details are joined to the shown page only."""
    return bool(filters.areas or filters.facilities or filters.stages)


def _filter_sql(filters: Filters) -> tuple[str, dict]:
    parts, params = [], {}
    if filters.show == "missing":
        parts.append("p.status = 'missing'")
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
    if filters.search.strip():
        parts.append("(LOWER(p.full_name) LIKE :f_search OR LOWER(p.ref) LIKE :f_search)")
        params["f_search"] = f"%{filters.search.strip().lower()}%"
    return (" AND ".join(parts) or "1 = 1"), params


@cache.scoped()
def options(db_url: str, viewer: Viewer) -> dict[str, list[str]]:
    """The areas and facilities where the liaison's nationals are, for the filters."""
    scope, params = _scope(viewer)
    engine = runtime.engine(db_url)
    areas = db.read_frame(engine, db.sql(
        "SELECT DISTINCT a.name FROM persons p JOIN areas a ON a.pcode = p.area_pcode "
        f"WHERE {scope} ORDER BY a.name", params), params)
    facilities = db.read_frame(engine, db.sql(
        "SELECT DISTINCT f.name FROM persons p JOIN facilities f ON f.id = p.facility_id "
        f"WHERE {scope} AND f.confidential = :not_confidential ORDER BY f.name",
        {**params, "not_confidential": False}), {**params, "not_confidential": False})
    return {"areas": [str(a) for a in areas["name"]],
            "facilities": [str(f) for f in facilities["name"]]}


@cache.scoped()
def nationals(db_url: str, viewer: Viewer, filters: Filters) -> Nationals:
    """The liaison's visible nationals matching `filters`: the first ROW_LIMIT rows
    (missing first, then by name) and the counts."""
    scope, params = _scope(viewer)
    engine = runtime.engine(db_url)
    where, fparams = _filter_sql(filters)
    source = FROM if _needs_joins(filters) else "FROM persons p"
    params = {**params, **fparams}
    matching = db.read_frame(engine, db.sql(
        f"SELECT COUNT(*) AS n {source} WHERE {scope} AND {where}", params), params)
    params = {**params, "etd": list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT),
              "limit": ROW_LIMIT, "conf_true": True}
    rows = db.read_frame(engine, db.sql(
        f"WITH page AS (SELECT p.id {source} WHERE {scope} AND {where} ORDER BY {ORDER} "
        "LIMIT :limit) "
        "SELECT p.ref, p.full_name AS name, p.phone, p.nationality, p.second_nationality, "
        "a.name AS area, "
        "CASE WHEN f.confidential = :conf_true THEN 'confidential facility' ELSE f.name END "
        "AS facility, p.status, COALESCE(c.stage, '') AS evacuation_stage, "
        "c.movement_id AS movement, m.departs_at AS movement_departs, p.documents, "
        "CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END AS needs_travel_document, "
        f"p.updated_at FROM page JOIN persons p ON p.id = page.id {JOINS} ORDER BY {ORDER}",
        params), params)
    rows["needs_travel_document"] = rows["needs_travel_document"].astype(int).astype(bool)
    rows["movement"] = rows["movement"].astype("Int64")
    for col in ("movement_departs", "updated_at"):
        rows[col] = pd.to_datetime(rows[col], format="mixed")

    totals = summary(db_url, viewer)
    return Nationals(rows=rows, matching=int(matching["n"].iloc[0]), total=totals["total"],
                     missing=totals["missing"], travel_document=totals["travel_document"])


@cache.scoped()
def summary(db_url: str, viewer: Viewer) -> dict[str, int]:
    """All the liaison's visible nationals, the missing, and those needing an emergency
    travel document: the same whatever the filters, so counted once."""
    scope, params = _scope(viewer)
    params = {**params, "etd": list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT)}
    counts = db.read_frame(runtime.engine(db_url), db.sql(
        "SELECT COUNT(*) AS total, "
        "SUM(CASE WHEN p.status = 'missing' THEN 1 ELSE 0 END) AS missing, "
        "SUM(CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END) AS travel_document "
        f"FROM persons p WHERE {scope}", params), params)
    return {col: 0 if pd.isna(counts[col].iloc[0]) else int(counts[col].iloc[0])
            for col in ("total", "missing", "travel_document")}
