"""Languages in a real browser: Arabic reads right to left, with Arabic page names, and
the choice stays through a page change and a reload. The expected names are read from
the Arabic catalog by the test itself."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard import language
from dashboard.rules import access
from dashboard.tools import catalogs
from tests.browser.conftest import (
    SCREENSHOTS,
    STEP_MS,
    account_for,
    load,
    new_context,
    open_nav_page,
    settle,
    sign_in,
    visible_texts,
)
from tests.pseudo import _WORD, leftover

NAV = '[data-testid="stSidebarNavLink"]'


def arabic(english: str) -> str:
    with open(catalogs.po_path("ar"), "rb") as source:
        found = read_po(source, locale="ar").get(english)
    assert found is not None and found.string, english
    return found.string


def _nav(page) -> list[str]:
    """The navigation's page names (each link's text after its icon's ligature)."""
    return [text.splitlines()[-1].strip() for text in visible_texts(page, NAV)]


def _direction(page) -> tuple[str, str]:
    return (page.evaluate("() => document.documentElement.getAttribute('dir')"),
            page.evaluate("() => document.documentElement.getAttribute('lang')"))


def test_arabic_reads_right_to_left_with_arabic_page_names(browser, server):
    context = new_context(browser)
    page = context.new_page()
    try:
        name, password = account_for("coordinator")
        sign_in(page, server.base, name, password)
        load(page, f"{server.base}/?lang=ar")  # a new session, signed in by its cookie
        assert _direction(page) == ("rtl", "ar")
        expected = [arabic(access.PAGES[key].title) for key in access.pages_for("coordinator")]
        assert _nav(page) == expected
        sidebar = page.locator('[data-testid="stSidebar"]').bounding_box()
        main = page.locator('[data-testid="stMain"]').bounding_box()
        assert sidebar["x"] > main["x"], "the sidebar is on the right"
        # the people's profile, an HTML table: laid out from the right by the browser
        headings = page.locator('[data-testid="stTable"]').first.locator("th")
        headings.first.wait_for()  # drawn below the charts, maybe after the page settled
        from_right = sorted(((h.bounding_box()["x"], h.inner_text().strip())
                             for h in headings.all()), reverse=True)
        assert from_right[0][1] == arabic("Age"), from_right
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "arabic-overview.png"))

        page.locator(NAV, has_text=expected[1]).first.click()  # another page
        settle(page)
        assert _direction(page) == ("rtl", "ar")
        assert "lang=ar" in page.url
        page.reload()
        settle(page)
        assert _direction(page) == ("rtl", "ar")
        assert _nav(page) == expected
        page.screenshot(path=str(SCREENSHOTS / "arabic-second-page.png"))

        # A table wider than the page opens at its right end, on its first columns.
        page.locator(NAV, has_text=arabic("Shelters")).first.click()
        settle(page)
        # The grid draws itself after the run has ended (its script loads on demand):
        # on a busy machine that can take seconds.
        wide = """() => [...document.querySelectorAll('.dvn-scroller')]
            .filter((g) => g.scrollWidth > g.clientWidth + 2)
            .map((g) => [g.scrollLeft, g.scrollWidth - g.clientWidth])"""
        try:
            page.wait_for_function(f"({wide})().length > 0", timeout=STEP_MS)
        except PlaywrightTimeout:
            raise AssertionError("the Shelters page has no table wider than the page "
                                 "at 1400 px") from None
        page.wait_for_timeout(500)  # the reader's own scrolling would come after this
        grids = page.evaluate(wide)
        assert all(left >= room - 2 for left, room in grids), grids
    finally:
        context.close()


def _data_words(db_url: str) -> set[str]:
    """Every word of the data a page may show as it is: place, facility, post, country,
    organisation and scenario names."""
    from sqlalchemy import create_engine, text

    queries = ["SELECT name FROM areas", "SELECT name FROM facilities",
               "SELECT name FROM consular_posts", "SELECT name FROM countries",
               "SELECT name FROM scenarios", "SELECT to_org FROM referrals",
               "SELECT from_org FROM referrals", "SELECT destination FROM movements",
               "SELECT operator FROM facilities"]
    words: set[str] = set()
    engine = create_engine(db_url)
    with engine.connect() as conn:
        for query in queries:
            for (value,) in conn.execute(text(query)):
                words |= set(_WORD.findall(str(value or "")))
    engine.dispose()
    return words


@pytest.mark.parametrize("role", ["committee", "consular", "coordinator", "admin"])
def test_every_page_in_the_pseudo_language_shows_no_word_outside_the_markers(
        browser, server, role):
    """What a reader sees, in a browser, with every catalog string wrapped in ⟦ ⟧: no
    word of the product is left outside the markers but the data's own values."""
    allowed = _data_words(server.db_url)
    # The map's own words are drawn on its canvas, where innerText cannot read them
    # whether it draws or not: no WebGL, which spares seconds of CPU a map
    context = new_context(browser, draw_maps=False)
    page = context.new_page()
    try:
        sign_in(page, server.base, *account_for(role))
        load(page, f"{server.base}/?lang={language.PSEUDO}")
        found = {}
        for key in access.pages_for(role):
            open_nav_page(page, key)
            page.wait_for_timeout(500)
            settle(page)
            seen = page.locator('[data-testid="stMain"]').inner_text() + "\n" + \
                page.locator('[data-testid="stSidebar"]').inner_text()
            left = sorted({w for w in leftover(_without_icons(seen)) if w not in allowed})
            if left:
                found[key] = left
        assert found == {}
    finally:
        context.close()


def _without_icons(text: str) -> str:
    """Material icons are drawn from their names' ligatures, which innerText reads."""
    return re.sub(r"(?m)^\s*[a-z]+(?:_[a-z]+)*\s*$", " ", text)
