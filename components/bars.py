"""Horizontal bar charts drawn as HTML rather than by Plotly.

A chart of a few labelled bars, each with its number, needs nothing Plotly does. In a
browser without a graphics card, Plotly built about 1,500 SVG nodes for such a chart
and drew it twice on every visit (Streamlit 1.67's chart element draws a themed copy
once mounted): the liaison's Map, with two of them, settled 0.10-0.14 s later for
them. Here a chart is one HTML element of a few dozen boxes, sized by CSS, with the
same words, numbers and colours.

The builders in components.charts still make the figure, the one description of a
chart (its rows, series, colours and words, Plotly-escaped); `charts.show` hands a
figure of horizontal bars, single or stacked, here (`drawable`). Every text is
written escaped: a facility can be named `<a href=...>` (docs/design.md §2)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard import language

# px: as the Plotly charts' type (charts.FONT_SIZE), and 4/3 of it on a projector
FONT_PX, PROJECTOR_FONT_PX = 18, 24
BAR_PX = 28  # the height of a bar; its row grows with a label on several lines
TRACK = "#f0f0f0"  # behind the bars: how long the longest bar could be
INSIDE_MIN = 0.05  # of the axis: narrower segments keep their number to their title
NEUTRAL = "#4d4d4d"  # a bar given no colour, as charts.NEUTRAL
_HEX = re.compile(r"#([0-9a-fA-F]{6})")
_CSS = (
    ".sr-bars {{font-size: {font}px; line-height: 1.25; margin: 0 0 0.75rem 0; color: {ink};}}"
    ".sr-bars-title {{font-weight: 700; font-size: 1.2em; margin: 0 0 0.5em 0;}}"
    ".sr-bars-rows {{display: grid; grid-template-columns: minmax(4em, max-content) 1fr "
    "max-content; gap: 0.35em 0.6em; align-items: center;}}"
    ".sr-bars-label {{text-align: end; max-width: 14em; overflow-wrap: anywhere;}}"
    ".sr-bars-track {{display: flex; min-height: {bar}px; background: " + TRACK + ";}}"
    # A number wider than its segment is not cut but left off (as Plotly's uniformtext
    # "hide"): after an empty first item, it wraps onto a second line, out of sight.
    ".sr-bars-segment {{display: flex; flex-wrap: wrap; justify-content: center; "
    "overflow: hidden; height: {bar}px; line-height: {bar}px; font-size: 0.9em;}}"
    ".sr-bars-segment::before {{content: ''; height: {bar}px;}}"
    ".sr-bars-segment > span {{white-space: nowrap; padding: 0 0.2em;}}"
    ".sr-bars-value {{font-variant-numeric: tabular-nums; white-space: nowrap;}}"
    ".sr-bars-legend {{display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; margin-top: 0.6em; "
    "font-size: 0.9em;}}"
    ".sr-bars-swatch {{display: inline-block; width: 0.9em; height: 0.9em; "
    "margin-inline-end: 0.35em; vertical-align: -0.1em;}}")


def drawable(figure: go.Figure) -> bool:
    """Whether `figure` is horizontal bars, one series or stacked: what `html` draws.
    Bars side by side (barmode "group"), vertical bars and lines stay Plotly's."""
    traces = figure.data
    return (bool(traces) and all(isinstance(t, go.Bar) and t.orientation == "h"
                                 for t in traces)
            and (len(traces) == 1 or figure.layout.barmode == "stack"))


def html_of(figure: go.Figure, key: str, projector: bool = False) -> str:
    """The chart of `figure` (see `drawable`) as one HTML element, marked with `key`."""
    traces = list(figure.data)
    layout = figure.layout
    categories = [_plain(c) for c in traces[0].y or ()]
    values = [[_number(v) for v in (t.x or ())] for t in traces]
    totals = [sum(v[i] or 0 for v in values) for i in range(len(categories))]
    # the figure's own axis (a share's ends at 100%), else the longest bar
    axis = layout.xaxis.range[1] if layout.xaxis.range else max(totals, default=0)
    inside = traces[0].textposition == "inside"
    names = [_plain(t.name) for t in traces]
    rows = []
    for i, category in enumerate(categories):
        segments, said = [], []
        for j, (trace, series, name) in enumerate(zip(traces, values, names, strict=True)):
            value = series[i] if i < len(series) else None
            text = _plain(_at(trace.text, i))
            said.append(text)
            if not value or value <= 0 or not axis:
                continue
            colour = str(_at(trace.marker.color, i) or NEUTRAL)
            share = min(value / axis, 1.0)
            title = f"{category}: {text or language.number(value)}" + (
                f" ({name})" if len(traces) > 1 and name else "")
            written = text if inside and share >= INSIDE_MIN else ""
            segments.append(
                f'<div class="sr-bars-segment" style="width: {share * 100:.2f}%; '
                f'background: {_attr(colour)}; color: {_ink(colour)};" '
                f'title="{_attr(title)}" data-series="{j}" data-value="{value:g}">'
                + (f'<span>{_text(written)}</span>' if written else "") + '</div>')
        beside = "" if inside else " ".join(t for t in said if t)
        rows.append(f'<div class="sr-bars-label">{_text(category)}</div>'
                    f'<div class="sr-bars-track">{"".join(segments)}</div>'
                    f'<div class="sr-bars-value">{_text(beside)}</div>')
    legend = ""
    if layout.showlegend and len(traces) > 1:
        legend = '<div class="sr-bars-legend">' + "".join(
            f'<span><span class="sr-bars-swatch" style="background: '
            f'{_attr(str(_at(t.marker.color, 0) or NEUTRAL))};"></span>{_text(name)}</span>'
            for t, name in zip(traces, names, strict=True)) + "</div>"
    title = _plain(layout.title.text)
    css = _CSS.format(font=PROJECTOR_FONT_PX if projector else FONT_PX,
                      ink="#000000" if projector else "inherit", bar=BAR_PX)
    direction = ' dir="rtl"' if language.right_to_left() else ""
    return (f"<style>{css}</style>"
            f'<div class="sr-bars" data-chart="{_attr(key)}"{direction}>'
            + (f'<div class="sr-bars-title">{_text(title)}</div>' if title else "")
            + f'<div class="sr-bars-rows">{"".join(rows)}</div>{legend}</div>')


def _plain(value: object) -> str:
    """A builder's Plotly text as plain text: its line breaks (charts._categories) as
    spaces, the characters Plotly's escape stood for back (charts.escape_plotly)."""
    if value is None:
        return ""
    return html.unescape(re.sub(r"\s*<br>\s*", " ", str(value))).strip()


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _at(values: object, i: int) -> object:
    """The i-th of a trace's per-bar property, or the property given once for all."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        return values
    return values[i] if i < len(values) else None


def _number(value: object) -> float | None:
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _ink(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (#rrggbb; white otherwise)."""
    found = _HEX.fullmatch(colour.strip())
    if not found:
        return "#ffffff"
    red, green, blue = (int(found[1][i:i + 2], 16) / 255 for i in (0, 2, 4))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.6 else "#ffffff"
