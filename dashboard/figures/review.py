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
what the review must show, so they are counted and said so. Counts below 5 are
suppressed for aggregate roles; confidential facilities count in totals only.

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
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
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

# The response series, each in its palette colour (dashboard.figures.palette).
SERIES = {
    "registered": ("Registered", palette.PERSON_STATUS["located"]),
    "accepted": ("Referrals accepted", palette.REFERRAL_STATUS["accepted"]),
    "departed": ("Evacuation departures", palette.PERSON_STATUS["evacuated"]),
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
    evacuation_left_out: int     # departed before registration, or unknown nationality/status
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


def _injects(database: Database, viewer: Viewer, run_id: str | None,
             until: datetime) -> pd.DataFrame:
    """The run's injects up to `until`, each with the response in the hour after it
    (counted up to `until`: the replay does not know the future)."""
    params = {"scenario": viewer.scenario_id, "run": run_id or "", "until": until}
    injects = database.read(
        "SELECT i.seq, i.at, i.name, i.kind, i.status, i.detail FROM drill_injects i "
        "WHERE i.scenario_id = :scenario AND i.run_id = :run AND i.at <= :until "
        "ORDER BY i.at, i.seq", params)
    departures, dep_params = _departures(database, viewer)
    acceptances, acc_params = _acceptances(database, viewer)
    persons, person_params = _registrations(database, viewer)
    # Each response's times in the window read once, then counted per inject here: a
    # count per inject in SQL re-ran the grouped subqueries for every inject (0.6 s
    # for a drill of 25 injects at the reference scale).
    at = pd.to_datetime(injects["at"], format="mixed")
    window = {"lo": at.min() if len(at) else until, "until": until}
    for name, rows, column, extra in (
            ("registered", f"persons p WHERE {persons} AND", "p.registered_at", person_params),
            ("accepted", f"({acceptances}) a WHERE", "a.at", acc_params),
            ("departed", f"({departures}) d WHERE", "d.at", dep_params)):
        bound = {**extra, **window}
        times = database.read(
            f"SELECT {column} AS at FROM {rows} {column} >= :lo AND {column} <= :until",
            bound)["at"]
        times = np.sort(pd.to_datetime(times, format="mixed").dropna().to_numpy())
        # at or after the inject, before the hour after it (and by `until`)
        ends = np.minimum(np.searchsorted(times, (at + pd.Timedelta(hours=RESPONSE_HOURS))
                                          .to_numpy(), side="left"),
                          np.searchsorted(times, np.datetime64(until), side="right"))
        injects[name] = np.maximum(ends - np.searchsorted(times, at.to_numpy(), side="left"), 0)
    return injects


def _hourly(database: Database, statement: str, column: str, params: dict) -> pd.Series:
    hour = database.hour_of(column)
    frame = database.read(
        f"SELECT {hour} AS hour, COUNT(*) AS n {statement} GROUP BY {hour}", params)
    return frame.set_index("hour")["n"].astype(int)


def _series(database: Database, viewer: Viewer, start: datetime,
            until: datetime) -> pd.DataFrame:
    """Registrations, referral acceptances and departures since `start`, cumulative
    by the hour, in SQL (GROUP BY hour). For aggregate roles a point is drawn only
    where the count since the last drawn point is 0 or at least 5 (thin_steps)."""
    departures, dep_params = _departures(database, viewer)
    acceptances, acc_params = _acceptances(database, viewer)
    persons, person_params = _registrations(database, viewer)
    span = {"start": start, "until": until}
    counts = {
        "registered": _hourly(database, f"FROM persons p WHERE {persons} AND p.registered_at "
                                      ">= :start AND p.registered_at <= :until",
                              "p.registered_at", {**person_params, **span}),
        "accepted": _hourly(database, f"FROM ({acceptances}) a WHERE a.at >= :start "
                                    "AND a.at <= :until", "a.at", {**acc_params, **span}),
        "departed": _hourly(database, f"FROM ({departures}) d WHERE d.at >= :start "
                                    "AND d.at <= :until", "d.at", {**dep_params, **span}),
    }
    hours = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(until).floor("h"),
                          freq="h")
    keys = [f"{h:%Y-%m-%d %H}" for h in hours]
    daily = pd.DataFrame({k: v.reindex(keys).fillna(0).astype(int).to_numpy()
                          for k, v in counts.items()})
    out = pd.DataFrame({"hour": hours})
    hide = access.suppresses_small_counts(viewer.role)
    for col in counts:
        cumulative = daily[col].cumsum().astype(object)
        kept = privacy.thin_steps(daily, [col]) if hide else pd.Series(True, index=daily.index)
        out[col] = [int(v) if k else None for v, k in zip(cumulative, kept, strict=True)]
    return out


def _evacuation(database: Database, viewer: Viewer, start: datetime,
                until: datetime) -> tuple[pd.DataFrame, dict, int, bool]:
    departures, params = _departures(database, viewer)
    params = {**params, "start": start, "until": until}
    base = (f"FROM ({departures}) d JOIN evacuation_cases c ON c.id = d.case_id "
            "JOIN persons p ON p.id = c.person_id "
            "WHERE d.at >= :start AND d.at <= :until")
    valid = (f"{quality.valid_person_nationality()} AND {quality.valid_person_status()} "
             "AND d.at >= p.registered_at")
    counted = database.read(
        f"SELECT SUM(CASE WHEN {valid} THEN 1 ELSE 0 END) AS ok, COUNT(*) AS n {base}",
        params)
    ok = int(counted["ok"].fillna(0).iloc[0])
    left_out = int(counted["n"].iloc[0]) - ok

    approximate = ok > MAX_DURATION_ROWS
    if approximate:
        # whole hours, binned in the database: bounded by nationalities x hours
        hours = database.hours_floor("p.registered_at", "d.at")
        hist = database.read(
            f"SELECT p.nationality, {hours} AS h, COUNT(*) AS n {base} AND {valid} "
            f"GROUP BY p.nationality, {hours}", params).astype({"h": int, "n": int})
        groups = {nat: (part["h"].to_numpy(), part["n"].to_numpy())
                  for nat, part in hist.groupby("nationality")}

        def figures(h: np.ndarray, n: np.ndarray) -> dict:
            return {k: histogram_rank(h, n, s) for k, s in PERCENTILES.items()}

        sizes = {nat: int(n.sum()) for nat, (_, n) in groups.items()}
        per_nat = {nat: figures(h, n) for nat, (h, n) in groups.items()}
        every = (figures(hist["h"].to_numpy(), hist["n"].to_numpy()) if len(hist)
                 else dict.fromkeys(PERCENTILES))
    else:
        rows = database.read(
            f"SELECT p.nationality, p.registered_at, d.at AS departed_at {base} AND {valid}",
            params)
        hours = ((pd.to_datetime(rows["departed_at"], format="mixed")
                  - pd.to_datetime(rows["registered_at"], format="mixed"))
                 .dt.total_seconds() / 3600).to_numpy()
        nats = rows["nationality"].to_numpy()

        def figures_of(values: np.ndarray) -> dict:
            return {k: nearest_rank(values, s) for k, s in PERCENTILES.items()}

        sizes = {nat: int((nats == nat).sum()) for nat in set(nats)}
        per_nat = {nat: figures_of(hours[nats == nat]) for nat in sizes}
        every = figures_of(hours) if len(hours) else dict.fromkeys(PERCENTILES)

    names = database.read("SELECT iso3, name FROM countries WHERE iso3 IN :codes",
                                         {"codes": sorted(sizes) or [""]})
    country = dict(zip(names["iso3"], names["name"], strict=True))
    hide = access.suppresses_small_counts(viewer.role)
    # the total of every nationality is shown beside them: complementary suppression
    cases = privacy.suppress_group(sizes) if hide else dict(sizes)
    # largest first; hidden ones by name, so their order gives no size away
    order = sorted(sizes, key=lambda nat: (cases[nat] == privacy.SUPPRESSED,
                                           0 if cases[nat] == privacy.SUPPRESSED else -sizes[nat],
                                           country.get(nat, nat)))
    rows_out = []
    for nat in order:
        shown = cases[nat] != privacy.SUPPRESSED
        rows_out.append({"nationality": nat, "country": country.get(nat, nat),
                         "cases": str(cases[nat]) if hide else cases[nat],
                         **{k: per_nat[nat][k] if shown else None for k in PERCENTILES}})
    frame = pd.DataFrame(rows_out, columns=["nationality", "country", "cases", *PERCENTILES])
    for k in PERCENTILES:
        frame[k] = pd.to_numeric(frame[k]).round(1)
    total = sum(sizes.values())
    overall: dict[str, int | str | float | None] = {
        "cases": privacy.suppress_value(total) if hide else total}
    for k in PERCENTILES:
        value = every[k]
        overall[k] = (None if value is None or (hide and privacy.is_small(total))
                      else round(value, 1))
    return frame, overall, left_out, approximate


REFERRAL_COLUMNS = ["service", "deadline_h", "sent", "accepted_in_time", "accepted_late",
                    "not_accepted", "median_h_to_accept", "within_deadline_pct",
                    "open_past_deadline"]


def _referrals(database: Database, viewer: Viewer, start: datetime,
               until: datetime) -> pd.DataFrame:
    """Per service, over the referrals sent in the window by `until`: accepted within
    the deadline (first acceptance at or before due_at), accepted late, not (yet)
    accepted; the median hours to acceptance; the share accepted within the deadline
    among those whose outcome is known (accepted, or deadline passed); and those
    still open past the deadline (no status but `open` by `until`, not ended)."""
    where, params = quality.scoped_referrals(database, viewer, "r")
    acceptances, _ = _acceptances(database, viewer)
    params = {**params, "start": start, "until": until}
    hours = database.seconds_between("r.created_at", "a.at")
    rows = database.read(
        f"SELECT r.service, r.due_at, r.closed_at, a.at AS accepted_at, {hours} AS seconds, "
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
        in_time=accepted.notna() & (accepted <= due),
        late=accepted.notna() & (accepted > due),
        not_accepted=accepted.isna(),
        decided=accepted.notna() | (due <= until_ts),
        open_late=(rows["answered"].astype(int) == 0) & (due < until_ts)
        & (closed.isna() | (closed > until_ts)),
        hours=pd.to_numeric(rows["seconds"]) / 3600)
    hide = access.suppresses_small_counts(viewer.role)
    out = []
    for service in access.referral_services(viewer):
        part = rows[rows["service"] == service]
        n = {"accepted_in_time": int(part["in_time"].sum()),
             "accepted_late": int(part["late"].sum()),
             "not_accepted": int(part["not_accepted"].sum())}
        sent, decided = len(part), int(part["decided"].sum())
        done = part.loc[part["in_time"] | part["late"], "hours"].dropna()
        median = float(np.median(done)) if len(done) else None
        share = 100 * n["accepted_in_time"] / decided if decided else None
        open_late: int | str = int(part["open_late"].sum())
        shown: dict = dict(n)
        if hide:
            # the three parts add up to the referrals sent, shown beside them
            shown = privacy.suppress_group(n)
            open_late = privacy.suppress_value(int(open_late))
            if privacy.is_small(n["accepted_in_time"] + n["accepted_late"]) or \
                    privacy.is_small(sent):
                median = None
            # a share gives back the counts behind it: shown only when neither is small
            late_decided = decided - n["accepted_in_time"]
            if privacy.is_small(n["accepted_in_time"]) or privacy.is_small(late_decided):
                share = None
        out.append({"service": service, "deadline_h": vocab.REFERRAL_DEADLINE_HOURS[service],
                    "sent": privacy.suppress_value(sent) if hide else sent, **shown,
                    "median_h_to_accept": None if median is None else round(median, 1),
                    "within_deadline_pct": None if share is None else round(share, 0),
                    "open_past_deadline": open_late})
    frame = pd.DataFrame(out, columns=REFERRAL_COLUMNS)
    if hide:
        for col in ("sent", "accepted_in_time", "accepted_late", "not_accepted",
                    "open_past_deadline"):
            frame[col] = [str(v) for v in frame[col]]
    for col in ("median_h_to_accept", "within_deadline_pct"):
        frame[col] = pd.to_numeric(frame[col])
    return frame


FACILITY_COLUMNS = ["facility", "kind", "status", "capacity", "peak_occupants",
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
        "SELECT f.id, f.name AS facility, f.kind, f.status, f.capacity, f.confidential, "
        "f.confirmed_at, MAX(h.at) AS last_report, "
        f"SUM(CASE WHEN h.e > h.s AND h.occupants >= f.capacity THEN {held_s} ELSE 0 END) "
        "AS over_s, "
        f"MAX(CASE WHEN h.e > h.s THEN {held_s} END) AS gap_s, "
        "MAX(CASE WHEN h.e > h.s THEN h.occupants END) AS peak, "
        "SUM(CASE WHEN h.at >= :start AND h.occupants > f.capacity THEN 1 ELSE 0 END) "
        "AS above "
        "FROM facilities f LEFT JOIN held h ON h.facility_id = f.id "
        "WHERE f.scenario_id = :scenario "
        "GROUP BY f.id, f.name, f.kind, f.status, f.capacity, f.confidential, f.confirmed_at",
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
    hide = access.suppresses_small_counts(viewer.role)
    listed = rows[~rows["confidential"]]  # confidential facilities are never listed
    peak = [None if pd.isna(v) else int(v) for v in listed["peak"]]
    frame = pd.DataFrame({
        "facility": listed["facility"], "kind": listed["kind"], "status": listed["status"],
        "capacity": listed["capacity"].astype(int),
        "peak_occupants": [None if v is None else str(privacy.suppress_value(v) if hide else v)
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
    from `start`, as it stood at `until` (the replay moment). Raises NotExercise
    for a live scenario."""
    require_exercise(database, viewer.scenario_id)
    until = max(until, start)
    hide = access.suppresses_small_counts(viewer.role)
    injects = _injects(database, viewer, run_id, until)
    injects["at"] = pd.to_datetime(injects["at"], format="mixed")
    for col in ("registered", "accepted", "departed"):
        values = injects[col].astype(int)
        injects[col] = ([str(privacy.suppress_value(int(v))) for v in values] if hide
                        else values)
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
    of a few days, longer steps for a long history."""
    steps = {"1 hour": timedelta(hours=1), "6 hours": timedelta(hours=6),
             "1 day": timedelta(days=1)}
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
