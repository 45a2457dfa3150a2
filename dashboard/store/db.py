"""The one way the dashboard reaches the shared database: read-only, through a
`Database` (in the spirit of Datasette's `database.py`).

A `Database` owns the read-only engine, the query time limit, the SQL forms that
differ between SQLite and PostgreSQL, and the facts the server keeps about the
data for every viewer. Query functions take it (and the viewer) as arguments and
never open a connection themselves.

SQLite is opened with `mode=ro` and `PRAGMA query_only`; PostgreSQL sessions
start every transaction READ ONLY. Writers (the generator, migrations, the drill
simulator) use `writable_engine`, which the dashboard itself never calls.

On PostgreSQL the database can hold a second wall behind the SQL scopes of
dashboard.rules.access: row-level security policies (printed by `sitroom db
reader-sql`, docs/deploy.md) that hold the dashboard's login to the scope each
transaction declares. The session reads as the login's role for every row; a read
for a narrower scope (a consular liaison's) switches its transaction back to the
login and sets that scope (`read_frame`), from the `Scope` of the computation under
way (`reading_as`, which `cache.scoped` sets from its viewer argument).
"""

from __future__ import annotations

import contextvars
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
from sqlalchemy import DateTime, Engine, TextClause, bindparam, create_engine, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import Executable

from dashboard import config
from dashboard.contract import schema, vocab
from dashboard.language import N_, ReaderError
from dashboard.store import kept
from dashboard.store import sums as arrow_sums
from dashboard.store.facts import Mark, SharedFacts
from dashboard.store.watermark import SNAPSHOT, Recent, Watermarks


class DatabaseUnavailable(ReaderError):
    """The database cannot be opened or reached (the message is the reader's:
    language.ReaderError)."""


def file_identity(path: Path) -> tuple[int, int] | None:
    """Which file a path names now (device, inode), None if none: a SQLite file
    replaced by an atomic rename, as a replication job does it, is another file."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def normalize_url(url: str | URL) -> URL:
    """Parse a URL; plain `postgresql://` means the psycopg 3 driver we ship."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def url_key(url: str | URL) -> str:
    """The URL as the process knows a database by (`Database.url`): normalized, whole."""
    return normalize_url(url).render_as_string(hide_password=False)


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


def in_scenario(column: str, dialect: str) -> str:
    """`column` (a row's scenario_id) for a condition `= :scenario` over most of a table:
    on SQLite with a unary + that keeps the scenario's index out of the plan, so that
    the table is read in order rather than row by row through the index (three times
    slower for a scenario of a million persons, and a small one's pass costs little
    either way). PostgreSQL's planner knows the proportion of rows and chooses alone."""
    return f"+{column}" if dialect == "sqlite" else column


SQLITE_MMAP_BYTES = 2 << 30  # SQLite holds it to its build's limit (just under 2 GiB)


def readonly_engine(url: str | URL) -> Engine:
    """Open the shared database read-only, or raise DatabaseUnavailable saying why."""
    u = normalize_url(url)
    timeout_s = float(config.get("SITROOM_QUERY_TIMEOUT_S"))
    backend = u.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(u)
        if path is None:
            raise DatabaseUnavailable(
                N_("An in-memory SQLite database cannot be shared; give a file."))
        if not path.exists():
            raise DatabaseUnavailable(
                N_("No database file at {path}. Build one with "
                   "`sitroom generate --persons 20000 --seed 1 --out {path}` or set "
                   "SITROOM_DB_URL."), path=str(path))
        # Not resolved: a symbolic link that a replication job points elsewhere is
        # followed afresh by each new connection.
        uri = f"file:{quote(str(path.absolute()))}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            # Pages read through a memory map of the file rather than one read call each:
            # a pass over a million persons takes about 40% less. Address space only; the
            # pages are the operating system's file cache, shared by every connection.
            conn.execute(f"PRAGMA mmap_size = {SQLITE_MMAP_BYTES}")
            _sqlite_time_limit(conn, timeout_s)
            return conn

        # A plain "sqlite://" URL would get SingletonThreadPool, which closes the
        # connection of one thread when too many threads hold one: with a session
        # per reader plus background refreshes, that crashed SQLite. A queue pool
        # hands each connection to one thread at a time.
        engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool,
                               pool_size=8, max_overflow=16, pool_timeout=60)

        # A connection reads the file it opened for as long as it lives, even after
        # the path names another one (or none): each is checked out only while the
        # path still names its file, and replaced by a new connection otherwise.
        @event.listens_for(engine, "connect")
        def _opened(_dbapi_conn, record):
            record.info["file"] = file_identity(path)

        @event.listens_for(engine, "checkout")
        def _same_file(_dbapi_conn, record, _proxy):
            if file_identity(path) != record.info.get("file"):
                raise DisconnectionError(f"{path} was replaced or removed")
    elif backend == "postgresql":
        engine = create_engine(
            u,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": 5,
                # The session's own scope is the server's: every row, should the session
                # read as the login itself (no role for every row: _AS_ALL_ROWS). No JIT:
                # the tallies' estimated costs (and the row-level policies' subqueries) set
                # it off, and compiling took 0.6 s of a 1.2 s query at a million persons.
                "options": "-c default_transaction_read_only=on "
                           f"-c statement_timeout={int(timeout_s * 1000)} "
                           "-c jit=off "
                           f"-c {ROLE_SETTING}={SERVER.role}",
            },
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn, _record):  # a session cannot be switched back to write
            with dbapi_conn.cursor() as cur:  # one round trip per connection
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; "
                            + _AS_ALL_ROWS)
            dbapi_conn.commit()
    else:
        raise DatabaseUnavailable(
            N_("Unsupported database {database}: use SQLite or PostgreSQL."),
            database=describe(u))
    try:
        with engine.connect() as conn:
            schema.check(conn)
    except schema.SchemaMismatch:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        # Translators: {database} is its address (without password), {reason} the
        # database's own words (not translated).
        raise DatabaseUnavailable(N_("Cannot reach the database {database}: {reason}"),
                                  database=describe(u), reason=first_line(exc)) from exc
    return engine


_patience: ContextVar[int] = ContextVar("patience", default=1)
PATIENCE = 10  # how many times the usual time limit a background query may take


@contextmanager
def patient() -> Iterator[None]:
    """Queries run inside this block (or a function it decorates), in this context, may
    take PATIENCE times the usual limit: for the shared facts the server finds in the
    background, which no reader waits for and which read whole tables (slower when the
    machine is busy)."""
    token = _patience.set(PATIENCE)  # a context variable: it follows `gather`'s calls
    try:
        yield
    finally:
        _patience.reset(token)


_every_core: ContextVar[bool] = ContextVar("every_core", default=False)


@contextmanager
def every_core() -> Iterator[None]:
    """`Database.gather` inside this block runs two calls at a time even on a server:
    for the first count after a start, which every page waits for and nobody is
    served beside."""
    token = _every_core.set(True)
    try:
        yield
    finally:
        _every_core.reset(token)


def _sqlite_time_limit(conn: sqlite3.Connection, seconds: float) -> None:
    """Abort any statement running longer than `seconds` (as Datasette does), or
    longer than PATIENCE times that inside `patient()`."""
    state = {"start": time.monotonic()}

    def on_trace(_statement: str) -> None:
        state["start"] = time.monotonic()

    def progress() -> int:
        limit = seconds * _patience.get()
        return 1 if time.monotonic() - state["start"] > limit else 0

    conn.set_trace_callback(on_trace)
    conn.set_progress_handler(progress, 1_000_000)


# --- whose rows a read may return -------------------------------------------------------------

ROLE_SETTING = "sitroom.role"
NATIONALITIES_SETTING = "sitroom.nationalities"
# The login's role for every row (`sitroom db reader-sql`, docs/deploy.md): NOLOGIN, no
# row-level security policy. A session of the login reads as it, so that the server's
# and the aggregate roles' reads run exactly as without the policies (which would
# weigh on their plans); a liaison's transaction switches back to the login, which the
# policies hold to the scope it sets. Nothing happens where there is no such role.
ALL_ROWS_SUFFIX = "_all_rows"
_AS_ALL_ROWS = (
    "SELECT set_config('role', r.rolname, false) FROM pg_catalog.pg_roles r "
    f"WHERE r.rolname = current_user || '{ALL_ROWS_SUFFIX}' "
    "AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')")


@dataclass(frozen=True)
class Scope:
    """Whose rows the reads of one computation are for, as the row-level security
    policies of `sitroom db reader-sql` read it: a viewer's role and, for a consular
    liaison, its nationalities (docs/design.md §2.2). The store knows no rules: a
    scope with nationalities is one that sees fewer rows than the server."""

    role: str
    nationalities: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        """Whether the database must be told: only a scope by nationality sees fewer
        rows than the server's own session (every row)."""
        return bool(self.nationalities)


SERVER = Scope("server")  # the server's shared counts and viewer-less facts: every row
_scope: ContextVar[Scope | None] = ContextVar("sitroom_read_scope", default=None)


def scope_of(viewer: Any) -> Scope:
    """The scope of a viewer (anything with `role` and `nationalities`)."""
    return Scope(str(viewer.role), tuple(sorted(str(n) for n in viewer.nationalities)))


def current_scope() -> Scope | None:
    """The scope the reads of this thread (context) are for; None if none was declared,
    and the session's own (the server's) applies."""
    return _scope.get()


@contextmanager
def reading_as(scope: Scope) -> Iterator[None]:
    """Reads inside this block, in this context, are for `scope`. Context variables do
    not follow a computation into a thread it starts: a background refresh declares
    its scope again (cache.scoped captures it)."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


T = TypeVar("T")


def as_server(compute: Callable[[], T]) -> Callable[[], T]:
    """`compute`, run for the server's scope (every row) whoever's call starts it."""
    def run() -> T:
        with reading_as(SERVER):
            return compute()

    return run


def _transaction_setup(engine: Engine) -> tuple[str, dict[str, str]] | None:
    """What a read's transaction must set on PostgreSQL before its statement, as one
    statement (one round trip) and its parameters: inside `patient()`, a longer time
    limit; there and in the first count (`every_core`), no parallel workers. A count
    nobody waits for then keeps to one core of the database's machine and leaves the
    other to page runs; the first count, two queries at a time already, keeps to two
    (with two workers each, on two cores beside the reader's browser, the first page
    after a start at a million people came 17.1-18.1 s after it, without them
    15.3-15.8 s). For a scope narrower than the server's, the login itself as the
    transaction's role (row-level security holds it, ALL_ROWS_SUFFIX) and the scope.
    None (no round trip) on SQLite, and for the server's and the aggregate roles'
    scopes read in a page run."""
    if engine.dialect.name != "postgresql":
        return None
    calls: list[str] = []
    settings: dict[str, str] = {}
    factor = _patience.get()
    if factor != 1:
        timeout_s = float(config.get("SITROOM_QUERY_TIMEOUT_S")) * factor
        settings["statement_timeout"] = str(int(timeout_s * 1000))
    if factor != 1 or _every_core.get():
        settings["max_parallel_workers_per_gather"] = "0"
    scope = _scope.get()
    if scope is not None and scope.restricted:
        calls.append("set_config('role', session_user::text, true)")
        settings |= {ROLE_SETTING: scope.role, NATIONALITIES_SETTING: ",".join(scope.nationalities)}
    if not settings:
        return None
    params: dict[str, str] = {}
    for i, (name, value) in enumerate(settings.items()):
        calls.append(f"set_config(:name_{i}, :value_{i}, true)")
        params |= {f"name_{i}": name, f"value_{i}": value}
    return "SELECT " + ", ".join(calls), params


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def read_frame(engine: Engine, stmt: Executable | str, params: dict | None = None) -> pd.DataFrame:
    """Run one read query and return its rows, turning connection failures into
    DatabaseUnavailable so that pages can say so instead of showing a traceback.
    On PostgreSQL a narrower scope than the server's (`reading_as`) is set first, in
    the same transaction, for the row-level security policies."""
    if isinstance(stmt, str):
        stmt = text(stmt)
    setup = _transaction_setup(engine)
    try:
        with engine.connect() as conn:
            if setup is not None:  # local to this read's transaction
                conn.execute(text(setup[0]), setup[1])
            result = conn.execute(stmt, params or {})
            # Plain tuples: pandas probing each Row's attributes is eight times slower.
            # Fetched in parts: row by row is a fifth slower, all at once doubles the
            # memory of a large result while it is turned into tuples.
            rows = [tuple(row) for part in result.partitions(4096) for row in part]
            return pd.DataFrame(rows, columns=list(result.keys()))
    except (OperationalError, DBAPIError) as exc:
        missing = missing_part(exc)
        if missing:  # named in full (table and column) when the database can say it
            try:
                with engine.connect() as conn:
                    parts = schema.missing_parts(conn)
            except (OperationalError, DBAPIError):
                parts = []
            raise schema.SchemaIncomplete(schema.expected_version(),
                                          parts or [missing]) from exc
        # Translators: {reason} is the database's own words (not translated).
        raise DatabaseUnavailable(N_("The database did not answer: {reason}"),
                                  reason=first_line(exc)) from exc


_SQLITE_MISSING = re.compile(r"no such (table|column): (\S+)")
_PG_MISSING = re.compile(r'(relation|column) "?([^"\s]+)"? does not exist')


def missing_part(exc: DBAPIError) -> str | None:
    """'table `t`' or 'column `c`' when a read failed because the database lacks a part
    of the data contract (dropped after the dashboard opened it), else None."""
    message = str(getattr(exc, "orig", None) or exc)
    if getattr(getattr(exc, "orig", None), "sqlstate", None) in ("42P01", "42703"):
        found = _PG_MISSING.search(message)
        if found:
            kind = "table" if found.group(1) == "relation" else "column"
            return f"{kind} `{found.group(2).split('.')[-1]}`"  # not the query's alias
    found = _SQLITE_MISSING.search(message)
    if found and isinstance(getattr(exc, "orig", None), sqlite3.OperationalError):
        return f"{found.group(1)} `{found.group(2).split('.')[-1]}`"
    return None


# Times are stored to the second as 'YYYY-MM-DD HH:MM:SS' in SQLite (the data
# contract's text form); binding them in the same form keeps string comparisons
# exact at equality, where SQLAlchemy's default '.ffffff' suffix would not.
TIMESTAMP = DateTime().with_variant(
    sqlite.DATETIME(storage_format="%(year)04d-%(month)02d-%(day)02d "
                                   "%(hour)02d:%(minute)02d:%(second)02d"),
    "sqlite",
)
_STAMP = TIMESTAMP.dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())


# The vocabulary values the dashboard's SQL names, as bound parameters: a query writes
# `p.status IN :v_person_statuses` or `x.status <> :v_open`, and `bind` binds the
# values of whichever of these a statement names. No value of the contract is ever
# pasted into SQL text.
VOCABULARY_PARAMS: dict[str, str | list[str]] = {
    "v_person_statuses": list(vocab.PERSON_STATUSES),
    "v_referral_services": list(vocab.REFERRAL_SERVICES),
    "v_referral_statuses": list(vocab.REFERRAL_STATUSES),
    "v_referral_ended": list(vocab.REFERRAL_ENDED),  # closed, rejected, revoked
    "v_stages": list(vocab.ALL_EVACUATION_STAGES),
    "v_path": list(vocab.EVACUATION_PATH),
    **{f"v_path_{i}": stage for i, stage in enumerate(vocab.EVACUATION_PATH)},
    "v_open": "open",              # referral status: sent, awaiting the receiver
    "v_accepted": "accepted",      # referral status
    "v_missing": "missing",        # person status
    "v_departed": "departed",      # evacuation stage
    "v_manifested": "manifested",  # evacuation stage
    "v_in_use": ["open", "full"],  # facility statuses of a facility that holds people
    "v_skipped": "skipped",        # drill inject status
    "v_live": "live",              # scenario kind
    # for the drill simulator's choices of whom and what an inject moves
    "v_sheltered": "sheltered",
    "v_unsheltered": ["located", "in_transit"],
    "v_in_country_reachable": ["located", "sheltered", "in_transit", "relocated"],
    "v_boardable": ["planned", "boarding"],  # movement statuses
}


def bind(statement: str, params: dict | None = None) -> tuple[TextClause, dict]:
    """A text query and its parameters, with the vocabulary values it names
    (`:v_...`, VOCABULARY_PARAMS) bound."""
    params = dict(params or {})
    for name in _NAMED.findall(statement):
        if name not in params and name in VOCABULARY_PARAMS:
            params[name] = VOCABULARY_PARAMS[name]
    return sql(statement, params), params


_NAMED = re.compile(r"(?<!:):(v_\w+)")


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


# --- the Database ---------------------------------------------------------------------------

FACTS_REFRESH_S = 300  # facts that read whole tables: the history, contract breaks
PING_EVERY_S = 1.0
RECOUNT_PATIENCE_S = 600  # the shared tallies of a million people take about a minute
RETRY_AFTER_S = 2.0  # while the database does not answer, how long reads fail at once


class Health:
    """Whether the database answers, as the reads found it: when it last did, and since
    when it has not. After a failure, reads fail at once for RETRY_AFTER_S (a page
    with many figures to ask for waits for one failed try, not for each), then the
    next read tries again. `clock` is monotonic seconds; `wall` says the times."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.clock, self.wall = clock, wall
        self._lock = threading.Lock()
        self.answered_at: datetime | None = None  # the last answer, UTC
        self.down_since: datetime | None = None   # the first failure since it, UTC
        self.reason = ""
        self._failure: tuple[str, dict] = ("", {})  # the last failure's message and fields
        self._answered_mono = float("-inf")
        self._failed_mono = float("-inf")

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def may_try(self) -> None:
        with self._lock:
            if self.down_since is None or self.clock() - self._failed_mono >= RETRY_AFTER_S:
                return
            message, fields = self._failure
        raise DatabaseUnavailable(message, **fields)

    def failed(self, exc: DatabaseUnavailable) -> None:
        with self._lock:
            self._failed_mono = self.clock()
            self.reason = str(exc)
            self._failure = (exc.message, dict(exc.fields))
            if self.down_since is None:
                self.down_since = self.wall()

    def answered(self) -> None:
        with self._lock:
            self._answered_mono = self.clock()
            self.answered_at = self.wall()
            self.down_since = None
            self.reason = ""

    def answered_within(self, seconds: float) -> bool:
        with self._lock:
            return self.down_since is None and self.clock() - self._answered_mono < seconds
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()


class ServerFacts(SharedFacts):
    """Shared facts found for the server's scope (every row), whichever reader's call
    first asks for them: they are counted once for every scope and cut to each
    reader's by the rules (figures.tallies), so row-level security must not count
    them as the first reader's. Counted again only when the database's watermark
    moved (store.facts), and kept between starts (store.kept)."""

    def __init__(self, mark: Mark, **kwargs: Any):
        super().__init__(**kwargs)
        self.mark = mark

    def get(self, key: Hashable, compute: Callable[[], Any], stale_ok: bool = True,
            mark: Mark | None = None, saved: kept.Kept | None = None) -> Any:
        return super().get(key, as_server(compute), stale_ok, mark or self.mark, saved)

    def peek(self, key: Hashable, compute: Callable[[], Any],
             mark: Mark | None = None) -> Any | None:
        return super().peek(key, as_server(compute), mark or self.mark)


class Database:
    """The shared database as the dashboard reads it.

    Equal (and hashed) by URL, so that it can be part of a cached result's key;
    `repr` never shows a password. Holds two sets of shared facts, stale while
    revalidated in the background (store.facts): `current`, the tallies of the
    latest data, refreshed every SITROOM_CACHE_TTL_S; and `facts`, those that
    read whole tables, refreshed every FACTS_REFRESH_S."""

    def __init__(self, url: str | URL, engine: Engine):
        self.url = url_key(url)
        self.engine = engine
        self.dialect = engine.dialect.name
        ttl = float(config.get("SITROOM_CACHE_TTL_S"))
        self.watermark = Watermarks(self._read_as_server, snapshot=(
            self._snapshot if self.dialect == "postgresql" else None))
        self.scope_marks = Recent()  # what a scope's own watermark reads (store.cache)
        # where what is counted from it is kept between starts (None: nowhere)
        self.kept = kept.for_database(describe(self.url))
        self.current = ServerFacts(self.watermark, refresh_after_s=ttl, saved=self.kept,
                                   transient=(DatabaseUnavailable,))
        self.facts = ServerFacts(self.watermark, refresh_after_s=FACTS_REFRESH_S,
                                 saved=self.kept, transient=(DatabaseUnavailable,))
        self.health = Health()
        path = sqlite_path(self.url)
        self._path = path
        self._file = file_identity(path) if path else None
        self._recounting: threading.Thread | None = None
        _OPEN.add(self)

    @classmethod
    def open(cls, url: str | URL) -> Database:
        """Open `url` read-only, or raise DatabaseUnavailable / SchemaMismatch saying why."""
        return cls(url, readonly_engine(url))

    def one_shot(self) -> Database:
        """This Database in a process that makes one thing and ends (`sitroom report`):
        no shared fact is found or refreshed in the background, so a figure that can do
        without one (the history tallies, the placements) is counted its other way
        instead of waiting behind, or competing with, a count nobody will read."""
        self.current.background = self.facts.background = False
        return self

    @property
    def alone(self) -> bool:
        """Whether this is a one-shot process's Database (`one_shot`): nothing else
        runs beside what it is asked."""
        return not self.current.background

    def gather(self, calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Each call's result, by name: two at a time in a one-shot process (`alone`)
        or a server's first count (`every_core`), whose second core would otherwise wait
        (the database does the work, without the interpreter's lock); one after another
        on a server otherwise, whose other core serves other sessions. Each call reads
        as this thread's scope (`reading_as`)."""
        if not (self.alone or _every_core.get()) or len(calls) < 2:
            return {name: call() for name, call in calls.items()}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="gather") as pool:
            # a context per call: one context cannot be entered by two threads at once
            started = {name: pool.submit(contextvars.copy_context().run, call)
                       for name, call in calls.items()}
            return {name: future.result() for name, future in started.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Database) and other.url == self.url

    def __hash__(self) -> int:
        return hash(("Database", self.url))

    def __repr__(self) -> str:
        return f"Database({describe(self.url)})"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def read(self, stmt: Executable | str, params: dict | None = None) -> pd.DataFrame:
        """Rows of one read query; list parameters expand into IN lists, times bind in
        the stored form and vocabulary values by name (`bind`). On PostgreSQL, for the
        scope declared by `reading_as` (read_frame)."""
        if isinstance(stmt, str):
            stmt, params = bind(stmt, params)
        self.health.may_try()
        try:
            frame = read_frame(self.engine, stmt, params)
        except DatabaseUnavailable as exc:
            self.health.failed(exc)
            raise
        self.health.answered()
        return frame

    def sums(self, statement: str, keys: list[str], sums: list[str],
             params: dict | None = None) -> pd.DataFrame:
        """Per group of the columns `keys` of the rows `statement` selects (no GROUP BY):
        `n`, how many rows, and the sum of each of the columns `sums` (None where every
        row's is NULL). PostgreSQL groups in its hash aggregate; SQLite, which can only
        sort to group, hands the rows to Arrow (store.sums), or groups them itself
        where that cannot."""
        if self._path is not None:
            table = self.arrow(arrow_sums.summing(statement, keys, sums), params)
            if table is not None:
                return arrow_sums.group_sums(table, keys, sums)
        grouped = ", ".join(f"x.{k}" for k in keys)
        summed = "".join(f", SUM(x.{s}) AS {s}" for s in sums)
        return self.read(f"SELECT {grouped}, COUNT(*) AS n{summed} FROM ({statement}) x "
                         f"GROUP BY {grouped}", params)

    def arrow(self, statement: str, params: dict | None = None) -> pa.Table | None:
        """The rows of one read on SQLite as Arrow columns (store.sums), bound as `read`
        binds them, or None where that cannot be done: the caller reads them its other
        way, which says what is wrong if anything is. Told to the engine's
        before_cursor_execute listeners as every other statement is."""
        if self._path is None:
            return None
        clause, bound = bind(statement, params)
        sent, values = arrow_sums.positional(clause, bound, _STAMP)
        self.engine.dispatch.before_cursor_execute(None, None, sent, values, None, False)
        self.health.may_try()
        limit_s = float(config.get("SITROOM_QUERY_TIMEOUT_S")) * _patience.get()
        try:
            table = arrow_sums.read_table(self._path, sent, values, limit_s, SQLITE_MMAP_BYTES)
        except arrow_sums.TooLong as exc:
            failure = DatabaseUnavailable(N_("The database did not answer: {reason}"),
                                          reason=str(exc))
            self.health.failed(failure)
            raise failure from exc
        except arrow_sums.Unfit:
            return None
        self.health.answered()
        return table

    def _read_as_server(self, statement: str) -> pd.DataFrame:
        """A read for the server's scope (every row): one watermark serves every scope."""
        with reading_as(SERVER):
            return self.read(statement)

    def _snapshot(self) -> str | None:
        """PostgreSQL's current snapshot (watermark.SNAPSHOT), for the watermark; None
        when the server cannot say (older than PostgreSQL 13, say): the watermark is
        then read whole, and says itself whether the database answers."""
        try:
            self.health.may_try()  # not again while it does not answer
            with reading_as(SERVER):
                return str(read_frame(self.engine, SNAPSHOT).iloc[0, 0])
        except (DatabaseUnavailable, schema.SchemaMismatch):
            return None

    def ping(self) -> None:
        """Ask the database whether it answers, at most once a second (every run of
        every page asks, so that a page says the moment its figures go stale)."""
        if self.health.answered_within(PING_EVERY_S):
            return
        self.read("SELECT 1")

    def replaced(self) -> bool:
        """Whether the SQLite file at the database's path is another one than last
        time asked (an atomic rename by a replication job). Connections to the old
        file are replaced as they are next used (readonly_engine); the caller counts
        again what was read from it (cache.notice_replacement)."""
        if self._path is None:
            return False
        now = file_identity(self._path)
        if now is None or now == self._file:
            return False  # gone: the next read says the database does not answer
        self._file = now
        self.watermark.forget()
        self.scope_marks.forget()
        return True

    def recount(self, then: Callable[[], None]) -> None:
        """Count every shared fact again now, in the background, serving the old ones
        meanwhile; call `then` when they are all counted (for the results derived from
        them). `settle` waits for it."""
        def work() -> None:
            for facts in (self.current, self.facts):
                facts.refresh_all()
            for facts in (self.current, self.facts):
                facts.settle(RECOUNT_PATIENCE_S)
            then()

        thread = threading.Thread(target=work, name="recount", daemon=True)
        self._recounting = thread
        thread.start()

    def settle(self, timeout_s: float = RECOUNT_PATIENCE_S) -> None:
        """Wait for a recount and the shared facts' refreshes under way to end."""
        if self._recounting is not None:
            self._recounting.join(timeout_s)
        self.current.settle(timeout_s)
        self.facts.settle(timeout_s)

    def scalar(self, statement: str, params: dict | None = None) -> int:
        """One whole number (a COUNT or a SUM): 0 where the database says NULL."""
        value = self.read(statement, params).iloc[0, 0]
        return 0 if value is None or pd.isna(value) else int(value)

    def forget(self) -> None:
        """Drop the shared facts (tests, and benchmarks measuring a cold start)."""
        self.current.clear()
        self.facts.clear()

    def dispose(self) -> None:
        self.engine.dispose()

    # --- the same question in each dialect's words ---------------------------------------

    def day_of(self, column: str) -> str:
        """The UTC calendar day of a timestamp column, as 'YYYY-MM-DD' text."""
        if self.is_postgresql:
            return f"to_char({column}, 'YYYY-MM-DD')"
        return f"substr({column}, 1, 10)"  # SQLite stores 'YYYY-MM-DD HH:MM:SS'

    def hour_of(self, column: str) -> str:
        """The hour a timestamp falls in, as 'YYYY-MM-DD HH' text."""
        if self.is_postgresql:
            return f"to_char({column}, 'YYYY-MM-DD HH24')"
        return f"substr({column}, 1, 13)"

    def hours_floor(self, start: str, end: str) -> str:
        """The whole hours from `start` to `end`."""
        if self.is_postgresql:
            return f"CAST(FLOOR(EXTRACT(EPOCH FROM ({end} - {start})) / 3600) AS INTEGER)"
        return f"CAST((julianday({end}) - julianday({start})) * 24 AS INTEGER)"

    def seconds_between(self, start: str, end: str) -> str:
        """Seconds from `start` to `end`, as a number."""
        if self.is_postgresql:
            return f"EXTRACT(EPOCH FROM ({end} - {start}))"
        return f"((julianday({end}) - julianday({start})) * 86400.0)"

    def later(self, a: str, b: str) -> str:
        """The later of two values."""
        return f"GREATEST({a}, {b})" if self.is_postgresql else f"MAX({a}, {b})"

    def step_of(self, column: str, step_s: int, strict: bool = False) -> str:
        """ceil(column / step) in seconds since 1970 (the step a time falls in, a time
        on a boundary in the step it ends); with `strict`, floor(column / step) + 1, so
        that 'column < moment' iff that step <= the moment's."""
        if self.is_postgresql:
            seconds = f"EXTRACT(EPOCH FROM {column})"
            if strict:
                return f"CAST(FLOOR({seconds} / {step_s}) AS BIGINT) + 1"
            return f"CAST(CEIL({seconds} / {step_s}) AS BIGINT)"
        seconds = f"CAST(strftime('%s', {column}) AS INTEGER)"
        if strict:
            return f"{seconds} / {step_s} + 1"
        return f"({seconds} + {step_s - 1}) / {step_s}"

    def floor_int(self, value: str) -> str:
        """floor(value) as an integer, for a value never negative: PostgreSQL's CAST
        rounds where SQLite's truncates, so PostgreSQL floors first."""
        if self.is_postgresql:
            return f"CAST(FLOOR({value}) AS INTEGER)"
        return f"CAST({value} AS INTEGER)"


def open_databases() -> list[Database]:
    """Every Database open in this process (tests, and benchmarks)."""
    return list(_OPEN)


def forget_all() -> None:
    """Drop every open Database's shared facts (tests)."""
    for database in list(_OPEN):
        database.forget()


def dispose_all() -> None:
    """Close the connections of every open Database (tests, between which the process's
    Databases are opened afresh)."""
    for database in list(_OPEN):
        database.dispose()
