"""Evacuation: funnel, time in stage, movements and progress against the test's
own reading of the raw rows, with scopes and disclosure control. What a count-only
role must be shown is worked out by the oracle of tests/disclosure.py from the rows
the test selects, the parts of a total shown "<5" withheld ("—") beside it."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from dashboard.contract import vocab
from dashboard.figures import tallies
from dashboard.figures.evacuation import evacuation
from dashboard.rules.access import Viewer
from tests.apptest import drawn_charts, metric, open_page, texts
from tests.conftest import opened
from tests.disclosure import (
    LESS_THAN_5,
    WITHHELD,
    Shown,
    expected,
    expected_columns,
    expected_parts,
)
from tests.readback import as_of_of, load

STAGES = list(vocab.ALL_EVACUATION_STAGES)
PATH = list(vocab.EVACUATION_PATH)
GONE = PATH[PATH.index("departed"):]
MANIFEST = {"manifested": ["manifested"], "departed": ["departed", "arrived_transit"],
            "arrived": ["arrived_origin", "followed_up"], "no_show": ["no_show"]}
ROUNDING_NOTE = "rounded to a multiple of 5"


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


def stages_then(cases: pd.DataFrame, events: pd.DataFrame, moment) -> pd.DataFrame:
    """Each case requested by `moment` at the stage of its latest event by then."""
    then = events[events["at"] <= moment].groupby("case_id").tail(1)  # sorted by at, id
    return (then[["case_id", "stage"]].rename(columns={"case_id": "id"})
            .merge(cases[["id", "nationality"]], on="id"))


def stays(events: pd.DataFrame) -> pd.DataFrame:
    """The stays in a stage that have ended (case_id, stage, hours): one per event
    followed by another of its case."""
    events = events.assign(next_at=events.groupby("case_id")["at"].shift(-1))
    events = events.dropna(subset=["next_at"])
    return events.assign(hours=(events["next_at"] - events["at"]).dt.total_seconds() / 3600)


def tick_day(times: pd.Series) -> pd.Series:
    """The day of the quarter hour a time falls in, a time on the boundary counting in
    the quarter hour it ends (the history's ticks; the data has whole seconds)."""
    return (times - pd.Timedelta(seconds=1)).dt.strftime("%Y-%m-%d")


def progress_oracle(engine, viewer: Viewer, cases: pd.DataFrame, events: pd.DataFrame,
                    latest, moment=None) -> pd.DataFrame:
    """Per day, the ids of the persons registered and of the cases departed by its end:
    up to `moment` if given, else by day up to the day before the latest data, and on
    its day everything registered or departed by then. A count-only role's scope."""
    assert viewer.role != "consular"
    statuses = ", ".join(f"'{s}'" for s in vocab.PERSON_STATUSES)
    persons = load(engine, "SELECT id, registered_at FROM persons WHERE scenario_id = :s "
                           f"AND status IN ({statuses})", s=viewer.scenario_id)
    registered = pd.to_datetime(persons.registered_at, format="mixed")
    persons = persons.assign(at=registered)[registered.notna()]
    gone = cases[cases.stage.isin(GONE)]
    first = (events[(events.stage == "departed") & events.case_id.isin(gone.id)]
             .groupby("case_id")["at"].min().reset_index())
    if moment is not None:
        persons, first = persons[persons["at"] <= moment], first[first["at"] <= moment]
    reg_day, dep_day = tick_day(persons["at"]), tick_day(first["at"])
    days = sorted(set(reg_day) | set(dep_day))
    rows = [{"day": d, "registered": list(persons.id[reg_day <= d]),
             "evacuated": list(first.case_id[dep_day <= d])} for d in days]
    if moment is None:
        today = f"{latest:%Y-%m-%d}"
        rows = [r for r in rows if r["day"] < today]
        rows.append({"day": today, "registered": list(persons.id[persons["at"] <= latest]),
                     "evacuated": list(first.case_id[first["at"] <= latest])})
    return pd.DataFrame(rows, columns=["day", "registered", "evacuated"])


def known_countries(engine) -> set[str]:
    return set(load(engine, "SELECT iso3 FROM countries").iso3)


def shown(ids, hide: bool) -> str:
    """What the page must show for these rows: the oracle's rounding for a count-only
    role, the exact count for a liaison (as text, as a table cell holds it)."""
    return str(count(ids, hide))


def count(ids, hide: bool) -> Shown:
    """`shown`, as a value: the oracle's rounding, or the exact count."""
    ids = list(ids)
    return expected(ids) if hide else len(ids)


def by_nationality_oracle(at_stage: pd.DataFrame, countries: set[str],
                          hide: bool) -> dict[str, dict[str, str]]:
    """The funnel by nationality the page must show for the cases (id, stage,
    nationality) at a moment, as text: nationality -> stage or "total" -> cell. Each
    cell is its own cases shown; a row's stages are withheld where its total is "<5",
    and a stage's column in every row where that stage's count over all the cases (the
    funnel's, unknown nationalities included) is "<5" (tests/disclosure.py)."""
    known = at_stage[at_stage.nationality.isin(countries)]
    totals = {nat: count(mine.id, hide) for nat, mine in known.groupby("nationality")}
    rows = {nat: expected_parts({s: count(mine.id[mine.stage == s], hide) for s in STAGES},
                                totals[nat])
            for nat, mine in known.groupby("nationality")}
    cells = expected_columns(rows, {s: count(at_stage.id[at_stage.stage == s], hide)
                                    for s in STAGES})
    return {nat: {**{c: str(v) for c, v in row.items()}, "total": str(totals[nat])}
            for nat, row in cells.items()}


def check_funnel(data, at_stage: pd.DataFrame, countries: set[str], hide: bool) -> None:
    """Stages, at-or-beyond and the table by nationality against the cases (id, stage,
    nationality) at a moment: every cell the rounding of its own rows."""
    stages = dict(zip(data.stages.stage, data.stages.cases, strict=True))
    for stage in STAGES:
        assert str(stages[stage]) == shown(at_stage.id[at_stage.stage == stage], hide), stage
    reached = dict(zip(data.reached.stage, data.reached.cases, strict=True))
    assert list(reached) == PATH
    assert str(reached[PATH[0]]) == shown(at_stage.id, hide)  # branches included
    for i, stage in enumerate(PATH[1:], 1):
        assert str(reached[stage]) == shown(at_stage.id[at_stage.stage.isin(PATH[i:])],
                                            hide), stage
    oracle = by_nationality_oracle(at_stage, countries, hide)
    table = data.by_nationality.set_index("nationality")
    assert set(table.index) == set(oracle)
    for nat, want in oracle.items():
        for column in [*STAGES, "total"]:
            assert str(table.loc[nat, column]) == want[column], (nat, column)


VIEWERS = [Viewer("k", "coordinator", 1), Viewer("c", "committee", 2),
           Viewer("l", "consular", 1, ("ETH",))]


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}{v.scenario_id}")
def test_funnel_by_nationality_matches_the_database(db_url, raw, viewer):
    engine = raw(db_url)
    cases, _ = valid_cases(engine, viewer)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, viewer.scenario_id))
    hide = viewer.role != "consular"
    check_funnel(data, cases[["id", "stage", "nationality"]], known_countries(engine), hide)
    if not hide:  # a liaison's counts are exact numbers
        assert data.reached.cases.iloc[0] == len(cases)
        beyond = int(cases.stage.isin(GONE).sum())
        assert data.reached.set_index("stage").loc["departed", "cases"] == beyond


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}{v.scenario_id}")
def test_time_in_stage_matches_the_history(db_url, raw, viewer):
    engine = raw(db_url)
    hide = viewer.role != "consular"
    _, events = valid_cases(engine, viewer)
    ended = stays(events)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, viewer.scenario_id))
    table = data.time_in_stage.set_index("stage")
    assert set(table.index) == set(ended.stage)
    for stage, mine in ended.groupby("stage"):
        assert str(table.loc[stage, "cases"]) == shown(mine.case_id, hide), stage
        if hide and len(mine) < 5:  # the median of one to four stays is theirs
            assert pd.isna(table.loc[stage, "median_hours"]), stage
        else:  # the lower median, in whole-hour bins reported at the bin's middle
            lower = sorted(mine.hours)[(len(mine) + 1) // 2 - 1]
            assert abs(table.loc[stage, "median_hours"] - lower) <= 1.0, stage


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}{v.scenario_id}")
def test_movements_count_their_cases(db_url, raw, viewer):
    engine = raw(db_url)
    hide = viewer.role != "consular"
    cases, _ = valid_cases(engine, viewer)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, viewer.scenario_id))
    table = data.movements.set_index("movement")
    on = cases[cases.movement_id.notna()]
    movements = set(load(engine, "SELECT id FROM movements WHERE scenario_id = :s",
                         s=viewer.scenario_id).id)
    # a liaison sees only the movements carrying its nationals; others every movement
    assert set(table.index) == (set(on.movement_id.astype(int)) if not hide else movements)
    for movement in table.index:
        mine = on[on.movement_id == movement]
        counted = mine[mine.stage.isin([s for p in MANIFEST.values() for s in p])]
        parts = expected_parts({p: count(mine.id[mine.stage.isin(stages)], hide)
                                for p, stages in MANIFEST.items()}, count(counted.id, hide))
        for part in MANIFEST:
            assert str(table.loc[movement, part]) == str(parts[part]), (movement, part)
        assert str(table.loc[movement, "on_it"]) == shown(counted.id, hide), movement


def test_cumulative_evacuated_ends_at_the_departed_total(db_url, raw):
    engine = raw(db_url)
    viewer = Viewer("l", "consular", 1, ("ETH",))
    cases, events = valid_cases(engine, viewer)
    departed = events[(events.stage == "departed")
                      & events.case_id.isin(cases.id[cases.stage.isin(GONE)])].case_id.nunique()
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 1))
    assert data.progress.evacuated.iloc[-1] == departed
    persons = load(engine, "SELECT COUNT(*) AS n FROM persons WHERE scenario_id = 1 AND "
                           "(nationality = 'ETH' OR second_nationality = 'ETH') AND "
                           "consent_consular = :t AND protection_confidential = :f",
                   t=True, f=False)
    assert data.progress.registered.iloc[-1] == int(persons.n.iloc[0])


@pytest.mark.parametrize("viewer", VIEWERS[:2], ids=lambda v: f"{v.role}{v.scenario_id}")
def test_progress_is_rounded_point_by_point_and_never_thinned(db_url, raw, viewer):
    engine = raw(db_url)
    tallies.find_history(opened(db_url), viewer.scenario_id)  # as the server does at startup
    cases, events = valid_cases(engine, viewer)
    latest = as_of_of(engine, viewer.scenario_id)
    oracle = progress_oracle(engine, viewer, cases, events, latest)
    progress = evacuation(opened(db_url), viewer, latest).progress
    assert list(progress.day) == list(oracle.day)
    for col in ("registered", "evacuated"):
        assert progress[col].notna().all(), col
        assert [str(v) for v in progress[col]] == [shown(ids, True) for ids in oracle[col]], col


def test_committee_counts_are_rounded_and_never_hidden_for_another(db_url, raw):
    """No cell is hidden to protect another: "<5" only for 1 to 4, and every other count
    a multiple of 5 (the test above and tests/test_evacuation_disclosure.py check which).
    The only cells not shown are the stages withheld ("—") beside a total shown "<5":
    of a row whose total is "<5", or of a stage whose count is "<5"."""
    engine = raw(db_url)
    viewer = Viewer("c", "committee", 2)
    cases, _ = valid_cases(engine, viewer)
    data = evacuation(opened(db_url), viewer, as_of_of(engine, 2))
    stages = {s: expected(cases.id[cases.stage == s]) for s in STAGES}  # the oracle's
    table = data.by_nationality
    cells = table[[*STAGES, "total"]].to_numpy().ravel()
    rounded = [c for c in cells if c != WITHHELD]
    assert LESS_THAN_5 in set(rounded)  # the small scenario has some
    assert all(c == LESS_THAN_5 or int(c) % 5 == 0 for c in rounded)
    assert WITHHELD not in set(table["total"])
    for nat, row in table.set_index("nationality").iterrows():
        total = expected(cases.id[cases.nationality == nat])
        for stage in STAGES:
            n = int(((cases.nationality == nat) & (cases.stage == stage)).sum())
            withheld = total == LESS_THAN_5 or stages[stage] == LESS_THAN_5
            assert (row[stage] == WITHHELD) == withheld, (nat, stage)
            if not withheld:
                assert (row[stage] == LESS_THAN_5) == (1 <= n <= 4), (nat, stage)


@pytest.mark.parametrize("role, nats", [("committee", None), ("coordinator", None),
                                        ("consular", ["ETH"])])
def test_page_for_each_role(sqlite_url, raw, monkeypatch, role, nats):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "evacuation", role, nats)
    assert not at.exception
    viewer = Viewer("x", role, 1, tuple(nats or ()))
    hide = role != "consular"
    cases, _ = valid_cases(raw(sqlite_url), viewer)

    def tile(ids) -> str:
        value = expected(ids) if hide else len(list(ids))
        return f"{value:,}" if isinstance(value, int) else value

    assert metric(at, "Cases") == tile(cases.id)
    assert metric(at, "Declined") == tile(cases.id[cases.stage == "declined"])
    assert (ROUNDING_NOTE in texts(at)) == hide


def test_aggregate_charts_hold_no_small_count_and_no_person(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "evacuation", "committee", scenario=2)
    assert not at.exception
    refs = set(load(raw(sqlite_url), "SELECT ref FROM persons WHERE scenario_id = 2").ref)
    checked = 0
    for chart in drawn_charts(at):
        spec = chart.spec
        assert not any(ref in chart.payload for ref in refs)
        if chart.key.endswith(("evacuation-funnel", "evacuation-by-nationality",
                               "evacuation-progress")):
            for trace in spec["data"]:
                values = trace["y" if trace["type"] == "scatter" else "x"]
                checked += len(values)
                assert all(v is None or v == 0 or (v >= 5 and v % 5 == 0) for v in values)
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
    assert metric(at, "Cases") == f"{expected(cases.id):,}"


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}{v.scenario_id}")
def test_an_earlier_moment_is_counted_from_the_history(db_url, raw, viewer):
    """Stages at a moment five days back: each case at the stage of its latest event
    by then (cases requested later not counted), and progress cut at that moment."""
    engine = raw(db_url)
    tallies.find_history(opened(db_url), viewer.scenario_id)  # as the server does at startup
    hide = viewer.role != "consular"
    cases, events = valid_cases(engine, viewer)
    latest = as_of_of(engine, viewer.scenario_id)
    data = evacuation(opened(db_url), viewer, latest - timedelta(days=5, minutes=7))
    moment = data.as_of
    assert data.earlier and data.note is None
    assert moment.minute % 15 == 0 and moment.second == 0
    then = stages_then(cases, events, moment)
    assert len(then) > 0
    check_funnel(data, then, known_countries(engine), hide)

    progress = data.progress
    assert progress.day.iloc[-1] <= f"{moment:%Y-%m-%d}"
    assert progress.registered.notna().all() and progress.evacuated.notna().all()
    if hide:
        oracle = progress_oracle(engine, viewer, cases, events, latest, moment)
        assert list(progress.day) == list(oracle.day)
        for col in ("registered", "evacuated"):
            assert [str(v) for v in progress[col]] == [shown(i, True) for i in oracle[col]]
    else:
        departed = int(events[(events.stage == "departed") & (events["at"] <= moment)
                              & events.case_id.isin(cases.id[cases.stage.isin(GONE)])
                              ].case_id.nunique())
        assert progress.evacuated.iloc[-1] == departed


def test_without_the_history_yet_the_latest_is_shown_and_said(db_url, raw, monkeypatch):
    engine = raw(db_url)
    monkeypatch.setattr(tallies, "history", lambda *_: None)  # the server just started
    data = evacuation(opened(db_url), Viewer("k", "coordinator", 1),
                      as_of_of(engine, 1) - timedelta(days=5))
    assert not data.earlier and "still reading the history" in data.note
