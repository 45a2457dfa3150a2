"""Fast bulk loading of column arrays into SQLite or PostgreSQL.

The generator builds each table as a dict of numpy column arrays (`Columns`)
and hands them here. Going through the ORM would cost minutes per million
rows; instead SQLite gets `executemany` with journalling and fsync switched
off for the load, and PostgreSQL gets `COPY ... FROM STDIN` in CSV form. The
secondary indexes of the loaded tables are dropped first and rebuilt from
`Base.metadata` afterwards: one sort per index is far cheaper than updating a
B-tree on every insert.

Value conventions in a column array: datetime64 for times (NaT is NULL),
float NaN is NULL, object arrays may hold None, bool for booleans.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.schema import CreateIndex, DropIndex

from dashboard.contract.models import Base

if TYPE_CHECKING:
    import sqlite3

    import psycopg

Columns = dict[str, np.ndarray]
Progress = Callable[[str], None]

CHUNK_ROWS = 200_000


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def load(engine: Engine, tables: Sequence[tuple[str, Columns]],
         progress: Progress | None = None) -> dict[str, int]:
    """Append every (table name, columns) to the database; return rows per table.

    Not atomic on SQLite: the journal is off during the load, so a load that
    dies half-way leaves a broken file (the generator only writes new files).
    """
    say = progress or (lambda _msg: None)
    names = list(dict.fromkeys(name for name, _ in tables))
    with engine.begin() as conn:
        drop_indexes(conn, names)
    if engine.dialect.name == "sqlite":
        counts = _load_sqlite(engine, tables, say)
    elif engine.dialect.name == "postgresql":
        counts = _load_postgres(engine, tables, say)
    else:
        raise ValueError(f"bulk loading supports SQLite and PostgreSQL, not {engine.dialect.name}")
    say("rebuilding indexes")
    with engine.begin() as conn:
        create_indexes(conn, names)
        analyze(conn)
    return counts


def drop_indexes(conn: Connection, table_names: Sequence[str]) -> None:
    """Drop the non-primary-key indexes that Base.metadata declares for these tables."""
    for name in table_names:
        for index in sorted(Base.metadata.tables[name].indexes, key=lambda i: str(i.name)):
            conn.execute(DropIndex(index, if_exists=True))


def create_indexes(conn: Connection, table_names: Sequence[str]) -> None:
    for name in table_names:
        for index in sorted(Base.metadata.tables[name].indexes, key=lambda i: str(i.name)):
            conn.execute(CreateIndex(index, if_not_exists=True))


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics after a load (the importer's too, after a long
    list); on SQLite a sampled ANALYZE takes a fraction of a second."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
    conn.execute(text("ANALYZE"))


def _chunks(columns: Columns) -> Iterator[Columns]:
    n = row_count(columns)
    for lo in range(0, n, CHUNK_ROWS):
        yield {k: v[lo:lo + CHUNK_ROWS] for k, v in columns.items()}


# --- SQLite -----------------------------------------------------------------

def sqlite_values(arr: np.ndarray) -> list:
    """One column as Python values that sqlite3 binds directly (None for NULL)."""
    kind = arr.dtype.kind
    if kind == "M":
        return datetime_strings(arr).tolist()
    if kind == "b":
        return arr.astype(np.int8).tolist()
    if kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            out = arr.astype(object)
            out[nan] = None
            return out.tolist()
    return arr.tolist()


def datetime_strings(arr: np.ndarray) -> np.ndarray:
    """datetime64 → 'YYYY-MM-DD HH:MM:SS' (the text form SQLAlchemy reads on SQLite);
    NaT → None. Vectorised: swap the ISO 'T' for a space in the UCS-4 buffer."""
    s = np.datetime_as_string(arr.astype("datetime64[s]"), unit="s")
    chars = s.view(np.uint32).reshape(len(s), -1)
    chars[:, 10] = ord(" ")
    nat = np.isnat(arr)
    if nat.any():
        out = s.astype(object)
        out[nat] = None
        return out
    return s


def _load_sqlite(engine: Engine, tables: Sequence[tuple[str, Columns]],
                 say: Progress) -> dict[str, int]:
    counts: dict[str, int] = {}
    raw = engine.raw_connection()
    try:
        # SQLAlchemy types this as its DBAPICursor protocol, whose executemany wants a
        # Sequence; on SQLite it is sqlite3's cursor, which takes any iterable of rows.
        cur = cast("sqlite3.Cursor", raw.cursor())
        # Safe for a file being built from scratch: a crash leaves a file we discard.
        cur.execute("PRAGMA journal_mode = OFF")
        cur.execute("PRAGMA synchronous = OFF")
        cur.execute("PRAGMA cache_size = -262144")  # 256 MB page cache
        for name, columns in tables:
            cols = list(columns)
            sql = (f"INSERT INTO {name} ({', '.join(cols)}) "
                   f"VALUES ({', '.join('?' * len(cols))})")
            for chunk in _chunks(columns):
                cur.executemany(sql, zip(*(sqlite_values(chunk[c]) for c in cols), strict=True))
            raw.commit()
            counts[name] = counts.get(name, 0) + row_count(columns)
            say(f"loaded {name}: {row_count(columns):,} rows")
        cur.execute("PRAGMA journal_mode = DELETE")
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()
    finally:
        raw.close()
    return counts


# --- PostgreSQL -------------------------------------------------------------

def csv_block(columns: Columns) -> str:
    """Rows as CSV for COPY: empty unquoted field is NULL, booleans as t/f."""
    frame = pd.DataFrame({
        k: (np.where(v, "t", "f") if v.dtype.kind == "b" else v) for k, v in columns.items()
    })
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False, date_format="%Y-%m-%d %H:%M:%S")
    return buf.getvalue()


def _load_postgres(engine: Engine, tables: Sequence[tuple[str, Columns]],
                   say: Progress) -> dict[str, int]:
    counts: dict[str, int] = {}
    raw = engine.raw_connection()
    try:
        # psycopg 3's cursor (cursor.copy is its COPY API): SQLAlchemy types it as its
        # DBAPICursor protocol, which has neither the context manager nor copy().
        with cast("psycopg.Cursor[Any]", raw.cursor()) as cur:
            cur.execute("SET synchronous_commit = off")
            for name, columns in tables:
                cols = ", ".join(columns)
                with cur.copy(f"COPY {name} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                    for chunk in _chunks(columns):
                        copy.write(csv_block(chunk))
                counts[name] = counts.get(name, 0) + row_count(columns)
                say(f"loaded {name}: {row_count(columns):,} rows")
            _reset_sequences(cur, [name for name, _ in tables])
        raw.commit()
    finally:
        raw.close()
    return counts


def _reset_sequences(cur, table_names: Sequence[str]) -> None:
    """COPY with explicit ids leaves SERIAL sequences behind; move them past max(id)."""
    for name in dict.fromkeys(table_names):
        table = Base.metadata.tables[name]
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].type.python_type is not int:
            continue
        col = pk[0].name
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", (name, col))
        seq = cur.fetchone()[0]
        if seq:
            cur.execute(f"SELECT setval(%s, COALESCE((SELECT max({col}) FROM {name}), 0) + 1, "
                        "false)", (seq,))
