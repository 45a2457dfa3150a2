"""The dashboard's own files: the only places it writes (docs/design.md §2.8).

The audit log, the sign-in store (failed sign-ins, revoked sessions) and the
committee's meetings each live in a small SQLite file beside the users file, never
in the shared read-only database. They are opened the same way here: the file
created readable by its owner alone (0600; SQLite gives its WAL files the same
mode), WAL mode so that readers never wait for a writer, the schema applied on
every connection (`CREATE ... IF NOT EXISTS`), one short transaction at a time per
file in this process, written back into the file when it ends (a checkpoint). The
connection stays open for the next transaction while the path names the same file:
opening, setting up and closing one for each line made a page view's audit line take
about 50 ms while other threads kept the interpreter busy (a third of that kept open).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OWNER_ONLY = 0o600
KEEP_OPEN = 8  # connections kept open, one per file


class OwnFile:
    """One of the dashboard's own SQLite files, with its schema. Failures of the file
    (it cannot be created, read or written) raise sqlite3.Error or OSError, which each
    user of the file turns into its own message for the reader."""

    _locks: dict[Path, threading.Lock] = {}
    _locks_lock = threading.Lock()
    # by path: the open connection and the file it opened (device, inode); a connection
    # is used under its path's lock, the dict changed under _locks_lock
    _open: dict[Path, tuple[sqlite3.Connection, tuple[int, int]]] = {}

    def __init__(self, path: Path, schema: str):
        self.path = Path(path)
        self.schema = schema

    @staticmethod
    def _lock(key: Path) -> threading.Lock:
        with OwnFile._locks_lock:
            return OwnFile._locks.setdefault(key, threading.Lock())

    def _identity(self) -> tuple[int, int]:
        found = os.stat(self.path)
        return found.st_dev, found.st_ino

    def create(self) -> None:
        """Create the file, readable by its owner alone, if it does not exist yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, OWNER_ONLY)
        os.close(fd)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short transaction, committed when the block ends (rolled back if it
        raises). A file removed or replaced since the last one is opened afresh, and
        so is one whose last transaction failed."""
        key = self.path.resolve()
        with self._lock(key):
            conn = self._connection(key)
            try:
                with conn:
                    yield conn
                # written back into the file at once: a copy of the file alone (a
                # backup, a rotation) holds every line, as when each connection closed
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except BaseException:
                with OwnFile._locks_lock:
                    OwnFile._open.pop(key, None)
                conn.close()
                raise

    def _connection(self, key: Path) -> sqlite3.Connection:
        with OwnFile._locks_lock:
            kept = OwnFile._open.pop(key, None)
        try:
            current = self._identity()
        except OSError:
            current = None
        if kept is not None:
            if kept[1] == current:
                with OwnFile._locks_lock:
                    OwnFile._open[key] = kept
                return kept[0]
            kept[0].close()
        self.create()
        self._close_others(key)
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(self.schema)
            identity = self._identity()
        except BaseException:
            conn.close()
            raise
        with OwnFile._locks_lock:
            OwnFile._open[key] = (conn, identity)
        return conn

    @staticmethod
    def _close_others(key: Path) -> None:
        """Close connections of other files beyond KEEP_OPEN (a server has three; a test
        run opens hundreds), each under its own file's lock, if no one holds it."""
        with OwnFile._locks_lock:
            others = [k for k in OwnFile._open if k != key]
            for other in others[:max(0, len(others) + 1 - KEEP_OPEN)]:
                lock = OwnFile._locks[other]
                if lock.acquire(blocking=False):
                    try:
                        OwnFile._open.pop(other)[0].close()
                    finally:
                        lock.release()

    def exists(self) -> bool:
        return self.path.exists()
