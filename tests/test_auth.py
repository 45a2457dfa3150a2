"""Sign-in: the lockout that lifts by itself, sessions kept on the server (revoked on
sign-out, 12 hours at most, ended when the users file changes), the cookie key, and the
sign-in page's messages, with AppTest and an injected clock. The attacks on an open page
and on the cookie itself are in tests/test_sessions.py."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from components import early, signin
from components.session import MAP_VIEW_KEY
from dashboard import config
from dashboard.rules import auth
from dashboard.rules.auth import MAX_FAILURES, SESSION_MAX_S, WINDOW_S, AuthStore
from tests.apptest import open_page, shown, shown_tables, start, texts, walk
from tests.signin import ACCOUNTS, make_users_file, sign_in, sign_in_as, use_users
from tests.test_map import made_up_only


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def users_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("users")
    make_users_file(folder)
    return folder


@pytest.fixture
def app(sqlite_url, users_dir, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    use_users(monkeypatch, users_dir / "users.yaml", cookie_key=secrets.token_urlsafe(32))
    return sqlite_url


def resume(at, **changes):
    """The same browser session's next run through app.py. (AppTest reruns only the page
    script after st.navigation has run, so a new AppTest carries the session over.)"""
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP
    follow = AppTest.from_file(APP, default_timeout=120)
    for key in ("authentication_status", "username", "name", "roles", "email", "logout",
                signin.SESSION):
        follow.session_state[key] = at.session_state[key]
    for key, value in changes.items():
        follow.session_state[key] = value
    return follow.run()


def registered(raw, url) -> str:
    with raw(url).connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM persons WHERE scenario_id = 1")).scalar()
    return f"{n:,}"


# --- the lockout, with an injected clock -------------------------------------------------

def test_five_failures_lock_the_account_for_fifteen_minutes_then_it_unlocks(tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    for _ in range(MAX_FAILURES - 1):
        store.record_failure("amira")
        clock.now += 10
    assert store.locked_for("amira") == 0
    store.record_failure("amira")
    last = clock.now
    assert store.locked_for("amira") > 0
    first = last - 10 * (MAX_FAILURES - 1)
    clock.now = first + WINDOW_S - 1
    assert store.locked_for("amira") == pytest.approx(1)
    clock.now = first + WINDOW_S
    assert store.locked_for("amira") == 0  # by itself, no one had to unlock it


def test_failures_spread_over_more_than_the_window_do_not_lock(tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    for _ in range(12):
        store.record_failure("amira")
        clock.now += WINDOW_S / 4 + 1  # at most 4 inside any 15 minutes
        assert store.locked_for("amira") == 0


def test_the_lock_is_per_account_and_names_are_compared_as_signed_in(tmp_path):
    store = AuthStore(tmp_path / "auth.sqlite", Clock())
    for _ in range(MAX_FAILURES):
        store.record_failure(" Amira ")
    assert store.locked_for("amira") > 0
    assert store.locked_for("bashir") == 0


def test_the_lock_holds_across_processes_sharing_the_store(tmp_path):
    clock = Clock()
    for _ in range(MAX_FAILURES):
        AuthStore(tmp_path / "auth.sqlite", clock).record_failure("amira")
    assert AuthStore(tmp_path / "auth.sqlite", clock).locked_for("amira") > 0


def test_the_locked_message_counts_whole_minutes():
    assert auth.locked_message(14 * 60 + 1) == (
        "This account is locked for 15 more minutes after repeated failed sign-ins.")
    assert "1 more minute " in auth.locked_message(5)


# --- sessions on the server: revocation, age, the users file -------------------------------

def amira(role: str = "consular", nationalities: tuple[str, ...] = ("ETH",)):
    from dashboard.rules.users import Account

    return Account("amira", "Amira Haddad", role, nationalities, "$2b$12$" + "x" * 53)


KEY = secrets.token_urlsafe(32)


def test_a_session_holds_until_it_is_revoked_and_others_hold_on(tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    first_id, first = store.open_session(amira(), KEY)
    second_id, second = store.open_session(amira(), KEY)
    assert first_id != second_id and first.digest != second.digest
    for session_id in (first_id, second_id):
        found = store.session_for_cookie(session_id, KEY)
        assert auth.session_problem(found, amira(), clock.now) is None
    store.revoke(first.digest)
    assert auth.session_problem(store.session_for_cookie(first_id, KEY), amira(),
                                clock.now) == auth.SIGNED_OUT
    assert auth.session_problem(store.session_for_cookie(second_id, KEY), amira(),
                                clock.now) is None


@pytest.mark.parametrize("age_s, expired", [
    (0, False), (SESSION_MAX_S - 1, False), (SESSION_MAX_S, True), (3 * SESSION_MAX_S, True),
    (-3600, True),  # begun in the future: a broken clock
])
def test_sessions_last_at_most_twelve_hours(age_s, expired, tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    assert auth.session_expired(clock.now - age_s, clock.now) is expired
    clock.now -= age_s
    session_id, _ = store.open_session(amira(), KEY)
    clock.now += age_s
    problem = auth.session_problem(store.session_for_cookie(session_id, KEY), amira(), clock.now)
    assert problem == (auth.EXPIRED if expired else None)


def test_a_session_ends_when_its_user_leaves_the_file_or_changes_scope(tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    session_id, session = store.open_session(amira(), KEY)
    assert auth.session_problem(session, None, clock.now) == auth.REMOVED
    assert auth.session_problem(session, amira("consular", ("ERI",)), clock.now) == auth.CHANGED
    assert auth.session_problem(session, amira("consular", ("ERI", "ETH")),
                                clock.now) == auth.CHANGED
    assert auth.session_problem(session, amira("admin", ()), clock.now) == auth.CHANGED
    assert auth.session_problem(session, amira(), clock.now) is None


@pytest.mark.parametrize("cookie", [None, "", "x", "a.b.c", "A" * 100_000, 42,
                                    "é" * 43,
                                    # named, so that every test process lists the same test
                                    pytest.param(secrets.token_urlsafe(31),
                                                 id="unknown-session-id")])
def test_a_cookie_that_is_no_session_id_of_ours_names_no_session(cookie, tmp_path):
    store = AuthStore(tmp_path / "auth.sqlite", Clock())
    store.open_session(amira(), KEY)
    assert store.session_for_cookie(cookie, KEY) is None


def test_a_session_id_names_its_session_only_under_the_key_it_was_made_with(tmp_path):
    store = AuthStore(tmp_path / "auth.sqlite", Clock())
    session_id, session = store.open_session(amira(), KEY)
    assert store.session_for_cookie(session_id, KEY) == session
    assert store.session_for_cookie(session_id, secrets.token_urlsafe(32)) is None


def test_sessions_past_their_twelve_hours_are_cleared_away(tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    _, old = store.open_session(amira(), KEY)
    clock.now += SESSION_MAX_S + 1
    _, new = store.open_session(amira(), KEY)
    assert store.session(old.digest) is None and store.session(new.digest) == new


# --- the cookie key --------------------------------------------------------------------------

@pytest.mark.parametrize("key, problem", [
    ("", "No cookie key is set"),
    ("some_key", "is published"),
    ("random_signature_key", "is published"),
    ("short-key", "shorter than 43"),
])
def test_a_missing_or_default_cookie_key_is_refused_off_the_demo(key, problem, monkeypatch,
                                                                  tmp_path):
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path))
    monkeypatch.setenv("SITROOM_COOKIE_KEY", key)
    with pytest.raises(auth.AuthSetupError, match=problem):
        auth.cookie_key("sqlite:////srv/shared.sqlite", None)
    with pytest.raises(auth.AuthSetupError, match=problem):
        auth.cookie_key("sqlite:////srv/shared.sqlite", {"cookie_key": key})


def test_the_secrets_key_wins_over_the_environment(monkeypatch):
    from_environment, from_secrets = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    monkeypatch.setenv("SITROOM_COOKIE_KEY", from_environment)
    assert auth.cookie_key("sqlite:////x", {"cookie_key": from_secrets}) == from_secrets
    assert auth.cookie_key("sqlite:////x", {}) == from_environment


def test_the_demo_database_gets_a_random_key_of_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path))
    monkeypatch.delenv("SITROOM_COOKIE_KEY", raising=False)
    demo = f"sqlite:///{config.demo_db_path()}"
    first = auth.cookie_key(demo, None)
    assert auth.key_problem(first) is None
    assert auth.cookie_key(demo, {"cookie_key": "some_key"}) == first  # kept, not regenerated
    other = tmp_path / "other"
    monkeypatch.setenv("SITROOM_HOME", str(other))
    assert auth.cookie_key(f"sqlite:///{config.demo_db_path()}", None) != first


# --- the sign-in page, in AppTest ----------------------------------------------------------

def test_nothing_is_shown_before_sign_in(app):
    at = start()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not shown(at, "metric") and not shown_tables(at)
    # no demo accounts off the demo
    assert "demo-committee" not in texts(at) and not shown(at, "table")


def test_the_chart_and_map_that_load_their_libraries_behind_the_form_are_empty(app):
    """The form draws one chart and one map, so that the browser loads Plotly and
    deck.gl while the reader types (components.early, and the empty deck of
    components.map's slot): they carry no data (the map's shapes are made up, to
    compile its programs), and the map fetches no base map."""
    at = start()
    drawn = at.get("plotly_chart")
    assert len(drawn) == 1
    figure = json.loads(drawn[0].proto.spec)
    assert figure["data"] == []
    maps = at.get("deck_gl_json_chart")
    assert len(maps) == 1
    spec = json.loads(maps[0].proto.json)
    assert made_up_only(spec) and spec.get("mapProvider") is None


def test_what_the_form_draws_out_of_sight_says_nothing(app):
    """The elements the form draws only to load their scripts (components.early) carry
    no word and no figure: a dot for a label, a dash for a value, no row in a table."""
    at = start()
    hidden = [n for n in walk(at._tree, out_of_sight=True)
              if n not in list(walk(at._tree)) and getattr(n, "type", "") not in
              ("flex_container", "html")]
    assert len(hidden) == len(early.DRAWN)
    for node in hidden:
        kind = node.type
        if kind == "plotly_chart":
            assert json.loads(node.proto.spec)["data"] == []
        elif kind in ("arrow_data_frame", "dataframe", "table"):
            assert len(node.value) == 0 and list(node.value.columns) == ["·"]
        elif kind == "markdown":
            assert node.value == "<span></span>"
        else:
            assert node.label == "·", (kind, node.label)
            assert list(getattr(node, "options", None) or ["·"]) == ["·"]
            if kind == "metric":
                assert node.value == "—"


def test_signing_in_shows_the_role_and_its_pages(app, raw):
    at = sign_in_as(start(), "consular")
    assert not at.exception
    name, _, nats = ACCOUNTS["consular"]
    assert f"`{name}`" in texts(at) and "consular" in texts(at) and "ETH" in texts(at)
    assert [b.label for b in at.button if b.label == "Sign out"]
    assert not [t for t in at.text_input if t.label == "Password"]


def test_a_wrong_password_and_an_unknown_user_get_the_same_message(app):
    wrong = sign_in(start(), ACCOUNTS["committee"][0], "not-the-password")
    unknown = sign_in(start(), "nobody-here", "not-the-password")
    for at in (wrong, unknown):
        assert not at.exception
        assert auth.WRONG_CREDENTIALS in texts(at)
        assert not shown(at, "metric")
    assert [e.value for e in wrong.error] == [e.value for e in unknown.error]


def test_the_lockout_is_checked_before_the_password_and_lifts_by_itself(app, own_audit_log):
    name, password, _ = ACCOUNTS["coordinator"]
    at = start()
    for _ in range(MAX_FAILURES):
        at = sign_in(at, name, "not-the-password")
    assert "locked for 15 more minutes" in texts(at)
    at = sign_in(at, name, password)  # the right password does not get past the lock
    assert "locked for" in texts(at) and not shown(at, "metric")
    # Fifteen minutes later (the store's failures aged, as a clock would age them):
    with sqlite3.connect(own_audit_log.with_name("auth.sqlite")) as conn:
        conn.execute("UPDATE failed_signins SET at = at - ?", (WINDOW_S,))
    at = sign_in(at, name, password)
    assert not at.exception and "locked" not in texts(at)
    assert at.metric


def test_unknown_names_are_counted_too_so_they_cannot_be_probed_fast(app):
    at = start()
    for _ in range(MAX_FAILURES):
        at = sign_in(at, "made-up-name", "x-password")
    assert "locked for" in texts(at)


def test_signing_out_revokes_the_token_on_the_server(app, own_audit_log):
    at = sign_in_as(start(), "committee")
    session = at.session_state[signin.SESSION]
    assert [b for b in at.button if b.label == "Sign out"]
    at = resume(at, **{signin.SIGN_OUT: True})  # what the button's callback sets
    assert not at.exception
    assert "You have signed out" in texts(at)
    assert not shown(at, "metric")
    store = AuthStore(own_audit_log.with_name("auth.sqlite"))
    assert store.session(session["digest"]).revoked_at is not None


def test_signing_out_forgets_where_the_map_last_opened(app):
    """The empty deck opens on the session's last Map view (components/map.py); the
    form after sign-out opens on the world again, with nothing of the session's."""
    at = sign_in_as(start(), "consular")
    last = {"latitude": 33.9, "longitude": 35.5, "zoom": 8, "pitch": 0, "bearing": 0}
    at = resume(at, **{MAP_VIEW_KEY: last})
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert spec["initialViewState"] == last  # signed in: where the Map last opened
    at = resume(at, **{MAP_VIEW_KEY: last, signin.SIGN_OUT: True})
    assert "You have signed out" in texts(at)
    assert MAP_VIEW_KEY not in at.session_state
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert spec["initialViewState"]["latitude"] == spec["initialViewState"]["longitude"] == 0
    assert made_up_only(spec)


def test_a_session_older_than_twelve_hours_is_signed_out(app, monkeypatch):
    at = sign_in_as(start(), "committee")
    assert resume(at).metric  # still signed in on the next run
    monkeypatch.setattr(auth, "now", lambda: time.time() + SESSION_MAX_S)
    at = resume(at)
    assert not at.exception
    assert "12 hours" in texts(at) and not shown(at, "metric")


def test_a_user_removed_from_the_file_is_signed_out(app, tmp_path, monkeypatch):
    at = sign_in_as(start(), "committee")
    assert at.metric
    smaller = tmp_path / "fewer.yaml"
    smaller.write_text("users: {}\n")
    monkeypatch.setenv("SITROOM_USERS", str(smaller))
    at = resume(at)
    assert "no longer in the users file" in texts(at) and not shown(at, "metric")


@pytest.mark.parametrize("body, message", [
    (None, "does not exist"),
    ("users:\n  amira: [oops\n", "is not valid YAML"),
    ("users:\n  amira:\n    role: general\n    password: x\n", "unknown role 'general'"),
    ("users:\n  amira:\n    role: consular\n    nationalities: [ATL]\n    password: x\n",
     "'ATL' is not a known country code"),
])
def test_a_missing_or_malformed_users_file_closes_sign_in_with_a_message(
        sqlite_url, tmp_path, monkeypatch, body, message):
    path = tmp_path / "users.yaml"
    if body is not None:
        path.write_text(body)
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    use_users(monkeypatch, path, cookie_key=secrets.token_urlsafe(32))
    at = start()
    assert not at.exception
    assert str(path) in texts(at) and message in texts(at)
    assert not at.text_input and not shown(at, "metric") and not shown_tables(at)


def test_a_default_cookie_key_closes_sign_in(app, monkeypatch):
    monkeypatch.setenv("SITROOM_COOKIE_KEY", "some_key")
    at = start()
    assert not at.exception
    assert "is published" in texts(at) and "some_key" not in texts(at)
    assert not at.text_input and not shown(at, "metric")


def test_an_unwritable_sign_in_store_closes_sign_in(app, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SITROOM_AUDIT_DB", str(blocker / "audit.sqlite"))
    at = start()
    assert not at.exception
    assert "sign-in store" in texts(at) and str(blocker) in texts(at)
    assert not at.text_input


def test_the_cookie_key_may_come_from_streamlit_secrets(app, monkeypatch):
    monkeypatch.delenv("SITROOM_COOKIE_KEY")
    at = start()
    assert "No cookie key is set" in texts(at)
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["sitroom"] = {"cookie_key": secrets.token_urlsafe(32)}
    at = sign_in_as(at.run(), "committee")
    assert not at.exception and at.metric


# --- the Audit page ------------------------------------------------------------------------

def test_the_audit_page_lists_views_newest_first_and_filters_them(app, own_audit_log):
    for role in ("committee", "coordinator"):
        sign_in_as(start(), role)
    at = open_page(app, "audit", "admin")
    assert not at.exception
    log = at.dataframe[0].value
    assert list(log["user"][:2]) == [ACCOUNTS["coordinator"][0], ACCOUNTS["committee"][0]]
    # the filters offer what the log holds, each column's values once, in order
    with sqlite3.connect(own_audit_log) as conn:
        for column in ("user", "role", "page", "action"):
            own = [r[0] for r in conn.execute(f"SELECT {column} FROM audit_log")]
            offered = at.selectbox(key=f"audit-{column}").options
            assert offered[1:] == sorted(set(own)) and len(offered) > 1
    at.selectbox(key="audit-role").select("committee").run()
    log = at.dataframe[0].value
    assert set(log["role"]) == {"committee"} and len(log) == 1


@pytest.mark.parametrize("role", ["committee", "consular", "coordinator"])
def test_only_the_admin_opens_the_audit_page(app, role):
    at = open_page(app, "audit", role, ["ETH"] if role == "consular" else None)
    assert "cannot open this page" in texts(at)
    assert not shown_tables(at)


# --- attacks: names that fill the store, Markdown in a full name --------------------------

def test_a_sign_in_with_a_huge_user_name_is_refused_and_stores_nothing(app, own_audit_log):
    at = sign_in(start(), "x" * 200_000, "not-the-password")
    assert not at.exception
    assert auth.WRONG_CREDENTIALS in texts(at) and not shown(at, "metric")
    with sqlite3.connect(own_audit_log.with_name("auth.sqlite")) as conn:
        stored = [r[0] for r in conn.execute("SELECT account FROM failed_signins")]
    assert all(len(name) <= 64 for name in stored)
    assert own_audit_log.with_name("auth.sqlite").stat().st_size < 100_000


def test_a_password_longer_than_bcrypt_takes_is_a_wrong_password_not_a_crash(app):
    at = sign_in(start(), ACCOUNTS["committee"][0], "p" * 500)
    assert not at.exception
    assert auth.WRONG_CREDENTIALS in texts(at) and not shown(at, "metric")


def test_a_full_name_is_shown_as_plain_text_never_as_markdown(sqlite_url, tmp_path,
                                                              monkeypatch):
    from dashboard.rules import users

    path = tmp_path / "users.yaml"
    full_name = "![x](http://tracker.example/pixel.png) **Amira** <b>H</b>"
    users.add(path, "amira", "committee", [], "a-long-password", name=full_name)
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    use_users(monkeypatch, path, cookie_key=secrets.token_urlsafe(32))
    at = sign_in(start(), "amira", "a-long-password")
    assert not at.exception and at.metric
    assert not [m.value for m in at.sidebar.markdown if "tracker.example" in m.value]
    assert full_name in [t.value for t in at.sidebar.text]


# --- attacks on the cookie key ---------------------------------------------------------------

SHARED = "sqlite:////srv/shared.sqlite"


def refused(key: str) -> str | None:
    """Why the dashboard refuses `key` off the demo database, or None if it takes it."""
    try:
        auth.cookie_key(SHARED, {"cookie_key": key})
    except auth.AuthSetupError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("key, problem", [
    (secrets.token_urlsafe(31), "shorter than 43 characters"),  # 31 random bytes
    (secrets.token_hex(21), "shorter than 43 characters"),
    ("a" * 64, "does not look random"),
    ("ab" * 32, "does not look random"),
    ("password" * 8, "does not look random"),
    ("my-super-secret-cookie-key-for-the-situation-room", "does not look random"),
    ("correct horse battery staple is my long passphrase", "does not look random"),
    ("0123456789" * 5, "does not look random"),
    ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "does not look random"),
], ids=["31-bytes", "21-bytes-hex", "one-letter", "two-letters", "repeated-word", "words",
        "passphrase", "digits", "alphabet"])
def test_a_short_or_low_entropy_cookie_key_is_refused(key, problem, monkeypatch, tmp_path):
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path))
    message = refused(key)
    assert message and problem in message
    assert key not in message  # the refusal never repeats the key


@pytest.mark.parametrize("make", [
    lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(32),
    lambda: secrets.token_urlsafe(64),
    lambda: __import__("base64").b64encode(secrets.token_bytes(32)).decode()],
    ids=["token_urlsafe(32)", "token_hex(32)", "token_urlsafe(64)", "base64(32 bytes)"])
def test_keys_made_as_the_readme_says_are_taken(make):
    for _ in range(500):
        key = make()
        assert refused(key) is None, key


def keys_written_down() -> set[str]:
    """Every cookie key written in this repository or in the library's own documentation,
    found here rather than listed, so a key added to a README or a test later is caught."""
    import inspect
    from importlib import metadata

    import streamlit_authenticator as stauth

    named = re.compile(r"""(?i)(?:cookie_key|signature_key|secret_key|\bkey)\W{0,8}["'`]"""
                       r"""([^"'`\s]{4,})["'`]""")
    found = set()
    tracked = subprocess.run(["git", "ls-files"], cwd=config.PROJECT_ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    for name in tracked:
        if Path(name).suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt"}:
            continue
        body = (config.PROJECT_ROOT / name).read_text(encoding="utf-8", errors="replace")
        for line in body.splitlines():
            if re.search(r"(?i)cookie|signature|secret", line):
                found.update(named.findall(line))
    found.add(inspect.signature(stauth.Authenticate).parameters["cookie_key"].default)
    readme = metadata.metadata("streamlit-authenticator").get_payload() or ""
    found.update(named.findall(readme))
    return found


# The key tests/signin.py has shipped: in the repository's history for good, whatever
# the file holds today.
SHIPPED_TEST_KEY = "a-test-cookie-key-that-is-long-enough"


def test_every_key_written_down_in_the_repo_or_the_library_docs_is_refused(monkeypatch,
                                                                           tmp_path):
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path))
    keys = keys_written_down()
    assert "some_key" in keys  # the search finds what it must
    for key in keys | {SHIPPED_TEST_KEY}:
        assert refused(key), f"{key!r} is written down, yet taken as a cookie key"
        assert refused(key.upper()), key
        assert refused(f"  {key}  "), key


@pytest.fixture
def secrets_toml(tmp_path):
    """Streamlit's secrets file for this test (instead of .streamlit/secrets.toml)."""
    import streamlit as st
    from streamlit import config as st_config

    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir()
    before = st_config.get_option("secrets.files")
    st_config.set_option("secrets.files", [str(path)])
    st.secrets._secrets = None
    yield path
    st_config.set_option("secrets.files", before)
    st.secrets._secrets = None


@pytest.mark.parametrize("body, problem", [
    ('[sitroom]\ncookie_key = "never closed\n', "not valid TOML"),
    ("[sitroom\ncookie_key = 1\n", "not valid TOML"),
    ('sitroom = "a string, not a table"\n', "[sitroom] must be a table"),
    ("[sitroom]\ncookie_key = 12345\n", "cookie_key must be a string"),
])
@pytest.mark.parametrize("environment_key", [False, True])
def test_a_malformed_secrets_file_is_reported_naming_the_file_and_the_problem(
        app, secrets_toml, monkeypatch, body, problem, environment_key):
    secrets_toml.write_text(body)
    if environment_key:  # a good key elsewhere must not hide a broken secrets file
        monkeypatch.setenv("SITROOM_COOKIE_KEY", secrets.token_urlsafe(32))
    else:
        monkeypatch.delenv("SITROOM_COOKIE_KEY")
    at = start()
    assert not at.exception
    assert str(secrets_toml) in texts(at) and problem in texts(at)
    assert "No cookie key is set" not in texts(at)
    assert not at.text_input and not shown(at, "metric")


def test_a_good_secrets_file_gives_the_key(app, secrets_toml, monkeypatch):
    monkeypatch.delenv("SITROOM_COOKIE_KEY")
    secrets_toml.write_text(f'[sitroom]\ncookie_key = "{secrets.token_urlsafe(32)}"\n')
    at = sign_in_as(start(), "committee")
    assert not at.exception and at.metric
