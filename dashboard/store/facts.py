"""Facts that every viewer shares and that are slow to find at a million rows
(which rows break the data contract), kept in the process and refreshed in the
background: stale-while-revalidate.

Readers get the last value at once; when it is older than `refresh_after_s`,
one background thread recomputes it. Only the very first computation for a
key makes a reader wait, and app.py starts those at startup (warm_up).

When the database stops answering (an error of a `transient` kind), the last value
is served on, however old, and every reader that finds it old starts another try in
the background, so that the value comes back by itself within one refresh interval
of the database answering again. A value that may not be served old (`stale_ok`
false: what a consular liaison sees person by person) is computed again by the
reader that finds it old, and served old only while the database does not answer.
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
                 clock: Callable[[], float] = time.monotonic,
                 transient: tuple[type[BaseException], ...] = ()):
        self.refresh_after_s = refresh_after_s
        self.transient = transient
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._threads: list[threading.Thread] = []
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._read_at: dict[Hashable, float] = {}
        self._swept_at = clock()
        self._refreshing: set[Hashable] = set()
        self._failed: set[Hashable] = set()
        self._outdated: set[Hashable] = set()  # counted from data since replaced
        self._generation = 0  # how many times everything was outdated
        self._computes: dict[Hashable, Callable[[], Any]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        # False in a process that makes one thing and ends (the command line): nothing is
        # found or refreshed in the background there, where it would only take a core
        # from the work the process waits for.
        self.background = True

    def get(self, key: Hashable, compute: Callable[[], Any], stale_ok: bool = True) -> Any:
        with self._lock:
            self._forget_unread()
            self._read_at[key] = self.clock()
            if key in self._failed:
                # the last refresh failed: this reader asks again and is told if it fails
                self._failed.discard(key)
                self._values.pop(key, None)
            hit = self._values.get(key)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
            self._computes[key] = compute
            if key in self._outdated:
                stale_ok = False
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
        if self.clock() - computed_at <= self.refresh_after_s and stale_ok:
            return value
        if stale_ok:
            if self.background:
                self._refresh_in_background(key, compute)
            return value
        with key_lock:  # old and not to be served old: this reader computes it again
            with self._lock:
                hit = self._values.get(key, hit)
                outdated = key in self._outdated
                generation = self._generation
            if self.clock() - hit[0] <= self.refresh_after_s and not outdated:
                return hit[1]  # another reader just did
            try:
                value = compute()
            except self.transient:
                return hit[1]  # the database does not answer: the last value, said stale
            self._store(key, value, generation)
            return value

    def _store(self, key: Hashable, value: Any, generation: int) -> None:
        """Keep a value computed from `generation`: up to date only if no `outdate`
        came while it was being computed (it may have read what was replaced)."""
        with self._lock:
            self._values[key] = (self.clock(), value)
            if generation == self._generation:
                self._outdated.discard(key)

    def peek(self, key: Hashable, compute: Callable[[], Any]) -> Any | None:
        """The value if there is one (refreshed in the background when old), else
        None, with its first computation started in the background: for facts a
        reader can do without, by another way, while they are being found."""
        with self._lock:
            hit = self._values.get(key)
            self._computes[key] = compute
        if self.background and (hit is None or self.clock() - hit[0] > self.refresh_after_s):
            self._refresh_in_background(key, compute)
        return None if hit is None else hit[1]

    def _refresh_in_background(self, key: Hashable, compute: Callable[[], Any]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        with self._lock:
            generation = self._generation

        def work() -> None:
            try:
                self._store(key, compute(), generation)
            except self.transient as exc:  # keep serving the last value; try again later
                log.warning("refreshing %r failed: %s", key, exc)
            except Exception:  # keep serving the last value; say why in the log
                log.exception("refreshing %r failed", key)
                with self._lock:
                    self._failed.add(key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        thread = threading.Thread(target=work, name=f"refresh-{key}", daemon=True)
        with self._lock:  # started before settle() can see it (it joins what it sees)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

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
            self._computes.pop(key, None)

    def expire(self) -> None:
        """Make every value old: served on while each is computed again in the
        background, when next asked for (the data underneath was replaced)."""
        with self._lock:
            self._values = {k: (float("-inf"), v) for k, (_, v) in self._values.items()}

    def outdate(self) -> None:
        """Every value was counted from data since replaced: the next reader of each
        computes it again and waits for it (served old only if the database does not
        answer)."""
        with self._lock:
            self._generation += 1
            self._outdated = set(self._values)

    def refresh_all(self) -> None:
        """Compute every value again in the background now, serving the old meanwhile
        (`settle` waits for them)."""
        with self._lock:
            computes = [(k, c) for k, c in self._computes.items() if k in self._values]
        for key, compute in computes:
            self._refresh_in_background(key, compute)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._read_at.clear()
            self._failed.clear()
            self._key_locks.clear()
            self._outdated.clear()
            self._computes.clear()

