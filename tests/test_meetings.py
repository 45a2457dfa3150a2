"""The committee's previous meeting: recorded per scenario in the dashboard's
own store, refused when it cannot be, written to the audit log, and the Overview's
default reference for everyone in the scenario.

The store and the audit log are read back here with the test's own SQL; the
Overview's change is checked against the test's own count at the meeting moment.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard.figures import meetings
from dashboard.figures.meetings import MeetingRefused, MeetingStoreUnavailable
from dashboard.rules import access
from dashboard.rules.access import Viewer
from tests.apptest import metric, open_page, texts
from tests.disclosure import expected

START = datetime(2026, 10, 26)
NOW = datetime(2026, 11, 23, 9, 7)
CHAIR = Viewer("chair", "committee", 1)
STAFF = Viewer("staff", "coordinator", 1)


def stored(path: Path) -> list[tuple]:
    """The meetings store's rows, read with plain SQL; a missing file holds none."""
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "meetings" not in tables:
            return []
        return conn.execute("SELECT scenario_id, at_utc, recorded_by, recorded_at_utc "
                            "FROM meetings ORDER BY id").fetchall()


def audit_lines(path: Path) -> list[tuple]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT user, role, scenario_id, page, action, filters "
                            "FROM audit_log ORDER BY id").fetchall()


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "meetings.sqlite"


# --- who may record it -----------------------------------------------------------------

@pytest.mark.parametrize("role, expected", [
    ("committee", True), ("coordinator", True), ("consular", False), ("admin", False),
])
def test_who_may_record_the_previous_meeting(role, expected):
    assert access.may_record_meeting(role) is expected


def test_every_role_is_in_the_table():
    assert set(access.ROLES) == {"committee", "coordinator", "consular", "admin"}


@pytest.mark.parametrize("viewer", [Viewer("l", "consular", 1, ("ETH",)),
                                    Viewer("a", "admin", 1)], ids=["consular", "admin"])
def test_a_role_that_may_not_record_is_refused_and_nothing_is_stored(
        viewer, store, own_audit_log):
    with pytest.raises(MeetingRefused, match=f"The {viewer.role} role cannot record"):
        meetings.record(viewer, NOW - timedelta(days=1), START, now=NOW, path=store)
    assert stored(store) == []
    assert audit_lines(own_audit_log) == []


# --- the store -------------------------------------------------------------------------

def test_a_meeting_is_saved_and_read_back_for_its_scenario_only(store):
    held = datetime(2026, 11, 20, 9, 30)
    meeting = meetings.record(CHAIR, held, START, now=NOW, path=store)
    assert stored(store) == [(1, "2026-11-20T09:30:00", "chair", "2026-11-23T09:07:00")]
    assert (meeting.scenario_id, meeting.at, meeting.recorded_by) == (1, held, "chair")

    back = meetings.previous(1, NOW, path=store)
    assert back is not None
    assert (back.scenario_id, back.at, back.recorded_by, back.recorded_at) == (
        1, held, "chair", NOW)
    # the exercise scenario in the same database sees none of it ...
    assert meetings.previous(2, NOW, path=store) is None
    # ... and its own meeting stays its own
    meetings.record(STAFF.with_scenario(2), datetime(2026, 11, 21, 14, 0), START, now=NOW,
                    path=store)
    assert meetings.previous(1, NOW, path=store).at == held
    assert meetings.previous(2, NOW, path=store).at == datetime(2026, 11, 21, 14, 0)
    assert [r[0] for r in stored(store)] == [1, 2]


def test_a_store_not_created_yet_holds_no_meeting(store):
    assert meetings.previous(1, NOW, path=store) is None
    assert not store.exists()  # reading never creates it


def test_the_latest_meeting_before_the_moment_shown_is_picked(store):
    times = [datetime(2026, 11, 10, 9), datetime(2026, 11, 17, 9), datetime(2026, 11, 3, 9),
             datetime(2026, 11, 22, 18)]
    for at in times:  # recorded out of order
        meetings.record(CHAIR, at, START, now=NOW, path=store)
    shown = datetime(2026, 11, 20, 12)
    assert meetings.previous(1, shown, path=store).at == datetime(2026, 11, 17, 9)
    # a meeting at the very moment shown is not before it
    assert meetings.previous(1, datetime(2026, 11, 17, 9), path=store).at == datetime(
        2026, 11, 10, 9)
    assert meetings.previous(1, datetime(2026, 11, 17, 9, 0, 0, 1), path=store).at == datetime(
        2026, 11, 17, 9)
    assert meetings.previous(1, datetime(2026, 11, 3, 9), path=store) is None
    assert meetings.previous(1, NOW, path=store).at == datetime(2026, 11, 22, 18)


@pytest.mark.parametrize("at, words", [
    (NOW + timedelta(minutes=15), "is in the future"),
    (NOW + timedelta(days=3), "is in the future"),
    (START - timedelta(minutes=15), "is before the scenario started"),
    (START - timedelta(days=40), "is before the scenario started"),
])
def test_refused_moments_give_their_message_and_store_nothing(at, words, store,
                                                              own_audit_log):
    with pytest.raises(MeetingRefused, match=words) as refused:
        meetings.record(CHAIR, at, START, now=NOW, path=store)
    assert f"{at:%d %b %Y %H:%M} UTC" in str(refused.value)
    assert stored(store) == []
    assert audit_lines(own_audit_log) == []


def test_the_edges_of_the_scenario_may_be_recorded(store):
    meetings.record(CHAIR, START, START, now=NOW, path=store)
    meetings.record(CHAIR, NOW, START, now=NOW, path=store)
    assert [r[1] for r in stored(store)] == ["2026-10-26T00:00:00", "2026-11-23T09:07:00"]


def test_recording_a_meeting_writes_one_audit_entry(store, own_audit_log):
    meetings.record(STAFF, datetime(2026, 11, 20, 9, 30), START, now=NOW, path=store)
    lines = audit_lines(own_audit_log)
    assert len(lines) == 1
    user, role, scenario_id, page, action, filters = lines[0]
    assert (user, role, scenario_id, page, action) == (
        "staff", "coordinator", 1, "overview", "record_meeting")
    assert json.loads(filters) == {"meeting_at": "2026-11-20T09:30"}


def test_an_unusable_store_gives_a_clear_message(tmp_path, own_audit_log):
    store = tmp_path / "meetings.sqlite"
    store.mkdir()  # a folder where the file should be: unusable even for root
    with pytest.raises(MeetingStoreUnavailable, match="cannot be used") as failed:
        meetings.record(CHAIR, datetime(2026, 11, 20, 9), START, now=NOW, path=store)
    assert "other reference moments still work" in str(failed.value)
    with pytest.raises(MeetingStoreUnavailable, match="cannot be used"):
        meetings.previous(1, NOW, path=store)
    assert audit_lines(own_audit_log) == []


def test_a_meeting_whose_audit_line_cannot_be_written_is_taken_back(tmp_path, monkeypatch):
    store = tmp_path / "meetings.sqlite"
    blocked = tmp_path / "audit-folder"
    blocked.mkdir()
    monkeypatch.setenv("SITROOM_AUDIT_DB", str(blocked))
    with pytest.raises(MeetingStoreUnavailable, match="was not recorded"):
        meetings.record(CHAIR, datetime(2026, 11, 20, 9), START, now=NOW, path=store)
    assert stored(store) == []


def test_the_proposed_moment_is_now_rounded_down_to_the_quarter_hour():
    assert meetings.default_moment(datetime(2026, 11, 23, 9, 7, 41)) == datetime(
        2026, 11, 23, 9, 0)
    assert meetings.default_moment(datetime(2026, 11, 23, 9, 59, 59)) == datetime(
        2026, 11, 23, 9, 45)
    assert meetings.default_moment(datetime(2026, 11, 23, 10, 30)) == datetime(
        2026, 11, 23, 10, 30)


# --- the Overview page -------------------------------------------------------------------

def data_as_of(raw, url: str, scenario_id: int = 1) -> datetime:
    import pandas as pd
    with raw(url).connect() as conn:
        value = conn.execute(text("SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
                             {"s": scenario_id}).scalar()
    return pd.Timestamp(value).to_pydatetime()


def shown_registered(raw, url: str, at: datetime) -> int:
    """The committee's Registered figure at `at`: its persons rounded as the design
    says (tests/disclosure.py), worked out from the test's own SQL."""
    with raw(url).connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM persons WHERE scenario_id = 1 AND registered_at <= :at"),
            {"at": at})]
    value = expected(ids)
    assert isinstance(value, int)
    return value


def registered_by(raw, url: str, at: datetime, rule: str = "scenario_id = 1",
                  **params) -> int:
    with raw(url).connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM persons WHERE {rule} "
                                 "AND registered_at <= :at"), {**params, "at": at}).scalar()


def record_control(at) -> list:
    return [b for b in at.button if b.label == "Record meeting"]


@pytest.mark.parametrize("role, nats, expected", [
    ("committee", None, True), ("coordinator", None, True),
    ("consular", ["PHL"], False), ("admin", None, False),
])
def test_only_the_roles_that_chair_meetings_get_the_control(db_url, role, nats, expected):
    at = open_page(db_url, "overview", role, nats)
    assert not at.exception
    has_control = bool(record_control(at)) and any(
        d.label == "Meeting day (UTC)" for d in at.date_input)
    assert has_control is expected
    assert metric(at, "Registered")  # the page itself works for every role


@pytest.mark.parametrize("role, nats", [("committee", None), ("consular", ["PHL"])])
def test_the_overview_compares_with_the_previous_meeting(db_url, raw, own_audit_log,
                                                         role, nats):
    as_of = data_as_of(raw, db_url)
    held = (as_of - timedelta(days=3, hours=5)).replace(minute=15, second=0, microsecond=0)
    store = meetings.store_path()
    assert store.parent == own_audit_log.parent  # the test's own folder, never the project's
    recorded_at = as_of + timedelta(hours=1)
    for moment in (held - timedelta(days=4), held, as_of + timedelta(minutes=30)):
        meetings.record(CHAIR, moment, START, now=recorded_at)

    at = open_page(db_url, "overview", role, nats)
    assert not at.exception
    picker = at.segmented_control(key="reference-span")
    label = f"Previous meeting ({held:%d %b %H:%M})"
    assert picker.options[0] == label
    assert picker.formatted_values == [label]  # the default, for every role

    if role == "consular":
        rule = ("scenario_id = 1 AND (nationality = 'PHL' OR second_nationality = 'PHL') "
                "AND consent_consular = :t AND protection_confidential = :f")
        now = registered_by(raw, db_url, as_of, rule, t=True, f=False)
        then = registered_by(raw, db_url, held, rule, t=True, f=False)
    else:  # a committee member sees the figures rounded: the change is theirs
        now, then = shown_registered(raw, db_url, as_of), shown_registered(raw, db_url, held)
        assert then >= 5  # large enough to be shown, not "<5"
    assert now != then
    tile = next(m for m in at.metric if m.label == "Registered")
    assert tile.delta == f"{now - then:+,}"
    assert f"Changes since {held:%a %d %b, %H:%M} UTC" in texts(at)

    # the exercise scenario of the same database has no meeting: 24 hours as before
    other = open_page(db_url, "overview", role, nats, scenario=2)
    assert not other.exception
    picker = other.segmented_control(key="reference-span")
    assert not any(o.startswith("Previous meeting") for o in picker.options)
    assert picker.value == "24 hours"


def test_a_meeting_recorded_on_the_page_becomes_the_reference(db_url, raw, own_audit_log,
                                                              monkeypatch):
    as_of = data_as_of(raw, db_url)
    # the wall clock of the test machine is no part of the test
    monkeypatch.setattr(meetings, "utc_now", lambda: as_of + timedelta(hours=2))
    held = (as_of - timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)

    at = open_page(db_url, "overview", "coordinator")
    assert not at.exception
    assert at.segmented_control(key="reference-span").value == "24 hours"
    proposed = meetings.default_moment(as_of + timedelta(hours=2))
    assert at.date_input(key="reference-meeting-day").value == proposed.date()
    assert at.time_input(key="reference-meeting-time").value == proposed.time()

    at.date_input(key="reference-meeting-day").set_value(held.date())
    at.time_input(key="reference-meeting-time").set_value(held.time())
    record_control(at)[0].click()
    at.run()
    assert not at.exception
    assert f"Meeting of {held:%d %b %Y %H:%M} UTC recorded." in texts(at)
    assert [r[:3] for r in stored(meetings.store_path())] == [
        (1, held.isoformat(), "test-coordinator")]
    lines = [line for line in audit_lines(own_audit_log) if line[4] == "record_meeting"]
    assert len(lines) == 1 and lines[0][:4] == ("test-coordinator", "coordinator", 1,
                                                "overview")

    picker = at.segmented_control(key="reference-span")
    assert picker.formatted_values == [f"Previous meeting ({held:%d %b %H:%M})"]
    now, then = shown_registered(raw, db_url, as_of), shown_registered(raw, db_url, held)
    assert now != then and then >= 5
    assert metric(at, "Registered") == f"{now:,}"
    tile = next(m for m in at.metric if m.label == "Registered")
    assert tile.delta == f"{now - then:+,}"
    assert f"Changes since {held:%a %d %b, %H:%M} UTC" in texts(at)


@pytest.mark.parametrize("day, clock, words", [
    (None, time(23, 45), "is in the future"),
    (date(2026, 10, 25), time(12, 0), "is before the scenario started"),
])
def test_a_refused_moment_on_the_page_says_why_and_stores_nothing(
        db_url, raw, own_audit_log, monkeypatch, day, clock, words):
    as_of = data_as_of(raw, db_url)
    wall = as_of.replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(meetings, "utc_now", lambda: wall)
    at = open_page(db_url, "overview", "committee")
    at.date_input(key="reference-meeting-day").set_value(day or wall.date())
    at.time_input(key="reference-meeting-time").set_value(clock)
    record_control(at)[0].click()
    at.run()
    assert not at.exception
    assert words in "\n".join(e.value for e in at.error)
    assert stored(meetings.store_path()) == []
    assert not [line for line in audit_lines(own_audit_log) if line[4] == "record_meeting"]
    assert at.segmented_control(key="reference-span").value == "24 hours"
    assert metric(at, "Registered")


def test_an_unusable_store_leaves_the_page_working(db_url, raw, own_audit_log, monkeypatch):
    as_of = data_as_of(raw, db_url)
    monkeypatch.setattr(meetings, "utc_now", lambda: as_of)
    meetings.store_path().mkdir(parents=True)  # a folder where the file should be
    at = open_page(db_url, "overview", "committee")
    assert not at.exception
    assert "cannot be used" in "\n".join(w.value for w in at.warning)
    picker = at.segmented_control(key="reference-span")
    assert picker.value == "24 hours"
    assert not any(o.startswith("Previous meeting") for o in picker.options)
    assert metric(at, "Registered") == f"{shown_registered(raw, db_url, as_of):,}"

    at.segmented_control(key="reference-span").set_value("7 days")
    record_control(at)[0].click()
    at.run()
    assert not at.exception
    assert "cannot be used" in "\n".join(e.value for e in at.error)
    assert at.segmented_control(key="reference-span").value == "7 days"


def test_the_other_choices_still_work_beside_a_meeting(db_url, raw):
    as_of = data_as_of(raw, db_url)
    held = (as_of - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    meetings.record(CHAIR, held, START, now=as_of)
    at = open_page(db_url, "overview", "committee")
    at.segmented_control(key="reference-span").set_value("Chosen moment")
    at.run()
    chosen = (as_of - timedelta(days=6)).replace(hour=6, minute=0, second=0, microsecond=0)
    at.date_input(key="reference-day").set_value(chosen.date())
    at.time_input(key="reference-time").set_value(chosen.time())
    at.run()
    assert not at.exception
    assert at.segmented_control(key="reference-span").value == "Chosen moment"
    now, then = shown_registered(raw, db_url, as_of), shown_registered(raw, db_url, chosen)
    assert now != then and then >= 5
    tile = next(m for m in at.metric if m.label == "Registered")
    assert tile.delta == f"{now - then:+,}"
    assert f"Changes since {chosen:%a %d %b, %H:%M} UTC" in texts(at)
