"""Sums per group (Database.sums): on SQLite through Arrow (store/sums.py), on
PostgreSQL in its own GROUP BY. The test's expected values are the database's own
GROUP BY over the same rows; on SQLite, bad rows (a word in a number column, bytes in
a text column) and an all-NULL group give the same sums, and the Arrow read is held
to the same time limit as every other read."""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import schema
from dashboard.store import db
from tests.conftest import opened

# a few keys with NULLs among them, a number column and a flag to sum
ROWS = ("SELECT p.nationality AS nat, p.second_nationality AS nat2, p.sex AS sex, "
        "p.birth_year AS born, CASE WHEN p.consent_consular = :yes THEN 1 ELSE 0 END AS consents "
        "FROM persons p WHERE p.scenario_id = :scenario")
KEYS = ["nat", "nat2", "sex"]
SUMS = ["born", "consents"]
OWN = ("SELECT nationality, second_nationality, sex, COUNT(*), SUM(birth_year), "
       "SUM(CASE WHEN consent_consular = 1 THEN 1 ELSE 0 END) FROM persons "
       "WHERE scenario_id = 1 GROUP BY 1, 2, 3")


def as_set(rows) -> set[tuple]:
    """Rows as comparable tuples: numbers as floats (SQLite's SUM of a word is a float),
    None for NULL and NaN alike."""
    def plain(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return float(value) if isinstance(value, int | float) else value
    return {tuple(plain(v) for v in row) for row in rows}


def summed(url: str) -> pd.DataFrame:
    return opened(url).sums(ROWS, KEYS, SUMS, {"scenario": 1, "yes": True})


@pytest.fixture
def copy(sqlite_url, tmp_path) -> tuple[str, Path]:
    """A writable copy of the SQLite test database, for bad rows."""
    path = tmp_path / "copy.sqlite"
    shutil.copy(db.sqlite_path(sqlite_url), path)
    return f"sqlite:///{path}", path


def test_the_sums_are_the_databases_own_group_by(db_url, raw):
    with raw(db_url).connect() as conn:
        own = conn.execute(text(OWN.replace("= 1 THEN", "= :yes THEN")), {"yes": True}).all()
    frame = summed(db_url)
    assert list(frame.columns) == [*KEYS, "n", *SUMS]
    assert as_set(frame.itertuples(index=False)) == as_set(own)
    assert len(frame) > 10 and frame["nat2"].isna().any()  # NULL keys are exercised


def test_bad_rows_and_an_all_null_group_give_the_databases_own_sums(copy):
    url, path = copy
    with sqlite3.connect(path) as conn:
        nat = conn.execute("SELECT nationality FROM persons WHERE scenario_id = 1 "
                           "GROUP BY 1 ORDER BY COUNT(*) LIMIT 1").fetchone()[0]
        conn.execute("UPDATE persons SET birth_year = NULL WHERE nationality = ?", (nat,))
        conn.execute("UPDATE persons SET birth_year = 'unknown' WHERE id % 97 = 0 "
                     "AND nationality <> ?", (nat,))
        own = conn.execute(OWN).fetchall()
    frame = summed(url)
    assert as_set(frame.itertuples(index=False)) == as_set(own)
    assert frame.loc[frame["nat"] == nat, "born"].isna().all()  # SUM of nothing but NULL


def test_bytes_in_a_key_column_are_grouped_by_sqlite_itself(copy):
    url, path = copy
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE persons SET sex = X'00ff' WHERE id % 89 = 0")
        own = conn.execute(OWN).fetchall()
    assert as_set(summed(url).itertuples(index=False)) == as_set(own)


def test_a_missing_column_is_named(sqlite_url):
    with pytest.raises(schema.SchemaIncomplete, match="nope"):
        opened(sqlite_url).sums("SELECT p.nope AS nat, 1 AS one FROM persons p", ["nat"],
                                ["one"])


def test_the_arrow_read_is_held_to_the_time_limit(sqlite_url, monkeypatch):
    database = opened(sqlite_url)
    monkeypatch.setenv("SITROOM_QUERY_TIMEOUT_S", "0")
    with pytest.raises(db.DatabaseUnavailable, match="did not answer"):
        database.sums(ROWS, KEYS, SUMS, {"scenario": 1, "yes": True})
    assert database.health.down
