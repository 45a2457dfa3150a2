"""The drill simulator (`sitroom simulate`): effects, refusals, bad scripts, controls, kills.

Each test plays into its OWN copy of a small generated database (the shared session
fixtures are read-only), on SQLite and PostgreSQL. Expectations come from the test's own
SQL and pandas over raw rows: snapshots before and after, and the invariants every
history must keep (the latest event of a row is its current state).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml
from sqlalchemy import text

from dashboard.contract import vocab
from dashboard.contract.models import Base
from dashboard.tools import cli
from dashboard.tools.generate import generate
from tests.conftest import _pg_admin_conninfo

PERSONS = 600  # the exercise scenario then holds 300 persons and 20 facilities
SEED = 11
EXERCISE, LIVE = 2, 1
ROOT = Path(__file__).resolve().parent.parent
CEDAR = ROOT / "data" / "drills" / "cedar-shield.yaml"
PATH_RANK = {s: i for i, s in enumerate(vocab.EVACUATION_PATH)}


# --- own databases ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim_template") / "template.sqlite"
    generate(f"sqlite:///{path}", persons=PERSONS, seed=SEED)
    return path


@pytest.fixture(scope="module")
def pg_template(pg_databases) -> str:
    url = pg_databases.create("simtpl")
    generate(url, persons=PERSONS, seed=SEED)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path) -> str:
    """A new copy of the template database for one test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "drill.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    template = request.getfixturevalue("pg_template")
    dbs = request.getfixturevalue("pg_databases")
    name = f"sitroom_test_sim_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    dbs.created.append(name)
    return f"{_pg_admin_conninfo().rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    path = tmp_path / "drill.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """Control and state files go to the test's folder."""
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path / "home"))


# --- the test's own reading of the database ------------------------------------------------


def snapshot(engine, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for name, table in sorted(Base.metadata.tables.items()):
            if name in skip:
                continue
            keys = ", ".join(c.name for c in table.primary_key.columns)
            out[name] = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {name} "
                                                             f"ORDER BY {keys}"))]
    return out


def frame(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def as_time(value) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def data_as_of(engine, scenario: int = EXERCISE) -> datetime:
    value = frame(engine, "SELECT MAX(updated_at) AS t FROM persons WHERE scenario_id = :s",
                  s=scenario).t[0]
    return as_time(value).replace(microsecond=0)


def latest(events: pd.DataFrame, key: str) -> pd.DataFrame:
    events = events.assign(at=pd.to_datetime(events["at"]))
    return events.sort_values([key, "at", "id"]).groupby(key).tail(1).set_index(key)


def invariant_problems(engine, scenario: int = EXERCISE) -> list[str]:
    """Every current row agrees with the newest entry of its history."""
    problems = []
    persons = frame(engine, "SELECT id, status, facility_id, updated_at FROM persons "
                            "WHERE scenario_id = :s", s=scenario).set_index("id")
    pe = latest(frame(engine, "SELECT e.id, e.person_id, e.at, e.status, e.facility_id "
                              "FROM person_events e JOIN persons p ON p.id = e.person_id "
                              "WHERE p.scenario_id = :s", s=scenario), "person_id")
    joined = persons.merge(pe, how="left", left_index=True, right_index=True,
                           suffixes=("", "_ev"))
    if joined.status_ev.isna().any():
        problems.append("a person without history")
    if (joined.status != joined.status_ev).any():
        problems.append("person status differs from its last event")
    if (joined.facility_id.fillna(-1) != joined.facility_id_ev.fillna(-1)).any():
        problems.append("person facility differs from its last event")
    if (pd.to_datetime(joined["updated_at"]) != joined["at"]).any():
        problems.append("person updated_at differs from its last event")
    occ = latest(frame(engine, "SELECT o.id, o.facility_id, o.at, o.occupants "
                               "FROM facility_occupancy o JOIN facilities f "
                               "ON f.id = o.facility_id WHERE f.scenario_id = :s", s=scenario),
                 "facility_id")
    counts = frame(engine, "SELECT facility_id, COUNT(*) AS n FROM persons WHERE scenario_id = :s "
                           "AND status = 'sheltered' GROUP BY facility_id", s=scenario)
    counts = counts.set_index("facility_id").n
    for fid, row in occ.iterrows():
        if int(row.occupants) != int(counts.get(fid, 0)):
            problems.append(f"facility {fid}: last report {row.occupants}, "
                            f"{counts.get(fid, 0)} sheltered")
    for table, events, key, col in (("evacuation_cases", "evacuation_events", "case_id", "stage"),
                                    ("referrals", "referral_events", "referral_id", "status")):
        rows = frame(engine, f"SELECT id, {col} FROM {table} WHERE scenario_id = :s",
                     s=scenario).set_index("id")
        ev = latest(frame(engine, f"SELECT e.id, e.{key}, e.at, e.{col} FROM {events} e "
                                  f"JOIN {table} t ON t.id = e.{key} WHERE t.scenario_id = :s",
                          s=scenario), key)
        both = rows.merge(ev, how="left", left_index=True, right_index=True,
                          suffixes=("", "_ev"))
        if (both[col] != both[f"{col}_ev"]).any():
            problems.append(f"{table}: current {col} differs from the last event")
    return problems


def backwards_cases(engine, scenario: int = EXERCISE) -> set[int]:
    ev = frame(engine, "SELECT e.id, e.case_id, e.at, e.stage FROM evacuation_events e "
                       "JOIN evacuation_cases c ON c.id = e.case_id WHERE c.scenario_id = :s",
               s=scenario)
    ev = ev[ev.stage.isin(PATH_RANK)].assign(at=lambda f: pd.to_datetime(f["at"]))
    ev = ev.sort_values(["case_id", "at", "id"])
    rank = ev.stage.map(PATH_RANK)
    back = rank < rank.groupby(ev.case_id).shift(1)
    return set(ev.case_id[back])


def duration(value: str) -> int:
    h, m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?", value).groups()
    return int(h or 0) * 3600 + int(m or 0) * 60


def simulate(url: str, script: Path, *extra: str, speed: str = "1e9") -> int:
    return cli.main(["simulate", "--db-url", url, "--scenario", str(EXERCISE), "--script",
                     str(script), "--speed", speed, *extra])


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"drill-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(body)
    return path


# --- the example drill --------------------------------------------------------------------------


def test_cedar_shield_plays_every_kind_in_one_transaction_each(fresh_url, raw, capsys):
    engine = raw(fresh_url)
    before = snapshot(engine)
    start = data_as_of(engine)
    assert invariant_problems(engine) == []  # the generated data keeps them to begin with
    script = yaml.safe_load(CEDAR.read_text())["injects"]

    assert simulate(fresh_url, CEDAR) == 0
    assert "25 applied, 0 skipped" in capsys.readouterr().out

    injects = frame(engine, "SELECT seq, name, kind, offset_s, at, status, run_id, scenario_id "
                            "FROM drill_injects ORDER BY seq")
    assert list(injects.name) == [i["name"] for i in script]
    assert set(injects.status) == {"applied"}
    assert set(injects.kind) == set(vocab.DRILL_INJECT_KINDS)
    assert set(injects.scenario_id) == {EXERCISE} and injects.run_id.nunique() == 1
    assert list(injects.offset_s) == [duration(i["at"]) for i in script]
    assert [as_time(t) for t in injects["at"]] == [start + timedelta(seconds=duration(i["at"]))
                                                for i in script]
    assert invariant_problems(engine) == []
    assert backwards_cases(engine) == set()
    after = snapshot(engine)

    # nothing of the live scenario changed
    for table in ("persons", "facilities", "referrals", "evacuation_cases", "movements",
                  "hazards"):
        col = list(Base.metadata.tables[table].c).index(Base.metadata.tables[table].c.scenario_id)
        assert ([r for r in before[table] if r[col] == LIVE]
                == [r for r in after[table] if r[col] == LIVE]), table

    # register: the new people, synthetic, with the flags the script gave
    new = frame(engine, "SELECT ref, nationality, consent_consular, protection_confidential, "
                        "registered_at FROM persons WHERE scenario_id = :s AND registered_at > :t",
                s=EXERCISE, t=start)
    assert len(new) == sum(i["count"] for i in script if i["kind"] == "register")
    assert new.ref.is_unique and all(r.startswith("EX-") for r in new.ref)
    children = new[new.nationality == "SYR"]
    assert len(children) == 4
    assert not children.consent_consular.astype(bool).any()
    assert children.protection_confidential.astype(bool).all()

    # referrals opened: open, due after the service's deadline, one event each
    opened = frame(engine, "SELECT r.id, r.service, r.created_at, r.due_at, "
                           "(SELECT COUNT(*) FROM referral_events e WHERE e.referral_id = r.id) "
                           "AS events FROM referrals r WHERE r.scenario_id = :s "
                           "AND r.created_at > :t", s=EXERCISE, t=start)
    assert len(opened) == sum(i["count"] for i in script if i["kind"] == "open_referrals")
    for r in opened.itertuples():
        hours = vocab.REFERRAL_DEADLINE_HOURS[r.service]
        assert as_time(r.due_at) - as_time(r.created_at) == timedelta(hours=hours)

    # hazard spreads: the old row ends when the larger one begins
    hazards = frame(engine, "SELECT id, geometry, valid_from, valid_to FROM hazards "
                            "WHERE scenario_id = :s AND valid_from > :t ORDER BY id",
                    s=EXERCISE, t=start - timedelta(seconds=1))
    assert len(hazards) == 5  # three appear, two spreads

    def width(geometry: str) -> float:
        ring = json.loads(geometry)["coordinates"][0]
        return max(p[0] for p in ring) - min(p[0] for p in ring)

    first, spread = hazards.iloc[0], hazards.iloc[2]
    assert as_time(first.valid_to) == as_time(spread.valid_from)
    assert width(spread.geometry) == pytest.approx(width(first.geometry) * 1.8, rel=0.01)

    # the facility that closed is empty and reports no one
    facilities_before = {r[0]: r for r in before["facilities"]}
    status_col = [c.name for c in Base.metadata.tables["facilities"].c].index("status")
    closed = [r[0] for r in after["facilities"]
              if r[status_col] == "closed" and facilities_before[r[0]][status_col] != "closed"]
    assert len(closed) == 1
    assert frame(engine, "SELECT COUNT(*) AS n FROM persons WHERE facility_id = :f "
                         "AND status = 'sheltered'", f=closed[0]).n[0] == 0

    # the movement that departed carries no manifested case any more
    moved = frame(engine, "SELECT id FROM movements WHERE scenario_id = :s AND status = "
                          "'departed'", s=EXERCISE)
    gone = set(moved.id) - {r[0] for r in before["movements"] if r[-1] == "departed"}
    assert len(gone) == 1
    left = frame(engine, "SELECT c.stage, p.status FROM evacuation_cases c JOIN persons p "
                         "ON p.id = c.person_id WHERE c.movement_id = :m AND c.updated_at > :t",
                 m=gone.pop(), t=start)
    assert set(left.stage) <= {"departed", "arrived_transit"}
    assert set(left.status) == {"evacuated"}


def test_restart_takes_every_inject_back_and_plays_again(fresh_url, raw, capsys):
    engine = raw(fresh_url)
    before = snapshot(engine, skip=("drill_injects",))
    assert simulate(fresh_url, CEDAR) == 0
    first_run = set(frame(engine, "SELECT run_id FROM drill_injects").run_id)

    # a second play without --restart is refused and writes nothing
    played = snapshot(engine)
    assert simulate(fresh_url, CEDAR) == 2
    assert "--restart" in capsys.readouterr().err
    assert snapshot(engine) == played

    from dashboard.tools import simulate as sim  # taking back, checked against the first snapshot

    sim.undo_runs(engine, EXERCISE)
    assert snapshot(engine, skip=("drill_injects",)) == before
    assert frame(engine, "SELECT COUNT(*) AS n FROM drill_injects").n[0] == 0

    assert simulate(fresh_url, CEDAR) == 0
    assert simulate(fresh_url, CEDAR, "--restart") == 0
    runs = frame(engine, "SELECT run_id, COUNT(*) AS n FROM drill_injects GROUP BY run_id")
    assert len(runs) == 1 and runs.n[0] == 25 and not set(runs.run_id) & first_run
    assert invariant_problems(engine) == []


# --- refusals and bad scripts ---------------------------------------------------------------


@pytest.mark.parametrize("scenario, says", [(LIVE, "is live, not an exercise"),
                                            (99, "no scenario 99")])
def test_refuses_a_live_or_missing_scenario_and_writes_nothing(fresh_url, raw, capsys,
                                                               scenario, says):
    engine = raw(fresh_url)
    before = snapshot(engine)
    code = cli.main(["simulate", "--db-url", fresh_url, "--scenario", str(scenario),
                     "--script", str(CEDAR), "--speed", "1e9"])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Nothing was written" in err
    assert "Traceback" not in err
    assert snapshot(engine) == before


GOOD = """drill: T
injects:
  - name: one
    at: 0m
    kind: hazard
    hazard_kind: fire
    severity: low
    centre: Tyre
    radius_km: 2
"""

BAD_SCRIPTS = {
    # name: (script, marker on the expected line, words of the reason)
    "yaml syntax": (GOOD + "  - name: two\n    at: 5m\n   kind: hazard\n", "   kind: hazard",
                    "not valid YAML"),
    "unknown kind": (GOOD + "  - name: two\n    at: 5m\n    kind: earthquake\n",
                     "kind: earthquake", "unknown kind 'earthquake'"),
    "missing field": (GOOD + "  - name: two\n    at: 5m\n    kind: arrivals\n    count: 3\n",
                      "  - name: two", "needs the field facility"),
    "bad type": (GOOD + "  - name: two\n    at: 5m\n    kind: departures\n"
                        "    facility: {kind: shelter}\n    count: many\n",
                 "count: many", "count must be a whole number"),
    "negative count": (GOOD + "  - name: two\n    at: 5m\n    kind: departures\n"
                              "    facility: {kind: shelter}\n    count: -4\n",
                       "count: -4", "at least 1"),
    "offset goes back": (GOOD.replace("at: 0m", "at: 2h") + "  - name: two\n    at: 1h\n"
                         "    kind: hazard_spreads\n    hazard: one\n    factor: 2\n",
                         "  - name: two", "offsets must not go back"),
    "unknown reference to an inject": (GOOD + "  - name: two\n    at: 1h\n"
                                       "    kind: hazard_spreads\n    hazard: nine\n"
                                       "    factor: 2\n", "hazard: nine",
                                       "not an earlier inject"),
    "bad duration": (GOOD.replace("at: 0m", "at: 01:30"), "at: 01:30", "1h30m"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCRIPTS))
def test_a_bad_script_gives_the_line_and_reason_and_writes_nothing(case, sqlite_url, raw,
                                                                   tmp_path, capsys):
    body, marker, reason = BAD_SCRIPTS[case]
    line = next(i for i, ln in enumerate(body.splitlines(), start=1)
                if ln.startswith(marker) or ln.strip().startswith(marker))
    path = write(tmp_path, body)
    engine = raw(sqlite_url)
    before = snapshot(engine)
    assert simulate(sqlite_url, path) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: " in err and reason in err, err
    assert "Traceback" not in err
    assert snapshot(engine) == before


def test_an_inject_naming_what_does_not_exist_is_skipped_alone(fresh_url, raw, tmp_path):
    engine = raw(fresh_url)
    before = snapshot(engine, skip=("drill_injects", "hazards"))
    hazards_before = snapshot(engine)["hazards"]
    path = write(tmp_path, """drill: T
injects:
  - name: To a shelter nobody built
    at: 0m
    kind: arrivals
    facility: {name: No Such Shelter}
    count: 5
  - name: Spread of a hazard that never was
    at: 5m
    kind: hazard_spreads
    hazard: {id: 987654}
    factor: 2
  - name: Register in a district that does not exist
    at: 10m
    kind: register
    count: 3
    nationality: ETH
    area: Atlantis
  - name: Real fire
    at: 15m
    kind: hazard
    hazard_kind: fire
    severity: low
    centre: [33.9, 35.5]
    radius_km: 1
""")
    assert simulate(fresh_url, path) == 0
    rows = frame(engine, "SELECT seq, status, detail FROM drill_injects ORDER BY seq")
    assert list(rows.status) == ["skipped", "skipped", "skipped", "applied"]
    assert "No Such Shelter" in rows.detail[0]
    assert "987654" in rows.detail[1]
    assert "Atlantis" in rows.detail[2]
    assert snapshot(engine, skip=("drill_injects", "hazards")) == before
    assert len(snapshot(engine)["hazards"]) == len(hazards_before) + 1


def test_arrivals_move_the_first_free_people_into_the_facility(fresh_url, raw, tmp_path):
    engine = raw(fresh_url)
    start = data_as_of(engine)
    occ = latest(frame(engine, "SELECT o.id, o.facility_id, o.at, o.occupants FROM "
                               "facility_occupancy o JOIN facilities f ON f.id = o.facility_id "
                               "WHERE f.scenario_id = :s", s=EXERCISE), "facility_id")
    fac = frame(engine, "SELECT id, capacity, area_pcode FROM facilities WHERE scenario_id = :s "
                        "AND kind = 'shelter' AND status = 'open' ORDER BY id", s=EXERCISE)
    fac = fac[fac.capacity - fac.id.map(occ.occupants).fillna(0) >= 10].iloc[0]
    free = frame(engine, "SELECT id, area_pcode FROM persons WHERE scenario_id = :s AND status "
                         "IN ('located', 'in_transit') AND facility_id IS NULL ORDER BY id",
                 s=EXERCISE)
    free = free.assign(away=free.area_pcode != fac.area_pcode).sort_values(["away", "id"])
    expected = set(free.id[:7])
    path = write(tmp_path, f"""drill: T
injects:
  - name: arrive
    at: 30m
    kind: arrivals
    facility: {{id: {int(fac.id)}}}
    count: 7
""")
    assert simulate(fresh_url, path) == 0
    at = start + timedelta(minutes=30)
    moved = frame(engine, "SELECT id, status, facility_id, updated_at FROM persons "
                          "WHERE facility_id = :f AND updated_at = :t", f=int(fac.id), t=at)
    assert set(moved.id) == expected and set(moved.status) == {"sheltered"}
    report = latest(frame(engine, "SELECT id, facility_id, at, occupants FROM facility_occupancy "
                                  "WHERE facility_id = :f", f=int(fac.id)), "facility_id")
    assert int(report.occupants.iloc[0]) == int(occ.occupants.get(fac.id, 0)) + 7
    assert as_time(report["at"].iloc[0]) == at
    assert invariant_problems(engine) == []


# --- controls and kills (a real process) ----------------------------------------------------------


def _spawn(url: str, script: Path, speed: str, control: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard.tools.cli", "simulate", "--db-url", url, "--scenario",
         str(EXERCISE), "--script", str(script), "--speed", speed, "--control", str(control),
         *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ})


def _count(engine) -> int:
    return int(frame(engine, "SELECT COUNT(*) AS n FROM drill_injects").n[0])


def _wait(predicate, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _control(control: Path, word: str) -> None:
    assert cli.main(["simulate-control", word, "--db-url", "sqlite://", "--scenario", "2",
                     "--control", str(control)]) == 0


def _hazards_script(tmp_path: Path, n: int, step_min: int) -> Path:
    body = "drill: T\ninjects:\n" + "".join(
        f"  - name: fire {i}\n    at: {i * step_min}m\n    kind: hazard\n    hazard_kind: fire\n"
        f"    severity: low\n    centre: [33.9, 35.5]\n    radius_km: 1\n" for i in range(n))
    return write(tmp_path, body)


def test_pause_resume_and_restart_from_the_beginning(sqlite_url, raw, tmp_path):
    engine = raw(sqlite_url)
    hazards_before = len(snapshot(engine)["hazards"])
    control = tmp_path / "drill.control.json"
    script = _hazards_script(tmp_path, 5, 1)  # one minute apart: a second apart at speed 60
    proc = _spawn(sqlite_url, script, "60", control)
    try:
        _wait(lambda: _count(engine) >= 1)
        first_run = set(frame(engine, "SELECT run_id FROM drill_injects").run_id)
        _control(control, "pause")
        state = control.with_name(control.name.replace(".control.json", ".state.json"))
        _wait(lambda: json.loads(state.read_text())["state"] == "paused")
        held = _count(engine)
        time.sleep(2.5)  # more than two injects' worth of time
        assert _count(engine) == held
        _control(control, "resume")
        _wait(lambda: _count(engine) >= held + 1)
        _control(control, "restart")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "paused" in out and "resumed" in out and "restarted from the beginning" in out
    rows = frame(engine, "SELECT run_id, seq, status FROM drill_injects ORDER BY seq")
    assert list(rows.seq) == [1, 2, 3, 4, 5] and set(rows.status) == {"applied"}
    assert rows.run_id.nunique() == 1 and not set(rows.run_id) & first_run
    assert len(snapshot(engine)["hazards"]) == hazards_before + 5  # the first run's are gone


def test_killing_the_simulator_leaves_whole_injects_only(fresh_url, raw, tmp_path):
    engine = raw(fresh_url)
    before = snapshot(engine, skip=("drill_injects",))
    kinds = [
        "kind: register\n    count: 6\n    nationality: ETH\n    area: Beirut\n"
        "    facility: {kind: shelter, pick: emptiest}",
        "kind: departures\n    facility: {kind: shelter, pick: fullest}\n    count: 4",
        "kind: arrivals\n    facility: {kind: shelter, pick: emptiest}\n    count: 5",
        "kind: open_referrals\n    count: 3\n    service: health",
    ]
    body = "drill: T\ninjects:\n" + "".join(
        f"  - name: step {i}\n    at: {i}m\n    {kinds[i % len(kinds)]}\n" for i in range(200))
    script = write(tmp_path, body)
    proc = _spawn(fresh_url, script, "600", tmp_path / "kill.control.json")  # 0.1 s apart
    try:
        _wait(lambda: _count(engine) >= 6)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    played = frame(engine, "SELECT seq, status, undo FROM drill_injects ORDER BY seq")
    assert 6 <= len(played) < 200
    assert list(played.seq) == list(range(1, len(played) + 1))
    assert invariant_problems(engine) == []
    # every row the applied injects say they inserted is there, and no other row is new
    inserted: dict[str, set[int]] = {}
    for undo in played.undo.dropna():
        for table, ids in json.loads(undo)["inserted"].items():
            inserted.setdefault(table, set()).update(ids)
    now = snapshot(engine)
    for table in ("persons", "person_events", "facility_occupancy", "referrals",
                  "referral_events"):
        new = {r[0] for r in now[table]} - {r[0] for r in before[table]}
        assert new == inserted.get(table, set()), table
    assert inserted["persons"] and inserted["referrals"]  # the kill came after both kinds
    # and taking the run back restores the database exactly
    from dashboard.tools import simulate as sim

    sim.undo_runs(engine, EXERCISE)
    assert snapshot(engine, skip=("drill_injects",)) == before
