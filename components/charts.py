"""Plotly figure builders with projector-readable defaults, and the one way a page
draws them (`show`).

Large fonts, few colours, the value written on every bar, and colours taken
from dashboard.figures.palette so a status or stage looks the same on every page.
Builders take small, already-aggregated (and already-suppressed) frames: a
value of None is not drawn, which is how a suppressed count stays off a chart.
"""

from __future__ import annotations

import math
import numbers
import re
import textwrap
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import bars, projector
from dashboard import language
from dashboard.contract.labels import BY_COLUMN, heading, word
from dashboard.language import _
from dashboard.rules import privacy

FONT_SIZE = 18
NEUTRAL = "#4d4d4d"
# Width of a digit or a Latin letter, as a share of the font size, a little over the
# widest of the sans-serif fonts Plotly falls back to: for room beside a bar (`_room`).
CHAR_WIDTH = 0.62


# Plotly's camera button would save a picture of a chart with no audit line and, for an
# exercise, no EXERCISE marking (docs/design.md §2.7, §2.8): exports are components.tables.export's.
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["toImage"]}


def show(figure: go.Figure, key: str) -> None:
    """Draw a figure built here: horizontal bars as HTML (components.bars), anything
    else by Plotly in its own colours and sizes, no picture to take; in projector mode,
    larger and in black."""
    if bars.drawable(figure):
        st.html(bars.html_of(figure, key, projector=projector.is_on()))
        return
    if projector.is_on():
        figure = larger(figure)
    st.plotly_chart(figure, key=key, theme=None, config=PLOTLY_CONFIG)


PROJECTOR_SCALE = 4 / 3  # 18 px type becomes 24 px, and the chart grows to hold it


def larger(figure: go.Figure, scale: float = PROJECTOR_SCALE) -> go.Figure:
    """A copy of `figure` with every font size and its height times `scale`, its text
    black: for projector mode (components/projector.py)."""
    def up(size: float | None, default: float = FONT_SIZE) -> int:
        return round((size or default) * scale)

    fig = go.Figure(figure)
    layout = fig.layout
    fig.update_layout(
        font={"size": up(layout.font.size), "color": "#000000"},
        title_font={"size": up(layout.title.font.size, FONT_SIZE + 4), "color": "#000000"},
        legend_font_size=up(layout.legend.font.size, FONT_SIZE - 2),
        uniformtext_minsize=up(layout.uniformtext.minsize, FONT_SIZE - 4),
        # the room for bar text (_room) and for labels (_fitted) grows with them
        margin={side: up(getattr(layout.margin, side), default)
                for side, default in (("r", 30), ("l", 10), ("b", 10))},
        **({"height": round(layout.height * scale)} if layout.height else {}))
    for axes in (fig.for_each_xaxis, fig.for_each_yaxis):
        axes(lambda axis: axis.update(tickfont={"size": up(axis.tickfont.size),
                                                "color": "#000000"},
                                      title_font_size=up(axis.title.font.size)))
    fig.for_each_trace(lambda trace: trace.update(textfont_size=up(trace.textfont.size))
                       if "textfont" in trace else None)
    return fig


# --- database text on screen ---------------------------------------------------------------
# The shared database is written by other systems: a facility or an organisation can be
# named `<a href="https://...">` or `![x](https://...)`. Every renderer the dashboard hands
# text to that knows markup gets it through one of these two escapes.

_PLOTLY = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Markdown and HTML punctuation as numeric character references: CommonMark decodes a
# reference to its character but never reads it as syntax, and so does a browser in
# an HTML block. A word joiner (U+2060, invisible) after each ':' and '@' and inside
# 'www.' keeps GitHub-flavoured Markdown from turning a web or mail address in the
# decoded text into a link.
_MARKDOWN = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'[]()!*_`#|$~\\"}
                          | {":": "&#58;&#8288;", "@": "&#64;&#8288;"})
_WWW = re.compile(r"(www)(?=\.)", re.IGNORECASE)


def escape_plotly(value: object) -> str:
    """`value` as text that Plotly shows as it is: Plotly reads a subset of HTML (links,
    bold, line breaks) in tick labels, bar text, hover text and legends, and decodes
    &lt; &gt; &amp; back to the characters."""
    return "" if value is None else str(value).translate(_PLOTLY)


def escape_markdown(value: object) -> str:
    """`value` as text that st.markdown (with or without HTML), captions, alerts and
    labels show as it is: no link, image, emphasis, code, colour or formula, and on
    one line, so that it can neither end an HTML block nor start a Markdown one."""
    if value is None:
        return ""
    return _WWW.sub(r"\1&#8288;", " ".join(str(value).split()).translate(_MARKDOWN))


def _pretty(name: object, words: Mapping[str, str] | None = None) -> str:
    """A code or column as a reader reads it: its label (`words`, a vocabulary's, or
    the one it has in every vocabulary), else the name in words."""
    said = word(name, dict(words) if words is not None else None)
    return said if said != str(name) else heading(str(name))


def _merge(base: dict, over: dict) -> dict:
    """`base` with `over` on top, nested dictionaries merged key by key."""
    out = dict(base)
    for key, value in over.items():
        inner = out.get(key)
        out[key] = _merge(inner, value) if isinstance(value, dict) and isinstance(inner, dict) \
            else value
    return out


def _top(title: str) -> int:
    """The margin above a chart: room for its title."""
    return 60 if title else 20


def _figure(traces: Sequence, title: str, height: int, show_legend: bool = True,
            **layout) -> go.Figure:
    """The figure with the projector defaults, `layout` on top of them. Built in one
    go: each update_* call on a built figure re-validates it, ~8 ms a chart. Titles,
    axis titles and series labels come from the caller in the reader's language."""
    # explicit sizes: Streamlit's chart theme would otherwise shrink the tick labels
    axis = {"gridcolor": "#e5e5e5", "automargin": True, "tickfont": {"size": FONT_SIZE},
            "title": {"font": {"size": FONT_SIZE}}}
    defaults = {
        # bold by its font, not <b>: the title is the caller's words alone (translated)
        "title": {"text": escape_plotly(title) if title else "",
                  "font": {"size": FONT_SIZE + 4, "weight": "bold"},
                  "x": 0, "xanchor": "left"},
        "font": {"size": FONT_SIZE},
        "height": height,
        "margin": {"l": 10, "r": 30, "t": _top(title), "b": 10},
        "showlegend": show_legend,
        # the legend under the plot: above it, it runs into the title
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0,
                   "font": {"size": FONT_SIZE - 2}, "traceorder": "normal"},
        "plot_bgcolor": "white",
        "uniformtext": {"minsize": FONT_SIZE - 4, "mode": "hide"},
        "xaxis": axis, "yaxis": axis,
        "separators": language.separators(),  # numbers on bars and axes as on the page
    }
    if language.right_to_left():
        # Read from the right: title and legend start there. The plot keeps its axes
        # (Plotly clips category labels moved to the right), so its numbers read as
        # everywhere else. Set here, in the one build: a copy updated later costs ~8 ms.
        defaults["title"].update(x=1, xanchor="right")
        defaults["legend"].update(x=1, xanchor="right")
    return go.Figure(data=list(traces), layout=_merge(defaults, layout))


# a category axis read from the top down
CATEGORIES_DOWN = {"autorange": "reversed", "type": "category", "ticksuffix": "  "}


def _said(value: float, text_format: str) -> str:
    """A bar's own number in the reader's convention, with the decimals `text_format`
    (Python's, such as ",.0f" or ".1f") asks for."""
    digits = re.search(r"\.(\d+)f", text_format)
    return language.number(value, int(digits[1]) if digits else 0)


def _texts(values) -> list[str]:
    """Category labels, bar text or hover text for Plotly: the database's words as text."""
    return [escape_plotly(v) for v in values]


WRAP_CHARS = 16  # a category label longer than this takes two lines or more


def _categories(values) -> list[str]:
    """Category labels for the axis of a horizontal bar chart: the words of a long
    one on lines of about WRAP_CHARS, so that a chart in a third of the page keeps
    room for its bars ("Asylum and protection" on one line left them 20 pixels)."""
    # each line but the last ends in the space the axis's ticksuffix gives the last
    return ["  <br>".join(escape_plotly(line) for line in
                        textwrap.wrap(str(v), WRAP_CHARS, break_long_words=False) or [""])
            for v in values]


LINE_PX = 22  # a line of FONT_SIZE type


def _row_px(labels: Sequence[str], single: int) -> int:
    """Height of a row of a horizontal bar chart: `single`, or more for labels on
    several lines (`_categories`), so that they do not run into each other."""
    lines = max((label.count("<br>") + 1 for label in labels), default=1)
    return max(single, LINE_PX * lines + 6)


def _room(texts: Sequence[str]) -> int:
    """Pixels right of the plot for the longest of `texts` written beside its bar:
    Plotly lays out tick labels, never bar text, and cuts off what crosses the chart's
    edge ("347,31" for 347,315 in a third of the page)."""
    return max(30, round(CHAR_WIDTH * FONT_SIZE * max(map(len, texts), default=0)) + 16)


LABEL_EM = 0.5  # a category label's characters, in font sizes: a little over Plotly's measure
LEGEND_PX = 44  # a one-line legend of FONT_SIZE - 2 type, its padding included


def _fitted(labels: Sequence[str], height: int, title: str, legend: bool) -> dict[str, int]:
    """Left and bottom margins of a horizontal bar chart that hold its category
    `labels` (lines of `_categories`), its x tick labels and its legend under the plot,
    a little over what Plotly measures: where the margins it starts with are too small,
    Plotly grows them and draws the whole chart a second time (~40 ms a chart in the
    browser). A label wider than estimated still fits, at that cost."""
    widest = max((len(line) + (0 if line.endswith("  ") else 2)  # the ticksuffix
                  for label in labels for line in label.split("<br>")), default=0)
    left = round(LABEL_EM * FONT_SIZE * widest) + 16
    bottom = 36
    if legend:  # its top at y = -0.12 of the plot's height, and the plot is what is left
        bottom = math.ceil((0.12 * (height - _top(title)) + LEGEND_PX) / 1.12) + 2
    return {"l": left, "b": bottom}


def _values(series: pd.Series) -> list:
    """Numbers for plotly; None, NaN or "<5" (a suppressed value) is left undrawn."""
    return [privacy.shown_number(v) for v in series]


def stacked_bars(frame: pd.DataFrame, category: str, series: Sequence[str],
                 colours: Mapping[str, str], title: str = "",
                 labels: Mapping[str, str] | None = None, text_format: str = ",.0f",
                 words: Mapping[str, str] | None = None) -> go.Figure:
    """One horizontal bar per row of `frame[category]`, stacked from the `series`
    columns, each series in its palette colour with its value written on it (where the
    segment is wide enough to hold it). Categories that are codes are shown by their
    labels (`words`: their vocabulary's); series by `labels` or theirs. Drawn as HTML
    (components.bars)."""
    labels = labels or {}
    words = words if words is not None else BY_COLUMN.get(category)
    cats = _categories(word(c, dict(words) if words is not None else None)
                       for c in frame[category])
    traces = []
    for name in series:
        values = _values(frame[name])
        # every number: components.bars leaves off those too narrow to hold theirs
        text = ["" if v is None else _said(v, text_format) for v in values]
        traces.append(go.Bar(name=escape_plotly(labels.get(name, _pretty(name))),
                             y=cats, x=values, orientation="h",
                             marker_color=colours.get(name, NEUTRAL), text=text,
                             textposition="inside", textfont={"size": FONT_SIZE},
                             hovertemplate="%{y}: %{x:,}<extra>%{fullData.name}</extra>"))
    legend = len(series) > 1
    height = max(260, 110 + _row_px(cats, 42) * len(cats)) + (90 if legend else 0)
    return _figure(traces, title, height, show_legend=legend, barmode="stack",
                   yaxis=CATEGORIES_DOWN)


def share_bars(frame: pd.DataFrame, category: str, share: str, colour: str,
               title: str = "", text: str | None = None) -> go.Figure:
    """Horizontal bars of a percentage (0–100) per row, each in the colour named by
    the row's `colour` column, labelled with `text` (or the percentage). Drawn as HTML
    (components.bars), against the whole: the axis ends at 100%."""
    cats = _categories(frame[category])
    values = _values(frame[share])
    labels = (_texts(frame[text]) if text else
              ["" if v is None else f"{v:.0f}%" for v in values])
    bar = go.Bar(y=cats, x=values, orientation="h", marker_color=list(frame[colour]),
                 text=labels, textposition="outside", textfont={"size": FONT_SIZE},
                 hovertemplate="%{y}: %{x:.0f}%<extra></extra>")
    return _figure([bar], title, max(260, 110 + _row_px(cats, 42) * len(cats)),
                   show_legend=False, yaxis=CATEGORIES_DOWN,
                   xaxis={"range": [0, 100], "ticksuffix": "%"})


def funnel(labels: Sequence[str], values: Sequence[int | None], colours: Sequence[str],
           title: str = "") -> go.Figure:
    """A funnel, one level per stage, in the stages' palette colours."""
    stages = go.Funnel(
        y=_texts(_pretty(x) for x in labels), x=[None if v is None else float(v) for v in values],
        # the whole count, not Plotly's "256.675k", in the reader's separators
        marker={"color": list(colours)}, texttemplate="%{value:,.0f}<br>%{percentInitial:.0%}",
        textfont={"size": FONT_SIZE}, connector={"line": {"color": "#cccccc"}})
    return _figure([stages], title, max(300, 80 + 52 * len(labels)), show_legend=False)


def time_chart(frame: pd.DataFrame, x: str, bars: Mapping[str, tuple[str, str]] | None = None,
               lines: Mapping[str, tuple[str, str]] | None = None, title: str = "",
               y_title: str = "") -> go.Figure:
    """Daily bars (`column -> (label, colour)`) and lines over `frame[x]`. Bars and
    lines share one axis: they count the same things."""
    traces = []
    # short day labels ("26 Oct") stay readable when a month of days shares one axis
    days = pd.to_datetime(frame[x], errors="coerce", format="%Y-%m-%d")
    xs = ([language.short_day(d) for d in days] if len(days) and days.notna().all()
          else _texts(frame[x]))
    for col, (label, colour) in (bars or {}).items():
        traces.append(go.Bar(x=xs, y=_values(frame[col]), name=escape_plotly(label),
                             marker_color=colour))
    for col, (label, colour) in (lines or {}).items():
        traces.append(go.Scatter(x=xs, y=_values(frame[col]), name=escape_plotly(label),
                                 mode="lines+markers",
                                 line={"color": colour, "width": 4},
                                 connectgaps=True))  # a gap is a point held back for privacy
    return _figure(traces, title, 460, barmode="group", legend={"y": -0.15},
                   yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
                   xaxis={"type": "category", "nticks": 8, "tickangle": 0})


def number(value) -> str:
    """A figure for a tile: thousands separated in the reader's convention, or as given
    ("<5")."""
    if isinstance(value, numbers.Integral):
        return language.number(int(value))
    return str(value)


def _day_and_time(between: str) -> str:
    """A time axis's moments in Plotly's own formatting (d3), which knows only English
    month names: "22 Nov" in English, the day before the month in figures in every
    other language ("22/11"), as their conventions write a short date."""
    if language.locale().language == "en":
        return f"%d %b{between}%H:%M"
    return f"%d/%m{between}%H:%M"


def category_bars(frame: pd.DataFrame, category: str, value: str,
                  colours: Mapping[str, str], title: str = "",
                  words: Mapping[str, str] | None = None) -> go.Figure:
    """One horizontal bar per row, each in its category's palette colour, with its
    value written beside it; a suppressed value shows its "<5" and no bar. Drawn as
    HTML (components.bars)."""
    cats = [str(c) for c in frame[category]]
    words = words if words is not None else BY_COLUMN.get(category)
    values = _values(frame[value])
    labels = _texts("" if v is None and str(raw) in ("", "None", "nan") else
                    (str(raw) if v is None else language.number(v))
                    for v, raw in zip(values, frame[value], strict=True))
    names = _categories(_pretty(c, words) for c in cats)
    bar = go.Bar(
        y=names, x=[v or 0 for v in values], orientation="h",
        marker_color=[colours.get(c, NEUTRAL) for c in cats], text=labels,
        textposition="outside", textfont={"size": FONT_SIZE},
        hovertemplate="%{y}: %{text}<extra></extra>")
    return _figure([bar], title, max(260, 90 + _row_px(names, 40) * len(cats)),
                   show_legend=False, yaxis=CATEGORIES_DOWN, xaxis={"showticklabels": False})


def grouped_bars(frame: pd.DataFrame, category: str, series: Sequence[str],
                 colours: Mapping[str, str], title: str = "",
                 labels: Mapping[str, str] | None = None, text_format: str = ",.0f") -> go.Figure:
    """Horizontal bars side by side (not stacked), one group per row of
    `frame[category]`, each series in its colour with its value written beside it.
    For figures that do not add up, such as a median and a 90th percentile."""
    labels = labels or {}
    words = BY_COLUMN.get(category)
    cats = _categories(word(c, words) for c in frame[category])
    traces, texts = [], []
    for name in series:
        values = _values(frame[name])
        text = ["" if v is None else f"{v:{text_format}}" for v in values]
        texts += text
        traces.append(go.Bar(
            name=escape_plotly(labels.get(name, _pretty(name))), y=cats, x=values, orientation="h",
            marker_color=colours.get(name, NEUTRAL), textposition="outside", cliponaxis=False,
            text=text,
            textfont={"size": FONT_SIZE}, hovertemplate="%{y}: %{x:,}<extra>%{fullData.name}"
                                                        "</extra>"))
    height = max(300, 110 + _row_px(cats, 30 * len(series)) * len(cats)) + 90
    return _figure(traces, title, height, barmode="group",
                   margin={"r": _room(texts)} | _fitted(cats, height, title, True),
                   yaxis=CATEGORIES_DOWN)


def _vline(at: object, line: dict) -> dict:
    """A vertical line across the plot at `at`, as fig.add_vline draws it."""
    return {"type": "line", "x0": at, "x1": at, "xref": "x", "y0": 0, "y1": 1,
            "yref": "y domain", "line": line}


def timeline(frame: pd.DataFrame, x: str, lines: Mapping[str, tuple[str, str]],
             marks: pd.DataFrame | None = None, now: object | None = None, title: str = "",
             y_title: str = "", x_range: Sequence | None = None) -> go.Figure:
    """Lines over time (`column -> (label, colour)`, None left as a gap that the line
    bridges) with event marks: a dotted vertical line and a numbered marker on top
    for each row of `marks` (columns at, label, hover, colour), and a solid line at
    `now`, the moment a replay has reached. `x_range` fixes the time axis (a replay
    fills the whole window in rather than stretching what it has so far)."""
    traces = [go.Scatter(x=frame[x], y=_values(frame[col]), name=escape_plotly(label),
                         mode="lines", line={"color": colour, "width": 4}, connectgaps=True)
              for col, (label, colour) in lines.items()]
    # Vertical lines as one list of shapes: fig.add_vline re-validates every shape
    # drawn before it, 0.45 s for a drill of 26 injects.
    shapes, layout = [], {}
    if marks is not None and len(marks):
        shapes += [_vline(at, {"color": colour, "width": 1.5, "dash": "dot"})
                   for at, colour in zip(marks["at"], marks["colour"], strict=True)]
        traces.append(go.Scatter(
            x=marks["at"], y=[1.0] * len(marks), yaxis="y2", mode="markers+text",
            name=escape_plotly(_("Injects")), text=_texts(marks["label"]),
            textposition="top center",
            textfont={"size": FONT_SIZE - 2}, hovertext=_texts(marks["hover"]),
            hoverinfo="text", marker={"symbol": "triangle-down", "size": 16,
                                      "color": list(marks["colour"])}))
        layout["yaxis2"] = {"overlaying": "y", "range": [0, 1.15], "visible": False}
    if now is not None:
        shapes.append(_vline(now, {"color": NEUTRAL, "width": 3}))
    if x_range is not None:  # a little room so that the first and last marks keep their labels
        lo, hi = (pd.Timestamp(v) for v in x_range)
        pad = max(hi - lo, pd.Timedelta(hours=1)) * 0.03
        x_range = [lo - pad, hi + pad]
    yaxis = {"title": {"text": y_title}, "rangemode": "tozero"}
    top = max([v for col in lines for v in _values(frame[col]) if v is not None] or [0])
    if top < 5:  # whole counts: no 0.2 steps on an empty start
        yaxis |= {"range": [0, 5], "dtick": 1}
    return _figure(traces, title, 500, shapes=shapes, yaxis=yaxis,
                   xaxis={"tickformat": _day_and_time("\n"), "hoverformat": _day_and_time(" "),
                          "nticks": 10, "range": x_range},
                   legend={"y": -0.2}, margin={"b": 40}, **layout)
