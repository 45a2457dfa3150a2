"""Evacuation: the funnel by nationality and stage, time in each stage, the
movements and their manifests, and progress over time."""

import streamlit as st

from components import charts
from components.page import live, opened_as_a_script, page_start
from components.session import Context, audited
from components.status import rounding_note
from components.tables import export, moment_format, table
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import evacuation, palette
from dashboard.language import _
from dashboard.rules import access


def content(context: Context, as_of) -> None:
    data = evacuation.evacuation(context.database, context.viewer, as_of)
    if data.note:
        st.warning(_(data.note))
    if access.sees_person_level(context.viewer.role):
        # Translators: {nationalities} is a list of country codes, such as "ETH, KEN"
        st.caption(_("Your consenting nationals only: {nationalities}").format(
            nationalities=", ".join(context.viewer.nationalities)))

    stages = dict(zip(data.stages["stage"], data.stages["cases"], strict=True))
    shown = [(_("Cases"), data.reached["cases"].iloc[0])] + [
        (labels.word(s, labels.EVACUATION_STAGE), stages[s]) for s in evacuation.BRANCHES]
    for column, (label, value) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, charts.number(value), border=True)
    rounding_note(context.viewer)

    left, right = st.columns(2)
    with left:
        charts.show(charts.funnel(
            list(data.reached["stage"]), [v if isinstance(v, int) else None
                                          for v in data.reached["cases"]],
            [palette.EVACUATION_STAGE[s] for s in data.reached["stage"]],
            title=_("Cases at or beyond each stage")), key="evacuation-funnel")
        st.caption(_("Branch cases (declined, no-show, medical hold) leave the funnel after "
                     "Requested."))
    with right:
        times = data.time_in_stage
        charts.show(charts.stacked_bars(
            times.assign(median_days=times["median_hours"] / 24), "stage", ["median_days"],
            {"median_days": palette.EVACUATION_STAGE["documented"]},
            title=_("Median days spent in each stage"), text_format=".1f"),
            key="evacuation-time")
        if not times["median_hours"].dropna().empty:
            slowest = times.loc[times["median_hours"].idxmax()]
            stage = charts.escape_markdown(labels.word(slowest["stage"], labels.EVACUATION_STAGE))
            # Translators: {stage} is an evacuation stage; {days} a number with one decimal
            st.caption(_("Bottleneck: {stage} ({days} days median). Counted over stays that "
                         "have ended, up to the latest data.").format(
                stage=stage, days=language.number(slowest["median_hours"] / 24, 1)))

    st.subheader(_("Funnel by nationality"))
    top = data.by_nationality.head(12)
    charts.show(charts.stacked_bars(top, "country", evacuation.STAGES,
                                    palette.EVACUATION_STAGE,
                                    title=_("Cases by current stage, largest nationalities")),
                key="evacuation-by-nationality")
    table(data.by_nationality)
    export(context, data.by_nationality, "evacuation-by-nationality")

    st.subheader(_("Movements"))
    if data.earlier:
        st.caption(_("Movements and their manifests as at the latest data: they have no "
                     "history."))
    table(data.movements, {"status": labels.MOVEMENT_STATUS}, height=420, column_config={
        "departs_at": st.column_config.DatetimeColumn(_("Departs"), format=moment_format()),
        "departed": st.column_config.TextColumn(_("Departed"), help=_("Left, not yet arrived")),
        "arrived": st.column_config.TextColumn(
            _("Arrived"), help=_("Arrived in the country of origin (and followed up)")),
        "on_it": st.column_config.TextColumn(_("Cases on it")),
    })
    export(context, data.movements, "movements", _("Download the movements"),
           codes={"status": labels.MOVEMENT_STATUS})

    charts.show(charts.time_chart(
        data.progress, "day",
        lines={"registered": (_("Registered"), palette.PERSON_STATUS["located"]),
               "evacuated": (_("Evacuated"), palette.PERSON_STATUS["evacuated"])},
        title=_("Cumulative evacuated against registered")), key="evacuation-progress")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("evacuation", _("Evacuation")), body, as_of_control=True)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
