"""The words a page shows, read in the pseudo-language (dashboard.language.PSEUDO), where
every translated string is wrapped in markers: what is left outside them, and is not
a data value, is a string no catalog can translate."""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

from dashboard.language import PSEUDO_CLOSE, PSEUDO_OPEN
from tests.apptest import drawn_charts

_MARKED = re.compile(re.escape(PSEUDO_OPEN) + "[^" + re.escape(PSEUDO_OPEN + PSEUDO_CLOSE)
                     + "]*" + re.escape(PSEUDO_CLOSE))
# What may stand outside the markers: values of the data and of the reader's convention,
# not words of the product. Codes (ETH, LB1101, LBN-SH-003), figures, UTC, months.
_DATA = re.compile(
    r"^(?:[A-Z]{2,4}|[A-Z]{2}\d+|[A-Z0-9]+(?:-[A-Z0-9]+)+|UTC|[A-Z][a-z]{2}|h|km|s"
    r"|Situation|Room|"  # the product's name
    r"[a-z]+\.[a-z]+)$")  # a file name's suffix
_WORD = re.compile(r"[^\W\d_]+")


def leftover(text: str) -> list[str]:
    """The words of `text` outside the markers that are not data values."""
    previous = None
    while previous != text:  # a marked sentence may hold marked words
        previous, text = text, _MARKED.sub(" ", text)
    text = re.sub(r":material/[a-z_]+:", " ", text)  # icons
    text = re.sub(r"<[^<>]*>", " ", text)  # markup (the map's legend)
    text = re.sub(r"https?://\S+|`[^`]*`", " ", text)  # addresses, code
    return [w for w in _WORD.findall(text) if not _DATA.match(w)]


def _widget_texts(at: AppTest) -> list[tuple[str, str]]:
    found = []
    kinds = ("button", "selectbox", "multiselect", "toggle", "checkbox", "radio",
             "text_input", "number_input", "slider", "select_slider", "date_input",
             "time_input", "text_area", "tabs", "expander", "download_button")
    for kind in kinds:
        try:
            elements = getattr(at, kind) if hasattr(at, kind) else at.get(kind)
        except (AttributeError, KeyError):
            continue
        for element in elements:
            for field in ("label", "help", "placeholder"):
                value = getattr(element, field, None)
                if not value:
                    value = getattr(getattr(element, "proto", None), field, None)
                if isinstance(value, str) and value:
                    found.append((f"{kind}.{field}", value))
    return found


def _chart_texts(at: AppTest) -> list[tuple[str, str]]:
    found = []
    for chart in drawn_charts(at):
        layout = chart.spec.get("layout", {})
        for key, value in layout.items():
            if key.startswith(("xaxis", "yaxis", "legend")) or key == "title":
                title = (value or {}).get("title") if isinstance(value, dict) else None
                text = title.get("text") if isinstance(title, dict) else title
                if key == "title":
                    text = value.get("text") if isinstance(value, dict) else value
                if isinstance(text, str):
                    found.append((f"chart.{key}", text))
        for annotation in layout.get("annotations", []):
            if isinstance(annotation.get("text"), str):
                found.append(("chart.annotation", annotation["text"]))
    return found


def page_texts(at: AppTest) -> list[tuple[str, str]]:
    """(where, text) of every word the page draws, but a table's cells and a chart's
    categories (the data)."""
    found = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning",
                 "info", "success"):
        for element in getattr(at, kind):
            found.append((kind, str(element.value)))
    for metric in at.metric:
        found.append(("metric.label", metric.label))
        if getattr(metric.proto, "help", ""):
            found.append(("metric.help", metric.proto.help))
    for frame in at.dataframe:
        config = json.loads(frame.proto.columns or "{}")
        shown = list(frame.proto.column_order) or [str(c) for c in frame.value.columns]
        for column in shown:
            setting = config.get(column) or {}
            if not setting.get("hidden"):
                found.append(("table heading", str(setting.get("label") or column)))
    for table in at.table:
        found += [("table heading", str(c)) for c in table.value.columns]
    return found + _widget_texts(at) + _chart_texts(at)


def untranslated(at: AppTest) -> list[tuple[str, str, list[str]]]:
    """(where, text, words left outside the markers) for each text with any."""
    return [(where, text, words) for where, text in page_texts(at)
            if (words := leftover(text))]
