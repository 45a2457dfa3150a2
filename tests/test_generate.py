"""The synthetic generator: size, determinism, vocabularies and the data contract.

Every expected value is computed here with our own SQL against the generated
SQLite file, never by asking the generator. PostgreSQL runs of the generator
are covered by the shared fixtures in conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from dashboard.contract import vocab
from dashboard.contract.models import Base, Person
from dashboard.tools.generate import DIRTY_KINDS, GenerateError, generate

PERSONS = 2000
SEED = 11
AS_OF = "2026-11-23 00:00:00"  # default start 2026-10-26 plus 28 days

# The documented dirty set (generate.DIRTY_KINDS), written out: changing it is a contract change.
DIRTY_EXPECTED = {
    "person_bad_coordinates": 20,
    "person_unknown_nationality": 15,
    "person_unknown_status": 10,
    "person_dangling_facility": 10,
    "facility_over_capacity": 5,
    "evacuation_stage_backwards": 10,
    "evacuation_dangling_person": 10,
    "referral_dangling_person": 10,
    "referral_unknown_service": 10,
}


def in_list(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


PATH_RANK = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(vocab.EVACUATION_PATH))

DIRTY_SQL = {
    "person_bad_coordinates":
        "SELECT count(*) FROM persons WHERE lat > 90 OR lat < -90 OR lon > 180 OR lon < -180",
    "person_unknown_nationality":
        "SELECT count(*) FROM persons WHERE nationality NOT IN (SELECT iso3 FROM countries)",
    "person_unknown_status":
        f"SELECT count(*) FROM persons WHERE status NOT IN {in_list(vocab.PERSON_STATUSES)}",
    "person_dangling_facility":
        "SELECT count(*) FROM persons WHERE facility_id IS NOT NULL "
        "AND facility_id NOT IN (SELECT id FROM facilities)",
    "facility_over_capacity":
        "SELECT count(*) FROM facilities f JOIN facility_occupancy o ON o.facility_id = f.id "
        "WHERE o.at = (SELECT max(at) FROM facility_occupancy WHERE facility_id = f.id) "
        "AND o.occupants > f.capacity",
    "evacuation_stage_backwards":
        f"SELECT count(DISTINCT case_id) FROM (SELECT case_id, CASE stage {PATH_RANK} END AS r, "
        f"lag(CASE stage {PATH_RANK} END) OVER (PARTITION BY case_id ORDER BY at, id) AS prev "
        "FROM evacuation_events) WHERE r < prev",
    "evacuation_dangling_person":
        "SELECT count(*) FROM evacuation_cases WHERE person_id NOT IN (SELECT id FROM persons)",
    "referral_dangling_person":
        "SELECT count(*) FROM referrals WHERE person_id NOT IN (SELECT id FROM persons)",
    "referral_unknown_service":
        f"SELECT count(*) FROM referrals WHERE service NOT IN {in_list(vocab.REFERRAL_SERVICES)}",
}


def build(dir_: Path, seed: int = SEED, dirty: bool = False, persons: int = PERSONS) -> Path:
    path = dir_ / f"gen_{seed}_{int(dirty)}_{persons}.sqlite"
    generate(f"sqlite:///{path}", persons=persons, seed=seed, dirty=dirty)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("dirty"), dirty=True)


@pytest.fixture
def db(clean):
    conn = sqlite3.connect(clean)
    yield conn
    conn.close()


def one(conn: sqlite3.Connection, sql: str, *params):
    return conn.execute(sql, params).fetchone()[0]


def digest(path: Path) -> dict[str, str]:
    """A hash of every table's rows in primary-key order."""
    conn = sqlite3.connect(path)
    out = {}
    for name, table in Base.metadata.tables.items():
        keys = ", ".join(c.name for c in table.primary_key.columns)
        h = hashlib.sha256()
        for row in conn.execute(f"SELECT * FROM {name} ORDER BY {keys}"):
            h.update(repr(row).encode())
        out[name] = h.hexdigest()
    conn.close()
    return out


# --- size and scenarios --------------------------------------------------------

def test_the_live_scenario_has_exactly_the_persons_asked_for(db):
    assert one(db, "SELECT count(*) FROM persons WHERE scenario_id = 1") == PERSONS


def test_one_live_and_one_smaller_exercise_both_marked_synthetic(db):
    rows = db.execute("SELECT id, kind, name, synthetic, description, country "
                      "FROM scenarios ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, "live"), (2, "exercise")]
    assert all(r[3] == 1 and "SYNTHETIC" in r[4] and r[5] == "LBN" for r in rows)
    assert "synthetic" in rows[0][2].lower() and "exercise" in rows[1][2].lower()
    live, exercise = (one(db, "SELECT count(*) FROM persons WHERE scenario_id = ?", s)
                      for s in (1, 2))
    assert 0 < exercise < live
    for table in ("facilities", "referrals", "evacuation_cases", "movements", "hazards"):
        assert one(db, f"SELECT count(DISTINCT scenario_id) FROM {table}") == 2, table


def test_proportions_of_the_other_tables(db):
    n = PERSONS
    assert one(db, "SELECT count(*) FROM referrals WHERE scenario_id = 1") == round(0.3 * n)
    assert one(db, "SELECT count(*) FROM evacuation_cases WHERE scenario_id = 1") == round(0.4 * n)
    assert one(db, "SELECT count(DISTINCT person_id) FROM evacuation_cases") == one(
        db, "SELECT count(*) FROM evacuation_cases")
    assert one(db, "SELECT count(*) FROM facilities WHERE scenario_id = 1") >= 20
    assert 20 <= one(db, "SELECT count(*) FROM hazards WHERE scenario_id = 1") <= 40
    assert one(db, "SELECT count(*) FROM countries") == 249
    assert one(db, "SELECT count(*) FROM areas WHERE admin_level = 1") == 8
    assert one(db, "SELECT count(*) FROM areas WHERE admin_level = 2") >= 25


# --- determinism ---------------------------------------------------------------

def test_the_same_seed_gives_identical_tables_and_another_seed_does_not(clean, tmp_path):
    again = build(tmp_path)
    other = build(tmp_path, seed=SEED + 1)
    first = digest(clean)
    assert digest(again) == first
    changed = {k for k, v in digest(other).items() if v != first[k]}
    assert {"persons", "referrals", "evacuation_cases", "facilities"} <= changed


# --- vocabularies and codes -----------------------------------------------------

VOCAB_COLUMNS = [
    ("scenarios", "kind", vocab.SCENARIO_KINDS),
    ("persons", "status", vocab.PERSON_STATUSES),
    ("persons", "sex", vocab.SEXES),
    ("persons", "documents", vocab.DOCUMENTS),
    ("person_events", "status", vocab.PERSON_STATUSES),
    ("person_vulnerabilities", "tag", vocab.VULNERABILITY_TAGS),
    ("facilities", "kind", vocab.FACILITY_KINDS),
    ("facilities", "status", vocab.FACILITY_STATUSES),
    ("referrals", "service", vocab.REFERRAL_SERVICES),
    ("referrals", "priority", vocab.REFERRAL_PRIORITIES),
    ("referrals", "status", vocab.REFERRAL_STATUSES),
    ("referral_events", "status", vocab.REFERRAL_STATUSES),
    ("evacuation_cases", "stage", vocab.ALL_EVACUATION_STAGES),
    ("evacuation_events", "stage", vocab.ALL_EVACUATION_STAGES),
    ("movements", "mode", vocab.MOVEMENT_MODES),
    ("movements", "status", vocab.MOVEMENT_STATUSES),
    ("hazards", "kind", vocab.HAZARD_KINDS),
    ("hazards", "severity", vocab.HAZARD_SEVERITIES),
    ("consular_posts", "status", vocab.CONSULAR_POST_STATUSES),
]


@pytest.mark.parametrize("table, column, words", VOCAB_COLUMNS,
                         ids=[f"{t}.{c}" for t, c, _ in VOCAB_COLUMNS])
def test_vocabulary_columns_hold_only_vocabulary_values(db, table, column, words):
    assert one(db, f"SELECT count(*) FROM {table} WHERE {column} NOT IN {in_list(words)}") == 0
    assert one(db, f"SELECT count(*) FROM {table}") > 0


@pytest.mark.parametrize("table, column", [
    ("persons", "nationality"), ("persons", "second_nationality"),
    ("evacuation_cases", "destination"), ("movements", "destination"),
    ("consular_posts", "country"),
])
def test_country_codes_are_iso3_codes(db, table, column):
    assert one(db, f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "
                   f"AND {column} NOT IN (SELECT iso3 FROM countries)") == 0


@pytest.mark.parametrize("words, sql", [
    (vocab.FACILITY_KINDS, "SELECT DISTINCT kind FROM facilities WHERE scenario_id = 1"),
    (vocab.REFERRAL_SERVICES, "SELECT DISTINCT service FROM referrals WHERE scenario_id = 1"),
    (vocab.REFERRAL_STATUSES, "SELECT DISTINCT status FROM referrals WHERE scenario_id = 1"),
    (vocab.ALL_EVACUATION_STAGES,
     "SELECT DISTINCT stage FROM evacuation_cases WHERE scenario_id = 1"),
    (vocab.PERSON_STATUSES, "SELECT DISTINCT status FROM persons WHERE scenario_id = 1"),
    (vocab.FACILITY_STATUSES, "SELECT DISTINCT status FROM facilities"),
    (vocab.MOVEMENT_MODES, "SELECT DISTINCT mode FROM movements"),
], ids=["facility kinds", "services", "referral statuses", "stages", "person statuses",
        "facility statuses", "modes"])
def test_every_vocabulary_value_occurs(db, words, sql):
    assert {r[0] for r in db.execute(sql)} == set(words)


def test_at_least_fifteen_nationalities_with_ethiopians_first(db):
    rows = db.execute("SELECT nationality, count(*) FROM persons WHERE scenario_id = 1 "
                      "GROUP BY 1 ORDER BY 2 DESC").fetchall()
    assert len(rows) >= 15
    assert rows[0][0] == "ETH"


def test_no_immigration_or_residence_status_column(db):
    names = [f"{t}.{c[1]}" for (t,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")
        for c in db.execute(f"PRAGMA table_info({t})")]
    pattern = re.compile(r"immigra|residen|visa|irregular|illegal|legal_status|permit", re.I)
    assert names and not [n for n in names if pattern.search(n)]


# --- the contract, row by row ---------------------------------------------------

def test_refs_are_unique_and_readable_across_scenarios(db):
    assert one(db, "SELECT count(DISTINCT ref) FROM persons") == one(
        db, "SELECT count(*) FROM persons")
    for scenario, prefix in ((1, "LB-"), (2, "EX-")):
        assert one(db, "SELECT count(*) FROM persons WHERE scenario_id = ? AND "
                       "(substr(ref, 1, 3) <> ? OR length(ref) <> 10)", scenario, prefix) == 0


def test_families_share_nationality_and_are_two_to_six(db):
    rows = db.execute("SELECT count(*), count(DISTINCT nationality), count(DISTINCT scenario_id) "
                      "FROM persons WHERE family_id IS NOT NULL GROUP BY family_id").fetchall()
    assert rows and all(2 <= n <= 6 and nats == 1 and s == 1 for n, nats, s in rows)
    in_families = sum(n for n, _, _ in rows) / one(db, "SELECT count(*) FROM persons")
    assert 0.15 < in_families < 0.35


def test_rates_are_plausible(db):
    def share(where: str) -> float:
        return one(db, f"SELECT avg(CASE WHEN {where} THEN 1.0 ELSE 0 END) FROM persons "
                       "WHERE scenario_id = 1")
    assert 0.28 < share("status = 'sheltered'") < 0.42
    assert 0.05 < share("status = 'evacuated'") < 0.15
    assert 0.6 < share("consent_consular") < 0.8
    assert 0.02 < share("protection_confidential") < 0.09
    assert 0.005 < share("second_nationality IS NOT NULL") < 0.04
    syr = one(db, "SELECT avg(protection_confidential) FROM persons WHERE nationality = 'SYR'")
    eth = one(db, "SELECT avg(protection_confidential) FROM persons WHERE nationality = 'ETH'")
    assert syr > 4 * eth


def test_sheltered_persons_and_only_they_have_a_facility_of_their_scenario(db):
    assert one(db, "SELECT count(*) FROM persons WHERE (status = 'sheltered') "
                   "<> (facility_id IS NOT NULL)") == 0
    assert one(db, "SELECT count(*) FROM persons p JOIN facilities f ON f.id = p.facility_id "
                   "WHERE f.scenario_id <> p.scenario_id OR f.status IN ('closed', 'damaged') "
                   "OR p.lat <> f.lat OR p.lon <> f.lon OR p.area_pcode <> f.area_pcode") == 0


def test_latest_occupancy_is_the_sheltered_count_and_never_above_capacity(db):
    rows = db.execute("""
        SELECT f.id, f.capacity, f.confirmed_at, o.at, o.occupants,
               (SELECT count(*) FROM persons p WHERE p.facility_id = f.id)
        FROM facilities f JOIN facility_occupancy o ON o.facility_id = f.id
        WHERE o.at = (SELECT max(at) FROM facility_occupancy WHERE facility_id = f.id)
    """).fetchall()
    assert len(rows) == one(db, "SELECT count(*) FROM facilities")
    assert all(at == confirmed and occ == sheltered for _, _, confirmed, at, occ, sheltered in rows)
    assert one(db, "SELECT count(*) FROM facility_occupancy o JOIN facilities f "
                   "ON f.id = o.facility_id WHERE o.occupants > f.capacity") == 0
    full = [r for r in rows if r[4] == r[1]]
    assert full and any(0.9 * cap <= occ < cap for _, cap, _, _, occ, _ in rows)
    # a report every 6 hours, rising over the crisis
    first = one(db, "SELECT sum(occupants) FROM facility_occupancy WHERE at < '2026-11-02'")
    last = one(db, "SELECT sum(occupants) FROM facility_occupancy WHERE at >= '2026-11-16'")
    assert last > first


def test_freshness_of_facility_confirmations(db):
    def count(where: str) -> int:
        return one(db, f"SELECT count(*) FROM facilities WHERE {where}", AS_OF)

    fresh = count("confirmed_at >= datetime(?, '-12 hours')")
    stale = count("confirmed_at <= datetime(?, '-2 days')")
    assert fresh > stale > 0
    assert one(db, "SELECT count(*) FROM facilities WHERE kind = 'safe_house' "
                   "AND NOT confidential") == 0


def test_the_last_person_event_is_the_persons_current_state(db):
    assert one(db, """
        SELECT count(*) FROM persons p JOIN person_events e ON e.person_id = p.id
        WHERE e.at = (SELECT max(at) FROM person_events WHERE person_id = p.id)
          AND (e.status <> p.status OR e.facility_id IS NOT p.facility_id
               OR e.lat IS NOT p.lat OR e.lon IS NOT p.lon OR e.at <> p.updated_at)
    """) == 0
    counts = db.execute("SELECT count(*), min(at) FROM person_events GROUP BY person_id").fetchall()
    assert len(counts) == one(db, "SELECT count(*) FROM persons")
    assert {n for n, _ in counts} == {1, 2, 3, 4}
    assert one(db, "SELECT count(*) FROM persons p WHERE registered_at > updated_at OR "
                   "registered_at <> (SELECT min(at) FROM person_events "
                   "WHERE person_id = p.id)") == 0


def test_referral_deadlines_and_closing(db):
    for service, hours in vocab.REFERRAL_DEADLINE_HOURS.items():
        assert one(db, "SELECT count(*) FROM referrals WHERE service = ? AND "
                       "(julianday(due_at) - julianday(created_at)) * 24 NOT BETWEEN ? AND ?",
                   service, hours - 0.01, hours + 0.01) == 0
    ended = in_list(vocab.REFERRAL_ENDED)
    assert one(db, f"SELECT count(*) FROM referrals WHERE (status IN {ended}) "
                   "<> (closed_at IS NOT NULL)") == 0
    overdue = one(db, "SELECT count(*) FROM referrals WHERE status = 'open' AND due_at < ?", AS_OF)
    assert overdue > 0.05 * one(db, "SELECT count(*) FROM referrals")
    sensitive = in_list(vocab.SENSITIVE_SERVICES)
    tagged = one(db, f"""SELECT avg(CASE WHEN EXISTS (SELECT 1 FROM person_vulnerabilities v
                         WHERE v.person_id = r.person_id) OR p.protection_confidential
                         THEN 1.0 ELSE 0 END)
                         FROM referrals r JOIN persons p ON p.id = r.person_id
                         WHERE r.service IN {sensitive}""")
    assert tagged > 0.8


def test_referral_histories_end_in_the_current_status(db):
    assert one(db, """
        SELECT count(*) FROM referrals r JOIN referral_events e ON e.referral_id = r.id
        WHERE e.at = (SELECT max(at) FROM referral_events WHERE referral_id = r.id)
          AND e.status <> r.status
    """) == 0
    assert one(db, "SELECT count(*) FROM referrals r WHERE (SELECT status FROM referral_events "
                   "WHERE referral_id = r.id ORDER BY at LIMIT 1) <> 'open'") == 0


def test_evacuation_histories_move_forward_and_end_in_the_current_stage(db):
    assert one(db, DIRTY_SQL["evacuation_stage_backwards"]) == 0
    assert one(db, """
        SELECT count(*) FROM evacuation_cases c JOIN evacuation_events e ON e.case_id = c.id
        WHERE e.at = (SELECT max(at) FROM evacuation_events WHERE case_id = c.id)
          AND (e.stage <> c.stage OR e.at <> c.updated_at)
    """) == 0
    assert one(db, "SELECT count(*) FROM (SELECT case_id, at FROM evacuation_events "
                   "GROUP BY case_id, at HAVING count(*) > 1)") == 0
    assert one(db, "SELECT count(*) FROM evacuation_cases c WHERE requested_at <> "
                   "(SELECT min(at) FROM evacuation_events WHERE case_id = c.id)") == 0


def test_departed_cases_have_evacuated_persons_and_seats(db):
    gone = in_list(vocab.EVACUATION_PATH[4:])
    assert one(db, f"SELECT count(*) FROM evacuation_cases c JOIN persons p ON p.id = c.person_id "
                   f"WHERE (c.stage IN {gone}) <> (p.status = 'evacuated')") == 0
    seated = in_list(vocab.EVACUATION_PATH[3:] + ("no_show",))
    assert one(db, f"SELECT count(*) FROM evacuation_cases WHERE (stage IN {seated}) "
                   "<> (movement_id IS NOT NULL)") == 0
    assert one(db, "SELECT count(*) FROM movements m WHERE capacity < "
                   "(SELECT count(*) FROM evacuation_cases WHERE movement_id = m.id)") == 0
    assert one(db, "SELECT count(*) FROM movements WHERE capacity NOT BETWEEN 50 AND 400") == 0
    assert one(db, "SELECT count(*) FROM movements m JOIN facilities f "
                   "ON f.id = m.origin_facility_id WHERE f.kind NOT IN "
                   "('transit_centre', 'assembly_point') OR f.scenario_id <> m.scenario_id") == 0
    # departures happen at the movement's departure time
    assert one(db, "SELECT count(*) FROM evacuation_events e JOIN evacuation_cases c "
                   "ON c.id = e.case_id JOIN movements m ON m.id = c.movement_id "
                   "WHERE e.stage IN ('departed', 'no_show') AND e.at <> m.departs_at") == 0
    assert one(db, "SELECT count(*) FROM movements WHERE status IN ('planned', 'boarding') "
                   "AND departs_at <= ?", AS_OF) == 0


def test_nothing_happens_after_the_as_of_moment(db):
    columns = [("persons", "registered_at"), ("persons", "updated_at"), ("person_events", "at"),
               ("facilities", "confirmed_at"), ("facility_occupancy", "at"),
               ("referrals", "created_at"), ("referrals", "closed_at"), ("referral_events", "at"),
               ("evacuation_cases", "requested_at"), ("evacuation_cases", "updated_at"),
               ("evacuation_events", "at"), ("hazards", "valid_from"), ("hazards", "valid_to")]
    for table, column in columns:
        assert one(db, f"SELECT count(*) FROM {table} WHERE {column} > ?", AS_OF) == 0, column
        assert one(db, f"SELECT count(*) FROM {table} WHERE {column} < '2026-10-26'") == 0, column
    assert one(db, "SELECT count(*) FROM hazards WHERE valid_to IS NULL") > 0


def test_hazards_are_closed_geojson_polygons_in_lebanon(db):
    for (geometry,) in db.execute("SELECT geometry FROM hazards"):
        shape = json.loads(geometry)
        ring = shape["coordinates"][0]
        assert shape["type"] == "Polygon" and len(ring) >= 4 and ring[0] == ring[-1]
        assert all(34.9 < lon < 36.8 and 32.9 < lat < 34.8 for lon, lat in ring)


def test_persons_are_in_lebanon_and_in_known_areas(db):
    assert one(db, "SELECT count(*) FROM persons WHERE lat NOT BETWEEN 32.9 AND 34.8 "
                   "OR lon NOT BETWEEN 34.9 AND 36.8") == 0
    assert one(db, "SELECT count(*) FROM persons WHERE area_pcode NOT IN "
                   "(SELECT pcode FROM areas WHERE admin_level = 2)") == 0


def test_vulnerability_rates(db):
    n = one(db, "SELECT count(*) FROM persons")
    rate = {tag: one(db, "SELECT count(*) FROM person_vulnerabilities WHERE tag = ?", tag) / n
            for tag in vocab.VULNERABILITY_TAGS}
    assert 0.003 < rate["uasc"] < 0.03 and 0.02 < rate["medical"] < 0.08
    assert one(db, "SELECT count(*) FROM person_vulnerabilities v JOIN persons p "
                   "ON p.id = v.person_id WHERE v.tag = 'pregnant' AND p.sex <> 'f'") == 0


# --- dirty data -----------------------------------------------------------------

def test_the_documented_dirty_set():
    assert DIRTY_KINDS == DIRTY_EXPECTED


@pytest.mark.parametrize("kind", list(DIRTY_SQL))
def test_a_clean_run_has_no_dirty_rows(db, kind):
    assert one(db, DIRTY_SQL[kind]) == 0


@pytest.mark.parametrize("kind", list(DIRTY_SQL))
def test_a_dirty_run_has_each_kind_of_dirty_row(dirty, kind):
    conn = sqlite3.connect(dirty)
    try:
        assert one(conn, DIRTY_SQL[kind]) == DIRTY_EXPECTED[kind]
        assert one(conn, "SELECT count(*) FROM persons WHERE scenario_id = 1") == PERSONS
    finally:
        conn.close()


def test_no_word_illegal_anywhere(dirty):
    conn = sqlite3.connect(dirty)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            cols = [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
            where = " OR ".join(f"lower(CAST({c} AS TEXT)) LIKE '%illegal%'" for c in cols)
            assert one(conn, f"SELECT count(*) FROM {name} WHERE {where}") == 0, name
    finally:
        conn.close()


# --- the API -----------------------------------------------------------------------

def test_the_generated_file_reads_through_the_models(clean):
    engine = create_engine(f"sqlite:///{clean}")
    with Session(engine) as session:
        people = session.scalars(select(Person).order_by(Person.id).limit(5)).all()
    engine.dispose()
    assert len(people) == 5
    assert all(isinstance(p.registered_at, datetime) and isinstance(p.consent_consular, bool)
               for p in people)


def test_report_and_refusal_of_a_database_that_holds_a_scenario(tmp_path):
    url = f"sqlite:///{tmp_path / 'twice.sqlite'}"
    report = generate(url, persons=300, seed=1)
    conn = sqlite3.connect(tmp_path / "twice.sqlite")
    assert report.rows["persons"] == one(conn, "SELECT count(*) FROM persons")
    assert report.scenario_ids == {"live": 1, "exercise": 2} and report.dirty == {}
    with pytest.raises(GenerateError, match="already holds"):
        generate(url, persons=300, seed=2)
    assert one(conn, "SELECT count(*) FROM scenarios") == 2
    conn.close()


def test_a_start_moves_every_time(tmp_path):
    path = tmp_path / "later.sqlite"
    generate(f"sqlite:///{path}", persons=200, seed=3, start=datetime(2027, 1, 1))
    conn = sqlite3.connect(path)
    assert one(conn, "SELECT min(registered_at) FROM persons") >= "2027-01-01"
    assert one(conn, "SELECT max(updated_at) FROM persons") <= "2027-01-29"
    conn.close()
