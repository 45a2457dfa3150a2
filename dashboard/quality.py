"""Rows that break the data contract (DESIGN.md §4, last paragraph).

Each check is a SQL condition naming the rows it catches and the figures they
are kept out of. The same conditions are used by the queries that build those
figures (`VALID_*` below), so what the data-quality view counts is exactly
what the figures leave out.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import config, db, runtime, vocab
from dashboard.access import Viewer


def _in_list(values) -> str:
    # Vocabulary values are our own constants, never user input: safe to inline,
    # and inlining keeps these conditions usable inside any query.
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# Conditions that a row must meet to be counted in a figure.
VALID_PERSON_STATUS = f"p.status IN {_in_list(vocab.PERSON_STATUSES)}"
VALID_PERSON_NATIONALITY = "p.nationality IN (SELECT iso3 FROM countries)"
VALID_PERSON_COORDINATES = (
    "p.lat IS NOT NULL AND p.lon IS NOT NULL AND p.lat BETWEEN -90 AND 90 "
    "AND p.lon BETWEEN -180 AND 180"
)
VALID_REFERRAL = (
    f"r.service IN {_in_list(vocab.REFERRAL_SERVICES)} "
    f"AND r.status IN {_in_list(vocab.REFERRAL_STATUSES)} "
    "AND EXISTS (SELECT 1 FROM persons rx WHERE rx.id = r.person_id)"
)
_PATH_RANK = "CASE e.stage " + " ".join(
    f"WHEN '{s}' THEN {i}" for i, s in enumerate(vocab.EVACUATION_PATH)
) + " END"
# Cases whose history steps back along the evacuation path (a branch is not a step).
BACKWARD_CASES = f"""
    SELECT DISTINCT case_id FROM (
        SELECT e.case_id, {_PATH_RANK} AS rank_now,
               MAX({_PATH_RANK}) OVER (PARTITION BY e.case_id ORDER BY e.at, e.id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS rank_before
        FROM evacuation_events e
        JOIN evacuation_cases c ON c.id = e.case_id AND c.scenario_id = :scenario
    ) steps WHERE rank_now < rank_before
"""
VALID_EVACUATION_CASE = (
    f"c.stage IN {_in_list(vocab.ALL_EVACUATION_STAGES)} "
    "AND EXISTS (SELECT 1 FROM persons cx WHERE cx.id = c.person_id) "
    f"AND c.id NOT IN ({BACKWARD_CASES})"
)
# Latest occupancy report of each facility of the scenario; of two reports at the
# same moment, the one written last (highest id) wins.
LATEST_OCCUPANCY = """
    SELECT o.facility_id, o.occupants, o.at
    FROM facility_occupancy o
    WHERE o.id IN (
        SELECT MAX(o2.id) FROM facility_occupancy o2
        JOIN (SELECT facility_id, MAX(at) AS at FROM facility_occupancy
              WHERE facility_id IN (SELECT id FROM facilities WHERE scenario_id = :scenario)
              GROUP BY facility_id) last
          ON last.facility_id = o2.facility_id AND last.at = o2.at
        GROUP BY o2.facility_id)
"""
VALID_OCCUPANCY = "lo.occupants >= 0 AND lo.occupants <= f.capacity AND f.capacity > 0"


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    excluded_from: str
    count_sql: str


CHECKS: tuple[Check, ...] = (
    Check("person_bad_coordinates", "Persons with missing or impossible coordinates",
          "maps",
          f"SELECT COUNT(*) FROM persons p WHERE p.scenario_id = :scenario "
          f"AND NOT ({VALID_PERSON_COORDINATES})"),
    Check("person_unknown_nationality", "Persons with an unknown nationality code",
          "breakdowns by nationality",
          f"SELECT COUNT(*) FROM persons p WHERE p.scenario_id = :scenario "
          f"AND NOT ({VALID_PERSON_NATIONALITY})"),
    Check("person_unknown_status", "Persons with a status outside the vocabulary",
          "every person count",
          f"SELECT COUNT(*) FROM persons p WHERE p.scenario_id = :scenario "
          f"AND NOT ({VALID_PERSON_STATUS})"),
    Check("person_dangling_facility", "Persons placed in a facility that does not exist",
          "facility occupancy by person",
          "SELECT COUNT(*) FROM persons p WHERE p.scenario_id = :scenario "
          "AND p.facility_id IS NOT NULL "
          "AND NOT EXISTS (SELECT 1 FROM facilities f WHERE f.id = p.facility_id)"),
    Check("occupancy_above_capacity", "Facilities whose latest report is above capacity",
          "occupancy totals and shelter load",
          f"SELECT COUNT(*) FROM facilities f JOIN ({LATEST_OCCUPANCY}) lo "
          f"ON lo.facility_id = f.id WHERE f.scenario_id = :scenario "
          f"AND NOT ({VALID_OCCUPANCY})"),
    Check("referral_invalid", "Referrals with an unknown service or status, or no person",
          "referral counts",
          f"SELECT COUNT(*) FROM referrals r WHERE r.scenario_id = :scenario "
          f"AND NOT ({VALID_REFERRAL})"),
    Check("evacuation_invalid", "Evacuation cases with an unknown stage or no person",
          "the evacuation funnel",
          f"SELECT COUNT(*) FROM evacuation_cases c WHERE c.scenario_id = :scenario "
          f"AND (c.stage NOT IN {_in_list(vocab.ALL_EVACUATION_STAGES)} "
          "OR NOT EXISTS (SELECT 1 FROM persons cx WHERE cx.id = c.person_id))"),
    Check("evacuation_backwards", "Evacuation cases whose stages go backwards",
          "the evacuation funnel",
          f"SELECT COUNT(*) FROM ({BACKWARD_CASES}) b"),
)


def counts(engine: Engine, scenario_id: int) -> dict[str, int]:
    """Number of contract-breaking rows per check, for one scenario."""
    out = {}
    for check in CHECKS:
        frame = db.read_frame(engine, check.count_sql, {"scenario": scenario_id})
        out[check.key] = int(frame.iloc[0, 0])
    return out


@st.cache_data(ttl=int(config.get("SITROOM_CACHE_TTL_S")), show_spinner=False)
def quality_table(db_url: str, viewer: Viewer) -> pd.DataFrame:
    """The data-quality view. Exact counts even for aggregate roles: they count
    records that break the contract, not people by any attribute of theirs."""
    found = counts(runtime.engine(db_url), viewer.scenario_id)
    return pd.DataFrame({
        "check": [c.label for c in CHECKS],
        "rows": [found[c.key] for c in CHECKS],
        "left out of": [c.excluded_from for c in CHECKS],
    })
