"""Evacuation progress for the Evacuation page: the funnel by nationality and
stage, the median time spent in each stage, the branches, the movements and
their manifests, and cumulative evacuated against registered over time.

Counted in the database over the evacuation cases of the viewer's scope
(access.person_scope), leaving out the cases that break the contract
(quality.valid_evacuation_case()) exactly as the data-quality view counts them.
For roles that see only counts, every count is the rounding of its own cases (or,
for progress, persons) by their cell key (privacy.rounded, docs/design.md §2.4):
each tally and query sums the record keys of the rows it counts beside their
number, so that a stage, a cell, a total, a part of a manifest or a day of a running
total is a privacy.Count, rounded on its own. Nothing is hidden for another cell's
sake, and parts need not add up to their shown totals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from dashboard.contract import vocab
from dashboard.figures import quality, tallies
from dashboard.language import N_
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.rules.privacy import Count, Shown
from dashboard.store import cache, db
from dashboard.store.db import Database

STAGES = list(vocab.ALL_EVACUATION_STAGES)
PATH = list(vocab.EVACUATION_PATH)
BRANCHES = list(vocab.EVACUATION_BRANCHES)
# The parts of a movement's manifest, each case in exactly one of them.
MANIFEST = {
    "manifested": ("manifested",),
    "departed": ("departed", "arrived_transit"),
    "arrived": ("arrived_origin", "followed_up"),
    "no_show": ("no_show",),
}
# Why an earlier moment is not shown (Evacuation.note), translated where shown.
STILL_READING = N_("The server is still reading the history (about a minute after it starts): "
                   "this is the latest data.")
MOVEMENT_ORDER = {s: i for i, s in enumerate(("boarding", "planned", "departed", "arrived",
                                              "cancelled"))}


@dataclass(frozen=True)
class Evacuation:
    """Every count as the viewer may see it: exact for a liaison, else rounded (the
    tables then hold text: numbers and "<5")."""

    as_of: datetime               # the moment the funnel and progress are for
    note: str | None              # why an earlier moment asked for is not shown (English:
                                  # the page translates it)
    earlier: bool                 # the moment is before the latest data
    stages: pd.DataFrame         # stage, cases (every valid case of the scope)
    reached: pd.DataFrame        # stage, cases at or beyond it on the main path
    by_nationality: pd.DataFrame  # nationality, country, one column per stage, total
    time_in_stage: pd.DataFrame  # stage, cases (that moved on), median_hours
    movements: pd.DataFrame      # movement, mode, destination, departs_at, status, seats, parts
    progress: pd.DataFrame       # day, registered, evacuated (cumulative, by the end of each day)


def _where(database: Database, viewer: Viewer) -> tuple[str, dict]:
    # The viewer's scope, contract breaks left out (shared with the data-quality
    # view through quality.scoped_cases).
    return quality.scoped_cases(database, viewer, "c")


@cache.scoped()
def _country_names(database: Database) -> dict[str, str]:
    frame = database.read("SELECT iso3, name FROM countries")
    return dict(zip(frame["iso3"], frame["name"], strict=True))


def _stage_counts(database: Database, cases: pd.DataFrame,
                  groups: pd.DataFrame) -> pd.DataFrame:
    """Cases by first nationality and stage (nationality, country, stage, n, k), from
    tally rows (group, stage, n, k) and their groups."""
    counts = (cases.merge(groups[["nat"]], left_on="group", right_index=True)
              .groupby(["nat", "stage"], as_index=False)[["n", "k"]].sum()
              .rename(columns={"nat": "nationality"}))
    counts["country"] = counts["nationality"].map(_country_names(database))
    return counts


def _stage_durations(database: Database, viewer: Viewer) -> pd.DataFrame:
    """The viewer's histogram (stage, h, n, k) from the shared one."""
    tally = aggregate_stage_durations(database, viewer.scenario_id)
    return (tally.scope("durations", viewer)
            .groupby(["stage", "h"], as_index=False)[["n", "k"]].sum())


def aggregate_stage_durations(database: Database, scenario_id: int) -> tallies.Tallies:
    """The histogram per group of persons, for every viewer: it reads the whole stage
    history (seconds at a million persons), so the server keeps it in the database's
    shared facts (Database.facts), refreshes it in the background and finds it at
    startup (dashboard.figures.warmup)."""
    return database.facts.get(("stage_durations", scenario_id),
                              lambda: _histogram(database, scenario_id))


@db.patient()
def _histogram(database: Database, scenario_id: int) -> tallies.Tallies:
    """Histogram of whole hours spent in each stage before the next one, over the
    stays that have ended (a case still in a stage has no time in it yet), with the
    record keys of the stays' cases summed beside each count (k)."""
    where, params = _where(database, access.whole_scenario(scenario_id))
    hours = database.hours_floor("ev.at", "ev.next_at")
    frame = tallies.read(database, (
        "WITH ev AS (SELECT e.case_id, e.stage, e.at, LEAD(e.at) OVER "
        "(PARTITION BY e.case_id ORDER BY e.at, e.id) AS next_at "
        "FROM evacuation_events e JOIN evacuation_cases c ON c.id = e.case_id "
        f"WHERE {where}) "
        f"SELECT {tallies.group_columns()}, ev.stage, {hours} AS h, COUNT(*) AS n, "
        f"SUM({tallies.rk('c.id')}) AS k FROM ev "
        "JOIN evacuation_cases c ON c.id = ev.case_id JOIN persons p ON p.id = c.person_id "
        f"WHERE ev.next_at IS NOT NULL GROUP BY {tallies.group_by()}, ev.stage, {hours}"),
        params)
    frame["k"] = frame["k"].fillna(0).astype(np.int64)
    return tallies.with_groups({"durations": frame.astype({"h": int, "n": int})})


def _movements(database: Database, viewer: Viewer) -> pd.DataFrame:
    """Each movement with the cases on it per part of its manifest (a column per part,
    and beside it the sum of those cases' record keys, part_k)."""
    where, params = _where(database, viewer)
    params = {**params, **{f"part_{name}": list(stages) for name, stages in MANIFEST.items()},
              **privacy.installation_key_params()}
    key = privacy.record_key("c.id")
    parts = ", ".join(f"SUM(CASE WHEN c.stage IN :part_{name} THEN 1 ELSE 0 END) AS {name}, "
                      f"SUM(CASE WHEN c.stage IN :part_{name} THEN {key} ELSE 0 END) "
                      f"AS {name}_k" for name in MANIFEST)
    columns = ", ".join(f"parts.{n}, parts.{n}_k" for n in MANIFEST)
    # A liaison sees only the movements carrying its nationals; others see every movement.
    join = "JOIN" if access.sees_person_level(viewer.role) else "LEFT JOIN"
    return database.read(
        "SELECT m.id AS movement, m.mode, m.destination, m.departs_at, m.status, "
        f"m.capacity AS seats, {columns} "
        f"FROM movements m {join} (SELECT c.movement_id, {parts} FROM evacuation_cases c "
        f"WHERE {where} AND c.movement_id IS NOT NULL GROUP BY c.movement_id) parts "
        "ON parts.movement_id = m.id "
        "WHERE m.scenario_id = :scenario", {**params, "scenario": viewer.scenario_id})


def _median_from_histogram(hist: pd.DataFrame) -> float:
    """The median of whole-hour bins, at the middle of its bin (within half an hour)."""
    hist = hist.sort_values("h")
    cumulative = hist["n"].cumsum()
    h = hist.loc[cumulative >= hist["n"].sum() / 2, "h"].iloc[0]
    return float(h) + 0.5


def _order(value: Shown) -> float:
    """A shown count as a number to sort by, "<5" between 0 and 5: rows are ordered by
    what is shown, so that their order tells nothing the numbers do not."""
    return 2.5 if isinstance(value, str) else float(value)


@cache.scoped()
def evacuation(database: Database, viewer: Viewer, as_of: datetime) -> Evacuation:
    """Every figure of the Evacuation page for `viewer` at `as_of` (part of the cache
    key). The funnel and progress are counted from the shared tallies: the current
    ones at the latest data, the history at an earlier moment (to the quarter hour).
    Time in stage and the movements have no such history: they are always the
    latest, and the page says so. Each count is shown for the viewer (privacy.shown)."""
    exact = not access.suppresses_small_counts(viewer.role)

    def show(count: Count) -> Shown:
        return privacy.shown(count, exact)

    now = tallies.now(database, viewer.scenario_id)
    history = tallies.history(database, viewer.scenario_id)
    moment, note = now.latest or as_of, None
    if now.latest is not None and as_of < now.latest:
        if history is not None and history.covers(tallies.snap(as_of)):
            moment = tallies.snap(as_of)
        else:
            note = STILL_READING
    if moment == now.latest or now.latest is None:
        counts = _stage_counts(database, now.scope("cases", viewer), now.groups)
    else:
        assert history is not None  # an earlier moment is shown only from the history
        counts = _stage_counts(database, tallies.moves_by_group(
            history, "stages", "stage", viewer, moment), history.groups)

    # Stages, and at or beyond each stage of the path: each the Count of its own cases
    # (disjoint stages add, keys and all), rounded on its own.
    totals = tallies.counted_by(counts, "stage", STAGES)
    reached_counts = [sum((totals[s] for s in PATH[i:]), privacy.ZERO) for i in range(len(PATH))]
    reached_counts[0] = sum(totals.values(), privacy.ZERO)  # every case, branches included
    stages = pd.DataFrame({"stage": STAGES, "cases": [show(totals[s]) for s in STAGES]},
                          dtype=object)
    reached = pd.DataFrame({"stage": PATH, "cases": [show(c) for c in reached_counts]},
                           dtype=object)

    known = counts[counts["country"].notna()]  # unknown codes stay out of this breakdown
    wide = pd.DataFrame(
        [{"nationality": nat, "country": country,
          **{s: show(c) for s, c in tallies.counted_by(rows, "stage", STAGES).items()},
          "total": show(tallies.counted(rows))}
         for (nat, country), rows in known.groupby(["nationality", "country"])],
        columns=["nationality", "country", *STAGES, "total"])
    wide = (wide.assign(order=[_order(v) for v in wide["total"]])
            .sort_values(["order", "country"], ascending=[False, True])
            .drop(columns="order").reset_index(drop=True))
    if not exact:
        wide = privacy.withhold_under_small_totals(wide, STAGES, "total")
        wide = privacy.withhold_under_small_column_totals(
            wide, dict(zip(stages["stage"], stages["cases"], strict=True)))
        wide = privacy.as_shown(wide, [*STAGES, "total"])

    hist = _stage_durations(database, viewer)
    rows: list[dict[str, object]] = []
    for stage in STAGES:
        part = hist[hist["stage"] == stage].astype({"h": int, "n": int})
        count = tallies.counted(part)
        if count.n == 0:
            continue
        cases = show(count)
        # the median of one to four stays would be theirs: not shown beside "<5"
        median = None if cases == privacy.SUPPRESSED else _median_from_histogram(part)
        rows.append({"stage": stage, "cases": cases, "median_hours": median})
    time_in_stage = pd.DataFrame(rows, columns=["stage", "cases", "median_hours"])
    if not exact:
        time_in_stage = privacy.as_shown(time_in_stage, ["cases"])

    moves = movements(database, viewer)
    progress = _progress(now, history, viewer, moment, show)
    return Evacuation(as_of=moment, note=note,
                      earlier=now.latest is not None and moment < now.latest,
                      stages=stages, reached=reached, by_nationality=wide,
                      time_in_stage=time_in_stage, movements=moves, progress=progress)


@cache.scoped()
def movements(database: Database, viewer: Viewer) -> pd.DataFrame:
    """The movements as the Evacuation page lists them (and the situation report): the
    latest, boarding first, each part of its manifest and the cases on it shown for the
    viewer (privacy.shown), parts withheld under a total shown "<5"."""
    exact = not access.suppresses_small_counts(viewer.role)

    def show(count: Count) -> Shown:
        return privacy.shown(count, exact)

    moves = _movements(database, viewer)
    parts = list(MANIFEST)
    keyed = [c for p in parts for c in (p, f"{p}_k")]
    moves[keyed] = moves[keyed].fillna(0).astype(np.int64)
    moves["departs_at"] = pd.to_datetime(moves["departs_at"], format="mixed")
    moves = (moves.assign(order=moves["status"].map(MOVEMENT_ORDER).fillna(9))
             .sort_values(["order", "departs_at"]).drop(columns="order")
             .reset_index(drop=True))
    manifests = [{p: Count(int(row[p]), int(row[f"{p}_k"])) for p in parts}
                 for _, row in moves.iterrows()]
    moves = moves.drop(columns=[f"{p}_k" for p in parts]).astype({p: object for p in parts})
    for p in parts:
        moves[p] = [show(m[p]) for m in manifests]
    moves["on_it"] = pd.Series([show(sum(m.values(), privacy.ZERO)) for m in manifests],
                               index=moves.index, dtype=object)
    if not exact:
        moves = privacy.withhold_under_small_totals(moves, parts, "on_it")
        moves = privacy.as_shown(moves, [*parts, "on_it"])
    return moves


def _progress(now: tallies.Now, history: tallies.History | None, viewer: Viewer,
              moment: datetime, show: Callable[[Count], Shown]) -> pd.DataFrame:
    """Cumulative registered and evacuated by day up to the moment, from the history
    tallies; at the latest data its last day ends at the current totals (the history
    is read every few minutes, the totals every refresh). Each point is the Count of
    everyone registered (or evacuated) by the end of its day, whose key accumulates
    as its count does, rounded on its own: two consecutive points give the day's
    increment only to within the rounding of each, so no point is held back."""
    latest = now.latest is not None and moment >= now.latest
    empty = pd.DataFrame({"n": pd.Series(dtype=np.int64), "k": pd.Series(dtype=np.int64)})
    registered, departed = empty, empty
    if history is not None:
        until = None if latest else moment
        registered = tallies.by_day(history, "registered", viewer, until)
        departed = tallies.by_day(history, "departed", viewer, until)
    days = sorted(set(registered.index) | set(departed.index))

    def running(daily: pd.DataFrame) -> list[Count]:
        sums = daily.reindex(days).fillna(0).astype(np.int64).cumsum()
        return [Count(int(n), int(k)) for n, k in zip(sums["n"], sums["k"], strict=True)]

    points = list(zip(days, running(registered), running(departed), strict=True))
    if latest and now.latest is not None:
        today = f"{now.latest:%Y-%m-%d}"
        points = [p for p in points if p[0] < today]
        points.append((today,
                       tallies.counted(now.scope("persons", viewer), "registered", "registered_k"),
                       tallies.counted(now.scope("cases", viewer), "departed", "departed_k")))
    return pd.DataFrame({"day": pd.Series([p[0] for p in points], dtype=object),
                         "registered": pd.Series([show(p[1]) for p in points], dtype=object),
                         "evacuated": pd.Series([show(p[2]) for p in points], dtype=object)})
