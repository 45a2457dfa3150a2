"""What a page needs to know about the session: which database, who is looking,
which scenario. Set by app.py; read by every page. Also the process's one
`Database` per URL (Streamlit's resource cache, shared by every session) and the
audit entry a page view assembles while it runs."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard.figures.scenarios import ScenarioInfo
from dashboard.rules import access, audit
from dashboard.rules.access import Viewer
from dashboard.store.db import Database
from dashboard.tools.generate import ensure_demo_database

KEY = "sitroom_context"


@st.cache_resource(show_spinner="Opening the database…")
def database(url: str) -> Database:
    """The read-only Database for `url`, one per process, the embedded demo built on
    first start. Failures raise and are not cached, so the next rerun tries again
    once the database is back."""
    ensure_demo_database(url)
    return Database.open(url)


@dataclass(frozen=True)
class Context:
    db_url: str
    viewer: Viewer
    scenario: ScenarioInfo

    @property
    def database(self) -> Database:
        return database(self.db_url)


def set_context(context: Context) -> None:
    st.session_state[KEY] = context


def require_page(page: str) -> Context:
    """The session's context, if its viewer may open `page`; otherwise say so and stop.

    Pages call this first, so a page reached any other way than through the
    navigation built for the role still shows nothing it should not.
    """
    context = st.session_state.get(KEY)
    if not isinstance(context, Context):
        st.warning("Choose who you are first: open the dashboard's start page.")
        st.stop()
    if not access.may_open(context.viewer.role, page):
        st.error(f"The {context.viewer.role} role cannot open this page.")
        st.stop()
    return context


AUDIT_KEY = "sitroom_audit_entry"
PAGE_KEY = "sitroom_audit_page"   # the page the session is on, for its fragment's reruns

# The data grid's own toolbar downloads its rows as CSV, and copies cells, with no audit
# line and no EXERCISE marking: off for every table (exports are csv_export's buttons).
# Streamlit tells the browser at the start of every run; .streamlit/config.toml can say
# it before the first one.
st.set_option("client.disableDataExport", True)


def begin_view(page: str) -> audit.Entry:
    """Start the audit entry of this page view; app.py writes it when the page is done."""
    audit.ensure_writable()
    entry = audit.Entry(page=page)
    st.session_state[AUDIT_KEY] = entry
    st.session_state[PAGE_KEY] = page
    return entry


def current_view() -> audit.Entry | None:
    entry = st.session_state.get(AUDIT_KEY)
    return entry if isinstance(entry, audit.Entry) else None


def current_page() -> str:
    """The page the session is on, as the audit log names it."""
    entry = current_view()
    return entry.page if entry else str(st.session_state.get(PAGE_KEY, "unknown"))


def note_filters(**filters) -> None:
    """Record the filters the reader chose, for the audit log."""
    entry = current_view()
    if entry is not None:
        entry.filters.update(filters)


def note_rows(n: int) -> None:
    """Record rows about people shown to the reader, for the audit log."""
    entry = current_view()
    if entry is not None:
        entry.rows_shown += int(n)


def finish_view(viewer: Viewer) -> None:
    """Write the page view to the audit log (called by app.py after the page ran)."""
    entry = st.session_state.pop(AUDIT_KEY, None)
    if isinstance(entry, audit.Entry):
        audit.record(viewer, entry)
