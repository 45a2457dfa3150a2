"""The app, page by page and role by role, with AppTest."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard.figures.scenarios import list_scenarios
from dashboard.rules import access
from tests.apptest import metric, open_page, page_app, shown, shown_tables, start, texts
from tests.conftest import opened
from tests.signin import ACCOUNTS, make_users_file, sign_in_as, use_users


@pytest.fixture
def app_db(sqlite_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    return sqlite_url


def own_count(raw, url, sql, **params) -> int:
    with raw(url).connect() as conn:
        return conn.execute(text(sql), params).scalar()


@pytest.mark.parametrize("role", ["committee", "coordinator", "admin"])
def test_overview_for_aggregate_roles_shows_the_database_total(app_db, raw, role):
    at = open_page(app_db, "overview", role)
    assert not at.exception
    expected = own_count(raw, app_db, "SELECT COUNT(*) FROM persons WHERE scenario_id = 1")
    assert metric(at, "Registered") == f"{expected:,}"
    assert "Data as of" in texts(at)
    assert "synthetic" in texts(at)


def test_overview_for_a_liaison_counts_only_visible_nationals(app_db, raw):
    at = open_page(app_db, "overview", "consular", ["PHL"])
    assert not at.exception
    expected = own_count(
        raw, app_db,
        "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 "
        "AND (nationality = 'PHL' OR second_nationality = 'PHL') "
        "AND consent_consular = :t AND protection_confidential = :f", t=True, f=False)
    assert metric(at, "Registered") == f"{expected:,}"


def test_exercise_scenario_carries_the_exercise_banner(app_db):
    assert "EXERCISE" not in texts(open_page(app_db, "overview"))
    exercise = next(s for s in list_scenarios(opened(app_db)) if s.kind == "exercise")
    for role, nats in [("committee", None), ("coordinator", None), ("consular", ["ETH"])]:
        for page in access.pages_for(role):
            at = open_page(app_db, page, role, nats, scenario=exercise.id)
            assert not at.exception
            assert "EXERCISE" in texts(at) and "NOT LIVE DATA" in texts(at), (role, page)


def test_data_quality_page_is_not_offered_to_a_liaison(app_db):
    at = open_page(app_db, "data_quality", "consular", ["ETH"])
    assert not at.exception
    assert "cannot open this page" in texts(at)
    assert not shown_tables(at)


def test_data_quality_page_counts_each_contract_break(dirty_sqlite_url, raw, monkeypatch):
    dirty_db_url = dirty_sqlite_url
    monkeypatch.setenv("SITROOM_DB_URL", dirty_db_url)
    at = open_page(dirty_db_url, "data_quality", "coordinator")
    assert not at.exception
    table = shown_tables(at)[0]
    assert list(table.columns) == ["Check", "Left out of", "Rows"]
    bad_coordinates = own_count(
        raw, dirty_db_url, "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 AND "
        "(lat IS NULL OR lon IS NULL OR lat > 90 OR lat < -90 OR lon > 180 OR lon < -180)")
    assert bad_coordinates > 0
    row = table[table["Check"].str.contains("coordinates")]
    assert int(row["Rows"].iloc[0]) == bad_coordinates


def test_every_page_runs_for_every_role(app_db):
    for role in access.ROLES:
        for page in access.pages_for(role):
            at = open_page(app_db, page, role, ["ETH"] if role == "consular" else None)
            assert not at.exception, (role, page)
            if page != "audit":  # the audit log is the dashboard's own, not scenario data
                assert "Data as of" in texts(at), (role, page)


def test_the_entrypoint_opens_on_the_overview_after_sign_in(app_db, raw, tmp_path,
                                                            monkeypatch):
    use_users(monkeypatch, make_users_file(tmp_path))
    at = start()
    assert not at.exception
    assert not shown(at, "metric")  # nothing before sign-in
    at = sign_in_as(at, "committee")
    assert not at.exception
    expected = own_count(raw, app_db, "SELECT COUNT(*) FROM persons WHERE scenario_id = 1")
    assert metric(at, "Registered") == f"{expected:,}"


def test_a_page_opened_without_a_viewer_shows_no_data(app_db):

    for page in access.PAGE_ROLES:
        at = page_app(page).run()
        assert not at.exception
        assert not shown(at, "metric") and not shown_tables(at)
        assert "Choose who you are first" in texts(at)


def test_a_page_view_is_written_to_the_audit_log(app_db, own_audit_log, tmp_path,
                                                monkeypatch):
    import sqlite3
    use_users(monkeypatch, make_users_file(tmp_path))
    at = sign_in_as(start(), "committee")
    assert not at.exception
    with sqlite3.connect(own_audit_log) as conn:
        rows = conn.execute(
            "SELECT user, role, page, action, scenario_id FROM audit_log").fetchall()
    assert rows == [(ACCOUNTS["committee"][0], "committee", "overview", "view", 1)]


def test_the_overview_compares_with_the_moment_the_reader_picks(app_db, raw):

    from components.session import KEY, Context
    from dashboard.figures.scenarios import list_scenarios as scenarios_of
    from dashboard.rules.access import Viewer

    with raw(app_db).connect() as conn:
        as_of = conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = 1")).scalar()
        rule = ("scenario_id = 1 AND (nationality = 'PHL' OR second_nationality = 'PHL') "
                "AND consent_consular = :t AND protection_confidential = :f")
        import pandas as pd
        as_of = pd.Timestamp(as_of).to_pydatetime()
        week_ago = as_of - pd.Timedelta(days=7)
        # an earlier moment is counted to the quarter hour at or before it
        week_ago = pd.Timestamp(week_ago).floor("15min").to_pydatetime()
        now = conn.execute(text(f"SELECT COUNT(*) FROM persons WHERE {rule} "
                                "AND registered_at <= :at"), {"t": True, "f": False,
                                                              "at": as_of}).scalar()
        then = conn.execute(text(f"SELECT COUNT(*) FROM persons WHERE {rule} "
                                 "AND registered_at <= :at"), {"t": True, "f": False,
                                                               "at": week_ago}).scalar()
    at = page_app("overview")
    at.session_state[KEY] = Context(app_db, Viewer("l", "consular", 1, ("PHL",)),
                                    scenarios_of(opened(app_db))[0])
    at.session_state["reference-span"] = "7 days"
    at.run()
    assert not at.exception
    tile = next(m for m in at.metric if m.label == "Registered")
    assert tile.delta == f"{now - then:+,}"
    assert f"Changes since {week_ago:%a %d %b, %H:%M} UTC" in texts(at)


def test_the_overview_shows_an_earlier_moment_the_reader_picks(app_db, raw):
    from datetime import timedelta

    from components.session import KEY, Context
    from dashboard.rules.access import Viewer

    scenario = list_scenarios(opened(app_db))[0]
    moment = scenario.starts_at + timedelta(days=10)
    expected = own_count(raw, app_db, "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 "
                                      "AND registered_at <= :at", at=moment)
    at = page_app("overview")
    at.session_state[KEY] = Context(app_db, Viewer("c", "committee", 1), scenario)
    at.session_state["as-of"] = moment
    at.run()
    assert not at.exception
    assert metric(at, "Registered") == f"{expected:,}"
    assert f"as it was on {moment:%d %b %Y, %H:%M} UTC" in texts(at)
