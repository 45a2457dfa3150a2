"""Row-level security, the second wall (docs/deploy.md): on PostgreSQL the dashboard's
login sees, even in a query that forgot its scope, only the rows of the scope its
transaction declares; the dashboard declares a liaison's scope for every read of its
figures; and a liaison's figures are the same with the wall as without it. Expected
rows are the test's own, read as the owner (who is not held by the policies)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta

import pandas as pd
import psycopg
import pytest
from sqlalchemy import Engine, event

from components import session
from dashboard.figures import (
    demography,
    evacuation,
    geo,
    overview,
    people,
    referrals,
    scenarios,
    shelters,
    tallies,
    warmup,
)
from dashboard.rules.access import Viewer
from dashboard.store import cache, db
from dashboard.store.db import Database
from tests.apptest import open_page
from tests.conftest import opened, reader_url

# The rule of docs/design.md §2.2 and §2.3, written out again for the test.
CONSULAR_SERVICES = {"consular", "documentation", "evacuation", "family_tracing"}
PERSON_TABLES = ("persons", "person_events", "person_vulnerabilities", "referrals",
                 "referral_events", "evacuation_cases", "evacuation_events")
# ETH: the largest nationality; KEN and PHL: two at once; GBR: mostly second nationalities.
LIAISONS = [("ETH",), ("KEN", "PHL"), ("GBR",)]
STATUSES = ("located", "sheltered", "in_transit", "evacuated", "relocated", "missing", "deceased")

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def fetch(url: str, statement: str) -> list[tuple]:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(statement).fetchall()


def expected_rows(owner_url: str, nats: tuple[str, ...] | None) -> dict[str, set]:
    """The key of every row of the tables about people that the scope may see, worked out
    in Python from the owner's full tables: every row for nats None (the server and the
    aggregate roles), else those of a liaison of `nats`."""
    persons = fetch(owner_url, "SELECT id, nationality, second_nationality, consent_consular, "
                               "protection_confidential FROM persons")
    seen = {pid for pid, nat, nat2, consent, protected in persons
            if nats is None or ((nat in nats or nat2 in nats)
                                and consent is True and protected is False)}
    refs = {rid for rid, pid, service in fetch(owner_url, "SELECT id, person_id, service "
                                                          "FROM referrals")
            if pid in seen and (nats is None or service in CONSULAR_SERVICES)}
    cases = {cid for cid, pid in fetch(owner_url, "SELECT id, person_id FROM evacuation_cases")
             if pid in seen}
    return {
        "persons": seen,
        "person_events": {i for i, pid in fetch(owner_url, "SELECT id, person_id "
                                                           "FROM person_events") if pid in seen},
        "person_vulnerabilities": {(pid, tag) for pid, tag in fetch(
            owner_url, "SELECT person_id, tag FROM person_vulnerabilities") if pid in seen},
        "referrals": refs,
        "referral_events": {i for i, rid in fetch(owner_url, "SELECT id, referral_id "
                                                             "FROM referral_events")
                            if rid in refs},
        "evacuation_cases": cases,
        "evacuation_events": {i for i, cid in fetch(owner_url, "SELECT id, case_id "
                                                               "FROM evacuation_events")
                              if cid in cases},
    }


def key_sql(table: str) -> str:
    if table == "person_vulnerabilities":
        return "SELECT person_id, tag FROM person_vulnerabilities"
    return f"SELECT id FROM {table}"


def keys(rows: list[tuple], table: str) -> set:
    return {tuple(r) for r in rows} if table == "person_vulnerabilities" else {r[0] for r in rows}


def reader_rows(url: str, table: str, role: str | None, nats: tuple[str, ...] = ()) -> set:
    """An unscoped query of `table` by the dashboard's login, in a transaction that set
    the scope as the dashboard does (set_config, local to the transaction)."""
    with psycopg.connect(conninfo(url)) as conn:  # no setting of the dashboard's own
        if role is not None:
            conn.execute("SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
                         (db.ROLE_SETTING, role, db.NATIONALITIES_SETTING, ",".join(nats)))
        return keys(conn.execute(key_sql(table)).fetchall(), table)


# --- the policies themselves -------------------------------------------------------------------

@pytest.mark.parametrize("nats", LIAISONS, ids="-".join)
def test_an_unscoped_query_returns_a_liaison_only_its_own_rows(db_url, nats):
    url = reader_url(db_url)
    expected = expected_rows(db_url, nats)
    everyone = expected_rows(db_url, None)
    assert expected["persons"] and expected["persons"] < everyone["persons"]
    for table in PERSON_TABLES:
        assert reader_rows(url, table, "consular", nats) == expected[table], table
    # and the rule's every clause mattered: others' rows exist in every table
    assert all(everyone[t] - expected[t] for t in PERSON_TABLES)


def test_a_second_nationality_is_enough_and_sensitive_referrals_stay_hidden(db_url):
    url = reader_url(db_url)
    by_second = {pid for (pid,) in fetch(db_url, "SELECT id FROM persons WHERE "
                                                 "second_nationality = 'GBR' AND nationality "
                                                 "<> 'GBR' AND consent_consular = true AND "
                                                 "protection_confidential = false")}
    assert by_second and by_second <= reader_rows(url, "persons", "consular", ("GBR",))
    sensitive = {rid for rid, service in fetch(db_url, "SELECT id, service FROM referrals")
                 if service not in CONSULAR_SERVICES}
    for nats in LIAISONS:
        assert not sensitive & reader_rows(url, "referrals", "consular", nats)


@pytest.mark.parametrize("role", ["server", "committee", "coordinator", "admin"])
def test_the_server_and_the_aggregate_roles_see_every_row(db_url, role):
    url = reader_url(db_url)
    everyone = expected_rows(db_url, None)
    for table in PERSON_TABLES:
        assert reader_rows(url, table, role) == everyone[table], table


@pytest.mark.parametrize("role,nats", [(None, ()), ("", ()), ("consular", ()),
                                       ("visitor", ("ETH",)), ("Committee", ())],
                         ids=["unset", "empty", "liaison-without-nationality", "unknown",
                              "misspelt"])
def test_without_a_known_scope_no_row_about_people_is_returned(db_url, role, nats):
    url = reader_url(db_url)
    for table in PERSON_TABLES:
        assert reader_rows(url, table, role, nats) == set(), table
    with psycopg.connect(conninfo(url)) as conn:  # the rest of the contract still reads
        assert conn.execute("SELECT COUNT(*) FROM facilities").fetchone()[0] \
            == fetch(db_url, "SELECT COUNT(*) FROM facilities")[0][0] > 0


# --- the dashboard declares the scope -----------------------------------------------------------

def who(database: Database) -> str:
    return str(database.read("SELECT current_user AS who")["who"][0])


def test_the_database_reads_as_the_declared_scope_for_one_transaction(db_url):
    database = opened(db_url)
    login = database.engine.url.username
    nats = ("ETH",)
    mine, everyone = expected_rows(db_url, nats), expected_rows(db_url, None)
    with db.reading_as(db.Scope("consular", nats)):
        for table in PERSON_TABLES:
            assert keys(list(database.read(key_sql(table)).itertuples(index=False)), table) \
                == mine[table], table
        assert who(database) == login  # the login itself, which the policies hold
    # the next transaction is the server's again (the settings were local to the last one)
    assert set(database.read("SELECT id FROM persons")["id"]) == everyone["persons"]
    assert who(database) == login + db.ALL_ROWS_SUFFIX
    with db.reading_as(db.Scope("committee")):
        assert set(database.read("SELECT id FROM persons")["id"]) == everyone["persons"]
        assert who(database) == login + db.ALL_ROWS_SUFFIX


def test_only_a_liaisons_reads_meet_the_policies(db_url):
    """The server's and the aggregate roles' reads plan exactly as without row-level
    security (its subqueries would weigh on their plans); a liaison's meet it."""
    database, owner = opened(db_url), session.database(db_url)
    query = ("EXPLAIN (COSTS OFF) SELECT e.status, COUNT(*) FROM person_events e "
             "JOIN persons p ON p.id = e.person_id JOIN referrals r ON r.person_id = p.id "
             "GROUP BY e.status")

    def plan(d: Database) -> list[str]:
        return list(d.read(query).iloc[:, 0])

    assert plan(database) == plan(owner)
    with db.reading_as(db.Scope("committee")):
        assert plan(database) == plan(owner)
    with db.reading_as(db.Scope("consular", ("ETH",))):
        walled = plan(database)
    assert walled != plan(owner) and any("SubPlan" in line for line in walled)


def test_a_cached_figure_that_forgot_its_scope_still_gets_only_the_liaisons_rows(db_url):
    """Computed in the reader's thread, and again in it once due for a recount (a
    liaison's rows are never served old)."""
    database = opened(db_url)
    now = [0.0]
    runs: list[tuple[str, db.Scope | None, set]] = []

    @cache.scoped(ttl=5, clock=lambda: now[0])
    def everyone_in(database: Database, viewer: Viewer) -> set:
        ids = set(database.read("SELECT id FROM persons")["id"])  # no scope in the SQL
        runs.append((threading.current_thread().name, db.current_scope(), ids))
        return ids

    liaison = Viewer("l", "consular", 1, ("ETH",))
    mine = expected_rows(db_url, ("ETH",))["persons"]
    assert everyone_in(database, liaison) == mine
    now[0] += 1000  # past the recount every result gets: counted again at once
    assert everyone_in(database, liaison) == mine
    assert len(runs) == 2
    (first_thread, first_scope, _), (again_thread, again_scope, refreshed) = runs
    assert first_thread == again_thread == threading.current_thread().name
    assert first_scope == again_scope == db.Scope("consular", ("ETH",))
    assert refreshed == mine
    committee = Viewer("c", "committee", 1)
    assert everyone_in(database, committee) == expected_rows(db_url, None)["persons"]


def test_shared_tallies_count_everyone_even_when_a_liaison_asks_first(db_url):
    database = opened(db_url)
    liaison = Viewer("l", "consular", 1, ("ETH",))
    mine = people.summary(database, liaison)  # finds the now-tallies inside the liaison's call
    n_all = fetch(db_url, "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 AND status IN "
                          f"({', '.join(repr(s) for s in STATUSES)})")[0][0]
    n_mine = fetch(db_url, "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 AND "
                           "(nationality = 'ETH' OR second_nationality = 'ETH') AND "
                           "consent_consular = true AND protection_confidential = false "
                           f"AND status IN ({', '.join(repr(s) for s in STATUSES)})")[0][0]
    assert mine["total"] == n_mine < n_all
    assert int(tallies.now(database, 1).frames["persons"]["n"].sum()) == n_all
    # a viewer-less cached result asked for inside a liaison's call is found as the server
    assert scenarios.data_as_of(database, 1) == scenarios.latest_change(
        session.database(db_url), 1)


class ScopesSeen:
    """The scope declared for each statement the dashboard's login sends."""

    def __init__(self, role: str):
        self.role = role
        self.seen: list[tuple[str, db.Scope | None]] = []
        self._lock = threading.Lock()

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.engine.url.username == self.role:
            with self._lock:
                self.seen.append((statement, db.current_scope()))

    def __enter__(self) -> ScopesSeen:
        event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(Engine, "before_cursor_execute", self)


def liaison_figures(database: Database, viewer: Viewer, latest: datetime) -> dict[str, object]:
    """Every figure a liaison's pages show, at the latest data and two days before."""
    earlier = latest - timedelta(days=2)
    filters = [people.Filters(), people.Filters(show="missing"),
               people.Filters(show="travel_document"), people.Filters(search="a"),
               people.Filters(stages=(people.NO_CASE,)),
               people.Filters(statuses=("sheltered",))]
    out: dict[str, object] = {
        "summary": people.summary(database, viewer),
        "summary then": people.summary(database, viewer, earlier),
        "options": people.options(database, viewer),
        "options then": people.options(database, viewer, earlier),
        "overview": overview.overview(database, viewer, latest),
        "overview then": overview.overview(database, viewer, earlier),
        "map filters": geo.filter_options(database, viewer),
        "map": geo.people(database, viewer, geo.MapFilters()),
        "map few": geo.people(database, viewer, geo.MapFilters(), point_cap=5),
        "map then": geo.people(database, viewer, geo.MapFilters(), as_of=earlier),
        "map layers": geo.layers(database, viewer, latest),
        "shelters": shelters.shelters(database, viewer, latest),
        "referrals": referrals.referrals(database, viewer, latest),
        "evacuation": evacuation.evacuation(database, viewer, latest),
        "profile": demography.profile(database, viewer),
        "profile on the map": demography.profile(
            database, viewer, narrowing=demography.Narrowing(statuses=geo.IN_COUNTRY)),
        "profile then": demography.profile(database, viewer, earlier),
    }
    for i, f in enumerate(filters):
        out[f"nationals {i}"] = people.nationals(database, viewer, f)
        out[f"nationals {i} then"] = people.nationals(database, viewer, f, earlier)
    return out


@pytest.mark.parametrize("nats", LIAISONS, ids="-".join)
def test_every_read_of_a_liaisons_figures_declares_its_scope(db_url, nats):
    database = opened(db_url)
    viewer = Viewer("l", "consular", 1, nats)
    latest = scenarios.data_as_of(database, 1)
    with ScopesSeen(database.engine.url.username) as scopes:
        liaison_figures(database, viewer, latest)
        for settle in (tallies.find_history, geo.find_placements, demography.find_groups):
            settle(database, 1)
    assert scopes.seen
    undeclared = [s for s, scope in scopes.seen if scope is None]
    assert not undeclared, undeclared[:3]
    assert {scope for _, scope in scopes.seen} <= {db.Scope("consular", nats), db.SERVER}
    # each of the liaison's reads told the database its scope first, in one round trip
    theirs = [s for s, scope in scopes.seen if scope == db.Scope("consular", nats)]
    told = [s for s in theirs if "set_config" in s]
    assert told and len(told) * 2 == len(theirs)


@pytest.mark.parametrize("page", ["my_nationals", "overview", "map", "shelters", "referrals",
                                  "evacuation"])
def test_every_read_of_a_liaisons_page_declares_its_scope(db_url, page):
    url = reader_url(db_url)
    with ScopesSeen(opened(db_url).engine.url.username) as scopes:
        at = open_page(url, page, "consular", ["ETH"])
    assert not at.exception
    assert scopes.seen
    # The page's ping (`SELECT 1`, sent when the database has not answered for a second,
    # so only on a slow run) reads no row, and needs no scope.
    assert [s for s, scope in scopes.seen
            if scope is None and " ".join(s.split()) != "SELECT 1"] == []


# --- a liaison's figures, with and without the wall --------------------------------------------

def assert_same(a: object, b: object, where: str) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                      obj=where)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, obj=where)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (pd.isna(a) and pd.isna(b)), f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("shared", [True, False], ids=["shared-facts", "from-the-tables"])
@pytest.mark.parametrize("nats", LIAISONS, ids="-".join)
def test_a_liaisons_figures_are_the_same_with_and_without_row_security(db_url, nats, shared,
                                                                      monkeypatch):
    """The owner (a superuser here) is not held by the policies: the same figures read
    through the dashboard's login must not differ. Either with the shared facts found
    (the server's, read for every scope) or without them, so that each figure reads
    the tables itself, as the liaison."""
    with_wall, without = opened(db_url), session.database(db_url)
    assert with_wall.engine.url.username != without.engine.url.username
    viewer = Viewer("l", "consular", 1, nats)
    latest = scenarios.data_as_of(without, 1)
    if shared:
        for database in (with_wall, without):
            warmup.find_shared_facts(database, 1)
    else:
        monkeypatch.setattr(tallies, "history", lambda database, scenario_id: None)
        monkeypatch.setattr(geo, "placements", lambda database, scenario_id: None)
        monkeypatch.setattr(demography, "groups", lambda database, scenario_id: None)
    walled = liaison_figures(with_wall, viewer, latest)
    plain = liaison_figures(without, viewer, latest)
    assert walled["summary"]["total"] > 0
    for name in plain:
        assert_same(walled[name], plain[name], name)
