"""Bad input gets a clear message that says what was wrong and where; never a traceback."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.contract import schema
from dashboard.rules.users import DEMO_ACCOUNTS
from dashboard.store import db
from dashboard.tools import cli
from tests.apptest import shown, start, texts
from tests.signin import make_users_file, sign_in, sign_in_as, use_users


def test_a_missing_database_file_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "shared.sqlite"
    monkeypatch.setenv("SITROOM_DB_URL", f"sqlite:///{missing}")
    at = start()
    assert not at.exception
    assert str(missing) in texts(at)
    assert not missing.exists()  # nothing created behind the reader's back


def test_a_database_of_another_schema_version_names_both_versions(sqlite_url, tmp_path,
                                                                  monkeypatch):
    copy = tmp_path / "old.sqlite"
    shutil.copy(db.sqlite_path(sqlite_url), copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000_old'")
    monkeypatch.setenv("SITROOM_DB_URL", f"sqlite:///{copy}")
    at = start()
    assert not at.exception
    message = texts(at)
    assert "0000_old" in message and schema.expected_version() in message


def test_a_database_without_the_contract_says_so(tmp_path, monkeypatch):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE something_else (id integer)")
    monkeypatch.setenv("SITROOM_DB_URL", f"sqlite:///{other}")
    at = start()
    assert not at.exception
    assert "no Situation Room schema version" in texts(at)


def test_an_unreachable_database_gives_a_message_not_a_traceback(monkeypatch):
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    monkeypatch.setenv("SITROOM_DB_URL", "postgresql://reader:secret@127.0.0.1:9/sitroom")
    at = start()
    assert not at.exception
    message = texts(at)
    assert "Cannot reach the database" in message and "127.0.0.1:9" in message
    assert "secret" not in message  # the password is never shown


def test_an_unsupported_database_is_refused_by_name():
    with pytest.raises(db.DatabaseUnavailable, match="Unsupported database"):
        db.readonly_engine("mysql://someone@127.0.0.1/x")


def test_the_first_start_builds_the_demo_database(tmp_path, monkeypatch):
    monkeypatch.delenv("SITROOM_DB_URL", raising=False)
    monkeypatch.delenv("SITROOM_USERS", raising=False)
    monkeypatch.delenv("SITROOM_COOKIE_KEY", raising=False)
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path))
    monkeypatch.setenv("SITROOM_DEMO_PERSONS", "400")
    at = start()
    assert not at.exception
    assert (tmp_path / "demo.sqlite").exists()
    assert "demo-committee" in str(at.table[0].value)  # the demo accounts are listed
    at = sign_in(at, "demo-committee", DEMO_ACCOUNTS["demo-committee"][2])
    assert not at.exception
    assert any(m.label == "Registered" for m in at.metric)


def test_generate_refuses_an_existing_file(tmp_path, capsys):
    target = tmp_path / "exists.sqlite"
    target.write_text("keep me")
    assert cli.main(["generate", "--persons", "10", "--seed", "1", "--out", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_generate_refuses_a_database_that_already_holds_a_scenario(sqlite_url, capsys):
    assert cli.main(["generate", "--persons", "10", "--seed", "1", "--db-url", sqlite_url]) == 2
    assert capsys.readouterr().err.strip()


def test_generate_needs_one_destination(capsys):
    assert cli.main(["generate", "--persons", "10", "--seed", "1"]) == 2
    assert "exactly one of --out" in capsys.readouterr().err


def test_an_audit_log_that_cannot_be_written_stops_the_page_with_a_message(
        sqlite_url, tmp_path, monkeypatch):
    # A folder where the audit file should be: SQLite cannot open it, while the
    # sign-in store beside it still works, so the reader gets as far as a page.
    blocker = tmp_path / "audit.sqlite"
    blocker.mkdir()
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    monkeypatch.setenv("SITROOM_AUDIT_DB", str(blocker))
    use_users(monkeypatch, make_users_file(tmp_path), cookie_key=secrets.token_urlsafe(32))
    at = sign_in_as(start(), "committee")
    assert not at.exception
    assert "audit log" in texts(at) and str(blocker) in texts(at)
    assert not shown(at, "metric")  # nothing shown that was not recorded


# --- no password in a log; the dashboard's own files private --------------------------------

PASSWORD = "s3cret-Pass"
URL_WITH_PASSWORD = f"postgresql://reader:{PASSWORD}@db.example/sitroom"


def test_every_log_record_has_passwords_in_urls_blanked_once_the_app_ran(
        sqlite_url, monkeypatch, caplog):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    assert not start().exception  # app.py puts the second wall up
    with caplog.at_level(logging.INFO):
        logging.getLogger("sitroom").error("refreshing %r failed", URL_WITH_PASSWORD)
        logging.getLogger("sqlalchemy.pool").warning(f"connecting to {URL_WITH_PASSWORD}")
        logging.getLogger("a.logger.made.later").info("dsn %s", {"url": URL_WITH_PASSWORD})
        try:
            raise RuntimeError(f"cannot reach {URL_WITH_PASSWORD}")
        except RuntimeError:
            logging.getLogger("streamlit.anything").exception("page failed")
    # Streamlit's own loggers may add a record of theirs meanwhile (a background thread
    # without a script context): the four records written here are checked by name.
    ours = [r for r in caplog.records if r.name in {
        "sitroom", "sqlalchemy.pool", "a.logger.made.later", "streamlit.anything"}]
    assert len(ours) == 4
    assert PASSWORD not in caplog.text
    shown = "\n".join(caplog.handler.format(r) for r in ours)
    assert shown.count("postgresql://reader:***@db.example/sitroom") == 4


@pytest.mark.parametrize("written, shown", [
    ("postgresql+psycopg://u:p%40ss@h:5432/d", "postgresql+psycopg://u:***@h:5432/d"),
    ("see https://user:pa:ss@example.org/x ok", "see https://user:***@example.org/x ok"),
    ("'mysql://root:toor@127.0.0.1/db'", "'mysql://root:***@127.0.0.1/db'"),
    ("host=db user=reader password=hunter2 dbname=x", "host=db user=reader password=*** dbname=x"),
    ("postgresql://reader@db/sitroom", "postgresql://reader@db/sitroom"),  # no password
    ("sqlite:////srv/shared.sqlite", "sqlite:////srv/shared.sqlite"),
])
def test_the_redaction_blanks_the_password_and_keeps_the_rest(written, shown):
    from dashboard import config

    assert config.redact(written) == shown


def test_a_failed_background_refresh_logs_the_database_without_its_password(caplog):
    from sqlalchemy import create_engine

    from dashboard.store.db import Database
    from dashboard.store.facts import SharedFacts

    database = Database(URL_WITH_PASSWORD, create_engine("sqlite://"))
    facts = SharedFacts(refresh_after_s=0)
    facts.get((database, "tallies"), lambda: 1)

    def fail():
        raise RuntimeError("the database went away")

    with caplog.at_level(logging.ERROR, logger="sitroom"):
        facts.get((database, "tallies"), fail)  # stale: refreshed in the background, fails
        facts.settle()
    assert "refreshing" in caplog.text and "db.example" in caplog.text
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(database) and PASSWORD not in str((database, "tallies"))


def test_the_dashboards_own_files_are_readable_by_their_owner_alone(
        sqlite_url, tmp_path, monkeypatch, own_audit_log):
    from dashboard.figures import meetings
    from dashboard.rules.access import Viewer

    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    use_users(monkeypatch, make_users_file(tmp_path), cookie_key=secrets.token_urlsafe(32))
    before = os.umask(0)  # a umask that lets anything through: the mode is the code's own
    try:
        assert sign_in_as(start(), "committee").metric  # the sign-in store and the audit log
        sign_in(start(), "nobody-here", "a-wrong-password")
        held = datetime.now(UTC) - timedelta(hours=1)
        meetings.record(Viewer("chair", "committee", 1, ()), held, held - timedelta(days=1))
    finally:
        os.umask(before)
    for name in ("audit.sqlite", "auth.sqlite", "meetings.sqlite"):
        path = own_audit_log.with_name(name)
        assert path.exists(), name
        for each in [path, *path.parent.glob(f"{name}-*")]:  # and SQLite's -wal, -shm
            assert stat.S_IMODE(each.stat().st_mode) == 0o600, each
