"""What the server finds once at start, in the background, so that no reader
waits for it: the facts every viewer shares and that read whole tables. A restarted
server takes them back from disk when the database has not changed (store.kept): a
second or so. Counting them afresh takes about a minute at a million people, of
which the current tallies, all a page needs to show the latest data, take some
seconds: until those are ready, pages say so (`counting`) instead of leaving the
reader before a blank page; an earlier moment asked before the history is found is
read from the tables, or said to be still read."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dashboard.contract.schema import SchemaMismatch
from dashboard.figures import demography, evacuation, geo, overview, quality, scenarios, tallies
from dashboard.rules.access import whole_scenario
from dashboard.store.db import Database, DatabaseUnavailable, every_core, url_key

log = logging.getLogger("sitroom")
BACKGROUND_NICE = 10  # of 19: a page run gets about ten times its share of a busy core
READERS_FIRST_S = 5.0  # the longest the warm-up waits, after the first count, for readers
DRAWN_S = 1.5  # after the last page run: the reader's browser draws what it was sent
_lock = threading.Lock()
# by URL: the Database being warmed up, and the thread doing it
_started: dict[str, tuple[Database, threading.Thread]] = {}
_first_counted: set[str] = set()  # the URLs whose warm-up is past its first count


@dataclass
class _Runs:
    under_way: int = 0
    began_at: float = -math.inf  # the last one's (time.monotonic)
    ended_at: float = -math.inf


# by URL: the page runs reading it (`page_run`)
_runs: dict[str, _Runs] = {}


def start(database: Database) -> None:
    """`warm_up` every scenario of the database, as soon as the server starts
    (components/server.py) and again at each page run (app.py; once per database).
    A database that cannot be read is left to the page run, which says why."""
    try:
        ids = [s.id for s in scenarios.list_scenarios(database)]
    except (DatabaseUnavailable, SchemaMismatch):
        return
    if ids:  # else a later run, once a scenario is imported
        warm_up(database, ids)


def warm_up(database: Database, scenario_ids: list[int]) -> None:
    """Start finding every scenario's shared facts in a background thread, once
    per database per process (`start` calls this, at the server's start and on every
    page run)."""
    def each_scenario(find: Callable[[Database, int], object],
                      ids: list[int] = scenario_ids) -> None:
        for scenario_id in ids:
            try:
                find(database, scenario_id)
            except Exception:  # a reader will meet the same problem and be told
                log.exception("warming up scenario %s failed", scenario_id)

    def work() -> None:
        # the first scenario's current tallies first (the one a reader lands on, live
        # scenarios first), which the first page waits for: on both cores, as nothing
        # is served before them; then, once the readers who waited have their pages,
        # the rest, on one, below the page runs
        each_scenario(tallies.history_comes_next)
        each_scenario(demography.groups_come_later)
        counting_since = time.monotonic()
        each_scenario(first_count, scenario_ids[:1])
        with _lock:
            _first_counted.add(database.url)
        readers_first(database.url, counting_since)
        background_priority()
        each_scenario(first_count, scenario_ids[1:])
        each_scenario(tallies.find_history)
        each_scenario(find_shared_facts)

    with _lock:
        if database.url in _started:
            return
        thread = threading.Thread(target=work, name="warm-up", daemon=True)
        _started[database.url] = (database, thread)
        thread.start()


@contextmanager
def page_run(url: str) -> Iterator[None]:
    """Mark a page run reading `url` as under way (app.py, around every run), for
    `readers_first`."""
    with _lock:
        runs = _runs.setdefault(url_key(url), _Runs())
        runs.under_way += 1
        runs.began_at = time.monotonic()
    try:
        yield
    finally:
        with _lock:
            runs.under_way -= 1
            runs.ended_at = time.monotonic()


def readers_first(url: str, counting_since: float) -> None:
    """After the first count, let the readers who came during it have their pages
    first: while a page run is under way, until one has ended since the count (a
    reader shown the notice that it is under way is sent the page a moment later), and
    for DRAWN_S after (their browsers draw it); READERS_FIRST_S at most. What comes
    next, the history first, reads whole tables at the database's full priority (PostgreSQL's
    processes are not this thread, which gives way to page runs): beside the first
    page after a start it held that page up by about a second at a million people.
    With no reader come, it goes on at once."""
    counted_at = time.monotonic()
    deadline = counted_at + READERS_FIRST_S
    with _lock:
        runs = _runs.get(url, _Runs())
        if runs.under_way == 0 and runs.began_at < counting_since:
            return
    while time.monotonic() < deadline:
        with _lock:
            served = (runs.under_way == 0 and runs.ended_at >= counted_at
                      and time.monotonic() - runs.ended_at >= DRAWN_S)
        if served:
            return
        time.sleep(0.05)


def background_priority() -> None:
    """Lower this thread's CPU priority (and that of the threads it starts): what no
    reader waits for gives way to page runs, and to the reader's browser when it runs
    on the same machine. Linux schedules threads one by one; elsewhere, nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass


def first_count(database: Database, scenario_id: int) -> None:
    """What the first page after a start, the Overview, reads: the current tallies and
    what they are compared with (on both cores), and who the people are now. Found
    first, while the reader signs in, at one reading of the database's watermark (at a
    million people one taken whole costs PostgreSQL 0.1-0.2 s, as the first after a
    start is; the count read it twice more)."""
    with every_core(), database.watermark.held():
        database.gather({
            "now and compared": lambda: overview.first_compared(database, scenario_id),
            "people": lambda: demography.counted(database, whole_scenario(scenario_id), None,
                                                 demography.Narrowing())})


def first_count_under_way(url: str) -> bool:
    """Whether this server is finding the first figures of `url` since it started:
    its warm-up has begun and not yet counted the first scenario (however that ended):
    seconds at a million people, a second or so after a restart that takes them back
    from disk."""
    key = url_key(url)
    with _lock:
        started = _started.get(key)
        return (started is not None and started[1].is_alive()
                and key not in _first_counted)


def still_counting_after(database: Database, scenario_id: int, seconds: float) -> bool:
    """`counting`, after waiting up to `seconds` for the count to end: a small database
    is counted in a moment, and its reader is shown the figures, not a notice."""
    deadline = time.monotonic() + seconds
    while counting(database, scenario_id):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)
    return False


def counting(database: Database, scenario_id: int) -> bool:
    """Whether the current tallies of a scenario are still being found for the first
    time since the server started (the page then says so, and fills itself in: every
    page's figures at the latest data are summed from them). Not the history, which
    takes four times as long: a page's figures at an earlier moment are read from the
    tables meanwhile (the Overview's comparison, in a second or two at a million
    people) or said to be still read. False once they are, or when the warm-up is
    over however it ended: a page then counts what it needs itself, and says what went
    wrong."""
    with _lock:
        warming, thread = _started.get(database.url, (None, None))
    # Another Database of the same URL (reopened) is filled by its readers, not by it.
    return (warming is database and thread is not None and thread.is_alive()
            and not database.current.has(("now", scenario_id)))


def find_shared_facts(database: Database, scenario_id: int) -> None:
    """Everything the server keeps for a scenario, found now (the benchmarks call
    this too, to time it apart from the pages): the tallies first, which every page
    needs."""
    tallies.now(database, scenario_id)
    tallies.find_history(database, scenario_id)
    quality.excluded_case_ids(database, scenario_id)
    quality.excluded_referral_ids(database, scenario_id)
    quality.contract_breaks(database, scenario_id)
    evacuation.aggregate_stage_durations(database, scenario_id)
    tallies.places(database, scenario_id)
    geo.find_placements(database, scenario_id)
    # "who the people are" at the latest data, narrowed by status and nationality, for
    # every role: summed from these from now on (the first count read the Overview's)
    demography.find_groups(database, scenario_id)
