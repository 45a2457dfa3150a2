"""The deterministic synthetic crisis generator.

`generate(url, persons, seed, template=FILE)` creates the data contract in an
empty database and fills it with two SYNTHETIC scenarios drawn from a scenario
template (data/scenarios/*.yaml; by default lebanon.yaml): a live crisis with
exactly `persons` persons and a smaller exercise. Every row describes nobody
real. Everything about the host country (its areas, capital, telephone
numbers, the nationalities there, the kinds of hazard the crisis brings) comes
from the template.

Everything is drawn with numpy from `numpy.random.default_rng(seed)` (one
spawned generator per scenario), vectorised over whole tables, so the same
seed gives byte-identical tables and a million persons take seconds to draw.
Times are computed as integer seconds since the crisis start and turned into
datetime64 at the end. Clean rows obey docs/design.md §4; `dirty=True` adds the
known contract breaks of DIRTY_KINDS to the live scenario, for the
data-quality view and its tests.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import Engine, func, select

from dashboard import config
from dashboard.contract import schema, vocab
from dashboard.contract.models import Base, Scenario
from dashboard.store.db import describe, sqlite_path, writable_engine
from dashboard.tools import bulk
from dashboard.tools.bulk import Columns

TEMPLATE_PATH = config.DATA_DIR / "scenarios" / "lebanon.yaml"
COUNTRIES_PATH = config.DATA_DIR / "countries.csv"

DEFAULT_START = datetime(2026, 10, 26)
CRISIS_DAYS = 28
MIN_PERSONS = 1
LIVE_ID, EXERCISE_ID = 1, 2

HOUR, DAY = 3600, 86400
AS_OF = CRISIS_DAYS * DAY  # seconds after the start: the moment the data describes

# dirty=True: contract breaks added to the live scenario (kind -> rows). The
# number of persons does not change: existing rows are altered.
DIRTY_KINDS: dict[str, int] = {
    "person_bad_coordinates": 20,      # lat or lon outside WGS84 (lat 200, lon -400, ...)
    "person_unknown_nationality": 15,  # nationality not in countries (XXX, ZZZ, QQQ)
    "person_unknown_status": 10,       # status outside PERSON_STATUSES
    "person_dangling_facility": 10,    # sheltered at a facility_id that does not exist
    "facility_over_capacity": 5,       # latest occupancy report above capacity
    "evacuation_stage_backwards": 10,  # history goes documented -> verified (case now verified)
    "evacuation_dangling_person": 10,  # evacuation case for a person_id that does not exist
    "referral_dangling_person": 10,    # referral for a person_id that does not exist
    "referral_unknown_service": 10,    # service outside REFERRAL_SERVICES
}
DIRTY_NATIONALITIES = ("XXX", "ZZZ", "QQQ")
DIRTY_STATUSES = ("unknown", "returned", "pending")
DIRTY_SERVICES = ("cash_assistance", "food_aid")
DANGLING_ID = 1_000_000_000  # ids from here on never exist

PERSON_STATUS = list(vocab.PERSON_STATUSES)
LOCATED, SHELTERED, IN_TRANSIT, EVACUATED, RELOCATED, MISSING, DECEASED = (
    PERSON_STATUS.index(s) for s in ("located", "sheltered", "in_transit", "evacuated",
                                     "relocated", "missing", "deceased"))
FACILITY_KINDS = list(vocab.FACILITY_KINDS)
FACILITY_STATUS = list(vocab.FACILITY_STATUSES)
SERVICES = list(vocab.REFERRAL_SERVICES)
REF_STATUS = list(vocab.REFERRAL_STATUSES)
STAGES = list(vocab.ALL_EVACUATION_STAGES)  # path 0..7, then declined 8, no_show 9, medical_hold 10
DOCUMENTS = list(vocab.DOCUMENTS)
TAGS = list(vocab.VULNERABILITY_TAGS)
SEXES = list(vocab.SEXES)

# Shares are tuned so that, after evacuations take ~10% of persons, the final
# statuses land near sheltered 35%, located 35%, relocated 11%, missing 3%.
UNIT_STATUS_P = {LOCATED: 0.40, SHELTERED: 0.41, IN_TRANSIT: 0.06, RELOCATED: 0.13}
MISSING_P, DECEASED_P = 0.035, 0.005
STAGE_P = np.array([0.17, 0.14, 0.13, 0.12, 0.05, 0.03, 0.10, 0.07, 0.08, 0.05, 0.06])
DOCS_DOMESTIC_P = [0.30, 0.15, 0.40, 0.05, 0.10]  # domestic workers: passports kept by employers
DOCS_OTHER_P = [0.58, 0.12, 0.05, 0.15, 0.10]
SERVICE_P = {"consular": .18, "documentation": .16, "evacuation": .10, "family_tracing": .05,
             "shelter": .10, "health": .12, "psychosocial": .08, "legal": .05, "asylum": .04,
             "anti_trafficking": .04, "gbv": .05, "child_protection": .03}


class GenerateError(Exception):
    """A refusal the user can act on; the message says what to do."""


@dataclass
class GenerateReport:
    rows: dict[str, int]
    dirty: dict[str, int]
    seconds: float
    scenario_ids: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        """A few lines for the command line."""
        width = max(len(t) for t in self.rows)
        lines = [f"generated {self.total_rows:,} rows in {self.seconds:.1f} s "
                 f"(scenarios: {', '.join(f'{k} {v}' for k, v in self.scenario_ids.items())})"]
        lines += [f"  {t:<{width}}  {n:>12,}" for t, n in self.rows.items()]
        if self.dirty:
            lines.append("dirty rows (contract breaks, live scenario):")
            lines += [f"  {k:<{width}}  {n:>12,}" for k, n in self.dirty.items()]
        return "\n".join(lines)


# --- the template -------------------------------------------------------------

@dataclass
class Template:
    raw: dict
    district_pcode: np.ndarray
    district_lat: np.ndarray
    district_lon: np.ndarray
    district_w: np.ndarray
    district_spread: np.ndarray
    district_safer: np.ndarray
    district_name: list[str]
    nat: np.ndarray  # ISO3 codes, object
    nat_w: np.ndarray
    nat_female: np.ndarray
    nat_domestic: np.ndarray
    nat_protection: np.ndarray
    nat_family: np.ndarray
    nat_evacuation: np.ndarray
    names: np.ndarray  # every "given family" combination, object
    name_offset: np.ndarray  # [nat, 0=f / 1=m]
    name_given: np.ndarray  # [nat, sex] number of given names
    name_family: np.ndarray  # [nat] number of family names
    orgs: list[dict]
    phone: dict  # country_code, prefixes (mobile), digits (groups after the prefix)
    hotline: dict  # prefix, digits: a consular post's landline
    capital: dict  # city, lat, lon: where the embassies are
    land_destinations: tuple[str, ...]  # nationalities evacuated by land (a neighbour)


def load_template(path: Path | str | None = None) -> Template:
    """Read a scenario template (docs/drill-scripts.md and data/scenarios/)."""
    path = Path(path) if path is not None else TEMPLATE_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenerateError(f"Cannot read the template {path}: {exc.strerror or exc}.") from exc
    except yaml.YAMLError as exc:
        raise GenerateError(f"The template {path} is not valid YAML: {exc}") from exc
    missing = [k for k in TEMPLATE_KEYS if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise GenerateError(f"The template {path} lacks {', '.join(missing)} "
                            "(see data/scenarios/lebanon.yaml).")
    problems = template_problems(raw)
    if problems:
        raise GenerateError(f"The template {path} cannot be used: " + "; ".join(problems) + ".")
    d = raw["districts"]
    nats = raw["nationalities"]
    codes = list(nats)
    names: list[str] = []
    offset = np.zeros((len(codes), 2), dtype=np.int64)
    given = np.zeros((len(codes), 2), dtype=np.int64)
    family = np.zeros(len(codes), dtype=np.int64)
    for i, code in enumerate(codes):
        fam = nats[code]["family"]
        family[i] = len(fam)
        for s, key in enumerate(("given_f", "given_m")):
            offset[i, s], given[i, s] = len(names), len(nats[code][key])
            names += [f"{g} {f}" for g in nats[code][key] for f in fam]

    def col(key: str) -> np.ndarray:
        return np.array([nats[c][key] for c in codes], dtype=float)

    w = col("weight")
    return Template(
        raw=raw,
        district_pcode=np.array([x["pcode"] for x in d], dtype=object),
        district_lat=np.array([x["lat"] for x in d]),
        district_lon=np.array([x["lon"] for x in d]),
        district_w=np.array([x["weight"] for x in d]) / sum(x["weight"] for x in d),
        district_spread=np.array([x["spread"] for x in d]),
        district_safer=np.array([bool(x.get("safer")) for x in d]),
        district_name=[x["name"] for x in d],
        nat=np.array(codes, dtype=object), nat_w=w / w.sum(),
        nat_female=col("female"), nat_domestic=col("domestic"),
        nat_protection=col("protection"), nat_family=col("families"),
        nat_evacuation=col("evacuation"),
        names=np.array(names, dtype=object), name_offset=offset, name_given=given,
        name_family=family, orgs=raw["organisations"], phone=raw["phone"],
        hotline=raw["hotline"], capital=raw["capital"],
        land_destinations=tuple(raw.get("land_destinations") or ()),
    )


# What every template must give (the rest is optional).
TEMPLATE_KEYS = ("country", "live", "exercise", "governorates", "districts", "nationalities",
                 "second_nationalities", "organisations", "facility_kinds", "hazard_places",
                 "phone", "hotline", "capital")


def template_problems(raw: dict) -> list[str]:
    """What in a template would break the data contract or the drawing: codes outside
    the vocabularies and the shipped countries, parents that do not exist, services no
    organisation receives, kinds of facility without a capacity."""
    problems = []
    known = {r["iso3"] for r in read_countries()}
    codes = [raw["country"], *raw["nationalities"], *raw["second_nationalities"],
             *(raw.get("land_destinations") or [])]
    unknown = sorted({str(c) for c in codes if c not in known})
    if unknown:
        problems.append(f"country codes not in data/countries.csv: {', '.join(unknown)}")
    parents = {g["pcode"] for g in raw["governorates"]}
    orphans = [d["pcode"] for d in raw["districts"] if d.get("parent") not in parents]
    if orphans:
        problems.append(f"districts whose parent is not a governorate: {', '.join(orphans)}")
    if not any(d.get("safer") for d in raw["districts"]):
        problems.append("no district is marked safer (relocations go there)")
    named = {k for place in raw["hazard_places"] for k in place["kinds"]}
    hazards = sorted(named - set(vocab.HAZARD_KINDS))
    if hazards:
        problems.append(f"hazard kinds outside vocab.HAZARD_KINDS: {', '.join(hazards)}")
    kinds = sorted(set(vocab.FACILITY_KINDS) - set(raw["facility_kinds"]))
    if kinds:
        problems.append(f"facility kinds without a share, capacity and names: {', '.join(kinds)}")
    received = {s for o in raw["organisations"] for s in o.get("services", [])}
    services = sorted(set(vocab.REFERRAL_SERVICES) - received)
    if services:
        problems.append(f"services no organisation receives: {', '.join(services)}")
    return problems


def _digits(groups: list[int], value: int) -> str:
    """`value` written as groups of digits, e.g. [3, 4] and 5551234 -> "555 1234"."""
    out, rest = [], value
    for width in reversed(groups):
        out.append(f"{rest % 10 ** width:0{width}d}")
        rest //= 10 ** width
    return " ".join(reversed(out))


# --- small vectorised helpers ------------------------------------------------

def choice(rng: np.random.Generator, p, size: int) -> np.ndarray:
    """Indices drawn with probabilities p (normalised)."""
    p = np.asarray(p, dtype=float)
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def rows_choice(rng: np.random.Generator, cdf_rows: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One index per element, each from the distribution cdf_rows[row[i]]."""
    u = rng.random(len(row))
    return (u[:, None] >= cdf_rows[row]).sum(axis=1)


def weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k distinct indices, drawn with probability ~ weights (Efraimidis-Spirakis), sorted."""
    with np.errstate(divide="ignore"):
        keys = np.where(weights > 0, np.log(rng.random(len(weights))) / weights, -np.inf)
    return np.sort(np.argpartition(-keys, k - 1)[:k])


def within(counts: np.ndarray) -> np.ndarray:
    """For rows repeated counts[i] times: the position of each row inside its group."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def nullable(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """An object array holding values where present, else None (NULL)."""
    out = np.full(len(values), None, dtype=object)
    out[present] = values[present].tolist()
    return out


def lookup(words: list[str], codes: np.ndarray) -> np.ndarray:
    return np.array(words, dtype=object)[codes]


class Clock:
    """Turns seconds since the crisis start into datetime64 (NaT where missing)."""

    def __init__(self, start: datetime):
        self.base = np.datetime64(start.replace(tzinfo=None), "s")

    def __call__(self, seconds: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        out = self.base + np.asarray(seconds, dtype=np.int64).astype("timedelta64[s]")
        if present is not None:
            out[~present] = np.datetime64("NaT")
        return out


# --- one scenario ----------------------------------------------------------------

@dataclass
class Ids:
    """First id of each table for the next scenario: ids are unique across scenarios."""
    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str, n: int) -> np.ndarray:
        first = self.next.get(table, 1)
        self.next[table] = first + n
        return np.arange(first, first + n, dtype=np.int64)


@dataclass
class People:
    n: int
    nat: np.ndarray
    sex: np.ndarray
    age: np.ndarray
    unit: np.ndarray
    member: np.ndarray
    district: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    reg: np.ndarray
    status: np.ndarray
    protect: np.ndarray
    tags: np.ndarray  # bool [n, len(TAGS)]
    docs: np.ndarray
    second: np.ndarray  # ISO3 or None, object
    facility: np.ndarray  # facility index, -1 if none
    exit_facility: np.ndarray  # evacuated: facility index the movement left from, else -1
    updated: np.ndarray


def build_scenario(tpl: Template, rng: np.random.Generator, sid: int, kind: str, n: int,
                   ids: Ids, clock: Clock, as_of_year: int) -> dict[str, Columns]:
    spec = tpl.raw[kind]
    rp, rf, rv, re_, rr, rh, ro = rng.spawn(7)
    people = draw_people(tpl, rp, n)
    fac = draw_facilities(tpl, rf, max(20, n // 500))
    evac = draw_evacuation(tpl, rv, people, fac)
    counts = place_sheltered(rf, people, fac)
    out: dict[str, Columns] = {}
    person_id = ids.take("persons", n)
    fac_id = ids.take("facilities", fac["n"])
    out["facilities"] = facility_columns(tpl, rf, fac, fac_id, sid, clock)
    out["facility_occupancy"] = occupancy_columns(ro, fac, counts, fac_id, ids, clock)
    out["person_events"] = person_event_columns(re_, people, fac, person_id, fac_id, ids, clock)
    out["persons"] = person_columns(tpl, rp, people, person_id, fac, fac_id, sid,
                                    spec["ref_prefix"], clock, as_of_year)
    out["person_vulnerabilities"] = vulnerability_columns(people, person_id)
    move_id = ids.take("movements", evac["moves"]["n"])
    out["movements"] = movement_columns(evac["moves"], move_id, fac_id, sid, clock)
    case_id = ids.take("evacuation_cases", evac["n"])
    out["evacuation_cases"], out["evacuation_events"] = evacuation_columns(
        evac, case_id, person_id, move_id, sid, ids, clock)
    out["referrals"], out["referral_events"] = referral_columns(
        tpl, rr, people, evac, person_id, sid, ids, clock)
    out["hazards"] = hazard_columns(tpl, rh, 30 if kind == "live" else 12, sid, ids, clock)
    return out


def draw_people(tpl: Template, rng: np.random.Generator, n: int) -> People:
    """Persons arrive in units (a single person or a family of 2-6): a family shares
    nationality, place, status and registration; ids follow registration time."""
    # nationality weights are shares of persons: divide by the mean unit size
    fam_q = np.clip(0.12 * tpl.nat_family, 0, 0.9)
    u_nat = choice(rng, tpl.nat_w / (1 + 3 * fam_q), n)
    fam_p = fam_q[u_nat]
    size = np.where(rng.random(n) < fam_p, rng.integers(2, 7, n), 1)
    cum = np.cumsum(size)
    units = int(np.searchsorted(cum, n)) + 1
    size = size[:units].copy()
    size[-1] -= cum[units - 1] - n
    u_nat = u_nat[:units]
    u_district = choice(rng, tpl.district_w, units)
    u_status = np.array(list(UNIT_STATUS_P))[choice(rng, list(UNIT_STATUS_P.values()), units)]
    # relocated units have moved to a safer district
    safer = np.flatnonzero(tpl.district_safer)
    moved = u_status == RELOCATED
    u_district[moved] = safer[rng.integers(0, len(safer), int(moved.sum()))]
    spread = tpl.district_spread[u_district]
    u_lat = tpl.district_lat[u_district] + rng.normal(0, 1, units) * spread
    u_lon = tpl.district_lon[u_district] + rng.normal(0, 1, units) * spread
    # registrations: more early in the crisis, none in its last 3 hours
    u_reg = (rng.beta(1.3, 2.4, units) * (AS_OF - 3 * HOUR)).astype(np.int64)
    u_protect = rng.random(units) < tpl.nat_protection[u_nat]
    order = np.argsort(u_reg, kind="stable")
    size, u_nat, u_district = size[order], u_nat[order], u_district[order]
    u_status = u_status[order]
    u_lat, u_lon, u_reg, u_protect = u_lat[order], u_lon[order], u_reg[order], u_protect[order]

    unit = np.repeat(np.arange(units), size)
    member = within(size)
    in_family = size[unit] > 1
    nat = u_nat[unit]
    # the second adult of a family is mostly the other sex; children are half and half
    male0 = (rng.random(units) >= tpl.nat_female[u_nat])[unit]
    other = np.where(rng.random(n) < 0.9, ~male0, male0)
    male = np.where(member == 0, male0, np.where(member == 1, other, rng.random(n) < 0.5))
    sex = male.astype(np.int64)  # 0 = f, 1 = m
    sex[rng.random(n) < 0.003] = 2  # x

    age = 18 + rng.gamma(2.5, 5.0, n)
    age = np.where(rng.random(n) < 0.035, rng.uniform(60, 80, n), age)
    age = np.where(member >= 2, rng.uniform(0, 18, n), age).astype(np.int64)
    uasc = ~in_family & (rng.random(n) < 0.012)
    age[uasc] = rng.integers(14, 18, int(uasc.sum()))

    status = u_status[unit].astype(np.int64)
    fate = rng.random(n)
    status[fate < MISSING_P] = MISSING
    status[fate > 1 - DECEASED_P] = DECEASED
    jitter = np.where(member > 0, 0.0005, 0.0)
    female = sex == 0
    domestic = female & (rng.random(n) < tpl.nat_domestic[nat]) & (age >= 18)
    tags = np.zeros((n, len(TAGS)), dtype=bool)
    tags[:, TAGS.index("uasc")] = uasc
    tags[:, TAGS.index("trafficking")] = rng.random(n) < np.where(domestic, 0.04, 0.004)
    tags[:, TAGS.index("gbv")] = rng.random(n) < np.where(female, 0.045, 0.004)
    tags[:, TAGS.index("disability")] = rng.random(n) < 0.04
    tags[:, TAGS.index("elderly")] = age >= 60
    tags[:, TAGS.index("medical")] = rng.random(n) < 0.05
    tags[:, TAGS.index("pregnant")] = female & (age >= 16) & (age <= 45) & (rng.random(n) < 0.025)
    tags[:, TAGS.index("single_parent")] = in_family & (member == 0) & (rng.random(n) < 0.33)
    cdf = np.cumsum([DOCS_OTHER_P, DOCS_DOMESTIC_P], axis=1)
    docs = rows_choice(rng, cdf, domestic.astype(np.int64))
    seconds = np.array(tpl.raw["second_nationalities"], dtype=object)
    second = nullable(seconds[rng.integers(0, len(seconds), n)], rng.random(n) < 0.02)
    return People(
        n=n, nat=nat, sex=sex, age=age, unit=unit, member=member,
        district=u_district[unit],
        lat=u_lat[unit] + rng.normal(0, 1, n) * jitter,
        lon=u_lon[unit] + rng.normal(0, 1, n) * jitter,
        reg=u_reg[unit] + member * 60, status=status, protect=u_protect[unit], tags=tags,
        docs=docs, second=second, facility=np.full(n, -1, dtype=np.int64),
        exit_facility=np.full(n, -1, dtype=np.int64), updated=u_reg[unit] + member * 60,
    )


# --- facilities ----------------------------------------------------------------

def draw_facilities(tpl: Template, rng: np.random.Generator, n: int) -> dict:
    cfg = tpl.raw["facility_kinds"]
    k = len(FACILITY_KINDS)
    # one of every kind first, so that even the smallest scenario has them all
    kind = np.r_[np.arange(k), choice(rng, [cfg[x]["share"] for x in FACILITY_KINDS], n - k)]
    district = choice(rng, tpl.district_w ** 0.6, n)  # flatter than people: every area has some
    spread = tpl.district_spread[district] * 0.8
    lo = np.array([cfg[x]["capacity"][0] for x in FACILITY_KINDS])[kind]
    hi = np.array([cfg[x]["capacity"][1] for x in FACILITY_KINDS])[kind]
    status = np.zeros(n, dtype=np.int64)  # open; "full" is decided when people are placed
    r = rng.random(n)
    status[r < 0.04] = FACILITY_STATUS.index("closed")
    status[(r >= 0.04) & (r < 0.08)] = FACILITY_STATUS.index("damaged")
    status[:k] = 0
    stale = rng.random(n) < 0.2
    confirmed = np.where(stale, AS_OF - rng.uniform(2 * DAY, 5 * DAY, n),
                         AS_OF - rng.uniform(0, 12 * HOUR, n)).astype(np.int64)
    opened = np.where(rng.random(n) < 0.35, 0, rng.uniform(0, 6 * DAY, n)).astype(np.int64)
    return {
        "n": n, "kind": kind, "district": district,
        "lat": tpl.district_lat[district] + rng.normal(0, 1, n) * spread,
        "lon": tpl.district_lon[district] + rng.normal(0, 1, n) * spread,
        "capacity": rng.integers(lo, hi + 1), "status": status,
        "confidential": (kind == FACILITY_KINDS.index("safe_house")) | (rng.random(n) < 0.02),
        "confirmed": confirmed, "opened": opened,
    }


def usable_facilities(fac: dict) -> np.ndarray:
    bad = np.isin(fac["status"], [FACILITY_STATUS.index("closed"),
                                  FACILITY_STATUS.index("damaged")])
    return np.flatnonzero(~bad)


def place_sheltered(rng: np.random.Generator, people: People, fac: dict) -> np.ndarray:
    """Give every sheltered person a place in a usable facility, never above capacity.

    Some facilities are filled to capacity (status full) or nearly, the rest in
    proportion to a drawn share of it; persons are matched to places in their own district where
    possible. Returns the occupants per facility.
    """
    usable = usable_facilities(fac)
    cap = fac["capacity"][usable]
    sheltered = np.flatnonzero(people.status == SHELTERED)
    if len(sheltered) > cap.sum():  # not enough places: the rest stay where they are
        extra = rng.choice(sheltered, len(sheltered) - int(cap.sum()), replace=False)
        people.status[extra] = LOCATED
        sheltered = np.flatnonzero(people.status == SHELTERED)
    s = len(sheltered)
    # about one in eight facilities is full and one in ten nearly full (90-99%), within
    # half of the sheltered; at least one of each where that fits
    fixed = np.zeros(len(usable), dtype=np.int64)
    budget = 0.5 * s
    r = rng.random(len(usable))
    fill = np.where(r < 0.12, 1.0, rng.uniform(0.9, 0.99, len(usable)))
    smallest = np.argsort(cap, kind="stable")[:2].tolist()
    fill[smallest[:1]] = 1.0
    for i in np.flatnonzero(r < 0.22).tolist() + smallest:
        want = int(cap[i] * fill[i])
        if want <= budget and not fixed[i]:
            fixed[i], budget = want, budget - want
    alloc = fixed.copy()
    rest = s - int(alloc.sum())
    desired = np.where(fixed > 0, 0.0, cap * rng.beta(5, 3, len(usable)))
    if rest > 0:
        if desired.sum() > 0:
            share = np.floor(desired * rest / desired.sum()).astype(np.int64)
            alloc += np.minimum(cap - alloc, share)
        left = s - int(alloc.sum())
        spare = cap - alloc
        order = np.argsort(-spare, kind="stable")
        before = np.cumsum(spare[order]) - spare[order]
        alloc[order] += np.clip(left - before, 0, spare[order])
    counts = np.zeros(fac["n"], dtype=np.int64)
    counts[usable] = alloc
    fac["status"][usable[alloc == cap]] = FACILITY_STATUS.index("full")
    # match people and places both sorted by district: mostly the same district
    who = sheltered[np.argsort(people.district[sheltered], kind="stable")]
    slots = np.repeat(usable, alloc)
    slots = slots[np.argsort(fac["district"][slots], kind="stable")]
    people.facility[who] = slots
    return counts


def facility_columns(tpl: Template, rng: np.random.Generator, fac: dict, fac_id: np.ndarray,
                     sid: int, clock: Clock) -> Columns:
    cfg = tpl.raw["facility_kinds"]
    operators = {k: [o["name"] for o in tpl.orgs if k in o["operates"]] or ["Municipal crisis cell"]
                 for k in FACILITY_KINDS}
    seen: dict[tuple[int, int], int] = {}
    names, ops = [], []
    pick = rng.random((fac["n"], 2))
    for i, (k, d) in enumerate(zip(fac["kind"].tolist(), fac["district"].tolist(), strict=True)):
        kind = FACILITY_KINDS[k]
        seen[k, d] = number = seen.get((k, d), 0) + 1
        patterns = cfg[kind]["names"]
        pattern = patterns[int(pick[i, 0] * len(patterns))]
        names.append(pattern.format(place=tpl.district_name[d], n=number,
                                    code=f"{sid}-{int(fac_id[i]):04d}"))
        ops.append(operators[kind][int(pick[i, 1] * len(operators[kind]))])
    return {
        "id": fac_id, "scenario_id": np.full(fac["n"], sid), "name": np.array(names, dtype=object),
        "kind": lookup(FACILITY_KINDS, fac["kind"]),
        "lat": fac["lat"].round(5), "lon": fac["lon"].round(5),
        "area_pcode": tpl.district_pcode[fac["district"]],
        "capacity": fac["capacity"], "status": lookup(FACILITY_STATUS, fac["status"]),
        "confidential": fac["confidential"], "operator": np.array(ops, dtype=object),
        "confirmed_at": clock(fac["confirmed"]),
    }


def occupancy_columns(rng: np.random.Generator, fac: dict, counts: np.ndarray,
                      fac_id: np.ndarray, ids: Ids, clock: Clock) -> Columns:
    """A report every 6 hours from opening to the last confirmation, rising with the
    crisis; the last report is the number of persons sheltered there now."""
    step = 6 * HOUR
    reports = (fac["confirmed"] - fac["opened"]) // step + 1
    f = np.repeat(np.arange(fac["n"]), reports)
    back = reports[f] - 1 - within(reports)  # steps before the last report
    at = fac["confirmed"][f] - back * step
    x = 1.0 - back / np.maximum(reports[f] - 1, 1)  # 0 at opening, 1 at the last report
    cap = fac["capacity"][f]
    shape = rng.uniform(0.5, 1.2, fac["n"])[f]
    rising = counts[f] * x ** shape * (1 + rng.normal(0, 0.04, len(f)))
    full = fac["status"][f] == FACILITY_STATUS.index("full")
    rising = np.where(full, cap * np.minimum(1.0, x / 0.7) ** shape, rising)
    # closed and damaged facilities filled up, then emptied when they shut
    shut = counts[f] == 0
    peak = cap * rng.uniform(0.4, 0.95, fac["n"])[f]
    shut_at = rng.uniform(0.6, 0.9, fac["n"])[f]
    rising = np.where(shut, np.where(x < shut_at, peak * (x / shut_at) ** shape, 0), rising)
    occupants = np.clip(np.rint(rising), 0, cap).astype(np.int64)
    occupants[back == 0] = counts[f][back == 0]
    return {"id": ids.take("facility_occupancy", len(f)), "facility_id": fac_id[f],
            "at": clock(at), "occupants": occupants}


# --- evacuation --------------------------------------------------------------------

SEATS = {"air": (150, 401), "sea": (200, 401), "land": (50, 201)}
TRIP_HOURS = {"air": (4, 8), "sea": (14, 30), "land": (3, 8)}
POST_DEPARTURE = [4, 5, 6, 7]  # departed .. followed_up
NEEDS_PAST_MOVEMENT = POST_DEPARTURE + [STAGES.index("no_show")]


def draw_evacuation(tpl: Template, rng: np.random.Generator, people: People, fac: dict) -> dict:
    """Evacuation cases for 40% of persons, their stage histories, and the movements
    that carry them. Cases that departed make their person `evacuated`."""
    n = people.n
    c = round(0.4 * n)
    w = tpl.nat_evacuation[people.nat] * np.where(people.protect, 0.1, 1.0)
    w[people.status == DECEASED] = 0  # never more than the living
    pid = weighted_sample(rng, w, c)
    target = choice(rng, STAGE_P, c)
    dest = tpl.nat[people.nat[pid]]
    second = people.second[pid]
    use_second = (second != None) & (rng.random(c) < 0.3)  # noqa: E711 (object array)
    use_second &= second != tpl.raw["country"]  # nobody is evacuated to the host country
    dest[use_second] = second[use_second]
    reg = people.reg[pid]
    # earliest a person can be on a movement: half a day to a few days after registering
    ready = reg + 12 * HOUR + rng.exponential(4 * DAY, c).astype(np.int64)
    needs_past = np.isin(target, NEEDS_PAST_MOVEMENT)
    target[needs_past & (ready > AS_OF - 2 * HOUR)] = STAGES.index("manifested")
    needs_past = np.isin(target, NEEDS_PAST_MOVEMENT)
    manifested = target == STAGES.index("manifested")

    origins = np.flatnonzero(np.isin(fac["kind"], [FACILITY_KINDS.index("transit_centre"),
                                                   FACILITY_KINDS.index("assembly_point")]))
    origins = np.intersect1d(origins, usable_facilities(fac))  # one of each kind is always open
    mv: dict[str, list] = {k: [] for k in ("mode", "origin", "dest", "capacity", "departs",
                                           "trip", "via", "status")}
    move = np.full(c, -1, dtype=np.int64)

    def add(mode: str, dest_code: str, seats: int, departs: int, status: str) -> int:
        lo, hi = TRIP_HOURS[mode]
        mv["mode"].append(mode)
        mv["origin"].append(int(origins[rng.integers(0, len(origins))]))
        mv["dest"].append(dest_code)
        mv["capacity"].append(seats)
        mv["departs"].append(departs)
        mv["trip"].append(int(rng.uniform(lo, hi) * HOUR))
        mv["via"].append(mode == "sea" or (mode == "air" and rng.random() < 0.3))
        mv["status"].append(status)
        return len(mv["mode"]) - 1

    for d in sorted(set(dest[needs_past | manifested].tolist())):
        for past in (True, False):
            idx = np.flatnonzero((needs_past if past else manifested) & (dest == d))
            idx = idx[np.argsort(ready[idx], kind="stable")] if past else rng.permutation(idx)
            i, first = 0, True
            while i < len(idx):
                mode = ("land" if d in tpl.land_destinations
                        else "sea" if rng.random() < 0.15 else "air")
                seats = int(rng.integers(*SEATS[mode]))
                chunk = idx[i:i + max(1, int(seats * rng.uniform(0.7, 0.98)))]
                i += len(chunk)
                if past:  # leaves once everyone on it is ready
                    leaves = min(int(ready[chunk[-1]] + rng.uniform(0, 12 * HOUR)), AS_OF - HOUR)
                    status = "departed"
                elif first and rng.random() < 0.15:
                    leaves, status = AS_OF + int(rng.uniform(1, 5) * HOUR), "boarding"
                else:
                    leaves, status = AS_OF + int(rng.uniform(3 * HOUR, 6 * DAY)), "planned"
                move[chunk] = add(mode, d, seats, leaves, status)
                first = False
    dests = sorted(set(dest.tolist())) or [str(tpl.nat[0])]
    for _ in range(max(1, round(0.03 * len(mv["mode"])))):
        add("air", dests[int(rng.integers(0, len(dests)))], int(rng.integers(150, 401)),
            int(rng.uniform(2 * DAY, AS_OF + 3 * DAY)), "cancelled")
    # the movements' column arrays, and "n" their number
    moves: dict[str, Any] = {k: np.array(v, dtype=object if k in ("mode", "dest", "status")
                                         else None) for k, v in mv.items()}
    arrived = (moves["status"] == "departed") & (moves["departs"] + moves["trip"] <= AS_OF)
    moves["status"][arrived] = "arrived"
    # movement ids follow departure time
    order = np.argsort(moves["departs"], kind="stable")
    moves = {k: v[order] for k, v in moves.items()}
    moves["n"] = len(order)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    move = np.where(move >= 0, rank[np.maximum(move, 0)], -1)

    # the stages before departure (or before a branch) fall between request and window end
    departs = np.where(move >= 0, moves["departs"][np.maximum(move, 0)], 0)
    end = np.where(needs_past, departs - 2 * HOUR, AS_OF - 60)
    requested = reg + ((end - reg) * rng.uniform(0, 0.5, c)).astype(np.int64)
    pre_last = np.minimum(target, 3)
    declined, medical = target == STAGES.index("declined"), target == STAGES.index("medical_hold")
    pre_last[declined] = rng.integers(0, 2, int(declined.sum()))
    pre_last[medical] = rng.integers(1, 3, int(medical.sum()))
    branch_in_window = declined | medical
    in_window = pre_last + 1 + branch_in_window
    gaps = rng.exponential(1.0, (c, 4))
    gaps[:, 0] = 0
    gaps[np.arange(4)[None, :] >= in_window[:, None]] = 0
    frac = np.cumsum(gaps, axis=1) / (gaps.sum(axis=1) + rng.exponential(1.0, c))[:, None]
    window = (requested[:, None] + ((end - requested)[:, None] * frac).astype(np.int64)
              + np.arange(4)[None, :])

    stage = np.full((c, 8), -1, dtype=np.int64)
    at = np.zeros((c, 8), dtype=np.int64)
    for j in range(4):
        stage[:, j] = np.where(j <= pre_last, j, -1)
        at[:, j] = window[:, j]
    rows = np.arange(c)
    stage[branch_in_window, 4] = target[branch_in_window]
    at[branch_in_window, 4] = window[rows, np.minimum(pre_last + 1, 3)][branch_in_window]
    post = np.isin(target, POST_DEPARTURE)
    noshow = target == STAGES.index("no_show")
    stage[post, 4], stage[noshow, 4] = 4, STAGES.index("no_show")
    at[post | noshow, 4] = departs[post | noshow]
    m = np.maximum(move, 0)
    trip = moves["trip"][m].astype(np.int64) if moves["n"] else np.zeros(c, dtype=np.int64)
    via = moves["via"][m].astype(bool) if moves["n"] else np.zeros(c, dtype=bool)
    t_transit = departs + (trip * rng.uniform(0.3, 0.6, c)).astype(np.int64)
    t_origin = departs + trip
    t_follow = t_origin + rng.uniform(DAY, 4 * DAY, c).astype(np.int64)
    transit = post & (target >= 5) & (via | (target == 5)) & (t_transit <= AS_OF)
    origin = post & (target >= 6) & (t_origin <= AS_OF)
    follow = origin & (target == 7) & (t_follow <= AS_OF)
    stage[transit, 5], at[transit, 5] = 5, t_transit[transit]
    stage[origin, 6], at[origin, 6] = 6, t_origin[origin]
    stage[follow, 7], at[follow, 7] = 7, t_follow[follow]
    last = 7 - np.argmax(stage[:, ::-1] >= 0, axis=1)
    has_move = needs_past | manifested

    # departed persons have left the country, from the movement's origin facility
    gone = pid[post]
    people.status[gone] = EVACUATED
    people.updated[gone] = departs[post]
    people.exit_facility[gone] = moves["origin"][move[post]].astype(np.int64)

    order = np.argsort(requested, kind="stable")  # case ids follow request time
    return {
        "n": c, "pid": pid[order], "dest": dest[order], "requested": requested[order],
        "move": np.where(has_move, move, -1)[order], "stage": stage[rows, last][order],
        "updated": at[rows, last][order], "event_stage": stage[order], "event_at": at[order],
        "moves": moves,
    }


def movement_columns(moves: dict, move_id: np.ndarray, fac_id: np.ndarray, sid: int,
                     clock: Clock) -> Columns:
    n = moves["n"]
    return {
        "id": move_id, "scenario_id": np.full(n, sid), "mode": moves["mode"],
        "origin_facility_id": fac_id[moves["origin"].astype(np.int64)],
        "destination": moves["dest"], "capacity": moves["capacity"].astype(np.int64),
        "departs_at": clock(moves["departs"].astype(np.int64)), "status": moves["status"],
    }


def evacuation_columns(evac: dict, case_id: np.ndarray, person_id: np.ndarray,
                       move_id: np.ndarray, sid: int, ids: Ids,
                       clock: Clock) -> tuple[Columns, Columns]:
    c = evac["n"]
    has_move = evac["move"] >= 0
    cases = {
        "id": case_id, "scenario_id": np.full(c, sid), "person_id": person_id[evac["pid"]],
        "stage": lookup(STAGES, evac["stage"]), "destination": evac["dest"],
        "movement_id": nullable(move_id[np.maximum(evac["move"], 0)], has_move),
        "requested_at": clock(evac["requested"]), "updated_at": clock(evac["updated"]),
    }
    mask = evac["event_stage"] >= 0
    row, _ = np.nonzero(mask)
    events = {
        "id": ids.take("evacuation_events", len(row)), "case_id": case_id[row],
        "at": clock(evac["event_at"][mask]), "stage": lookup(STAGES, evac["event_stage"][mask]),
    }
    return cases, events


# --- persons and their history ---------------------------------------------------

def final_place(people: People, fac: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitude, longitude and district now: the facility's for sheltered persons,
    the departure facility's for evacuated ones, else their own."""
    at_fac = np.where(people.facility >= 0, people.facility, people.exit_facility)
    there = at_fac >= 0
    f = np.maximum(at_fac, 0)
    return (np.where(there, fac["lat"][f], people.lat), np.where(there, fac["lon"][f], people.lon),
            np.where(there, fac["district"][f], people.district))


def person_event_columns(rng: np.random.Generator, people: People, fac: dict,
                         person_id: np.ndarray, fac_id: np.ndarray, ids: Ids,
                         clock: Clock) -> Columns:
    """1-4 events per person: registration, status changes, and a last event equal
    to the person's current status, facility and place (sets people.updated)."""
    n = people.n
    k = choice(rng, [0.35, 0.35, 0.2, 0.1], n) + 1
    moved = np.isin(people.status, [EVACUATED, RELOCATED, MISSING, DECEASED])
    k = np.where(moved, np.maximum(k, 2), k)
    reg = people.reg
    later = reg + ((AS_OF - reg) * rng.uniform(0.2, 1.0, n)).astype(np.int64)
    last_t = np.where(k == 1, reg, later)
    last_t = np.where(people.status == EVACUATED, people.updated, last_t)
    last_t = np.maximum(last_t, reg + (k - 1) * 60)
    people.updated = last_t

    p = within(k)
    who = np.repeat(np.arange(n), k)
    kk = k[who]
    is_last = p == kk - 1
    middle = (p + rng.uniform(-0.3, 0.3, len(p))) / np.maximum(kk - 1, 1)
    frac = np.where(p == 0, 0.0, np.where(is_last, 1.0, middle))
    at = reg[who] + (frac * (last_t - reg - (k - 1))[who]).astype(np.int64) + p
    earlier = np.where(p == 0, np.where(rng.random(len(p)) < 0.6, LOCATED, SHELTERED),
                       np.array([LOCATED, SHELTERED, IN_TRANSIT, RELOCATED])[
                           choice(rng, [0.3, 0.3, 0.3, 0.1], len(p))])
    status = np.where(is_last, people.status[who], earlier)
    usable = usable_facilities(fac)
    stay = np.where(status == SHELTERED, usable[rng.integers(0, len(usable), len(p))], -1)
    stay = np.where(is_last, people.facility[who], stay)
    lat_now, lon_now, _ = final_place(people, fac)
    s = np.maximum(stay, 0)
    lat = np.where(stay >= 0, fac["lat"][s], people.lat[who] + rng.normal(0, 0.005, len(p)))
    lon = np.where(stay >= 0, fac["lon"][s], people.lon[who] + rng.normal(0, 0.005, len(p)))
    lat = np.where(is_last, lat_now[who], lat)
    lon = np.where(is_last, lon_now[who], lon)
    return {
        "id": ids.take("person_events", len(p)), "person_id": person_id[who], "at": clock(at),
        "status": lookup(PERSON_STATUS, status),
        "facility_id": nullable(fac_id[s], stay >= 0),
        "lat": lat.round(5), "lon": lon.round(5),
    }


def person_columns(tpl: Template, rng: np.random.Generator, people: People,
                   person_id: np.ndarray, fac: dict, fac_id: np.ndarray, sid: int,
                   prefix: str, clock: Clock, year: int) -> Columns:
    n = people.n
    nat = people.nat
    name_sex = np.where(people.sex == 2, rng.integers(0, 2, n), people.sex)
    given = (rng.random(n) * tpl.name_given[nat, name_sex]).astype(np.int64)
    family = (rng.random(people.unit[-1] + 1)[people.unit] * tpl.name_family[nat]).astype(np.int64)
    full_name = tpl.names[tpl.name_offset[nat, name_sex] + given * tpl.name_family[nat] + family]
    in_family = np.bincount(people.unit)[people.unit] > 1
    family_id = np.full(n, None, dtype=object)
    family_id[in_family] = [f"{prefix}-F{u:07d}" for u in people.unit[in_family].tolist()]
    has_phone = (people.member < 2) & (rng.random(n) < 0.92)
    phone = np.full(n, None, dtype=object)
    groups = list(tpl.phone["digits"])
    digits = rng.integers(0, 10 ** sum(groups), n)
    prefixes = np.array([str(x) for x in tpl.phone["prefixes"]], dtype=object)
    pre = prefixes[rng.integers(0, len(prefixes), n)]
    code = tpl.phone["country_code"]
    phone[has_phone] = [f"{code} {a} {_digits(groups, b)}"
                        for a, b in zip(pre[has_phone].tolist(), digits[has_phone].tolist(),
                                        strict=True)]
    lat, lon, district = final_place(people, fac)
    birth_year = year - people.age - (rng.random(n) < 0.5)
    return {
        "id": person_id, "scenario_id": np.full(n, sid),
        "ref": np.array([f"{prefix}-{i:07d}" for i in range(1, n + 1)], dtype=object),
        "full_name": full_name, "sex": lookup(SEXES, people.sex),
        "birth_year": nullable(birth_year, rng.random(n) >= 0.02),
        "nationality": tpl.nat[nat], "second_nationality": people.second,
        "family_id": family_id, "phone": phone,
        "lat": lat.round(5), "lon": lon.round(5),
        "area_pcode": tpl.district_pcode[district],
        "facility_id": nullable(fac_id[np.maximum(people.facility, 0)], people.facility >= 0),
        "status": lookup(PERSON_STATUS, people.status),
        "consent_consular": rng.random(n) < 0.7, "protection_confidential": people.protect,
        "documents": lookup(DOCUMENTS, people.docs),
        "registered_at": clock(people.reg), "updated_at": clock(people.updated),
    }


def vulnerability_columns(people: People, person_id: np.ndarray) -> Columns:
    who, tag = np.nonzero(people.tags)
    return {"person_id": person_id[who], "tag": lookup(TAGS, tag)}


# --- referrals ------------------------------------------------------------------

def referral_pools(people: People, evac: dict) -> dict[str, np.ndarray | None]:
    """Who each service is mainly for; sensitive services go to the matching tag."""
    t = {tag: people.tags[:, i] for i, tag in enumerate(TAGS)}
    has_case = np.zeros(people.n, dtype=bool)
    has_case[evac["pid"]] = True
    needs_doc = np.isin(people.docs, [DOCUMENTS.index(d)
                                      for d in vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT])
    open_to_state = ~people.protect  # never refer a protected person to their State of origin
    return {
        "consular": open_to_state, "documentation": needs_doc & open_to_state,
        "evacuation": has_case & open_to_state, "family_tracing": None,
        "shelter": np.isin(people.status, [LOCATED, IN_TRANSIT]),
        "health": t["medical"] | t["pregnant"] | t["disability"] | t["elderly"],
        "psychosocial": None, "legal": None, "asylum": people.protect,
        "anti_trafficking": t["trafficking"], "gbv": t["gbv"],
        "child_protection": t["uasc"] | (people.age < 18),
    }


def referral_columns(tpl: Template, rng: np.random.Generator, people: People, evac: dict,
                     person_id: np.ndarray, sid: int, ids: Ids,
                     clock: Clock) -> tuple[Columns, Columns]:
    n = people.n
    r = round(0.3 * n)
    service = choice(rng, [SERVICE_P[s] for s in SERVICES], r)
    pid = np.empty(r, dtype=np.int64)
    for s, mask in referral_pools(people, evac).items():
        idx = np.flatnonzero(service == SERVICES.index(s))
        if s not in vocab.CONSULAR_SERVICES:
            fallback = np.arange(n)
        else:  # no fallback for a consular service without a pool (family tracing)
            fallback = np.flatnonzero(mask) if mask is not None else np.empty(0, dtype=np.intp)
        pool = np.flatnonzero(mask) if mask is not None else fallback
        if len(pool) == 0:
            pool = fallback if len(fallback) else np.arange(n)
        if len(fallback) == 0:
            fallback = pool
        mainly = rng.random(len(idx)) < 0.9
        pid[idx] = np.where(mainly, pool[rng.integers(0, len(pool), len(idx))],
                            fallback[rng.integers(0, len(fallback), len(idx))])
    reg = people.reg[pid]
    created = reg + ((AS_OF - HOUR - reg) * rng.beta(1.0, 2.5, r)).astype(np.int64)
    deadline = np.array([vocab.REFERRAL_DEADLINE_HOURS[s] * HOUR for s in SERVICES])[service]

    # the receiver accepts (often late), rejects, the sender revokes, or nothing happens
    path = choice(rng, [0.72, 0.12, 0.08, 0.08], r)
    t_acc = created + (deadline * rng.lognormal(np.log(0.5), 0.8, r)).astype(np.int64) + 1
    t_svc = t_acc + rng.exponential(1.5 * DAY, r).astype(np.int64) + 1
    t_close = t_svc + rng.exponential(5 * DAY, r).astype(np.int64) + 1
    t_rej = created + (deadline * rng.uniform(0.1, 1.5, r)).astype(np.int64) + 1
    t_rev = created + rng.exponential(3 * DAY, r).astype(np.int64) + 1
    code = {s: REF_STATUS.index(s) for s in REF_STATUS}
    stage = np.full((r, 4), -1, dtype=np.int64)
    at = np.zeros((r, 4), dtype=np.int64)
    stage[:, 0], at[:, 0] = code["open"], created
    accepted = path == 0
    stage[accepted, 1:] = [code["accepted"], code["in_service"], code["closed"]]
    at[accepted, 1:] = np.stack([t_acc, t_svc, t_close], axis=1)[accepted]
    stage[path == 1, 1], at[path == 1, 1] = code["rejected"], t_rej[path == 1]
    stage[path == 2, 1], at[path == 2, 1] = code["revoked"], t_rev[path == 2]
    stage[at > AS_OF] = -1
    rows = np.arange(r)
    last = 3 - np.argmax(stage[:, ::-1] >= 0, axis=1)
    status = stage[rows, last]
    ended = np.isin(status, [code[s] for s in vocab.REFERRAL_ENDED])

    urgent_kind = vocab.SENSITIVE_SERVICES + ("health",)
    sensitive = np.isin(service, [SERVICES.index(s) for s in urgent_kind])
    priority = rows_choice(rng, np.cumsum([[0.15, 0.35, 0.5], [0.4, 0.4, 0.2]], axis=1),
                           sensitive.astype(np.int64))
    orgs = [o["name"] for o in tpl.orgs]
    receivers = [[i for i, o in enumerate(tpl.orgs) if s in o["services"]] for s in SERVICES]
    to_org = np.array([x[0] for x in receivers])[service]
    for k, options in enumerate(receivers):
        idx = np.flatnonzero(service == k)
        to_org[idx] = np.array(options)[rng.integers(0, len(options), len(idx))]
    from_org = rng.integers(0, len(orgs), r)
    from_org = np.where(from_org == to_org, (from_org + 1) % len(orgs), from_org)

    order = np.argsort(created, kind="stable")  # case numbers follow creation time
    ref_id = ids.take("referrals", r)
    referrals = {
        "id": ref_id, "scenario_id": np.full(r, sid), "person_id": person_id[pid[order]],
        "service": lookup(SERVICES, service[order]),
        "from_org": lookup(orgs, from_org[order]), "to_org": lookup(orgs, to_org[order]),
        "priority": lookup(list(vocab.REFERRAL_PRIORITIES), priority[order]),
        "status": lookup(REF_STATUS, status[order]),
        "created_at": clock(created[order]), "due_at": clock((created + deadline)[order]),
        "closed_at": clock(at[rows, last][order], ended[order]),
    }
    stage, at = stage[order], at[order]
    mask = stage >= 0
    row, _ = np.nonzero(mask)
    events = {"id": ids.take("referral_events", len(row)), "referral_id": ref_id[row],
              "at": clock(at[mask]), "status": lookup(REF_STATUS, stage[mask])}
    return referrals, events


# --- hazards, posts, reference tables ------------------------------------------------

def polygon(rng: np.random.Generator, lat: float, lon: float, radius_km: float) -> str:
    """A simple irregular polygon (GeoJSON, counter-clockwise, closed) around a point."""
    k = int(rng.integers(6, 11))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = radius_km * rng.uniform(0.6, 1.0, k)
    dlat = r / 111.0 * np.sin(angles)
    dlon = r / (111.0 * np.cos(np.radians(lat))) * np.cos(angles)
    ring = [[round(lon + x, 5), round(lat + y, 5)] for x, y in zip(dlon, dlat, strict=True)]
    return json.dumps({"type": "Polygon", "coordinates": [ring + [ring[0]]]})


def hazard_columns(tpl: Template, rng: np.random.Generator, n: int, sid: int, ids: Ids,
                   clock: Clock) -> Columns:
    places = tpl.raw["hazard_places"]
    # the kinds of this crisis: those the template places anywhere, in the vocabulary's order
    kinds = [k for k in vocab.HAZARD_KINDS if any(k in p["kinds"] for p in places)]
    rows: list[tuple] = []
    for i in range(n):
        if i < len(kinds):  # every kind at least once
            kind = kinds[i]
            options = [p for p in places if kind in p["kinds"]]
        else:
            options = places
            kind = None
        place = options[int(rng.integers(0, len(options)))]
        kind = kind or place["kinds"][int(rng.integers(0, len(place["kinds"])))]
        radius = rng.uniform(0.5, 2.0) if kind == "road_closure" else rng.uniform(1.0, 8.0)
        start = int(rng.uniform(0, AS_OF - 6 * HOUR))
        ongoing = rng.random() < 0.4
        end = min(start + int(rng.uniform(6 * HOUR, 7 * DAY)), AS_OF)
        severity = list(vocab.HAZARD_SEVERITIES)[int(choice(rng, [.15, .35, .35, .15], 1)[0])]
        rows.append((kind, severity, polygon(rng, place["lat"], place["lon"], radius),
                     start, end, not ongoing))
    kind_, severity_, geometry, start_, end_, ended = zip(*rows, strict=True)
    return {
        "id": ids.take("hazards", n), "scenario_id": np.full(n, sid),
        "kind": np.array(kind_, dtype=object), "severity": np.array(severity_, dtype=object),
        "geometry": np.array(geometry, dtype=object), "valid_from": clock(np.array(start_)),
        "valid_to": clock(np.array(end_), np.array(ended)),
    }


def read_countries(path: Path = COUNTRIES_PATH) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def country_columns(rows: list[dict[str, str]]) -> Columns:
    return {
        "iso3": np.array([r["iso3"] for r in rows], dtype=object),
        "iso2": np.array([r["iso2"] or None for r in rows], dtype=object),
        "name": np.array([r["name"] for r in rows], dtype=object),
    }


def area_columns(tpl: Template) -> Columns:
    gov, dist = tpl.raw["governorates"], tpl.raw["districts"]
    both = [(g, 1, None) for g in gov] + [(d, 2, d["parent"]) for d in dist]
    return {
        "pcode": np.array([a["pcode"] for a, _, _ in both], dtype=object),
        "name": np.array([a["name"] for a, _, _ in both], dtype=object),
        "admin_level": np.array([level for _, level, _ in both]),
        "parent_pcode": np.array([parent for _, _, parent in both], dtype=object),
        "country": np.full(len(both), tpl.raw["country"], dtype=object),
        "lat": np.array([a["lat"] for a, _, _ in both]),
        "lon": np.array([a["lon"] for a, _, _ in both]),
    }


def consular_post_columns(tpl: Template, rng: np.random.Generator,
                          country_names: dict[str, str]) -> Columns:
    """An embassy in the capital for every nationality, a second post for some."""
    statuses = list(vocab.CONSULAR_POST_STATUSES)
    capital = tpl.capital
    rows = []
    for code in tpl.nat.tolist():
        name = country_names.get(code, code)
        rows.append((code, f"Embassy of {name}, {capital['city']}",
                     capital["lat"] + rng.normal(0, 0.012),
                     capital["lon"] + rng.normal(0, 0.015)))
        second = tpl.raw.get("second_posts", {}).get(code)
        if second:
            rows.append((code, f"Consulate of {name}, {second['city']}", second["lat"],
                         second["lon"]))
    n = len(rows)
    status = choice(rng, [0.5, 0.25, 0.1, 0.15], n)
    first, second = tpl.hotline["digits"]
    hotline = [f"{tpl.hotline['prefix']} {a:0{first}d} {b:0{second}d}" for a, b in
               zip(rng.integers(2 * 10 ** (first - 1), 10 ** first, n).tolist(),
                   rng.integers(0, 10 ** second, n).tolist(), strict=True)]
    return {
        "id": np.arange(1, n + 1), "country": np.array([r[0] for r in rows], dtype=object),
        "name": np.array([r[1] for r in rows], dtype=object),
        "lat": np.array([r[2] for r in rows]).round(5),
        "lon": np.array([r[3] for r in rows]).round(5),
        "status": lookup(statuses, status), "hotline": np.array(hotline, dtype=object),
    }


def scenario_columns(tpl: Template, start: datetime) -> Columns:
    specs = [(LIVE_ID, "live", tpl.raw["live"]), (EXERCISE_ID, "exercise", tpl.raw["exercise"])]
    return {
        "id": np.array([i for i, _, _ in specs]),
        "name": np.array([s["name"] for _, _, s in specs], dtype=object),
        "kind": np.array([k for _, k, _ in specs], dtype=object),
        "starts_at": np.array([np.datetime64(start, "s")] * 2),
        "country": np.full(2, tpl.raw["country"], dtype=object),
        "synthetic": np.ones(2, dtype=bool),
        "description": np.array([s["description"] for _, _, s in specs], dtype=object),
    }


# --- dirty rows -------------------------------------------------------------------

def make_dirty(rng: np.random.Generator, t: dict[str, Columns], ids: Ids,
               clock: Clock) -> dict[str, int]:
    """Break the contract on purpose, as DIRTY_KINDS says, by altering existing rows
    of one scenario (and adding history rows). Returns the rows per kind."""
    done: dict[str, int] = {}
    persons, cases, refs = t["persons"], t["evacuation_cases"], t["referrals"]

    def take(pool: np.ndarray, kind: str, cursor: int = 0) -> np.ndarray:
        picked = pool[cursor:cursor + DIRTY_KINDS[kind]]
        done[kind] = len(picked)
        return picked

    # persons: disjoint sets of located persons without an evacuation case
    calm = rng.permutation(np.flatnonzero((persons["status"] == "located")
                                          & ~np.isin(persons["id"], cases["person_id"])))
    bad = take(calm, "person_bad_coordinates")
    persons["lat"][bad[0::3]] = 200.0
    persons["lon"][bad[1::3]] = -400.0
    persons["lat"][bad[2::3]], persons["lon"][bad[2::3]] = -95.5, 190.0
    cursor = len(bad)
    idx = take(calm, "person_unknown_nationality", cursor)
    persons["nationality"][idx] = np.resize(np.array(DIRTY_NATIONALITIES, dtype=object), len(idx))
    cursor += len(idx)
    idx = take(calm, "person_unknown_status", cursor)
    persons["status"][idx] = np.resize(np.array(DIRTY_STATUSES, dtype=object), len(idx))
    idx = take(rng.permutation(np.flatnonzero(persons["status"] == "sheltered")),
               "person_dangling_facility")
    persons["facility_id"][idx] = (DANGLING_ID + np.arange(len(idx))).tolist()

    # the latest occupancy report of some facilities is above capacity
    occ = t["facility_occupancy"]
    fac = t["facilities"]
    latest = np.flatnonzero(np.r_[occ["facility_id"][1:] != occ["facility_id"][:-1], True])
    idx = take(rng.permutation(latest), "facility_over_capacity")
    capacity = fac["capacity"][np.searchsorted(fac["id"], occ["facility_id"][idx])]
    occ["occupants"][idx] = capacity + np.maximum(1, (capacity * rng.uniform(0.05, 0.3,
                                                                           len(idx))).astype(int))

    # evacuation cases going back from documented to verified
    order = rng.permutation(cases["id"].size)
    back = take(order[cases["stage"][order] == "documented"], "evacuation_stage_backwards")
    when = cases["updated_at"][back] + (clock(np.array([AS_OF])) - cases["updated_at"][back]) // 2
    cases["stage"][back] = "verified"
    cases["updated_at"][back] = when
    ev = t["evacuation_events"]
    extra = {"id": ids.take("evacuation_events", len(back)), "case_id": cases["id"][back],
             "at": when, "stage": np.full(len(back), "verified", dtype=object)}
    t["evacuation_events"] = {k: np.concatenate([ev[k], extra[k]]) for k in ev}
    idx = take(order[~np.isin(order, back)], "evacuation_dangling_person")
    cases["person_id"][idx] = DANGLING_ID + 100 + np.arange(len(idx))

    order = rng.permutation(refs["id"].size)
    idx = take(order, "referral_dangling_person")
    refs["person_id"][idx] = DANGLING_ID + 200 + np.arange(len(idx))
    idx = take(order, "referral_unknown_service", len(idx))
    refs["service"][idx] = np.resize(np.array(DIRTY_SERVICES, dtype=object), len(idx))
    return done


# --- the entry point -------------------------------------------------------------

SCENARIO_TABLES = ("facilities", "facility_occupancy", "persons", "person_vulnerabilities",
                   "person_events", "movements", "evacuation_cases", "evacuation_events",
                   "referrals", "referral_events", "hazards")
REFERENCE_TABLES = ("countries", "areas")  # may already be there: rows are added, not replaced


def exercise_size(persons: int) -> int:
    """The exercise is smaller than the live scenario: 5%, but at least 500 where possible."""
    return max(1, persons // 20, min(500, persons // 2))


def generate(url: str, persons: int, seed: int, dirty: bool = False,
             start: datetime | None = None,
             progress: Callable[[str], None] | None = None,
             template: Path | str | None = None) -> GenerateReport:
    """Create the schema in an empty database and load two synthetic scenarios drawn
    from `template` (a scenario template file; None: data/scenarios/lebanon.yaml)."""
    began = time.perf_counter()
    say = progress or (lambda _msg: None)
    if persons < MIN_PERSONS:
        raise GenerateError(f"--persons must be at least {MIN_PERSONS} (got {persons}).")
    if seed < 0:
        raise GenerateError(f"--seed must be zero or more (got {seed}).")
    if start is not None and start.tzinfo is not None:
        offset = start.utcoffset()
        assert offset is not None  # a datetime with a tzinfo that gives no offset is naive
        start = (start - offset).replace(tzinfo=None)  # naive UTC, as stored
    start = start or DEFAULT_START
    tpl = load_template(template)  # a bad template is refused before the database is touched
    engine = writable_engine(url)
    try:
        say("creating the schema")
        schema.upgrade(engine)
        existing = check_empty(engine, url)
        r_live, r_exercise, r_dirty, r_posts = np.random.default_rng(seed).spawn(4)
        ids, clock = Ids(), Clock(start)
        year = (start + timedelta(days=CRISIS_DAYS)).year
        say(f"drawing the live scenario: {persons:,} persons")
        live = build_scenario(tpl, r_live, LIVE_ID, "live", persons, ids, clock, year)
        dirty_rows = make_dirty(r_dirty, live, ids, clock) if dirty else {}
        n_ex = exercise_size(persons)
        say(f"drawing the exercise scenario: {n_ex:,} persons")
        exercise = build_scenario(tpl, r_exercise, EXERCISE_ID, "exercise", n_ex, ids, clock,
                                  year)
        countries = read_countries()
        reference = {"countries": country_columns(countries), "areas": area_columns(tpl)}
        for name, keys in existing.items():
            col = reference[name]
            key = "iso3" if name == "countries" else "pcode"
            keep = ~np.isin(col[key], list(keys))
            reference[name] = {k: v[keep] for k, v in col.items()}
        tables: list[tuple[str, Columns]] = [
            *reference.items(),
            ("scenarios", scenario_columns(tpl, start)),
            ("consular_posts", consular_post_columns(
                tpl, r_posts, {c["iso3"]: c["name"] for c in countries})),
        ]
        tables += [(name, {k: np.concatenate([live[name][k], exercise[name][k]])
                           for k in live[name]}) for name in SCENARIO_TABLES]
        say(f"drawn in {time.perf_counter() - began:.1f} s; loading")
        rows = bulk.load(engine, tables, say)
    finally:
        engine.dispose()
    return GenerateReport(rows=rows, dirty=dirty_rows, seconds=time.perf_counter() - began,
                          scenario_ids={"live": LIVE_ID, "exercise": EXERCISE_ID})


def check_empty(engine: Engine, url: str) -> dict[str, set[str]]:
    """Refuse a database that already holds operational rows; return the keys of
    reference rows (countries, areas) that are already there."""
    with engine.connect() as conn:
        scenarios = conn.execute(select(func.count()).select_from(Scenario)).scalar_one()
        if scenarios:
            raise GenerateError(
                f"The database {describe(url)} already holds {scenarios} scenario(s). "
                "generate only fills an empty database: give a new --out file or an empty "
                "--db-url database.")
        busy = [name for name, table in Base.metadata.tables.items()
                if name not in REFERENCE_TABLES
                and conn.execute(select(1).select_from(table).limit(1)).first() is not None]
        if busy:
            raise GenerateError(
                f"The database {describe(url)} has no scenario but already holds rows in "
                f"{', '.join(busy)}. generate only fills an empty database.")
        existing = {}
        for name in REFERENCE_TABLES:
            table = Base.metadata.tables[name]
            key = next(iter(table.primary_key.columns))
            found = {row[0] for row in conn.execute(select(key))}
            if found:
                existing[name] = found
        return existing


_build_lock = threading.Lock()


def ensure_demo_database(url: str) -> None:
    """Build the demo database if the default URL points at a file not yet built.

    Built into a temporary file and renamed, so a second session never opens a
    half-built database.
    """
    path = sqlite_path(url)
    if not config.is_demo_url(url) or path is None or path.exists():
        return
    with _build_lock:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        generate(f"sqlite:///{partial}", persons=int(config.get("SITROOM_DEMO_PERSONS")), seed=1)
        partial.rename(path)
