"""How fast the synthetic generator fills SQLite (and PostgreSQL with --db-url).

    PYTHONPATH=. python benchmarks/bench_generate.py --persons 1000000
    PYTHONPATH=. python benchmarks/bench_generate.py --persons 1000000 \\
        --db-url postgresql://root@127.0.0.1:5432/sitroom_bench

The PostgreSQL database must exist and be empty (generate refuses otherwise);
the SQLite file goes to a temporary folder and is deleted afterwards unless
--keep is given. Prints one line per backend; no pass/fail, no asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from dashboard.store.db import normalize_url
from dashboard.tools.generate import generate

HEADER = f"{'backend':<10} {'persons':>10} {'rows':>12} {'seconds':>8} {'rows/s':>10} {'size':>10}"


def run(backend: str, url: str, persons: int, seed: int, dirty: bool,
        size_of: callable) -> str:
    began = time.perf_counter()
    report = generate(url, persons=persons, seed=seed, dirty=dirty,
                      progress=lambda msg: print(f"  [{time.perf_counter() - began:6.1f} s] {msg}",
                                                 file=sys.stderr))
    seconds = time.perf_counter() - began
    rows = report.total_rows
    return (f"{backend:<10} {persons:>10,} {rows:>12,} {seconds:>8.1f} {rows / seconds:>10,.0f} "
            f"{size_of() / 1e6:>8.0f} MB")


def pg_size(url: str) -> int:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return int(size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dirty", action="store_true")
    parser.add_argument("--db-url", help="also load into this empty PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--keep", type=Path, help="keep the SQLite file at this path")
    args = parser.parse_args(argv)

    lines = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            path = args.keep or Path(tmp) / "bench.sqlite"
            lines.append(run("sqlite", f"sqlite:///{path}", args.persons, args.seed, args.dirty,
                             lambda: path.stat().st_size))
    if args.db_url:
        lines.append(run("postgresql", args.db_url, args.persons, args.seed, args.dirty,
                         lambda: pg_size(args.db_url)))
    print(HEADER)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
