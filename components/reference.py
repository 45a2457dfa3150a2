"""The moment a page's figures are compared with."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import streamlit as st

from dashboard import language
from dashboard.figures import meetings
from dashboard.figures.meetings import Meeting, MeetingRefused, MeetingStoreUnavailable
from dashboard.language import N_, _
from dashboard.rules import access
from dashboard.rules.access import Viewer

# The choices, in English: the picker's values (kept in the session whatever the
# reader's language), translated where shown.
CHOICES = {
    N_("24 hours"): timedelta(hours=24),
    N_("3 days"): timedelta(days=3),
    N_("7 days"): timedelta(days=7),
}
START, CHOSEN = N_("Scenario start"), N_("Chosen moment")
MEETING = N_("Previous meeting")
FALLBACK = "24 hours"


def meeting_label(meeting: Meeting) -> str:
    # Translators: {moment} is a day, month and time, such as "07 Nov 04:00"
    return _("Previous meeting ({moment})").format(moment=language.brief(meeting.at))


def reference_picker(as_of: datetime, starts_at: datetime, key: str = "reference",
                     viewer: Viewer | None = None) -> datetime:
    """Let the reader pick the reference moment: the committee's previous meeting
    (with `viewer`, when one before `as_of` is recorded for its scenario; then it is
    the default), a span before the moment shown, the start of the scenario, or any
    moment between. Roles that chair or staff the meetings also get a small control
    to record the previous one. Returns the moment, never earlier than the start
    nor later than `as_of`."""
    # One row that wraps on a narrow screen: the choices on the left, the meeting
    # control at the far right.
    row = st.container(horizontal=True, vertical_alignment="bottom",
                       horizontal_alignment="distribute")
    choice = row.container(horizontal=True, vertical_alignment="bottom", width="content")
    meeting = None
    if viewer is not None:
        # Record first, so that a meeting saved in this run is already offered below.
        if access.may_record_meeting(viewer.role):
            with row:
                _record_control(viewer, as_of, starts_at, key)
        try:
            meeting = meetings.previous(viewer.scenario_id, as_of)
        except MeetingStoreUnavailable as exc:
            st.warning(str(exc), icon=":material/event_busy:")

    options = ([MEETING] if meeting else []) + [*CHOICES, START, CHOSEN]
    default = MEETING if meeting else FALLBACK
    span_key, seen_key = f"{key}-span", f"{key}-meeting"
    # The previous meeting becomes the selection whenever it changes (recorded, or
    # another one once the moment shown moves); otherwise the reader's choice stays.
    seen = meeting.at if meeting else None
    if (span_key not in st.session_state or st.session_state.get(seen_key) != seen
            or st.session_state[span_key] not in options):
        st.session_state[span_key] = default
    st.session_state[seen_key] = seen
    with choice:
        picked = st.segmented_control(
            _("Change since"), options, key=span_key,
            format_func=lambda o: meeting_label(meeting) if o == MEETING and meeting else _(o),
        ) or default

    if picked == MEETING and meeting:
        reference = meeting.at
    elif picked in CHOICES:
        reference = as_of - CHOICES[picked]
    elif picked == START:
        reference = starts_at
    else:
        # Below the row, so that the meeting control keeps its place beside the choices.
        with st.container(horizontal=True):
            default_at = as_of - timedelta(hours=24)
            day = st.date_input(_("Day"), value=default_at.date(), min_value=starts_at.date(),
                                max_value=as_of.date(), key=f"{key}-day", width=150)
            at = st.time_input(_("Time (UTC)"), value=time(default_at.hour, 0),
                               key=f"{key}-time", width=120)
            reference = datetime.combine(day, at)
    return min(max(reference, starts_at), as_of)


def _record_control(viewer: Viewer, as_of: datetime, starts_at: datetime, key: str) -> None:
    """A popover, out of the projector's way, to record when the committee last met."""
    with st.popover(_("Meeting"), icon=":material/event:",
                    help=_("Record when the committee last met: the Overview then compares "
                           "with it by default, for everyone in this scenario.")):
        proposed = meetings.default_moment(meetings.utc_now())
        with st.form(f"{key}-meeting-form", border=False):
            st.caption(_("When was the previous committee meeting? Times are UTC."))
            day = st.date_input(_("Meeting day (UTC)"), value=proposed.date(),
                                key=f"{key}-meeting-day")
            at = st.time_input(_("Meeting time (UTC)"), value=proposed.time(),
                               step=timedelta(minutes=15), key=f"{key}-meeting-time")
            saved = st.form_submit_button(_("Record meeting"))
        if saved:
            try:
                meeting = meetings.record(viewer, datetime.combine(day, at), starts_at)
            except (MeetingRefused, MeetingStoreUnavailable) as exc:
                st.error(str(exc))
            else:
                held = language.stamp(meeting.at)
                if meeting.at >= as_of:
                    note = _("Meeting of {moment} UTC recorded. It is not before the moment "
                             "shown, so it is not offered here.").format(moment=held)
                else:
                    note = _("Meeting of {moment} UTC recorded.").format(moment=held)
                st.success(note)
                st.toast(note, icon=":material/event_available:")
