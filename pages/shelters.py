"""Shelters: how full every facility is, how fast it fills, and how fresh its figures are."""

import streamlit as st

from components import charts
from components.page import live, page_start
from components.session import Context, audited, note_filters
from components.tables import export, table
from dashboard.contract import labels
from dashboard.figures import palette, shelters


def content(context: Context, as_of) -> None:
    data = shelters.shelters(context.database, context.viewer, as_of)
    if data.worked_back:
        st.caption("Occupancy, trend and time to full as reported by then; last confirmed: "
                   "the latest confirmation or report by then. Facility status has no history "
                   "in the data: today's status is shown.")

    for column, (label, value) in zip(st.columns(len(data.headline)), data.headline.items(),
                                      strict=True):
        column.metric(label, charts.number(value), border=True)

    left, right = st.columns([3, 2])
    with left:
        if data.chart.empty:
            st.info("No facility has an occupancy figure that may be shown.")
        else:
            charts.show(charts.share_bars(data.chart, "facility", "full_pct", "colour",
                                          title="Fullest facilities (% of places taken)"),
                        key="shelters-fullest")
            if data.chart_more:
                last = data.chart["full_pct"].iloc[-1]
                st.caption(f"{data.chart_more:,} more facilities are {last:.0f}% full too: "
                           "every facility is in the [Facilities table](#facilities) below.")
    with right:
        by_area = data.by_area.head(15)
        charts.show(charts.stacked_bars(
            by_area, "area", ["occupants", "free"],
            {"occupants": palette.PERSON_STATUS["sheltered"], "free": "#d9d9d9"},
            title="Occupied and free places by area", labels={"free": "Free places"}),
            key="shelters-by-area")

    st.subheader("Facilities", anchor="facilities")
    kinds, areas, statuses = st.columns(3)
    chosen = {
        "kinds": kinds.multiselect("Kind", sorted(data.facilities["kind"].unique()),
                                   format_func=lambda k: labels.word(k, labels.FACILITY_KIND),
                                   key="shelters-kind"),
        "areas": areas.multiselect("Area", sorted(data.facilities["area"].dropna().unique()),
                                   key="shelters-area"),
        "statuses": statuses.multiselect("Status", sorted(data.facilities["status"].unique()),
                                         format_func=lambda s: labels.word(
                                             s, labels.FACILITY_STATUS),
                                         key="shelters-status"),
    }
    note_filters(**{k: v for k, v in chosen.items() if v})
    listing = shelters.narrow(data.facilities, **chosen)
    codes = {"status": labels.FACILITY_STATUS, "time_to_full": labels.FACILITY_STATUS}
    table(
        listing, codes, projector_hide=("trend", "last_confirmed"),
        height=520, column_config={
            "full_pct": st.column_config.ProgressColumn("% full", format="%d%%", min_value=0,
                                                        max_value=100),
            "change_24h": st.column_config.TextColumn("Change 24 h",
                                                      help="Net change in occupants over the "
                                                           "last 24 hours"),
            "trend": st.column_config.LineChartColumn("Last 7 days", help="Occupants at the end "
                                                      "of each of the last 8 days"),
            "hours_to_full": None,
            "time_to_full": st.column_config.TextColumn(
                "Full", help="When the facility is full at the net arrival rate of the last 24 h"),
            "last_confirmed": st.column_config.DatetimeColumn("Last confirmed",
                                                              format="D MMM, HH:mm"),
            "confirmation": st.column_config.TextColumn(
                "Confirmation", help=f"fresh: within {shelters.FRESH_HOURS} h; due: within "
                                     f"{shelters.DUE_HOURS} h; overdue: older"),
        })
    notes = [f"{len(listing):,} of {len(data.facilities):,} listed facilities shown, "
             "fullest first."]
    if data.confidential:
        notes.append(f"{data.confidential} confidential facilities are never listed; they count "
                     "in the area totals where an area holds two or more of them.")
    if data.confidential_uncounted:
        notes.append(f"{data.confidential_uncounted} confidential facilities are alone in their "
                     "area and count in no total, so that their figures cannot be worked out.")
    if data.invalid or data.no_report:
        notes.append(f"{data.invalid + data.no_report} facilities have no valid occupancy report "
                     "and are left out of the totals (see Data quality).")
    st.caption(" ".join(notes))
    export(context, listing, "shelters-facilities", "Download these facilities", codes=codes)

    by_kind, by_area = st.columns(2)
    totals_config = {"full_pct": st.column_config.NumberColumn("% full", format="%d%%")}
    with by_kind:
        st.subheader("Totals by kind")
        table(data.by_kind, column_config=totals_config)
        export(context, data.by_kind, "shelters-by-kind")
    with by_area:
        st.subheader("Totals by area")
        table(data.by_area, column_config=totals_config)
        export(context, data.by_area, "shelters-by-area")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("shelters", "Shelters"), body, as_of_control=True)
