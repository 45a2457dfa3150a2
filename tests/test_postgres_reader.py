"""The dashboard's own PostgreSQL login (`sitroom db reader-sql`, docs/deploy.md): it may
read every table of the data contract and do nothing else, against the test's own
counts as the owner."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy.engine import make_url

from dashboard.contract.models import Base
from dashboard.store import db
from dashboard.store.db import Database
from dashboard.tools import cli
from tests.conftest import TEST_ROLES, _build, install_reader

TABLES = sorted(Base.metadata.tables)


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def fresh_role(kind: str = "reader") -> str:
    role = f"sitroom_test_{kind}_{uuid.uuid4().hex[:8]}"
    TEST_ROLES.add(role)  # dropped at the end of the session, after the databases
    return role


@pytest.fixture(scope="module")
def owner_url(request, tmp_path_factory, pg_databases) -> str:
    """A fresh generated scenario database, as its owner."""
    return _build("postgresql", False, tmp_path_factory, request)


@pytest.fixture(scope="module")
def reader(owner_url) -> tuple[str, str]:
    """A login made by running the printed SQL as the owner: (role, its URL)."""
    role = fresh_role()
    return role, install_reader(owner_url, role)


@pytest.fixture(scope="module")
def elsewhere(owner_url) -> str:
    """A table outside the data contract's schema, and one inside it that is not in
    the contract: the reader may read neither."""
    with psycopg.connect(conninfo(owner_url), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS elsewhere")
        conn.execute("CREATE TABLE IF NOT EXISTS elsewhere.notes (id integer, body text)")
        conn.execute("INSERT INTO elsewhere.notes VALUES (1, 'not for the dashboard')")
        conn.execute("CREATE TABLE IF NOT EXISTS public.staff_notes (id integer)")
    return "elsewhere.notes"


def as_reader(url: str, all_rows: bool = False) -> psycopg.Connection:
    """A plain session of the login, without the dashboard's read-only default, so that
    what fails, fails for want of a privilege: as the login with the server's scope
    set, or as its role for every row (as the dashboard's sessions read). Either way
    row-level security narrows nothing."""
    conn = psycopg.connect(conninfo(url), autocommit=True,
                           options=f"-c {db.ROLE_SETTING}={db.SERVER.role}")
    if all_rows:
        conn.execute(sql.SQL("SET ROLE {}").format(
            sql.Identifier(make_url(url).username + db.ALL_ROWS_SUFFIX)))
    return conn


AS = pytest.mark.parametrize("all_rows", [False, True], ids=["login", "all-rows-role"])


def owner_counts(owner_url: str, tables: list[str] | None = None) -> dict[str, int]:
    with psycopg.connect(conninfo(owner_url)) as conn:
        return {t: conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(t)))
                .fetchone()[0] for t in tables or [*TABLES, "alembic_version"]}


def test_the_command_prints_the_sql_and_runs_nothing(pg_server, capsys):
    role = fresh_role()
    assert cli.main(["db", "reader-sql", "--role", role]) == 0
    printed = capsys.readouterr().out
    assert printed == cli.reader_sql(role, "public")
    assert f'CREATE ROLE "{role}" LOGIN;' in printed
    assert f"\\password {role}" in printed  # the password is set afterwards, by hand
    for table in [*TABLES, "alembic_version"]:
        assert (f'GRANT SELECT ON TABLE "public"."{table}" TO "{role}", '
                f'"{role}{db.ALL_ROWS_SUFFIX}";') in printed
    grants = [line for line in printed.splitlines() if line.startswith("GRANT ")]
    assert all(g.startswith(("GRANT SELECT ON TABLE", "GRANT USAGE ON SCHEMA"))
               or g == f'GRANT "{role}{db.ALL_ROWS_SUFFIX}" TO "{role}";' for g in grants)
    for word in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        assert not any(word in g for g in grants)
    with psycopg.connect(conninfo(pg_server)) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname IN (%s, %s)",
                              (role, role + db.ALL_ROWS_SUFFIX)).fetchone()
    assert exists is None  # printed, never run


@pytest.mark.parametrize("args", [["--role", "Robert'); DROP TABLE persons; --"],
                                  ["--role", "reader", "--schema", "pub lic"],
                                  ["--role", "x" * 49]])
def test_a_name_the_sql_cannot_hold_is_refused(args, capsys):
    assert cli.main(["db", "reader-sql", *args]) == 2
    assert "must be lower-case letters" in capsys.readouterr().err


def test_the_login_has_no_power_beyond_login(owner_url, reader):
    role, _ = reader
    every = role + db.ALL_ROWS_SUFFIX
    with psycopg.connect(conninfo(owner_url)) as conn:
        powers = {name: tuple(flags) for name, *flags in conn.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, "
            "rolreplication, rolbypassrls FROM pg_roles WHERE rolname IN (%s, %s)",
            (role, every)).fetchall()}
        member_of = conn.execute(
            "SELECT u.rolname, g.rolname FROM pg_auth_members m JOIN pg_roles u "
            "ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE u.rolname IN (%s, %s)", (role, every)).fetchall()
    assert powers == {role: (True, False, False, False, False, False),
                      every: (False, False, False, False, False, False)}
    assert member_of == [(role, every)]


@AS
def test_the_login_reads_every_table_of_the_contract(owner_url, reader, all_rows):
    _, url = reader
    expected = owner_counts(owner_url)
    assert expected["persons"] > 0 and expected["referrals"] > 0
    with as_reader(url, all_rows) as conn:
        got = {t: conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(t)))
               .fetchone()[0] for t in expected}
    assert got == expected


def test_the_dashboard_opens_the_database_through_the_login(owner_url, reader):
    _, url = reader
    database = Database.open(url)
    try:
        n = database.scalar("SELECT COUNT(*) FROM persons")
        who = database.read("SELECT current_user AS who")["who"][0]
        with pytest.raises(db.DatabaseUnavailable):
            database.read("UPDATE persons SET full_name = full_name")
    finally:
        database.dispose()
    assert n == owner_counts(owner_url)["persons"]
    assert who == reader[0] + db.ALL_ROWS_SUFFIX  # the dashboard's sessions read as it


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("statement", [
    "INSERT INTO {t} SELECT * FROM {t} LIMIT 1",
    "UPDATE {t} SET {c} = {c}",
    "DELETE FROM {t}",
    "TRUNCATE {t}",
    "ALTER TABLE {t} ADD COLUMN immigration_status text",
    "CREATE INDEX ON {t} ({c})",
    "DROP TABLE {t}",
], ids=lambda s: s.split()[0] if isinstance(s, str) else s)
@AS
def test_the_login_changes_nothing(owner_url, reader, table, statement, all_rows):
    _, url = reader
    column = next(iter(Base.metadata.tables[table].columns)).name
    before = owner_counts(owner_url, [table])
    query = sql.SQL(statement).format(t=sql.Identifier(table), c=sql.Identifier(column))
    with as_reader(url, all_rows) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(query)
    assert owner_counts(owner_url, [table]) == before


@pytest.mark.parametrize("statement", [
    "CREATE TABLE public.mine (id integer)",
    "CREATE TABLE elsewhere.mine (id integer)",
    "CREATE VIEW public.everyone AS SELECT * FROM persons",
    "CREATE SCHEMA mine",
    "CREATE TEMPORARY TABLE mine (id integer)",
    "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
    "CREATE SEQUENCE public.mine",
])
@AS
def test_the_login_creates_nothing_anywhere(owner_url, reader, elsewhere, statement, all_rows):
    _, url = reader
    with as_reader(url, all_rows) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


@pytest.mark.parametrize("table", ["elsewhere.notes", "public.staff_notes"])
@AS
def test_the_login_reads_nothing_outside_the_contract(reader, elsewhere, table, all_rows):
    _, url = reader
    with as_reader(url, all_rows) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {table}")


def test_the_sql_can_be_run_again(owner_url, reader):
    role, url = reader
    assert install_reader(owner_url, role) == url
    with as_reader(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM persons").fetchone()[0] \
            == owner_counts(owner_url)["persons"]
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DELETE FROM persons")


@pytest.mark.parametrize("setup", [
    "CREATE ROLE {r} LOGIN CREATEDB",
    "CREATE ROLE {r} LOGIN BYPASSRLS",
    "CREATE ROLE {r} LOGIN; GRANT pg_write_all_data TO {r}",
    "CREATE ROLE {a} LOGIN",
], ids=["createdb", "bypassrls", "member-of-a-writer", "all-rows-role-logs-in"])
def test_an_existing_role_with_more_power_is_refused(owner_url, setup):
    role = fresh_role("wide")
    every = role + db.ALL_ROWS_SUFFIX
    TEST_ROLES.add(every)
    with psycopg.connect(conninfo(owner_url), autocommit=True) as conn:
        conn.execute(sql.SQL(setup).format(r=sql.Identifier(role), a=sql.Identifier(every)))
    with pytest.raises(errors.RaiseException, match="more power than a reader"):
        install_reader(owner_url, role)
    with psycopg.connect(conninfo(owner_url)) as conn:
        granted = conn.execute(
            "SELECT COUNT(*) FROM pg_roles WHERE rolname IN (%s, %s) "
            "AND has_table_privilege(rolname, 'persons', 'SELECT')", (role, every)).fetchone()
    assert granted == (0,)  # one transaction: nothing of the script stayed


def test_other_roles_keep_every_row_and_may_still_write(owner_url, reader):
    """Row-level security is turned on for the reader's sake only: a writer (here a
    plain role, as a registration desk would use) reads and writes as before."""
    writer = fresh_role("writer")
    with psycopg.connect(conninfo(owner_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(writer)))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, DELETE ON persons, person_events, "
                             "referrals TO {}").format(sql.Identifier(writer)))
        total = conn.execute("SELECT COUNT(*) FROM persons").fetchone()[0]
        row = conn.execute("SELECT * FROM persons ORDER BY id LIMIT 1").fetchone()
        top = conn.execute("SELECT MAX(id) FROM persons").fetchone()[0]
    try:
        with psycopg.connect(conninfo(owner_url), user=writer, autocommit=True) as conn:
            assert conn.execute("SELECT COUNT(*) FROM persons").fetchone()[0] == total
            assert conn.execute("SELECT COUNT(*) FROM referrals").fetchone()[0] \
                == owner_counts(owner_url)["referrals"]
            values = (top + 1, row[1], f"T-{uuid.uuid4().hex[:10]}", *row[3:])
            conn.execute(sql.SQL("INSERT INTO persons VALUES ({})").format(
                sql.SQL(", ").join(sql.Placeholder() * len(values))), values)
            conn.execute("DELETE FROM persons WHERE id = %s", (top + 1,))
    finally:
        with psycopg.connect(conninfo(owner_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(writer)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(writer)))
        TEST_ROLES.discard(writer)
