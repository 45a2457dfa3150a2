"""Auto-refresh: however many sessions look, the database answers each distinct
scoped figure once per refresh interval."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import event
from streamlit.testing.v1 import AppTest

from components.session import KEY, Context
from dashboard.figures import scenarios, tallies
from dashboard.figures.overview import overview
from dashboard.rules.access import Viewer
from dashboard.store import cache
from dashboard.store.db import DatabaseUnavailable
from tests.apptest import page_app, texts
from tests.conftest import NOT_FIGURES, opened


class QueryCounter:
    """Counts the statements the dashboard's engine sends to the database for figures
    (not NOT_FIGURES: how many of those depends on how long the sessions took)."""

    def __init__(self, url: str):
        self.engine = opened(url).engine
        self.count = 0
        self._lock = threading.Lock()
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args) -> None:
        if " ".join(statement.split()) in NOT_FIGURES:
            return
        with self._lock:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def counter(sqlite_url):
    scenarios.list_scenarios(opened(sqlite_url))  # the engine and scenario list, outside the count
    tallies.find_history(opened(sqlite_url), 1)  # found once at startup (dashboard.figures.warmup)
    c = QueryCounter(sqlite_url)
    yield c
    c.close()


def session(url: str, viewer: Viewer) -> AppTest:
    at = page_app("overview")
    info = next(s for s in scenarios.list_scenarios(opened(url)) if s.id == viewer.scenario_id)
    at.session_state[KEY] = Context(url, viewer, info)
    return at.run()


def test_many_sessions_of_one_scope_cost_the_database_one_set_of_queries(sqlite_url, counter):
    first = session(sqlite_url, Viewer("a", "committee", 1))
    assert not first.exception
    one_session = counter.count
    assert one_session > 0
    for n in range(5):  # five more committee members open the same page
        assert not session(sqlite_url, Viewer(f"m{n}", "committee", 1)).exception
    assert counter.count == one_session

    # a new scope is a new cache entry, but its figures are sums of the tallies the
    # committee's session already counted for every scope: it costs fewer queries,
    # once, and a second session of that scope costs none
    session(sqlite_url, Viewer("l", "consular", 1, ("ETH",)))
    with_liaison = counter.count
    assert with_liaison - one_session < one_session
    session(sqlite_url, Viewer("l2", "consular", 1, ("ETH",)))
    assert counter.count == with_liaison


def test_sessions_arriving_together_compute_each_figure_once(sqlite_url, counter):
    as_of = scenarios.data_as_of(opened(sqlite_url), 1)
    overview(opened(sqlite_url), Viewer("warm", "coordinator", 1), as_of)  # shared facts warm
    counter.count = 0
    overview(opened(sqlite_url), Viewer("solo", "committee", 1), as_of)
    one = counter.count

    from dashboard.figures.overview import overview as cached
    cached.clear()
    counter.count = 0
    viewers = [Viewer(f"u{i}", "committee", 1) for i in range(8)]
    database = opened(sqlite_url)
    threads = [threading.Thread(target=overview, args=(database, v, as_of)) for v in viewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.count == one


def test_the_page_says_when_it_updated_and_how_often(sqlite_url):
    at = session(sqlite_url, Viewer("a", "committee", 1))
    assert "updated" in texts(at) and "refreshes every 30 s" in texts(at)

    paused = page_app("overview")
    paused.session_state[KEY] = Context(sqlite_url, Viewer("a", "committee", 1),
                                        scenarios.list_scenarios(opened(sqlite_url))[0])
    paused.session_state["auto_refresh"] = False
    paused.run()
    assert "auto-refresh paused" in texts(paused)


class Clock:
    """Seconds that move only when the test says: no test waits for real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_stale_result_is_served_at_once_and_refreshed_once_in_the_background():
    calls, gate, clock = [], threading.Event(), Clock()

    @cache.scoped(ttl=30, clock=clock)
    def figure(db_url: str, viewer: Viewer) -> int:
        calls.append(viewer.user)
        if len(calls) > 1:
            gate.wait(30)  # the database is slow this time: held until the test opens it
        return len(calls)

    assert figure("db", Viewer("a", "committee", 1)) == 1
    clock.now += 29
    assert figure("db", Viewer("b", "committee", 1)) == 1 and calls == ["a"]  # still fresh
    clock.now += 2  # past the interval
    # three readers of the same scope get the stale figure while the refresh is held:
    # had any of them waited for it, it would have got 2
    for user in ("b", "c", "d"):
        assert figure("db", Viewer(user, "committee", 1)) == 1
    gate.set()
    figure.settle()
    assert figure("db", Viewer("f", "committee", 1)) == 2
    assert len(calls) == 2  # one refresh for the four readers


def test_while_the_database_does_not_answer_the_last_figures_are_served_and_tried_again():
    down, clock, calls = [False], Clock(), []

    @cache.scoped(ttl=30, clock=clock)
    def figure(db_url: str) -> str:
        calls.append(down[0])
        if down[0]:
            raise DatabaseUnavailable("The database did not answer: connection refused")
        return f"figures {len(calls)}"

    assert figure("db") == "figures 1"
    clock.now += 31
    down[0] = True
    assert figure("db") == "figures 1"  # old, while the refresh fails in the background
    figure.settle()
    assert figure("db") == "figures 1"  # the last figures again (the page says stale) ...
    figure.settle()
    assert calls == [False, True, True]  # ... and another try
    down[0] = False
    assert figure("db") == "figures 1"
    figure.settle()
    assert figure("db") == "figures 4"  # back by itself


def test_a_figure_never_counted_fails_for_its_reader_while_the_database_is_down():
    @cache.scoped(ttl=30)
    def figure(db_url: str) -> str:
        raise DatabaseUnavailable("The database did not answer: connection refused")

    with pytest.raises(DatabaseUnavailable, match="did not answer"):
        figure("db")


def test_a_reader_cannot_change_what_others_are_served():
    @cache.scoped()
    def frame(db_url: str) -> pd.DataFrame:
        return pd.DataFrame({"n": [1, 2]})

    mine = frame("db")
    mine.loc[0, "n"] = 99
    assert frame("db")["n"].tolist() == [1, 2]
