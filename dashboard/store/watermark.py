"""Whether the shared database changed, found in a few milliseconds at a million persons:
its watermark. A shared fact counted at one watermark is still right at the same one,
so a refresh that finds the watermark unchanged keeps the fact instead of counting it
again (store.facts), and a fact kept between starts is taken back when the watermark
it was counted at is the database's (store.kept).

What it reads follows the rules for writers (docs/data-contract.md, "Current state
and its history"):

- the big tables: the greatest id, which an insert moves; and for those whose rows
  may be deleted (persons, their vulnerabilities, referrals, evacuation cases), the
  row count, which a delete moves. A history is append-only: its rows are never
  updated or deleted, and counting them cost PostgreSQL half a second a reading at a
  million people, read up to once a second while pages run;
- persons: the latest change time per scenario (`updated_at`, which writers set on
  every change, consent and protection included), read from its index;
- the small tables (scenarios, areas, facilities, movements, …): every row, hashed, so
  that a capacity or a status edited in place is seen too.

A change that breaks those rules (a person updated without its change time, a history
row deleted) is caught by the recount every fact gets anyway (SharedFacts.recount_after_s).

On PostgreSQL the row counts cost 0.10-0.17 s a reading at a million people, and a
page visit asked for one: first, then, the database's current snapshot (SNAPSHOT),
which says which transactions have committed. While it is the one the last reading
was taken after, no change can have committed since, and that reading still holds:
one statement of a millisecond instead of the counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd

BIG = ("persons", "person_events", "person_vulnerabilities", "facility_occupancy", "referrals",
       "referral_events", "evacuation_cases", "evacuation_events")
SMALL = ("scenarios", "countries", "areas", "facilities", "movements", "consular_posts",
         "hazards", "drill_injects")
WITH_ID = {"persons", "person_events", "facility_occupancy", "referrals", "referral_events",
           "evacuation_cases", "evacuation_events"}
COUNTED = {"persons", "person_vulnerabilities", "referrals", "evacuation_cases"}  # may lose rows
FRESH_S = 1.0  # one reading serves every fact refreshed within this time
# PostgreSQL's snapshot: the first transaction id not yet given out, and those still
# under way below it. Equal twice, no transaction has ended between: every row reads
# the same. (Any transaction of the server, in any database, moves it: at worst a
# reading taken whole for nothing.)
SNAPSHOT = "SELECT CAST(pg_current_snapshot() AS text) AS snapshot"
# a reading held for the whole of one count (Watermarks.held), and whose it is
_held: ContextVar[tuple[Watermarks, Hashable] | None] = ContextVar("held_watermark",
                                                                    default=None)


def statement_of_big() -> str:
    parts = []
    for table in BIG:
        if table in COUNTED:
            parts.append(f"(SELECT COUNT(*) FROM {table}) AS {table}_n")
        if table in WITH_ID:
            parts.append(f"(SELECT MAX(id) FROM {table}) AS {table}_id")
    return "SELECT " + ", ".join(parts)


# Per scenario, so that the index on (scenario_id, updated_at) answers each in a step.
PERSONS_CHANGED = ("SELECT s.id, (SELECT MAX(p.updated_at) FROM persons p "
                   "WHERE p.scenario_id = s.id) AS changed FROM scenarios s ORDER BY s.id")


def digest(frame: pd.DataFrame) -> int:
    """A hash of every value of a small table, whatever the order of its rows (the sum
    of the rows' hashes)."""
    return int(pd.util.hash_pandas_object(frame, index=False).sum())


def read(run: Callable[[str], pd.DataFrame]) -> tuple:
    """The watermark, read with `run` (a statement → its rows)."""
    big = run(statement_of_big()).iloc[0]
    changed = run(PERSONS_CHANGED)
    small = tuple(digest(run(f"SELECT * FROM {table}")) for table in SMALL)
    return (tuple(None if pd.isna(v) else int(v) for v in big),
            tuple(map(str, changed.itertuples(index=False, name=None))), small)


class Recent:
    """Readings by key, each taken at most once every FRESH_S seconds however many ask
    (a page's run asks once for each of its figures)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._last: dict[Hashable, tuple[float, Hashable]] = {}

    def reading(self, key: Hashable, read: Callable[[], Hashable]) -> Hashable:
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # the others wait for the one reading under way, then share it
            last = self._last.get(key)
            if last is not None and self.clock() - last[0] < FRESH_S:
                return last[1]
            value = read()
            self._last[key] = (self.clock(), value)
            return value

    def forget(self) -> None:
        """Read afresh next time (the database's file was replaced)."""
        with self._lock:
            self._last.clear()


class Watermarks(Recent):
    """The watermark of one database, read with `run`; where the database can say which
    transactions have committed (`snapshot`, None when it cannot), read whole only
    once one has since the last reading."""

    def __init__(self, run: Callable[[str], pd.DataFrame],
                 clock: Callable[[], float] = time.monotonic,
                 snapshot: Callable[[], str | None] | None = None):
        super().__init__(clock)
        self.run = run
        self.snapshot = snapshot
        # the last reading taken whole, and the snapshot read before it
        self._last_whole: tuple[str, Hashable] | None = None

    def __call__(self) -> Hashable:
        held = _held.get()
        if held is not None and held[0] is self:
            return held[1]
        return self.reading("database", self._read)

    def _read(self) -> Hashable:
        # The snapshot first: a transaction that ends while the reading is taken changes
        # the next snapshot, and the next reading is taken whole.
        before = self.snapshot() if self.snapshot is not None else None
        if before is not None and self._last_whole is not None and self._last_whole[0] == before:
            return self._last_whole[1]
        value = read(self.run)
        self._last_whole = None if before is None else (before, value)
        return value

    def forget(self) -> None:
        super().forget()
        self._last_whole = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """One reading for every fact counted inside this block, and in the calls it
        gathers (a context variable follows them): for the first count after a start,
        whose facts, read one after another for several seconds at a million people,
        would each read it again once FRESH_S is past. Still right: every fact is
        stamped with a watermark read before it was counted, so a change made meanwhile
        is found by its next refresh."""
        token = _held.set((self, self()))
        try:
            yield
        finally:
            _held.reset(token)
