"""What a read costs to declare its scope (docs/deploy.md): one round trip for a
consular liaison's read on PostgreSQL, merged with any other setting; nothing more
for the server, the aggregate roles, or anyone on SQLite."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from dashboard.rules.access import Viewer
from dashboard.store import cache, db
from tests.conftest import opened, reader_url

LIAISON = db.Scope("consular", ("ETH",))


class Statements:
    """The statements (and their parameters) a Database's engine sends."""

    def __init__(self, database: db.Database):
        self.engine = database.engine
        self.sent: list[tuple[str, dict]] = []

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append((statement, dict(parameters or {})))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.mark.parametrize("scope", [None, db.SERVER, db.Scope("committee"), LIAISON],
                         ids=["none", "server", "committee", "liaison"])
def test_sqlite_reads_send_the_query_alone(sqlite_url, scope):
    database = opened(sqlite_url)
    database.read("SELECT 1")  # the pool's first connection, outside the count
    with Statements(database) as seen:
        if scope is None:
            database.read("SELECT COUNT(*) FROM persons")
        else:
            with db.reading_as(scope):
                database.read("SELECT COUNT(*) FROM persons")
    assert [s for s, _ in seen.sent] == ["SELECT COUNT(*) FROM persons"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("scope", [None, db.SERVER, db.Scope("committee"),
                                   db.Scope("coordinator"), db.Scope("admin")],
                         ids=["none", "server", "committee", "coordinator", "admin"])
def test_postgresql_reads_of_every_row_send_the_query_alone(db_url, scope):
    database = opened(db_url)
    database.read("SELECT 1")
    with Statements(database) as seen:
        if scope is None:
            database.read("SELECT COUNT(*) FROM persons")
        else:
            with db.reading_as(scope):
                database.read("SELECT COUNT(*) FROM persons")
    assert [s for s, _ in seen.sent] == ["SELECT COUNT(*) FROM persons"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("patient", [False, True], ids=["usual", "patient"])
def test_a_liaisons_read_takes_one_round_trip_more(db_url, patient):
    database = opened(db_url)
    database.read("SELECT 1")
    with Statements(database) as seen, db.reading_as(LIAISON):
        if patient:
            db.patient()(lambda: database.read("SELECT COUNT(*) FROM persons"))()
        else:
            database.read("SELECT COUNT(*) FROM persons")
    assert len(seen.sent) == 2
    setup, params = seen.sent[0]
    assert setup.startswith("SELECT set_config('role', session_user::text, true)")
    told = {params[k]: params[k.replace("name", "value")] for k in params
            if k.startswith("name_")}
    assert told[db.ROLE_SETTING] == "consular" and told[db.NATIONALITIES_SETTING] == "ETH"
    assert ("statement_timeout" in told) is patient
    # a background count keeps to one core of the database's machine
    assert (told.get("max_parallel_workers_per_gather") == "0") is patient
    assert seen.sent[1][0] == "SELECT COUNT(*) FROM persons"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_counts_run_without_parallel_workers_and_page_runs_with(db_url):
    """JIT compilation is off on every connection (it cost more than the queries). A
    background read runs without parallel workers, and so does the first count after
    a start, which runs two queries at a time already; a page run's read may use them."""
    database = opened(db_url)

    def setting(name: str) -> str:
        return str(database.read(f"SELECT current_setting('{name}') AS v")["v"][0])

    def parallel() -> str:
        return setting("max_parallel_workers_per_gather")

    usual = parallel()
    assert usual != "0" and setting("jit") == "off"
    assert db.patient()(parallel)() == "0"
    with db.every_core():
        assert db.patient()(parallel)() == "0"
        assert parallel() == "0"
        # and in the threads it counts in, as the first count does
        assert set(database.gather({"a": parallel, "b": parallel}).values()) == {"0"}
    assert parallel() == usual  # set for one transaction only


def test_a_cached_result_is_computed_for_its_viewers_scope_or_the_servers():
    seen = []

    @cache.scoped()
    def scope_of_call(*args, **kwargs):
        seen.append(db.current_scope())
        return len(seen)

    liaison = Viewer("l", "consular", 1, ("KEN", "ETH"))
    scope_of_call(liaison)
    scope_of_call(viewer=Viewer("c", "committee", 1))
    scope_of_call(1)
    with db.reading_as(LIAISON):  # a viewer-less result inside a liaison's call
        scope_of_call(2)
    assert seen == [db.Scope("consular", ("ETH", "KEN")), db.Scope("committee"),
                    db.SERVER, db.SERVER]
    assert db.current_scope() is None
    with pytest.raises(TypeError, match="one viewer"):
        scope_of_call(liaison, Viewer("c", "committee", 1))


def test_shared_facts_are_found_as_the_server_whoever_asks(sqlite_url):
    database = opened(sqlite_url)
    with db.reading_as(LIAISON):
        found = database.current.get(("test-scope",), db.current_scope)
        database.facts.get(("test-scope",), db.current_scope)
    assert found == db.SERVER
    assert database.facts.get(("test-scope",), db.current_scope) == db.SERVER


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_gathered_reads_keep_the_callers_scope_and_patience(db_url, raw):
    """`sitroom report` counts two things at a time (Database.gather): each read in the
    helper threads still declares the liaison's scope and the patient time limit."""
    database = db.Database.open(reader_url(db_url)).one_shot()
    try:
        threads = set()

        def count() -> int:
            threads.add(threading.get_ident())
            return int(database.read("SELECT COUNT(*) AS n FROM persons")["n"][0])

        with Statements(database) as seen, db.reading_as(LIAISON):
            got = db.patient()(lambda: database.gather(
                {"one": count, "two": count, "three": count}))()
        with raw(db_url).connect() as conn:
            visible = conn.execute(text(
                "SELECT COUNT(*) FROM persons WHERE (nationality = 'ETH' OR "
                "second_nationality = 'ETH') AND consent_consular AND NOT "
                "protection_confidential")).scalar()
        assert got == {"one": visible, "two": visible, "three": visible}
        assert threading.get_ident() not in threads  # read beside the caller, not by it
        setups = [params for statement, params in seen.sent
                  if statement.startswith("SELECT set_config('role'")]
        assert len(setups) == 3
        for params in setups:
            told = {params[k]: params[k.replace("name", "value")] for k in params
                    if k.startswith("name_")}
            assert told[db.NATIONALITIES_SETTING] == "ETH" and "statement_timeout" in told
    finally:
        database.engine.dispose()
