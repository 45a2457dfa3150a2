"""Lines that tell the reader what they are looking at: exercise or live, and how fresh."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from components.charts import escape_markdown
from dashboard.figures.scenarios import ScenarioInfo
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store.db import Health


def exercise_banner(scenario: ScenarioInfo) -> bool:
    """A banner no one can miss on an exercise scenario (docs/design.md §2.7).
    Returns whether it was shown."""
    if not scenario.is_exercise:
        return False
    st.markdown(
        f"<div role='alert' data-testid='exercise-banner' style='background:#b00020;color:#fff;"
        f"padding:0.6rem 1rem;border-radius:0.4rem;font-size:1.4rem;font-weight:700;"
        f"letter-spacing:0.08em;text-align:center'>EXERCISE — "
        f"{escape_markdown(scenario.name)} — NOT LIVE DATA</div>",
        unsafe_allow_html=True,
    )
    return True


def stale_banner(health: Health, every_s: int | None) -> bool:
    """While the database does not answer, a banner over the last figures it gave:
    since when they are stale, and that the page is reconnecting. Returns whether
    it was shown."""
    if not health.down:
        return False
    since = health.answered_at or health.down_since
    again = (f"reconnecting every {every_s} s" if every_s
             else "auto-refresh is paused: turn it on to reconnect")
    st.warning(f"**Stale since {since:%H:%M} UTC, {again}.** The database is not answering; "
               "these are the last figures it gave and may be out of date.",
               icon=":material/cloud_off:")
    return True


def freshness_line(as_of: datetime | None, synthetic: bool, updated: datetime | None = None,
                   every_s: int | None = None) -> str:
    """The "data as of" line under every page title, with when the page last
    updated itself. Returns the text shown."""
    if as_of is None:
        text = "No person records in this scenario yet."
    else:
        text = f"Data as of {as_of:%d %b %Y, %H:%M} UTC"
    if updated is not None:
        text += f" · updated {updated:%H:%M:%S} UTC"
        text += f", refreshes every {every_s} s" if every_s else " (auto-refresh paused)"
    if synthetic:
        text += " · synthetic demonstration data: it describes no real person"
    st.caption(text)
    return text


ROUNDING_NOTE = ("Counts of people, referrals and cases are rounded to a multiple of 5 so that "
                 "no one can be singled out, and the same people always give the same figure; "
                 "parts may not add up to their totals. \"<5\" means 1 to 4; — marks a "
                 "change withheld beside one.")


def rounding_note(viewer: Viewer) -> bool:
    """Say how counts are shown, for a reader who sees them rounded (docs/design.md
    §2.4). Returns whether it was said."""
    if not access.suppresses_small_counts(viewer.role):
        return False
    st.caption(ROUNDING_NOTE)
    return True
