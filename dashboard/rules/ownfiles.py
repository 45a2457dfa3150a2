"""The dashboard's own files: the only places it writes (docs/design.md §2.8).

The audit log, the sign-in store (failed sign-ins, revoked sessions) and the
committee's meetings each live in a small SQLite file beside the users file, never
in the shared read-only database. They are opened the same way here: the file
created readable by its owner alone (0600; SQLite gives its WAL files the same
mode), WAL mode so that readers never wait for a writer, the schema applied on
every connection (`CREATE ... IF NOT EXISTS`), one short transaction at a time per
file in this process, and the connection closed afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OWNER_ONLY = 0o600


class OwnFile:
    """One of the dashboard's own SQLite files, with its schema. Failures of the file
    (it cannot be created, read or written) raise sqlite3.Error or OSError, which each
    user of the file turns into its own message for the reader."""

    _locks: dict[Path, threading.Lock] = {}
    _locks_lock = threading.Lock()

    def __init__(self, path: Path, schema: str):
        self.path = Path(path)
        self.schema = schema

    def _lock(self) -> threading.Lock:
        key = self.path.resolve()
        with OwnFile._locks_lock:
            return OwnFile._locks.setdefault(key, threading.Lock())

    def create(self) -> None:
        """Create the file, readable by its owner alone, if it does not exist yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, OWNER_ONLY)
        os.close(fd)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short transaction, committed when the block ends (rolled back if it
        raises), on a connection closed afterwards."""
        with self._lock():
            self.create()
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(self.schema)
                with conn:
                    yield conn
            finally:
                conn.close()

    def exists(self) -> bool:
        return self.path.exists()
