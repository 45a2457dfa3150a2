"""The after-action review of an exercise scenario, for the Drill page.

The inject timeline a drill simulator wrote (`drill_injects`) against the
response observed in the scenario's history, over a window: from the first
inject of a drill run to the data-as-of (or, with no drill played yet, from the
scenario's start). Every figure is recomputed from the append-only histories as
of a chosen moment `until` (the replay), so a moment of the replay shows only
what had happened by then.

- time from registration to evacuation: per evacuation case that departed in
  the window, the person's `registered_at` to the case's first `departed` event;
  median and 90th percentile by (first) nationality;
- referral time to acceptance against the deadline, per service, over the
  referrals sent in the window;
- hours each facility spent at or over capacity, from its occupancy reports
  (each report holds until the next one, or until the moment shown), and how
  stale its reports were;
- around each inject, the response in the hour after it.

Counted in the database within the coordinator's scope (quality.scoped_cases,
quality.scoped_referrals, access.person_scope), leaving out the rows that break
the contract as the data-quality view counts them. One exception, on purpose:
occupancy reports above capacity break the contract, and here they are exactly
what the review must show, so they are counted and said so. Confidential
facilities count in totals only.

For roles that see only counts (docs/design.md §2.4) every count of persons
(by p.id), referrals (by r.id) or evacuation cases (by c.id) is a privacy.Count,
the number of its rows and the sum of their record keys, shown rounded on its own
(privacy.rounded): 0, "<5" for 1 to 4, else a multiple of 5 decided by those rows.
A response in the hour after an inject, a point of a cumulative series, a
nationality, a service's part: the same rows always show the same value, nothing is
hidden for another cell's sake and no point of a series is left out. Percentiles
and medians are shown only where the count of cases behind them is not "<5".
Facility occupancy is reported by facilities and stays exact, except that a
consular liaison sees no exact peak of 1 to 4 (as on the Shelters page).

Only exercise scenarios are reviewed (`NotExercise` otherwise): live and
exercise rows never meet in one figure (docs/design.md §2.7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from dashboard.contract import vocab
from dashboard.figures import palette, quality, scenarios
from dashboard.figures.shelters import DUE_HOURS, FRESH_HOURS, freshness
from dashboard.language import N_
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.rules.privacy import Count, Shown
from dashboard.store import cache
from dashboard.store.db import Database

# Percentiles are exact over the fetched durations (one row per departed case)
# while a window holds at most this many departures: an exercise of 50,000
# persons has at most 20,000 evacuation cases. Beyond it (a million-person
# scenario) they come from a GROUP BY histogram of whole hours instead, within
# half an hour of the exact value, and no per-case row leaves the database.
MAX_DURATION_ROWS = 100_000
PERCENTILES = {"median_h": 0.5, "p90_h": 0.9}
RESPONSE_HOURS = 1  # the response "around" an inject: the hour after it

# The response series, each in its palette colour (dashboard.figures.palette); the
# labels in English, translated where the chart is drawn (pages/drill.py).
SERIES = {
    "registered": (N_("Registered"), palette.PERSON_STATUS["located"]),
    "accepted": (N_("Referrals accepted"), palette.REFERRAL_STATUS["accepted"]),
    "departed": (N_("Evacuation departures"), palette.PERSON_STATUS["evacuated"]),
}


class NotExercise(ValueError):
    """The scenario is live: the review never mixes live rows into an exercise figure."""


@dataclass(frozen=True)
class Review:
    start: datetime
    until: datetime
    injects: pd.DataFrame        # seq, at, name, kind, status, detail, + response in the hour after
    series: pd.DataFrame         # hour, registered, accepted, departed (cumulative since start)
    evacuation: pd.DataFrame     # nationality, country, cases, median_h, p90_h
    evacuation_all: dict         # cases, median_h, p90_h over every nationality
    evacuation_left_out: Shown   # departed before registration, or unknown nationality/status
    approximate: bool            # percentiles from the hour histogram (see MAX_DURATION_ROWS)
    referrals: pd.DataFrame      # per service: deadline, sent, accepted in time/late, ...
    facilities: pd.DataFrame     # per listed facility: hours at or over capacity, staleness
    facility_totals: dict        # over-capacity and staleness figures over every facility


def _time(value) -> datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()


# --- the window ---------------------------------------------------------------------------

def require_exercise(database: Database, scenario_id: int) -> scenarios.ScenarioInfo:
    info = next((s for s in scenarios.list_scenarios(database) if s.id == scenario_id), None)
    if info is None or not info.is_exercise:
        raise NotExercise("The Drill page reviews exercise scenarios only.")
    return info


@cache.scoped()
def runs(database: Database, scenario_id: int) -> pd.DataFrame:
    """The drill runs played into an exercise scenario, latest first: run_id,
    first_at, last_at, injects, skipped. Empty when no drill has been played."""
    require_exercise(database, scenario_id)
    frame = database.read(
        "SELECT run_id, MIN(at) AS first_at, MAX(at) AS last_at, COUNT(*) AS injects, "
        "SUM(CASE WHEN status = :v_skipped THEN 1 ELSE 0 END) AS skipped "
        "FROM drill_injects WHERE scenario_id = :scenario GROUP BY run_id "
        "ORDER BY MIN(at) DESC, run_id", {"scenario": scenario_id})
    for col in ("first_at", "last_at"):
        frame[col] = pd.to_datetime(frame[col], format="mixed")
    return frame.astype({"injects": int, "skipped": int})


def window(database: Database, scenario_id: int, run_id: str | None,
           as_of: datetime) -> tuple[datetime, datetime]:
    """The review window: from the run's first inject (or the scenario's start when
    no run is chosen) to the data-as-of, or the run's last inject if that is later."""
    info = require_exercise(database, scenario_id)
    if run_id is None:
        return info.starts_at, max(as_of, info.starts_at)
    played = runs(database, scenario_id)
    row = played[played["run_id"] == run_id]
    if row.empty:
        return info.starts_at, max(as_of, info.starts_at)
    first, last = (_time(row["first_at"].iloc[0]), _time(row["last_at"].iloc[0]))
    if first is None or last is None:  # a run's times the database cannot read
        return info.starts_at, max(as_of, info.starts_at)
    return first, max(as_of, last)


# --- percentiles --------------------------------------------------------------------------

def nearest_rank(values: np.ndarray, share: float) -> float:
    """The smallest value with at least `share` of the values at or below it."""
    ordered = np.sort(values)
    return float(ordered[max(math.ceil(share * len(ordered)), 1) - 1])


def histogram_rank(hours: np.ndarray, counts: np.ndarray, share: float) -> float:
    """The same rank from a histogram of whole hours: the middle of the bin that
    holds it (within half an hour of the exact value)."""
    order = np.argsort(hours)
    hours, cumulative = hours[order], np.cumsum(counts[order])
    need = max(math.ceil(share * cumulative[-1]), 1)
    return float(hours[np.searchsorted(cumulative, need)]) + 0.5


# --- the figures ---------------------------------------------------------------------------

def _departures(database: Database, viewer: Viewer) -> tuple[str, dict]:
    """A subquery of each scoped, valid evacuation case's first departure (case_id, at)."""
    where, params = quality.scoped_cases(database, viewer, "c")
    return ("SELECT e.case_id, MIN(e.at) AS at FROM evacuation_events e "
            f"WHERE e.stage = :v_departed AND e.case_id IN (SELECT c.id FROM evacuation_cases c "
            f"WHERE {where}) GROUP BY e.case_id"), params


def _acceptances(database: Database, viewer: Viewer) -> tuple[str, dict]:
    """A subquery of each scoped, valid referral's first acceptance (referral_id, at)."""
    where, params = quality.scoped_referrals(database, viewer, "r")
    return ("SELECT x.referral_id, MIN(x.at) AS at FROM referral_events x "
            "WHERE x.status = :v_accepted AND x.referral_id IN (SELECT r.id FROM referrals r "
            f"WHERE {where}) GROUP BY x.referral_id"), params


def _registrations(database: Database, viewer: Viewer) -> tuple[str, dict]:
    scope, params = access.person_scope(viewer, "p", database.dialect)
    return f"{scope} AND {quality.valid_person_status()}", params


def _exact(viewer: Viewer) -> bool:
    """Whether the viewer sees counts exactly (a liaison, of its own nationals) or only
    rounded (privacy.shown)."""
    return not access.suppresses_small_counts(viewer.role)


def _keys(frame: pd.DataFrame, column: str = "k") -> np.ndarray:
    """Record keys (or sums of them) as read: NULL where nothing was summed."""
    return frame[column].fillna(0).astype(np.int64).to_numpy()


def _injects(database: Database, viewer: Viewer, run_id: str | None,
             until: datetime) -> pd.DataFrame:
    """The run's injects up to `until`, each with the response in the hour after it
    (counted up to `until`: the replay does not know the future), as the viewer may
    see it: the registered persons, first acceptances (by referral) and first
    departures (by case) of that hour, each a Count of its own rows."""
    params = {"scenario": viewer.scenario_id, "run": run_id or "", "until": until}
    injects = database.read(
        "SELECT i.seq, i.at, i.name, i.kind, i.status, i.detail FROM drill_injects i "
        "WHERE i.scenario_id = :scenario AND i.run_id = :run AND i.at <= :until "
        "ORDER BY i.at, i.seq", params)
    departures, dep_params = _departures(database, viewer)
    acceptances, acc_params = _acceptances(database, viewer)
    persons, person_params = _registrations(database, viewer)
    exact = _exact(viewer)
    # Each response's times in the window read once, with each row's record key, then
    # counted per inject here: a count per inject in SQL re-ran the grouped subqueries
    # for every inject (0.6 s for a drill of 25 injects at the reference scale).
    at = pd.to_datetime(injects["at"], format="mixed")
    window = {"lo": at.min() if len(at) else until, "until": until,
              **privacy.installation_key_params()}
    for name, rows, column, id_column, extra in (
            ("registered", f"persons p WHERE {persons} AND", "p.registered_at", "p.id",
             person_params),
            ("accepted", f"({acceptances}) a WHERE", "a.at", "a.referral_id", acc_params),
            ("departed", f"({departures}) d WHERE", "d.at", "d.case_id", dep_params)):
        found = database.read(
            f"SELECT {column} AS at, {privacy.record_key(id_column)} AS k FROM {rows} "
            f"{column} >= :lo AND {column} <= :until", {**extra, **window})
        found["at"] = pd.to_datetime(found["at"], format="mixed")
        found = found.dropna(subset=["at"]).sort_values("at", kind="stable")
        times = found["at"].to_numpy()
        # the count and the key of the rows before each position in time order
        keys = np.concatenate([[0], np.cumsum(_keys(found))])
        # at or after the inject, before the hour after it (and by `until`)
        first = np.searchsorted(times, at.to_numpy(), side="left")
        ends = np.minimum(np.searchsorted(times, (at + pd.Timedelta(hours=RESPONSE_HOURS))
                                          .to_numpy(), side="left"),
                          np.searchsorted(times, np.datetime64(until), side="right"))
        ends = np.maximum(ends, first)
        shown = [privacy.shown(Count(int(e - f), int(keys[e] - keys[f])), exact)
                 for f, e in zip(first, ends, strict=True)]
        injects[name] = shown if exact else [str(v) for v in shown]  # a table: text
    return injects


def _hourly(database: Database, statement: str, column: str, id_column: str,
            params: dict) -> pd.DataFrame:
    """Rows by the hour of `column`: n, and k (the sum of their record keys)."""
    hour = database.hour_of(column)
    frame = database.read(
        f"SELECT {hour} AS hour, COUNT(*) AS n, SUM({privacy.record_key(id_column)}) AS k "
        f"{statement} GROUP BY {hour}", {**params, **privacy.installation_key_params()})
    frame["k"] = _keys(frame)
    return frame.set_index("hour")[["n", "k"]].astype(np.int64)


def _series(database: Database, viewer: Viewer, start: datetime,
            until: datetime) -> pd.DataFrame:
    """Registrations, referral acceptances and departures since `start`, cumulative
    by the hour, in SQL (GROUP BY hour). Each point is the Count of every row counted
    by the end of its hour, whose key accumulates as its count does, shown on its own
    (privacy.shown): two consecutive points give the hour's increment only to within
    the rounding of each, so every point is drawn ("<5" is left undrawn)."""
    departures, dep_params = _departures(database, viewer)
    acceptances, acc_params = _acceptances(database, viewer)
    persons, person_params = _registrations(database, viewer)
    span = {"start": start, "until": until}
    counts = {
        "registered": _hourly(database, f"FROM persons p WHERE {persons} AND p.registered_at "
                                      ">= :start AND p.registered_at <= :until",
                              "p.registered_at", "p.id", {**person_params, **span}),
        "accepted": _hourly(database, f"FROM ({acceptances}) a WHERE a.at >= :start "
                                    "AND a.at <= :until", "a.at", "a.referral_id",
                            {**acc_params, **span}),
        "departed": _hourly(database, f"FROM ({departures}) d WHERE d.at >= :start "
                                    "AND d.at <= :until", "d.at", "d.case_id",
                            {**dep_params, **span}),
    }
    hours = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(until).floor("h"),
                          freq="h")
    keys = [f"{h:%Y-%m-%d %H}" for h in hours]
    exact = _exact(viewer)
    out = pd.DataFrame({"hour": hours})
    for col, hourly in counts.items():
        running = hourly.reindex(keys).fillna(0).astype(np.int64).cumsum()
        out[col] = pd.Series([privacy.shown(Count(int(n), int(k)), exact) for n, k in
                              zip(running["n"], running["k"], strict=True)], dtype=object)
    return out


def _order(value: Shown) -> float:
    """A shown count as a number to sort by, "<5" between 0 and 5: rows are ordered by
    what is shown, so that their order tells nothing the numbers do not."""
    return 2.5 if isinstance(value, str) else float(value)


def _evacuation(database: Database, viewer: Viewer, start: datetime,
                until: datetime) -> tuple[pd.DataFrame, dict, Shown, bool]:
    """Departures in the window by (first) nationality: the cases, each nationality's
    a Count of its own cases shown on its own, and the median and 90th percentile of
    the hours from registration, shown only beside a count of 5 or more (or exact)."""
    departures, params = _departures(database, viewer)
    params = {**params, "start": start, "until": until, **privacy.installation_key_params()}
    key = privacy.record_key("c.id")
    base = (f"FROM ({departures}) d JOIN evacuation_cases c ON c.id = d.case_id "
            "JOIN persons p ON p.id = c.person_id "
            "WHERE d.at >= :start AND d.at <= :until")
    valid = (f"{quality.valid_person_nationality()} AND {quality.valid_person_status()} "
             "AND d.at >= p.registered_at")
    counted = database.read(
        f"SELECT SUM(CASE WHEN {valid} THEN 1 ELSE 0 END) AS ok, COUNT(*) AS n, "
        f"SUM(CASE WHEN {valid} THEN 0 ELSE {key} END) AS bad_k {base}", params)
    ok = int(counted["ok"].fillna(0).iloc[0])
    left_out = Count(int(counted["n"].iloc[0]) - ok, int(_keys(counted, "bad_k")[0]))

    approximate = ok > MAX_DURATION_ROWS
    if approximate:
        # whole hours, binned in the database: bounded by nationalities x hours
        hours = database.hours_floor("p.registered_at", "d.at")
        hist = database.read(
            f"SELECT p.nationality, {hours} AS h, COUNT(*) AS n, SUM({key}) AS k "
            f"{base} AND {valid} GROUP BY p.nationality, {hours}", params)
        hist = hist.assign(k=_keys(hist)).astype({"h": int, "n": int})
        groups = {nat: (part["h"].to_numpy(), part["n"].to_numpy())
                  for nat, part in hist.groupby("nationality")}

        def figures(h: np.ndarray, n: np.ndarray) -> dict:
            return {k: histogram_rank(h, n, s) for k, s in PERCENTILES.items()}

        counts = {nat: Count(int(part["n"].sum()), int(part["k"].sum()))
                  for nat, part in hist.groupby("nationality")}
        per_nat = {nat: figures(h, n) for nat, (h, n) in groups.items()}
        every = (figures(hist["h"].to_numpy(), hist["n"].to_numpy()) if len(hist)
                 else dict.fromkeys(PERCENTILES))
    else:
        rows = database.read(
            f"SELECT p.nationality, p.registered_at, d.at AS departed_at, {key} AS k "
            f"{base} AND {valid}", params)
        hours = ((pd.to_datetime(rows["departed_at"], format="mixed")
                  - pd.to_datetime(rows["registered_at"], format="mixed"))
                 .dt.total_seconds() / 3600).to_numpy()
        nats, keys = rows["nationality"].to_numpy(), _keys(rows)

        def figures_of(values: np.ndarray) -> dict:
            return {k: nearest_rank(values, s) for k, s in PERCENTILES.items()}

        counts = {nat: Count(int((nats == nat).sum()), int(keys[nats == nat].sum()))
                  for nat in set(nats)}
        per_nat = {nat: figures_of(hours[nats == nat]) for nat in counts}
        every = figures_of(hours) if len(hours) else dict.fromkeys(PERCENTILES)

    names = database.read("SELECT iso3, name FROM countries WHERE iso3 IN :codes",
                          {"codes": sorted(counts) or [""]})
    country = dict(zip(names["iso3"], names["name"], strict=True))
    exact = _exact(viewer)
    # each nationality rounded on its own: nothing hidden for another's sake
    cases = {nat: privacy.shown(c, exact) for nat, c in counts.items()}

    def figured(value: Shown) -> bool:
        """Percentiles beside a count: never beside "<5" (they would be its few cases')."""
        return value != privacy.SUPPRESSED

    # largest shown first, then by name: the order tells nothing the shown counts do not
    order = sorted(counts, key=lambda nat: (-_order(cases[nat]), country.get(nat, nat)))
    rows_out = [{"nationality": nat, "country": country.get(nat, nat),
                 "cases": cases[nat] if exact else str(cases[nat]),
                 **{k: per_nat[nat][k] if figured(cases[nat]) else None for k in PERCENTILES}}
                for nat in order]
    frame = pd.DataFrame(rows_out, columns=["nationality", "country", "cases", *PERCENTILES])
    for k in PERCENTILES:
        frame[k] = pd.to_numeric(frame[k]).round(1)
    total = privacy.shown(sum(counts.values(), privacy.ZERO), exact)
    overall: dict[str, Shown | float | None] = {"cases": total}
    for k in PERCENTILES:
        value = every[k]
        overall[k] = None if value is None or not figured(total) else round(value, 1)
    return frame, overall, privacy.shown(left_out, exact), approximate


REFERRAL_COLUMNS = ["service", "deadline_h", "sent", "accepted_in_time", "accepted_late",
                    "not_accepted", "median_h_to_accept", "within_deadline_pct",
                    "open_past_deadline"]


def _referrals(database: Database, viewer: Viewer, start: datetime,
               until: datetime) -> pd.DataFrame:
    """Per service, over the referrals sent in the window by `until`: accepted within
    the deadline (first acceptance at or before due_at), accepted late, not (yet)
    accepted; the median hours to acceptance; the share accepted within the deadline
    among those whose outcome is known (accepted, or deadline passed); and those
    still open past the deadline (no status but `open` by `until`, not ended).
    Each count is a Count of its own referrals, shown on its own (privacy.shown); the
    median and the share only where the counts behind them are not 1 to 4."""
    where, params = quality.scoped_referrals(database, viewer, "r")
    acceptances, _ = _acceptances(database, viewer)
    params = {**params, "start": start, "until": until, **privacy.installation_key_params()}
    hours = database.seconds_between("r.created_at", "a.at")
    rows = database.read(
        f"SELECT r.service, r.due_at, r.closed_at, a.at AS accepted_at, {hours} AS seconds, "
        f"{privacy.record_key('r.id')} AS k, "
        "CASE WHEN EXISTS (SELECT 1 FROM referral_events x WHERE x.referral_id = r.id "
        "AND x.at <= :until AND x.status <> :v_open) THEN 1 ELSE 0 END AS answered "
        f"FROM referrals r LEFT JOIN ({acceptances}) a ON a.referral_id = r.id "
        "AND a.at <= :until "
        f"WHERE {where} AND r.created_at >= :start AND r.created_at <= :until",
        params)
    due = pd.to_datetime(rows["due_at"], format="mixed")
    accepted = pd.to_datetime(rows["accepted_at"], format="mixed")
    closed = pd.to_datetime(rows["closed_at"], format="mixed")
    until_ts = pd.Timestamp(until)
    rows = rows.assign(
        k=_keys(rows),
        in_time=accepted.notna() & (accepted <= due),
        late=accepted.notna() & (accepted > due),
        not_accepted=accepted.isna(),
        decided=accepted.notna() | (due <= until_ts),
        open_late=(rows["answered"].astype(int) == 0) & (due < until_ts)
        & (closed.isna() | (closed > until_ts)),
        hours=pd.to_numeric(rows["seconds"]) / 3600)
    exact = _exact(viewer)
    # each count per service, with the sum of its referrals' keys, in one pass
    parts = {"sent": np.ones(len(rows), bool), "accepted_in_time": rows["in_time"],
             "accepted_late": rows["late"], "not_accepted": rows["not_accepted"],
             "open_past_deadline": rows["open_late"]}
    keys = rows["k"].to_numpy()
    summed = pd.DataFrame({"service": rows["service"],
                           **{f"{c}_n": np.asarray(m, np.int64) for c, m in parts.items()},
                           **{f"{c}_k": np.where(m, keys, 0) for c, m in parts.items()}}
                          ).groupby("service").sum()
    out = []
    for service in access.referral_services(viewer):
        part = rows[rows["service"] == service]
        found = service in summed.index
        n = {c: Count(int(summed.at[service, f"{c}_n"]), int(summed.at[service, f"{c}_k"]))
             if found else privacy.ZERO for c in parts}
        decided = int(part["decided"].sum())
        done = part.loc[part["in_time"] | part["late"], "hours"].dropna()
        median = float(np.median(done)) if len(done) else None
        in_time = n["accepted_in_time"].n
        share = 100 * in_time / decided if decided else None
        if not exact:
            # a median of one to four acceptances would be theirs
            if privacy.is_small(in_time + n["accepted_late"].n) or \
                    privacy.is_small(n["sent"].n):
                median = None
            # a share gives back the counts behind it: shown only when neither is small
            if privacy.is_small(in_time) or privacy.is_small(decided - in_time):
                share = None
        shown = {c: privacy.shown(count, exact) for c, count in n.items()}
        out.append({"service": service, "deadline_h": vocab.REFERRAL_DEADLINE_HOURS[service],
                    **{c: v if exact else str(v) for c, v in shown.items()},
                    "median_h_to_accept": None if median is None else round(median, 1),
                    "within_deadline_pct": None if share is None else round(share, 0)})
    frame = pd.DataFrame(out, columns=REFERRAL_COLUMNS)
    for col in ("median_h_to_accept", "within_deadline_pct"):
        frame[col] = pd.to_numeric(frame[col])
    return frame


FACILITY_COLUMNS = ["facility", "kind", "area", "pcode", "status", "capacity", "peak_occupants",
                    "hours_at_or_over_capacity", "reports_above_capacity", "last_report",
                    "hours_since_report", "confirmation", "longest_gap_h"]


def _facilities(database: Database, viewer: Viewer, start: datetime,
                until: datetime) -> tuple[pd.DataFrame, dict]:
    """Per facility, from its occupancy reports up to `until`: each report holds from
    its time until the next report (or `until`), clipped to the window. Summed in SQL:
    the hours held at or over capacity, the longest time held without a new report,
    the peak occupants held, and the reports above capacity sent in the window."""
    held_s = database.seconds_between("h.s", "h.e")
    params = {"scenario": viewer.scenario_id, "start": start, "until": until}
    rows = database.read(
        "WITH rep AS (SELECT o.facility_id, o.at, o.occupants, "
        "LEAD(o.at) OVER (PARTITION BY o.facility_id ORDER BY o.at, o.id) AS next_at "
        "FROM facility_occupancy o WHERE o.at <= :until AND o.facility_id IN "
        "(SELECT id FROM facilities WHERE scenario_id = :scenario)), "
        f"held AS (SELECT facility_id, at, occupants, {database.later('at', ':start')} AS s, "
        "COALESCE(next_at, :until) AS e FROM rep) "
        "SELECT f.id, f.name AS facility, f.kind, a.name AS area, f.area_pcode AS pcode, "
        "f.status, f.capacity, f.confidential, f.confirmed_at, MAX(h.at) AS last_report, "
        f"SUM(CASE WHEN h.e > h.s AND h.occupants >= f.capacity THEN {held_s} ELSE 0 END) "
        "AS over_s, "
        f"MAX(CASE WHEN h.e > h.s THEN {held_s} END) AS gap_s, "
        "MAX(CASE WHEN h.e > h.s THEN h.occupants END) AS peak, "
        "SUM(CASE WHEN h.at >= :start AND h.occupants > f.capacity THEN 1 ELSE 0 END) "
        "AS above "
        "FROM facilities f LEFT JOIN held h ON h.facility_id = f.id "
        "LEFT JOIN areas a ON a.pcode = f.area_pcode "
        "WHERE f.scenario_id = :scenario "
        "GROUP BY f.id, f.name, f.kind, a.name, f.area_pcode, f.status, f.capacity, "
        "f.confidential, f.confirmed_at",
        params)
    until_ts = pd.Timestamp(until)
    window_h = (until_ts - pd.Timestamp(start)).total_seconds() / 3600
    rows["confidential"] = rows["confidential"].astype(bool)
    # a facility without capacity cannot be over it: left out, as the shelters figures do
    usable = rows["capacity"].astype(int) > 0
    rows["over_h"] = pd.to_numeric(rows["over_s"]).fillna(0).where(usable, 0) / 3600
    rows["above"] = pd.to_numeric(rows["above"]).fillna(0).astype(int)
    last = pd.to_datetime(rows["last_report"], format="mixed")
    confirmed = pd.to_datetime(rows["confirmed_at"], format="mixed")
    # the latest sign of life by `until`: a report, or the operator's confirmation
    confirmed = confirmed.where(confirmed <= until_ts)
    rows["last_seen"] = pd.concat([last, confirmed], axis=1).max(axis=1)
    rows["since_h"] = (until_ts - rows["last_seen"]).dt.total_seconds() / 3600
    rows["confirmation"] = freshness(rows["last_seen"], until)
    # never reported by `until`: silent for the whole window
    rows["gap_h"] = (pd.to_numeric(rows["gap_s"]) / 3600).fillna(window_h)

    totals = {
        "facilities": len(rows),
        "at_or_over": int((rows["over_h"] > 0).sum()),
        "over_hours": round(float(rows["over_h"].sum()), 1),
        "reports_above_capacity": int(rows["above"].sum()),
        "stale": int((rows["confirmation"] != "fresh").sum()),
        "confidential": int(rows["confidential"].sum()),
        "confidential_over_hours": round(float(rows.loc[rows["confidential"], "over_h"].sum()),
                                         1),
    }
    # Occupancy is reported by facilities, not counted from persons: exact, except that
    # a liaison sees no exact peak of 1 to 4 (docs/design.md §2.4, as on the Shelters page)
    few_hidden = access.sees_person_level(viewer.role)
    listed = rows[~rows["confidential"]]  # confidential facilities are never listed
    peak = [None if pd.isna(v) else int(v) for v in listed["peak"]]
    frame = pd.DataFrame({
        "facility": listed["facility"], "kind": listed["kind"], "area": listed["area"],
        "pcode": listed["pcode"], "status": listed["status"],
        "capacity": listed["capacity"].astype(int),
        "peak_occupants": [None if v is None else
                           str(privacy.occupancy_for_liaison(v) if few_hidden else v)
                           for v in peak],
        "hours_at_or_over_capacity": listed["over_h"].round(1),
        "reports_above_capacity": listed["above"],
        "last_report": listed["last_seen"],
        "hours_since_report": listed["since_h"].round(1),
        "confirmation": listed["confirmation"],
        "longest_gap_h": listed["gap_h"].round(1),
    }, columns=FACILITY_COLUMNS)
    frame = frame.sort_values(["hours_at_or_over_capacity", "longest_gap_h", "facility"],
                              ascending=[False, False, True]).reset_index(drop=True)
    return frame, totals


INJECT_COLUMNS = ["seq", "at", "name", "kind", "status", "detail", "registered", "accepted",
                  "departed"]


@cache.scoped()
def review(database: Database, viewer: Viewer, run_id: str | None, start: datetime,
           until: datetime) -> Review:
    """The after-action review of the viewer's exercise scenario over the window
    from `start`, as it stood at `until` (the replay moment), every count as the
    viewer may see it (exact for a liaison, else rounded: the tables then hold text).
    Raises NotExercise for a live scenario."""
    require_exercise(database, viewer.scenario_id)
    until = max(until, start)
    injects = _injects(database, viewer, run_id, until)
    injects["at"] = pd.to_datetime(injects["at"], format="mixed")
    injects = injects[INJECT_COLUMNS].reset_index(drop=True)
    evac, overall, left_out, approximate = _evacuation(database, viewer, start, until)
    facilities, totals = _facilities(database, viewer, start, until)
    return Review(start=start, until=until, injects=injects,
                  series=_series(database, viewer, start, until),
                  evacuation=evac, evacuation_all=overall, evacuation_left_out=left_out,
                  approximate=approximate,
                  referrals=_referrals(database, viewer, start, until),
                  facilities=facilities, facility_totals=totals)


STALE_AFTER_H, OVERDUE_AFTER_H = FRESH_HOURS, DUE_HOURS  # shown on the page, from shelters


def step_choices(start: datetime, end: datetime) -> dict[str, timedelta]:
    """Replay steps offered for a window, the first the default: an hour for a drill
    of a few days, longer steps for a long history. Named in English, translated where
    they are offered."""
    steps = {N_("1 hour"): timedelta(hours=1), N_("6 hours"): timedelta(hours=6),
             N_("1 day"): timedelta(days=1)}
    if end - start > timedelta(days=3):
        return {"6 hours": steps["6 hours"], "1 day": steps["1 day"], "1 hour": steps["1 hour"]}
    return steps


def advance(moment: datetime, step: timedelta, end: datetime) -> datetime:
    """The next replay moment, never past the end of the window."""
    return min(moment + step, end)


def inject_marks(injects: pd.DataFrame) -> pd.DataFrame:
    """The injects as chart marks: at, label (#seq), hover text and colour (skipped
    injects in the overdue colour: something the drill meant to happen did not)."""
    skipped = injects["status"] == "skipped"
    return pd.DataFrame({
        "at": injects["at"],
        "label": [f"#{s}" for s in injects["seq"]],
        "hover": [f"#{s} {n} ({k.replace('_', ' ')}): {st_}" for s, n, k, st_ in
                  zip(injects["seq"], injects["name"], injects["kind"], injects["status"],
                      strict=True)],
        "colour": [palette.REFERRAL_STATUS["overdue"] if x else "#4d4d4d" for x in skipped],
    })
