"""Shared fixtures: small generated scenario databases on SQLite and PostgreSQL,
built once per session, and a clean Streamlit cache for every test. On PostgreSQL
the code under test reads as the dashboard's own login (`sitroom db reader-sql`,
docs/deploy.md), the tests' own SQL as the databases' owner."""

from __future__ import annotations

import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from components import session
from dashboard.store import cache, db, watermark
from dashboard.store.db import Database
from dashboard.tools import cli
from dashboard.tools.generate import generate
from tests import disclosure

# Counts are rounded with the installation's secret: the tests fix it, so that their own
# oracle (tests/disclosure.py) rounds the same rows the same way.
os.environ["SITROOM_DISCLOSURE_KEY"] = disclosure.SECRET
# Each test counts its shared facts itself: none is taken back from an earlier run's disk
# (tests/test_watermark.py turns keeping on where it is what is tested).
os.environ["SITROOM_FACTS_DIR"] = "off"

# Fixtures shared by several test modules, kept in modules of their own.
pytest_plugins = ["tests.downloads"]

PERSONS = 3000
SEED = 7
PG_ADMIN_URL = os.environ.get("SITROOM_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin_conninfo() -> str:
    return PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")


def pg_available() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(_pg_admin_conninfo(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


PG_FIXTURES = {"pg_server", "pg_databases"}


def pytest_collection_modifyitems(items) -> None:
    """Every test that reaches PostgreSQL carries the `postgres` marker (one policy:
    `-m "not postgres"` leaves them all out on a machine without the server; CI never
    does, and there an unreachable server fails the run)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if PG_FIXTURES & set(getattr(item, "fixturenames", ())) or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the PostgreSQL server. In CI an unreachable server fails the run."""
    reason = pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required in CI: {reason}")
        pytest.skip(f"PostgreSQL not reachable ({reason}); CI runs these")
    return PG_ADMIN_URL


class PgDatabases:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str):
        self.admin = _pg_admin_conninfo()
        self.created: list[str] = []

    def create(self, label: str) -> str:
        name = f"sitroom_test_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base = self.admin.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop_all(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        drop_test_roles(self.admin)


# --- the dashboard's PostgreSQL login ----------------------------------------------------------

# One login per test session (roles belong to the whole server), installed in each
# database the code under test opens, the first time it opens it.
READER_ROLE = f"sitroom_test_reader_{uuid.uuid4().hex[:8]}"
_readers: dict[str, str] = {}  # a database's owner URL -> its reader URL
_readers_lock = threading.Lock()
TEST_ROLES: set[str] = set()  # dropped at the end of the session (drop_test_roles)


def install_reader(url: str, role: str = READER_ROLE) -> str:
    """Run the SQL of `sitroom db reader-sql --role ROLE` in the PostgreSQL database at
    `url`, as its owner; return the URL of the same database for that login."""
    TEST_ROLES.update({role, role + db.ALL_ROWS_SUFFIX})
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                         autocommit=True) as conn:
        conn.execute(cli.reader_sql(role))  # no parameters: the whole script at once
    return make_url(url).set(username=role, password=None).render_as_string(
        hide_password=False)


def reader_url(url: str) -> str:
    """The URL the code under test reads `url` through: on PostgreSQL the dashboard's
    read-only login with row-level security (installed once per database), else `url`."""
    if not url.startswith("postgresql"):
        return url
    with _readers_lock:
        if url in _readers.values():  # already the reader's
            return url
        if url not in _readers:
            _readers[url] = install_reader(url)
        return _readers[url]


def drop_test_roles(admin: str) -> None:
    """Drop the tests' logins, once the databases holding their grants are gone."""
    with psycopg.connect(admin, autocommit=True) as conn:
        for role in sorted(TEST_ROLES):
            try:
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')
            except psycopg.Error as exc:  # a database still grants it something
                warnings.warn(f"test login {role} not dropped: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def pg_databases(pg_server) -> Iterator[PgDatabases]:
    dbs = PgDatabases(pg_server)
    yield dbs
    dbs.drop_all()


def _build(backend: str, dirty: bool, tmp_factory, request) -> str:
    label = "dirty" if dirty else "clean"
    if backend == "sqlite":
        path = Path(tmp_factory.mktemp(f"db_{label}")) / "scenario.sqlite"
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_databases").create(label)
    generate(url, persons=PERSONS, seed=SEED, dirty=dirty)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory) -> str:
    """URL of a clean generated scenario database, on each backend."""
    return _build(request.param, False, tmp_path_factory, request)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def dirty_db_url(request, tmp_path_factory) -> str:
    """URL of a generated scenario database with contract-breaking rows, on each backend."""
    return _build(request.param, True, tmp_path_factory, request)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory, request) -> str:
    """A clean SQLite scenario for tests that need only one backend (the app pages)."""
    return _build("sqlite", False, tmp_path_factory, request)


@pytest.fixture(scope="session")
def dirty_sqlite_url(tmp_path_factory, request) -> str:
    return _build("sqlite", True, tmp_path_factory, request)


@pytest.fixture
def raw(request):
    """A plain writable engine on a URL, for the test's own SQL (not the code under test)."""
    engines = []

    def make(url: str):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        # a SQLite reader waits for a writer (the drill simulator) instead of failing
        engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite")
                               else {})
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture(autouse=True)
def own_audit_log(tmp_path, monkeypatch) -> Path:
    """Each test writes its audit log into its own folder, never the project's."""
    path = tmp_path / "audit.sqlite"
    monkeypatch.setenv("SITROOM_AUDIT_DB", str(path))
    return path


# Not figures: the page's ping (`SELECT 1`, at most once a second, to say whether the
# database answers) and the reads of its watermark (at most once a second, to say
# whether it changed: dashboard/store/watermark.py). Tests that count the statements a
# figure sends leave these out (statements as sent, whitespace collapsed).
NOT_FIGURES = {"SELECT 1", " ".join(watermark.statement_of_big().split()),
               " ".join(watermark.PERSONS_CHANGED.split()),
               *(f"SELECT * FROM {table}" for table in watermark.SMALL)}


def opened(url: str) -> Database:
    """The read-only Database the code under test reads `url` through: the one the
    pages of this process use too (components.session), new in each test. On
    PostgreSQL it reads as the dashboard's own login (reader_url), while `raw(url)`
    stays the owner."""
    return session.database(reader_url(url))


@pytest.fixture(autouse=True)
def clear_caches():
    """Caches outlive a test (Streamlit's: streamlit/streamlit#9139; the query results
    and the databases' shared facts): start each one empty."""
    st.cache_data.clear()
    cache.clear_all()
    db.forget_all()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    cache.clear_all()
    db.forget_all()
    st.cache_resource.clear()
    db.dispose_all()
