"""The one cache policy for query results.

Streamlit's cache is shared by every session (DESIGN.md §8), so a result is
keyed by the viewer's *scope* (role, scenario, nationalities), never by the
user's name: twenty committee members share one set of queries, and no scope is
ever served another's figures. Results live for SITROOM_CACHE_TTL_S seconds,
which is also how often pages refresh themselves.
"""

from __future__ import annotations

import streamlit as st

from dashboard import config
from dashboard.access import Viewer

TTL_S = int(config.get("SITROOM_CACHE_TTL_S"))


def scoped(ttl: int | None = None):
    """Decorator: st.cache_data with the viewer hashed by its scope."""
    return st.cache_data(ttl=ttl or TTL_S, show_spinner=False,
                         hash_funcs={Viewer: Viewer.scope_key})
