"""Drill: an exercise scenario's inject timeline against the observed response,
a replay of it moment by moment, and the after-action review (coordinator)."""

import time
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from components import charts
from components.page import live, opened_as_a_script, page_start
from components.session import Context, audited, note_filters
from components.status import freshness_line, rounding_note
from components.tables import export, moment_format, table
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import palette, review, scenarios, shelters
from dashboard.language import N_, _
from dashboard.rules import privacy

MOMENT, STEP, PLAYING, ADVANCE, END = ("drill-moment", "drill-step", "drill-playing",
                                       "drill-advance", "drill-end")
PLAY_EVERY_S = 1.5
ROUNDING = N_('Counts are rounded to a multiple of 5, so parts may not add up; "<5" is 1 to 4.')
INJECT_CODES = {"kind": labels.DRILL_INJECT_KIND, "status": labels.DRILL_INJECT_STATUS}
# The drill's facilities: their status and how fresh their figures are, in words.
FACILITY_CODES = {"status": labels.FACILITY_STATUS, "confirmation": shelters.CONFIRMATION}


def plural_n(shown: privacy.Shown) -> int:
    """The number that picks a sentence's form for a shown count ("<5" is several)."""
    return shown if isinstance(shown, int) else privacy.THRESHOLD

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
    slider.slider(_("Replay up to"), min_value=first, max_value=last, step=timedelta(hours=1),
                  format=moment_format(year=True), key=MOMENT)
    step_names = {name: _(name) for name in steps}
    pick.selectbox(_("Step"), list(steps), key=STEP, format_func=step_names.__getitem__)
    forward.button(_("Step forward"), icon=":material/skip_next:", on_click=step_forward,
                   disabled=state[MOMENT] >= last, width="stretch", key="drill-forward")
    play.toggle(_("Play"), key=PLAYING, on_change=play_changed)
    return min(state[MOMENT], end)


def run_label(run) -> str:
    """A drill run as the run menu offers it: when it began, how many injects."""
    # Translators: a drill run in the run menu; {run} is its id, {start} a date and time.
    said = language.ngettext("{run}: from {start}, {count} inject",
                             "{run}: from {start}, {count} injects", int(run.injects)).format(
        run=run.run_id, start=language.short_moment(run.first_at),
        count=language.number(run.injects))
    if run.skipped:
        said += " " + _("({count} skipped)").format(count=language.number(run.skipped))
    return said


def content(context: Context, as_of: datetime) -> None:
    played = review.runs(context.database, context.scenario.id)
    run_id = None
    if played.empty:
        st.info(_("No drill has been played into this exercise yet (`sitroom simulate` writes "
                  "its injects here). The review below covers the scenario's own history "
                  "since it began."))
    else:
        runs = {r.run_id: run_label(r) for r in played.itertuples()}
        run_id = st.selectbox(_("Drill run"), list(runs), format_func=runs.get,
                              key="drill-run")
    start, end = review.window(context.database, context.scenario.id, run_id, as_of)
    until = replay(start, end)
    note_filters(run=run_id, until=until.isoformat(timespec="minutes"))
    data = review.review(context.database, context.viewer, run_id, start, until)
    hours = round((until - start).total_seconds() / 3600)
    # Translators: {start} and {end} are dates and times ("26 Oct 2026, 00:00 UTC").
    st.caption(language.ngettext(
        "Review window: {start} to {end} ({hours} hour). Everything below is recomputed from "
        "the history as it stood at the replay moment.",
        "Review window: {start} to {end} ({hours} hours). Everything below is recomputed from "
        "the history as it stood at the replay moment.", hours).format(
        start=language.moment(start), end=language.moment(until),
        hours=language.number(hours)))

    totals, evac = data.facility_totals, data.evacuation_all
    skipped = int((data.injects["status"] == "skipped").sum())
    # short labels: six tiles share a row on a projector; the help says the rest
    tiles = [
        (_("Injects"), language.number(len(data.injects)),
         # Translators: under the number of injects: how many of them were skipped.
         _("{count} skipped").format(count=language.number(skipped)) if skipped else None,
         _("Injects of the run that had taken effect by the replay moment")),
        (_("Departures"), charts.number(evac["cases"]), None,
         _("Evacuation cases that departed in the window")),
        (_("Median hours"), "—" if evac["median_h"] is None else language.number(evac["median_h"]),
         None, _("Median hours from registration to departure, every nationality")),
        # Translators: a short tile label, "90th percentile of the hours".
        (_("90th pct hours"), "—" if evac["p90_h"] is None else language.number(evac["p90_h"]),
         None, _("90th percentile of the hours from registration to departure")),
        (_("Over capacity"), language.number(totals["at_or_over"]), None,
         _("Facilities that spent some time at or over capacity in the window")),
        (_("Stale reports"),
         # Translators: a tile's figure: stale facilities out of every facility.
         _("{stale} of {facilities}").format(stale=language.number(totals["stale"]),
                                             facilities=language.number(totals["facilities"])),
         None,
         _("Facilities with no report or confirmation in the last {hours} h").format(
             hours=review.STALE_AFTER_H)),
    ]
    for column, (label, value, note, help_) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, note, delta_color="off", delta_arrow="off", help=help_,
                      border=True)
    rounded = rounding_note(context.viewer)

    st.subheader(_("Inject timeline against the response"))
    charts.show(charts.timeline(
        data.series, "hour", {column: (_(label), colour)
                              for column, (label, colour) in review.SERIES.items()},
        review.inject_marks(data.injects), now=until,
        title=_("Cumulative since the start of the window"), y_title=_("count"),
        x_range=(start, end)),
        key="drill-timeline")
    if rounded:
        st.caption(_("Dotted lines: injects (numbered as in the table; skipped ones in orange). "
                     "Solid line: the replay moment. Each point is the total by the end of its "
                     "hour, rounded on its own; a total of 1 to 4 (\"<5\") is not drawn."))
    else:
        st.caption(_("Dotted lines: injects (numbered as in the table; skipped ones in orange). "
                     "Solid line: the replay moment. Each point is the total by the end of its "
                     "hour."))
    if data.injects.empty:
        st.caption(_("No inject by this moment."))
    else:
        table(data.injects, INJECT_CODES, column_config={
            "seq": st.column_config.NumberColumn("#"),
            # Translators: a column heading: when the inject took effect.
            "at": st.column_config.DatetimeColumn(_("At"), format=moment_format()),
            "name": _("Inject"), "kind": _("Kind"), "status": _("Status"),
            "detail": _("Detail"),
            "registered": st.column_config.TextColumn(
                _("Registered next hour"),
                help=_("Persons registered in the hour after the inject")),
            "accepted": st.column_config.TextColumn(
                _("Referrals accepted next hour"),
                help=_("First acceptances in the hour after it")),
            "departed": st.column_config.TextColumn(
                _("Departures next hour"),
                help=_("Evacuation cases that departed in the hour after")),
        })
        export(context, data.injects, "drill-injects", _("Download the inject timeline"),
               codes=INJECT_CODES, hashtags={"name": "#event+name", "kind": "#event+type"})

    st.subheader(_("Time from registration to evacuation"))
    left, right = st.columns([2, 3])
    with left:
        table(data.evacuation, column_config={
            # Translators: a column heading: the nationality's ISO 3166 code.
            "nationality": _("Code"), "country": _("Nationality"), "cases": _("Cases"),
            "median_h": st.column_config.NumberColumn(_("Median hours"), format="%.1f"),
            "p90_h": st.column_config.NumberColumn(_("90th percentile hours"), format="%.1f"),
        })
        notes = [_("Evacuation cases that departed in the window, from the person's "
                   "registration to the case's first departure. Nationalities with fewer than "
                   "5 cases show \"<5\" and no figures.")]
        if data.approximate:
            notes.append(_("Percentiles from whole-hour bins (within half an hour)."))
        if data.evacuation_left_out:
            left_out = data.evacuation_left_out
            # Translators: {count} is a number, or "<5" (1 to 4).
            notes.append(language.ngettext(
                "{count} departure left out: unknown nationality or status, or departed "
                "before registration.",
                "{count} departures left out: unknown nationality or status, or departed "
                "before registration.", plural_n(left_out)).format(
                count=charts.number(left_out)))
        if rounded:
            notes.append(_(ROUNDING))
        st.caption(" ".join(notes))
        export(context, data.evacuation, "drill-time-to-evacuation",
               _("Download time to evacuation"))
    with right:
        shown = data.evacuation[data.evacuation["median_h"].notna()].head(12)
        if shown.empty:
            st.info(_("No nationality has 5 departures or more in the window yet."))
        else:
            charts.show(charts.grouped_bars(
                shown, "country", list(review.PERCENTILES),
                {"median_h": palette.EVACUATION_STAGE["departed"],
                 "p90_h": palette.EVACUATION_STAGE["verified"]},
                title=_("Hours from registration to departure"),
                labels={"median_h": _("Median"), "p90_h": _("90th percentile")}),
                key="drill-evacuation")

    st.subheader(_("Referral time to acceptance against the deadline"))
    # every service in view at once: 35 px a row, plus the header
    table(data.referrals, height=35 * (len(data.referrals) + 1) + 3, column_config={
        "service": _("Service"), "deadline_h": st.column_config.NumberColumn(_("Deadline (h)")),
        "sent": _("Sent"), "accepted_in_time": _("Accepted in time"),
        "accepted_late": _("Accepted late"), "not_accepted": _("Not accepted"),
        "median_h_to_accept": st.column_config.NumberColumn(_("Median hours to accept"),
                                                            format="%.1f"),
        "within_deadline_pct": st.column_config.ProgressColumn(
            _("Accepted within deadline"), format="%d%%", min_value=0, max_value=100,
            help=_("Share of the referrals whose outcome is known (accepted, or deadline "
                   "passed) that were accepted by the deadline")),
        "open_past_deadline": st.column_config.TextColumn(_("Open past deadline")),
    })
    said = _("Referrals sent in the window. Their first acceptance is compared with the "
             "service's deadline; \"open past deadline\" are still awaiting the receiver.")
    st.caption(said + (" " + _(ROUNDING) if rounded else ""))
    export(context, data.referrals, "drill-referrals", _("Download referral times"))

    st.subheader(_("Facilities: hours at or over capacity, and stale reports"))
    over = data.facilities[data.facilities["hours_at_or_over_capacity"] > 0].head(12)
    if not over.empty:
        charts.show(charts.stacked_bars(
            over, "facility", ["hours_at_or_over_capacity"],
            {"hours_at_or_over_capacity": palette.LOAD_RED},
            title=_("Hours at or over capacity"), text_format=",.0f"),
            key="drill-over-capacity")
    table(data.facilities, FACILITY_CODES, height=460, column_config={
        "facility": _("Facility"), "kind": _("Kind"), "status": _("Status"),
        "capacity": _("Capacity"),
        # Translators: a column heading: the most occupants a facility held.
        "peak_occupants": st.column_config.TextColumn(_("Peak")),
        "hours_at_or_over_capacity": st.column_config.NumberColumn(_("Hours at/over capacity"),
                                                                   format="%.1f"),
        "reports_above_capacity": st.column_config.NumberColumn(
            _("Reports above capacity"),
            help=_("Reports in the window with more occupants than places: a contract break, "
                   "counted here on purpose")),
        # Translators: a column heading: hours since the facility's last report.
        "hours_since_report": st.column_config.NumberColumn(_("Hours since"), format="%.1f"),
        "last_report": st.column_config.DatetimeColumn(_("Last report"),
                                                       format=moment_format()),
        "confirmation": st.column_config.TextColumn(
            _("Confirmation"),
            # Translators: {fresh}, {due} and {overdue} are the column's values (the
            # words of "fresh", "due", "overdue"); {fresh_hours} and {due_hours} are hours.
            help=_("At the replay moment. {fresh}: within {fresh_hours} h; {due}: within "
                   "{due_hours} h; {overdue}: older").format(
                fresh=shelters.CONFIRMATION["fresh"], due=shelters.CONFIRMATION["due"],
                overdue=shelters.CONFIRMATION["overdue"],
                fresh_hours=review.STALE_AFTER_H, due_hours=review.OVERDUE_AFTER_H)),
        "longest_gap_h": st.column_config.NumberColumn(
            _("Longest gap (h)"), help=_("Longest time in the window without a new report")),
    })
    at_or_over = totals["at_or_over"]
    # Translators: {hours} is a number of hours, with one decimal.
    notes = [language.ngettext(
        "Each occupancy report holds until the next one. {count} facility spent {hours} hours "
        "at or over capacity.",
        "Each occupancy report holds until the next one. {count} facilities spent {hours} "
        "hours at or over capacity.", at_or_over).format(
        count=language.number(at_or_over), hours=language.number(totals["over_hours"], 1))]
    above = totals["reports_above_capacity"]
    if above:
        notes.append(language.ngettext(
            "{count} report in the window is above capacity: it breaks the data contract and "
            "is left out of the other pages' occupancy figures, but here it is the point, so "
            "it counts.",
            "{count} reports in the window are above capacity: they break the data contract "
            "and are left out of the other pages' occupancy figures, but here they are the "
            "point, so they count.", above).format(count=language.number(above)))
    confidential = totals["confidential"]
    if confidential:
        notes.append(language.ngettext(
            "{count} confidential facility counts in these totals only and is not listed.",
            "{count} confidential facilities count in these totals only and are not listed.",
            confidential).format(count=language.number(confidential)))
    st.caption(" ".join(notes))
    export(context, data.facilities, "drill-facilities", _("Download facility review"),
           codes=FACILITY_CODES)

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
    context = page_start("drill", N_("Drill: after-action review"))
    if not context.scenario.is_exercise:
        # live and exercise rows never meet in one figure (docs/design.md §2.7): the head only
        freshness_line(scenarios.data_as_of(context.database, context.scenario.id),
                       context.scenario.synthetic)
        st.info(_("The Drill page reviews exercise scenarios; pick one in the sidebar."))
        return
    live(context, body)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
