"""The `sitroom` command line: generate a scenario, migrate a database, run the dashboard."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboard import config


def _generate(args: argparse.Namespace) -> int:
    from dashboard.generate import GenerateError, generate

    if bool(args.out) == bool(args.db_url):
        return _fail("give exactly one of --out FILE.sqlite or --db-url URL")
    if args.persons < 1:
        return _fail(f"--persons must be at least 1, got {args.persons}")
    if args.out:
        out = Path(args.out)
        if out.exists():
            return _fail(f"{out} already exists; choose a new file or delete it first")
        if not out.parent.exists():
            return _fail(f"folder {out.parent} does not exist")
        url = f"sqlite:///{out}"
    else:
        url = args.db_url
    try:
        report = generate(url, persons=args.persons, seed=args.seed, dirty=args.dirty,
                          progress=lambda msg: print(msg, file=sys.stderr))
    except GenerateError as exc:
        return _fail(str(exc))
    print(report.summary() if hasattr(report, "summary") else report)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from dashboard import db, schema

    url = config.db_url(args.db_url)
    schema.upgrade(db.writable_engine(url))
    print(f"{db.describe(url)} is at data contract version {schema.expected_version()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.db_url:
        os.environ["SITROOM_DB_URL"] = args.db_url
    app = config.PROJECT_ROOT / "app.py"
    from streamlit.web import cli as streamlit_cli

    sys.argv = ["streamlit", "run", str(app), "--server.port", str(args.port)]
    os.chdir(config.PROJECT_ROOT)  # .streamlit/config.toml is read from here
    return streamlit_cli.main()


def _fail(message: str) -> int:
    print(f"sitroom: {message}", file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sitroom", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="build a deterministic synthetic crisis scenario")
    gen.add_argument("--persons", type=int, required=True, help="persons in the live scenario")
    gen.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    gen.add_argument("--out", help="new SQLite file to write")
    gen.add_argument("--db-url", help="database URL to write into (must hold no scenario)")
    gen.add_argument("--dirty", action="store_true",
                     help="add a known set of rows that break the data contract")
    gen.set_defaults(func=_generate)

    mig = sub.add_parser("migrate", help="create or upgrade the data contract in a database")
    mig.add_argument("--db-url", help="database URL (default: SITROOM_DB_URL or the demo)")
    mig.set_defaults(func=_migrate)

    run = sub.add_parser("run", help="start the dashboard")
    run.add_argument("--db-url", help="database URL (default: SITROOM_DB_URL or the demo)")
    run.add_argument("--port", type=int, default=8501, help="port to listen on")
    run.set_defaults(func=_run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
