"""The situation report as a PDF: typeset, audited, returned as bytes.

Typeset with ReportLab, a pure-Python library with no system dependency, so that a
fresh `pip install` makes reports with no browser, font or typesetting program on the
machine; its charts and map are its own vector drawings (reportlab.graphics), never a
screenshot. The font is Bitstream Vera, which ReportLab ships, so "≥", "—" and
accented names print the same everywhere; a text with letters Vera lacks (Arabic, a
French number's narrow space) is set in DejaVu Sans, Vera's extension with the same
Latin letters, shipped in dashboard/figures/fonts.

The report is in the reader's language (dashboard.language): its figures come from the
pages' cached functions, in English, and every word is translated here, as it is
typeset. In Arabic the whole report is set in DejaVu Sans, its letters joined by
HarfBuzz (uharfbuzz), the words of each line in the order the Unicode bidirectional
algorithm sees them (python-bidi), and its tables, charts and page marks laid out from
the right; the map is a map and is not mirrored. Such lines are set by this module
(_SeenText, _seen): ReportLab's Paragraph joins Arabic letters but leaves a line's
words in the order they are written.

What is printed is dashboard.figures.report's SituationReport and nothing else: the
figures as the viewer is shown them on screen (docs/design.md §2.4). Text from the
database (facility, district and country names) is escaped before it reaches
ReportLab's paragraph markup (a right-to-left line never does), so a name written as
markup prints as written. An
exercise carries EXERCISE in a red band and across every page (§2.7). `write_report`
records every report in the audit log before returning it (§2.8): a report whose line
cannot be written is not handed out.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from pathlib import Path
from unicodedata import bidirectional
from xml.sax.saxutils import escape

import pandas as pd

try:  # the Unicode bidirectional algorithm, in pure Python: the order a line's words are seen
    from bidi import algorithm as bidi_algorithm
except ImportError:  # an install without it: Arabic lines are simply read from the right
    bidi_algorithm = None

# ReportLab: pure Python, pip-installable, no system libraries (see the docstring).
from reportlab.graphics.shapes import Circle, Drawing, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import ShapedStr, TTFont, shapeStr
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dashboard import language
from dashboard.contract import labels, vocab
from dashboard.figures import demography, geo, palette, shelters
from dashboard.figures.report import SituationReport, situation_report
from dashboard.figures.scenarios import ScenarioInfo
from dashboard.language import N_, _, ngettext
from dashboard.rules import access, audit, privacy
from dashboard.rules.access import Viewer
from dashboard.store.db import Database

AUDIT_ACTION = "report"
PAGE_W, PAGE_H = A4
MARGIN = 14 * mm
BODY_W = PAGE_W - 2 * MARGIN
EXERCISE_RED = "#b00020"
INK, MUTED, RULE = "#1f1f1f", "#5f5f5f", "#c8c8c8"
SEA, LAND, BORDER, DISTRICT = "#d4e3ee", "#f4f2ec", "#9c978c", "#8a8a8a"
ROUNDING = N_("Counts of people, referrals and cases are rounded to a multiple of 5 so that "
              "no one can be singled out, and the same people always give the same figure; "
              "parts may not add up to their totals. \"<5\" means 1 to 4; — marks a change "
              "withheld beside one.")

# --- fonts, faces and styles --------------------------------------------------------------

_fonts_lock = threading.Lock()
FONT, BOLD, ITALIC = "SitRoomVera", "SitRoomVera-Bold", "SitRoomVera-Italic"
# DejaVu Sans (Bitstream Vera's licence, fonts/LICENSE): Vera's Latin letters and Arabic.
WIDE, WIDE_BOLD = "SitRoomDejaVu", "SitRoomDejaVu-Bold"
FONT_DIR = Path(__file__).resolve().parent / "fonts"
_vera_has: frozenset[int] = frozenset()  # the characters all three Vera fonts have


def _register_fonts() -> None:
    global _vera_has
    with _fonts_lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        # Found on ReportLab's own font path (reportlab/fonts): shipped with the package.
        fonts = [TTFont(FONT, "Vera.ttf"), TTFont(BOLD, "VeraBd.ttf"),
                 TTFont(ITALIC, "VeraIt.ttf")]
        _vera_has = frozenset.intersection(*(frozenset(f.face.charToGlyph) for f in fonts))
        for font in fonts:
            pdfmetrics.registerFont(font)
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=ITALIC,
                                      boldItalic=BOLD)


def _register_wide() -> None:
    """DejaVu Sans, read only for a report that needs it (its files are large)."""
    with _fonts_lock:
        if WIDE in pdfmetrics.getRegisteredFontNames():
            return
        pdfmetrics.registerFont(TTFont(WIDE, str(FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(WIDE_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(WIDE, normal=WIDE, bold=WIDE_BOLD, italic=WIDE,
                                      boldItalic=WIDE_BOLD)


@dataclass(frozen=True)
class Face:
    """The fonts a text is set in, and how its line runs: `direction` None as written
    (left to right), "LTR" or "RTL" the base of a line whose runs go both ways (the
    Unicode bidirectional algorithm); `shaped`, its letters joined (HarfBuzz)."""

    regular: str
    bold: str
    italic: str
    direction: str | None = None
    shaped: bool = False

    def font(self, weight: str) -> str:
        return getattr(self, weight)


LATIN = Face(FONT, BOLD, ITALIC)
LATIN_WIDE = Face(WIDE, WIDE_BOLD, WIDE)  # letters Vera lacks, left to right
MIXED = Face(WIDE, WIDE_BOLD, WIDE, "LTR", True)  # right-to-left words in a left-to-right report
ARABIC = Face(WIDE, WIDE_BOLD, WIDE, "RTL", True)
_RIGHT_TO_LEFT_LETTERS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe]")
_FLIP = {"start": "end", "end": "start", "middle": "middle"}
_STRONG = ("L", "R", "AL", "EN", "AN")  # letters and digits, in bidirectional classes
_WORDS = re.compile(r"[^ \t\n]+")  # words are cut at spaces only: "3 000" is one (U+202F)


def face_for(report: Face, text: str) -> Face:
    """The face `text` is set in, in a report set in `report`: a right-to-left report sets
    everything in its own; a left-to-right one in Vera, unless the text has letters Vera
    lacks (DejaVu Sans), or right-to-left words (also joined, and put in their order)."""
    if report.direction == "RTL" or text.isascii():
        return report
    if _RIGHT_TO_LEFT_LETTERS.search(text):
        face = MIXED
    elif all(ord(c) in _vera_has for c in text):
        return report
    else:
        face = LATIN_WIDE
    _register_wide()
    return face


def _styles(face: Face) -> dict[str, ParagraphStyle]:
    rtl = face.direction == "RTL"
    start, end = (TA_RIGHT, TA_LEFT) if rtl else (TA_LEFT, TA_RIGHT)
    base = ParagraphStyle("body", fontName=face.regular, fontSize=9, leading=12, textColor=INK,
                          alignment=start)
    styles = {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5,
                                textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=base, fontName=face.bold, fontSize=7.5, leading=9),
        "title": ParagraphStyle("title", parent=base, fontName=face.bold, fontSize=22,
                                leading=26),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=13, leading=16),
        "h2": ParagraphStyle("h2", parent=base, fontName=face.bold, fontSize=13, leading=16,
                             spaceBefore=10, spaceAfter=4),
        "tile_label": ParagraphStyle("tile_label", parent=base, fontSize=8, leading=10,
                                     textColor=MUTED, alignment=TA_CENTER),
        "tile_value": ParagraphStyle("tile_value", parent=base, fontName=face.bold, fontSize=17,
                                     leading=21, alignment=TA_CENTER),
        "tile_delta": ParagraphStyle("tile_delta", parent=base, fontSize=8, leading=10,
                                     textColor=MUTED, alignment=TA_CENTER),
    }
    # a table's numbers: at the end of the line (the right, or in Arabic the left)
    styles["number"] = ParagraphStyle("number", parent=styles["cell"], alignment=end)
    styles["number_head"] = ParagraphStyle("number_head", parent=styles["head"], alignment=end)
    return styles


class Setter:
    """How one report sets its text: its face (Vera left to right, or DejaVu Sans right
    to left for Arabic), its paragraph styles, and for each text the face that has its
    letters (face_for). A right-to-left report also lays its tables, charts and page
    marks out from the right."""

    def __init__(self, face: Face) -> None:
        self.face = face
        self.rtl = face.direction == "RTL"
        self.styles = _styles(face)
        self._restyled: dict[tuple[str, Face], ParagraphStyle] = {}

    def style(self, name: str, face: Face) -> ParagraphStyle:
        style = self.styles[name]
        if face == self.face:
            return style
        key = (name, face)
        if key not in self._restyled:
            weight = "bold" if style.fontName == self.face.bold else "regular"
            self._restyled[key] = ParagraphStyle(f"{name}-{face.regular}", parent=style,
                                                 fontName=face.font(weight))
        return self._restyled[key]

    def p(self, text: object, style: str) -> Flowable:
        """A paragraph of plain text: escaped, so that no name is read as markup; nothing
        for a value that is not there. A line that runs both ways is set by _SeenText."""
        missing = text is None or (isinstance(text, float) and math.isnan(text))
        text = "" if missing else str(text)
        face = face_for(self.face, text)
        if face.direction:
            return _SeenText(text, self.style(style, face), face.direction)
        return Paragraph(escape(text), self.style(style, face))

    def line(self, text: str, size: float, weight: str = "regular") -> tuple[str, str, float]:
        """A line of text as it is drawn: its font, its text (for a shaped face, joined
        glyphs with its words in the order they are seen) and its width."""
        face = face_for(self.face, text)
        font = face.font(weight)
        if not face.shaped or not text.strip():
            return font, text, pdfmetrics.stringWidth(text, font, size)
        seen = _seen(text, face.direction or "LTR", font, size)
        return font, seen, _width(seen, font, size)

    def string(self, x: float, y: float, text: str, size: float, weight: str = "regular",
               anchor: str = "start", fill: str = INK) -> String:
        """A line of text on a drawing, anchored at (x, y) by its start, middle or end."""
        font, drawn, width = self.line(text, size, weight)
        if drawn is text:
            return String(x, y, text, fontName=font, fontSize=size, textAnchor=anchor,
                          fillColor=fill)
        x -= {"start": 0.0, "middle": width / 2, "end": width}[anchor]  # placed as shaped
        return String(x, y, drawn, fontName=font, fontSize=size, fillColor=fill)

    def width(self, text: str, size: float, weight: str = "regular") -> float:
        return self.line(text, size, weight)[2]

    def draw(self, canvas, x: float, y: float, text: str, size: float,
             weight: str = "regular", align: str = "left") -> None:
        """A line of text on the page (its marks), placed by its left, centre or right."""
        font, drawn, _width = self.line(text, size, weight)
        canvas.setFont(font, size)
        place = {"left": canvas.drawString, "centre": canvas.drawCentredString,
                 "right": canvas.drawRightString}[align]
        place(x, y, drawn)  # a shaped text is drawn as it is, measured by its glyphs

    def row(self, cells: Sequence) -> list:
        """A table's row (or its widths) in the order it is laid out: from the right in a
        right-to-left report, whose first column is the rightmost."""
        return list(reversed(cells)) if self.rtl else list(cells)


def _seen_order(words: Sequence[str], direction: str) -> list[int]:
    """The indexes of a line's `words` from left to right as a line running `direction`
    ("LTR" or "RTL") shows them: each by the place the Unicode bidirectional algorithm
    gives its first letter or digit (punctuation may be seen apart from its word: the ")"
    of "(synthetic)" before Arabic). Within a word HarfBuzz orders the letters."""
    order = list(range(len(words)))
    if bidi_algorithm is None:
        return order[::-1] if direction == "RTL" else order
    line = " ".join(words)
    storage = bidi_algorithm.get_empty_storage()
    storage["base_level"] = 1 if direction == "RTL" else 0
    storage["base_dir"] = "R" if direction == "RTL" else "L"
    bidi_algorithm.get_embedding_levels(line, storage)
    for written, char in enumerate(storage["chars"]):
        char["written"] = written
    for step in (bidi_algorithm.explicit_embed_and_overrides, bidi_algorithm.resolve_weak_types,
                 bidi_algorithm.resolve_neutral_types, bidi_algorithm.resolve_implicit_levels,
                 bidi_algorithm.reorder_resolved_levels):
        step(storage, False)
    place = [len(line)] * len(line)  # where each written letter is seen
    for seen, char in enumerate(storage["chars"]):
        place[char["written"]] = seen
    starts = [0, *accumulate(len(word) + 1 for word in words)]

    def seen_at(i: int) -> int:
        word = words[i]
        first = next((k for k, char in enumerate(word) if bidirectional(char) in _STRONG), 0)
        return place[starts[i] + first]

    order.sort(key=seen_at)
    return order


def _seen(text: str, direction: str, font: str, size: float) -> ShapedStr:
    """One line of `text` as it is seen: its words in the order a line running `direction`
    shows them (_seen_order), each word's letters joined and ordered by HarfBuzz."""
    words = _WORDS.findall(text)
    order = _seen_order(words, direction)
    line = shapeStr("", font, size, force=True)
    for i, at in enumerate(order):
        if i:
            line += shapeStr(" ", font, size, force=True)
        line += shapeStr(words[at], font, size, force=True)
    return line


def _width(seen: str, font: str, size: float) -> float:
    """The width of a text as _seen or shapeStr made it, by its glyphs' advances."""
    data = getattr(seen, "__shapeData__", None)
    if data is None:
        return pdfmetrics.stringWidth(seen, font, size)
    return sum(glyph.x_advance for glyph in data) * size / 1000


class _SeenText(Flowable):
    """A paragraph whose lines run both ways (Arabic; Arabic words in a left-to-right
    report), set here: ReportLab's Paragraph joins the letters but leaves the words of a
    line in the order they are written. Wrapped at its words (measured as shaped), each
    line drawn as it is seen (_seen), placed as its style aligns it. Plain text: nothing in
    it is read as markup."""

    def __init__(self, text: str, style: ParagraphStyle, direction: str) -> None:
        super().__init__()
        self.text, self.style, self.direction = text, style, direction
        self._lines: list[str] = []  # each line's words, as written

    def _wrapped(self, width: float) -> list[str]:
        font, size = self.style.fontName, self.style.fontSize
        space = pdfmetrics.stringWidth(" ", font, size)
        lines: list[list[str]] = []
        used = 0.0
        for word in _WORDS.findall(self.text):
            wide = _width(shapeStr(word, font, size), font, size)
            if lines and lines[-1] and used + space + wide <= width:
                lines[-1].append(word)
                used += space + wide
            else:  # the first word, or one that does not fit: a new line
                lines.append([word])
                used = wide
        return [" ".join(line) for line in lines]

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        style = self.style
        self._lines = self._wrapped(available_width - style.leftIndent - style.rightIndent)
        self.width, self.height = available_width, len(self._lines) * style.leading
        return self.width, self.height

    def split(self, available_width: float, available_height: float) -> list[Flowable]:
        self.wrap(available_width, available_height)
        fit = int(available_height // self.style.leading)
        if fit <= 0 or fit >= len(self._lines):
            return []
        return [_SeenText(" ".join(self._lines[:fit]), self.style, self.direction),
                _SeenText(" ".join(self._lines[fit:]), self.style, self.direction)]

    def getSpaceBefore(self) -> float:  # noqa: N802 (ReportLab's name)
        return self.style.spaceBefore

    def getSpaceAfter(self) -> float:  # noqa: N802 (ReportLab's name)
        return self.style.spaceAfter

    def draw(self) -> None:
        style, canvas = self.style, self.canv
        font, size = style.fontName, style.fontSize
        canvas.setFont(font, size)
        canvas.setFillColor(style.textColor)
        y = self.height - size  # the first baseline, where ReportLab's Paragraph puts it
        for line in self._lines:
            seen = _seen(line, self.direction, font, size)
            wide = _width(seen, font, size)
            if style.alignment == TA_RIGHT:
                x = self.width - style.rightIndent - wide
            elif style.alignment == TA_CENTER:
                x = style.leftIndent + (self.width - style.leftIndent - style.rightIndent
                                        - wide) / 2
            else:
                x = style.leftIndent
            canvas.drawString(x, y, seen)
            y -= style.leading


class _Pen:
    """Draws on `drawing` from its left edge, or in a right-to-left report from its right
    edge: the layout mirrored, each text read in its own direction."""

    def __init__(self, drawing: Drawing, setter: Setter) -> None:
        self.drawing, self.setter, self.rtl = drawing, setter, setter.rtl

    def text(self, x: float, y: float, text: str, size: float, weight: str = "regular",
             anchor: str = "start", fill: str = INK) -> None:
        if self.rtl:
            x, anchor = self.drawing.width - x, _FLIP[anchor]
        self.drawing.add(self.setter.string(x, y, text, size, weight, anchor, fill))

    def rect(self, x: float, y: float, width: float, height: float, **style) -> None:
        if self.rtl:
            x = self.drawing.width - x - width
        self.drawing.add(Rect(x, y, width, height, **style))

    def circle(self, x: float, y: float, r: float, **style) -> None:
        if self.rtl:
            x = self.drawing.width - x
        self.drawing.add(Circle(x, y, r, **style))


# --- words and numbers --------------------------------------------------------------------

def shown_text(value: object) -> str:
    """A shown count as printed: in the reader's convention; "<5" and "—" as they are;
    nothing for a value the page leaves blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return language.number(value)
    text = str(value)
    if re.fullmatch(r"-?\d+", text.replace(",", "")):
        return language.number(int(text.replace(",", "")))
    return text


def change_text(delta: object) -> str:
    if delta is None:
        return ""
    if isinstance(delta, int):
        return language.number(delta) if delta < 0 else "+" + language.number(delta)
    return str(delta)


def _number(value: object) -> float | None:
    """A shown count as a bar's length; None for "<5", "—" or blank."""
    return privacy.shown_number(value)


def _timestamp(value: object) -> datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()


def long_moment(at: datetime) -> str:
    """A day with its weekday and a time: "Sun 22 Nov 2026, 06:00 UTC"."""
    # Translators: {day} is a date with its weekday ("Sun 22 Nov 2026"), {time} a 24-hour
    # time ("06:00")
    return _("{day}, {time} UTC").format(day=language.day(at), time=f"{at:%H:%M}")


def table_moment(value: object, year: bool = True) -> str:
    """A moment in a table whose heading says UTC: "22 Nov 2026 23:59" (or without the
    year); nothing for none."""
    at = _timestamp(value)
    if at is None:
        return ""
    return language.stamp(at) if year else language.brief(at)


def reference_words(report: SituationReport) -> str:
    """What the moment changes are counted from is, in the reader's words."""
    reference = report.reference
    if reference.kind == "meeting" and reference.named is not None:
        # Translators: the moment changes are counted from; {moment} as "Sun 22 Nov 2026, 06:00 UTC"
        return _("the previous meeting ({moment})").format(moment=long_moment(reference.named))
    if reference.kind == "chosen" and reference.named is not None:
        return long_moment(reference.named)
    # Translators: the moment changes are counted from, when no meeting is recorded
    return _("24 hours earlier")


def viewer_words(viewer: Viewer) -> str:
    description = _(access.ROLES[viewer.role])
    if viewer.nationalities:
        # Translators: {role} is the role's code (as the command line names it), {description}
        # what the role sees, {nationalities} ISO codes ("ETH, KEN")
        return _("{role}: {description} ({nationalities})").format(
            role=viewer.role, description=description,
            nationalities=", ".join(viewer.nationalities))
    # Translators: {role} is the role's code (as the command line names it), {description}
    # what the role sees
    return _("{role}: {description}").format(role=viewer.role, description=description)


def file_name(scenario: ScenarioInfo, as_of: datetime | None) -> str:
    """The report's file name: the scenario and the moment, EXERCISE first for an
    exercise (as the page's exports, docs/design.md §2.7)."""
    slug = re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")[:40] or "scenario"
    moment = f"-{as_of:%Y%m%dT%H%M}Z" if as_of is not None else ""
    name = f"situation-report-{slug}{moment}.pdf"
    return f"EXERCISE-{name}" if scenario.is_exercise else name


# --- drawings -----------------------------------------------------------------------------

def bars(rows: Sequence[tuple[str, object]], colours: dict[str, str], width: float,
         title: str, setter: Setter, words: Mapping[str, str] | None = None) -> Drawing:
    """One horizontal bar per (category, shown value), each category in its `words`, its
    value written beside it; a value shown "<5" or withheld is written with no bar (as on
    screen). Mirrored in a right-to-left report."""
    row_h, label_w, top = 13.0, 78.0, 16.0
    height = top + row_h * len(rows) + 4
    drawing = Drawing(width, height)
    drawing.hAlign = "RIGHT" if setter.rtl else "LEFT"  # narrower than the page: at its start
    pen = _Pen(drawing, setter)
    pen.text(0, height - 10, title, 8.5, "bold")
    numbers = [_number(v) for _, v in rows]
    longest = max([n for n in numbers if n is not None] or [0]) or 1.0
    span = width - label_w - 40
    for i, ((category, value), number) in enumerate(zip(rows, numbers, strict=True)):
        y = height - top - row_h * (i + 1) + 3
        pen.text(label_w - 4, y + 2, labels.word(category, words), 7.5, anchor="end")
        length = 0.0 if number is None else max(0.0, span * number / longest)
        if length > 0:
            pen.rect(label_w, y, length, row_h - 4, strokeColor=None,
                     fillColor=colors.HexColor(colours.get(category, "#7f7f7f")))
        pen.text(label_w + length + 3, y + 2, shown_text(value) or shown_text(0), 7.5, "bold")
    return drawing


def _clip(ring: Sequence[tuple[float, float]], w: float, h: float) -> list[tuple[float, float]]:
    """A polygon clipped to the rectangle 0..w × 0..h (Sutherland–Hodgman): a drawing
    does not clip, and the neighbours' borders would run over the page."""
    points = list(ring)
    # each edge: the coordinate (0: x, 1: y), its limit, and whether inside is below it
    for axis, limit, below in ((0, 0.0, False), (0, w, True), (1, 0.0, False), (1, h, True)):
        if not points:
            break

        def inside(p: tuple[float, float], axis: int = axis, limit: float = limit,
                   below: bool = below) -> bool:
            return p[axis] <= limit if below else p[axis] >= limit

        def cross(a: tuple[float, float], b: tuple[float, float], axis: int = axis,
                  limit: float = limit) -> tuple[float, float]:
            t = (limit - a[axis]) / (b[axis] - a[axis])
            point = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            return (limit, point[1]) if axis == 0 else (point[0], limit)

        out: list[tuple[float, float]] = []
        previous = points[-1]
        for point in points:
            if inside(point):
                if not inside(previous):
                    out.append(cross(previous, point))
                out.append(point)
            elif inside(previous):
                out.append(cross(previous, point))
            previous = point
        points = out
    return points


@dataclass(frozen=True)
class _Projection:
    """Longitude and latitude to points on the drawing: equirectangular, scaled by the
    cosine of the middle latitude, fitted to the box."""

    west: float
    south: float
    scale: float
    kx: float
    width: float
    height: float

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float], width: float,
            height: float) -> _Projection:
        west, south, east, north = bounds
        kx = math.cos(math.radians((south + north) / 2))
        scale = min(width / ((east - west) * kx), height / (north - south))
        # centred: the spare room split on both sides
        west -= (width / scale / kx - (east - west)) / 2
        south -= (height / scale - (north - south)) / 2
        return cls(west, south, scale, kx, width, height)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.west) * self.kx * self.scale, (lat - self.south) * self.scale

    def inside(self, lon: float, lat: float) -> bool:
        x, y = self.xy(lon, lat)
        return 0 <= x <= self.width and 0 <= y <= self.height


def _bounds(shapes: dict[str, dict]) -> tuple[float, float, float, float]:
    lons, lats = [], []
    for geometry in shapes.values():
        for part in geo.rings(geometry):
            for lon, lat in part[0]:
                lons.append(lon)
                lats.append(lat)
    if not lons:  # no district shapes shipped: the scenario's country, roughly
        return 35.0, 32.95, 36.75, 34.75
    pad = 0.06
    return min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad


def _polygon(projection: _Projection, ring: Sequence[Sequence[float]], **style) -> Polygon | None:
    points = [projection.xy(float(p[0]), float(p[1])) for p in ring]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    if not xs or max(xs) < 0 or min(xs) > projection.width or max(ys) < 0 \
            or min(ys) > projection.height:
        return None  # wholly outside: most of the world's countries
    points = _clip(points, projection.width, projection.height)
    if len(points) < 3:
        return None
    return Polygon([c for p in points for c in p], **style)


def _add(drawing: Drawing, shape) -> None:
    if shape is not None:
        drawing.add(shape)


# The neighbours named on the map, by their base map names: their ISO 3166 codes.
NEIGHBOURS = {"Syria": "SY", "Israel": "IL"}


def country_name(name: str) -> str:
    """A neighbour's name in the reader's language (CLDR's, through Babel)."""
    return language.locale().territories.get(NEIGHBOURS[name], name)


def _label(drawing: Drawing, setter: Setter, x: float, y: float,
           lines: Sequence[tuple[str, str, float]]) -> None:
    """Lines of text (text, weight, size) centred on (x, y) over a white box."""
    height = sum(size + 1 for _, _, size in lines)
    width = max(setter.width(text, size, weight) for text, weight, size in lines)
    drawing.add(Rect(x - width / 2 - 1.5, y - height / 2 - 1, width + 3, height + 1.5,
                     fillColor=colors.Color(1, 1, 1, alpha=0.8), strokeColor=None))
    top = y + height / 2
    for text, weight, size in lines:
        top -= size + 1
        drawing.add(setter.string(x, top + 1.5, text, size, weight, "middle"))


def situation_map(people: geo.People, layers: geo.MapLayers, width: float,
                  height: float, setter: Setter) -> Drawing:
    """The map of the report: the shipped base map, people as the viewer may see them
    (districts or cells with their shown counts; a liaison's nationals as dots, no name),
    active hazards, and facilities coloured by load (never a confidential one: geo.layers
    leaves them out, docs/design.md §2.5). A map: not mirrored in a right-to-left report."""
    base = geo.read_basemap()
    shapes = geo.district_shapes()
    projection = _Projection.fit(_bounds(shapes), width, height)
    drawing = Drawing(width, height)
    drawing.add(Rect(0, 0, width, height, fillColor=colors.HexColor(SEA), strokeColor=None))
    for name in ("world-110m.geojson", "region-10m.geojson"):
        for feature in base[name].get("features", []):
            for part in geo.rings(feature.get("geometry") or {}):
                _add(drawing, _polygon(projection, part[0], fillColor=colors.HexColor(LAND),
                                       strokeColor=colors.HexColor(BORDER), strokeWidth=0.6))
    if people.mode == "areas":
        for row in people.areas.itertuples():
            fill = colors.HexColor(palette.count_colour(int(row.persons)))
            for part in row.polygon:
                _add(drawing, _polygon(projection, part[0], fillColor=fill, fillOpacity=0.85,
                                       strokeColor=None))
    elif people.mode == "cells":
        for row in people.cells.itertuples():
            _add(drawing, _polygon(projection, row.polygon, strokeColor=None,
                                   fillColor=colors.HexColor(palette.count_colour(
                                       int(row.persons)))))
    for geometry in shapes.values():
        for part in geo.rings(geometry):
            _add(drawing, _polygon(projection, part[0], fillColor=None,
                                   strokeColor=colors.HexColor(DISTRICT), strokeWidth=0.5))
    for row in layers.hazards.itertuples():
        colour = colors.HexColor(palette.HAZARD_SEVERITY.get(row.severity, palette.NO_REPORT))
        _add(drawing, _polygon(projection, row.polygon[0], fillColor=colour, fillOpacity=0.35,
                               strokeColor=colour, strokeWidth=1.2))
    if people.mode == "points":
        for row in people.points.itertuples():
            if projection.inside(float(row.lon), float(row.lat)):
                x, y = projection.xy(float(row.lon), float(row.lat))
                drawing.add(Circle(x, y, 1.3, strokeColor=None, fillColor=colors.HexColor(
                    palette.PERSON_STATUS.get(row.status, palette.NO_REPORT))))
    for row in layers.facilities.itertuples():
        lon, lat = float(row.lon), float(row.lat)
        if projection.inside(lon, lat):
            x, y = projection.xy(lon, lat)
            colour = palette.facility_colour(row.occupants, int(row.capacity))
            # a square, not a circle: a circle is four curves, and 2,000 of them took
            # most of the report's typesetting time
            drawing.add(Rect(x - 2.2, y - 2.2, 4.4, 4.4, fillColor=colors.HexColor(colour),
                             strokeColor=colors.HexColor("#1e1e1e"), strokeWidth=0.5))
    for feature in base["region-10m.geojson"].get("features", []):
        props = feature.get("properties", {})
        if props.get("name") in NEIGHBOURS and projection.inside(
                props.get("label_lon", 0), props.get("label_lat", 0)):
            x, y = projection.xy(props["label_lon"], props["label_lat"])
            drawing.add(setter.string(x, y, country_name(props["name"]), 9, "italic", "middle",
                                      MUTED))
    if people.mode == "areas":
        # Biggest first; a label that would overlap one already placed is left out
        # (the table of districts is not repeated here: the Map page has them all).
        placed: list[tuple[float, float]] = []
        for row in people.areas.sort_values("persons", ascending=False).itertuples():
            x, y = projection.xy(float(row.lon), float(row.lat))
            if any(abs(x - px) < 34 and abs(y - py) < 17 for px, py in placed):
                continue
            placed.append((x, y))
            _label(drawing, setter, x, y, [(str(row.name), "regular", 5.5),
                                           (shown_text(int(row.persons)), "bold", 7.5)])
    drawing.add(Rect(0, 0, width, height, fillColor=None, strokeColor=colors.HexColor(BORDER),
                     strokeWidth=0.8))
    return drawing


def map_legend(people: geo.People, width: float, setter: Setter) -> Drawing:
    """What the colours of the map mean: people, facilities and hazards, a row each
    (from the right in a right-to-left report)."""
    drawing = Drawing(width, 66)
    pen = _Pen(drawing, setter)
    x, row = 0.0, 0.0

    def heading(text: str, y: float) -> None:
        nonlocal x, row
        x, row = 0.0, y
        pen.text(0, y + 11, text, 7, "bold")

    def key(colour: str, text: str, circle: bool = False, outlined: bool = False) -> None:
        nonlocal x
        if circle:
            pen.circle(x + 4, row + 4, 3, fillColor=colors.HexColor(colour),
                       strokeColor=colors.HexColor("#1e1e1e"), strokeWidth=0.5)
        elif outlined:
            pen.rect(x + 1, row + 1, 6, 6, fillColor=colors.HexColor(colour),
                     strokeColor=colors.HexColor("#1e1e1e"), strokeWidth=0.5)
        else:
            pen.rect(x, row, 8, 8, fillColor=colors.HexColor(colour), strokeColor=None)
        pen.text(x + 11, row + 1.5, text, 7)
        x += 17 + setter.width(text, 7)

    mode = people.mode
    if mode in ("areas", "cells"):
        step = language.number(geo.GRID_STEP, 2)
        heading({(True, False): _("Persons per district"),
                 (True, True): _("Persons per district (rounded)"),
                 # Translators: {step} is the side of a square of the map, in degrees ("0.05")
                 (False, False): _("Persons per {step}° cell").format(step=step),
                 # Translators: {step} is the side of a square of the map, in degrees ("0.05")
                 (False, True): _("Persons per {step}° cell (rounded)").format(step=step),
                 }[(mode == "areas", bool(people.rounded))], 44)
        edges = [*palette.COUNT_BINS[1:], None]
        for low, high, colour in zip(palette.COUNT_BINS, edges, palette.COUNT_COLOURS,
                                     strict=True):
            key(colour, f"{language.number(low)}–{language.number(high - 1)}" if high else
                # Translators: a number of persons on the map's key ("1,000 or more")
                _("{count} or more").format(count=language.number(low)))
    else:
        heading(_("Your nationals, by status"), 44)
        for status in vocab.PERSON_STATUSES:
            key(palette.PERSON_STATUS[status], labels.PERSON_STATUS[status], circle=True)
    heading(_("Facilities by load (confidential places are never drawn)"), 22)
    for colour, text in ((palette.LOAD_GREEN, _("below 75%")), (palette.LOAD_AMBER, _("75–89%")),
                         (palette.LOAD_RED, _("90% or more")),
                         (palette.NO_REPORT, _("no valid report or fewer than 5 people")
                          if not people.rounded else _("no valid report"))):
        key(colour, text, outlined=True)
    heading(_("Active hazards, by severity"), 0)
    for severity, colour in palette.HAZARD_SEVERITY.items():
        key(colour, labels.word(severity, labels.HAZARD_SEVERITY))
    return drawing


# --- tables -------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
          setter: Setter, numeric: Sequence[int] = ()) -> Table:
    """A table of plain text (escaped), its header repeated on each page, numbers at the
    end of their cells; its columns from the right in a right-to-left report."""
    data = [setter.row([setter.p(h, "number_head" if i in numeric else "head")
                        for i, h in enumerate(header)])]
    data += [setter.row([setter.p(v, "number" if i in numeric else "cell")
                         for i, v in enumerate(row)]) for row in rows]
    out = Table(data, colWidths=setter.row(widths), repeatRows=1)
    out.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9e9e9")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")]),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor(RULE)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    return out


def _side_by_side(first: object, second: object, first_w: float, second_w: float,
                  setter: Setter) -> Table:
    """Two blocks on a line, the first at the start (the left, or in Arabic the right)."""
    out = Table([setter.row([first, second])], colWidths=setter.row([first_w, second_w]))
    edge = "RIGHT" if setter.rtl else "LEFT"
    out.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                             (f"{edge}PADDING", (0, 0), (-1, -1), 0),
                             *([("ALIGN", (0, 0), (-1, -1), "RIGHT")] if setter.rtl else [])]))
    return out


def _tiles(report: SituationReport, setter: Setter) -> Table:
    """The headline figures as tiles, five to a row: label, value, change."""
    cells: list[object] = []
    for figure in report.overview.figures:
        change = change_text(figure.delta)
        cells.append([setter.p(language.pgettext(language.TILE, figure.label), "tile_label"),
                      setter.p(shown_text(figure.value), "tile_value"),
                      # Translators: a headline figure's change; {change} as "+5" or "<5"
                      setter.p(_("{change} since then").format(change=change) if change else "",
                               "tile_delta")])
    per_row = 5
    rows: list[list[object]] = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    rows[-1] += [""] * (per_row - len(rows[-1]))
    out = Table([setter.row(row) for row in rows], colWidths=[BODY_W / per_row] * per_row)
    out.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor(RULE)),
        ("INNERGRID", (0, 0), (-1, -1), 0.6, colors.HexColor(RULE)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return out


# --- the document -------------------------------------------------------------------------

def _page_marks(report: SituationReport, setter: Setter) -> Callable:
    """What every page carries: the EXERCISE band and mark for an exercise (docs/design.md
    §2.7), and a footer saying whose report it is, for which moment, and the page."""
    scenario = report.scenario
    nats = " " + ",".join(report.viewer.nationalities) if report.viewer.nationalities else ""
    # Translators: a page's footer; {role} is the role's code, with a liaison's nationalities
    footer = _("Situation report · {scenario} · {role} · figures as of {moment}").format(
        scenario=scenario.name, role=report.viewer.role + nats,
        moment=f"{language.stamp(report.as_of)} UTC")
    band = _("EXERCISE — {scenario} — NOT LIVE DATA").format(scenario=scenario.name)
    # Translators: written large across every page of an exercise's report
    mark = _("EXERCISE")
    start, end = (PAGE_W - MARGIN, MARGIN) if setter.rtl else (MARGIN, PAGE_W - MARGIN)

    def draw(canvas, doc) -> None:
        canvas.saveState()
        if scenario.is_exercise:
            canvas.setFillColor(colors.HexColor(EXERCISE_RED))
            canvas.rect(0, PAGE_H - 11 * mm, PAGE_W, 11 * mm, stroke=0, fill=1)
            canvas.setFillColor(colors.white)
            setter.draw(canvas, PAGE_W / 2, PAGE_H - 7.5 * mm, band, 13, "bold", "centre")
            # faint across the page too, under the content: no page can pass for live
            canvas.setFillColor(colors.Color(0.69, 0, 0.125, alpha=0.07))
            canvas.translate(PAGE_W / 2, PAGE_H / 2)
            canvas.rotate(55)
            setter.draw(canvas, 0, -30, mark, 96, "bold", "centre")
            canvas.restoreState()
            canvas.saveState()
        canvas.setFillColor(colors.HexColor(MUTED))
        setter.draw(canvas, start, 8 * mm, footer, 7, align="right" if setter.rtl else "left")
        setter.draw(canvas, end, 8 * mm,
                    # Translators: a page's number, in the footer
                    _("page {number}").format(number=language.number(doc.page)), 7,
                    align="left" if setter.rtl else "right")
        canvas.restoreState()

    return draw


def _profile(profile: demography.Profile, setter: Setter, half: float) -> list:
    """People by age band and sex (a table) beside people by vulnerability (bars)."""
    ages = profile.by_age_sex
    rows = [[labels.word(band, labels.AGE_BAND), *(shown_text(v) for v in values)]
            for band, *values in ages[["band", *demography.SEXES, "total"]].itertuples(
                index=False, name=None)]
    width = half / 5
    left = table([_("Age"), _("Female"), _("Male"),
                  # Translators: a sex, other or not recorded (a table's heading)
                  _("Other"), _("Total")], rows, [width] * 5, setter, numeric=(1, 2, 3, 4))
    right = bars(list(zip(profile.by_vulnerability["tag"], profile.by_vulnerability["persons"],
                          strict=True)),
                 {}, half, _("People with each vulnerability"), setter, labels.VULNERABILITY_TAG)
    both = _side_by_side(left, right, half + 6 * mm, half, setter)
    return _section(_("Who the people are"), setter, both) + [setter.p(
        _("Age in the year of the figures, from the year of birth; a person with several "
          "vulnerabilities counts under each."), "small")]


def _section(title: str, setter: Setter, first: object) -> list:
    """A section's heading, kept on the page of what follows it."""
    return [CondPageBreak(30 * mm), KeepTogether([setter.p(title, "h2"), first])]


def _said(note: object) -> str:
    """A note of a page's figures (made in English, in cached code) in the reader's words."""
    said = getattr(note, "said", None)
    return said() if callable(said) else _(str(note))


def typeset(report: SituationReport) -> bytes:
    """The report as PDF bytes, in the reader's language (dashboard.language)."""
    _register_fonts()
    rtl = language.right_to_left()
    if rtl:
        _register_wide()
    t = Setter(ARABIC if rtl else LATIN)
    scenario, viewer, data = report.scenario, report.viewer, report.overview
    story: list = []

    # Title and what the report is about
    if scenario.is_exercise:
        # Translators: under the report's title; {scenario} is its name
        subtitle = _("{scenario} · EXERCISE").format(scenario=scenario.name)
        about_scenario = _("{scenario} (exercise: not live data)").format(scenario=scenario.name)
    else:
        # Translators: under the report's title; {scenario} is its name
        subtitle = _("{scenario} · live").format(scenario=scenario.name)
        about_scenario = _("{scenario} (live)").format(scenario=scenario.name)
    story += [t.p(_("Situation report"), "title"), Spacer(0, 3), t.p(subtitle, "subtitle"),
              Spacer(0, 8)]
    figures_for = long_moment(report.as_of)
    if report.earlier:
        figures_for = _("{moment} — an earlier moment, worked back from the history").format(
            moment=figures_for)
    about = [
        (_("Scenario"), about_scenario),
        (_("Prepared for"), viewer_words(viewer)),
        (_("Data as of"), long_moment(report.data_as_of)),
        (_("Figures for"), figures_for),
        (_("Changes since"),
         # Translators: {moment} is when changes are counted from, {reference} what it is
         # ("24 hours earlier", "the previous meeting (…)")
         _("{moment} ({reference})").format(moment=long_moment(report.reference_at),
                                            reference=reference_words(report))),
        (_("Generated"), long_moment(report.generated_at)),
    ]
    meta = Table([t.row([t.p(k, "head"), t.p(v, "cell")]) for k, v in about],
                 colWidths=t.row([32 * mm, BODY_W - 32 * mm]))
    meta.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    story.append(meta)
    if scenario.synthetic:
        story.append(t.p(_("Synthetic demonstration data: it describes no real person."),
                         "small"))
    if access.sees_person_level(viewer.role):
        story.append(t.p(_("Your consenting nationals only: {nationalities}. This report names "
                           "no one; keep it as you keep their records.").format(
                               nationalities=", ".join(viewer.nationalities)), "small"))

    # Headline figures and their changes
    story += _section(_("Headline figures and changes since {reference}").format(
        reference=reference_words(report)), t, _tiles(report, t))
    story.append(Spacer(0, 3))
    if report.rounded:
        story.append(t.p(_(ROUNDING), "small"))
    half = (BODY_W - 6 * mm) / 2
    overdue = data.overdue_by_service
    charts = _side_by_side(
        bars(list(zip(data.by_status["status"], data.by_status["persons"], strict=True)),
             palette.PERSON_STATUS, half, _("People by status"), t, labels.PERSON_STATUS),
        bars(list(zip(overdue["service"], overdue["overdue"], strict=True)),
             dict.fromkeys(overdue["service"], palette.REFERRAL_STATUS["overdue"]), half,
             _("Overdue referrals by service"), t, labels.REFERRAL_SERVICE),
        half + 6 * mm, half, t)
    story += [Spacer(0, 6), charts,
              t.p(_("Overdue: open referrals past their service's deadline and not accepted."),
                  "small")]
    if report.profile is not None:
        story += _profile(report.profile, t, half)

    # The map, for the roles that open the Map page
    if report.people is not None and report.layers is not None:
        story.append(KeepTogether([t.p(_("Map"), "h2"),
                                   situation_map(report.people, report.layers, BODY_W,
                                                 190 * mm, t),
                                   Spacer(0, 3), map_legend(report.people, BODY_W, t),
                                   Spacer(0, 4)]))
        for note in report.people.notes:
            story.append(t.p(_said(note), "small"))
        story.append(t.p(_("Confidential facilities are never drawn. District shapes are "
                           "approximations built from district centres, not official "
                           "boundaries."), "small"))

    # Shelters near capacity: the Shelters page's rows, else the Overview's
    near = report.near_capacity
    title = _("Facilities at 90% of capacity or more")
    if near.empty:
        story += _section(title, t, t.p(_("None."), "body"))
    elif report.shelter_headline is not None:
        when_full = shelters.time_to_full_words(near)
        story += _section(title, t, table(
            [_("Facility"), _("Kind"), _("Area"), _("Places"), _("Occupants"), _("% full"),
             _("24 h change"), _("Time to full"), _("Confirmed")],
            [[r.facility, labels.word(r.kind, labels.FACILITY_KIND), r.area,
              shown_text(r.capacity), shown_text(r.occupants), shown_text(r.full_pct),
              shown_text(r.change_24h), when_full.get(r.time_to_full, r.time_to_full),
              labels.word(r.confirmation, shelters.CONFIRMATION)] for r in near.itertuples()],
            [37 * mm, 22 * mm, 20 * mm, 13 * mm, 18 * mm, 12 * mm, 18 * mm, 22 * mm, 20 * mm],
            t, numeric=(3, 4, 5, 6)))
        story.append(t.p(_("Time to full is at the net arrivals of the last 24 hours."),
                         "small"))
    else:
        story += _section(title, t, table(
            [_("Facility"), _("Kind"), _("Area"), _("Places"), _("Occupants"), _("% full")],
            [[r.facility, labels.word(r.kind, labels.FACILITY_KIND), r.area,
              shown_text(r.capacity), shown_text(r.occupants), shown_text(r.full_pct)]
             for r in near.itertuples()],
            [60 * mm, 30 * mm, 30 * mm, 20 * mm, 20 * mm, 20 * mm], t, numeric=(3, 4, 5)))
    if report.near_capacity_more:
        story.append(t.p(ngettext(
            "{count} more facility at 90% or more: see the Shelters page.",
            "{count} more facilities at 90% or more: see the Shelters page.",
            report.near_capacity_more).format(count=language.number(report.near_capacity_more)),
            "small"))

    # Evacuation
    story += _section(_("Evacuation: funnel and movements"), t, bars(
        list(zip(data.funnel["stage"], data.funnel["cases"], strict=True)),
        palette.EVACUATION_STAGE, BODY_W * 0.7, _("Evacuation cases by stage"), t,
        labels.EVACUATION_STAGE))
    story.append(Spacer(0, 6))
    moves = report.movements
    if moves is None:
        pass  # a role that does not open the Evacuation page: the funnel alone
    elif moves.empty:
        story.append(t.p(_("No movements."), "body"))
    else:
        story.append(table(
            [_("Movement"), _("Mode"), _("Destination"), _("Departs (UTC)"), _("Status"),
             _("Seats"), _("Manifested"), _("Departed"), _("Arrived"), _("No-show"),
             _("On it")],
            [[shown_text(r.movement), labels.word(r.mode, labels.MOVEMENT_MODE), r.destination,
              table_moment(r.departs_at, year=False),
              labels.word(r.status, labels.MOVEMENT_STATUS),
              shown_text(r.seats), shown_text(r.manifested), shown_text(r.departed),
              shown_text(r.arrived), shown_text(r.no_show), shown_text(r.on_it)]
             for r in moves.itertuples()],
            [19 * mm, 12 * mm, 22 * mm, 23 * mm, 17 * mm, 13 * mm, 19 * mm, 17 * mm, 15 * mm,
             16 * mm, 13 * mm], t, numeric=(0, 5, 6, 7, 8, 9, 10)))
        if report.movements_more:
            story.append(t.p(ngettext(
                "{count} more movement: see the Evacuation page.",
                "{count} more movements: see the Evacuation page.",
                report.movements_more).format(count=language.number(report.movements_more)),
                "small"))
    if report.earlier and moves is not None:
        story.append(t.p(_("Movements are as of the latest data: they keep no history."),
                         "small"))

    # Hazards: listed for the roles that open the Map page (the Overview counts them)
    if report.hazards is not None and report.layers is not None:
        if report.hazards.empty:
            story += _section(_("Active hazards"), t, t.p(_("None."), "body"))
        else:
            story += _section(_("Active hazards"), t, table(
                [_("Hazard"), _("Severity"), _("Since (UTC)"), _("Until (UTC)")],
                [[labels.word(r.kind, labels.HAZARD_KIND),
                  labels.word(r.severity, labels.HAZARD_SEVERITY), table_moment(r.valid_from),
                  table_moment(r.valid_to) or _("until further notice")]
                 for r in report.hazards.itertuples()],
                [55 * mm, 30 * mm, 40 * mm, 40 * mm], t))
            if report.hazards_more:
                story.append(t.p(ngettext(
                    "{count} more active hazard: see the Map page.",
                    "{count} more active hazards: see the Map page.",
                    report.hazards_more).format(count=language.number(report.hazards_more)),
                    "small"))
        if report.layers.unreadable_hazards:
            unreadable = report.layers.unreadable_hazards
            story.append(t.p(ngettext(
                "{count} active hazard has an unreadable shape and is not drawn.",
                "{count} active hazards have an unreadable shape and are not drawn.",
                unreadable).format(count=language.number(unreadable)), "small"))

    # Freshness and quality
    headline = report.shelter_headline
    no_report, invalid = report.shelters_left_out
    notes = [_("The latest record of this scenario was written on {moment}.").format(
        moment=language.moment(report.data_as_of))]
    if report.earlier:
        notes.append(_("The figures are for {moment}, worked back from the history; facility "
                       "status has no history and is today's.").format(
                           moment=language.moment(report.as_of)))
    if headline is not None:
        notes.append(_("Facilities that have not confirmed their figures for 48 hours or more: "
                       "{count}.").format(
                           count=shown_text(headline.get(shelters.CONFIRMATION_OVERDUE, 0))))
    if no_report or invalid:
        notes.append(_("Facilities left out of the place figures: {no_report} with no "
                       "occupancy report, {invalid} whose latest report breaks the data "
                       "contract.").format(no_report=language.number(no_report),
                                           invalid=language.number(invalid)))
    story += _section(_("Data freshness and quality"), t, t.p(f"• {notes[0]}", "body"))
    for line in notes[1:]:
        story.append(t.p(f"• {line}", "body"))
    if report.quality is not None:
        broken = report.quality[report.quality["rows"] > 0]
        if broken.empty:
            story.append(t.p("• " + _("No record breaks the data contract."), "body"))
        else:
            story.append(Spacer(0, 4))
            story.append(table([_("Records that break the data contract"), _("Rows"),
                                _("Left out of")],
                               [[_(r[0]), shown_text(int(r[1])), _(r[2])]
                                for r in broken.itertuples(index=False)],
                               [85 * mm, 18 * mm, 75 * mm], t, numeric=(1,)))

    out = io.BytesIO()
    if scenario.is_exercise:
        title = _("EXERCISE — Situation report — {scenario}").format(scenario=scenario.name)
    else:
        title = _("Situation report — {scenario}").format(scenario=scenario.name)
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN + (8 * mm if scenario.is_exercise else 0),
                            bottomMargin=MARGIN, title=title, author="Situation Room",
                            # Translators: the PDF's subject; {role} is the role's code
                            subject=_("{role} report, figures as of {moment}").format(
                                role=viewer.role, moment=language.moment(report.as_of)),
                            creator="Situation Room", lang=language.current())
    marks = _page_marks(report, t)
    doc.build(story, onFirstPage=marks, onLaterPages=marks)
    return out.getvalue()


# --- made and recorded --------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    file_name: str
    pdf: bytes
    report: SituationReport


def write_report(database: Database, viewer: Viewer, as_of: datetime | None = None,
                 since: datetime | None = None, *, page: str = "overview",
                 filters: dict | None = None, name: str | None = None,
                 now: datetime | None = None) -> Written:
    """The report of `viewer` at `as_of` (None: the latest data), typeset in the reader's
    language, and recorded in the audit log (page, action "report", the moments, the file
    `name`, rows about people) before it is returned: a report whose line cannot be written
    raises audit.AuditUnavailable and is not handed out (docs/design.md §2.8)."""
    report = situation_report(database, viewer, as_of, since, now)
    pdf = typeset(report)
    name = name or file_name(report.scenario, report.as_of)
    audit.record(viewer, audit.Entry(
        page=page, action=AUDIT_ACTION,
        filters={**(filters or {}), "file": name,
                 "as_of": report.as_of.isoformat(timespec="minutes"),
                 "reference_at": report.reference_at.isoformat(timespec="minutes")},
        rows_shown=report.rows_about_people))
    return Written(name, pdf, report)
