"""The database goes away and comes back, as a reader sees it in the browser: the
page keeps its figures under the "Stale since" banner, a page never opened before
says what it cannot show, and both come back by themselves, with no click, once the
database answers again (the SQLite file moved away and back, a short refresh
interval)."""

from __future__ import annotations

import shutil
import time

import pytest
from sqlalchemy.engine import make_url

from tests.browser.conftest import (
    SCREENSHOTS,
    account_for,
    failure_messages,
    main_text,
    new_context,
    open_nav_page,
    running_server,
    settle,
    sign_in,
    visible_texts,
)
from tests.signin import make_users_file

REFRESH_S = 4
STALE = "Stale since"
TILES = '[data-testid="stMain"] [data-testid="stMetricValue"]'


@pytest.fixture
def outage(sqlite_url, tmp_path):
    """(database URL for the dashboard, cut, restore). On SQLite only: PostgreSQL's
    outages, through a TCP proxy cut and restored, are driven page by page in
    tests/test_outage.py, and the browser's part (the banner, the timer that brings
    a page back) does not depend on the backend."""
    path = tmp_path / "scenario.sqlite"
    shutil.copy(make_url(sqlite_url).database, path)
    away = path.with_suffix(".away")
    yield f"sqlite:///{path}", lambda: path.rename(away), lambda: away.rename(path)


def wait_for(page, condition, what: str, seconds: float) -> float:
    """Wait, without touching the page, until `condition(page)`; return how long it took."""
    started = time.time()
    while not condition(page):
        if time.time() - started > seconds:
            shot = SCREENSHOTS / "outage" / f"{what.replace(' ', '-')}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            raise AssertionError(f"no {what} within {seconds} s ({shot}); the page shows:\n"
                                 f"{main_text(page)[:1500]}")
        page.wait_for_timeout(250)
    return time.time() - started


def stale(page) -> bool:
    return STALE in main_text(page)


def test_pages_ride_out_an_outage_and_come_back_by_themselves(browser, outage, tmp_path):
    url, cut, restore = outage
    users_file = make_users_file(tmp_path)
    settings = {"SITROOM_CACHE_TTL_S": str(REFRESH_S)}
    with running_server(url, tmp_path, users_file, settings) as server:
        context = new_context(browser)
        page = context.new_page()
        sign_in(page, server.base, *account_for("coordinator"))
        open_nav_page(page, "overview")
        tiles = visible_texts(page, TILES)
        assert len(tiles) >= 5 and not stale(page)

        cut()
        wait_for(page, stale, "stale banner", REFRESH_S * 3 + 10)
        settle(page)
        shots = SCREENSHOTS / "outage"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"overview-stale-{url.split(':')[0]}.png"))
        assert visible_texts(page, TILES) == tiles  # the last figures, kept
        assert "reconnecting" in main_text(page)
        assert not failure_messages(page), failure_messages(page)

        open_nav_page(page, "shelters")  # never counted: said, not a traceback
        assert "cannot be shown until it is back" in main_text(page)
        assert not page.locator('[data-testid="stException"]').count()
        page.screenshot(path=str(shots / f"shelters-unanswered-{url.split(':')[0]}.png"))

        restore()
        took = wait_for(page, lambda p: "cannot be shown" not in main_text(p)
                        and len(visible_texts(p, TILES)) >= 3, "recovered shelters",
                        REFRESH_S * 3 + 10)
        assert not failure_messages(page), failure_messages(page)
        open_nav_page(page, "overview")
        wait_for(page, lambda p: not stale(p), "recovered overview", REFRESH_S * 3 + 10)
        assert visible_texts(page, TILES) == tiles
        context.close()
    print(f"shelters came back {took:.1f} s after the database did")
