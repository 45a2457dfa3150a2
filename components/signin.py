"""Sign-in with streamlit-authenticator, with its weaknesses closed (dashboard/auth.py).

The library draws the form and sets the cookie. Its login step is wrapped so
that the lockout is checked before the password, every failure is counted per
attempted name (known or not, with the same message), and a cookie is accepted
only if the server has not revoked it and it is less than 12 hours old.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import bcrypt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from dashboard import config
from dashboard.rules import auth, users
from dashboard.rules.users import Account, UsersError

SESSION = "sitroom_signed_in"  # {"username", "token", "expires_at", "signed_in_at"}
SIGN_OUT = "sitroom_sign_out"
NOTICE = "sitroom_signin_notice"
# Checked against unknown user names, so they cost the same time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds=12))


@dataclass
class Gate:
    authenticator: stauth.Authenticate
    store: auth.AuthStore
    accounts: dict[str, Account]
    set_cookie: Callable[[], None] | None = None
    cookie_requested: bool = False


def load_accounts(db_url: str) -> dict[str, Account]:
    """The users file's accounts; on the demo database the demo accounts as well."""
    path = config.users_path()
    if config.is_demo_url(db_url):
        found = users.load(path) if path.exists() else {}
        return {**users.demo_accounts(), **found}
    return users.load(path)


def _secrets_section() -> dict:
    try:
        return dict(st.secrets.get("sitroom", {}))
    except Exception:  # no secrets.toml, or one that does not parse: treated as no key
        return {}


def _refuse(message: str) -> None:
    st.title("Situation Room")
    st.error(message, icon=":material/lock:")
    st.stop()


def open_gate(db_url: str) -> Gate:
    """Read users and the cookie key, and set up the library; stop with a message if
    either is missing or wrong, before anything else is shown."""
    try:
        accounts = load_accounts(db_url)
        key = auth.cookie_key(db_url, _secrets_section())
        store = auth.AuthStore()
        store.check()
    except (UsersError, auth.AuthSetupError) as exc:
        _refuse(str(exc))
    authenticator = stauth.Authenticate(
        users.credentials(accounts), auth.COOKIE_NAME, key,
        cookie_expiry_days=auth.SESSION_MAX_S / 86400, auto_hash=False,
        login_sleep_time=0)  # it reads the cookie from st.context: no wait needed
    gate = Gate(authenticator, store, accounts)
    _guard(gate)
    return gate


def _guard(gate: Gate) -> None:
    """Wrap the library's login step (see the module docstring)."""
    model = gate.authenticator.authentication_controller.authentication_model
    library_login = model.login

    def guarded_login(username=None, password=None, max_concurrent_users=None,
                      max_login_attempts=None, token=None, single_session=False,
                      callback=None):
        if username:
            account = auth.normalise(username)
            wait = gate.store.locked_for(account)
            if wait:
                raise LoginError(auth.locked_message(wait))
            if account not in model.credentials["usernames"]:
                bcrypt.checkpw(b"x", _DUMMY_HASH)
            if library_login(account, password or "", None, None, None, False, None):
                gate.store.clear_failures(account)
                return True
            gate.store.record_failure(account)
            wait = gate.store.locked_for(account)
            raise LoginError(auth.locked_message(wait) if wait else auth.WRONG_CREDENTIALS)
        if token:
            if (token.get("username") not in model.credentials["usernames"]
                    or not auth.token_usable(token, gate.store)):
                return None  # a revoked, stale or orphaned cookie: show the form
            return library_login(None, None, None, None, token, False, None)
        return None

    model.login = guarded_login
    # Set the cookie after the form is cleared away, so that clearing it cannot
    # remove the cookie-setting component before the browser has run it.
    cookies = gate.authenticator.cookie_controller
    gate.set_cookie = cookies.set_cookie

    def request_cookie() -> None:
        gate.cookie_requested = True

    cookies.set_cookie = request_cookie


def _end_session(gate: Gate, notice: str) -> None:
    """Revoke this session's cookie on the server and forget who was signed in."""
    info = st.session_state.pop(SESSION, None)
    if info:
        gate.store.revoke(info["token"], info["expires_at"])
    if st.session_state.get("authentication_status"):
        gate.authenticator.logout(location="unrendered")
    for key in ("sitroom_context", "sitroom_audit_entry"):
        st.session_state.pop(key, None)
    st.session_state[NOTICE] = notice


def request_sign_out() -> None:
    st.session_state[SIGN_OUT] = True


def signed_in_account(db_url: str) -> Account | None:
    """The signed-in account, or None after drawing the sign-in form."""
    gate = open_gate(db_url)
    if st.session_state.pop(SIGN_OUT, False):
        _end_session(gate, "You have signed out.")
    info = st.session_state.get(SESSION)
    if info and st.session_state.get("authentication_status"):
        if auth.session_expired(info["signed_in_at"], gate.store.clock()):
            _end_session(gate, "Your session reached 12 hours: sign in again.")
        elif info["username"] not in gate.accounts:
            _end_session(gate, "Your account is no longer in the users file.")
        elif gate.store.is_revoked(info["token"]):
            _end_session(gate, "This session was signed out.")
        else:
            return gate.accounts[info["username"]]

    form = st.empty()
    with form.container():
        _draw_form(gate, db_url)
    if not st.session_state.get("authentication_status"):
        return None
    form.empty()
    return _start_session(gate)


def _start_session(gate: Gate) -> Account | None:
    username = st.session_state["username"]
    cookie = gate.authenticator.cookie_controller.cookie_model
    if gate.cookie_requested and gate.set_cookie:  # signed in with the form just now
        gate.set_cookie()
        expires_at, signed_in_at = cookie.exp_date, time.time()
    elif isinstance(cookie.token, dict):  # signed in from a cookie the server accepted
        expires_at = float(cookie.token["exp_date"])
        signed_in_at = auth.issued_at(expires_at)
    else:  # the library thinks someone is signed in, but we never saw how: start over
        _end_session(gate, "Sign in again.")
        st.rerun()
    st.session_state[SESSION] = {
        "username": username, "token": auth.token_id(username, expires_at),
        "expires_at": expires_at, "signed_in_at": signed_in_at}
    st.session_state.pop(NOTICE, None)
    return gate.accounts[username]


def _draw_form(gate: Gate, db_url: str) -> None:
    st.title("Situation Room")
    notice = st.session_state.get(NOTICE)
    if notice:
        st.info(notice, icon=":material/logout:")
    try:
        gate.authenticator.login(location="main", key="sign-in", fields={
            "Form name": "Sign in", "Username": "User name", "Password": "Password",
            "Login": "Sign in"})
    except LoginError as exc:
        st.error(str(exc), icon=":material/lock:")
    if config.is_demo_url(db_url) and not st.session_state.get("authentication_status"):
        demo_accounts_table()


def demo_accounts_table() -> None:
    """Only on the demo database, whose people are synthetic: one account per role."""
    st.info("**Demo database**: the people in it are synthetic. Sign in with one of these "
            "demo accounts to see what each role may see.", icon=":material/info:")
    st.table([{"user name": name, "password": password, "role": role,
               "nationalities": ", ".join(nats) or "—"}
              for name, (role, nats, password) in users.DEMO_ACCOUNTS.items()])


def sidebar_identity(account: Account) -> None:
    """Who is signed in, and the way out."""
    with st.sidebar:
        st.markdown(f"Signed in as **{account.name}** (`{account.username}`)  \n"
                    f"Role: **{account.role}**"
                    + (f"  \nNationalities: {', '.join(account.nationalities)}"
                       if account.nationalities else ""))
        st.button("Sign out", on_click=request_sign_out, icon=":material/logout:",
                  key="sign-out")
