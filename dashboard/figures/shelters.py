"""Shelter load for the Shelters page: every facility's occupancy, its trend and
time to full, and totals by kind and by area.

Facilities and their occupancy reports are aggregate data (a facility has no
name of a person in it), so the facility rows come to the server; confidential
facilities count in the totals and are dropped before anything is listed
(docs/design.md §2.5). Occupancy is reported by facilities, not counted from
persons, so it is exact for every role (docs/design.md §2.4), except that a consular
liaison sees no exact occupancy of a facility holding 1 to 4 people: "<5", with the
figures that would give it back (free places, % full, trend) left out, and every
total that includes such a facility withheld (privacy.WITHHELD).

Every "now" is the moment asked for, passed in by the caller: the scenario's
data-as-of, or an earlier moment worked back from the occupancy history
. Facility status has no history in the data contract, so an earlier
moment keeps today's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from dashboard import language
from dashboard.contract import labels
from dashboard.figures import palette, quality, scenarios
from dashboard.language import N_, _
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.store import cache
from dashboard.store.db import Database

# A facility's figures are expected to be confirmed daily: fresh within a day,
# due in the second day, overdue after two days.
FRESH_HOURS, DUE_HOURS = 24, 48
TREND_DAYS = 7  # the trend is the occupancy at as-of, 1 day before, ... 7 days before
RECENT_HOURS = 24  # arrival rate: the net change over the last 24 hours
CHART_BARS = 15  # the fullest-facilities chart: as many bars as a projector shows readably
NEAR_FULL = 0.9  # share of places taken from which a facility counts as near capacity
CONFIDENTIAL_KIND = N_("confidential places")  # the one row of confidential places by kind
NO_AREA = N_("(no area)")  # the area of a facility outside every known area
# A facility kind in the totals by kind, the row of pooled confidential places among them.
KINDS = labels.Words({**labels.FACILITY_KIND.english, CONFIDENTIAL_KIND: CONFIDENTIAL_KIND})
# How fresh a facility's figures are (`freshness`): codes, shown in words.
CONFIRMATION = labels.Words({
    # Translators: a facility's figures, confirmed within the last day
    "fresh": N_("fresh"),
    # Translators: a facility's figures, last confirmed one to two days ago
    "due": N_("due"),
    # Translators: a facility's figures, last confirmed more than two days ago
    "overdue": N_("overdue"),
})
# Why a facility has no time to full (`_listing`): the listing holds these English words.
FULL_NOW, NO_RECENT_REPORT, NOT_FILLING = N_("full now"), N_("no recent report"), N_("not filling")
NO_REPORT, REPORT_INVALID = N_("no report"), N_("report invalid")
_TIME_WORDS = (FULL_NOW, NO_RECENT_REPORT, NOT_FILLING, NO_REPORT, REPORT_INVALID)
# The headline's figures, in order: labels (English, translated where shown) to values.
FACILITIES, PLACES, OCCUPANTS = N_("Facilities"), N_("Places"), N_("Reported occupants")
FREE_PLACES, NEAR_FULL_LABEL = N_("Free places"), N_("≥90% full")
CONFIRMATION_OVERDUE = N_("Confirmation overdue")
# Facilities that hold people. Places, occupants, free places and "≥90% full" count
# these alone, with a valid latest report, pooled confidential places included: one
# definition for the Overview and the Shelters page (`in_use`).
IN_USE = ("open", "full")


def in_use(facilities: pd.DataFrame) -> pd.DataFrame:
    """The facilities the place figures count (see IN_USE), from rows with `status`
    that are already valid and allowed in totals (privacy.counted_in_totals)."""
    return facilities[facilities["status"].isin(IN_USE)]


@dataclass(frozen=True)
class Shelters:
    as_of: datetime
    facilities: pd.DataFrame  # one row per listed (non-confidential) facility, fullest first
    by_kind: pd.DataFrame     # kind, facilities, capacity, occupants, free, full_pct
    by_area: pd.DataFrame     # area, pcode, facilities, capacity, occupants, free, full_pct
    chart: pd.DataFrame       # fullest facilities whose figures may be shown: facility, full_pct
    chart_more: int           # facilities left off the chart at the % full of its last bar
    no_report: int            # facilities left out: no occupancy report at all
    invalid: int              # facilities left out: latest report breaks the contract
    confidential: int         # facilities never listed (counted in area totals if pooled)
    confidential_uncounted: int  # confidential places alone in their area: in no total
    headline: dict            # label -> value (suppressed where it must be)
    worked_back: bool = False  # as_of is before the latest data: figures from the history


def freshness(confirmed_at: pd.Series, as_of: datetime) -> np.ndarray:
    """"fresh", "due" or "overdue" for each confirmation time (NaT: never), seen
    from `as_of`."""
    hours = ((pd.Timestamp(as_of) - pd.to_datetime(confirmed_at, format="mixed"))
             .dt.total_seconds() / 3600).to_numpy()
    return np.where(np.isnan(hours) | (hours >= DUE_HOURS), "overdue",
                    np.where(hours < FRESH_HOURS, "fresh", "due")).astype(object)


def _facility_rows(database: Database, scenario_id: int, earlier: datetime | None) -> pd.DataFrame:
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
                                      database.dialect)
    return database.read(
        # Materialised: as a LEFT JOIN subquery SQLite re-runs it per facility (5 s at 1M).
        f"WITH lo AS MATERIALIZED ({latest}) "
        "SELECT f.id, f.name AS facility, f.kind, f.status, f.capacity, f.confidential, "
        f"{confirmed} AS confirmed_at, a.name AS area, f.area_pcode AS pcode, lo.occupants, "
        "lo.at AS reported_at, "
        f"CASE WHEN lo.facility_id IS NOT NULL AND {quality.valid_occupancy()} "
        "THEN 1 ELSE 0 END AS valid "
        "FROM facilities f LEFT JOIN lo ON lo.facility_id = f.id "
        "LEFT JOIN areas a ON a.pcode = f.area_pcode "
        "WHERE f.scenario_id = :scenario", params)


def _trend_rows(database: Database, scenario_id: int, as_of: datetime) -> pd.DataFrame:
    """The last report of each facility in each day before `as_of` (day 0 ends at
    `as_of`, day TREND_DAYS holds the week before): one SQL pass, at most
    facilities × (TREND_DAYS + 1) rows."""
    bounds = {f"b{k}": as_of - timedelta(days=k + 1) for k in range(TREND_DAYS)}
    bucket = "CASE " + " ".join(f"WHEN o.at > :b{k} THEN {k}" for k in range(TREND_DAYS)) \
        + f" ELSE {TREND_DAYS} END"
    # older reports only matter for a facility silent all week; two weeks back is enough
    params = {"scenario": scenario_id, "as_of": as_of, **bounds,
              "oldest": as_of - timedelta(days=2 * TREND_DAYS)}
    return database.read(
        f"WITH rep AS (SELECT o.id, o.facility_id, o.at, o.occupants, {bucket} AS k "
        "FROM facility_occupancy o WHERE o.at <= :as_of AND o.at > :oldest AND o.facility_id IN "
        "(SELECT id FROM facilities WHERE scenario_id = :scenario)) "
        "SELECT r.id, r.facility_id, r.k, r.occupants FROM rep r JOIN "
        "(SELECT facility_id, k, MAX(at) AS at FROM rep GROUP BY facility_id, k) m "
        "ON m.facility_id = r.facility_id AND m.k = r.k AND m.at = r.at", params)


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


def _small(occupants: pd.Series) -> pd.Series:
    return (occupants > 0) & (occupants < privacy.THRESHOLD)


def _totals(frame: pd.DataFrame, hide: bool) -> pd.DataFrame:
    """Totals of a group of facilities. For a liaison, a total that includes a
    facility of 1 to 4 people is withheld (it less the listed others would give that
    count back), and a small total is "<5"."""
    frame = frame.copy()
    frame["free"] = frame["capacity"] - frame["occupants"]
    frame["full_pct"] = (100 * frame["occupants"] / frame["capacity"]).round(0).astype("Int64")
    if not hide:
        return frame.drop(columns="has_small")
    withheld = frame["has_small"].to_numpy(bool)
    small = _small(frame["occupants"]).to_numpy()
    frame["occupants"] = [privacy.WITHHELD if w else privacy.SUPPRESSED if s else f"{int(n):,}"
                          for w, s, n in zip(withheld, small, frame["occupants"], strict=True)]
    frame["free"] = pd.array([None if w or s else int(v) for w, s, v in
                              zip(withheld, small, frame["free"], strict=True)], dtype="Int64")
    frame["full_pct"] = pd.array([None if w or s else int(v) for w, s, v in
                                  zip(withheld, small, frame["full_pct"], strict=True)],
                                 dtype="Int64")
    return frame.drop(columns="has_small")


def _listing(listed: pd.DataFrame, as_of: datetime, hide: bool) -> pd.DataFrame:
    """One row per listed facility, its trend joined (columns d7 ... d0), worked out
    column by column (a Python loop took 80 ms for 2,000 facilities): occupancy, free
    places, % full, change over 24 h, trend, time to full and confirmation, with
    a small facility's occupancy and what would give it back left out for a liaison."""
    days = [f"d{k}" for k in range(TREND_DAYS, -1, -1)]
    valid = listed["valid"].to_numpy(bool)
    occupants = pd.to_numeric(listed["occupants"]).to_numpy(float)
    capacity = listed["capacity"].astype(int).to_numpy()
    status = listed["status"].astype(object).to_numpy()
    trend = listed[days].apply(pd.to_numeric).to_numpy(float)
    reported = pd.to_datetime(listed["reported_at"], format="mixed")
    confirmed = pd.to_datetime(listed["confirmed_at"], format="mixed")

    whole = np.nan_to_num(occupants).astype(int)
    free = capacity - whole
    full_pct = np.rint(100 * whole / np.where(capacity > 0, capacity, 1)).astype(int)
    known = ~np.isnan(trend[:, -2:]).any(axis=1)
    change = np.where(known, np.nan_to_num(trend[:, -1] - trend[:, -2]), 0).astype(int)
    recent = (pd.Timestamp(as_of) - reported <= pd.Timedelta(hours=RECENT_HOURS)).to_numpy()
    to_full = free / (np.where(change > 0, change, 1) / RECENT_HOURS)
    # Time to full at the arrival rate of the last 24 hours, for an open or full
    # facility with a recent report that is filling; else why not.
    words = np.select(
        [~np.isin(status, ("open", "full")), free <= 0, ~recent, change <= 0],
        [status, FULL_NOW, NO_RECENT_REPORT, NOT_FILLING], "")
    filling = words == ""
    words[filling] = [f"in {h:.0f} h" if h < 48 else f"in {h / 24:.1f} days"
                      for h in to_full[filling]]
    hours_shown = np.where(filling, to_full, np.where(words == FULL_NOW, 0.0, np.nan))

    trend_shown = trend.astype(object)
    gone = np.isnan(trend)
    if hide:
        gone |= (trend > 0) & (trend < privacy.THRESHOLD)
    trend_shown[~gone] = trend[~gone].astype(int).tolist()
    trend_shown[gone] = None
    # counts are shown with thousands separators, as text beside "<5"
    occupants_shown = np.array([f"{v:,}" for v in whole.tolist()], dtype=object)
    change_shown = np.array([f"{v:,}" for v in change.tolist()], dtype=object)
    free_shown, pct_shown = free.astype(object), full_pct.astype(object)
    if hide:
        # everything that would give a small facility's count back goes with it
        small = (whole > 0) & (whole < privacy.THRESHOLD)
        occupants_shown[small] = privacy.SUPPRESSED
        for column in (free_shown, pct_shown, change_shown):
            column[small] = None
        hours_shown[small], words[small] = np.nan, "—"
    for column in (occupants_shown, free_shown, pct_shown, change_shown):
        column[~valid] = None
    hours_shown[~valid] = np.nan
    trend_rows = [None if not ok else row for ok, row in zip(valid, trend_shown.tolist(),
                                                             strict=True)]
    words[~valid] = np.where(np.isnan(occupants[~valid]), NO_REPORT, REPORT_INVALID)

    return pd.DataFrame({
        "facility": listed["facility"].to_numpy(), "kind": listed["kind"].to_numpy(),
        "area": listed["area"].to_numpy(), "status": status, "capacity": capacity,
        "occupants": occupants_shown, "free": pd.array(free_shown, dtype="Int64"),
        "full_pct": pd.array(pct_shown, dtype="Int64"), "change_24h": change_shown,
        "trend": trend_rows, "hours_to_full": hours_shown, "time_to_full": words.astype(object),
        "last_confirmed": confirmed.to_numpy(), "confirmation": freshness(confirmed, as_of)})


def _fullest(listing: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The chart's facilities (those whose % full may be shown), at most CHART_BARS: the
    fullest first, then the most people (at 100% most facilities are alike), then the
    soonest full; and how many more share the % full of the last bar."""
    shown = listing[listing["full_pct"].notna()]
    people = shown["occupants"].map(privacy.shown_number).astype(float)
    ranked = shown.assign(people=people).sort_values(
        ["full_pct", "people", "hours_to_full", "facility"],
        ascending=[False, False, True, True], na_position="last")
    top = ranked.head(CHART_BARS)
    more = int((ranked["full_pct"].iloc[CHART_BARS:] == top["full_pct"].iloc[-1]).sum()
               ) if len(top) else 0
    chart = pd.DataFrame({
        "facility": top["facility"], "full_pct": top["full_pct"].astype(float),
        "colour": [palette.load_colour(p, 100) for p in top["full_pct"]],
    }).reset_index(drop=True)
    return chart, more


@cache.scoped()
def shelters(database: Database, viewer: Viewer, as_of: datetime) -> Shelters:
    """Every figure of the Shelters page for `viewer` at `as_of`. At the latest data
    the current rows say it all; before it, each facility's occupancy is its latest
    report by `as_of` (today's status kept: it has no history)."""
    hide = access.sees_person_level(viewer.role)  # facility counts: see the docstring
    latest = scenarios.data_as_of(database, viewer.scenario_id) or as_of
    worked_back = as_of < latest
    rows = _facility_rows(database, viewer.scenario_id, as_of if worked_back else None)
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
    valid = valid.assign(area=valid["area"].fillna(NO_AREA), pcode=valid["pcode"].fillna(""))
    counted = valid[privacy.counted_in_totals(valid)]
    by_kind = counted.assign(kind=counted["kind"].where(~counted["confidential"],
                                                        CONFIDENTIAL_KIND))
    totals = {}
    for key, frame in (("kind", by_kind), ("area", counted)):
        keys = [key, "pcode"] if key == "area" else [key]  # an area with its P-code
        group = (frame.assign(small=_small(frame["occupants"]))
                 .groupby(keys, as_index=False)
                 .agg(facilities=("id", "size"), capacity=("capacity", "sum"),
                      occupants=("occupants", "sum"), has_small=("small", "any"))
                 .sort_values("capacity", ascending=False))
        totals[key] = _totals(group, hide).reset_index(drop=True)

    # Only now are confidential facilities dropped: they never leave this function as rows.
    listed = rows[~rows["confidential"]].copy()
    trend = _trend(_trend_rows(database, viewer.scenario_id, as_of))
    listed = listed.join(trend, on="id")
    listing = _listing(listed, as_of, hide)
    listing = listing.sort_values(["full_pct", "facility"], ascending=[False, True],
                                  na_position="last").reset_index(drop=True)

    chart, chart_more = _fullest(listing)
    holding = in_use(counted)
    occupants, capacity = int(holding["occupants"].sum()), int(holding["capacity"].sum())
    withheld = hide and bool(_small(holding["occupants"]).any())
    small = hide and privacy.is_small(occupants)
    headline = {  # labels in English: the page translates them
        FACILITIES: len(rows),
        PLACES: capacity,
        OCCUPANTS: (privacy.WITHHELD if withheld else privacy.SUPPRESSED if small
                    else occupants),
        FREE_PLACES: (privacy.WITHHELD if withheld else privacy.SUPPRESSED if small
                      else capacity - occupants),
        NEAR_FULL_LABEL: int((holding["occupants"] >= NEAR_FULL * holding["capacity"]).sum()),
        CONFIRMATION_OVERDUE: int((listing["confirmation"] == "overdue").sum()),
    }
    return Shelters(as_of=as_of, facilities=listing, by_kind=totals["kind"],
                    by_area=totals["area"], chart=chart, chart_more=chart_more,
                    no_report=no_report, invalid=invalid,
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


# --- words, in the reader's language (never in the cached figures above) -------------------

def time_to_full_words(listing: pd.DataFrame) -> dict[str, str]:
    """Each time to full of `listing` as the reader reads it: a facility status's label,
    the reason there is none, or when it is full ("in 20 h", "in 3.5 days") from its
    hours. Keyed by the listing's English words, as a column's labels are by its codes."""
    said: dict[str, str] = {}
    distinct = listing.drop_duplicates("time_to_full")  # a word per distinct text
    for text, hours in zip(distinct["time_to_full"], distinct["hours_to_full"], strict=True):
        if labels.missing(text):
            continue
        if text in labels.FACILITY_STATUS:
            said[text] = labels.FACILITY_STATUS[text]
        elif text in _TIME_WORDS:
            said[text] = _(text)
        elif str(text).startswith("in ") and not labels.missing(hours):
            said[text] = (_("in {hours} h").format(hours=language.number(hours))
                          if hours < 48 else
                          # Translators: when a facility is full, a number of days with one decimal
                          _("in {days} days").format(days=language.number(hours / 24, 1)))
    return said


def shown_areas(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the area of facilities outside every known area in the reader's words."""
    return frame.assign(area=frame["area"].replace({NO_AREA: _(NO_AREA)}))
