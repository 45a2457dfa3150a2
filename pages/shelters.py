"""Shelters: how full every facility is, how fast it fills, and how fresh its figures are."""

import streamlit as st

from components import charts
from components.kpi import tiles
from components.page import live, opened_as_a_script, page_start, when_opened
from components.session import Context, audited, note_filters
from components.tables import export, moment_format, table
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import palette, shelters
from dashboard.language import _, ngettext


def content(context: Context, as_of) -> None:
    data = shelters.shelters(context.database, context.viewer, as_of)
    if data.worked_back:
        st.caption(_("Occupancy, trend and time to full as reported by then; last confirmed: "
                     "the latest confirmation or report by then. Facility status has no history "
                     "in the data: today's status is shown."))

    tiles([(_(label), charts.number(value)) for label, value in data.headline.items()],
          per_row=3)

    left, right = st.columns([3, 2])
    with left:
        if data.chart.empty:
            st.info(_("No facility has an occupancy figure that may be shown."))
        else:
            charts.show(charts.share_bars(data.chart, "facility", "full_pct", "colour",
                                          title=_("Fullest facilities (% of places taken)")),
                        key="shelters-fullest")
            if data.chart_more:
                last = data.chart["full_pct"].iloc[-1]
                st.caption(ngettext(
                    "{count} more facility is {percent}% full too: every facility is in the "
                    "[Facilities table](#facilities) below.",
                    "{count} more facilities are {percent}% full too: every facility is in the "
                    "[Facilities table](#facilities) below.", data.chart_more).format(
                    count=language.number(data.chart_more), percent=language.number(last)))
    with right:
        by_area = shelters.shown_areas(data.by_area.head(15))
        charts.show(charts.stacked_bars(
            by_area, "area", ["occupants", "free"],
            {"occupants": palette.PERSON_STATUS["sheltered"], "free": "#d9d9d9"},
            title=_("Occupied and free places by area"), labels={"free": _("Free places")}),
            key="shelters-by-area")

    st.subheader(_("Facilities"), anchor="facilities")
    kinds, areas, statuses = st.columns(3)
    named = sorted(data.facilities["area"].dropna().unique())
    chosen = {
        "kinds": kinds.multiselect(_("Kind"), sorted(data.facilities["kind"].unique()),
                                   format_func=lambda k: labels.word(k, labels.FACILITY_KIND),
                                   placeholder=_("Choose options"), key="shelters-kind"),
        "areas": areas.multiselect(_("Area"), named,
                                   placeholder=_("Choose options") if named
                                   else _("No options to select"), key="shelters-area"),
        "statuses": statuses.multiselect(_("Status"), sorted(data.facilities["status"].unique()),
                                         format_func=lambda s: labels.word(
                                             s, labels.FACILITY_STATUS),
                                         placeholder=_("Choose options"), key="shelters-status"),
    }
    note_filters(**{k: v for k, v in chosen.items() if v})
    listing = shelters.narrow(data.facilities, **chosen)
    codes = {"status": labels.FACILITY_STATUS,
             "time_to_full": shelters.time_to_full_words(listing),
             "confirmation": shelters.CONFIRMATION}
    table(
        listing, codes, projector_hide=("trend", "last_confirmed"),
        height=520, column_config={
            "full_pct": st.column_config.ProgressColumn(_("% full"), format="%d%%", min_value=0,
                                                        max_value=100),
            "change_24h": st.column_config.TextColumn(
                _("Change 24 h"), help=_("Net change in occupants over the last 24 hours")),
            "trend": st.column_config.LineChartColumn(
                _("Last 7 days"), help=_("Occupants at the end of each of the last 8 days")),
            "hours_to_full": None,
            "time_to_full": st.column_config.TextColumn(
                _("Full"),
                help=_("When the facility is full at the net arrival rate of the last 24 h")),
            "last_confirmed": st.column_config.DatetimeColumn(_("Last confirmed"),
                                                              format=moment_format()),
            "confirmation": st.column_config.TextColumn(
                _("Confirmation"),
                # Translators: fresh, due and overdue are the words of the Confirmation column
                help=_("fresh: within {fresh} h; due: within {due} h; overdue: older").format(
                    fresh=shelters.FRESH_HOURS, due=shelters.DUE_HOURS)),
        })
    notes = [_("{shown} of {listed} listed facilities shown, fullest first.").format(
        shown=language.number(len(listing)), listed=language.number(len(data.facilities)))]
    if data.confidential:
        notes.append(ngettext(
            "{count} confidential facility is never listed; it counts in the area totals "
            "where an area holds two or more confidential facilities.",
            "{count} confidential facilities are never listed; they count in the area totals "
            "where an area holds two or more of them.",
            data.confidential).format(count=language.number(data.confidential)))
    if data.confidential_uncounted:
        notes.append(ngettext(
            "{count} confidential facility is alone in its area and counts in no total, so "
            "that its figures cannot be worked out.",
            "{count} confidential facilities are alone in their area and count in no total, "
            "so that their figures cannot be worked out.",
            data.confidential_uncounted).format(
            count=language.number(data.confidential_uncounted)))
    if data.invalid or data.no_report:
        left_out = data.invalid + data.no_report
        notes.append(ngettext(
            "{count} facility has no valid occupancy report and is left out of the totals "
            "(see Data quality).",
            "{count} facilities have no valid occupancy report and are left out of the totals "
            "(see Data quality).", left_out).format(count=language.number(left_out)))
    st.caption(" ".join(notes))
    export(context, listing, "shelters-facilities", _("Download these facilities"), codes=codes)

    # Two more data grids on every visit cost the reader's browser a tenth to a fifth of
    # the visit, for figures most visits do not need (the areas' are in the chart above)
    section = when_opened(_("Totals by kind and by area"), "shelters-totals")
    if section is not None:
        with section:
            totals(context, data)


def totals(context: Context, data: shelters.Shelters) -> None:
    """The places and occupants by kind of facility and by area, side by side."""
    by_kind, by_area = st.columns(2)
    totals_config = {"full_pct": st.column_config.NumberColumn(_("% full"), format="%d%%")}
    kinds_words = {"kind": shelters.KINDS}
    areas_shown = shelters.shown_areas(data.by_area)
    with by_kind:
        st.subheader(_("Totals by kind"))
        table(data.by_kind, kinds_words, column_config=totals_config)
        export(context, data.by_kind, "shelters-by-kind", codes=kinds_words)
    with by_area:
        st.subheader(_("Totals by area"))
        table(areas_shown, column_config=totals_config)
        export(context, areas_shown, "shelters-by-area")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("shelters", _("Shelters")), body, as_of_control=True)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
