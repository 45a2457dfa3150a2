"""Browser benchmark: what a person waits for in the browser, at the reference scale.

    python benchmarks/bench_browser.py                              # 1,000,000 persons, SQLite
    python benchmarks/bench_browser.py --db-url postgresql://...    # an existing database
    python benchmarks/bench_browser.py --roles committee --visits 3 --idle-minutes 1

Starts the dashboard the way an operator does (`sitroom run`, accounts made with
`sitroom users add`, SITROOM_CACHE_TTL_S = --every) and drives it in Debian's
chromium, headless, through Playwright (WebGL through SwiftShader, pages rastered on
the CPU: tests/browser/driving.py). Each role has a browser context of its own,
signs in once on the Overview, then clicks through every page it may open
(dashboard.rules.access.pages_for) in the sidebar navigation: once cold, then
--visits rounds, so that each visit to a page comes from another page.
The consular liaison is one of the largest nationality. Every page runs on the live
scenario, the Drill page too (on it, the Drill page shows only its head).

Then benchmarks/naive_app.py, the same five shared pages as a typical developer
would write them (whole tables read with pd.read_sql, cached 30 s; pandas; Plotly;
every person on a pydeck map; no sign-in), runs under `streamlit run` on the same
database and is timed the same way, as the reference.

A visit is settled when Streamlit's script has run since the click (its state seen
changing, or the clicked page's heading drawn: a run of a few milliseconds may start
and end within one of React's batches, and its state is never seen changing) and is idle
(`.stApp`'s data-test-script-state "notRunning"), the page is shown, and the page's
DOM has not changed for 400 ms, unless the script starts another run within 3 s; it
took from the click to the frame that drew the last change before that quiet (the
start of the second animation frame after the change: a GPU process busy compiling,
the first Map's WebGL programs say, holds the frames, and a page is seen only when it
is drawn). Changes inside a canvas
(its fallback content, which the browser never draws: the accessible copy of the
visible cells that a data grid rewrites 200 ms after drawing them) are not changes
of the page a person sees. A MutationObserver in the
page (childList, attributes, characterData, subtree of document.body) notes the
moment of each change, in the page's own performance.now() clock, as a listener does
the click. Three additions to "idle and quiet for 400 ms", all for the landing after
sign-in: the page is shown when its heading is (the empty page between the form
going and the Overview coming is not the Overview); a page showing
the notice that the server is still counting its first figures (components/page.py,
its hourglass icon) is not shown; and a run that starts within 3 s of the page going
idle is part of the visit (after a server start at 1M, the Overview first draws its
head and the notice, and looks again every second until the figures come). Our
sign-in form is typed in as soon as it is idle and quiet, as a person would, without
waiting for late changes.

  cold s      the first visit of the page by this role after the server started: from
              the click on its link to settled. The Overview's is the landing after
              sign-in, from the press of Sign in (the naive app's: from the start of
              its page load). The first role's Overview is also the first page after
              the server start; the other cold visits come once the server has gone
              quiet (found its shared facts, dashboard/figures/warmup.py; on
              PostgreSQL, its queries in the database's processes included)
  warm p50/p95  the --visits further visits (p95 by nearest rank: with 5 visits or
              fewer, the slowest of them)
  still changing  the longest span, over all visits, from the script's first idle after
              the click to the last change of the page, watched after settled until
              the page has been still for 2 s (at most 10 s more): a page that
              redraws itself after it has appeared (a second run, a map drawn after
              a pause longer than 400 ms, which settled does not wait for). A page
              whose main thread is held (a map of a million points) is read late and
              may show more than that
  KB/visit    websocket bytes the browser received from click to settled (p50 of the
              warm visits)
  naive warm p50  the naive app's same page, warm; × naive is it over our warm p50,
              and × naive cold the same for cold visits. Only in the committee's rows:
              the naive app shows everyone everything as counts, no sign-in
  misses      ✗ and which targets the row misses

Below the table: the first usable page after a server start (seconds from launching
the server process to the first role's Overview settled after signing in; for the
naive app, launch to its Overview settled; the robot's typing of the account, about
a second, included), the CPU the server (with its database's processes) and the
browser used from the server's answer to that page (they share the machine's cores:
the first start waits for both), the server's CPU with no session open
(it, its children and, on PostgreSQL, the database's processes serving it, for
--idle-minutes after every browser context is closed, in % of one core), the database,
and the machine's load. The browser runs on the same machine and takes CPU from the
server. A visit that does not settle within --timeout
seconds is shown as "> N".

Targets (the product's requirements): every page settled within 1.5 s warm p95 and 3 s cold;
at least 2× faster than the naive pattern (the Map 10×); the first usable page within
15 s of a server start; an idle server ≤ 5% of one core; no page changing more than
1 s after it appears. Prints a table, asserts nothing. Ctrl-C stops the servers and
the browser.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_pages import build_database  # noqa: E402
from benchmarks.bench_sessions import (  # noqa: E402
    CHROMIUM_ARGS,
    PASSWORD,
    Sampler,
    account_name,
    database_backends,
    free_port,
    liaison_nationalities,
    make_users,
    p95,
    say,
    sitroom_command,
    start_server,
    stop_server,
)
from tests.browser.driving import fill_sign_in  # noqa: E402

NAIVE_APP = ROOT / "benchmarks" / "naive_app.py"
NAIVE_PAGES = ("overview", "map", "shelters", "referrals", "evacuation")
NAV = '[data-testid="stSidebarNavLink"]'
QUIET_MS = 400
RERUN_S = 3.0  # a run that starts this soon after the page went idle is part of the visit
LINGER_S, LINGER_MAX_S = 2.0, 10.0  # watching a settled page for late changes
WARM_P95_S, COLD_S, CHANGING_S, FIRST_S, IDLE_PCT = 1.5, 3.0, 1.0, 15.0, 5.0

# In every page, before Streamlit's own scripts: the moment of the last click and of
# the last DOM change, whether the script ran since the click, and when it first went
# idle with the page shown: its heading (`title`, set before the click) there, and
# not the notice that the server is still counting (components/page.py, hourglass).
WATCH_JS = """(() => {
  const b = window.__bench = {click: 0, last: 0, ran: false, idle: null, title: null,
                              changes: 0};
  const state = () => document.querySelector('.stApp')?.getAttribute('data-test-script-state');
  // An alert's icon has a test id of its own (stAlertDynamicIcon), not stIconMaterial.
  const counting = () => [...document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stAlertDynamicIcon"], '
    + '[data-testid="stMain"] [data-testid="stIconMaterial"]')]
    .some(i => i.textContent === 'hourglass_top');
  b.titled = () => !!b.title && [...document.querySelectorAll('[data-testid="stMain"] h1')]
    .some(h => h.textContent.includes(b.title));
  b.shown = () => !counting() && (!b.title
    || !!document.querySelector('[data-testid="stException"]') || b.titled());
  // When the change last seen was on screen: the start of the second animation frame
  // after it (the first frame drew it). A GPU process still compiling, say WebGL
  // programs, holds the frames, and a page is not seen before it is drawn.
  b.drawn = 0;
  let asking = false;
  const ask = () => {
    if (asking) return;
    asking = true;
    const mark = b.last;
    requestAnimationFrame(() => requestAnimationFrame(() => {
      asking = false;
      if (b.last === mark) b.drawn = performance.now(); else ask();
    }));
  };
  addEventListener('click', () => {
    b.click = b.last = performance.now(); b.ran = false; b.idle = null; ask();
  }, true);
  // A canvas's children are its fallback content, never drawn: a data grid keeps there
  // an accessible copy of the cells it shows, rewritten 200 ms after it draws them.
  const unseen = (r) => {
    const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    const canvas = el?.closest('canvas');
    return !!canvas && (canvas !== el || r.type === 'childList');
  };
  const seen = (all) => {
    const records = all.filter(r => !unseen(r));
    if (!records.length) return;
    b.last = performance.now();
    ask();
    const changes = records.filter(r => r.attributeName === 'data-test-script-state').length;
    if (changes) {
      b.ran = true;
      b.changes += changes;
      if (b.idle === null && state() === 'notRunning' && b.shown()) b.idle = b.last;
    }
  };
  const watch = () => new MutationObserver(seen).observe(document.body,
    {childList: true, attributes: true, characterData: true, subtree: true});
  document.body ? watch() : addEventListener('DOMContentLoaded', watch);
})();"""

# Truthy once the script has run since the click, is idle, the page is shown and the
# DOM has been quiet.
SETTLED_JS = """(quiet) => {
  const b = window.__bench, now = performance.now();
  const idle = document.querySelector('.stApp')?.getAttribute('data-test-script-state')
    === 'notRunning';
  // A run of a few milliseconds may start and end within one of React's batches, and
  // the script state is never seen changing: the new page's heading shows it ran.
  return b && (b.ran || b.titled()) && idle && b.shown() && now - b.last >= quiet
    && b.drawn >= b.last
    ? {click: b.click, last: b.last, drawn: b.drawn, idle: b.idle ?? b.last, now,
       changes: b.changes} : null;
}"""

# What the page shows when a visit does not settle (Tab.say_stuck).
STUCK_JS = """() => {
  const b = window.__bench || {};
  return {script: document.querySelector('.stApp')?.getAttribute('data-test-script-state'),
          path: location.pathname, ranSinceClick: b.ran, shown: b.shown ? b.shown() : null,
          msSinceLastChange: Math.round(performance.now() - (b.last ?? 0)),
          headings: [...document.querySelectorAll('[data-testid="stMain"] h1')]
            .map((h) => h.innerText)};
}"""


@dataclass
class Visit:
    seconds: float  # click to settled; inf: not settled within the timeout
    changing: float = 0.0  # first idle to last change
    kb: float = 0.0
    settled_at: float = math.nan  # wall clock
    failed: bool = False  # the page shows an exception


@dataclass
class Row:
    role: str
    page: str
    cold: Visit | None = None
    warm: list[Visit] = field(default_factory=list)


# --- the browser side -------------------------------------------------------------------

class Tab:
    """A page in its own browser context, watched by WATCH_JS, that counts the
    websocket bytes it receives."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.add_init_script(WATCH_JS)
        self.page = self.context.new_page()
        self.received = 0
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload) -> None:
        self.received += len(payload.encode() if isinstance(payload, str) else payload)

    def settled(self, timeout_s: float, since_bytes: int, watch: bool = True) -> Visit:
        """Wait for the page to settle after the last click (or the page load). With
        `watch` false, return once it is idle and quiet, without waiting for a run to
        follow or watching for late changes (a form a person types in at once)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        deadline = time.time() + timeout_s
        while True:
            try:
                handle = self.page.wait_for_function(
                    SETTLED_JS, arg=QUIET_MS, polling=50,
                    timeout=max(1.0, deadline - time.time()) * 1000)
            except PlaywrightTimeout:
                self.say_stuck()
                return Visit(math.inf, kb=(self.received - since_bytes) / 1024)
            r = handle.json_value()
            settled_at = time.time() - (r["now"] - r["drawn"]) / 1000
            kb = (self.received - since_bytes) / 1024
            if not watch or not self.runs_again(r["changes"]):
                break
        last = self.last_change() if watch else r["last"]
        failed = self.page.locator('[data-testid="stException"]').count() > 0
        return Visit((r["drawn"] - r["click"]) / 1000, (last - r["idle"]) / 1000, kb,
                     settled_at, failed)

    def say_stuck(self) -> None:
        """What a page that did not settle shows, to find out why: the script's state,
        what the watcher saw (a run since the click, the page shown, the last change),
        the headings, and a screenshot."""
        try:
            state = self.page.evaluate(STUCK_JS)
            shot = Path(tempfile.gettempdir()) / f"bench-not-settled-{time.time():.0f}.png"
            self.page.screenshot(path=str(shot))
        except Exception as exc:  # a page that hangs may not answer either
            say(f"  not settled, and the page does not answer: {exc}")
            return
        say(f"  not settled: {state}; screenshot {shot}")

    def runs_again(self, changes: int) -> bool:
        """Whether the script starts another run within RERUN_S of going idle: that run
        belongs to the visit."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function("(n) => window.__bench.changes > n", arg=changes,
                                        polling=100, timeout=RERUN_S * 1000)
        except PlaywrightTimeout:
            return False
        return True

    def last_change(self) -> float:
        """The last DOM change once the page has been still for LINGER_S (at most
        LINGER_MAX_S): what a settled page still does, a map drawn after a pause say."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "(q) => performance.now() - window.__bench.last >= q", arg=LINGER_S * 1000,
                polling=100, timeout=LINGER_MAX_S * 1000)
        except PlaywrightTimeout:
            pass
        return self.page.evaluate("window.__bench.last")

    def open(self, url: str, timeout_s: float, watch: bool = True) -> Visit:
        """Load a page: settled is measured from the start of the load. Our sign-in
        form is not watched (`settled`): a person types in it as soon as it is there."""
        before = self.received
        self.page.goto(url, timeout=timeout_s * 1000)
        return self.settled(timeout_s, before, watch)

    def click_nav(self, title: str, timeout_s: float) -> Visit:
        """Click the page's link in the sidebar navigation."""
        link = self.page.locator(NAV, has_text=title).first
        link.wait_for(timeout=timeout_s * 1000)
        self.expect(title)
        before = self.received
        link.click(timeout=timeout_s * 1000)
        return self.settled(timeout_s, before)

    def sign_in(self, username: str, title: str, timeout_s: float) -> Visit:
        """Type the account in the form and press Sign in: settled from the press, on
        the page the reader lands on, with the heading `title`."""
        self.expect(title)
        before = self.received
        try:
            fill_sign_in(self.page, username, PASSWORD)
        except AssertionError:  # its own wait (90 s) ran out: ours is longer
            pass
        return self.settled(timeout_s, before)

    def expect(self, title: str) -> None:
        """The heading the next page shows: it is settled no sooner."""
        self.page.evaluate("(t) => { window.__bench.title = t; }", title)

    def close(self) -> None:
        self.context.close()


def tour(tab: Tab, keys: list[str], titles: dict[str, str], landed: str, first: Visit | None,
         filler: str, visits: int, timeout_s: float, label: str) -> dict[str, Row]:
    """Cold visits of `keys`, then `visits` rounds of them, each from another page.
    `landed` is the page open now, `first` its cold visit (if it is in `keys`); with
    one page alone, `filler` is visited (untimed) between its visits."""
    rows = {key: Row(label, key) for key in keys}
    current = landed
    if landed in rows:
        rows[landed].cold = first
    for key in keys:
        if rows[key].cold is None:
            rows[key].cold = tab.click_nav(titles[key], timeout_s)
            current = key
            note(label, key, "cold", rows[key].cold)
    order = keys if len(keys) > 1 else keys + [filler]
    if order[0] == current:
        order = order[1:] + order[:1]
    for n in range(visits):
        for key in order:
            visit = tab.click_nav(titles[key], timeout_s)
            if key in rows:
                rows[key].warm.append(visit)
                note(label, key, f"warm {n + 1}", visit)
    return rows


def note(label: str, key: str, kind: str, visit: Visit) -> None:
    say(f"  {label} {key} {kind}: {show(visit.seconds)} s, still changing "
        f"{visit.changing:.2f} s, {visit.kb:.0f} KB" + (", ERROR" if visit.failed else ""))


# --- our dashboard --------------------------------------------------------------------

def add_admin(users_file: Path) -> None:
    """bench_sessions' accounts have no admin: add one the same way."""
    cmd = sitroom_command() + ["users", "add", account_name("admin", ""), "--role", "admin",
                               "--users", str(users_file)]
    done = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"`sitroom users add` failed: {done.stderr.strip()}")


def run_ours(p, args, db_url: str, folder: Path, roles: list[str], pages: list[str] | None,
             nats: dict[str, str]) -> tuple[list[Row], float, tuple[float, float], float, Path]:
    """Start the dashboard, take each role's tour, close the browser, watch the idle
    server. Returns the rows, the first usable page (s), the CPU seconds the server
    (with its database's processes) and the browser used from the server's answer to
    that page, the idle CPU (%), the log."""
    from dashboard.rules import access

    users_file = make_users(folder, nats)
    add_admin(users_file)
    titles = {key: spec.title for key, spec in access.PAGES.items()}
    browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS,
                                headless=True)
    launched = time.time()
    proc, base = start_server(db_url, folder, users_file, args.every, folder / "timing.tsv")
    say(f"server answered {time.time() - launched:.1f} s after its launch")
    sampler = Sampler(proc.pid, database_backends(db_url))
    sampler.start()
    rows, first_usable, first_cpu = [], math.nan, (math.nan, math.nan)
    try:
        for role in roles:
            nat = nats["largest"] if role == "consular" else ""
            label = f"{role} ({nat})" if nat else role
            keys = [k for k in access.pages_for(role) if not pages or k in pages]
            if not keys:
                continue
            tab = Tab(browser)
            form = tab.open(base, args.timeout, watch=False)
            say(f"{label}: sign-in form settled {form.settled_at - launched:.1f} s after "
                "the server's launch")
            landing = tab.sign_in(account_name(role, nat), titles["overview"], args.timeout)
            note(label, "overview", "signed in", landing)
            if math.isnan(first_usable):
                first_usable = landing.settled_at - launched
                first_cpu = (sampler.used(0, landing.settled_at)[0],
                             sampler.used(0, landing.settled_at, column=3)[0])
                say("waiting for the server to go quiet (shared facts found)")
                sampler.wait_quiet()
            filler = next(k for k in access.pages_for(role) if k != keys[0])
            rows += tour(tab, keys, titles, "overview", landing, filler, args.visits,
                         args.timeout, label).values()
            tab.close()
        browser.close()
        idle = idle_cpu(sampler, args.idle_minutes)
    finally:
        sampler.stopping.set()
        stop_server(proc)
    return rows, first_usable, first_cpu, idle, folder / "server.log"


def idle_cpu(sampler: Sampler, minutes: float) -> float:
    """% of one core the server used with no session open."""
    if minutes <= 0:
        return math.nan
    say(f"no session open: watching the server's CPU for {minutes:g} min")
    started = time.time()
    time.sleep(minutes * 60)
    return 100 * sampler.cpu_share(started, time.time())


# --- the naive app ----------------------------------------------------------------------

def start_naive(db_url: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run benchmarks/naive_app.py` in a folder of its own (Streamlit's
    defaults, not the project's .streamlit/)."""
    from dashboard.store.db import normalize_url

    port = free_port()
    env = {**os.environ, "NAIVE_DB_URL": normalize_url(db_url).render_as_string(False),
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    log = folder / "naive.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(NAIVE_APP), "--server.headless",
             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    sys.exit("The naive app did not start:\n" + log.read_text()[-3000:])


def run_naive(p, args, db_url: str, folder: Path, pages: list[str] | None
              ) -> tuple[dict[str, Row], float]:
    """The naive app's tour of its pages. Returns its rows and its first usable page."""
    keys = [k for k in NAIVE_PAGES if not pages or k in pages]
    titles = {"overview": "Overview", "map": "Map", "shelters": "Shelters",
              "referrals": "Referrals", "evacuation": "Evacuation"}
    browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS,
                                headless=True)
    launched = time.time()
    proc, base = start_naive(db_url, folder)
    say(f"naive app answered {time.time() - launched:.1f} s after its launch")
    try:
        tab = Tab(browser)
        landing = tab.open(base, args.timeout)
        note("naive", "overview", "loaded", landing)
        filler = next(k for k in NAIVE_PAGES if k != keys[0])
        rows = tour(tab, keys, titles, "overview", landing, filler, args.visits, args.timeout,
                    "naive")
        browser.close()
    finally:
        stop_server(proc)
    return rows, landing.settled_at - launched


# --- the report -------------------------------------------------------------------------

def show(seconds: float, timeout: float = math.inf) -> str:
    if math.isinf(seconds):
        return f"> {timeout:.0f}" if math.isfinite(timeout) else "> timeout"
    return "-" if math.isnan(seconds) else f"{seconds:.2f}"


def warm_stats(row: Row) -> tuple[float, float, float, float]:
    """Warm p50 and p95 (s), the longest still-changing span (s), KB p50."""
    seconds = [v.seconds for v in row.warm] or [math.nan]
    changing = [v.changing for v in row.warm + ([row.cold] if row.cold else [])] or [0.0]
    kb = [v.kb for v in row.warm] or [math.nan]
    return statistics.median(seconds), p95(seconds), max(changing), statistics.median(kb)


def ratio(naive: float, ours: float) -> str:
    if math.isnan(naive) or math.isnan(ours) or ours <= 0:
        return "·"
    if math.isinf(naive):
        return "> timeout"
    return f"{naive / ours:.1f}×" if math.isfinite(ours) else "< 1×"


def misses(row: Row, naive: Row | None) -> list[str]:
    """The targets this row misses."""
    p50, p95_s, changing, _ = warm_stats(row)
    missed = []
    if row.cold and not row.cold.seconds <= COLD_S:
        missed.append("cold")
    if not p95_s <= WARM_P95_S:
        missed.append("warm")
    if not changing <= CHANGING_S:
        missed.append("changing")
    if naive:
        need = 10 if row.page == "map" else 2
        if not warm_stats(naive)[0] >= need * p50:
            missed.append(f"<{need}× naive")
    if any(v.failed for v in row.warm + ([row.cold] if row.cold else [])):
        missed.append("error")
    return missed


def table(rows: list[Row], naive: dict[str, Row], timeout: float) -> str:
    head = ("| role | page | cold s | warm p50 s | warm p95 s | still changing s (max) "
            "| KB/visit (p50) | naive warm p50 s | × naive | × naive cold | misses |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        p50, p95_s, changing, kb = warm_stats(row)
        cold = row.cold.seconds if row.cold else math.nan
        other = naive.get(row.page) if row.role == "committee" else None
        naive_p50 = warm_stats(other)[0] if other else math.nan
        naive_cold = other.cold.seconds if other and other.cold else math.nan
        missed = misses(row, other)
        lines.append(
            f"| {row.role} | {row.page} | {show(cold, timeout)} | {show(p50, timeout)} "
            f"| {show(p95_s, timeout)} | {changing:.2f} | {kb:.0f} "
            f"| {show(naive_p50, timeout) if other else '·'} | {ratio(naive_p50, p50)} "
            f"| {ratio(naive_cold, cold)} | {'✗ ' + ', '.join(missed) if missed else ''} |")
    return "\n".join(lines)


def naive_table(naive: dict[str, Row], timeout: float) -> str:
    head = ("| naive page | cold s | warm p50 s | warm p95 s | still changing s (max) "
            "| KB/visit (p50) | errors |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in naive.values():
        p50, p95_s, changing, kb = warm_stats(row)
        failed = any(v.failed for v in row.warm + [row.cold])
        lines.append(f"| {row.page} | {show(row.cold.seconds, timeout)} | {show(p50, timeout)} "
                     f"| {show(p95_s, timeout)} | {changing:.2f} | {kb:.0f} "
                     f"| {'✗ error' if failed else ''} |")
    return "\n".join(lines)


def mark(ok: bool) -> str:
    return "" if ok else " ✗"


def server_errors(log: Path) -> int:
    """Tracebacks the server logged, one per chain."""
    text = log.read_text() if log.exists() else ""
    return (text.count("Traceback") - text.count("The above exception was")
            - text.count("During handling of the above exception"))


# --- the run ----------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--db-url", help="use this database instead of building one")
    parser.add_argument("--visits", type=int, default=5,
                        help="warm visits of each page per role (default 5)")
    parser.add_argument("--roles", default="committee,coordinator,consular,admin",
                        help="comma-separated, in this order; the first one's Overview is "
                             "the first page after the server start")
    parser.add_argument("--pages", help="comma-separated page keys (default: every page)")
    parser.add_argument("--idle-minutes", type=float, default=5.0,
                        help="how long to watch the idle server's CPU (default 5; 0 skips)")
    parser.add_argument("--no-naive", action="store_true", help="leave out the naive app")
    parser.add_argument("--every", type=int, default=30,
                        help="refresh interval and cache lifetime, seconds (default 30)")
    parser.add_argument("--timeout", type=float, default=180,
                        help="longest wait for one visit to settle, seconds (default 180)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working folder (server logs, users file)")
    return parser.parse_args()


def first_after_restart(p, args, db_url: str, folder: Path) -> float:
    """Start the dashboard again on the same SITROOM_HOME, whose facts/ keeps what the
    first start counted (dashboard/store/kept.py), and time the first usable page as
    on the first start: the committee's Overview, settled after signing in."""
    from dashboard.rules import access

    browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS,
                                headless=True)
    launched = time.time()
    proc, base = start_server(db_url, folder, folder / "users.yaml", args.every,
                              folder / "timing.tsv")
    try:
        tab = Tab(browser)
        tab.open(base, args.timeout, watch=False)
        landing = tab.sign_in(account_name("committee", ""), access.PAGES["overview"].title,
                              args.timeout)
        note("committee", "overview", "signed in after a restart", landing)
        browser.close()
        return landing.settled_at - launched
    finally:
        stop_server(proc)


def main() -> None:
    args = parse_args()
    if not Path(args.chromium).exists():
        sys.exit(f"{args.chromium} not found: install Debian's `chromium` package.")
    from playwright.sync_api import sync_playwright

    from dashboard.store.db import describe

    roles = [r for r in args.roles.split(",") if r]
    pages = [k for k in args.pages.split(",") if k] if args.pages else None
    db_url = args.db_url or build_database(args.persons, 1)
    load_start = os.getloadavg()[0]
    nats = liaison_nationalities(db_url)
    folder = Path(tempfile.mkdtemp(prefix="sitroom-browser-"))

    def stop(signum, frame):  # SIGTERM cleans up as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        with sync_playwright() as p:
            rows, first, first_cpu, idle, log = run_ours(p, args, db_url, folder, roles,
                                                         pages, nats)
            again = first_after_restart(p, args, db_url, folder)
            naive, naive_first = {}, math.nan
            if not args.no_naive and (not pages or set(pages) & set(NAIVE_PAGES)):
                naive, naive_first = run_naive(p, args, db_url, folder, pages)
        load_end = os.getloadavg()[0]
        print(f"\n{describe(db_url)}: {args.visits} warm visits per page, refresh every "
              f"{args.every} s\n")
        print(table(rows, naive, args.timeout))
        if naive:
            print()
            print(naive_table(naive, args.timeout))
        print(f"\nfirst usable page after a server start: ours {show(first, args.timeout)} s"
              f"{mark(first <= FIRST_S)} on a first start (every shared fact counted), "
              f"{show(again, args.timeout)} s{mark(again <= FIRST_S)} after a restart "
              "(taken back from SITROOM_HOME/facts); naive "
              + (f"{show(naive_first, args.timeout)} s" if naive else "not run"))
        # the two share the machine's cores: what the first start waits for, in CPU
        print(f"CPU used from the server's answer to the first usable page: the server "
              f"and its database's processes {first_cpu[0]:.1f} s, the browser "
              f"{first_cpu[1]:.1f} s")
        print("idle server CPU (no session open): " + (
            "not measured" if math.isnan(idle) else
            f"{idle:.1f}% of one core over {args.idle_minutes:g} min{mark(idle <= IDLE_PCT)}"))
        print(f"database: {describe(db_url)}")
        print(f"machine load average (1 min, {os.cpu_count()} cores): {load_start:.2f} at "
              f"start, {load_end:.2f} at end")
        errors = server_errors(log)
        if errors:
            print(f"{errors} errors logged by the server"
                  + (f" ({log})" if args.keep else " (--keep keeps the log)"))
        print(f"\nTargets: every page settled within {WARM_P95_S} s warm p95 and {COLD_S:g} s "
              f"cold; at least 2× faster than the naive pattern (the Map 10×); the first "
              f"usable page within {FIRST_S:g} s of a server start; an idle server ≤ "
              f"{IDLE_PCT:g}% of one core; no page changing more than {CHANGING_S:g} s after "
              f"it appears. ✗ marks a miss.")
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
