"""The users file: who may sign in, with which role and nationalities.

A YAML file kept outside git (SITROOM_USERS, by default users.yaml in
SITROOM_HOME), managed with `sitroom users add`. Passwords are stored only as
bcrypt hashes. The file is validated as a whole when it is read: a user with an
unknown role or nationality refuses the whole file, by name, rather than
signing someone in with a scope nobody meant to give.

    users:
      amira:
        name: Amira Haddad
        role: consular
        nationalities: [ETH, ERI]
        password: $2b$12$...
"""

from __future__ import annotations

import csv
import functools
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml

from dashboard import config
from dashboard.rules import access

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")
MIN_PASSWORD = 10

# Fixed, documented demo accounts: offered only when the app runs on the embedded
# demo database (synthetic people), and listed on its sign-in page.
DEMO_ACCOUNTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "demo-committee": ("committee", (), "demo-committee-pass"),
    "demo-consular": ("consular", ("ETH",), "demo-consular-pass"),
    "demo-coordinator": ("coordinator", (), "demo-coordinator-pass"),
    "demo-admin": ("admin", (), "demo-admin-pass"),
}


class UsersError(ValueError):
    """The users file or a user in it cannot be used; the message says what and where."""


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    role: str
    nationalities: tuple[str, ...]
    password_hash: str


@functools.cache
def known_countries() -> frozenset[str]:
    with open(config.DATA_DIR / "countries.csv", newline="", encoding="utf-8") as f:
        return frozenset(row["iso3"] for row in csv.DictReader(f))


def check_scope(role: str, nationalities: list[str] | tuple[str, ...], who: str) -> tuple:
    """The role and nationalities of one user, or a UsersError naming `who`."""
    if role not in access.ROLES:
        raise UsersError(f"{who}: unknown role {role!r}; roles are {', '.join(access.ROLES)}.")
    nats = tuple(nationalities)
    for nat in nats:
        if not isinstance(nat, str) or not re.fullmatch(r"[A-Z]{3}", nat):
            raise UsersError(f"{who}: nationality {nat!r} is not an ISO 3166-1 alpha-3 code "
                             "(three capital letters, e.g. ETH).")
        if nat not in known_countries():
            raise UsersError(f"{who}: nationality {nat!r} is not a known country code.")
    if role == "consular" and not nats:
        raise UsersError(f"{who}: a consular liaison needs at least one nationality.")
    if role != "consular" and nats:
        raise UsersError(f"{who}: role {role!r} is not scoped by nationality; "
                         "only consular users have nationalities.")
    return role, tuple(sorted(set(nats)))


def _account(username: object, entry: object, where: str) -> Account:
    who = f"{where}, user {username!r}"
    if not isinstance(username, str) or not USERNAME.match(username):
        raise UsersError(f"{who}: a user name is 2 to 64 lower-case letters, digits, '.', '_' "
                         "or '-'.")
    if not isinstance(entry, dict):
        raise UsersError(f"{who}: expected name, role, nationalities and password.")
    nats = entry.get("nationalities") or []
    if not isinstance(nats, list):
        raise UsersError(f"{who}: nationalities must be a list, e.g. [ETH].")
    role, nats = check_scope(str(entry.get("role", "")), nats, who)
    password = entry.get("password")
    if not isinstance(password, str) or not BCRYPT_HASH.match(password):
        raise UsersError(f"{who}: the password must be a bcrypt hash; "
                         "add users with `sitroom users add`.")
    name = entry.get("name") or username
    return Account(username, str(name), role, nats, password)


def load(path: Path) -> dict[str, Account]:
    """Every user of the file at `path`, validated; UsersError names the file and the user."""
    if not path.exists():
        raise UsersError(f"The users file {path} does not exist. Create it with "
                         "`sitroom users add NAME --role ROLE --users FILE`.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsersError(f"The users file {path} is not valid YAML{line}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersError(f"The users file {path} cannot be read ({exc}).") from None
    if data is None:
        data = {"users": {}}
    if not isinstance(data, dict) or not isinstance(data.get("users") or {}, dict):
        raise UsersError(f"The users file {path} must hold a `users:` mapping of user names.")
    accounts = {}
    for username, entry in (data.get("users") or {}).items():
        account = _account(username, entry, f"{path}")
        accounts[account.username] = account
    return accounts


def demo_accounts() -> dict[str, Account]:
    return {name: Account(name, f"Demo {role}", role, nats, _demo_hash(password))
            for name, (role, nats, password) in DEMO_ACCOUNTS.items()}


@functools.cache
def _demo_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def check_password_rules(password: str) -> None:
    if not password:
        raise UsersError("The password is empty.")
    if password != password.strip():
        raise UsersError("The password may not start or end with a space.")
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"The password is too short: use at least {MIN_PASSWORD} characters.")
    if len(password.encode()) > 72:
        raise UsersError("The password is too long: bcrypt uses at most 72 bytes.")


def add(path: Path, username: str, role: str, nationalities: list[str], password: str,
        name: str | None = None) -> Account:
    """Add one user to the file (created if missing), refusing duplicates and bad scopes."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UsersError(f"User name {username!r}: use 2 to 64 lower-case letters, digits, "
                         "'.', '_' or '-'.")
    role, nats = check_scope(role, [n.strip().upper() for n in nationalities],
                             f"user {username!r}")
    check_password_rules(password)
    accounts = load(path) if path.exists() else {}
    if username in accounts:
        raise UsersError(f"User {username!r} already exists in {path}.")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    account = Account(username, name or username, role, nats, hashed)
    accounts[username] = account
    write(path, accounts)
    return account


def write(path: Path, accounts: dict[str, Account]) -> None:
    """Write the file atomically, readable by its owner only (it holds password hashes)."""
    body = {"users": {
        a.username: {"name": a.name, "role": a.role, "nationalities": list(a.nationalities),
                     "password": a.password_hash}
        for a in accounts.values()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(body, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def credentials(accounts: dict[str, Account]) -> dict:
    """A fresh in-memory credentials dict for streamlit-authenticator. The library
    writes into it on every sign-in, so it never gets the users file itself."""
    return {"usernames": {
        a.username: {"name": a.name, "password": a.password_hash, "roles": [a.role],
                     "email": None}
        for a in accounts.values()}}


def listing(accounts: dict[str, Account]) -> list[dict]:
    """Who may sign in, for the admin: never the password hashes."""
    return [{"user": a.username, "name": a.name, "role": a.role,
             "nationalities": ", ".join(a.nationalities)} for a in accounts.values()]
