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
from sqlalchemy import event, text

from dashboard.contract import schema
from dashboard.figures import tallies
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


# --- sums per person group (tallies.summed_by_person) ------------------------------------------

REFERRAL_ROWS = ("SELECT r.person_id, r.service, CASE WHEN r.status = 'open' THEN 1 ELSE 0 END "
                 "AS open FROM referrals r WHERE r.scenario_id = :scenario")
OWN_BY_PERSON = ("SELECT COALESCE(p.nationality, ''), COALESCE(p.second_nationality, ''), "
                 "CASE WHEN p.consent_consular = :yes AND p.protection_confidential = :no "
                 "THEN 1 ELSE 0 END, r.service, COUNT(*), "
                 "SUM(CASE WHEN r.status = 'open' THEN 1 ELSE 0 END) FROM referrals r "
                 "JOIN persons p ON p.id = r.person_id WHERE r.scenario_id = 1 GROUP BY 1, 2, 3, 4")


def by_person(url: str, sent: list[str]) -> pd.DataFrame:
    """The referrals per person group and service, and (into `sent`) the statements."""
    database = opened(url)

    @event.listens_for(database.engine, "before_cursor_execute")
    def told(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    people = tallies.read_once(database, (
        f"SELECT p.id, {tallies.group_columns()} FROM persons p WHERE p.scenario_id = :scenario"),
        ["id", *tallies.GROUP_COLUMNS], [], {"scenario": 1})
    return tallies.summed_by_person(database, people, REFERRAL_ROWS, ["service"], ["open"],
                                    {"scenario": 1})


def own_by_person(conn) -> set[tuple]:
    if isinstance(conn, sqlite3.Connection):
        return as_set(conn.execute(OWN_BY_PERSON, {"yes": 1, "no": 0}).fetchall())
    return as_set(conn.execute(text(OWN_BY_PERSON), {"yes": True, "no": False}).all())


def test_sums_by_person_are_the_databases_own_join(db_url, raw):
    with raw(db_url).connect() as conn:
        own = own_by_person(conn)
    sent: list[str] = []
    frame = by_person(db_url, sent)
    assert list(frame.columns) == [*tallies.GROUP_COLUMNS, "service", "n", "open"]
    assert as_set(frame.itertuples(index=False)) == own
    assert len(frame) > 10 and (frame["nat2"] == "").any() and frame["open"].sum() > 0
    # SQLite finds each referral's person in the scenario's persons read once (Arrow),
    # PostgreSQL in its own join
    joined = [s for s in sent if "JOIN persons" in s]
    assert (len(joined) == 1) == db_url.startswith("postgresql")


@pytest.mark.parametrize("dangling", ["another scenario", "no person", "a word"])
def test_a_referral_whose_person_is_not_in_the_scenario_is_joined_as_sql_joins(copy, dangling):
    """A person of another scenario, no person at all, a word for an id: the same sums as
    SQLite's own JOIN, which they are left to (the tallies leave out a referral with no
    person before, by its id: quality.excluded_referral_ids)."""
    url, path = copy
    with sqlite3.connect(path) as conn:
        person = conn.execute("SELECT person_id FROM referrals WHERE scenario_id = 1 "
                              "ORDER BY id LIMIT 1").fetchone()[0]
        if dangling == "another scenario":
            conn.execute("UPDATE persons SET scenario_id = 2 WHERE id = ?", (person,))
        else:
            conn.execute("UPDATE referrals SET person_id = ? WHERE person_id = ?",
                         (10**9 if dangling == "no person" else "someone", person))
        own = own_by_person(conn)
        kept = conn.execute("SELECT COUNT(*) FROM referrals r JOIN persons p "
                            "ON p.id = r.person_id WHERE r.scenario_id = 1").fetchone()[0]
    sent: list[str] = []
    frame = by_person(url, sent)
    assert as_set(frame.itertuples(index=False)) == own
    assert frame["n"].sum() == kept
    assert any("JOIN persons" in s for s in sent)
