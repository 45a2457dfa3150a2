"""The moment a page's figures are compared with."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import streamlit as st

CHOICES = {
    "24 hours": timedelta(hours=24),
    "3 days": timedelta(days=3),
    "7 days": timedelta(days=7),
}
START, CHOSEN = "Scenario start", "Chosen moment"


def reference_picker(as_of: datetime, starts_at: datetime, key: str = "reference") -> datetime:
    """Let the reader pick the reference moment: a span before the moment shown,
    the start of the scenario, or any moment between. Returns it, never earlier
    than the start nor later than `as_of`."""
    options = [*CHOICES, START, CHOSEN]
    left, right = st.columns([3, 2])
    with left:
        picked = st.segmented_control("Change since", options, default="24 hours",
                                      key=f"{key}-span") or "24 hours"
    if picked in CHOICES:
        reference = as_of - CHOICES[picked]
    elif picked == START:
        reference = starts_at
    else:
        with right:
            day_col, time_col = st.columns(2)
            default = as_of - timedelta(hours=24)
            day = day_col.date_input("Day", value=default.date(), min_value=starts_at.date(),
                                     max_value=as_of.date(), key=f"{key}-day")
            at = time_col.time_input("Time (UTC)", value=time(default.hour, 0),
                                     key=f"{key}-time")
            reference = datetime.combine(day, at)
    return min(max(reference, starts_at), as_of)
