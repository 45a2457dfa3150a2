"""Page benchmark: every page, every role, at the reference scale of docs/design.md §6.

    python benchmarks/bench_pages.py --persons 1000000            # SQLite, built once
    python benchmarks/bench_pages.py --db-url postgresql://...    # an existing database

Each page and role runs in its own process (one session, as a reader would
have it) and prints one row. Pages run on the live scenario, except the Drill
page: the coordinator's page in drills runs on the database's exercise scenario,
"drill (exercise)" (on the live one it shows only its head).

The database built here is the reference scenario with one drill played into its
exercise scenario (data/drills/cedar-shield.yaml), so that the Drill page has a
drill to review. The Audit page reads an audit log of AUDIT_ROWS lines over the
last AUDIT_DAYS days (filled in once), as a busy month of use would leave it.

  cold ms     first view of the page by this scope on a running server (the median of
              --colds such views; cold max the slowest of them): the page's
              modules loaded, no figure cached (the database answers everything
              but the server's shared facts, below). Streamlit's test harness scans
              the installed components on each new session's first run, which a
              server does once at start (~0.2 s): the sessions share that scan.
  1st ms      the very first render in the process, modules loaded too
  warm p50/p95  reruns of the same page (what a reader waits for on each click)
  data KB     bytes of map, chart and table data sent to the browser
  peak MB     the session process's peak resident memory (VmHWM; Streamlit included)
  startup ms  once per server process, not per page: finding the scenario's
              contract breaks and the shared tallies (dashboard.figures.tallies), which
              the server does in the background at start
  own SQL     ms spent in the database by the statements the page itself ran during
              its cold render, rows fetched included; since pages sum the shared
              tallies, often next to none
  floor ms    the page's SQL floor: the raw aggregates over the contract tables that
              produce the figures it shows at the latest moment, for this scope
              (benchmarks/floors.py, which says what they count and leave out), each
              run in full with every row fetched; the median of three runs of the
              whole set, in the same process after the warm reruns
  ×floor      cold ms / floor ms

Targets: warm p95 ≤ 300 ms, cold ≤ 1.5 s, ≤ 2 MB of data per page,
page ≤ 3× its SQL floor, one session ≤ 600 MB resident. Prints a table, asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("SITROOM_BENCH_DIR", "/tmp/sitroom-bench"))
LIVE = 1  # the live scenario of a generated database
EXERCISE = 2  # and its exercise scenario
DRILL = ROOT / "data" / "drills" / "cedar-shield.yaml"
AUDIT_ROWS, AUDIT_DAYS = 300_000, 30  # 50 readers, 200 page views a day each


def build_database(persons: int, seed: int) -> str:
    """The reference scenario with a drill played into its exercise scenario, built
    once into CACHE."""
    path = CACHE / f"reference-{persons}-{seed}.sqlite"
    if not path.exists():
        from dashboard.tools.generate import generate

        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        generate(f"sqlite:///{partial}", persons=persons, seed=seed)
        # As fast as it goes: six hours of scenario time in well under a second.
        subprocess.run([sys.executable, "-m", "dashboard.tools.cli", "simulate", "--db-url",
                        f"sqlite:///{partial}", "--scenario", str(EXERCISE), "--script",
                        str(DRILL), "--speed", "1000000"], check=True, cwd=ROOT,
                       env={**os.environ, "SITROOM_HOME": str(CACHE / "home")},
                       stdout=subprocess.DEVNULL)
        partial.rename(path)
        print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return f"sqlite:///{path}"


def audit_log() -> Path:
    """The benchmark's own audit log, filled once with AUDIT_ROWS page views."""
    import random
    import sqlite3

    from dashboard.rules import audit

    path = CACHE / "bench-audit.sqlite"
    audit.ensure_writable(path)
    with sqlite3.connect(path) as conn:
        if conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] < AUDIT_ROWS:
            rng = random.Random(1)
            now = time.time()
            pages = ("overview", "map", "shelters", "referrals", "evacuation", "my_nationals")
            rows = []
            for i in range(AUDIT_ROWS):
                at = now - rng.random() * AUDIT_DAYS * 86400
                role = rng.choice(("committee", "consular", "coordinator"))
                rows.append((time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(at)),
                             f"reader-{i % 50}", role, "ETH" if role == "consular" else "", 1,
                             rng.choice(pages), "view", "{}",
                             rng.randrange(200) if role == "consular" else 0))
            conn.executemany(
                "INSERT INTO audit_log (at_utc, user, role, nationalities, scenario_id, page, "
                "action, filters, rows_shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return path


def quiet_streamlit() -> None:
    """Outside a Streamlit run its caches warn that there is none: noise here."""
    from streamlit import logger

    logger.set_log_level("error")


def scenario_for(database, page: str) -> int:
    """The scenario a page's row runs on: the live one, but for the Drill page the
    first exercise scenario (the live one if the database holds none)."""
    if page != "drill":
        return LIVE
    from dashboard.figures.scenarios import list_scenarios

    return next((s.id for s in list_scenarios(database) if s.is_exercise), LIVE)


def label(page: str, exercise: bool) -> str:
    return f"{page} (exercise)" if exercise else page


def viewers(database) -> list[tuple[str, tuple[str, ...]]]:
    """Committee, coordinator, admin, and liaisons of the largest and the
    smallest nationality of the live scenario."""
    rows = database.read(
        "SELECT nationality, COUNT(*) AS n FROM persons WHERE scenario_id = :live "
        "AND nationality IN (SELECT iso3 FROM countries) GROUP BY nationality "
        "ORDER BY n DESC", {"live": LIVE})
    largest, smallest = rows.nationality.iloc[0], rows.nationality.iloc[-1]
    return [("committee", ()), ("coordinator", ()), ("admin", ()),
            ("consular", (largest,)), ("consular", (smallest,))]


def sent_bytes(at) -> int:
    """Bytes of the data-carrying elements of a rendered page."""
    total = 0
    for kind in ("deck_gl_json_chart", "plotly_chart", "arrow_data_frame", "dataframe"):
        try:
            elements = at.get(kind)
        except Exception:  # an element kind this Streamlit does not name
            continue
        total += sum(len(e.proto.SerializeToString()) for e in elements)
    return total


def peak_rss_mb() -> float:
    """This process's own high-water resident memory (ru_maxrss would carry the
    parent's peak across exec on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def forget_figures() -> None:
    """Forget every figure a page computed (Streamlit's caches and the dashboard's
    cached results), as on a running server no reader has asked for yet; the
    server's shared facts, found once at start, stay."""
    import streamlit as st

    from dashboard.store import cache

    st.cache_data.clear()
    cache.clear_all()


def dump_figures(at, path) -> None:
    """Write to `path` (JSON) what a rendered AppTest page shows, in document order and
    in a form that does not depend on how the page is built: every metric (label,
    value, delta); every dataframe and table (column names, index and values as
    strings); every title, header, subheader, markdown, caption, text, code, alert,
    toast and exception body, and the labels of expanders and tabs; every Plotly
    chart's title and its traces' data arrays (layout left out); the pydeck chart's
    layers' data. The "updated HH:MM:SS UTC" wall-clock time of the freshness line,
    the one thing that differs between two runs of the same page on the same data, is
    replaced by "updated HH:MM:SS UTC" literally."""
    import base64
    import json
    import re
    from pathlib import Path

    import numpy as np
    from streamlit.testing.v1.element_tree import Block

    wall_clock = re.compile(r"(updated )\d{2}:\d{2}:\d{2}( UTC)")
    trace_keys = ("x", "y", "z", "values", "labels", "parents", "ids", "text", "hovertext",
                  "customdata", "base", "measure", "lat", "lon", "r", "theta", "width")
    text_kinds = ("title", "header", "subheader", "markdown", "caption", "latex", "text",
                  "code", "json", "info", "warning", "error", "success", "toast")

    def plain(value):
        """Plotly's JSON with its base64 typed arrays ({"dtype", "bdata"}) as lists."""
        if isinstance(value, dict):
            if "bdata" in value and "dtype" in value:
                array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
                if "shape" in value:
                    shape = value["shape"]
                    shape = [int(n) for n in (shape.split(",") if isinstance(shape, str)
                                              else shape)]
                    array = array.reshape(shape)
                return array.tolist()
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    def in_order(node):
        if isinstance(node, Block):
            if node.type in ("expander", "tab"):
                yield ("block", node)
            for index in sorted(node.children):
                yield from in_order(node.children[index])
        else:
            yield ("element", node)

    out = {"metrics": [], "tables": [], "texts": [], "charts": [], "maps": []}
    for what, node in in_order(at._tree):
        if what == "block":
            if getattr(node, "label", ""):
                out["texts"].append({"kind": node.type, "body": str(node.label)})
            continue
        kind = node.type
        if kind == "metric":
            out["metrics"].append({"label": node.proto.label, "value": node.proto.body,
                                   "delta": node.proto.delta})
        elif kind in ("dataframe", "arrow_data_frame", "table", "arrow_table"):
            frame = node.value
            split = frame.astype(str).to_dict("split")
            out["tables"].append({
                "kind": "table" if "table" in kind else "dataframe",
                "columns": [str(c) for c in frame.columns],
                "index": [str(i) for i in split["index"]],
                "data": split["data"]})
        elif kind in text_kinds:
            out["texts"].append({"kind": kind, "body": wall_clock.sub(
                r"\1HH:MM:SS\2", str(node.value))})
        elif kind == "exception":
            out["texts"].append({"kind": kind, "body": str(node.proto.message)})
        elif kind == "plotly_chart":
            figure = json.loads(node.proto.spec) if node.proto.spec else {}
            title = (figure.get("layout") or {}).get("title")
            title = title.get("text", "") if isinstance(title, dict) else (title or "")
            traces = []
            for trace in figure.get("data", []):
                row = {"type": trace.get("type", "scatter"), "name": trace.get("name")}
                row.update({k: plain(trace[k]) for k in trace_keys if k in trace})
                traces.append(row)
            out["charts"].append({"title": title, "traces": traces})
        elif kind == "deck_gl_json_chart":
            spec = json.loads(node.proto.json) if node.proto.json else {}
            out["maps"].append({"layers": [
                {"type": layer.get("@@type", layer.get("type")), "id": layer.get("id"),
                 "data": layer.get("data")} for layer in spec.get("layers", [])]})

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")


def figures_path(directory: str, page: str, role: str, nats: tuple[str, ...],
                 scenario_id: int) -> Path:
    return Path(directory) / f"{page}__{role}__{','.join(nats) or '-'}__{scenario_id}.json"


def run_one(db_url: str, page: str, role: str, nats: tuple[str, ...], runs: int,
            scenario_id: int = LIVE, figures: str | None = None, cold_runs: int = 5,
            with_floor: bool = True) -> dict:
    """One session on the scenario `scenario_id`: cold render, then warm reruns, in
    this process. With `figures`, a directory, what the cold render shows is written
    there (dump_figures)."""
    from sqlalchemy import event
    from streamlit.testing.v1 import AppTest

    from components.session import KEY, Context
    from components.session import database as opened
    from dashboard.figures.scenarios import list_scenarios
    from dashboard.rules.access import Viewer
    from dashboard.store import db

    os.environ["SITROOM_AUDIT_DB"] = str(audit_log())
    # The Database the pages read through (one per process and URL), so that the
    # events below see their statements.
    database = opened(db_url)
    engine = database.engine
    sql_seconds = [0.0]
    # SQLite does much of a query's work while its rows are fetched, after the
    # cursor's execute: read_frame is timed whole (execute, fetch and frame), and the
    # cursor events count only the statements run outside it.
    in_read = threading.local()
    read_frame = db.read_frame

    def timed_read_frame(*args, **kwargs):
        in_read.on, started = True, time.perf_counter()
        try:
            return read_frame(*args, **kwargs)
        finally:
            in_read.on = False
            sql_seconds[0] += time.perf_counter() - started

    db.read_frame = timed_read_frame
    # A read handed to Arrow on SQLite is told to the listeners without a connection
    # (Database.arrow) and never comes back through them: timed whole here.
    arrow = db.Database.arrow

    def timed_arrow(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return arrow(self, *args, **kwargs)
        finally:
            sql_seconds[0] += time.perf_counter() - started

    db.Database.arrow = timed_arrow

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):
        if conn is not None:  # None: Database.arrow's read, timed above
            conn.info["bench_t"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn, cursor, statement, parameters, context, executemany):
        started = conn.info.pop("bench_t")
        if not getattr(in_read, "on", False):
            sql_seconds[0] += time.perf_counter() - started

    from dashboard.figures import quality, warmup

    scenario = next(s for s in list_scenarios(database) if s.id == scenario_id)
    # What the server finds once at start, in the background (app.py warm_up), for all
    # pages and viewers alike: timed apart from the page.
    started = time.perf_counter()
    warmup.find_shared_facts(database, scenario_id)
    startup = time.perf_counter() - started
    viewer = Viewer("bench", role, scenario_id, nats)

    components = []  # the harness's scan of installed components, made once (see cold ms)

    def session() -> AppTest:
        at = AppTest.from_string(f"from pages.{page} import render\n\nrender()\n",
                                 default_timeout=600)
        at.session_state[KEY] = Context(db_url=db_url, viewer=viewer, scenario=scenario)
        if components:
            at._bidi_component_manager = components[0]
        return at

    # A running server has imported the page's modules (Plotly, pydeck, Streamlit's
    # own) once, for its first reader: load them, then forget every figure.
    started = time.perf_counter()
    first = session()
    first.run()
    first_load = time.perf_counter() - started
    components.append(first._bidi_component_manager)
    colds, cold_sqls = [], []
    for _ in range(max(1, cold_runs)):
        forget_figures()  # cold: no page figure computed yet, not even the scenario list
        sql_seconds[0] = 0.0
        at = session()
        started = time.perf_counter()
        at.run()
        colds.append(time.perf_counter() - started)
        cold_sqls.append(sql_seconds[0])
    cold, cold_sql = statistics.median(colds), statistics.median(cold_sqls)
    failed = [e.value for e in at.exception]
    if figures:
        dump_figures(at, figures_path(figures, page, role, nats, scenario_id))

    warm = []
    for _ in range(runs):
        started = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - started)
    warm.sort()

    from benchmarks import floors

    # The contract breaks as the server found them at start (timed in startup ms).
    shared = floors.scenario_params(database, scenario_id,
                                    quality.excluded_case_ids(database, scenario_id),
                                    quality.excluded_referral_ids(database, scenario_id))
    floor_ms = floors.time_floor(database, page, viewer, shared)[0] if with_floor else 0.0
    return {
        "page": page, "role": role, "nats": ",".join(nats),
        "scenario": scenario_id, "exercise": scenario.is_exercise,
        "cold_ms": cold * 1000, "cold_max_ms": max(colds) * 1000,
        "warm_p50_ms": statistics.median(warm) * 1000,
        "warm_p95_ms": warm[min(len(warm) - 1, int(round(0.95 * (len(warm) - 1))))] * 1000,
        "data_kb": sent_bytes(at) / 1024,
        "peak_mb": peak_rss_mb(), "startup_ms": startup * 1000,
        "first_ms": first_load * 1000,
        "own_sql_ms": cold_sql * 1000, "floor_ms": floor_ms,
        "error": "; ".join(map(str, failed))[:80],
    }


def table(rows: list[dict]) -> str:
    head = (f"{'page':<16} {'role':<12} {'nat':<4} {'1st ms':>7} {'cold ms':>8} {'cold max':>8} "
            f"{'warm p50':>8} {'warm p95':>8} {'data KB':>8} {'peak MB':>8} {'own SQL':>8} "
            f"{'floor ms':>8} {'×floor':>6} {'startup ms':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        floor = r.get("floor_ms", 0)
        ratio = r["cold_ms"] / floor if floor > 0 else float("nan")
        lines.append(
            f"{label(r['page'], r.get('exercise', False)):<16} {r['role']:<12} {r['nats']:<4} "
            f"{r.get('first_ms', 0):>7.0f} "
            f"{r['cold_ms']:>8.0f} {r.get('cold_max_ms', r['cold_ms']):>8.0f} "
            f"{r['warm_p50_ms']:>8.0f} {r['warm_p95_ms']:>8.0f} {r['data_kb']:>8.0f} "
            f"{r['peak_mb']:>8.0f} {r.get('own_sql_ms', 0):>8.0f} {floor:>8.1f} {ratio:>6.1f} "
            f"{r.get('startup_ms', 0):>10.0f}"
            + (f"  ERROR {r['error']}" if r["error"] else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url", help="use this database instead of building one")
    parser.add_argument("--runs", type=int, default=20, help="warm reruns per page and role")
    parser.add_argument("--colds", type=int, default=5,
                        help="cold renders per page and role (cold ms is their median)")
    parser.add_argument("--no-floor", action="store_true",
                        help="leave out the SQL floor (floor ms 0): quicker, for comparing "
                             "the pages of two versions")
    parser.add_argument("--language", help="the readers' language (SITROOM_LANGUAGE): en, fr, "
                        "es, pt or ar; each language's figures should be within 10%% of "
                        "English's")
    parser.add_argument("--pages", nargs="*", help="only these pages")
    parser.add_argument("--roles", nargs="*", help="only these roles")
    parser.add_argument("--one", nargs=4, metavar=("PAGE", "ROLE", "NATS", "SCENARIO"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--figures", metavar="DIR",
                        help="write what each page shows on its cold render to "
                             "DIR/<page>__<role>__<nats or ->__<scenario>.json")
    args = parser.parse_args()
    # The server's shared facts are recounted in the background once older than the
    # cache interval; finding them here takes longer than the default 30 s at 1M, so
    # a recount would run under the timed renders. That recount is the server's
    # background cost, not the page's: the page rows keep the facts fresh.
    os.environ.setdefault("SITROOM_CACHE_TTL_S", "3600")
    if args.language:  # the page processes below inherit it
        os.environ["SITROOM_LANGUAGE"] = args.language
    if args.figures:
        args.figures = str(Path(args.figures).resolve())

    db_url = args.db_url or build_database(args.persons, args.seed)
    if args.one:
        page, role, nats, scenario_id = args.one
        nat_tuple = tuple(n for n in nats.split(",") if n and n != "-")
        print(json.dumps(run_one(db_url, page, role, nat_tuple, args.runs, int(scenario_id),
                                 args.figures, args.colds, not args.no_floor)))
        return

    from dashboard.rules import access
    from dashboard.store.db import Database

    quiet_streamlit()
    database = Database.open(db_url)  # no page runs in this process
    rows = []
    for role, nats in viewers(database):
        for page in access.pages_for(role):
            if (args.pages and page not in args.pages) or (args.roles and role not in args.roles):
                continue
            scenario_id = scenario_for(database, page)
            command = [sys.executable, __file__, "--db-url", db_url, "--runs", str(args.runs),
                       "--colds", str(args.colds),
                       "--one", page, role, ",".join(nats) or "-", str(scenario_id)]
            command += ["--figures", args.figures] if args.figures else []
            command += ["--no-floor"] if args.no_floor else []
            out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            last = out.stdout.strip().splitlines()[-1:] or [""]
            try:
                rows.append(json.loads(last[0]))
            except json.JSONDecodeError:
                rows.append({"page": page, "role": role, "nats": ",".join(nats),
                             "scenario": scenario_id, "exercise": scenario_id != LIVE,
                             "cold_ms": 0,
                             "warm_p50_ms": 0, "warm_p95_ms": 0, "data_kb": 0, "peak_mb": 0,
                             "error": out.stderr.strip().splitlines()[-1:]})
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"\n{db_url.split('/')[-1]}: {args.runs} warm reruns per row, language "
          f"{os.environ.get('SITROOM_LANGUAGE') or 'en'}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
