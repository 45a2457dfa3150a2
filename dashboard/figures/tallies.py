"""Counts that every viewer's headline figures are summed from, found once per
scenario for all scopes at once.

A viewer's scope is a set of *groups*: the persons of a scenario grouped by first
nationality, second nationality and whether a consular liaison may see them at
all (consenting and not protected, docs/design.md §2.2). Each tally is counted per
group in one query over the whole scenario, and a viewer's figure is the sum over
the groups of its scope, taken here in pandas with the rule of dashboard.rules.access.
So the database answers once per scenario per interval however many scopes are
open, and a liaison of the largest nationality waits no longer than a committee
member. Nothing here leaves the server: pages get the sums, suppressed by the
caller where the role requires it.

Two kinds of tallies:

- `now()`: the figures at the scenario's latest data, exact, from the current
  rows. Kept for the refresh interval and refreshed in the background, so a
  reader never waits for them after startup (dashboard.figures.warmup).
- `history()`: how each figure moved, per quarter hour (TICK), from the history
  tables, so that the figure at any earlier moment is a cumulative sum. The past
  only grows at its end, so it is kept five minutes. An earlier moment is taken
  to the quarter hour before it (`snap`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from dashboard.contract import vocab
from dashboard.figures import quality, scenarios
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.store import db
from dashboard.store import sums as arrow_sums
from dashboard.store.db import Database

TICK = timedelta(minutes=15)
_TICK_S = int(TICK.total_seconds())
_EPOCH = datetime(1970, 1, 1)
NEVER = 2 ** 53  # the tick of a time the database cannot read: beyond any moment
GONE = list(vocab.EVACUATION_PATH[vocab.EVACUATION_PATH.index("departed"):])

def snap(moment: datetime) -> datetime:
    """The quarter hour at or before `moment`: earlier moments are counted to the tick."""
    seconds = int((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % _TICK_S)


def tick_of(moment: datetime) -> int:
    """The tick number of a moment on a tick boundary: a row whose time `at` has
    tick t (t = ceil(at / TICK)) happened at or before the moment iff t <= tick_of."""
    return int((moment - _EPOCH).total_seconds()) // _TICK_S


# The group of a person row `p`. A liaison may see a person only if consenting and
# not protected, so the two flags fold into one: `visible`.
GROUP_COLUMNS = ["nat", "nat2", "visible"]


def group_columns(p: str = "p") -> str:
    """The group columns of a person row `p`, for a SELECT list."""
    return (f"COALESCE({p}.nationality, '') AS nat, COALESCE({p}.second_nationality, '') AS nat2, "
            f"CASE WHEN {p}.consent_consular = :yes AND {p}.protection_confidential = :no "
            "THEN 1 ELSE 0 END AS visible")


def group_by(p: str = "p") -> str:
    """The same group, for a GROUP BY list."""
    return f"COALESCE({p}.nationality, ''), COALESCE({p}.second_nationality, ''), visible"


def read(database: Database, statement: str, params: dict) -> pd.DataFrame:
    return database.read(statement, _with_keys(params))


def summed(database: Database, statement: str, keys: list[str], sums: list[str],
           params: dict) -> pd.DataFrame:
    """`read`'s rows, summed per group of `keys` (Database.sums: `n` and each of `sums`)."""
    return database.sums(statement, keys, sums, _with_keys(params))


def read_once(database: Database, statement: str, keys: list[str], sums: list[str],
              params: dict) -> pa.Table | None:
    """The rows of `statement` as Arrow columns (its `sums` as integers), for a count
    that sums them more than one way (`summed_by_person`, arrow_sums.group_sums), on
    SQLite; None on PostgreSQL, which sums and joins in its own hash aggregates, or
    where Arrow cannot hold them."""
    if database.is_postgresql:
        return None
    return database.arrow(arrow_sums.summing(statement, keys, sums), _with_keys(params))


def summed_by_person(database: Database, people: pa.Table | None, statement: str,
                     keys: list[str], sums: list[str], params: dict) -> pd.DataFrame:
    """`summed` per group of the rows' persons (GROUP_COLUMNS) and then `keys`, over the
    rows of `statement` joined to their person (its column `person_id`: a row with no
    person is left out). SQLite looks each row's person up in its table, most of the
    count (0.45 s of 0.55 s for 400,000 cases at a million people): where `people`
    (the id and GROUP_COLUMNS of persons, `read_once`) holds every row's person, Arrow
    finds them in it instead."""
    if people is not None:
        rows = read_once(database, statement, ["person_id", *keys], sums, params)
        found = None if rows is None else arrow_sums.group_sums_joined(
            rows, "person_id", people, "id", keys, sums)
        if found is not None:
            return found
    return summed(database, f"SELECT {group_columns()}, y.* FROM ({statement}) y "
                            "JOIN persons p ON p.id = y.person_id",
                  [*GROUP_COLUMNS, *keys], sums, params)


def _with_keys(params: dict) -> dict:
    return {**params, "yes": True, "no": False, **privacy.installation_key_params()}


def rk(id_column: str) -> str:
    """The record key of a counted row (privacy.record_key): every tally keeps, beside
    each count `n`, the sum `k` of the keys of the rows it counts, so that any sum of
    tally rows is a privacy.Count that rounds the same way for the same rows."""
    return privacy.record_key(id_column)


@dataclass(frozen=True)
class Tallies:
    """Frames of counts, each with a `group` column indexing `groups`."""

    groups: pd.DataFrame  # nat, nat2, visible
    frames: dict[str, pd.DataFrame]

    def scope(self, name: str, viewer: Viewer) -> pd.DataFrame:
        """The rows of tally `name` inside the viewer's scope."""
        frame = self.frames[name]
        if not access.sees_person_level(viewer.role):
            return frame  # aggregate roles count everyone (and are shown only counts)
        allowed = [i for i, (nat, nat2, visible) in enumerate(
            self.groups[GROUP_COLUMNS].itertuples(index=False, name=None))
            if access.person_visible(viewer, nat, nat2 or None, bool(visible), False)]
        return frame[np.isin(frame["group"].to_numpy(), allowed)]

    def of_nationality(self, frame: pd.DataFrame, nationalities: tuple[str, ...]) -> pd.DataFrame:
        """The rows of `frame` (one of these tallies) whose persons hold either
        nationality among `nationalities`, as the consular rule reads it; all for none."""
        if not nationalities:
            return frame
        wanted = set(nationalities)
        groups = [i for i, (nat, nat2) in enumerate(
            self.groups[["nat", "nat2"]].itertuples(index=False, name=None))
            if nat in wanted or nat2 in wanted]
        return frame[frame["group"].isin(groups)]


def with_groups(frames: dict[str, pd.DataFrame]) -> Tallies:
    """Replace each frame's three group columns by one index into a shared table."""
    frames = {name: f.astype({"visible": int}) for name, f in frames.items()}
    groups = (pd.concat([f[GROUP_COLUMNS] for f in frames.values()])
             .drop_duplicates().reset_index(drop=True))
    numbered = groups.assign(group=np.arange(len(groups), dtype=np.int32))
    out = {name: f.merge(numbered, on=GROUP_COLUMNS, how="left").drop(columns=GROUP_COLUMNS)
           for name, f in frames.items()}
    return Tallies(groups, out)


# --- now ------------------------------------------------------------------------------------

# Conditions on a referral `r` or a case `c` at the moment `:at` (the one definition of
# an open and an overdue referral, which the Overview and My nationals use too).
OPEN_AT = "r.created_at <= :at AND (r.closed_at IS NULL OR r.closed_at > :at)"
# Overdue: past its deadline and still awaiting acceptance (no later status).
_PAST_DUE = f"r.due_at < :at AND {OPEN_AT}"
_ANSWERED_BY = "x.at <= :at AND x.status <> :v_open"  # a later status, of event `x`
OVERDUE_AT = (f"{_PAST_DUE} AND NOT EXISTS (SELECT 1 FROM referral_events x "
              f"WHERE x.referral_id = r.id AND {_ANSWERED_BY})")
# Only a case now at departed or beyond can have left (backward histories are
# excluded), so the history is read for those alone.
# A case may skip stages (docs/data-contract.md): one that reached any stage from
# departed on has left, with or without a `departed` event.
DEPARTED_BY = ("c.stage IN :gone AND EXISTS (SELECT 1 FROM evacuation_events e "
                "WHERE e.case_id = c.id AND e.stage IN :gone AND e.at <= :at)")
# The same, for a count of every case that sums it twice (`_if`): the cases with such
# an event joined once as `d`, where PostgreSQL would read the events once for each sum.
DEPARTED_CASES = ("SELECT DISTINCT e.case_id FROM evacuation_events e "
                  "WHERE e.stage IN :gone AND e.at <= :at")
DEPARTED_JOINED = "c.stage IN :gone AND d.case_id IS NOT NULL"
# And overdue, for PostgreSQL's count of every referral: those with a later status by
# then joined once as `a`, where it would look each referral's history up twice, in one
# process (the current tallies' referrals at a million people: 1.45 s of one core
# against 1.02 s). SQLite's look-ups cost it less than the join (0.76 s against 0.93 s).
ANSWERED = f"SELECT DISTINCT x.referral_id FROM referral_events x WHERE {_ANSWERED_BY}"
OVERDUE_JOINED = f"{_PAST_DUE} AND a.referral_id IS NULL"


def _if(condition: str, name: str, id_column: str) -> str:
    """Whether a row meets `condition` (as `name`, 1 or 0) and its key if it does (as
    `name`_k): summed, the rows meeting it and their keys."""
    return (f"CASE WHEN {condition} THEN 1 ELSE 0 END AS {name}, "
            f"CASE WHEN {condition} THEN {rk(id_column)} ELSE 0 END AS {name}_k")

@dataclass(frozen=True)
class Now(Tallies):
    latest: datetime | None = None


def now(database: Database, scenario_id: int) -> Now:
    """The current tallies of a scenario (see the module docstring)."""
    return database.current.get(("now", scenario_id), lambda: _count_now(database, scenario_id))


@db.patient()
def _count_now(database: Database, scenario_id: int) -> Now:
    # Read the moment first: rows written while the tallies are counted are then
    # never missing from figures said to be as of it (at worst a few are early).
    latest = scenarios.latest_change(database, scenario_id)
    at = {"at": latest or _EPOCH}
    aggregate = access.whole_scenario(scenario_id)

    person_sums = ["k", "registered", "registered_k", "travel_document"]
    person_row = (f"{group_columns()}, p.status, {rk('p.id')} AS k, "
                  f"{_if('p.registered_at <= :at', 'registered', 'p.id')}, "
                  # for a liaison's summary (people.summary): documents have no history
                  "CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END AS travel_document")
    of_scenario = (f"FROM persons p "
                   f"WHERE {db.in_scenario('p.scenario_id', database.dialect)} = :scenario")
    person_params = {"scenario": scenario_id, **at,
                     "etd": list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT)}
    # SQLite reads every person of the scenario once: the persons tally (those of a
    # known status), and the groups of the cases' and the referrals' persons by id
    everyone = read_once(database, (
        f"SELECT p.id, {person_row}, CASE WHEN {quality.valid_person_status()} THEN 1 "
        f"ELSE 0 END AS counted {of_scenario}"), ["id", *GROUP_COLUMNS, "status"],
        [*person_sums, "counted"], person_params)
    people = None if everyone is None else everyone.select(["id", *GROUP_COLUMNS])

    def persons() -> pd.DataFrame:
        if everyone is not None:
            frame = arrow_sums.group_sums(everyone, [*GROUP_COLUMNS, "status", "counted"],
                                          person_sums)
            return frame[frame["counted"] == 1].drop(columns="counted").reset_index(drop=True)
        return summed(database, (
            f"SELECT {person_row} {of_scenario} AND {quality.valid_person_status()}"),
            [*GROUP_COLUMNS, "status"], person_sums, person_params)

    def referrals() -> pd.DataFrame:
        where, params = quality.scoped_referrals(database, aggregate, whole=True)
        overdue, answered = ((OVERDUE_JOINED, f"LEFT JOIN ({ANSWERED}) a ON a.referral_id = r.id ")
                             if database.is_postgresql else (OVERDUE_AT, ""))
        return summed_by_person(database, people, (
            f"SELECT r.person_id, r.service, {_if(OPEN_AT, 'open', 'r.id')}, "
            f"{_if(overdue, 'overdue', 'r.id')} FROM referrals r {answered}WHERE {where}"),
            ["service"], ["open", "open_k", "overdue", "overdue_k"], {**params, **at})

    def cases() -> pd.DataFrame:
        where, params = quality.scoped_cases(database, aggregate, whole=True)
        return summed_by_person(database, people, (
            f"SELECT c.person_id, c.stage, {rk('c.id')} AS k, "
            f"{_if(DEPARTED_JOINED, 'departed', 'c.id')} FROM evacuation_cases c "
            f"LEFT JOIN ({DEPARTED_CASES}) d ON d.case_id = c.id WHERE {where}"),
            ["stage"], ["k", "departed", "departed_k"], {**params, **at, "gone": GONE})

    # the longest first (the cases read which break the contract, then themselves); the
    # frames in their usual order, so that the groups are numbered as ever
    found = database.gather({"cases": cases, "persons": persons, "referrals": referrals})
    frames = {name: found[name] for name in ("persons", "referrals", "cases")}
    for frame in frames.values():
        for column in frame.columns.difference([*GROUP_COLUMNS, "status", "service", "stage",
                                                "area", "facility"]):
            frame[column] = frame[column].fillna(0).astype(np.int64)
    tallies = with_groups(frames)
    return Now(tallies.groups, tallies.frames, latest=latest)


def places(database: Database, scenario_id: int) -> Tallies:
    """Where a liaison's nationals are now, by group, for its filter choices
    (people.options): only persons a liaison may see, and no confidential facility's
    name. Apart from `now`, which every page reads: only a liaison's page needs it."""
    return database.current.get(("places", scenario_id),
                                lambda: _count_places(database, scenario_id))


@db.patient()
def _count_places(database: Database, scenario_id: int) -> Tallies:
    found = read(database, f"SELECT {group_columns()}, a.name AS area, "
                          "CASE WHEN f.confidential = :no THEN f.name END AS facility "
                          "FROM persons p LEFT JOIN areas a ON a.pcode = p.area_pcode "
                          "LEFT JOIN facilities f ON f.id = p.facility_id "
                          "AND f.scenario_id = :scenario WHERE p.scenario_id = :scenario "
                          f"AND {quality.valid_person_status()} AND p.consent_consular = :yes "
                          "AND p.protection_confidential = :no "
                          f"GROUP BY {group_by()}, a.name, facility", {"scenario": scenario_id})
    return with_groups({"places": found})


# --- history --------------------------------------------------------------------------------

@dataclass(frozen=True)
class History(Tallies):
    until: datetime | None = None  # the latest data when the history was read

    def covers(self, moment: datetime) -> bool:
        return self.until is not None and moment <= self.until


def history(database: Database, scenario_id: int) -> History | None:
    """The quarter-hourly history tallies of a scenario (see the module docstring),
    or None while they are first being found (tens of seconds at a million
    persons): the caller then works its moment out from the history tables."""
    return database.facts.peek(("history", scenario_id),
                               lambda: _count_history(database, scenario_id))


def find_history(database: Database, scenario_id: int) -> History:
    """The history tallies, found now if they are not yet (the warm-up thread), which
    keeps the promise of `history_comes_next`."""
    return database.facts.get_promised(("history", scenario_id),
                                       lambda: _count_history(database, scenario_id))


def history_comes_next(database: Database, scenario_id: int) -> None:
    """The warm-up says it finds the history right after the current tallies: a page
    asking for it before does without (`history`), instead of counting it beside
    them. At a million people on PostgreSQL the two together took the first page
    twice as long."""
    database.facts.promise(("history", scenario_id))


@db.patient()
def _count_history(database: Database, scenario_id: int) -> History:
    until = scenarios.latest_change(database, scenario_id)
    tick = lambda column, strict=False: database.step_of(column, _TICK_S, strict)  # noqa: E731
    persons_where = f"p.scenario_id = :scenario AND {quality.valid_person_status()}"
    registered = read(database, (
        f"SELECT {group_columns()}, {tick('p.registered_at')} AS t, COUNT(*) AS n, "
        f"SUM({rk('p.id')}) AS k FROM persons p "
        f"WHERE {persons_where} GROUP BY {group_by()}, {tick('p.registered_at')}"),
        {"scenario": scenario_id})
    # Each event moves its person from the status before it (LAG) to its own: the
    # status counts at a moment are the sums of those moves up to it.
    status = read(database, (
        f"SELECT {group_columns()}, x.t, x.status, x.prev, COUNT(*) AS n, "
        f"SUM({rk('x.person_id')}) AS k FROM ("
        f"SELECT e.person_id, {tick('e.at')} AS t, e.status, "
        "LAG(e.status) OVER (PARTITION BY e.person_id ORDER BY e.at, e.id) AS prev "
        "FROM person_events e WHERE e.person_id IN "
        "(SELECT id FROM persons WHERE scenario_id = :scenario)) x "
        f"JOIN persons p ON p.id = x.person_id WHERE {persons_where} "
        "AND (x.prev IS NULL OR x.prev <> x.status) "
        f"GROUP BY {group_by()}, x.t, x.status, x.prev"), {"scenario": scenario_id})
    where, params = quality.scoped_cases(database, access.whole_scenario(scenario_id))
    stages = read(database, (
        f"SELECT {group_columns()}, x.t, x.stage, x.prev, COUNT(*) AS n, "
        f"SUM({rk('x.case_id')}) AS k FROM ("
        f"SELECT e.case_id, {tick('e.at')} AS t, e.stage, "
        "LAG(e.stage) OVER (PARTITION BY e.case_id ORDER BY e.at, e.id) AS prev "
        "FROM evacuation_events e WHERE e.case_id IN (SELECT c.id FROM evacuation_cases c "
        f"WHERE {where})) x JOIN evacuation_cases c ON c.id = x.case_id "
        "JOIN persons p ON p.id = c.person_id WHERE (x.prev IS NULL OR x.prev <> x.stage) "
        f"GROUP BY {group_by()}, x.t, x.stage, x.prev"), params)
    departed = read(database, (
        f"SELECT {group_columns()}, d.t, COUNT(*) AS n, SUM({rk('d.id')}) AS k "
        "FROM (SELECT c.id, c.person_id, "
        f"MIN({tick('e.at')}) AS t FROM evacuation_cases c "
        "JOIN evacuation_events e ON e.case_id = c.id "
        f"WHERE {where} AND c.stage IN :gone AND e.stage IN :gone "
        "GROUP BY c.id, c.person_id) d JOIN persons p ON p.id = d.person_id "
        f"GROUP BY {group_by()}, d.t"), {**params, "gone": GONE})
    where, params = quality.scoped_referrals(database, access.whole_scenario(scenario_id))
    answered = ("(SELECT MIN(x.at) FROM referral_events x WHERE x.referral_id = r.id "
                "AND x.status <> :v_open)")
    referrals = read(database, (
        f"SELECT {group_columns()}, r.service, {tick('r.created_at')} AS created_t, "
        f"{tick('r.due_at', strict=True)} AS due_t, {tick('r.closed_at')} AS closed_t, "
        f"{tick(answered)} AS answered_t, COUNT(*) AS n, SUM({rk('r.id')}) AS k "
        f"FROM referrals r JOIN persons p ON p.id = r.person_id WHERE {where} "
        f"GROUP BY {group_by()}, r.service, {tick('r.created_at')}, "
        f"{tick('r.due_at', strict=True)}, {tick('r.closed_at')}, {tick(answered)}"), params)
    frames = {"registered": registered, "status": status, "stages": stages,
              "departed": departed, "referrals": referrals}
    # A time the database cannot read has no tick and is never counted in the past.
    for frame in frames.values():
        frame[["n", "k"]] = frame[["n", "k"]].astype(np.int64)
        for column in [c for c in frame.columns if c == "t" or c.endswith("_t")]:
            frame[column] = pd.to_numeric(frame[column]).fillna(NEVER).astype(np.int64)
    tallies = with_groups(frames)
    return History(tallies.groups, tallies.frames, until=until)


# --- figures at a moment ---------------------------------------------------------------------

def counted(rows: pd.DataFrame, n: str = "n", k: str = "k") -> privacy.Count:
    """The Count of some tally rows: their count and their cell key."""
    return privacy.Count(int(rows[n].sum()), int(rows[k].sum()))


def counted_by(rows: pd.DataFrame, key: str, values: Iterable[str], n: str = "n",
               k: str = "k") -> dict[str, privacy.Count]:
    """The Counts of tally rows per value of `key`, for every value in `values`."""
    sums = rows.groupby(key)[[n, k]].sum()
    return {v: (privacy.Count(int(sums.at[v, n]), int(sums.at[v, k])) if v in sums.index
                else privacy.ZERO) for v in values}


def registered_at(h: History, viewer: Viewer, moment: datetime) -> privacy.Count:
    rows = h.scope("registered", viewer)
    return counted(rows[rows["t"] <= tick_of(moment)])


def moves_by_group(h: History, name: str, key: str, viewer: Viewer,
                   moment: datetime) -> pd.DataFrame:
    """How many of the viewer's rows were at each value of `key` at the moment, per
    group (group, key, n, k): the moves into each value up to it, less those out of
    it, with the keys of the rows likewise."""
    rows = h.scope(name, viewer)
    rows = rows[rows["t"] <= tick_of(moment)]
    into = rows.groupby(["group", key])[["n", "k"]].sum()
    out_of = rows.dropna(subset=["prev"]).groupby(["group", "prev"])[["n", "k"]].sum()
    out_of.index = out_of.index.set_names(["group", key])
    net = into.sub(out_of, fill_value=0).astype(np.int64)
    return net[net["n"] != 0].reset_index()


def _moves_at(h: History, name: str, key: str, viewer: Viewer, moment: datetime,
              values: Iterable[str]) -> dict[str, privacy.Count]:
    return counted_by(moves_by_group(h, name, key, viewer, moment), key, values)


def by_day(h: History, name: str, viewer: Viewer, until: datetime | None) -> pd.DataFrame:
    """Rows of tally `name` by day (up to the moment `until`, if given): the day of
    the quarter hour each happened in, as a frame of n and k by day."""
    rows = h.scope(name, viewer)
    rows = rows[rows["t"] <= (tick_of(until) if until is not None else NEVER - 1)]
    days = pd.to_datetime((rows["t"] - 1) * _TICK_S, unit="s").dt.strftime("%Y-%m-%d")
    return rows[["n", "k"]].groupby(days.to_numpy()).sum()


def status_at(h: History, viewer: Viewer, moment: datetime) -> dict[str, privacy.Count]:
    return _moves_at(h, "status", "status", viewer, moment, vocab.PERSON_STATUSES)


def stages_at(h: History, viewer: Viewer, moment: datetime) -> dict[str, privacy.Count]:
    return _moves_at(h, "stages", "stage", viewer, moment, vocab.ALL_EVACUATION_STAGES)


def departed_at(h: History, viewer: Viewer, moment: datetime) -> privacy.Count:
    rows = h.scope("departed", viewer)
    return counted(rows[rows["t"] <= tick_of(moment)])


def _referrals_of(h: History, viewer: Viewer) -> pd.DataFrame:
    rows = h.scope("referrals", viewer)
    return rows[rows["service"].isin(access.referral_services(viewer))]


def open_by_service_at(h: History, viewer: Viewer,
                       moment: datetime) -> dict[str, privacy.Count]:
    rows, t = _referrals_of(h, viewer), tick_of(moment)
    return counted_by(rows[(rows["created_t"] <= t) & (rows["closed_t"] > t)], "service",
                      access.referral_services(viewer))


def overdue_at(h: History, viewer: Viewer, moment: datetime) -> dict[str, privacy.Count]:
    """Overdue referrals by service: past the deadline, sent, not closed and not yet
    answered at the moment."""
    rows, t = _referrals_of(h, viewer), tick_of(moment)
    late = rows[(rows["due_t"] <= t) & (rows["created_t"] <= t) & (rows["closed_t"] > t)
                & (rows["answered_t"] > t)]
    return counted_by(late, "service", access.referral_services(viewer))
