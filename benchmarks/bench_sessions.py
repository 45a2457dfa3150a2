"""Auto-refresh benchmark: twenty readers in real browsers, left alone, at the reference scale.

    python benchmarks/bench_sessions.py                          # 1,000,000 persons, SQLite
    python benchmarks/bench_sessions.py --minutes 10 --every 30  # longer
    python benchmarks/bench_sessions.py --db-url postgresql://...  # an existing database

Starts the dashboard the way an operator does (`sitroom run`, accounts made with
`sitroom users add`) and opens 20 sessions in Debian's chromium, headless, through
Playwright: committee members on the Overview, coordinators on Shelters, Referrals
and Evacuation, consular liaisons of the largest, a middling and the smallest
nationality on My nationals and the Map. Each signs in once, opens its page, and is
then left alone to refresh itself every --every seconds (SITROOM_CACHE_TTL_S).

The page frame (components/page.py) times every run of a page body into the file
named by SITROOM_TIMING_LOG; this script reads it back. The server's resident memory
(VmRSS of it and its children) is sampled every second.

  first ms    the first render of each page and viewer (empty caches). The first
              session opens alone and the others only once the server has gone quiet,
              i.e. has found its shared facts (dashboard/figures/warmup.py); a * marks a first
              render that ran while it was still finding them.
  warm        refreshes after every session is open: count, p50, p95, max ms

The browser runs on the same machine and takes CPU from the server: the last lines
say how much, with the server's peak resident memory and the machine's load.

Targets: warm p95 ≤ 1 s with 20 sessions refreshing every 30 s, and the
server under 1.5 GB resident. Prints a table, asserts nothing. Ctrl-C stops the
server and the browser.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_pages import build_database  # noqa: E402
from tests.browser.driving import CHROMIUM_ARGS as DRAWING_ARGS  # noqa: E402
from tests.browser.driving import open_nav_page, settle  # noqa: E402

# twenty tabs in one headless browser: none may have its timers slowed
CHROMIUM_ARGS = DRAWING_ARGS + ["--disable-background-timer-throttling",
                                "--disable-renderer-backgrounding",
                                "--disable-backgrounding-occluded-windows"]
PASSWORD = "bench-sessions-pass"

# (role, nationality: largest / middle / smallest among those a liaison may see, page)
MIX = ([("committee", "", "overview")] * 6
       + [("coordinator", "", page) for page in ("shelters", "referrals", "evacuation")
          for _ in range(2)]
       + [("consular", "largest", "my_nationals")] * 2 + [("consular", "largest", "map")] * 2
       + [("consular", "middle", "my_nationals"), ("consular", "middle", "map"),
          ("consular", "smallest", "my_nationals"), ("consular", "smallest", "map")])


@dataclass
class Run:
    at: float  # wall clock, seconds
    page: str
    role: str
    nats: str
    kind: str  # "full" (page run), "fragment" (the body alone: here, the refresh timer) or
    # "refresh" (a whole run the refresh timer asked for: the Map, components/page.py live)
    ms: float


# --- setting up -------------------------------------------------------------------------

def liaison_nationalities(db_url: str) -> dict[str, str]:
    """The largest, a middling and the smallest nationality with someone a liaison
    may see (consenting, not protected) in the live scenario."""
    from dashboard.store.db import Database

    database = Database.open(db_url)  # the server runs in its own process
    rows = database.read(
        "SELECT p.nationality, COUNT(*) AS n FROM persons p "
        "JOIN countries c ON c.iso3 = p.nationality "
        "WHERE p.scenario_id = 1 AND p.consent_consular = :t "
        "AND p.protection_confidential = :f GROUP BY p.nationality ORDER BY n DESC, 1",
        {"t": True, "f": False})
    database.dispose()
    nats = list(rows.nationality)
    return {"largest": nats[0], "middle": nats[len(nats) // 2], "smallest": nats[-1]}


def sitroom_command() -> list[str]:
    """`sitroom` as this tree's code (run from ROOT): the installed command may be
    another checkout's."""
    return [sys.executable, "-m", "dashboard.tools.cli"]


def account_name(role: str, nat: str) -> str:
    return f"bench-{role}" + (f"-{nat.lower()}" if nat else "")


def make_users(folder: Path, nats: dict[str, str]) -> Path:
    """One account per role and liaison nationality, added with `sitroom users add`."""
    users_file = folder / "users.yaml"
    for role, slot in sorted({(role, slot) for role, slot, _ in MIX}):
        nat = nats.get(slot, "")
        cmd = sitroom_command() + ["users", "add", account_name(role, nat), "--role", role,
                                   "--users", str(users_file)]
        cmd += ["--nationality", nat] if nat else []
        done = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True,
                              cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"`sitroom users add` failed: {done.stderr.strip()}")
    return users_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, folder: Path, users_file: Path, every: int, timing_log: Path,
                 root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """`sitroom run` of the code tree `root` (this one by default; another checkout of
    the project for bench_browser_ab.py), in its own session, once it answers."""
    port = free_port()
    env = {**os.environ, "SITROOM_HOME": str(folder),
           "SITROOM_AUDIT_DB": str(folder / "audit.sqlite"),
           "SITROOM_COOKIE_KEY": secrets.token_urlsafe(32),
           "SITROOM_CACHE_TTL_S": str(every), "SITROOM_TIMING_LOG": str(timing_log),
           # A deployed server's code does not change under it; this work tree may be
           # edited during the run, and Streamlit would reload the changed modules.
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    env.pop("SITROOM_USERS", None)
    with open(folder / "server.log", "w") as out:
        # its own session: Ctrl-C reaches this script, which then stops the server
        proc = subprocess.Popen(
            sitroom_command() + ["run", "--db-url", db_url, "--users", str(users_file),
                                 "--port", str(port)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            stop_server(proc)
            sys.exit("The dashboard did not start:\n"
                     + (folder / "server.log").read_text()[-3000:])
        time.sleep(0.5)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- watching the server ----------------------------------------------------------------

def children_of() -> dict[int, list[int]]:
    """Each process's children, from /proc."""
    children = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    return children


def process_tree(children: dict[int, list[int]], root: int) -> set[int]:
    """`root` and all its descendants."""
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, ()))
    return tree


def usage(pids: set[int]) -> tuple[float, float]:
    """Resident MB and CPU seconds used so far by these processes."""
    rss_kb, ticks = 0, 0
    for pid in pids:
        mb, cpu = _one(pid)
        rss_kb, ticks = rss_kb + mb, ticks + cpu
    return rss_kb / 1024, ticks / os.sysconf("SC_CLK_TCK")


def _one(pid: int) -> tuple[int, int]:
    """Resident KB and CPU ticks of one process (0, 0 once it has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    rss_kb = next((int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:")), 0)
    return rss_kb, int(stat[11]) + int(stat[12])  # utime + stime


def database_backends(db_url: str) -> Callable[[], set[int]]:
    """For a PostgreSQL database on this machine, the processes doing the dashboard's
    queries: the backends of connections to that database and the parallel workers
    (none of them children of the server). Their work is the server's too: a query
    that runs in the database leaves the server's own process idle."""
    name = make_url(db_url).database
    if not db_url.startswith("postgresql") or not name:
        return set

    def find() -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            words = title.split()
            if (title.startswith("postgres: ") and "autovacuum" not in title
                    and (name in words or title.startswith("postgres: parallel worker"))):
                found.add(int(entry.name))
        return found

    return find


class Sampler(threading.Thread):
    """Every second: the server's resident memory and CPU time (it and its children,
    and the database's processes working for it: `database_backends`), and the CPU time
    of the browser (everything else this script started). Database processes come and
    go (a parallel worker lives for one query): the server's CPU time adds up what
    each process used since the last sample."""

    def __init__(self, pid: int, backends: Callable[[], set[int]] = set):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid = pid
        self.backends = backends
        self.samples: list[tuple[float, float, float, float]] = []  # time, MB, CPU s x2
        self.stopping = threading.Event()
        self.ticks: dict[int, int] = {}
        self.server_ticks = 0

    def run(self) -> None:
        me = os.getpid()
        per_tick = os.sysconf("SC_CLK_TCK")
        while not self.stopping.is_set():
            children = children_of()
            server = process_tree(children, self.pid)
            rss_kb, ticks = 0, {}
            for pid in server | self.backends():
                kb, ticks[pid] = _one(pid)
                rss_kb += kb if pid in server else 0
            self.server_ticks += sum(max(0, t - self.ticks.get(pid, 0)) for pid, t in ticks.items())
            self.ticks = ticks
            _, browser_cpu = usage(process_tree(children, me) - server - {me})
            self.samples.append((time.time(), rss_kb / 1024, self.server_ticks / per_tick,
                                 browser_cpu))
            self.stopping.wait(1.0)

    def peak_mb(self, since: float = 0.0) -> float:
        return max((s[1] for s in self.samples if s[0] >= since), default=float("nan"))

    def cpu_share(self, since: float, until: float, column: int = 2) -> float:
        """Cores the server (column 2) or the browser (3) kept busy on average
        between two moments."""
        used, seconds = self.used(since, until, column)
        return used / seconds if seconds else float("nan")

    def used(self, since: float, until: float, column: int = 2) -> tuple[float, float]:
        """CPU seconds the server (column 2) or the browser (3) used between the first
        and the last sample taken between two moments, and the seconds between them."""
        inside = [(s[0], s[column]) for s in self.samples if since <= s[0] <= until]
        if len(inside) < 2:
            return float("nan"), 0.0
        return inside[-1][1] - inside[0][1], inside[-1][0] - inside[0][0]

    def wait_quiet(self, window_s: float = 5.0, share: float = 0.05,
                   timeout_s: float = 900) -> bool:
        """Wait until the server used under `share` of a core over `window_s` seconds."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            now = time.time()
            if (self.samples and now - self.samples[0][0] >= window_s
                    and self.cpu_share(now - window_s - 0.5, now) < share):
                return True
            time.sleep(1.0)
        return False


# --- driving the browser (tests/browser/driving.py) ----------------------------------------

# A server that is still finding its shared facts at a million persons answers the
# first sessions slowly: wait up to ten minutes where the tests wait 90 s.
PATIENT_S = 600


def open_session(browser, base: str, username: str, page_key: str):
    """A new browser context that signs in on `page_key`'s address and lands there."""
    from dashboard.rules import access

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/{page_key.replace('_', '-')}")
    settle(page, timeout_s=PATIENT_S)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for(timeout=PATIENT_S * 1000)
    settle(page, timeout_s=PATIENT_S)
    if not page.locator("h1", has_text=access.PAGES[page_key].title).count():
        open_nav_page(page, page_key)  # landed elsewhere: use the menu
    return context, page


# --- reading the timing log -------------------------------------------------------------

def read_runs(path: Path) -> list[Run]:
    runs = []
    if not path.exists():
        return runs
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 7:
            continue
        at, page, role, nats, _scenario, kind, ms = parts
        runs.append(Run(float(at), page, role, nats, kind, float(ms)))
    return runs


REFRESHES = ("fragment", "refresh")  # the runs of auto-refresh, by _log_timing's kinds


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def report(runs: list[Run], sessions: dict[tuple, int], ready_at: float, clock_start: float,
           clock_stop: float, sampler: Sampler, every: int, load: tuple) -> str:
    head = (f"{'page':<13} {'role':<12} {'nat':<4} {'sessions':>8} {'first ms':>9} "
            f"{'warm n':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    lines = [head, "-" * len(head)]
    all_warm = []
    for (page, role, nats), count in sorted(sessions.items()):
        mine = [r for r in runs if (r.page, r.role, r.nats) == (page, role, nats)]
        first = next((r for r in mine if r.kind == "full"), None)
        warm = [r.ms for r in mine if r.kind in REFRESHES and clock_start <= r.at <= clock_stop]
        all_warm += warm
        first_cell = (f"{first.ms:>8.0f}" + ("*" if first.at < ready_at else " ")
                      if first else f"{'-':>9}")
        stats = (f"{len(warm):>7} {statistics.median(warm):>7.0f} {p95(warm):>7.0f} "
                 f"{max(warm):>7.0f}" if warm else f"{0:>7} {'-':>7} {'-':>7} {'-':>7}")
        lines.append(f"{page:<13} {role:<12} {nats.replace('-', ''):<4} {count:>8} "
                     f"{first_cell} {stats}")
    lines.append("-" * len(head))
    minutes = (clock_stop - clock_start) / 60
    expected = sum(sessions.values()) * (clock_stop - clock_start) / every
    late_full = sum(1 for r in runs if r.kind == "full" and clock_start <= r.at <= clock_stop)
    lines += [
        f"warm reruns: {len(all_warm)} in {minutes:.1f} min (about {expected:.0f} expected), "
        f"overall p50 {statistics.median(all_warm) if all_warm else float('nan'):.0f} ms, "
        f"p95 {p95(all_warm) if all_warm else float('nan'):.0f} ms, "
        f"max {max(all_warm, default=float('nan')):.0f} ms"
        + (f"; {late_full} full page runs in that time" if late_full else ""),
        f"server resident memory: peak {sampler.peak_mb():.0f} MB over the whole run, "
        f"{sampler.peak_mb(clock_start):.0f} MB while refreshing",
        f"CPU while refreshing, in cores of {os.cpu_count()}: server "
        f"{sampler.cpu_share(clock_start, clock_stop):.2f}, browser "
        f"{sampler.cpu_share(clock_start, clock_stop, column=3):.2f}; machine load average "
        f"{load[0]:.2f} at start, {load[1]:.2f} at end",
        "* first render ran while the server was still finding its shared facts",
    ]
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------

def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url", help="use this database instead of building one")
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="how long to watch the sessions refresh (default 5)")
    parser.add_argument("--every", type=int, default=30,
                        help="refresh interval and cache lifetime, seconds (default 30)")
    parser.add_argument("--sessions", type=int, default=len(MIX),
                        help=f"browser sessions, taken from the mix in order (default {len(MIX)})")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working folder (timing log, server log, users file)")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        sys.exit(f"{args.chromium} not found: install Debian's `chromium` package.")

    db_url = args.db_url or build_database(args.persons, args.seed)
    mix = [MIX[i % len(MIX)] for i in range(args.sessions)]
    nats = liaison_nationalities(db_url)
    folder = Path(tempfile.mkdtemp(prefix="sitroom-sessions-"))
    timing_log = folder / "timing.tsv"
    users_file = make_users(folder, nats)

    def stop(signum, frame):  # SIGTERM cleans up as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    proc, base = start_server(db_url, folder, users_file, args.every, timing_log)
    sampler = Sampler(proc.pid, database_backends(db_url))
    sampler.start()
    say(f"server at {base}, working folder {folder}")
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS,
                                        headless=True)
            pages, sessions = [], defaultdict(int)
            ready_at = float("inf")
            for n, (role, slot, page_key) in enumerate(mix):
                nat = nats.get(slot, "")
                started = time.time()
                _, page = open_session(browser, base, account_name(role, nat), page_key)
                pages.append(page)
                sessions[(page_key, role, nat or "-")] += 1
                say(f"session {n + 1}/{len(mix)}: {role} {nat} on {page_key}, "
                    f"open in {time.time() - started:.0f} s")
                if n == 0:  # the first sign-in starts the server's background work
                    say("waiting for the server to go quiet (shared facts found)")
                    if not sampler.wait_quiet():
                        say("the server never went quiet; going on")
                    ready_at = time.time()
            for page in pages:
                settle(page, timeout_s=300)
            clock_start = time.time()
            load_start = os.getloadavg()[0]
            say(f"all sessions open; watching them refresh for {args.minutes:g} min")
            deadline = clock_start + args.minutes * 60
            next_note = clock_start + 60
            while time.time() < deadline:
                pages[0].wait_for_timeout(1000)  # keeps Playwright's connection read
                if proc.poll() is not None:
                    say("the server stopped")
                    break
                if time.time() >= next_note:
                    warm = [r for r in read_runs(timing_log)
                            if r.kind in REFRESHES and r.at >= clock_start]
                    say(f"{len(warm)} refreshes so far, server {sampler.samples[-1][1]:.0f} MB")
                    next_note += 60
            clock_stop = time.time()
            load_stop = os.getloadavg()[0]
            errors = sum(page.locator('[data-testid="stException"]').count() for page in pages)
            browser.close()
        print(f"\n{db_url.split('/')[-1]}: {len(mix)} sessions refreshing every {args.every} s "
              f"for {args.minutes:g} min\n")
        print(report(read_runs(timing_log), sessions, ready_at, clock_start, clock_stop,
                     sampler, args.every, (load_start, load_stop)))
        if errors:
            print(f"{errors} sessions show an exception at the end")
        log = (folder / "server.log").read_text()
        failures = (log.count("Traceback") - log.count("The above exception was")
                    - log.count("During handling of the above exception"))  # one per chain
        if failures:
            print(f"{failures} errors logged by the server "
                  + (f"({folder / 'server.log'})" if args.keep else "(--keep keeps it)"))
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        sampler.stopping.set()
        stop_server(proc)
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
