"""Rows that break the data contract (docs/design.md §4, last paragraph).

Each check is a SQL condition naming the rows it catches and the figures they
are kept out of. The same conditions are used by the queries that build those
figures (the `valid_*` conditions below), so what the data-quality view counts is exactly
what the figures leave out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from dashboard.contract import vocab
from dashboard.language import N_, gettext
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store import cache
from dashboard.store.db import Database, in_scenario

# Conditions that a row must meet to be counted in a figure, on the table alias given.
# Vocabulary values are bound by name (store.db.VOCABULARY_PARAMS).

def valid_person_status(p: str = "p") -> str:
    return f"{p}.status IN :v_person_statuses"


def valid_person_nationality(p: str = "p") -> str:
    return f"{p}.nationality IN (SELECT iso3 FROM countries)"


def valid_person_coordinates(p: str = "p") -> str:
    return (f"{p}.lat IS NOT NULL AND {p}.lon IS NOT NULL AND {p}.lat BETWEEN -90 AND 90 "
            f"AND {p}.lon BETWEEN -180 AND 180")


def valid_referral(r: str = "r") -> str:
    """A known service and status, a person, and an end time exactly when the status
    says it ended (closed, rejected, revoked): the Overview counts open referrals by
    their times, the Referrals page by their statuses, and the two must agree."""
    return f"{referral_fields_valid(r)} AND {has_person(r)}"


def referral_fields_valid(r: str = "r") -> str:
    """`valid_referral` but for its person."""
    return (f"{r}.service IN :v_referral_services AND {r}.status IN :v_referral_statuses "
            f"AND (({r}.status IN :v_referral_ended) = ({r}.closed_at IS NOT NULL))")


def has_person(row: str) -> str:
    """Whether the person of `row` (a referral's or a case's) is in persons."""
    return f"EXISTS (SELECT 1 FROM persons {row}x WHERE {row}x.id = {row}.person_id)"


def broken_case_ids(scenario: str) -> str:
    """Ids of the evacuation cases `c` meeting `scenario` with an unknown stage or no
    person: the Data quality page's count and the list every figure leaves out."""
    return _or_no_person("evacuation_cases c", scenario, f"NOT ({case_stage_known()})", "c")


def broken_referral_ids(scenario: str) -> str:
    """Ids of the referrals `r` meeting `scenario` that are not `valid_referral`."""
    return _or_no_person("referrals r", scenario, f"NOT ({referral_fields_valid()})", "r")


def _or_no_person(table: str, scenario: str, broken: str, row: str) -> str:
    """Ids of the rows of `table` meeting `scenario` that are `broken` or have no person,
    as two reads: with "OR NOT EXISTS" in one, PostgreSQL looks up each row's person one
    by one (1.2 s for the cases at a million people); alone, it is one anti-join (0.45 s,
    a third less work)."""
    return (f"SELECT {row}.id FROM {table} WHERE {scenario} AND {broken} "
            f"UNION SELECT {row}.id FROM {table} WHERE {scenario} AND NOT {has_person(row)}")


def valid_evacuation_case(c: str = "c") -> str:
    """Needs the parameter `backward_cases` (a list of ids: backward_case_ids)."""
    return f"{case_stage_known(c)} AND {has_person(c)} AND {c}.id NOT IN :backward_cases"


def case_stage_known(c: str = "c") -> str:
    """`valid_evacuation_case`'s own field: a stage of the vocabulary."""
    return f"{c}.stage IN :v_stages"


def valid_occupancy(lo: str = "lo", f: str = "f") -> str:
    """On a latest occupancy report `lo` of the facility `f`."""
    return f"{lo}.occupants >= 0 AND {lo}.occupants <= {f}.capacity AND {f}.capacity > 0"


def _path_rank(e: str) -> str:
    return (f"CASE {e}.stage " + " ".join(f"WHEN :v_path_{i} THEN {i}"
                                          for i in range(len(vocab.EVACUATION_PATH))) + " END")


# Cases whose history steps back along the evacuation path (a branch is not a
# step). The path ranks never decrease unless two consecutive path events do,
# so LAG finds every such case. This reads the whole event history (about 1.5 s
# at a million persons), so its result is computed once per scenario and shared
# by every viewer: see backward_case_ids().
_PATH_EVENTS = """
        FROM evacuation_events e
        WHERE e.stage IN :v_path
          AND e.case_id IN (SELECT id FROM evacuation_cases WHERE scenario_id = :scenario)"""
BACKWARD_CASES = f"""
    SELECT DISTINCT case_id FROM (
        SELECT e.case_id, {_path_rank("e")} AS rank_now,
               LAG({_path_rank("e")}) OVER (PARTITION BY e.case_id ORDER BY e.at, e.id)
                   AS rank_before{_PATH_EVENTS}
    ) steps WHERE rank_now < rank_before
"""
# The same events, each with its rank, for `backward_case_ids` to order on SQLite.
PATH_STEPS = f"SELECT e.case_id, e.at, e.id, {_path_rank('e')} AS rank{_PATH_EVENTS}"


def latest_occupancy(at_param: str | None = None, dialect: str = "postgresql") -> str:
    """SQL for the latest occupancy report of each facility of the scenario (by the
    moment bound to `at_param`, if given); of two reports at the same moment, the
    one written last (highest id) wins. SQLite answers best with one index seek
    per facility (6 ms at 1M where the grouped form takes 30); PostgreSQL with the
    grouped form (54 ms, the seeks 64)."""
    if dialect == "sqlite":
        by = f" AND o2.at <= :{at_param}" if at_param else ""
        return f"""
    SELECT o.facility_id, o.occupants, o.at
    FROM facility_occupancy o
    WHERE o.id IN (
        SELECT (SELECT o2.id FROM facility_occupancy o2 WHERE o2.facility_id = f.id{by}
                ORDER BY o2.at DESC, o2.id DESC LIMIT 1)
        FROM facilities f WHERE f.scenario_id = :scenario)
"""
    by = f" AND at <= :{at_param}" if at_param else ""
    return f"""
    SELECT o.facility_id, o.occupants, o.at
    FROM facility_occupancy o
    WHERE o.id IN (
        SELECT MAX(o2.id) FROM facility_occupancy o2
        JOIN (SELECT facility_id, MAX(at) AS at FROM facility_occupancy
              WHERE facility_id IN (SELECT id FROM facilities WHERE scenario_id = :scenario){by}
              GROUP BY facility_id) last
          ON last.facility_id = o2.facility_id AND last.at = o2.at
        GROUP BY o2.facility_id)
"""




@dataclass(frozen=True)
class Check:
    key: str
    label: str          # in English, marked: translated where it is shown
    excluded_from: str  # the same
    count_sql: str


# The checks on persons, each a condition on `persons p` that a breaking row meets:
# counted together in one pass over the scenario's persons (person_breaks), not one
# pass each (four at a million persons cost as much as the rest of a report).
PERSON_BREAKS = {
    "person_bad_coordinates": f"NOT ({valid_person_coordinates()})",
    "person_unknown_nationality": f"NOT ({valid_person_nationality()})",
    "person_unknown_status": f"NOT ({valid_person_status()})",
    "person_dangling_facility": "p.facility_id IS NOT NULL "
                                "AND NOT EXISTS (SELECT 1 FROM facilities f "
                                "WHERE f.id = p.facility_id)",
}


def _person_check(key: str, label: str, excluded_from: str) -> Check:
    return Check(key, label, excluded_from, "SELECT COUNT(*) FROM persons p WHERE "
                 f"p.scenario_id = :scenario AND {PERSON_BREAKS[key]}")


CHECKS: tuple[Check, ...] = (
    _person_check("person_bad_coordinates", N_("Persons with missing or impossible coordinates"),
                  N_("maps")),
    _person_check("person_unknown_nationality", N_("Persons with an unknown nationality code"),
                  N_("breakdowns by nationality")),
    _person_check("person_unknown_status", N_("Persons with a status outside the vocabulary"),
                  N_("every person count")),
    _person_check("person_dangling_facility",
                  N_("Persons placed in a facility that does not exist"),
                  N_("facility occupancy by person")),
    Check("occupancy_above_capacity", N_("Facilities whose latest report is above capacity"),
          N_("occupancy totals and shelter load"),
          f"SELECT COUNT(*) FROM facilities f JOIN ({latest_occupancy()}) lo "
          f"ON lo.facility_id = f.id WHERE f.scenario_id = :scenario "
          f"AND NOT ({valid_occupancy()})"),
    Check("referral_invalid", N_("Referrals with an unknown service or status, no person, or "
                                 "an end time that does not match their status"),
          N_("referral counts"),
          f"SELECT COUNT(*) FROM ({broken_referral_ids('r.scenario_id = :scenario')}) b"),
    Check("evacuation_invalid", N_("Evacuation cases with an unknown stage or no person"),
          N_("the evacuation funnel"),
          f"SELECT COUNT(*) FROM ({broken_case_ids('c.scenario_id = :scenario')}) b"),
    Check("evacuation_backwards", N_("Evacuation cases whose stages go backwards"),
          N_("the evacuation funnel and stage times"),
          f"SELECT COUNT(*) FROM ({BACKWARD_CASES}) b"),
)


def person_breaks(database: Database, scenario_id: int) -> dict[str, int]:
    """The count of each check of PERSON_BREAKS, in one pass over the persons."""
    frame = database.read(
        "SELECT " + ", ".join(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS {key}"
                              for key, condition in PERSON_BREAKS.items())
        + f" FROM persons p WHERE {in_scenario('p.scenario_id', database.dialect)} = :scenario",
        {"scenario": scenario_id})
    return {key: int(frame.iloc[0][key] or 0) for key in PERSON_BREAKS}


def _ids(database: Database, statement: str, scenario_id: int, column: str = "id") -> list[int]:
    frame = database.read(statement, {"scenario": scenario_id})
    return sorted(int(i) for i in frame[column])


# Contract-breaking rows are few, the same for every viewer, and slow to find
# at a million rows: they are found once per scenario, kept in the database's shared
# facts (Database.facts), refreshed in the background, and left out of every figure by
# id, which also spares each figure a join to persons just to check that its person exists.
def backward_case_ids(database: Database, scenario_id: int) -> list[int]:
    """Ids of the scenario's evacuation cases whose stages go backwards."""
    return database.facts.get(("backward", scenario_id),
                              lambda: _backward_case_ids(database, scenario_id))


def _backward_case_ids(database: Database, scenario_id: int) -> list[int]:
    """BACKWARD_CASES. On SQLite, which sorts every event for the window, the events
    are ordered by Arrow and their ranks compared by numpy instead: 0.9 s against
    1.6 s at a million persons."""
    steps = database.arrow(PATH_STEPS, {"scenario": scenario_id})
    if steps is None:  # PostgreSQL, or a row Arrow cannot hold: SQL says
        return _ids(database, BACKWARD_CASES, scenario_id, "case_id")
    order = pc.sort_indices(steps, sort_keys=[
        (column, "ascending", "at_start") for column in ("case_id", "at", "id")])  # as SQL
    case = steps["case_id"].take(order).to_numpy(zero_copy_only=False)
    rank = steps["rank"].take(order).to_numpy(zero_copy_only=False)
    back = (case[1:] == case[:-1]) & (rank[1:] < rank[:-1])  # LAG's step, case by case
    return sorted(int(i) for i in np.unique(case[1:][back]))


def invalid_case_ids(database: Database, scenario_id: int) -> list[int]:
    """Evacuation cases with an unknown stage or no person."""
    scenario = f"{in_scenario('c.scenario_id', database.dialect)} = :scenario"
    return database.facts.get(("invalid_cases", scenario_id), lambda: _ids(
        database, broken_case_ids(scenario), scenario_id))


def excluded_case_ids(database: Database, scenario_id: int) -> list[int]:
    """Evacuation cases left out of every figure."""
    return sorted(set(invalid_case_ids(database, scenario_id))
                  | set(backward_case_ids(database, scenario_id)))


def excluded_referral_ids(database: Database, scenario_id: int) -> list[int]:
    """Referrals left out of every figure: unknown service or status, or no person."""
    scenario = f"{in_scenario('r.scenario_id', database.dialect)} = :scenario"
    return database.facts.get(("invalid_referrals", scenario_id), lambda: _ids(
        database, broken_referral_ids(scenario), scenario_id))


def scoped_cases(database: Database, viewer: Viewer, alias: str = "c",
                 whole: bool = False) -> tuple[str, dict]:
    """Condition on `evacuation_cases AS alias`: the viewer's scope, contract breaks left
    out. No join needed; a liaison's scope is a subquery on its visible persons. `whole`:
    for a read of every case of the scenario, by the table rather than by the index
    (`in_scenario`)."""
    params: dict = {"cases_scenario": viewer.scenario_id,
                    "excluded_cases": excluded_case_ids(database, viewer.scenario_id) or [-1]}
    scenario = in_scenario(f"{alias}.scenario_id", database.dialect) if whole else (
        f"{alias}.scenario_id")
    where = f"{scenario} = :cases_scenario AND {alias}.id NOT IN :excluded_cases"
    if access.sees_person_level(viewer.role):
        visible, visible_params = access.visible_persons_sql(viewer, database.dialect)
        params.update(visible_params)
        where += f" AND {alias}.person_id IN ({visible})"
    return where, params


def scoped_referrals(database: Database, viewer: Viewer, alias: str = "r",
                     whole: bool = False) -> tuple[str, dict]:
    """Condition on `referrals AS alias`: the viewer's scope and services (a liaison never
    counts a sensitive service), contract breaks left out. `whole` as `scoped_cases`."""
    params: dict = {"referrals_scenario": viewer.scenario_id,
                    "excluded_referrals":
                        excluded_referral_ids(database, viewer.scenario_id) or [-1],
                    "scope_services": list(access.referral_services(viewer))}
    scenario = in_scenario(f"{alias}.scenario_id", database.dialect) if whole else (
        f"{alias}.scenario_id")
    where = (f"{scenario} = :referrals_scenario "
             f"AND {alias}.id NOT IN :excluded_referrals AND {alias}.service IN :scope_services")
    if access.sees_person_level(viewer.role):
        visible, visible_params = access.visible_persons_sql(viewer, database.dialect)
        params.update(visible_params)
        where += f" AND {alias}.person_id IN ({visible})"
    return where, params


def counts(database: Database, scenario_id: int) -> dict[str, int]:
    """Number of contract-breaking rows per check, for one scenario."""
    found = person_breaks(database, scenario_id)
    for check in CHECKS:
        if check.key not in found:
            frame = database.read(check.count_sql, {"scenario": scenario_id})
            found[check.key] = int(frame.iloc[0, 0])
    return {check.key: found[check.key] for check in CHECKS}


def contract_breaks(database: Database, scenario_id: int) -> dict[str, int]:
    """The same numbers as counts(), from the shared id sets where they exist;
    shared by every viewer and refreshed in the background."""
    def compute() -> dict[str, int]:
        from_ids = {
            "evacuation_backwards": len(backward_case_ids(database, scenario_id)),
            "evacuation_invalid": len(invalid_case_ids(database, scenario_id)),
            "referral_invalid": len(excluded_referral_ids(database, scenario_id)),
            **person_breaks(database, scenario_id),
        }
        return {c.key: from_ids[c.key] if c.key in from_ids else int(
                    database.read(c.count_sql, {"scenario": scenario_id}).iloc[0, 0])
                for c in CHECKS}

    return database.facts.get(("contract_breaks", scenario_id), compute)


@cache.scoped()
def quality_table(database: Database, viewer: Viewer) -> pd.DataFrame:
    """The data-quality view. Exact counts even for aggregate roles: they count
    records that break the contract, not people by any attribute of theirs. The check
    and what it leaves out are in English, as every cached result (`translated` says
    them in the reader's language where they are shown)."""
    found = contract_breaks(database, viewer.scenario_id)
    return pd.DataFrame({
        "check": [c.label for c in CHECKS],
        "rows": [found[c.key] for c in CHECKS],
        "left out of": [c.excluded_from for c in CHECKS],
    })


def translated(table: pd.DataFrame) -> pd.DataFrame:
    """quality_table's words (the check, and what it leaves out) in the reader's
    language: call it where the table is shown, never in cached code."""
    return table.assign(**{column: table[column].map(gettext)
                           for column in ("check", "left out of")})
