"""Evacuation progress for the Evacuation page: the funnel by nationality and
stage, the median time spent in each stage, the branches, the movements and
their manifests, and cumulative evacuated against registered over time.

Counted in the database over the evacuation cases of the viewer's scope
(access.person_scope), leaving out the cases that break the contract
(quality.valid_evacuation_case()) exactly as the data-quality view counts them.
For aggregate roles every count below 5 is suppressed, and the funnel table
also gets complementary suppression along its rows and its columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from dashboard.contract import vocab
from dashboard.figures import quality, tallies
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
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
MOVEMENT_ORDER = {s: i for i, s in enumerate(("boarding", "planned", "departed", "arrived",
                                              "cancelled"))}


@dataclass(frozen=True)
class Evacuation:
    as_of: datetime               # the moment the funnel and progress are for
    note: str | None              # why an earlier moment asked for is not shown
    earlier: bool                 # the moment is before the latest data
    stages: pd.DataFrame         # stage, cases (every valid case of the scope)
    reached: pd.DataFrame        # stage, cases at or beyond it on the main path
    by_nationality: pd.DataFrame  # nationality, country, one column per stage, total
    time_in_stage: pd.DataFrame  # stage, cases (that moved on), median_hours
    movements: pd.DataFrame      # movement, mode, destination, departs_at, status, seats, parts
    progress: pd.DataFrame       # day, registered, evacuated (cumulative; None where thinned)


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
    """Cases by first nationality and stage (nationality, country, stage, n), from
    tally rows (group, stage, n) and their groups."""
    counts = (cases.merge(groups[["nat"]], left_on="group", right_index=True)
              .groupby(["nat", "stage"], as_index=False)["n"].sum()
              .rename(columns={"nat": "nationality"}))
    counts["country"] = counts["nationality"].map(_country_names(database))
    return counts


def _stage_durations(database: Database, viewer: Viewer) -> pd.DataFrame:
    """The viewer's histogram (stage, h, n) from the shared one."""
    tally = aggregate_stage_durations(database, viewer.scenario_id)
    return tally.scope("durations", viewer).groupby(["stage", "h"], as_index=False)["n"].sum()


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
    stays that have ended (a case still in a stage has no time in it yet)."""
    where, params = _where(database, access.whole_scenario(scenario_id))
    hours = database.hours_floor("ev.at", "ev.next_at")
    frame = tallies.read(database, (
        "WITH ev AS (SELECT e.case_id, e.stage, e.at, LEAD(e.at) OVER "
        "(PARTITION BY e.case_id ORDER BY e.at, e.id) AS next_at "
        "FROM evacuation_events e JOIN evacuation_cases c ON c.id = e.case_id "
        f"WHERE {where}) "
        f"SELECT {tallies.group_columns()}, ev.stage, {hours} AS h, COUNT(*) AS n FROM ev "
        "JOIN evacuation_cases c ON c.id = ev.case_id JOIN persons p ON p.id = c.person_id "
        f"WHERE ev.next_at IS NOT NULL GROUP BY {tallies.group_by()}, ev.stage, {hours}"),
        params)
    return tallies.with_groups({"durations": frame.astype({"h": int, "n": int})})


def _movements(database: Database, viewer: Viewer) -> pd.DataFrame:
    where, params = _where(database, viewer)
    params = {**params, **{f"part_{name}": list(stages) for name, stages in MANIFEST.items()}}
    parts = ", ".join(f"SUM(CASE WHEN c.stage IN :part_{name} THEN 1 ELSE 0 END) AS {name}"
                      for name in MANIFEST)
    # A liaison sees only the movements carrying its nationals; others see every movement.
    join = "JOIN" if access.sees_person_level(viewer.role) else "LEFT JOIN"
    return database.read(
        "SELECT m.id AS movement, m.mode, m.destination, m.departs_at, m.status, "
        f"m.capacity AS seats, {', '.join(f'k.{n}' for n in MANIFEST)} "
        f"FROM movements m {join} (SELECT c.movement_id, {parts} FROM evacuation_cases c "
        f"WHERE {where} "
        "AND c.movement_id IS NOT NULL GROUP BY c.movement_id) k ON k.movement_id = m.id "
        "WHERE m.scenario_id = :scenario", {**params, "scenario": viewer.scenario_id})


def _median_from_histogram(hist: pd.DataFrame) -> float:
    """The median of whole-hour bins, at the middle of its bin (within half an hour)."""
    hist = hist.sort_values("h")
    cumulative = hist["n"].cumsum()
    h = hist.loc[cumulative >= hist["n"].sum() / 2, "h"].iloc[0]
    return float(h) + 0.5


@cache.scoped()
def evacuation(database: Database, viewer: Viewer, as_of: datetime) -> Evacuation:
    """Every figure of the Evacuation page for `viewer` at `as_of` (part of the cache
    key). The funnel and progress are counted from the shared tallies: the current
    ones at the latest data, the history at an earlier moment (to the quarter hour).
    Time in stage and the movements have no such history: they are always the
    latest, and the page says so."""
    hide = access.suppresses_small_counts(viewer.role)
    now = tallies.now(database, viewer.scenario_id)
    history = tallies.history(database, viewer.scenario_id)
    moment, note = now.latest or as_of, None
    if now.latest is not None and as_of < now.latest:
        if history is not None and history.covers(tallies.snap(as_of)):
            moment = tallies.snap(as_of)
        else:
            note = ("The server is still reading the history (about a minute after it "
                    "starts): this is the latest data.")
    if moment == now.latest or now.latest is None:
        counts = _stage_counts(database, now.scope("cases", viewer), now.groups)
    else:
        assert history is not None  # an earlier moment is shown only from the history
        counts = _stage_counts(database, tallies.moves_by_group(
            history, "stages", "stage", viewer, moment), history.groups)
    counts["n"] = counts["n"].astype(int)

    totals = counts.groupby("stage")["n"].sum().reindex(STAGES).fillna(0).astype(int)
    reached_n = [int(totals[PATH[i:]].sum()) for i in range(len(PATH))]
    reached_n[0] = int(totals.sum())  # every case was requested, branches included
    stage_cells: dict[str, int | str] = dict(totals.items())
    reached = pd.DataFrame({"stage": PATH, "cases": reached_n}, dtype=object)
    if hide:
        stage_cells = privacy.suppress_group(dict(totals.items()))
        reached["cases"] = [privacy.suppress_value(n) for n in reached_n]
    stages = pd.DataFrame({"stage": STAGES, "cases": [stage_cells[s] for s in STAGES]},
                          dtype=object)

    known = counts[counts["country"].notna()]  # unknown codes stay out of this breakdown
    wide = known.pivot_table(index=["nationality", "country"], columns="stage", values="n",
                             aggfunc="sum")
    wide = wide.reindex(columns=STAGES).fillna(0).astype(int)
    wide["total"] = wide.sum(axis=1)
    wide = (wide.sort_values("total", ascending=False).rename_axis(None, axis=1)
            .reset_index())
    if hide:
        totals_col = wide["total"]
        wide = privacy.suppress_table(wide, STAGES)
        wide["total"] = [privacy.suppress_value(int(t)) for t in totals_col]
        wide = privacy.as_shown(wide, [*STAGES, "total"])

    hist = _stage_durations(database, viewer)
    rows: list[dict[str, object]] = []
    for stage in STAGES:
        part = hist[hist["stage"] == stage].astype({"h": int, "n": int})
        n = int(part["n"].sum())
        if n == 0:
            continue
        median = _median_from_histogram(part)
        if hide and privacy.is_small(n):
            rows.append({"stage": stage, "cases": privacy.SUPPRESSED, "median_hours": None})
        else:
            rows.append({"stage": stage, "cases": n, "median_hours": median})
    time_in_stage = pd.DataFrame(rows, columns=["stage", "cases", "median_hours"])
    if hide:
        time_in_stage = privacy.as_shown(time_in_stage, ["cases"])

    moves = _movements(database, viewer)
    parts = list(MANIFEST)
    moves[parts] = moves[parts].fillna(0).astype(int)
    moves["departs_at"] = pd.to_datetime(moves["departs_at"], format="mixed")
    moves = (moves.assign(order=moves["status"].map(MOVEMENT_ORDER).fillna(9))
             .sort_values(["order", "departs_at"]).drop(columns="order")
             .reset_index(drop=True))
    moves["on_it"] = moves[parts].sum(axis=1)
    if hide:
        on_it = moves["on_it"]
        moves = privacy.suppress_table(moves, parts, column_totals=False)
        # only rows matter here: each movement's parts add up to the cases on it
        moves["on_it"] = [privacy.suppress_value(int(t)) for t in on_it]
        moves = privacy.as_shown(moves, [*parts, "on_it"])

    progress = _progress(now, history, viewer, moment, hide)
    return Evacuation(as_of=moment, note=note,
                      earlier=now.latest is not None and moment < now.latest,
                      stages=stages, reached=reached, by_nationality=wide,
                      time_in_stage=time_in_stage, movements=moves, progress=progress)


def _progress(now: tallies.Now, history: tallies.History | None, viewer: Viewer,
              moment: datetime, hide: bool) -> pd.DataFrame:
    """Cumulative registered and evacuated by day up to the moment, from the history
    tallies; at the latest data its last day ends at the current totals (the history
    is read every few minutes, the totals every refresh)."""
    latest = now.latest is not None and moment >= now.latest
    if history is None:
        registered, departed = pd.Series(dtype=int), pd.Series(dtype=int)
    else:
        until = None if latest else moment
        registered = tallies.by_day(history, "registered", viewer, until)
        departed = tallies.by_day(history, "departed", viewer, until)
    days = sorted(set(registered.index) | set(departed.index))
    daily = pd.DataFrame({"registered": registered.reindex(days).fillna(0).astype(int),
                          "evacuated": departed.reindex(days).fillna(0).astype(int)})
    out = pd.DataFrame({"day": pd.Series(days, dtype=object),
                        "registered": daily["registered"].cumsum().to_numpy(),
                        "evacuated": daily["evacuated"].cumsum().to_numpy()})
    if latest and now.latest is not None:
        today = f"{now.latest:%Y-%m-%d}"
        persons, cases = now.scope("persons", viewer), now.scope("cases", viewer)
        totals = {"day": today, "registered": int(persons["registered"].sum()),
                  "evacuated": int(cases["departed"].sum())}
        out = pd.concat([out[out["day"] < today], pd.DataFrame([totals])], ignore_index=True)
        daily = out[["registered", "evacuated"]].diff().fillna(out[["registered", "evacuated"]])
    out = out.astype({"registered": object, "evacuated": object})
    if hide:
        for col in ("registered", "evacuated"):
            kept = privacy.thin_steps(daily.reset_index(drop=True), [col])
            out[col] = [v if k else None for v, k in zip(out[col], kept, strict=True)]
    return out
