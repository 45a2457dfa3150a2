"""Audit: who looked at what, for the data protection lead (docs/design.md §2.8)."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from components.page import page_start
from components.session import note_filters
from components.signin import load_accounts
from components.tables import csv_export
from dashboard.rules import audit, users


def render() -> None:
    context = page_start("audit", "Audit log")
    st.write("Every page view and export, newest first, with who looked, their role, the "
             "filters they chose and how many rows about people they were shown. Times are UTC.")

    options = audit.choices()
    any_ = "All"
    cols = st.columns(5)
    user = cols[0].selectbox("User", [any_, *options["user"]], key="audit-user")
    role = cols[1].selectbox("Role", [any_, *options["role"]], key="audit-role")
    page = cols[2].selectbox("Page", [any_, *options["page"]], key="audit-page")
    action = cols[3].selectbox("Action", [any_, *options["action"]], key="audit-action")
    today = datetime.now(UTC).date()
    days = cols[4].date_input("Dates (UTC)", (today - timedelta(days=7), today), key="audit-dates")
    since, until = (days[0], days[-1]) if isinstance(days, tuple) and days else (None, None)
    chosen = {"user": user, "role": role, "page": page, "action": action}
    note_filters(**{k: v for k, v in chosen.items() if v != any_}, since=since, until=until)

    log = audit.search(**{k: (None if v == any_ else v) for k, v in chosen.items()},
                       since=since, until=until)
    st.caption(f"{len(log):,} lines" + (" (the newest 5,000)" if len(log) >= 5000 else ""))
    st.dataframe(log, hide_index=True, width="stretch", column_config={
        "at_utc": "time (UTC)", "scenario_id": "scenario", "rows_shown": "rows shown"})
    csv_export(context, log, "audit-log.csv")

    with st.expander("Users who may sign in"):
        try:
            st.dataframe(users.listing(load_accounts(context.database)), hide_index=True,
                         width="stretch")
        except users.UsersError as exc:
            st.warning(str(exc))
