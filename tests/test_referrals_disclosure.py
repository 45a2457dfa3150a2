"""Attacks on the Referrals figures a count-only role sees (docs/design.md §2.4).

Each test reads the true rows with its own SQL, works out what must be shown with
the oracle of tests/disclosure.py, and then plays the reader who adds up and
subtracts whatever the page shows: no sum, difference or pair of moments may narrow
a count down to one small number. A part withheld ("—") beside a total shown "<5"
tells the reader nothing but that it is a part of that total.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from dashboard.figures.referrals import referrals
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.disclosure import (
    LESS_THAN_5,
    WITHHELD,
    expected,
    expected_parts,
    possible_part_truths,
)
from tests.readback import as_of_of
from tests.test_referrals import (
    ACTIVE,
    SERVICES,
    active_at,
    flow_oracle,
    late_at,
    valid_referrals,
)

AGE_BOUNDS = {"under 1 day": (0, 24), "1–3 days": (24, 72), "3–7 days": (72, 168),
              "7 days or more": (168, float("inf"))}
COUNT_ONLY = [Viewer("c", "committee", 1), Viewer("c", "committee", 2),
              Viewer("k", "coordinator", 1)]
IDS = [f"{v.role}-s{v.scenario_id}" for v in COUNT_ONLY]


# --- what a reader can work out from shown counts --------------------------------------

def _value(cell):
    """A shown cell as the oracle holds it: a number, "<5" or "—" (a table holds text)."""
    if isinstance(cell, str) and cell not in (LESS_THAN_5, WITHHELD):
        return int(cell)
    return cell


def truths(cell, *totals) -> range:
    """possible_part_truths of a shown cell, as a number or as a table's text: a cell
    withheld ("—") is any value from 0 up to what the shown totals it is part of allow
    (no information), and needs them; any other cell is what its own value allows."""
    return possible_part_truths(_value(cell), *(_value(t) for t in totals))


def derived(plus: Iterable = (), minus: Iterable = ()) -> range:
    """Every value of (sum of `plus`) - (sum of `minus`) consistent with those shown
    counts (each a shown cell, or already its `truths`, as for a withheld part): each
    one's possible truths are a run of whole numbers, so this is one too."""
    plus = [v if isinstance(v, range) else truths(v) for v in plus]
    minus = [v if isinstance(v, range) else truths(v) for v in minus]
    low = sum(r.start for r in plus) - sum(r.stop - 1 for r in minus)
    high = sum(r.stop - 1 for r in plus) - sum(r.start for r in minus)
    return range(low, high + 1)


def left_open(truth: int, *constraints: Iterable[int]) -> set[int]:
    """The values a reader cannot rule out, given every constraint; the truth among them."""
    values = set.intersection(*(set(c) for c in constraints))
    assert truth in values, (truth, sorted(values)[:10])
    return values


def assert_not_pinned(values: set[int], label) -> None:
    """A reader is left with more than one value, unless the value is 0 (nothing to
    give away): never a single count of 1 to 4, nor any single count at all."""
    assert len(values) > 1 or values == {0}, (label, values)


def assert_shown(cell, ids, label) -> None:
    """The cell is the oracle's rounding of exactly these rows, and "<5" only for 1 to 4."""
    ids = list(ids)
    assert str(cell) == str(expected(ids)), (label, cell, len(ids))
    assert (str(cell) == LESS_THAN_5) == (1 <= len(ids) <= 4), (label, cell, len(ids))


def assert_part_shown(cell, ids, total_ids, label) -> None:
    """The cell, a part of the total counting `total_ids`, is withheld ("—") exactly
    where that total is shown "<5" (expected_parts), else `assert_shown` of its rows."""
    ids, total = list(ids), expected(list(total_ids))
    want = expected_parts({"part": expected(ids)}, total)["part"]
    assert str(cell) == str(want), (label, cell, len(ids), total)
    if want != WITHHELD:
        assert_shown(cell, ids, label)


# --- (a) a cell hidden to protect another one was labelled "<5" ---------------------------

@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=IDS)
def test_every_count_is_the_rounding_of_its_own_rows(db_url, raw, viewer):
    """Referrals, By service, committee view: asylum showed 'Awaiting receiver <5' and
    'accepted <5' beside 'Open, all 89' while the database had 35 awaiting: anyone adding
    up the table was misled. Now every cell is its own rows rounded, and "<5" means 1-4."""
    engine = raw(db_url)
    as_of = as_of_of(engine, viewer.scenario_id)
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    late = (active.status == "open") & (active.due_at_ts < as_of)
    data = referrals(opened(db_url), viewer, as_of)

    table = data.by_service.set_index("service")
    assert list(table.index) == SERVICES
    for service in SERVICES:
        mine = active.service == service
        for status in ACTIVE:
            assert_part_shown(table.loc[service, status],
                              active.id[mine & (active.status == status)], active.id[mine],
                              (service, status))
        assert_shown(table.loc[service, "active"], active.id[mine], (service, "active"))
        assert_part_shown(table.loc[service, "overdue"], active.id[mine & late],  # of active
                          active.id[mine], (service, "overdue"))
    assert_shown(data.open_total, active.id, "open total")
    assert_shown(data.overdue_total, active.id[late], "overdue total")

    hours = (as_of - active.created_at_ts).dt.total_seconds() / 3600
    ages = data.by_age.set_index("service")
    for service in SERVICES:
        mine = active.service == service
        for label, (low, high) in AGE_BOUNDS.items():
            rows = active.id[mine & (hours >= low) & (hours < high)]
            assert_part_shown(ages.loc[service, label], rows, active.id[mine], (service, label))

    by_org = data.by_org.set_index("receiving_organisation")
    assert set(by_org.index) == set(active.to_org)
    for org in by_org.index:
        mine = active.to_org == org
        assert_shown(by_org.loc[org, "active"], active.id[mine], (org, "active"))
        assert_part_shown(by_org.loc[org, "on_time"], active.id[mine & ~late],
                          active.id[mine], (org, "on_time"))
        assert_part_shown(by_org.loc[org, "overdue"], active.id[mine & late],
                          active.id[mine], (org, "overdue"))

    # the scenario has both small and rounded cells, or this proves little
    cells = [str(v) for v in table[[*ACTIVE, "active", "overdue"]].to_numpy().ravel()]
    assert LESS_THAN_5 in cells
    assert any(int(c) % 5 == 0 and int(c) > 0 for c in cells
               if c not in (LESS_THAN_5, WITHHELD))


@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=IDS)
def test_parts_against_their_totals_never_pin_a_small_count(db_url, raw, viewer):
    """A total less its shown parts leaves every part a run of possible values."""
    engine = raw(db_url)
    as_of = as_of_of(engine, viewer.scenario_id)
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    late = (active.status == "open") & (active.due_at_ts < as_of)
    data = referrals(opened(db_url), viewer, as_of)
    table = data.by_service.set_index("service")
    for service in SERVICES:
        row = table.loc[service]
        mine = active[active.service == service]
        for status in ACTIVE:  # one status = open, all - the other statuses
            others = [truths(row[s], row["active"]) for s in ACTIVE if s != status]
            values = left_open(int((mine.status == status).sum()),
                               derived([row["active"]], others),
                               truths(row[status], row["active"]))
            assert_not_pinned(values, (service, status))
        # one service's open, all = the open total - the other services'
        others = [table.loc[s, "active"] for s in SERVICES if s != service]
        values = left_open(len(mine), derived([data.open_total], others),
                           truths(row["active"]))
        assert_not_pinned(values, (service, "active"))
        others = [truths(table.loc[s, "overdue"], table.loc[s, "active"])
                  for s in SERVICES if s != service]
        values = left_open(int(late[active.service == service].sum()),
                           derived([data.overdue_total], others),
                           truths(row["overdue"], row["active"]))
        assert_not_pinned(values, (service, "overdue"))
    ages = data.by_age.set_index("service")
    hours = (as_of - active.created_at_ts).dt.total_seconds() / 3600
    for service in SERVICES:  # one age = open, all - the other ages (the page merges them)
        row = ages.loc[service]
        mine = active.service == service
        total = table.loc[service, "active"]
        for label, (low, high) in AGE_BOUNDS.items():
            others = [truths(row[a], total) for a in AGE_BOUNDS if a != label]
            values = left_open(int((mine & (hours >= low) & (hours < high)).sum()),
                               derived([total], others), truths(row[label], total))
            assert_not_pinned(values, (service, label))
    by_org = data.by_org.set_index("receiving_organisation")
    for org, row in by_org.iterrows():
        mine = active.to_org == org
        for part, other in (("on_time", "overdue"), ("overdue", "on_time")):
            truth = int((mine & (late if part == "overdue" else ~late)).sum())
            values = left_open(truth,
                               derived([row["active"]], [truths(row[other], row["active"])]),
                               truths(row[part], row["active"]))
            assert_not_pinned(values, (org, part))


# --- (c) a running total gives back the count between two of its points -------------------

def check_flow(flow, oracle, label) -> None:
    """Every day's sent, ended and open-at-end-of-day are the oracle's rounding of their
    rows, no point is held back, and two consecutive points with the day's bars between
    them never narrow the change down to one value."""
    assert list(flow.day) == list(oracle.day), label
    for row, want in zip(flow.itertuples(), oracle.itertuples(), strict=True):
        assert_shown(row.opened, want.opened, (label, row.day, "opened"))
        assert_shown(row.ended, want.ended, (label, row.day, "ended"))
        assert_shown(row.active, want.active, (label, row.day, "active"))
    zero = {"opened": 0, "ended": 0, "active": 0}
    shown = [zero] + [{c: getattr(r, c) for c in zero} for r in flow.itertuples()]
    truth = [{c: [] for c in zero}] + [{c: getattr(r, c) for c in zero}
                                       for r in oracle.itertuples()]
    for i in range(1, len(shown)):
        before, now, was, then = shown[i - 1], shown[i], truth[i - 1], truth[i]
        day = (label, list(oracle.day)[i - 1])
        change = len(then["active"]) - len(was["active"])
        values = left_open(change, derived([now["active"]], [before["active"]]),
                           derived([now["opened"]], [now["ended"]]))
        assert_not_pinned(values, (day, "change"))
        # each of the day's bars against the change of the line and the other bar
        values = left_open(len(then["opened"]),
                           derived([now["active"], now["ended"]], [before["active"]]),
                           truths(now["opened"]))
        assert_not_pinned(values, (day, "opened"))
        values = left_open(len(then["ended"]),
                           derived([before["active"], now["opened"]], [now["active"]]),
                           truths(now["ended"]))
        assert_not_pinned(values, (day, "ended"))


@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=IDS)
def test_the_flow_is_rounded_point_by_point_and_never_thinned(db_url, raw, viewer):
    engine = raw(db_url)
    as_of = as_of_of(engine, viewer.scenario_id)
    refs = valid_referrals(engine, viewer)
    oracle = flow_oracle(refs)
    flow = referrals(opened(db_url), viewer, as_of).flow.reset_index(drop=True)
    assert flow["active"].notna().all() and len(flow) > 5
    check_flow(flow, oracle, "latest")
    # the line is not the bars' running total rounded once: it is the open rows rounded
    assert any(len(o.active) % 5 for o in oracle.itertuples())


@pytest.mark.parametrize("viewer", COUNT_ONLY[:2], ids=IDS[:2])
def test_an_earlier_moment_is_rounded_the_same_way(db_url, raw, viewer):
    """Worked back from the history: the same rows give the same shown counts, and the
    flow cut at the moment is rounded point by point too."""
    engine = raw(db_url)
    moment = as_of_of(engine, viewer.scenario_id) - timedelta(days=5)
    active = active_at(engine, viewer, moment)
    late = late_at(active, moment)
    data = referrals(opened(db_url), viewer, moment)
    assert data.worked_back
    table = data.by_service.set_index("service")
    for service in SERVICES:
        mine = active.service == service
        for status in ACTIVE:
            assert_part_shown(table.loc[service, status],
                              active.id[mine & (active.then == status)], active.id[mine],
                              (service, status))
        assert_shown(table.loc[service, "active"], active.id[mine], (service, "active"))
        assert_part_shown(table.loc[service, "overdue"], active.id[mine & late],  # of active
                          active.id[mine], (service, "overdue"))
    assert_shown(data.open_total, active.id, "open total")
    assert_shown(data.overdue_total, active.id[late], "overdue total")
    flow = data.flow.reset_index(drop=True)
    check_flow(flow, flow_oracle(valid_referrals(engine, viewer), moment), "earlier")
    # the last point is the referrals sent and not ended by the moment: its own rounding
    assert flow.day.iloc[-1] == f"{moment:%Y-%m-%d}"


def test_the_same_referrals_are_shown_the_same_whichever_figure_counts_them(db_url, raw):
    """Consistency: a service whose open referrals are all awaiting the receiver shows
    the same number in both columns, and a moment with nothing changed since shows the
    same numbers again (asking twice gives nothing away)."""
    engine = raw(db_url)
    viewer = Viewer("c", "committee", 1)
    as_of = as_of_of(engine, 1)
    first = referrals(opened(db_url), viewer, as_of)
    again = referrals(opened(db_url), viewer, as_of + timedelta(minutes=1))
    for column in ["open", "accepted", "in_service", "active"]:  # overdue moves with time
        assert list(first.by_service[column]) == list(again.by_service[column])
    refs = valid_referrals(engine, viewer)
    active = refs[refs.status.isin(ACTIVE)]
    table = first.by_service.set_index("service")
    for service in SERVICES:
        mine = active[active.service == service]
        if len(mine) and (mine.status == "open").all():  # unless withheld beside "<5"
            total = table.loc[service, "active"]
            assert table.loc[service, "open"] == expected_parts({"open": total}, total)["open"]


@pytest.mark.parametrize("scenario", [1, 2], ids=["live", "exercise"])
def test_overdue_under_a_small_open_total_is_withheld_on_both_pages(db_url, raw, scenario):
    """A service whose open total shows "<5" shows no overdue part of it, on Referrals and
    on the Overview alike: a part beside a total of at most four gives it away."""
    from dashboard.figures.overview import overview

    viewer = Viewer("c", "committee", scenario)
    engine = raw(db_url)
    as_of = as_of_of(engine, scenario)
    refs = valid_referrals(engine, viewer)
    small = {s for s in SERVICES if 0 < int(refs[refs.status.isin(ACTIVE)]
                                           .service.eq(s).sum()) < 5}
    table = referrals(opened(db_url), viewer, as_of).by_service.set_index("service")
    front = overview(opened(db_url), viewer, as_of).overdue_by_service.set_index("service")
    for service in SERVICES:
        if service in small:
            assert table.loc[service, "active"] == LESS_THAN_5, service
            assert table.loc[service, "overdue"] == WITHHELD, service
            assert front.loc[service, "overdue"] == WITHHELD, service
        else:
            assert table.loc[service, "overdue"] != WITHHELD, service
    if scenario == 2:
        assert small, "the exercise scenario has a service with 1 to 4 open referrals"
