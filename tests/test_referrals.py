"""Referrals: counts, overdue, the coordinator's queue, scopes and disclosure control,
against the test's own reading of the raw rows. What a count-only role must be shown
is worked out by the oracle of tests/disclosure.py from the rows the test selects,
the parts of a total shown "<5" withheld ("—") beside it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

import pandas as pd
import pytest

from dashboard.contract import vocab
from dashboard.figures.referrals import referrals
from dashboard.rules.access import Viewer
from tests.apptest import drawn_charts, metric, open_page, texts
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5, WITHHELD, Shown, expected, expected_parts
from tests.readback import as_of_of, load

SERVICES = list(vocab.REFERRAL_SERVICES)
CONSULAR = ["consular", "documentation", "evacuation", "family_tracing"]
SENSITIVE = ["asylum", "anti_trafficking", "gbv", "child_protection"]
ACTIVE = ["open", "accepted", "in_service"]
ROUNDING_NOTE = "rounded to a multiple of 5"


def valid_referrals(engine, viewer: Viewer) -> pd.DataFrame:
    """The referrals the viewer's figures may count, worked out in pandas (with their
    times parsed, as created_at_ts, due_at_ts and closed_at_ts)."""
    refs = load(engine, "SELECT * FROM referrals WHERE scenario_id = :s", s=viewer.scenario_id)
    persons = load(engine, "SELECT id, nationality, second_nationality, consent_consular, "
                           "protection_confidential FROM persons")
    refs = refs[refs.service.isin(SERVICES) & refs.status.isin(list(vocab.REFERRAL_STATUSES))
                & refs.person_id.isin(persons.id)
                & (refs.status.isin(vocab.REFERRAL_ENDED) == refs.closed_at.notna())]
    if viewer.role == "consular":
        nats = set(viewer.nationalities)
        seen = persons[(persons.nationality.isin(nats) | persons.second_nationality.isin(nats))
                       & persons.consent_consular.astype(bool)
                       & ~persons.protection_confidential.astype(bool)]
        refs = refs[refs.person_id.isin(seen.id) & refs.service.isin(CONSULAR)]
    refs = refs.copy()
    for column in ("created_at", "due_at", "closed_at"):
        refs[f"{column}_ts"] = pd.to_datetime(refs[column], format="mixed")
    return refs


def shown(ids, hide: bool) -> str:
    """What the page must show for these rows: the oracle's rounding for a count-only
    role, the exact count for a liaison (as text, as a table cell holds it)."""
    return str(count(ids, hide))


def count(ids, hide: bool) -> Shown:
    """`shown`, as a value: the oracle's rounding, or the exact count."""
    ids = list(ids)
    return expected(ids) if hide else len(ids)


def shown_parts(parts: Mapping[str, Iterable], total: Iterable, hide: bool) -> dict[str, str]:
    """What the page must show for the parts of a total (part -> its rows) beside that
    total's rows: each part's own `shown`, all of them withheld where the total is
    shown "<5" (tests/disclosure.py expected_parts; never for a liaison's exact total)."""
    cells = expected_parts({p: count(ids, hide) for p, ids in parts.items()},
                           count(total, hide))
    return {p: str(v) for p, v in cells.items()}


def flow_oracle(refs: pd.DataFrame, moment=None) -> pd.DataFrame:
    """The flow's rows per day: ids sent that day, ended that day, and open at its end
    (sent by then and not ended by then); cut at `moment` if given."""
    sent = refs[["id", "created_at_ts"]].dropna()
    ended = refs[refs.status.isin(list(vocab.REFERRAL_ENDED))][["id", "closed_at_ts"]].dropna()
    if moment is not None:
        sent = sent[sent.created_at_ts <= moment]
        ended = ended[ended.closed_at_ts <= moment]
    sent_day = sent.created_at_ts.dt.strftime("%Y-%m-%d")
    ended_day = ended.closed_at_ts.dt.strftime("%Y-%m-%d")
    days = sorted(set(sent_day) | set(ended_day))
    rows = []
    for day in days:
        gone = set(ended.id[ended_day <= day])
        rows.append({"day": day, "opened": list(sent.id[sent_day == day]),
                     "ended": list(ended.id[ended_day == day]),
                     "active": [i for i in sent.id[sent_day <= day] if i not in gone]})
    return pd.DataFrame(rows, columns=["day", "opened", "ended", "active"])


def overdue(refs: pd.DataFrame, as_of) -> pd.Series:
    return (refs.status == "open") & (refs.due_at_ts < pd.Timestamp(as_of))


VIEWERS = [Viewer("k", "coordinator", 1), Viewer("c", "committee", 2),
           Viewer("l", "consular", 1, ("ETH",)), Viewer("l", "consular", 1, ("PHL", "KEN"))]


@pytest.mark.parametrize("viewer", VIEWERS,
                         ids=lambda v: f"{v.role}{v.scenario_id}" + "-".join(v.nationalities))
def test_counts_by_service_match_the_database(db_url, raw, viewer):
    engine = raw(db_url)
    as_of = as_of_of(engine, viewer.scenario_id)
    hide = viewer.role != "consular"
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    late = overdue(active, as_of)
    data = referrals(opened(db_url), viewer, as_of)
    table = data.by_service.set_index("service")
    expected_services = CONSULAR if viewer.role == "consular" else SERVICES
    assert list(table.index) == expected_services
    for service in expected_services:
        mine = active.service == service
        statuses = shown_parts({s: active.id[mine & (active.status == s)] for s in ACTIVE},
                               active.id[mine], hide)
        for status in ACTIVE:
            assert str(table.loc[service, status]) == statuses[status], (service, status)
        assert str(table.loc[service, "active"]) == shown(active.id[mine], hide), service
        overdue_part = shown_parts({"overdue": active.id[mine & late]}, active.id[mine], hide)
        assert str(table.loc[service, "overdue"]) == overdue_part["overdue"], service
        assert table.loc[service, "deadline_h"] == vocab.REFERRAL_DEADLINE_HOURS[service]
    assert str(data.open_total) == shown(active.id, hide)
    assert str(data.overdue_total) == shown(active.id[late], hide)
    if not hide:  # a liaison's counts are exact numbers
        assert data.open_total == len(active)
        assert table.loc[expected_services[0], "active"] == int(
            (active.service == expected_services[0]).sum())
    by_org = data.by_org.set_index("receiving_organisation")
    assert set(by_org.index) == set(active.to_org)
    for org in by_org.index:
        mine = active.to_org == org
        parts = shown_parts({"on_time": active.id[mine & ~late],
                             "overdue": active.id[mine & late]}, active.id[mine], hide)
        assert str(by_org.loc[org, "active"]) == shown(active.id[mine], hide), org
        assert str(by_org.loc[org, "on_time"]) == parts["on_time"], org
        assert str(by_org.loc[org, "overdue"]) == parts["overdue"], org


@pytest.mark.parametrize("viewer", [Viewer("l", "consular", 1, ("ETH",)),
                                    Viewer("c", "committee", 1)], ids=lambda v: v.role)
def test_age_buckets_count_the_active_referrals(db_url, raw, viewer):
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    hide = viewer.role != "consular"
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    hours = (pd.Timestamp(as_of) - active.created_at_ts).dt.total_seconds() / 3600
    bucket = pd.cut(hours, [0, 24, 72, 168, float("inf")], right=False,
                    labels=["under 1 day", "1–3 days", "3–7 days", "7 days or more"])
    data = referrals(opened(db_url), viewer, as_of).by_age.set_index("service")
    for service in data.index:
        mine = active.service == service
        ages = shown_parts({a: active.id[mine & (bucket == a)] for a in data.columns},
                           active.id[mine], hide)
        for label in data.columns:
            assert str(data.loc[service, label]) == ages[label], (service, label)
    if not hide:
        assert int(data.to_numpy().sum()) == len(active)


def test_the_queue_is_de_identified_and_most_pressing_first(db_url, raw):
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    viewer = Viewer("k", "coordinator", 1)
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)].set_index("id")
    data = referrals(opened(db_url), viewer, as_of)
    queue = data.queue
    assert set(queue.columns) == {"case_number", "service", "priority", "status", "age",
                                  "deadline", "overdue_by", "receiving_organisation"}
    assert len(queue) == min(500, len(active))
    assert data.queue_total == expected(active.index) == data.open_total  # the shown total
    assert set(queue.case_number) <= set(active.index)
    late = overdue(active, as_of)
    flags = [bool(late[c]) for c in queue.case_number]
    assert flags == sorted(flags, reverse=True)  # every overdue row before the others
    assert sum(flags) == min(500, int(late.sum()))


@pytest.mark.parametrize("role, nats", [("committee", None), ("consular", ["ETH"])])
def test_no_queue_for_committee_or_liaison(db_url, raw, role, nats):
    viewer = Viewer("x", role, 1, tuple(nats or ()))
    assert referrals(opened(db_url), viewer, as_of_of(raw(db_url), 1)).queue is None


def test_committee_counts_are_rounded_and_the_flow_is_whole(db_url, raw):
    """Every count is the rounding of its own rows: "<5" only for 1 to 4, no cell hidden
    for another's sake, the statuses of a service withheld ("—") exactly where its open
    total is "<5", and every point of the open-at-end-of-day line drawn."""
    engine = raw(db_url)
    viewer = Viewer("c", "committee", 2)
    data = referrals(opened(db_url), viewer, as_of_of(engine, 2))
    cells = data.by_service[[*ACTIVE, "active", "overdue"]].to_numpy().ravel()
    rounded = [c for c in cells if c != WITHHELD]
    assert all(c == LESS_THAN_5 or int(c) % 5 == 0 for c in rounded)
    assert LESS_THAN_5 in set(rounded)  # the small scenario has some
    for _, row in data.by_service.iterrows():
        assert row["active"] != WITHHELD
        for status in [*ACTIVE, "overdue"]:
            assert (row[status] == WITHHELD) == (row["active"] == LESS_THAN_5), (
                row["service"], status)
    oracle = flow_oracle(valid_referrals(engine, viewer))
    flow = data.flow.reset_index(drop=True)
    assert list(flow.day) == list(oracle.day)
    assert flow["active"].notna().all()
    for col in ("opened", "ended", "active"):
        assert [str(v) for v in flow[col]] == [shown(ids, True) for ids in oracle[col]], col


def chart_numbers(at, skip: tuple[str, ...] = ()) -> list[float]:
    values = []
    for chart in drawn_charts(at):
        if any(chart.key.endswith(k) for k in skip):
            continue
        for trace in chart.spec["data"]:
            axis = "x" if trace.get("orientation") == "h" else "y"
            values += [v for v in trace.get(axis, []) if v is not None]
    return values


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_aggregate_pages_send_no_person_and_no_small_count(sqlite_url, raw, monkeypatch, role):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "referrals", role, scenario=2)
    assert not at.exception
    specs = " ".join(c.payload for c in drawn_charts(at))
    frames = [d.value for d in at.dataframe]
    persons = load(raw(sqlite_url), "SELECT ref, full_name FROM persons WHERE scenario_id = 2")
    assert not re.search(r"LB-\d+", specs)
    assert not any(name in specs for name in persons.full_name)
    for frame in frames:
        assert not {"ref", "name", "full_name", "phone", "person_id"} & set(frame.columns)
        assert not set(frame.astype(str).to_numpy().ravel()) & set(persons.ref)
    # every count drawn, the running total included, is rounded: 0 or a multiple of 5
    numbers = chart_numbers(at)
    assert numbers and all(v == 0 or (v >= 5 and v % 5 == 0) for v in numbers)
    assert ROUNDING_NOTE in texts(at)


def test_coordinator_page_shows_the_queue_and_the_totals(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "referrals", "coordinator")
    assert not at.exception
    engine = raw(sqlite_url)
    active = valid_referrals(engine, Viewer("k", "coordinator", 1))
    active = active[active.status.isin(ACTIVE)]
    assert metric(at, "Open referrals") == f"{expected(active.id):,}"
    queue = at.dataframe[-1].value
    assert "case_number" in queue.columns and len(queue) == min(500, len(active))


def test_liaison_page_never_shows_a_sensitive_service(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "referrals", "consular", ["ETH"])
    assert not at.exception
    specs = " ".join(c.payload for c in drawn_charts(at))
    for service in SENSITIVE:
        assert service not in specs
        for frame in (d.value for d in at.dataframe):
            assert service not in set(frame.astype(str).to_numpy().ravel())
    # exact counts, and no word of rounding
    active = valid_referrals(raw(sqlite_url), Viewer("l", "consular", 1, ("ETH",)))
    assert metric(at, "Open referrals") == f"{int(active.status.isin(ACTIVE).sum()):,}"
    assert ROUNDING_NOTE not in texts(at)


def test_dirty_database_leaves_out_the_broken_referrals(dirty_db_url, raw):
    engine = raw(dirty_db_url)
    viewer = Viewer("k", "coordinator", 1)
    everything = load(engine, "SELECT COUNT(*) AS n FROM referrals WHERE scenario_id = 1 "
                              "AND status IN ('open', 'accepted', 'in_service')")["n"].iloc[0]
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    assert len(active) < everything  # the dirty rows touch active referrals
    data = referrals(opened(dirty_db_url), viewer, as_of_of(engine, 1))
    assert data.open_total == expected(active.id)


# --- an earlier moment (issue 5): worked back from the referral history ------------------

def active_at(engine, viewer: Viewer, moment) -> pd.DataFrame:
    """The viewer's referrals active at `moment`, in pandas: sent by then, not closed by
    then, with `then` the status of their latest event by then ("open" if none)."""
    refs = valid_referrals(engine, viewer)
    created, closed = refs.created_at_ts, refs.closed_at_ts
    refs = refs[(created <= moment) & (closed.isna() | (closed > moment))].copy()
    events = load(engine, "SELECT e.* FROM referral_events e JOIN referrals r "
                          "ON r.id = e.referral_id WHERE r.scenario_id = :s",
                  s=viewer.scenario_id)
    events["at"] = pd.to_datetime(events["at"], format="mixed")
    last = (events[events["at"] <= moment].sort_values(["referral_id", "at", "id"])
            .groupby("referral_id").tail(1).set_index("referral_id")["status"])
    refs["then"] = refs.id.map(last).fillna("open")
    return refs[refs.then.isin(ACTIVE)]


def late_at(refs: pd.DataFrame, moment) -> pd.Series:
    """Past the deadline and still awaiting acceptance at `moment`."""
    return (refs.then == "open") & (refs.due_at_ts < pd.Timestamp(moment))


EARLIER = [(Viewer("c", "committee", 1), 5), (Viewer("c", "committee", 2), 6),
           (Viewer("k", "coordinator", 1), 5), (Viewer("k", "coordinator", 1), 12),
           (Viewer("l", "consular", 1, ("ETH",)), 5)]


@pytest.mark.parametrize("viewer, days", EARLIER,
                         ids=[f"{v.role}-s{v.scenario_id}-{d}d" for v, d in EARLIER])
def test_an_earlier_moment_is_worked_back_from_the_referral_history(db_url, raw, viewer,
                                                                    days):
    engine = raw(db_url)
    latest = as_of_of(engine, viewer.scenario_id)
    moment = latest - timedelta(days=days)
    hide = viewer.role != "consular"
    active = active_at(engine, viewer, moment)
    late = late_at(active, moment)
    # the moment must tell apart from the latest data, or this test proves nothing
    assert (active.then != active.status).any()
    assert late.any() and len(active) > 0
    database = opened(db_url)
    data = referrals(database, viewer, moment)
    assert data.worked_back and not referrals(database, viewer, latest).worked_back

    assert str(data.open_total) == shown(active.id, hide)
    assert str(data.overdue_total) == shown(active.id[late], hide)
    services = CONSULAR if viewer.role == "consular" else SERVICES
    table = data.by_service.set_index("service")
    assert list(table.index) == services
    for service in services:
        mine = active.service == service
        statuses = shown_parts({s: active.id[mine & (active.then == s)] for s in ACTIVE},
                               active.id[mine], hide)
        for status in ACTIVE:
            assert str(table.loc[service, status]) == statuses[status], (service, status)
        assert str(table.loc[service, "active"]) == shown(active.id[mine], hide), service
        overdue_part = shown_parts({"overdue": active.id[mine & late]}, active.id[mine], hide)
        assert str(table.loc[service, "overdue"]) == overdue_part["overdue"], service

    # age at the moment, in the page's buckets
    hours = (pd.Timestamp(moment) - active.created_at_ts).dt.total_seconds() / 3600
    bucket = pd.cut(hours, [0, 24, 72, 168, float("inf")], right=False,
                    labels=["under 1 day", "1–3 days", "3–7 days", "7 days or more"])
    ages = data.by_age.set_index("service")
    for service in services:
        mine = active.service == service
        cells = shown_parts({a: active.id[mine & (bucket == a)] for a in ages.columns},
                            active.id[mine], hide)
        for label in ages.columns:
            assert str(ages.loc[service, label]) == cells[label], (service, label)

    # receiving organisations' load at the moment
    by_org = data.by_org.set_index("receiving_organisation")
    assert set(by_org.index) == set(active.to_org)
    for org in by_org.index:
        mine = active.to_org == org
        parts = shown_parts({"on_time": active.id[mine & ~late],
                             "overdue": active.id[mine & late]}, active.id[mine], hide)
        assert str(by_org.loc[org, "active"]) == shown(active.id[mine], hide), org
        assert str(by_org.loc[org, "on_time"]) == parts["on_time"], org
        assert str(by_org.loc[org, "overdue"]) == parts["overdue"], org

    # the flow is cut at the moment, and every point drawn
    oracle = flow_oracle(valid_referrals(engine, viewer), moment)
    flow = data.flow.reset_index(drop=True)
    assert list(flow.day) == list(oracle.day)
    assert flow.day.iloc[-1] == f"{moment:%Y-%m-%d}"
    for col in ("opened", "ended", "active"):
        assert [str(v) for v in flow[col]] == [shown(ids, hide) for ids in oracle[col]], col
    if not hide:  # the last point is the open count then
        assert int(flow.active.iloc[-1]) == len(active)

    if viewer.role != "coordinator":
        assert data.queue is None
        return
    queue, by_id = data.queue, active.set_index("id")
    assert len(queue) == min(500, len(active)) and data.queue_total == expected(active.id)
    assert set(queue.case_number) <= set(by_id.index)
    assert list(queue.status) == [by_id.loc[c, "then"] for c in queue.case_number]
    flags = list(late_at(by_id.loc[queue.case_number], moment))
    assert flags == sorted(flags, reverse=True)  # every overdue row before the others
    assert sum(flags) == min(500, int(late.sum()))
    first = by_id.loc[queue.case_number.iloc[0]]
    age = (pd.Timestamp(moment) - pd.Timestamp(first.created_at)).total_seconds() / 3600
    assert queue.age.iloc[0] == (f"{age:.0f} h" if age < 48 else f"{age / 24:.1f} days")


def test_page_draws_the_as_of_slider_and_shows_the_moment_picked(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    engine = raw(sqlite_url)
    viewer = Viewer("k", "coordinator", 1)
    at = open_page(sqlite_url, "referrals", "coordinator")
    assert not at.exception
    slider = next(s for s in at.select_slider if s.label == "As of (UTC)")
    latest = as_of_of(engine, 1)
    assert slider.value == latest
    start = pd.Timestamp(load(engine, "SELECT starts_at FROM scenarios WHERE id = 1")
                         ["starts_at"].iloc[0]).to_pydatetime()
    step = start + timedelta(hours=int((latest - timedelta(days=4) - start)
                                       .total_seconds() // 3600))
    then = active_at(engine, viewer, step)
    now = valid_referrals(engine, viewer)
    now = now[now.status.isin(ACTIVE)]
    assert expected(then.id) != expected(now.id)
    assert metric(at, "Open referrals") == f"{expected(now.id):,}"
    slider.set_value(step).run()
    assert not at.exception
    assert metric(at, "Open referrals") == f"{expected(then.id):,}"
    assert metric(at, "Overdue") == f"{expected(then.id[late_at(then, step)]):,}"
    assert at.dataframe[-1].value["case_number"].isin(then.id).all()


def test_an_earlier_moment_on_a_dirty_database_leaves_out_the_broken_referrals(dirty_db_url,
                                                                               raw):
    engine = raw(dirty_db_url)
    viewer = Viewer("k", "coordinator", 1)
    moment = as_of_of(engine, 1) - timedelta(days=3)
    active = active_at(engine, viewer, moment)
    data = referrals(opened(dirty_db_url), viewer, moment)
    assert data.open_total == expected(active.id)
    assert data.overdue_total == expected(active.id[late_at(active, moment)])
