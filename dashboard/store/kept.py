"""Shared facts kept on disk between starts, so that a restarted server takes back what
it counted instead of counting a million people again (about a minute).

One file per fact, under SITROOM_HOME/facts/<database>/, holding the fact, the
database's watermark when it was counted (store.watermark), the version of the
code that counted it and a hash of the disclosure secret its counts are keyed by. A
fact is taken back only at the same watermark, by the same code, under the same
secret: anything else is counted again, and the file replaced. The files hold counts
by group, the figures of the roles shown counts alone (store.cache) and the ids of
rows that break the data contract, never a name, a place or a status of a person;
they are written only by the server, readable by its own account alone (0600 in a
0700 folder), beside the audit log. A file not read or written for UNUSED_S is
removed (a figure for a moment long past).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger("sitroom")
UNUSED_S = 2 * 24 * 3600
PACKAGE = Path(__file__).resolve().parent.parent  # dashboard/


@cache
def code_version() -> str:
    """A hash of the dashboard's code: a fact counted by other code is counted again."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def version() -> str:
    """What a kept fact must have been counted under to be taken back: this code, and
    this installation's disclosure secret (config.disclosure_secret; a hash of it, never
    the secret). Counts carry the sums of their rows' keyed record keys (rules.privacy):
    taken back under another secret, they would round the same people otherwise than a
    count read afresh, and the two roundings side by side narrow down the truth."""
    from dashboard import config

    secret = hashlib.sha256(config.disclosure_secret().encode()).hexdigest()[:16]
    return f"{code_version()}:{secret}"


@dataclass(frozen=True)
class Found:
    value: Any


class Kept:
    """The facts of one database kept in `folder`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._pruned = False

    def _path(self, key: Hashable) -> Path:
        return self.folder / (hashlib.sha256(repr(key).encode()).hexdigest()[:32] + ".pickle")

    def load(self, key: Hashable, mark: Hashable) -> Found | None:
        """The fact kept for `key` if it was counted at `mark` by this code under this
        disclosure secret (`version`), else None (missing, older, unreadable: the
        caller counts it)."""
        path = self._path(key)
        try:
            with path.open("rb") as f:
                counted_by, kept_key, kept_mark, value = pickle.load(f)  # noqa: S301 (our own file)
        except FileNotFoundError:
            return None
        except Exception as exc:  # a file cut short by a crash: counted again, and rewritten
            log.warning("the kept fact %s could not be read (%s); counting it again", path, exc)
            return None
        if (counted_by, kept_key, kept_mark) != (version(), key, mark):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used: not pruned
        return Found(value)

    def save(self, key: Hashable, mark: Hashable, value: Any) -> None:
        """Keep `value`, counted at `mark`; a failure is logged, never raised (the
        fact is then counted again at the next start)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, partial = tempfile.mkstemp(dir=self.folder, suffix=".partial")  # 0600
        except OSError as exc:
            log.warning("the fact %r could not be kept in %s: %s", key, self.folder, exc)
            return
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((version(), key, mark, value), f,
                            protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, self._path(key))  # readers see the old file or the new
        except Exception as exc:
            Path(partial).unlink(missing_ok=True)
            log.warning("the fact %r could not be kept in %s: %s", key, self.folder, exc)
        if not self._pruned:  # once a process: the files of figures nobody asks for
            self._pruned = True
            self.prune(time.time() - UNUSED_S)

    def prune(self, before: float) -> None:
        """Remove the files last used before `before` (seconds since the epoch)."""
        for path in self.folder.glob("*.pickle"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < before:
                    path.unlink()


def for_database(address: str) -> Kept | None:
    """Where one database's facts are kept (SITROOM_FACTS_DIR, by a hash of its address
    without password), or None where none are kept."""
    from dashboard import config

    setting = config.get("SITROOM_FACTS_DIR")
    if setting.strip().lower() == "off":
        return None
    root = Path(setting) if setting else config.home() / "facts"
    return Kept(root / hashlib.sha256(address.encode()).hexdigest()[:16])
