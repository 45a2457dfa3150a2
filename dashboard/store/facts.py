"""Facts that every viewer shares and that are slow to find at a million rows
(which rows break the data contract), kept in the process and refreshed in the
background: stale-while-revalidate.

Readers get the last value at once; when it is older than `refresh_after_s`,
one background thread recomputes it. Only the very first computation for a
key makes a reader wait, and app.py starts those at startup (warm_up).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger("sitroom")


class SharedFacts:
    """Values by key, stale while revalidated. `clock` (seconds, monotonic) is
    injectable so that tests move time instead of sleeping."""

    def __init__(self, refresh_after_s: float = 300, forget_after_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.refresh_after_s = refresh_after_s
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._threads: list[threading.Thread] = []
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._read_at: dict[Hashable, float] = {}
        self._swept_at = clock()
        self._refreshing: set[Hashable] = set()
        self._failed: set[Hashable] = set()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            self._forget_unread()
            self._read_at[key] = self.clock()
            if key in self._failed:
                # the last refresh failed: this reader asks again and is told if it fails
                self._failed.discard(key)
                self._values.pop(key, None)
            hit = self._values.get(key)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        if hit is None:
            with key_lock:  # two first readers compute it once
                with self._lock:
                    hit = self._values.get(key)
                if hit is None:
                    value = compute()
                    with self._lock:
                        self._values[key] = (self.clock(), value)
                    return value
        computed_at, value = hit
        if self.clock() - computed_at > self.refresh_after_s:
            self._refresh_in_background(key, compute)
        return value

    def peek(self, key: Hashable, compute: Callable[[], Any]) -> Any | None:
        """The value if there is one (refreshed in the background when old), else
        None, with its first computation started in the background: for facts a
        reader can do without, by another way, while they are being found."""
        with self._lock:
            hit = self._values.get(key)
        if hit is None or self.clock() - hit[0] > self.refresh_after_s:
            self._refresh_in_background(key, compute)
        return None if hit is None else hit[1]

    def _refresh_in_background(self, key: Hashable, compute: Callable[[], Any]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def work() -> None:
            try:
                value = compute()
                with self._lock:
                    self._values[key] = (self.clock(), value)
            except Exception:  # keep serving the last value; say why in the log
                log.exception("refreshing %r failed", key)
                with self._lock:
                    self._failed.add(key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        thread = threading.Thread(target=work, name=f"refresh-{key}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def settle(self, timeout_s: float = 30) -> None:
        """Wait for the refreshes under way to end (tests, and benchmarks)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)

    def _forget_unread(self) -> None:
        """Drop values nobody asked for in forget_after_s (called under the lock)."""
        now = self.clock()
        if self.forget_after_s is None or now - self._swept_at < self.refresh_after_s:
            return
        self._swept_at = now
        for key in [k for k, t in self._read_at.items() if now - t > self.forget_after_s]:
            self._values.pop(key, None)
            self._read_at.pop(key, None)
            self._key_locks.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._read_at.clear()
            self._failed.clear()
            self._key_locks.clear()

