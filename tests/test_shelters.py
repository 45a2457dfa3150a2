"""Shelters: facility figures against the test's own reading of the raw rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from dashboard import privacy
from dashboard.access import Viewer
from dashboard.shelters import shelters
from tests.apptest import metric, open_page, texts
from tests.readback import as_of_of, load


def facilities_now(engine, scenario: int) -> pd.DataFrame:
    """Each facility with its latest report (latest time, then highest id), in pandas."""
    fac = load(engine, "SELECT * FROM facilities WHERE scenario_id = :s", s=scenario)
    occ = load(engine, "SELECT o.* FROM facility_occupancy o JOIN facilities f "
                       "ON f.id = o.facility_id WHERE f.scenario_id = :s", s=scenario)
    occ["at"] = pd.to_datetime(occ["at"], format="mixed")
    latest = occ.sort_values(["facility_id", "at", "id"]).groupby("facility_id").tail(1)
    out = fac.merge(latest[["facility_id", "occupants"]], left_on="id",
                    right_on="facility_id", how="left")
    out["confidential"] = out["confidential"].astype(bool)
    out["valid"] = (out["occupants"].notna() & (out["occupants"] >= 0)
                    & (out["occupants"] <= out["capacity"]) & (out["capacity"] > 0))
    return out


def occupancy_at(engine, scenario: int, at) -> pd.Series:
    occ = load(engine, "SELECT o.* FROM facility_occupancy o JOIN facilities f "
                       "ON f.id = o.facility_id WHERE f.scenario_id = :s", s=scenario)
    occ["at"] = pd.to_datetime(occ["at"], format="mixed")
    occ = occ[occ["at"] <= pd.Timestamp(at)].sort_values(["facility_id", "at", "id"])
    return occ.groupby("facility_id").tail(1).set_index("facility_id")["occupants"]


def test_facility_rows_match_the_database(db_url, raw):
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    truth = facilities_now(engine, 1)
    data = shelters(db_url, Viewer("k", "coordinator", 1), as_of)
    listing = data.facilities.set_index("facility")

    confidential = set(truth.loc[truth.confidential, "name"])
    assert confidential, "the scenario must hold a confidential facility to test"
    assert not confidential & set(listing.index)
    assert set(listing.index) == set(truth.loc[~truth.confidential, "name"])
    checked = 0
    for row in truth[~truth.confidential & truth.valid].itertuples():
        shown = listing.loc[row.name]
        occupants, capacity = int(row.occupants), int(row.capacity)
        if occupants >= 5:
            assert shown["occupants"] == f"{occupants:,}"
            assert shown["free"] == capacity - occupants
            assert shown["full_pct"] == round(100 * occupants / capacity)
            checked += 1
    assert checked > 10


def test_totals_by_kind_count_confidential_facilities(db_url, raw):
    engine = raw(db_url)
    truth = facilities_now(engine, 1)
    data = shelters(db_url, Viewer("c", "consular", 1, ("ETH",)), as_of_of(engine, 1))
    expected = truth[truth.valid].groupby("kind")["capacity"].sum()
    got = data.by_kind.set_index("kind")["capacity"]
    assert dict(got.astype(int)) == {k: int(v) for k, v in expected.items()}
    occupants = truth[truth.valid].groupby("kind")["occupants"].sum()
    assert dict(data.by_kind.set_index("kind")["occupants"].astype(int)) == {
        k: int(v) for k, v in occupants.items()}
    assert data.confidential == int(truth.confidential.sum())


def test_change_and_confirmation_follow_data_as_of(db_url, raw):
    """The 24-hour change and the confirmation state are measured from the scenario's
    data-as-of, never the wall clock."""
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    now, before = occupancy_at(engine, 1, as_of), occupancy_at(engine, 1, as_of - timedelta(1))
    truth = facilities_now(engine, 1).set_index("name")
    data = shelters(db_url, Viewer("c", "consular", 1, ("ETH",)), as_of)
    states = set()
    for row in data.facilities.itertuples():
        fac = truth.loc[row.facility]
        if fac.valid:
            fid = fac["id"]
            change = int(now.get(fid, 0)) - int(before.get(fid, now.get(fid, 0)))
            assert row.change_24h == f"{change:,}", row.facility
        hours = (as_of - pd.Timestamp(fac.confirmed_at).to_pydatetime()).total_seconds() / 3600
        expected = "fresh" if hours < 24 else "due" if hours < 48 else "overdue"
        assert row.confirmation == expected
        states.add(expected)
    assert {"fresh", "overdue"} <= states


def test_small_occupancy_is_suppressed_with_what_gives_it_away(db_url, raw):
    engine = raw(db_url)
    truth = facilities_now(engine, 2).set_index("name")
    data = shelters(db_url, Viewer("c", "committee", 2), as_of_of(engine, 2))
    small = 0
    for row in data.facilities.itertuples():
        fac = truth.loc[row.facility]
        if fac.valid and 0 < fac.occupants < 5:
            small += 1
            assert row.occupants == "<5"
            assert pd.isna(row.free) and pd.isna(row.full_pct) and pd.isna(row.change_24h)
        for value in row.trend or []:
            assert value is None or value == 0 or value >= 5
    hidden_totals = 0
    for table in (data.by_kind, data.by_area):
        cells = list(table["occupants"])
        hidden_totals += cells.count("<5")
        assert sum(c == "<5" for c in cells) != 1  # complementary suppression
        assert all(c == "<5" or int(c) == 0 or int(c) >= 5 for c in cells)
    assert small + hidden_totals > 0, "the exercise scenario must hold a small count to test"


@pytest.mark.parametrize("role, nats", [("committee", None), ("coordinator", None),
                                        ("consular", ["ETH"])])
def test_page_for_each_role(sqlite_url, raw, monkeypatch, role, nats):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "shelters", role, nats)
    assert not at.exception
    truth = facilities_now(raw(sqlite_url), 1)
    assert metric(at, "Places") == f"{int(truth[truth.valid].capacity.sum()):,}"
    assert metric(at, "Facilities") == f"{len(truth):,}"
    confidential = set(truth.loc[truth.confidential, "name"])
    for chart in at.get("plotly_chart"):
        assert not any(name in chart.proto.spec for name in confidential)
    listing = at.dataframe[0].value
    assert not confidential & set(listing["facility"])


def test_page_on_a_dirty_database_names_what_it_leaves_out(dirty_sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", dirty_sqlite_url)
    at = open_page(dirty_sqlite_url, "shelters", "coordinator")
    assert not at.exception
    truth = facilities_now(raw(dirty_sqlite_url), 1)
    left_out = int((~truth.valid).sum())
    assert left_out >= 5
    assert f"{left_out} facilities have no valid occupancy report" in texts(at)
    assert metric(at, "Places") == f"{int(truth[truth.valid].capacity.sum()):,}"


def test_committee_charts_hold_no_small_count(sqlite_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "shelters", "committee", scenario=2)
    assert not at.exception
    checked = 0
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith("shelters-by-area"):
            # free places are places, not people; occupants are people
            for trace in json.loads(chart.proto.spec)["data"]:
                if trace["name"] == "Occupants":
                    checked += 1
                    assert all(v is None or v == 0 or v >= privacy.THRESHOLD
                               for v in trace["x"])
    assert checked == 1
