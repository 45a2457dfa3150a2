"""The `sitroom` command line: generate a scenario, migrate a database, add a scenario and
import upstream files into it, print the SQL of the dashboard's read-only PostgreSQL role,
manage users, run the dashboard, play a drill, write a situation report, keep the
translation catalogs."""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from dashboard import config, language


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
                          progress=lambda msg: print(msg, file=sys.stderr),
                          template=args.template)
    except GenerateError as exc:
        return _fail(str(exc))
    print(report.summary() if hasattr(report, "summary") else report)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from dashboard.contract import schema
    from dashboard.store import db
    from dashboard.tools.importing.scenario import fill_countries

    url = config.db_url(args.db_url)
    engine = db.writable_engine(url)
    try:
        schema.upgrade(engine)
        added = fill_countries(engine)
    except DBAPIError as exc:
        return _fail(f"cannot migrate {db.describe(url)}: {db.first_line(exc)}")
    finally:
        engine.dispose()
    if added:
        print(f"added {added} countries from the ISO 3166 list")
    print(f"{db.describe(url)} is at data contract version {schema.expected_version()}")
    return 0


def _scenario_add(args: argparse.Namespace) -> int:
    from dashboard.tools.importing import scenario
    from dashboard.tools.importing.load import Refusal

    try:
        new_id = scenario.add(args.db_url, args.name, args.kind, args.country,
                              args.starts_at, args.synthetic)
    except Refusal as exc:
        return _fail(str(exc))
    print(f"added {args.kind} scenario {args.name!r}")
    print(new_id)
    return 0


def _import(args: argparse.Namespace) -> int:
    from dashboard.tools.importing import load
    from dashboard.tools.importing.columns import MappingProblem
    from dashboard.tools.importing.read import FileProblem

    try:
        report = load.run(args.db_url, args.kind, Path(args.file), scenario_id=args.scenario,
                          mapping_path=Path(args.mapping) if args.mapping else None,
                          sheet=args.sheet, dry_run=args.dry_run, timezone=args.timezone)
    except (load.Refusal, FileProblem, MappingProblem) as exc:
        return _fail(str(exc))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


# --- the dashboard's PostgreSQL role (docs/deploy.md) ----------------------------------------

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")  # short enough for the policy names below
SCOPE_POLICY = "sitroom_scope_{role}"
ROWS_POLICY = "sitroom_rows"


class ReaderSqlError(ValueError):
    """A role or schema name the reader's SQL cannot be printed for."""


def _ident(name: str) -> str:
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literals(values) -> str:
    return ", ".join(_literal(v) for v in values)


def row_policies(schema: str) -> dict[str, str]:
    """The condition (USING) of the reader's policy on each table with rows about people:
    the rule of docs/design.md §2.2 and §2.3 for the scope that each transaction sets
    (store.db.reading_as), every row for the server's and the aggregate roles' scopes,
    and none when no scope is set."""
    from dashboard.contract import vocab
    from dashboard.rules import access
    from dashboard.store import db

    setting = f"coalesce(current_setting({_literal(db.ROLE_SETTING)}, true), '')"
    all_rows_roles = [db.SERVER.role, *(r for r in access.ROLES if not access.sees_person_level(r))]
    person_roles = [r for r in access.ROLES if access.sees_person_level(r)]
    # Each setting is read once per statement (a scalar subquery), not once per row.
    every_row = f"(SELECT {setting} IN ({_literals(all_rows_roles)}))"
    person_level = f"(SELECT {setting} IN ({_literals(person_roles)}))"
    nats = (f"(SELECT string_to_array(current_setting("
            f"{_literal(db.NATIONALITIES_SETTING)}, true), ','))::text[]")
    s = _ident(schema)

    def of_visible(table: str, column: str, parent: str) -> str:
        # the parent's own policy applies inside: only the rows of visible persons
        return (f"EXISTS (SELECT 1 FROM {s}.{_ident(parent)} x "
                f"WHERE x.id = {_ident(table)}.{_ident(column)})")

    def either(condition: str) -> str:
        return f"{every_row}\n    OR {condition}"

    own_national = (f"({person_level}\n"
                    "        AND consent_consular = true AND protection_confidential = false\n"
                    f"        AND (nationality = ANY ({nats})\n"
                    f"             OR second_nationality = ANY ({nats})))")
    consular_services = f"service IN ({_literals(vocab.CONSULAR_SERVICES)})"
    return {
        "persons": either(own_national),
        "person_vulnerabilities": either(of_visible("person_vulnerabilities", "person_id",
                                                    "persons")),
        "person_events": either(of_visible("person_events", "person_id", "persons")),
        "referrals": either(f"({consular_services}\n        AND "
                            f"{of_visible('referrals', 'person_id', 'persons')})"),
        "referral_events": either(of_visible("referral_events", "referral_id", "referrals")),
        "evacuation_cases": either(of_visible("evacuation_cases", "person_id", "persons")),
        "evacuation_events": either(of_visible("evacuation_events", "case_id",
                                               "evacuation_cases")),
    }


def reader_sql(role: str, schema: str = "public") -> str:
    """The SQL that makes `role` a login that may only read the data contract in
    `schema`, with the row-level security policies of the consular scope (docs/deploy.md).
    Printed, never run: the dashboard does no DDL on the shared database."""
    from dashboard.contract.models import Base
    from dashboard.store import db

    for what, name in (("role", role), ("schema", schema)):
        if not _NAME.match(name):
            raise ReaderSqlError(f"the {what} name {name!r} must be lower-case letters, digits "
                                 "and '_', starting with a letter or '_', at most 48 long")
    tables = [t.name for t in Base.metadata.sorted_tables] + ["alembic_version"]
    every = role + db.ALL_ROWS_SUFFIX
    r, a, s = _ident(role), _ident(every), _ident(schema)
    lit_r, lit_a, lit_s = _literal(role), _literal(every), _literal(schema)
    policies = row_policies(schema)
    out = [
        f"-- Situation Room: {role}, the dashboard's read-only login, on schema {schema}",
        "-- (docs/deploy.md). Run as the owner of the data-contract tables, in every database",
        "-- the dashboard reads, and again after each `sitroom migrate`; running it twice is",
        "-- harmless. Stops at the first error:",
        "--     psql --set=ON_ERROR_STOP=1 --dbname=DATABASE --file=THIS_FILE",
        f"-- Then give the role a password (in psql: \\password {role}) and run the dashboard",
        f"-- with it: sitroom run --db-url postgresql://{role}@HOST/DATABASE",
        "",
        "BEGIN;",
        "",
        "-- The login, with no attribute beyond LOGIN, and its role for every row, granted",
        "-- to it (NOLOGIN, nothing beyond the grants below): the dashboard's sessions read",
        "-- as that role, and as the login itself where the row-level security below must",
        "-- hold them to a liaison's scope. Existing roles with more than that, or members",
        "-- of other roles, are refused, never quietly narrowed.",
        "DO $$",
        "BEGIN",
        f"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit_r}) THEN",
        f"    CREATE ROLE {r} LOGIN;",
        "  END IF;",
        f"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit_a}) THEN",
        f"    CREATE ROLE {a} NOLOGIN;",
        "  END IF;",
        "  IF EXISTS (SELECT FROM pg_catalog.pg_roles",
        f"      WHERE rolname IN ({lit_r}, {lit_a}) AND (rolsuper OR rolbypassrls OR rolcreaterole",
        f"      OR rolcreatedb OR rolreplication OR (rolcanlogin AND rolname = {lit_a})))",
        "    OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m",
        "      JOIN pg_catalog.pg_roles u ON u.oid = m.member",
        "      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid",
        f"      WHERE (u.rolname = {lit_r} AND g.rolname <> {lit_a}) OR u.rolname = {lit_a})",
        "  THEN",
        f"    RAISE EXCEPTION 'role % or % has more power than a reader', {lit_r}, {lit_a};",
        "  END IF;",
        f"  IF EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = {lit_s}",
        f"      AND tableowner IN ({lit_r}, {lit_a})) THEN",
        f"    RAISE EXCEPTION 'role % owns tables in schema %: not a reader', {lit_r}, {lit_s};",
        "  END IF;",
        "END",
        "$$;",
        f"GRANT {a} TO {r};",
        "",
        "-- The database: connect, nothing more. PUBLIC may create temporary tables by",
        "-- default, which every role inherits: that is revoked from PUBLIC (the database's",
        "-- owner keeps it; grant TEMPORARY by name to a writer that needs it).",
        "DO $$",
        "BEGIN",
        f"  EXECUTE format('REVOKE ALL ON DATABASE %I FROM {r}, {a}', current_database());",
        "  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());",
        f"  EXECUTE format('GRANT CONNECT ON DATABASE %I TO {r}', current_database());",
        "END",
        "$$;",
        "",
        "-- The schema: look its tables up, create nothing. PUBLIC may create in schema public",
        "-- before PostgreSQL 15: CREATE is revoked from PUBLIC on this schema and on public,",
        "-- and granted by name to the owner of the data-contract tables, so that",
        "-- `sitroom migrate` still can.",
        f"REVOKE ALL ON SCHEMA {s} FROM {r}, {a};",
        "DO $$",
        "DECLARE",
        "  owner name;",
        "  open_schema name;",
        "BEGIN",
        f"  SELECT tableowner INTO owner FROM pg_catalog.pg_tables WHERE schemaname = {lit_s}",
        "    AND tablename = 'persons';",
        "  FOR open_schema IN SELECT nspname FROM pg_catalog.pg_namespace",
        f"      WHERE nspname IN ({_literals(sorted({schema, 'public'}))}) LOOP",
        "    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', open_schema);",
        "    IF owner IS NOT NULL THEN",
        "      EXECUTE format('GRANT CREATE ON SCHEMA %I TO %I', open_schema, owner);",
        "    END IF;",
        "  END LOOP;",
        "END",
        "$$;",
        f"GRANT USAGE ON SCHEMA {s} TO {r}, {a};",
        "",
        "-- The tables: SELECT on each table of the data contract and on alembic_version (the",
        "-- schema check), nothing else. A privilege granted to PUBLIC reaches this role too,",
        "-- so one other than SELECT on a table of the schema stops the script.",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}, {a};",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}, {a};",
        "DO $$",
        "BEGIN",
        "  IF EXISTS (SELECT FROM pg_catalog.pg_class c",
        "      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,",
        "      LATERAL aclexplode(c.relacl) a",
        f"      WHERE n.nspname = {lit_s} AND a.grantee = 0 AND a.privilege_type <> 'SELECT') THEN",
        f"    RAISE EXCEPTION 'PUBLIC may change tables of schema %: revoke that first', {lit_s};",
        "  END IF;",
        "END",
        "$$;",
    ]
    out += [f"GRANT SELECT ON TABLE {s}.{_ident(t)} TO {r}, {a};" for t in tables]
    out += [
        "",
        "-- Row-level security, a second wall behind the dashboard's own SQL scopes. The",
        "-- policies hold the login's reads of the tables about people to the scope its",
        "-- transaction sets (sitroom.role and, for a consular liaison, sitroom.nationalities;",
        "-- docs/design.md §2.2, §2.3); with no scope set, to no row at all. The dashboard",
        f"-- reads as {every} (every row, no policy, the same plans as before) and",
        "-- switches a liaison's transactions back to the login, with the liaison's scope.",
        "-- Every other role keeps every row",
        f"-- ({ROWS_POLICY}), the tables' owner too (FORCE).",
    ]
    for table, using in policies.items():
        t = f"{s}.{_ident(table)}"
        scope_policy = _ident(SCOPE_POLICY.format(role=role))
        out += [
            f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;",
            f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY;",
            f"DROP POLICY IF EXISTS {ROWS_POLICY} ON {t};",
            f"CREATE POLICY {ROWS_POLICY} ON {t} AS PERMISSIVE FOR ALL TO PUBLIC",
            "  USING (true) WITH CHECK (true);",
            f"DROP POLICY IF EXISTS {scope_policy} ON {t};",
            f"CREATE POLICY {scope_policy} ON {t} AS RESTRICTIVE FOR SELECT TO {r}",
            f"  USING ({using});",
            "",
        ]
    out += ["COMMIT;", ""]
    return "\n".join(out)


def _reader_sql(args: argparse.Namespace) -> int:
    try:
        print(reader_sql(args.role, args.schema), end="")
    except ReaderSqlError as exc:
        return _fail(str(exc))
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
        if args.language is not None:
            language.check(args.language, "--language")
        account = users.add(path, args.name, args.role, args.nationality, _read_password(),
                            name=args.full_name, language=args.language)
    except (users.UsersError, ValueError) as exc:
        return _fail(str(exc))
    scope = f" for {', '.join(account.nationalities)}" if account.nationalities else ""
    speaks = f", reading {language.LANGUAGES[account.language]}" if account.language else ""
    print(f"Added {account.username} ({account.role}{scope}{speaks}) to {path}")
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
    # and the exit status are the server's own; components/server.py starts it, and
    # the count of what the pages read beside it.
    os.execv(sys.executable, [sys.executable, "-m", "components.server", str(app),
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


def _moment(text: str | None, flag: str) -> datetime | None:
    """A moment given on the command line (ISO 8601), as naive UTC; an offset is honoured."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{flag} {text!r} is not a moment such as 2026-11-22T18:00 "
                         "(UTC unless an offset is given)") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def cli_user() -> str:
    """Who a report made on the command line is recorded as: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli"


def _report(args: argparse.Namespace) -> int:
    from dashboard.contract.schema import SchemaMismatch
    from dashboard.figures import report_pdf
    from dashboard.figures.report import ReportRefused
    from dashboard.rules import audit
    from dashboard.rules.access import AccessError, Viewer
    from dashboard.store.db import Database, DatabaseUnavailable

    out = Path(args.out)
    if out.suffix.lower() != ".pdf":
        return _fail(f"--out {out} must be a .pdf file")
    if not out.parent.exists():
        return _fail(f"folder {out.parent} does not exist")
    try:
        # The report's language for this command alone (its caller's stays as it was).
        code = language.check(args.language, "--language") if args.language else None
        with language.speaking(code or language.current()):
            as_of, since = _moment(args.as_of, "--as-of"), _moment(args.since, "--since")
            viewer = Viewer(cli_user(), args.role, args.scenario,
                            tuple(n.strip().upper() for n in args.nationality))
            database = Database.open(config.db_url(args.db_url)).one_shot()
            written = report_pdf.write_report(database, viewer, as_of, since, page="cli",
                                              filters={"out": str(out.resolve())})
    except (ValueError, AccessError, ReportRefused) as exc:
        return _fail(str(exc))
    except (DatabaseUnavailable, SchemaMismatch, audit.AuditUnavailable) as exc:
        return _fail(str(exc))
    out.write_bytes(written.pdf)
    report = written.report
    print(f"Wrote {out}: the {args.role} report of {report.scenario.label}, figures as of "
          f"{report.as_of:%d %b %Y %H:%M} UTC, changes since {report.reference_label}; "
          f"recorded in the audit log as {viewer.user}.")
    return 0


def _catalogs(args: argparse.Namespace) -> int:
    from dashboard.tools import catalogs

    written: list[Path] = []
    if args.step in ("extract", "all"):
        written.append(catalogs.write_template())
    if args.step in ("update", "all"):
        written += catalogs.update()
    if args.step in ("compile", "all"):
        written += catalogs.compile_all()
    for path in written:
        print(f"Wrote {path}")
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
    gen.add_argument("--template", metavar="FILE",
                     help="scenario template (default: data/scenarios/lebanon.yaml; "
                          "data/scenarios/ holds the others)")
    gen.set_defaults(func=_generate)

    mig = sub.add_parser("migrate", help="create or upgrade the data contract in a database")
    mig.add_argument("--db-url", help="database URL (default: SITROOM_DB_URL or the demo)")
    mig.set_defaults(func=_migrate)

    scn = sub.add_parser("scenario", help="scenarios of a database")
    scn_sub = scn.add_subparsers(dest="scenario_command", required=True)
    sadd = scn_sub.add_parser("add", help="create a scenario in a migrated database; prints "
                              "its id alone on the last line")
    sadd.add_argument("--db-url", required=True, help="database URL (writable)")
    sadd.add_argument("--name", required=True, help="human-readable name")
    sadd.add_argument("--kind", required=True, choices=["live", "exercise"])
    sadd.add_argument("--country", required=True, metavar="ISO3",
                      help="ISO 3166-1 alpha-3 code of the host country in crisis")
    sadd.add_argument("--starts-at", metavar="TIME",
                      help="when the crisis or drill began, UTC (default: now)")
    sadd.add_argument("--synthetic", action="store_true",
                      help="the rows will describe nobody real")
    sadd.set_defaults(func=_scenario_add)

    from dashboard.tools.importing.kinds import KINDS

    imp = sub.add_parser("import", help="check an upstream file (CSV, XLSX; GeoJSON for areas) "
                         "and write it into a scenario, all or nothing (docs/importing.md)")
    imp.add_argument("kind", metavar="KIND", help=", ".join(KINDS))
    imp.add_argument("file", metavar="FILE", help="CSV, XLSX or (areas) GeoJSON file")
    imp.add_argument("--db-url", required=True, help="database URL (writable)")
    imp.add_argument("--scenario", type=int, metavar="ID",
                     help="scenario to import into (default: the live scenario)")
    imp.add_argument("--mapping", metavar="FILE", help="YAML mapping of the file's columns "
                     "and values onto the contract")
    imp.add_argument("--sheet", metavar="NAME", help="sheet of a workbook (default: the first)")
    imp.add_argument("--dry-run", action="store_true",
                     help="check and report, write nothing")
    imp.add_argument("--timezone", metavar="ZONE", help="time zone of times written without "
                     "one (default: UTC), e.g. Asia/Beirut")
    imp.set_defaults(func=_import)

    dbp = sub.add_parser("db", help="the shared PostgreSQL database: SQL for its administrator")
    db_sub = dbp.add_subparsers(dest="db_command", required=True)
    rsql = db_sub.add_parser("reader-sql", help="print (never run) the SQL that makes a login "
                             "that may only read the data contract, with row-level security "
                             "for the consular scope (docs/deploy.md)")
    rsql.add_argument("--role", required=True, help="name of the login role to create or check")
    rsql.add_argument("--schema", default="public", help="schema holding the data contract "
                      "(default: public)")
    rsql.set_defaults(func=_reader_sql)

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

    rep = sub.add_parser("report", help="write the situation report of a role, scenario and "
                         "moment as a PDF (recorded in the audit log)")
    rep.add_argument("--db-url", help="database URL (default: SITROOM_DB_URL or the demo)")
    rep.add_argument("--scenario", type=int, required=True, help="id of the scenario")
    rep.add_argument("--role", required=True, help="the role the report is for: committee, "
                     "consular, coordinator or admin; it gets exactly what that role sees")
    rep.add_argument("--nationality", action="extend", nargs="+", default=[], metavar="ISO3",
                     help="a consular liaison's nationalities (one or more)")
    rep.add_argument("--as-of", help="the moment of the figures, ISO 8601, UTC unless an offset "
                     "is given (default: the latest data)")
    rep.add_argument("--since", help="the moment changes are counted from (default: the "
                     "committee's previous meeting, else 24 hours before --as-of)")
    rep.add_argument("--out", required=True, help="the PDF file to write")
    rep.add_argument("--language", help="the report's language: "
                     f"{', '.join(language.LANGUAGES)} (default: SITROOM_LANGUAGE)")
    rep.set_defaults(func=_report)

    usr = sub.add_parser("users", help="manage who may sign in")
    usr_sub = usr.add_subparsers(dest="users_command", required=True)
    add = usr_sub.add_parser("add", help="add a user; the password is read from standard input")
    add.add_argument("name", help="user name (lower-case letters, digits, '.', '_', '-')")
    add.add_argument("--role", required=True, help="committee, consular, coordinator or admin")
    add.add_argument("--nationality", action="append", default=[], metavar="ISO3",
                     help="a nationality a consular liaison serves (repeat for several)")
    add.add_argument("--full-name", help="name shown when signed in (default: the user name)")
    add.add_argument("--language", help="the language the user reads first: "
                     f"{', '.join(language.LANGUAGES)} (default: SITROOM_LANGUAGE)")
    add.add_argument("--users", help="users file (default: SITROOM_USERS or users.yaml in "
                     "SITROOM_HOME)")
    add.set_defaults(func=_users_add)
    lst = usr_sub.add_parser("list", help="list users (never their password hashes)")
    lst.add_argument("--users", help="users file")
    lst.set_defaults(func=_users_list)

    cat = sub.add_parser("catalogs", help="the translation catalogs (docs/translating.md): "
                         "extract the code's strings, update each language, compile")
    cat.add_argument("step", choices=["extract", "update", "compile", "all"])
    cat.set_defaults(func=_catalogs)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
