"""Lines that tell the reader what they are looking at: exercise or live, and how fresh."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from components.charts import escape_markdown
from dashboard import language
from dashboard.figures.scenarios import ScenarioInfo
from dashboard.language import N_, ReaderError, _
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store.db import Health


def said(exc: BaseException) -> str:
    """An exception's message as a reader reads it: in the reader's language when it is
    one of the product's messages for the reader (language.ReaderError: the database's,
    the schema's and the audit log's), else as it is."""
    return exc.shown() if isinstance(exc, ReaderError) else str(exc)


BANNER_KEY = "exercise-banner"  # the banner's container: class st-key-exercise-banner
# White on red, whatever else is styled (projector mode's black text included): the
# banner's words are plain Markdown, so that they are read (and translated) as text.
BANNER_STYLE = f"""<style>
.st-key-{BANNER_KEY} {{
  background: #b00020; padding: 0.6rem 1rem; border-radius: 0.4rem;
}}
[data-testid="stMain"] .st-key-{BANNER_KEY} [data-testid="stMarkdownContainer"],
[data-testid="stMain"] .st-key-{BANNER_KEY} p {{
  color: #fff !important; font-size: 1.4rem !important; font-weight: 700;
  letter-spacing: 0.08em; text-align: center; margin: 0;
}}
</style>"""


def exercise_banner(scenario: ScenarioInfo) -> bool:
    """A banner no one can miss on an exercise scenario (docs/design.md §2.7).
    Returns whether it was shown."""
    if not scenario.is_exercise:
        return False
    # Translators: the banner over every page of an exercise; {scenario} is its name.
    # Keep it short and loud, in capitals where the language has them.
    marking = _("EXERCISE — {scenario} — NOT LIVE DATA").format(
        scenario=escape_markdown(scenario.name))
    with st.container(key=BANNER_KEY):
        st.html(BANNER_STYLE)
        st.markdown(marking)
    return True


def stale_banner(health: Health, every_s: int | None) -> bool:
    """While the database does not answer, a banner over the last figures it gave:
    since when they are stale, and that the page is reconnecting. Returns whether
    it was shown."""
    if not health.down:
        return False
    since = health.answered_at or health.down_since
    if every_s:
        # Translators: {time} is a time of day (hh:mm); {seconds} a number of seconds.
        text = _("**Stale since {time} UTC, reconnecting every {seconds} s.** The database is "
                 "not answering; these are the last figures it gave and may be out of "
                 "date.").format(time=f"{since:%H:%M}", seconds=every_s)
    else:
        # Translators: {time} is a time of day (hh:mm).
        text = _("**Stale since {time} UTC, auto-refresh is paused: turn it on to "
                 "reconnect.** The database is not answering; these are the last figures it "
                 "gave and may be out of date.").format(time=f"{since:%H:%M}")
    st.warning(text, icon=":material/cloud_off:")
    return True


def freshness_line(as_of: datetime | None, synthetic: bool, updated: datetime | None = None,
                   every_s: int | None = None) -> str:
    """The "data as of" line under every page title, with when the page last
    updated itself. Returns the text shown."""
    if as_of is None:
        parts = [_("No person records in this scenario yet.")]
    else:
        # Translators: {moment} is a date and time, "22 Nov 2026, 23:59 UTC".
        parts = [_("Data as of {moment}").format(moment=language.moment(as_of))]
    if updated is not None:
        if every_s:
            # Translators: after "Data as of …", with " · " between: when the page last
            # updated itself ({time}: hh:mm:ss) and how often it does.
            parts.append(_("updated {time} UTC, refreshes every {seconds} s").format(
                time=f"{updated:%H:%M:%S}", seconds=every_s))
        else:
            # Translators: after "Data as of …", with " · " between ({time}: hh:mm:ss).
            parts.append(_("updated {time} UTC (auto-refresh paused)").format(
                time=f"{updated:%H:%M:%S}"))
    if synthetic:
        # Translators: after "Data as of …", with " · " between.
        parts.append(_("synthetic demonstration data: it describes no real person"))
    text = " · ".join(parts)
    st.caption(text)
    return text


ROUNDING_NOTE = N_(
    "Counts of people, referrals and cases are rounded to a multiple of 5 so that no one can "
    "be singled out, and the same people always give the same figure; parts may not add up "
    "to their totals. \"<5\" means 1 to 4; — marks a change withheld beside one.")


def rounding_note(viewer: Viewer) -> bool:
    """Say how counts are shown, for a reader who sees them rounded (docs/design.md
    §2.4). Returns whether it was said."""
    if not access.suppresses_small_counts(viewer.role):
        return False
    st.caption(_(ROUNDING_NOTE))
    return True
