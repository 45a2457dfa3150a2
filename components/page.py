"""The head of every page: who may see it, the EXERCISE banner, title and freshness."""

from __future__ import annotations

from components.status import exercise_banner, freshness_line
from dashboard import scenarios
from dashboard.session import Context, begin_view, require_page


def page_start(page: str, title: str) -> Context:
    """Check the viewer may open `page`, then draw its head. Every page starts here,
    so the EXERCISE marking and the "data as of" line are on every page (DESIGN.md §2.7)."""
    import streamlit as st

    context = require_page(page)
    begin_view(page)
    exercise_banner(context.scenario)
    st.title(title)
    freshness_line(scenarios.data_as_of(context.db_url, context.scenario.id),
                   context.scenario.synthetic)
    return context
