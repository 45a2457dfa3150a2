"""Database text is shown as text, never as markup (links, images, bold).

The shared database is written by other systems; a facility, an organisation or a
person can be named anything. Every text column a page shows is given HTML and
Markdown here, every page is run for every role, and nothing the browser would
render as markup may carry it:

- Markdown bodies (markdown, captions, alerts, titles, metric tiles, widget labels
  and help): Streamlit renders them as Markdown, some with HTML;
- Plotly figures: Plotly renders a subset of HTML (<a href>, <b>, <br>...) in tick
  labels, bar text, hover text and legends, and decodes &lt; &gt; &amp; to text;
- bar charts drawn as HTML (components.bars): the browser renders their markup, and
  no Markdown;
- pydeck tooltips: Streamlit 1.67 writes a "text" tooltip with innerText (and
  escapes the fields it puts into an "html" one itself), so the map keeps to
  "text" tooltips;
- data grids: cells are drawn as text on a canvas; no column may be a link or image
  column.

The payloads must also reach the page, escaped: otherwise the test proves nothing.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from components.charts import escape_markdown, escape_plotly
from dashboard.rules import access
from dashboard.store.db import sql
from tests.apptest import open_page, walk

LINK = '<a href="https://evil.example/x">x</a>'
BOLD = "<b>bold</b>"
IMAGE = '<img src="https://evil.example/i.png">'
MD_IMAGE = "![i](https://evil.example/i.png)"
MD_LINK = "[l](https://evil.example)"
HOSTILE = " ".join((LINK, BOLD, IMAGE, MD_IMAGE, MD_LINK))

# What a renderer of HTML or Markdown would turn into markup.
RAW_HTML = ("<a ", "<img", "<b>bold")
RAW_MARKDOWN = ("](http",)

# Every text column a page shows, table by table (vocabulary columns stay valid, or
# the rows would be left out as contract breaks and never drawn).
COLUMNS = {
    "facilities": ("name", "operator"),
    "areas": ("name",),
    "countries": ("name",),
    "persons": ("full_name", "ref", "phone", "family_id"),
    "referrals": ("from_org", "to_org"),
    "consular_posts": ("name", "hotline"),
    "hazards": ("kind",),
    "scenarios": ("name", "description"),
}
EXERCISE = 2


@pytest.fixture(scope="module")
def hostile_url(sqlite_url, tmp_path_factory) -> str:
    """A copy of the generated scenario with HOSTILE appended to every shown text
    column, and a drill run whose injects are named with it."""
    path = tmp_path_factory.mktemp("hostile") / "hostile.sqlite"
    source = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        for table, columns in COLUMNS.items():
            sets = ", ".join(f"{c} = COALESCE({c}, '') || ' ' || :m" for c in columns)
            conn.execute(text(f"UPDATE {table} SET {sets}"), {"m": HOSTILE})
        last = pd.Timestamp(conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
            {"s": EXERCISE}).scalar()).to_pydatetime()
        for seq, days in enumerate((5, 3, 1), start=1):
            at = last.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
            conn.execute(sql(
                "INSERT INTO drill_injects (scenario_id, run_id, seq, name, kind, offset_s, at, "
                "status, detail) VALUES (:s, :run, :seq, :name, 'arrivals', :off, :at, "
                "'applied', :detail)", {"at": at}),
                {"s": EXERCISE, "run": f"run {BOLD}", "seq": seq, "name": f"Inject {HOSTILE}",
                 "off": seq * 3600, "at": at, "detail": HOSTILE})
    engine.dispose()
    return url


def strings(value):
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


WIDGETS = {"selectbox", "multiselect", "select_slider", "slider", "text_input", "toggle",
           "button", "download_button", "date_input", "time_input", "checkbox", "radio"}
GRIDS = {"dataframe", "arrow_data_frame"}


def rendered(node) -> list[str]:
    """The text of a node that Streamlit renders as Markdown (or HTML)."""
    proto = getattr(node, "proto", None)
    if proto is None:
        return []
    if node.type in WIDGETS:  # options are plain text; label and help are Markdown
        return [getattr(proto, "label", ""), getattr(proto, "help", "")]
    return [str(proto)]  # markdown, captions, alerts, titles, metrics, pills' options


def check_page(at, where: str, seen: dict[str, int]) -> None:
    assert not at.exception, (where, at.exception)
    for node in walk(at._tree):
        kind = getattr(node, "type", "")
        if kind == "plotly_chart":
            spec = json.loads(node.proto.spec)
            for value in strings({"data": spec["data"], "layout": spec["layout"]}):
                assert not any(tag in value for tag in RAW_HTML), (where, value)
                if escape_plotly(BOLD) in value:
                    seen["chart"] += 1
        elif kind == "html" and 'class="sr-bars"' in node.proto.body:
            # a bar chart drawn as HTML (components.bars): the browser renders its markup
            body = node.proto.body
            assert not any(tag in body for tag in RAW_HTML), (where, body)
            seen["chart"] += html.escape(BOLD, quote=False) in body
        elif kind == "deck_gl_json_chart":
            tooltip = json.loads(node.proto.tooltip)
            # "text": Streamlit sets it with innerText, so the fields stay text
            assert "html" not in tooltip and tooltip["text"] == "{tip}", (where, tooltip)
            deck = json.loads(node.proto.json)
            tips = [row.get("tip", "") for layer in deck["layers"]
                    if isinstance(layer.get("data"), list) for row in layer["data"]
                    if isinstance(row, dict)]
            seen["tooltip"] += sum(isinstance(tip, str) and HOSTILE in tip for tip in tips)
        elif kind in GRIDS:
            columns = json.loads(node.proto.columns or "{}")
            types = {c.get("type_config", {}).get("type") for c in columns.values()}
            assert not types & {"link", "image"}, (where, columns)
            frame = node.value
            cells = {str(cell) for cell in frame.to_numpy().ravel()}
            seen["grid"] += any(BOLD in cell for cell in cells)
        else:
            for body in rendered(node):
                assert not any(tag in body for tag in RAW_HTML + RAW_MARKDOWN), (where, body)
                if escape_markdown(BOLD) in body:
                    seen["markdown"] += 1


CASES = [(role, 1) for role in access.ROLES] + [("coordinator", EXERCISE), ("consular", EXERCISE)]


@pytest.mark.parametrize(("role", "scenario"), CASES, ids=[f"{r}-{s}" for r, s in CASES])
def test_no_page_renders_database_text_as_markup(hostile_url, monkeypatch, role, scenario):
    monkeypatch.setenv("SITROOM_DB_URL", hostile_url)
    nats = ["ETH"] if role == "consular" else None
    seen = {"chart": 0, "tooltip": 0, "grid": 0, "markdown": 0}
    for page in access.pages_for(role):
        at = open_page(hostile_url, page, role, nats, scenario=scenario)
        check_page(at, f"{role} {page} scenario {scenario}", seen)
        if page == "my_nationals":  # a search with markup in it is shown back too
            at.text_input(key="nationals-search").input(BOLD).run()
            check_page(at, f"{role} {page} search", seen)
    # the payloads reached the pages, escaped: the charts name facilities, areas,
    # organisations, countries or injects; the map's tooltips name facilities
    if role != "admin":
        assert seen["chart"] and seen["grid"], seen
    if role in ("committee", "consular", "coordinator"):
        assert seen["tooltip"], seen
    if scenario == EXERCISE:  # the EXERCISE banner names the scenario
        assert seen["markdown"], seen


def test_the_escapes_keep_the_text():
    """Escaped text reads as the original once an HTML or Markdown renderer decodes it."""
    import html

    for value in (HOSTILE, "Saint-Joseph & Co. (north) *1* _a_ `b` #3 | 50% $5 ~x~ :red[x]",
                  "Line one\n\nLine two", "see https://evil.example, www.evil.example, a@evil.ex"):
        assert html.unescape(escape_plotly(value)) == value
        shown = html.unescape(escape_markdown(value)).replace("\u2060", "")  # word joiners
        assert shown == " ".join(value.split())
        assert "<" not in escape_plotly(value) and ">" not in escape_plotly(value)
        escaped = escape_markdown(value)
        bare = re.sub(r"&#?\w+;", "", escaped)  # the references left out
        assert not set(bare) & set("<>[]()!*_`#|$~:\\\n"), bare
        # no web or mail address a Markdown renderer would link once it decoded the text
        assert not re.search(r"https?://|www\.|\w@\w", html.unescape(escaped)), escaped
    assert escape_plotly(None) == "" and escape_plotly(12) == "12"
