"""The situation report as a PDF: typeset, audited, returned as bytes.

Typeset with ReportLab, a pure-Python library with no system dependency, so that a
fresh `pip install` makes reports with no browser, font or typesetting program on the
machine; its charts and map are its own vector drawings (reportlab.graphics), never a
screenshot. The font is Bitstream Vera, which ReportLab ships, so "≥", "—" and
accented names print the same everywhere.

What is printed is dashboard.figures.report's SituationReport and nothing else: the
figures as the viewer is shown them on screen (docs/design.md §2.4). Text from the
database (facility, district and country names) is escaped before it reaches
ReportLab's paragraph markup, so a name written as markup prints as written. An
exercise carries EXERCISE in a red band and across every page (§2.7). `write_report`
records every report in the audit log before returning it (§2.8): a report whose line
cannot be written is not handed out.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

import pandas as pd

# ReportLab: pure Python, pip-installable, no system libraries (see the docstring).
from reportlab.graphics.shapes import Circle, Drawing, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dashboard.contract import labels, vocab
from dashboard.figures import demography, geo, palette
from dashboard.figures.report import SituationReport, situation_report
from dashboard.figures.scenarios import ScenarioInfo
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
ROUNDING = ("Counts of people, referrals and cases are rounded to a multiple of 5 so that no "
            "one can be singled out, and the same people always give the same figure; parts "
            "may not add up to their totals. \"<5\" means 1 to 4; — marks a change withheld "
            "beside one.")

# --- fonts and styles ---------------------------------------------------------------------

_fonts_lock = threading.Lock()
FONT, BOLD, ITALIC = "SitRoomVera", "SitRoomVera-Bold", "SitRoomVera-Italic"


def _register_fonts() -> None:
    with _fonts_lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        # Found on ReportLab's own font path (reportlab/fonts): shipped with the package.
        pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))
        pdfmetrics.registerFont(TTFont(ITALIC, "VeraIt.ttf"))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=ITALIC,
                                      boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5,
                                textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=7.5, leading=9),
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=22, leading=26),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=13, leading=16),
        "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=13, leading=16,
                             spaceBefore=10, spaceAfter=4),
        "tile_label": ParagraphStyle("tile_label", parent=base, fontSize=8, leading=10,
                                     textColor=MUTED, alignment=TA_CENTER),
        "tile_value": ParagraphStyle("tile_value", parent=base, fontName=BOLD, fontSize=17,
                                     leading=21, alignment=TA_CENTER),
        "tile_delta": ParagraphStyle("tile_delta", parent=base, fontSize=8, leading=10,
                                     textColor=MUTED, alignment=TA_CENTER),
    }


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: escaped, so that no name is read as markup; nothing
    for a value that is not there."""
    missing = text is None or (isinstance(text, float) and math.isnan(text))
    return Paragraph(escape("" if missing else str(text)), style)


# --- words and numbers --------------------------------------------------------------------

def shown_text(value: object) -> str:
    """A shown count as printed: thousands separated; "<5" and "—" as they are; nothing
    for a value the page leaves blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:,.0f}"
    text = str(value)
    if re.fullmatch(r"-?\d+", text.replace(",", "")):
        return f"{int(text.replace(',', '')):,}"
    return text


def change_text(delta: object) -> str:
    if delta is None:
        return ""
    if isinstance(delta, int):
        return f"{delta:+,}"
    return str(delta)


def _number(value: object) -> float | None:
    """A shown count as a bar's length; None for "<5", "—" or blank."""
    return privacy.shown_number(shown_text(value))


def _when(value: object, year: bool = True) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return f"{pd.Timestamp(value):%d %b %Y %H:%M}" if year else f"{pd.Timestamp(value):%d %b %H:%M}"


def words(code: object) -> str:
    """A code as its label where it means one thing in every vocabulary, else in words."""
    said = labels.word(code)
    return said if said != str(code) else str(code).replace("_", " ")


def viewer_words(viewer: Viewer) -> str:
    text = f"{viewer.role}: {access.ROLES[viewer.role]}"
    if viewer.nationalities:
        text += f" ({', '.join(viewer.nationalities)})"
    return text


def file_name(scenario: ScenarioInfo, as_of: datetime | None) -> str:
    """The report's file name: the scenario and the moment, EXERCISE first for an
    exercise (as the page's exports, docs/design.md §2.7)."""
    slug = re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")[:40] or "scenario"
    moment = f"-{as_of:%Y%m%dT%H%M}Z" if as_of is not None else ""
    name = f"situation-report-{slug}{moment}.pdf"
    return f"EXERCISE-{name}" if scenario.is_exercise else name


# --- drawings -----------------------------------------------------------------------------

def bars(rows: Sequence[tuple[str, object]], colours: dict[str, str], width: float,
         title: str) -> Drawing:
    """One horizontal bar per (category, shown value), its value written beside it; a
    value shown "<5" or withheld is written with no bar (as on screen)."""
    row_h, label_w, top = 13.0, 78.0, 16.0
    height = top + row_h * len(rows) + 4
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, title, fontName=BOLD, fontSize=8.5, fillColor=INK))
    numbers = [_number(v) for _, v in rows]
    longest = max([n for n in numbers if n is not None] or [0]) or 1.0
    span = width - label_w - 40
    for i, ((category, value), number) in enumerate(zip(rows, numbers, strict=True)):
        y = height - top - row_h * (i + 1) + 3
        drawing.add(String(label_w - 4, y + 2, words(category), fontName=FONT, fontSize=7.5,
                           textAnchor="end", fillColor=INK))
        length = 0.0 if number is None else max(0.0, span * number / longest)
        if length > 0:
            drawing.add(Rect(label_w, y, length, row_h - 4, strokeColor=None,
                             fillColor=colors.HexColor(colours.get(category, "#7f7f7f"))))
        drawing.add(String(label_w + length + 3, y + 2, shown_text(value) or "0",
                           fontName=BOLD, fontSize=7.5, fillColor=INK))
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


def _label(drawing: Drawing, x: float, y: float, lines: Sequence[tuple[str, str, float]]) -> None:
    """Lines of text (text, font, size) centred on (x, y) over a white box."""
    height = sum(size + 1 for _, _, size in lines)
    width = max(pdfmetrics.stringWidth(text, font, size) for text, font, size in lines)
    drawing.add(Rect(x - width / 2 - 1.5, y - height / 2 - 1, width + 3, height + 1.5,
                     fillColor=colors.Color(1, 1, 1, alpha=0.8), strokeColor=None))
    top = y + height / 2
    for text, font, size in lines:
        top -= size + 1
        drawing.add(String(x, top + 1.5, text, fontName=font, fontSize=size,
                           textAnchor="middle", fillColor=INK))


def situation_map(people: geo.People, layers: geo.MapLayers, width: float,
                  height: float) -> Drawing:
    """The map of the report: the shipped base map, people as the viewer may see them
    (districts or cells with their shown counts; a liaison's nationals as dots, no name),
    active hazards, and facilities coloured by load (never a confidential one: geo.layers
    leaves them out, docs/design.md §2.5)."""
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
        if props.get("name") in ("Syria", "Israel") and projection.inside(
                props.get("label_lon", 0), props.get("label_lat", 0)):
            x, y = projection.xy(props["label_lon"], props["label_lat"])
            drawing.add(String(x, y, props["name"], fontName=ITALIC, fontSize=9,
                               textAnchor="middle", fillColor=MUTED))
    if people.mode == "areas":
        # Biggest first; a label that would overlap one already placed is left out
        # (the table of districts is not repeated here: the Map page has them all).
        placed: list[tuple[float, float]] = []
        for row in people.areas.sort_values("persons", ascending=False).itertuples():
            x, y = projection.xy(float(row.lon), float(row.lat))
            if any(abs(x - px) < 34 and abs(y - py) < 17 for px, py in placed):
                continue
            placed.append((x, y))
            _label(drawing, x, y, [(str(row.name), FONT, 5.5),
                                   (shown_text(int(row.persons)), BOLD, 7.5)])
    drawing.add(Rect(0, 0, width, height, fillColor=None, strokeColor=colors.HexColor(BORDER),
                     strokeWidth=0.8))
    return drawing


def map_legend(people: geo.People, width: float) -> Drawing:
    """What the colours of the map mean: people, facilities and hazards, a row each."""
    drawing = Drawing(width, 66)
    x, row = 0.0, 0.0

    def heading(text: str, y: float) -> None:
        nonlocal x, row
        x, row = 0.0, y
        drawing.add(String(0, y + 11, text, fontName=BOLD, fontSize=7, fillColor=INK))

    def key(colour: str, text: str, circle: bool = False, outlined: bool = False) -> None:
        nonlocal x
        if circle:
            drawing.add(Circle(x + 4, row + 4, 3, fillColor=colors.HexColor(colour),
                               strokeColor=colors.HexColor("#1e1e1e"), strokeWidth=0.5))
        elif outlined:
            drawing.add(Rect(x + 1, row + 1, 6, 6, fillColor=colors.HexColor(colour),
                             strokeColor=colors.HexColor("#1e1e1e"), strokeWidth=0.5))
        else:
            drawing.add(Rect(x, row, 8, 8, fillColor=colors.HexColor(colour), strokeColor=None))
        drawing.add(String(x + 11, row + 1.5, text, fontName=FONT, fontSize=7, fillColor=INK))
        x += 17 + pdfmetrics.stringWidth(text, FONT, 7)

    mode = people.mode
    if mode in ("areas", "cells"):
        heading("Persons per " + ("district" if mode == "areas" else f"{geo.GRID_STEP}° cell")
                + (" (rounded)" if people.rounded else ""), 44)
        edges = [*palette.COUNT_BINS[1:], None]
        for low, high, colour in zip(palette.COUNT_BINS, edges, palette.COUNT_COLOURS,
                                     strict=True):
            key(colour, f"{low:,}–{high - 1:,}" if high else f"{low:,} or more")
    else:
        heading("Your nationals, by status", 44)
        for status in vocab.PERSON_STATUSES:
            key(palette.PERSON_STATUS[status], words(status), circle=True)
    heading("Facilities by load (confidential places are never drawn)", 22)
    for colour, text in ((palette.LOAD_GREEN, "below 75%"), (palette.LOAD_AMBER, "75–89%"),
                         (palette.LOAD_RED, "90% or more"),
                         (palette.NO_REPORT, "no valid report" + (" or fewer than 5 people"
                                                                  if not people.rounded
                                                                  else ""))):
        key(colour, text, outlined=True)
    heading("Active hazards, by severity", 0)
    for severity, colour in palette.HAZARD_SEVERITY.items():
        key(colour, severity)
    return drawing


# --- tables -------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
          styles: dict[str, ParagraphStyle], numeric: Sequence[int] = ()) -> Table:
    """A table of plain text (escaped), its header repeated on each page, numbers right."""
    right = ParagraphStyle("right", parent=styles["cell"], alignment=2)
    right_head = ParagraphStyle("right_head", parent=styles["head"], alignment=2)
    data = [[_p(h, right_head if i in numeric else styles["head"]) for i, h in enumerate(header)]]
    data += [[_p(v, right if i in numeric else styles["cell"]) for i, v in enumerate(row)]
             for row in rows]
    out = Table(data, colWidths=list(widths), repeatRows=1)
    out.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9e9e9")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")]),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor(RULE)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    return out


def _tiles(report: SituationReport, styles: dict[str, ParagraphStyle]) -> Table:
    """The headline figures as tiles, five to a row: label, value, change."""
    cells: list[object] = []
    for figure in report.overview.figures:
        change = change_text(figure.delta)
        cells.append([_p(figure.label, styles["tile_label"]),
                      _p(shown_text(figure.value), styles["tile_value"]),
                      _p(f"{change} since then" if change else "", styles["tile_delta"])])
    per_row = 5
    rows: list[list[object]] = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    rows[-1] += [""] * (per_row - len(rows[-1]))
    out = Table(rows, colWidths=[BODY_W / per_row] * per_row)
    out.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor(RULE)),
        ("INNERGRID", (0, 0), (-1, -1), 0.6, colors.HexColor(RULE)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return out


# --- the document -------------------------------------------------------------------------

def _page_marks(report: SituationReport) -> Callable:
    """What every page carries: the EXERCISE band and mark for an exercise (docs/design.md
    §2.7), and a footer saying whose report it is, for which moment, and the page."""
    scenario = report.scenario
    nats = " " + ",".join(report.viewer.nationalities) if report.viewer.nationalities else ""
    footer = (f"Situation report · {scenario.name} · {report.viewer.role}{nats}"
              f" · figures as of {report.as_of:%d %b %Y %H:%M} UTC")

    def draw(canvas, doc) -> None:
        canvas.saveState()
        if scenario.is_exercise:
            canvas.setFillColor(colors.HexColor(EXERCISE_RED))
            canvas.rect(0, PAGE_H - 11 * mm, PAGE_W, 11 * mm, stroke=0, fill=1)
            canvas.setFillColor(colors.white)
            canvas.setFont(BOLD, 13)
            canvas.drawCentredString(PAGE_W / 2, PAGE_H - 7.5 * mm,
                                     f"EXERCISE — {scenario.name} — NOT LIVE DATA")
            # faint across the page too, under the content: no page can pass for live
            canvas.setFillColor(colors.Color(0.69, 0, 0.125, alpha=0.07))
            canvas.setFont(BOLD, 96)
            canvas.translate(PAGE_W / 2, PAGE_H / 2)
            canvas.rotate(55)
            canvas.drawCentredString(0, -30, "EXERCISE")
            canvas.restoreState()
            canvas.saveState()
        canvas.setFillColor(colors.HexColor(MUTED))
        canvas.setFont(FONT, 7)
        canvas.drawString(MARGIN, 8 * mm, footer)
        canvas.drawRightString(PAGE_W - MARGIN, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    return draw


def _profile(profile: demography.Profile, s: dict[str, ParagraphStyle], half: float) -> list:
    """People by age band and sex (a table) beside people by vulnerability (bars)."""
    ages = profile.by_age_sex
    rows = [[labels.word(band, labels.AGE_BAND), *(shown_text(v) for v in values)]
            for band, *values in ages[["band", *demography.SEXES, "total"]].itertuples(
                index=False, name=None)]
    width = half / 5
    left = table(["Age", "Female", "Male", "Other", "Total"], rows, [width] * 5, s,
                 numeric=(1, 2, 3, 4))
    right = bars([(labels.word(t, labels.VULNERABILITY_TAG), v) for t, v in zip(
        profile.by_vulnerability["tag"], profile.by_vulnerability["persons"], strict=True)],
        {}, half, "People with each vulnerability")
    both = Table([[left, right]], colWidths=[half + 6 * mm, half])
    both.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return _section("Who the people are", s, both) + [_p(
        "Age in the year of the figures, from the year of birth; a person with several "
        "vulnerabilities counts under each.", s["small"])]


def _section(title: str, styles: dict[str, ParagraphStyle], first: object) -> list:
    """A section's heading, kept on the page of what follows it."""
    return [CondPageBreak(30 * mm), KeepTogether([_p(title, styles["h2"]), first])]


def typeset(report: SituationReport) -> bytes:
    """The report as PDF bytes."""
    _register_fonts()
    styles = _styles()
    s = styles
    scenario, viewer, data = report.scenario, report.viewer, report.overview
    story: list = []

    # Title and what the report is about
    story += [_p("Situation report", s["title"]), Spacer(0, 3),
              _p(f"{scenario.name} · {'EXERCISE' if scenario.is_exercise else 'live'}",
                 s["subtitle"]), Spacer(0, 8)]
    kind = "exercise: not live data" if scenario.is_exercise else "live"
    about = [
        ("Scenario", f"{scenario.name} ({kind})"),
        ("Prepared for", viewer_words(viewer)),
        ("Data as of", f"{report.data_as_of:%a %d %b %Y, %H:%M} UTC"),
        ("Figures for", f"{report.as_of:%a %d %b %Y, %H:%M} UTC"
         + (" — an earlier moment, worked back from the history" if report.earlier else "")),
        ("Changes since",
         f"{report.reference_at:%a %d %b %Y, %H:%M} UTC ({report.reference_label})"),
        ("Generated", f"{report.generated_at:%a %d %b %Y, %H:%M} UTC"),
    ]
    meta = Table([[_p(k, s["head"]), _p(v, s["cell"])] for k, v in about],
                 colWidths=[32 * mm, BODY_W - 32 * mm])
    meta.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    story.append(meta)
    if scenario.synthetic:
        story.append(_p("Synthetic demonstration data: it describes no real person.", s["small"]))
    if access.sees_person_level(viewer.role):
        story.append(_p(f"Your consenting nationals only: {', '.join(viewer.nationalities)}. "
                        "This report names no one; keep it as you keep their records.",
                        s["small"]))

    # Headline figures and their changes
    story += _section(f"Headline figures and changes since {report.reference_label}", s,
                      _tiles(report, s))
    story.append(Spacer(0, 3))
    if report.rounded:
        story.append(_p(ROUNDING, s["small"]))
    half = (BODY_W - 6 * mm) / 2
    overdue = data.overdue_by_service
    charts = Table([[bars(list(zip(data.by_status["status"], data.by_status["persons"],
                                   strict=True)), palette.PERSON_STATUS, half,
                          "People by status"),
                     bars(list(zip(overdue["service"], overdue["overdue"], strict=True)),
                          dict.fromkeys(overdue["service"], palette.REFERRAL_STATUS["overdue"]),
                          half, "Overdue referrals by service")]],
                   colWidths=[half + 6 * mm, half])
    charts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [Spacer(0, 6), charts,
              _p("Overdue: open referrals past their service's deadline and not accepted.",
                 s["small"])]
    if report.profile is not None:
        story += _profile(report.profile, s, half)

    # The map, for the roles that open the Map page
    if report.people is not None and report.layers is not None:
        story.append(KeepTogether([_p("Map", s["h2"]),
                                   situation_map(report.people, report.layers, BODY_W, 190 * mm),
                                   Spacer(0, 3), map_legend(report.people, BODY_W),
                                   Spacer(0, 4)]))
        for note in report.people.notes:
            story.append(_p(note, s["small"]))
        story.append(_p("Confidential facilities are never drawn. District shapes are "
                        "approximations built from district centres, not official boundaries.",
                        s["small"]))

    # Shelters near capacity: the Shelters page's rows, else the Overview's
    near = report.near_capacity
    title = "Facilities at 90% of capacity or more"
    if near.empty:
        story += _section(title, s, _p("None.", s["body"]))
    elif report.shelter_headline is not None:
        story += _section(title, s, table(
            ["Facility", "Kind", "Area", "Places", "Occupants", "% full", "24 h change",
             "Time to full", "Confirmed"],
            [[r.facility, words(r.kind), r.area, shown_text(r.capacity),
              shown_text(r.occupants), shown_text(r.full_pct), shown_text(r.change_24h),
              r.time_to_full, r.confirmation] for r in near.itertuples()],
            [37 * mm, 22 * mm, 20 * mm, 13 * mm, 18 * mm, 12 * mm, 18 * mm, 22 * mm, 20 * mm],
            s, numeric=(3, 4, 5, 6)))
        story.append(_p("Time to full is at the net arrivals of the last 24 hours.", s["small"]))
    else:
        story += _section(title, s, table(
            ["Facility", "Kind", "Area", "Places", "Occupants", "% full"],
            [[r.facility, words(r.kind), r.area, shown_text(r.capacity),
              shown_text(r.occupants), shown_text(r.full_pct)] for r in near.itertuples()],
            [60 * mm, 30 * mm, 30 * mm, 20 * mm, 20 * mm, 20 * mm], s, numeric=(3, 4, 5)))
    if report.near_capacity_more:
        story.append(_p(f"{report.near_capacity_more:,} more facilities at 90% or more: see "
                        "the Shelters page.", s["small"]))

    # Evacuation
    story += _section("Evacuation: funnel and movements", s, bars(
        list(zip(data.funnel["stage"], data.funnel["cases"], strict=True)),
        palette.EVACUATION_STAGE, BODY_W * 0.7, "Evacuation cases by stage"))
    story.append(Spacer(0, 6))
    moves = report.movements
    if moves is None:
        pass  # a role that does not open the Evacuation page: the funnel alone
    elif moves.empty:
        story.append(_p("No movements.", s["body"]))
    else:
        story.append(table(
            ["Movement", "Mode", "Destination", "Departs (UTC)", "Status", "Seats", "Manifested",
             "Departed", "Arrived", "No-show", "On it"],
            [[shown_text(r.movement), r.mode, r.destination, _when(r.departs_at, False),
              r.status,
              shown_text(r.seats), shown_text(r.manifested), shown_text(r.departed),
              shown_text(r.arrived), shown_text(r.no_show), shown_text(r.on_it)]
             for r in moves.itertuples()],
            [19 * mm, 12 * mm, 22 * mm, 23 * mm, 17 * mm, 13 * mm, 19 * mm, 17 * mm, 15 * mm,
             16 * mm, 13 * mm], s, numeric=(0, 5, 6, 7, 8, 9, 10)))
        if report.movements_more:
            story.append(_p(f"{report.movements_more:,} more movements: see the Evacuation page.",
                            s["small"]))
    if report.earlier and moves is not None:
        story.append(_p("Movements are as of the latest data: they keep no history.",
                        s["small"]))

    # Hazards: listed for the roles that open the Map page (the Overview counts them)
    if report.hazards is not None and report.layers is not None:
        if report.hazards.empty:
            story += _section("Active hazards", s, _p("None.", s["body"]))
        else:
            story += _section("Active hazards", s, table(
                ["Hazard", "Severity", "Since (UTC)", "Until (UTC)"],
                [[words(r.kind), r.severity, _when(r.valid_from),
                  _when(r.valid_to) or "until further notice"]
                 for r in report.hazards.itertuples()],
                [55 * mm, 30 * mm, 40 * mm, 40 * mm], s))
            if report.hazards_more:
                story.append(_p(f"{report.hazards_more:,} more active hazards: see the Map "
                                "page.", s["small"]))
        if report.layers.unreadable_hazards:
            story.append(_p(f"{report.layers.unreadable_hazards} active hazards have an "
                            "unreadable shape and are not drawn.", s["small"]))

    # Freshness and quality
    headline = report.shelter_headline
    no_report, invalid = report.shelters_left_out
    notes = [f"The latest record of this scenario was written on "
             f"{report.data_as_of:%d %b %Y, %H:%M} UTC."]
    if report.earlier:
        notes.append(f"The figures are for {report.as_of:%d %b %Y, %H:%M} UTC, worked back from "
                     "the history; facility status has no history and is today's.")
    if headline is not None:
        notes.append("Facilities that have not confirmed their figures for 48 hours or more: "
                     f"{shown_text(headline.get('Confirmation overdue', 0))}.")
    if no_report or invalid:
        notes.append(f"Facilities left out of the place figures: {no_report:,} with no "
                     f"occupancy report, {invalid:,} whose latest report breaks the data "
                     "contract.")
    story += _section("Data freshness and quality", s, _p(f"• {notes[0]}", s["body"]))
    for note in notes[1:]:
        story.append(_p(f"• {note}", s["body"]))
    if report.quality is not None:
        broken = report.quality[report.quality["rows"] > 0]
        if broken.empty:
            story.append(_p("• No record breaks the data contract.", s["body"]))
        else:
            story.append(Spacer(0, 4))
            story.append(table(["Records that break the data contract", "Rows", "Left out of"],
                               [[r[0], shown_text(int(r[1])), r[2]]
                                for r in broken.itertuples(index=False)],
                               [85 * mm, 18 * mm, 75 * mm], s, numeric=(1,)))

    out = io.BytesIO()
    title = f"{'EXERCISE — ' if scenario.is_exercise else ''}Situation report — {scenario.name}"
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN + (8 * mm if scenario.is_exercise else 0),
                            bottomMargin=MARGIN, title=title, author="Situation Room",
                            subject=f"{viewer.role} report, figures as of {report.as_of} UTC",
                            creator="Situation Room")
    marks = _page_marks(report)
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
    """The report of `viewer` at `as_of` (None: the latest data), typeset, and recorded
    in the audit log (page, action "report", the moments, the file `name`, rows about people)
    before it is returned: a report whose line cannot be written raises
    audit.AuditUnavailable and is not handed out (docs/design.md §2.8)."""
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

