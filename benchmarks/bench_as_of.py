"""As-of benchmark: the Overview at earlier moments of the reference scenario.

    python benchmarks/bench_as_of.py --persons 1000000
    python benchmarks/bench_as_of.py --db-url postgresql://...

For each viewer and each moment (the latest data, then 1, 3 and 7 days and 3
weeks before it), prints the cold time (empty page caches; the server's shared
facts already found, as at startup: dashboard.figures.warmup) of the Overview. Twice:
from the history tallies, as once the server has found them, and from the
tables, as in the first minute after a start. Target: ≤ 2 s cold at
1,000,000 persons. Prints a table, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_pages import build_database, forget_figures, viewers  # noqa: E402

MOMENTS = {"latest": timedelta(0), "-1 day": timedelta(days=1), "-3 days": timedelta(days=3),
           "-7 days": timedelta(days=7), "-21 days": timedelta(days=21)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    db_url = args.db_url or build_database(args.persons, args.seed)

    from dashboard.figures import scenarios, tallies, warmup
    from dashboard.figures.overview import overview
    from dashboard.rules.access import Viewer
    from dashboard.store.db import Database

    database = Database.open(db_url)  # no page runs here: the Overview's figures only
    latest = scenarios.data_as_of(database, 1)
    started = time.perf_counter()
    warmup.find_shared_facts(database, 1)
    print(f"shared facts found in {time.perf_counter() - started:.1f} s (once, at startup)\n")
    found_history = tallies.history

    print(f"{'from':<15} {'role':<12} {'nat':<4} " + " ".join(f"{m:>9}" for m in MOMENTS))
    for source in ("history tallies", "tables"):
        tallies.history = found_history if source == "history tallies" else lambda *_: None
        for role, nats in viewers(database):
            if role == "admin":
                continue
            cells = []
            for back in MOMENTS.values():
                forget_figures()  # the server's shared facts kept
                started = time.perf_counter()
                overview(database, Viewer("bench", role, 1, nats), latest - back)
                cells.append(f"{(time.perf_counter() - started) * 1000:>7.0f}ms")
            print(f"{source:<15} {role:<12} {','.join(nats):<4} " + " ".join(cells))


if __name__ == "__main__":
    main()
