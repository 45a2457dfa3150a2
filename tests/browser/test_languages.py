"""Languages in a real browser: Arabic reads right to left, with Arabic page names, and
the choice stays through a page change and a reload. The expected names are read from
the Arabic catalog by the test itself."""

from __future__ import annotations

from babel.messages.pofile import read_po

from dashboard.rules import access
from dashboard.tools import catalogs
from tests.browser.conftest import (
    SCREENSHOTS,
    account_for,
    new_context,
    settle,
    sign_in,
    visible_texts,
)

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
        page.goto(f"{server.base}/?lang=ar")  # a new session, signed in by its cookie
        settle(page)
        assert _direction(page) == ("rtl", "ar")
        expected = [arabic(access.PAGES[key].title) for key in access.pages_for("coordinator")]
        assert _nav(page) == expected
        sidebar = page.locator('[data-testid="stSidebar"]').bounding_box()
        main = page.locator('[data-testid="stMain"]').bounding_box()
        assert sidebar["x"] > main["x"], "the sidebar is on the right"
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
    finally:
        context.close()
