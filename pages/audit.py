"""Audit: who looked at what, for the data protection lead (docs/design.md §2.8)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from components.page import page_start
from components.session import note_filters
from components.signin import load_accounts
from components.tables import export
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules import audit, users

EVERY_SCENARIO = "every"
EVERY_SCENARIO_HEADING = (
    "# Audit log of every scenario: live and exercise lines together (the scenario_id "
    "column says which scenario each line is about); each line is a real reader's view or "
    "export")


def render() -> None:
    context = page_start("audit", "Audit log")
    st.write("Every page view and export, newest first, with who looked, their role, the "
             "filters they chose and how many rows about people they were shown. Times are UTC.")

    audit.purge_due()  # lines past SITROOM_AUDIT_DAYS are never shown
    options = audit.choices()
    by_id = {s.id: s for s in list_scenarios(context.database)}
    any_ = "All"
    cols = st.columns(6)
    user = cols[0].selectbox("User", [any_, *options["user"]], key="audit-user")
    role = cols[1].selectbox("Role", [any_, *options["role"]], key="audit-role")
    page = cols[2].selectbox("Page", [any_, *options["page"]], key="audit-page")
    action = cols[3].selectbox("Action", [any_, *options["action"]], key="audit-action")
    # The session's scenario by default, as on every page: an exercise's lines apart from
    # the live ones, so that its export is marked EXERCISE over its own lines only.
    scenario_choices = [EVERY_SCENARIO, *by_id]
    scenario = cols[4].selectbox(
        "Scenario", scenario_choices, key="audit-scenario",
        index=scenario_choices.index(context.scenario.id) if context.scenario.id in by_id else 0,
        format_func=lambda s: "All scenarios" if s == EVERY_SCENARIO else by_id[s].label)
    today = datetime.now(UTC).date()
    days = cols[5].date_input("Dates (UTC)", (today - timedelta(days=7), today), key="audit-dates")
    since, until = (days[0], days[-1]) if isinstance(days, tuple) and days else (None, None)
    chosen = {"user": user, "role": role, "page": page, "action": action}
    note_filters(**{k: v for k, v in chosen.items() if v != any_}, scenario=scenario,
                 since=since, until=until)

    one = by_id.get(scenario) if scenario != EVERY_SCENARIO else None
    log = audit.search(**{k: (None if v == any_ else v) for k, v in chosen.items()},
                       since=since, until=until, scenario_id=one.id if one else None)
    st.caption(f"{len(log):,} lines" + (" (the newest 5,000)" if len(log) >= 5000 else ""))
    st.dataframe(log, hide_index=True, width="stretch", column_config={
        "at_utc": "time (UTC)", "scenario_id": "scenario", "rows_shown": "rows shown"})
    if one is not None:
        export(context, log, f"audit-log-scenario-{one.id}", scenario=one)
    else:
        export(context, log, "audit-log", heading=EVERY_SCENARIO_HEADING)

    with st.expander("Users who may sign in"):
        try:
            accounts = pd.DataFrame(users.listing(load_accounts(context.database)))
            st.dataframe(accounts, hide_index=True, width="stretch")
            export(context, accounts, "accounts", heading="# Accounts of this installation")
        except users.UsersError as exc:
            st.warning(str(exc))
