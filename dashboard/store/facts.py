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
false: what a consular liaison sees person by person) is checked by the reader that
finds it old (its mark, below) and counted again by it if it changed, and served old
only while the database does not answer; read in the second half of its interval, it is
checked in the background beforehand, so that a reader going from page to page seldom
waits for the check.

A fact read with a `mark` (the database's watermark, store.watermark) is counted again
only when the database changed: a refresh that finds the watermark it was counted at
keeps it, at the cost of reading the watermark, and counts it anyway once it is
`recount_after_s` old (a change that broke the writers' rules is then seen too). With
`saved` (store.kept, for every key, or per call to `get`), a fact is kept on disk with
its watermark and taken back from there by the first reader after a restart, instead of
counted, when the database is still at that watermark. Facts of several owners kept in
one folder are told apart by the owner's `name`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dashboard.store.kept import Kept

log = logging.getLogger("sitroom")
# Of the refresh interval: a value that may not be served old, read once it is older
# than this, is checked again in the background (SharedFacts.get).
AHEAD = 0.5
Mark = Callable[[], Hashable]  # reads the database's watermark (store.watermark)


class SharedFacts:
    """Values by key, stale while revalidated. `clock` (seconds, monotonic) is
    injectable so that tests move time instead of sleeping."""

    def __init__(self, refresh_after_s: float = 300, forget_after_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 transient: tuple[type[BaseException], ...] = (),
                 recount_after_s: float = 900, saved: Kept | None = None,
                 name: str | None = None):
        self.name = name
        self.refresh_after_s = refresh_after_s
        self.recount_after_s = recount_after_s
        self.saved = saved
        self.transient = transient
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._threads: list[threading.Thread] = []
        self._values: dict[Hashable, tuple[float, Any]] = {}  # when known current, value
        self._marks: dict[Hashable, tuple[Hashable, float]] = {}  # watermark, when counted
        self._read_at: dict[Hashable, float] = {}
        self._swept_at = clock()
        self._refreshing: set[Hashable] = set()
        self._failed: set[Hashable] = set()
        self._outdated: set[Hashable] = set()  # counted from data since replaced
        self._generation = 0  # how many times everything was outdated
        # keys a thread will find soon (`promise`), and that thread
        self._promised: dict[Hashable, threading.Thread] = {}
        # how to count each key again: its computation, watermark and where it is kept
        self._computes: dict[Hashable, tuple[Callable[[], Any], Mark | None, Kept | None]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        # False in a process that makes one thing and ends (the command line): nothing is
        # found or refreshed in the background there, where it would only take a core
        # from the work the process waits for.
        self.background = True

    def get(self, key: Hashable, compute: Callable[[], Any], stale_ok: bool = True,
            mark: Mark | None = None, saved: Kept | None = None) -> Any:
        saved = saved or self.saved
        with self._lock:
            self._forget_unread()
            self._read_at[key] = self.clock()
            if key in self._failed:
                # the last refresh failed: this reader asks again and is told if it fails
                self._failed.discard(key)
                self._values.pop(key, None)
            hit = self._values.get(key)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
            self._computes[key] = (compute, mark, saved)
            outdated = key in self._outdated
            generation = self._generation
        if hit is None:
            with key_lock:  # two first readers compute it once
                with self._lock:
                    hit = self._values.get(key)
                if hit is None:
                    return self._count(key, compute, mark, generation, saved)
        computed_at, value = hit
        age = self.clock() - computed_at
        if age <= self.refresh_after_s and not outdated:
            if not stale_ok and age > self.refresh_after_s * AHEAD and self.background:
                # Never served old: checked again while it is still fresh, so that its
                # reader one interval on is not the one who waits for the check.
                self._refresh_in_background(key, compute, mark, saved)
            return value
        if stale_ok and not outdated:
            if self.background:
                self._refresh_in_background(key, compute, mark, saved)
            return value
        with key_lock:  # old and not to be served old: this reader computes it again
            with self._lock:
                hit = self._values.get(key, hit)
                outdated = key in self._outdated
                generation = self._generation
            if self.clock() - hit[0] <= self.refresh_after_s and not outdated:
                return hit[1]  # another reader just did
            try:
                return self._count(key, compute, mark, generation, saved)
            except self.transient:
                return hit[1]  # the database does not answer: the last value, said stale

    def _count(self, key: Hashable, compute: Callable[[], Any], mark: Mark | None,
               generation: int, saved: Kept | None, force: bool = False) -> Any:
        """The key's value now: the one it has if the database's watermark is the one it
        was counted at (and it is neither outdated nor due for a recount), else the
        one kept on disk at this watermark, else counted. The watermark is read first:
        a change made while counting is then found by the next refresh."""
        now = None if mark is None else mark()
        if now is not None and not force:
            with self._lock:
                known = self._marks.get(key)
                if (known is not None and known[0] == now and key in self._values
                        and key not in self._outdated
                        and self.clock() - known[1] <= self.recount_after_s):
                    value = self._values[key][1]
                    self._values[key] = (self.clock(), value)
                    return value
                first = key not in self._values
            if first and saved is not None:
                found = saved.load(self._kept_key(key), now)
                if found is not None:
                    self._store(key, found.value, generation, now)
                    return found.value
        value = compute()
        self._store(key, value, generation, now)
        if now is not None and saved is not None:
            saved.save(self._kept_key(key), now, value)
        return value

    def _kept_key(self, key: Hashable) -> Hashable:
        """The key on disk: the owner's name and the key as written (a key may hold
        objects that cannot be kept, such as the Database, whose repr is its address)."""
        return key if self.name is None else (self.name, repr(key))

    def _store(self, key: Hashable, value: Any, generation: int,
               mark: Hashable | None = None) -> None:
        """Keep a value computed from `generation` (at watermark `mark`): up to date only
        if no `outdate` came while it was being computed (it may have read what was
        replaced)."""
        with self._lock:
            self._values[key] = (self.clock(), value)
            if mark is None:
                self._marks.pop(key, None)
            else:
                self._marks[key] = (mark, self.clock())
            if generation == self._generation:
                self._outdated.discard(key)

    def peek(self, key: Hashable, compute: Callable[[], Any],
             mark: Mark | None = None) -> Any | None:
        """The value if there is one (refreshed in the background when old), else
        None, with its first computation started in the background: for facts a
        reader can do without, by another way, while they are being found."""
        with self._lock:
            hit = self._values.get(key)
            self._computes[key] = (compute, mark, self.saved)
            key_lock = self._key_locks.get(key)
        if hit is None and key_lock is not None and key_lock.locked():
            return None  # a reader is finding it (`get`): not found twice at once
        if hit is None and self.promised(key):
            return None  # the one who promised it finds it, after what comes first
        if self.background and (hit is None or self.clock() - hit[0] > self.refresh_after_s):
            self._refresh_in_background(key, compute, mark, self.saved)
        return None if hit is None else hit[1]

    def promise(self, key: Hashable) -> None:
        """Say that `key` will be found soon by this thread (the warm-up, once what
        the pages wait for is counted): until `promise_ended`, or the thread is gone,
        `peek` starts no count of it, which would take the cores from what comes first."""
        with self._lock:
            self._promised[key] = threading.current_thread()

    def promise_ended(self, key: Hashable) -> None:
        """The promise of `key` is over, kept or not: `peek` may count it again."""
        with self._lock:
            self._promised.pop(key, None)

    def get_promised(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`get`, by the thread that made the promise of `key`, which ends with it,
        found or not."""
        try:
            return self.get(key, compute)
        finally:
            self.promise_ended(key)

    def promised(self, key: Hashable) -> bool:
        with self._lock:
            thread = self._promised.get(key)
        return thread is not None and thread.is_alive()

    def _refresh_in_background(self, key: Hashable, compute: Callable[[], Any],
                               mark: Mark | None, saved: Kept | None,
                               force: bool = False) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
            generation = self._generation

        def work() -> None:
            try:
                self._count(key, compute, mark, generation, saved, force)
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

    def has(self, key: Hashable) -> bool:
        """Whether the key has a value (however old), without finding one."""
        with self._lock:
            return key in self._values

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
            self._marks.pop(key, None)
            self._read_at.pop(key, None)
            self._key_locks.pop(key, None)
            self._computes.pop(key, None)

    def expire(self) -> None:
        """Make every value old: served on while each is computed again in the
        background, when next asked for (the data underneath was replaced: counted
        again whatever the watermark says)."""
        with self._lock:
            self._values = {k: (float("-inf"), v) for k, (_, v) in self._values.items()}
            self._marks.clear()

    def outdate(self) -> None:
        """Every value was counted from data since replaced: the next reader of each
        computes it again and waits for it (served old only if the database does not
        answer)."""
        with self._lock:
            self._generation += 1
            self._outdated = set(self._values)

    def refresh_all(self) -> None:
        """Count every value again in the background now, whatever the watermark says,
        serving the old meanwhile (`settle` waits for them)."""
        with self._lock:
            computes = [(k, *how) for k, how in self._computes.items() if k in self._values]
        for key, compute, mark, saved in computes:
            self._refresh_in_background(key, compute, mark, saved, force=True)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._marks.clear()
            self._read_at.clear()
            self._failed.clear()
            self._key_locks.clear()
            self._outdated.clear()
            self._computes.clear()

