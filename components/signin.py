"""Sign-in with streamlit-authenticator, with its weaknesses closed (dashboard/rules/auth.py).

The library draws the form and checks the password. Around it:

- its login step is wrapped so that a name no user could have (over 64 characters,
  say) is refused before anything is stored, the lockout is checked before the
  password, and every failure is counted per attempted name (known or not, with
  the same message);
- its cookie, a JWT naming the user, is replaced by a random session id that the
  server keeps, checks, expires and revokes (auth.AuthStore);
- `session_check` is the one check of a signed-in session. Every run of every page
  passes through it before it sends anything: app.py on each full run, and the page
  body (components/page.py `live`) on each of its own reruns, the auto-refresh and
  the widgets inside it, which Streamlit runs without app.py.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import bcrypt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit import config as streamlit_config
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit_authenticator.models import cookie_model as library_cookies
from streamlit_authenticator.utilities import LoginError

from components import early
from components import language as reading
from components.session import AUDIT_KEY, MAP_VIEW_KEY
from components.session import KEY as CONTEXT_KEY
from dashboard import config
from dashboard.language import N_, _
from dashboard.rules import auth, users
from dashboard.rules.users import Account, UsersError

SESSION = "sitroom_signed_in"  # {"username", "digest"}: the server's session this tab holds
SIGN_OUT = "sitroom_sign_out"
NOTICE = "sitroom_signin_notice"
LIBRARY_STATE = ("name", "username", "authentication_status", "email", "roles")
BCRYPT_MAX_BYTES = 72
# Checked against unknown user names, so they cost the same time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds=12))


class _NoCookieManager:
    """What the library's cookie model holds in place of extra-streamlit-components'
    CookieManager. That one draws a component on every run which answers the server
    once loaded, and the answer reran the whole page: every page opened ran twice,
    and a sign-in's landing page three times. The cookie is read from st.context
    (`_read_cookie`) and written by a script (`_write_cookie`); the library's calls
    to its cookie manager are replaced in `_guard`, so nothing else is asked of it."""

    def __init__(self, key: str = "init") -> None:
        self.key = key


library_cookies.stx = SimpleNamespace(CookieManager=_NoCookieManager)


@dataclass
class Gate:
    authenticator: stauth.Authenticate
    store: auth.AuthStore
    accounts: dict[str, Account]
    key: str
    cookie_session: auth.Session | None = None  # the session the browser's cookie names
    cookie_requested: bool = False


def load_accounts(db_url: str) -> dict[str, Account]:
    """The users file's accounts; on the demo database the demo accounts as well."""
    path = config.users_path()
    if config.is_demo_url(db_url):
        found = users.load(path) if path.exists() else {}
        return {**users.demo_accounts(), **found}
    return users.load(path)


# --- the cookie key, from Streamlit's secrets -------------------------------------------

def _secrets_files() -> list[Path]:
    return [Path(p) for p in streamlit_config.get_option("secrets.files") or []]


def _secrets_file_problem() -> str | None:
    """What is wrong with a secrets file that exists, naming it; None if nothing is."""
    for path in _secrets_files():
        if not path.is_file():
            continue
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            # Translators: {path} is a file, {reason} the parser's own words.
            return _("The secrets file {path} is not valid TOML ({reason}). Sign-in stays "
                     "closed until it is fixed.").format(path=path, reason=exc)
        except OSError as exc:
            # Translators: {path} is a file, {reason} the system's own words.
            return _("The secrets file {path} cannot be read ({reason}). Sign-in stays "
                     "closed.").format(path=path, reason=exc)
    return None


def _secrets_section() -> dict:
    """`[sitroom]` of Streamlit's secrets: empty when there is no secrets file; a file
    that does not parse, or a `sitroom` or `cookie_key` of the wrong kind, closes
    sign-in with a message that names the file, rather than being taken for no key."""
    try:
        section = st.secrets.get("sitroom", {})
    except FileNotFoundError as exc:  # Streamlit's "no secrets", and "cannot parse them"
        problem = _secrets_file_problem()
        if problem:
            raise auth.AuthSetupError(problem) from None
        if "No secrets found" in str(exc):
            return {}
        # Translators: {reason} is Streamlit's own words.
        raise auth.AuthSetupError(_("Streamlit's secrets cannot be read: {reason}").format(
            reason=exc)) from None
    where = (" or ".join(str(p) for p in _secrets_files() if p.is_file())
             or _("Streamlit's secrets"))
    if not isinstance(section, Mapping):
        # Translators: {where} is the secrets file (or "Streamlit's secrets").
        raise auth.AuthSetupError(_("{where}: [sitroom] must be a table, with cookie_key in "
                                    "it. Sign-in stays closed until it is fixed.").format(
                                        where=where))
    if "cookie_key" in section and not isinstance(section["cookie_key"], str):
        # Translators: {where} is the secrets file (or "Streamlit's secrets").
        raise auth.AuthSetupError(_("{where}: [sitroom] cookie_key must be a string. Sign-in "
                                    "stays closed until it is fixed.").format(where=where))
    return dict(section)


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
    gate = Gate(authenticator, store, accounts, key)
    _guard(gate)
    return gate


def _guard(gate: Gate) -> None:
    """Wrap the library's login step, and put the server's sessions in place of its
    cookie (see the module docstring)."""
    model = gate.authenticator.authentication_controller.authentication_model
    library_login = model.login

    def guarded_login(username=None, password=None, max_concurrent_users=None,
                      max_login_attempts=None, token=None, single_session=False,
                      callback=None):
        if username:
            account = auth.normalise(username)
            if not users.is_username(account):
                # No user can have this name: refused before it is stored anywhere.
                raise LoginError(_(auth.WRONG_CREDENTIALS))
            wait = gate.store.locked_for(account)
            if wait:
                raise LoginError(auth.locked_message(wait))
            secret = password or ""
            if (account not in model.credentials["usernames"]
                    or len(secret.encode()) > BCRYPT_MAX_BYTES):  # bcrypt would refuse it
                bcrypt.checkpw(b"x", _DUMMY_HASH)
                signed_in = False
            else:
                signed_in = library_login(account, secret, None, None, None, False, None)
            if signed_in:
                gate.store.clear_failures(account)
                return True
            gate.store.record_failure(account)
            wait = gate.store.locked_for(account)
            raise LoginError(auth.locked_message(wait) if wait else _(auth.WRONG_CREDENTIALS))
        if token:
            session = gate.cookie_session
            if session is None or token.get("username") != session.account:
                return None
            return library_login(None, None, None, None, token, False, None)
        return None

    model.login = guarded_login
    cookies = gate.authenticator.cookie_controller

    def read_cookie() -> dict | None:
        return _read_cookie(gate)

    def request_cookie() -> None:
        # Set after the form is cleared away, so that clearing it cannot remove the
        # cookie-setting component before the browser has run it (_start_session).
        gate.cookie_requested = True

    cookies.get_cookie = read_cookie
    cookies.set_cookie = request_cookie
    cookies.delete_cookie = _forget_cookie


# --- the cookie: a random id the server checks ---------------------------------------------

def _browser_cookie() -> str | None:
    """The sign-in cookie the browser sent when this tab connected, if any."""
    try:
        value = st.context.cookies.get(auth.COOKIE_NAME)
    except Exception:  # no browser connection to read it from (bare runs)
        return None
    return value if isinstance(value, str) else None


def _read_cookie(gate: Gate) -> dict | None:
    """What the library's login takes from a cookie, if the browser's cookie names a
    session the server still honours for a user still in the users file with the same
    scope. Anything else (none, garbage, a JWT, revoked, expired, another key's) is
    no sign-in: the form is shown."""
    session = gate.store.session_for_cookie(_browser_cookie(), gate.key)
    account = gate.accounts.get(session.account) if session else None
    if session is None or auth.session_problem(session, account, gate.store.clock()):
        return None
    gate.cookie_session = session
    return {"username": session.account}


def _served_over_https() -> bool:
    """Whether the reader's browser has the page over HTTPS (itself, or through a
    proxy that says so)."""
    try:
        if (st.context.url or "").lower().startswith("https://"):
            return True
        forwarded = st.context.headers.get("X-Forwarded-Proto") or ""
    except Exception:  # no browser connection (bare runs)
        return False
    return forwarded.split(",")[0].strip().lower() == "https"


def _set_cookie(session_id: str) -> None:
    """Tell the browser to keep the session id for 12 hours, SameSite=Strict, and
    Secure when the page is served over HTTPS.

    It is not HttpOnly, and cannot be: a Streamlit page has no say over the headers of
    its responses, so the browser sets it from a script in the page, and a cookie
    written from a script can never be HttpOnly. So page scripts can read it, and it
    holds nothing worth reading: a random id that names no one, that the server checks
    on every run of every page, revokes at sign-out (in every tab) and refuses after
    12 hours. A copy taken from the page stops working when the session ends."""
    expires = datetime.now(UTC) + timedelta(seconds=auth.SESSION_MAX_S)
    _write_cookie(auth.cookie_header(session_id, expires, secure=_served_over_https()))


def _forget_cookie() -> None:
    """Tell the browser to drop the cookie (the server has ended its session already)."""
    _write_cookie(auth.cookie_header("", None, secure=_served_over_https()))


def _write_cookie(header: str) -> None:
    """Have the browser store `header` (a Set-Cookie value) from a script in the page.

    Not with the library's cookie manager (extra-streamlit-components): it is a
    component that answers the server when it loads and after each change, and every
    answer reran the whole page, three runs of the landing page after a sign-in and a
    second run of every page opened. A script sends nothing back."""
    literal = json.dumps(header).replace("<", "\\u003c")  # never closes the script
    st.html(f"<script>document.cookie = {literal};</script>", unsafe_allow_javascript=True)


# --- the one check of a signed-in session -------------------------------------------------

def _end_session(store: auth.AuthStore, notice: str, gate: Gate | None = None) -> None:
    """End this tab's session on the server and forget who was signed in. `notice` is
    in English (marked where it is written) and shown in the reader's language."""
    info = st.session_state.pop(SESSION, None)
    if isinstance(info, dict) and info.get("digest"):
        store.revoke(str(info["digest"]))
    if gate is not None and st.session_state.get("authentication_status"):
        gate.authenticator.logout(location="unrendered")  # its state, and the cookie
    else:  # what the library's logout does to the session state
        for key in LIBRARY_STATE:
            st.session_state[key] = None
        st.session_state["logout"] = True
    for key in (CONTEXT_KEY, AUDIT_KEY, MAP_VIEW_KEY):
        st.session_state.pop(key, None)
    st.session_state[NOTICE] = notice


def session_check(db_url: str, accounts: dict[str, Account] | None = None,
                  store: auth.AuthStore | None = None) -> Account | None:
    """The account this tab is signed in as, if its session still holds on the server:
    not signed out (here or in any other tab), under 12 hours old, and its user still
    in the users file with the role and nationalities signed in with. Otherwise the
    session is ended, the reason kept for the sign-in form, and None returned.

    Raises UsersError or auth.AuthSetupError when it cannot tell (the users file or
    the sign-in store is broken): the caller shows nothing then either."""
    info = st.session_state.get(SESSION)
    if not isinstance(info, dict):
        return None
    store = store or auth.AuthStore()
    accounts = accounts if accounts is not None else load_accounts(db_url)
    session = store.session(str(info.get("digest", "")))
    account = accounts.get(session.account) if session else None
    problem = auth.session_problem(session, account, store.clock())
    if (problem is None and session is not None and account is not None
            and session.account == info.get("username")):
        return account
    _end_session(store, problem or auth.SIGNED_OUT)
    return None


def require_session(db_url: str) -> None:
    """The first thing every run of a page body does (components/page.py `live`): such
    runs (the auto-refresh, a widget inside the body) skip app.py, so the session is
    checked here before anything is sent. A session that no longer holds gets the
    sign-in form: the whole app reruns, and app.py shows it with the reason."""
    if SESSION not in st.session_state and "authentication_status" not in st.session_state:
        # No sign-in ever ran in this browser session, so app.py did not set this page
        # up: only tests do that (tests/apptest.py open_page), with no session to check.
        return
    try:
        account = session_check(db_url)
    except (UsersError, auth.AuthSetupError) as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
    if account is not None:
        return
    ctx = get_script_run_ctx()
    if ctx is not None and ctx.fragment_ids_this_run:
        st.rerun(scope="app")
    notice = _(st.session_state.get(NOTICE) or N_("You are signed out."))
    again = _("Reload the page to sign in.")  # a call of its own: Babel reads no f-string
    st.warning(f"{notice} {again}", icon=":material/logout:")
    st.stop()


# --- the sign-in form ---------------------------------------------------------------------

def request_sign_out() -> None:
    st.session_state[SIGN_OUT] = True


def signed_in_account(db_url: str) -> Account | None:
    """The signed-in account, or None after drawing the sign-in form."""
    gate = open_gate(db_url)
    if st.session_state.pop(SIGN_OUT, False):
        _end_session(gate.store, N_("You have signed out."), gate)
    if st.session_state.get(SESSION):
        account = session_check(db_url, gate.accounts, gate.store)
        if account is not None:
            return account
        _forget_cookie()  # the server has ended the session: the browser may drop it

    form = st.empty()
    with form.container():
        _draw_form(gate, db_url)
    if not st.session_state.get("authentication_status"):
        return None
    form.empty()
    return _start_session(gate)


def _start_session(gate: Gate) -> Account | None:
    username = st.session_state["username"]
    account = gate.accounts.get(username)
    session = None
    if account is not None and gate.cookie_requested:  # signed in with the form just now
        session_id, session = gate.store.open_session(account, gate.key)
        _set_cookie(session_id)
    elif gate.cookie_session is not None and gate.cookie_session.account == username:
        session = gate.cookie_session  # signed in with a cookie the server honours
    if account is None or session is None:
        # The library thinks someone is signed in, but not through us: start over.
        _end_session(gate.store, N_("Sign in again."), gate)
        st.rerun()
    st.session_state[SESSION] = {"username": username, "digest": session.digest}
    st.session_state.pop(NOTICE, None)
    return account


def _draw_form(gate: Gate, db_url: str) -> None:
    st.title("Situation Room")
    reading.switch("main")
    notice = st.session_state.get(NOTICE)
    if notice:
        st.info(_(notice), icon=":material/logout:")
    try:
        # The library's form, its words in the reader's language.
        gate.authenticator.login(location="main", key="sign-in", fields={
            "Form name": _("Sign in"), "Username": _("User name"), "Password": _("Password"),
            "Login": _("Sign in")})
    except LoginError as exc:
        st.error(str(exc), icon=":material/lock:")
    if config.is_demo_url(db_url) and not st.session_state.get("authentication_status"):
        demo_accounts_table()
    early.load()


def demo_accounts_table() -> None:
    """Only on the demo database, whose people are synthetic: one account per role."""
    st.info(_("**Demo database**: the people in it are synthetic. Sign in with one of these "
              "demo accounts to see what each role may see."), icon=":material/info:")
    # Translators: headings of the demo accounts' table (lower case, as the values are).
    headings = (_("user name"), _("password"), _("role"), _("nationalities"))
    st.table([dict(zip(headings, (name, password, role, ", ".join(nats) or "—"), strict=True))
              for name, (role, nats, password) in users.DEMO_ACCOUNTS.items()])


def sidebar_identity(account: Account) -> None:
    """Who is signed in, and the way out. The full name comes from the users file and
    is shown as plain text: Markdown in it (an image that calls a server outside, a
    link) is never rendered."""
    with st.sidebar:
        st.caption(_("Signed in as"))
        st.text(account.name)
        # The user name, role and nationalities are checked in the users file: safe here.
        lines = [f"`{account.username}`",
                 # Translators: {role} is the role's code (committee, consular, ...).
                 _("Role: **{role}**").format(role=account.role)]
        if account.nationalities:
            # Translators: {nationalities} are ISO 3166 codes, "ETH, ERI".
            lines.append(_("Nationalities: {nationalities}").format(
                nationalities=", ".join(account.nationalities)))
        st.markdown("  \n".join(lines))
        st.button(_("Sign out"), on_click=request_sign_out, icon=":material/logout:",
                  key="sign-out")
