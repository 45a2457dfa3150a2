"""Browser A/B: one page's visit in two code trees, visits taken in turn, at the reference scale.

    git worktree add /tmp/sitroom-before HEAD~1
    python benchmarks/bench_browser_ab.py --a /tmp/sitroom-before --b .
    python benchmarks/bench_browser_ab.py --a /tmp/sitroom-before --b . --page map --from shelters
    python benchmarks/bench_browser_ab.py --a . --b . --from-a map --from-b referrals

On this machine one visit of a page varies by ±0.1 s from one to the next, and from
one run of bench_browser.py to another by as much: a change worth 50 ms cannot be
seen by comparing two runs. Here two servers run side by side on one database, one
of each code tree (`sitroom run` of each checkout, with a SITROOM_HOME of its own),
each with a signed-in reader of --role in a browser context of its own, and the two
readers take turns: A visits --from then --page, then B does, then B first, then A, so
that whatever else the machine does falls on both alike. A visit is timed as in
bench_browser.py: from the click on the page's link in the sidebar to the page
settled. Each server has gone quiet (found its shared facts) before the first visit.

  p50 / mean / p95  the visits of --page in each tree (p95 by nearest rank)
  B − A       the difference of each pair of visits taken one after the other: its
              median and mean, and how many pairs B was the faster

Prints a table, asserts nothing. For a change meant to make a page faster in the
browser; the whole picture, and the targets, are bench_browser.py's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_browser import CHROMIUM_ARGS, Tab  # noqa: E402
from benchmarks.bench_pages import build_database  # noqa: E402
from benchmarks.bench_sessions import (  # noqa: E402
    Sampler,
    account_name,
    database_backends,
    liaison_nationalities,
    make_users,
    p95,
    say,
    start_server,
    stop_server,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="checkout of the project: A")
    parser.add_argument("--b", type=Path, required=True, help="checkout of the project: B")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--db-url", help="use this database instead of building one")
    parser.add_argument("--page", default="shelters", help="the page timed (its key)")
    parser.add_argument("--from", dest="from_page", default="map",
                        help="the page each visit comes from (bench_browser.py's tour "
                             "comes to Shelters from the Map)")
    parser.add_argument("--from-a", help="A's page to come from, if not --from")
    parser.add_argument("--from-b", help="B's page to come from, if not --from")
    parser.add_argument("--role", default="committee",
                        help="committee, coordinator, consular (of the largest "
                             "nationality) or admin")
    parser.add_argument("--visits", type=int, default=12, help="timed visits in each tree")
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from playwright.sync_api import sync_playwright

    from dashboard.rules import access

    db_url = args.db_url or build_database(args.persons, 1)
    titles = {key: spec.title for key, spec in access.PAGES.items()}
    sides = {"A": args.a.resolve(), "B": args.b.resolve()}
    coming_from = {"A": args.from_a or args.from_page, "B": args.from_b or args.from_page}
    for key in [args.page, *coming_from.values()]:
        if key not in titles or key not in access.pages_for(args.role):
            sys.exit(f"{args.role} has no page {key!r}: {', '.join(access.pages_for(args.role))}")
    for side, root in sides.items():
        if not (root / "app.py").exists():
            sys.exit(f"--{side.lower()} {root}: not a checkout of the project (no app.py)")
    nats = liaison_nationalities(db_url)
    nat = nats["largest"] if args.role == "consular" else ""
    times: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="sitroom-ab-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS,
                                    headless=True)
        servers, tabs = {}, {}
        try:
            for side, root in sides.items():
                folder = Path(tmp) / side
                folder.mkdir()
                users = make_users(folder, nats)
                servers[side], base = start_server(db_url, folder, users, 30,
                                                   folder / "timing.tsv", root=root)
                sampler = Sampler(servers[side].pid, database_backends(db_url))
                sampler.start()
                tabs[side] = Tab(browser)
                tabs[side].open(base, args.timeout, watch=False)
                tabs[side].sign_in(account_name(args.role, nat), titles["overview"],
                                   args.timeout)
                say(f"{side} ({root}): signed in; waiting for the server to go quiet")
                sampler.wait_quiet()
                sampler.stopping.set()
            # one untimed round first: each tab's first visit of the page is a cold one
            for n in range(args.visits + 1):
                for side in ("A", "B") if n % 2 else ("B", "A"):
                    tabs[side].click_nav(titles[coming_from[side]], args.timeout)
                    visit = tabs[side].click_nav(titles[args.page], args.timeout)
                    if n:
                        times[side].append(visit.seconds)
                        say(f"  {side} visit {n}: {visit.seconds:.3f} s")
            browser.close()
        finally:
            for proc in servers.values():
                stop_server(proc)

    print(f"\n{args.role}'s {args.page}, each visit from "
          + (coming_from["A"] if coming_from["A"] == coming_from["B"] else
             f"{coming_from['A']} (A) and {coming_from['B']} (B)")
          + f": {args.visits} visits in each tree, taken in turn\n")
    print("| tree | checkout | p50 s | mean s | p95 s |")
    print("|---|---|---|---|---|")
    for side, root in sides.items():
        seen = times[side]
        print(f"| {side} | {root} | {statistics.median(seen):.3f} | "
              f"{statistics.mean(seen):.3f} | {p95(seen):.3f} |")
    pairs = [b - a for a, b in zip(times["A"], times["B"], strict=True)]
    print(f"\nB − A, pair by pair: median {statistics.median(pairs):+.3f} s, mean "
          f"{statistics.mean(pairs):+.3f} s; B the faster in {sum(d < 0 for d in pairs)} "
          f"of {len(pairs)} pairs")


if __name__ == "__main__":
    main()
