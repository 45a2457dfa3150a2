"""Helpers to drive the app with Streamlit's AppTest.

With st.navigation, AppTest (Streamlit 1.67) keeps the entrypoint's elements
only on its first run, and `switch_page` runs the page file alone, without the
entrypoint. So app.py is tested on its first run (sign-in, database errors,
default page), and each page is tested as its own script with the session
context that app.py would have set. Pages draw their own head for this reason.
"""

from __future__ import annotations

import html

import pandas as pd
from streamlit.testing.v1 import AppTest

from components.session import KEY, Context
from dashboard.config import PROJECT_ROOT
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules.access import Viewer
from tests.conftest import opened

APP = str(PROJECT_ROOT / "app.py")


def open_page(db_url: str, page: str, role: str = "committee",
              nationalities: list[str] | None = None, scenario: int = 1,
              timeout: float = 120) -> AppTest:
    """Run the page `page` once as `role`, as app.py would after choosing the viewer."""
    info = next(s for s in list_scenarios(opened(db_url)) if s.id == scenario)
    viewer = Viewer(f"test-{role}", role, scenario, tuple(nationalities or ()))
    at = page_app(page, timeout)
    at.session_state[KEY] = Context(db_url=db_url, viewer=viewer, scenario=info)
    return at.run()


def page_app(page: str, timeout: float = 120) -> AppTest:
    """An AppTest of one page as app.py runs it: `pages/<page>.py`'s render()."""
    return AppTest.from_string(f"from pages.{page} import render\n\nrender()\n",
                               default_timeout=timeout)


def start(timeout: float = 120) -> AppTest:
    return AppTest.from_file(APP, default_timeout=timeout).run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(at: AppTest) -> str:
    """Everything written on the page, for assertions about messages."""
    parts = [e.value for kind in ("error", "warning", "info", "success", "caption",
                                  "markdown", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def walk(node):
    """A page's element tree, depth first in page order (AppTest's `_tree`)."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def shown_tables(at: AppTest) -> list[pd.DataFrame]:
    """Every table the page shows, in page order: a data grid's frame, and a static
    table's (components.tables.small_table) as the browser shows it, under its
    headings, with its cells' character references read as the browser reads them."""
    found = []
    for node in walk(at._tree):
        kind = getattr(node, "type", "")
        if kind in ("dataframe", "arrow_data_frame"):
            found.append(node.value)
        elif kind == "table":
            frame = node.value
            found.append(pd.DataFrame({html.unescape(str(c)): frame[c].map(
                lambda v: html.unescape(v) if isinstance(v, str) else v)
                for c in frame.columns}))
    return found
