"""Situation report benchmark: the PDF of each role at the reference scale of
docs/design.md §6 (target: at most 10 s a report).

    python benchmarks/bench_report.py --persons 1000000            # SQLite, built once
    python benchmarks/bench_report.py --db-url postgresql://...    # an existing database

The database is the one benchmarks/bench_pages.py builds (and reuses) in
SITROOM_BENCH_DIR. Each row runs in processes of its own:

  startup ms  what a running server has found once at start, for every reader
              (dashboard.figures.warmup): not part of a report made on the server
  cold ms     the Overview's button on a running server: no figure of this scope
              computed yet, the report gathered, typeset and audited
  warm ms     the same report again, its figures served from the cache: typesetting
              and the audit line (what a second reader of the same scope waits for)
  figures ms  the cold report's gathering of figures alone, and typeset ms the rest
  command s   `sitroom report` as cron would run it: a new Python process, nothing
              found yet, wall-clock time from start to the PDF written
  KB, pages   the PDF's size and page count

Prints a table, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_pages import (  # noqa: E402
    CACHE,
    EXERCISE,
    LIVE,
    build_database,
    quiet_streamlit,
    viewers,
)

TARGET_S = 10.0


def run_one(db_url: str, role: str, nats: tuple[str, ...], scenario_id: int) -> dict:
    """One scope on a server-like process: shared facts first, then the report cold and
    warm."""
    from dashboard.figures import report, report_pdf, warmup
    from dashboard.rules.access import Viewer
    from dashboard.store import cache
    from dashboard.store.db import Database

    quiet_streamlit()
    database = Database.open(db_url)
    started = time.perf_counter()
    warmup.find_shared_facts(database, scenario_id)
    startup = time.perf_counter() - started
    cache.clear_all()
    viewer = Viewer("bench", role, scenario_id, nats)

    started = time.perf_counter()
    gathered = report.situation_report(database, viewer)
    figures = time.perf_counter() - started
    cache.clear_all()
    started = time.perf_counter()
    written = report_pdf.write_report(database, viewer, page="bench")
    cold = time.perf_counter() - started
    started = time.perf_counter()
    report_pdf.write_report(database, viewer, page="bench")
    warm = time.perf_counter() - started
    pdf = written.pdf
    return {"role": role, "nats": ",".join(nats), "scenario": scenario_id,
            "exercise": gathered.scenario.is_exercise, "startup_ms": startup * 1000,
            "cold_ms": cold * 1000, "warm_ms": warm * 1000, "figures_ms": figures * 1000,
            "typeset_ms": (cold - figures) * 1000, "kb": len(pdf) / 1024,
            "pages": pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page"), "error": ""}


def run_command(db_url: str, role: str, nats: tuple[str, ...], scenario_id: int) -> float:
    """`sitroom report` in a new process: wall-clock seconds."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.pdf"
        command = [sys.executable, "-m", "dashboard.tools.cli", "report", "--db-url", db_url,
                   "--scenario", str(scenario_id), "--role", role, "--out", str(out)]
        if nats:
            command += ["--nationality", *nats]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        took = time.perf_counter() - started
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(done.stderr.strip().splitlines()[-1:])
        return took


def table(rows: list[dict]) -> str:
    head = (f"{'role':<12} {'nat':<4} {'scenario':<9} {'startup ms':>10} {'cold ms':>8} "
            f"{'warm ms':>8} {'figures ms':>10} {'typeset ms':>10} {'command s':>9} "
            f"{'KB':>6} {'pages':>5} {'server ≤10 s':>12} {'command ≤10 s':>13}")
    lines = [head, "-" * len(head)]
    for r in rows:
        def within(seconds: float, failed: bool = bool(r["error"])) -> str:
            return "yes" if 0 < seconds <= TARGET_S and not failed else "NO"

        lines.append(
            f"{r['role']:<12} {r['nats'] or '-':<4} "
            f"{'exercise' if r.get('exercise') else 'live':<9} {r.get('startup_ms', 0):>10.0f} "
            f"{r.get('cold_ms', 0):>8.0f} {r.get('warm_ms', 0):>8.0f} "
            f"{r.get('figures_ms', 0):>10.0f} {r.get('typeset_ms', 0):>10.0f} "
            f"{r.get('command_s', 0):>9.1f} {r.get('kb', 0):>6.0f} {r.get('pages', 0):>5} "
            f"{within(r.get('cold_ms', 0) / 1000):>12} {within(r.get('command_s', 0)):>13}"
            + (f"  ERROR {r['error']}" if r["error"] else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url", help="use this database instead of building one")
    parser.add_argument("--roles", nargs="*", help="only these roles")
    parser.add_argument("--one", nargs=3, metavar=("ROLE", "NATS", "SCENARIO"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    # The reports' audit lines go to the benchmark's own log, never the project's.
    os.environ.setdefault("SITROOM_AUDIT_DB", str(CACHE / "bench-report-audit.sqlite"))
    db_url = args.db_url or build_database(args.persons, args.seed)
    if args.one:
        role, nats, scenario_id = args.one
        nat_tuple = tuple(n for n in nats.split(",") if n and n != "-")
        print(json.dumps(run_one(db_url, role, nat_tuple, int(scenario_id))))
        return

    from dashboard.store.db import Database

    quiet_streamlit()
    database = Database.open(db_url)  # no report is made in this process
    scopes = [(role, nats, LIVE) for role, nats in viewers(database)]
    scopes.append(("committee", (), EXERCISE))
    rows = []
    for role, nats, scenario_id in scopes:
        if args.roles and role not in args.roles:
            continue
        out = subprocess.run(
            [sys.executable, __file__, "--db-url", db_url, "--one", role,
             ",".join(nats) or "-", str(scenario_id)],
            capture_output=True, text=True, cwd=ROOT)
        last = out.stdout.strip().splitlines()[-1:] or [""]
        try:
            row = json.loads(last[0])
        except json.JSONDecodeError:
            row = {"role": role, "nats": ",".join(nats), "scenario": scenario_id,
                   "exercise": scenario_id != LIVE,
                   "error": " ".join(out.stderr.strip().splitlines()[-1:])}
        try:
            row["command_s"] = run_command(db_url, role, nats, scenario_id)
        except RuntimeError as exc:
            row["error"] = f"{row.get('error', '')} command: {exc}".strip()
        rows.append(row)
        print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"\n{db_url.split('/')[-1]}: one report per row, target ≤ {TARGET_S:.0f} s\n")
    print(table(rows))


if __name__ == "__main__":
    main()
