"""The audit log (docs/design.md §2.8): one line per view, search and export, with who,
which role, scenario, page, filters (the search text among them) and rows shown; none
twice for one view. Its retention and its export: tests/test_audit_log.py.

A page is run here as app.py runs it (the page, then finish_view); a fragment rerun
is asked of Streamlit as the browser asks it when a widget inside a page's live()
fragment changes or its timer fires: the fragment alone runs, not the page around
it. The audit file is read back with the test's own SQL.
"""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3

import pandas as pd
from sqlalchemy import text
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.testing.v1 import AppTest, local_script_runner

from components import session
from components.session import KEY, Context
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules.access import Viewer
from tests.apptest import start
from tests.conftest import opened
from tests.signin import ACCOUNTS, make_users_file, sign_in_as, use_users

STATUSES = ("located", "sheltered", "in_transit", "evacuated", "relocated", "missing", "deceased")


def lines(path) -> list[dict]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY id")]


def as_app(db_url: str, page: str, role: str, nationalities=(), scenario: int = 1) -> AppTest:
    """`page` run the way app.py runs it: the page, then finish_view (app.py writes the
    view when the page is done)."""
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from components.session import KEY, finish_view\n"
        f"from pages.{page} import render\n"
        "render()\n"
        "finish_view(st.session_state[KEY].viewer)\n", default_timeout=120)
    info = next(s for s in list_scenarios(opened(db_url)) if s.id == scenario)
    at.session_state[KEY] = Context(db_url, Viewer(f"test-{role}", role, scenario,
                                                   tuple(nationalities)), info)
    return at.run()


def rerun_fragment(at: AppTest) -> AppTest:
    """What Streamlit runs when a widget inside a page's live() fragment changes, or its
    timer fires: that fragment alone, without the page around it or app.py."""
    fragments = list(at._fragment_storage._fragments)
    assert fragments, "the page has no fragment"
    original = local_script_runner.RerunData
    local_script_runner.RerunData = functools.partial(RerunData, fragment_id_queue=fragments)
    try:
        return at.run()
    finally:
        local_script_runner.RerunData = original


def visible(engine, nat: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(
            "SELECT ref, full_name FROM persons WHERE scenario_id = 1 "
            "AND (nationality = :n OR second_nationality = :n) "
            "AND consent_consular = :t AND protection_confidential = :f "
            f"AND status IN ({', '.join(repr(s) for s in STATUSES)})"),
            {"n": nat, "t": True, "f": False})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def matching(mine: pd.DataFrame, search: str) -> int:
    """Persons whose name or reference holds `search`, as a reader means it: any case."""
    needle = search.strip().lower()
    return int((mine.full_name.str.lower().str.contains(needle, regex=False)
                | mine.ref.str.lower().str.contains(needle, regex=False)).sum())


# --- one line per view ---------------------------------------------------------------------

def test_a_rerun_with_nothing_new_is_not_a_second_view(sqlite_url, own_audit_log,
                                                        monkeypatch):
    """A full rerun of the same page with the same filters and rows (a sidebar widget
    touched and put back, a component's answer: the sign-in cookie was once set by
    one, and one sign-in wrote two view lines) is not a view: it shows the reader
    nothing new."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = as_app(sqlite_url, "overview", "committee")
    at.run()  # a rerun that changes nothing
    assert not at.exception
    assert [(r["user"], r["page"], r["action"]) for r in lines(own_audit_log)] == [
        ("test-committee", "overview", "view")]
    # a reader's own change is a new view, even back to what was shown before
    at.segmented_control(key="reference-span").set_value("7 days").run()
    at.segmented_control(key="reference-span").set_value("24 hours").run()
    assert [r["page"] for r in lines(own_audit_log)] == ["overview"] * 3


def test_the_same_view_is_written_again_after_an_hour(sqlite_url, own_audit_log,
                                                      monkeypatch):
    """A page left open and refreshing stays on record: once an hour at most."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    clock = [5_000.0]
    monkeypatch.setattr(session, "_clock", lambda: clock[0])
    at = as_app(sqlite_url, "overview", "committee")
    clock[0] += session.SAME_VIEW_AGAIN_S - 1
    at.run()
    assert len(lines(own_audit_log)) == 1
    clock[0] += 2
    at.run()
    assert not at.exception
    assert [r["page"] for r in lines(own_audit_log)] == ["overview"] * 2


def test_a_sign_in_writes_one_view_line(sqlite_url, own_audit_log, tmp_path, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    # a key of its own: a key written in the project's files is refused as published
    use_users(monkeypatch, make_users_file(tmp_path), cookie_key=secrets.token_urlsafe(32))
    at = sign_in_as(start(), "committee")
    assert not at.exception
    views = [(r["user"], r["page"], r["action"]) for r in lines(own_audit_log)]
    assert views == [(ACCOUNTS["committee"][0], "overview", "view")]


def test_each_search_on_my_nationals_writes_its_own_line(sqlite_url, raw, own_audit_log,
                                                          monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    mine = visible(raw(sqlite_url), "ETH")
    at = as_app(sqlite_url, "my_nationals", "consular", ("ETH",))
    assert not at.exception
    first = lines(own_audit_log)
    assert [(r["page"], r["action"], r["rows_shown"]) for r in first] == [
        ("my_nationals", "view", len(mine))]
    assert json.loads(first[0]["filters"]) == {"show": "all"}

    one = mine.iloc[0]
    searches = [one.ref, one.full_name.split()[0], one.full_name.split()[-1].upper(),
                "zz-nobody-zz"]
    for search in searches:
        at.text_input(key="nationals-search").input(search)
        rerun_fragment(at)
        assert not at.exception
    written = lines(own_audit_log)[1:]
    assert [r["action"] for r in written] == ["view"] * len(searches)
    for line, search in zip(written, searches, strict=True):
        assert (line["user"], line["role"], line["nationalities"], line["scenario_id"],
                line["page"]) == ("test-consular", "consular", "ETH", 1, "my_nationals")
        assert json.loads(line["filters"])["search"] == search
        assert line["rows_shown"] == matching(mine, search)
    assert written[0]["rows_shown"] == 1 and written[-1]["rows_shown"] == 0

    # the refresh timer: the same search, the same rows: not another view
    rerun_fragment(at)
    assert not at.exception
    assert len(lines(own_audit_log)) == 1 + len(searches)


def test_an_export_after_a_search_records_the_page_the_search_and_the_rows(
        sqlite_url, raw, own_audit_log, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    mine = visible(raw(sqlite_url), "ETH")
    search = mine.iloc[0].full_name.split()[0]
    at = as_app(sqlite_url, "my_nationals", "consular", ("ETH",))
    at.text_input(key="nationals-search").input(search)
    rerun_fragment(at)  # the button is now drawn by the fragment alone
    assert not at.exception
    name, make = downloads[-2]  # the CSV of the last run, then its workbook
    assert name == "my-nationals.csv"
    make()  # what the button's click runs
    exports = [r for r in lines(own_audit_log) if r["action"] == "export"]
    assert len(exports) == 1
    line = exports[0]
    assert (line["user"], line["role"], line["scenario_id"], line["page"]) == (
        "test-consular", "consular", 1, "my_nationals")
    filters = json.loads(line["filters"])
    assert filters["search"] == search and filters["file"] == "my-nationals.csv"
    assert line["rows_shown"] == matching(mine, search) > 0


def test_changing_a_filter_in_the_fragment_is_a_new_view(sqlite_url, own_audit_log,
                                                          monkeypatch):
    """Not only searches: any filter a reader changes inside a page's fragment."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = as_app(sqlite_url, "map", "committee")
    assert len(lines(own_audit_log)) == 1
    at.multiselect(key="map_status").set_value(["missing"])
    rerun_fragment(at)
    assert not at.exception
    written = lines(own_audit_log)
    assert len(written) == 2 and written[1]["page"] == "map"
    assert json.loads(written[1]["filters"])["status"] == ["missing"]


def test_the_admin_sees_the_demo_accounts_on_the_demo_database(sqlite_url, tmp_path,
                                                               monkeypatch):
    """On the embedded demo database the accounts anyone may sign in with are the demo
    accounts too: the admin's list says so (it once asked with the database object
    instead of its address, and listed the users file alone)."""
    from pathlib import Path

    from tests.apptest import open_page

    home = tmp_path / "home"
    home.mkdir()
    (home / "demo.sqlite").symlink_to(Path(sqlite_url.removeprefix("sqlite:///")))
    monkeypatch.setenv("SITROOM_HOME", str(home))
    demo_url = f"sqlite:///{home / 'demo.sqlite'}"
    at = open_page(demo_url, "audit", "admin")
    assert not at.exception
    listed = set()
    for frame in at.dataframe:
        if "user" in frame.value.columns:
            listed |= set(frame.value["user"])
    assert {"demo-committee", "demo-consular", "demo-coordinator", "demo-admin"} <= listed
