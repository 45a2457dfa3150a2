"""Process-wide resources: one read-only engine per database URL, and the
embedded demo database built on first start.

Streamlit's caches are shared by every session (DESIGN.md §8), which is what
we want for an engine; query results are cached separately, keyed by viewer.
"""

from __future__ import annotations

import threading

import streamlit as st
from sqlalchemy import Engine

from dashboard import config, db

_build_lock = threading.Lock()


def ensure_demo_database(url: str) -> None:
    """Build the demo database if the default URL points at a file not yet built.

    Built into a temporary file and renamed, so a second session never opens a
    half-built database.
    """
    path = db.sqlite_path(url)
    if not config.is_demo_url(url) or path is None or path.exists():
        return
    from dashboard.generate import generate  # the generator is only needed here

    with _build_lock:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        generate(f"sqlite:///{partial}", persons=int(config.get("SITROOM_DEMO_PERSONS")), seed=1)
        partial.rename(path)


@st.cache_resource(show_spinner="Opening the database…")
def engine(url: str) -> Engine:
    """The read-only engine for `url`. Failures raise and are not cached, so the
    next rerun tries again once the database is back."""
    ensure_demo_database(url)
    return db.readonly_engine(url)
