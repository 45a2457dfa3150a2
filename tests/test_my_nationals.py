"""My nationals: a liaison's own visible nationals, person by person, against the
test's own SQL; nobody outside the scope, the cap, the filters and the export."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard import people
from dashboard.access import Viewer
from tests.apptest import metric, open_page, texts

ETD = ("expired_passport", "held_by_employer", "national_id", "none")


def visible(engine, nats: tuple[str, ...]) -> pd.DataFrame:
    marks = ", ".join(f"'{n}'" for n in nats)
    with engine.connect() as conn:
        result = conn.execute(text(
            "SELECT * FROM persons WHERE scenario_id = 1 "
            f"AND (nationality IN ({marks}) OR second_nationality IN ({marks})) "
            "AND consent_consular = :t AND protection_confidential = :f "
            "AND status IN ('located', 'sheltered', 'in_transit', 'evacuated', 'relocated', "
            "'missing', 'deceased')"), {"t": True, "f": False})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@pytest.mark.parametrize("nats", [("ETH",), ("KEN", "PHL")], ids="-".join)
def test_counts_and_rows_are_the_visible_nationals(db_url, raw, nats):
    mine = visible(raw(db_url), nats)
    data = people.nationals(db_url, Viewer("l", "consular", 1, nats), people.Filters())
    assert data.total == len(mine) == data.matching
    assert data.missing == int((mine.status == "missing").sum())
    assert data.travel_document == int(mine.documents.isin(ETD).sum())
    assert len(data.rows) == min(people.ROW_LIMIT, len(mine))
    assert set(data.rows.ref) <= set(mine.ref)
    # missing first
    missing = list(data.rows.status == "missing")
    assert missing == sorted(missing, reverse=True)


def test_a_liaison_never_sees_protected_or_non_consenting_people(db_url, raw):
    with raw(db_url).connect() as conn:
        hidden = {r[0] for r in conn.execute(text(
            "SELECT ref FROM persons WHERE (nationality = 'ETH' OR second_nationality = 'ETH') "
            "AND (consent_consular = :f OR protection_confidential = :t)"),
            {"t": True, "f": False})}
    assert hidden
    viewer = Viewer("l", "consular", 1, ("ETH",))
    for search in ("", "a", "e"):
        rows = people.nationals(db_url, viewer, people.Filters(search=search)).rows
        assert not hidden & set(rows.ref)
    for ref in list(hidden)[:3]:
        found = people.nationals(db_url, viewer, people.Filters(search=ref)).rows
        assert found.empty


def test_filters_narrow_in_the_database(db_url, raw):
    mine = visible(raw(db_url), ("ETH",))
    viewer = Viewer("l", "consular", 1, ("ETH",))
    missing = people.nationals(db_url, viewer, people.Filters(show="missing"))
    assert missing.matching == int((mine.status == "missing").sum())
    assert set(missing.rows.status) == {"missing"}
    etd = people.nationals(db_url, viewer, people.Filters(show="travel_document"))
    assert etd.matching == int(mine.documents.isin(ETD).sum())
    assert etd.rows.needs_travel_document.all()
    one = mine.iloc[0]
    found = people.nationals(db_url, viewer, people.Filters(search=one.ref.lower()))
    assert list(found.rows.ref) == [one.ref]
    sheltered = people.nationals(db_url, viewer, people.Filters(statuses=("sheltered",)))
    assert sheltered.matching == int((mine.status == "sheltered").sum())
    assert sheltered.rows.facility.notna().all()


def test_other_roles_get_no_person_rows(db_url):
    for role in ("committee", "coordinator", "admin"):
        with pytest.raises(people.NotPersonLevel):
            people.nationals(db_url, Viewer("x", role, 1), people.Filters())


@pytest.mark.parametrize("role", ["committee", "coordinator", "admin"])
def test_page_refuses_other_roles(sqlite_url, monkeypatch, role):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "my_nationals", role)
    assert not at.exception
    assert "cannot open this page" in texts(at)
    assert not at.dataframe


def test_page_shows_the_capped_list_and_exports_exactly_it(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    mine = visible(raw(sqlite_url), ("ETH",))
    assert metric(at, "My nationals") == f"{len(mine):,}"
    assert metric(at, "Missing") == f"{int((mine.status == 'missing').sum()):,}"
    table = at.dataframe[0].value
    assert len(table) == min(people.ROW_LIMIT, len(mine))
    assert {"ref", "name", "phone", "area", "facility", "status", "evacuation_stage",
            "documents"} <= set(table.columns)
    button = at.get("download_button")[0].proto
    assert button.label == f"Download these {len(table):,} rows (CSV)"


def test_page_search_narrows_the_table(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "my_nationals", "consular", ["ETH"])
    ref = visible(raw(sqlite_url), ("ETH",)).ref.iloc[0]
    at.text_input(key="nationals-search").input(ref).run()
    assert not at.exception
    assert list(at.dataframe[0].value.ref) == [ref]
    assert metric(at, "Matching the filters") == "1"


def test_page_on_a_dirty_database(dirty_sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", dirty_sqlite_url)
    at = open_page(dirty_sqlite_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    assert metric(at, "My nationals") == f"{len(visible(raw(dirty_sqlite_url), ('ETH',))):,}"
