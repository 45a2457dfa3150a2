"""What a page needs to know about the session: which database, who is looking,
which scenario. Set by app.py; read by every page. Also the process's one
`Database` per URL (Streamlit's resource cache, shared by every session) and the
audit entry a page view assembles while it runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.scriptrunner import RerunException, StopException, get_script_run_ctx

from dashboard.figures.scenarios import ScenarioInfo
from dashboard.language import _
from dashboard.rules import access, audit
from dashboard.rules.access import Viewer
from dashboard.store.db import Database
from dashboard.tools.generate import ensure_demo_database

KEY = "sitroom_context"


@st.cache_resource(show_spinner=False)
def database(url: str) -> Database:
    """The read-only Database for `url`, one per process, the embedded demo built on
    first start. Failures raise and are not cached, so the next rerun tries again
    once the database is back. (app.py opens it first, under a spinner in the reader's
    language: a spinner given here would be fixed, in English, when the module loads.)"""
    ensure_demo_database(url)
    opened = Database.open(url)
    _opened.add(url)
    return opened


_opened: set[str] = set()  # the URLs `database` has opened in this process


def opened_before(url: str) -> bool:
    """Whether `database(url)` has opened it already in this process (no wait to show)."""
    return url in _opened


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
        st.warning(_("Choose who you are first: open the dashboard's start page."))
        st.stop()
    if not access.may_open(context.viewer.role, page):
        # Translators: {role} is the role's code (committee, consular, coordinator, admin).
        st.error(_("The {role} role cannot open this page.").format(role=context.viewer.role))
        st.stop()
    return context


# --- the audit log (docs/design.md §2.8) ------------------------------------------------------
#
# A page view is one line: page_start opens it (begin_view), the page notes its filters
# and the rows about people it showed, and the line is written when the page's body is
# done (`audited`, or app.py's finish_view for a page without a body). A page's body
# runs in a fragment (components/page.py, live) that Streamlit reruns alone, without
# page_start or app.py, when its timer fires or a widget inside it changes, such as
# My nationals' search: `audited` opens the fragment's own line then. A rerun that
# shows the reader nothing new (the same page, filters and rows as the session's last
# line) writes none: the refresh timer, a reload, and a full rerun for a sidebar
# change would otherwise write the same view again and again. The same view is
# written again after an hour, so a page left open stays on record.

AUDIT_KEY = "sitroom_audit_entry"
PAGE_KEY = "sitroom_audit_page"   # the page the session is on, for its fragment's reruns
LAST_KEY = "sitroom_audit_last"   # (what the last view line said, when it was written)
SAME_VIEW_AGAIN_S = 3600
# The opening view of the session's last Map (components/map.py), forgotten at sign-out.
MAP_VIEW_KEY = "sitroom_map_view"
_clock = time.monotonic

# The data grid's own toolbar downloads its rows as CSV, and copies cells, with no audit
# line and no EXERCISE marking: off for every table (the exports are the buttons of
# components.tables.export).
# Streamlit tells the browser at the start of every run; .streamlit/config.toml can say
# it before the first one.
st.set_option("client.disableDataExport", True)


def begin_view(page: str) -> audit.Entry:
    """Start the audit entry of this page view; it is written when the page is done."""
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


def _fragment_rerun() -> bool:
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


@contextmanager
def audited(context: Context) -> Iterator[audit.Entry]:
    """Run a page's body as one audited view: in a full run, the view page_start began;
    in a fragment rerun, a view of its own. Written when the body is done, or stopped
    (st.stop, st.rerun) after showing what it showed; not when it fails."""
    entry = current_view()
    if entry is None or _fragment_rerun():
        try:
            entry = begin_view(current_page())
        except audit.AuditUnavailable as exc:  # nothing shown without a record
            st.error(exc.shown(), icon=":material/error:")
            st.stop()
    try:
        yield entry
    except (StopException, RerunException):
        _finish_in_body(context.viewer)
        raise
    _finish_in_body(context.viewer)


def _finish_in_body(viewer: Viewer) -> None:
    try:
        finish_view(viewer)
    except audit.AuditUnavailable as exc:
        st.error(exc.shown(), icon=":material/error:")
        st.stop()


def _sign_in() -> object:
    """What the session's sign-in holds: a new sign-in is a new view, whatever it shows."""
    from components.signin import SESSION  # signin imports this module

    return st.session_state.get(SESSION)


def finish_view(viewer: Viewer) -> None:
    """Write the page view to the audit log, unless the session's last line said the
    same less than an hour ago (called when the page's body is done, and by app.py
    after the page ran)."""
    entry = st.session_state.pop(AUDIT_KEY, None)
    if not isinstance(entry, audit.Entry):
        return
    said = json.dumps([viewer.user, viewer.role, list(viewer.nationalities),
                       viewer.scenario_id, _sign_in(), entry.page, entry.action,
                       entry.filters, entry.rows_shown], sort_keys=True, default=str)
    last = st.session_state.get(LAST_KEY)
    now = _clock()
    if isinstance(last, tuple) and last[0] == said and now - last[1] < SAME_VIEW_AGAIN_S:
        return
    audit.record(viewer, entry)
    st.session_state[LAST_KEY] = (said, now)
