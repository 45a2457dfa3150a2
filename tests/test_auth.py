"""Sign-in: the lockout that lifts by itself, revocation on sign-out, 12-hour sessions,
the cookie key, and the sign-in page's messages, with AppTest and an injected clock."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from components import signin
from dashboard import config
from dashboard.rules import auth
from dashboard.rules.auth import MAX_FAILURES, SESSION_MAX_S, WINDOW_S, AuthStore
from tests.apptest import open_page, start, texts
from tests.signin import ACCOUNTS, COOKIE_KEY, make_users_file, sign_in, sign_in_as, use_users


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
    use_users(monkeypatch, users_dir / "users.yaml")
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


# --- revocation and session age ------------------------------------------------------------

def test_a_revoked_token_is_refused_and_others_are_not(tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    exp = clock.now + SESSION_MAX_S - 60
    claims = {"username": "amira", "exp_date": exp}
    assert auth.token_usable(claims, store)
    store.revoke(auth.token_id("amira", exp), exp)
    assert not auth.token_usable(claims, store)
    assert auth.token_usable({"username": "amira", "exp_date": exp + 1}, store)
    assert auth.token_usable({"username": "bashir", "exp_date": exp}, store)


@pytest.mark.parametrize("age_s, expired", [
    (0, False), (SESSION_MAX_S - 1, False), (SESSION_MAX_S, True), (3 * SESSION_MAX_S, True),
    (-3600, True),  # issued in the future: forged or a broken clock
])
def test_sessions_last_at_most_twelve_hours(age_s, expired, tmp_path):
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", clock)
    assert auth.session_expired(clock.now - age_s, clock.now) is expired
    # A cookie carries its expiry; the server judges its age from it, not the browser.
    claims = {"username": "amira", "exp_date": clock.now - age_s + SESSION_MAX_S}
    assert auth.token_usable(claims, store) is not expired


@pytest.mark.parametrize("claims", [{}, {"username": "amira"}, {"exp_date": "soon"},
                                    {"username": "amira", "exp_date": None}])
def test_a_malformed_token_is_refused(claims, tmp_path):
    assert not auth.token_usable(claims, AuthStore(tmp_path / "auth.sqlite", Clock()))


# --- the cookie key --------------------------------------------------------------------------

@pytest.mark.parametrize("key, problem", [
    ("", "No cookie key is set"),
    ("some_key", "well-known default"),
    ("random_signature_key", "well-known default"),
    ("short-key", "shorter than 16"),
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
    monkeypatch.setenv("SITROOM_COOKIE_KEY", "environment-key-long-enough")
    assert auth.cookie_key("sqlite:////x", {"cookie_key": "secrets-key-long-enough"}) == (
        "secrets-key-long-enough")
    assert auth.cookie_key("sqlite:////x", {}) == "environment-key-long-enough"


def test_the_demo_database_gets_a_random_key_of_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path))
    monkeypatch.delenv("SITROOM_COOKIE_KEY", raising=False)
    demo = f"sqlite:///{config.demo_db_path()}"
    first = auth.cookie_key(demo, None)
    assert len(first) >= 32 and first not in auth.KNOWN_DEFAULT_KEYS
    assert auth.cookie_key(demo, {"cookie_key": "some_key"}) == first  # kept, not regenerated
    other = tmp_path / "other"
    monkeypatch.setenv("SITROOM_HOME", str(other))
    assert auth.cookie_key(f"sqlite:///{config.demo_db_path()}", None) != first


# --- the sign-in page, in AppTest ----------------------------------------------------------

def test_nothing_is_shown_before_sign_in(app):
    at = start()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.metric and not at.dataframe
    assert "demo-committee" not in texts(at) and not at.table  # no demo accounts off the demo


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
        assert not at.metric
    assert [e.value for e in wrong.error] == [e.value for e in unknown.error]


def test_the_lockout_is_checked_before_the_password_and_lifts_by_itself(app, own_audit_log):
    name, password, _ = ACCOUNTS["coordinator"]
    at = start()
    for _ in range(MAX_FAILURES):
        at = sign_in(at, name, "not-the-password")
    assert "locked for 15 more minutes" in texts(at)
    at = sign_in(at, name, password)  # the right password does not get past the lock
    assert "locked for" in texts(at) and not at.metric
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
    assert not at.metric
    store = AuthStore(own_audit_log.with_name("auth.sqlite"))
    assert store.is_revoked(session["token"])
    claims = {"username": session["username"], "exp_date": session["expires_at"]}
    assert not auth.token_usable(claims, store)


def test_a_session_older_than_twelve_hours_is_signed_out(app):
    at = sign_in_as(start(), "committee")
    assert resume(at).metric  # still signed in on the next run
    session = dict(at.session_state[signin.SESSION])
    session["signed_in_at"] -= SESSION_MAX_S
    at = resume(at, **{signin.SESSION: session})
    assert not at.exception
    assert "12 hours" in texts(at) and not at.metric


def test_a_user_removed_from_the_file_is_signed_out(app, tmp_path, monkeypatch):
    at = sign_in_as(start(), "committee")
    assert at.metric
    smaller = tmp_path / "fewer.yaml"
    smaller.write_text("users: {}\n")
    monkeypatch.setenv("SITROOM_USERS", str(smaller))
    at = resume(at)
    assert "no longer in the users file" in texts(at) and not at.metric


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
    use_users(monkeypatch, path)
    at = start()
    assert not at.exception
    assert str(path) in texts(at) and message in texts(at)
    assert not at.text_input and not at.metric and not at.dataframe


def test_a_default_cookie_key_closes_sign_in(app, monkeypatch):
    monkeypatch.setenv("SITROOM_COOKIE_KEY", "some_key")
    at = start()
    assert not at.exception
    assert "well-known default" in texts(at)
    assert not at.text_input and not at.metric


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
    at.secrets["sitroom"] = {"cookie_key": COOKIE_KEY}
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
    assert not at.dataframe
