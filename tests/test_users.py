"""The users file and `sitroom users add`: bcrypt hashes, clear refusals, a private file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

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
    # Streamlit's `run`, started by components/server.py beside the first count
    assert seen["argv"][1:3] == ["-m", "components.server"]
    assert Path(seen["argv"][3]).name == "app.py"
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


# --- attacks: names too long, names that hide, users written twice -------------------------

@pytest.mark.parametrize("name", ["a" * 65, "b" * 200_000], ids=["65", "200000"])
def test_add_refuses_a_user_name_longer_than_64_characters_without_repeating_it(tmp_path,
                                                                                name):
    path = tmp_path / "users.yaml"
    code, err = add_user(path, name, "a-long-password", "committee")
    assert code == 2 and "64" in err
    assert len(err) < 400  # says what is wrong, without echoing the name
    assert not path.exists()


def test_a_user_name_of_exactly_64_characters_is_taken(tmp_path):
    path = tmp_path / "users.yaml"
    assert add_user(path, "a" * 64, "a-long-password", "committee")[0] == 0
    assert list(users.load(path)) == ["a" * 64]


@pytest.mark.parametrize("name", ["amira\n", "amira\nroot", "a" * 65],
                         ids=["newline-at-end", "newline-inside", "65"])
def test_a_users_file_with_a_bad_user_name_is_refused(tmp_path, name):
    path = tmp_path / "users.yaml"
    hashed = bcrypt.hashpw(b"a-long-password", bcrypt.gensalt(rounds=4)).decode()
    path.write_text(yaml.safe_dump({"users": {name: {"role": "committee", "password": hashed}}}))
    with pytest.raises(users.UsersError) as exc:
        users.load(path)
    assert str(path) in str(exc.value) and "64" in str(exc.value)


def test_a_user_written_twice_in_the_file_is_an_error_naming_both_lines(tmp_path):
    hashed = bcrypt.hashpw(b"a-long-password", bcrypt.gensalt(rounds=4)).decode()
    lines = ["users:",
             "  amira:", "    role: consular", "    nationalities: [ETH]",
             f"    password: '{hashed}'",
             "  bashir:", "    role: committee", f"    password: '{hashed}'",
             "  amira:", "    role: admin", f"    password: '{hashed}'"]
    path = tmp_path / "users.yaml"
    path.write_text("\n".join(lines) + "\n")
    first, second = [i + 1 for i, line in enumerate(lines) if line == "  amira:"]
    with pytest.raises(users.UsersError) as exc:
        users.load(path)
    message = str(exc.value)
    assert str(path) in message and "'amira'" in message
    assert f"line {first}" in message and f"line {second}" in message


@pytest.mark.parametrize("full_name, message", [
    ("x" * 101, "at most 100 characters"),
    ("Amira\nRole: admin", "control characters"),
], ids=["101", "newline"])
def test_add_refuses_a_full_name_too_long_or_with_control_characters(tmp_path, full_name,
                                                                     message):
    path = tmp_path / "users.yaml"
    with pytest.raises(users.UsersError, match=message):
        users.add(path, "amira", "committee", [], "a-long-password", name=full_name)
    assert not path.exists()


def test_a_change_to_the_file_is_seen_by_the_next_read(tmp_path):
    path = tmp_path / "users.yaml"
    assert add_user(path, "amira", "a-long-password", "committee")[0] == 0
    users.load(path).pop("amira")  # what a caller does to its copy stays there
    assert list(users.load(path)) == ["amira"]
    assert add_user(path, "bashir", "a-long-password", "admin")[0] == 0
    assert sorted(users.load(path)) == ["amira", "bashir"]
    before = path.stat()
    path.write_text(path.read_text().replace("name: amira", "name: Amira"))  # same size
    assert path.stat().st_size == before.st_size
    assert users.load(path)["amira"].name == "Amira"
    path.write_text("users: {}\n")
    assert users.load(path) == {}
