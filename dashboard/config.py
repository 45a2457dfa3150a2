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
        Setting("SITROOM_AUDIT_DB", str(PROJECT_ROOT / "var" / "audit.sqlite"),
                "the dashboard's own audit log (SQLite file); never the shared database"),
        Setting("SITROOM_CACHE_TTL_S", "30",
                "seconds a query result is reused before the database is asked again"),
    )
}


def get(env: str) -> str:
    return os.environ.get(env) or SETTINGS[env].default


def home() -> Path:
    return Path(get("SITROOM_HOME"))


def demo_db_path() -> Path:
    return home() / "demo.sqlite"


def db_url(cli_value: str | None = None) -> str:
    """The database URL: a flag, else SITROOM_DB_URL, else the embedded demo database."""
    return cli_value or get("SITROOM_DB_URL") or f"sqlite:///{demo_db_path()}"


def is_demo_url(url: str) -> bool:
    return url == f"sqlite:///{demo_db_path()}"
