"""Who looked at what (docs/design.md §2.8): every page view and export, in the
dashboard's own writable store, never in the shared read-only database.

The store is one of the dashboard's own files (rules.ownfiles): SITROOM_AUDIT_DB,
by default beside the users file. Writes are short transactions; WAL mode lets the
admin's Audit page read while sessions write.

Lines are kept SITROOM_AUDIT_DAYS days (0: for ever). Older ones are deleted when a
line is written or the Audit page opens, at most once an hour per file and process
(`purge_due`), so that a deletion never slows every page view.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from dashboard import config
from dashboard.language import N_, ReaderError
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


class AuditUnavailable(ReaderError):
    """The audit log cannot be written: pages stop rather than show unrecorded data (the
    message is the reader's: language.ReaderError)."""


PURGE_EVERY_S = 3600
_clock = time.monotonic  # when the last purge of a file ran, in this process
_purged_at: dict[Path, float] = {}
_purge_lock = threading.Lock()


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
        # Translators: {path} is a file, {reason} the system's own words (not translated).
        N_("The audit log at {path} cannot be written ({reason}). Views are not allowed "
           "without a record of who looked: tell the data protection lead."),
        path=str(target), reason=str(exc))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def retention_days() -> int:
    """SITROOM_AUDIT_DAYS as a number of days; 0 keeps every line."""
    value = config.get("SITROOM_AUDIT_DAYS").strip()
    if not value.isdigit():
        raise AuditUnavailable(
            N_("SITROOM_AUDIT_DAYS must be a whole number of days (0 keeps every line), not "
               "{value}: the audit log is not written until it is."), value=repr(value))
    return int(value)


def purge(path: Path | None = None, now: datetime | None = None) -> int:
    """Delete the lines older than the retention; returns how many."""
    days = retention_days()
    if days == 0:
        return 0
    cutoff = _stamp((now or datetime.now(UTC)) - timedelta(days=days))
    log = _log(path)
    try:
        with log.transaction() as conn:
            return conn.execute("DELETE FROM audit_log WHERE at_utc < ?", (cutoff,)).rowcount
    except (sqlite3.Error, OSError) as exc:
        raise _unavailable(log.path, exc) from exc


def purge_due(path: Path | None = None) -> int:
    """`purge`, if this process has not purged this file in the last hour."""
    target = (path or store_path()).resolve()
    with _purge_lock:
        last = _purged_at.get(target)
        if last is not None and _clock() - last < PURGE_EVERY_S:
            return 0
        _purged_at[target] = _clock()
    try:
        return purge(path)
    except AuditUnavailable:
        with _purge_lock:  # try again at the next write
            _purged_at.pop(target, None)
        raise


def record(viewer: Viewer, entry: Entry, path: Path | None = None) -> None:
    """Append one line to the audit log (and purge the expired ones when it is time)."""
    purge_due(path)
    row = (
        _stamp(datetime.now(UTC)),
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
           limit: int = 5000, path: Path | None = None,
           scenario_id: int | None = None) -> pd.DataFrame:
    """Audit lines matching the filters (None means any), newest first; dates are UTC days,
    both ends included."""
    conds: list[str] = []
    params: list[object] = []
    for column, value in (("user", user), ("role", role), ("page", page), ("action", action)):
        if value:
            conds.append(f"{column} = ?")
            params.append(value)
    if scenario_id is not None:
        conds.append("scenario_id = ?")
        params.append(int(scenario_id))
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
