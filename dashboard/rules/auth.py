"""Sign-in rules that streamlit-authenticator 0.4.2 lacks, as small testable pieces.

- Its failed-login lockout (`max_login_attempts`) never expires, so anyone who
  knows a user name can lock that user out for good. Here: at most 5 failures
  per account in 15 minutes, and the lock lifts by itself.
- Its cookie is a JWT that stays valid after sign-out (mkhorasani/
  Streamlit-Authenticator#91). Here: sign-out revokes the token on the server.
- Sessions last at most 12 hours, checked on the server on every run.

Failures and revocations live in the dashboard's own SQLite store beside the
audit log, so they hold across sessions and Streamlit processes. Every function
takes the time as an argument or from an injectable clock, so tests never sleep.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from dashboard import config
from dashboard.rules.ownfiles import OwnFile

MAX_FAILURES = 5
WINDOW_S = 15 * 60
SESSION_MAX_S = 12 * 3600
COOKIE_NAME = "sitroom_auth"
MIN_KEY_LENGTH = 16
# Keys from the library's docs and examples, and other keys nobody should ship.
KNOWN_DEFAULT_KEYS = frozenset({
    "some_key", "some_signature_key", "random_signature_key", "abcdef", "key", "secret",
    "changeme", "change-me", "change_me", "cookie_key", "your_cookie_key", "sitroom",
})

WRONG_CREDENTIALS = "The user name or password is not right."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_signins (account TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ix_failed_account ON failed_signins (account, at);
CREATE TABLE IF NOT EXISTS revoked_tokens (token_id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
"""


class AuthSetupError(RuntimeError):
    """The dashboard cannot offer sign-in safely (no cookie key, a default key)."""


class AuthStoreUnavailable(AuthSetupError):
    """The lockout and revocation store cannot be written: sign-in stays closed."""


def normalise(username: str | None) -> str:
    """The account a sign-in attempt is about, as the library compares it."""
    return (username or "").strip().lower()


def locked_message(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (f"This account is locked for {minutes} more {unit} after repeated failed "
            "sign-ins.")


class AuthStore:
    """Failed sign-ins per account and revoked cookie tokens, in a small SQLite file."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time):
        self.path = path or config.auth_db_path()
        self.clock = clock

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with OwnFile(self.path, _SCHEMA).transaction() as conn:
                yield conn
        except (sqlite3.Error, OSError) as exc:
            raise AuthStoreUnavailable(
                f"The sign-in store at {self.path} cannot be written ({exc}). Without it "
                "failed sign-ins and signed-out sessions cannot be tracked, so sign-in is "
                "closed: tell the operators.") from exc

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

    # --- revocation ------------------------------------------------------------------

    def revoke(self, token: str, expires_at: float) -> None:
        now = self.clock()
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO revoked_tokens VALUES (?, ?)",
                         (token, expires_at))
            conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (now,))

    def is_revoked(self, token: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("SELECT 1 FROM revoked_tokens WHERE token_id = ?",
                                (token,)).fetchone() is not None


def token_id(username: str, exp_date: float) -> str:
    """The identity of one sign-in's cookie token. The library's JWT holds only the
    user name and its expiry (microsecond float), which together are unique per
    sign-in; only their hash is stored."""
    return hashlib.sha256(f"{normalise(username)}|{float(exp_date)!r}".encode()).hexdigest()


def issued_at(exp_date: float) -> float:
    """When a cookie token was issued: the library sets its expiry SESSION_MAX_S later."""
    return float(exp_date) - SESSION_MAX_S


def session_expired(signed_in_at: float, now: float) -> bool:
    return now - signed_in_at >= SESSION_MAX_S or signed_in_at > now + 60


def token_usable(claims: Mapping, store: AuthStore) -> bool:
    """A decoded cookie may sign someone in only if it is not revoked and not too old,
    whatever expiry the browser was told."""
    try:
        username, exp_date = str(claims["username"]), float(claims["exp_date"])
    except (KeyError, TypeError, ValueError):
        return False
    if session_expired(issued_at(exp_date), store.clock()):
        return False
    return not store.is_revoked(token_id(username, exp_date))


# --- the cookie key --------------------------------------------------------------------

def cookie_key(db_url: str, secrets_section: Mapping | None) -> str:
    """The key that signs sign-in cookies: `[sitroom] cookie_key` in Streamlit's secrets,
    else SITROOM_COOKIE_KEY. Missing or well-known keys are refused, except on the demo
    database, which gets a random key of its own kept in SITROOM_HOME."""
    key = (secrets_section or {}).get("cookie_key") or os.environ.get("SITROOM_COOKIE_KEY", "")
    key = str(key).strip()
    problem = None
    if not key:
        problem = "No cookie key is set"
    elif key.lower() in KNOWN_DEFAULT_KEYS:
        problem = "The cookie key is a well-known default"
    elif len(key) < MIN_KEY_LENGTH:
        problem = f"The cookie key is shorter than {MIN_KEY_LENGTH} characters"
    if problem is None:
        return key
    if config.is_demo_url(db_url):
        return demo_cookie_key()
    raise AuthSetupError(
        f"{problem}. Set a long random `cookie_key` under `[sitroom]` in "
        ".streamlit/secrets.toml, or the SITROOM_COOKIE_KEY environment variable "
        "(e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`). "
        "Sign-in stays closed until then.")


def demo_cookie_key() -> str:
    """A random key per installation for the demo database, created once."""
    path = config.home() / "demo-cookie-key"
    if path.exists():
        key = path.read_text().strip()
        if len(key) >= MIN_KEY_LENGTH:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
