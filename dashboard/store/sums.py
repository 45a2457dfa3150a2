"""Sums per group over whole tables on SQLite, without SQLite's GROUP BY.

SQLite has no hash aggregate: it groups by sorting every row, and at a million persons
the sort is most of a tally (1.4 s of 2.3 s for the persons by nationality, second
nationality, visibility and status). Here SQLite only reads the rows, handed over as
Arrow columns by adbc-driver-sqlite (the rows never become Python objects), and
Arrow's hash aggregate sums them: about 1.0 s for the same tally, the table read in
order. Both let go of the interpreter's lock, so two such counts run on two cores.

PostgreSQL sums in its own hash aggregate (store.db.Database.sums). Anything this
path cannot do, SQLite's GROUP BY does instead, and says what went wrong if it is the
database (`Unfit`)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import TextClause
from sqlalchemy.dialects import sqlite

BATCH_ROWS = 65536  # rows per Arrow batch: with 1,024 (the driver's own) a million took 5×
_DIALECT = sqlite.dialect()
_NAME = re.compile(r"(?<!:):(\w+)")


class Unfit(Exception):
    """This path cannot give the sums (the driver is missing, a column mixes types, a
    table or column is missing): SQLite's GROUP BY gives them, or says why not."""


class TooLong(Exception):
    """The read took longer than its time limit."""


def positional(clause: TextClause, params: dict, stamp) -> tuple[str, list]:
    """The statement with ? for each value, and the values in order: lists expanded
    into IN lists, times in the stored form (`stamp`), booleans as SQLite's 1 and 0."""
    named = set(_NAME.findall(clause.text))  # a statement need not use every parameter
    compiled = clause.bindparams(**{k: v for k, v in params.items() if k in named}).compile(
        dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()

    def stored(value):
        if isinstance(value, datetime):
            return stamp(value)
        if isinstance(value, bool):
            return int(value)
        return value

    return compiled.string, [stored(values[name]) for name in compiled.positiontup or ()]


def read_table(path: Path, statement: str, values: list, limit_s: float,
               mmap_bytes: int) -> pa.Table:
    """The rows `statement` selects from the SQLite file at `path`, read-only and through
    a memory map of `mmap_bytes`, as Arrow columns. Raises Unfit, or TooLong after
    `limit_s`, checked between batches."""
    try:
        from adbc_driver_sqlite import dbapi
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise Unfit(str(exc)) from exc
    started = time.monotonic()
    try:
        with dbapi.connect(f"file:{quote(str(path.absolute()))}?mode=ro") as conn:
            with conn.cursor() as cur:
                cur.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
                cur.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
                cur.execute(statement, values)
                reader = cur.fetch_record_batch()
                batches = []
                for batch in reader:
                    if time.monotonic() - started > limit_s:
                        raise TooLong(f"took longer than {limit_s:g} s")
                    batches.append(batch)
                return pa.Table.from_batches(batches, schema=reader.schema)
    except (dbapi.Error, OSError) as exc:  # a missing table, mixed types: see module
        raise Unfit(str(exc)) from exc


def summing(statement: str, keys: list[str], sums: list[str]) -> str:
    """What `group_sums` reads for `statement`: its key columns, and its columns to sum
    as integers whatever a bad row holds (Arrow wants one type per column)."""
    select = ", ".join([*(f"x.{k}" for k in keys),
                        *(f"CAST(x.{s} AS INTEGER) AS {s}" for s in sums)])
    return f"SELECT {select} FROM ({statement}) x"


def group_sums(table: pa.Table, keys: list[str], sums: list[str]) -> pd.DataFrame:
    """Per group of `keys`: `n`, the rows, and the sum of each column of `sums` (None
    where every row's is NULL, as SQL's SUM), in the order of SQLite's GROUP BY."""
    summed = table.group_by(keys, use_threads=False).aggregate(
        [([], "count_all"), *((s, "sum") for s in sums)])
    frame = summed.to_pandas().rename(
        columns={"count_all": "n", **{f"{s}_sum": s for s in sums}})[[*keys, "n", *sums]]
    return frame.sort_values(keys, na_position="first", ignore_index=True)


def group_sums_joined(table: pa.Table, on: str, other: pa.Table, other_key: str,
                      keys: list[str], sums: list[str]) -> pd.DataFrame | None:
    """`group_sums` of the rows of `table` joined to the row of `other` whose `other_key`
    (unique, as a primary key) is their `on`, per group of `other`'s other columns and
    then `keys`; None if a row has no such row in `other`, which the caller's SQL join
    then looks for where `other` did not (or a key of another type, a word for an id).
    Each row's match is found in a hash of `other`'s keys, where SQLite would look
    every row up in `other`'s table: at a million persons, 0.1 s against 0.45 s for
    400,000 rows."""
    if table[on].type != other[other_key].type:
        return None
    at = pc.index_in(table[on], value_set=other[other_key])
    if at.null_count:
        return None
    matched = other.drop_columns([other_key]).take(at)
    rows = table.drop_columns([on])
    joined = pa.Table.from_arrays([*matched.columns, *rows.columns],
                                  names=[*matched.column_names, *rows.column_names])
    return group_sums(joined, [*matched.column_names, *keys], sums)
