"""The controlled vocabularies of the data contract (docs/design.md §4).

Each vocabulary maps a stored value to the one-line meaning that
docs/data-contract.md prints. Values outside these lists break the contract:
they are excluded from the figures they would corrupt and counted on the
data-quality view.
"""

from __future__ import annotations

SCENARIO_KINDS = {
    "live": "a real operation",
    "exercise": "a drill or simulation; always marked EXERCISE on screen and in exports",
}

PERSON_STATUSES = {
    "located": "whereabouts known, not in a facility",
    "sheltered": "staying in a facility (facility_id set)",
    "in_transit": "on the move between places or on a movement",
    "evacuated": "left the country on an evacuation movement",
    "relocated": "moved to a safer place inside the country",
    "missing": "whereabouts unknown, reported missing",
    "deceased": "reported deceased",
}

SEXES = {"f": "female", "m": "male", "x": "other or not recorded"}

# What a person holds. Anything but a valid passport means the person needs an
# emergency travel document before an evacuation movement.
DOCUMENTS = {
    "passport": "valid passport in the person's hands",
    "expired_passport": "passport expired",
    "held_by_employer": "passport retained by an employer or agency",
    "national_id": "national identity card only",
    "none": "no identity document",
}
DOCUMENTS_NEEDING_TRAVEL_DOCUMENT = ("expired_passport", "held_by_employer", "national_id", "none")

VULNERABILITY_TAGS = {
    "uasc": "unaccompanied or separated child",
    "trafficking": "survivor or presumed victim of trafficking",
    "gbv": "survivor of gender-based violence",
    "disability": "person with a disability",
    "elderly": "older person (60+)",
    "medical": "serious medical condition",
    "pregnant": "pregnant or lactating",
    "single_parent": "single parent with children",
}

FACILITY_KINDS = {
    "shelter": "collective shelter",
    "reception_centre": "reception centre for new arrivals",
    "transit_centre": "transit centre before a movement",
    "assembly_point": "assembly point for pick-up",
    "child_friendly_space": "child-friendly space",
    "hospital": "hospital or clinic",
    "safe_house": "safe house (confidential by default)",
}

FACILITY_STATUSES = {
    "open": "open and admitting",
    "full": "open, not admitting",
    "closed": "closed",
    "damaged": "damaged, not usable",
}

REFERRAL_SERVICES = {
    "consular": "consular assistance",
    "documentation": "identity or emergency travel document",
    "evacuation": "evacuation or voluntary return",
    "family_tracing": "family tracing and reunification",
    "shelter": "shelter placement",
    "health": "health care",
    "psychosocial": "mental health and psychosocial support",
    "legal": "legal aid",
    "asylum": "asylum or international protection (sensitive)",
    "anti_trafficking": "anti-trafficking assistance (sensitive)",
    "gbv": "gender-based violence response (sensitive)",
    "child_protection": "child protection (sensitive)",
}

# docs/design.md §2.3: never shown to a consular liaison at person level.
SENSITIVE_SERVICES = ("asylum", "anti_trafficking", "gbv", "child_protection")

# Services a consular liaison may see for its own visible nationals (docs/design.md §3).
CONSULAR_SERVICES = ("consular", "documentation", "evacuation", "family_tracing")

# Response deadline per service, in hours from created_at to acceptance. Health
# and GBV follow clinical windows (72 h post-exposure prophylaxis, 120 h
# emergency contraception); documentation is counted in days.
REFERRAL_DEADLINE_HOURS = {
    "consular": 48,
    "documentation": 7 * 24,
    "evacuation": 72,
    "family_tracing": 7 * 24,
    "shelter": 24,
    "health": 72,
    "psychosocial": 7 * 24,
    "legal": 7 * 24,
    "asylum": 7 * 24,
    "anti_trafficking": 24,
    "gbv": 120,
    "child_protection": 24,
}

REFERRAL_PRIORITIES = {
    "urgent": "act today",
    "high": "act within the deadline",
    "normal": "routine",
}

REFERRAL_STATUSES = {
    "open": "sent, awaiting the receiver",
    "accepted": "accepted by the receiver",
    "in_service": "service being delivered",
    "closed": "service delivered, referral closed",
    "rejected": "declined by the receiver",
    "revoked": "withdrawn by the sender",
}
REFERRAL_ENDED = ("closed", "rejected", "revoked")

# The main path of an evacuation case, in order; the branches leave it.
EVACUATION_STAGES = {
    "requested": "evacuation requested",
    "verified": "identity and nationality verified",
    "documented": "travel document issued",
    "manifested": "seat on a movement",
    "departed": "left on the movement",
    "arrived_transit": "arrived in a transit country",
    "arrived_origin": "arrived in the country of origin",
    "followed_up": "followed up after arrival",
}
EVACUATION_BRANCHES = {
    "declined": "person declined evacuation",
    "no_show": "did not show for the movement",
    "medical_hold": "held back for medical reasons",
}
EVACUATION_PATH = tuple(EVACUATION_STAGES)
ALL_EVACUATION_STAGES = {**EVACUATION_STAGES, **EVACUATION_BRANCHES}

MOVEMENT_MODES = {"air": "flight", "land": "bus or convoy", "sea": "ship"}
MOVEMENT_STATUSES = {
    "planned": "scheduled",
    "boarding": "boarding",
    "departed": "left",
    "arrived": "arrived at destination",
    "cancelled": "cancelled",
}

HAZARD_KINDS = {
    "shelling": "shelling or air strikes",
    "armed_clashes": "armed clashes",
    "flood": "flooding",
    "fire": "fire",
    "earthquake_damage": "earthquake damage",
    "road_closure": "road or crossing closed",
}
HAZARD_SEVERITIES = {"low": "low", "medium": "medium", "high": "high", "extreme": "extreme"}

CONSULAR_POST_STATUSES = {
    "open": "open to the public",
    "limited": "limited service",
    "closed": "closed",
    "hotline_only": "reachable by hotline only",
}

DRILL_INJECT_KINDS = {
    "arrivals": "people arrive at a facility",
    "departures": "people leave a facility",
    "register": "new people registered",
    "open_referrals": "referrals opened",
    "answer_referrals": "referrals answered: accepted, in service, closed, rejected or revoked",
    "advance_evacuation": "evacuation cases move on a stage",
    "movement_departs": "a movement departs",
    "hazard": "a hazard appears",
    "hazard_spreads": "a hazard spreads",
    "facility_closes": "a facility closes",
}
DRILL_INJECT_STATUSES = {
    "applied": "written in one transaction",
    "skipped": "referred to something that does not exist, or found nothing to change; "
               "nothing written but this row",
}

