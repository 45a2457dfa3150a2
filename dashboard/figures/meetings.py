"""The committee's previous meeting, per scenario: the Overview's default
"Compare with" moment.

Meetings live in the dashboard's own writable store, never in the shared read-only
database: a SQLite file `meetings.sqlite` beside the audit log (as `auth.sqlite`
is). Not inside the audit log's file: that file is the data protection lead's
record of who looked, read, exported and kept on its own terms, and a setting of
the committee's does not belong in it. Recording a meeting still writes one line
to the audit log, and a meeting whose audit line cannot be written is taken back.

Moments are naive UTC datetimes, as the shared database stores them. Every
function takes the store's path and the time as arguments, so tests never sleep
nor touch the project's files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dashboard import language
from dashboard.language import _
from dashboard.rules import access, audit
from dashboard.rules.access import Viewer
from dashboard.rules.ownfiles import OwnFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meetings (
    id INTEGER PRIMARY KEY,
    scenario_id INTEGER NOT NULL,
    at_utc TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at_utc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_meetings_scenario_at ON meetings (scenario_id, at_utc);
"""
# Sortable text, so that "latest before" is a string comparison in SQLite.
_FORMAT = "%Y-%m-%dT%H:%M:%S"
AUDIT_PAGE, AUDIT_ACTION = "overview", "record_meeting"


class MeetingRefused(ValueError):
    """A meeting that may not be recorded: the role, or a moment outside the scenario."""


class MeetingStoreUnavailable(Exception):
    """The meetings store cannot be read or written; the other reference moments work."""


@dataclass(frozen=True)
class Meeting:
    scenario_id: int
    at: datetime           # when the meeting was held (naive UTC)
    recorded_by: str
    recorded_at: datetime  # when it was recorded (naive UTC)


def store_path() -> Path:
    return audit.store_path().with_name("meetings.sqlite")


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def utc_naive(moment: datetime) -> datetime:
    """A moment as the database stores it: naive UTC, to the second."""
    return _naive(moment).replace(microsecond=0)


def utc_now() -> datetime:
    return utc_naive(datetime.now(UTC))


def default_moment(now: datetime) -> datetime:
    """The moment the record control offers: now, rounded down to the quarter hour."""
    now = utc_naive(now)
    return now.replace(minute=now.minute - now.minute % 15, second=0)


def _unavailable(path: Path, exc: Exception) -> MeetingStoreUnavailable:
    # Shown to the reader (components/reference.py), in whose thread it is raised.
    return MeetingStoreUnavailable(
        # Translators: {path} is a file's path; {reason} the system's own error message.
        _("The meetings store at {path} cannot be used ({reason}), so the previous committee "
          "meeting cannot be offered or recorded. The other reference moments still work; "
          "tell the operators.").format(path=path, reason=exc))


@contextmanager
def _store(path: Path) -> Iterator[sqlite3.Connection]:
    """One short transaction on the store (rules.ownfiles); any failure of the file
    becomes MeetingStoreUnavailable with a message for the reader."""
    try:
        with OwnFile(path, _SCHEMA).transaction() as conn:
            yield conn
    except (sqlite3.Error, OSError) as exc:
        raise _unavailable(path, exc) from exc


def _meeting(row: tuple) -> Meeting:
    scenario_id, at, by, recorded_at = row
    return Meeting(int(scenario_id), datetime.strptime(at, _FORMAT), by,
                   datetime.strptime(recorded_at, _FORMAT))


def refusal(viewer: Viewer, at: datetime, starts_at: datetime, now: datetime) -> str | None:
    """Why `viewer` may not record a meeting held at `at`, or None if they may: in the
    reader's language (shown to the reader who asked)."""
    if not access.may_record_meeting(viewer.role):
        # Translators: {role} is the role's code name (committee, coordinator, consular,
        # admin).
        return _("The {role} role cannot record committee meetings: the committee "
                 "and the coordinators do.").format(role=viewer.role)
    at, starts_at, now = utc_naive(at), utc_naive(starts_at), utc_naive(now)
    if at > now:
        return _("{moment} UTC is in the future (it is now {now} UTC): record a meeting once "
                 "it has been held.").format(moment=language.stamp(at), now=language.stamp(now))
    if at < starts_at:
        return _("{moment} UTC is before the scenario started ({start} UTC): there is "
                 "nothing to compare with then.").format(moment=language.stamp(at),
                                                         start=language.stamp(starts_at))
    return None


def record(viewer: Viewer, at: datetime, starts_at: datetime, now: datetime | None = None,
           path: Path | None = None) -> Meeting:
    """Record that the committee met at `at` in the viewer's scenario, and write it to
    the audit log. Raises MeetingRefused (nothing is stored) or MeetingStoreUnavailable."""
    now = utc_naive(now or utc_now())
    problem = refusal(viewer, at, starts_at, now)
    if problem:
        raise MeetingRefused(problem)
    meeting = Meeting(viewer.scenario_id, utc_naive(at), viewer.user, now)
    target = path or store_path()
    with _store(target) as conn:
        row_id = conn.execute(
            "INSERT INTO meetings (scenario_id, at_utc, recorded_by, recorded_at_utc) "
            "VALUES (?, ?, ?, ?)",
            (meeting.scenario_id, meeting.at.strftime(_FORMAT), meeting.recorded_by,
             meeting.recorded_at.strftime(_FORMAT))).lastrowid
    try:
        audit.record(viewer, audit.Entry(page=AUDIT_PAGE, action=AUDIT_ACTION, filters={
            "meeting_at": meeting.at.isoformat(timespec="minutes")}))
    except audit.AuditUnavailable as exc:
        # No unrecorded change: take the meeting back, the reader sees why.
        with _store(target) as conn:
            conn.execute("DELETE FROM meetings WHERE id = ?", (row_id,))
        # Translators: {reason} says why the audit log could not be written.
        raise MeetingStoreUnavailable(
            _("The meeting was not recorded. {reason}").format(reason=exc)) from exc
    return meeting


def previous(scenario_id: int, before: datetime, path: Path | None = None) -> Meeting | None:
    """The latest meeting of the scenario held strictly before `before` (the moment
    shown), or None. A store that does not exist yet holds no meeting."""
    target = path or store_path()
    if not target.exists():
        return None
    with _store(target) as conn:
        row = conn.execute(
            "SELECT scenario_id, at_utc, recorded_by, recorded_at_utc FROM meetings "
            "WHERE scenario_id = ? AND at_utc < ? ORDER BY at_utc DESC, id DESC LIMIT 1",
            # ISO text compares as time; kept to the microsecond, so that a meeting a
            # moment before `before` is still before it.
            (scenario_id, _naive(before).isoformat())).fetchone()
    return _meeting(row) if row else None

