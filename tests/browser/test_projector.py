"""Projector mode in a real browser at 1920 x 1080: opened from the address, the
Overview and Shelters show no sidebar, headline numbers of at least 64 px, nothing
wider than the screen, no chart text cut off and no vocabulary code; rotation moves on
to the next page, keeps the address and writes each page view to the audit log, and
stops when the session ends."""

from __future__ import annotations

import re
import sqlite3
import time

from dashboard.contract import labels
from dashboard.figures import quality
from tests.browser.conftest import (
    SCREENSHOTS,
    STEP_MS,
    account_for,
    cut_off_texts,
    main_text,
    settle,
    sign_in,
)

# Every code of a vocabulary with an underscore: "in_service", "child_friendly_space"...
# (a code such as "open" is also an English word, and may be on screen as one).
CODES = sorted({code for value in vars(labels).values() if isinstance(value, dict)
                for code in value if isinstance(code, str) and "_" in code})
ROTATE_S = 10


def looks(page) -> dict:
    return page.evaluate("""() => {
        const doc = document.documentElement;
        const sidebar = document.querySelector('[data-testid="stSidebar"]');
        const value = document.querySelector('[data-testid="stMetricValue"]');
        return {scroll: doc.scrollWidth, client: doc.clientWidth,
                sidebar: sidebar ? sidebar.getBoundingClientRect().width : 0,
                header: !!document.querySelector('[data-testid="stHeader"]')
                        && document.querySelector('[data-testid="stHeader"]').offsetHeight,
                metric: value ? parseFloat(getComputedStyle(value).fontSize) : 0};
    }""")


def open_heading(page, url: str, heading: str) -> None:
    page.goto(url)
    page.locator('[data-testid="stMain"] h1', has_text=heading).first.wait_for(timeout=STEP_MS)
    settle(page)


def test_projector_mode_fits_the_screen_and_rotates_until_the_session_ends(browser, server):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    user, password = account_for("committee")
    sign_in(page, server.base, user, password)
    folder = SCREENSHOTS / "projector"
    folder.mkdir(parents=True, exist_ok=True)

    for path, heading in (("", "Overview"), ("shelters", "Shelters")):
        open_heading(page, f"{server.base}/{path}?projector=1", heading)
        # the figures under the heading: on a busy machine the browser may draw them
        # later than settle's quiet after the run
        page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=STEP_MS)
        settle(page)
        page.screenshot(path=str(folder / f"test-{heading.lower()}.png"))
        seen = looks(page)
        assert seen["scroll"] <= seen["client"], (heading, seen)
        assert seen["sidebar"] == 0 and not seen["header"], (heading, seen)
        assert seen["metric"] >= 64, (heading, seen)
        assert page.get_by_role("button", name="Exit projector mode").is_visible()
        text = main_text(page)
        shown = [c for c in CODES if re.search(rf"\b{re.escape(c)}\b", text)]
        assert not shown, f"{heading} shows vocabulary codes: {shown}"
        assert not cut_off_texts(page), (heading, cut_off_texts(page))

    # Rotation: from the last page of the committee's round to the first, by itself.
    audit_log = server.log.parent / "audit.sqlite"
    with sqlite3.connect(audit_log) as conn:
        before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0]
    open_heading(page, f"{server.base}/data-quality?projector=1&rotate={ROTATE_S}",
                 "Data quality")
    # Its checks, some named at length, are read whole (wrapped in a static table, not
    # cut at a grid column's edge), the rows counted on the right, the words at the start.
    cells = page.locator('[data-testid="stTable"] tbody tr').first.locator("td")
    # drawn a moment after the heading on a busy machine, as the figures above
    cells.first.wait_for(timeout=STEP_MS)
    settle(page)
    shown = page.locator('[data-testid="stTable"] td').all_inner_texts()
    assert all(check.label in shown for check in quality.CHECKS), shown
    aligned = [c.evaluate("(td) => getComputedStyle(td).textAlign") for c in cells.all()]
    assert aligned[-1] == "right" and "right" not in aligned[:-1], aligned
    page.locator('[data-testid="stMain"] h1', has_text="Overview").first.wait_for(
        timeout=(ROTATE_S + 30) * 1000)
    settle(page)
    assert "projector=1" in page.url and f"rotate={ROTATE_S}" in page.url, page.url
    assert looks(page)["sidebar"] == 0
    with sqlite3.connect(audit_log) as conn:
        pages = [p for (p,) in conn.execute(
            "SELECT page FROM audit_log WHERE id > ? AND user = ? AND action = 'view' "
            "ORDER BY id", (before, user))]
    assert pages == ["data_quality", "overview"], pages

    # The session ends (signed out in another tab, say): the next turn shows the
    # sign-in form, and no page after it.
    with sqlite3.connect(server.auth_store) as conn:
        conn.execute("UPDATE sessions SET revoked_at = ? WHERE account = ? "
                     "AND revoked_at IS NULL", (time.time(), user))
    page.get_by_role("textbox", name="User name").wait_for(timeout=(ROTATE_S + 30) * 1000)
    page.wait_for_timeout(3000)  # the form started no timer: nothing turns the page
    assert page.get_by_role("textbox", name="User name").is_visible()
    assert page.locator('[data-testid="stMain"] h1', has_text="Overview").count() == 0
    context.close()

