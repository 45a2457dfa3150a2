"""Import benchmark: a registration list of a million people through `sitroom import`.

    PYTHONPATH=. python benchmarks/bench_import.py                     # 1,000,000 rows
    PYTHONPATH=. python benchmarks/bench_import.py --rows 20000 --backends sqlite

The files are written once into SITROOM_BENCH_DIR (default /tmp/sitroom-bench) from the
live scenario of the reference database (benchmarks/bench_pages.py builds it once:
reference-1000000-1.sqlite), read with plain SQL a chunk at a time and written as
HXL-tagged CSV, a header row then a hashtag row, as tests/importfiles.py writes them:

  areas.csv                every area (persons and facilities name their P-codes)
  facilities.csv           the live scenario's facilities (persons name theirs)
  persons-<rows>.csv       the first <rows> persons of the live scenario, with their
                           vulnerabilities in one column (#affected+vulnerability,
                           tags separated by ';'); a birth year before 1900, which
                           the importer refuses, left blank

For each backend a fresh database (a new SQLite file; a new PostgreSQL database on
127.0.0.1:5432, trust authentication as root, dropped afterwards) is made ready as an
operator would: `sitroom migrate`, `sitroom scenario add`, `sitroom import areas`,
`sitroom import facilities`. Then, each in its own process:

  first      `sitroom import persons persons-<rows>.csv`: every row added
  again      the same file once more: every row unchanged, nothing written

  seconds    wall time of the process, Python's start included
  rows/s     rows of the file per second
  peak MB    the process's peak resident memory (its own ru_maxrss, from wait4)
  summary    the last line the command printed

Targets, at the reference scale on the 2-core reference machine (docs/design.md §6):
each run of the 1,000,000-row file in at most 120 s on PostgreSQL and 180 s on SQLite,
streaming, with a peak under 1 GB (1024 MB). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("SITROOM_BENCH_DIR", "/tmp/sitroom-bench"))
PG_SERVER = "postgresql://root@127.0.0.1:5432"
PG_DATABASE = "sitroom_import_bench"
READ_ROWS = 50_000  # persons read from the reference per query
TARGET_S = {"sqlite": 180, "postgresql": 120}
TARGET_MB = 1024

AREAS = ("SELECT pcode, name, admin_level, parent_pcode, country, lat, lon FROM areas "
         "ORDER BY pcode")
FACILITIES = ("SELECT id, name, kind, lat, lon, area_pcode, capacity, status, confidential, "
              "operator, confirmed_at FROM facilities WHERE scenario_id = ? ORDER BY id")
# A birth year before 1900 is left blank: the importer refuses it, and the generator's
# long tail of ages gives the reference scenario one person born in 1899.
PERSONS = ("SELECT id, ref, full_name, sex, CASE WHEN birth_year >= 1900 THEN birth_year END "
           "AS birth_year, nationality, second_nationality, "
           "family_id, phone, lat, lon, area_pcode, facility_id, status, consent_consular, "
           "protection_confidential, documents, registered_at, updated_at FROM persons "
           "WHERE scenario_id = ? AND id > ? ORDER BY id LIMIT ?")
TAGS = ("SELECT person_id, tag FROM person_vulnerabilities WHERE person_id BETWEEN ? AND ? "
        "ORDER BY person_id, tag")


def hashtags(table: str, header: list[str]) -> list[str]:
    """The hashtag row: each column's HXL hashtag as the data contract gives it."""
    from dashboard.contract.models import Base

    columns = Base.metadata.tables[table].c
    return ["#affected+vulnerability" if name == "vulnerabilities" else
            columns[name].info.get("hxl", "") if name in columns else "" for name in header]


def reference(persons: int, seed: int) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_pages import build_database  # builds it once, if it is not there yet

    return Path(build_database(persons, seed).removeprefix("sqlite:///"))


def write_files(rows: int, persons: int, seed: int) -> dict[str, Path]:
    """areas.csv, facilities.csv and persons-<rows>.csv, written once into CACHE."""
    folder = CACHE / f"import-{persons}-{seed}"
    paths = {"areas": folder / "areas.csv", "facilities": folder / "facilities.csv",
             "persons": folder / f"persons-{rows}.csv"}
    if all(p.exists() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    source = reference(persons, seed)
    began = time.perf_counter()
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
        live = conn.execute("SELECT id FROM scenarios WHERE kind = 'live'").fetchone()[0]
        for kind, table, sql, params in (("areas", "areas", AREAS, ()),
                                         ("facilities", "facilities", FACILITIES, (live,))):
            cursor = conn.execute(sql, params)
            header = [d[0] for d in cursor.description]
            _write(paths[kind], table, header, cursor)
        partial = paths["persons"].with_suffix(".partial")
        with partial.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f)
            written, after = 0, 0
            while written < rows:
                cursor = conn.execute(PERSONS, (live, after, min(READ_ROWS, rows - written)))
                if written == 0:  # the header: the columns read but the id, and the tags
                    header = [d[0] for d in cursor.description][1:] + ["vulnerabilities"]
                    out.writerow(header)
                    out.writerow(hashtags("persons", header))
                chunk = cursor.fetchall()
                if not chunk:
                    break
                tags: dict[int, list[str]] = {}
                for person, tag in conn.execute(TAGS, (chunk[0][0], chunk[-1][0])):
                    tags.setdefault(person, []).append(tag)
                out.writerows([*r[1:], ";".join(tags.get(r[0], []))] for r in chunk)
                written += len(chunk)
                after = chunk[-1][0]
        partial.rename(paths["persons"])
    print(f"wrote {written:,} persons into {paths['persons']} in "
          f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    return paths


def _write(path: Path, table: str, header: list[str], rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerow(hashtags(table, header))
        out.writerows(rows)


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def sitroom(*args: str) -> str:
    """An untimed command of the preparation; stops the benchmark if it fails."""
    done = subprocess.run([sys.executable, "-m", "dashboard.tools.cli", *args], cwd=ROOT,
                          env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sitroom {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def timed(*args: str) -> tuple[float, float, int, str]:
    """(seconds, peak MB, exit status, output) of one command in its own process. The
    peak is that process's own maximum resident set, as the kernel kept it (wait4)."""
    with tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dashboard.tools.cli", *args],
                                cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    return seconds, usage.ru_maxrss / 1024, proc.returncode, output  # ru_maxrss is in KiB


def run_backend(backend: str, url: str, paths: dict[str, Path], rows: int) -> list[dict]:
    sitroom("migrate", "--db-url", url)
    sitroom("scenario", "add", "--db-url", url, "--name", "Lebanon crisis (import benchmark)",
            "--kind", "live", "--country", "LBN", "--synthetic")
    for kind in ("areas", "facilities"):
        done = sitroom("import", kind, str(paths[kind]), "--db-url", url)
        print(f"  {backend}: {done.strip().splitlines()[-1]}", file=sys.stderr)
    out = []
    for run in ("first", "again"):
        seconds, peak, status, output = timed("import", "persons", str(paths["persons"]),
                                              "--db-url", url)
        lines = output.strip().splitlines() or [""]
        summary = lines[-1] if status == 0 else f"FAILED ({status}): {' | '.join(lines[-3:])}"
        out.append({"backend": backend, "run": run, "rows": rows, "seconds": seconds,
                    "peak_mb": peak, "summary": summary})
        print(table(out[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return out


def sqlite_run(paths: dict[str, Path], rows: int) -> list[dict]:
    path = CACHE / "import-bench.sqlite"
    path.unlink(missing_ok=True)
    try:
        return run_backend("sqlite", f"sqlite:///{path}", paths, rows)
    finally:
        path.unlink(missing_ok=True)


def postgres_run(paths: dict[str, Path], rows: int) -> list[dict]:
    import psycopg

    admin = f"{PG_SERVER}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    try:
        return run_backend("postgresql", f"{PG_SERVER}/{PG_DATABASE}", paths, rows)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def table(results: list[dict]) -> str:
    head = (f"{'backend':<10} {'run':<6} {'rows':>10} {'seconds':>8} {'rows/s':>8} "
            f"{'peak MB':>8}  summary")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['backend']:<10} {r['run']:<6} {r['rows']:>10,} {r['seconds']:>8.1f} "
                     f"{r['rows'] / r['seconds']:>8,.0f} {r['peak_mb']:>8.0f}  {r['summary']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="persons in the file (the first of the live scenario)")
    parser.add_argument("--persons", type=int, default=1_000_000,
                        help="persons of the reference database the files come from")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    args = parser.parse_args()

    paths = write_files(args.rows, args.persons, args.seed)
    with paths["persons"].open(encoding="utf-8") as f:
        rows = sum(1 for _ in f) - 2  # the header and hashtag rows; no line breaks in cells
    results: list[dict] = []
    for backend in args.backends:
        results += (sqlite_run if backend == "sqlite" else postgres_run)(paths, rows)
    print(f"\n{paths['persons'].name}: targets {TARGET_S['postgresql']} s on PostgreSQL, "
          f"{TARGET_S['sqlite']} s on SQLite, peak under {TARGET_MB} MB\n")
    print(table(results))


if __name__ == "__main__":
    main()
