"""What the server finds once at start, in the background, so that no reader
waits for it: the facts every viewer shares and that read whole tables."""

from __future__ import annotations

import logging
import threading

from dashboard.figures import evacuation, geo, quality, tallies
from dashboard.store.db import Database

log = logging.getLogger("sitroom")
_lock = threading.Lock()
_started: set[str] = set()


def warm_up(database: Database, scenario_ids: list[int]) -> None:
    """Start finding every scenario's shared facts in a background thread, once
    per database per process (app.py calls this on every run)."""
    with _lock:
        if database.url in _started:
            return
        _started.add(database.url)

    def work() -> None:
        for scenario_id in scenario_ids:
            try:
                find_shared_facts(database, scenario_id)
            except Exception:  # a reader will meet the same problem and be told
                log.exception("warming up scenario %s failed", scenario_id)

    threading.Thread(target=work, name="warm-up", daemon=True).start()


def find_shared_facts(database: Database, scenario_id: int) -> None:
    """Everything the server keeps for a scenario, found now (the benchmarks call
    this too, to time it apart from the pages)."""
    quality.excluded_case_ids(database, scenario_id)
    quality.excluded_referral_ids(database, scenario_id)
    quality.contract_breaks(database, scenario_id)
    evacuation.aggregate_stage_durations(database, scenario_id)
    tallies.now(database, scenario_id)
    tallies.places(database, scenario_id)
    geo.find_placements(database, scenario_id)
    tallies.find_history(database, scenario_id)
