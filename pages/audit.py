"""Audit: who looked at what, for the data protection lead (docs/design.md §2.8)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from components.page import opened_as_a_script, page_start
from components.session import note_filters
from components.signin import load_accounts
from components.tables import as_moments, export, moment_format, table
from dashboard import language
from dashboard.figures.scenarios import list_scenarios
from dashboard.language import N_, _
from dashboard.rules import audit, users

EVERY_SCENARIO = "every"
ANY = "All"  # the filters' choice of any value (shown in the reader's language)
# The first line of the file of every scenario's lines, after "# ".
EVERY_SCENARIO_HEADING = N_(
    "Audit log of every scenario: live and exercise lines together (the scenario_id "
    "column says which scenario each line is about); each line is a real reader's view or "
    "export")
MAX_LINES = 5000


def choices_of(values: list[str]) -> tuple[list[str], dict[str, str]]:
    """A filter's choices, "All" first, and how each is offered (the log's values as
    they are): a look-up, so that it says the same whenever Streamlit asks."""
    offered = [ANY, *values]
    return offered, {v: _("All") if v == ANY else v for v in offered}


def log_headings() -> dict[str, str]:
    """The audit log's columns as the page heads them, in the reader's language."""
    # Translators: headings of the audit log's columns, lower case as written.
    return {"at_utc": _("time (UTC)"), "user": _("user"), "role": _("role"),
            "nationalities": _("nationalities"), "scenario_id": _("scenario"),
            "page": _("page"), "action": _("action"), "filters": _("filters"),
            "rows_shown": _("rows shown")}


def render() -> None:
    context = page_start("audit", N_("Audit log"))
    st.write(_("Every page view and export, newest first, with who looked, their role, the "
               "filters they chose and how many rows about people they were shown. Times are "
               "UTC."))

    audit.purge_due()  # lines past SITROOM_AUDIT_DAYS are never shown
    options = audit.choices()
    by_id = {s.id: s for s in list_scenarios(context.database)}
    any_ = ANY
    cols = st.columns(6)
    chosen = {}
    for column, (name, label) in zip(cols, (("user", _("User")), ("role", _("Role")),
                                            ("page", _("Page")), ("action", _("Action"))),
                                     strict=False):
        offered, shown = choices_of(options[name])
        chosen[name] = column.selectbox(label, offered, key=f"audit-{name}",
                                        format_func=shown.__getitem__)
    # The session's scenario by default, as on every page: an exercise's lines apart from
    # the live ones, so that its export is marked EXERCISE over its own lines only.
    scenario_choices = [EVERY_SCENARIO, *by_id]
    scenario_names = {EVERY_SCENARIO: _("All scenarios"),
                      **{s: info.label for s, info in by_id.items()}}
    scenario = cols[4].selectbox(
        _("Scenario"), scenario_choices, key="audit-scenario",
        index=scenario_choices.index(context.scenario.id) if context.scenario.id in by_id else 0,
        format_func=scenario_names.__getitem__)
    today = datetime.now(UTC).date()
    days = cols[5].date_input(_("Dates (UTC)"), (today - timedelta(days=7), today),
                              key="audit-dates")
    since, until = (days[0], days[-1]) if isinstance(days, tuple) and days else (None, None)
    note_filters(**{k: v for k, v in chosen.items() if v != any_}, scenario=scenario,
                 since=since, until=until)

    one = by_id.get(scenario) if scenario != EVERY_SCENARIO else None
    log = audit.search(**{k: (None if v == any_ else v) for k, v in chosen.items()},
                       since=since, until=until, scenario_id=one.id if one else None,
                       limit=MAX_LINES)
    count = language.ngettext("{count} line", "{count} lines", len(log)).format(
        count=language.number(len(log)))
    if len(log) >= MAX_LINES:
        count += " " + _("(the newest {count})").format(count=language.number(MAX_LINES))
    st.caption(count)
    # to the second, in UTC as the log is kept; the file keeps the log's own ISO text
    shown = log.assign(at_utc=as_moments(log["at_utc"]))
    config: dict = log_headings()
    if pd.api.types.is_datetime64_any_dtype(shown["at_utc"]):
        config["at_utc"] = st.column_config.DatetimeColumn(
            config["at_utc"], format=moment_format(year=True, seconds=True), timezone="UTC")
    table(shown, column_config=config)  # its columns from the right in Arabic, as every grid
    if one is not None:
        export(context, log, f"audit-log-scenario-{one.id}", scenario=one)
    else:
        export(context, log, "audit-log", heading="# " + _(EVERY_SCENARIO_HEADING))

    with st.expander(_("Users who may sign in")):
        try:
            accounts = pd.DataFrame(users.listing(load_accounts(context.db_url)))
            # Translators: headings of the accounts' table, lower case as written.
            table(accounts, column_config={
                "user": _("user"), "name": _("name"), "role": _("role"),
                "nationalities": _("nationalities")})
            export(context, accounts, "accounts",
                   heading="# " + _("Accounts of this installation"))
        except users.UsersError as exc:
            st.warning(str(exc))


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
