"""Auto-refresh: however many sessions look, the database answers each distinct
scoped figure once per refresh interval."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
from sqlalchemy import event
from streamlit.testing.v1 import AppTest

from dashboard import cache, runtime, scenarios, tallies
from dashboard.access import Viewer
from dashboard.config import PROJECT_ROOT
from dashboard.db import DatabaseUnavailable
from dashboard.overview import overview
from dashboard.session import KEY, Context
from tests.apptest import texts


class QueryCounter:
    """Counts the statements the dashboard's engine sends to the database."""

    def __init__(self, url: str):
        self.engine = runtime.engine(url)
        self.count = 0
        self._lock = threading.Lock()
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *args) -> None:
        with self._lock:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def counter(sqlite_url):
    scenarios.list_scenarios(sqlite_url)  # the engine and scenario list, outside the count
    tallies.find_history(sqlite_url, 1)  # found once at startup (dashboard.warmup)
    c = QueryCounter(sqlite_url)
    yield c
    c.close()


def session(url: str, viewer: Viewer) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "overview.py"), default_timeout=120)
    info = next(s for s in scenarios.list_scenarios(url) if s.id == viewer.scenario_id)
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
    as_of = scenarios.data_as_of(sqlite_url, 1)
    overview(sqlite_url, Viewer("warm", "coordinator", 1), as_of)  # shared facts warm
    counter.count = 0
    overview(sqlite_url, Viewer("solo", "committee", 1), as_of)
    one = counter.count

    from dashboard.overview import overview as cached
    cached.clear()
    counter.count = 0
    viewers = [Viewer(f"u{i}", "committee", 1) for i in range(8)]
    threads = [threading.Thread(target=overview, args=(sqlite_url, v, as_of)) for v in viewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.count == one


def test_the_page_says_when_it_updated_and_how_often(sqlite_url):
    at = session(sqlite_url, Viewer("a", "committee", 1))
    assert "updated" in texts(at) and "refreshes every 30 s" in texts(at)

    paused = AppTest.from_file(str(PROJECT_ROOT / "pages" / "overview.py"))
    paused.session_state[KEY] = Context(sqlite_url, Viewer("a", "committee", 1),
                                        scenarios.list_scenarios(sqlite_url)[0])
    paused.session_state["auto_refresh"] = False
    paused.run()
    assert "auto-refresh paused" in texts(paused)


def test_a_stale_result_is_served_at_once_and_refreshed_once_in_the_background():
    calls, gate = [], threading.Event()

    @cache.scoped(ttl=1)
    def figure(db_url: str, viewer: Viewer) -> int:
        calls.append(viewer.user)
        if len(calls) > 1:
            gate.wait(10)  # the database is slow this time
        return len(calls)

    assert figure("db", Viewer("a", "committee", 1)) == 1
    time.sleep(1.2)
    started = time.perf_counter()
    for user in ("b", "c", "d"):  # three readers of the same scope after the interval
        assert figure("db", Viewer(user, "committee", 1)) == 1
    assert time.perf_counter() - started < 0.5  # none of them waited
    gate.set()
    deadline = time.monotonic() + 10
    while figure("db", Viewer("e", "committee", 1)) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert figure("db", Viewer("f", "committee", 1)) == 2
    assert len(calls) == 2  # one refresh for the four readers


def test_after_a_failed_refresh_the_next_reader_is_told():
    down = [False]

    @cache.scoped(ttl=1)
    def figure(db_url: str) -> str:
        if down[0]:
            raise DatabaseUnavailable("The database did not answer: connection refused")
        return "figures"

    assert figure("db") == "figures"
    time.sleep(1.2)
    down[0] = True
    assert figure("db") == "figures"  # stale, while the refresh fails in the background
    time.sleep(0.5)
    with pytest.raises(DatabaseUnavailable, match="did not answer"):
        figure("db")
    down[0] = False
    assert figure("db") == "figures"


def test_a_reader_cannot_change_what_others_are_served():
    @cache.scoped()
    def frame(db_url: str) -> pd.DataFrame:
        return pd.DataFrame({"n": [1, 2]})

    mine = frame("db")
    mine.loc[0, "n"] = 99
    assert frame("db")["n"].tolist() == [1, 2]
