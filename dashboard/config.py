"""Settings, declared once with their default and a help line.

Every setting is read from the environment; `sitroom` commands accept the
same values as flags. tests/test_docs.py fails if one is missing from the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
        Setting("SITROOM_COOKIE_KEY", "",
                "secret key that signs the sign-in cookie (or `[sitroom] cookie_key` in "
                ".streamlit/secrets.toml); required except on the demo database"),
        Setting("SITROOM_CACHE_TTL_S", "30",
                "seconds a query result is reused before the database is asked again"),
        Setting("SITROOM_DISCLOSURE_KEY", "",
                "secret that fixes how counts are rounded for the roles that see only counts "
                "(docs/design.md §2.4); every server of one installation needs the same one; "
                "empty means a random key made once and kept in SITROOM_HOME"),
        Setting("SITROOM_TIMING_LOG", "",
                "a file to which every page run appends its time (for "
                "benchmarks/bench_sessions.py); empty means no log"),
    )
}


def get(env: str) -> str:
    return os.environ.get(env) or SETTINGS[env].default


def home() -> Path:
    return Path(get("SITROOM_HOME"))


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
