"""Driving the dashboard in a browser with Playwright: shared by the browser tests
and benchmarks/bench_sessions.py, so both wait for Streamlit the same way."""

from __future__ import annotations

import time

from dashboard.rules import access

# How chromium draws, for the tests and the benchmarks alike: WebGL (the map) through
# SwiftShader, pages rastered by Skia on the CPU, as chromium does on a machine without
# a GPU it trusts. Forced onto SwiftShader, it would raster every page through it too:
# an Overview visit cost the GPU process 3.5 s of CPU, 0.7 s so, taken from the server
# that shares this machine.
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-gpu-rasterization"]


def settle(page, quiet_ms: int = 600, timeout_s: float = 90) -> None:
    """Wait until Streamlit has finished running and stayed idle for `quiet_ms`
    (a component's answer, a fragment's first run may follow a moment later)."""
    deadline = time.time() + timeout_s
    idle_since = None
    while time.time() < deadline:
        state = page.evaluate(
            "() => document.querySelector('.stApp')?.getAttribute('data-test-script-state')")
        if state == "notRunning":
            idle_since = idle_since or time.time()
            if (time.time() - idle_since) * 1000 >= quiet_ms:
                return
        else:
            idle_since = None
        page.wait_for_timeout(150)
    raise AssertionError(f"the app kept running for more than {timeout_s:.0f} s")


def load(page, url: str, quiet_ms: int = 600) -> None:
    """Open `url` and wait for its first run to have drawn either the sign-in form or
    the pages' links, then for the app to settle: on a busy machine a new page can sit
    idle, not yet run, for longer than any quiet spell `settle` waits for."""
    page.goto(url)
    page.locator('input[type="password"], [data-testid="stSidebarNavLink"]').first.wait_for()
    settle(page, quiet_ms=quiet_ms)


def fill_sign_in(page, username: str, password: str) -> None:
    """Type the name and password and press Sign in, as a person would: a rerun that
    redraws the form while the page is still starting empties the fields, and a
    person who sees them empty types again before pressing."""
    name = page.get_by_role("textbox", name="User name")
    secret = page.get_by_role("textbox", name="Password")
    for _ in range(3):
        name.fill(username)
        secret.fill(password)
        page.wait_for_timeout(300)
        settle(page)
        if name.input_value() == username and secret.input_value() == password:
            break
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def open_nav_page(page, key: str) -> None:
    title = access.PAGES[key].title
    link = page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first
    link.click()
    settle(page)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()
