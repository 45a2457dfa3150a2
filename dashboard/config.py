"""Settings, declared once with their default and a help line, and the guard that
keeps passwords in database URLs out of every log record.

Every setting is read from the environment; `sitroom` commands accept the
same values as flags. tests/test_docs.py fails if one is missing from the README.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS = {
    s.env: s
    for s in (
        Setting("SITROOM_DB_URL", "",
                "SQLAlchemy URL of the shared database; empty means the embedded demo "
                "database (built on first start)"),
        Setting("SITROOM_HOME", str(PROJECT_ROOT / "var"),
                "folder for the embedded demo database and the dashboard's own files"),
        Setting("SITROOM_FACTS_DIR", "",
                "folder where the shared counts are kept between starts, so that a restart "
                "takes them back instead of counting again; empty means facts/ in "
                "SITROOM_HOME; `off` keeps none"),
        Setting("SITROOM_DEMO_PERSONS", "20000",
                "persons in the demo scenario built on first start"),
        Setting("SITROOM_QUERY_TIMEOUT_S", "20",
                "longest a single dashboard query may run before it is cancelled"),
        Setting("SITROOM_USERS", "",
                "the users file (YAML: bcrypt hashes, role, nationalities), kept outside git; "
                "empty means users.yaml in SITROOM_HOME"),
        Setting("SITROOM_AUDIT_DB", "",
                "the dashboard's own audit log (SQLite file); never the shared database; "
                "empty means audit.sqlite beside the users file"),
        Setting("SITROOM_AUDIT_DAYS", "400",
                "days the audit log keeps a line; older lines are deleted (0 keeps every "
                "line)"),
        Setting("SITROOM_COOKIE_KEY", "",
                "secret key the server's sign-in session ids are checked with (or "
                "`[sitroom] cookie_key` in .streamlit/secrets.toml): at least 43 random "
                "characters, never a published one; required except on the demo database"),
        Setting("SITROOM_CACHE_TTL_S", "30",
                "seconds a query result is reused before the database is asked again"),
        Setting("SITROOM_DISCLOSURE_KEY", "",
                "secret that fixes how counts are rounded for the roles that see only counts "
                "(docs/design.md §2.4); every server of one installation needs the same one; "
                "empty means a random key made once and kept in SITROOM_HOME"),
        Setting("SITROOM_LANGUAGE", "en",
                "the language a reader sees until they choose one (en, fr, es, pt or ar); "
                "a user's own default (`sitroom users add --language`) comes before it"),
        Setting("SITROOM_TIMING_LOG", "",
                "a file to which every page run appends its time (for "
                "benchmarks/bench_sessions.py); empty means no log"),
    )
}


def get(env: str) -> str:
    return os.environ.get(env) or SETTINGS[env].default


def home() -> Path:
    return Path(get("SITROOM_HOME"))


@functools.cache
def disclosure_secret() -> str:
    """The installation's secret that keys the rounding of counts (rules.privacy):
    SITROOM_DISCLOSURE_KEY, else a random one made once and kept (owner-only) in
    SITROOM_HOME. Read here, at the bottom, because the kept facts (store.kept) hold
    counts rounded with it and are taken back only under the same one; read once a
    process, so that both see the secret the counts were keyed with."""
    secret = get("SITROOM_DISCLOSURE_KEY").strip()
    if secret:
        return secret
    path = home() / "disclosure-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        except FileExistsError:  # another process made it first
            pass
    return path.read_text().strip()


def users_path() -> Path:
    return Path(get("SITROOM_USERS") or home() / "users.yaml")


def audit_db_path() -> Path:
    """The audit log, by default beside the users file: the dashboard's own files together."""
    return Path(get("SITROOM_AUDIT_DB") or users_path().parent / "audit.sqlite")


def auth_db_path() -> Path:
    """Failed sign-ins and revoked cookies, kept beside the audit log."""
    return audit_db_path().with_name("auth.sqlite")


def demo_db_path() -> Path:
    return home() / "demo.sqlite"


def db_url(cli_value: str | None = None) -> str:
    """The database URL: a flag, else SITROOM_DB_URL, else the embedded demo database."""
    return cli_value or get("SITROOM_DB_URL") or f"sqlite:///{demo_db_path()}"


def is_demo_url(url: str) -> bool:
    return url == f"sqlite:///{demo_db_path()}"


# --- no password in a log -----------------------------------------------------------------

# `scheme://user:password@host`: the password runs to the last "@" before a space or quote.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)[^\s'\"]*@")
# libpq's `key=value` form: `password=secret` or `password='se cret'`.
_KEYWORD_PASSWORD = re.compile(r"(?i)(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)")


def redact(text: str) -> str:
    """`text` with the password of every URL (and every libpq `password=`) blanked.
    Where a URL is shown on screen the code says so with `store.db.describe`; this
    is the second wall, for whatever reaches a log anyway."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


class RedactPasswords(logging.Filter):
    """Blanks passwords in URLs in a log record: its message with its arguments, the
    traceback of its exception and its stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit: leave it to the handler
            message = None
        if message is not None:
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _RedactingFactory:
    """The log record factory with RedactPasswords applied to each record it makes."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.redaction = RedactPasswords()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        self.redaction.filter(record)
        return record


def redact_logs() -> None:
    """From now on, blank passwords in URLs in every log record of this process, from
    any logger (Streamlit's, SQLAlchemy's, the dashboard's own, one made later) to any
    handler: the filter runs where records are made, not on one logger or handler."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
