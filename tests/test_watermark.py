"""A quiet server: a refresh that finds the database unchanged (its watermark, store/
watermark.py) counts nothing again; one that finds it changed counts again; shared facts
kept on disk are taken back after a restart at the same watermark (store/kept.py).

Each test writes into its own small database, on SQLite and on PostgreSQL, through the
writers' rules (docs/data-contract.md): the change, its history row and the change time.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from dashboard import config
from dashboard.figures import demography, people, referrals, scenarios, tallies, warmup
from dashboard.figures.overview import overview
from dashboard.rules import privacy
from dashboard.rules.access import Viewer
from dashboard.store import cache, kept, watermark
from dashboard.store.db import Database, DatabaseUnavailable
from dashboard.store.facts import SharedFacts
from dashboard.tools.generate import generate
from tests.conftest import NOT_FIGURES, reader_url

LIVE = 1


@pytest.fixture(params=["sqlite", "postgresql"])
def own_url(request, tmp_path) -> str:
    """A small scenario of this test's own, which it may write into."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.sqlite'}"
    else:
        url = request.getfixturevalue("pg_databases").create(f"wm{abs(hash(tmp_path)) % 10**8}")
    generate(url, persons=400, seed=3)
    return url


class Statements:
    """The statements a Database's engine sends, but the page's ping."""

    def __init__(self, database: Database):
        self.engine = database.engine
        self.seen: list[str] = []
        self._lock = threading.Lock()
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args) -> None:
        with self._lock:
            self.seen.append(" ".join(statement.split()))

    def counting(self) -> list[str]:
        """The statements that count persons by group: those of a recount."""
        return [s for s in self.seen if "AS nat2" in s and "FROM persons p" in s]

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


class Later:
    """A clock one can move on: every value it stamped becomes old at once."""

    def __init__(self):
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += seconds


def open_fresh(url: str) -> Database:
    """A Database of its own, as a new server process opens it (no shared object)."""
    return Database.open(reader_url(url))


def statuses_by_own_sql(raw_engine) -> dict[str, int]:
    with raw_engine.connect() as conn:
        rows = conn.execute(text("SELECT status, COUNT(*) FROM persons WHERE scenario_id = :s "
                                 "GROUP BY status"), {"s": LIVE}).all()
    return {status: int(n) for status, n in rows}


def statuses_of(now: tallies.Now) -> dict[str, int]:
    sums = now.frames["persons"].groupby("status")["n"].sum()
    return {status: int(n) for status, n in sums.items() if n}


def later_than_every_change(url: str) -> str:
    """SQL for a minute after the latest change time of any person: a writer's now."""
    if url.startswith("sqlite"):
        return "datetime((SELECT MAX(updated_at) FROM persons), '+1 minute')"
    return "(SELECT MAX(updated_at) FROM persons) + INTERVAL '1 minute'"


def move_someone(url: str, raw_engine, to: str = "missing") -> None:
    """A writer's change by the rules: the person's row and change time, and its event."""
    with raw_engine.begin() as conn:
        person, event_id = conn.execute(text(
            "SELECT (SELECT MIN(id) FROM persons WHERE scenario_id = :s AND status <> :to), "
            "(SELECT MAX(id) FROM person_events)"), {"s": LIVE, "to": to}).one()
        conn.execute(text("UPDATE persons SET status = :to, facility_id = NULL, "
                          f"updated_at = {later_than_every_change(url)} WHERE id = :p"),
                     {"to": to, "p": person})
        conn.execute(text("INSERT INTO person_events (id, person_id, at, status) "
                          "SELECT :e, :p, updated_at, :to FROM persons WHERE id = :p"),
                     {"e": event_id + 1, "p": person, "to": to})


def test_a_refresh_that_finds_nothing_changed_counts_nothing_again(own_url, raw):
    database = open_fresh(own_url)
    clock = Later()
    database.current.clock = database.watermark.clock = clock
    first = tallies.now(database, LIVE)
    seen = Statements(database)
    try:
        for _ in range(3):  # three refresh intervals, nothing written
            clock.move(database.current.refresh_after_s + 1)
            assert statuses_of(tallies.now(database, LIVE)) == statuses_of(first)
            database.current.settle()
        assert seen.counting() == []
        assert seen.seen, "the refreshes read the watermark"

        move_someone(own_url, raw(own_url))
        clock.move(database.current.refresh_after_s + 1)
        tallies.now(database, LIVE)  # served the old one, counted again in the background
        database.current.settle()
        assert seen.counting(), "a change is counted"
        assert statuses_of(tallies.now(database, LIVE)) == statuses_by_own_sql(raw(own_url))
    finally:
        seen.close()
        database.dispose()


def test_the_first_count_reads_the_watermark_once_and_finds_a_change_made_meanwhile_next(
        own_url, raw, monkeypatch):
    """The first count after a start holds one reading of the watermark for every fact it
    counts (each would read it again once FRESH_S is past: twice more at a million
    people). That reading is taken before the facts are counted, so a change a writer
    makes meanwhile is counted again at their next refresh."""
    database = open_fresh(own_url)
    ticks = iter(range(0, 10**6, 2))  # every reading older than FRESH_S by the next ask
    database.watermark.clock = lambda: float(next(ticks))
    clock = Later()
    database.current.clock = clock
    moved = []
    read_watermark = watermark.read

    def read_then_write(run):
        mark = read_watermark(run)
        if not moved:  # a writer's change right after the first reading
            move_someone(own_url, raw(own_url))
            moved.append(mark)
        return mark

    monkeypatch.setattr(watermark, "read", read_then_write)
    seen = Statements(database)
    try:
        # as the warm-up does: what it finds after the first count is not found beside it
        tallies.history_comes_next(database, LIVE)
        demography.groups_come_later(database, LIVE)
        warmup.first_count(database, LIVE)
        readings = [s for s in seen.seen if "MAX(id) FROM person_events" in s]
        assert len(readings) == 1, f"{len(readings)} readings of the watermark"
        assert database.watermark() != moved[0], "read afresh after the count"

        counted = len(seen.counting())
        clock.move(database.current.refresh_after_s + 1)
        tallies.now(database, LIVE)  # old: checked in the background
        database.current.settle()
        assert len(seen.counting()) > counted, "the change made meanwhile is counted"
        assert statuses_of(tallies.now(database, LIVE)) == statuses_by_own_sql(raw(own_url))
    finally:
        seen.close()
        database.dispose()


def test_a_fact_is_counted_again_once_its_recount_time_has_come(own_url, raw):
    """A change that breaks the writers' rules (no change time, no event) is not in the
    watermark: the recount every fact gets anyway finds it."""
    database = open_fresh(own_url)
    clock = Later()
    database.current.clock = database.watermark.clock = clock
    tallies.now(database, LIVE)
    with raw(own_url).begin() as conn:  # status changed in place, unseen by the watermark
        conn.execute(text("UPDATE persons SET status = 'missing', facility_id = NULL "
                          "WHERE id = (SELECT MIN(id) FROM persons WHERE scenario_id = :s "
                          "AND status <> 'missing')"), {"s": LIVE})
    clock.move(database.current.refresh_after_s + 1)
    tallies.now(database, LIVE)
    database.current.settle()
    assert statuses_of(tallies.now(database, LIVE)) != statuses_by_own_sql(raw(own_url))

    clock.move(database.current.recount_after_s + 1)
    tallies.now(database, LIVE)
    database.current.settle()
    assert statuses_of(tallies.now(database, LIVE)) == statuses_by_own_sql(raw(own_url))
    database.dispose()


@pytest.mark.parametrize("change", [
    "INSERT INTO referral_events (id, referral_id, at, status) SELECT MAX(id) + 1, "
    "MIN(referral_id), MAX(at), 'open' FROM referral_events",
    "DELETE FROM referrals WHERE id = (SELECT MAX(id) FROM referrals)",
    # not the greatest of anything: only the row count moves
    "DELETE FROM person_vulnerabilities WHERE person_id = "
    "(SELECT MIN(person_id) FROM person_vulnerabilities)",
    "UPDATE persons SET consent_consular = NOT consent_consular, updated_at = {later} "
    "WHERE id = (SELECT MIN(id) FROM persons)",
    "UPDATE facilities SET capacity = capacity + 1 WHERE id = (SELECT MIN(id) FROM facilities)",
    "UPDATE movements SET status = CASE WHEN status = 'cancelled' THEN 'planned' "
    "ELSE 'cancelled' END WHERE id = (SELECT MIN(id) FROM movements)",
], ids=["history row added", "row deleted", "vulnerability removed", "person changed",
        "capacity edited", "movement edited"])
def test_the_watermark_moves_with_each_kind_of_change(own_url, raw, change):
    database = open_fresh(own_url)
    clock = Later()
    database.watermark.clock = clock
    before = database.watermark()
    clock.move(watermark.FRESH_S + 1)
    assert database.watermark() == before, "nothing written, the same watermark"
    with raw(own_url).begin() as conn:
        conn.execute(text(change.replace("{later}", later_than_every_change(own_url))))
    clock.move(watermark.FRESH_S + 1)
    assert database.watermark() != before
    database.dispose()


@pytest.fixture
def pg_own_url(pg_databases, tmp_path) -> str:
    """own_url's small scenario, on PostgreSQL alone."""
    url = pg_databases.create(f"wmpg{abs(hash(tmp_path)) % 10**8}")
    generate(url, persons=400, seed=3)
    return url


def test_on_postgresql_an_unchanged_database_costs_one_statement_not_the_counts(
        pg_own_url, raw):
    """The row counts cost PostgreSQL 0.10-0.17 s a reading at a million people: while
    no transaction has committed since the last reading (its snapshot), it holds. Any
    transaction of the server ends a snapshot, the tests running beside this one's
    too: of twenty readings, those taken whole read the same, and some are not."""
    database = open_fresh(pg_own_url)
    clock = Later()
    database.watermark.clock = clock
    before = database.watermark()
    seen = Statements(database)
    try:
        by_snapshot_alone = 0
        for _ in range(20):
            seen.seen.clear()
            clock.move(watermark.FRESH_S + 1)
            assert database.watermark() == before
            asked = [s for s in seen.seen if "set_config" not in s]
            assert asked[0] == watermark.SNAPSHOT, asked
            by_snapshot_alone += asked == [watermark.SNAPSHOT]
        assert by_snapshot_alone > 0

        seen.seen.clear()
        with raw(pg_own_url).begin() as conn:  # only the row count moves
            conn.execute(text("DELETE FROM person_vulnerabilities WHERE person_id = "
                              "(SELECT MIN(person_id) FROM person_vulnerabilities)"))
        clock.move(watermark.FRESH_S + 1)
        assert database.watermark() != before
        assert any("COUNT(*) FROM person_vulnerabilities" in s for s in seen.seen)
    finally:
        seen.close()
        database.dispose()


def test_a_change_under_way_during_a_reading_is_found_by_the_next(own_url, raw):
    """A writer's transaction still open while the watermark is read, committed after:
    the reading could not see it, and the next one does (on PostgreSQL, its snapshot
    is another one then)."""
    database = open_fresh(own_url)
    clock = Later()
    database.watermark.clock = clock
    before = database.watermark()
    with raw(own_url).connect() as conn:
        writing = conn.begin()
        conn.execute(text("DELETE FROM person_vulnerabilities WHERE person_id = "
                          "(SELECT MIN(person_id) FROM person_vulnerabilities)"))
        clock.move(watermark.FRESH_S + 1)
        assert database.watermark() == before, "not committed: not seen"
        writing.commit()
    clock.move(watermark.FRESH_S + 1)
    assert database.watermark() != before
    database.dispose()


def test_facts_kept_on_disk_are_taken_back_after_a_restart(own_url, raw, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("SITROOM_FACTS_DIR", str(tmp_path / "facts"))
    first = open_fresh(own_url)
    counted = statuses_of(tallies.now(first, LIVE))
    first.dispose()

    restarted = open_fresh(own_url)
    seen = Statements(restarted)
    try:
        assert statuses_of(tallies.now(restarted, LIVE)) == counted
        assert seen.counting() == [], "taken back, not counted"
    finally:
        seen.close()
        restarted.dispose()
    files = list((tmp_path / "facts").rglob("*.pickle"))
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files), "the server's alone"

    move_someone(own_url, raw(own_url))  # written while the server was down
    again = open_fresh(own_url)
    seen = Statements(again)
    try:
        assert statuses_of(tallies.now(again, LIVE)) == statuses_by_own_sql(raw(own_url))
        assert seen.counting(), "another watermark: counted"
    finally:
        seen.close()
        again.dispose()


def test_a_damaged_or_foreign_kept_fact_is_counted_again(own_url, raw, tmp_path, monkeypatch):
    monkeypatch.setenv("SITROOM_FACTS_DIR", str(tmp_path / "facts"))
    first = open_fresh(own_url)
    tallies.now(first, LIVE)
    first.dispose()
    for path in (tmp_path / "facts").rglob("*.pickle"):
        path.write_bytes(path.read_bytes()[:40])  # cut short, as by a crash
    damaged = open_fresh(own_url)
    seen = Statements(damaged)
    assert statuses_of(tallies.now(damaged, LIVE)) == statuses_by_own_sql(raw(own_url))
    assert seen.counting()
    seen.close()
    damaged.dispose()

    monkeypatch.setattr(kept, "code_version", lambda: "another version of the code")
    other = open_fresh(own_url)
    seen = Statements(other)
    assert statuses_of(tallies.now(other, LIVE)) == statuses_by_own_sql(raw(own_url))
    assert seen.counting(), "counted by other code: counted again"
    seen.close()
    other.dispose()


VISIBLE = ("SELECT COUNT(*) AS n FROM persons WHERE scenario_id = :s AND consent_consular "
           "AND NOT protection_confidential AND (nationality = :n OR second_nationality = :n)")


def visible_by_own_sql(raw_engine, nationality: str) -> int:
    """How many persons a liaison of `nationality` may see, by design §2.2."""
    with raw_engine.connect() as conn:
        return conn.execute(text(VISIBLE), {"s": LIVE, "n": nationality}).scalar_one()


def most_common_nationality(raw_engine) -> str:
    with raw_engine.connect() as conn:
        return conn.execute(text(
            "SELECT nationality FROM persons WHERE scenario_id = :s AND consent_consular "
            "AND NOT protection_confidential GROUP BY nationality "
            "ORDER BY COUNT(*) DESC, nationality LIMIT 1"), {"s": LIVE}).scalar_one()


@pytest.mark.parametrize("change", [
    "UPDATE persons SET consent_consular = {false}",
    "UPDATE persons SET protection_confidential = {true}",
    "UPDATE persons SET nationality = 'ZZZ', second_nationality = NULL",
], ids=["consent withdrawn", "newly protected", "nationality corrected"])
def test_a_liaisons_rows_do_not_rest_on_the_writers_change_times(own_url, raw, change):
    """§2.2 does not rest on the writers' rules: a consular scope's cached rows are
    counted again at the first read one refresh interval after a person leaves its view,
    even when the writer kept no change time and no history (the watermark does not
    move). With nothing changed, an interval later they are not counted again: the
    persons it may see are read, not recounted."""
    database = open_fresh(own_url)
    clock = Later()
    database.scope_marks.clock = database.watermark.clock = clock
    calls: list[str] = []
    nationality = most_common_nationality(raw(own_url))

    @cache.scoped(ttl=30, clock=clock)
    def figure(database: Database, viewer: Viewer) -> int:
        calls.append(viewer.role)
        return int(database.read(VISIBLE, {"s": LIVE, "n": nationality})["n"].iloc[0])

    committee = Viewer(user="c", role="committee", scenario_id=LIVE)
    liaison = Viewer(user="l", role="consular", scenario_id=LIVE,
                     nationalities=(nationality,))
    seen = figure(database, liaison)
    assert seen == visible_by_own_sql(raw(own_url), nationality)
    figure(database, committee)
    for _ in range(2):  # nothing changed
        clock.move(31)
        figure(database, committee)
        assert figure(database, liaison) == seen
        figure.settle()
    assert calls.count("committee") == 1
    assert calls.count("consular") == 1

    true, false = ("1", "0") if own_url.startswith("sqlite") else ("TRUE", "FALSE")
    with raw(own_url).begin() as conn:  # one visible person, changed in place
        person = conn.execute(text(
            "SELECT MIN(id) FROM persons WHERE scenario_id = :s AND consent_consular "
            "AND NOT protection_confidential AND nationality = :n"),
            {"s": LIVE, "n": nationality}).scalar_one()
        conn.execute(text(change.format(true=true, false=false) + " WHERE id = :p"),
                     {"p": person})
    clock.move(29)
    assert figure(database, liaison) == seen  # within the interval: served, and checked
    figure.settle()
    clock.move(2)
    now = figure(database, liaison)
    assert calls.count("consular") == 2
    assert now == visible_by_own_sql(raw(own_url), nationality) == seen - 1
    database.dispose()


def test_a_value_never_served_old_is_checked_before_its_reader_comes_back():
    """A liaison going from page to page does not wait for the check of its rows each
    interval: a value that may not be served old, read in the second half of its
    interval, is checked in the background then, so that a reader an interval on is
    served at once; a change that check finds is counted there, and is what the next
    reader gets. The reader itself read the watermark only for the first count."""
    clock = Later()
    marks = iter([1, 1, 2])
    readers: list[str] = []  # the threads that read the watermark
    counts: list[int] = []

    def mark():
        readers.append(threading.current_thread().name)
        return next(marks)

    compute = lambda: counts.append(1) or len(counts)  # noqa: E731
    facts = SharedFacts(refresh_after_s=30, clock=clock)
    assert facts.get("k", compute, stale_ok=False, mark=mark) == 1
    clock.move(14)
    assert facts.get("k", compute, stale_ok=False, mark=mark) == 1  # first half: nothing
    facts.settle()
    assert len(readers) == 1
    clock.move(6)
    assert facts.get("k", compute, stale_ok=False, mark=mark) == 1  # checked: unchanged
    facts.settle()
    clock.move(20)  # 40 s after the count, 20 after the check
    assert facts.get("k", compute, stale_ok=False, mark=mark) == 1  # at once; checked
    facts.settle()
    clock.move(1)
    assert facts.get("k", compute, stale_ok=False, mark=mark) == 2, "changed: counted again"
    assert len(counts) == 2
    assert readers[0] == threading.current_thread().name
    assert len(readers) == 3 and all(r.startswith("refresh-") for r in readers[1:])


def test_a_watermark_that_cannot_be_read_keeps_the_last_value():
    clock = Later()
    answers = iter([1, DatabaseUnavailable("down"), 2])
    counts: list[int] = []

    def mark():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    facts = SharedFacts(refresh_after_s=10, clock=clock, transient=(DatabaseUnavailable,))
    compute = lambda: counts.append(1) or len(counts)  # noqa: E731
    assert facts.get("k", compute, mark=mark) == 1
    clock.move(11)
    assert facts.get("k", compute, mark=mark) == 1  # refreshing: the database is down
    facts.settle()
    clock.move(11)
    assert facts.get("k", compute, mark=mark) == 1
    facts.settle()
    assert facts.get("k", compute, mark=mark) == 2, "the watermark moved: counted again"
    assert len(counts) == 2


def test_facts_kept_under_another_disclosure_secret_are_counted_again(own_url, raw, tmp_path,
                                                                     monkeypatch):
    """An operator sets a new disclosure secret: counts kept under the old one carry its
    record keys, and would round the same people otherwise than a count read afresh
    beside them; they are counted again."""
    monkeypatch.setenv("SITROOM_FACTS_DIR", str(tmp_path / "facts"))
    first = open_fresh(own_url)
    tallies.now(first, LIVE)
    first.dispose()

    monkeypatch.setenv("SITROOM_DISCLOSURE_KEY", "a-new-secret-the-operator-set")
    forget_the_disclosure_secret()
    other = open_fresh(own_url)
    seen = Statements(other)
    try:
        assert statuses_of(tallies.now(other, LIVE)) == statuses_by_own_sql(raw(own_url))
        assert seen.counting(), "kept under another secret: counted again"
    finally:
        seen.close()
        other.dispose()
        monkeypatch.undo()
        forget_the_disclosure_secret()


def forget_the_disclosure_secret() -> None:
    """As a restart does: the secret is read once a process (config), and so are its
    keys (rules.privacy)."""
    config.disclosure_secret.cache_clear()
    privacy.installation_key_params.cache_clear()


def test_kept_files_hold_no_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SITROOM_FACTS_DIR", str(tmp_path))
    store = kept.for_database("postgresql://reader:***@db.example/sitroom")
    assert store is not None and Path(tmp_path) in store.folder.parents
    assert "reader" not in str(store.folder)
    monkeypatch.setenv("SITROOM_FACTS_DIR", "off")
    assert kept.for_database("sqlite:///x.sqlite") is None


def figure_statements(seen: Statements) -> list[str]:
    """The statements that are neither the watermark's nor the ping."""
    return [s for s in seen.seen if s not in NOT_FIGURES]


def test_a_restarted_server_takes_back_a_committees_figures_without_counting(
        own_url, raw, tmp_path, monkeypatch):
    """The first pages after a restart: the committee's Overview comes from disk at the
    same watermark, not from the database; after a change made while the server was
    down, it is counted again."""
    monkeypatch.setenv("SITROOM_FACTS_DIR", str(tmp_path / "facts"))
    committee = Viewer(user="c", role="committee", scenario_id=LIVE)
    first = open_fresh(own_url)
    as_of = scenarios.data_as_of(first, LIVE)
    counted = overview(first, committee, as_of)
    first.dispose()
    cache.clear_all()  # a new process remembers nothing

    restarted = open_fresh(own_url)
    assert scenarios.data_as_of(restarted, LIVE) == as_of  # read again: not a viewer's
    seen = Statements(restarted)
    try:
        again = overview(restarted, committee, as_of)
        assert figure_statements(seen) == [], "taken back, not read from the database"
    finally:
        seen.close()
        restarted.dispose()
    assert [(f.key, f.value) for f in again.figures] == [(f.key, f.value)
                                                         for f in counted.figures]
    assert again.by_status.equals(counted.by_status)
    cache.clear_all()

    move_someone(own_url, raw(own_url))  # written while the server was down
    changed = open_fresh(own_url)
    seen = Statements(changed)
    try:
        overview(changed, committee, as_of)
        assert figure_statements(seen), "another watermark: counted again"
    finally:
        seen.close()
        changed.dispose()
        cache.clear_all()


def test_no_row_of_a_person_is_kept_on_disk(own_url, tmp_path, monkeypatch):
    """The attack: read the server's kept files for the coordinator's referral queue
    (de-identified rows) or a liaison's nationals. Neither scope's figures are there;
    the committee's counts are."""
    monkeypatch.setenv("SITROOM_FACTS_DIR", str(tmp_path / "facts"))
    database = open_fresh(own_url)
    as_of = scenarios.data_as_of(database, LIVE)
    coordinator = Viewer(user="o", role="coordinator", scenario_id=LIVE)
    liaison = Viewer(user="l", role="consular", scenario_id=LIVE, nationalities=("ETH",))
    committee = Viewer(user="c", role="committee", scenario_id=LIVE)
    try:
        queue = referrals.referrals(database, coordinator, as_of).queue
        assert queue is not None and len(queue) > 0
        people.summary(database, liaison, as_of)
        overview(database, committee, as_of)
    finally:
        database.dispose()
        cache.clear_all()
    keys = []
    for path in (tmp_path / "facts").rglob("*.pickle"):
        with path.open("rb") as f:
            keys.append(repr(pickle.load(f)[1]))  # noqa: S301 (the test's own files)
    assert any("'committee'" in k and "overview" in k for k in keys)
    assert not [k for k in keys if "'coordinator'" in k or "'consular'" in k]
    # nor the facilities as the server reads them, confidential places included
    assert not [k for k in keys if "overview._facilities" in k]


def test_kept_files_nobody_uses_are_removed(tmp_path):
    """A figure for a moment long past is not kept for ever: files unused for
    UNUSED_S go at the next process's first save; one just read stays."""
    store = kept.Kept(tmp_path / "facts")
    store.save("old", 1, "a figure of last month")
    store.save("read", 1, "a figure read today")
    long_ago = time.time() - kept.UNUSED_S - 60
    for path in (tmp_path / "facts").glob("*.pickle"):
        os.utime(path, (long_ago, long_ago))
    assert store.load("read", 1) == kept.Found("a figure read today")  # used: touched

    next_process = kept.Kept(tmp_path / "facts")
    next_process.save("new", 1, "a figure of now")
    assert next_process.load("old", 1) is None
    assert next_process.load("read", 1) == kept.Found("a figure read today")
    assert next_process.load("new", 1) == kept.Found("a figure of now")
