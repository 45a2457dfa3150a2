"""The first start: while the server counts a scenario's shared tallies for the first
time, a page says so at once and fills itself in when they are ready, instead of a
blank wait (docs/design.md §6)."""

from __future__ import annotations

import threading

from components import page
from dashboard.figures import tallies, warmup
from tests.apptest import open_page, texts
from tests.conftest import opened

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
        assert not at.metric, "no figure before it is counted"

        tallies.now(database, 1)  # counted now, and in the past
        tallies.find_history(database, 1)
        at.run()
        assert not at.exception
        assert COUNTING not in texts(at)
        assert at.metric
    finally:
        release.set()


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
