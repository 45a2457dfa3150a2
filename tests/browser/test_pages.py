"""Each role in a real browser: its pages and only those, each under its own heading
and showing no failure, a drawn map; sign-out that really ends the session; the
lockout and its end; no page without sign-in."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest
import streamlit

from components import early
from components import map as deck
from dashboard.rules import access
from dashboard.rules.auth import COOKIE_NAME, MAX_FAILURES, SESSION_MAX_S, WINDOW_S
from dashboard.tools.generate import generate
from tests.browser.conftest import (
    FAILURE,
    PAGE_HEADINGS,
    STEP_MS,
    account_for,
    fill_sign_in,
    in_sight,
    keep_frames,
    load,
    main_text,
    new_context,
    open_nav_page,
    page_problems,
    running_server,
    settle,
    sign_in,
    sign_in_here,
    still_canvas_colours,
    take_tour,
)
from tests.conftest import PERSONS, SEED, reader_url
from tests.signin import make_users_file


def test_every_page_has_its_expected_heading_stated():
    assert set(PAGE_HEADINGS) == set(access.PAGES), "PAGE_HEADINGS must name every page"


@pytest.mark.parametrize("role", list(access.ROLES))
def test_each_role_opens_every_page_of_its_own_and_no_other(browser, server, role):
    tour = take_tour(browser, server, *account_for(role), role)
    assert tour.nav_titles == [access.PAGES[k].title for k in access.pages_for(role)]
    problems = page_problems(tour)
    assert not problems, "a page did not work:\n" + "\n".join(problems)
    if "map" in tour.pages:
        drawn = tour.canvases["map"]
        assert drawn, "the Map page drew no canvas"
        # A blank or failed WebGL canvas is one flat colour; a drawn map has many.
        assert max(drawn) > 50, f"the map canvas looks blank ({drawn} colours)"
    # Nothing may depend on the internet, and an address asked of another site tells it
    # that someone is using the dashboard (the tab's icon was one, from Google's fonts).
    assert not tour.elsewhere, f"the browser asked another site for {tour.elsewhere[:5]}"


def _messages(frames: list[bytes]) -> list:
    """The websocket frames as Streamlit's messages (each frame is one ForwardMsg)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return [ForwardMsg.FromString(frame) for frame in frames]


def full_runs(frames: list[bytes]) -> int:
    """How many runs of the whole app the server finished among websocket frames (a
    fragment's own run ends otherwise)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return sum(m.WhichOneof("type") == "script_finished"
               and m.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY
               for m in _messages(frames))


def test_the_first_sign_in_after_a_start_takes_one_press_and_one_run(browser, sqlite_url,
                                                                      tmp_path):
    """The first reader after a start: the form filled in once and pressed once signs
    in (Streamlit drew that first run's form under other widget ids than the next
    run's, and the press was lost), and each step is one run of the app: the form's
    load, the landing after Sign in, and a page opened with the cookie. Each run of
    the landing page is a reader's wait: at a million people, seconds each."""
    with running_server(sqlite_url, tmp_path, make_users_file(tmp_path)) as fresh:
        context = new_context(browser)
        page = context.new_page()
        frames: list[bytes] = []
        keep_frames(page, frames)
        page.goto(fresh.base)
        settle(page)
        assert full_runs(frames) == 1, "the sign-in form's load"
        name, password = account_for("committee")
        page.get_by_role("textbox", name="User name").fill(name)
        page.get_by_role("textbox", name="Password").fill(password)
        frames.clear()
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for(timeout=STEP_MS)
        page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=STEP_MS)
        settle(page, quiet_ms=2000)
        assert full_runs(frames) == 1, "the landing after Sign in"
        cookie = next(c for c in context.cookies() if c["name"] == COOKIE_NAME)
        assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert abs(cookie["expires"] - (time.time() + SESSION_MAX_S)) < 120

        again = context.new_page()  # the same browser: the cookie signs it in
        frames.clear()
        keep_frames(again, frames)
        again.goto(fresh.base)
        again.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=STEP_MS)
        settle(again, quiet_ms=2000)
        assert again.get_by_role("button", name="Sign out").count() == 1
        assert full_runs(frames) == 1, "a page opened with the cookie"
        context.close()


def test_a_page_address_asked_first_after_a_start_shows_the_sign_in_form(browser, sqlite_url,
                                                                        tmp_path):
    """The very first request to a fresh server is a page's address (a bookmark): until
    a session has built the navigation, Streamlit runs that page's file, not app.py.
    The reader gets the sign-in form, not a blank page under a list of the files of
    pages/."""
    with running_server(sqlite_url, tmp_path, make_users_file(tmp_path)) as fresh:
        context = new_context(browser, draw_maps=False)
        page = context.new_page()
        load(page, f"{fresh.base}/shelters")
        assert page.locator('[data-testid="stSidebarNavLink"]').count() == 0
        assert page.get_by_role("button", name="Sign in").count() == 1
        context.close()


def test_a_started_server_counts_what_the_pages_read_before_anyone_visits(sqlite_url,
                                                                          tmp_path):
    """`sitroom run` begins counting the figures every page reads as it starts, not at
    its first visit: on a first start at a million people, the first reader's browser
    loads and they sign in while it counts. Seen from outside with no browser open:
    the counts it keeps on disk for its next start (SITROOM_HOME/facts) appear."""
    kept = {"SITROOM_FACTS_DIR": str(tmp_path / "facts")}  # the tests' own default: off
    with running_server(sqlite_url, tmp_path, make_users_file(tmp_path), kept) as fresh:
        deadline = time.time() + 60
        while not list((tmp_path / "facts").rglob("*.pickle")) and time.time() < deadline:
            time.sleep(0.5)
        assert list((tmp_path / "facts").rglob("*.pickle")), fresh.log.read_text()[-2000:]
        # nor does its log warn of the thread that counts, which touches Streamlit's
        # caches outside a page run on purpose (the warnings came a second or two later)
        deadline = time.time() + 5
        while time.time() < deadline:
            assert "missing ScriptRunContext" not in fresh.log.read_text()
            time.sleep(0.5)


def test_a_reader_who_came_during_the_first_count_gets_the_map_deck_after_the_first_page(
        browser, pg_databases, tmp_path):
    """While a started server finds its first figures, every page waits for them; on a
    machine that also runs the reader's browser, the map's deck (deck.gl's script, a
    WebGL context, and compiling its primers: seconds of CPU without a graphics card)
    slowed that count. So no deck is drawn behind the form nor under the first page
    while the count is under way, and the page runs once more PRIMERS_AFTER_S after it
    showed its figures, to draw the empty deck with its primers, with nothing else
    changed. The count is held back as a million people would hold it: the dashboard
    reads through its read-only login, and a policy of the test's makes the count's read
    of the cases' steps (the one query with LAG) wait for a lock the test holds. Pages
    read nothing of it while the count is under way."""
    owner = pg_databases.create("first_count")
    generate(owner, persons=PERSONS, seed=SEED)
    url = reader_url(owner)
    plain = owner.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION held() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
                     "IF current_query() LIKE '%LAG(%' THEN "
                     "PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN true; END $$")
        # to every login: the count reads as the reader's login for all rows
        conn.execute("CREATE POLICY held ON evacuation_events AS RESTRICTIVE FOR SELECT "
                     "USING (held())")
    holder = psycopg.connect(plain, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(4242)")
    canvas = f".st-key-{deck.SLOT_KEY} canvas"
    try:
        with running_server(url, tmp_path, make_users_file(tmp_path)) as fresh:
            context = new_context(browser)
            page = context.new_page()
            frames: list[bytes] = []
            keep_frames(page, frames)

            def decks() -> list[list[str]]:
                return [[layer["id"] for layer in json.loads(
                    m.delta.new_element.deck_gl_json_chart.json)["layers"]]
                    for m in _decks(_messages(frames))]

            page.goto(fresh.base)
            page.get_by_role("button", name="Sign in").wait_for(timeout=STEP_MS)
            settle(page)
            assert decks() == [] and page.locator(canvas).count() == 0, "a deck by the form"
            fill_sign_in(page, *account_for("committee"))
            page.get_by_text("is counting this scenario's figures", exact=False).wait_for(
                timeout=STEP_MS)
            holder.execute("SELECT pg_advisory_unlock(4242)")  # the count goes on
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=STEP_MS)
            shown = time.time()
            assert decks() == [], "a deck before the figures"
            deadline = shown + deck.PRIMERS_AFTER_S + 30
            while not decks() and time.time() < deadline:
                page.wait_for_timeout(250)
            primed = time.time()
            [drawn] = decks()
            assert drawn and all(i.startswith("primer-") for i in drawn), drawn
            assert len(drawn) == len(deck.primers())
            assert primed - shown >= deck.PRIMERS_AFTER_S - 2, "it came with the figures"
            settle(page)
            # deck.gl's script loads on demand and makes its canvas after the run ended
            page.locator(canvas).first.wait_for(state="attached", timeout=STEP_MS)
            page.wait_for_timeout(500)
            assert page.locator(canvas).count() == 1
            assert page.locator('[data-testid="stMetricValue"]').count() > 0
            assert page.locator(FAILURE).count() == 0
            context.close()
    finally:
        holder.close()


# The script Streamlit's browser side loads for each kind of element components.early
# draws (by its test id): files of Streamlit's own, named so in its static/js folder.
SCRIPTS = {"stPlotlyChart": "PlotlyChart", "stMetric": "Metric", "stCheckbox": "Checkbox",
           "stNumberInput": "NumberInput", "stSlider": "Slider", "stButtonGroup": "ButtonGroup",
           "stButton": "Button", "stDownloadButton": "DownloadButton", "stDataFrame": "DataFrame",
           "stTable": "Table", "stMultiSelect": "Multiselect", "stDateInput": "DateInput",
           "stMarkdown": "rehype-raw"}


@pytest.mark.parametrize("draw_maps", [True, False], ids=["webgl", "no webgl"])
def test_the_sign_in_form_loads_the_first_pages_scripts_out_of_sight(browser, server, draw_maps):
    """While the reader types, the scripts of Plotly, deck.gl and every kind of element
    the first pages draw load and run behind the form (components.early, an empty map),
    so that neither the landing after Sign in nor the first visit of the Map waits for
    them; they take no room, show nothing, and a browser without WebGL shows no
    failure for the map either."""
    context = new_context(browser, draw_maps=draw_maps)
    page = context.new_page()
    page.goto(server.base)
    page.get_by_role("button", name="Sign in").wait_for(timeout=STEP_MS)
    page.locator(".js-plotly-plot").wait_for(state="attached", timeout=STEP_MS)  # it ran
    page.locator('[data-testid="stDeckGlJsonChart"]').wait_for(state="attached",
                                                               timeout=STEP_MS)
    settle(page)
    assert set(SCRIPTS) == set(early.DRAWN)
    for test_id in early.DRAWN:
        drawn = page.locator(f'.st-key-{early.KEY} [data-testid="{test_id}"]')
        assert drawn.count() >= 1, f"{test_id} is not drawn behind the form"
        assert not drawn.first.is_visible()
    assert takes_no_room(page.locator(f".st-key-{early.KEY}"))
    mapped = page.locator('[data-testid="stDeckGlJsonChart"]')
    assert mapped.count() == 1 and not mapped.is_visible()
    assert takes_no_room(page.locator(f".st-key-{deck.SLOT_KEY}"))
    assert page.locator(FAILURE).count() == 0
    context.close()


def test_the_page_after_sign_in_loads_no_script_the_form_could_have(browser, server):
    """The Overview after Sign in draws metrics, toggles, data grids, download buttons...
    Their scripts were loaded behind the form: fetched after Sign in, the page would
    redraw itself as each arrived, after it appeared."""
    static = Path(streamlit.__file__).parent / "static" / "static" / "js"
    names = {path.name.split(".")[0] for path in static.glob("*.js")}
    assert set(SCRIPTS.values()) <= names, "Streamlit's scripts are named otherwise now"
    context = new_context(browser)
    page = context.new_page()
    load(page, server.base)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url.rsplit("/", 1)[-1].split(".")[0])
            if r.url.endswith(".js") else None)
    sign_in_here(page, *account_for("committee"))
    assert page.locator('[data-testid="stMetric"]').count() > 0  # it drew some
    assert not set(fetched) & set(SCRIPTS.values()), sorted(fetched)
    context.close()


def takes_no_room(element) -> bool:
    """Not laid out (display: none), or laid out wholly left of the page (the map's
    slot keeps its size out of sight, components/map.py)."""
    box = element.bounding_box()
    return box is None or box["x"] + box["width"] <= 0


def test_the_map_is_one_deck_from_the_sign_in_form_to_every_visit(browser, server, tmp_path):
    """A map sent at a new place on the page is a new deck, and a new WebGL context
    compiles every shader again (seconds a visit without a graphics card). The Map's
    deck is the slot's (components/map.py): the canvas made behind the sign-in form
    is the one each visit draws on, out of sight and taking no room on other pages but
    at the same size, and each visit opens on the Map's own view, not on the empty
    deck's."""
    canvas = f".st-key-{deck.SLOT_KEY} canvas"
    context = new_context(browser)
    page = context.new_page()
    page.goto(server.base)
    page.get_by_role("button", name="Sign in").wait_for(timeout=STEP_MS)
    page.locator(canvas).wait_for(state="attached", timeout=STEP_MS)
    page.evaluate("(s) => { document.querySelector(s).__made = 'behind the form'; }", canvas)
    sign_in_here(page, *account_for("committee"))

    def made() -> list:
        return page.evaluate("(s) => [...document.querySelectorAll(s)].map(c => c.__made)",
                             canvas)

    colours, widths = [], {}
    for visit in ("map", "shelters", "map", "overview", "map", "referrals", "map", "evacuation",
                  "map"):
        open_nav_page(page, visit)
        assert made() == ["behind the form"], visit
        # its drawing buffer the same size shown and hidden: a new one is a third of a
        # second without a graphics card, each way
        widths[visit] = page.evaluate("(s) => document.querySelector(s).width", canvas)
        slot = page.locator(f".st-key-{deck.SLOT_KEY}")
        if visit != "map":
            assert not slot.is_visible() and takes_no_room(slot), visit
            continue
        # under the filters, above the legend: where the page draws it
        filters = page.get_by_text("Vulnerability", exact=True).first.bounding_box()
        legend = page.get_by_text("Facility load:", exact=False).first.bounding_box()
        box = slot.bounding_box()
        assert filters["y"] < box["y"] < box["y"] + box["height"] <= legend["y"]
        shot = tmp_path / f"map-{len(colours)}.png"
        colours.append(still_canvas_colours(page, shot)[0])
    # Its own view each time: the districts, counts and facilities, not an empty sea.
    assert min(colours) > 0.8 * max(colours), colours
    assert len(set(widths.values())) == 1, widths
    assert page.locator(FAILURE).count() == 0
    context.close()


def _decks(messages: list) -> list:
    """The messages that carry a whole map (a deck's JSON)."""
    return [m for m in messages if m.WhichOneof("type") == "delta"
            and m.delta.WhichOneof("type") == "new_element"
            and m.delta.new_element.WhichOneof("type") == "deck_gl_json_chart"]


def test_coming_back_to_a_page_does_not_fetch_its_large_elements_again(browser, server,
                                                                      tmp_path):
    """The browser keeps what it was sent: back on the Map after four other pages, the
    server sends a reference to the map it drew before, not the map again (at a
    million people, half a megabyte a visit), and the map is drawn from it."""
    context = new_context(browser)
    page = context.new_page()
    frames: list[bytes] = []
    keep_frames(page, frames)
    sign_in(page, server.base, *account_for("committee"))
    frames.clear()
    open_nav_page(page, "map")
    sent = [m for m in _decks(_messages(frames)) if '"primer-' not in
            m.delta.new_element.deck_gl_json_chart.json]
    assert len(sent) == 1, "the Map's deck, sent whole on the first visit"
    first = still_canvas_colours(page, tmp_path / "map-first.png")[0]
    for visit in ("shelters", "referrals", "evacuation", "overview"):
        open_nav_page(page, visit)
    frames.clear()
    open_nav_page(page, "map")
    back = _messages(frames)
    assert not [m for m in _decks(back) if m.hash == sent[0].hash], "the map sent again"
    assert sent[0].hash in [m.ref_hash for m in back], "no reference to the map sent before"
    again = still_canvas_colours(page, tmp_path / "map-again.png")[0]
    assert again > 0.8 * first, (first, again)
    assert page.locator(FAILURE).count() == 0
    context.close()


def test_a_page_outside_the_role_cannot_be_reached_by_its_url(browser, server):
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, server.base, *account_for("consular"))
    page.goto(f"{server.base}/audit")  # admin only; the cookie signs the liaison in again
    page.get_by_role("button", name="Sign out").wait_for()
    settle(page)
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert "Audit log" not in main_text(page)
    assert page.locator(FAILURE).count() == 0
    context.close()


def test_signing_out_revokes_the_cookie_on_the_server(browser, server):
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, server.base, *account_for("coordinator"))
    cookies = [c for c in context.cookies() if c["name"] == "sitroom_auth"]
    assert cookies, "no sign-in cookie was set"

    # Before sign-out the cookie alone signs a new browser in: the replay below would
    # succeed without the server-side revocation.
    replay = new_context(browser)
    replay.add_cookies(cookies)
    other = replay.new_page()
    other.goto(server.base)
    other.get_by_role("button", name="Sign out").wait_for(timeout=STEP_MS)
    replay.close()

    page.get_by_role("button", name="Sign out").click()
    settle(page)
    assert "You have signed out" in main_text(page)

    replay = new_context(browser)
    replay.add_cookies(cookies)
    other = replay.new_page()
    # the cookie is read on the page's first run (its only one, tested above): quiet
    # for 2 s after it, nothing more is coming
    load(other, server.base, quiet_ms=2000)
    assert other.get_by_role("textbox", name="Password").count() == 1
    assert other.get_by_role("button", name="Sign out").count() == 0
    assert other.locator(in_sight("stMetric")).count() == 0
    replay.close()
    context.close()


def test_five_failures_lock_the_account_and_it_unlocks_by_itself(browser, server):
    context = new_context(browser)
    page = context.new_page()
    load(page, server.base)
    for _ in range(MAX_FAILURES):
        fill_sign_in(page, "lockme", "not-the-password")
    assert "locked for 15 more minutes" in main_text(page)
    fill_sign_in(page, "lockme", "lockme-pass-1")
    assert "locked for" in main_text(page)
    assert page.get_by_role("button", name="Sign out").count() == 0
    page.screenshot(path=str(server.log.parent / "locked.png"))
    # Fifteen minutes on: age the failures in the server's store as the clock would.
    with sqlite3.connect(server.auth_store) as conn:
        conn.execute("UPDATE failed_signins SET at = at - ?", (WINDOW_S,))
    fill_sign_in(page, "lockme", "lockme-pass-1")
    page.get_by_role("button", name="Sign out").wait_for(timeout=STEP_MS)
    context.close()


@pytest.mark.parametrize("key", list(access.PAGES))
def test_a_page_url_opened_without_signing_in_shows_only_the_sign_in_form(browser, server,
                                                                            key):
    context = new_context(browser)
    page = context.new_page()
    load(page, f"{server.base}/{key.replace('_', '-')}")
    assert page.get_by_role("textbox", name="Password").count() == 1
    for testid in ("stMetric", "stDataFrame", "stDeckGlJsonChart", "stException", "stTable",
                   "stAlertContentError"):
        assert page.locator(in_sight(testid)).count() == 0, testid
    assert page.locator('[data-testid="stSidebarNavLink"]').count() == 0
    context.close()


def _exports(server) -> list[tuple[str, str, int]]:
    """(user, file, rows) of each export line of the server's audit log."""
    with sqlite3.connect(server.users_file.parent / "audit.sqlite") as conn:
        rows = conn.execute("SELECT user, filters, rows_shown FROM audit_log "
                            "WHERE action = 'export' ORDER BY id").fetchall()
    return [(user, json.loads(filters)["file"], n) for user, filters, n in rows]


def test_a_download_is_made_by_its_click_and_written_to_the_audit_log(browser, server):
    """A liaison takes its nationals as CSV in the browser: the file arrives with its
    headings, the HXL hashtag row and the rows shown, and exactly one export line names
    the user, the file and its rows; opening the page alone wrote none."""
    name, password = account_for("consular")
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, server.base, name, password)
    open_nav_page(page, "my_nationals")
    before = _exports(server)
    with page.expect_download() as taken:
        page.get_by_role("button", name=re.compile(r"\(CSV\)$")).first.click()
    download = taken.value
    body = Path(download.path()).read_text(encoding="utf-8")
    settle(page)
    context.close()
    lines = list(csv.reader(io.StringIO(body)))
    headings, hashtags, rows = lines[0], lines[1], lines[2:]
    assert "name" in [h.lower() for h in headings] and rows
    assert all(tag.startswith("#") for tag in hashtags if tag), hashtags
    assert _exports(server)[len(before):] == [(name, download.suggested_filename, len(rows))]


def test_the_shelters_totals_are_drawn_when_their_reader_opens_them(browser, server):
    """The totals by kind and by area are drawn in the browser once opened, and gone
    again once closed: until then the page draws one data grid, the facilities'."""
    name, password = account_for("coordinator")
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, server.base, name, password)
    open_nav_page(page, "shelters")
    grids = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]')
    section = page.locator('[data-testid="stExpander"] summary',
                           has_text="Totals by kind and by area")
    assert grids.count() == 1
    assert page.get_by_role("heading", name="Totals by kind", exact=True).count() == 0
    section.click()
    settle(page)
    assert grids.count() == 3
    assert page.get_by_role("heading", name="Totals by kind", exact=True).count() == 1
    assert page.get_by_role("heading", name="Totals by area", exact=True).count() == 1
    assert page.get_by_role("button", name=re.compile(r"^Download \(CSV\)$")).count() == 2
    section.click()
    settle(page)
    assert grids.count() == 1
    context.close()
