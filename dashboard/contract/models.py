"""The data contract (docs/design.md §4) as typed SQLAlchemy models.

Other systems write these tables; the dashboard only reads them. Column names
are a contract: keep them. Each column carries its meaning (`doc`) and its HXL
hashtag where one exists (`info["hxl"]`); docs/data-contract.md is checked
against both by tests/test_contract_docs.py.

References between tables are plain integer columns, not enforced foreign keys:
upstream systems write independently and out of order, and a dangling reference
is real life in a crisis. It is counted on the data-quality view instead of
being refused at the door.

There is deliberately no column for immigration or residence status (docs/design.md
§2.1); tests/test_contract.py fails if one appears.

All times are UTC, stored without a zone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def col(*args, doc: str, hxl: str | None = None, **kwargs):
    """A mapped column with its contract documentation attached."""
    info = {"hxl": hxl} if hxl else {}
    return mapped_column(*args, doc=doc, info=info, **kwargs)


class Scenario(Base):
    __tablename__ = "scenarios"
    __doc__ = "One situation: the live operation or an exercise. Every operational row names one."

    id: Mapped[int] = col(Integer, primary_key=True, doc="scenario identifier")
    name: Mapped[str] = col(String(200), doc="human-readable name", hxl="#event+name")
    kind: Mapped[str] = col(String(16), doc="`live` or `exercise` (vocabulary SCENARIO_KINDS)")
    starts_at: Mapped[datetime] = col(DateTime, doc="when the crisis or drill began (UTC)",
                                      hxl="#date+start")
    country: Mapped[str | None] = col(String(3), nullable=True,
                                      doc="ISO3 of the host country in crisis", hxl="#country+code")
    synthetic: Mapped[bool] = col(Boolean, default=False,
                                  doc="true when generated: the rows describe nobody real")
    description: Mapped[str | None] = col(Text, nullable=True, doc="free text for the reader")


class Country(Base):
    __tablename__ = "countries"
    __doc__ = "ISO 3166-1 countries; nationality and destination codes must be one of these."

    iso3: Mapped[str] = col(String(3), primary_key=True, doc="ISO 3166-1 alpha-3 code",
                            hxl="#country+code")
    iso2: Mapped[str | None] = col(String(2), nullable=True, doc="ISO 3166-1 alpha-2 code",
                                   hxl="#country+code+v_iso2")
    name: Mapped[str] = col(String(200), doc="English short name", hxl="#country+name")


class Area(Base):
    __tablename__ = "areas"
    __doc__ = "Administrative areas of the host country, by P-code."

    pcode: Mapped[str] = col(String(20), primary_key=True, doc="P-code of the area",
                             hxl="#adm1+code")
    name: Mapped[str] = col(String(200), doc="area name", hxl="#adm1+name")
    admin_level: Mapped[int] = col(Integer, doc="1 for governorate/region, 2 for district")
    parent_pcode: Mapped[str | None] = col(String(20), nullable=True,
                                           doc="P-code of the enclosing area (null at level 1)")
    country: Mapped[str] = col(String(3), doc="ISO3 of the country", hxl="#country+code")
    lat: Mapped[float] = col(Float, doc="latitude of the area's centre (WGS84)", hxl="#geo+lat")
    lon: Mapped[float] = col(Float, doc="longitude of the area's centre (WGS84)", hxl="#geo+lon")
    geometry: Mapped[str | None] = col(Text, nullable=True,
                                       doc="boundary as GeoJSON (Polygon or MultiPolygon, "
                                           "WGS84), drawn on the Map; null: none known",
                                       hxl="#geo+shape")


class Person(Base):
    __tablename__ = "persons"
    __doc__ = "One registered migrant. Person-level: seen only by a consular liaison, within §2.2."

    id: Mapped[int] = col(Integer, primary_key=True, doc="person identifier")
    scenario_id: Mapped[int] = col(Integer, doc="scenario (scenarios.id)")
    ref: Mapped[str] = col(String(32), unique=True,
                           doc="unique human-readable registration reference",
                           hxl="#affected+id")
    full_name: Mapped[str] = col(String(200), doc="full name", hxl="#affected+name")
    sex: Mapped[str] = col(String(1), doc="`f`, `m` or `x` (vocabulary SEXES)",
                           hxl="#affected+sex")
    birth_year: Mapped[int | None] = col(Integer, nullable=True, doc="year of birth",
                                         hxl="#affected+birth+year")
    nationality: Mapped[str] = col(String(3), doc="ISO3 of the first nationality",
                                   hxl="#affected+nationality+code")
    second_nationality: Mapped[str | None] = col(String(3), nullable=True,
                                                 doc="ISO3 of a second nationality, if any",
                                                 hxl="#affected+nationality+code+second")
    family_id: Mapped[str | None] = col(String(32), nullable=True,
                                        doc="shared by members of one family or household",
                                        hxl="#group+id")
    phone: Mapped[str | None] = col(String(40), nullable=True, doc="contact phone number",
                                    hxl="#contact+phone")
    lat: Mapped[float | None] = col(Float, nullable=True, doc="last known latitude (WGS84)",
                                    hxl="#geo+lat")
    lon: Mapped[float | None] = col(Float, nullable=True, doc="last known longitude (WGS84)",
                                    hxl="#geo+lon")
    area_pcode: Mapped[str | None] = col(String(20), nullable=True,
                                         doc="P-code of the last known area (areas.pcode)",
                                         hxl="#adm2+code")
    facility_id: Mapped[int | None] = col(Integer, nullable=True,
                                          doc="facility the person stays in (facilities.id)",
                                          hxl="#loc+id")
    status: Mapped[str] = col(String(16), doc="vocabulary PERSON_STATUSES",
                              hxl="#status")
    consent_consular: Mapped[bool] = col(Boolean, default=False,
                                         doc="person agreed to share their record with their "
                                             "State of origin")
    protection_confidential: Mapped[bool] = col(Boolean, default=False,
                                                doc="under international protection or otherwise "
                                                    "confidential (asylum-seeker, refugee, "
                                                    "stateless): never shown to a State of origin")
    documents: Mapped[str] = col(String(32), doc="identity documents held (vocabulary DOCUMENTS)")
    registered_at: Mapped[datetime] = col(DateTime, doc="time of registration (UTC)",
                                          hxl="#date+registered")
    updated_at: Mapped[datetime] = col(DateTime, doc="time of the last change (UTC)",
                                       hxl="#date+updated")

    __table_args__ = (
        # Covering indexes: the headline counts read the index, never the rows.
        Index("ix_persons_scenario_status", "scenario_id", "status", "registered_at"),
        Index("ix_persons_scenario_nationality", "scenario_id", "nationality"),
        Index("ix_persons_scenario_second_nationality", "scenario_id", "second_nationality"),
        Index("ix_persons_facility", "facility_id"),
        Index("ix_persons_scenario_registered", "scenario_id", "registered_at"),
        Index("ix_persons_scenario_updated", "scenario_id", "updated_at"),
    )


class PersonVulnerability(Base):
    __tablename__ = "person_vulnerabilities"
    __doc__ = "Vulnerability tags, several per person."

    person_id: Mapped[int] = col(Integer, primary_key=True, doc="person (persons.id)")
    tag: Mapped[str] = col(String(32), primary_key=True,
                           doc="open-ended tag; known tags in VULNERABILITY_TAGS",
                           hxl="#affected+vulnerability")

    __table_args__ = (Index("ix_person_vulnerabilities_tag", "tag"),)


class PersonEvent(Base):
    __tablename__ = "person_events"
    __doc__ = "Append-only history of a person's status and place."

    id: Mapped[int] = col(Integer, primary_key=True, doc="event identifier")
    person_id: Mapped[int] = col(Integer, doc="person (persons.id)")
    at: Mapped[datetime] = col(DateTime, doc="time of the change (UTC)", hxl="#date")
    status: Mapped[str] = col(String(16), doc="status from then on (PERSON_STATUSES)",
                              hxl="#status")
    facility_id: Mapped[int | None] = col(Integer, nullable=True,
                                          doc="facility from then on, if any")
    lat: Mapped[float | None] = col(Float, nullable=True, doc="latitude from then on",
                                    hxl="#geo+lat")
    lon: Mapped[float | None] = col(Float, nullable=True, doc="longitude from then on",
                                    hxl="#geo+lon")

    __table_args__ = (
        Index("ix_person_events_person_at", "person_id", "at"),
        Index("ix_person_events_at", "at", "person_id"),  # who changed since a moment
    )


class Facility(Base):
    __tablename__ = "facilities"
    __doc__ = "Shelters, centres, assembly points, hospitals, safe houses."

    id: Mapped[int] = col(Integer, primary_key=True, doc="facility identifier", hxl="#loc+id")
    scenario_id: Mapped[int] = col(Integer, doc="scenario (scenarios.id)")
    name: Mapped[str] = col(String(200), doc="facility name", hxl="#loc+name")
    kind: Mapped[str] = col(String(32), doc="vocabulary FACILITY_KINDS", hxl="#loc+type")
    lat: Mapped[float] = col(Float, doc="latitude (WGS84)", hxl="#geo+lat")
    lon: Mapped[float] = col(Float, doc="longitude (WGS84)", hxl="#geo+lon")
    area_pcode: Mapped[str | None] = col(String(20), nullable=True,
                                         doc="P-code of the area (areas.pcode)", hxl="#adm2+code")
    capacity: Mapped[int] = col(Integer, doc="places", hxl="#capacity")
    status: Mapped[str] = col(String(16), doc="vocabulary FACILITY_STATUSES", hxl="#status")
    confidential: Mapped[bool] = col(Boolean, default=False,
                                     doc="never drawn on a map; counts only in area totals")
    operator: Mapped[str | None] = col(String(200), nullable=True, doc="operating organisation",
                                       hxl="#org+impl")
    confirmed_at: Mapped[datetime | None] = col(DateTime, nullable=True,
                                                doc="when the operator last confirmed the figures",
                                                hxl="#date+reported")

    __table_args__ = (Index("ix_facilities_scenario", "scenario_id", "kind"),)


class FacilityOccupancy(Base):
    __tablename__ = "facility_occupancy"
    __doc__ = "Append-only occupancy reports; the latest report per facility is its occupancy."

    id: Mapped[int] = col(Integer, primary_key=True, doc="report identifier")
    facility_id: Mapped[int] = col(Integer, doc="facility (facilities.id)", hxl="#loc+id")
    at: Mapped[datetime] = col(DateTime, doc="time of the report (UTC)", hxl="#date+reported")
    occupants: Mapped[int] = col(Integer, doc="people staying at that time",
                                 hxl="#affected+inshelter")

    __table_args__ = (Index("ix_facility_occupancy_facility_at", "facility_id", "at"),)


class Referral(Base):
    __tablename__ = "referrals"
    __doc__ = "A referral of a person to a service provider."

    id: Mapped[int] = col(Integer, primary_key=True, doc="referral identifier (case number)",
                          hxl="#activity+id")
    scenario_id: Mapped[int] = col(Integer, doc="scenario (scenarios.id)")
    person_id: Mapped[int] = col(Integer, doc="person referred (persons.id)")
    service: Mapped[str] = col(String(32), doc="vocabulary REFERRAL_SERVICES",
                               hxl="#service+type")
    from_org: Mapped[str] = col(String(200), doc="referring organisation", hxl="#org+referring")
    to_org: Mapped[str] = col(String(200), doc="receiving organisation", hxl="#org+receiving")
    priority: Mapped[str] = col(String(16), doc="vocabulary REFERRAL_PRIORITIES",
                                hxl="#priority")
    status: Mapped[str] = col(String(16), doc="current status (REFERRAL_STATUSES)",
                              hxl="#status")
    created_at: Mapped[datetime] = col(DateTime, doc="when the referral was sent (UTC)",
                                       hxl="#date+created")
    due_at: Mapped[datetime] = col(DateTime, doc="deadline for acceptance: created_at plus "
                                                 "the service's deadline (REFERRAL_DEADLINE_HOURS)",
                                   hxl="#date+due")
    closed_at: Mapped[datetime | None] = col(DateTime, nullable=True,
                                             doc="when it was closed, rejected or revoked",
                                             hxl="#date+closed")

    __table_args__ = (
        Index("ix_referrals_scenario_status", "scenario_id", "status", "service", "due_at"),
        Index("ix_referrals_scenario_service_time", "scenario_id", "service", "created_at",
              "closed_at"),
        Index("ix_referrals_person", "person_id"),
    )


class ReferralEvent(Base):
    __tablename__ = "referral_events"
    __doc__ = "Append-only history of a referral's status."

    id: Mapped[int] = col(Integer, primary_key=True, doc="event identifier")
    referral_id: Mapped[int] = col(Integer, doc="referral (referrals.id)")
    at: Mapped[datetime] = col(DateTime, doc="time of the change (UTC)", hxl="#date")
    status: Mapped[str] = col(String(16), doc="status from then on (REFERRAL_STATUSES)",
                              hxl="#status")

    __table_args__ = (Index("ix_referral_events_referral_at", "referral_id", "at"),)


class EvacuationCase(Base):
    __tablename__ = "evacuation_cases"
    __doc__ = "A person's request to be evacuated, and how far it has got."

    id: Mapped[int] = col(Integer, primary_key=True, doc="case identifier", hxl="#activity+id")
    scenario_id: Mapped[int] = col(Integer, doc="scenario (scenarios.id)")
    person_id: Mapped[int] = col(Integer, doc="person (persons.id)")
    stage: Mapped[str] = col(String(20), doc="current stage (EVACUATION_STAGES and branches)",
                             hxl="#status")
    destination: Mapped[str] = col(String(3), doc="ISO3 of the destination country",
                                   hxl="#country+code+destination")
    movement_id: Mapped[int | None] = col(Integer, nullable=True,
                                          doc="movement with the person's seat (movements.id)")
    requested_at: Mapped[datetime] = col(DateTime, doc="when evacuation was requested (UTC)",
                                         hxl="#date+requested")
    updated_at: Mapped[datetime | None] = col(DateTime, nullable=True,
                                              doc="time of the last stage change (UTC)",
                                              hxl="#date+updated")

    __table_args__ = (
        Index("ix_evacuation_cases_scenario_stage", "scenario_id", "stage"),
        Index("ix_evacuation_cases_person", "person_id"),
        Index("ix_evacuation_cases_movement", "movement_id"),
    )


class EvacuationEvent(Base):
    __tablename__ = "evacuation_events"
    __doc__ = "Append-only history of an evacuation case's stage."

    id: Mapped[int] = col(Integer, primary_key=True, doc="event identifier")
    case_id: Mapped[int] = col(Integer, doc="case (evacuation_cases.id)")
    at: Mapped[datetime] = col(DateTime, doc="time the stage was reached (UTC)", hxl="#date")
    stage: Mapped[str] = col(String(20), doc="stage reached", hxl="#status")

    __table_args__ = (
        Index("ix_evacuation_events_case_at", "case_id", "at"),
        Index("ix_evacuation_events_at", "at", "case_id"),  # which cases moved since a moment
    )


class Movement(Base):
    __tablename__ = "movements"
    __doc__ = "A flight, convoy or ship out of the crisis, with its seats."

    id: Mapped[int] = col(Integer, primary_key=True, doc="movement identifier", hxl="#activity+id")
    scenario_id: Mapped[int] = col(Integer, doc="scenario (scenarios.id)")
    mode: Mapped[str] = col(String(8), doc="`air`, `land` or `sea` (MOVEMENT_MODES)",
                            hxl="#transport+type")
    origin_facility_id: Mapped[int | None] = col(Integer, nullable=True,
                                                 doc="facility it leaves from (facilities.id)")
    destination: Mapped[str] = col(String(3), doc="ISO3 of the destination country",
                                   hxl="#country+code+destination")
    capacity: Mapped[int] = col(Integer, doc="seats", hxl="#capacity")
    departs_at: Mapped[datetime] = col(DateTime, doc="scheduled departure (UTC)",
                                       hxl="#date+departure")
    status: Mapped[str] = col(String(16), doc="vocabulary MOVEMENT_STATUSES", hxl="#status")

    __table_args__ = (Index("ix_movements_scenario", "scenario_id", "departs_at"),)


class ConsularPost(Base):
    __tablename__ = "consular_posts"
    __doc__ = "Embassies and consulates serving nationals in the host country."

    id: Mapped[int] = col(Integer, primary_key=True, doc="post identifier")
    country: Mapped[str] = col(String(3), doc="ISO3 of the State the post represents",
                               hxl="#country+code")
    name: Mapped[str] = col(String(200), doc="name of the post", hxl="#org+name")
    lat: Mapped[float] = col(Float, doc="latitude (WGS84)", hxl="#geo+lat")
    lon: Mapped[float] = col(Float, doc="longitude (WGS84)", hxl="#geo+lon")
    status: Mapped[str] = col(String(16), doc="vocabulary CONSULAR_POST_STATUSES", hxl="#status")
    hotline: Mapped[str | None] = col(String(40), nullable=True,
                                      doc="public emergency hotline", hxl="#contact+phone")


class Hazard(Base):
    __tablename__ = "hazards"
    __doc__ = "Areas of danger, valid over a time window."

    id: Mapped[int] = col(Integer, primary_key=True, doc="hazard identifier")
    scenario_id: Mapped[int] = col(Integer, doc="scenario (scenarios.id)")
    kind: Mapped[str] = col(String(32), doc="vocabulary HAZARD_KINDS", hxl="#event+type")
    severity: Mapped[str] = col(String(16), doc="vocabulary HAZARD_SEVERITIES",
                                hxl="#severity")
    geometry: Mapped[str] = col(Text, doc="GeoJSON geometry (Polygon or MultiPolygon, WGS84)",
                                hxl="#geo+shape")
    valid_from: Mapped[datetime] = col(DateTime, doc="start of validity (UTC)",
                                       hxl="#date+start")
    valid_to: Mapped[datetime | None] = col(DateTime, nullable=True,
                                            doc="end of validity (UTC); null while ongoing",
                                            hxl="#date+end")

    __table_args__ = (Index("ix_hazards_scenario", "scenario_id"),)


class DrillInject(Base):
    __tablename__ = "drill_injects"
    __doc__ = ("Injects a drill simulator played into an exercise scenario: the timeline the "
               "after-action review compares the response with. Never rows of a live scenario.")

    id: Mapped[int] = col(Integer, primary_key=True, doc="inject identifier")
    scenario_id: Mapped[int] = col(Integer, doc="exercise scenario (scenarios.id)")
    run_id: Mapped[str] = col(String(64), doc="one play of a drill script; a restart is a new run")
    seq: Mapped[int] = col(Integer, doc="position of the inject in its script")
    name: Mapped[str] = col(String(200), doc="inject name from the script", hxl="#event+name")
    kind: Mapped[str] = col(String(32), doc="what the inject does (DRILL_INJECT_KINDS)",
                            hxl="#event+type")
    offset_s: Mapped[int] = col(Integer, doc="scheduled seconds of scenario time from the drill's "
                                             "start")
    at: Mapped[datetime] = col(DateTime, doc="scenario time the inject took effect (UTC)",
                               hxl="#date")
    status: Mapped[str] = col(String(16), doc="`applied` or `skipped` (DRILL_INJECT_STATUSES)",
                              hxl="#status")
    detail: Mapped[str | None] = col(Text, nullable=True,
                                     doc="what was written, or why the inject was skipped")
    undo: Mapped[str | None] = col(Text, nullable=True,
                                   doc="JSON: ids of the rows the inject inserted and the values "
                                       "it replaced, so that a restart can take it back")

    __table_args__ = (Index("ix_drill_injects_scenario_at", "scenario_id", "at"),)
