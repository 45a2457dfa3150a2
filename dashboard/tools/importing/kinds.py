"""What each KIND of file holds: its contract table, the columns it may carry (named and
hashtagged as the contract's models say), which are required, and which column is the
upstream's own identifier of a row."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Boolean, DateTime, Float, Integer, String

from dashboard.contract import vocab
from dashboard.contract.models import Base

# What a cell of a field holds, beyond its stored type.
TEXT, INT, LAT, LON, BOOL, TIME, ISO3, VOCAB, PCODE = (
    "text", "int", "lat", "lon", "bool", "time", "iso3", "vocab", "pcode")
FACILITY, MOVEMENT, PERSON, TAGS, GEOMETRY = "facility", "movement", "person", "tags", "geometry"


@dataclass(frozen=True)
class Field:
    name: str                      # the contract column (or person_ref, vulnerabilities)
    kind: str
    hxl: str | None = None
    required: bool = False
    limit: int = 200
    vocabulary: dict | None = None
    aliases: tuple[str, ...] = ()  # other headers that name it


@dataclass(frozen=True)
class Kind:
    name: str                      # as typed on the command line
    table: str
    key: tuple[str, ...]           # the upstream's identifier of a row
    fields: tuple[Field, ...]
    scenario_bound: bool = True
    defaults: dict = field(default_factory=dict)  # written when the file has no value

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


VOCABULARIES = {
    ("persons", "status"): vocab.PERSON_STATUSES,
    ("persons", "sex"): vocab.SEXES,
    ("persons", "documents"): vocab.DOCUMENTS,
    ("facilities", "kind"): vocab.FACILITY_KINDS,
    ("facilities", "status"): vocab.FACILITY_STATUSES,
    ("referrals", "service"): vocab.REFERRAL_SERVICES,
    ("referrals", "priority"): vocab.REFERRAL_PRIORITIES,
    ("referrals", "status"): vocab.REFERRAL_STATUSES,
    ("evacuation_cases", "stage"): vocab.ALL_EVACUATION_STAGES,
    ("movements", "mode"): vocab.MOVEMENT_MODES,
    ("movements", "status"): vocab.MOVEMENT_STATUSES,
    ("consular_posts", "status"): vocab.CONSULAR_POST_STATUSES,
    ("hazards", "kind"): vocab.HAZARD_KINDS,
    ("hazards", "severity"): vocab.HAZARD_SEVERITIES,
}
# Other names a column commonly goes by in upstream files.
ALIASES = {("areas", "parent_pcode"): ("parent",), ("areas", "admin_level"): ("level",)}
COUNTRY_COLUMNS = {"nationality", "second_nationality", "destination", "country"}
PCODE_COLUMNS = {"area_pcode", "parent_pcode"}
FACILITY_REFS = {"facility_id", "origin_facility_id"}
# Written by the importer, never read from a file: the database's own numbering and scope.
NOT_FROM_FILES = {"scenario_id", "person_id"}
# Columns the contract requires that the importer fills when a file leaves them blank.
OPTIONAL = {("persons", "sex"), ("persons", "consent_consular"),
            ("persons", "protection_confidential"), ("persons", "updated_at"),
            ("facilities", "confidential"), ("referrals", "due_at"), ("areas", "admin_level"),
            ("areas", "country"), ("consular_posts", "id"), ("hazards", "id")}


def _fields(table: str, keep_id: bool, extra: tuple[Field, ...] = ()) -> tuple[Field, ...]:
    out: list[Field] = []
    for column in Base.metadata.tables[table].columns:
        name = column.name
        if name in NOT_FROM_FILES or (name == "id" and not keep_id):
            continue
        hxl = column.info.get("hxl")
        required = not column.nullable and (table, name) not in OPTIONAL
        limit = column.type.length if isinstance(column.type, String) and column.type.length \
            else 100_000
        if (table, name) in VOCABULARIES:
            kind = VOCAB
        elif name in COUNTRY_COLUMNS:
            kind = ISO3
        elif name in PCODE_COLUMNS:
            kind = PCODE
        elif name in FACILITY_REFS:
            kind = FACILITY
        elif name == "movement_id":
            kind = MOVEMENT
        elif name == "geometry":
            kind = GEOMETRY
        elif isinstance(column.type, Boolean):
            kind = BOOL
        elif isinstance(column.type, DateTime):
            kind = TIME
        elif isinstance(column.type, Float):
            kind = LAT if name == "lat" else LON
        elif isinstance(column.type, Integer):
            kind = INT
        else:
            kind = TEXT
        out.append(Field(name, kind, hxl, required, limit, VOCABULARIES.get((table, name)),
                         ALIASES.get((table, name), ())))
    return (*out, *extra)


PERSON_REF = Field("person_ref", PERSON, "#affected+id", required=True, limit=32,
                   aliases=("ref", "person"))
VULNERABILITIES = Field("vulnerabilities", TAGS, "#affected+vulnerability",
                        aliases=("vulnerability", "tag", "tags"))

KINDS = {k.name: k for k in (
    Kind("areas", "areas", ("pcode",), _fields("areas", keep_id=False), scenario_bound=False),
    Kind("facilities", "facilities", ("id",), _fields("facilities", keep_id=True),
         defaults={"confidential": False}),
    Kind("occupancy", "facility_occupancy", ("facility_id", "at"),
         _fields("facility_occupancy", keep_id=False)),
    Kind("persons", "persons", ("ref",),
         _fields("persons", keep_id=False, extra=(VULNERABILITIES,)),
         defaults={"sex": "x", "consent_consular": False, "protection_confidential": False}),
    Kind("referrals", "referrals", ("id",),
         _fields("referrals", keep_id=True, extra=(PERSON_REF,))),
    Kind("evacuation", "evacuation_cases", ("id",),
         _fields("evacuation_cases", keep_id=True, extra=(PERSON_REF,))),
    Kind("movements", "movements", ("id",), _fields("movements", keep_id=True)),
    Kind("consular-posts", "consular_posts", ("country", "name"),
         _fields("consular_posts", keep_id=True), scenario_bound=False),
    Kind("hazards", "hazards", ("kind", "valid_from", "geometry"),
         _fields("hazards", keep_id=True)),
)}

# The key is the file's id where the file has an id column (consular posts, hazards).
ID_WHEN_GIVEN = {"consular-posts", "hazards"}
