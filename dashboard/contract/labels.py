"""The words a reader sees for the contract's codes: a short label for every value of
every vocabulary (dashboard.contract.vocab holds the codes and their one-line
meanings), and a heading for every column a page shows. One place, so that screens,
charts and exports say the same thing, and so that it can be translated.

Codes stay what the data holds: exports carry the code beside its label."""

from __future__ import annotations

import math

from dashboard.contract import vocab

EMPTY = "—"  # a value the data does not have: never "None"

PERSON_STATUS = {
    "located": "Located", "sheltered": "Sheltered", "in_transit": "In transit",
    "evacuated": "Evacuated", "relocated": "Relocated", "missing": "Missing",
    "deceased": "Deceased",
}
SEX = {"f": "Female", "m": "Male", "x": "Other or not recorded"}
DOCUMENT = {
    "passport": "Valid passport", "expired_passport": "Expired passport",
    "held_by_employer": "Passport held by employer", "national_id": "National ID only",
    "none": "No identity document",
}
VULNERABILITY = {
    "uasc": "Unaccompanied or separated child", "trafficking": "Trafficking survivor",
    "gbv": "GBV survivor", "disability": "Disability", "elderly": "Older person (60+)",
    "medical": "Serious medical condition", "pregnant": "Pregnant or lactating",
    "single_parent": "Single parent",
}
FACILITY_KIND = {
    "shelter": "Collective shelter", "reception_centre": "Reception centre",
    "transit_centre": "Transit centre", "assembly_point": "Assembly point",
    "child_friendly_space": "Child-friendly space", "hospital": "Hospital or clinic",
    "safe_house": "Safe house",
}
FACILITY_STATUS = {"open": "Open", "full": "Full", "closed": "Closed", "damaged": "Damaged"}
REFERRAL_SERVICE = {
    "consular": "Consular assistance", "documentation": "Documentation",
    "evacuation": "Evacuation", "family_tracing": "Family tracing",
    "shelter": "Shelter placement", "health": "Health care",
    "psychosocial": "Psychosocial support", "legal": "Legal aid",
    "asylum": "Asylum and protection", "anti_trafficking": "Anti-trafficking",
    "gbv": "GBV response", "child_protection": "Child protection",
}
REFERRAL_STATUS = {
    "open": "Awaiting receiver", "accepted": "Accepted", "in_service": "In service",
    "closed": "Closed", "rejected": "Rejected", "revoked": "Withdrawn",
    "overdue": "Overdue",  # not stored: an active referral past its deadline
}
REFERRAL_PRIORITY = {"urgent": "Urgent", "high": "High", "normal": "Normal"}
EVACUATION_STAGE = {
    "requested": "Requested", "verified": "Verified", "documented": "Documented",
    "manifested": "Manifested", "departed": "Departed",
    "arrived_transit": "In transit country", "arrived_origin": "Arrived home",
    "followed_up": "Followed up", "declined": "Declined", "no_show": "No-show",
    "medical_hold": "Medical hold",
}
MOVEMENT_MODE = {"air": "Air", "land": "Land", "sea": "Sea"}
MOVEMENT_STATUS = {
    "planned": "Planned", "boarding": "Boarding", "departed": "Departed",
    "arrived": "Arrived", "cancelled": "Cancelled",
}
HAZARD_KIND = {
    "shelling": "Shelling or air strikes", "armed_clashes": "Armed clashes",
    "flood": "Flooding", "fire": "Fire", "earthquake_damage": "Earthquake damage",
    "road_closure": "Road closed",
}
HAZARD_SEVERITY = {"low": "Low", "medium": "Medium", "high": "High", "extreme": "Extreme"}
CONSULAR_POST_STATUS = {
    "open": "Open", "limited": "Limited service", "closed": "Closed",
    "hotline_only": "Hotline only",
}
SCENARIO_KIND = {"live": "Live", "exercise": "Exercise"}
DRILL_INJECT_KIND = {
    "arrivals": "Arrivals", "departures": "Departures", "register": "Registrations",
    "open_referrals": "Referrals opened", "answer_referrals": "Referrals answered",
    "advance_evacuation": "Evacuation advances", "movement_departs": "Movement departs",
    "hazard": "Hazard", "hazard_spreads": "Hazard spreads",
    "facility_closes": "Facility closes",
}
DRILL_INJECT_STATUS = {"applied": "Applied", "skipped": "Skipped"}

# Not vocabularies of the contract: how the dashboard groups what the contract holds.
AGE_BAND = {"0-4": "0–4", "5-11": "5–11", "12-17": "12–17", "18-59": "18–59", "60+": "60+",
            "unknown": "Age unknown"}
VULNERABILITY_TAG = {**VULNERABILITY, "other": "Other tag"}  # a tag outside the vocabulary

# Each vocabulary of the contract and its labels: tests/test_labels.py checks that every
# code has one.
VOCABULARIES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "person status": (vocab.PERSON_STATUSES, PERSON_STATUS),
    "sex": (vocab.SEXES, SEX),
    "document": (vocab.DOCUMENTS, DOCUMENT),
    "vulnerability": (vocab.VULNERABILITY_TAGS, VULNERABILITY),
    "facility kind": (vocab.FACILITY_KINDS, FACILITY_KIND),
    "facility status": (vocab.FACILITY_STATUSES, FACILITY_STATUS),
    "referral service": (vocab.REFERRAL_SERVICES, REFERRAL_SERVICE),
    "referral status": (vocab.REFERRAL_STATUSES, REFERRAL_STATUS),
    "referral priority": (vocab.REFERRAL_PRIORITIES, REFERRAL_PRIORITY),
    "evacuation stage": (vocab.ALL_EVACUATION_STAGES, EVACUATION_STAGE),
    "movement mode": (vocab.MOVEMENT_MODES, MOVEMENT_MODE),
    "movement status": (vocab.MOVEMENT_STATUSES, MOVEMENT_STATUS),
    "hazard kind": (vocab.HAZARD_KINDS, HAZARD_KIND),
    "hazard severity": (vocab.HAZARD_SEVERITIES, HAZARD_SEVERITY),
    "consular post status": (vocab.CONSULAR_POST_STATUSES, CONSULAR_POST_STATUS),
    "scenario kind": (vocab.SCENARIO_KINDS, SCENARIO_KIND),
    "drill inject kind": (vocab.DRILL_INJECT_KINDS, DRILL_INJECT_KIND),
    "drill inject status": (vocab.DRILL_INJECT_STATUSES, DRILL_INJECT_STATUS),
}


def _unambiguous() -> dict[str, str]:
    """Codes that mean one thing whatever the vocabulary ("open" does not: an open
    facility admits people, an open referral awaits its receiver)."""
    seen: dict[str, set[str]] = {}
    for _, labels in VOCABULARIES.values():
        for code, label in labels.items():
            seen.setdefault(code, set()).add(label)
    return {code: next(iter(found)) for code, found in seen.items() if len(found) == 1}


UNAMBIGUOUS = _unambiguous()

# Column headings where the column's name does not say it well enough.
COLUMNS = {
    "ref": "Reference", "case_number": "Case", "evacuation_stage": "Evacuation stage",
    "second_nationality": "Second nationality", "needs_travel_document": "Needs travel document",
    "movement_departs": "Movement departs", "updated_at": "Updated",
    "full_pct": "% full", "change_24h": "Change in 24 h", "hours_to_full": "Hours to full",
    "time_to_full": "Time to full", "last_confirmed": "Last confirmed",
    "deadline_h": "Deadline (h)", "in_service": "In service", "overdue_by": "Overdue by",
    "receiving_organisation": "Receiving organisation", "departs_at": "Departs",
    "arrived_transit": "In transit country", "arrived_origin": "Arrived home",
    "followed_up": "Followed up", "no_show": "No-show", "medical_hold": "Medical hold",
    "on_it": "On it", "median_h": "Median (h)", "p90_h": "90th percentile (h)",
    "accepted_in_time": "Accepted in time", "accepted_late": "Accepted late",
    "not_accepted": "Not accepted", "median_h_to_accept": "Median hours to accept",
    "within_deadline_pct": "% within deadline", "open_past_deadline": "Open past deadline",
    "peak_occupants": "Peak occupants", "hours_at_or_over_capacity": "Hours at or over capacity",
    "reports_above_capacity": "Reports above capacity", "last_report": "Last report",
    "hours_since_report": "Hours since report", "longest_gap_h": "Longest gap (h)",
    "pcode": "P-code", "area_pcode": "P-code", "sex": "Sex", "age_band": "Age",
    "vulnerabilities": "Vulnerabilities", "band": "Age", "tag": "Vulnerability",
    "f": "Female", "m": "Male", "x": "Other or not recorded",
}


def missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) \
        or type(value).__name__ in ("NAType", "NaTType")


def word(code: object, labels: dict[str, str] | None = None) -> str:
    """The label of `code` in `labels` (a vocabulary's), or, without one, its label where
    the code means one thing in every vocabulary; a value outside the vocabularies is
    shown as the data has it (it breaks the contract, and the data-quality page counts
    it); no value is EMPTY."""
    if missing(code):
        return EMPTY
    text = str(code)
    if labels is not None:
        return labels.get(text, text)
    return UNAMBIGUOUS.get(text, text)


def heading(column: str) -> str:
    """A column name as a reader would write it: `evacuation_stage` → "Evacuation stage"."""
    if column in COLUMNS:
        return COLUMNS[column]
    return column.replace("_", " ").capitalize() if column.islower() else column


# The vocabulary of a column wherever a page shows it under this name. "status" is
# not here: a person's, a facility's, a referral's and a movement's differ, and each
# table names its own.
BY_COLUMN: dict[str, dict[str, str]] = {
    "service": REFERRAL_SERVICE, "priority": REFERRAL_PRIORITY,
    "evacuation_stage": EVACUATION_STAGE, "stage": EVACUATION_STAGE, "documents": DOCUMENT,
    "sex": SEX, "kind": FACILITY_KIND, "mode": MOVEMENT_MODE, "severity": HAZARD_SEVERITY,
    "band": AGE_BAND, "tag": VULNERABILITY_TAG,
}
