"""Overview: the whole picture at a glance, for the viewer's scope."""

import streamlit as st

from components import charts
from components.demography import show_profile
from components.kpi import kpi_row
from components.page import live, opened_as_a_script, page_start
from components.reference import reference_picker
from components.session import Context, audited, note_filters
from components.status import rounding_note
from components.tables import export, report_export, table
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import demography, palette
from dashboard.figures.overview import overview
from dashboard.language import N_, _
from dashboard.rules import access


def content(context: Context, as_of) -> None:
    reference_at = reference_picker(as_of, context.scenario.starts_at, viewer=context.viewer)
    note_filters(reference_at=reference_at.isoformat(timespec="minutes"))
    data = overview(context.database, context.viewer, as_of, reference_at)
    if access.sees_person_level(context.viewer.role):
        # Translators: {nationalities} lists ISO3 codes of countries (ETH, PHL).
        st.caption(_("Your consenting nationals only: {nationalities}").format(
            nationalities=", ".join(context.viewer.nationalities)))
    # The moment compared with, said once: in each tile it was cut off on a projector.
    # It is the moment the figures are for (an earlier one is taken to the quarter hour).
    said, report = st.columns([4, 1], vertical_alignment="center")
    # Translators: {moment} is a weekday, day, month and time: "Sun 22 Nov, 23:59".
    said.markdown(_("**Changes since {moment} UTC**").format(
        moment=language.weekday_moment(data.reference_at)))
    with report:
        report_export(context, as_of, reference_at)
    kpi_row(data.figures)
    rounding_note(context.viewer)

    left, middle, right = st.columns(3)
    with left:
        charts.show(charts.category_bars(data.by_status, "status", "persons",
                                         palette.PERSON_STATUS, _("People by status"),
                                         words=labels.PERSON_STATUS),
                    key="overview-status")
    with middle:
        charts.show(charts.category_bars(data.funnel, "stage", "cases",
                                         palette.EVACUATION_STAGE,
                                         _("Evacuation cases by stage")),
                    key="overview-funnel")
    with right:
        overdue = data.overdue_by_service
        charts.show(charts.category_bars(
            overdue, "service", "overdue", dict.fromkeys(overdue.service,
                                                         palette.REFERRAL_STATUS["overdue"]),
            _("Overdue referrals by service")), key="overview-overdue")

    st.subheader(_("Who the people are"))
    show_profile(context, demography.profile(context.database, context.viewer, as_of),
                 "overview")

    st.subheader(_("Facilities at 90% of capacity or more"))
    if data.near_capacity.empty:
        st.write(_("None."))
    else:
        table(data.near_capacity, column_config={"full_pct": st.column_config.NumberColumn(
            labels.heading("full_pct"), format="%d%%")})
        export(context, data.near_capacity, "facilities-near-capacity")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("overview", N_("Overview")), body, as_of_control=True)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
