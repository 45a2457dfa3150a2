"""My nationals: a consular liaison's own consenting nationals, person by person."""


import streamlit as st

from components.page import live, opened_as_a_script, page_start
from components.session import Context, audited, note_filters
from components.tables import export, moment_format, person_table
from dashboard import language
from dashboard.contract import labels, vocab
from dashboard.figures import people
from dashboard.language import _

OVERDUE_KEY = "nationals-overdue"


def _stage(code: str) -> str:
    return _(people.NO_CASE) if code == people.NO_CASE else labels.word(code,
                                                                         labels.EVACUATION_STAGE)


def content(context: Context, as_of) -> None:
    viewer = context.viewer
    # Translators: {nationalities} is a list of country codes, such as "ETH, KEN"
    st.caption(_("Your consenting nationals who are not under international protection: "
                 "{nationalities}").format(nationalities=", ".join(viewer.nationalities)))

    choices = people.options(context.database, viewer, as_of)
    show = st.segmented_control(_("Show"), list(people.SHOW), default="all",
                                format_func=lambda k: _(people.SHOW[k]),
                                key="nationals-show") or "all"
    search_col, overdue_col = st.columns([4, 1], vertical_alignment="bottom")
    search = search_col.text_input(_("Search by name or registration reference"),
                                   key="nationals-search")
    if OVERDUE_KEY not in st.session_state:  # a link from Referrals opens this filter
        st.session_state[OVERDUE_KEY] = st.query_params.get("overdue") == "1"
    overdue = overdue_col.toggle(_("Has an overdue referral"), key=OVERDUE_KEY,
                                 help=_("A consular, documentation, evacuation or family-tracing "
                                        "referral still awaiting its receiver past its deadline"))
    a, b, c, d, e = st.columns(5)
    anything, nothing = _("Choose options"), _("No options to select")  # Streamlit's own
    filters = people.Filters(
        show=show,
        search=search,
        overdue_referral=overdue,
        statuses=tuple(a.multiselect(_("Status"), list(vocab.PERSON_STATUSES),
                                     format_func=lambda s: labels.word(s, labels.PERSON_STATUS),
                                     placeholder=anything, key="nationals-status")),
        areas=tuple(b.multiselect(_("Area"), choices["areas"],
                                  placeholder=anything if choices["areas"] else nothing,
                                  key="nationals-area")),
        facilities=tuple(c.multiselect(_("Facility"), choices["facilities"],
                                       placeholder=anything if choices["facilities"] else nothing,
                                       key="nationals-facility")),
        documents=tuple(d.multiselect(_("Documents"), list(vocab.DOCUMENTS),
                                      format_func=lambda s: labels.word(s, labels.DOCUMENT),
                                      placeholder=anything, key="nationals-documents")),
        stages=tuple(e.multiselect(_("Evacuation stage"),
                                   [people.NO_CASE, *vocab.ALL_EVACUATION_STAGES],
                                   format_func=_stage, placeholder=anything,
                                   key="nationals-stage")),
    )
    note_filters(**filters.as_audit())
    pages = max(1, -(-people.nationals(context.database, viewer, filters, as_of).matching
                     // people.ROW_LIMIT))
    page = 0
    if pages > 1:
        page = st.number_input(_("Page (of {pages}, {rows} rows each)").format(
                                   pages=language.number(pages),
                                   rows=language.number(people.ROW_LIMIT)),
                               min_value=1, max_value=pages, step=1,
                               key="nationals-page") - 1
    data = people.nationals(context.database, viewer, filters, as_of, page)
    if pages > 1:  # which of the matching persons were shown
        note_filters(page=page + 1)
    if data.as_of is not None:
        note_filters(as_of=data.as_of.isoformat(timespec="minutes"))
        st.caption(_("As of {moment}: status, facility, area and last change as the history "
                     "has them then; only persons registered by then. Documents, evacuation "
                     "case and movement have no history here: they are today's, and so is who "
                     "needs a travel document.").format(moment=language.moment(data.as_of)))

    for column, (label, value) in zip(st.columns(4), [
            (_("My nationals"), data.total), (_("Missing"), data.missing),
            (_("Need an emergency travel document"), data.travel_document),
            (_("Matching the filters"), data.matching)], strict=True):
        column.metric(label, language.number(value), border=True)

    if data.rows.empty:
        st.info(_("Nobody matches these filters."))
        return
    if data.matching > len(data.rows):
        first = data.page * people.ROW_LIMIT + 1
        st.info(_("Rows {first}–{last} of {matching} matching persons (missing first, then by "
                  "name): turn the page above, or narrow the filters.").format(
            first=language.number(first), last=language.number(first + len(data.rows) - 1),
            matching=language.number(data.matching)))
    person_table(data.rows, {"status": labels.PERSON_STATUS}, height=560, column_config={
        "as_of": st.column_config.DatetimeColumn(_("As of"), format=moment_format(year=True)),
        "needs_travel_document": st.column_config.CheckboxColumn(_("Needs travel document")),
        "overdue_referral": st.column_config.CheckboxColumn(_("Overdue referral")),
        "age": st.column_config.NumberColumn(_("Age"), format="%d"),
        "movement_departs": st.column_config.DatetimeColumn(_("Movement departs"),
                                                            format=moment_format()),
        "updated_at": st.column_config.DatetimeColumn(_("Updated"), format=moment_format()),
    })
    rows = language.number(len(data.rows))
    if data.as_of is None:
        export(context, data.rows, "my-nationals",
               _("Download these {rows} rows").format(rows=rows),
               codes={"status": labels.PERSON_STATUS})
        st.caption(_("The download holds exactly the rows shown above."))
    else:
        export(context, data.rows, f"my-nationals-as-of-{data.as_of:%Y-%m-%d-%H%M}",
               _("Download these {rows} rows as of {moment}").format(
                   rows=rows, moment=language.brief(data.as_of)),
               codes={"status": labels.PERSON_STATUS})
        st.caption(_("The download holds exactly the rows shown above, with the moment they "
                     "show in its name and first column."))


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("my_nationals", _("My nationals")), body, as_of_control=True)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
