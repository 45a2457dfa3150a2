"""The `sitroom` command line: generate a scenario, migrate a database, manage users,
run the dashboard, play a drill."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboard import config


def _generate(args: argparse.Namespace) -> int:
    from dashboard.tools.generate import GenerateError, generate

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
    from dashboard.contract import schema
    from dashboard.store import db

    url = config.db_url(args.db_url)
    schema.upgrade(db.writable_engine(url))
    print(f"{db.describe(url)} is at data contract version {schema.expected_version()}")
    return 0


def _read_password() -> str:
    """The new password from standard input: typed twice at a terminal, else one line."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise ValueError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _users_add(args: argparse.Namespace) -> int:
    from dashboard.rules import users

    path = Path(args.users) if args.users else config.users_path()
    try:
        # Checked before the password is read, so a typo costs nothing.
        users.check_scope(args.role, [n.strip().upper() for n in args.nationality],
                          f"user {args.name!r}")
        account = users.add(path, args.name, args.role, args.nationality, _read_password(),
                            name=args.full_name)
    except (users.UsersError, ValueError) as exc:
        return _fail(str(exc))
    scope = f" for {', '.join(account.nationalities)}" if account.nationalities else ""
    print(f"Added {account.username} ({account.role}{scope}) to {path}")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from dashboard.rules import users

    path = Path(args.users) if args.users else config.users_path()
    try:
        accounts = users.load(path)
    except users.UsersError as exc:
        return _fail(str(exc))
    for a in accounts.values():
        print(f"{a.username}\t{a.role}\t{','.join(a.nationalities) or '-'}\t{a.name}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.db_url:
        os.environ["SITROOM_DB_URL"] = args.db_url
    if args.users:
        users_file = Path(args.users).resolve()
        if not users_file.exists():
            return _fail(f"the users file {users_file} does not exist; create it with "
                         "`sitroom users add NAME --role ROLE --users FILE`")
        os.environ["SITROOM_USERS"] = str(users_file)
    app = config.PROJECT_ROOT / "app.py"
    os.chdir(config.PROJECT_ROOT)  # .streamlit/config.toml is read from here
    # Streamlit becomes this process (the core itself never imports it), so signals
    # and the exit status are the server's own.
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(app),
                              "--server.port", str(args.port)])


def _simulate(args: argparse.Namespace) -> int:
    from dashboard.tools import simulate
    from dashboard.tools.drill_script import ScriptError, load

    if args.check:
        try:
            script = load(args.script)
        except ScriptError as exc:
            print(exc.report(), file=sys.stderr)
            return 2
        print(f"{args.script}: drill {script.name!r}, {len(script.injects)} injects, no problems")
        return 0
    if not args.db_url or args.scenario is None:
        return _fail("give --db-url URL and --scenario ID (or --check to read the script only)")
    return simulate.main_simulate(args.db_url, args.scenario, args.script, args.speed,
                                  restart=args.restart, control=args.control)


def _simulate_control(args: argparse.Namespace) -> int:
    import json

    from dashboard.tools import simulate

    control = Path(args.control) if args.control else simulate.control_path(args.db_url,
                                                                            args.scenario)
    if args.command_word == "status":
        state = simulate.read_state(control)
        if state is None:
            return _fail(f"no simulator has reported for scenario {args.scenario} "
                         f"({simulate.state_path(control)})")
        print(json.dumps(state, indent=2))
        return 0
    simulate.send(control, args.command_word)
    print(f"{args.command_word} sent; a running simulator acts on it before its next inject")
    return 0


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
    run.add_argument("--users", help="users file (default: SITROOM_USERS or users.yaml in "
                     "SITROOM_HOME)")
    run.add_argument("--port", type=int, default=8501, help="port to listen on")
    run.set_defaults(func=_run)

    sim = sub.add_parser("simulate", help="play a drill script into an exercise scenario "
                         "(the only command that writes operational rows)")
    sim.add_argument("--db-url", help="database URL of the shared database")
    sim.add_argument("--scenario", type=int, help="id of an exercise scenario")
    sim.add_argument("--script", required=True, help="drill script (YAML, docs/drill-scripts.md)")
    sim.add_argument("--speed", type=float, default=60.0,
                     help="scenario seconds per real second (default 60: a minute a second)")
    sim.add_argument("--restart", action="store_true",
                     help="take back the injects of earlier runs first, then play from the start")
    sim.add_argument("--check", action="store_true",
                     help="only read and check the script; needs no database")
    sim.add_argument("--control", help="control file (default: one per database and scenario "
                     "under SITROOM_HOME/drills)")
    sim.set_defaults(func=_simulate)

    ctl = sub.add_parser("simulate-control", help="pause, resume or restart a running drill, "
                         "or show its status")
    ctl.add_argument("command_word", choices=["pause", "resume", "restart", "status"],
                     metavar="{pause,resume,restart,status}")
    ctl.add_argument("--db-url", required=True, help="database URL the simulator plays into")
    ctl.add_argument("--scenario", type=int, required=True, help="the exercise scenario")
    ctl.add_argument("--control", help="control file, if the simulator was given one")
    ctl.set_defaults(func=_simulate_control)

    usr = sub.add_parser("users", help="manage who may sign in")
    usr_sub = usr.add_subparsers(dest="users_command", required=True)
    add = usr_sub.add_parser("add", help="add a user; the password is read from standard input")
    add.add_argument("name", help="user name (lower-case letters, digits, '.', '_', '-')")
    add.add_argument("--role", required=True, help="committee, consular, coordinator or admin")
    add.add_argument("--nationality", action="append", default=[], metavar="ISO3",
                     help="a nationality a consular liaison serves (repeat for several)")
    add.add_argument("--full-name", help="name shown when signed in (default: the user name)")
    add.add_argument("--users", help="users file (default: SITROOM_USERS or users.yaml in "
                     "SITROOM_HOME)")
    add.set_defaults(func=_users_add)
    lst = usr_sub.add_parser("list", help="list users (never their password hashes)")
    lst.add_argument("--users", help="users file")
    lst.set_defaults(func=_users_list)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
