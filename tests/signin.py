"""Helpers for tests that sign in: a users file made with the `sitroom users add`
command, and the sign-in form driven through AppTest."""

from __future__ import annotations

import io
import secrets
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard import language
from dashboard.tools import cli

# role -> (user name, password, nationalities)
ACCOUNTS = {
    "committee": ("chair", "committee-pass-1", ()),
    "consular": ("liaison", "consular-pass-1", ("ETH",)),
    "coordinator": ("coord", "coordinator-pass-1", ()),
    "admin": ("dpo", "admin-pass-123", ()),
}
# A random key per run: a key written in the repo would be a published key, refused.
COOKIE_KEY = secrets.token_urlsafe(32)


def add_user(users_file: Path, name: str, password: str, role: str,
             nationalities: tuple[str, ...] = (), language: str | None = None
             ) -> tuple[int, str]:
    """Run `sitroom users add` with the password on standard input; (exit code, stderr)."""
    argv = ["users", "add", name, "--role", role, "--users", str(users_file)]
    for nat in nationalities:
        argv += ["--nationality", nat]
    if language is not None:
        argv += ["--language", language]
    old_in, old_err = sys.stdin, sys.stderr
    sys.stdin, sys.stderr = io.StringIO(password + "\n"), io.StringIO()
    try:
        code = cli.main(argv)
        return code, sys.stderr.getvalue()
    finally:
        sys.stdin, sys.stderr = old_in, old_err


def make_users_file(folder: Path) -> Path:
    path = folder / "users.yaml"
    for role, (name, password, nats) in ACCOUNTS.items():
        code, err = add_user(path, name, password, role, nats)
        assert code == 0, err
    return path


def use_users(monkeypatch, users_file: Path, cookie_key: str = COOKIE_KEY) -> None:
    monkeypatch.setenv("SITROOM_USERS", str(users_file))
    monkeypatch.setenv("SITROOM_COOKIE_KEY", cookie_key)


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill the form as it reads in the server's language (SITROOM_LANGUAGE)."""
    def said(english: str) -> str:
        return language.gettext(english)

    next(t for t in at.text_input if t.label == said("User name")).input(username)
    next(t for t in at.text_input if t.label == said("Password")).input(password)
    next(b for b in at.button if b.label == said("Sign in")).click()
    return at.run()


def sign_in_as(at: AppTest, role: str) -> AppTest:
    name, password, _ = ACCOUNTS[role]
    return sign_in(at, name, password)
