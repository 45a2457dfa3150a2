"""One colour per status, stage and load level, the same on every page and chart.

Chosen to stay distinguishable on a washed-out projector and for the common
forms of colour blindness (Okabe–Ito based); red is kept for danger only.
"""

from __future__ import annotations

PERSON_STATUS = {
    "located": "#0072B2",
    "sheltered": "#009E73",
    "in_transit": "#56B4E9",
    "evacuated": "#6A3D9A",
    "relocated": "#999999",
    "missing": "#E69F00",
    "deceased": "#222222",
}

SEX = {"f": "#CC79A7", "m": "#0072B2", "x": "#999999"}

EVACUATION_STAGE = {
    "requested": "#c6dbef",
    "verified": "#9ecae1",
    "documented": "#6baed6",
    "manifested": "#4292c6",
    "departed": "#2171b5",
    "arrived_transit": "#08519c",
    "arrived_origin": "#08306b",
    "followed_up": "#041f4a",
    "declined": "#999999",
    "no_show": "#E69F00",
    "medical_hold": "#CC79A7",
}

REFERRAL_STATUS = {
    "open": "#E69F00",
    "accepted": "#56B4E9",
    "in_service": "#0072B2",
    "closed": "#009E73",
    "rejected": "#999999",
    "revoked": "#666666",
    "overdue": "#D55E00",
}

# Facility load: green below AMBER_FROM, amber below RED_FROM, red from there.
LOAD_GREEN, LOAD_AMBER, LOAD_RED = "#1a9850", "#f1a340", "#d73027"
AMBER_FROM, RED_FROM = 0.75, 0.9


def load_colour(occupants: int, capacity: int) -> str:
    """Green, amber or red for a facility's share of places taken."""
    share = occupants / capacity if capacity > 0 else 1.0
    if share >= RED_FROM:
        return LOAD_RED
    return LOAD_AMBER if share >= AMBER_FROM else LOAD_GREEN


# Persons per district or cell: a purple-blue ramp, away from the red kept for danger.
COUNT_BINS = (5, 20, 50, 100, 500, 1000)
COUNT_COLOURS = ("#c6d7ec", "#9ebcda", "#8c96c6", "#8c6bb1", "#88419d", "#6e016b")

# Hazard severity, on the Map page and in the situation report.
HAZARD_SEVERITY = {"low": "#fee08b", "medium": "#fdae61", "high": "#e34a33",
                   "extreme": "#99000d"}
# A facility without a valid occupancy report, or (for a liaison) with fewer than 5 people.
NO_REPORT = "#bdbdbd"


def count_colour(n: int) -> str:
    """The ramp's colour for a shown count of persons in a district or cell."""
    index = sum(1 for edge in COUNT_BINS if n >= edge) - 1
    return COUNT_COLOURS[max(index, 0)]


def facility_colour(occupants: object, capacity: int) -> str:
    """A facility's load colour; grey where its occupancy is unknown or shown "<5"."""
    if not isinstance(occupants, int):  # no valid report, or suppressed
        return NO_REPORT
    return load_colour(occupants, capacity)
