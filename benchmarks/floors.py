"""The SQL floor of each page: the raw aggregates the database has to answer for the
figures a page shows, written here over the contract tables (docs/design.md §4), not
taken from the page's own code (the target: page time ≤ 3× its SQL floor).

    python benchmarks/floors.py --db-url sqlite:////tmp/sitroom-bench/reference-1000000-1.sqlite

`floors(viewer, database, exercise)` is the table: for every page the viewer may
open, its statements by name, one plain aggregate per figure group, grouped by
the dimensions shown. They share one set of parameters per scenario
(`scenario_params`). `time_floor` runs a page's statements, fetching every row,
and takes the median of three runs of the whole set. Every page runs on the live
scenario, but the Drill page on the exercise scenario (bench_pages.scenario_for).

What is counted, and what is not, so that the floor stays conservative (small):

- Only the figures at the latest moment (the scenario's "data as of"). The
  Overview's "change since" figures need the same aggregates at a reference
  moment; they are left out. For the Drill page the latest moment is the end of
  its replay: the review window runs from the first inject of the latest drill
  run (the page's default choice), or from the scenario's start when no drill
  has been played, to the data-as-of (or the run's last inject, if later). The
  window and the run are found with the shared parameters (`scenario_params`),
  from the statements this floor times as "runs" and "latest".
- The scope of docs/design.md §2.2 and §2.3 (dashboard.rules.access conditions): a consular
  liaison counts only its consenting, non-protected nationals by either
  nationality, and only their consular-type referrals; the other roles count the
  whole scenario.
- Contract breaks are left out by the conditions of dashboard.figures.quality. The ids of
  the evacuation cases and referrals that break the contract are found once per
  scenario (as the server does at start, timed apart there) and bound as lists;
  the Data quality page's floor is its checks' own statements, run in full.
- Suppression of small counts, pooling of confidential places and medians are
  work on a few thousand aggregated rows, not the database's: not in the floor.
  Where a figure is a median or percentile of durations (the Evacuation page's
  time in stage; the Drill page's hours from registration to departure and to
  acceptance), the floor counts the durations in whole hours per group, which
  gives it within half an hour, rather than fetching a row per case (as the
  Drill page does below 100,000 departures, and always for referrals).
- The filters of each page's default view (the Map: people still in the
  country; My nationals: no filter). Filter choices the page offers (the Map's
  nationalities and tags, My nationals' areas and facilities) are figures it
  shows, so they are in.
- The Drill page (coordinator) on an exercise scenario: the drill runs offered;
  the run's injects, each with the registrations, first referral acceptances and
  first departures in the hour after it; those three responses by the hour over
  the window (the timeline); the hours from registration to first departure by
  nationality, with the departures left out (unknown nationality or status,
  departed before registration); per service, the referrals sent in the window
  by outcome (accepted in time, late, not yet), deadline passed, open past it,
  and hours to acceptance; per facility, the hours its reports held it at or over
  capacity, its longest silence, peak, reports above capacity (counted here on
  purpose, as the page does) and last report. Staleness, the tiles and the
  totals are margins of these rows. On a live scenario the page shows only its
  "data as of" line (the after-action review is for exercise scenarios): that
  line is its floor there.
- The Audit page reads the dashboard's own audit log, not the shared database:
  its floor runs there.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from sqlalchemy import Engine, TextClause, create_engine  # noqa: E402

from dashboard import config  # noqa: E402
from dashboard.contract import vocab  # noqa: E402
from dashboard.figures import quality  # noqa: E402
from dashboard.figures.evacuation import MANIFEST  # noqa: E402
from dashboard.figures.geo import GRID_STEP, IN_COUNTRY, POINT_CAP, grid_columns  # noqa: E402
from dashboard.figures.people import ROW_LIMIT  # noqa: E402
from dashboard.figures.referrals import AGES, QUEUE_LIMIT  # noqa: E402
from dashboard.figures.shelters import TREND_DAYS  # noqa: E402
from dashboard.rules import access  # noqa: E402
from dashboard.rules.access import Viewer  # noqa: E402
from dashboard.store import db  # noqa: E402
from dashboard.store.db import Database  # noqa: E402

RUNS = 3
AUDIT_DAYS = 7  # the Audit page's default date range
AUDIT_LIMIT = 5000

LATEST = "SELECT MAX(updated_at) AS at FROM persons WHERE scenario_id = :scenario"
# the drill runs played into a scenario, latest first (the Drill page's default choice)
DRILL_RUNS = ("SELECT run_id, MIN(at) AS first_at, MAX(at) AS last_at, COUNT(*) AS injects, "
              "SUM(CASE WHEN status = :v_skipped THEN 1 ELSE 0 END) AS skipped "
              "FROM drill_injects WHERE scenario_id = :scenario GROUP BY run_id "
              "ORDER BY MIN(at) DESC, run_id")


@dataclass(frozen=True)
class Only:
    """A statement the page runs only when `test` holds on the rows found before it."""

    sql: str
    test: Callable[[dict[str, list]], bool]


Statement = str | Only


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"  # our own vocabulary, not input


def _an_hour_after(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"({column} + INTERVAL '1 hour')"
    return f"datetime({column}, '+1 hours')"


def _points_drawn(found: dict[str, list]) -> bool:
    """The Map draws a liaison's nationals as points up to POINT_CAP of them."""
    return sum(r.n for r in found["cells"] if r.placed and not r.conf) <= POINT_CAP


def floors(viewer: Viewer, database: Database, exercise: bool = False
           ) -> dict[str, dict[str, Statement]]:
    """Page -> statement name -> SQL, for the pages `viewer` may open on its scenario,
    an exercise scenario if `exercise` (the Drill page reviews only those), in the
    SQL of `database`'s dialect (the Database's own helpers for times and the grid:
    forms of an expression, not the aggregates). Vocabulary values are named as the
    dashboard names them (`:v_...`, bound by `_bound`)."""
    dialect = database.dialect
    consular = access.sees_person_level(viewer.role)
    persons, _ = access.person_scope(viewer, "p", dialect)
    persons = f"{persons} AND {quality.valid_person_status('p')}"
    cases = "c.scenario_id = :scenario AND c.id NOT IN :excluded_cases"
    referrals = ("r.scenario_id = :scenario AND r.id NOT IN :excluded_referrals "
                 "AND r.service IN :services")
    if consular:
        visible, _ = access.visible_persons_sql(viewer, dialect)
        cases += f" AND c.person_id IN ({visible})"
        referrals += f" AND r.person_id IN ({visible})"
    active = f"{referrals} AND r.status IN :active"
    placed = f"CASE WHEN {quality.valid_person_coordinates()} THEN 1 ELSE 0 END"
    # at or on a confidential place: never drawn, counted in district totals only (§2.5)
    at_confidential = (
        "CASE WHEN p.facility_id IN (SELECT id FROM facilities WHERE scenario_id = :scenario "
        "AND confidential = :yes) OR (p.lat, p.lon) IN (SELECT lat, lon FROM facilities "
        "WHERE scenario_id = :scenario AND confidential = :yes) THEN 1 ELSE 0 END")
    in_country = f"{persons} AND p.status IN :in_country"

    def reported(by: str = "") -> str:
        """Each facility with its latest report (latest time, then highest id), by the
        moment `by` names if any: one index seek per facility, not a pass over reports."""
        when = f"AND o.at <= {by} " if by else ""
        return ("(SELECT f.*, (SELECT o.id FROM facility_occupancy o WHERE o.facility_id = f.id "
                f"{when}ORDER BY o.at DESC, o.id DESC LIMIT 1) AS report_id FROM facilities f "
                "WHERE f.scenario_id = :scenario) f "
                "LEFT JOIN facility_occupancy lo ON lo.id = f.report_id")

    day_k = "CASE " + " ".join(f"WHEN o.at > :day{k + 1} THEN {k}" for k in range(TREND_DAYS)) \
        + f" ELSE {TREND_DAYS} END"
    age = "CASE " + " ".join(f"WHEN r.created_at <= :age{i} THEN {i}"
                             for i in reversed(range(1, len(AGES)))) + " ELSE 0 END"
    manifest = ", ".join(f"SUM(CASE WHEN c.stage IN {_in(stages)} THEN 1 ELSE 0 END) AS {part}"
                         for part, stages in MANIFEST.items())
    missing_first = "CASE WHEN p.status = :v_missing THEN 0 ELSE 1 END, p.full_name, p.ref"

    # The Drill page's review window, :drill_start to :drill_until, and the drill run it
    # shows, :drill_run (scenario_params). Each referral's first acceptance and each
    # case's first departure by the end of the window: the response to the injects.
    def in_window(column: str) -> str:
        return f"{column} >= :drill_start AND {column} <= :drill_until"

    def hour_after(column: str) -> str:
        """In the hour after the inject, and by the end of the window."""
        return (f"{column} >= i.at AND {column} < {_an_hour_after(dialect, 'i.at')} "
                f"AND {column} <= :drill_until")

    accepted = ("SELECT x.referral_id, MIN(x.at) AS at FROM referral_events x "
                "WHERE x.status = :v_accepted AND x.at <= :drill_until AND x.referral_id IN "
                f"(SELECT r.id FROM referrals r WHERE {referrals}) GROUP BY x.referral_id")
    departed = ("SELECT e.case_id, MIN(e.at) AS at FROM evacuation_events e "
                "WHERE e.stage = :v_departed AND e.at <= :drill_until AND e.case_id IN "
                f"(SELECT c.id FROM evacuation_cases c WHERE {cases}) GROUP BY e.case_id")
    departure_counted = (f"{quality.valid_person_nationality()} "
                         f"AND {quality.valid_person_status()} AND d.at >= p.registered_at")
    # an occupancy report holds from its time (or the window's start) to the next report
    # (or the window's end)
    held = database.seconds_between("h.held_from", "h.held_to")
    drill = {
        "latest": LATEST,
        "runs": DRILL_RUNS,
        # the run's injects with the response in the hour after each; the responses are
        # found once, not once per inject
        "injects": f"WITH acc AS MATERIALIZED ({accepted}), dep AS MATERIALIZED ({departed}) "
                   "SELECT i.seq, i.at, i.name, i.kind, i.status, i.detail, "
                   f"(SELECT COUNT(*) FROM persons p WHERE {persons} "
                   f"AND {hour_after('p.registered_at')}) AS registered, "
                   f"(SELECT COUNT(*) FROM acc WHERE {hour_after('acc.at')}) AS accepted, "
                   f"(SELECT COUNT(*) FROM dep WHERE {hour_after('dep.at')}) AS departed "
                   "FROM drill_injects i WHERE i.scenario_id = :scenario "
                   "AND i.run_id = :drill_run AND i.at <= :drill_until ORDER BY i.at, i.seq",
        # the timeline's three response lines, cumulated from these hourly counts
        "registered_by_hour": f"SELECT {database.hour_of('p.registered_at')} AS hour, "
                              f"COUNT(*) AS n FROM persons p WHERE {persons} "
                              f"AND {in_window('p.registered_at')} GROUP BY 1",
        "accepted_by_hour": f"SELECT {database.hour_of('a.at')} AS hour, COUNT(*) AS n "
                            f"FROM ({accepted}) a WHERE {in_window('a.at')} GROUP BY 1",
        "departed_by_hour": f"SELECT {database.hour_of('d.at')} AS hour, COUNT(*) AS n "
                            f"FROM ({departed}) d WHERE {in_window('d.at')} GROUP BY 1",
        # whole hours from registration to first departure by nationality, over the
        # cases that departed in the window; the departures left out (unknown
        # nationality or status, departed before registration) are the row of NULLs
        "time_to_departure": "SELECT CASE WHEN t.counted = 1 THEN t.nationality END "
                             "AS nationality, CASE WHEN t.counted = 1 THEN t.country END "
                             "AS country, CASE WHEN t.counted = 1 THEN t.h END AS h, "
                             "COUNT(*) AS n FROM (SELECT p.nationality, k.name AS country, "
                             f"{database.hours_floor('p.registered_at', 'd.at')} AS h, "
                             f"CASE WHEN {departure_counted} THEN 1 ELSE 0 END AS counted "
                             f"FROM ({departed}) d JOIN evacuation_cases c ON c.id = d.case_id "
                             "JOIN persons p ON p.id = c.person_id "
                             "LEFT JOIN countries k ON k.iso3 = p.nationality "
                             f"WHERE {in_window('d.at')}) t GROUP BY 1, 2, 3",
        # per service, over the referrals sent in the window: accepted in time, late or
        # not (yet), deadline passed, still open past it, and whole hours to acceptance
        "time_to_acceptance": "SELECT r.service, CASE WHEN a.at IS NULL THEN 'not_accepted' "
                              "WHEN a.at <= r.due_at THEN 'in_time' ELSE 'late' END AS outcome, "
                              "CASE WHEN r.due_at <= :drill_until THEN 1 ELSE 0 END AS due_passed, "
                              "CASE WHEN r.due_at < :drill_until AND (r.closed_at IS NULL "
                              "OR r.closed_at > :drill_until) AND NOT EXISTS (SELECT 1 FROM "
                              "referral_events x WHERE x.referral_id = r.id "
                              "AND x.at <= :drill_until AND x.status <> :v_open) THEN 1 ELSE 0 END "
                              "AS open_past_deadline, "
                              f"{database.hours_floor('r.created_at', 'a.at')} AS h, COUNT(*) AS n "
                              f"FROM referrals r LEFT JOIN ({accepted}) a "
                              f"ON a.referral_id = r.id WHERE {referrals} "
                              f"AND {in_window('r.created_at')} GROUP BY 1, 2, 3, 4, 5",
        # per facility: hours held at or over capacity, longest time without a new report,
        # peak occupants held, reports above capacity sent in the window, last report
        "facilities": "SELECT f.id, f.name, f.kind, f.status, f.capacity, f.confidential, "
                      "f.confirmed_at, MAX(h.at) AS last_report, "
                      "SUM(CASE WHEN h.held_to > h.held_from AND h.occupants >= f.capacity "
                      f"THEN {held} ELSE 0 END) AS over_s, "
                      f"MAX(CASE WHEN h.held_to > h.held_from THEN {held} END) AS gap_s, "
                      "MAX(CASE WHEN h.held_to > h.held_from THEN h.occupants END) AS peak, "
                      "SUM(CASE WHEN h.at >= :drill_start AND h.occupants > f.capacity "
                      "THEN 1 ELSE 0 END) AS above "
                      "FROM facilities f LEFT JOIN (SELECT o.facility_id, o.at, o.occupants, "
                      f"{database.later('o.at', ':drill_start')} AS held_from, "
                      "COALESCE(LEAD(o.at) OVER (PARTITION BY o.facility_id "
                      "ORDER BY o.at, o.id), :drill_until) AS held_to "
                      "FROM facility_occupancy o WHERE o.at <= :drill_until "
                      "AND o.facility_id IN (SELECT id FROM facilities "
                      "WHERE scenario_id = :scenario)) h ON h.facility_id = f.id "
                      "WHERE f.scenario_id = :scenario GROUP BY f.id, f.name, f.kind, "
                      "f.status, f.capacity, f.confidential, f.confirmed_at",
    }

    table: dict[str, dict[str, Statement]] = {
        "overview": {
            "latest": LATEST,
            "persons": "SELECT p.status, COUNT(*) AS n, "
                       "SUM(CASE WHEN p.registered_at <= :at THEN 1 ELSE 0 END) AS registered "
                       f"FROM persons p WHERE {persons} GROUP BY p.status",
            "referrals": "SELECT r.service, COUNT(*) AS open, SUM(CASE WHEN r.status = :v_open "
                         "AND r.due_at < :at THEN 1 ELSE 0 END) AS overdue "
                         f"FROM referrals r WHERE {active} GROUP BY r.service",
            "cases": "SELECT c.stage, COUNT(*) AS n, SUM(CASE WHEN c.stage IN :gone AND EXISTS ("
                     "SELECT 1 FROM evacuation_events e WHERE e.case_id = c.id "
                     "AND e.stage = :v_departed AND e.at <= :at) THEN 1 ELSE 0 END) AS departed "
                     f"FROM evacuation_cases c WHERE {cases} GROUP BY c.stage",
            "facilities": "SELECT f.id, f.name, f.kind, a.name AS area, f.capacity, lo.occupants, "
                          f"f.confidential FROM {reported(':at')} "
                          "LEFT JOIN areas a ON a.pcode = f.area_pcode "
                          f"WHERE {quality.valid_occupancy()} AND f.status IN :v_in_use",
            "hazards": "SELECT COUNT(*) AS n FROM hazards WHERE scenario_id = :scenario "
                       "AND valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)",
        },
        "map": {
            "latest": LATEST,
            "nationalities": "SELECT iso3, name FROM countries WHERE iso3 IN (SELECT DISTINCT "
                             "nationality FROM persons WHERE scenario_id = :scenario)",
            "tags": "SELECT DISTINCT tag FROM person_vulnerabilities",
            **({
                "districts": f"SELECT {placed} AS placed, p.area_pcode, COUNT(*) AS n "
                             f"FROM persons p WHERE {in_country} GROUP BY 1, 2",
                "areas": "SELECT pcode, name, lat, lon FROM areas WHERE admin_level = 2",
            } if viewer.role == "committee" else {
                "cells": f"SELECT {placed} AS placed, {grid_columns(database)}, "
                         f"{at_confidential} AS conf, COUNT(*) AS n "
                         f"FROM persons p WHERE {in_country} GROUP BY 1, 2, 3, 4",
            }),
            **({"points": Only(
                "SELECT p.lon, p.lat, p.ref, p.full_name, p.status FROM persons p "
                f"WHERE {in_country} AND {quality.valid_person_coordinates()} "
                f"AND {at_confidential} = 0 ORDER BY p.id", _points_drawn)} if consular else {}),
            "facilities": "SELECT f.id, f.name, f.kind, f.status, f.capacity, f.lat, f.lon, "
                          f"f.confirmed_at, CASE WHEN {quality.valid_occupancy()} "
                          f"THEN lo.occupants END AS occupants FROM {reported()} "
                          "WHERE f.confidential = :no AND f.lat BETWEEN -90 AND 90 "
                          "AND f.lon BETWEEN -180 AND 180",
            "hazards": "SELECT id, kind, severity, geometry, valid_from, valid_to FROM hazards "
                       "WHERE scenario_id = :scenario AND valid_from <= :at "
                       "AND (valid_to IS NULL OR valid_to > :at)",
            "posts": "SELECT country, name, status, hotline, lat, lon FROM consular_posts "
                     "WHERE lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180",
        },
        "shelters": {
            "latest": LATEST,
            "facilities": "SELECT f.id, f.name, f.kind, f.status, f.capacity, f.confidential, "
                          "f.confirmed_at, a.name AS area, lo.occupants, lo.at AS reported_at, "
                          f"CASE WHEN lo.id IS NOT NULL AND {quality.valid_occupancy()} "
                          f"THEN 1 ELSE 0 END AS valid FROM {reported()} "
                          "LEFT JOIN areas a ON a.pcode = f.area_pcode",
            # occupancy at the end of each day of the trend (and so the last 24 h's
            # arrivals): the last report per facility and day, back to the report
            # before the window for a facility silent in it
            "trend": "SELECT facility_id, k, occupants FROM (SELECT o.facility_id, "
                     f"{day_k} AS k, o.occupants, ROW_NUMBER() OVER (PARTITION BY "
                     f"o.facility_id, {day_k} ORDER BY o.at DESC, o.id DESC) AS nth "
                     "FROM facility_occupancy o WHERE o.at <= :at AND o.at > :trend_from "
                     "AND o.facility_id IN (SELECT id FROM facilities "
                     "WHERE scenario_id = :scenario)) t WHERE nth = 1",
        },
        "referrals": {
            "latest": LATEST,
            # by service, status, age band and organisation, overdue or not: every
            # breakdown the page shows is a margin of this one pass
            "open": f"SELECT r.service, r.status, r.to_org, {age} AS age, "
                    "CASE WHEN r.status = :v_open AND r.due_at < :at THEN 1 ELSE 0 END AS overdue, "
                    f"COUNT(*) AS n FROM referrals r WHERE {active} GROUP BY 1, 2, 3, 4, 5",
            "flow": f"SELECT {database.day_of('r.created_at')} AS day, COUNT(*) AS opened, "
                    f"0 AS ended FROM referrals r WHERE {referrals} GROUP BY 1 UNION ALL "
                    f"SELECT {database.day_of('r.closed_at')} AS day, 0 AS opened, "
                    f"COUNT(*) AS ended FROM referrals r WHERE {referrals} "
                    "AND r.status IN :ended AND r.closed_at IS NOT NULL GROUP BY 1",
            **({"queue": "SELECT r.id, r.service, r.priority, r.status, r.created_at, r.due_at, "
                         f"r.to_org FROM referrals r WHERE {active} ORDER BY CASE WHEN "
                         "r.status = :v_open AND r.due_at < :at THEN 0 ELSE 1 END, CASE r.priority "
                         + " ".join(f"WHEN '{p}' THEN {i}"
                                    for i, p in enumerate(vocab.REFERRAL_PRIORITIES))
                         + " ELSE 9 END, r.due_at, r.id LIMIT :queue_limit"}
               if access.sees_referral_queue(viewer.role) else {}),
        },
        "evacuation": {
            "latest": LATEST,
            "by_nationality": "SELECT p.nationality, k.name AS country, c.stage, COUNT(*) AS n "
                              "FROM evacuation_cases c JOIN persons p ON p.id = c.person_id "
                              "LEFT JOIN countries k ON k.iso3 = p.nationality "
                              f"WHERE {cases} GROUP BY 1, 2, 3",
            # whole hours in each stage before the next, over the stays that have ended;
            # the median per stage follows from this histogram
            "time_in_stage": "WITH ev AS (SELECT e.stage, e.at, LEAD(e.at) OVER (PARTITION BY "
                             "e.case_id ORDER BY e.at, e.id) AS next_at FROM evacuation_events e "
                             "WHERE e.case_id IN (SELECT c.id FROM evacuation_cases c "
                             f"WHERE {cases})) SELECT ev.stage, "
                             f"{database.hours_floor('ev.at', 'ev.next_at')} AS h, COUNT(*) AS n "
                             "FROM ev WHERE ev.next_at IS NOT NULL GROUP BY 1, 2",
            # a liaison sees only the movements carrying its nationals
            "movements": "SELECT m.id, m.mode, m.destination, m.departs_at, m.status, m.capacity, "
                         f"{', '.join(f'k.{part}' for part in MANIFEST)} FROM movements m "
                         f"{'JOIN' if consular else 'LEFT JOIN'} (SELECT c.movement_id, "
                         f"{manifest} FROM evacuation_cases c WHERE {cases} "
                         "AND c.movement_id IS NOT NULL GROUP BY c.movement_id) k "
                         "ON k.movement_id = m.id WHERE m.scenario_id = :scenario",
            "registered_by_day": f"SELECT {database.day_of('p.registered_at')} AS day, "
                                 f"COUNT(*) AS n FROM persons p WHERE {persons} GROUP BY 1",
            "departed_by_day": f"SELECT {database.day_of('d.at')} AS day, COUNT(*) AS n FROM ("
                               "SELECT c.id, MIN(e.at) AS at FROM evacuation_cases c "
                               "JOIN evacuation_events e ON e.case_id = c.id "
                               f"WHERE {cases} AND c.stage IN :gone AND e.stage = :v_departed "
                               "GROUP BY c.id) d GROUP BY 1",
        },
        "my_nationals": {
            "latest": LATEST,
            # the counts, and the areas and facilities offered as filters, in one pass
            "counts": "SELECT a.name AS area, CASE WHEN f.confidential = :no THEN f.name END "
                      "AS facility, COUNT(*) AS n, "
                      "SUM(CASE WHEN p.status = :v_missing THEN 1 ELSE 0 END) AS missing, "
                      "SUM(CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END) AS travel_document "
                      "FROM persons p LEFT JOIN areas a ON a.pcode = p.area_pcode "
                      f"LEFT JOIN facilities f ON f.id = p.facility_id WHERE {persons} "
                      "GROUP BY 1, 2",
            "rows": "SELECT p.ref, p.full_name, p.phone, p.nationality, p.second_nationality, "
                    "a.name AS area, CASE WHEN f.confidential = :yes THEN 'confidential "
                    "facility' ELSE f.name END AS facility, p.status, c.stage, c.movement_id, "
                    "m.departs_at, p.documents, CASE WHEN p.documents IN :etd THEN 1 ELSE 0 END "
                    "AS needs_travel_document, p.updated_at FROM (SELECT p.*, (SELECT MAX(c2.id) "
                    "FROM evacuation_cases c2 WHERE c2.person_id = p.id "
                    "AND c2.scenario_id = p.scenario_id) AS case_id "
                    f"FROM persons p WHERE {persons} ORDER BY {missing_first} "
                    "LIMIT :row_limit) p LEFT JOIN areas a ON a.pcode = p.area_pcode "
                    "LEFT JOIN facilities f ON f.id = p.facility_id "
                    "LEFT JOIN evacuation_cases c ON c.id = p.case_id "
                    f"LEFT JOIN movements m ON m.id = c.movement_id ORDER BY {missing_first}",
        },
        # on a live scenario the page shows only its "data as of" line
        "drill": drill if exercise else {"latest": LATEST},
        "data_quality": {"latest": LATEST, **{c.key: c.count_sql for c in quality.CHECKS}},
        "audit": {
            # the filter choices, in one pass (over the log's covering index)
            "choices": "SELECT DISTINCT user, role, page, action FROM audit_log",
            "log": "SELECT at_utc, user, role, nationalities, scenario_id, page, action, filters, "
                   "rows_shown FROM audit_log WHERE at_utc >= :audit_since "
                   "AND at_utc < :audit_until ORDER BY id DESC LIMIT :audit_limit",
        },
    }
    return {page: table[page] for page in access.pages_for(viewer.role)}


# --- parameters -------------------------------------------------------------------------------

def scenario_params(database: Database, scenario_id: int,
                    excluded_cases: list[int] | None = None,
                    excluded_referrals: list[int] | None = None) -> dict:
    """The parameters every viewer of a scenario shares: the latest moment, the bounds
    derived from it, and the ids of the rows that break the contract (found here
    unless given, e.g. from the server's own shared facts). Also whether the scenario
    is an exercise (`exercise`, which says the Drill page's floor; no SQL parameter)."""
    scenario = {"scenario": scenario_id}
    with database.engine.connect() as conn:
        def execute(statement: str, params: dict):
            return conn.execute(*db.bind(statement, params))

        at = _moment(execute(LATEST, scenario).scalar())
        kind, starts = execute("SELECT kind, starts_at FROM scenarios WHERE id = :scenario",
                               scenario).one()
        run = execute(DRILL_RUNS, scenario).first()
        if excluded_cases is None:
            backward = [r[0] for r in execute(quality.BACKWARD_CASES, scenario)]
            excluded_cases = [r[0] for r in execute(
                "SELECT c.id FROM evacuation_cases c WHERE c.scenario_id = :scenario "
                f"AND NOT ({quality.valid_evacuation_case()})",
                {**scenario, "backward_cases": backward or [-1]})]
        if excluded_referrals is None:
            excluded_referrals = [r[0] for r in execute(
                "SELECT r.id FROM referrals r WHERE r.scenario_id = :scenario "
                f"AND NOT ({quality.valid_referral()})", scenario)]
    # The Drill page at the latest moment reviews the latest run (or, with none played,
    # the scenario's own history): from its first inject (or the scenario's start) to
    # the data-as-of, or to the run's last inject if that is later.
    first, last = ((_moment(run.first_at), _moment(run.last_at)) if run
                   else (_moment(starts), _moment(starts)))
    today = datetime.now(UTC).date()
    return {
        **scenario, "at": at, "yes": True, "no": False, "exercise": kind == "exercise",
        "drill_run": run.run_id if run else "", "drill_start": first,
        "drill_until": max(at, last, first),
        "excluded_cases": list(excluded_cases) or [-1],
        "excluded_referrals": list(excluded_referrals) or [-1],
        "active": [s for s in vocab.REFERRAL_STATUSES if s not in vocab.REFERRAL_ENDED],
        "ended": list(vocab.REFERRAL_ENDED),
        "gone": list(vocab.EVACUATION_PATH[vocab.EVACUATION_PATH.index("departed"):]),
        "in_country": list(IN_COUNTRY), "step": GRID_STEP,
        "etd": list(vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT),
        "row_limit": ROW_LIMIT, "queue_limit": QUEUE_LIMIT,
        **{f"age{i}": at - timedelta(hours=h) for i, h in enumerate(AGES.values()) if i},
        **{f"day{k}": at - timedelta(days=k) for k in range(1, TREND_DAYS + 1)},
        "trend_from": at - timedelta(days=2 * TREND_DAYS),
        "audit_since": (today - timedelta(days=AUDIT_DAYS)).isoformat(),
        "audit_until": (today + timedelta(days=1)).isoformat(),
        "audit_limit": AUDIT_LIMIT,
    }


def _moment(value) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def viewer_params(shared: dict, viewer: Viewer) -> dict:
    """The shared parameters plus the viewer's scope."""
    _, scope = access.person_scope(viewer, "p")
    return {**shared, **scope, "services": list(access.referral_services(viewer))}


def _bound(sql: str, params: dict) -> tuple[TextClause, dict]:
    """The statement with the parameters it names (lists expand into IN lists), and
    the vocabulary values it names (`:v_...`) as the dashboard binds them."""
    used = {k: v for k, v in params.items() if re.search(rf":{k}\b", sql)}
    return db.bind(sql, used)


# --- timing -----------------------------------------------------------------------------------

def audit_engine(path: Path | None = None) -> Engine:
    """The audit log, read-only; an empty one is made first if there is none yet (the
    page makes it too)."""
    from dashboard.rules import audit

    path = path or config.audit_db_path()
    if not path.exists():
        audit.ensure_writable(path)
    uri = f"file:{path.resolve()}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


def time_floor(database: Database, page: str, viewer: Viewer, shared: dict,
               runs: int = RUNS) -> tuple[float, dict[str, float]]:
    """The page's floor in ms, and its statements' ms in that run: the median of `runs`
    runs of the whole set, each statement fetching every row. The first run warms
    the OS cache, as the page's earlier render did."""
    target = audit_engine() if page == "audit" else database.engine
    params = viewer_params(shared, viewer)
    statements = floors(viewer, database, shared["exercise"])[page]
    done = []
    for _ in range(runs):
        found: dict[str, list] = {}
        took: dict[str, float] = {}
        with target.connect() as conn:
            if target.dialect.name == "postgresql":  # never cut short by the readers' limit
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            with db.patient():  # the same for SQLite's time limit
                for name, statement in statements.items():
                    if isinstance(statement, Only) and not statement.test(found):
                        continue
                    sql = statement.sql if isinstance(statement, Only) else statement
                    clause, bound = _bound(sql, params)
                    started = time.perf_counter()
                    found[name] = conn.execute(clause, bound).fetchall()
                    took[name] = (time.perf_counter() - started) * 1000
        done.append((sum(took.values()), took))
    if target is not database.engine:
        target.dispose()
    total = statistics.median_low(t for t, _ in done)
    return total, next(took for t, took in done if t == total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--pages", nargs="*", help="only these pages")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--detail", action="store_true", help="each statement's ms too")
    args = parser.parse_args()

    import os

    from benchmarks.bench_pages import CACHE, label, quiet_streamlit, scenario_for, viewers

    quiet_streamlit()
    # the benchmark's audit log, never the dashboard's own
    os.environ.setdefault("SITROOM_AUDIT_DB", str(CACHE / "bench-audit.sqlite"))
    database = Database.open(args.db_url)  # no page runs here
    shared: dict[int, dict] = {}

    def shared_params(scenario_id: int) -> dict:
        if scenario_id not in shared:
            started = time.perf_counter()
            found = shared[scenario_id] = scenario_params(database, scenario_id)
            breaks = [sum(i != -1 for i in found[k])
                      for k in ("excluded_cases", "excluded_referrals")]
            print(f"scenario {scenario_id}: shared parameters (contract breaks: {breaks[0]} "
                  f"cases, {breaks[1]} referrals) in {time.perf_counter() - started:.1f} s, "
                  f"latest {found['at']}", file=sys.stderr)
        return shared[scenario_id]

    print(f"{'page':<16} {'role':<12} {'nat':<4} {'floor ms':>9}")
    for role, nats in viewers(database):
        for page in access.pages_for(role):
            if args.pages and page not in args.pages:
                continue
            scenario_id = scenario_for(database, page)
            params = shared_params(scenario_id)
            viewer = Viewer("bench", role, scenario_id, nats)
            total, took = time_floor(database, page, viewer, params, args.runs)
            print(f"{label(page, params['exercise']):<16} {role:<12} {','.join(nats):<4} "
                  f"{total:>9.1f}", flush=True)
            if args.detail:
                for name, ms in took.items():
                    print(f"    {name:<24} {ms:>9.1f}")
    database.dispose()


if __name__ == "__main__":
    main()
