"""Evacuation: funnel, time in stage, movements and progress against the test's
own reading of the raw rows, with scopes and suppression."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from dashboard.contract import vocab
from dashboard.figures import tallies
from dashboard.figures.evacuation import evacuation
from dashboard.rules.access import Viewer
from tests.apptest import metric, open_page
from tests.conftest import opened
from tests.readback import as_of_of, load
from tests.suppression import as_text, expected_group, expected_table, expected_value

STAGES = list(vocab.ALL_EVACUATION_STAGES)
PATH = list(vocab.EVACUATION_PATH)


def valid_cases(engine, viewer: Viewer) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The viewer's cases that keep the contract, and their events, in pandas."""
    cases = load(engine, "SELECT * FROM evacuation_cases WHERE scenario_id = :s",
                 s=viewer.scenario_id)
    events = load(engine, "SELECT e.* FROM evacuation_events e JOIN evacuation_cases c "
                          "ON c.id = e.case_id WHERE c.scenario_id = :s", s=viewer.scenario_id)
    persons = load(engine, "SELECT id, nationality, second_nationality, consent_consular, "
                           "protection_confidential FROM persons")
    events["at"] = pd.to_datetime(events["at"], format="mixed")
    events = events.sort_values(["case_id", "at", "id"])
    rank = events[events.stage.isin(PATH)].assign(r=lambda f: f.stage.map(PATH.index))
    backwards = set(rank[rank.groupby("case_id")["r"].diff() < 0].case_id)
    cases = cases[cases.stage.isin(STAGES) & cases.person_id.isin(persons.id)
                  & ~cases.id.isin(backwards)]
    if viewer.role == "consular":
        nats = set(viewer.nationalities)
        seen = persons[(persons.nationality.isin(nats) | persons.second_nationality.isin(nats))
                       & persons.consent_consular.astype(bool)
                       & ~persons.protection_confidential.astype(bool)]
        cases = cases[cases.person_id.isin(seen.id)]
    cases = cases.merge(persons[["id", "nationality"]].rename(columns={"id": "person_id"}),
                        on="person_id")
    return cases, events[events.case_id.isin(cases.id)]


def check_by_nationality(shown: pd.DataFrame, cases: pd.DataFrame, hide: bool) -> None:
    """The funnel by nationality against the true counts of `cases` (nationality, stage):
    the largest nationality first, and for an aggregate role every cell exactly as the
    rules hide it, the table's rows and columns being shown beside their totals."""
    counts = cases.groupby(["nationality", "stage"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=STAGES, fill_value=0).astype(int)
    totals = counts.sum(axis=1)
    table = shown.set_index("nationality")
    assert set(table.index) == set(counts.index)
    order = list(table.index)  # ties in size may come in any order: the table's is used
    assert [int(totals[n]) for n in order] == sorted(totals, reverse=True)
    want = counts.loc[order]
    if hide:
        want = expected_table(want).assign(total=[expected_value(totals[n]) for n in order])
    else:
        want = want.assign(total=totals.loc[order])
    assert as_text(table[[*STAGES, "total"]]).to_dict("index") == as_text(want).to_dict("index")


def expected_stages(stages: pd.Series, hide: bool) -> dict:
    """Cases by stage as shown beside their total."""
    counts = {stage: int((stages == stage).sum()) for stage in STAGES}
    return as_text(expected_group(counts) if hide else counts)


@pytest.mark.parametrize("viewer", [Viewer("k", "coordinator", 1),
                                    Viewer("l", "consular", 1, ("ETH",))],
                         ids=lambda v: v.role)
def test_funnel_by_nationality_matches_the_database(db_url, raw, viewer):
    engine = raw(db_url)
    cases, _ = valid_cases(engine, viewer)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 1))
    hide = viewer.role != "consular"
    check_by_nationality(data.by_nationality, cases, hide)
    stages = dict(zip(data.stages.stage, data.stages.cases, strict=True))
    assert as_text(stages) == expected_stages(cases.stage, hide)
    shown = expected_value if hide else int
    assert data.reached.cases.iloc[0] == shown(len(cases))
    beyond = int(cases.stage.isin(PATH[PATH.index("departed"):]).sum())
    assert data.reached.set_index("stage").loc["departed", "cases"] == shown(beyond)


def test_median_time_in_stage_matches_the_history(db_url, raw):
    engine = raw(db_url)
    viewer = Viewer("l", "consular", 1, ("ETH",))
    _, events = valid_cases(engine, viewer)
    events = events.assign(next_at=events.groupby("case_id")["at"].shift(-1)).dropna(
        subset=["next_at"])
    hours = (events["next_at"] - events["at"]).dt.total_seconds() / 3600
    expected = hours.groupby(events.stage).median()
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 1)).time_in_stage.set_index("stage")
    assert set(data.index) == set(expected.index)
    for stage, median in expected.items():
        # whole-hour bins, reported at the bin's middle
        assert abs(data.loc[stage, "median_hours"] - median) <= 1.0, stage
        assert data.loc[stage, "cases"] == int((events.stage == stage).sum())


def test_movements_count_their_cases(db_url, raw):
    engine = raw(db_url)
    viewer = Viewer("l", "consular", 1, ("ETH",))
    cases, _ = valid_cases(engine, viewer)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 1)).movements.set_index("movement")
    on = cases[cases.movement_id.notna()]
    assert set(data.index) == set(on.movement_id.astype(int))  # only movements with its nationals
    for movement, group in on.groupby("movement_id"):
        row = data.loc[int(movement)]
        assert row["manifested"] == int((group.stage == "manifested").sum())
        assert row["arrived"] == int(group.stage.isin(["arrived_origin", "followed_up"]).sum())
        assert row["on_it"] == len(group)


def test_cumulative_evacuated_ends_at_the_departed_total(db_url, raw):
    engine = raw(db_url)
    viewer = Viewer("l", "consular", 1, ("ETH",))
    cases, events = valid_cases(engine, viewer)
    departed = events[events.stage == "departed"].case_id.nunique()
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 1))
    assert data.progress.evacuated.iloc[-1] == departed
    persons = load(engine, "SELECT COUNT(*) AS n FROM persons WHERE scenario_id = 1 AND "
                           "(nationality = 'ETH' OR second_nationality = 'ETH') AND "
                           "consent_consular = :t AND protection_confidential = :f",
                   t=True, f=False)
    assert data.progress.registered.iloc[-1] == int(persons.n.iloc[0])


def test_committee_funnel_is_suppressed_along_rows_and_columns(db_url, raw):
    viewer = Viewer("c", "committee", 2)
    data = evacuation(opened(db_url), viewer, as_of_of(raw(db_url), 2))
    table = data.by_nationality
    cells = table[STAGES]
    hidden = cells == "<5"
    assert hidden.to_numpy().any()
    assert all(c == "<5" or int(c) == 0 or int(c) >= 5 for c in cells.to_numpy().ravel())
    for i in range(len(table)):
        assert hidden.iloc[i].sum() != 1 or table["total"].iloc[i] == "<5"
    for stage in STAGES:
        assert hidden[stage].sum() != 1
    # and exactly the cells the rules hide, from the true counts
    cases, _ = valid_cases(raw(db_url), viewer)
    check_by_nationality(table, cases, hide=True)
    stages = dict(zip(data.stages.stage, data.stages.cases, strict=True))
    assert as_text(stages) == expected_stages(cases.stage, hide=True)


@pytest.mark.parametrize("role, nats", [("committee", None), ("coordinator", None),
                                        ("consular", ["ETH"])])
def test_page_for_each_role(sqlite_url, raw, monkeypatch, role, nats):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "evacuation", role, nats)
    assert not at.exception
    viewer = Viewer("x", role, 1, tuple(nats or ()))
    cases, _ = valid_cases(raw(sqlite_url), viewer)
    assert metric(at, "Cases") == f"{len(cases):,}"
    assert metric(at, "Declined") == f"{int((cases.stage == 'declined').sum()):,}"


def test_aggregate_charts_hold_no_small_count_and_no_person(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "evacuation", "committee", scenario=2)
    assert not at.exception
    refs = set(load(raw(sqlite_url), "SELECT ref FROM persons WHERE scenario_id = 2").ref)
    checked = 0
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        assert not any(ref in chart.proto.spec for ref in refs)
        if chart.proto.id.endswith(("evacuation-funnel", "evacuation-by-nationality")):
            for trace in spec["data"]:
                values = trace["x"]
                checked += len(values)
                assert all(v is None or v == 0 or v >= 5 for v in values)
    assert checked
    for frame in (d.value for d in at.dataframe):
        assert not {"ref", "name", "phone", "person_id"} & set(frame.columns)


def test_page_on_a_dirty_database(dirty_sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", dirty_sqlite_url)
    at = open_page(dirty_sqlite_url, "evacuation", "coordinator")
    assert not at.exception
    engine = raw(dirty_sqlite_url)
    cases, _ = valid_cases(engine, Viewer("k", "coordinator", 1))
    everything = load(engine, "SELECT COUNT(*) AS n FROM evacuation_cases "
                              "WHERE scenario_id = 1").n.iloc[0]
    assert len(cases) < everything
    assert metric(at, "Cases") == f"{len(cases):,}"


@pytest.mark.parametrize("viewer", [Viewer("k", "coordinator", 1),
                                    Viewer("l", "consular", 1, ("ETH",))],
                         ids=lambda v: v.role)
def test_an_earlier_moment_is_counted_from_the_history(db_url, raw, viewer):
    """Stages at a moment five days back: each case at the stage of its latest event
    by then (cases requested later not counted), and progress cut at that moment."""
    engine = raw(db_url)
    tallies.find_history(opened(db_url), 1)  # as the server does at startup
    cases, events = valid_cases(engine, viewer)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 1) - timedelta(days=5, minutes=7))
    moment = data.as_of
    assert data.earlier and data.note is None
    assert moment.minute % 15 == 0 and moment.second == 0
    then = events[events["at"] <= moment].groupby("case_id").tail(1)  # sorted by at, id
    then = then.merge(cases[["id", "nationality"]], left_on="case_id", right_on="id")
    expected = then.groupby(["nationality", "stage"]).size()
    assert expected.sum() > 0
    # aggregate roles: small cells and their complements are suppressed, exactly
    hide = viewer.role != "consular"
    check_by_nationality(data.by_nationality, then, hide)
    stages = dict(zip(data.stages.stage, data.stages.cases, strict=True))
    assert as_text(stages) == expected_stages(then.stage, hide)

    departed = int(events[(events.stage == "departed") & (events["at"] <= moment)
                          & events.case_id.isin(cases[cases.stage.isin(PATH[PATH.index(
                              "departed"):])].id)].case_id.nunique())
    last = data.progress.evacuated.dropna().iloc[-1]
    assert data.progress.day.iloc[-1] <= f"{moment:%Y-%m-%d}"
    if viewer.role == "consular":
        assert last == departed


def test_without_the_history_yet_the_latest_is_shown_and_said(db_url, raw, monkeypatch):
    engine = raw(db_url)
    monkeypatch.setattr(tallies, "history", lambda *_: None)  # the server just started
    data = evacuation(opened(db_url), Viewer("k", "coordinator", 1),
                      as_of_of(engine, 1) - timedelta(days=5))
    assert not data.earlier and "still reading the history" in data.note
