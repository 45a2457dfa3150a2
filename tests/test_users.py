"""The users file and `sitroom users add`: bcrypt hashes, clear refusals, a private file."""

from __future__ import annotations

import os
import stat

import bcrypt
import pytest
import yaml

from dashboard.rules import users
from dashboard.tools import cli
from tests.signin import add_user


def test_add_writes_a_private_file_with_a_bcrypt_hash(tmp_path):
    path = tmp_path / "users.yaml"
    code, err = add_user(path, "amira", "a-long-password", "consular", ("eth", "ERI"))
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = yaml.safe_load(path.read_text())["users"]["amira"]
    assert raw["role"] == "consular" and raw["nationalities"] == ["ERI", "ETH"]
    assert "a-long-password" not in path.read_text()
    assert bcrypt.checkpw(b"a-long-password", raw["password"].encode())
    account = users.load(path)["amira"]
    assert (account.role, account.nationalities) == ("consular", ("ERI", "ETH"))


@pytest.mark.parametrize("role, nats, password, message", [
    ("spy", (), "a-long-password", "unknown role 'spy'"),
    ("consular", ("XYZ",), "a-long-password", "'XYZ' is not a known country code"),
    ("consular", ("ETHI",), "a-long-password", "not an ISO 3166-1 alpha-3 code"),
    ("consular", (), "a-long-password", "needs at least one nationality"),
    ("committee", ("ETH",), "a-long-password", "not scoped by nationality"),
    ("committee", (), "", "The password is empty"),
    ("committee", (), "short", "too short"),
    ("committee", (), " padded-password ", "may not start or end with a space"),
])
def test_add_refuses_bad_input_with_a_clear_message_and_writes_nothing(
        tmp_path, role, nats, password, message):
    path = tmp_path / "users.yaml"
    code, err = add_user(path, "someone", password, role, nats)
    assert code == 2
    assert message in err
    assert not path.exists()


def test_add_refuses_a_duplicate_and_keeps_the_file(tmp_path):
    path = tmp_path / "users.yaml"
    assert add_user(path, "amira", "a-long-password", "committee")[0] == 0
    before = path.read_text()
    code, err = add_user(path, "Amira", "another-password", "admin")
    assert code == 2 and "already exists" in err
    assert path.read_text() == before


def test_a_bad_user_name_is_refused(tmp_path):
    code, err = add_user(tmp_path / "users.yaml", "a b", "a-long-password", "committee")
    assert code == 2 and "User name" in err


@pytest.mark.parametrize("body, message", [
    ("users:\n  amira: [unclosed\n", "is not valid YAML at line"),
    ("- just\n- a list\n", "must hold a `users:` mapping"),
    ("users:\n  amira:\n    role: general\n    password: x\n", "user 'amira': unknown role"),
    ("users:\n  amira:\n    role: consular\n    nationalities: [XXX]\n    password: x\n",
     "user 'amira': nationality 'XXX' is not a known country code"),
    ("users:\n  amira:\n    role: admin\n    password: plain-text\n",
     "user 'amira': the password must be a bcrypt hash"),
])
def test_a_malformed_users_file_is_refused_naming_the_file(tmp_path, body, message):
    path = tmp_path / "users.yaml"
    path.write_text(body)
    with pytest.raises(users.UsersError) as exc:
        users.load(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_a_missing_users_file_is_named(tmp_path):
    with pytest.raises(users.UsersError, match="does not exist"):
        users.load(tmp_path / "nowhere.yaml")


def test_run_refuses_a_missing_users_file_and_starts_nothing(tmp_path, capsys, monkeypatch):
    started = []
    monkeypatch.setattr("os.execv", lambda *a: started.append(a))
    assert cli.main(["run", "--users", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    assert not started


def test_run_hands_the_users_file_to_the_app(tmp_path, monkeypatch):
    path = tmp_path / "users.yaml"
    assert add_user(path, "amira", "a-long-password", "committee")[0] == 0
    seen = {}
    monkeypatch.setattr("os.execv", lambda program, argv: seen.update(
        users=os.environ["SITROOM_USERS"], argv=argv))  # the server would replace this process
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SITROOM_USERS", "before")  # restored after the test
    cli.main(["run", "--users", str(path), "--port", "8599"])
    assert seen["users"] == str(path.resolve())
    assert seen["argv"][1:4] == ["-m", "streamlit", "run"]
    assert seen["argv"][-2:] == ["--server.port", "8599"]


def test_the_demo_accounts_cover_every_role_and_check_their_passwords():
    accounts = users.demo_accounts()
    assert sorted(a.role for a in accounts.values()) == sorted(
        ["committee", "consular", "coordinator", "admin"])
    for name, (_, _, password) in users.DEMO_ACCOUNTS.items():
        assert bcrypt.checkpw(password.encode(), accounts[name].password_hash.encode())


def test_the_library_gets_a_copy_never_the_file(tmp_path):
    path = tmp_path / "users.yaml"
    assert add_user(path, "amira", "a-long-password", "committee")[0] == 0
    creds = users.credentials(users.load(path))
    creds["usernames"]["amira"]["failed_login_attempts"] = 3  # what the library does
    assert "failed_login_attempts" not in path.read_text()


def test_the_readme_lists_the_demo_accounts_as_they_are():
    from dashboard.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    for name, (role, _, password) in users.DEMO_ACCOUNTS.items():
        assert f"| `{name}` | `{password}` | {role}" in readme, name
