"""Rows that break the data contract are counted, and kept out of the figures.

Each expected count is worked out here in pandas from the raw tables.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import vocab
from dashboard.figures import quality
from dashboard.figures.overview import overview
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store import cache
from tests.conftest import opened
from tests.disclosure import expected


def load(engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def broken_referrals(referrals: pd.DataFrame, persons: pd.DataFrame) -> pd.Series:
    return (~referrals.service.isin(list(vocab.REFERRAL_SERVICES))
            | ~referrals.status.isin(list(vocab.REFERRAL_STATUSES))
            | ~referrals.person_id.isin(persons.id)
            | (referrals.status.isin(vocab.REFERRAL_ENDED) != referrals.closed_at.notna()))


def broken_cases(cases: pd.DataFrame, persons: pd.DataFrame) -> pd.Series:
    return ~cases.stage.isin(list(vocab.ALL_EVACUATION_STAGES)) | ~cases.person_id.isin(persons.id)


def expected_breaks(engine, scenario: int = 1) -> tuple[dict[str, int], pd.DataFrame]:
    """Contract-breaking rows per check, and the evacuation cases the funnel keeps."""
    persons = load(engine, "SELECT * FROM persons")
    mine = persons[persons.scenario_id == scenario]
    countries = set(load(engine, "SELECT iso3 FROM countries").iso3)
    facilities = load(engine, "SELECT * FROM facilities")
    lat, lon = mine.lat.astype(float), mine.lon.astype(float)
    bad_coords = lat.isna() | lon.isna() | (lat.abs() > 90) | (lon.abs() > 180)

    occupancy = load(engine, "SELECT * FROM facility_occupancy")
    occupancy["at"] = pd.to_datetime(occupancy["at"], format="mixed")
    scen_fac = facilities[facilities.scenario_id == scenario]
    occupancy = occupancy[occupancy.facility_id.isin(scen_fac.id)]
    latest = occupancy.sort_values(["facility_id", "at", "id"]).groupby("facility_id").tail(1)
    latest = latest.merge(scen_fac[["id", "capacity"]], left_on="facility_id", right_on="id")
    over = (latest.occupants > latest.capacity) | (latest.occupants < 0) | (latest.capacity <= 0)

    referrals = load(engine, f"SELECT * FROM referrals WHERE scenario_id = {scenario}")
    bad_referrals = broken_referrals(referrals, persons)
    cases = load(engine, f"SELECT * FROM evacuation_cases WHERE scenario_id = {scenario}")
    bad_cases = broken_cases(cases, persons)
    events = load(engine, "SELECT * FROM evacuation_events")
    events = events[events.case_id.isin(cases.id)].copy()
    events["at"] = pd.to_datetime(events["at"], format="mixed")
    rank = {s: i for i, s in enumerate(vocab.EVACUATION_PATH)}
    backwards: set[int] = set()
    for case_id, history in events.sort_values(["case_id", "at", "id"]).groupby("case_id"):
        highest = -1
        for stage in history.stage:
            if stage in rank:
                if rank[stage] < highest:
                    backwards.add(int(case_id))
                    break
                highest = max(highest, rank[stage])
    funnel_cases = cases[~bad_cases & ~cases.id.isin(backwards)
                                         & cases.person_id.isin(mine.id)]

    return {
        "person_bad_coordinates": int(bad_coords.sum()),
        "person_unknown_nationality": int((~mine.nationality.isin(countries)).sum()),
        "person_unknown_status": int((~mine.status.isin(list(vocab.PERSON_STATUSES))).sum()),
        "person_dangling_facility": int((mine.facility_id.notna()
                                         & ~mine.facility_id.isin(facilities.id)).sum()),
        "occupancy_above_capacity": int(over.sum()),
        "referral_invalid": int(bad_referrals.sum()),
        "evacuation_invalid": int(bad_cases.sum()),
        "evacuation_backwards": len(backwards),
    }, funnel_cases


def test_every_contract_break_is_counted(dirty_db_url, raw):
    expected, _ = expected_breaks(raw(dirty_db_url))
    assert all(n > 0 for n in expected.values()), expected  # the dirty set holds every kind
    assert quality.counts(opened(dirty_db_url), 1) == expected
    assert quality.contract_breaks(opened(dirty_db_url), 1) == expected


def test_the_rows_left_out_are_those_that_break_the_contract(dirty_db_url, raw):
    """The lists every figure leaves out by id: each referral and case with a value
    outside its vocabulary or no person (some with both), and no other."""
    engine = raw(dirty_db_url)
    persons = load(engine, "SELECT id FROM persons")
    referrals = load(engine, "SELECT * FROM referrals WHERE scenario_id = 1")
    cases = load(engine, "SELECT * FROM evacuation_cases WHERE scenario_id = 1")
    bad_referrals = referrals[broken_referrals(referrals, persons)]
    bad_cases = cases[broken_cases(cases, persons)]
    assert (~bad_referrals.person_id.isin(persons.id)).any()
    assert (~bad_cases.person_id.isin(persons.id)).any()
    database = opened(dirty_db_url)
    assert quality.excluded_referral_ids(database, 1) == sorted(bad_referrals.id.astype(int))
    assert quality.invalid_case_ids(database, 1) == sorted(bad_cases.id.astype(int))


def test_a_case_at_an_unknown_stage_is_left_out(dirty_sqlite_url, raw, tmp_path):
    """The dirty set has no case at a stage outside the vocabulary: one made here, beside
    those with no person, is left out as well."""
    import shutil
    import sqlite3

    from sqlalchemy.engine import make_url

    path = tmp_path / "stage.sqlite"
    shutil.copy(make_url(dirty_sqlite_url).database, path)
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE evacuation_cases SET stage = 'teleported' WHERE id = "
                     "(SELECT MIN(id) FROM evacuation_cases WHERE scenario_id = 1)")
    engine = raw(url)
    persons = load(engine, "SELECT id FROM persons")
    cases = load(engine, "SELECT * FROM evacuation_cases WHERE scenario_id = 1")
    bad = cases[broken_cases(cases, persons)]
    assert (bad.stage == "teleported").sum() == 1 and (~bad.person_id.isin(persons.id)).any()
    assert quality.invalid_case_ids(opened(url), 1) == sorted(bad.id.astype(int))


def test_a_clean_database_has_no_contract_breaks(db_url, raw):
    expected, _ = expected_breaks(raw(db_url))
    assert set(expected.values()) == {0}
    assert quality.counts(opened(db_url), 1) == expected


def test_figures_leave_out_the_rows_that_would_corrupt_them(dirty_db_url, raw, monkeypatch):
    engine = raw(dirty_db_url)
    with engine.connect() as conn:
        as_of = pd.Timestamp(conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = 1")).scalar())
    persons = load(engine, "SELECT id, status, registered_at FROM persons WHERE scenario_id = 1")
    persons = persons[pd.to_datetime(persons.registered_at, format="mixed") <= as_of]
    counts, funnel_cases = expected_breaks(engine)
    data = overview(opened(dirty_db_url), Viewer("c", "coordinator", 1), as_of.to_pydatetime())
    # persons whose status breaks the vocabulary are not in the total: the coordinator
    # is shown the rounding of the others (tests/disclosure.py)
    valid = persons[persons.status.isin(list(vocab.PERSON_STATUSES))]
    assert counts["person_unknown_status"] > 0
    assert len(valid) == len(persons) - counts["person_unknown_status"]
    assert data.figure("registered").value == expected(valid.id)

    # evacuation cases with no person, an unknown stage or a backward history are not
    # in the funnel: every stage shown is the rounding of the remaining cases
    shown = dict(zip(data.funnel.stage, data.funnel.cases, strict=True))
    assert shown == {stage: str(expected(funnel_cases.id[funnel_cases.stage == stage]))
                     for stage in vocab.ALL_EVACUATION_STAGES}
    assert funnel_cases.stage.isin(list(vocab.ALL_EVACUATION_STAGES)).all()

    # and exactly, for a reader allowed exact counts (asked anew, not from the cache)
    monkeypatch.setattr(access, "suppresses_small_counts", lambda role: False)
    cache.clear_all()
    exact = overview(opened(dirty_db_url), Viewer("c", "coordinator", 1), as_of.to_pydatetime())
    assert exact.figure("registered").value == len(valid)
    by_stage = funnel_cases.stage.value_counts()
    assert dict(zip(exact.funnel.stage, exact.funnel.cases, strict=True)) == {
        stage: str(int(by_stage.get(stage, 0))) for stage in vocab.ALL_EVACUATION_STAGES}


@pytest.mark.parametrize("role", ["committee", "coordinator", "consular"])
def test_overview_never_crashes_on_a_dirty_database(dirty_db_url, raw, role):
    with raw(dirty_db_url).connect() as conn:
        as_of = pd.Timestamp(conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = 1")).scalar())
    viewer = Viewer("v", role, 1, ("ETH",) if role == "consular" else ())
    data = overview(opened(dirty_db_url), viewer, as_of.to_pydatetime())
    assert data.figure("registered").value not in (0, None)
