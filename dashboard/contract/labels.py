"""The words a reader sees for the contract's codes: a short label for every value of
every vocabulary (dashboard.contract.vocab holds the codes and their one-line
meanings), and a heading for every column a page shows. One place, so that screens,
charts and exports say the same thing, and so that it can be translated.

Codes stay what the data holds: exports carry the code beside its label. Labels are
written in English and read in the reader's language (dashboard.language): a
vocabulary's `Words` translates each label as it is looked up."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from dashboard.contract import vocab
from dashboard.language import N_, gettext

EMPTY = "—"  # a value the data does not have: never "None"


class Words(Mapping[str, str]):
    """Codes and their labels, each label in the reader's language when it is read
    (`english` holds them as written)."""

    def __init__(self, english: Mapping[str, str]) -> None:
        self.english = dict(english)

    def __getitem__(self, code: str) -> str:
        return gettext(self.english[code])

    def __contains__(self, code: object) -> bool:  # without translating the label
        return code in self.english

    def __iter__(self) -> Iterator[str]:
        return iter(self.english)

    def __len__(self) -> int:
        return len(self.english)


PERSON_STATUS = Words({
    "located": N_("Located"), "sheltered": N_("Sheltered"), "in_transit": N_("In transit"),
    "evacuated": N_("Evacuated"), "relocated": N_("Relocated"), "missing": N_("Missing"),
    "deceased": N_("Deceased"),
})
SEX = Words({"f": N_("Female"), "m": N_("Male"), "x": N_("Other or not recorded")})
DOCUMENT = Words({
    "passport": N_("Valid passport"), "expired_passport": N_("Expired passport"),
    "held_by_employer": N_("Passport held by employer"), "national_id": N_("National ID only"),
    "none": N_("No identity document"),
})
VULNERABILITY = Words({
    "uasc": N_("Unaccompanied or separated child"), "trafficking": N_("Trafficking survivor"),
    "gbv": N_("GBV survivor"), "disability": N_("Disability"), "elderly": N_("Older person (60+)"),
    "medical": N_("Serious medical condition"), "pregnant": N_("Pregnant or lactating"),
    "single_parent": N_("Single parent"),
})
FACILITY_KIND = Words({
    "shelter": N_("Collective shelter"), "reception_centre": N_("Reception centre"),
    "transit_centre": N_("Transit centre"), "assembly_point": N_("Assembly point"),
    "child_friendly_space": N_("Child-friendly space"), "hospital": N_("Hospital or clinic"),
    "safe_house": N_("Safe house"),
})
FACILITY_STATUS = Words({
    "open": N_("Open"), "full": N_("Full"), "closed": N_("Closed"), "damaged": N_("Damaged"),
})
REFERRAL_SERVICE = Words({
    "consular": N_("Consular assistance"), "documentation": N_("Documentation"),
    "evacuation": N_("Evacuation"), "family_tracing": N_("Family tracing"),
    "shelter": N_("Shelter placement"), "health": N_("Health care"),
    "psychosocial": N_("Psychosocial support"), "legal": N_("Legal aid"),
    "asylum": N_("Asylum and protection"), "anti_trafficking": N_("Anti-trafficking"),
    "gbv": N_("GBV response"), "child_protection": N_("Child protection"),
})
REFERRAL_STATUS = Words({
    "open": N_("Awaiting receiver"), "accepted": N_("Accepted"), "in_service": N_("In service"),
    "closed": N_("Closed"), "rejected": N_("Rejected"), "revoked": N_("Withdrawn"),
    "overdue": N_("Overdue"),  # not stored: an active referral past its deadline
})
REFERRAL_PRIORITY = Words({"urgent": N_("Urgent"), "high": N_("High"), "normal": N_("Normal")})
EVACUATION_STAGE = Words({
    "requested": N_("Requested"), "verified": N_("Verified"), "documented": N_("Documented"),
    "manifested": N_("Manifested"), "departed": N_("Departed"),
    "arrived_transit": N_("In transit country"), "arrived_origin": N_("Arrived home"),
    "followed_up": N_("Followed up"), "declined": N_("Declined"), "no_show": N_("No-show"),
    "medical_hold": N_("Medical hold"),
})
MOVEMENT_MODE = Words({"air": N_("Air"), "land": N_("Land"), "sea": N_("Sea")})
MOVEMENT_STATUS = Words({
    "planned": N_("Planned"), "boarding": N_("Boarding"), "departed": N_("Departed"),
    "arrived": N_("Arrived"), "cancelled": N_("Cancelled"),
})
HAZARD_KIND = Words({
    "shelling": N_("Shelling or air strikes"), "armed_clashes": N_("Armed clashes"),
    "flood": N_("Flooding"), "fire": N_("Fire"), "earthquake_damage": N_("Earthquake damage"),
    "road_closure": N_("Road closed"),
})
HAZARD_SEVERITY = Words({
    "low": N_("Low"), "medium": N_("Medium"), "high": N_("High"), "extreme": N_("Extreme"),
})
CONSULAR_POST_STATUS = Words({
    "open": N_("Open"), "limited": N_("Limited service"), "closed": N_("Closed"),
    "hotline_only": N_("Hotline only"),
})
SCENARIO_KIND = Words({"live": N_("Live"), "exercise": N_("Exercise")})
DRILL_INJECT_KIND = Words({
    "arrivals": N_("Arrivals"), "departures": N_("Departures"), "register": N_("Registrations"),
    "open_referrals": N_("Referrals opened"), "answer_referrals": N_("Referrals answered"),
    "advance_evacuation": N_("Evacuation advances"), "movement_departs": N_("Movement departs"),
    "hazard": N_("Hazard"), "hazard_spreads": N_("Hazard spreads"),
    "facility_closes": N_("Facility closes"),
})
DRILL_INJECT_STATUS = Words({"applied": N_("Applied"), "skipped": N_("Skipped")})

# Not vocabularies of the contract: how the dashboard groups what the contract holds.
AGE_BAND = Words({
    "0-4": N_("0–4"), "5-11": N_("5–11"), "12-17": N_("12–17"), "18-59": N_("18–59"),
    "60+": N_("60+"), "unknown": N_("Age unknown"),
})
# A tag outside the vocabulary is "other".
VULNERABILITY_TAG = Words({**VULNERABILITY.english, "other": N_("Other tag")})

# Each vocabulary of the contract and its labels: tests/test_labels.py checks that every
# code has one.
VOCABULARIES: dict[str, tuple[dict[str, str], Words]] = {
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
        for code, label in labels.english.items():
            seen.setdefault(code, set()).add(label)
    return {code: next(iter(found)) for code, found in seen.items() if len(found) == 1}


UNAMBIGUOUS = _unambiguous()

# Column headings where the column's name does not say it well enough.
COLUMNS = Words({
    "ref": N_("Reference"), "case_number": N_("Case"), "evacuation_stage": N_("Evacuation stage"),
    "second_nationality": N_("Second nationality"),
    "needs_travel_document": N_("Needs travel document"),
    "movement_departs": N_("Movement departs"), "updated_at": N_("Updated"),
    "full_pct": N_("% full"), "change_24h": N_("Change in 24 h"),
    "hours_to_full": N_("Hours to full"),
    "time_to_full": N_("Time to full"), "last_confirmed": N_("Last confirmed"),
    "deadline_h": N_("Deadline (h)"), "in_service": N_("In service"),
    "overdue_by": N_("Overdue by"),
    "receiving_organisation": N_("Receiving organisation"), "departs_at": N_("Departs"),
    "arrived_transit": N_("In transit country"), "arrived_origin": N_("Arrived home"),
    "followed_up": N_("Followed up"), "no_show": N_("No-show"), "medical_hold": N_("Medical hold"),
    "on_it": N_("On it"), "median_h": N_("Median (h)"), "p90_h": N_("90th percentile (h)"),
    "accepted_in_time": N_("Accepted in time"), "accepted_late": N_("Accepted late"),
    "not_accepted": N_("Not accepted"), "median_h_to_accept": N_("Median hours to accept"),
    "within_deadline_pct": N_("% within deadline"), "open_past_deadline": N_("Open past deadline"),
    "peak_occupants": N_("Peak occupants"),
    "hours_at_or_over_capacity": N_("Hours at or over capacity"),
    "reports_above_capacity": N_("Reports above capacity"), "last_report": N_("Last report"),
    "hours_since_report": N_("Hours since report"), "longest_gap_h": N_("Longest gap (h)"),
    "pcode": N_("P-code"), "area_pcode": N_("P-code"), "sex": N_("Sex"), "age_band": N_("Age"),
    "vulnerabilities": N_("Vulnerabilities"), "band": N_("Age"), "tag": N_("Vulnerability"),
    "f": N_("Female"), "m": N_("Male"), "x": N_("Other or not recorded"),
    # Named in words by the column's name alone, here so that the catalogs hold them.
    "accepted": N_("Accepted"), "active": N_("Active"), "age": N_("Age"), "area": N_("Area"),
    "arrived": N_("Arrived"), "capacity": N_("Capacity"), "cases": N_("Cases"),
    "check": N_("Check"), "confirmation": N_("Confirmation"), "country": N_("Country"),
    "deadline": N_("Deadline"), "declined": N_("Declined"), "departed": N_("Departed"),
    "destination": N_("Destination"), "documented": N_("Documented"),
    "documents": N_("Documents"), "facilities": N_("Facilities"), "facility": N_("Facility"),
    "free": N_("Free"), "kind": N_("Kind"), "left out of": N_("Left out of"),
    "manifested": N_("Manifested"), "mode": N_("Mode"), "movement": N_("Movement"),
    "name": N_("Name"), "nationality": N_("Nationality"), "occupants": N_("Occupants"),
    "open": N_("Open"), "open_referrals": N_("Open referrals"), "overdue": N_("Overdue"),
    "overdue_referral": N_("Overdue referral"), "persons": N_("Persons"), "phone": N_("Phone"),
    "priority": N_("Priority"), "requested": N_("Requested"), "rows": N_("Rows"),
    "seats": N_("Seats"), "sent": N_("Sent"), "service": N_("Service"), "status": N_("Status"),
    "total": N_("Total"), "trend": N_("Trend"), "verified": N_("Verified"),
    "under 1 day": N_("Under 1 day"), "1–3 days": N_("1–3 days"), "3–7 days": N_("3–7 days"),
    "7 days or more": N_("7 days or more"), "as_of": N_("As of"), "on_time": N_("On time"),
    "median_hours": N_("Median hours"), "median_days": N_("Median days"),
})


def missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) \
        or type(value).__name__ in ("NAType", "NaTType")


def word(code: object, labels: Mapping[str, str] | None = None) -> str:
    """The label of `code` in `labels` (a vocabulary's), or, without one, its label where
    the code means one thing in every vocabulary; a value outside the vocabularies is
    shown as the data has it (it breaks the contract, and the data-quality page counts
    it); no value is EMPTY."""
    if missing(code):
        return EMPTY
    text = str(code)
    if labels is not None:
        return labels.get(text, text)
    return gettext(UNAMBIGUOUS[text]) if text in UNAMBIGUOUS else text


def heading(column: str) -> str:
    """A column name as a reader would write it: `evacuation_stage` → "Evacuation stage"."""
    if column in COLUMNS:
        return COLUMNS[column]
    return gettext(column.replace("_", " ").capitalize()) if column.islower() else column


# The vocabulary of a column wherever a page shows it under this name. "status" is
# not here: a person's, a facility's, a referral's and a movement's differ, and each
# table names its own.
BY_COLUMN: dict[str, Words] = {
    "service": REFERRAL_SERVICE, "priority": REFERRAL_PRIORITY,
    "evacuation_stage": EVACUATION_STAGE, "stage": EVACUATION_STAGE, "documents": DOCUMENT,
    "sex": SEX, "kind": FACILITY_KIND, "mode": MOVEMENT_MODE, "severity": HAZARD_SEVERITY,
    "band": AGE_BAND, "tag": VULNERABILITY_TAG,
}
