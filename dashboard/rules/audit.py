"""Who looked at what (docs/design.md §2.8): every page view and export, in the
dashboard's own writable store, never in the shared read-only database.

The store is one of the dashboard's own files (rules.ownfiles): SITROOM_AUDIT_DB,
by default beside the users file. Writes are short transactions; WAL mode lets the
admin's Audit page read while sessions write.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from dashboard import config
from dashboard.rules.access import Viewer
from dashboard.rules.ownfiles import OwnFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at_utc TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    nationalities TEXT NOT NULL,
    scenario_id INTEGER,
    page TEXT NOT NULL,
    action TEXT NOT NULL,
    filters TEXT NOT NULL,
    rows_shown INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_audit_at ON audit_log (at_utc);
-- covers the filter choices: one pass over a small index, not the whole log
CREATE INDEX IF NOT EXISTS ix_audit_who ON audit_log (user, role, page, action);
"""


class AuditUnavailable(Exception):
    """The audit log cannot be written: pages stop rather than show unrecorded data."""


@dataclass
class Entry:
    """One page view or export being assembled while the page runs."""

    page: str
    action: str = "view"
    filters: dict = field(default_factory=dict)
    rows_shown: int = 0


def store_path() -> Path:
    return config.audit_db_path()


def _log(path: Path | None) -> OwnFile:
    return OwnFile(path or store_path(), _SCHEMA)


def _unavailable(target: Path, exc: Exception) -> AuditUnavailable:
    return AuditUnavailable(
        f"The audit log at {target} cannot be written ({exc}). Views are not allowed "
        "without a record of who looked: tell the data protection lead.")


def record(viewer: Viewer, entry: Entry, path: Path | None = None) -> None:
    """Append one line to the audit log."""
    row = (
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        viewer.user, viewer.role, ",".join(viewer.nationalities), viewer.scenario_id,
        entry.page, entry.action, json.dumps(entry.filters, sort_keys=True, default=str),
        int(entry.rows_shown),
    )
    log = _log(path)
    try:
        with log.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (at_utc, user, role, nationalities, scenario_id, page, "
                "action, filters, rows_shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    except (sqlite3.Error, OSError) as exc:
        raise _unavailable(log.path, exc) from exc


def ensure_writable(path: Path | None = None) -> None:
    """Fail before a page shows anything if its view could not be recorded."""
    log = _log(path)
    try:
        with log.transaction():
            pass
    except (sqlite3.Error, OSError) as exc:
        raise _unavailable(log.path, exc) from exc


def search(user: str | None = None, role: str | None = None, page: str | None = None,
           action: str | None = None, since: date | None = None, until: date | None = None,
           limit: int = 5000, path: Path | None = None) -> pd.DataFrame:
    """Audit lines matching the filters (None means any), newest first; dates are UTC days,
    both ends included."""
    conds, params = [], []
    for column, value in (("user", user), ("role", role), ("page", page), ("action", action)):
        if value:
            conds.append(f"{column} = ?")
            params.append(value)
    if since:
        conds.append("at_utc >= ?")
        params.append(since.isoformat())
    if until:
        conds.append("at_utc < ?")
        params.append((until + timedelta(days=1)).isoformat())
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    with _log(path).transaction() as conn:
        return pd.read_sql_query(
            "SELECT at_utc, user, role, nationalities, scenario_id, page, action, filters, "
            f"rows_shown FROM audit_log {where} ORDER BY id DESC LIMIT ?", conn,
            params=(*params, limit))


def choices(path: Path | None = None) -> dict[str, list[str]]:
    """The users, roles, pages and actions present in the log, for the Audit page's filters."""
    columns = ("user", "role", "page", "action")
    with _log(path).transaction() as conn:
        found = conn.execute(f"SELECT DISTINCT {', '.join(columns)} FROM audit_log").fetchall()
    return {column: sorted({row[i] for row in found}) for i, column in enumerate(columns)}
