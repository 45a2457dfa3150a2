"""The audit log's own life (docs/design.md §2.8): lines are kept SITROOM_AUDIT_DAYS days
and purged at most once an hour, and the log is exported without putting live lines
under an EXERCISE marking. The audit file is written and read with the test's own SQL.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from dashboard import config
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules import audit
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.downloads import served_files
from tests.test_audit import as_app, lines

# --- retention -----------------------------------------------------------------------------

def write_line(path, at: datetime, user: str = "old") -> None:
    audit.ensure_writable(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO audit_log (at_utc, user, role, nationalities, scenario_id, page, "
            "action, filters, rows_shown) VALUES (?, ?, 'committee', '', 1, 'overview', "
            "'view', '{}', 0)", (at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), user))


VIEWER = Viewer("now", "committee", 1)


def test_the_retention_is_a_documented_setting():
    setting = config.SETTINGS["SITROOM_AUDIT_DAYS"]
    assert int(setting.default) == 400
    readme = (config.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `SITROOM_AUDIT_DAYS`"))
    assert "400" in row


def test_lines_older_than_the_retention_are_purged_when_a_line_is_written(
        own_audit_log, monkeypatch):
    monkeypatch.setenv("SITROOM_AUDIT_DAYS", "30")
    now = datetime.now(UTC)
    ages = {"day-1": 1, "day-29": 29, "day-31": 31, "day-200": 200}
    for user, days in ages.items():
        write_line(own_audit_log, now - timedelta(days=days), user)
    audit.record(VIEWER, audit.Entry(page="overview"))
    kept = {r["user"] for r in lines(own_audit_log)}
    assert kept == {u for u, d in ages.items() if d < 30} | {"now"}


def test_the_purge_runs_at_most_once_an_hour(own_audit_log, monkeypatch):
    monkeypatch.setenv("SITROOM_AUDIT_DAYS", "30")
    clock = [1_000_000.0]
    monkeypatch.setattr(audit, "_clock", lambda: clock[0])
    old = datetime.now(UTC) - timedelta(days=45)
    write_line(own_audit_log, old, "first")
    audit.record(VIEWER, audit.Entry(page="overview"))
    assert "first" not in {r["user"] for r in lines(own_audit_log)}
    write_line(own_audit_log, old, "second")
    clock[0] += 3599
    audit.record(VIEWER, audit.Entry(page="overview"))
    assert "second" in {r["user"] for r in lines(own_audit_log)}  # purged less than 1 h ago
    clock[0] += 2
    audit.record(VIEWER, audit.Entry(page="overview"))
    assert "second" not in {r["user"] for r in lines(own_audit_log)}


def test_zero_days_keeps_every_line_and_a_bad_value_stops_the_write(own_audit_log,
                                                                    monkeypatch):
    monkeypatch.setenv("SITROOM_AUDIT_DAYS", "0")
    write_line(own_audit_log, datetime.now(UTC) - timedelta(days=5000), "ancient")
    audit.record(VIEWER, audit.Entry(page="overview"))
    assert "ancient" in {r["user"] for r in lines(own_audit_log)}
    monkeypatch.setenv("SITROOM_AUDIT_DAYS", "a year")
    with pytest.raises(audit.AuditUnavailable, match="SITROOM_AUDIT_DAYS"):
        audit.record(VIEWER, audit.Entry(page="overview"), path=own_audit_log.with_name("b.db"))


def test_the_audit_page_purges_before_it_shows(sqlite_url, own_audit_log, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    monkeypatch.setenv("SITROOM_AUDIT_DAYS", "30")
    write_line(own_audit_log, datetime.now(UTC) - timedelta(days=31), "expired")
    write_line(own_audit_log, datetime.now(UTC) - timedelta(days=2), "recent")
    at = as_app(sqlite_url, "audit", "admin")
    assert not at.exception
    at.date_input(key="audit-dates").set_value(
        (datetime.now(UTC).date() - timedelta(days=60), datetime.now(UTC).date())).run()
    shown = set(at.dataframe[0].value["user"])
    assert "recent" in shown and "expired" not in shown


# --- exporting the audit log -----------------------------------------------------------------



def test_an_audit_export_never_puts_live_lines_under_an_exercise_marking(
        sqlite_url, own_audit_log, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    live, exercise = (s for s in list_scenarios(opened(sqlite_url)))
    for scenario, user in ((live.id, "live-reader"), (exercise.id, "drill-reader")):
        audit.record(Viewer(user, "committee", scenario), audit.Entry(page="overview"))

    # the admin on the exercise: the page and its file hold the exercise's lines only
    at = as_app(sqlite_url, "audit", "admin", scenario=exercise.id)
    assert not at.exception
    assert set(at.dataframe[0].value["scenario_id"]) == {exercise.id}
    file = served_files(downloads)[f"EXERCISE-audit-log-scenario-{exercise.id}.csv"]
    assert file.marking.startswith("# EXERCISE")
    assert set(file.column("#event+id")) == {str(exercise.id)}
    assert "live-reader" not in str(file.rows)

    # every scenario at once: no EXERCISE marking, a first line that says what it holds
    at.selectbox(key="audit-scenario").select_index(0).run()
    assert not at.exception
    assert set(at.dataframe[0].value["scenario_id"]) >= {live.id, exercise.id}
    file = served_files(downloads)["audit-log.csv"]
    assert file.marking.startswith("# Audit log") and "live and exercise" in file.marking
    assert set(file.column("#event+id")) >= {str(live.id), str(exercise.id)}


# --- the file under the log ----------------------------------------------------------------

def test_a_line_written_after_the_file_was_moved_away_or_removed_is_in_the_new_file(tmp_path):
    """The log keeps its connection open between lines: a file moved away (rotated by an
    operator) or removed is noticed, and the next line goes into a new file at the path,
    readable by its owner alone."""
    path = tmp_path / "audit.sqlite"
    audit.record(Viewer("first", "committee", 1), audit.Entry(page="overview"), path)
    path.rename(tmp_path / "audit-rotated.sqlite")
    audit.record(Viewer("second", "committee", 1), audit.Entry(page="overview"), path)
    assert [r["user"] for r in lines(path)] == ["second"]
    assert [r["user"] for r in lines(tmp_path / "audit-rotated.sqlite")] == ["first"]
    path.unlink()
    audit.record(Viewer("third", "committee", 1), audit.Entry(page="shelters"), path)
    assert [r["user"] for r in lines(path)] == ["third"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_each_line_is_on_disk_when_the_view_goes_on(tmp_path):
    """Another process (the admin's export, a backup) reads every line as soon as it is
    written, while the writer's connection stays open."""
    path = tmp_path / "audit.sqlite"
    for n in range(12):
        audit.record(Viewer(f"user-{n}", "committee", 1), audit.Entry(page="overview"), path)
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as other:
            assert other.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == n + 1


def test_many_files_written_in_turn_each_get_every_line(tmp_path):
    """More files than the connections kept open (a test run's): none loses a line."""
    paths = [tmp_path / f"audit-{n}.sqlite" for n in range(20)]
    for round_ in range(2):
        for path in paths:
            audit.record(Viewer(f"round-{round_}", "committee", 1), audit.Entry(page="overview"),
                         path)
    assert all([r["user"] for r in lines(path)] == ["round-0", "round-1"] for path in paths)


# --- reading the log on the page ------------------------------------------------------------

def test_the_page_writes_each_time_to_the_second_and_a_hand_written_one_as_it_is(
        sqlite_url, own_audit_log, monkeypatch):
    """The log keeps ISO 8601 text with microseconds; the page shows each as a moment in
    UTC to the second (the file keeps the text). A line whose time is not a time (written
    by hand into the file) is still shown, with every time as its text."""
    import json

    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at_ = datetime.now(UTC).replace(microsecond=123456) - timedelta(days=1)
    write_line(own_audit_log, at_, "timed")
    at = as_app(sqlite_url, "audit", "admin")
    assert not at.exception
    frame = at.dataframe[0].value
    [shown] = frame.loc[frame["user"] == "timed", "at_utc"]
    assert shown == at_  # a moment, not its text
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["at_utc"]["type_config"]["format"].endswith("HH:mm:ss")
    assert columns["at_utc"]["type_config"]["timezone"] == "UTC"

    hand = f"{at_.date().isoformat()} evening"  # in the dates the page asks for
    with sqlite3.connect(own_audit_log) as conn:
        conn.execute("UPDATE audit_log SET at_utc = ? WHERE user = 'timed'", (hand,))
    at.run()
    assert not at.exception
    frame = at.dataframe[0].value
    assert list(frame.loc[frame["user"] == "timed", "at_utc"]) == [hand]
    with sqlite3.connect(own_audit_log) as conn:
        others = [r[0] for r in conn.execute(
            "SELECT at_utc FROM audit_log WHERE user <> 'timed' ORDER BY id DESC")]
    assert list(frame.loc[frame["user"] != "timed", "at_utc"]) == others
