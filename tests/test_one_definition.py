"""One definition per figure: every headline figure that two pages show is the same
number on both at the same moment, and is what the test's own SQL says it is."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import vocab
from dashboard.figures import people, tallies
from dashboard.figures.evacuation import evacuation
from dashboard.figures.overview import overview
from dashboard.figures.referrals import referrals
from dashboard.figures.shelters import shelters
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.disclosure import expected, expected_parts

LATEST_REPORT = """
    SELECT f.id, f.capacity, f.status, f.confidential, f.area_pcode, o.occupants
    FROM facilities f JOIN facility_occupancy o ON o.facility_id = f.id
    WHERE f.scenario_id = :s AND o.id = (
        SELECT o2.id FROM facility_occupancy o2 WHERE o2.facility_id = f.id AND o2.at <= :at
        ORDER BY o2.at DESC, o2.id DESC LIMIT 1)
"""


def own_place_figures(raw, url: str, scenario_id: int, at) -> dict[str, int]:
    """Places, occupants and free places over facilities in use (open or full) with a
    valid latest report by `at`; a confidential place counts only where its district
    holds another (docs/design.md §2.5)."""
    with raw(url).connect() as conn:
        rows = pd.DataFrame(conn.execute(text(LATEST_REPORT), {"s": scenario_id, "at": at})
                            .mappings().all())
    rows = rows[(rows.occupants >= 0) & (rows.occupants <= rows.capacity) & (rows.capacity > 0)]
    confidential = rows.confidential.astype(bool)
    pooled = confidential.groupby(rows.area_pcode.fillna("")).transform("sum") >= 2
    rows = rows[(~confidential | pooled) & rows.status.isin(["open", "full"])]
    places, occupants = int(rows.capacity.sum()), int(rows.occupants.sum())
    return {"places": places, "occupants": occupants, "free": places - occupants}


def latest(raw, url: str, scenario_id: int):
    with raw(url).connect() as conn:
        value = conn.execute(text("SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
                             {"s": scenario_id}).scalar()
    return pd.Timestamp(value).to_pydatetime()


@pytest.mark.parametrize("viewer", [Viewer("c", "committee", 1), Viewer("k", "coordinator", 1),
                                    Viewer("c", "committee", 2)],
                         ids=["committee", "coordinator", "exercise"])
@pytest.mark.parametrize("days_back", [0, 4])
def test_place_figures_are_one_definition_on_every_page(db_url, raw, viewer, days_back):
    """The committee once read Free places 4,061 on the Overview and 4,596 on Shelters
    at the same moment: two definitions. Both pages now count the same facilities."""
    moment = latest(raw, db_url, viewer.scenario_id) - timedelta(days=days_back)
    front = overview(opened(db_url), viewer, moment)
    if days_back:
        moment = front.as_of  # an earlier moment is taken to the quarter hour
    page = shelters(opened(db_url), viewer, moment)
    own = own_place_figures(raw, db_url, viewer.scenario_id, moment)
    assert front.figure("free_places").value == page.headline["Free places"] == own["free"]
    assert (front.figure("occupants").value == page.headline["Reported occupants"]
            == own["occupants"])
    assert page.headline["Places"] == own["places"]


def test_registered_sheltered_and_reported_occupants_are_named_for_what_they_are(db_url, raw):
    """People registered as sheltered and occupants reported by facilities are two
    sources: both shown, side by side, each named for what it is and the gap explained."""
    viewer = Viewer("c", "committee", 1)
    data = overview(opened(db_url), viewer, latest(raw, db_url, 1))
    sheltered, occupants = data.figure("sheltered"), data.figure("occupants")
    assert sheltered.label == "Registered sheltered"
    assert occupants.label == "Reported occupants"
    keys = [f.key for f in data.figures]
    assert keys.index("occupants") == keys.index("sheltered") + 1
    assert "report" in sheltered.help and "registration" in sheltered.help
    with raw(db_url).connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM persons WHERE scenario_id = 1 AND status = 'sheltered'"))]
    assert sheltered.value == expected(ids)
    by_status = dict(zip(data.by_status.status, data.by_status.persons, strict=True))
    assert by_status["sheltered"] == str(sheltered.value)


# --- persons, referrals and evacuation cases -------------------------------------------------
#
# The headline figures counted from persons, referrals and evacuation cases, each with the
# test's own SQL as docs/data-contract.md defines it: a row as its history stood at the
# moment (its latest event by then: latest `at`, then highest id), contract breaks left
# out as the Data quality page counts them, a liaison's scope as docs/design.md §2.2 and
# §2.3 say. What a role is shown is then the oracle's (tests/disclosure.py): exact for a
# liaison, rounded for everyone else.

VIEWERS = [Viewer("c", "committee", 1), Viewer("k", "coordinator", 1),
           Viewer("l", "consular", 1, ("ETH",)), Viewer("c", "committee", 2),
           Viewer("k", "coordinator", 2), Viewer("l", "consular", 2, ("ETH",))]
VIEWER_IDS = [f"{v.role}{v.scenario_id}" for v in VIEWERS]
# The latest data; four days back with the history tallies found (as the server has
# them a minute after it starts); four days back before they are found, when the
# Overview reads its earlier moment from the tables instead.
MOMENTS = ["latest", "earlier", "earlier-from-tables"]
GONE = vocab.EVACUATION_PATH[vocab.EVACUATION_PATH.index("departed"):]

PERSONS_THEN = """
    SELECT p.id, p.nationality, p.second_nationality, p.consent_consular,
           p.protection_confidential, p.status AS status_now,
           CASE WHEN p.registered_at <= :at THEN 1 ELSE 0 END AS registered,
           (SELECT e.status FROM person_events e WHERE e.person_id = p.id AND e.at <= :at
            ORDER BY e.at DESC, e.id DESC LIMIT 1) AS status_then
    FROM persons p WHERE p.scenario_id = :s
"""
REFERRALS_THEN = """
    SELECT r.id, r.service, r.status AS status_now, p.id AS person,
           CASE WHEN r.closed_at IS NULL THEN 0 ELSE 1 END AS has_end,
           p.nationality, p.second_nationality, p.consent_consular, p.protection_confidential,
           CASE WHEN r.created_at <= :at THEN 1 ELSE 0 END AS sent,
           CASE WHEN r.due_at < :at THEN 1 ELSE 0 END AS past_due,
           (SELECT x.status FROM referral_events x WHERE x.referral_id = r.id AND x.at <= :at
            ORDER BY x.at DESC, x.id DESC LIMIT 1) AS status_then
    FROM referrals r LEFT JOIN persons p ON p.id = r.person_id WHERE r.scenario_id = :s
"""
CASES_THEN = """
    SELECT c.id, c.stage AS stage_now, p.id AS person,
           p.nationality, p.second_nationality, p.consent_consular, p.protection_confidential,
           (SELECT e.stage FROM evacuation_events e WHERE e.case_id = c.id AND e.at <= :at
            ORDER BY e.at DESC, e.id DESC LIMIT 1) AS stage_then
    FROM evacuation_cases c LEFT JOIN persons p ON p.id = c.person_id WHERE c.scenario_id = :s
"""
PATH_EVENTS = """
    SELECT e.case_id, e.stage FROM evacuation_events e
    JOIN evacuation_cases c ON c.id = e.case_id WHERE c.scenario_id = :s
    ORDER BY e.case_id, e.at, e.id
"""


def rows_then(raw, url: str, statement: str, scenario_id: int, at) -> pd.DataFrame:
    with raw(url).connect() as conn:
        result = conn.execute(text(statement), {"s": scenario_id, "at": at})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def in_scope(rows: pd.DataFrame, viewer: Viewer) -> pd.Series:
    """Everyone for the roles that see counts; for a liaison, its own nationals by either
    nationality who consented and are not protected (docs/design.md §2.2)."""
    if viewer.role != "consular":
        return pd.Series(True, index=rows.index)
    own = (rows.nationality.isin(viewer.nationalities)
           | rows.second_nationality.isin(viewer.nationalities))
    return (own & rows.consent_consular.fillna(False).astype(bool)
            & ~rows.protection_confidential.fillna(True).astype(bool))


def services_of(viewer: Viewer) -> list[str]:
    """The referral services a viewer's figures count: a liaison only the consular-type
    ones (docs/design.md §2.3), in the vocabulary's order as the pages list them."""
    return list(vocab.CONSULAR_SERVICES if viewer.role == "consular"
                else vocab.REFERRAL_SERVICES)


def show(viewer: Viewer, ids) -> int | str:
    """What `viewer` must be shown for these rows (docs/design.md §2.4)."""
    ids = list(ids)
    return len(ids) if viewer.role == "consular" else expected(ids)


def show_part(viewer: Viewer, ids, total_ids) -> int | str:
    """What `viewer` must be shown for these rows, a part of `total_ids`."""
    if viewer.role == "consular":
        return len(list(ids))
    return expected_parts({"part": expected(list(ids))}, expected(list(total_ids)))["part"]


def own_person_figures(raw, url: str, viewer: Viewer, at) -> dict[str, list[int]]:
    """Registered: persons of the scope registered by `at`. Missing: those of them whose
    status then was missing. A person whose current status is outside the vocabulary
    is left out of every person count."""
    rows = rows_then(raw, url, PERSONS_THEN, viewer.scenario_id, at)
    rows = rows[rows.status_now.isin(list(vocab.PERSON_STATUSES)) & in_scope(rows, viewer)
                & (rows.registered == 1)]
    return {"registered": list(rows.id), "missing": list(rows.id[rows.status_then == "missing"])}


def own_referral_figures(raw, url: str, viewer: Viewer, at) -> dict[str, list[int]]:
    """Open: sent by `at` and its status then (its latest event by then, else open) not
    closed, rejected or revoked. Overdue: open, still awaiting acceptance then, and past
    its deadline. Valid referrals only (a known service and status, a person that
    exists, an end time exactly when the status says it ended); a liaison counts only
    its nationals' consular-type services (§2.3)."""
    rows = rows_then(raw, url, REFERRALS_THEN, viewer.scenario_id, at)
    rows = rows[rows.service.isin(list(vocab.REFERRAL_SERVICES))
                & rows.status_now.isin(list(vocab.REFERRAL_STATUSES)) & rows.person.notna()
                & (rows.status_now.isin(list(vocab.REFERRAL_ENDED)) == (rows.has_end == 1))
                & rows.service.isin(services_of(viewer)) & in_scope(rows, viewer)]
    status = rows.status_then.fillna("open")
    open_ = rows[(rows.sent == 1) & ~status.isin(list(vocab.REFERRAL_ENDED))]
    overdue = open_[(open_.status_then.fillna("open") == "open") & (open_.past_due == 1)]
    return {"open": list(open_.id), "overdue": list(overdue.id)}


def backward_cases(raw, url: str, scenario_id: int) -> set[int]:
    """Cases whose history steps back along the evacuation path (a branch is no step)."""
    events = rows_then(raw, url, PATH_EVENTS, scenario_id, None)
    events = events[events.stage.isin(list(vocab.EVACUATION_PATH))]
    rank = events.stage.map({s: i for i, s in enumerate(vocab.EVACUATION_PATH)})
    back = rank.groupby(events.case_id).diff() < 0
    return set(events.case_id[back])


def own_case_figures(raw, url: str, viewer: Viewer, at) -> dict[str, list[int]]:
    """Evacuated: cases whose stage at `at` (their latest event by then) is departed or
    beyond on the path; and the cases at each stage then. Valid cases only (a known
    stage, a person that exists, no step back along the path)."""
    rows = rows_then(raw, url, CASES_THEN, viewer.scenario_id, at)
    rows = rows[rows.stage_now.isin(list(vocab.ALL_EVACUATION_STAGES)) & rows.person.notna()
                & ~rows.id.isin(backward_cases(raw, url, viewer.scenario_id))
                & in_scope(rows, viewer)]
    figures = {"evacuated": list(rows.id[rows.stage_then.isin(list(GONE))])}
    for stage in vocab.ALL_EVACUATION_STAGES:
        figures[stage] = list(rows.id[rows.stage_then == stage])
    return figures


def overview_at(db_url, raw, viewer: Viewer, moment_kind: str, monkeypatch):
    """The Overview at the moment asked for, and that moment (an earlier one is taken to
    the quarter hour). The history tallies are found first, as the server does at
    startup; "earlier-from-tables" hides them from the Overview alone."""
    tallies.find_history(opened(db_url), viewer.scenario_id)
    moment = latest(raw, db_url, viewer.scenario_id)
    if moment_kind == "latest":
        return overview(opened(db_url), viewer, moment), moment
    with monkeypatch.context() as patch:
        if moment_kind == "earlier-from-tables":
            patch.setattr(tallies, "history", lambda *args: None)
        front = overview(opened(db_url), viewer, moment - timedelta(days=4))
    assert front.as_of < moment
    return front, front.as_of


@pytest.mark.parametrize("viewer", VIEWERS, ids=VIEWER_IDS)
@pytest.mark.parametrize("moment_kind", MOMENTS)
def test_referral_figures_are_one_definition_on_every_page(db_url, raw, viewer, moment_kind,
                                                           monkeypatch):
    """Open referrals and Overdue referrals: the Overview's tiles and the Referrals page's
    totals (and the coordinator's queue total) are the same shown number, that of the
    referrals open (and overdue) at the moment; and overdue by service, which both
    pages chart, is the same on both."""
    front, moment = overview_at(db_url, raw, viewer, moment_kind, monkeypatch)
    page = referrals(opened(db_url), viewer, moment)
    own = own_referral_figures(raw, db_url, viewer, moment)
    assert own["open"]
    assert (front.figure("open_referrals").value == page.open_total == page.queue_total
            == show(viewer, own["open"]))
    assert (front.figure("overdue_referrals").value == page.overdue_total
            == show(viewer, own["overdue"]))
    # and by service, as both pages chart it ("Overdue referrals by service")
    services = rows_then(raw, db_url, "SELECT id, service FROM referrals WHERE scenario_id = :s",
                         viewer.scenario_id, None)
    overdue = pd.DataFrame({"id": own["overdue"]}).merge(services, on="id")
    open_ = pd.DataFrame({"id": own["open"]}).merge(services, on="id")
    # a part of its service's open total: withheld where that total shows "<5"
    by_service = {s: str(show_part(viewer, overdue.id[overdue.service == s],
                                   open_.id[open_.service == s]))
                  for s in services_of(viewer)}
    assert (dict(zip(front.overdue_by_service.service, front.overdue_by_service.overdue,
                     strict=True))
            == {s: str(v) for s, v in zip(page.by_service.service, page.by_service.overdue,
                                          strict=True)}
            == by_service)


@pytest.mark.parametrize("viewer", VIEWERS, ids=VIEWER_IDS)
@pytest.mark.parametrize("moment_kind", MOMENTS)
def test_evacuated_is_one_definition_on_every_page(db_url, raw, viewer, moment_kind,
                                                   monkeypatch):
    """Evacuated: the Overview's tile, the Evacuation page's funnel (cases at or beyond
    departed) and the last point of its Evacuated line are the same shown number; and
    the evacuation funnel by stage, which both pages draw, is the same on both."""
    front, moment = overview_at(db_url, raw, viewer, moment_kind, monkeypatch)
    page = evacuation(opened(db_url), viewer, moment)
    assert page.as_of == moment and page.note is None
    own = own_case_figures(raw, db_url, viewer, moment)
    assert any(own[s] for s in vocab.ALL_EVACUATION_STAGES)  # a funnel to compare
    reached = dict(zip(page.reached.stage, page.reached.cases, strict=True))
    assert (front.figure("departed").value == reached["departed"]
            == page.progress.evacuated.iloc[-1] == show(viewer, own["evacuated"]))
    overview_funnel = dict(zip(front.funnel.stage, front.funnel.cases, strict=True))
    page_funnel = {s: str(v) for s, v in zip(page.stages.stage, page.stages.cases,
                                             strict=True)}
    assert (overview_funnel == page_funnel
            == {s: str(show(viewer, own[s])) for s in vocab.ALL_EVACUATION_STAGES})


@pytest.mark.parametrize("viewer", VIEWERS, ids=VIEWER_IDS)
@pytest.mark.parametrize("moment_kind", MOMENTS)
def test_registered_and_missing_are_one_definition_on_every_page(db_url, raw, viewer,
                                                                 moment_kind, monkeypatch):
    """Registered: the Overview's tile and the last point of the Evacuation page's
    Registered line, and for a liaison the My nationals tile (every visible national
    registered by the moment). Missing: the Overview's tile and, for a liaison, the
    My nationals tile. Each the same number, that of the persons then."""
    front, moment = overview_at(db_url, raw, viewer, moment_kind, monkeypatch)
    own = own_person_figures(raw, db_url, viewer, moment)
    assert own["registered"]
    registered, missing = show(viewer, own["registered"]), show(viewer, own["missing"])
    page = evacuation(opened(db_url), viewer, moment)
    assert page.as_of == moment
    assert front.figure("registered").value == page.progress.registered.iloc[-1] == registered
    assert front.figure("missing").value == missing
    if viewer.role == "consular":
        mine = people.nationals(opened(db_url), viewer, people.Filters(), moment)
        assert mine.total == registered and mine.missing == missing


def test_evacuated_counts_a_case_that_skipped_the_departed_stage(sqlite_url, raw, tmp_path):
    """A case may skip stages (docs/data-contract.md): one recorded at arrived with no
    `departed` event has left all the same, on the Overview as in the funnel."""
    import shutil
    import sqlite3

    from sqlalchemy.engine import make_url

    path = tmp_path / "skipped.sqlite"
    shutil.copy(make_url(sqlite_url).database, path)
    url = f"sqlite:///{path}"
    viewer = Viewer("l", "consular", 1, ("ETH",))
    with sqlite3.connect(path) as conn:
        case = conn.execute(
            "SELECT c.id FROM evacuation_cases c JOIN persons p ON p.id = c.person_id "
            "WHERE c.scenario_id = 1 AND c.stage IN ('arrived_transit', 'arrived_origin') "
            "AND p.nationality = 'ETH' AND p.consent_consular = 1 "
            "AND p.protection_confidential = 0 ORDER BY c.id LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM evacuation_events WHERE case_id = ? AND stage = 'departed'",
                     (case,))
    moment = latest(raw, url, 1)
    own = own_case_figures(raw, url, viewer, moment)
    assert case in own["evacuated"]
    front = overview(opened(url), viewer, moment)
    page = evacuation(opened(url), viewer, moment)
    reached = dict(zip(page.reached.stage, page.reached.cases, strict=True))
    assert (front.figure("departed").value == reached["departed"]
            == page.progress.evacuated.iloc[-1] == len(own["evacuated"]))


def test_a_referral_ended_without_an_end_time_is_left_out_of_both_pages(sqlite_url, raw,
                                                                        tmp_path):
    """The Overview counts open referrals by their times, the Referrals page by their
    statuses: a closed referral with no closed_at once made them differ (30 and 29).
    It breaks the contract, so both leave it out and Data quality counts it."""
    import shutil
    import sqlite3

    from sqlalchemy.engine import make_url

    from dashboard.figures import quality

    path = tmp_path / "unended.sqlite"
    shutil.copy(make_url(sqlite_url).database, path)
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:
        broken = conn.execute(  # one the liaison's figures would count
            "SELECT r.id FROM referrals r JOIN persons p ON p.id = r.person_id "
            "WHERE r.scenario_id = 1 AND r.status = 'closed' AND p.nationality = 'ETH' "
            "AND p.consent_consular = 1 AND p.protection_confidential = 0 "
            "AND r.service IN ('consular', 'documentation', 'evacuation', 'family_tracing') "
            "ORDER BY r.id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE referrals SET closed_at = NULL WHERE id = ?", (broken,))
    viewer = Viewer("l", "consular", 1, ("ETH",))
    moment = latest(raw, url, 1)
    own = own_referral_figures(raw, url, viewer, moment)
    front = overview(opened(url), viewer, moment)
    page = referrals(opened(url), viewer, moment)
    assert front.figure("open_referrals").value == page.open_total == len(own["open"])
    assert broken in quality.excluded_referral_ids(opened(url), 1)
    with raw(url).connect() as conn:
        invalid = conn.execute(text(
            "SELECT COUNT(*) FROM referrals WHERE scenario_id = 1 AND (closed_at IS NULL) = "
            "(status IN ('closed', 'rejected', 'revoked'))")).scalar()
    assert invalid >= 1 and quality.counts(opened(url), 1)["referral_invalid"] >= invalid
