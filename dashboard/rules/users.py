"""The users file: who may sign in, with which role and nationalities.

A YAML file kept outside git (SITROOM_USERS, by default users.yaml in
SITROOM_HOME), managed with `sitroom users add`. Passwords are stored only as
bcrypt hashes. The file is validated as a whole when it is read: a user with an
unknown role or nationality, a user name written twice (YAML would silently keep
the last), or a name too long refuses the whole file, by name and line, rather
than signing someone in with a scope nobody meant to give.

    users:
      amira:
        name: Amira Haddad
        role: consular
        nationalities: [ETH, ERI]
        language: fr           # optional: the language she reads first (else the server's)
        password: $2b$12$...
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import bcrypt
import yaml

from dashboard import config, language
from dashboard.language import _
from dashboard.rules import access

MAX_USERNAME = 64
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")  # always with fullmatch
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")  # always with fullmatch
MIN_PASSWORD = 10
MAX_FULL_NAME = 100

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
    language: str | None = None  # the user's own default; None: the server's (SITROOM_LANGUAGE)


def is_username(name: object) -> TypeGuard[str]:
    """A name that could belong to a user (checked before anything else is done with it)."""
    return isinstance(name, str) and bool(USERNAME.fullmatch(name))


def shown(value: object, limit: int = 40) -> str:
    """A value for a message: its repr, cut short if long, so that a 200,000-character
    user name is named without being repeated."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:limit]}…{size}"


def check_full_name(name: object, who: str) -> str:
    """The full name shown beside a user's name: plain text, one line, not too long."""
    if not isinstance(name, str):
        raise UsersError(_("{who}: the full name must be text.").format(who=who))
    if len(name) > MAX_FULL_NAME:
        raise UsersError(_("{who}: the full name may be at most {limit} characters.").format(
            who=who, limit=MAX_FULL_NAME))
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise UsersError(_("{who}: the full name may not hold line breaks or other control "
                           "characters.").format(who=who))
    return name


@functools.cache
def known_countries() -> frozenset[str]:
    with open(config.DATA_DIR / "countries.csv", newline="", encoding="utf-8") as f:
        return frozenset(row["iso3"] for row in csv.DictReader(f))


def check_scope(role: str, nationalities: list[str] | tuple[str, ...], who: str) -> tuple:
    """The role and nationalities of one user, or a UsersError naming `who`."""
    if len(who) > 200:  # a message names the user; it never repeats a huge input
        who = who[:160] + "…"
    if role not in access.ROLES:
        raise UsersError(_("{who}: unknown role {role}; roles are {roles}.").format(
            who=who, role=repr(role), roles=", ".join(access.ROLES)))
    nats = tuple(nationalities)
    for nat in nats:
        if not isinstance(nat, str) or not re.fullmatch(r"[A-Z]{3}", nat):
            raise UsersError(_("{who}: nationality {code} is not an ISO 3166-1 alpha-3 code "
                               "(three capital letters, e.g. ETH).").format(who=who,
                                                                          code=repr(nat)))
        if nat not in known_countries():
            raise UsersError(_("{who}: nationality {code} is not a known country code.").format(
                who=who, code=repr(nat)))
    if role == "consular" and not nats:
        raise UsersError(_("{who}: a consular liaison needs at least one nationality.").format(
            who=who))
    if role != "consular" and nats:
        raise UsersError(_("{who}: role {role} is not scoped by nationality; only consular "
                           "users have nationalities.").format(who=who, role=repr(role)))
    return role, tuple(sorted(set(nats)))


def _account(username: object, entry: object, where: str) -> Account:
    # Translators: {where} is the users file, {user} a user name as written in it
    who = _("{where}, user {user}").format(where=where, user=shown(username))
    if not is_username(username):
        raise UsersError(_("{who}: a user name is 2 to {limit} lower-case letters, digits, "
                           "'.', '_' or '-'.").format(who=who, limit=MAX_USERNAME))
    if not isinstance(entry, dict):
        raise UsersError(_("{who}: expected name, role, nationalities and password.").format(
            who=who))
    nats = entry.get("nationalities") or []
    if not isinstance(nats, list):
        raise UsersError(_("{who}: nationalities must be a list, e.g. [ETH].").format(who=who))
    role, nats = check_scope(str(entry.get("role", "")), nats, who)
    password = entry.get("password")
    if not isinstance(password, str) or not BCRYPT_HASH.fullmatch(password):
        raise UsersError(_("{who}: the password must be a bcrypt hash; add users with "
                           "`sitroom users add`.").format(who=who))
    name = check_full_name(entry.get("name") or username, who)
    return Account(username, name, role, nats, password, _language(entry.get("language"), who))


def _language(code: object, who: str) -> str | None:
    if code is None:
        return None
    if not isinstance(code, str) or code.strip().lower() not in language.LANGUAGES:
        raise UsersError(_("{who}: language {code} is not one Situation Room speaks; use one "
                           "of {languages}.").format(who=who, code=shown(code),
                                                     languages=", ".join(language.LANGUAGES)))
    return code.strip().lower()


class _Twice(yaml.YAMLError):
    """A key written twice in one mapping of the users file."""

    def __init__(self, key: object, first: int, second: int):
        super().__init__(f"{key!r} at lines {first} and {second}")
        self.key, self.first, self.second = key, first, second


# On libyaml's parser when PyYAML was built with it (many times faster), else its own.
class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that refuses a key written twice in one mapping: PyYAML would keep the
    last one, so a second `amira:` further down would quietly replace the first."""


def _no_key_twice(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    lines: dict = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = lines.get(key)
        except TypeError:  # an unhashable key: the constructor below says so
            continue
        if first is not None:
            raise _Twice(key, first, key_node.start_mark.line + 1)
        lines[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_key_twice)


def load(path: Path) -> dict[str, Account]:
    """Every user of the file at `path`, validated; UsersError names the file and the user.

    Every run of every page reads the file again (a user removed from it is signed out
    at once), so the accounts of the file's last contents are kept and given again
    while its bytes are the same: a change to the file is seen by the next read."""
    if not path.exists():
        raise UsersError(_("The users file {path} does not exist. Create it with "
                           "`sitroom users add NAME --role ROLE --users FILE`.").format(
                               path=path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsersError(_("The users file {path} cannot be read ({problem}).").format(
            path=path, problem=exc)) from None
    digest = hashlib.sha256(raw).hexdigest()
    kept = _LOADED.get(str(path))
    if kept is not None and kept[0] == digest:
        return dict(kept[1])
    accounts = _parse(path, raw)
    _LOADED[str(path)] = (digest, accounts)
    return dict(accounts)


_LOADED: dict[str, tuple[str, dict[str, Account]]] = {}  # path -> (sha256 of its bytes, users)


def _parse(path: Path, raw: bytes) -> dict[str, Account]:
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)
    except _Twice as twice:
        raise UsersError(_("The users file {path} names {key} twice, at line {first} and at "
                           "line {second}: keep one.").format(
                               path=path, key=shown(twice.key), first=twice.first,
                               second=twice.second)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise UsersError(_("The users file {path} is not valid YAML.").format(
                path=path)) from None
        raise UsersError(_("The users file {path} is not valid YAML at line {line}.").format(
            path=path, line=mark.line + 1)) from None
    except UnicodeDecodeError as exc:
        raise UsersError(_("The users file {path} cannot be read ({problem}).").format(
            path=path, problem=exc)) from None
    if data is None:
        data = {"users": {}}
    if not isinstance(data, dict) or not isinstance(data.get("users") or {}, dict):
        raise UsersError(_("The users file {path} must hold a `users:` mapping of user "
                           "names.").format(path=path))
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
        name: str | None = None, language: str | None = None) -> Account:
    """Add one user to the file (created if missing), refusing duplicates and bad scopes."""
    username = username.strip().lower()
    if not is_username(username):
        raise UsersError(f"User name {shown(username)}: use 2 to {MAX_USERNAME} lower-case "
                         "letters, digits, '.', '_' or '-'.")
    role, nats = check_scope(role, [n.strip().upper() for n in nationalities],
                             f"user {username!r}")
    full_name = check_full_name(name or username, f"user {username!r}")
    chosen = _language(language, f"user {username!r}")
    check_password_rules(password)
    accounts = load(path) if path.exists() else {}
    if username in accounts:
        raise UsersError(f"User {username!r} already exists in {path}.")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    account = Account(username, full_name, role, nats, hashed, chosen)
    accounts[username] = account
    write(path, accounts)
    return account


def write(path: Path, accounts: dict[str, Account]) -> None:
    """Write the file atomically, readable by its owner only (it holds password hashes)."""
    body = {"users": {
        a.username: {"name": a.name, "role": a.role, "nationalities": list(a.nationalities),
                     "password": a.password_hash,
                     **({"language": a.language} if a.language else {})}
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
