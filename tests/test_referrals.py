"""Referrals: counts, overdue, the coordinator's queue, scopes and suppression,
against the test's own reading of the raw rows."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pandas as pd
import pytest

from dashboard.contract import vocab
from dashboard.figures.referrals import referrals
from dashboard.rules.access import Viewer
from tests.apptest import metric, open_page
from tests.conftest import opened
from tests.readback import as_of_of, load
from tests.suppression import as_text, expected_group, expected_kept, expected_table, expected_value

SERVICES = list(vocab.REFERRAL_SERVICES)
CONSULAR = ["consular", "documentation", "evacuation", "family_tracing"]
SENSITIVE = ["asylum", "anti_trafficking", "gbv", "child_protection"]
ACTIVE = ["open", "accepted", "in_service"]


def valid_referrals(engine, viewer: Viewer) -> pd.DataFrame:
    """The referrals the viewer's figures may count, worked out in pandas."""
    refs = load(engine, "SELECT * FROM referrals WHERE scenario_id = :s", s=viewer.scenario_id)
    persons = load(engine, "SELECT id, nationality, second_nationality, consent_consular, "
                           "protection_confidential FROM persons")
    refs = refs[refs.service.isin(SERVICES) & refs.status.isin(list(vocab.REFERRAL_STATUSES))
                & refs.person_id.isin(persons.id)]
    if viewer.role == "consular":
        nats = set(viewer.nationalities)
        seen = persons[(persons.nationality.isin(nats) | persons.second_nationality.isin(nats))
                       & persons.consent_consular.astype(bool)
                       & ~persons.protection_confidential.astype(bool)]
        refs = refs[refs.person_id.isin(seen.id) & refs.service.isin(CONSULAR)]
    return refs


def overdue(refs: pd.DataFrame, as_of) -> pd.Series:
    return (refs.status == "open") & (pd.to_datetime(refs.due_at, format="mixed")
                                      < pd.Timestamp(as_of))


# --- what each table must show, from the true counts (tests/suppression.py) -------------

def expected_by_service(services: list[str], status: pd.Series, service: pd.Series,
                        late: pd.Series, hide: bool) -> dict:
    """The by-service table as it must be shown, one row per service: the active
    referrals by status (each row beside its total: complementary suppression along
    the row), the total, and overdue (a column beside the headline total)."""
    late_by = {s: int((late & (service == s)).sum()) for s in services}
    late_shown = expected_group(late_by) if hide else late_by
    want = {}
    for s in services:
        cells = {st: int(((service == s) & (status == st)).sum()) for st in ACTIVE}
        total = sum(cells.values())
        if hide:
            cells, total = expected_group(cells), expected_value(total)
        want[s] = as_text({**cells, "active": total, "overdue": late_shown[s]})
    return want


def expected_by_org(to_org: pd.Series, late: pd.Series, hide: bool) -> pd.DataFrame:
    """The receiving organisations' load as it must be shown: the largest first (then by
    name), on time + overdue = active per organisation, and each column summed into a
    headline figure (complementary suppression along rows and columns)."""
    frame = pd.DataFrame({"org": to_org.to_numpy(), "late": late.to_numpy().astype(bool)})
    rows = sorted(((len(g), org, int(g.late.sum())) for org, g in frame.groupby("org")),
                  key=lambda r: (-r[0], r[1]))
    table = pd.DataFrame({"on_time": [n - k for n, _, k in rows],
                          "overdue": [k for _, _, k in rows]},
                         index=[org for _, org, _ in rows])
    active = [n for n, _, _ in rows]
    if hide:
        table = expected_table(table)
        active = [expected_value(n) for n in active]
    table.insert(0, "active", active)
    return as_text(table)


def check_by_org(shown: pd.DataFrame, want: pd.DataFrame) -> None:
    got = as_text(shown.set_index("receiving_organisation")[["active", "on_time", "overdue"]])
    assert list(got.index) == list(want.index)
    assert got.to_dict("index") == want.to_dict("index")


def check_flow(flow: pd.DataFrame, opened: list[int], ended: list[int], running: list[int],
               hide: bool) -> None:
    """Each day's sent and ended counts, and the drawn points of the running total:
    every point, or for an aggregate role exactly those the thinning rule keeps."""
    assert list(flow.opened.astype(str)) == [str(expected_value(n) if hide else n)
                                             for n in opened]
    assert list(flow.ended.astype(str)) == [str(expected_value(n) if hide else n)
                                            for n in ended]
    kept = expected_kept(zip(opened, ended, strict=True)) if hide else [True] * len(opened)
    assert [pd.notna(v) for v in flow.active] == kept
    assert [int(v) for v in flow.active if pd.notna(v)] == [
        r for r, k in zip(running, kept, strict=True) if k]


@pytest.mark.parametrize("viewer", [Viewer("k", "coordinator", 1),
                                    Viewer("l", "consular", 1, ("ETH",)),
                                    Viewer("l", "consular", 1, ("PHL", "KEN"))],
                         ids=lambda v: v.role + "-".join(v.nationalities))
def test_counts_by_service_match_the_database(db_url, raw, viewer):
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    data = referrals(opened(db_url), viewer, as_of)
    hide = viewer.role != "consular"
    table = data.by_service.set_index("service")
    expected_services = CONSULAR if viewer.role == "consular" else SERVICES
    assert list(table.index) == expected_services
    # every cell exactly: aggregate roles see "<5" where the rules hide it, nowhere else
    want = expected_by_service(expected_services, active.status, active.service,
                               overdue(active, as_of), hide)
    assert as_text(table[[*ACTIVE, "active", "overdue"]]).to_dict("index") == want
    for service in expected_services:
        mine = active[active.service == service]
        if viewer.role == "consular":
            assert table.loc[service, "active"] == len(mine)
            assert table.loc[service, "overdue"] == int(overdue(mine, as_of).sum())
        assert table.loc[service, "deadline_h"] == vocab.REFERRAL_DEADLINE_HOURS[service]
    shown = expected_value if hide else int
    assert data.open_total == shown(len(active))
    assert data.overdue_total == shown(int(overdue(active, as_of).sum()))
    check_by_org(data.by_org, expected_by_org(active.to_org, overdue(active, as_of), hide))


def test_age_buckets_add_up_to_the_active_referrals(db_url, raw):
    engine = raw(db_url)
    as_of = as_of_of(engine, 1)
    viewer = Viewer("l", "consular", 1, ("ETH",))
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    hours = (pd.Timestamp(as_of) - pd.to_datetime(active.created_at, format="mixed")
             ).dt.total_seconds() / 3600
    data = referrals(opened(db_url), viewer, as_of).by_age.set_index("service")
    assert int(data["7 days or more"].sum()) == int((hours >= 168).sum())
    assert int(data["under 1 day"].sum()) == int((hours < 24).sum())
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
    assert len(queue) == min(500, len(active)) and data.queue_total == len(active)
    assert set(queue.case_number) <= set(active.index)
    late = overdue(active, as_of)
    flags = [bool(late[c]) for c in queue.case_number]
    assert flags == sorted(flags, reverse=True)  # every overdue row before the others
    assert sum(flags) == min(500, int(late.sum()))


@pytest.mark.parametrize("role, nats", [("committee", None), ("consular", ["ETH"])])
def test_no_queue_for_committee_or_liaison(db_url, raw, role, nats):
    viewer = Viewer("x", role, 1, tuple(nats or ()))
    assert referrals(opened(db_url), viewer, as_of_of(raw(db_url), 1)).queue is None


def test_committee_counts_are_suppressed(db_url, raw):
    as_of = as_of_of(raw(db_url), 2)
    data = referrals(opened(db_url), Viewer("c", "committee", 2), as_of)
    for i, row in data.by_service.iterrows():
        cells = [row[s] for s in ACTIVE]
        # a lone hidden cell would come back from the row total, unless that is hidden too
        assert sum(c == "<5" for c in cells) != 1 or row["active"] == "<5", i
        assert all(c == "<5" or int(c) == 0 or int(c) >= 5 for c in cells)
    assert any(c == "<5" for c in data.by_service["open"])  # the small scenario has some
    for col in ("opened", "ended"):
        assert all(c == "<5" or int(c) == 0 or int(c) >= 5 for c in data.flow[col])
    # the drawn points of the running total are right, and between two of them each
    # increment (sent, ended) is 0 or at least 5
    refs = valid_referrals(raw(db_url), Viewer("c", "committee", 2))
    # and every cell is exactly what the rules make of the true counts
    active = refs[refs.status.isin(ACTIVE)]
    want = expected_by_service(SERVICES, active.status, active.service,
                               overdue(active, as_of), hide=True)
    table = data.by_service.set_index("service")
    assert list(table.index) == SERVICES
    assert as_text(table[[*ACTIVE, "active", "overdue"]]).to_dict("index") == want
    check_by_org(data.by_org, expected_by_org(active.to_org, overdue(active, as_of), True))
    assert data.open_total == expected_value(len(active))
    assert data.overdue_total == expected_value(int(overdue(active, as_of).sum()))
    sent = pd.to_datetime(refs.created_at, format="mixed").dt.strftime("%Y-%m-%d")
    ended = refs[refs.status.isin(list(vocab.REFERRAL_ENDED)) & refs.closed_at.notna()]
    ended = pd.to_datetime(ended.closed_at, format="mixed").dt.strftime("%Y-%m-%d")
    flow = data.flow.reset_index(drop=True)
    daily = pd.DataFrame({"day": flow["day"]})
    daily["opened"] = [int((sent == d).sum()) for d in daily.day]
    daily["ended"] = [int((ended == d).sum()) for d in daily.day]
    running = daily["opened"].cumsum() - daily["ended"].cumsum()
    assert list(flow.day) == sorted(set(sent) | set(ended))
    check_flow(flow, list(daily.opened), list(daily.ended), [int(r) for r in running], True)
    drawn = list(flow.index[flow["active"].notna()])
    assert 0 < len(drawn) < len(flow)  # the small scenario holds some points back
    last = -1
    for i in drawn:
        assert int(flow.loc[i, "active"]) == int(running[i])
        for col in ("opened", "ended"):
            step = int(daily.loc[last + 1:i, col].sum())
            assert step == 0 or step >= 5, (i, col)
        last = i


def chart_numbers(at, skip: tuple[str, ...] = ()) -> list[float]:
    values = []
    for chart in at.get("plotly_chart"):
        if any(chart.proto.id.endswith(k) for k in skip):
            continue
        for trace in json.loads(chart.proto.spec)["data"]:
            axis = "x" if trace.get("orientation") == "h" else "y"
            values += [v for v in trace.get(axis, []) if v is not None]
    return values


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_aggregate_pages_send_no_person_and_no_small_count(sqlite_url, raw, monkeypatch, role):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "referrals", role, scenario=2)
    assert not at.exception
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    frames = [d.value for d in at.dataframe]
    persons = load(raw(sqlite_url), "SELECT ref, full_name FROM persons WHERE scenario_id = 2")
    assert not re.search(r"LB-\d+", specs)
    assert not any(name in specs for name in persons.full_name)
    for frame in frames:
        assert not {"ref", "name", "full_name", "phone", "person_id"} & set(frame.columns)
        assert not set(frame.astype(str).to_numpy().ravel()) & set(persons.ref)
    # the open-at-end-of-day line is a running total, held back where it would tell
    assert all(v == 0 or v >= 5 for v in chart_numbers(at, skip=("referrals-flow",)))


def test_coordinator_page_shows_the_queue_and_the_totals(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "referrals", "coordinator")
    assert not at.exception
    engine = raw(sqlite_url)
    active = valid_referrals(engine, Viewer("k", "coordinator", 1))
    active = active[active.status.isin(ACTIVE)]
    assert metric(at, "Open referrals") == f"{len(active):,}"
    queue = at.dataframe[-1].value
    assert "case_number" in queue.columns and len(queue) == min(500, len(active))


def test_liaison_page_never_shows_a_sensitive_service(sqlite_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "referrals", "consular", ["ETH"])
    assert not at.exception
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    for service in SENSITIVE:
        assert service not in specs
        for frame in (d.value for d in at.dataframe):
            assert service not in set(frame.astype(str).to_numpy().ravel())


def test_dirty_database_leaves_out_the_broken_referrals(dirty_db_url, raw):
    engine = raw(dirty_db_url)
    viewer = Viewer("k", "coordinator", 1)
    everything = load(engine, "SELECT COUNT(*) AS n FROM referrals WHERE scenario_id = 1 "
                              "AND status IN ('open', 'accepted', 'in_service')")["n"].iloc[0]
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    assert len(active) < everything  # the dirty rows touch active referrals
    data = referrals(opened(dirty_db_url), viewer, as_of_of(engine, 1))
    assert data.open_total == len(active)


# --- an earlier moment: worked back from the referral history ------------------

def active_at(engine, viewer: Viewer, moment) -> pd.DataFrame:
    """The viewer's referrals active at `moment`, in pandas: sent by then, not closed by
    then, with `then` the status of their latest event by then ("open" if none)."""
    refs = valid_referrals(engine, viewer)
    created = pd.to_datetime(refs.created_at, format="mixed")
    closed = pd.to_datetime(refs.closed_at, format="mixed")
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
    return (refs.then == "open") & (pd.to_datetime(refs.due_at, format="mixed")
                                    < pd.Timestamp(moment))


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
    data = referrals(opened(db_url), viewer, moment)
    assert data.worked_back and not referrals(opened(db_url), viewer, latest).worked_back

    shown = expected_value if hide else int
    assert data.open_total == shown(len(active))
    assert data.overdue_total == shown(int(late.sum()))
    services = CONSULAR if viewer.role == "consular" else SERVICES
    table = data.by_service.set_index("service")
    assert list(table.index) == services
    want = expected_by_service(services, active.then, active.service, late, hide)
    assert as_text(table[[*ACTIVE, "active", "overdue"]]).to_dict("index") == want

    # age at the moment, in the page's buckets (each service's row beside its total)
    hours = (pd.Timestamp(moment) - pd.to_datetime(active.created_at, format="mixed")
             ).dt.total_seconds() / 3600
    bucket = pd.cut(hours, [0, 24, 72, 168, float("inf")], right=False,
                    labels=["under 1 day", "1–3 days", "3–7 days", "7 days or more"])
    ages = data.by_age.set_index("service")
    assert list(ages.index) == services
    assert list(ages.columns) == ["under 1 day", "1–3 days", "3–7 days", "7 days or more"]
    for service in services:
        counts = {label: int(((active.service == service) & (bucket == label)).sum())
                  for label in ages.columns}
        assert as_text(dict(ages.loc[service])) == as_text(
            expected_group(counts) if hide else counts), service

    # receiving organisations' load at the moment
    by_org = data.by_org.set_index("receiving_organisation")
    assert set(by_org.index) == set(active.to_org)
    check_by_org(data.by_org, expected_by_org(active.to_org, late, hide))

    # the flow is cut at the moment
    refs = valid_referrals(engine, viewer)
    created = pd.to_datetime(refs.created_at, format="mixed")
    closed = pd.to_datetime(refs.closed_at, format="mixed")
    sent = created[created <= moment].dt.strftime("%Y-%m-%d")
    ended = closed[refs.status.isin(list(vocab.REFERRAL_ENDED)) & (closed <= moment)]
    ended = ended.dt.strftime("%Y-%m-%d")
    flow = data.flow.reset_index(drop=True)
    assert list(flow.day) == sorted(set(sent) | set(ended))
    assert flow.day.iloc[-1] == f"{moment:%Y-%m-%d}"
    running = [int((sent <= d).sum()) - int((ended <= d).sum()) for d in flow.day]
    check_flow(flow, [int((sent == d).sum()) for d in flow.day],
               [int((ended == d).sum()) for d in flow.day], running, hide)
    drawn = [(v, r) for v, r in zip(flow.active, running, strict=True) if pd.notna(v)]
    assert drawn and all(int(v) == r for v, r in drawn)
    if pd.notna(flow.active.iloc[-1]):  # the last point is the open count then
        assert int(flow.active.iloc[-1]) == len(active)

    if viewer.role != "coordinator":
        assert data.queue is None
        return
    queue, by_id = data.queue, active.set_index("id")
    assert len(queue) == min(500, len(active)) and data.queue_total == len(active)
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
    assert len(then) != len(now)
    assert metric(at, "Open referrals") == f"{len(now):,}"
    slider.set_value(step).run()
    assert not at.exception
    assert metric(at, "Open referrals") == f"{len(then):,}"
    assert metric(at, "Overdue") == f"{int(late_at(then, step).sum()):,}"
    assert at.dataframe[-1].value["case_number"].isin(then.id).all()


def test_an_earlier_moment_on_a_dirty_database_leaves_out_the_broken_referrals(dirty_db_url,
                                                                               raw):
    engine = raw(dirty_db_url)
    viewer = Viewer("k", "coordinator", 1)
    moment = as_of_of(engine, 1) - timedelta(days=3)
    active = active_at(engine, viewer, moment)
    data = referrals(opened(dirty_db_url), viewer, moment)
    assert data.open_total == len(active)
    assert data.overdue_total == int(late_at(active, moment).sum())
