"""What the server finds once at start, in the background, so that no reader
waits for it: the facts every viewer shares and that read whole tables. A restarted
server takes them back from disk when the database has not changed (store.kept): a
second or so. Counting them afresh takes about a minute at a million people;
meanwhile pages say so (`counting`) instead of leaving the reader before a blank page."""

from __future__ import annotations

import logging
import threading
import time

from dashboard.figures import demography, evacuation, geo, quality, tallies
from dashboard.rules.access import whole_scenario
from dashboard.store.db import Database

log = logging.getLogger("sitroom")
_lock = threading.Lock()
# by URL: the Database being warmed up, and the thread doing it
_started: dict[str, tuple[Database, threading.Thread]] = {}


def warm_up(database: Database, scenario_ids: list[int]) -> None:
    """Start finding every scenario's shared facts in a background thread, once
    per database per process (app.py calls this on every run)."""
    def work() -> None:
        # every scenario's tallies first, now and in the past: the pages wait for those
        for find in (tallies.now, tallies.find_history, find_shared_facts):
            for scenario_id in scenario_ids:
                try:
                    find(database, scenario_id)
                except Exception:  # a reader will meet the same problem and be told
                    log.exception("warming up scenario %s failed", scenario_id)

    with _lock:
        if database.url in _started:
            return
        thread = threading.Thread(target=work, name="warm-up", daemon=True)
        _started[database.url] = (database, thread)
        thread.start()


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
    """Whether the tallies of a scenario, now and in the past, are still being found for
    the first time since the server started (the page then says so, and fills itself
    in: without them, a page would count its own figures from the history tables, for
    a minute at a million people). False once they are, or when the warm-up is
    over however it ended: a page then counts what it needs itself, and says what went
    wrong."""
    with _lock:
        warming, thread = _started.get(database.url, (None, None))
    # Another Database of the same URL (reopened) is filled by its readers, not by it.
    return (warming is database and thread is not None and thread.is_alive()
            and not (database.current.has(("now", scenario_id))
                     and database.facts.has(("history", scenario_id))))


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
    # who the people are, as every role but a liaison counts them: the Overview's, and
    # the Map's with its default filter
    for narrowing in (demography.Narrowing(), demography.Narrowing(statuses=geo.IN_COUNTRY)):
        demography.counted(database, whole_scenario(scenario_id), None, narrowing)
