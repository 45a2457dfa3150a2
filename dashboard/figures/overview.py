"""Headline figures for the Overview page, for one viewer, at one moment.

Every figure is a sum over the groups of the viewer's scope (dashboard.rules.access)
of counts per group found once for every role (dashboard.figures.tallies): at the
latest data the current tallies, at an earlier moment the history tallies or, until
they are found, counts per group read from the tables (`worked_back`). It leaves out
the rows that break the data contract (dashboard.figures.quality), and is suppressed
below 5 for roles that see only aggregates (dashboard.rules.privacy).
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
    open_referrals: Count
    open_by_service: dict[str, Count]
    overdue: dict[str, Count]
    departed: Count
    funnel: dict[str, Count]


def _counts_now(now: tallies.Now, viewer: Viewer) -> _Counts:
    persons = now.scope("persons", viewer)
    referrals = now.scope("referrals", viewer)
    referrals = referrals[referrals["service"].isin(access.referral_services(viewer))]
    cases = now.scope("cases", viewer)
    return _Counts(
        registered=tallies.counted(persons, "registered", "registered_k"),
        status=tallies.counted_by(persons, "status", vocab.PERSON_STATUSES),
        open_referrals=tallies.counted(referrals, "open", "open_k"),
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
        open_referrals=tallies.open_referrals_at(h, viewer, at),
        open_by_service=tallies.open_by_service_at(h, viewer, at),
        overdue=tallies.overdue_at(h, viewer, at),
        departed=tallies.departed_at(h, viewer, at),
        funnel=tallies.stages_at(h, viewer, at))


def _back(database: Database, scenario_id: int, latest: datetime,
          at: datetime) -> tallies.Tallies:
    """What turns the current counts of each group of the scenario (tallies: by
    nationality, second nationality and whether a liaison may see them) into those at
    the earlier moment `at`, read from the tables: the persons registered since, the
    persons and cases that changed since as they are now and as they were then, and
    the referrals open and overdue and the cases gone then. Counted once for every
    role, a liaison included, whose figures are the sums over its groups, as the
    current ones are: after a start, a liaison's first Overview does not wait for
    its own. For a moment the history tallies do not cover yet (they are being found,
    or the moment is newer than them)."""
    whole = access.whole_scenario(scenario_id)
    persons, person_params = _persons_where(database, whole)
    referrals, referral_params = quality.scoped_referrals(database, whole)
    cases, case_params = quality.scoped_cases(database, whole)
    since = {"ref": at, "now": latest}  # what changed after `at`, up to the latest data
    groups, keys = tallies.group_columns(), tallies.GROUP_COLUMNS

    def summed(select: str, source_where: str, by: list[str], params: dict):
        return lambda: tallies.summed(database, f"SELECT {groups}, {select} {source_where}",
                                      [*keys, *by], ["k"], params)

    person_key, referral_key, case_key = (f"{tallies.rk(c)} AS k"
                                          for c in ("p.id", "r.id", "c.id"))
    then_status = _latest_events(database, "person_events", "person_id", "status",
                                 _PERSONS_CHANGED)
    then_stage = _latest_events(database, "evacuation_events", "case_id", "stage",
                                _CASES_CHANGED)
    with_person = "JOIN persons p ON p.id = {}.person_id"
    frames = database.gather({
        "registered since": summed(
            person_key, f"FROM persons p WHERE {persons} AND p.registered_at > :ref "
            "AND p.registered_at <= :now", [], {**person_params, **since}),
        "status now": summed(
            f"p.status, {person_key}", f"FROM persons p WHERE {persons} "
            f"AND p.id IN ({_PERSONS_CHANGED})", ["status"], {**person_params, **since}),
        "status then": summed(
            f"e.status, {person_key}", f"FROM ({then_status}) e "
            f"{with_person.format('e')} WHERE {persons}", ["status"], {**person_params, **since}),
        "open": summed(
            f"r.service, {referral_key}", f"FROM referrals r {with_person.format('r')} "
            f"WHERE {referrals} AND {tallies.OPEN_AT}", ["service"], {**referral_params, "at": at}),
        "overdue": summed(
            f"r.service, {referral_key}", f"FROM referrals r {with_person.format('r')} "
            f"WHERE {referrals} AND {tallies.OVERDUE_AT}", ["service"],
            {**referral_params, "at": at}),
        "departed": summed(
            case_key, f"FROM evacuation_cases c {with_person.format('c')} "
            f"WHERE {cases} AND {tallies.DEPARTED_BY}", [],
            {**case_params, "at": at, "gone": tallies.GONE}),
        "stage now": summed(
            f"c.stage, {case_key}", f"FROM evacuation_cases c {with_person.format('c')} "
            f"WHERE {cases} AND c.id IN ({_CASES_CHANGED})", ["stage"], {**case_params, **since}),
        "stage then": summed(
            f"e.stage, {case_key}", f"FROM ({then_stage}) e JOIN evacuation_cases c "
            f"ON c.id = e.case_id {with_person.format('c')} WHERE {cases}", ["stage"],
            {**case_params, **since}),
    })
    for frame in frames.values():
        frame[["n", "k"]] = frame[["n", "k"]].fillna(0).astype("int64")
    return tallies.with_groups(frames)


def _counts_back(back: tallies.Tallies, viewer: Viewer, current: _Counts) -> _Counts:
    """The viewer's counts at the moment `back` was read for (`_back`): its current
    counts, moved back by the sums over its groups."""
    services = access.referral_services(viewer)

    def rows(name: str) -> pd.DataFrame:
        found = back.scope(name, viewer)
        return found[found["service"].isin(services)] if "service" in found else found

    def moved(now: dict[str, Count], key: str, name: str, values) -> dict[str, Count]:
        changed_now = tallies.counted_by(rows(f"{name} now"), key, values)
        changed_then = tallies.counted_by(rows(f"{name} then"), key, values)
        return {v: now[v] - changed_now[v] + changed_then[v] for v in values}

    return _Counts(
        registered=current.registered - tallies.counted(rows("registered since")),
        status=moved(current.status, "status", "status", vocab.PERSON_STATUSES),
        open_referrals=tallies.counted(rows("open")),
        open_by_service=tallies.counted_by(rows("open"), "service", services),
        overdue=tallies.counted_by(rows("overdue"), "service", services),
        departed=tallies.counted(rows("departed")),
        funnel=moved(current.funnel, "stage", "stage", vocab.ALL_EVACUATION_STAGES))


def worked_back(database: Database, viewer: Viewer, current: _Counts, latest: datetime,
                at: datetime) -> _Counts:
    """The viewer's counts at `at` read from the tables (`_back`), found once for every
    role and shared, the Overview's default comparison even before anyone asks
    (`first_compared`)."""
    back = database.current.get(("worked back", viewer.scenario_id, latest, at),
                                lambda: _back(database, viewer.scenario_id, latest, at))
    return _counts_back(back, viewer, current)


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
