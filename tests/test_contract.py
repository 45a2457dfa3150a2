"""The data contract's schema: no immigration status, and no drift between the models and
the Alembic migration. SQLite only here; PostgreSQL fixtures live elsewhere."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from dashboard.contract import schema
from dashboard.contract.models import Base

# docs/design.md §2.1: no column for immigration or residence status, under any name.
FORBIDDEN = re.compile(r"immigra|residen|visa|legal_?status|irregular|illegal", re.I)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A fresh SQLite file created by the Alembic migrations, as writers would get it."""
    path = tmp_path_factory.mktemp("contract") / "contract.db"
    engine = create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    yield engine
    engine.dispose()


def _forbidden_columns(columns_by_table: dict[str, list[str]]) -> list[str]:
    return [f"{table}.{column}" for table, columns in columns_by_table.items()
            for column in columns if FORBIDDEN.search(column)]


def _model_columns() -> dict[str, list[str]]:
    return {name: [c.name for c in table.columns] for name, table in Base.metadata.tables.items()}


def _database_columns(engine) -> dict[str, list[str]]:
    insp = inspect(engine)
    return {name: [c["name"] for c in insp.get_columns(name)]
            for name in insp.get_table_names() if name != "alembic_version"}


def test_the_forbidden_pattern_catches_status_columns():
    for name in ["immigration_status", "residence_permit", "visa_expiry", "legal_status",
                 "legalstatus", "is_irregular", "illegal_entry", "Residency"]:
        assert FORBIDDEN.search(name), name
    for name in ["status", "documents", "consent_consular", "protection_confidential"]:
        assert not FORBIDDEN.search(name), name


def test_models_have_no_immigration_status_column():
    assert _forbidden_columns(_model_columns()) == []


def test_migrated_database_has_no_immigration_status_column(migrated):
    assert _forbidden_columns(_database_columns(migrated)) == []


def test_migration_creates_exactly_the_models_tables_and_columns(migrated):
    insp = inspect(migrated)
    assert set(insp.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    for name, table in Base.metadata.tables.items():
        found = {c["name"]: c for c in insp.get_columns(name)}
        assert list(found) == [c.name for c in table.columns], name
        for column in table.columns:
            assert found[column.name]["nullable"] == column.nullable, f"{name}.{column.name}"
        pk = insp.get_pk_constraint(name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], name


def test_migration_records_the_expected_version(migrated):
    with migrated.connect() as conn:
        assert schema.found_version(conn) == schema.expected_version() == "0002"
        assert schema.check(conn) == "0002"


def test_no_drift_between_models_and_migration(migrated):
    """What `alembic check` does: autogenerate against the migrated database finds nothing."""
    with migrated.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_database_of_another_version_is_refused(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with engine.connect() as conn:
        assert schema.found_version(conn) is None
        with pytest.raises(schema.SchemaMismatch) as info:
            schema.check(conn)
    assert schema.expected_version() in str(info.value)
    engine.dispose()
