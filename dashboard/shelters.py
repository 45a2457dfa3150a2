"""Shelter load for the Shelters page: every facility's occupancy, its trend and
time to full, and totals by kind and by area.

Facilities and their occupancy reports are aggregate data (a facility has no
name of a person in it), so the facility rows come to the server; confidential
facilities count in the totals and are dropped before anything is listed
(DESIGN.md §2.5). Occupant counts below 5 are suppressed for aggregate roles,
together with the figures that would give them back (free places, % full).

Every "now" is the moment asked for, passed in by the caller: the scenario's
data-as-of, or an earlier moment worked back from the occupancy history
(issue 5). Facility status has no history in the data contract, so an earlier
moment keeps today's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard import access, cache, db, palette, privacy, quality, runtime, scenarios
from dashboard.access import Viewer

# A facility's figures are expected to be confirmed daily: fresh within a day,
# due in the second day, overdue after two days.
FRESH_HOURS, DUE_HOURS = 24, 48
TREND_DAYS = 7  # the trend is the occupancy at as-of, 1 day before, ... 7 days before
RECENT_HOURS = 24  # arrival rate: the net change over the last 24 hours
NEAR_FULL = 0.9  # share of places taken from which a facility counts as near capacity
CONFIDENTIAL_KIND = "confidential places"  # the one row of confidential places by kind


@dataclass(frozen=True)
class Shelters:
    as_of: datetime
    facilities: pd.DataFrame  # one row per listed (non-confidential) facility, fullest first
    by_kind: pd.DataFrame     # kind, facilities, capacity, occupants, free, full_pct
    by_area: pd.DataFrame     # area, facilities, capacity, occupants, free, full_pct
    chart: pd.DataFrame       # fullest facilities whose figures may be shown: facility, full_pct
    no_report: int            # facilities left out: no occupancy report at all
    invalid: int              # facilities left out: latest report breaks the contract
    confidential: int         # facilities never listed (counted in area totals if pooled)
    confidential_uncounted: int  # confidential places alone in their area: in no total
    headline: dict            # label -> value (suppressed where it must be)
    worked_back: bool = False  # as_of is before the latest data: figures from the history


def freshness(confirmed_at: datetime | None, as_of: datetime) -> str:
    """"fresh", "due" or "overdue" for a confirmation time, seen from `as_of`."""
    if confirmed_at is None or pd.isna(confirmed_at):
        return "overdue"
    hours = (as_of - pd.Timestamp(confirmed_at).to_pydatetime()).total_seconds() / 3600
    if hours < FRESH_HOURS:
        return "fresh"
    return "due" if hours < DUE_HOURS else "overdue"


def time_to_full(free: int, change_24h: int, reported_at: datetime | None, as_of: datetime,
                 status: str) -> tuple[float | None, str]:
    """Hours until the facility is full at its arrival rate of the last 24 hours,
    and the words for it."""
    if status not in ("open", "full"):
        return None, status
    if free <= 0:
        return 0.0, "full now"
    if reported_at is None or as_of - reported_at > timedelta(hours=RECENT_HOURS):
        return None, "no recent report"
    if change_24h <= 0:
        return None, "not filling"
    hours = free / (change_24h / RECENT_HOURS)
    return hours, (f"in {hours:.0f} h" if hours < 48 else f"in {hours / 24:.1f} days")


def _facility_rows(db_url: str, scenario_id: int, earlier: datetime | None) -> pd.DataFrame:
    """Every facility with its latest occupancy report: the latest of all, or the
    latest by `earlier` when an earlier moment is asked for."""
    params: dict = {"scenario": scenario_id}
    confirmed = "f.confirmed_at"
    if earlier is not None:
        params["as_of"] = earlier
        # confirmed_at holds only the latest confirmation: one made after the moment
        # was not known then. The contract keeps no confirmation history, so the
        # latest occupancy report by then (a facility confirming its figures) stands in.
        confirmed = "CASE WHEN f.confirmed_at <= :as_of THEN f.confirmed_at ELSE lo.at END"
    latest = quality.latest_occupancy("as_of" if earlier is not None else None,
                                      db.dialect_of(db_url))
    return db.read_frame(runtime.engine(db_url), db.sql(
        # Materialised: as a LEFT JOIN subquery SQLite re-runs it per facility (5 s at 1M).
        f"WITH lo AS MATERIALIZED ({latest}) "
        "SELECT f.id, f.name AS facility, f.kind, f.status, f.capacity, f.confidential, "
        f"{confirmed} AS confirmed_at, a.name AS area, lo.occupants, lo.at AS reported_at, "
        f"CASE WHEN lo.facility_id IS NOT NULL AND {quality.VALID_OCCUPANCY} "
        "THEN 1 ELSE 0 END AS valid "
        "FROM facilities f LEFT JOIN lo ON lo.facility_id = f.id "
        "LEFT JOIN areas a ON a.pcode = f.area_pcode "
        "WHERE f.scenario_id = :scenario", params), params)


def _trend_rows(db_url: str, scenario_id: int, as_of: datetime) -> pd.DataFrame:
    """The last report of each facility in each day before `as_of` (day 0 ends at
    `as_of`, day TREND_DAYS holds the week before): one SQL pass, at most
    facilities × (TREND_DAYS + 1) rows."""
    bounds = {f"b{k}": as_of - timedelta(days=k + 1) for k in range(TREND_DAYS)}
    bucket = "CASE " + " ".join(f"WHEN o.at > :b{k} THEN {k}" for k in range(TREND_DAYS)) \
        + f" ELSE {TREND_DAYS} END"
    # older reports only matter for a facility silent all week; two weeks back is enough
    params = {"scenario": scenario_id, "as_of": as_of, **bounds,
              "oldest": as_of - timedelta(days=2 * TREND_DAYS)}
    return db.read_frame(runtime.engine(db_url), db.sql(
        f"WITH rep AS (SELECT o.id, o.facility_id, o.at, o.occupants, {bucket} AS k "
        "FROM facility_occupancy o WHERE o.at <= :as_of AND o.at > :oldest AND o.facility_id IN "
        "(SELECT id FROM facilities WHERE scenario_id = :scenario)) "
        "SELECT r.id, r.facility_id, r.k, r.occupants FROM rep r JOIN "
        "(SELECT facility_id, k, MAX(at) AS at FROM rep GROUP BY facility_id, k) m "
        "ON m.facility_id = r.facility_id AND m.k = r.k AND m.at = r.at", params), params)


def _trend(rows: pd.DataFrame) -> pd.DataFrame:
    """Occupancy per facility at as-of minus 7, 6, ... 0 days (oldest first)."""
    days = list(range(TREND_DAYS, -1, -1))
    if rows.empty:
        return pd.DataFrame(columns=[f"d{k}" for k in days])
    last = rows.sort_values("id").drop_duplicates(["facility_id", "k"], keep="last")
    wide = last.pivot(index="facility_id", columns="k", values="occupants")
    wide = wide.reindex(columns=days)
    # a day with no report keeps the occupancy of the report before it
    wide = wide.ffill(axis=1)
    wide.columns = [f"d{k}" for k in days]
    return wide


def _suppress_totals(frame: pd.DataFrame, key: str, hide: bool) -> pd.DataFrame:
    """Totals of a group, with occupants suppressed as a group (their sum is shown)
    and free places and % full hidden where occupants are."""
    frame = frame.copy()
    frame["free"] = frame["capacity"] - frame["occupants"]
    frame["full_pct"] = (100 * frame["occupants"] / frame["capacity"]).round(0).astype("Int64")
    if not hide:
        return frame
    cells = privacy.suppress_group(dict(zip(frame[key], frame["occupants"].astype(int),
                                            strict=True)))
    hidden = frame[key].map(lambda k: cells[k] == privacy.SUPPRESSED)
    frame["occupants"] = [str(cells[k]) for k in frame[key]]
    frame["free"] = pd.array([None if h else int(v) for h, v in
                              zip(hidden, frame["free"], strict=True)], dtype="Int64")
    frame["full_pct"] = pd.array([None if h else int(v) for h, v in
                                  zip(hidden, frame["full_pct"], strict=True)], dtype="Int64")
    return frame


@cache.scoped()
def shelters(db_url: str, viewer: Viewer, as_of: datetime) -> Shelters:
    """Every figure of the Shelters page for `viewer` at `as_of`. At the latest data
    the current rows say it all; before it, each facility's occupancy is its latest
    report by `as_of` (today's status kept: it has no history)."""
    hide = access.suppresses_small_counts(viewer.role)
    latest = scenarios.data_as_of(db_url, viewer.scenario_id) or as_of
    worked_back = as_of < latest
    rows = _facility_rows(db_url, viewer.scenario_id, as_of if worked_back else None)
    rows["confidential"] = rows["confidential"].astype(bool)
    rows["valid"] = rows["valid"].astype(int) == 1
    no_report = int(rows["occupants"].isna().sum())
    invalid = int((~rows["valid"]).sum()) - no_report
    valid = rows[rows["valid"]].copy()
    valid["occupants"] = valid["occupants"].astype(int)
    valid["capacity"] = valid["capacity"].astype(int)

    # Confidential places count in area totals only, and only pooled (see
    # privacy.counted_in_totals); kinds are totalled over listed places, with the
    # pooled confidential ones as one row of their own.
    valid = valid.assign(area=valid["area"].fillna("(no area)"))
    counted = valid[privacy.counted_in_totals(valid)]
    by_kind = counted.assign(kind=counted["kind"].where(~counted["confidential"],
                                                        CONFIDENTIAL_KIND))
    totals = {}
    for key, frame in (("kind", by_kind), ("area", counted)):
        group = (frame.groupby(key, as_index=False)
                 .agg(facilities=("id", "size"), capacity=("capacity", "sum"),
                      occupants=("occupants", "sum"))
                 .sort_values("capacity", ascending=False))
        totals[key] = _suppress_totals(group, key, hide).reset_index(drop=True)

    # Only now are confidential facilities dropped: they never leave this function as rows.
    listed = rows[~rows["confidential"]].copy()
    trend = _trend(_trend_rows(db_url, viewer.scenario_id, as_of))
    listed = listed.join(trend, on="id")
    out = []
    for r in listed.itertuples(index=False):
        reported = None if pd.isna(r.reported_at) else pd.Timestamp(r.reported_at).to_pydatetime()
        confirmed = None if pd.isna(r.confirmed_at) else pd.Timestamp(r.confirmed_at)
        row = {"facility": r.facility, "kind": r.kind, "area": r.area, "status": r.status,
               "capacity": int(r.capacity), "last_confirmed": confirmed,
               "confirmation": freshness(confirmed, as_of)}
        series = [getattr(r, f"d{k}") for k in range(TREND_DAYS, -1, -1)]
        if not r.valid:
            row.update(occupants=None, free=None, full_pct=None, change_24h=None,
                       trend=None, hours_to_full=None,
                       time_to_full="no report" if pd.isna(r.occupants) else "report invalid")
            out.append(row)
            continue
        occupants, capacity = int(r.occupants), int(r.capacity)
        series = [None if pd.isna(v) else int(v) for v in series]
        change = (series[-1] - series[-2]) if None not in series[-2:] else 0
        hours, words = time_to_full(capacity - occupants, change, reported, as_of, r.status)
        small = hide and privacy.is_small(occupants)
        row.update(occupants=occupants, free=capacity - occupants,
                   full_pct=round(100 * occupants / capacity), change_24h=change,
                   trend=series, hours_to_full=hours, time_to_full=words)
        if hide:
            row["trend"] = [None if v is None or privacy.is_small(v) else v for v in series]
            if privacy.is_small(abs(change)):
                row["change_24h"] = privacy.SUPPRESSED
                if hours not in (None, 0.0):
                    row.update(hours_to_full=None, time_to_full="slowly (<5 a day)")
            if small:
                # everything that would give the small count back goes with it
                row.update(occupants=privacy.SUPPRESSED, free=None, full_pct=None,
                           change_24h=None, hours_to_full=None, time_to_full="—")
        out.append(row)
    listing = pd.DataFrame(out, columns=[
        "facility", "kind", "area", "status", "capacity", "occupants", "free", "full_pct",
        "change_24h", "trend", "hours_to_full", "time_to_full", "last_confirmed", "confirmation"])
    for col in ("free", "full_pct"):
        listing[col] = pd.array([None if v is None or pd.isna(v) else int(v)
                                 for v in listing[col]], dtype="Int64")
    listing = listing.sort_values(["full_pct", "facility"], ascending=[False, True],
                                  na_position="last").reset_index(drop=True)
    for col in ("occupants", "change_24h"):
        listing[col] = [None if v is None or (not isinstance(v, str) and pd.isna(v))
                        else (v if isinstance(v, str) else f"{int(v):,}") for v in listing[col]]

    chart = listing[listing["full_pct"].notna()].head(15)
    chart = pd.DataFrame({
        "facility": chart["facility"], "full_pct": chart["full_pct"].astype(float),
        "colour": [palette.load_colour(p, 100) for p in chart["full_pct"]],
    }).reset_index(drop=True)
    occupants, capacity = int(counted["occupants"].sum()), int(counted["capacity"].sum())
    small = hide and privacy.is_small(occupants)
    headline = {
        "Facilities": len(rows),
        "Places": capacity,
        "Occupants": privacy.SUPPRESSED if small else occupants,
        "Free places": privacy.SUPPRESSED if small else capacity - occupants,
        "≥90% full": int((counted["occupants"] >= NEAR_FULL * counted["capacity"]).sum()),
        "Confirmation overdue": int((listing["confirmation"] == "overdue").sum()),
    }
    return Shelters(as_of=as_of, facilities=listing, by_kind=totals["kind"],
                    by_area=totals["area"], chart=chart, no_report=no_report, invalid=invalid,
                    confidential=int(rows["confidential"].sum()),
                    confidential_uncounted=int((valid["confidential"]).sum()
                                               - counted["confidential"].sum()),
                    headline=headline,
                    worked_back=worked_back)


def narrow(frame: pd.DataFrame, kinds: list[str], areas: list[str],
           statuses: list[str]) -> pd.DataFrame:
    """The facility listing narrowed to the chosen kinds, areas and statuses (none
    chosen: all)."""
    keep = pd.Series(True, index=frame.index)
    for col, chosen in (("kind", kinds), ("area", areas), ("status", statuses)):
        if chosen:
            keep &= frame[col].isin(chosen)
    return frame[keep]
