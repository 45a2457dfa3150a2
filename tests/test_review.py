"""The Drill page and its after-action review (dashboard.figures.review), on a scenario of
our own: generated small, with a drill run's injects and a few contract breaks
written into its exercise scenario. Every expected figure is computed here from
the raw rows, with pandas, never by the code under test: the rows each count is of,
then the count the coordinator must be shown for them with the oracle of
tests/disclosure.py (docs/design.md §2.4), and the exact count for a reader who
sees counts exactly."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import labels, vocab
from dashboard.figures import review
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store.db import sql
from dashboard.tools.generate import generate
from tests.apptest import drawn_charts, metric, open_page, shown_tables, texts
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5, expected
from tests.downloads import served_files

EXERCISE, LIVE = 2, 1
RUN = "run-a"
COORDINATOR = Viewer("test-coordinator", "coordinator", EXERCISE)
ROUNDING = 'Counts are rounded to a multiple of 5, so parts may not add up; "<5" is 1 to 4.'


def _ts(value) -> pd.Timestamp:
    return pd.Timestamp(value)


def _write_drill(url: str, raw) -> None:
    """A drill run over the exercise's last ten days, and contract breaks in it."""
    engine = raw(url)
    with engine.begin() as conn:
        as_of = _ts(conn.execute(text("SELECT MAX(updated_at) FROM persons "
                                      "WHERE scenario_id = 2")).scalar()).to_pydatetime()
        first = as_of.replace(minute=0, second=0) - timedelta(days=10)
        injects = [(1, "Shelling in the south", "hazard", 0, "applied"),
                   (2, "Arrivals at the shelters", "arrivals", 6, "applied"),
                   (3, "A shelter closes", "facility_closes", 20, "skipped"),
                   (4, "A flight departs", "movement_departs", 40, "applied")]
        for seq, name, kind, hours, status in injects:
            at = first + timedelta(hours=hours)
            conn.execute(sql("INSERT INTO drill_injects (scenario_id, run_id, seq, name, kind, "
                             "offset_s, at, status, detail) VALUES (2, :run, :seq, :name, :kind, "
                             ":offset, :at, :status, 'test')", {"at": at}),
                         {"run": RUN, "seq": seq, "name": name, "kind": kind,
                          "offset": hours * 3600, "at": at, "status": status})
        # an occupancy report above capacity in the window, on a listed facility
        fac = conn.execute(text("SELECT id, capacity FROM facilities WHERE scenario_id = 2 "
                                "AND confidential = :f AND capacity > 0 ORDER BY id LIMIT 1"),
                           {"f": False}).one()
        conn.execute(sql("INSERT INTO facility_occupancy (facility_id, at, occupants) "
                         "VALUES (:f, :at, :n)", {"at": first}),
                     {"f": fac.id, "at": first + timedelta(hours=10), "n": fac.capacity + 7})
        # departures that break the contract: unknown nationality, departed before registering
        departed = conn.execute(text(
            "SELECT c.person_id, MIN(e.at) AS at FROM evacuation_cases c "
            "JOIN evacuation_events e ON e.case_id = c.id WHERE c.scenario_id = 2 "
            "AND e.stage = 'departed' GROUP BY c.person_id ORDER BY MIN(e.at) DESC")).all()
        conn.execute(text("UPDATE persons SET nationality = 'XXX' WHERE id = :p"),
                     {"p": departed[0].person_id})
        late = _ts(departed[1].at).to_pydatetime() + timedelta(hours=2)
        conn.execute(sql("UPDATE persons SET registered_at = :at WHERE id = :p", {"at": late}),
                     {"p": departed[1].person_id, "at": late})
        # a referral of a service outside the vocabulary
        conn.execute(text("UPDATE referrals SET service = 'cash_assistance' WHERE id = "
                          "(SELECT MAX(id) FROM referrals WHERE scenario_id = 2)"))


def _build(url: str, raw) -> str:
    generate(url, persons=2000, seed=11)
    _write_drill(url, raw)
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def drill_url(request, tmp_path_factory):
    """Our own scenario database with a drill played, on each backend."""
    from sqlalchemy import create_engine

    engines = []

    def raw(url):
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        engines.append(engine)
        return engine

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("drill") / "drill.sqlite"
        yield _build(f"sqlite:///{path}", raw)
    else:
        try:
            yield _build(request.getfixturevalue("pg_databases").create("drill"), raw)
        finally:
            for engine in engines:
                engine.dispose()
    for engine in engines:
        engine.dispose()


@pytest.fixture
def app_db(drill_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", drill_url)
    return drill_url


@pytest.fixture(params=["rounded", "exact"])
def view(request, monkeypatch) -> str:
    """The coordinator's figures as the page shows them ("rounded"), or exact, as a
    reader allowed exact counts would be shown the same rows (the rule of who sees
    what is access.suppresses_small_counts, tested apart)."""
    if request.param == "exact":
        monkeypatch.setattr(access, "suppresses_small_counts", lambda role: False)
    return request.param


def shown(ids, view: str) -> int | str:
    """What must be shown for the rows with these ids: their number, or the oracle's."""
    ids = list(ids)
    return len(ids) if view == "exact" else expected(ids)


def cell(ids, view: str) -> int | str:
    """The same, as a table holds it: text where it is rounded (numbers and "<5")."""
    value = shown(ids, view)
    return value if view == "exact" else str(value)


def small(ids) -> bool:
    return 1 <= len(list(ids)) <= 4


def figured(ids, view: str) -> bool:
    """Percentiles and medians are shown beside a count of cases unless it is "<5"."""
    return view == "exact" or not small(ids)


# --- our own computation over the raw rows ------------------------------------------------

def frame(raw, url: str, statement: str, **params) -> pd.DataFrame:
    with raw(url).connect() as conn:
        result = conn.execute(text(statement), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def times(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for col in cols:
        df[col] = pd.to_datetime(df[col], format="mixed")
    return df


def own_window(raw, url: str) -> tuple[datetime, datetime]:
    got = times(frame(raw, url, "SELECT MIN(at) AS first, MAX(at) AS last FROM drill_injects "
                                "WHERE scenario_id = 2 AND run_id = :run", run=RUN),
                "first", "last")
    as_of = _ts(frame(raw, url, "SELECT MAX(updated_at) AS m FROM persons "
                                "WHERE scenario_id = 2").m[0])
    return got["first"][0].to_pydatetime(), max(as_of, got["last"][0]).to_pydatetime()


def own_departures(raw, url: str, start, until) -> pd.DataFrame:
    """Valid evacuation cases' first departure in the window, with the hours since the
    person registered; contract breaks left out as the data-quality view counts them."""
    df = times(frame(raw, url,
                     "SELECT c.id, c.stage, p.nationality, p.status, p.registered_at, e.at "
                     "FROM evacuation_cases c JOIN persons p ON p.id = c.person_id "
                     "JOIN evacuation_events e ON e.case_id = c.id "
                     "WHERE c.scenario_id = 2 AND e.stage = 'departed'"), "registered_at", "at")
    df = df[df["stage"].isin(list(vocab.ALL_EVACUATION_STAGES))]
    first = df.groupby("id").agg(nationality=("nationality", "first"),
                                 status=("status", "first"),
                                 registered_at=("registered_at", "first"), at=("at", "min"))
    first = first[(first["at"] >= start) & (first["at"] <= until)]
    countries = set(frame(raw, url, "SELECT iso3 FROM countries").iso3)
    valid = (first["nationality"].isin(countries) & first["status"].isin(
        list(vocab.PERSON_STATUSES)) & (first["at"] >= first["registered_at"]))
    out = first[valid].copy()  # indexed by case id
    out["hours"] = (out["at"] - out["registered_at"]).dt.total_seconds() / 3600
    out.attrs["left_out"] = list(first.index[~valid])
    return out


def own_acceptances(raw, url: str) -> pd.DataFrame:
    refs = times(frame(raw, url, "SELECT r.id, r.service, r.status, r.person_id, r.created_at, "
                                 "r.due_at, r.closed_at FROM referrals r "
                                 "WHERE r.scenario_id = 2"), "created_at", "due_at", "closed_at")
    persons = set(frame(raw, url, "SELECT id FROM persons").id)
    refs = refs[refs["service"].isin(list(vocab.REFERRAL_SERVICES))
                & refs["status"].isin(list(vocab.REFERRAL_STATUSES))
                & refs["person_id"].isin(persons)]
    events = times(frame(raw, url, "SELECT referral_id, at, status FROM referral_events"), "at")
    return refs, events[events["referral_id"].isin(set(refs["id"]))]


def nearest_rank(values, share) -> float:
    return float(np.percentile(np.asarray(values), 100 * share, method="inverted_cdf"))


# --- the figures ----------------------------------------------------------------------------

@pytest.mark.parametrize("moment", ["end", "middle"])
def test_time_to_evacuation_by_nationality(drill_url, raw, view, moment):
    start, end = own_window(raw, drill_url)
    until = end if moment == "end" else start + timedelta(hours=30)
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, until)
    mine = own_departures(raw, drill_url, start, until)
    assert len(mine) > 0 or moment == "middle"
    table = got.evacuation.set_index("nationality")
    assert set(table.index) == set(mine["nationality"])
    for nat, part in mine.groupby("nationality"):
        assert table.loc[nat, "cases"] == cell(part.index, view), nat
        if figured(part.index, view):
            assert table.loc[nat, "median_h"] == pytest.approx(nearest_rank(part.hours, 0.5),
                                                               abs=0.06)
            assert table.loc[nat, "p90_h"] == pytest.approx(nearest_rank(part.hours, 0.9),
                                                            abs=0.06)
        else:
            assert pd.isna(table.loc[nat, "median_h"]) and pd.isna(table.loc[nat, "p90_h"])
    every = got.evacuation_all
    assert every["cases"] == shown(mine.index, view)
    if len(mine) and figured(mine.index, view):
        assert every["median_h"] == pytest.approx(nearest_rank(mine.hours, 0.5), abs=0.06)
        assert every["p90_h"] == pytest.approx(nearest_rank(mine.hours, 0.9), abs=0.06)
    else:
        assert every["median_h"] is None and every["p90_h"] is None
    assert got.evacuation_left_out == shown(mine.attrs["left_out"], view)
    if moment == "end":
        assert len(mine.attrs["left_out"]) >= 2  # the two departures we broke


def test_percentiles_from_the_histogram_stay_within_half_an_hour(drill_url, raw, view,
                                                                 monkeypatch):
    monkeypatch.setattr(review, "MAX_DURATION_ROWS", 0)
    start, end = own_window(raw, drill_url)
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, end)
    assert got.approximate
    mine = own_departures(raw, drill_url, start, end)
    table = got.evacuation.set_index("nationality")
    assert got.evacuation_all["cases"] == shown(mine.index, view)
    for nat, part in mine.groupby("nationality"):
        # counted from the hour histogram, the same cases show the same count
        assert table.loc[nat, "cases"] == cell(part.index, view), nat
        if figured(part.index, view):
            assert abs(table.loc[nat, "median_h"] - nearest_rank(part.hours, 0.5)) <= 0.55
            assert abs(table.loc[nat, "p90_h"] - nearest_rank(part.hours, 0.9)) <= 0.55
        else:
            assert pd.isna(table.loc[nat, "median_h"]) and pd.isna(table.loc[nat, "p90_h"])


def test_each_nationality_is_rounded_on_its_own_and_small_ones_show_no_figures(drill_url, raw):
    """Nothing is hidden for another nationality's sake: "<5" is exactly the
    nationalities of 1 to 4 departures, each other one its own rounding, and the rows
    are ordered by what is shown (largest first, then by name), never by the truth."""
    start, end = own_window(raw, drill_url)
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, end)
    mine = own_departures(raw, drill_url, start, end)
    ids = {nat: list(part.index) for nat, part in mine.groupby("nationality")}
    assert any(small(i) for i in ids.values()), "the scenario needs a small nationality"
    assert any(len(i) >= 5 and len(i) % 5 for i in ids.values()), "and a rounded one"
    table = got.evacuation.set_index("nationality")
    for nat, rows in ids.items():
        assert table.loc[nat, "cases"] == str(expected(rows)), nat
        assert (table.loc[nat, "cases"] == LESS_THAN_5) == small(rows), nat
        assert pd.isna(table.loc[nat, "median_h"]) == small(rows), nat
        assert pd.isna(table.loc[nat, "p90_h"]) == small(rows), nat
    order = [(-(2.5 if c == LESS_THAN_5 else int(c)), name) for c, name in
             zip(got.evacuation["cases"], got.evacuation["country"], strict=True)]
    assert order == sorted(order)
    assert got.evacuation_all["cases"] == expected(mine.index)


@pytest.mark.parametrize("moment", ["end", "middle"])
def test_referral_time_to_acceptance_against_the_deadline(drill_url, raw, view, moment):
    start, end = own_window(raw, drill_url)
    until = pd.Timestamp(end if moment == "end" else start + timedelta(hours=30))
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, until.to_pydatetime())
    table = got.referrals.set_index("service")
    refs, events = own_acceptances(raw, drill_url)
    seen = events[events["at"] <= until]
    accepted = seen[seen["status"] == "accepted"].groupby("referral_id")["at"].min()
    answered = set(seen.loc[seen["status"] != "open", "referral_id"])
    sent = refs[(refs["created_at"] >= pd.Timestamp(start)) & (refs["created_at"] <= until)]
    assert len(sent) > 0
    assert list(table.index) == list(vocab.REFERRAL_SERVICES)
    for service in vocab.REFERRAL_SERVICES:
        part = sent[sent["service"] == service]
        acc = part["id"].map(accepted)
        in_time = part["id"][acc.notna() & (acc <= part["due_at"])]
        late = part["id"][acc.notna() & (acc > part["due_at"])]
        decided = int((acc.notna() | (part["due_at"] <= until)).sum())
        open_late = part["id"][~part["id"].isin(answered) & (part["due_at"] < until)
                               & (part["closed_at"].isna() | (part["closed_at"] > until))]
        row = table.loc[service]
        assert (row["sent"], row["accepted_in_time"], row["accepted_late"],
                row["not_accepted"], row["open_past_deadline"]) == (
            cell(part["id"], view), cell(in_time, view), cell(late, view),
            cell(part["id"][acc.isna()], view), cell(open_late, view)), service
        hours = ((acc - part["created_at"]).dt.total_seconds() / 3600).dropna()
        # the median is shown only beside counts of acceptances and referrals that are
        # not 1 to 4; the share only where neither count behind it is
        if len(hours) and (view == "exact" or not (small(hours) or small(part["id"]))):
            assert row["median_h_to_accept"] == pytest.approx(np.median(hours), abs=0.06)
        else:
            assert pd.isna(row["median_h_to_accept"]), service
        if decided and (view == "exact" or not (small(in_time)
                                                or 1 <= decided - len(in_time) <= 4)):
            assert row["within_deadline_pct"] == round(100 * len(in_time) / decided)
        else:
            assert pd.isna(row["within_deadline_pct"]), service
        assert row["deadline_h"] == vocab.REFERRAL_DEADLINE_HOURS[service]


def own_facilities(raw, url: str, start, until) -> pd.DataFrame:
    """Each report holds until the next (by time, then id) or `until`, clipped to the window."""
    start, until = pd.Timestamp(start), pd.Timestamp(until)
    fac = times(frame(raw, url, "SELECT f.id, f.name, f.capacity, f.confidential, f.confirmed_at, "
                                "f.area_pcode, a.name AS area FROM facilities f LEFT JOIN areas a "
                                "ON a.pcode = f.area_pcode WHERE f.scenario_id = 2"),
                "confirmed_at")
    occ = times(frame(raw, url, "SELECT id, facility_id, at, occupants FROM facility_occupancy"),
                "at")
    rows = []
    for f in fac.itertuples():
        reps = occ[(occ["facility_id"] == f.id) & (occ["at"] <= until)].sort_values(["at", "id"])
        ends = list(reps["at"].iloc[1:]) + [until]
        over = gap = 0.0
        peak = None
        for (at, n), e in zip(zip(reps["at"], reps["occupants"], strict=True), ends,
                              strict=True):
            s = max(at, start)
            if e > s:
                held = (e - s).total_seconds() / 3600
                peak = int(n) if peak is None else max(peak, int(n))
                gap = max(gap, held)
                if n >= f.capacity > 0:
                    over += held
        above = int(((reps["at"] >= start) & (reps["occupants"] > f.capacity)).sum())
        seen = [t for t in [reps["at"].max() if len(reps) else None,
                            f.confirmed_at if f.confirmed_at <= until else None]
                if t is not None and not pd.isna(t)]
        since = (until - max(seen)).total_seconds() / 3600 if seen else None
        fresh = ("overdue" if since is None else "fresh" if since < 24
                 else "due" if since < 48 else "overdue")
        rows.append({"name": f.name, "area": f.area, "pcode": f.area_pcode,
                     "confidential": bool(f.confidential), "over": over,
                     "gap": gap if peak is not None else (until - start).total_seconds() / 3600,
                     "above": above, "confirmation": fresh, "peak": peak})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("moment", ["end", "middle"])
def test_facility_hours_over_capacity_and_stale_reports(drill_url, raw, moment):
    start, end = own_window(raw, drill_url)
    until = end if moment == "end" else start + timedelta(hours=30)
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, until)
    mine = own_facilities(raw, drill_url, start, until)
    listed = mine[~mine["confidential"]].set_index("name")
    assert listed.index.is_unique
    table = got.facilities.set_index("facility")
    assert set(table.index) == set(listed.index)  # confidential ones never listed
    for name, row in listed.iterrows():
        assert table.loc[name, "hours_at_or_over_capacity"] == pytest.approx(row.over, abs=0.06)
        assert table.loc[name, "longest_gap_h"] == pytest.approx(row.gap, abs=0.06)
        assert table.loc[name, "reports_above_capacity"] == row.above
        assert table.loc[name, "confirmation"] == row.confirmation
        assert (table.loc[name, "area"], table.loc[name, "pcode"]) == (row.area, row.pcode)
        # occupancy is reported by facilities: the coordinator's peak is exact, small or not
        peak = table.loc[name, "peak_occupants"]
        assert (pd.isna(peak) if pd.isna(row.peak) else peak == str(int(row.peak))), name
    totals = got.facility_totals
    assert totals["reports_above_capacity"] == mine["above"].sum() >= 1  # the one we wrote
    assert totals["at_or_over"] == (mine["over"] > 0).sum() >= 1
    assert totals["stale"] == (mine["confirmation"] != "fresh").sum()
    assert totals["over_hours"] == pytest.approx(mine["over"].sum(), abs=0.06)


def test_a_liaison_sees_no_exact_peak_of_one_to_four(drill_url, raw):
    """The rule of the Shelters page: a liaison, who sees its nationals person by person,
    is shown "<5" for a facility whose peak is 1 to 4 people, every other peak exact."""
    start, end = own_window(raw, drill_url)
    liaison = Viewer("l", "consular", EXERCISE, ("ETH",))
    got = review.review(opened(drill_url), liaison, RUN, start, end)
    mine = own_facilities(raw, drill_url, start, end)
    listed = mine[~mine["confidential"]].set_index("name")
    table = got.facilities.set_index("facility")
    for name, row in listed.iterrows():
        peak = table.loc[name, "peak_occupants"]
        if pd.isna(row.peak):
            assert pd.isna(peak), name
        else:
            assert peak == (LESS_THAN_5 if 1 <= row.peak <= 4 else str(int(row.peak))), name


def own_responses(raw, url: str) -> dict[str, pd.Series]:
    """The times of each response, indexed by the id of the row counted: valid persons'
    registrations, valid referrals' first acceptance, cases' first departure."""
    persons = times(frame(raw, url, "SELECT id, registered_at, status FROM persons "
                                    "WHERE scenario_id = 2"), "registered_at")
    persons = persons[persons["status"].isin(list(vocab.PERSON_STATUSES))]
    _, events = own_acceptances(raw, url)
    acc = events[events["status"] == "accepted"].groupby("referral_id")["at"].min()
    dep = times(frame(raw, url,
                      "SELECT c.id, MIN(e.at) AS at FROM evacuation_cases c "
                      "JOIN evacuation_events e ON e.case_id = c.id JOIN persons p "
                      "ON p.id = c.person_id WHERE c.scenario_id = 2 AND e.stage = 'departed' "
                      "GROUP BY c.id"), "at")
    return {"registered": persons.set_index("id")["registered_at"], "accepted": acc,
            "departed": dep.set_index("id")["at"]}


def responding(at: pd.Series, lo, hi, until) -> list:
    """The ids of the rows with a time in [lo, hi) and by `until`."""
    return list(at.index[(at >= lo) & (at < hi) & (at <= until)])


def cumulative(at: pd.Series, start, hour, until) -> list:
    """The ids of the rows from `start` to the end of `hour` (and by `until`)."""
    return list(at.index[(at >= pd.Timestamp(start)) & (at <= until)
                         & (at < hour + timedelta(hours=1))])


@pytest.mark.parametrize("moment", ["end", "middle"])
def test_inject_timeline_with_the_response_in_the_hour_after(drill_url, raw, view, moment):
    start, end = own_window(raw, drill_url)
    until = pd.Timestamp(end if moment == "end" else start + timedelta(hours=30))
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, until.to_pydatetime())
    injects = times(frame(raw, drill_url, "SELECT seq, at FROM drill_injects WHERE run_id = :r",
                          r=RUN), "at")
    injects = injects[injects["at"] <= until].sort_values("at")
    assert list(got.injects["seq"]) == list(injects["seq"])
    assert len(injects) == (4 if moment == "end" else 3)

    responses = own_responses(raw, drill_url)
    for inject, row in zip(injects.itertuples(), got.injects.itertuples(), strict=True):
        lo, hi = inject.at, min(inject.at + timedelta(hours=1), until + timedelta(seconds=1))
        assert (row.registered, row.accepted, row.departed) == tuple(
            cell(responding(responses[name], lo, hi, until), view)
            for name in ("registered", "accepted", "departed")), inject.seq

    # the response series: cumulative since the start, hour by hour, every point drawn
    assert list(got.series["hour"]) == list(pd.date_range(pd.Timestamp(start).floor("h"),
                                                          until.floor("h"), freq="h"))
    for name, at in responses.items():
        for hour, value in zip(got.series["hour"], got.series[name], strict=True):
            assert value == shown(cumulative(at, start, hour, until), view), (name, hour)

def test_a_live_scenario_is_refused(drill_url):
    with pytest.raises(review.NotExercise):
        review.review(opened(drill_url), Viewer("c", "coordinator", LIVE), None,
                      datetime(2026, 10, 26), datetime(2026, 11, 1))
    with pytest.raises(review.NotExercise):
        review.runs(opened(drill_url), LIVE)


# --- the page -------------------------------------------------------------------------------

def test_drill_page_shows_the_review_of_the_exercise(app_db, raw):
    at = open_page(app_db, "drill", "coordinator", scenario=EXERCISE)
    assert not at.exception
    assert "EXERCISE" in texts(at) and "NOT LIVE DATA" in texts(at)
    start, end = own_window(raw, app_db)
    assert metric(at, "Injects") == "4"
    mine = own_departures(raw, app_db, start, end)
    departures = expected(mine.index)  # the coordinator sees counts rounded
    assert metric(at, "Departures") == (departures if departures == LESS_THAN_5
                                        else f"{departures:,}")
    assert metric(at, "Median hours") == (
        "—" if departures == LESS_THAN_5 else f"{nearest_rank(mine.hours, 0.5):,.0f}")
    assert ROUNDING in texts(at)
    assert len(drawn_charts(at)) >= 2
    injects = at.dataframe[0].value
    assert list(injects["seq"]) == [1, 2, 3, 4]
    # the timeline: a dotted line at each inject, a solid one at the replay moment (the end)
    timeline = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                    if json.loads(c.proto.spec)["layout"].get("shapes"))
    lines = timeline["layout"]["shapes"]
    dotted = sorted(pd.Timestamp(s["x0"]) for s in lines if s["line"].get("dash") == "dot")
    own = times(frame(raw, app_db, "SELECT at FROM drill_injects WHERE run_id = :r", r=RUN),
                "at")
    assert dotted == sorted(own["at"])
    assert all(s["x0"] == s["x1"] and s["yref"] == "y domain" for s in lines)
    solid = [s for s in lines if "dash" not in s["line"]]
    assert len(solid) == 1 and pd.Timestamp(solid[0]["x0"]) >= max(dotted)


def test_drill_page_refuses_a_live_scenario(app_db):
    at = open_page(app_db, "drill", "coordinator", scenario=LIVE)
    assert not at.exception
    assert "The Drill page reviews exercise scenarios; pick one in the sidebar" in texts(at)
    assert not shown_tables(at) and not at.metric and not drawn_charts(at)
    assert not at.get("download_button")


@pytest.mark.parametrize("role", ["committee", "consular", "admin"])
def test_drill_page_is_for_coordinators_only(app_db, role):
    at = open_page(app_db, "drill", role, ["ETH"] if role == "consular" else None,
                   scenario=EXERCISE)
    assert "cannot open this page" in texts(at)
    assert not shown_tables(at)


def test_replay_recomputes_the_review_up_to_the_chosen_moment(app_db, raw):
    at = open_page(app_db, "drill", "coordinator", scenario=EXERCISE)
    start, _ = own_window(raw, app_db)
    moment = pd.Timestamp(start).floor("h").to_pydatetime() + timedelta(hours=7)
    at.slider(key="drill-moment").set_value(moment).run()
    assert not at.exception
    assert metric(at, "Injects") == "2"  # injects at +0 h and +6 h
    assert list(at.dataframe[0].value["seq"]) == [1, 2]
    at.button(key="drill-forward").click().run()  # step forward: 6 hours by default, long drill
    assert not at.exception
    assert at.slider(key="drill-moment").value == moment + timedelta(hours=6)




def test_exports_carry_the_exercise_marking_and_exactly_the_rows_shown(app_db, downloads):
    at = open_page(app_db, "drill", "coordinator", scenario=EXERCISE)
    assert not at.exception
    files = served_files(downloads)
    stems = ("drill-injects", "drill-time-to-evacuation", "drill-referrals", "drill-facilities")
    assert set(files) == {f"EXERCISE-{s}.{kind}" for s in stems for kind in ("csv", "xlsx")}
    shown = {s: t.value for s, t in zip(stems, at.dataframe, strict=True)}
    for name, file in files.items():
        assert file.marking.startswith("# EXERCISE") and "NOT LIVE DATA" in file.marking
        table = shown[name.removeprefix("EXERCISE-").rsplit(".", 1)[0]]
        assert len(file.rows) == len(table), name
    # the inject timeline keeps each inject's code beside the label the screen shows
    injects = files["EXERCISE-drill-injects.csv"]
    kinds = [row[injects.headings.index("Kind (code)")] for row in injects.rows]
    assert [row[injects.headings.index("Kind")] for row in injects.rows] == list(
        shown["drill-injects"]["kind"])
    assert set(kinds) <= set(labels.DRILL_INJECT_KIND)


def test_drill_page_with_no_drill_played_reviews_the_history(dirty_sqlite_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", dirty_sqlite_url)
    at = open_page(dirty_sqlite_url, "drill", "coordinator", scenario=EXERCISE)
    assert not at.exception
    assert "No drill has been played into this exercise yet" in texts(at)
    assert metric(at, "Injects") == "0"
    assert at.dataframe  # the review tables are there


def test_nearest_rank_and_histogram_rank():
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    assert review.nearest_rank(values, 0.5) == 3.0
    assert review.nearest_rank(values, 0.9) == 10.0
    assert review.histogram_rank(np.array([3, 1, 10]), np.array([1, 2, 2]), 0.5) == 3.5
    assert math.isclose(review.histogram_rank(np.array([0]), np.array([4]), 0.9), 0.5)
