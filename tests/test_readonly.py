"""The dashboard's engine cannot write to the shared database, on either backend."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from dashboard.store import db

WRITES = [
    "INSERT INTO countries (iso3, iso2, name) VALUES ('QQQ', 'QQ', 'Nowhere')",
    "UPDATE persons SET full_name = 'changed' WHERE id = (SELECT MIN(id) FROM persons)",
    "DELETE FROM referrals WHERE id = (SELECT MIN(id) FROM referrals)",
    "CREATE TABLE immigration_status (id integer)",
]


@pytest.mark.parametrize("statement", WRITES)
def test_writes_through_the_dashboard_engine_fail(db_url, raw, statement):
    table = statement.split()[2] if statement.startswith(("INSERT", "DELETE")) else None
    before = None
    with raw(db_url).connect() as conn:
        if table:
            before = conn.execute(text(f"SELECT COUNT(*) FROM {table.split('(')[0]}")).scalar()
        names_before = conn.execute(text(
            "SELECT COUNT(*) FROM persons WHERE full_name = 'changed'")).scalar()

    engine = db.readonly_engine(db_url)
    with pytest.raises((OperationalError, DBAPIError)) as caught:
        with engine.begin() as conn:
            conn.execute(text(statement))
    engine.dispose()
    message = str(caught.value).lower()
    assert "readonly" in message or "read-only" in message or "read only" in message

    with raw(db_url).connect() as conn:
        if table:
            assert conn.execute(text(
                f"SELECT COUNT(*) FROM {table.split('(')[0]}")).scalar() == before
        assert conn.execute(text(
            "SELECT COUNT(*) FROM persons WHERE full_name = 'changed'")).scalar() == names_before


def test_reads_work(db_url, raw):
    with raw(db_url).connect() as conn:
        expected = conn.execute(text("SELECT COUNT(*) FROM persons")).scalar()
    engine = db.readonly_engine(db_url)
    assert db.read_frame(engine, "SELECT COUNT(*) AS n FROM persons")["n"][0] == expected
    engine.dispose()


SLOW = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
        "SELECT COUNT(*) AS c FROM n")


def test_a_query_over_the_time_limit_is_stopped_unless_run_in_the_background(
        sqlite_url, monkeypatch):
    """Readers' queries stop at SITROOM_QUERY_TIMEOUT_S with a message; the shared
    facts found in the background (db.patient) may take PATIENCE times longer."""
    monkeypatch.setenv("SITROOM_QUERY_TIMEOUT_S", "0.05")
    engine = db.readonly_engine(sqlite_url)
    try:
        started = time.monotonic()
        with pytest.raises(db.DatabaseUnavailable, match="did not answer"):
            db.read_frame(engine, SLOW)
        assert time.monotonic() - started < 5
        monkeypatch.setattr(db, "PATIENCE", 1000)  # 50 s: ample for this query
        with db.patient():
            assert int(db.read_frame(engine, SLOW).iloc[0, 0]) == 3_000_000
        # as a decorator too (how the shared facts use it), and only inside the function
        count = db.patient()(lambda: int(db.read_frame(engine, SLOW).iloc[0, 0]))
        assert count() == 3_000_000
        with pytest.raises(db.DatabaseUnavailable, match="did not answer"):
            db.read_frame(engine, SLOW)
    finally:
        engine.dispose()
