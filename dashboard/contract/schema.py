"""Schema versions: create the data contract with Alembic and check what a database holds."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text


class SchemaMismatch(Exception):
    """The database holds a schema version this dashboard does not read."""

    def __init__(self, expected: str, found: str | None):
        self.expected, self.found = expected, found
        found_text = f"version {found}" if found else "no Situation Room schema version"
        super().__init__(
            f"This database holds {found_text}; this dashboard reads data contract version "
            f"{expected}. Upgrade it with `sitroom migrate --db-url URL` or point the "
            f"dashboard at a database of version {expected}."
        )


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
    """Return the schema version, or raise SchemaMismatch naming expected and found."""
    expected, found = expected_version(), found_version(conn)
    if found != expected:
        raise SchemaMismatch(expected, found)
    return found
