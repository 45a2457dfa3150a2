"""Attacks on an open page and on the sign-in cookie, played through AppTest.

- A page open in a browser keeps refreshing itself (components/page.py `live`: a
  Streamlit fragment with `run_every`), and a widget inside the fragment reruns the
  fragment alone. Those runs skip app.py, so each must check the session itself:
  signed out in another tab, the user gone from the users file or given another
  scope, or past 12 hours, and the next refresh sends no person's name.
- The cookie is readable by page scripts (it is set from the page), so it must be
  worth nothing to a thief once the session ends: a random session id that the
  server checks, expires and revokes; forged, foreign and malformed cookies show
  the sign-in form and never crash.
"""

from __future__ import annotations

import base64
import http.cookies
import json
import re
import secrets
import time
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from unittest import mock

import jwt
import pytest
import streamlit.testing.v1.local_script_runner as local_runner
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from components import signin
from components.session import KEY as CONTEXT_KEY
from dashboard.rules import auth
from tests.apptest import APP, page_app, shown, shown_tables, start, texts, walk
from tests.signin import ACCOUNTS, make_users_file, sign_in_as, use_users

LIBRARY_KEYS = ("authentication_status", "username", "name", "roles", "email", "logout")


@pytest.fixture(scope="module")
def users_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("users")
    make_users_file(folder)
    return folder


@pytest.fixture
def key() -> str:
    """A cookie key made for this test alone, as the README says to make one."""
    return secrets.token_urlsafe(32)


@pytest.fixture
def app(sqlite_url, users_dir, key, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    use_users(monkeypatch, users_dir / "users.yaml", cookie_key=key)
    return sqlite_url


@pytest.fixture
def browser(monkeypatch) -> dict[str, str]:
    """The cookies the browser sends with the page's request (st.context.cookies)."""
    jar: dict[str, str] = {}
    client = SimpleNamespace(cookies=jar, headers=[])
    monkeypatch.setattr("streamlit.runtime.context._get_client_context", lambda: client)
    return jar


def later(monkeypatch, seconds: float) -> None:
    """Move the sign-in rules' clock on, instead of sleeping."""
    monkeypatch.setattr(auth, "now", lambda: time.time() + seconds, raising=False)


# --- what the server sent ---------------------------------------------------------------

def elements(at: AppTest) -> list:
    return [node for node in walk(at._tree) if getattr(node, "proto", None) is not None]


def sent(at: AppTest) -> bytes:
    """Every element of the last run as it goes to the browser (tables included)."""
    return b"".join(node.proto.SerializeToString() for node in elements(at))


def cookie_sent(at: AppTest, name: str = auth.COOKIE_NAME) -> dict | None:
    """What the page told the browser to store as the sign-in cookie, if anything: the
    Set-Cookie value a script in the page gives `document.cookie`, read with the
    standard library's cookie parser (its value, and its attributes by lower-case
    name)."""
    for node in elements(at):
        found = re.search(r"document\.cookie = (\"[^\"]*\");", getattr(node.proto, "body", ""))
        if found:
            jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            jar.load(json.loads(found.group(1)))
            if name in jar:
                morsel = jar[name]
                return {"value": morsel.value, **{k: morsel[k] for k in morsel if morsel[k]}}
    return None


def visible_names(raw, url: str, nationality: str) -> list[str]:
    """docs/design.md §2.2, in the test's own SQL: the liaison's consenting, unprotected
    nationals, whose names the My nationals page lists."""
    with raw(url).connect() as conn:
        rows = conn.execute(text(
            "SELECT full_name FROM persons WHERE scenario_id = 1 AND consent_consular "
            "AND NOT protection_confidential AND (nationality = :n OR second_nationality = :n)"),
            {"n": nationality}).scalars().all()
    return [r for r in rows if r]


def names_sent(at: AppTest, names: list[str]) -> list[str]:
    body = sent(at)
    return [n for n in names if n.encode() in body]


# --- the same browser session, run by run --------------------------------------------------

def carry(source: AppTest, target: AppTest, keys) -> AppTest:
    for k in keys:
        if k in source.session_state:
            target.session_state[k] = source.session_state[k]
    return target


def open_signed_in(tab: AppTest, page: str) -> AppTest:
    """`tab`, signed in through app.py, now on `page` (as app.py runs it after navigation)."""
    return carry(tab, page_app(page), (*LIBRARY_KEYS, signin.SESSION, CONTEXT_KEY)).run()


def full_run(tab: AppTest, **changes) -> AppTest:
    """The next run of the same browser session through app.py. (After st.navigation
    AppTest reruns only the page, so a new AppTest carries the session over.)"""
    follow = carry(tab, AppTest.from_file(APP, default_timeout=120),
                   (*LIBRARY_KEYS, signin.SESSION, signin.NOTICE, CONTEXT_KEY))
    for k, v in changes.items():
        follow.session_state[k] = v
    return follow.run()


def refresh(page: AppTest) -> AppTest:
    """The page's next auto-refresh: Streamlit reruns the page's fragment alone, without
    the page script and without app.py (as a widget inside the fragment does)."""
    ids = list(page._fragment_storage._fragments)
    assert ids, "the page has no fragment that refreshes"
    real = local_runner.RerunData

    def fragment_only(**kwargs):
        return real(**kwargs, fragment_id_queue=list(ids), is_fragment_scoped_rerun=True,
                    is_auto_rerun=True)

    with mock.patch.object(local_runner, "RerunData", fragment_only):
        return page.run()


def signed_in(at: AppTest) -> bool:
    return any(b.label == "Sign out" for b in at.button)


def shows_the_form(at: AppTest) -> bool:
    return [t.label for t in at.text_input] == ["User name", "Password"] and not signed_in(at)


# --- an open page outlives nothing ---------------------------------------------------------

def liaison_on(app: str, raw, page_key: str) -> SimpleNamespace:
    """A liaison signed in with `page_key` open and naming nationals; the names it may see."""
    tab = sign_in_as(start(), "consular")
    page = open_signed_in(tab, page_key)
    names = visible_names(raw, app, "ETH")
    assert not page.exception
    assert names_sent(page, names), f"{page_key} names nobody to begin with"
    return SimpleNamespace(tab=tab, page=page, names=names)


@pytest.fixture
def liaison_page(app, raw):
    """A liaison signed in, with My nationals open and listing names."""
    return liaison_on(app, raw, "my_nationals")


def test_a_refresh_of_a_session_that_holds_still_lists_the_names(liaison_page):
    again = refresh(liaison_page.page)
    assert not again.exception
    assert names_sent(again, liaison_page.names)


def test_signed_out_in_another_tab_the_open_page_sends_no_names_at_its_next_refresh(
        liaison_page, browser):
    value = cookie_sent(liaison_page.tab)["value"]
    browser[auth.COOKIE_NAME] = value  # a second tab of the same browser
    other = start()
    assert signed_in(other)
    other = full_run(other, **{signin.SIGN_OUT: True})  # its Sign out button
    assert "You have signed out" in texts(other)
    browser.clear()

    after = refresh(liaison_page.page)
    assert not after.exception
    assert names_sent(after, liaison_page.names) == []
    assert not after.dataframe


def test_a_user_removed_from_the_users_file_gets_no_names_at_the_next_refresh(
        liaison_page, tmp_path, monkeypatch):
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text("users: {}\n")
    monkeypatch.setenv("SITROOM_USERS", str(fewer))
    after = refresh(liaison_page.page)
    assert not after.exception
    assert names_sent(after, liaison_page.names) == []
    assert not after.dataframe
    # and the next full run shows the sign-in form, saying why
    again = full_run(after)
    assert shows_the_form(again) and "no longer in the users file" in texts(again)


def test_a_liaison_given_other_nationalities_gets_none_of_the_old_names_at_the_next_refresh(
        liaison_page, tmp_path, monkeypatch):
    moved = tmp_path / "moved.yaml"
    name, password, _ = ACCOUNTS["consular"]
    from tests.signin import add_user
    assert add_user(moved, name, password, "consular", ("ERI",))[0] == 0
    monkeypatch.setenv("SITROOM_USERS", str(moved))
    after = refresh(liaison_page.page)
    assert not after.exception
    assert names_sent(after, liaison_page.names) == []
    again = full_run(after)
    assert shows_the_form(again) and "role or nationalities changed" in texts(again)


def test_past_twelve_hours_the_open_page_sends_no_names_at_its_next_refresh(
        liaison_page, monkeypatch):
    later(monkeypatch, auth.SESSION_MAX_S)
    after = refresh(liaison_page.page)
    assert not after.exception
    assert names_sent(after, liaison_page.names) == []
    again = full_run(after)
    assert shows_the_form(again) and "12 hours" in texts(again)


def test_one_second_short_of_twelve_hours_the_page_still_refreshes(liaison_page, monkeypatch):
    later(monkeypatch, auth.SESSION_MAX_S - 5)  # the sign-in took a moment too
    assert names_sent(refresh(liaison_page.page), liaison_page.names)


@pytest.fixture
def liaison_map(app, raw):
    """A liaison signed in with the Map open, its points' tips naming nationals. The Map
    refreshes as whole runs of the page (its deck is drawn outside any fragment,
    components/map.py), which check the session as the other pages' fragments do."""
    return liaison_on(app, raw, "map")


def test_a_refresh_of_the_map_of_a_session_that_holds_still_names_the_same(liaison_map):
    before = names_sent(liaison_map.page, liaison_map.names)
    again = refresh(liaison_map.page)  # the same AppTest, run again
    assert not again.exception
    assert names_sent(again, liaison_map.names) == before


def test_past_twelve_hours_the_open_map_sends_no_names_at_its_next_refresh(
        liaison_map, monkeypatch):
    later(monkeypatch, auth.SESSION_MAX_S)
    after = refresh(liaison_map.page)
    assert not after.exception
    assert names_sent(after, liaison_map.names) == []
    assert not after.get("deck_gl_json_chart")
    assert "12 hours" in texts(after)  # the refresh ran, and said why it shows nothing


# --- the cookie: a random id the server checks --------------------------------------------

def test_the_cookie_carries_nothing_but_a_random_session_id(app):
    first = cookie_sent(sign_in_as(start(), "consular"))
    second = cookie_sent(sign_in_as(start(), "consular"))
    assert first and second
    name = ACCOUNTS["consular"][0]
    for cookie in (first, second):
        value = cookie["value"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value  # 32 bytes, URL-safe base64
        assert len(base64.urlsafe_b64decode(value + "=")) == 32
        assert name not in value and name.encode() not in base64.urlsafe_b64decode(value + "=")
    assert first["value"] != second["value"]


def test_the_cookie_is_same_site_strict_and_lasts_twelve_hours(app):
    before = time.time()
    cookie = cookie_sent(sign_in_as(start(), "committee"))
    assert cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == auth.SESSION_MAX_S
    expires = parsedate_to_datetime(cookie["expires"])
    assert expires.utcoffset() is not None  # an instant, not the server's local time
    # the header counts whole seconds: a few seconds' slack below
    assert before + auth.SESSION_MAX_S - 5 <= expires.timestamp() <= time.time() + \
        auth.SESSION_MAX_S
    assert "secure" not in cookie  # served over plain http here


def test_the_cookie_is_secure_when_the_page_is_served_over_https(app):
    at = AppTest.from_file(APP, default_timeout=120)
    at.context["url"] = "https://sitroom.example.org/"
    cookie = cookie_sent(sign_in_as(at.run(), "committee"))
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Strict"


def test_signing_out_tells_the_browser_to_drop_the_cookie(app):
    tab = sign_in_as(start(), "committee")
    out = full_run(tab, **{signin.SIGN_OUT: True})
    dropped = cookie_sent(out)
    assert dropped is not None and dropped["value"] == ""
    assert int(dropped["max-age"]) == 0
    assert parsedate_to_datetime(dropped["expires"]).timestamp() < time.time()
    assert dropped["path"] == "/"  # the same cookie as the one set, or it stays


def test_the_server_keeps_a_keyed_digest_of_the_id_never_the_id(app, own_audit_log):
    value = cookie_sent(sign_in_as(start(), "committee"))["value"]
    stored = b"".join(p.read_bytes() for p in own_audit_log.parent.glob("auth.sqlite*"))
    assert value.encode() not in stored
    import hashlib
    import hmac

    assert hashlib.sha256(value.encode()).hexdigest().encode() not in stored
    with auth.AuthStore(own_audit_log.with_name("auth.sqlite"))._transaction() as conn:
        digests = [r[0] for r in conn.execute("SELECT digest FROM sessions")]
    key = auth.cookie_key(app, None)
    assert digests == [hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()]


def test_a_copied_cookie_signs_in_until_sign_out_and_never_after(app, browser):
    tab = sign_in_as(start(), "coordinator")
    browser[auth.COOKIE_NAME] = cookie_sent(tab)["value"]
    copy = start()  # another browser with the stolen cookie
    assert signed_in(copy) and copy.metric
    full_run(tab, **{signin.SIGN_OUT: True})
    replay = start()
    assert not replay.exception
    assert shows_the_form(replay) and not shown(replay, "metric")


def test_a_cookie_older_than_twelve_hours_signs_nobody_in(app, browser, monkeypatch):
    browser[auth.COOKIE_NAME] = cookie_sent(sign_in_as(start(), "committee"))["value"]
    later(monkeypatch, auth.SESSION_MAX_S)
    at = start()
    assert shows_the_form(at) and not shown(at, "metric")


def test_a_new_cookie_key_signs_every_session_out(app, browser, monkeypatch):
    browser[auth.COOKIE_NAME] = cookie_sent(sign_in_as(start(), "committee"))["value"]
    assert signed_in(start())
    monkeypatch.setenv("SITROOM_COOKIE_KEY", secrets.token_urlsafe(32))
    at = start()
    assert shows_the_form(at) and not shown(at, "metric")


def test_a_cookie_of_a_user_removed_from_the_file_signs_nobody_in(app, browser, tmp_path,
                                                                  monkeypatch):
    browser[auth.COOKIE_NAME] = cookie_sent(sign_in_as(start(), "committee"))["value"]
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text("users: {}\n")
    monkeypatch.setenv("SITROOM_USERS", str(fewer))
    at = start()
    assert not at.exception and not signed_in(at) and not shown(at, "metric")


# --- forged, foreign and malformed cookies ------------------------------------------------

def _unsigned(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def forgeries(key: str) -> dict[str, str]:
    """Cookies an attacker could make, each claiming to be the data protection lead."""
    claims = {"username": ACCOUNTS["admin"][0], "exp_date": time.time() + 3600}
    return {
        "signed with the server's own key": jwt.encode(claims, key, algorithm="HS256"),
        "signed with the library's default key": jwt.encode(claims, "some_key",
                                                            algorithm="HS256"),
        "alg none": _unsigned(claims),
        "HS512 with the server's key": jwt.encode(claims, key, algorithm="HS512"),
        "an expiry that is not a number": jwt.encode(
            {"username": ACCOUNTS["admin"][0], "exp_date": "soon"}, key, algorithm="HS256"),
        "a payload that is not an object": ".".join([
            base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode(),
            base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode(), "c2ln"]),
        "garbage": "not-a-token",
        "three dots": "a.b.c",
        "empty": "",
        "very long": "A" * 100_000,
        "an id the server never issued": secrets.token_urlsafe(32),
        "unicode": "é" * 43,
    }


FORGED = ("signed with the server's own key", "signed with the library's default key",
          "alg none", "HS512 with the server's key", "an expiry that is not a number",
          "a payload that is not an object", "garbage", "three dots", "empty", "very long",
          "an id the server never issued", "unicode")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_the_forgeries_are_all_tried():
    assert tuple(forgeries(secrets.token_urlsafe(32))) == FORGED


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # short on purpose
@pytest.mark.parametrize("kind", FORGED)
def test_a_forged_foreign_or_malformed_cookie_shows_the_sign_in_form(app, browser, key,
                                                                     kind):
    browser[auth.COOKIE_NAME] = forgeries(key)[kind]
    at = start()
    assert not at.exception, at.exception
    assert shows_the_form(at)
    assert not shown(at, "metric") and not shown_tables(at)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_published_key_closes_sign_in_so_cookies_forged_with_it_sign_nobody_in(
        app, browser, monkeypatch):
    shipped = "a-test-cookie-key-that-is-long-enough"  # tests/signin.py's, in git for good
    monkeypatch.setenv("SITROOM_COOKIE_KEY", shipped)
    browser[auth.COOKIE_NAME] = forgeries(shipped)["signed with the server's own key"]
    at = start()
    assert not at.exception
    assert not signed_in(at) and not shown(at, "metric") and not at.text_input
    assert "cookie key" in texts(at)
