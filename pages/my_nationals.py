"""My nationals: a consular liaison's own consenting nationals, person by person."""

import streamlit as st

from components.page import live, page_start
from components.session import Context, audited, note_filters
from components.tables import export, person_table
from dashboard.contract import labels, vocab
from dashboard.figures import people

OVERDUE_KEY = "nationals-overdue"


def content(context: Context, as_of) -> None:
    viewer = context.viewer
    st.caption(f"Your consenting nationals who are not under international protection: "
               f"{', '.join(viewer.nationalities)}")

    choices = people.options(context.database, viewer, as_of)
    show = st.segmented_control("Show", list(people.SHOW), default="all",
                                format_func=people.SHOW.get, key="nationals-show") or "all"
    search_col, overdue_col = st.columns([4, 1], vertical_alignment="bottom")
    search = search_col.text_input("Search by name or registration reference",
                                   key="nationals-search")
    if OVERDUE_KEY not in st.session_state:  # a link from Referrals opens this filter
        st.session_state[OVERDUE_KEY] = st.query_params.get("overdue") == "1"
    overdue = overdue_col.toggle("Has an overdue referral", key=OVERDUE_KEY,
                                 help="A consular, documentation, evacuation or family-tracing "
                                      "referral still awaiting its receiver past its deadline")
    a, b, c, d, e = st.columns(5)
    filters = people.Filters(
        show=show,
        search=search,
        overdue_referral=overdue,
        statuses=tuple(a.multiselect("Status", list(vocab.PERSON_STATUSES),
                                     format_func=lambda s: labels.word(s, labels.PERSON_STATUS),
                                     key="nationals-status")),
        areas=tuple(b.multiselect("Area", choices["areas"], key="nationals-area")),
        facilities=tuple(c.multiselect("Facility", choices["facilities"],
                                       key="nationals-facility")),
        documents=tuple(d.multiselect("Documents", list(vocab.DOCUMENTS),
                                      format_func=lambda s: labels.word(s, labels.DOCUMENT),
                                      key="nationals-documents")),
        stages=tuple(e.multiselect("Evacuation stage",
                                   [people.NO_CASE, *vocab.ALL_EVACUATION_STAGES],
                                   format_func=lambda s: labels.word(s, labels.EVACUATION_STAGE),
                                   key="nationals-stage")),
    )
    note_filters(**filters.as_audit())
    pages = max(1, -(-people.nationals(context.database, viewer, filters, as_of).matching
                     // people.ROW_LIMIT))
    page = 0
    if pages > 1:
        page = st.number_input(f"Page (of {pages:,}, {people.ROW_LIMIT:,} rows each)",
                               min_value=1, max_value=pages, step=1,
                               key="nationals-page") - 1
    data = people.nationals(context.database, viewer, filters, as_of, page)
    if pages > 1:  # which of the matching persons were shown
        note_filters(page=page + 1)
    if data.as_of is not None:
        note_filters(as_of=data.as_of.isoformat(timespec="minutes"))
        st.caption(f"As of {data.as_of:%d %b %Y, %H:%M} UTC: status, facility, area and last "
                   "change as the history has them then; only persons registered by then. "
                   "Documents, evacuation case and movement have no history here: they are "
                   "today's, and so is who needs a travel document.")

    for column, (label, value) in zip(st.columns(4), [
            ("My nationals", data.total), ("Missing", data.missing),
            ("Need an emergency travel document", data.travel_document),
            ("Matching the filters", data.matching)], strict=True):
        column.metric(label, f"{value:,}", border=True)

    if data.rows.empty:
        st.info("Nobody matches these filters.")
        return
    if data.matching > len(data.rows):
        first = data.page * people.ROW_LIMIT + 1
        st.info(f"Rows {first:,}–{first + len(data.rows) - 1:,} of {data.matching:,} matching "
                "persons (missing first, then by name): turn the page above, or narrow the "
                "filters.")
    person_table(data.rows, {"status": labels.PERSON_STATUS}, height=560, column_config={
        "as_of": st.column_config.DatetimeColumn("As of", format="D MMM YYYY, HH:mm"),
        "needs_travel_document": st.column_config.CheckboxColumn("Needs travel document"),
        "overdue_referral": st.column_config.CheckboxColumn("Overdue referral"),
        "age": st.column_config.NumberColumn("Age", format="%d"),
        "movement_departs": st.column_config.DatetimeColumn("Movement departs",
                                                            format="D MMM, HH:mm"),
        "updated_at": st.column_config.DatetimeColumn("Updated", format="D MMM, HH:mm"),
    })
    if data.as_of is None:
        export(context, data.rows, "my-nationals", f"Download these {len(data.rows):,} rows",
               codes={"status": labels.PERSON_STATUS})
        st.caption("The download holds exactly the rows shown above.")
    else:
        export(context, data.rows, f"my-nationals-as-of-{data.as_of:%Y-%m-%d-%H%M}",
               f"Download these {len(data.rows):,} rows as of {data.as_of:%d %b %H:%M}",
               codes={"status": labels.PERSON_STATUS})
        st.caption("The download holds exactly the rows shown above, with the moment they "
                   "show in its name and first column.")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("my_nationals", "My nationals"), body, as_of_control=True)
