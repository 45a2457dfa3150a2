"""Drill scripts: the YAML a drill planner writes, read and checked before anything is played.

The format is documented field by field in docs/drill-scripts.md. `load()` either returns
a `DrillScript` whose every inject has the fields its kind needs, with the right types,
or raises `ScriptError` listing every problem with its line: the simulator writes nothing
for a script with a problem. What the script refers to in the database (a facility, an
area, a hazard by id) is resolved only when an inject is played; an inject whose
reference does not resolve is skipped then, and reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dashboard.contract import vocab

MAX_COUNT = 1000  # people, referrals or cases moved by one inject
MAX_INJECTS = 500
DURATION = re.compile(r"^(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")
ISO3 = re.compile(r"^[A-Z]{3}$")

PICKS = ("fullest", "emptiest", "largest", "smallest", "nearest")
DEPARTURE_STATUSES = ("located", "relocated", "in_transit", "missing")
ANSWERS = ("accepted", "in_service", "closed", "rejected", "revoked")
# advance_evacuation moves a case one step along the path; manifested -> departed is the
# movement's own inject (movement_departs), and followed_up is the end of the path.
ADVANCE_FROM = tuple(s for s in vocab.EVACUATION_PATH if s not in ("manifested", "followed_up"))


class ScriptError(Exception):
    """A script that cannot be played. `problems` holds (line, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]):
        self.source, self.problems = source, problems
        super().__init__(self.report())

    def report(self) -> str:
        lines = [f"{self.source}:{line}: {reason}" if line else f"{self.source}: {reason}"
                 for line, reason in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class Inject:
    seq: int  # 1-based position in the script
    line: int
    name: str
    kind: str
    offset_s: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DrillScript:
    name: str
    description: str
    injects: tuple[Inject, ...]
    source: str


# --- YAML with line numbers ------------------------------------------------------------


class _Node(dict):
    """A mapping that remembers its line and the line of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        out = _Node()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in out:
                raise yaml.MarkedYAMLError(
                    "while reading a mapping", node.start_mark,
                    f"the key {key!r} appears twice", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)


def parse_duration(value: Any) -> int | None:
    """Seconds for '90m', '1h30m', '2h', '45s', '0m'; None when it is not such a text."""
    if not isinstance(value, str) or not value.strip():
        return None
    m = DURATION.match(value.strip())
    if not m or not any(m.groups()):
        return None
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


# --- field checks: each returns a reason, or None when the value is good ----------------

Check = Callable[[Any], "str | None"]


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty text"
    return None


def _count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if value < 1:
        return f"must be at least 1, got {value}"
    if value > MAX_COUNT:
        return f"must be at most {MAX_COUNT}, got {value}"
    return None


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not low < value <= high:
            return f"must be more than {low} and at most {high}, got {value}"
        return None
    return check


def _one_of(values) -> Check:
    def check(value: Any) -> str | None:
        if value not in values:
            return f"must be one of {', '.join(values)}; got {value!r}"
        return None
    return check


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _iso3(value: Any) -> str | None:
    if not isinstance(value, str) or not ISO3.match(value):
        return f"must be an ISO 3166-1 alpha-3 code in capitals such as ETH; got {value!r}"
    return None


def _tags(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        return "must be a list of vulnerability tags"
    unknown = [t for t in value if t not in vocab.VULNERABILITY_TAGS]
    if unknown:
        return (f"unknown vulnerability tag {unknown[0]!r}; known tags: "
                f"{', '.join(vocab.VULNERABILITY_TAGS)}")
    return None


def _mapping(allowed: dict[str, Check], rule: Callable[[dict], str | None]) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be a mapping with some of: {', '.join(allowed)}"
        for key, item in value.items():
            if key not in allowed:
                return f"unknown key {key!r}; allowed: {', '.join(allowed)}"
            reason = allowed[key](item)
            if reason:
                return f"{key} {reason}"
        return rule(value)
    return check


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be a positive whole number"
    return None


def _facility_rule(sel: dict) -> str | None:
    if "id" in sel or "name" in sel:
        if len(sel) > 1:
            return "give id or name alone, or choose by kind/area/near/pick"
        return None
    if sel.get("pick") == "nearest" and "near" not in sel:
        return "pick: nearest needs near: AREA"
    return None


FACILITY = _mapping({"id": _id, "name": _text, "kind": _one_of(vocab.FACILITY_KINDS),
                     "area": _text, "near": _text, "pick": _one_of(PICKS)}, _facility_rule)


def _movement_rule(sel: dict) -> str | None:
    if ("id" in sel) == ("pick" in sel):
        return "give either id: N or pick: next"
    if "id" in sel and len(sel) > 1:
        return "give id alone"
    return None


MOVEMENT = _mapping({"id": _id, "pick": _one_of(("next",)), "destination": _iso3,
                     "mode": _one_of(vocab.MOVEMENT_MODES)}, _movement_rule)


def _centre(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        lat, lon = value
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return None
        return f"[lat, lon] out of range: {value}"
    return "must be an area (name or P-code) or [lat, lon]"


def _polygon(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) < 3:
        return "must be a list of at least three [lon, lat] points"
    for point in value:
        if not (isinstance(point, list) and len(point) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
                and -180 <= point[0] <= 180 and -90 <= point[1] <= 90):
            return f"point {point!r} is not [lon, lat] in WGS84"
    return None


def _hazard_ref(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    if isinstance(value, dict) and set(value) == {"id"} and _id(value["id"]) is None:
        return None
    return "must be the name of an earlier hazard inject, or {id: N} of a hazard"


PEOPLE = _mapping({"facility": FACILITY, "nationality": _iso3, "registered_in": _text},
                  lambda sel: None)


@dataclass(frozen=True)
class KindSpec:
    required: dict[str, Check]
    optional: dict[str, Check]
    # (field, kind of the earlier inject it names) for fields that name an inject
    names_inject: tuple[tuple[str, str], ...] = ()


KINDS: dict[str, KindSpec] = {
    "arrivals": KindSpec({"facility": FACILITY, "count": _count}, {"from_area": _text}),
    "departures": KindSpec({"facility": FACILITY, "count": _count},
                           {"new_status": _one_of(DEPARTURE_STATUSES)}),
    "register": KindSpec(
        {"count": _count, "nationality": _iso3, "area": _text},
        {"facility": FACILITY, "sex": _one_of(vocab.SEXES), "consent_consular": _bool,
         "protection_confidential": _bool, "documents": _one_of(vocab.DOCUMENTS),
         "vulnerabilities": _tags}),
    "open_referrals": KindSpec(
        {"count": _count, "service": _one_of(vocab.REFERRAL_SERVICES)},
        {"priority": _one_of(vocab.REFERRAL_PRIORITIES), "to_org": _text, "from_org": _text,
         "people": PEOPLE}),
    "answer_referrals": KindSpec(
        {"count": _count, "answer": _one_of(ANSWERS)},
        {"service": _one_of(vocab.REFERRAL_SERVICES), "opened_in": _text},
        names_inject=(("opened_in", "open_referrals"),)),
    "advance_evacuation": KindSpec({"count": _count, "stage": _one_of(ADVANCE_FROM)},
                                   {"nationality": _iso3}),
    "movement_departs": KindSpec({"movement": MOVEMENT}, {}),
    "hazard": KindSpec({"hazard_kind": _one_of(vocab.HAZARD_KINDS),
                        "severity": _one_of(vocab.HAZARD_SEVERITIES)},
                       {"centre": _centre, "radius_km": _number(0, 100), "polygon": _polygon}),
    "hazard_spreads": KindSpec({"hazard": _hazard_ref, "factor": _number(1, 10)},
                               {"severity": _one_of(vocab.HAZARD_SEVERITIES)}),
    "facility_closes": KindSpec({"facility": FACILITY}, {"move_to": FACILITY}),
}
assert set(KINDS) == set(vocab.DRILL_INJECT_KINDS), "document every kind in vocab.py"
COMMON = ("name", "at", "kind", "note")


# --- the script ----------------------------------------------------------------------


def load(path: str | Path) -> DrillScript:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(str(path), [(None, f"cannot read the script: {exc}")]) from exc
    return parse(text, str(path))


def parse(text: str, source: str = "<script>") -> DrillScript:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        raise ScriptError(source, [(line, f"not valid YAML: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise ScriptError(source, [(None, f"not valid YAML: {exc}")]) from exc
    problems: list[tuple[int | None, str]] = []
    if not isinstance(data, _Node):  # _LineLoader builds every mapping as a _Node
        raise ScriptError(source, [(1, "a drill script is a mapping with drill: and injects:")])
    for key in data:
        if key not in ("drill", "description", "injects"):
            problems.append((data.key_lines[key], f"unknown top-level key {key!r}; "
                                                  "allowed: drill, description, injects"))
    if _text(data.get("drill")):
        problems.append((data.key_lines.get("drill", data.line),
                         "drill: the drill's name is required (a non-empty text)"))
    description = data.get("description") or ""
    if not isinstance(description, str):
        problems.append((data.key_lines["description"], "description must be a text"))
        description = ""
    raw = data.get("injects")
    if not isinstance(raw, list) or not raw:
        problems.append((data.key_lines.get("injects", data.line),
                         "injects: a list of at least one inject is required"))
        raise ScriptError(source, problems)
    if len(raw) > MAX_INJECTS:
        problems.append((data.key_lines["injects"], f"at most {MAX_INJECTS} injects"))
    injects: list[Inject] = []
    seen: dict[str, Inject] = {}
    last_offset, last_line = 0, 0
    for seq, item in enumerate(raw, start=1):
        inject, found = _inject(seq, item, data.key_lines["injects"], seen)
        problems += found
        if inject is None:
            continue
        if inject.offset_s < last_offset:
            problems.append((inject.line, f"inject {inject.name!r} at {inject.fields['at']} "
                                          f"comes before the inject above it (line {last_line}): "
                                          "offsets must not go back"))
        last_offset, last_line = max(last_offset, inject.offset_s), inject.line
        if inject.name in seen:
            problems.append((inject.line, f"inject name {inject.name!r} is used twice "
                                          f"(first at line {seen[inject.name].line})"))
        seen.setdefault(inject.name, inject)
        injects.append(inject)
    if problems:
        raise ScriptError(source, problems)
    return DrillScript(data["drill"].strip(), description.strip(), tuple(injects), source)


def _inject(seq: int, item: Any, list_line: int,
            earlier: dict[str, Inject]) -> tuple[Inject | None, list[tuple[int | None, str]]]:
    if not isinstance(item, _Node):  # _LineLoader builds every mapping as a _Node
        return None, [(list_line, f"inject {seq} must be a mapping (name:, at:, kind:, ...)")]
    line = item.line
    problems: list[tuple[int | None, str]] = []

    def where(key: str) -> int:
        return item.key_lines.get(key, line)

    for key in ("name", "at", "kind"):
        if key not in item:
            problems.append((line, f"inject {seq}: the field {key}: is missing"))
    name = item.get("name")
    if "name" in item and _text(name):
        problems.append((where("name"), f"inject {seq}: name {_text(name)}"))
    label = f"inject {name!r}" if isinstance(name, str) and name.strip() else f"inject {seq}"
    offset = parse_duration(item.get("at"))
    if "at" in item and offset is None:
        problems.append((where("at"), f"{label}: at must be a time after the drill's start "
                                      f"such as 0m, 45m, 1h30m or 2h; got {item.get('at')!r}"))
    kind = item.get("kind")
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if "kind" in item and spec is None:
        problems.append((where("kind"), f"{label}: unknown kind {kind!r}; kinds: "
                                        f"{', '.join(KINDS)}"))
    if spec is not None:
        assert isinstance(kind, str)  # spec is only found for a text kind
        for key in spec.required:
            if key not in item:
                problems.append((line, f"{label}: kind {kind} needs the field {key}:"))
        for key, value in item.items():
            if key in COMMON:
                continue
            check = spec.required.get(key) or spec.optional.get(key)
            if check is None:
                allowed = [*spec.required, *spec.optional]
                problems.append((where(key), f"{label}: unknown field {key!r} for kind {kind}; "
                                             f"allowed: {', '.join(allowed)}"))
                continue
            reason = check(value)
            if reason:
                problems.append((where(key), f"{label}: {key} {reason}"))
        problems += _kind_rules(label, kind, item, where, earlier)
    if problems:
        return None, problems
    fields = {k: v for k, v in item.items() if k not in ("name", "kind")}
    # no problems: name is a non-empty text, kind a known kind, at a duration
    assert isinstance(name, str) and isinstance(kind, str) and offset is not None
    return Inject(seq, line, name.strip(), kind, offset, fields), []


def _kind_rules(label: str, kind: str, item: _Node, where: Callable[[str], int],
                earlier: dict[str, Inject]) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    spec = KINDS[kind]
    names = [(key, wanted) for key, wanted in spec.names_inject if isinstance(item.get(key), str)]
    if kind == "hazard_spreads" and isinstance(item.get("hazard"), str):
        names.append(("hazard", "hazard"))
    people = item.get("people")
    if kind == "open_referrals" and isinstance(people, dict) and "registered_in" in people:
        names.append(("people", "register"))
    for key, wanted in names:
        target = item[key]["registered_in"] if key == "people" else item[key]
        found = earlier.get(target.strip())
        ok = found is not None and (found.kind == wanted
                                    or (wanted == "hazard" and found.kind == "hazard_spreads"))
        if not ok:
            problems.append((where(key), f"{label}: {key} names {target!r}, which is not an "
                                         f"earlier inject of kind {wanted}"))
    if kind == "hazard":
        has_centre = "centre" in item or "radius_km" in item
        if has_centre == ("polygon" in item):
            problems.append((item.line, f"{label}: give either centre: and radius_km:, "
                                        "or polygon:"))
        elif has_centre and not ("centre" in item and "radius_km" in item):
            problems.append((item.line, f"{label}: centre: and radius_km: go together"))
    return problems
