"""What a page needs to know about the session: which database, who is looking,
which scenario. Set by app.py; read by every page."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard import access
from dashboard.access import Viewer
from dashboard.scenarios import ScenarioInfo

KEY = "sitroom_context"


@dataclass(frozen=True)
class Context:
    db_url: str
    viewer: Viewer
    scenario: ScenarioInfo


def set_context(context: Context) -> None:
    st.session_state[KEY] = context


def require_page(page: str) -> Context:
    """The session's context, if its viewer may open `page`; otherwise say so and stop.

    Pages call this first, so a page reached any other way than through the
    navigation built for the role still shows nothing it should not.
    """
    context = st.session_state.get(KEY)
    if not isinstance(context, Context):
        st.warning("Choose who you are first: open the dashboard's start page.")
        st.stop()
    if not access.may_open(context.viewer.role, page):
        st.error(f"The {context.viewer.role} role cannot open this page.")
        st.stop()
    return context
