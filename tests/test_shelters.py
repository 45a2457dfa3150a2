"""Shelters: facility figures against the test's own reading of the raw rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest

from dashboard.figures.shelters import _listing, shelters
from dashboard.rules import privacy
from dashboard.rules.access import Viewer
from tests.apptest import (
    closed_sections,
    drawn_charts,
    metric,
    open_page,
    open_sections,
    shown_tables,
    texts,
)
from tests.conftest import opened
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


def counted(valid: pd.DataFrame, area: str = "area") -> pd.DataFrame:
    """The test's own reading of the rule for totals: a confidential place counts only
    where its area holds two or more confidential places with a valid report."""
    pooled = valid[valid.confidential].groupby(area).size()
    return valid[~valid.confidential | (valid[area].map(pooled).fillna(0) >= 2)]


def with_areas(engine, frame: pd.DataFrame) -> pd.DataFrame:
    areas = load(engine, "SELECT pcode, name FROM areas").set_index("pcode")["name"]
    return frame.assign(area=frame.area_pcode.map(areas).fillna("(no area)"))


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
    data = shelters(opened(db_url), Viewer("k", "coordinator", 1), as_of)
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


def test_totals_by_kind_count_listed_places_and_pooled_confidential_ones(db_url, raw):
    engine = raw(db_url)
    truth = with_areas(engine, facilities_now(engine, 1))
    data = shelters(opened(db_url), Viewer("c", "consular", 1, ("ETH",)), as_of_of(engine, 1))
    valid = counted(truth[truth.valid])
    valid = valid.assign(kind=valid.kind.where(~valid.confidential, "confidential places"))
    expected = valid.groupby("kind")["capacity"].sum()
    got = data.by_kind.set_index("kind")["capacity"]
    assert dict(got.astype(int)) == {k: int(v) for k, v in expected.items()}
    occupants = valid.groupby("kind")["occupants"].sum()
    assert dict(data.by_kind.set_index("kind")["occupants"].astype(int)) == {
        k: int(v) for k, v in occupants.items()}
    assert data.confidential == int(truth.confidential.sum())


@pytest.mark.parametrize("viewer", [Viewer("c", "committee", 1), Viewer("k", "coordinator", 2),
                                    Viewer("l", "consular", 1, ("ETH",))],
                         ids=lambda v: f"{v.role}-{v.scenario_id}")
def test_no_confidential_place_can_be_worked_out_from_the_totals(db_url, raw, viewer):
    """Every total less the places listed in it is either nothing or the sum of two
    or more confidential places: never one place's figures."""
    engine = raw(db_url)
    truth = with_areas(engine, facilities_now(engine, viewer.scenario_id))
    valid = truth[truth.valid]
    assert valid.confidential.any(), "the scenario must hold a confidential facility to test"
    data = shelters(opened(db_url), viewer, as_of_of(engine, viewer.scenario_id))
    listed = valid[~valid.confidential]
    confidential = valid[valid.confidential]
    by_area = data.by_area.set_index("area")
    for area, row in by_area.iterrows():
        hidden = int(row["capacity"]) - int(listed[listed.area == area].capacity.sum())
        inside = confidential[confidential.area == area]
        assert hidden in (0, int(inside.capacity.sum())), area
        if hidden:
            assert len(inside) >= 2, area
    in_use = counted(valid)[lambda f: f.status.isin(["open", "full"])]
    hidden = data.headline["Places"] - int(in_use[~in_use.confidential].capacity.sum())
    assert hidden == int(in_use[in_use.confidential].capacity.sum())
    alone = confidential.groupby("area").size().eq(1).sum()
    assert data.confidential_uncounted == alone
    kinds = data.by_kind.set_index("kind")
    for kind, row in kinds.drop(index="confidential places", errors="ignore").iterrows():
        assert int(row["capacity"]) == int(listed[listed.kind == kind].capacity.sum()), kind


def test_the_pooling_rule_itself():
    frame = pd.DataFrame({"area": ["A", "A", "A", "B", "B", None],
                          "confidential": [True, True, False, True, False, True]})
    assert privacy.counted_in_totals(frame).tolist() == [True, True, True, False, True, False]


def test_change_and_confirmation_follow_data_as_of(db_url, raw):
    """The 24-hour change and the confirmation state are measured from the scenario's
    data-as-of, never the wall clock."""
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    now, before = occupancy_at(engine, 1, as_of), occupancy_at(engine, 1, as_of - timedelta(1))
    truth = facilities_now(engine, 1).set_index("name")
    data = shelters(opened(db_url), Viewer("c", "consular", 1, ("ETH",)), as_of)
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


@pytest.mark.parametrize("viewer", [Viewer("l", "consular", 1, ("ETH",)),
                                    Viewer("c", "committee", 1)], ids=lambda v: v.role)
def test_time_to_full_from_the_arrival_rate_of_the_last_day(db_url, raw, viewer):
    """Hours to full = free places / (the last 24 hours' net arrivals per hour), for an
    open or full facility with a report in the last day that is filling. Occupancy is
    reported by facilities: exact for every role, but a liaison is told nothing that
    would give back the count of a facility holding 1 to 4 people."""
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    now, before = occupancy_at(engine, 1, as_of), occupancy_at(engine, 1, as_of - timedelta(1))
    occ = load(engine, "SELECT o.facility_id, MAX(o.at) AS at FROM facility_occupancy o "
                       "JOIN facilities f ON f.id = o.facility_id WHERE f.scenario_id = 1 "
                       "GROUP BY o.facility_id")
    last_report = pd.to_datetime(occ.set_index("facility_id")["at"], format="mixed")
    truth = facilities_now(engine, 1).set_index("name")
    hide = viewer.role == "consular"
    data = shelters(opened(db_url), viewer, as_of)
    seen = set()
    for row in data.facilities.itertuples():
        fac = truth.loc[row.facility]
        if not fac.valid:
            assert row.time_to_full in ("no report", "report invalid") and pd.isna(
                row.hours_to_full), row.facility
            continue
        fid, occupants = fac["id"], int(fac.occupants)
        free = int(fac.capacity) - occupants
        change = int(now[fid]) - int(before.get(fid, now[fid]))
        hours = None
        if fac.status not in ("open", "full"):
            words = fac.status
        elif free <= 0:
            words, hours = "full now", 0.0
        elif as_of - last_report[fid].to_pydatetime() > timedelta(hours=24):
            words = "no recent report"
        elif change <= 0:
            words = "not filling"
        else:
            hours = free / (change / 24)
            words = f"in {hours:.0f} h" if hours < 48 else f"in {hours / 24:.1f} days"
        if hide and 0 < occupants < 5:
            words, hours = "—", None
        assert row.time_to_full == words, row.facility
        if hours is None:
            assert pd.isna(row.hours_to_full), row.facility
        else:
            assert row.hours_to_full == pytest.approx(hours), row.facility
        seen.add(words.split(" ")[0])
    # the cases the demo scenario has
    assert {"in", "not", "full"} <= seen, seen


def test_time_to_full_is_told_in_hours_under_two_days_else_in_days():
    as_of = datetime(2026, 11, 1, 12)
    days = {f"d{k}": [None, None] for k in range(7, 1, -1)}
    listed = pd.DataFrame({
        "facility": ["A", "B"], "kind": ["school"] * 2, "area": ["X"] * 2,
        "status": ["open"] * 2, "capacity": [100, 100], "occupants": [80, 80],
        "valid": [True, True], "reported_at": [as_of - timedelta(hours=1)] * 2,
        "confirmed_at": [as_of] * 2, **days, "d1": [60, 75], "d0": [80, 80]})
    shown = _listing(listed, as_of, hide=False)
    # 20 free places: 20 a day fills them in 24 hours, 5 a day in 4 days
    assert shown["time_to_full"].tolist() == ["in 24 h", "in 4.0 days"]
    assert shown["hours_to_full"].tolist() == [24.0, 96.0]


def test_a_liaison_sees_no_exact_count_of_a_small_facility(db_url, raw):
    """Occupancy is reported by facilities: the committee sees it exactly, small or
    not; a liaison sees "<5" for a facility of 1 to 4 people, without what would give
    it back (free places, % full, change, its trend points under 5), and every total
    that includes one is withheld ("—"), since it less the listed others would."""
    engine = raw(db_url)
    truth = facilities_now(engine, 2).set_index("name")
    as_of = as_of_of(engine, 2)
    liaison = shelters(opened(db_url), Viewer("l", "consular", 2, ("ETH",)), as_of)
    committee = shelters(opened(db_url), Viewer("c", "committee", 2), as_of)
    exact = committee.facilities.set_index("facility")
    small = 0
    for row in liaison.facilities.itertuples():
        fac = truth.loc[row.facility]
        if not fac.valid:
            continue
        n = int(fac.occupants)
        assert exact.loc[row.facility, "occupants"] == f"{n:,}"
        if 0 < n < 5:
            small += 1
            assert row.occupants == "<5"
            assert pd.isna(row.free) and pd.isna(row.full_pct) and pd.isna(row.change_24h)
        else:
            assert row.occupants == f"{n:,}"
        for value in row.trend or []:
            assert value is None or value == 0 or value >= 5
    assert small > 0, "the exercise scenario must hold a small facility to test"
    assert liaison.headline["Reported occupants"] == "—"
    assert liaison.headline["Free places"] == "—"
    assert isinstance(committee.headline["Reported occupants"], int)
    withheld = sum(list(t["occupants"]).count("—") for t in (liaison.by_kind, liaison.by_area))
    assert withheld > 0


def test_a_withheld_cell_of_a_grid_reads_as_a_dash_not_none(sqlite_url, raw, monkeypatch):
    """A liaison's small facility shows "<5" and no free places, % full or change: those
    cells are empty in the data, and a data grid writes an empty cell "None" unless
    told otherwise, which beside "<5" reads as none free. Every grid of the page
    writes it "—", the mark of a withheld figure (docs/design.md §2)."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    truth = facilities_now(raw(sqlite_url), 2)
    small = set(truth.loc[truth.valid & truth.occupants.between(1, 4), "name"])
    at = open_page(sqlite_url, "shelters", "consular", ["ETH"], scenario=2)
    assert not at.exception
    listing = at.dataframe[0].value.set_index("facility")
    assert small and small <= set(listing.index), "the exercise must list a small facility"
    assert listing.loc[sorted(small), "free"].isna().all()
    assert [frame.proto.placeholder for frame in at.dataframe] == ["—"] * len(at.dataframe)


@pytest.mark.parametrize("role, nats", [("committee", None), ("coordinator", None),
                                        ("consular", ["ETH"])])
def test_page_for_each_role(sqlite_url, raw, monkeypatch, role, nats):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "shelters", role, nats)
    assert not at.exception
    truth = facilities_now(raw(sqlite_url), 1)
    in_totals = counted(with_areas(raw(sqlite_url), truth[truth.valid]))
    in_use = in_totals[in_totals.status.isin(["open", "full"])]
    assert metric(at, "Places") == f"{int(in_use.capacity.sum()):,}"
    assert metric(at, "Facilities") == f"{len(truth):,}"
    confidential = set(truth.loc[truth.confidential, "name"])
    for chart in drawn_charts(at):
        shown = chart.payload + json.dumps(chart.spec, ensure_ascii=False)
        assert not any(name in shown for name in confidential)
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
    in_totals = counted(with_areas(raw(dirty_sqlite_url), truth[truth.valid]))
    assert metric(at, "Places") == f"{int(in_totals.capacity.sum()):,}"


def test_the_totals_by_kind_and_by_area_are_drawn_once_opened(sqlite_url, raw, monkeypatch,
                                                              downloads):
    """The totals are a section drawn only when its reader opens it: closed, the page
    draws the facilities' grid alone and offers none of the totals' files; opened,
    both totals, with the places the test counts itself, and their downloads."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "shelters", "coordinator", sections_open=False)
    assert not at.exception
    assert closed_sections(at) == ["shelters-totals"]
    assert len(shown_tables(at)) == 1
    assert not {"Totals by kind", "Totals by area"} & {h.value for h in at.subheader}
    assert [name for name, _ in downloads] == ["shelters-facilities.csv",
                                               "shelters-facilities.xlsx"]

    open_sections(at)
    assert not at.exception
    assert closed_sections(at) == []
    assert {"Totals by kind", "Totals by area"} <= {h.value for h in at.subheader}
    facilities, by_kind, by_area = shown_tables(at)
    truth = counted(with_areas(raw(sqlite_url), facilities_now(raw(sqlite_url), 1)
                               .query("valid")))
    assert int(by_kind["capacity"].sum()) == int(truth.capacity.sum())
    expected = truth.assign(area=truth.area.fillna("(no area)")).groupby("area").capacity.sum()
    assert dict(zip(by_area["area"], by_area["capacity"].astype(int), strict=True)) == {
        area: int(places) for area, places in expected.items()}
    assert {"shelters-by-kind.csv", "shelters-by-kind.xlsx", "shelters-by-area.csv",
            "shelters-by-area.xlsx"} <= {name for name, _ in downloads}


def test_committee_charts_hold_no_small_count(sqlite_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "shelters", "committee", scenario=2)
    assert not at.exception
    checked = 0
    for chart in drawn_charts(at):
        if chart.key.endswith("shelters-by-area"):
            # free places are places, not people; occupants are people
            for trace in chart.spec["data"]:
                if trace["name"] == "Occupants":
                    checked += 1
                    assert all(v is None or v == 0 or v >= privacy.THRESHOLD
                               for v in trace["x"])
    assert checked == 1


# --- an earlier moment: worked back from the occupancy history ----------------

def facilities_at(engine, scenario: int, moment) -> pd.DataFrame:
    """Each facility with its latest report by `moment`, and when it was last confirmed
    as known then: confirmed_at if not later, else its latest report by then."""
    fac = load(engine, "SELECT * FROM facilities WHERE scenario_id = :s", s=scenario)
    occ = load(engine, "SELECT o.* FROM facility_occupancy o JOIN facilities f "
                       "ON f.id = o.facility_id WHERE f.scenario_id = :s", s=scenario)
    occ["at"] = pd.to_datetime(occ["at"], format="mixed")
    then = (occ[occ["at"] <= pd.Timestamp(moment)].sort_values(["facility_id", "at", "id"])
            .groupby("facility_id").tail(1).set_index("facility_id"))
    fac["occupants"] = fac["id"].map(then["occupants"])
    fac["reported_at"] = fac["id"].map(then["at"])
    fac["confidential"] = fac["confidential"].astype(bool)
    fac["valid"] = (fac["occupants"].notna() & (fac["occupants"] >= 0)
                    & (fac["occupants"] <= fac["capacity"]) & (fac["capacity"] > 0))
    confirmed = pd.to_datetime(fac["confirmed_at"], format="mixed")
    fac["known_confirmed"] = confirmed.where(confirmed <= pd.Timestamp(moment),
                                             fac["reported_at"])
    return fac


def check_cells(cells: dict, truth: dict, has_small: dict, hide: bool) -> None:
    """Shown totals against the true ones: exact, but for a liaison "—" where the
    group holds a facility of 1 to 4 people and "<5" where the total is 1 to 4."""
    assert set(cells) == set(truth)
    for key, n in truth.items():
        if not hide:
            expected = n
        elif has_small[key]:
            expected = "—"
        else:
            expected = "<5" if 0 < n < 5 else f"{n:,}"
        assert cells[key] == expected, (key, cells[key], n)


EARLIER = [(Viewer("c", "committee", 1), 5), (Viewer("c", "committee", 2), 5),
           (Viewer("k", "coordinator", 1), 5), (Viewer("k", "coordinator", 2), 9),
           (Viewer("l", "consular", 1, ("ETH",)), 5)]


@pytest.mark.parametrize("viewer, days", EARLIER,
                         ids=[f"{v.role}-s{v.scenario_id}-{d}d" for v, d in EARLIER])
def test_an_earlier_moment_is_worked_back_from_the_occupancy_history(db_url, raw, viewer,
                                                                     days):
    engine = raw(db_url)
    latest = as_of_of(engine, viewer.scenario_id)
    moment = latest - timedelta(days=days)
    hide = viewer.role == "consular"
    truth = facilities_at(engine, viewer.scenario_id, moment)
    now = facilities_now(engine, viewer.scenario_id).set_index("id")
    # the moment must tell apart from the latest data, or this test proves nothing
    assert (truth.set_index("id")["occupants"] != now["occupants"]).any()
    assert (pd.to_datetime(truth["confirmed_at"], format="mixed") > moment).any()
    data = shelters(opened(db_url), viewer, moment)
    assert data.worked_back and not shelters(opened(db_url), viewer, latest).worked_back

    valid = counted(with_areas(engine, truth[truth.valid]))
    # the place figures count facilities in use (open or full), as the Overview does
    holding = valid[valid.status.isin(["open", "full"])]
    occupants, places = int(holding.occupants.sum()), int(holding.capacity.sum())
    withheld = hide and bool(((holding.occupants > 0) & (holding.occupants < 5)).any())
    assert data.headline["Places"] == places
    assert data.headline["Reported occupants"] == ("—" if withheld else occupants)
    assert data.headline["Free places"] == ("—" if withheld else places - occupants)
    assert data.headline["≥90% full"] == int(
        (holding.occupants >= 0.9 * holding.capacity).sum())
    assert data.no_report == int(truth.occupants.isna().sum())
    assert data.invalid == int((truth.occupants.notna() & ~truth.valid).sum())

    # totals by area, and by kind with pooled confidential places as a row of their own
    valid = valid.assign(kind=valid.kind.where(~valid.confidential, "confidential places"))
    for key, table in (("kind", data.by_kind), ("area", data.by_area)):
        expected = (valid.assign(small=(valid.occupants > 0) & (valid.occupants < 5))
                    .groupby(key).agg(capacity=("capacity", "sum"),
                                      occupants=("occupants", "sum"), small=("small", "any")))
        shown = table.set_index(key)
        assert dict(shown["capacity"].astype(int)) == {
            k: int(v) for k, v in expected["capacity"].items()}
        check_cells(dict(shown["occupants"]),
                    {k: int(v) for k, v in expected["occupants"].items()},
                    dict(expected["small"]), hide)

    # each listed facility: occupancy, trend and confirmation as known at the moment
    listing = data.facilities.set_index("facility")
    listed = truth[~truth.confidential]
    assert set(listing.index) == set(listed.name)
    occ = load(engine, "SELECT o.* FROM facility_occupancy o JOIN facilities f "
                       "ON f.id = o.facility_id WHERE f.scenario_id = :s", s=viewer.scenario_id)
    occ["at"] = pd.to_datetime(occ["at"], format="mixed")
    overdue = 0
    for fac in listed.itertuples():
        row = listing.loc[fac.name]
        hours = (pd.Timestamp(moment) - fac.known_confirmed).total_seconds() / 3600
        state = "fresh" if hours < 24 else "due" if hours < 48 else "overdue"
        overdue += state == "overdue"
        assert pd.Timestamp(row["last_confirmed"]) == fac.known_confirmed, fac.name
        assert row["confirmation"] == state, fac.name
        if not fac.valid:
            assert row["occupants"] is None
            continue
        n, cap = int(fac.occupants), int(fac.capacity)
        if hide and 0 < n < 5:
            assert row["occupants"] == "<5" and pd.isna(row["free"]), fac.name
            continue
        assert row["occupants"] == f"{n:,}", fac.name
        assert row["free"] == cap - n and row["full_pct"] == round(100 * n / cap), fac.name
        # the trend: occupancy 7, 6, ... 0 days before the moment, from the last
        # two weeks of reports
        mine = occ[(occ.facility_id == fac.id) & (occ["at"] > moment - timedelta(days=14))]
        series = []
        for k in range(7, -1, -1):
            by = mine[mine["at"] <= moment - timedelta(days=k)].sort_values(["at", "id"])
            series.append(None if by.empty else int(by.occupants.iloc[-1]))
        assert row["trend"] == [None if v is not None and hide and 0 < v < 5 else v
                                for v in series], fac.name
        change = series[-1] - series[-2]
        assert row["change_24h"] == f"{change:,}"
    assert data.headline["Confirmation overdue"] == overdue


def test_an_earlier_moment_on_a_dirty_database(dirty_db_url, raw):
    engine = raw(dirty_db_url)
    moment = as_of_of(engine, 1) - timedelta(days=3)
    truth = facilities_at(engine, 1, moment)
    data = shelters(opened(dirty_db_url), Viewer("k", "coordinator", 1), moment)
    assert data.invalid == int((truth.occupants.notna() & ~truth.valid).sum())
    in_totals = counted(with_areas(engine, truth[truth.valid]))
    assert data.headline["Places"] == int(
        in_totals[in_totals.status.isin(["open", "full"])].capacity.sum())


def test_page_draws_the_as_of_slider_and_shows_the_moment_picked(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    engine = raw(sqlite_url)
    at = open_page(sqlite_url, "shelters", "committee")
    assert not at.exception
    slider = next(s for s in at.select_slider if s.label == "As of (UTC)")
    latest = as_of_of(engine, 1)
    start = pd.Timestamp(load(engine, "SELECT starts_at FROM scenarios WHERE id = 1")
                         ["starts_at"].iloc[0]).to_pydatetime()
    step = start + timedelta(hours=int((latest - timedelta(days=6) - start)
                                       .total_seconds() // 3600))
    assert slider.value == latest
    now, then = facilities_now(engine, 1), facilities_at(engine, 1, step)

    def occupants(frame) -> int:
        frame = counted(with_areas(engine, frame[frame.valid]))
        return int(frame[frame.status.isin(["open", "full"])].occupants.sum())

    expected = occupants(then)
    assert expected != occupants(now)
    assert metric(at, "Reported occupants") == f"{occupants(now):,}"
    slider.set_value(step).run()
    assert not at.exception
    assert metric(at, "Reported occupants") == f"{expected:,}"
    assert "today's status is shown" in texts(at)


def test_area_totals_and_district_tips_carry_p_codes(db_url, raw, monkeypatch):
    """An area is named and coded as the responders' own lists code it (OCHA P-codes)."""
    engine = raw(db_url)
    areas = load(engine, "SELECT pcode, name FROM areas")
    data = shelters(opened(db_url), Viewer("k", "coordinator", 1), as_of_of(engine, 1))
    named = data.by_area[data.by_area["area"] != "(no area)"]
    assert len(named) > 0
    assert dict(zip(named["area"], named["pcode"], strict=True)) == {
        a: dict(zip(areas.name, areas.pcode, strict=True))[a] for a in named["area"]}


def test_the_maps_district_tips_carry_p_codes(sqlite_url, raw, monkeypatch):
    from tests.test_map import layer, spec_of

    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "map", "committee")
    assert not at.exception
    areas = load(raw(sqlite_url), "SELECT pcode, name FROM areas")
    codes = dict(zip(areas.name, areas.pcode, strict=True))
    tips = [row["tip"] for row in layer(spec_of(at)[1], "people-districts")]
    assert tips
    for tip in tips:
        name = tip.split(" district")[0]
        assert f"P-code {codes[name]}" in tip, tip


@pytest.mark.parametrize("scenario", [1, 2])
def test_the_fullest_chart_shows_fifteen_bars_in_order_and_says_how_many_more_alike(
        db_url, raw, scenario):
    """At most 15 bars (a projector shows no more readably): the fullest first, then the
    most people; and how many facilities left off share the last bar's % full."""
    engine = raw(db_url)
    truth = facilities_now(engine, scenario)
    truth = truth[truth.valid & ~truth.confidential]
    truth = truth.assign(pct=(100 * truth.occupants / truth.capacity).round().astype(int))
    ranked = truth.sort_values(["pct", "occupants"], ascending=False)
    data = shelters(opened(db_url), Viewer("k", "coordinator", scenario),
                    as_of_of(engine, scenario))
    chart = data.chart.assign(people=data.chart.facility.map(
        truth.drop_duplicates("name", keep=False).set_index("name").occupants))
    assert len(chart) == min(15, len(truth))
    assert list(chart.full_pct) == list(ranked.pct.head(15))
    for _, same in chart.dropna(subset=["people"]).groupby("full_pct"):
        assert list(same.people) == sorted(same.people, reverse=True)
    last = ranked.pct.iloc[min(15, len(ranked)) - 1]
    assert data.chart_more == int((ranked.pct.iloc[15:] == last).sum())


def test_a_chart_draws_a_count_shown_with_a_thousands_separator():
    """A liaison's area totals are text ("1,519" beside "<5" and "—"): each is drawn as
    the number it says, and a withheld one is not drawn at all."""
    from components import charts

    frame = pd.DataFrame({"area": ["Matn", "Akkar", "Hermel"],
                          "occupants": ["1,519", privacy.WITHHELD, privacy.SUPPRESSED],
                          "free": pd.array([870, None, None], dtype="Int64")})
    figure = charts.stacked_bars(frame, "area", ["occupants", "free"], {})
    drawn = {trace.name: list(trace.x) for trace in figure.data}
    assert drawn == {"Occupants": [1519.0, None, None], "Free": [870.0, None, None]}
