"""Bad input gets a clear message that says what was wrong and where; never a traceback."""

from __future__ import annotations

import secrets
import shutil
import sqlite3

import pytest

from dashboard.contract import schema
from dashboard.rules.users import DEMO_ACCOUNTS
from dashboard.store import db
from dashboard.tools import cli
from tests.apptest import start, texts
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
    assert not at.metric  # nothing shown that was not recorded
