"""Sign-in rules that streamlit-authenticator 0.4.2 lacks, as small testable pieces.

- Its failed-login lockout (`max_login_attempts`) never expires, so anyone who
  knows a user name can lock that user out for good. Here: at most 5 failures
  per account in 15 minutes, and the lock lifts by itself.
- Its cookie is a JWT naming the user that stays valid after sign-out
  (mkhorasani/Streamlit-Authenticator#91). A Streamlit page cannot set a header, so
  the cookie is set by a script in the page and cannot be HttpOnly: page scripts
  can read it. Here the cookie carries nothing but a random session id, 32 bytes from
  `secrets`. The server keeps the session (whose, which role and nationalities,
  since when) under a keyed digest of that id, never the id, and checks it on
  every run of every page: sign-out revokes it, 12 hours expire it, and a user
  removed from the users file or given another scope ends it. A copied cookie is
  worth nothing once the session is over, nothing about the user can be read from
  it, and no cookie can be made from the key alone, nor from the store alone.
- The cookie key must be long, look random and be written down nowhere public.

Failures and sessions live in the dashboard's own SQLite store beside the audit
log, so they hold across sessions and Streamlit processes. Every rule reads the
time from `now()` or an injected clock, so tests never sleep.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookies
import math
import os
import re
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from dashboard import config, language
from dashboard.language import N_, _
from dashboard.rules.ownfiles import OwnFile
from dashboard.rules.users import Account

MAX_FAILURES = 5
WINDOW_S = 15 * 60
SESSION_MAX_S = 12 * 3600
COOKIE_NAME = "sitroom_auth"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32); with fullmatch
MIN_KEY_CHARS = 43  # as many as secrets.token_urlsafe(32) prints: 32 random bytes
MIN_KEY_BITS = 128  # by the frequency of its characters; random keys of 43 give over 170
# Keys written down where anyone can read them: the library's defaults and the examples
# of its documentation, this project's tests and documents. tests/test_auth.py searches
# the repository and the library's documentation and fails on a key missing here.
PUBLISHED_KEYS = frozenset({
    "some_key", "some_signature_key", "random_signature_key", "abcdef", "key", "secret",
    "changeme", "change-me", "change_me", "cookie_key", "your_cookie_key", "sitroom",
    "a-test-cookie-key-that-is-long-enough", "environment-key-long-enough",
    "secrets-key-long-enough",
})

# What a reader is told, in English: translated where it is shown (components/signin.py).
WRONG_CREDENTIALS = N_("The user name or password is not right.")
SIGNED_OUT = N_("This session was signed out, here or in another tab: sign in again.")
EXPIRED = N_("Your session reached 12 hours: sign in again.")
REMOVED = N_("Your account is no longer in the users file.")
CHANGED = N_("Your role or nationalities changed in the users file: sign in again.")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_signins (account TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ix_failed_account ON failed_signins (account, at);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,      -- HMAC-SHA256 of the cookie's session id, by the cookie key
    account TEXT NOT NULL,
    role TEXT NOT NULL,
    nationalities TEXT NOT NULL,  -- as signed in, comma-separated
    signed_in_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL
);
DROP TABLE IF EXISTS revoked_tokens;  -- the JWT cookies' revocation list, no longer used
"""


def cookie_header(session_id: str, expires: datetime | None, secure: bool) -> str:
    """The sign-in cookie as a Set-Cookie value (the standard library's cookie
    formatting): the session id until `expires` (SESSION_MAX_S ahead, also as
    Max-Age for browsers that prefer it), for the whole site, SameSite=Strict, and
    Secure over HTTPS. With no `expires`, the order to drop it at once."""
    morsel: http.cookies.Morsel = http.cookies.Morsel()
    morsel.set(COOKIE_NAME, session_id, session_id)
    morsel["path"] = "/"
    morsel["samesite"] = "Strict"
    if expires is None:
        morsel["max-age"] = 0
        morsel["expires"] = format_datetime(datetime.fromtimestamp(0, UTC), usegmt=True)
    else:
        morsel["max-age"] = SESSION_MAX_S
        morsel["expires"] = format_datetime(expires.astimezone(UTC), usegmt=True)
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def now() -> float:
    """The time the sign-in rules read (tests move it on instead of sleeping)."""
    return time.time()


def _current_time() -> float:
    return now()


class AuthSetupError(RuntimeError):
    """The dashboard cannot offer sign-in safely (no cookie key, a default key)."""


class AuthStoreUnavailable(AuthSetupError):
    """The lockout and revocation store cannot be written: sign-in stays closed."""


def normalise(username: str | None) -> str:
    """The account a sign-in attempt is about, as the library compares it."""
    return (username or "").strip().lower()


def locked_message(seconds: float) -> str:
    """What a reader whose account is locked is told, in the reader's language."""
    minutes = max(1, math.ceil(seconds / 60))
    return language.ngettext(
        "This account is locked for {minutes} more minute after repeated failed sign-ins.",
        "This account is locked for {minutes} more minutes after repeated failed sign-ins.",
        minutes).format(minutes=language.number(minutes))


class AuthStore:
    """Failed sign-ins per account and the sessions signed in, in a small SQLite file."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] | None = None):
        self.path = path or config.auth_db_path()
        self.clock = clock or _current_time

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with OwnFile(self.path, _SCHEMA).transaction() as conn:
                yield conn
        except (sqlite3.Error, OSError) as exc:
            # Translators: {path} is a file, {reason} the system's own words.
            raise AuthStoreUnavailable(_(
                "The sign-in store at {path} cannot be written ({reason}). Without it "
                "failed sign-ins and signed-out sessions cannot be tracked, so sign-in is "
                "closed: tell the operators.").format(path=self.path, reason=exc)) from exc

    def check(self) -> None:
        """Fail now, with a message, rather than halfway through a sign-in."""
        with self._transaction():
            pass

    # --- lockout ---------------------------------------------------------------------

    def locked_for(self, account: str) -> float:
        """Seconds until `account` may try again; 0 if it is not locked."""
        now = self.clock()
        with self._transaction() as conn:
            times = [r[0] for r in conn.execute(
                "SELECT at FROM failed_signins WHERE account = ? AND at > ? ORDER BY at DESC",
                (normalise(account), now - WINDOW_S))]
        if len(times) < MAX_FAILURES:
            return 0.0
        # Locked until the failure that made it the 5th-latest leaves the window.
        return max(0.0, times[MAX_FAILURES - 1] + WINDOW_S - now)

    def record_failure(self, account: str) -> None:
        now = self.clock()
        with self._transaction() as conn:
            conn.execute("INSERT INTO failed_signins (account, at) VALUES (?, ?)",
                         (normalise(account), now))
            # Attempts on made-up names must not fill the disk.
            conn.execute("DELETE FROM failed_signins WHERE at <= ?", (now - WINDOW_S,))

    def clear_failures(self, account: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM failed_signins WHERE account = ?", (normalise(account),))

    # --- sessions ----------------------------------------------------------------------

    def open_session(self, account: Account, key: str) -> tuple[str, Session]:
        """Start a session for `account`: the random id for the cookie, and the session
        as the server keeps it (under a digest of the id; the id itself is not kept)."""
        session_id = secrets.token_urlsafe(32)
        started = self.clock()
        session = Session(session_digest(session_id, key), account.username, account.role,
                          tuple(account.nationalities), started, started + SESSION_MAX_S,
                          None)
        with self._transaction() as conn:
            conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, NULL)",
                         (session.digest, session.account, session.role,
                          ",".join(session.nationalities), session.signed_in_at,
                          session.expires_at))
            # Sessions past their 12 hours can never sign anyone in: keep the file small.
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (started,))
        return session_id, session

    def session(self, digest: str) -> Session | None:
        """The session kept under `digest`, revoked or not; None if there is none."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT digest, account, role, nationalities, signed_in_at, expires_at, "
                "revoked_at FROM sessions WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            return None
        nats = tuple(n for n in row[3].split(",") if n)
        return Session(row[0], row[1], row[2], nats, row[4], row[5], row[6])

    def session_for_cookie(self, cookie: object, key: str) -> Session | None:
        """The session a cookie names. Anything but a session id as this server makes
        them (a JWT, garbage, a huge value) names none, without a look-up."""
        if not isinstance(cookie, str) or not SESSION_ID.fullmatch(cookie):
            return None
        return self.session(session_digest(cookie, key))

    def revoke(self, digest: str) -> None:
        """End a session for good: its cookie signs nobody in again, in any tab."""
        with self._transaction() as conn:
            conn.execute("UPDATE sessions SET revoked_at = ? WHERE digest = ? "
                         "AND revoked_at IS NULL", (self.clock(), digest))


@dataclass(frozen=True)
class Session:
    """One sign-in as the server keeps it."""

    digest: str
    account: str
    role: str
    nationalities: tuple[str, ...]
    signed_in_at: float
    expires_at: float
    revoked_at: float | None


def session_digest(session_id: str, key: str) -> str:
    """What the store keeps of a session id: an HMAC by the cookie key. A copy of the
    store gives no cookie, and writing to it makes no session, without the key; a new
    key ends every session."""
    return hmac.new(key.encode(), session_id.encode(), hashlib.sha256).hexdigest()


def session_expired(signed_in_at: float, at: float) -> bool:
    return at - signed_in_at >= SESSION_MAX_S or signed_in_at > at + 60


def session_problem(session: Session | None, account: Account | None,
                    at: float) -> str | None:
    """Why a session may not show anything any more, or None if it still may: not
    revoked (sign-out, here or in another tab), under 12 hours old, and its user still
    in the users file with the role and nationalities they signed in with."""
    if session is None or session.revoked_at is not None:
        return SIGNED_OUT
    if session_expired(session.signed_in_at, at) or at >= session.expires_at:
        return EXPIRED
    if account is None or account.username != session.account:
        return REMOVED
    if (account.role, tuple(account.nationalities)) != (session.role, session.nationalities):
        return CHANGED
    return None


# --- the cookie key --------------------------------------------------------------------

def key_problem(key: str) -> str | None:
    """What is wrong with a cookie key, or None. It must be at least 43 characters (32
    random bytes, as `secrets.token_urlsafe(32)` prints them), look random and be
    written down nowhere public. "Looks random" is judged the way a reader would:
    at least two kinds of character among lower-case letters, capitals and digits,
    at least MIN_KEY_BITS by the frequency of its characters, no run of 8 characters
    in alphabetical order and no 5 characters written 3 times over. Keys made by
    `secrets` pass; words, passphrases and patterns do not."""
    if not key:
        return _("No cookie key is set")
    if key.strip().lower() in PUBLISHED_KEYS:
        return _("The cookie key is published (in the library's documentation, or in this "
                 "project's tests or documents), so it is no secret")
    if len(key) < MIN_KEY_CHARS:
        return _("The cookie key is shorter than {count} characters (32 random "
                 "bytes)").format(count=MIN_KEY_CHARS)
    if not _looks_random(key):
        return _("The cookie key does not look random (words, a pattern or too few kinds "
                 "of character)")
    return None


def _looks_random(key: str) -> bool:
    kinds = sum(any(test(c) for c in key) for test in (str.islower, str.isupper, str.isdigit))
    counts = Counter(key)
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    steps = [ord(b) - ord(a) for a, b in zip(key, key[1:], strict=False)]
    in_order = any(abs(sum(steps[i:i + 7])) == 7 and len(set(steps[i:i + 7])) == 1
                   for i in range(len(steps) - 6))
    head = key[:1024]  # a pattern shows in the first kilobyte, if anywhere
    repeated = any(head.count(head[i:i + 5]) >= 3 for i in range(len(head) - 4))
    return kinds >= 2 and bits >= MIN_KEY_BITS and not in_order and not repeated


def cookie_key(db_url: str, secrets_section: Mapping | None) -> str:
    """The key sign-in sessions are checked with: `[sitroom] cookie_key` in Streamlit's
    secrets, else SITROOM_COOKIE_KEY. A missing, short, patterned or published key is
    refused (the message never repeats it), except on the demo database, which gets a
    random key of its own kept in SITROOM_HOME."""
    section = secrets_section or {}
    key = section.get("cookie_key") or os.environ.get("SITROOM_COOKIE_KEY", "")
    if not isinstance(key, str):
        raise AuthSetupError(_("`[sitroom] cookie_key` in .streamlit/secrets.toml: the "
                               "cookie_key must be a string. Sign-in stays closed until then."))
    key = key.strip()
    problem = key_problem(key)
    if problem is None:
        return key
    if config.is_demo_url(db_url):
        return demo_cookie_key()
    # Translators: {problem} is one of the sentences above about the cookie key.
    raise AuthSetupError(_(
        "{problem}. Set a random `cookie_key` of at least {count} characters under "
        "`[sitroom]` in .streamlit/secrets.toml, or the SITROOM_COOKIE_KEY environment "
        "variable (e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`). "
        "Sign-in stays closed until then.").format(problem=problem, count=MIN_KEY_CHARS))


def demo_cookie_key() -> str:
    """A random key per installation for the demo database, created once."""
    path = config.home() / "demo-cookie-key"
    if path.exists():
        key = path.read_text().strip()
        if key_problem(key) is None:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
