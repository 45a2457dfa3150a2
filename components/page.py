"""The frame of every page: who may see it, the EXERCISE banner, the title, and a
body that refreshes itself with its "data as of" line, checking the session first."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components import language as reading
from components.session import Context, begin_view, require_page
from components.signin import require_session
from components.status import exercise_banner, freshness_line, said, stale_banner
from dashboard import config, language
from dashboard.contract import schema
from dashboard.figures import scenarios, warmup
from dashboard.language import _
from dashboard.store import cache, db

AUTO_REFRESH_KEY = "auto_refresh"
REFRESH_KEY = "refresh-run"  # set by the refresh timer of a page that runs whole


def opened_as_a_script() -> None:
    """A page's file run by Streamlit as the app: its address was the first thing asked
    of a freshly started server. Until a session has built the navigation, Streamlit
    runs the file under pages/ for such an address, not app.py, and it would show a
    blank page under a list of the folder's files. Hand over to app.py, which signs the
    reader in and builds the navigation."""
    st.switch_page("app.py")


def page_start(page: str, title: str) -> Context:
    """Check the viewer may open `page`, then draw its head. Every page starts here,
    so the EXERCISE marking is on every page (docs/design.md §2.7). `title` is in
    English, marked where it is written (`N_`, or the page's title in access.PAGES),
    and drawn in the reader's language."""
    reading.start()  # app.py has set it already; a page run by itself (tests) sets it here
    context = require_page(page)
    begin_view(page)
    exercise_banner(context.scenario)
    st.title(_(title))
    return context


def refresh_seconds() -> int:
    """Pages refresh as often as query results are reused, so that every refresh can
    bring news and the database sees one query per cached figure per interval."""
    return int(config.get("SITROOM_CACHE_TTL_S"))


AS_OF_KEY, PLAY_KEY = "as-of", "as-of-play"
COUNTING_EVERY_S = 1  # how often a page looks again while the first count is under way
COUNTING_WAIT_S = 0.8  # and how long each look waits for it
FIRST_COUNT_WAIT_S = 3.0  # how long a page waits for it before saying it is under way
PLAY_STEP = timedelta(hours=6)  # scenario time per playback step
PLAY_EVERY_S = 2


def live(context: Context, body: Callable[[Context, datetime], None],
         as_of_control: bool = False, whole_runs: bool = False) -> None:
    """Run the page body in a fragment that reruns by itself every refresh interval,
    without a full rerun and keeping the reader's filters; `body` gets the moment
    to show (with the context). The reader can pause it (sidebar toggle). With `as_of_control`, the
    reader can also pick an earlier moment of the scenario, or play through time.

    Streamlit runs the fragment by itself, without the page script or app.py, when it
    refreshes and when a widget inside it changes; so each run checks the session
    before it sends anything (signed out in another tab, gone from the users file,
    past 12 hours: the sign-in form instead).

    With `whole_runs` the body is no fragment: each refresh and each widget runs the
    whole page, for a body that draws outside its own place (the Map's deck, drawn in
    components.map's slot, which a fragment may not write to)."""
    every = refresh_seconds() if st.session_state.get(AUTO_REFRESH_KEY, True) else None
    if as_of_control and st.session_state.get(PLAY_KEY):
        every = PLAY_EVERY_S
    first_count = warmup.still_counting_after(context.database, context.scenario.id,
                                              FIRST_COUNT_WAIT_S)
    if first_count:  # look again soon, whatever the reader's setting: nothing to study yet
        every = COUNTING_EVERY_S

    def refreshing() -> None:
        require_session(context.db_url)  # first: nothing is sent before it
        reading.start()  # a fragment's run is not the script's: its language again
        started = time.perf_counter()
        database = context.database
        try:  # does it answer, and is it the same file: said below, never raised
            cache.notice_replacement(database)
            database.ping()
        except (db.DatabaseUnavailable, schema.SchemaMismatch):
            pass
        stale_banner(database.health, every)
        if first_count:
            if not warmup.counting(database, context.scenario.id):
                st.rerun()  # counted: the whole page, at its usual refresh interval
            st.info(_("The server started a moment ago and is counting this scenario's "
                      "figures for the first time: about ten seconds at a million "
                      "people. This page fills itself in as soon as they are ready."),
                    icon=":material/hourglass_top:")
            # A run of the timer then waits for the count through most of its interval:
            # the page follows the count's end within a tenth of a second, not a second.
            ctx = get_script_run_ctx()
            if (ctx is not None and ctx.fragment_ids_this_run and not
                    warmup.still_counting_after(database, context.scenario.id, COUNTING_WAIT_S)):
                st.rerun()
            return
        try:
            latest = scenarios.data_as_of(database, context.scenario.id)
            freshness_line(latest, context.scenario.synthetic,
                           updated=database.health.answered_at, every_s=every)
            if latest is not None:
                body(context, _as_of(context, latest) if as_of_control else latest)
        except (db.DatabaseUnavailable, schema.SchemaMismatch) as exc:
            cannot_show(exc, every)
        _log_timing(context, body, started, refresh)

    refresh = bool(st.session_state.pop(REFRESH_KEY, False))  # this run is the timer's
    if whole_runs:
        refreshing()
        if every:
            reconnect_later(every, refresh=True)
    else:
        st.fragment(refreshing, run_every=every)()


def when_opened(label: str, key: str) -> DeltaGenerator | None:
    """A section of a page drawn only while its reader has it open (an expander that
    runs the page's body again when it is opened or closed): for what most visits do
    not need, which each visit would otherwise pay for in the reader's browser. The
    container to draw into while open, None while closed."""
    section = st.expander(label, key=key, on_change="rerun")
    return section if section.open else None


def cannot_show(exc: Exception, every_s: int | None) -> None:
    """What a reader sees where figures the database did not give would have been:
    what is wrong, and that the page tries again by itself (a traceback never)."""
    if isinstance(exc, schema.SchemaMismatch):
        st.error(said(exc), icon=":material/error:")
    else:
        again = (_("The page tries again every {seconds} s by itself.").format(seconds=every_s)
                 if every_s else _("Turn auto-refresh back on, or change a filter, to try "
                                   "again."))
        # Translators: {problem} says why the database cannot be read ("The database did
        # not answer: …"); "it" is the database.
        cannot = _("{problem}. These figures cannot be shown until it is back.").format(
            problem=said(exc).rstrip("."))
        st.error(f"{cannot} {again}", icon=":material/cloud_off:")


def reconnect_later(every_s: int, refresh: bool = False) -> None:
    """After a full run stopped because the database did not answer, run the whole page
    again every `every_s` seconds until it does: a page never waits for a click to
    come back. With `refresh`, the refresh of a page that runs whole (`live`), which
    the timing log tells from a reader's run."""
    @st.fragment(run_every=every_s)
    def retry() -> None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:  # the timer, not the first run
            if refresh:
                st.session_state[REFRESH_KEY] = True
            st.rerun()

    retry()


def _log_timing(context: Context, body: Callable, started: float, refresh: bool) -> None:
    """For benchmarks/bench_sessions.py, which times auto-refresh as readers get it in
    a real browser: one line per run when SITROOM_TIMING_LOG names a file, nothing but
    a look-up otherwise. "fragment" is a run of the body alone (the refresh timer, or
    a widget inside it); "refresh" a whole run the refresh timer asked for (a page
    that runs whole, `live`); "full" any other run of the whole page."""
    log_path = config.get("SITROOM_TIMING_LOG")
    if not log_path:
        return
    ctx = get_script_run_ctx()
    kind = ("fragment" if ctx is not None and ctx.fragment_ids_this_run
            else "refresh" if refresh else "full")
    page = getattr(getattr(body, "__code__", None), "co_filename", "?")
    viewer = context.viewer
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"{time.time():.3f}\t{os.path.basename(page).removesuffix('.py')}"
                  f"\t{viewer.role}\t{','.join(viewer.nationalities) or '-'}"
                  f"\t{context.scenario.id}\t{kind}"
                  f"\t{(time.perf_counter() - started) * 1000:.1f}\n")


def _as_of(context: Context, latest: datetime) -> datetime:
    """The moment to show: the latest data, or an earlier moment the reader picked."""
    start = context.scenario.starts_at
    steps = [start + timedelta(hours=h)
             for h in range(int((latest - start).total_seconds() // 3600) + 1)]
    steps = [t for t in steps if t < latest] + [latest]
    chosen = st.session_state.get(AS_OF_KEY)
    if chosen not in steps:
        chosen = latest
    if st.session_state.get(PLAY_KEY):  # playback: one step on at each run, then stop
        chosen = next((t for t in steps if t >= chosen + PLAY_STEP), latest)
        if chosen == latest:
            st.session_state[PLAY_KEY] = False
    st.session_state[AS_OF_KEY] = chosen
    slider, play = st.columns([6, 1])
    shown = _step_labels(language.current(), tuple(steps))
    slider.select_slider(_("As of (UTC)"), options=steps, key=AS_OF_KEY,
                         format_func=dict(zip(steps, shown, strict=True)).__getitem__)
    hours = int(PLAY_STEP.total_seconds() // 3600)
    play.toggle(_("Play"), key=PLAY_KEY,
                help=language.ngettext("Step through the scenario, {hours} hour at a time",
                                       "Step through the scenario, {hours} hours at a time",
                                       hours).format(hours=language.number(hours)))
    if chosen < latest:
        # Translators: {moment} is a date and time, "22 Nov 2026, 23:59 UTC".
        st.info(_("Showing the situation as it was on {moment}, worked back from the history "
                  "— not the latest data.").format(moment=language.moment(chosen)),
                icon=":material/history:")
    return chosen


@functools.lru_cache(maxsize=64)
def _step_labels(code: str, steps: tuple[datetime, ...]) -> tuple[str, ...]:
    """The "As of" slider's steps as it shows them, in the language `code` (the
    current one): formatted once per language and scenario time, not on every refresh
    (a month of hours is 700 dates). Looked up, not formatted, by the slider's
    format_func, which must say the same whenever it is called."""
    # Translators: the last step of the "As of" slider: the latest data.
    return tuple(_("latest") if at == steps[-1] else language.short_moment(at) for at in steps)


