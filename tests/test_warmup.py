"""The first start: while the server counts a scenario's shared tallies for the first
time, a page says so at once and fills itself in when they are ready, instead of a
blank wait (docs/design.md §6)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import pytest

from components import page
from dashboard import config
from dashboard.figures import demography, tallies, warmup
from dashboard.rules.access import Viewer
from dashboard.store import cache, watermark
from dashboard.store.facts import SharedFacts
from tests.apptest import open_page, shown, start, texts
from tests.conftest import opened
from tests.test_watermark import Statements

COUNTING = "counting this scenario's figures for the first time"


def test_a_page_says_the_first_count_is_under_way_then_shows_its_figures(sqlite_url,
                                                                          monkeypatch):
    database = opened(sqlite_url)
    release = threading.Event()
    under_way = threading.Thread(target=release.wait, name="warm-up", daemon=True)
    under_way.start()
    monkeypatch.setitem(warmup._started, database.url, (database, under_way))  # counting, not done
    monkeypatch.setattr(page, "FIRST_COUNT_WAIT_S", 0.2)
    try:
        at = open_page(sqlite_url, "overview")
        assert not at.exception
        assert COUNTING in texts(at)
        assert not shown(at, "metric"), "no figure before it is counted"

        tallies.now(database, 1)  # the current tallies counted; the history not yet
        at.run()
        assert not at.exception
        assert COUNTING not in texts(at)
        assert at.metric
    finally:
        release.set()


def test_the_overview_is_whole_before_the_history_is_counted(sqlite_url, monkeypatch):
    """On a first start the history takes four times as long as the current tallies:
    the Overview does not wait for it, and its comparison with 24 hours earlier, read
    from the tables meanwhile, is the one it shows once the history is there."""
    database = opened(sqlite_url)
    release = threading.Event()
    under_way = threading.Thread(target=release.wait, name="warm-up", daemon=True)
    under_way.start()
    monkeypatch.setitem(warmup._started, database.url, (database, under_way))
    monkeypatch.setattr(page, "FIRST_COUNT_WAIT_S", 0.2)
    try:
        tallies.now(database, 1)
        # the history stays uncounted while we look
        monkeypatch.setattr(database.facts, "background", False)
        before = open_page(sqlite_url, "overview")
        assert not before.exception and COUNTING not in texts(before)
        assert not database.facts.has(("history", 1))
        shown = [(m.label, m.value, m.delta) for m in before.metric]
        assert any(delta not in (None, "", "0") for _, _, delta in shown), \
            "the scenario moved in the last 24 hours"
    finally:
        release.set()
    database.facts.background = True
    tallies.find_history(database, 1)
    cache.clear_all()  # the Overview read again, from the history this time
    after = open_page(sqlite_url, "overview")
    assert [(m.label, m.value, m.delta) for m in after.metric] == shown


def test_the_history_the_warm_up_finds_next_is_not_counted_beside_its_first_count(
        sqlite_url, monkeypatch):
    """The Overview's comparison asks for the history while the warm-up still counts
    the current tallies: the page reads the tables instead, and no second count of the
    history starts beside them; once the warm-up is gone, a page's ask counts it."""
    database = opened(sqlite_url)
    counted = _counts_of(monkeypatch, tallies, "_count_history", database)
    monkeypatch.setattr(page, "FIRST_COUNT_WAIT_S", 0.2)
    with _warm_up_promising(lambda: tallies.history_comes_next(database, 1),
                            database.facts, ("history", 1)) as under_way:
        monkeypatch.setitem(warmup._started, database.url, (database, under_way))
        tallies.now(database, 1)
        at = open_page(sqlite_url, "overview")
        assert not at.exception and at.metric
        database.facts.settle()
        assert counted == [] and not database.facts.has(("history", 1))
    assert tallies.history(database, 1) is None
    database.facts.settle()
    assert counted == [1] and database.facts.has(("history", 1))


def test_the_groups_the_warm_up_finds_later_are_not_counted_beside_its_first_count(
        sqlite_url, monkeypatch):
    """The first count reads the Overview's "who the people are" from the tables, which
    asks for the scenario's groups: while the warm-up has them still to find, no count
    of them starts beside the first; once the warm-up is gone, a profile's ask does."""
    database = opened(sqlite_url)
    counted = _counts_of(monkeypatch, demography, "_count_groups", database)
    whole = Viewer("server", "committee", 1)
    with _warm_up_promising(lambda: demography.groups_come_later(database, 1),
                            database.current, ("demography", 1)):
        warmup.first_count(database, 1)
        database.current.settle()
        assert counted == [] and not database.current.has(("demography", 1))
    demography.profile(database, whole, narrowing=demography.Narrowing(statuses=("missing",)))
    database.current.settle()
    assert counted == [1] and database.current.has(("demography", 1))


@contextmanager
def _warm_up_promising(promise: Callable[[], None], facts: SharedFacts,
                       key: Hashable) -> Iterator[threading.Thread]:
    """A thread named as the warm-up makes `promise` and holds it, unfinished, until
    the block ends; the block begins once the promise of `key` is made."""
    release = threading.Event()

    def promise_then_count() -> None:
        promise()
        release.wait(60)

    under_way = threading.Thread(target=promise_then_count, name="warm-up", daemon=True)
    under_way.start()
    try:
        assert _wait_for(lambda: facts.promised(key), 5), f"{key} was never promised"
        yield under_way
    finally:
        release.set()
        under_way.join(10)


def _counts_of(monkeypatch, module: object, name: str, database: object) -> list[int]:
    """`module.name`'s calls for this test's database, one entry each. Other databases
    are left out: a warm-up an earlier test's page run started, on a database of its
    own, may still be counting in this process."""
    counted: list[int] = []
    count = getattr(module, name)

    def counting(of: object, *args):
        if of is database:
            counted.append(1)
        return count(of, *args)

    monkeypatch.setattr(module, name, counting)
    return counted


def test_the_first_count_finds_what_the_first_overview_compares_with(sqlite_url,
                                                                     monkeypatch):
    """Beside the current tallies, the warm-up finds the counts of 24 hours before from
    the tables, once for every role shown counts alone: their first Overview, before
    the history is there, reads no history table, and shows what it shows later."""
    database = opened(sqlite_url)
    monkeypatch.setattr(database.facts, "background", False)  # the history stays uncounted
    monkeypatch.setattr(watermark, "FRESH_S", 0.0)  # as on a slow machine: read at each ask
    warmup.first_count(database, 1)
    shown = {}
    seen = Statements(database)
    try:
        for role in ("committee", "coordinator"):
            at = open_page(sqlite_url, "overview", role)
            assert not at.exception and COUNTING not in texts(at)
            shown[role] = [(m.label, m.value, m.delta) for m in at.metric]
    finally:
        seen.close()
    # The watermark's probe reads the greatest id of each history (it runs whenever a
    # second has passed, as on a slow machine); any other read of a history works back.
    probe = " ".join(watermark.statement_of_big().split())
    read = [s for s in seen.seen if s != probe]
    assert not [s for s in read if "_events" in s], "worked back from the tables again"
    assert not database.facts.has(("history", 1))
    database.facts.background = True
    tallies.find_history(database, 1)
    cache.clear_all()
    for role in ("committee", "coordinator"):
        after = open_page(sqlite_url, "overview", role)
        assert [(m.label, m.value, m.delta) for m in after.metric] == shown[role]


def test_a_fact_a_reader_is_finding_is_not_found_again_beside_it():
    """A page that can do without a fact (the history, while the warm-up finds it) does
    not start a second count of it beside the first."""
    facts, started, release, calls = SharedFacts(), threading.Event(), threading.Event(), []

    def compute() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "found"

    finding = threading.Thread(target=facts.get, args=("k", compute))
    finding.start()
    assert started.wait(10)
    assert facts.peek("k", compute) is None
    release.set()
    finding.join(10)
    facts.settle()
    assert calls == [1]
    assert facts.peek("k", compute) == "found"


def test_a_promise_ends_with_its_finding_found_or_not():
    """The warm-up's promise of a fact ends when it has found it, and when finding it
    failed: a page may then count it (`peek`) instead of waiting for no one."""
    facts = SharedFacts()
    facts.promise("found")
    assert facts.promised("found")
    assert facts.get_promised("found", lambda: "value") == "value"
    assert not facts.promised("found")

    def broken() -> str:
        raise RuntimeError("the database went away")

    facts.promise("failed")
    with pytest.raises(RuntimeError):
        facts.get_promised("failed", broken)
    assert not facts.promised("failed")


def test_a_page_counts_for_itself_once_the_warm_up_is_over(sqlite_url, monkeypatch):
    """A warm-up that ended without counting (it failed, and logged why) holds no page
    back: the page counts what it needs, and says what goes wrong."""
    database = opened(sqlite_url)
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    monkeypatch.setitem(warmup._started, database.url, (database, ended))
    at = open_page(sqlite_url, "overview")
    assert not at.exception
    assert COUNTING not in texts(at)
    assert at.metric


def test_the_servers_code_is_loaded_at_start_and_out_of_the_collectors_way():
    """Streamlit collects the cyclic garbage after every page run: the server loads the
    pages' code at start and sets it aside (components/server.py), so that a collection
    walks what the runs made, not the libraries' 200,000 objects."""
    probe = ("import gc, sys; from components import server; server.load_pages(); "
             "print(int('pages.shelters' in sys.modules), len(gc.get_objects()), "
             "gc.get_freeze_count())")
    done = subprocess.run([sys.executable, "-c", probe], cwd=config.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded, tracked, set_aside = map(int, done.stdout.split())
    assert loaded == 1
    assert set_aside > 100_000 and tracked < 1_000


def test_the_server_imports_streamlit_before_the_thread_that_counts_at_start():
    """The thread that counts at start imports Streamlit's runtime: started while the
    main thread still imports Streamlit, the two can meet a module half made and the
    server does not start ("cannot import name 'Runtime' from partially initialized
    module"). The server starts the thread once Streamlit is imported."""
    probe = ("import sys, threading\n"
             "def start(self):\n"
             "    print(self.name, 'streamlit.web.cli' in sys.modules)\n"
             "    raise SystemExit(0)\n"
             "threading.Thread.start = start\n"
             "from components import server\n"
             "server.main()\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=config.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["count-at-start", "True"]


def _warm_up_watched(database, monkeypatch) -> tuple[list[float], threading.Event]:
    """Start `database`'s warm-up afresh, noting when its history count begins (and
    holding it there until the event is set, so that the test ends with it)."""
    monkeypatch.setattr(warmup, "_started", {})
    monkeypatch.setattr(warmup, "DRAWN_S", 0.3)
    history_began: list[float] = []
    let_go = threading.Event()
    count = tallies._count_history

    def counting(of, *args):
        if of is database:
            history_began.append(time.monotonic())
            let_go.wait(10)
        return count(of, *args)

    monkeypatch.setattr(tallies, "_count_history", counting)
    warmup.warm_up(database, [1])
    return history_began, let_go


def _wait_for(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_history_waits_until_the_page_a_reader_waited_for_is_served(sqlite_url,
                                                                       monkeypatch):
    """A reader's page run under way when the first count ends (the first page after a
    start, waiting for it) is served before the history is counted beside it, and its
    browser is given a moment to draw it."""
    database = opened(sqlite_url)
    monkeypatch.setattr(warmup, "_runs", {})
    served, run_ended = threading.Event(), []

    def page_run() -> None:
        with warmup.page_run(sqlite_url):
            served.wait(20)
        run_ended.append(time.monotonic())

    reader = threading.Thread(target=page_run, daemon=True)
    reader.start()
    history_began, let_go = _warm_up_watched(database, monkeypatch)
    try:
        assert _wait_for(lambda: database.current.has(("now", 1)))
        time.sleep(1.0)  # longer than DRAWN_S: the history waits for the run, not a clock
        assert history_began == []
        served.set()
        assert _wait_for(lambda: bool(history_began))
        assert history_began[0] - run_ended[0] >= warmup.DRAWN_S
    finally:
        served.set()
        let_go.set()
        reader.join(10)


def test_a_reader_shown_the_notice_gets_the_page_before_the_history(sqlite_url, monkeypatch):
    """A reader whose page ran during the count (and said it was under way) is sent the
    page by a run a moment after the count: the history waits for that run too."""
    database = opened(sqlite_url)
    monkeypatch.setattr(warmup, "_runs", {})
    hold = threading.Event()
    monkeypatch.setattr(warmup, "first_count",
                        lambda db, sid, first=warmup.first_count: (hold.wait(20), first(db, sid)))
    history_began, let_go = _warm_up_watched(database, monkeypatch)
    try:
        with warmup.page_run(sqlite_url):  # the notice, during the count
            pass
        hold.set()
        assert _wait_for(lambda: database.current.has(("now", 1)))
        time.sleep(1.0)
        assert history_began == []
        with warmup.page_run(sqlite_url):  # the page, after it
            pass
        ended = time.monotonic()
        assert _wait_for(lambda: bool(history_began))
        assert history_began[0] - ended >= warmup.DRAWN_S
    finally:
        hold.set()
        let_go.set()


def test_with_no_reader_come_the_history_follows_the_first_count_at_once(sqlite_url,
                                                                        monkeypatch):
    """A server started with nobody reading does not wait for anyone."""
    database = opened(sqlite_url)
    monkeypatch.setattr(warmup, "_runs", {})
    monkeypatch.setattr(warmup, "READERS_FIRST_S", 60.0)
    history_began, let_go = _warm_up_watched(database, monkeypatch)
    try:
        assert _wait_for(lambda: bool(history_began), seconds=30)  # far below 60 s
    finally:
        let_go.set()


def test_a_reader_who_never_comes_back_holds_the_history_up_a_moment_at_most(sqlite_url,
                                                                             monkeypatch):
    """A reader who came during the count (the sign-in form, say) and ran no page
    since holds the history up READERS_FIRST_S at most."""
    database = opened(sqlite_url)
    monkeypatch.setattr(warmup, "_runs", {})
    monkeypatch.setattr(warmup, "READERS_FIRST_S", 1.0)
    hold = threading.Event()
    monkeypatch.setattr(warmup, "first_count",
                        lambda db, sid, first=warmup.first_count: (hold.wait(20), first(db, sid)))
    history_began, let_go = _warm_up_watched(database, monkeypatch)
    try:
        with warmup.page_run(sqlite_url):  # came during the count, never ran again
            pass
        hold.set()
        assert _wait_for(lambda: database.current.has(("now", 1)))
        counted = time.monotonic()
        assert _wait_for(lambda: bool(history_began), seconds=4)  # not the usual limit
        assert history_began[0] - counted >= 0.5
    finally:
        hold.set()
        let_go.set()


def test_every_page_run_is_marked_for_the_warm_up(sqlite_url, monkeypatch):
    """app.py marks each run (signed in or not) as reading its database, so that the
    warm-up sees the readers who came (`readers_first`)."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    database = opened(sqlite_url)
    monkeypatch.setattr(warmup, "_runs", {})
    before = time.monotonic()
    at = start()  # the sign-in form
    assert not at.exception
    runs = warmup._runs[database.url]
    assert runs.under_way == 0 and before <= runs.began_at <= runs.ended_at


def test_the_count_at_start_drops_its_own_run_context_warnings_alone():
    """The thread that counts at start touches Streamlit's caches outside a page run on
    purpose; Streamlit's warning of that is dropped for it, and still said for any
    other thread."""
    from components import server

    logger = logging.getLogger(server.RUN_CONTEXT_LOGGER)
    said: list[str] = []
    heard = logging.Handler(logging.WARNING)
    heard.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    before = list(logger.filters)

    def quiet_then_warn() -> None:
        server.no_run_warnings_from_this_thread()
        logger.warning("from the count")

    logger.addHandler(heard)
    try:
        counting = threading.Thread(target=quiet_then_warn, name="count-at-start")
        counting.start()
        counting.join(10)
        other = threading.Thread(target=logger.warning, args=("from a page",),
                                 name="ScriptRunner.scriptThread")
        other.start()
        other.join(10)
        logger.warning("from the main thread")
    finally:
        logger.removeHandler(heard)
        logger.filters[:] = before
    assert said == ["from a page", "from the main thread"]
