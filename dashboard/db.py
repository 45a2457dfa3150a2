"""The one way the dashboard reaches the shared database: read-only.

SQLite is opened with `mode=ro` and `PRAGMA query_only`; PostgreSQL sessions
start every transaction READ ONLY. Writers (the generator, migrations) use
`writable_engine`, which the dashboard itself never calls.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from sqlalchemy import DateTime, Engine, TextClause, bindparam, create_engine, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import Executable

from dashboard import config, schema


class DatabaseUnavailable(Exception):
    """The database cannot be opened or reached. The message is for the reader."""


def normalize_url(url: str | URL) -> URL:
    """Parse a URL; plain `postgresql://` means the psycopg 3 driver we ship."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def dialect_of(url: str | URL) -> str:
    """"sqlite" or "postgresql": for SQL that each planner answers best in its own form."""
    return normalize_url(url).get_backend_name()


def describe(url: str | URL) -> str:
    """The URL as it may be shown on screen: no password."""
    return normalize_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    u = normalize_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def writable_engine(url: str | URL) -> Engine:
    """An engine that may write: for the generator and migrations only."""
    return create_engine(normalize_url(url))


def readonly_engine(url: str | URL) -> Engine:
    """Open the shared database read-only, or raise DatabaseUnavailable saying why."""
    u = normalize_url(url)
    timeout_s = float(config.get("SITROOM_QUERY_TIMEOUT_S"))
    backend = u.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(u)
        if path is None:
            raise DatabaseUnavailable("An in-memory SQLite database cannot be shared; give a file.")
        if not path.exists():
            raise DatabaseUnavailable(
                f"No database file at {path}. Build one with "
                f"`sitroom generate --persons 20000 --seed 1 --out {path}` or set SITROOM_DB_URL."
            )
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            _sqlite_time_limit(conn, timeout_s)
            return conn

        # A plain "sqlite://" URL would get SingletonThreadPool, which closes the
        # connection of one thread when too many threads hold one: with a session
        # per reader plus background refreshes, that crashed SQLite. A queue pool
        # hands each connection to one thread at a time.
        engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool,
                               pool_size=8, max_overflow=16, pool_timeout=60)
    elif backend == "postgresql":
        engine = create_engine(
            u,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": 5,
                "options": "-c default_transaction_read_only=on "
                           f"-c statement_timeout={int(timeout_s * 1000)}",
            },
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn, _record):  # a session cannot be switched back to write
            with dbapi_conn.cursor() as cur:
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_conn.commit()
    else:
        raise DatabaseUnavailable(
            f"Unsupported database {describe(u)}: use SQLite or PostgreSQL."
        )
    try:
        with engine.connect() as conn:
            schema.check(conn)
    except schema.SchemaMismatch:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        raise DatabaseUnavailable(
            f"Cannot reach the database {describe(u)}: {first_line(exc)}"
        ) from exc
    return engine


_patience = threading.local()
PATIENCE = 10  # how many times the usual time limit a background query may take


@contextmanager
def patient() -> Iterator[None]:
    """Queries run inside this block (or a function it decorates), in this thread, may
    take PATIENCE times the usual limit: for the shared facts the server finds in the
    background, which no reader waits for and which read whole tables (slower when the
    machine is busy)."""
    _patience.factor = PATIENCE
    try:
        yield
    finally:
        _patience.factor = 1


def _sqlite_time_limit(conn: sqlite3.Connection, seconds: float) -> None:
    """Abort any statement running longer than `seconds` (as Datasette does), or
    longer than PATIENCE times that inside `patient()`."""
    state = {"start": time.monotonic()}

    def on_trace(_statement: str) -> None:
        state["start"] = time.monotonic()

    def progress() -> int:
        limit = seconds * getattr(_patience, "factor", 1)
        return 1 if time.monotonic() - state["start"] > limit else 0

    conn.set_trace_callback(on_trace)
    conn.set_progress_handler(progress, 10_000)


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def read_frame(engine: Engine, stmt: Executable | str, params: dict | None = None) -> pd.DataFrame:
    """Run one read query and return its rows, turning connection failures into
    DatabaseUnavailable so that pages can say so instead of showing a traceback."""
    if isinstance(stmt, str):
        stmt = text(stmt)
    try:
        with engine.connect() as conn:
            factor = getattr(_patience, "factor", 1)
            if factor != 1 and engine.dialect.name == "postgresql":
                timeout_s = float(config.get("SITROOM_QUERY_TIMEOUT_S")) * factor
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
            result = conn.execute(stmt, params or {})
            # Plain tuples: pandas probing each Row's attributes is eight times slower.
            # Fetched in parts: row by row is a fifth slower, all at once doubles the
            # memory of a large result while it is turned into tuples.
            rows = [tuple(row) for part in result.partitions(4096) for row in part]
            return pd.DataFrame(rows, columns=list(result.keys()))
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailable(f"The database did not answer: {first_line(exc)}") from exc


# Times are stored to the second as 'YYYY-MM-DD HH:MM:SS' in SQLite (the data
# contract's text form); binding them in the same form keeps string comparisons
# exact at equality, where SQLAlchemy's default '.ffffff' suffix would not.
TIMESTAMP = DateTime().with_variant(
    sqlite.DATETIME(storage_format="%(year)04d-%(month)02d-%(day)02d "
                                   "%(hour)02d:%(minute)02d:%(second)02d"),
    "sqlite",
)


def sql(statement: str, params: dict) -> TextClause:
    """A text query whose list-valued parameters expand into IN (...) lists."""
    clause = text(statement)
    typed = [
        bindparam(k, expanding=True) if isinstance(v, list)
        # Typed so that every backend compares times in its own stored format.
        else bindparam(k, type_=TIMESTAMP)
        for k, v in params.items()
        if isinstance(v, list | datetime)
    ]
    return clause.bindparams(*typed) if typed else clause
