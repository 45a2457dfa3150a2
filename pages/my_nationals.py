"""My nationals: a consular liaison's own consenting nationals, person by person."""

import streamlit as st

from components.page import live, page_start
from components.tables import csv_export, person_table
from dashboard import people, vocab
from dashboard.session import note_filters

context = page_start("my_nationals", "My nationals")


def body(as_of) -> None:
    viewer = context.viewer
    st.caption(f"Your consenting nationals who are not under international protection: "
               f"{', '.join(viewer.nationalities)}")

    choices = people.options(context.db_url, viewer)
    show = st.segmented_control("Show", list(people.SHOW), default="all",
                                format_func=people.SHOW.get, key="nationals-show") or "all"
    search = st.text_input("Search by name or registration reference", key="nationals-search")
    a, b, c, d, e = st.columns(5)
    filters = people.Filters(
        show=show,
        search=search,
        statuses=tuple(a.multiselect("Status", list(vocab.PERSON_STATUSES),
                                     key="nationals-status")),
        areas=tuple(b.multiselect("Area", choices["areas"], key="nationals-area")),
        facilities=tuple(c.multiselect("Facility", choices["facilities"],
                                       key="nationals-facility")),
        documents=tuple(d.multiselect("Documents", list(vocab.DOCUMENTS),
                                      key="nationals-documents")),
        stages=tuple(e.multiselect("Evacuation stage",
                                   [people.NO_CASE, *vocab.ALL_EVACUATION_STAGES],
                                   key="nationals-stage")),
    )
    note_filters(**filters.as_audit())
    data = people.nationals(context.db_url, viewer, filters)

    for column, (label, value) in zip(st.columns(4), [
            ("My nationals", data.total), ("Missing", data.missing),
            ("Need an emergency travel document", data.travel_document),
            ("Matching the filters", data.matching)], strict=True):
        column.metric(label, f"{value:,}", border=True)

    if data.rows.empty:
        st.info("Nobody matches these filters.")
        st.stop()
    if data.matching > len(data.rows):
        st.warning(f"Showing the first {len(data.rows):,} of {data.matching:,} matching persons "
                   "(missing first, then by name). Narrow the filters to see the others.")
    person_table(data.rows, height=560, column_config={
        "needs_travel_document": st.column_config.CheckboxColumn("Needs travel document"),
        "movement_departs": st.column_config.DatetimeColumn("Movement departs",
                                                            format="D MMM, HH:mm"),
        "updated_at": st.column_config.DatetimeColumn("Updated", format="D MMM, HH:mm"),
    })
    csv_export(context, data.rows, "my-nationals.csv",
               label=f"Download these {len(data.rows):,} rows (CSV)")
    st.caption("The download holds exactly the rows shown above.")


live(context, body)
