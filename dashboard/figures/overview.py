"""Headline figures for the Overview page, for one viewer, at one moment.

Every figure is counted in the database (GROUP BY / SUM in SQL) within the
viewer's scope (dashboard.rules.access), leaves out the rows that break the data
contract (dashboard.figures.quality), and is suppressed below 5 for roles that see
only aggregates (dashboard.rules.privacy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard.contract import vocab
from dashboard.figures import quality, shelters, tallies
from dashboard.language import N_, NC_
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.rules.privacy import Count, Shown
from dashboard.store import cache
from dashboard.store.db import Database

NEAR_CAPACITY = 0.9  # share of places taken from which a facility counts as near capacity
COMPARED_BY_DEFAULT = timedelta(hours=24)  # the Overview's change, unless the reader picks


@dataclass(frozen=True)
class Figure:
    """A headline figure, already suppressed for the viewer where it must be. `label` and
    `help` are in English, marked N_: translated where drawn (components/kpi.py)."""

    key: str
    label: str
    value: int | str
    delta: int | str | None
    help: str


@dataclass(frozen=True)
class Overview:
    as_of: datetime
    reference_at: datetime
    figures: tuple[Figure, ...]
    by_status: pd.DataFrame          # status, persons
    funnel: pd.DataFrame             # stage, cases
    overdue_by_service: pd.DataFrame  # service, overdue
    near_capacity: pd.DataFrame      # facility, kind, area, capacity, occupants, full_pct

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


def _persons_where(database: Database, viewer: Viewer) -> tuple[str, dict]:
    scope, params = access.person_scope(viewer, "p", database.dialect)
    return f"{scope} AND {quality.valid_person_status()}", params


def _count(database: Database, source_where: str, params: dict, id_column: str) -> Count:
    """One Count (rows and their cell key) of `FROM ... WHERE ...`."""
    frame = database.read(f"SELECT COUNT(*) AS n, SUM({privacy.record_key(id_column)}) AS k "
                          f"{source_where}", {**params, **privacy.installation_key_params()})
    return _as_count(frame.iloc[0])


def _as_count(row) -> Count:
    n, k = row["n"], row["k"]
    return Count(0 if n is None or pd.isna(n) else int(n), 0 if k is None or pd.isna(k) else int(k))


def _counts_by(database: Database, statement: str, params: dict, key: str,
               values) -> dict[str, Count]:
    """Counts per value of `key` from a statement selecting key, n (COUNT) and k (keys)."""
    frame = database.read(statement, {**params, **privacy.installation_key_params()})
    found = {row[key]: _as_count(row) for _, row in frame.iterrows()}
    return {v: found.get(v, privacy.ZERO) for v in values}


def _registered(database: Database, viewer: Viewer, at: datetime) -> Count:
    where, params = _persons_where(database, viewer)
    return _count(database, f"FROM persons p WHERE {where} AND p.registered_at <= :at",
                  {**params, "at": at}, "p.id")


def _latest_events(database: Database, table: str, key: str, column: str, changed: str) -> str:
    """The row key and `column` of the latest event by :ref of each row in `changed`
    (latest time, then highest id), from an append-only history table. PostgreSQL's
    DISTINCT ON reads each row's events once, by index: at a million persons a third
    of the time of the join back on the latest time, which SQLite answers fast."""
    if database.is_postgresql:
        return (f"SELECT DISTINCT ON ({key}) {key}, {column} FROM {table} "
                f"WHERE {key} IN ({changed}) AND at <= :ref ORDER BY {key}, at DESC, id DESC")
    return (f"SELECT e1.{key}, e1.{column} FROM {table} e1 WHERE e1.id IN ("
            f"SELECT MAX(e2.id) FROM {table} e2 JOIN ("
            f"SELECT {key}, MAX(at) AS at FROM {table} WHERE {key} IN ({changed}) "
            f"AND at <= :ref GROUP BY {key}) last "
            f"ON last.{key} = e2.{key} AND last.at = e2.at GROUP BY e2.{key})")


# Rows whose history has an event after the moment asked for.
_PERSONS_CHANGED = "SELECT DISTINCT person_id FROM person_events WHERE at > :ref AND at <= :now"
_CASES_CHANGED = "SELECT DISTINCT case_id FROM evacuation_events WHERE at > :ref AND at <= :now"


def _by_status_at(database: Database, viewer: Viewer, now: dict[str, Count], latest: datetime,
                  at: datetime) -> dict[str, Count]:
    """Status counts at an earlier moment `at`, from the history: the current counts
    (true at `latest`), with the persons who changed since `at` counted as they were
    then (a person registered since is not counted). Reads only their history."""
    if at >= latest:
        return now
    where, params = _persons_where(database, viewer)
    params = {**params, "ref": at, "now": latest}
    key = privacy.record_key("p.id")
    statuses = vocab.PERSON_STATUSES
    changed_now = _counts_by(
        database, f"SELECT p.status, COUNT(*) AS n, SUM({key}) AS k FROM persons p "
                  f"WHERE {where} AND p.id IN ({_PERSONS_CHANGED}) GROUP BY p.status",
        params, "status", statuses)
    then = _latest_events(database, "person_events", "person_id", "status", _PERSONS_CHANGED)
    changed_then = _counts_by(
        database, f"SELECT e.status, COUNT(*) AS n, SUM({key}) AS k FROM ({then}) e "
                  f"JOIN persons p ON p.id = e.person_id WHERE {where} GROUP BY e.status",
        params, "status", statuses)
    return {s: now[s] - changed_now[s] + changed_then[s] for s in statuses}


def _funnel_at(database: Database, viewer: Viewer, now: dict[str, Count],
               latest: datetime, at: datetime) -> dict[str, Count]:
    """Evacuation cases by stage at an earlier moment, the same way as _by_status_at."""
    if at >= latest:
        return now
    where, params = quality.scoped_cases(database, viewer)
    params = {**params, "ref": at, "now": latest}
    key, stages = privacy.record_key("c.id"), vocab.ALL_EVACUATION_STAGES
    changed_now = _counts_by(
        database, f"SELECT c.stage, COUNT(*) AS n, SUM({key}) AS k FROM evacuation_cases c "
                  f"WHERE {where} AND c.id IN ({_CASES_CHANGED}) GROUP BY c.stage",
        params, "stage", stages)
    then = _latest_events(database, "evacuation_events", "case_id", "stage", _CASES_CHANGED)
    changed_then = _counts_by(
        database, f"SELECT e.stage, COUNT(*) AS n, SUM({key}) AS k FROM ({then}) e "
                  f"JOIN evacuation_cases c ON c.id = e.case_id WHERE {where} GROUP BY e.stage",
        params, "stage", stages)
    return {s: now[s] - changed_now[s] + changed_then[s] for s in stages}


def _overdue_by_service(database: Database, viewer: Viewer, at: datetime) -> dict[str, Count]:
    # Overdue at a moment: past the service's deadline then, and still awaiting
    # acceptance then (no later status in its history by that moment).
    where, params = quality.scoped_referrals(database, viewer)
    return _counts_by(
        database, f"SELECT r.service, COUNT(*) AS n, SUM({privacy.record_key('r.id')}) AS k "
                  f"FROM referrals r WHERE {where} AND {tallies.OVERDUE_AT} GROUP BY r.service",
        {**params, "at": at}, "service", access.referral_services(viewer))


def _open_by_service(database: Database, viewer: Viewer, at: datetime) -> dict[str, Count]:
    # Open at a moment: sent by then, and not yet closed, rejected or revoked then.
    where, params = quality.scoped_referrals(database, viewer)
    return _counts_by(
        database, f"SELECT r.service, COUNT(*) AS n, SUM({privacy.record_key('r.id')}) AS k "
                  f"FROM referrals r WHERE {where} AND {tallies.OPEN_AT} GROUP BY r.service",
        {**params, "at": at}, "service", access.referral_services(viewer))


def _departed_by(database: Database, viewer: Viewer, at: datetime) -> Count:
    """Cases that had left the country by `at` (reached departed or a later stage),
    from the stage history, as the shared tallies count them."""
    where, params = quality.scoped_cases(database, viewer)
    return _count(database, f"FROM evacuation_cases c WHERE {where} AND {tallies.DEPARTED_BY}",
                  {**params, "at": at, "gone": tallies.GONE}, "c.id")


@cache.scoped()
def _facilities(database: Database, scenario_id: int, at: datetime) -> pd.DataFrame:
    """Latest valid occupancy report by `at` of every usable facility, pooled
    confidential ones included (they count in totals; the caller never lists or
    draws them).
    Facility status has no history in the contract: today's status is used."""
    params = {"scenario": scenario_id, "occ_at": at}
    frame = database.read(
        "SELECT f.id, f.name AS facility, f.kind, a.name AS area, f.capacity, lo.occupants, "
        "f.confidential, f.status "
        f"FROM facilities f JOIN ({quality.latest_occupancy('occ_at', database.dialect)}) lo "
        "ON lo.facility_id = f.id "
        "LEFT JOIN areas a ON a.pcode = f.area_pcode "
        f"WHERE f.scenario_id = :scenario AND {quality.valid_occupancy()}", params)
    frame["full_pct"] = (100 * frame["occupants"] / frame["capacity"]).round(0)
    # a confidential place alone in its area counts in no total (privacy.counted_in_totals)
    return shelters.in_use(frame[privacy.counted_in_totals(frame)])


def _near_capacity(facilities: pd.DataFrame) -> pd.DataFrame:
    return facilities[facilities["occupants"] >= NEAR_CAPACITY * facilities["capacity"]]


def _free_places(facilities: pd.DataFrame) -> int:
    return int((facilities["capacity"] - facilities["occupants"]).sum())


def _occupants(facilities: pd.DataFrame) -> int:
    return int(facilities["occupants"].sum())


def _active_hazards(database: Database, viewer: Viewer, at: datetime) -> int:
    return database.scalar("SELECT COUNT(*) FROM hazards h WHERE h.scenario_id = :scenario "
                           "AND h.valid_from <= :at AND (h.valid_to IS NULL OR h.valid_to > :at)",
                           {"scenario": viewer.scenario_id, "at": at})


def _exact(viewer: Viewer) -> bool:
    return not access.suppresses_small_counts(viewer.role)


def _delta(now: Shown, before: Shown) -> Shown:
    """The change between two shown figures, from what is shown; WITHHELD where one of
    them is "<5" (the change would count the few people behind it)."""
    change = privacy.change(now, before)
    return privacy.WITHHELD if change is None else change


def _group(viewer: Viewer, counts: dict[str, Count], name: str, value: str) -> pd.DataFrame:
    shown = {k: privacy.shown(c, _exact(viewer)) for k, c in counts.items()}
    return pd.DataFrame({name: list(shown), value: [str(v) for v in shown.values()]})


def _overdue_shown(viewer: Viewer, counts: _Counts) -> pd.DataFrame:
    """Overdue referrals by service, withheld where the service's open total is shown
    "<5": they are part of it (privacy.withhold_under_small_totals), as on Referrals."""
    overdue = _group(viewer, counts.overdue, "service", "overdue")
    if _exact(viewer):
        return overdue
    open_ = _group(viewer, counts.open_by_service, "service", "open")
    return privacy.withhold_under_small_totals(overdue.merge(open_, on="service"),
                                               ["overdue"], "open").drop(columns="open")


@dataclass(frozen=True)
class _Counts:
    """The viewer's counts behind the headline figures, at one moment."""

    registered: Count
    status: dict[str, Count]
    open_by_service: dict[str, Count]  # every service in the viewer's scope
    overdue: dict[str, Count]
    departed: Count
    funnel: dict[str, Count]

    @property
    def open_referrals(self) -> Count:
        return sum(self.open_by_service.values(), privacy.ZERO)


def _counts_now(now: tallies.Now, viewer: Viewer) -> _Counts:
    persons = now.scope("persons", viewer)
    referrals = now.scope("referrals", viewer)
    referrals = referrals[referrals["service"].isin(access.referral_services(viewer))]
    cases = now.scope("cases", viewer)
    return _Counts(
        registered=tallies.counted(persons, "registered", "registered_k"),
        status=tallies.counted_by(persons, "status", vocab.PERSON_STATUSES),
        open_by_service=tallies.counted_by(referrals, "service",
                                           access.referral_services(viewer), "open", "open_k"),
        overdue=tallies.counted_by(referrals, "service", access.referral_services(viewer),
                                   "overdue", "overdue_k"),
        departed=tallies.counted(cases, "departed", "departed_k"),
        funnel=tallies.counted_by(cases, "stage", vocab.ALL_EVACUATION_STAGES))


def _counts_in_history(h: tallies.History, viewer: Viewer, at: datetime) -> _Counts:
    return _Counts(
        registered=tallies.registered_at(h, viewer, at),
        status=tallies.status_at(h, viewer, at),
        open_by_service=tallies.open_by_service_at(h, viewer, at),
        overdue=tallies.overdue_at(h, viewer, at),
        departed=tallies.departed_at(h, viewer, at),
        funnel=tallies.stages_at(h, viewer, at))


def _counts_from_tables(database: Database, viewer: Viewer, now: _Counts, latest: datetime,
                        at: datetime) -> _Counts:
    """The same counts read from the tables: for a moment the history tallies do not
    cover yet (they are being found, or the moment is newer than them)."""
    return _Counts(**database.gather({
        "registered": lambda: _registered(database, viewer, at),
        "status": lambda: _by_status_at(database, viewer, now.status, latest, at),
        "open_by_service": lambda: _open_by_service(database, viewer, at),
        "overdue": lambda: _overdue_by_service(database, viewer, at),
        "departed": lambda: _departed_by(database, viewer, at),
        "funnel": lambda: _funnel_at(database, viewer, now.funnel, latest, at)}))


def worked_back(database: Database, viewer: Viewer, current: _Counts, latest: datetime,
                at: datetime) -> _Counts:
    """The counts at `at` read from the tables (`_counts_from_tables`). The roles shown
    counts alone all count the same rows (their `current` counts are the same too):
    theirs are found once, as the server's, and shared, the Overview's default
    comparison even before anyone asks (`first_compared`)."""
    if access.sees_person_level(viewer.role):
        return _counts_from_tables(database, viewer, current, latest, at)
    whole = access.whole_scenario(viewer.scenario_id)
    return database.current.get(
        ("worked back", viewer.scenario_id, latest, at),
        lambda: _counts_from_tables(database, whole, current, latest, at))


def first_compared(database: Database, scenario_id: int) -> None:
    """What the first Overview after a start compares with, found by the warm-up beside
    the current tallies: the counts 24 hours before the latest data, read from the
    tables, as the history that would give them takes several times as long."""
    now = tallies.now(database, scenario_id)
    if now.latest is None:
        return
    whole = access.whole_scenario(scenario_id)
    worked_back(database, whole, _counts_now(now, whole), now.latest,
                tallies.snap(now.latest - COMPARED_BY_DEFAULT))


def _counts_at(database: Database, viewer: Viewer, now: tallies.Now, current: _Counts,
               at: datetime) -> tuple[datetime, _Counts]:
    """The counts at `at`, and the moment they are for: the latest data for any moment
    since it, else `at` taken to the quarter hour (tallies.TICK)."""
    if now.latest is None or at >= now.latest:
        return (now.latest or at), current
    at = tallies.snap(at)
    history = tallies.history(database, viewer.scenario_id)
    if history is not None and history.covers(at):
        return at, _counts_in_history(history, viewer, at)
    return at, worked_back(database, viewer, current, now.latest, at)


@cache.scoped()
def overview(database: Database, viewer: Viewer, as_of: datetime,
             reference_at: datetime | None = None) -> Overview:
    """Every Overview figure for `viewer` at `as_of`, with the change since
    `reference_at` (24 hours earlier by default). The viewer is part of the
    cache key, so no role is ever served another scope's figures. The moments
    in the result are those the figures are for (see _counts_at)."""
    now = tallies.now(database, viewer.scenario_id)
    current = _counts_now(now, viewer)
    as_of, counts = _counts_at(database, viewer, now, current, as_of)
    reference_at, ref = _counts_at(database, viewer, now, current,
                                   min(reference_at or as_of - COMPARED_BY_DEFAULT, as_of))
    exact = _exact(viewer)

    def pair(now: Count, before: Count) -> tuple[Shown, Shown]:
        shown_now = privacy.shown(now, exact)
        return shown_now, _delta(shown_now, privacy.shown(before, exact))

    def total(counts: dict[str, Count]) -> Count:
        return sum(counts.values(), privacy.ZERO)

    facilities = _facilities(database, viewer.scenario_id, as_of)
    facilities_ref = _facilities(database, viewer.scenario_id, reference_at)
    near, near_ref = _near_capacity(facilities), _near_capacity(facilities_ref)
    free_places = _free_places(facilities)
    hazards, hazards_ref = (_active_hazards(database, viewer, as_of),
                            _active_hazards(database, viewer, reference_at))
    listed = near[~near["confidential"].astype(bool)].sort_values("full_pct", ascending=False)
    # occupancy is reported by facilities, not counted from persons: exact for all
    listed = listed[["facility", "kind", "area", "capacity", "occupants", "full_pct"]]

    # Labels and help in English, marked here and said where the tiles are drawn
    # (components/kpi.py): this runs cached, in English.
    figures = (
        Figure("registered", N_("Registered"), *pair(counts.registered, ref.registered),
               N_("Persons registered by the moment shown")),
        Figure("sheltered", N_("Registered sheltered"), *pair(counts.status["sheltered"],
                                                              ref.status["sheltered"]),
               N_("Persons whose registration says they stay in a facility. Facilities report "
                  "their own occupants (the next figure): the two differ where a registration "
                  "or a report is behind, or people stay unregistered")),
        Figure("occupants", N_("Reported occupants"), _occupants(facilities),
               _occupants(facilities) - _occupants(facilities_ref),
               N_("Occupants that open and full facilities report in their latest valid "
                  "report, as on the Shelters page")),
        Figure("missing", NC_("tile", "Missing"),
               *pair(counts.status["missing"], ref.status["missing"]),
               N_("Persons whose whereabouts are unknown")),
        Figure("departed", NC_("tile", "Evacuated"), *pair(counts.departed, ref.departed),
               N_("Evacuation cases that have departed the country")),
        Figure("open_referrals", N_("Open referrals"), *pair(counts.open_referrals,
                                                             ref.open_referrals),
               N_("Referrals sent and not yet closed, rejected or revoked")),
        Figure("overdue_referrals", N_("Overdue referrals"), *pair(total(counts.overdue),
                                                                   total(ref.overdue)),
               N_("Open referrals not accepted by their service's deadline")),
        Figure("near_capacity", N_("Facilities ≥90% full"), len(near),
               len(near) - len(near_ref),
               N_("Open facilities whose latest report is at 90% of capacity or more")),
        Figure("free_places", N_("Free places"), free_places,
               free_places - _free_places(facilities_ref),
               N_("Capacity minus reported occupants, over open and full facilities with a "
                  "valid report, as on the Shelters page")),
        Figure("hazards", N_("Active hazards"), hazards, hazards - hazards_ref,
               N_("Hazards valid at the moment shown")),
    )
    return Overview(
        as_of=as_of,
        reference_at=reference_at,
        figures=figures,
        by_status=_group(viewer, counts.status, "status", "persons"),
        funnel=_group(viewer, counts.funnel, "stage", "cases"),
        overdue_by_service=_overdue_shown(viewer, counts),
        near_capacity=listed.reset_index(drop=True),
    )
