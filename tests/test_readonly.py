"""The dashboard's engine cannot write to the shared database, on either backend."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from dashboard import db

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
