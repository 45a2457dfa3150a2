"""Overview figures against the test's own reading of the database.

The expected values are computed here in pandas from the raw rows, a different
route from the SQL aggregates of the code under test.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import vocab
from dashboard.figures import tallies
from dashboard.figures.overview import overview
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.disclosure import expected, expected_change


def load(engine, table: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM {table}"))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def as_time(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, format="mixed")


def visible(persons: pd.DataFrame, viewer: Viewer) -> pd.DataFrame:
    rows = persons[persons.scenario_id == viewer.scenario_id]
    if viewer.role != "consular":
        return rows
    nats = set(viewer.nationalities)
    own = rows.nationality.isin(nats) | rows.second_nationality.isin(nats)
    return rows[own & rows.consent_consular.astype(bool)
                & ~rows.protection_confidential.astype(bool)]


def as_of_of(persons: pd.DataFrame, scenario_id: int):
    return as_time(persons[persons.scenario_id == scenario_id].updated_at).max().to_pydatetime()


VIEWERS = [
    Viewer("c", "committee", 1),
    Viewer("k", "coordinator", 1),
    Viewer("l", "consular", 1, ("ETH",)),
    Viewer("l2", "consular", 1, ("PHL", "KEN")),
    Viewer("x", "committee", 2),
]


def shown(ids, viewer: Viewer):
    """What `viewer` must be shown for the rows with these ids: exact for a liaison,
    as the design rounds it for everyone else (tests/disclosure.py)."""
    ids = list(ids)
    return len(ids) if viewer.role == "consular" else expected(ids)


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.scenario_id}-"
                         + "-".join(v.nationalities))
def test_headline_figures_match_the_database(db_url, raw, viewer):
    engine = raw(db_url)
    persons = load(engine, "persons")
    as_of = as_of_of(persons, viewer.scenario_id)
    mine = visible(persons, viewer)
    mine = mine[mine.status.isin(list(vocab.PERSON_STATUSES))]
    registered_at = as_time(mine.registered_at)

    data = overview(opened(db_url), viewer, as_of)
    assert data.as_of == as_of
    # an earlier moment is taken to the quarter hour at or before it
    ref = as_of - timedelta(hours=24)
    assert data.reference_at == ref - timedelta(minutes=ref.minute % 15, seconds=ref.second)
    ref = data.reference_at

    registered = shown(mine.id[registered_at <= as_of], viewer)
    assert data.figure("registered").value == registered
    assert (registered_at <= as_of).sum() > 0
    assert data.figure("missing").value == shown(mine.id[mine.status == "missing"], viewer)
    assert data.figure("sheltered").value == shown(mine.id[mine.status == "sheltered"], viewer)
    before = shown(mine.id[registered_at <= ref], viewer)
    assert data.figure("registered").delta == expected_change(registered, before)

    referrals = load(engine, "referrals")
    referrals = referrals[(referrals.scenario_id == viewer.scenario_id)
                          & referrals.person_id.isin(mine.id.tolist() if viewer.role == "consular"
                                                     else persons.id.tolist())]
    if viewer.role == "consular":
        referrals = referrals[referrals.service.isin(
            ["consular", "documentation", "evacuation", "family_tracing"])]
        # sensitive referrals are never counted for a liaison, even its own nationals'
    created, closed = as_time(referrals.created_at), as_time(referrals.closed_at)
    open_now = referrals.id[(created <= as_of) & (closed.isna() | (closed > as_of))]
    assert data.figure("open_referrals").value == shown(open_now, viewer)
    overdue = referrals.id[(referrals.status == "open") & (as_time(referrals.due_at) < as_of)]
    assert data.figure("overdue_referrals").value == shown(overdue, viewer)

    # evacuated: cases of persons in scope with a 'departed' event by the moment shown
    cases = load(engine, "evacuation_cases")
    in_scope = persons if viewer.role != "consular" else visible(persons, viewer)
    cases = cases[(cases.scenario_id == viewer.scenario_id)
                  & cases.person_id.isin(in_scope[in_scope.scenario_id == viewer.scenario_id].id)]
    events = load(engine, "evacuation_events")
    departed = events[(events.stage == "departed") & (as_time(events["at"]) <= as_of)
                      & events.case_id.isin(cases.id)]
    assert data.figure("departed").value == shown(departed.case_id.unique(), viewer)


def test_consular_figures_exclude_protected_and_non_consenting(db_url, raw):
    """A liaison's total is its consenting, non-protected nationals, never all of them."""
    engine = raw(db_url)
    with engine.connect() as conn:
        everyone = conn.execute(text(
            "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 AND "
            "(nationality = 'ETH' OR second_nationality = 'ETH')")).scalar()
        allowed = conn.execute(text(
            "SELECT COUNT(*) FROM persons WHERE scenario_id = 1 AND "
            "(nationality = 'ETH' OR second_nationality = 'ETH') "
            "AND consent_consular = :t AND protection_confidential = :f"),
            {"t": True, "f": False}).scalar()
        as_of = conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = 1")).scalar()
    assert allowed < everyone  # the scenario must hold people the rule hides
    data = overview(opened(db_url), Viewer("l", "consular", 1, ("ETH",)), pd.Timestamp(as_of))
    assert data.figure("registered").value == allowed


def test_sensitive_referrals_exist_but_a_liaison_counts_none(db_url, raw):
    with raw(db_url).connect() as conn:
        sensitive = conn.execute(text(
            "SELECT COUNT(*) FROM referrals r JOIN persons p ON p.id = r.person_id "
            "WHERE p.nationality = 'ETH' AND p.consent_consular = :t "
            "AND p.protection_confidential = :f AND r.service IN "
            "('asylum', 'anti_trafficking', 'gbv', 'child_protection')"),
            {"t": True, "f": False}).scalar()
    assert sensitive > 0
    persons = load(raw(db_url), "persons")
    data = overview(opened(db_url), Viewer("l", "consular", 1, ("ETH",)), as_of_of(persons, 1))
    services = set(data.overdue_by_service.service)
    assert not services & set(vocab.SENSITIVE_SERVICES)


def test_each_scope_gets_its_own_cache_entry(db_url, raw):
    """Streamlit's cache is shared by all sessions: a liaison must never be served
    figures computed for another scope, even right after them."""
    persons = load(raw(db_url), "persons")
    as_of = as_of_of(persons, 1)
    results = {}
    for viewer in [Viewer("a", "committee", 1), Viewer("b", "consular", 1, ("ETH",)),
                   Viewer("c", "consular", 1, ("BGD",)), Viewer("d", "committee", 1)]:
        results[viewer] = overview(opened(db_url), viewer, as_of).figure("registered").value
    for nat in ("ETH", "BGD"):
        v = Viewer("z", "consular", 1, (nat,))
        expected = len(visible(persons, v)[lambda f: f.status.isin(list(vocab.PERSON_STATUSES))])
        assert results[Viewer("b" if nat == "ETH" else "c", "consular", 1, (nat,))] == expected


def test_small_counts_are_hidden_and_the_rest_rounded_for_aggregate_roles(db_url, raw):
    """The exercise scenario is small: 1 to 4 shows as <5, and only then; every other
    count is the multiple of 5 the design's rounding gives for those persons."""
    persons = load(raw(db_url), "persons")
    viewer = Viewer("c", "committee", 2)
    data = overview(opened(db_url), viewer, as_of_of(persons, 2))
    exercise = persons[(persons.scenario_id == 2)
                       & persons.status.isin(list(vocab.PERSON_STATUSES))]
    table = dict(zip(data.by_status.status, data.by_status.persons, strict=True))
    assert table == {s: str(shown(exercise.id[exercise.status == s], viewer))
                     for s in vocab.PERSON_STATUSES}
    assert "<5" in table.values()  # the small scenario has some: the test would see them
    for status, value in table.items():
        n = int((exercise.status == status).sum())
        assert (value == "<5") == (0 < n < 5), status
        assert value == "<5" or int(value) % 5 == 0, status


@pytest.fixture(params=["history-tallies", "tables"])
def counted_from(request, db_url, monkeypatch) -> str:
    """An earlier moment is counted from the history tallies once the server has
    found them, and from the tables until then: both must give the same figures."""
    if request.param == "history-tallies":
        for scenario_id in (1, 2):
            tallies.find_history(opened(db_url), scenario_id)
    else:
        monkeypatch.setattr(tallies, "history", lambda *_: None)
    return request.param


@pytest.mark.parametrize("viewer", [Viewer("l", "consular", 1, ("ETH",)),
                                    Viewer("k", "coordinator", 1)],
                         ids=["consular-ETH", "coordinator"])
def test_changes_since_a_reference_moment_come_from_the_history(db_url, raw, viewer,
                                                                counted_from):
    """Each change is today's figure minus the figure the history gives for the
    reference moment, worked out here from the event tables."""
    engine = raw(db_url)
    persons = load(engine, "persons")
    as_of = as_of_of(persons, 1)
    data = overview(opened(db_url), viewer, as_of, as_of - timedelta(days=3))
    ref = data.reference_at
    assert timedelta(days=3) <= as_of - ref < timedelta(days=3, minutes=15)

    mine = visible(persons, viewer)
    mine = mine[mine.status.isin(list(vocab.PERSON_STATUSES))]
    events = load(engine, "person_events")
    events = events[events.person_id.isin(mine.id)].copy()
    events["at"] = as_time(events["at"])
    then = (events[events["at"] <= ref].sort_values(["person_id", "at", "id"])
            .groupby("person_id").tail(1))
    for key, status in [("sheltered", "sheltered"), ("missing", "missing")]:
        now, before = (shown(mine.id[mine.status == status], viewer),
                       shown(then.person_id[then.status == status], viewer))
        assert data.figure(key).value == now, key
        assert data.figure(key).delta == expected_change(now, before), key

    referrals = load(engine, "referrals")
    referrals = referrals[(referrals.scenario_id == 1) & referrals.person_id.isin(mine.id
                          if viewer.role == "consular" else persons.id)]
    if viewer.role == "consular":
        referrals = referrals[referrals.service.isin(list(vocab.CONSULAR_SERVICES))]
    history = load(engine, "referral_events")
    history["at"] = as_time(history["at"])

    def overdue_at(t) -> pd.Series:
        moved = set(history[(history["at"] <= t) & (history.status != "open")].referral_id)
        created, closed = as_time(referrals.created_at), as_time(referrals.closed_at)
        due = as_time(referrals.due_at)
        return referrals.id[(due < t) & (created <= t) & (closed.isna() | (closed > t))
                            & ~referrals.id.isin(moved)]

    assert len(overdue_at(as_of)) > 0
    now, before = shown(overdue_at(as_of), viewer), shown(overdue_at(ref), viewer)
    assert data.figure("overdue_referrals").value == now
    assert data.figure("overdue_referrals").delta == expected_change(now, before)

    def open_at(t) -> pd.Series:
        created, closed = as_time(referrals.created_at), as_time(referrals.closed_at)
        return referrals.id[(created <= t) & (closed.isna() | (closed > t))]

    now, before = shown(open_at(as_of), viewer), shown(open_at(ref), viewer)
    assert now != before  # the comparison has something to show
    assert data.figure("open_referrals").value == now
    assert data.figure("open_referrals").delta == expected_change(now, before)

    hazards = load(engine, "hazards")
    hazards = hazards[hazards.scenario_id == 1]

    def active(t) -> int:
        start, end = as_time(hazards.valid_from), as_time(hazards.valid_to)
        return int(((start <= t) & (end.isna() | (end > t))).sum())

    assert data.figure("hazards").value == active(as_of)
    assert data.figure("hazards").delta == active(as_of) - active(ref)


@pytest.mark.parametrize("viewer", [Viewer("l", "consular", 1, ("ETH",)),
                                    Viewer("k", "coordinator", 1)],
                         ids=["consular-ETH", "coordinator"])
def test_the_overview_as_of_an_earlier_moment_is_worked_back_from_the_history(
        db_url, raw, viewer, counted_from):
    engine = raw(db_url)
    persons = load(engine, "persons")
    data = overview(opened(db_url), viewer, as_of_of(persons, 1) - timedelta(days=5))
    moment = data.as_of
    assert moment.minute % 15 == 0 and moment.second == 0

    mine = visible(persons, viewer)
    mine = mine[mine.status.isin(list(vocab.PERSON_STATUSES))]
    events = load(engine, "person_events")
    events = events[events.person_id.isin(mine.id)].copy()
    events["at"] = as_time(events["at"])
    then = (events[events["at"] <= moment].sort_values(["person_id", "at", "id"])
            .groupby("person_id").tail(1))
    table = dict(zip(data.by_status.status, data.by_status.persons, strict=True))
    assert table == {status: str(shown(then.person_id[then.status == status], viewer))
                     for status in vocab.PERSON_STATUSES}
    assert data.figure("registered").value == shown(
        mine.id[as_time(mine.registered_at) <= moment], viewer)

    cases = load(engine, "evacuation_cases")
    cases = cases[(cases.scenario_id == 1) & cases.person_id.isin(
        mine.id if viewer.role == "consular" else persons.id)]
    history = load(engine, "evacuation_events")
    history = history[history.case_id.isin(cases.id)].copy()
    history["at"] = as_time(history["at"])
    latest = (history[history["at"] <= moment].sort_values(["case_id", "at", "id"])
              .groupby("case_id").tail(1))
    funnel = dict(zip(data.funnel.stage, data.funnel.cases, strict=True))
    assert len(latest) > 0
    assert funnel == {stage: str(shown(latest.case_id[latest.stage == stage], viewer))
                      for stage in vocab.ALL_EVACUATION_STAGES}
