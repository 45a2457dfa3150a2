"""The drill simulator: plays a drill script's timed injects into an exercise scenario.

It is the only part of the product that writes to the shared database, and it writes
only into a scenario whose kind is `exercise`. Each inject is ONE transaction: its effect
on the contract tables (following docs/data-contract.md, histories appended), plus its
`drill_injects` row (status `applied`, a summary in `detail`, and in `undo` the ids it
inserted and the values it replaced). An inject whose reference does not resolve, or that
finds nothing to change, writes only a `skipped` row saying why. Killing the simulator
therefore leaves every inject either wholly there or wholly absent.

Scenario time: the drill starts at the scenario's "data as of" (latest persons.updated_at)
and an inject takes effect at that moment plus its offset; the simulator waits
(offset delta) / speed real seconds between injects, and not at all while paused.

Pause, resume and restart arrive through a small control file (`sitroom simulate-control`)
that the simulator reads between injects. A restart takes back every inject of the run
from its `undo` record, newest first, in one transaction, and plays again from inject 1
under a new run id. The format and the controls are documented in docs/drill-scripts.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, DateTime, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from dashboard import config
from dashboard.contract import schema, vocab
from dashboard.contract.models import Base
from dashboard.figures import quality
from dashboard.store import db
from dashboard.tools.drill_script import DrillScript, Inject

CONTROL_COMMANDS = ("pause", "resume", "restart")
USABLE = ("open", "full")  # facility statuses that still hold or admit people
POLL_S = 0.1


class Refusal(Exception):
    """The simulator will not start; nothing was written. The message says why."""


class Skip(Exception):
    """The inject refers to something that does not exist, or finds nothing to change."""


# --- writing with an undo record ---------------------------------------------------------


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _jsonable(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value


def _key(table: str) -> str:
    return "person_id" if table == "person_vulnerabilities" else "id"


class Writer:
    """One inject's writes on one transaction, remembering how to take them back."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.inserted: dict[str, list[int]] = {}
        self.updated: list[list] = []  # [table, id, {column: value before}]

    def rows(self, statement: str, params: dict) -> list:
        return list(self.conn.execute(*db.bind(statement, params)))

    def insert(self, table: str, row: dict) -> int:
        cols = ", ".join(row)
        values = ", ".join(f":{c}" for c in row)
        if _key(table) == "id":
            new_id = self.conn.execute(
                db.sql(f"INSERT INTO {table} ({cols}) VALUES ({values}) RETURNING id", row),
                row).scalar_one()
        else:
            self.conn.execute(db.sql(f"INSERT INTO {table} ({cols}) VALUES ({values})", row), row)
            new_id = row[_key(table)]
        ids = self.inserted.setdefault(table, [])
        if new_id not in ids:
            ids.append(int(new_id))
        return int(new_id)

    def update(self, table: str, row_id: int, changes: dict) -> None:
        cols = ", ".join(changes)
        before = self.conn.execute(text(f"SELECT {cols} FROM {table} WHERE id = :id"),
                                   {"id": row_id}).mappings().one()
        self.updated.append([table, int(row_id), {c: _jsonable(before[c]) for c in changes}])
        sets = ", ".join(f"{c} = :{c}" for c in changes)
        params = {**changes, "row_id": row_id}
        self.conn.execute(db.sql(f"UPDATE {table} SET {sets} WHERE id = :row_id", params), params)

    def undo_record(self) -> str:
        return json.dumps({"inserted": self.inserted, "updated": self.updated})


def take_back(conn: Connection, undo: str | None) -> None:
    """Undo one inject from its undo record: restore replaced values, newest first, then
    delete the rows it inserted."""
    if not undo:
        return
    record = json.loads(undo)
    for table, row_id, before in reversed(record.get("updated", [])):
        columns = Base.metadata.tables[table].c
        values = {c: _as_datetime(v) if isinstance(columns[c].type, DateTime) else v
                  for c, v in before.items()}
        sets = ", ".join(f"{c} = :{c}" for c in values)
        params = {**values, "row_id": row_id}
        conn.execute(db.sql(f"UPDATE {table} SET {sets} WHERE id = :row_id", params), params)
    for table, ids in record.get("inserted", {}).items():
        if ids:
            params = {"ids": list(ids)}
            conn.execute(db.sql(f"DELETE FROM {table} WHERE {_key(table)} IN :ids", params),
                         params)


def undo_runs(engine: Engine, scenario_id: int) -> int:
    """Take back every drill inject played into the scenario, newest first, in one
    transaction, and delete their drill_injects rows. Returns how many were taken back."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, undo FROM drill_injects WHERE scenario_id = :s "
                                 "ORDER BY id DESC"), {"s": scenario_id}).all()
        for _id, undo in rows:
            take_back(conn, undo)
        conn.execute(text("DELETE FROM drill_injects WHERE scenario_id = :s"), {"s": scenario_id})
    return len(rows)


# --- resolving what an inject names ---------------------------------------------------------


@dataclass
class Facility:
    id: int
    name: str
    kind: str
    capacity: int
    status: str
    lat: float
    lon: float
    area_pcode: str | None
    occupants: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.occupants, 0)

    @property
    def label(self) -> str:
        return f"{self.name} (facility {self.id})"


@dataclass
class Play:
    """What one inject needs: its transaction, the scenario, the moment, the run's memory."""

    w: Writer
    scenario_id: int
    at: datetime
    run: RunState


@dataclass
class RunState:
    run_id: str
    # what each applied inject of this run wrote, by inject name (registered persons,
    # opened referrals, the hazard row): later injects refer to them by that name
    wrote: dict[str, dict[str, Any]] = field(default_factory=dict)
    hazard_after: dict[int, int] = field(default_factory=dict)  # old hazard id -> its spread


def _areas(p: Play, name: str) -> list:
    rows = p.w.rows("SELECT pcode, name, admin_level, parent_pcode, lat, lon FROM areas "
                    "WHERE LOWER(pcode) = :n OR LOWER(name) = :n ORDER BY admin_level, pcode",
                    {"n": name.strip().lower()})
    if not rows:
        raise Skip(f"no area named or coded {name!r}")
    return rows


def _area_pcodes(p: Play, name: str) -> list[str]:
    """The P-codes an area filter covers: the area and, for a governorate, its districts."""
    codes = [r.pcode for r in _areas(p, name)]
    children = p.w.rows("SELECT pcode FROM areas WHERE parent_pcode IN :codes", {"codes": codes})
    return sorted({*codes, *(r.pcode for r in children)})


def _district(p: Play, name: str):
    rows = [r for r in _areas(p, name) if r.admin_level == 2]
    if not rows:
        raise Skip(f"{name!r} is a governorate; name a district (admin level 2)")
    return rows[0]


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat = math.radians(lat2 - lat1)
    dlon = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(dlat, dlon)


def _facilities(p: Play) -> list[Facility]:
    rows = p.w.rows(
        f"SELECT f.id, f.name, f.kind, f.capacity, f.status, f.lat, f.lon, f.area_pcode, "
        f"lo.occupants FROM facilities f LEFT JOIN ({quality.latest_occupancy()}) lo "
        f"ON lo.facility_id = f.id WHERE f.scenario_id = :scenario ORDER BY f.id",
        {"scenario": p.scenario_id})
    return [Facility(r.id, r.name, r.kind, r.capacity or 0, r.status, r.lat, r.lon, r.area_pcode,
                     r.occupants if r.occupants is not None else 0) for r in rows]


def resolve_facility(p: Play, sel: dict, exclude: int | None = None) -> Facility:
    """The one facility a selector names (docs/drill-scripts.md, "Choosing a facility")."""
    every = _facilities(p)
    if "id" in sel or "name" in sel:
        found = [f for f in every if f.id == sel.get("id") or f.name == sel.get("name")]
        what = f"id {sel['id']}" if "id" in sel else f"named {sel['name']!r}"
        if not found:
            raise Skip(f"no facility with {what} in scenario {p.scenario_id}")
        if found[0].status not in USABLE:
            raise Skip(f"{found[0].label} is {found[0].status}")
        return found[0]
    # Contract breaks (no capacity, occupancy above capacity) are never chosen.
    fits = [f for f in every if f.status in USABLE and f.capacity > 0
            and 0 <= f.occupants <= f.capacity and f.id != exclude]
    if "kind" in sel:
        fits = [f for f in fits if f.kind == sel["kind"]]
    if "area" in sel:
        codes = _area_pcodes(p, sel["area"])
        fits = [f for f in fits if f.area_pcode in codes]
    if not fits:
        where = f" in {sel['area']}" if "area" in sel else ""
        raise Skip(f"no open facility of kind {sel.get('kind', 'any')}{where}")
    pick = sel.get("pick", "nearest" if "near" in sel else "emptiest")
    if pick == "nearest":
        near = _areas(p, sel["near"])[-1]  # the district if a name is both
        fits.sort(key=lambda f: (_distance_km(near.lat, near.lon, f.lat, f.lon), f.id))
    else:
        order: dict[str, Callable[[Facility], tuple]] = {
            "fullest": lambda f: (-f.occupants / f.capacity, f.id),
            "emptiest": lambda f: (-f.free, f.id),
            "largest": lambda f: (-f.capacity, f.id),
            "smallest": lambda f: (f.capacity, f.id),
        }
        fits.sort(key=order[pick])
    return fits[0]


def _report_occupancy(p: Play, fac: Facility, occupants: int) -> None:
    """A new occupancy report, and the facility's status and confirmation that go with it."""
    occupants = max(occupants, 0)
    p.w.insert("facility_occupancy", {"facility_id": fac.id, "at": p.at, "occupants": occupants})
    changes: dict[str, Any] = {"confirmed_at": p.at}
    if fac.status in USABLE:
        status = "full" if occupants >= fac.capacity else "open"
        if status != fac.status:
            changes["status"] = status
    p.w.update("facilities", fac.id, changes)
    fac.occupants = occupants


def _move_person(p: Play, person, status: str, facility: Facility | None) -> None:
    """A person's new status and place, on the row and in the history. Without a facility
    the person keeps their last known place."""
    if facility is not None:
        lat, lon, area = facility.lat, facility.lon, facility.area_pcode
    else:
        lat, lon, area = person.lat, person.lon, person.area_pcode
    changes: dict[str, Any] = {"status": status, "facility_id": facility.id if facility else None,
                               "lat": lat, "lon": lon, "area_pcode": area, "updated_at": p.at}
    p.w.update("persons", person.id, changes)
    p.w.insert("person_events", {"person_id": person.id, "at": p.at, "status": status,
                                 "facility_id": changes["facility_id"], "lat": lat, "lon": lon})


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the injects ---------------------------------------------------------------------------


def arrivals(p: Play, f: dict) -> str:
    fac = resolve_facility(p, f["facility"])
    if fac.free == 0:
        raise Skip(f"{fac.label} is full ({fac.occupants} of {fac.capacity}): no one admitted")
    params: dict[str, Any] = {"scenario": p.scenario_id, "area": fac.area_pcode or ""}
    where = ""
    if "from_area" in f:
        params["codes"] = _area_pcodes(p, f["from_area"])
        where = "AND p.area_pcode IN :codes"
    people = p.w.rows(
        "SELECT p.id, p.lat, p.lon, p.area_pcode FROM persons p "
        "WHERE p.scenario_id = :scenario AND p.status IN :v_unsheltered "
        f"AND p.facility_id IS NULL {where} "
        "ORDER BY CASE WHEN p.area_pcode = :area THEN 0 ELSE 1 END, p.id "
        f"LIMIT {min(f['count'], fac.free)}", params)
    if not people:
        raise Skip("no located or in-transit person without a facility"
                   + (f" in {f['from_area']}" if "from_area" in f else ""))
    before = fac.occupants
    for person in people:
        _move_person(p, person, "sheltered", fac)
    _report_occupancy(p, fac, before + len(people))
    short = f" ({f['count'] - len(people)} not admitted)" if len(people) < f["count"] else ""
    return (f"{_plural(len(people), 'person')} arrived at {fac.label}{short}: occupancy "
            f"{before} -> {fac.occupants} of {fac.capacity}")


def departures(p: Play, f: dict) -> str:
    fac = resolve_facility(p, f["facility"])
    status = f.get("new_status", "located")
    people = p.w.rows(
        "SELECT p.id, p.lat, p.lon, p.area_pcode FROM persons p "
        "WHERE p.facility_id = :fid AND p.status = :v_sheltered "
        f"ORDER BY p.id LIMIT {f['count']}", {"fid": fac.id})
    if not people:
        raise Skip(f"no one is sheltered at {fac.label}")
    before = fac.occupants
    for person in people:
        _move_person(p, person, status, None)
    _report_occupancy(p, fac, before - len(people))
    return (f"{_plural(len(people), 'person')} left {fac.label} ({status}): occupancy "
            f"{before} -> {fac.occupants} of {fac.capacity}")


@cache
def _templates() -> tuple[dict, ...]:
    """The shipped scenario templates (data/scenarios/), Lebanon's first: where the
    synthetic names and telephone numbers of registered people come from."""
    paths = sorted((config.DATA_DIR / "scenarios").glob("*.yaml"),
                   key=lambda path: (path.name != "lebanon.yaml", path.name))
    return tuple(yaml.safe_load(path.read_text("utf-8")) for path in paths)


def _template_for(country: str | None) -> dict:
    """The template of the scenario's country, else the first (Lebanon's)."""
    found = [t for t in _templates() if t.get("country") == country]
    return found[0] if found else _templates()[0]


def _synthetic_person(rng: random.Random, nationality: str, sex: str,
                      template: dict) -> tuple[str, str]:
    """A synthetic name from the template's lists for the nationality (or another
    template's), and a telephone number in the template's form."""
    names = template.get("nationalities", {}).get(nationality) or next(
        (t["nationalities"][nationality] for t in _templates()
         if nationality in t.get("nationalities", {})), None)
    if sex == "x":
        sex = rng.choice("fm")
    if names:
        given = rng.choice(names["given_f" if sex == "f" else "given_m"])
        full = f"{given} {rng.choice(names['family'])}"
    else:
        full = f"Drill Person {rng.randrange(1000, 9999)}"
    phone = template["phone"]
    prefix = rng.choice([str(x) for x in phone["prefixes"]])
    digits = " ".join(f"{rng.randrange(10 ** w):0{w}d}" for w in phone["digits"])
    return full, f"{phone['country_code']} {prefix} {digits}"


def register(p: Play, f: dict, inject: Inject) -> str:
    district = _district(p, f["area"])
    if not p.w.rows("SELECT iso3 FROM countries WHERE iso3 = :c", {"c": f["nationality"]}):
        raise Skip(f"nationality {f['nationality']} is not a country in the database")
    fac = resolve_facility(p, f["facility"]) if "facility" in f else None
    places = fac.free if fac else 0
    rng = random.Random(f"{inject.seq}-{inject.name}")  # the same people on every replay
    country = p.w.rows("SELECT country FROM scenarios WHERE id = :s", {"s": p.scenario_id})
    template = _template_for(country[0].country if country else None)
    tag = p.run.run_id[:8]
    ids, sheltered = [], 0
    for i in range(f["count"]):
        sex = f.get("sex") or "fm"[i % 2]
        full_name, phone = _synthetic_person(rng, f["nationality"], sex, template)
        inside = fac is not None and i < places
        where = fac if inside else None
        lat = where.lat if where else round(district.lat + rng.uniform(-0.02, 0.02), 5)
        lon = where.lon if where else round(district.lon + rng.uniform(-0.02, 0.02), 5)
        status = "sheltered" if inside else "located"
        person_id = p.w.insert("persons", {
            "scenario_id": p.scenario_id, "ref": f"EX-{tag}-{inject.seq}-{i + 1}",
            "full_name": full_name, "sex": sex, "birth_year": p.at.year - rng.randint(18, 55),
            "nationality": f["nationality"], "second_nationality": None, "family_id": None,
            "phone": phone, "lat": lat, "lon": lon,
            "area_pcode": where.area_pcode if where else district.pcode,
            "facility_id": where.id if where else None, "status": status,
            "consent_consular": f.get("consent_consular", True),
            "protection_confidential": f.get("protection_confidential", False),
            "documents": f.get("documents", "passport"),
            "registered_at": p.at, "updated_at": p.at})
        p.w.insert("person_events", {"person_id": person_id, "at": p.at, "status": status,
                                     "facility_id": where.id if where else None,
                                     "lat": lat, "lon": lon})
        for tag_name in f.get("vulnerabilities", []):
            p.w.insert("person_vulnerabilities", {"person_id": person_id, "tag": tag_name})
        ids.append(person_id)
        sheltered += inside
    if fac is not None and sheltered:
        _report_occupancy(p, fac, fac.occupants + sheltered)
    p.run.wrote[inject.name] = {"persons": ids}
    where_text = f" in {district.name}"
    if fac is not None:
        where_text += f", {sheltered} sheltered at {fac.label}"
    return f"{_plural(len(ids), 'person')} of {f['nationality']} registered{where_text}"


def _default_org(p: Play, column: str, service: str, fallback: str) -> str:
    rows = p.w.rows(f"SELECT {column} AS org, COUNT(*) AS n FROM referrals "
                    "WHERE scenario_id = :scenario AND service = :service "
                    f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column} LIMIT 1",
                    {"scenario": p.scenario_id, "service": service})
    return rows[0].org if rows else fallback


def open_referrals(p: Play, f: dict, inject: Inject) -> str:
    service = f["service"]
    people = f.get("people", {})
    params: dict[str, Any] = {"scenario": p.scenario_id, "service": service,
                              "ended": list(vocab.REFERRAL_ENDED)}
    where = ""
    if "facility" in people:
        params["fid"] = resolve_facility(p, people["facility"]).id
        where += " AND p.facility_id = :fid"
    if "nationality" in people:
        params["nat"] = people["nationality"]
        where += " AND (p.nationality = :nat OR p.second_nationality = :nat)"
    if "registered_in" in people:
        wrote = p.run.wrote.get(people["registered_in"])
        if wrote is None:
            raise Skip(f"the inject {people['registered_in']!r} registered no one in this run")
        params["ids"] = wrote["persons"]
        where += " AND p.id IN :ids"
    candidates = p.w.rows(
        "SELECT p.id FROM persons p WHERE p.scenario_id = :scenario "
        "AND p.status IN :v_in_country_reachable"
        f"{where} AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.person_id = p.id "
        "AND r.service = :service AND r.status NOT IN :ended) "
        f"ORDER BY p.id LIMIT {f['count']}", params)
    if not candidates:
        raise Skip(f"no one to refer to {service} (everyone chosen already has an open "
                   "referral for it, or no one matches)")
    to_org = f.get("to_org") or _default_org(p, "to_org", service, "IOM")
    from_org = f.get("from_org") or _default_org(p, "from_org", service, "Municipal crisis cell")
    due = p.at + timedelta(hours=vocab.REFERRAL_DEADLINE_HOURS[service])
    ids = []
    for person in candidates:
        ref_id = p.w.insert("referrals", {
            "scenario_id": p.scenario_id, "person_id": person.id, "service": service,
            "from_org": from_org, "to_org": to_org, "priority": f.get("priority", "high"),
            "status": "open", "created_at": p.at, "due_at": due, "closed_at": None})
        p.w.insert("referral_events", {"referral_id": ref_id, "at": p.at, "status": "open"})
        ids.append(ref_id)
    p.run.wrote[inject.name] = {"referrals": ids}
    return (f"{_plural(len(ids), 'referral')} opened for {service} to {to_org}, "
            f"due {due:%Y-%m-%d %H:%M}")


ANSWER_FROM = {
    "accepted": ("open",),
    "in_service": ("open", "accepted"),
    "closed": ("accepted", "in_service"),
    "rejected": ("open",),
    "revoked": ("open", "accepted"),
}


def answer_referrals(p: Play, f: dict) -> str:
    answer = f["answer"]
    params: dict[str, Any] = {"scenario": p.scenario_id, "from": list(ANSWER_FROM[answer])}
    where = ""
    if "service" in f:
        params["service"] = f["service"]
        where += " AND r.service = :service"
    if "opened_in" in f:
        wrote = p.run.wrote.get(f["opened_in"])
        if wrote is None:
            raise Skip(f"the inject {f['opened_in']!r} opened no referral in this run")
        params["ids"] = wrote["referrals"]
        where += " AND r.id IN :ids"
    rows = p.w.rows(
        f"SELECT r.id FROM referrals r WHERE r.scenario_id = :scenario AND r.status IN :from "
        f"AND {quality.valid_referral()}{where} ORDER BY r.created_at, r.id LIMIT {f['count']}",
        params)
    if not rows:
        raise Skip(f"no referral that can be {answer} (needs status "
                   f"{' or '.join(ANSWER_FROM[answer])})")
    for r in rows:
        changes: dict[str, Any] = {"status": answer}
        if answer in vocab.REFERRAL_ENDED:
            changes["closed_at"] = p.at
        p.w.update("referrals", r.id, changes)
        p.w.insert("referral_events", {"referral_id": r.id, "at": p.at, "status": answer})
    return f"{_plural(len(rows), 'referral')} {answer.replace('_', ' ')}"


def _valid_cases(p: Play) -> dict[str, Any]:
    backward = p.w.rows(quality.BACKWARD_CASES, {"scenario": p.scenario_id})
    return {"backward_cases": [r.case_id for r in backward]}


def advance_evacuation(p: Play, f: dict) -> str:
    stage = f["stage"]
    to = vocab.EVACUATION_PATH[vocab.EVACUATION_PATH.index(stage) + 1]
    params = {"scenario": p.scenario_id, "stage": stage, **_valid_cases(p)}
    where = ""
    if "nationality" in f:
        params["nat"] = f["nationality"]
        where = " AND (p.nationality = :nat OR p.second_nationality = :nat)"
    cases = p.w.rows(
        "SELECT c.id, c.destination FROM evacuation_cases c JOIN persons p ON p.id = c.person_id "
        f"WHERE c.scenario_id = :scenario AND c.stage = :stage "
        f"AND {quality.valid_evacuation_case()}{where} ORDER BY c.id", params)
    seats: dict[int, int] = {}
    moved = 0
    for case in cases:
        if moved == f["count"]:
            break
        changes: dict[str, Any] = {"stage": to, "updated_at": p.at}
        if to == "manifested":  # a seat on the next movement to the case's destination
            movement = _movement_with_seat(p, case.destination, seats)
            if movement is None:
                continue
            changes["movement_id"] = movement
        p.w.update("evacuation_cases", case.id, changes)
        p.w.insert("evacuation_events", {"case_id": case.id, "at": p.at, "stage": to})
        moved += 1
    if not moved:
        extra = " with a seat on a planned movement" if to == "manifested" else ""
        raise Skip(f"no evacuation case at stage {stage}{extra}"
                   + (f" for {f['nationality']}" if "nationality" in f else ""))
    short = f" (only {moved} of {f['count']} could)" if moved < f["count"] else ""
    return f"{_plural(moved, 'evacuation case')} moved from {stage} to {to}{short}"


def _movement_with_seat(p: Play, destination: str, seats: dict[int, int]) -> int | None:
    rows = p.w.rows(
        "SELECT m.id, m.capacity - (SELECT COUNT(*) FROM evacuation_cases c "
        "WHERE c.movement_id = m.id) AS free FROM movements m "
        "WHERE m.scenario_id = :scenario AND m.status IN :v_boardable "
        "AND m.destination = :dest AND m.departs_at >= :at ORDER BY m.departs_at, m.id",
        {"scenario": p.scenario_id, "dest": destination, "at": p.at})
    for m in rows:
        left = seats.setdefault(m.id, m.free)
        if left > 0:
            seats[m.id] = left - 1
            return m.id
    return None


def movement_departs(p: Play, f: dict) -> str:
    sel = f["movement"]
    if "id" in sel:
        rows = p.w.rows("SELECT id, status, mode, destination FROM movements "
                        "WHERE id = :id AND scenario_id = :scenario",
                        {"id": sel["id"], "scenario": p.scenario_id})
        if not rows:
            raise Skip(f"no movement {sel['id']} in scenario {p.scenario_id}")
        if rows[0].status not in ("planned", "boarding"):
            raise Skip(f"movement {sel['id']} is {rows[0].status}")
    else:
        params: dict[str, Any] = {"scenario": p.scenario_id}
        where = ""
        for key in ("destination", "mode"):
            if key in sel:
                params[key] = sel[key]
                where += f" AND {key} = :{key}"
        rows = p.w.rows("SELECT id, status, mode, destination FROM movements "
                        "WHERE scenario_id = :scenario AND status IN :v_boardable"
                        f"{where} ORDER BY departs_at, id LIMIT 1", params)
        if not rows:
            raise Skip("no planned or boarding movement" + "".join(
                f" {k} {sel[k]}" for k in ("destination", "mode") if k in sel))
    movement = rows[0]
    p.w.update("movements", movement.id, {"status": "departed"})
    cases = p.w.rows(
        "SELECT c.id AS case_id, p.id, p.lat, p.lon, p.area_pcode, p.facility_id, p.status "
        "FROM evacuation_cases c JOIN persons p ON p.id = c.person_id "
        "WHERE c.movement_id = :mid AND c.stage = :v_manifested "
        f"AND {quality.valid_evacuation_case()} ORDER BY c.id",
        {"mid": movement.id, **_valid_cases(p)})
    left_from: dict[int, int] = {}
    for case in cases:
        p.w.update("evacuation_cases", case.case_id, {"stage": "departed", "updated_at": p.at})
        p.w.insert("evacuation_events", {"case_id": case.case_id, "at": p.at,
                                         "stage": "departed"})
        if case.facility_id is not None and case.status == "sheltered":
            left_from[case.facility_id] = left_from.get(case.facility_id, 0) + 1
        _move_person(p, case, "evacuated", None)
    for fac in _facilities(p):
        if fac.id in left_from:
            _report_occupancy(p, fac, fac.occupants - left_from[fac.id])
    return (f"movement {movement.id} ({movement.mode} to {movement.destination}) departed with "
            f"{_plural(len(cases), 'evacuation case')}")


def _circle(lat: float, lon: float, radius_km: float, points: int = 24) -> dict:
    ring = []
    for i in range(points):
        a = 2 * math.pi * i / points
        ring.append([round(lon + radius_km / (111.0 * math.cos(math.radians(lat))) * math.cos(a),
                           5),
                     round(lat + radius_km / 111.0 * math.sin(a), 5)])
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def hazard(p: Play, f: dict, inject: Inject) -> str:
    if "polygon" in f:
        ring = [list(map(float, pt)) for pt in f["polygon"]]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        geometry = {"type": "Polygon", "coordinates": [ring]}
        where = "a drawn polygon"
    else:
        centre = f["centre"]
        if isinstance(centre, str):
            area = _areas(p, centre)[-1]
            lat, lon, where = area.lat, area.lon, f"{f['radius_km']} km around {area.name}"
        else:
            lat, lon = centre
            where = f"{f['radius_km']} km around {lat:.4f}, {lon:.4f}"
        geometry = _circle(lat, lon, f["radius_km"])
    hazard_id = p.w.insert("hazards", {
        "scenario_id": p.scenario_id, "kind": f["hazard_kind"], "severity": f["severity"],
        "geometry": json.dumps(geometry), "valid_from": p.at, "valid_to": None})
    p.run.wrote[inject.name] = {"hazard": hazard_id}
    return f"{f['severity']} {f['hazard_kind'].replace('_', ' ')} hazard {hazard_id}: {where}"


def _scaled(geometry: dict, factor: float) -> dict:
    polygons = (geometry["coordinates"] if geometry["type"] == "MultiPolygon"
                else [geometry["coordinates"]])
    points = [pt for poly in polygons for pt in poly[0][:-1]] or [[0.0, 0.0]]
    cx = sum(pt[0] for pt in points) / len(points)
    cy = sum(pt[1] for pt in points) / len(points)
    scaled = [[[[round(cx + (x - cx) * factor, 5), round(cy + (y - cy) * factor, 5)]
                for x, y in ring] for ring in poly] for poly in polygons]
    coordinates = scaled if geometry["type"] == "MultiPolygon" else scaled[0]
    return {"type": geometry["type"], "coordinates": coordinates}


def hazard_spreads(p: Play, f: dict, inject: Inject) -> str:
    ref = f["hazard"]
    if isinstance(ref, str):
        wrote = p.run.wrote.get(ref)
        if wrote is None:
            raise Skip(f"the inject {ref!r} drew no hazard in this run")
        hazard_id = wrote["hazard"]
    else:
        hazard_id = ref["id"]
    while hazard_id in p.run.hazard_after:  # the hazard as it is now, after earlier spreads
        hazard_id = p.run.hazard_after[hazard_id]
    rows = p.w.rows("SELECT id, kind, severity, geometry, valid_to FROM hazards "
                    "WHERE id = :id AND scenario_id = :scenario",
                    {"id": hazard_id, "scenario": p.scenario_id})
    if not rows:
        raise Skip(f"no hazard {hazard_id} in scenario {p.scenario_id}")
    old = rows[0]
    valid_to = _as_datetime(old.valid_to)
    if valid_to is not None and valid_to <= p.at:
        raise Skip(f"hazard {hazard_id} ended at {valid_to:%Y-%m-%d %H:%M}")
    try:
        geometry = json.loads(old.geometry)
        scaled = _scaled(geometry, f["factor"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise Skip(f"hazard {hazard_id} has no readable GeoJSON polygon") from exc
    p.w.update("hazards", hazard_id, {"valid_to": p.at})
    severity = f.get("severity", old.severity)
    new_id = p.w.insert("hazards", {
        "scenario_id": p.scenario_id, "kind": old.kind, "severity": severity,
        "geometry": json.dumps(scaled), "valid_from": p.at, "valid_to": None})
    p.run.hazard_after[hazard_id] = new_id
    p.run.wrote[inject.name] = {"hazard": new_id}
    return (f"hazard {hazard_id} spread x{f['factor']} as hazard {new_id} ({severity}); "
            f"hazard {hazard_id} ends now")


def facility_closes(p: Play, f: dict) -> str:
    fac = resolve_facility(p, f["facility"])
    target = resolve_facility(p, f["move_to"], exclude=fac.id) if "move_to" in f else None
    people = p.w.rows("SELECT p.id, p.lat, p.lon, p.area_pcode FROM persons p "
                      "WHERE p.facility_id = :fid AND p.status = :v_sheltered ORDER BY p.id",
                      {"fid": fac.id})
    room = target.free if target else 0
    moved = people[:room]
    for person in moved:
        _move_person(p, person, "sheltered", target)
    for person in people[len(moved):]:
        _move_person(p, person, "in_transit", None)  # on their way, from the closed place
    _report_occupancy(p, fac, 0)
    p.w.update("facilities", fac.id, {"status": "closed"})
    if target is not None and moved:
        _report_occupancy(p, target, target.occupants + len(moved))
    text_ = f"{fac.label} closed"
    if people:
        text_ += f": {len(moved)} moved to {target.label}" if target and moved else ":"
        rest = len(people) - len(moved)
        if rest:
            text_ += f"{',' if moved else ''} {rest} in transit"
    return text_


EFFECTS: dict[str, Callable[..., str]] = {
    "arrivals": arrivals, "departures": departures, "register": register,
    "open_referrals": open_referrals, "answer_referrals": answer_referrals,
    "advance_evacuation": advance_evacuation, "movement_departs": movement_departs,
    "hazard": hazard, "hazard_spreads": hazard_spreads, "facility_closes": facility_closes,
}
NEEDS_INJECT = ("register", "open_referrals", "hazard", "hazard_spreads")
assert set(EFFECTS) == set(vocab.DRILL_INJECT_KINDS)


# --- control file ----------------------------------------------------------------------------


def control_path(db_url: str, scenario_id: int) -> Path:
    """Where `simulate-control` and a running simulator of this database and scenario meet."""
    key = hashlib.sha256(f"{db.describe(db_url)}#{scenario_id}".encode()).hexdigest()[:16]
    return config.home() / "drills" / f"{key}.control.json"


def state_path(control: Path) -> Path:
    return control.with_name(control.name.replace(".control.json", ".state.json"))


def send(control: Path, command: str) -> None:
    """Leave a command for the running simulator (it reads it before its next inject)."""
    if command not in CONTROL_COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    control.parent.mkdir(parents=True, exist_ok=True)
    tmp = control.with_suffix(".tmp")
    tmp.write_text(json.dumps({"command": command, "id": uuid.uuid4().hex,
                               "sent": datetime.now().isoformat(timespec="seconds")}))
    os.replace(tmp, control)  # atomic: the simulator never reads half a command


def read_state(control: Path) -> dict | None:
    try:
        return json.loads(state_path(control).read_text())
    except (OSError, ValueError):
        return None


class Control:
    def __init__(self, path: Path):
        self.path = path
        self.seen = self._read().get("id")  # a command left from an earlier drill is old news

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def poll(self) -> str | None:
        found = self._read()
        if found.get("id") and found["id"] != self.seen:
            self.seen = found["id"]
            return found.get("command")
        return None

    def write_state(self, **state) -> None:
        target = state_path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({**state, "pid": os.getpid(),
                                   "updated": datetime.now().isoformat(timespec="seconds")}))
        os.replace(tmp, target)


# --- the run ---------------------------------------------------------------------------------


def writer_engine(db_url: str) -> Engine:
    url = db.normalize_url(db_url)
    # A reader (the dashboard) may hold SQLite briefly: wait for it rather than fail.
    args = {"timeout": 30} if url.get_backend_name() == "sqlite" else {"connect_timeout": 5}
    return create_engine(url, connect_args=args)


def check_scenario(engine: Engine, scenario_id: int, db_url: str) -> str:
    """The scenario's name, or Refusal: it must exist and be an exercise."""
    try:
        with engine.connect() as conn:
            schema.check(conn)
            row = conn.execute(text("SELECT name, kind FROM scenarios WHERE id = :id"),
                               {"id": scenario_id}).first()
            names = conn.execute(text("SELECT id, kind FROM scenarios ORDER BY id")).all()
    except schema.SchemaMismatch as exc:
        raise Refusal(str(exc)) from exc
    except (OperationalError, DBAPIError) as exc:
        raise Refusal(f"cannot reach the database {db.describe(db_url)}: "
                      f"{db.first_line(exc)}.") from exc
    exercises = ", ".join(str(i) for i, kind in names if kind == "exercise") or "none"
    if row is None:
        raise Refusal(f"there is no scenario {scenario_id} in {db.describe(db_url)} "
                      f"(exercise scenarios: {exercises}).")
    if row.kind != "exercise":
        raise Refusal(f"scenario {scenario_id} ({row.name}) is {row.kind}, not an exercise: "
                      f"a drill never writes into live data (exercise scenarios: {exercises}).")
    return row.name


def drill_start(conn: Connection, scenario_id: int) -> datetime:
    """Scenario time at the drill's start: the scenario's data-as-of, to the second."""
    value = conn.execute(text("SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
                         {"s": scenario_id}).scalar()
    if value is None:
        value = conn.execute(text("SELECT starts_at FROM scenarios WHERE id = :s"),
                             {"s": scenario_id}).scalar()
    start = _as_datetime(value)
    assert start is not None  # scenarios.starts_at is NOT NULL and the scenario exists
    return start.replace(microsecond=0)


def offset_text(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"+{h}h{rest // 60:02d}m" + (f"{rest % 60:02d}s" if rest % 60 else "")


@dataclass
class Result:
    run_id: str
    applied: int = 0
    skipped: int = 0
    restarts: int = 0


def play_inject(engine: Engine, scenario_id: int, run: RunState, inject: Inject,
                at: datetime) -> tuple[str, str]:
    """Play one inject in one transaction. Returns (status, detail)."""
    row = {"scenario_id": scenario_id, "run_id": run.run_id, "seq": inject.seq,
           "name": inject.name[:200], "kind": inject.kind, "offset_s": inject.offset_s, "at": at}
    try:
        with engine.begin() as conn:
            w = Writer(conn)
            play = Play(w, scenario_id, at, run)
            effect = EFFECTS[inject.kind]
            args = (play, inject.fields, inject) if inject.kind in NEEDS_INJECT else (
                play, inject.fields)
            detail = effect(*args)
            conn.execute(db.sql(
                "INSERT INTO drill_injects (scenario_id, run_id, seq, name, kind, offset_s, at, "
                "status, detail, undo) VALUES (:scenario_id, :run_id, :seq, :name, :kind, "
                ":offset_s, :at, 'applied', :detail, :undo)", row),
                {**row, "detail": detail, "undo": w.undo_record()})
        return "applied", detail
    except Skip as exc:
        reason = str(exc)
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) and getattr(exc, "connection_invalidated", False):
            raise
        reason = f"could not be written: {db.first_line(exc)}"
    run.wrote.pop(inject.name, None)  # the transaction is gone, and so is what it wrote
    with engine.begin() as conn:
        conn.execute(db.sql(
            "INSERT INTO drill_injects (scenario_id, run_id, seq, name, kind, offset_s, at, "
            "status, detail, undo) VALUES (:scenario_id, :run_id, :seq, :name, :kind, "
            ":offset_s, :at, 'skipped', :detail, NULL)", row), {**row, "detail": reason})
    return "skipped", reason


def _new_run() -> RunState:
    return RunState(run_id=uuid.uuid4().hex[:12])


def _take_back_run(engine: Engine, scenario_id: int, run_id: str) -> None:
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT undo FROM drill_injects WHERE scenario_id = :s AND "
                                 "run_id = :r ORDER BY id DESC"),
                            {"s": scenario_id, "r": run_id}).all()
        for (undo,) in rows:
            take_back(conn, undo)
        conn.execute(text("DELETE FROM drill_injects WHERE scenario_id = :s AND run_id = :r"),
                     {"s": scenario_id, "r": run_id})


def run(db_url: str, scenario_id: int, script: DrillScript, speed: float, *,
        control: Path | None = None, restart: bool = False,
        say: Callable[[str], None] = print) -> Result:
    """Play the script into the exercise scenario. Raises Refusal before writing anything
    when the scenario is not an exercise, or already holds injects and restart is False."""
    if not speed > 0:
        raise Refusal(f"--speed must be more than 0, got {speed}.")
    engine = writer_engine(db_url)
    try:
        name = check_scenario(engine, scenario_id, db_url)
        with engine.connect() as conn:
            earlier = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM "
                                        "drill_injects WHERE scenario_id = :s"),
                                   {"s": scenario_id}).one()
        if earlier[0] and not restart:
            raise Refusal(
                f"scenario {scenario_id} already holds {earlier[0]} drill inject(s) from "
                f"{earlier[1]} earlier run(s). Give --restart to take them back and play "
                "from the beginning.")
        if earlier[0]:
            undone = undo_runs(engine, scenario_id)
            say(f"took back {undone} inject(s) of earlier runs")
        return _play(engine, scenario_id, name, script, speed,
                     Control(control or control_path(db_url, scenario_id)), say)
    finally:
        engine.dispose()


def _play(engine: Engine, scenario_id: int, name: str, script: DrillScript, speed: float,
          control: Control, say: Callable[[str], None]) -> Result:
    state = _new_run()
    result = Result(state.run_id)
    total = len(script.injects)
    with engine.connect() as conn:
        start = drill_start(conn, scenario_id)
    say(f"EXERCISE drill {script.name!r} into scenario {scenario_id} ({name}): {total} injects "
        f"from {start:%Y-%m-%d %H:%M:%S} UTC, speed x{speed:g}, run {state.run_id}")
    clock, i, paused = 0.0, 0, False
    last_tick = time.monotonic()

    def publish(status: str) -> None:
        nxt = script.injects[i].name if i < total else None
        control.write_state(state=status, run_id=state.run_id, scenario=scenario_id,
                            drill=script.name, played=i, of=total, next=nxt,
                            applied=result.applied, skipped=result.skipped)

    publish("running")
    while i < total:
        command = control.poll()
        if command == "pause" and not paused:
            paused = True
            say(f"paused before inject {i + 1} of {total}")
            publish("paused")
        elif command == "resume" and paused:
            paused = False
            say("resumed")
            publish("running")
        elif command == "restart":
            _take_back_run(engine, scenario_id, state.run_id)
            state = _new_run()
            result.run_id, result.applied, result.skipped = state.run_id, 0, 0
            result.restarts += 1
            clock, i, paused = 0.0, 0, False
            with engine.connect() as conn:
                start = drill_start(conn, scenario_id)
            say(f"restarted from the beginning as run {state.run_id}")
            publish("running")
        now = time.monotonic()
        if not paused:
            clock += (now - last_tick) * speed
        last_tick = now
        inject = script.injects[i]
        if paused or clock < inject.offset_s:
            wait = POLL_S if paused else min(POLL_S, (inject.offset_s - clock) / speed)
            time.sleep(max(wait, 0.0))
            continue
        at = start + timedelta(seconds=inject.offset_s)
        status, detail = play_inject(engine, scenario_id, state, inject, at)
        if status == "applied":
            result.applied += 1
        else:
            result.skipped += 1
        say(f"{offset_text(inject.offset_s):>9} {status:<7} {inject.seq:>3}. {inject.kind}: "
            f"{inject.name}: {detail}")
        i += 1
        publish("running" if i < total else "finished")
    say(f"drill finished: {result.applied} applied, {result.skipped} skipped (run "
        f"{result.run_id})")
    return result


def main_simulate(db_url: str, scenario_id: int, script_path: str, speed: float,
                  restart: bool = False, control: str | None = None) -> int:
    """The `sitroom simulate` command: 0 when played, 2 when refused."""
    from dashboard.tools.drill_script import ScriptError, load

    def say(message: str) -> None:
        print(message, flush=True)

    try:
        script = load(script_path)
    except ScriptError as exc:
        print(f"sitroom simulate: the drill script has problems; nothing was written.\n"
              f"{exc.report()}", file=sys.stderr)
        return 2
    try:
        run(db_url, scenario_id, script, speed, restart=restart,
            control=Path(control) if control else None, say=say)
    except Refusal as exc:
        print(f"sitroom simulate: {exc} Nothing was written.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sitroom simulate: stopped. Every inject played so far is complete (each is one "
              "transaction); give --restart to play the drill again from the beginning.",
              file=sys.stderr)
        return 130
    except SQLAlchemyError as exc:
        print(f"sitroom simulate: the database stopped answering: {db.first_line(exc)}. "
              "Every inject played so far is complete; give --restart to play again.",
              file=sys.stderr)
        return 1
    return 0
