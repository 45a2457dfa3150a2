"""Schema versions: create the data contract with Alembic and check what a database holds."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from dashboard.contract.models import Base
from dashboard.language import N_, ReaderError


class SchemaMismatch(ReaderError):
    """The database holds a schema version this dashboard does not read (the message is
    the reader's: language.ReaderError)."""

    def __init__(self, expected: str, found: str | None):
        self.expected, self.found = expected, found
        if found:
            super().__init__(N_(
                "This database holds version {found}; this dashboard reads data contract "
                "version {expected}. Upgrade it with `sitroom migrate --db-url URL` or point "
                "the dashboard at a database of version {expected}."),
                found=found, expected=expected)
        else:
            super().__init__(N_(
                "This database holds no Situation Room schema version; this dashboard reads "
                "data contract version {expected}. Upgrade it with `sitroom migrate --db-url "
                "URL` or point the dashboard at a database of version {expected}."),
                expected=expected)


class SchemaIncomplete(SchemaMismatch):
    """The database says it holds this dashboard's version but lacks part of it: a
    table or a column of the data contract is missing (dropped by hand, or a
    restore that went wrong)."""

    def __init__(self, version: str, missing: list[str]):
        self.expected = self.found = version
        self.missing = missing
        ReaderError.__init__(
            self,
            # Translators: {missing} names tables and columns ("table `persons`; column
            # `persons.status`"), as the database names them.
            N_("This database says it holds data contract version {version} but lacks "
               "{missing}. Restore the missing part from the system that writes the database, "
               "or upgrade a fresh copy with `sitroom migrate --db-url URL`."),
            version=version, missing="; ".join(missing))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "dashboard.contract:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def expected_version() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine) -> None:
    """Create or upgrade the data contract in a writable database."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def found_version(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check(conn: Connection) -> str:
    """Return the schema version, or raise SchemaMismatch naming expected and found, or
    SchemaIncomplete naming every table and column of the contract the database lacks."""
    expected, found = expected_version(), found_version(conn)
    if found != expected:
        raise SchemaMismatch(expected, found)
    missing = missing_parts(conn)
    if missing:
        raise SchemaIncomplete(found, missing)
    return found


def missing_parts(conn: Connection) -> list[str]:
    """The contract's tables and columns the database lacks, as 'table `t`' and
    'column `t.c`'."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    missing: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in present:
            missing.append(f"table `{table.name}`")
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        missing += [f"column `{table.name}.{c.name}`" for c in table.columns
                    if c.name not in columns]
    return missing
