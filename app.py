"""Situation Room: the entrypoint. Opens the database, signs the reader in,
picks the scenario, builds the page list for the role and runs the page."""

from __future__ import annotations

import importlib
import logging
from contextlib import nullcontext

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components import language as reading
from components import map as deck
from components import projector, session, signin
from components.page import AUTO_REFRESH_KEY, cannot_show, reconnect_later, refresh_seconds
from components.session import Context, finish_view, set_context
from components.status import said
from dashboard import config
from dashboard.contract import schema
from dashboard.figures import scenarios, warmup
from dashboard.language import _
from dashboard.rules import access, audit
from dashboard.rules.access import Viewer
from dashboard.store import db
from dashboard.store.db import Database

log = logging.getLogger("sitroom")
# The second wall: whatever reaches a log, from any library, has the password of a
# database URL blanked (the first is that the code shows URLs through db.describe).
config.redact_logs()
# The tab's icon from this server: a Material icon would be fetched from Google's fonts,
# which an offline deployment cannot reach and which would learn who uses the dashboard.
st.set_page_config(page_title="Situation Room", page_icon=str(config.PROJECT_ROOT / "components"
                                                              / "tab-icon.png"), layout="wide")


def pages() -> dict[str, st.Page]:
    """Every page, titled in the reader's language (so built on every run).

    Each page is a function, `pages/<key>.py: render`, never a script: Streamlit runs a
    pages/ folder's scripts by themselves (without this entrypoint's sign-in) until some
    session has called st.navigation, and a module that only defines functions shows
    nothing when run that way."""
    return {key: st.Page(importlib.import_module(f"pages.{key}").render, title=_(spec.title),
                         icon=spec.icon, url_path=key.replace("_", "-"))
            for key, spec in access.PAGES.items()}


def open_database(url: str) -> Database:
    building = config.is_demo_url(url) and not config.demo_db_path().exists()
    try:
        if building:
            with st.spinner(_("First start: building the synthetic demo database…")):
                return session.database(url)
        if not session.opened_before(url):
            with st.spinner(_("Opening the database…")):
                return session.database(url)
        return session.database(url)
    except (db.DatabaseUnavailable, schema.SchemaMismatch) as exc:
        st.title("Situation Room")
        st.error(said(exc), icon=":material/error:")
        reconnect_later(refresh_seconds())
        st.stop()


def signed_out() -> list:
    """While signed out every page URL leads to an empty page under the sign-in form:
    no page runs, and after signing in the reader is on the page they asked for."""
    def nothing() -> None:
        pass

    return [st.Page(nothing, title=_("Sign in"), default=True)] + [
        st.Page(nothing, title=_("Sign in"), url_path=key.replace("_", "-"))
        for key in access.PAGES]


def same_ids_on_every_run():
    """Draw what comes before the page (the sign-in form, the sidebar) under the same
    widget ids on every run.

    While no session has called st.navigation yet, Streamlit runs the entrypoint as
    a page of the pages/ folder (the first run after a start, and every AppTest run),
    and ids made before st.navigation then differ from a later run's: the first
    reader after a start pressed Sign in and was shown the empty form again."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return nullcontext()
    return ctx.run_with_active_hash(ctx.pages_manager.main_script_hash)


def main() -> None:
    deck.open_slot()  # first: the map's one place on every run
    url = config.db_url()
    try:
        with warmup.page_run(url):
            run()
    finally:
        deck.close_slot(lambda: warmup.first_count_under_way(url),
                        signed_in=isinstance(st.session_state.get(session.KEY), Context))


def run() -> None:
    url = config.db_url()
    reading.start()  # first: every word below is in the reader's language
    reading.direction()
    projector.current()  # read from the address on the session's first run, before sign-in
    database = open_database(url)
    warmup.start(database)  # signed in or not: the first reader signs in meanwhile
    account = signin.signed_in_account(url)
    if account is None:
        st.navigation(signed_out(), position="hidden").run()
        return
    reading.adopt_account_default(account.language)
    try:
        available = scenarios.list_scenarios(database)
    except (db.DatabaseUnavailable, schema.SchemaMismatch) as exc:
        cannot_show(exc, refresh_seconds())
        reconnect_later(refresh_seconds())
        st.stop()
    if not available:
        st.warning(_("The database holds no scenario yet."))
        st.stop()

    st.sidebar.title("Situation Room")
    by_id = {s.id: s for s in available}
    labels = {i: s.label for i, s in by_id.items()}  # in the reader's language, now
    scenario = by_id[st.sidebar.selectbox(_("Scenario"), list(by_id), key="scenario",
                                          format_func=labels.__getitem__)]
    st.sidebar.toggle(_("Auto-refresh"), value=True, key=AUTO_REFRESH_KEY,
                      help=_("Pages update themselves every {seconds} s, keeping your "
                             "filters. Pause it to study a figure.").format(
                                 seconds=refresh_seconds()))
    reading.switch()
    viewer = Viewer(user=account.username, role=account.role, scenario_id=scenario.id,
                    nationalities=account.nationalities)
    shown_as = projector.sidebar_controls()
    signin.sidebar_identity(account)
    set_context(Context(db_url=url, viewer=viewer, scenario=scenario))

    every = pages()
    shown = [every[name] for name in access.pages_for(viewer.role)]
    page = st.navigation(shown)
    projector.apply(shown_as, shown, page, url)
    try:
        page.run()
        finish_view(viewer)
    except (db.DatabaseUnavailable, schema.SchemaMismatch) as exc:
        cannot_show(exc, refresh_seconds())
        reconnect_later(refresh_seconds())
    except audit.AuditUnavailable as exc:
        st.error(said(exc), icon=":material/error:")
    except Exception:  # a reader gets a message, the operator the traceback
        log.exception("page %s failed for role %s", page.title, viewer.role)
        st.error(_("The {page} page stopped on an unexpected problem; it has been logged "
                   "for the operators. Other pages still work.").format(page=page.title),
                 icon=":material/error:")


with same_ids_on_every_run():
    main()
