"""Helpers to drive the app with Streamlit's AppTest.

With st.navigation, AppTest (Streamlit 1.67) keeps the entrypoint's elements
only on its first run, and `switch_page` runs the page file alone, without the
entrypoint. So app.py is tested on its first run (sign-in, database errors,
default page), and each page is tested as its own script with the session
context that app.py would have set. Pages draw their own head for this reason.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from html.parser import HTMLParser

import pandas as pd
from streamlit.testing.v1 import AppTest

from components import early
from components.session import KEY, Context
from dashboard.config import PROJECT_ROOT
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules.access import Viewer
from tests.conftest import opened

APP = str(PROJECT_ROOT / "app.py")


def open_page(db_url: str, page: str, role: str = "committee",
              nationalities: list[str] | None = None, scenario: int = 1,
              timeout: float = 120, sections_open: bool = True) -> AppTest:
    """Run the page `page` once as `role`, as app.py would after choosing the viewer;
    with `sections_open`, again with every section drawn only when opened
    (components.page.when_opened) open, as a reader who opens them all sees it."""
    info = next(s for s in list_scenarios(opened(db_url)) if s.id == scenario)
    viewer = Viewer(f"test-{role}", role, scenario, tuple(nationalities or ()))
    at = page_app(page, timeout)
    at.session_state[KEY] = Context(db_url=db_url, viewer=viewer, scenario=info)
    at.run()
    return open_sections(at) if sections_open else at


def open_sections(at: AppTest) -> AppTest:
    """Open the page's closed sections (components.page.when_opened), if any, and run
    it again, as its reader clicking each open."""
    closed = closed_sections(at)
    for key in closed:
        at.session_state[key] = True
    return at.run() if closed else at


def closed_sections(at: AppTest) -> list[str]:
    """The keys of the page's sections drawn only when opened, closed now: expanders
    that keep their state, whose id ends in their key ("$$ID-<hash>-<key>")."""
    keys = [node.proto.id.split("-", 2)[2] for node in walk(at._tree)
            if getattr(node, "type", "") == "expander" and node.proto.id]
    return [key for key in keys if not at.session_state[key]]


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
    kinds = ("error", "warning", "info", "success", "caption", "markdown", "title")
    parts = [e.value for kind in kinds for e in shown(at, kind)]
    return "\n".join(str(p) for p in parts)


def walk(node, out_of_sight: bool = False):
    """A page's element tree, depth first in page order (AppTest's `_tree`); what the
    sign-in form draws out of sight (components.early) only with `out_of_sight`."""
    if not out_of_sight and is_early(node):
        return
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child, out_of_sight)


def is_early(node) -> bool:
    """Whether `node` is the container the sign-in form draws out of sight, whose id
    ends in its key ("$$ID-<hash>-<key>")."""
    return str(getattr(getattr(node, "proto", None), "id", "")).endswith(f"-{early.KEY}")


def shown(at: AppTest, kind: str) -> list:
    """The page's elements of `kind` ("metric", "table"...) a reader can see, in page
    order: AppTest's own lists hold those drawn out of sight too."""
    return [node for node in walk(at._tree) if getattr(node, "type", "") == kind]


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


@dataclass
class Chart:
    """A chart a page drew: its key, what it shows as a Plotly-like spec ({"data":
    traces of x, y, name and text; "layout": {"title": {"text"}}}), and the element's
    own payload (Plotly's JSON, or the HTML of components.bars)."""
    key: str
    spec: dict
    payload: str
    html: bool


def drawn_charts(at: AppTest) -> list[Chart]:
    """Every chart on the page, in page order: Plotly's, and the bar charts drawn as
    HTML (components.bars), read back from their markup as a browser shows them."""
    found = []
    for node in walk(at._tree):
        kind = getattr(node, "type", "")
        if kind == "plotly_chart":
            found.append(Chart(node.proto.id, json.loads(node.proto.spec), node.proto.spec,
                               False))
        elif kind == "html" and 'class="sr-bars"' in node.proto.body:
            reader = _BarsReader()
            reader.feed(node.proto.body)
            found.append(Chart(reader.key, reader.spec(), node.proto.body, True))
    return found


class _BarsReader(HTMLParser):
    """components.bars' markup as a spec: labels, each series' values and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.key, self.title, self.labels, self.legend = "", "", [], []
        self.values: dict[int, dict[int, float]] = {}
        self.texts: dict[int, dict[int, str]] = {}
        self.beside: list[str] = []
        self._in: tuple[str, int] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        cls = a.get("class", "")
        if cls == "sr-bars":
            self.key = a.get("data-chart", "")
        elif cls == "sr-bars-title":
            self._in = ("title", 0)
        elif cls == "sr-bars-label":
            self.labels.append("")
            self._in = ("label", 0)
        elif cls == "sr-bars-segment":
            series = int(a["data-series"])
            self.values.setdefault(series, {})[len(self.labels) - 1] = float(a["data-value"])
            self._in = ("segment", series)
        elif cls == "sr-bars-value":
            self.beside.append("")
            self._in = ("beside", 0)
        elif cls == "sr-bars-legend":
            self._in = ("legend", 0)

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._in and self._in[0] != "legend":
            self._in = None

    def handle_data(self, data: str) -> None:
        if not self._in or not data.strip():
            return
        where, series = self._in
        if where == "title":
            self.title += data
        elif where == "label":
            self.labels[-1] += data
        elif where == "segment":
            self.texts.setdefault(series, {})[len(self.labels) - 1] = data
        elif where == "beside":
            self.beside[-1] += data
        elif where == "legend":
            self.legend.append(data)

    def spec(self) -> dict:
        count = max([len(self.legend), *(s + 1 for s in self.values), 1])
        traces = []
        for series in range(count):
            values = [self.values.get(series, {}).get(i) for i in range(len(self.labels))]
            texts = [self.texts.get(series, {}).get(i, "") for i in range(len(self.labels))]
            if count == 1:
                texts = [t or b for t, b in zip(texts, self.beside, strict=True)]
            traces.append({"type": "bar", "orientation": "h", "y": list(self.labels),
                           "x": values, "text": texts,
                           "name": self.legend[series] if series < len(self.legend) else ""})
        return {"data": traces, "layout": {"title": {"text": self.title}}}
