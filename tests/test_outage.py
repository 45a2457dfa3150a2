"""The database goes away and comes back (docs/design.md §6): pages keep their last
figures under a "stale since" banner and recover by themselves; a SQLite file
replaced by a newer one is read; a missing table or column is named; a newly
protected person leaves a liaison's views within one refresh interval. On SQLite
(the file moved away and back) and on PostgreSQL (a TCP proxy cut and restored)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from components import session
from components.session import KEY, Context
from dashboard.contract import schema
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules.access import Viewer
from dashboard.store import cache, db
from dashboard.store.facts import SharedFacts
from tests.apptest import drawn_charts, page_app, shown_tables, texts
from tests.conftest import reader_url
from tests.proxy import TcpProxy
from tests.test_my_nationals import visible

STALE = "Stale since"
# The role that sees the most of each page, and the scenario the page is about.
PAGES = [("overview", "committee", ()), ("overview", "consular", ("ETH",)),
         ("map", "coordinator", ()), ("shelters", "coordinator", ()),
         ("referrals", "committee", ()), ("evacuation", "coordinator", ()),
         ("my_nationals", "consular", ("ETH",)), ("data_quality", "coordinator", ())]


# --- the store: last values served on while the database does not answer ------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def answering(answers):
    """A computation that gives the next of `answers` each time, raising those that are
    errors (the database's answers, one per try)."""
    def compute():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return compute


def test_a_value_is_served_on_while_the_database_does_not_answer_and_comes_back_after():
    clock, answers = Clock(), iter([1, db.DatabaseUnavailable("down"), 2])

    compute = answering(answers)

    facts = SharedFacts(refresh_after_s=30, clock=clock, transient=(db.DatabaseUnavailable,))
    assert facts.get("k", compute) == 1
    clock.now = 31
    assert facts.get("k", compute) == 1  # old: a refresh starts, and fails
    facts.settle()
    assert facts.get("k", compute) == 1  # still the last value, not an error; tries again
    facts.settle()
    assert facts.get("k", compute) == 2  # back


def test_a_value_that_may_not_be_served_old_is_counted_again_by_its_reader():
    clock, answers = Clock(), iter([1, 2, db.DatabaseUnavailable("down")])

    compute = answering(answers)

    facts = SharedFacts(refresh_after_s=30, clock=clock, transient=(db.DatabaseUnavailable,))
    assert facts.get("k", compute, stale_ok=False) == 1
    clock.now = 31
    assert facts.get("k", compute, stale_ok=False) == 2  # at once, not at the next read
    clock.now = 62
    assert facts.get("k", compute, stale_ok=False) == 2  # down: the last value


def test_another_failure_is_told_to_the_next_reader():
    clock, answers = Clock(), iter([1, ValueError("a bug"), ValueError("a bug")])

    compute = answering(answers)

    facts = SharedFacts(refresh_after_s=30, clock=clock, transient=(db.DatabaseUnavailable,))
    facts.get("k", compute)
    clock.now = 31
    facts.get("k", compute)
    facts.settle()
    with pytest.raises(ValueError):
        facts.get("k", compute)


def test_a_value_counted_while_the_data_was_replaced_is_counted_again():
    clock, calls, gate = Clock(), [], threading.Event()

    def compute():
        calls.append(1)
        if len(calls) == 2:  # the refresh under way reads what is being replaced
            gate.wait(10)
        return len(calls)

    facts = SharedFacts(refresh_after_s=30, clock=clock, transient=(db.DatabaseUnavailable,))
    assert facts.get("k", compute) == 1
    facts.expire()
    assert facts.get("k", compute) == 1  # served old; the refresh waits at the gate
    facts.outdate()  # meanwhile: everything it derives from was counted again
    gate.set()
    facts.settle()
    assert facts.get("k", compute) == 3  # not the refresh's 2: counted again, at once


def test_reads_fail_at_once_for_a_moment_after_a_failed_try(monkeypatch):
    monkeypatch.setattr(db, "RETRY_AFTER_S", 2.0)
    clock = Clock()
    health = db.Health(clock=clock)
    health.failed(db.DatabaseUnavailable("The database did not answer: refused"))
    with pytest.raises(db.DatabaseUnavailable, match="refused"):
        health.may_try()
    clock.now += db.RETRY_AFTER_S
    health.may_try()  # the next read tries again
    health.answered()
    assert not health.down


# --- pages through an outage ------------------------------------------------------------------

def page_with(url: str, page: str, role: str, nationalities: tuple[str, ...]):
    # the URL as given: a proxied one is already the dashboard's login (opened would
    # install that login again through it)
    info = next(s for s in list_scenarios(session.database(url)) if s.id == 1)
    at = page_app(page)
    at.session_state[KEY] = Context(db_url=url, viewer=Viewer(f"test-{role}", role, 1,
                                                              nationalities), scenario=info)
    return at


def shown(at) -> dict:
    """What a page showed a reader: its tiles, tables and charts."""
    return {
        "tiles": [(m.label, m.value) for m in at.metric],
        "tables": [t.to_csv() if isinstance(t, pd.DataFrame) else str(t)
                   for t in shown_tables(at)],
        "charts": [c.payload for c in drawn_charts(at)],
        "maps": [e.proto.json for e in at.get("deck_gl_json_chart")],
    }


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    """Each page run asks the database whether it answers, and tries again at once
    after a failed try (in use, at most once a second and after RETRY_AFTER_S)."""
    monkeypatch.setattr(db, "PING_EVERY_S", 0)
    monkeypatch.setattr(db, "RETRY_AFTER_S", 0)


def one_interval_later() -> None:
    """As if one refresh interval had passed: every figure is old."""
    cache.expire_all()
    for database in db.open_databases():
        database.current.expire()
        database.facts.expire()


def run_through_outage(url: str, page: str, role: str, nats: tuple[str, ...],
                       go_away, come_back) -> None:
    at = page_with(url, page, role, nats)
    for _ in range(2):  # a page served a while: every shared fact found, every figure
        at.run()        # counted again since
        cache.settle_all()
        one_interval_later()
    at.run()
    # the refreshes that run started end before the outage: one still reading the file
    # when it goes would answer, and the page would rightly not yet call itself stale
    cache.settle_all()
    assert not at.exception
    before = shown(at)
    assert any(before.values()), f"{page} showed nothing to compare"
    assert STALE not in texts(at)

    go_away()
    one_interval_later()
    at.run()
    assert not at.exception, at.exception
    assert STALE in texts(at), texts(at)
    assert "reconnecting" in texts(at)
    assert shown(at) == before  # the last figures, not an error in their place
    assert "cannot be shown" not in texts(at)

    come_back()
    one_interval_later()
    at.run()  # the refreshes this run starts bring the new figures ...
    cache.settle_all()
    at.run()  # ... shown by the next one
    assert not at.exception
    assert STALE not in texts(at)
    after = shown(at)
    for kind in before:
        for was, now in zip(before[kind], after[kind], strict=True):
            assert now == was, _first_difference(was, now)


def _first_difference(a: str, b: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
              min(len(a), len(b)))
    return f"differs at {at}: {a[max(0, at - 200):at + 200]!r} / {b[max(0, at - 200):at + 200]!r}"


@pytest.fixture
def sqlite_copy(sqlite_url, tmp_path, monkeypatch) -> tuple[str, Path]:
    path = tmp_path / "scenario.sqlite"
    shutil.copy(make_url(sqlite_url).database, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("SITROOM_DB_URL", url)
    return url, path


def _id(value) -> str:
    return "-".join(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("page,role,nats", PAGES, ids=_id)
def test_a_page_keeps_its_figures_while_the_sqlite_file_is_gone(sqlite_copy, page, role, nats):
    url, path = sqlite_copy
    away = path.with_suffix(".away")
    run_through_outage(url, page, role, nats, lambda: path.rename(away),
                       lambda: away.rename(path))


@pytest.fixture
def proxied_pg(pg_databases, request, monkeypatch):
    from dashboard.tools.generate import generate
    from tests.conftest import PERSONS, SEED

    owner = pg_databases.create("outage")
    generate(owner, persons=PERSONS, seed=SEED)
    reader = make_url(reader_url(owner))
    proxy = TcpProxy((reader.host or "127.0.0.1", reader.port or 5432))
    url = reader.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    monkeypatch.setenv("SITROOM_DB_URL", url)
    yield url, proxy, owner
    proxy.close()


@pytest.mark.parametrize("page,role,nats", [PAGES[0], PAGES[1], PAGES[3], PAGES[6]],
                         ids=_id)
def test_a_page_keeps_its_figures_while_postgresql_is_cut_off(proxied_pg, page, role, nats):
    url, proxy, _ = proxied_pg
    run_through_outage(url, page, role, nats, proxy.cut, proxy.restore)


def test_a_page_opened_during_an_outage_says_so_and_tries_again(sqlite_copy):
    url, path = sqlite_copy
    at = page_with(url, "overview", "committee", ()).run()  # the context is set up ...
    path.rename(path.with_suffix(".away"))
    cache.clear_all()  # ... but no figure was ever counted
    db.forget_all()
    at.run()
    assert not at.exception
    said = texts(at)
    assert "cannot be shown until it is back" in said and "tries again every" in said
    assert "unable to open database file" in said  # what the database said
    assert "Traceback" not in said


# --- a SQLite file replaced by a newer one ---------------------------------------------------

def test_a_replaced_sqlite_file_is_read_from_the_next_refresh(sqlite_copy, raw):
    url, path = sqlite_copy
    at = page_with(url, "my_nationals", "consular", ("ETH",)).run()
    before = set(at.dataframe[0].value.ref)
    newer = path.with_suffix(".new")
    shutil.copy(path, newer)
    gone = sorted(before)[:3]
    with sqlite3.connect(newer) as conn:  # the replication job's newer copy
        conn.executemany("DELETE FROM persons WHERE ref = ?", [(r,) for r in gone])
    os.replace(newer, path)  # atomic, as such a job does it
    expected = set(visible(raw(url), ("ETH",)).ref)
    assert expected == before - set(gone)
    at.run()  # a liaison's rows are never served old: this very run reads the new file
    assert set(at.dataframe[0].value.ref) == expected


def test_a_replaced_sqlite_file_changes_the_shared_counts(sqlite_copy, raw):
    url, path = sqlite_copy
    at = page_with(url, "overview", "coordinator", ()).run()
    assert dict((m.label, m.value) for m in at.metric)["Missing"] != "0"
    newer = path.with_suffix(".new")
    shutil.copy(path, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("DELETE FROM persons WHERE scenario_id = 1 AND status = 'missing'")
    os.replace(newer, path)
    at.run()  # notices the new file: every figure is counted again in the background
    cache.settle_all()
    at.run()  # and shown by the next run
    assert dict((m.label, m.value) for m in at.metric)["Missing"] == "0"


# --- a database that lacks part of the contract ------------------------------------------------

def test_a_missing_table_or_column_is_named_when_the_database_is_opened(sqlite_copy):
    url, path = sqlite_copy
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE referral_events") if _has(conn, "referral_events") else None
        conn.execute("ALTER TABLE facilities DROP COLUMN capacity")
    with pytest.raises(schema.SchemaIncomplete) as raised:
        db.Database.open(url)
    assert "column `facilities.capacity`" in str(raised.value)


def _has(conn, table: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return found is not None


def test_a_table_dropped_while_running_is_named_on_the_page(sqlite_copy):
    url, path = sqlite_copy
    at = page_with(url, "shelters", "coordinator", ()).run()
    assert not at.exception
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE facility_occupancy")
    cache.clear_all()
    db.forget_all()
    at.run()
    assert not at.exception
    assert "table `facility_occupancy`" in texts(at)


def test_a_postgresql_table_dropped_while_running_is_named_on_the_page(proxied_pg):
    url, _, owner = proxied_pg
    at = page_with(url, "shelters", "coordinator", ()).run()
    assert not at.exception
    with psycopg.connect(owner.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as conn:
        conn.execute("ALTER TABLE facilities DROP COLUMN capacity")
    cache.clear_all()
    db.forget_all()
    at.run()
    assert not at.exception
    assert "lacks column `facilities.capacity`" in texts(at)


# --- a newly protected person ---------------------------------------------------------------

@pytest.mark.parametrize("change", ["protection_confidential = :t", "consent_consular = :f"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_newly_protected_person_leaves_a_liaisons_views_within_one_interval(
        request, raw, backend, change):
    if backend == "sqlite":
        url, _ = request.getfixturevalue("sqlite_copy")
        owner = url
    else:
        url, _, owner = request.getfixturevalue("proxied_pg")
    nationals = page_with(url, "my_nationals", "consular", ("ETH",)).run()
    person = nationals.dataframe[0].value.ref.iloc[0]
    on_map = page_with(url, "map", "consular", ("ETH",)).run()
    assert person in on_map.get("deck_gl_json_chart")[0].proto.json  # a point's tip
    with raw(owner).begin() as conn:
        conn.execute(text(f"UPDATE persons SET {change} WHERE ref = :ref"),
                     {"ref": person, "t": True, "f": False})
    cache.expire_all()  # one refresh interval on; nothing else happens in between
    nationals.run()
    on_map.run()
    assert person not in set(nationals.dataframe[0].value.ref)
    assert person not in on_map.get("deck_gl_json_chart")[0].proto.json
