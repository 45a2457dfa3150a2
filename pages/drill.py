"""Drill: an exercise scenario's inject timeline against the observed response,
a replay of it moment by moment, and the after-action review (coordinator)."""

import time
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from components import charts
from components.page import live, page_start
from components.session import Context, audited, note_filters
from components.status import freshness_line, rounding_note
from components.tables import export, table
from dashboard.contract import labels
from dashboard.figures import palette, review, scenarios

MOMENT, STEP, PLAYING, ADVANCE, END = ("drill-moment", "drill-step", "drill-playing",
                                       "drill-advance", "drill-end")
PLAY_EVERY_S = 1.5
ROUNDING = 'Counts are rounded to a multiple of 5, so parts may not add up; "<5" is 1 to 4.'


INJECT_CODES = {"kind": labels.DRILL_INJECT_KIND, "status": labels.DRILL_INJECT_STATUS}

def replay(start: datetime, end: datetime) -> datetime:
    """The replay controls: a moment in the window, a step forward, play and pause."""
    first = pd.Timestamp(start).floor("h").to_pydatetime()
    last = pd.Timestamp(end).ceil("h").to_pydatetime()
    state = st.session_state
    steps = review.step_choices(start, end)
    step = steps.get(state.get(STEP), next(iter(steps.values())))
    moment = state.get(MOMENT)
    # a replay left at the end follows the data as it comes in
    if moment is None or moment == state.get(END) or not first <= moment <= last:
        state[MOMENT] = last
    if state.pop(ADVANCE, False):
        state[MOMENT] = review.advance(state[MOMENT], step, last)
        if state[MOMENT] >= last:
            state[PLAYING] = False
    state[END] = last

    def step_forward() -> None:
        state[MOMENT] = review.advance(state[MOMENT], step, last)

    def play_changed() -> None:
        if state.get(PLAYING) and state[MOMENT] >= last:
            state[MOMENT] = first  # play from the start of the window

    slider, pick, forward, play = st.columns([6, 1.2, 1.2, 1], vertical_alignment="bottom")
    slider.slider("Replay up to", min_value=first, max_value=last, step=timedelta(hours=1),
                  format="D MMM YYYY, HH:mm", key=MOMENT)
    pick.selectbox("Step", list(steps), key=STEP)
    forward.button("Step forward", icon=":material/skip_next:", on_click=step_forward,
                   disabled=state[MOMENT] >= last, width="stretch", key="drill-forward")
    play.toggle("Play", key=PLAYING, on_change=play_changed)
    return min(state[MOMENT], end)


def content(context: Context, as_of: datetime) -> None:
    played = review.runs(context.database, context.scenario.id)
    run_id = None
    if played.empty:
        st.info("No drill has been played into this exercise yet (`sitroom simulate` writes "
                "its injects here). The review below covers the scenario's own history since "
                "it began.")
    else:
        runs = {r.run_id: f"{r.run_id}: from {r.first_at:%d %b %H:%M}, {r.injects} injects"
                          + (f" ({r.skipped} skipped)" if r.skipped else "")
                for r in played.itertuples()}
        run_id = st.selectbox("Drill run", list(runs), format_func=runs.get,
                              key="drill-run")
    start, end = review.window(context.database, context.scenario.id, run_id, as_of)
    until = replay(start, end)
    note_filters(run=run_id, until=until.isoformat(timespec="minutes"))
    data = review.review(context.database, context.viewer, run_id, start, until)
    st.caption(f"Review window: {start:%d %b %Y, %H:%M} to {until:%d %b %Y, %H:%M} UTC "
               f"({(until - start).total_seconds() / 3600:,.0f} hours). Everything below is "
               "recomputed from the history as it stood at the replay moment.")

    totals, evac = data.facility_totals, data.evacuation_all
    skipped = int((data.injects["status"] == "skipped").sum())
    # short labels: six tiles share a row on a projector; the help says the rest
    tiles = [
        ("Injects", f"{len(data.injects):,}", f"{skipped} skipped" if skipped else None,
         "Injects of the run that had taken effect by the replay moment"),
        ("Departures", charts.number(evac["cases"]), None,
         "Evacuation cases that departed in the window"),
        ("Median hours", "—" if evac["median_h"] is None else f"{evac['median_h']:,.0f}", None,
         "Median hours from registration to departure, every nationality"),
        ("90th pct hours", "—" if evac["p90_h"] is None else f"{evac['p90_h']:,.0f}", None,
         "90th percentile of the hours from registration to departure"),
        ("Over capacity", f"{totals['at_or_over']:,}", None,
         "Facilities that spent some time at or over capacity in the window"),
        ("Stale reports", f"{totals['stale']:,} of {totals['facilities']:,}", None,
         f"Facilities with no report or confirmation in the last {review.STALE_AFTER_H} h"),
    ]
    for column, (label, value, note, help_) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, note, delta_color="off", delta_arrow="off", help=help_,
                      border=True)
    rounded = rounding_note(context.viewer)

    st.subheader("Inject timeline against the response")
    charts.show(charts.timeline(
        data.series, "hour", review.SERIES, review.inject_marks(data.injects), now=until,
        title="Cumulative since the start of the window", y_title="count",
        x_range=(start, end)),
        key="drill-timeline")
    st.caption("Dotted lines: injects (numbered as in the table; skipped ones in orange). "
               "Solid line: the replay moment. Each point is the total by the end of its hour"
               + (", rounded on its own; a total of 1 to 4 (\"<5\") is not drawn."
                  if rounded else "."))
    if data.injects.empty:
        st.caption("No inject by this moment.")
    else:
        table(data.injects, INJECT_CODES, column_config={
            "seq": st.column_config.NumberColumn("#"),
            "at": st.column_config.DatetimeColumn("At", format="D MMM, HH:mm"),
            "name": "Inject", "kind": "Kind", "status": "Status", "detail": "Detail",
            "registered": st.column_config.TextColumn(
                "Registered next hour", help="Persons registered in the hour after the inject"),
            "accepted": st.column_config.TextColumn(
                "Referrals accepted next hour", help="First acceptances in the hour after it"),
            "departed": st.column_config.TextColumn(
                "Departures next hour", help="Evacuation cases that departed in the hour after"),
        })
        export(context, data.injects, "drill-injects", "Download the inject timeline",
               codes=INJECT_CODES, hashtags={"name": "#event+name", "kind": "#event+type"})

    st.subheader("Time from registration to evacuation")
    left, right = st.columns([2, 3])
    with left:
        table(data.evacuation, column_config={
            "nationality": "Code", "country": "Nationality", "cases": "Cases",
            "median_h": st.column_config.NumberColumn("Median hours", format="%.1f"),
            "p90_h": st.column_config.NumberColumn("90th percentile hours", format="%.1f"),
        })
        notes = ["Evacuation cases that departed in the window, from the person's registration "
                 "to the case's first departure. Nationalities with fewer than 5 cases show "
                 "\"<5\" and no figures."]
        if data.approximate:
            notes.append("Percentiles from whole-hour bins (within half an hour).")
        if data.evacuation_left_out:
            notes.append(f"{charts.number(data.evacuation_left_out)} departures left out: "
                         "unknown nationality or status, or departed before registration.")
        if rounded:
            notes.append(ROUNDING)
        st.caption(" ".join(notes))
        export(context, data.evacuation, "drill-time-to-evacuation",
               "Download time to evacuation")
    with right:
        shown = data.evacuation[data.evacuation["median_h"].notna()].head(12)
        if shown.empty:
            st.info("No nationality has 5 departures or more in the window yet.")
        else:
            charts.show(charts.grouped_bars(
                shown, "country", list(review.PERCENTILES),
                {"median_h": palette.EVACUATION_STAGE["departed"],
                 "p90_h": palette.EVACUATION_STAGE["verified"]},
                title="Hours from registration to departure",
                labels={"median_h": "Median", "p90_h": "90th percentile"}),
                key="drill-evacuation")

    st.subheader("Referral time to acceptance against the deadline")
    # every service in view at once: 35 px a row, plus the header
    table(data.referrals, height=35 * (len(data.referrals) + 1) + 3, column_config={
        "service": "Service", "deadline_h": st.column_config.NumberColumn("Deadline (h)"),
        "sent": "Sent", "accepted_in_time": "Accepted in time",
        "accepted_late": "Accepted late", "not_accepted": "Not accepted",
        "median_h_to_accept": st.column_config.NumberColumn("Median hours to accept",
                                                            format="%.1f"),
        "within_deadline_pct": st.column_config.ProgressColumn(
            "Accepted within deadline", format="%d%%", min_value=0, max_value=100,
            help="Share of the referrals whose outcome is known (accepted, or deadline "
                 "passed) that were accepted by the deadline"),
        "open_past_deadline": st.column_config.TextColumn("Open past deadline"),
    })
    st.caption("Referrals sent in the window. Their first acceptance is compared with the "
               "service's deadline; \"open past deadline\" are still awaiting the receiver."
               + (" " + ROUNDING if rounded else ""))
    export(context, data.referrals, "drill-referrals", "Download referral times")

    st.subheader("Facilities: hours at or over capacity, and stale reports")
    over = data.facilities[data.facilities["hours_at_or_over_capacity"] > 0].head(12)
    if not over.empty:
        charts.show(charts.stacked_bars(
            over, "facility", ["hours_at_or_over_capacity"],
            {"hours_at_or_over_capacity": palette.LOAD_RED},
            title="Hours at or over capacity", text_format=",.0f"),
            key="drill-over-capacity")
    table(data.facilities, {"status": labels.FACILITY_STATUS}, height=460, column_config={
        "facility": "Facility", "kind": "Kind", "status": "Status", "capacity": "Capacity",
        "peak_occupants": st.column_config.TextColumn("Peak"),
        "hours_at_or_over_capacity": st.column_config.NumberColumn("Hours at/over capacity",
                                                                   format="%.1f"),
        "reports_above_capacity": st.column_config.NumberColumn(
            "Reports above capacity", help="Reports in the window with more occupants than "
                                           "places: a contract break, counted here on purpose"),
        "hours_since_report": st.column_config.NumberColumn("Hours since", format="%.1f"),
        "last_report": st.column_config.DatetimeColumn("Last report", format="D MMM, HH:mm"),
        "confirmation": st.column_config.TextColumn(
            "Confirmation", help=f"At the replay moment. fresh: within "
                                 f"{review.STALE_AFTER_H} h; due: within "
                                 f"{review.OVERDUE_AFTER_H} h; overdue: older"),
        "longest_gap_h": st.column_config.NumberColumn(
            "Longest gap (h)", help="Longest time in the window without a new report"),
    })
    notes = [f"Each occupancy report holds until the next one. {totals['at_or_over']} "
             f"facilities spent {totals['over_hours']:,.1f} hours at or over capacity."]
    if totals["reports_above_capacity"]:
        notes.append(f"{totals['reports_above_capacity']} reports in the window are above "
                     "capacity: they break the data contract and are left out of the other "
                     "pages' occupancy figures, but here they are the point, so they count.")
    if totals["confidential"]:
        notes.append(f"{totals['confidential']} confidential facilities count in these "
                     "totals only and are not listed.")
    st.caption(" ".join(notes))
    export(context, data.facilities, "drill-facilities", "Download facility review",
           codes={"status": labels.FACILITY_STATUS})

    if st.session_state.get(PLAYING) and until < end:
        time.sleep(PLAY_EVERY_S)  # a click on Pause takes effect when this wait ends
        st.session_state[ADVANCE] = True
        st.rerun()


def body(context: Context, as_of: datetime) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    context = page_start("drill", "Drill: after-action review")
    if not context.scenario.is_exercise:
        # live and exercise rows never meet in one figure (docs/design.md §2.7): the head only
        freshness_line(scenarios.data_as_of(context.database, context.scenario.id),
                       context.scenario.synthetic)
        st.info("The Drill page reviews exercise scenarios; pick one in the sidebar.")
        return
    live(context, body)
