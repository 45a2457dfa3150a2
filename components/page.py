"""The frame of every page: who may see it, the EXERCISE banner, the title, and a
body that refreshes itself with its "data as of" line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from components.status import exercise_banner, freshness_line
from dashboard import config, scenarios
from dashboard.session import Context, begin_view, require_page

AUTO_REFRESH_KEY = "auto_refresh"


def page_start(page: str, title: str) -> Context:
    """Check the viewer may open `page`, then draw its head. Every page starts here,
    so the EXERCISE marking is on every page (DESIGN.md §2.7)."""
    context = require_page(page)
    begin_view(page)
    exercise_banner(context.scenario)
    st.title(title)
    return context


def refresh_seconds() -> int:
    """Pages refresh as often as query results are reused, so that every refresh can
    bring news and the database sees one query per cached figure per interval."""
    return int(config.get("SITROOM_CACHE_TTL_S"))


def live(context: Context, body: Callable[[datetime], None]) -> None:
    """Run the page body in a fragment that reruns by itself every refresh interval,
    without a full rerun and keeping the reader's filters; `body` gets the moment
    the data is as of. The reader can pause it (sidebar toggle)."""
    every = refresh_seconds() if st.session_state.get(AUTO_REFRESH_KEY, True) else None

    @st.fragment(run_every=every)
    def refreshing() -> None:
        as_of = scenarios.data_as_of(context.db_url, context.scenario.id)
        freshness_line(as_of, context.scenario.synthetic, updated=datetime.now(UTC),
                       every_s=every)
        if as_of is not None:
            body(as_of)

    refreshing()
