"""Browser tests: the real app in a subprocess, driven by Playwright through Debian's
chromium (WebGL through SwiftShader). Playwright's own browser download needs the
internet, so chromium comes from apt, installed here if it is missing.

One tour per account is recorded (screenshots, each page's headings and failure
messages, map canvas, and every byte the server sent) and shared by the page tests
and the leak tests, so the whole browser suite signs in once per account.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from components import early
from components import map as deck
from dashboard.config import PROJECT_ROOT
from dashboard.rules import access
from dashboard.rules.auth import COOKIE_NAME
from tests.browser.driving import (  # noqa: F401
    CHROMIUM_ARGS,
    fill_sign_in,
    load,
    main_text,
    open_nav_page,
    settle,
)
from tests.signin import ACCOUNTS, add_user, make_users_file

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
LEAK_PASSWORD = "liaison-pass-1"
DECK = '[data-testid="stDeckGlJsonChart"]'  # a pydeck map (tables draw on canvases too)
# How long one browser step (a click, a screenshot, a wait for an element) may take.
# SwiftShader draws the map on the CPU and holds up the page's frames meanwhile, for
# over 30 s (Playwright's default) on a busy machine; a page that hangs still fails.
STEP_MS = 90_000

# The heading each page draws with page_start(page, title) in pages/<key>.py: render().
# Stated here, not read from the app, so that a page that fails before its title (or
# draws another page's) is caught. Not access.PAGES titles: the navigation's differ.
PAGE_HEADINGS = {
    "overview": "Overview",
    "map": "Map",
    "shelters": "Shelters",
    "referrals": "Referrals",
    "evacuation": "Evacuation",
    "my_nationals": "My nationals",
    "drill": "Drill: after-action review",
    "audit": "Audit log",
    "data_quality": "Data quality",
}


def in_sight(test_id: str) -> str:
    """A selector of the elements of `test_id` a reader may see: not those drawn out of
    sight to load their scripts (components.early, components/map.py's empty deck)."""
    return (f'[data-testid="{test_id}"]:not(.st-key-{early.KEY} *)'
            f':not(.st-key-{deck.SLOT_KEY} *)')


# How a page failure reaches the reader: app.py's st.error for a page that raised,
# the database or the audit log being down (Streamlit's error alert), and the
# exception box Streamlit draws itself (an exception raised inside a page's `live`
# fragment), which holds an error alert of its own: that one is not counted twice.
FAILURE = ('[data-testid="stException"], '
           '[data-testid="stAlertContentError"]:not([data-testid="stException"] *)')
FAILURE_WORDS = ("stopped on an unexpected problem", "cannot be shown until it is back",
                 "Traceback")


def _install_chromium() -> str:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("chromium is not installed and cannot be installed here (needs root and "
                    "apt-get): install Debian's `chromium` package.")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            pytest.fail(f"Installing chromium failed at `{' '.join(cmd)}`:\n"
                        f"{done.stderr[-2000:]}")
    path = shutil.which("chromium")
    if not path:
        pytest.fail("apt-get installed chromium but no `chromium` command is on PATH.")
    return path


def pytest_collection_modifyitems(items) -> None:
    """With the suite spread over processes (pytest-xdist, `--dist loadgroup`), the
    browser tests all run in one: they share one server, one browser and the tours
    taken, which a second process would start and take again."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or _install_chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("The playwright package is missing: pip install -e '.[test]'")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leak_nationalities(url: str) -> list[str]:
    """Every known nationality of the live scenario that has at least one person a
    liaison may see, largest first."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.nationality, COUNT(*) AS n FROM persons p "
            "JOIN countries c ON c.iso3 = p.nationality "
            "WHERE p.scenario_id = 1 AND p.consent_consular = :t "
            "AND p.protection_confidential = :f GROUP BY p.nationality ORDER BY n DESC, 1"),
            {"t": True, "f": False}).all()
    engine.dispose()
    return [r[0] for r in rows]


@dataclass
class Server:
    base: str
    db_url: str
    users_file: Path
    auth_store: Path
    log: Path
    tours: dict = field(default_factory=dict)


@contextmanager
def running_server(db_url: str, home: Path, users_file: Path,
                   settings: dict[str, str] | None = None) -> Iterator[Server]:
    """The dashboard started the way an operator starts it, `sitroom run`, on `db_url`
    with its own files in `home`; stopped when the block ends."""
    port = _free_port()
    log = home / "server.log"
    # A fresh random key, as an operator makes one: the server refuses a key written
    # down anywhere public, the tests' own included. No test needs to know it.
    env = {**os.environ, "SITROOM_HOME": str(home), "SITROOM_AUDIT_DB": str(home / "audit.sqlite"),
           "SITROOM_COOKIE_KEY": secrets.token_urlsafe(32), "SITROOM_CACHE_TTL_S": "300",
           **(settings or {})}
    env.pop("SITROOM_USERS", None)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.tools.cli", "run", "--db-url", db_url,
             "--users", str(users_file), "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"The dashboard did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield Server(base, db_url, users_file, home / "auth.sqlite", log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def server(chromium, sqlite_url, tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("browser-home")
    users_file = make_users_file(home)
    for nat in leak_nationalities(sqlite_url):
        code, err = add_user(users_file, f"liaison-{nat.lower()}", LEAK_PASSWORD, "consular",
                             (nat,))
        assert code == 0, err
    code, err = add_user(users_file, "lockme", "lockme-pass-1", "committee")
    assert code == 0, err
    with running_server(sqlite_url, home, users_file) as started:
        yield started


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


# --- driving the app ----------------------------------------------------------------------

def new_context(browser, draw_maps: bool = True):
    """A browser context of its own (cookies, storage); without `draw_maps`, one whose
    pages have no WebGL (NO_WEBGL): for tests that read what the page says or what
    the server sent, not how the map looks."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(STEP_MS)
    if not draw_maps:
        context.add_init_script(NO_WEBGL)
    return context


def sign_in(page, base: str, username: str, password: str) -> None:
    load(page, base)
    sign_in_here(page, username, password)


def sign_in_here(page, username: str, password: str) -> None:
    """Sign in with the form the page shows."""
    fill_sign_in(page, username, password)
    try:
        page.get_by_role("button", name="Sign out").wait_for(timeout=STEP_MS)
    except Exception as exc:  # say what the browser showed instead
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"sign-in-failed-{username}.png"
        page.screenshot(path=str(shot))
        raise AssertionError(f"{username} was not signed in ({shot}); the page shows:\n"
                             f"{main_text(page)[:2000]}") from exc
    # the cookie is set by a script the landing page carries: wait for it
    deadline = time.time() + 30
    while (not any(c["name"] == COOKIE_NAME for c in page.context.cookies())
           and time.time() < deadline):
        page.wait_for_timeout(200)
    settle(page)


def sign_out_here(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("textbox", name="Password").wait_for(timeout=STEP_MS)
    settle(page)


def keep_frames(page, into: list[bytes]) -> None:
    """Append to `into` every websocket frame the server sends the page from now on
    (each one of Streamlit's ForwardMsg, as bytes)."""
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: into.append(
        payload if isinstance(payload, bytes) else payload.encode())))


def account_for(role: str) -> tuple[str, str]:
    name, password, _ = ACCOUNTS[role]
    return name, password


@dataclass
class Tour:
    """What one signed-in account saw and received on a tour of its pages."""

    username: str
    pages: list[str]
    headings: dict[str, list[str]]  # page -> visible h1 texts of the main area
    failures: dict[str, list[str]]  # page -> visible failure messages, anywhere
    nav_titles: list[str]
    canvases: dict[str, list[int]]  # page -> distinct colours of each canvas drawn
    received: bytes
    elsewhere: list[str]  # addresses the browser asked for on any other site


def canvas_colours(page, shot: Path) -> list[int]:
    """Distinct colours inside each canvas on screen, judged from a screenshot: a WebGL
    canvas cannot be read back from script once composited."""
    from PIL import Image

    # on screen only: the map's empty deck waits out of sight on every page
    # (components/map.py, the slot)
    boxes = [c.bounding_box() for c in page.locator(f"{DECK} canvas >> visible=true").all()]
    boxes = [b for b in boxes if b and b["width"] > 100 and b["height"] > 100]
    if not boxes:
        return []
    image = Image.open(shot).convert("RGB")
    result = []
    for b in boxes:
        region = image.crop((int(b["x"]), int(b["y"]), int(b["x"] + b["width"]),
                             int(b["y"] + b["height"])))
        result.append(len(region.getcolors(maxcolors=1 << 20) or []))
    return result


def still_canvas_colours(page, shot: Path) -> list[int]:
    """`canvas_colours` once the canvases stopped changing: two screenshots half a second
    apart that agree. A deck shown at a new size draws its old frame stretched (a blur of
    colours) until its next frame, later on a busy machine."""
    deadline = time.time() + STEP_MS / 1000
    page.screenshot(path=str(shot))
    colours = canvas_colours(page, shot)
    while time.time() < deadline:
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot))
        before, colours = colours, canvas_colours(page, shot)
        if colours == before:
            break
    return colours


def visible_texts(page, selector: str) -> list[str]:
    return [e.inner_text().strip() for e in page.locator(selector).all() if e.is_visible()]


def failure_messages(page) -> list[str]:
    """Every page-failure message on screen: an error alert or a traceback, or any
    alert that words a failure (should one be drawn as a warning)."""
    other_alerts = '[data-testid="stAlert"]:not(:has([data-testid="stAlertContentError"]))'
    return visible_texts(page, FAILURE) + [
        t for t in visible_texts(page, other_alerts) if any(w in t for w in FAILURE_WORDS)]


# The text written beside or on a chart's bars, or of its axes, that crosses the chart's
# edge, where the browser cuts it off ("347,31" for 347,315): measured on screen, as drawn.
# For a bar chart drawn as HTML (components/bars.py) also a number on a bar that shows
# but is wider than its bar (one that does not fit is wrapped out of sight).
CUT_OFF_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap((plot) => {
  const edge = plot.querySelector('svg.main-svg')?.getBoundingClientRect();
  const texts = plot.querySelectorAll('text.bartext, g.xtick text, g.ytick text');
  return edge ? [...texts].filter((text) => {
    const box = text.getBoundingClientRect();
    return box.width > 0 && (box.right > edge.right + 1 || box.left < edge.left - 1);
  }).map((text) => text.textContent) : [];
}).concat([...document.querySelectorAll('.sr-bars')].flatMap((chart) => {
  const edge = chart.getBoundingClientRect();
  const beyond = [...chart.querySelectorAll('.sr-bars-label, .sr-bars-value')].filter((t) => {
    const box = t.getBoundingClientRect();
    return box.width > 0 && (box.right > edge.right + 1 || box.left < edge.left - 1);
  });
  const cut = [...chart.querySelectorAll('.sr-bars-segment > span')].filter((t) => {
    const bar = t.parentElement.getBoundingClientRect(), box = t.getBoundingClientRect();
    return box.top < bar.bottom - 1 && (box.right > bar.right + 1 || box.left < bar.left - 1);
  });
  return [...beyond, ...cut].map((text) => text.textContent);
}))"""


def cut_off_texts(page) -> list[str]:
    """Chart texts on the page that the chart's edge cuts off."""
    return [f"chart text cut off at the chart's edge: {t!r}" for t in page.evaluate(CUT_OFF_JS)]


def page_problems(tour: Tour) -> list[str]:
    """What is wrong with the pages of a tour: a page without its own heading, or
    showing a failure or a cut-off chart text. Empty for a tour of working pages."""
    problems = []
    for key in tour.pages:
        if PAGE_HEADINGS.get(key) not in tour.headings[key]:
            problems.append(f"{tour.username} / {key}: no heading {PAGE_HEADINGS.get(key)!r} "
                            f"(headings shown: {tour.headings[key]})")
        problems += [f"{tour.username} / {key}: failure shown: {m[:300]!r}"
                     for m in tour.failures[key]]
    return problems


# A browser without WebGL: pydeck cannot draw, everything else is as in any browser.
NO_WEBGL = """(() => {
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    return /webgl/i.test(kind) ? null : getContext.call(this, kind, ...rest);
  };
})()"""


def take_tour(browser, server: Server, username: str, password: str, role: str,
              draw_maps: bool = True) -> Tour:
    """Sign in, open every page of the role from the navigation, screenshot each, and
    keep every websocket frame and HTTP body the server sent (not the static bundle).

    Without `draw_maps`, the browser has no WebGL and takes no screenshot: for a tour
    that looks only at what the server sends, which drawing does not change, while a
    map drawn on the CPU (SwiftShader) costs about 8 s of CPU a visit."""
    return take_tours(browser, server, [(username, password)], role, draw_maps)[0]


def take_tours(browser, server: Server, accounts: list[tuple[str, str]], role: str,
               draw_maps: bool = True) -> list[Tour]:
    """`take_tour` for each account of `role`, one after another in the same browser
    tab, as people sharing a computer would: each signs out and the next signs in on
    the form that follows. What the server sends from one sign-in to the next sign-in
    is the first account's; anything of the first that still came after its sign-out
    would be counted as the next one's, and found."""
    todo = [(u, p) for u, p in accounts if u not in server.tours]
    if todo:
        _tour_in_one_tab(browser, server, todo, role, draw_maps)
    return [server.tours[u] for u, _ in accounts]


def _tour_in_one_tab(browser, server: Server, accounts: list[tuple[str, str]], role: str,
                     draw_maps: bool) -> None:
    context = new_context(browser, draw_maps)
    page = context.new_page()
    chunks: list[bytes] = []
    keep_frames(page, chunks)

    def on_response(response) -> None:
        if "/static/" in response.url:
            return  # Streamlit's own JavaScript, the same for everyone
        try:
            chunks.append(response.body())
        except Exception:  # redirects and aborted requests have no body
            pass

    page.on("response", on_response)
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url)
            if not request.url.startswith((server.base, "data:", "blob:")) else None)
    load(page, server.base)
    folder = SCREENSHOTS / role
    folder.mkdir(parents=True, exist_ok=True)
    pages = access.pages_for(role)
    for n, (username, password) in enumerate(accounts):
        if n:
            sign_out_here(page)
        chunks.clear()
        sign_in_here(page, username, password)
        nav_titles = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
        headings, failures, canvases = {}, {}, {}
        for key in pages:
            open_nav_page(page, key)
            canvases[key] = []
            if draw_maps:
                screenshot(page, key, folder, canvases)
            headings[key] = visible_texts(page, '[data-testid="stMain"] h1')
            failures[key] = failure_messages(page) + cut_off_texts(page)
        titles = [t.strip().splitlines()[-1] for t in nav_titles]  # after the icon's name
        server.tours[username] = Tour(username, pages, headings, failures, titles, canvases,
                                      b"\n".join(chunks), list(elsewhere))
    context.close()


def screenshot(page, key: str, folder: Path, canvases: dict[str, list[int]]) -> None:
    """Screenshot the page, and note the colours of each map canvas drawn."""
    shot = folder / f"{key}.png"
    page.screenshot(path=str(shot), full_page=False)
    canvases[key] = canvas_colours(page, shot)
    # deck.gl draws a moment after the page settles, later on a busy machine:
    # look again until the map shows or a generous deadline passes
    deadline = time.time() + STEP_MS / 1000
    while (page.locator(f"{DECK} >> visible=true").count()
           and max(canvases[key] or [0]) <= 50 and time.time() < deadline):
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shot), full_page=False)
        canvases[key] = canvas_colours(page, shot)
