"""The Map page's deck and legend: typed builders that return values.

Everything the browser gets is in the deck built here, so what leaves the
server is exactly what dashboard.figures.geo allowed: counts for the aggregate roles,
as they are shown (rounded: geo.People holds no other), points only for a liaison.
No layer bins in the browser (no HexagonLayer or HeatmapLayer: they would ship
every point, docs/design.md §2.6), and no tile or style URL is in the deck unless
the reader turns tiles on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components import projector
from components.charts import escape_markdown
from components.session import MAP_VIEW_KEY
from dashboard import language
from dashboard.contract import labels, vocab
from dashboard.figures import geo, palette
from dashboard.figures.geo import GRID_STEP, MapLayers, MapView, People
from dashboard.language import _, ngettext
from dashboard.rules import privacy

# The view opens on the scenario's areas (geo.map_view), fitted to a deck this high.
HEIGHT = geo.VIEW_HEIGHT_PX

SEA, LAND, BORDER, DISTRICT = "#d4e3ee", "#f4f2ec", "#9c978c", "#8a8a8a"
# The count ramp, hazard severities and the no-report grey are the palette's: the
# situation report draws the same map (dashboard.figures.report_pdf).
COUNT_BINS, COUNT_COLOURS = palette.COUNT_BINS, palette.COUNT_COLOURS
HAZARD_SEVERITY, NO_REPORT = palette.HAZARD_SEVERITY, palette.NO_REPORT
count_colour = palette.count_colour
POST = "#3f007d"


# The 1:10m countries are drawn simplified to half a kilometre (an enclave smaller than
# that may go): within what a 1:10m map can tell apart, and under a pixel where the Map
# opens. In software WebGL (a machine without a graphics card) every point of a drawn
# outline costs; this takes two in five of them away, about a twentieth of a second
# each time the map is drawn.
REGION_TOLERANCE_DEG = 0.005


@st.cache_resource(show_spinner=False)
def basemap() -> dict[str, dict]:
    """The shipped offline base-map layers, read once per server: static files, shared
    by every session, nothing in them about a person."""
    return {name: geo.simplified(layer, REGION_TOLERANCE_DEG)
            if name in geo.REGION_FILES and not layer.get("missing") else layer
            for name, layer in geo.read_basemap().items()}


class OfflineDeck(pdk.Deck):
    """A Deck whose spec is compact JSON. pydeck indents it (about 95 bytes a point,
    docs/design.md §8); without the indentation a point costs less than half."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize,
                          separators=(",", ":"))


def rgba(colour: str, alpha: int = 255) -> list[int]:
    colour = colour.lstrip("#")
    return [int(colour[i:i + 2], 16) for i in (0, 2, 4)] + [alpha]


def _when(value) -> str | None:
    """A moment of the data in the reader's convention ("22 Nov 2026, 23:59 UTC"), None
    without one."""
    if value is None or pd.isna(value):
        return None
    return language.moment(pd.Timestamp(value).to_pydatetime())


def _label(code: str, words: dict[str, str] | None = None) -> str:
    return labels.word(code, words)


# --- what a Map run would otherwise work out again ------------------------------------------
# Every run of the Map builds its deck anew, and most of it is the same as the last
# run's: the base map's countries near the scenario, the neighbours' names, a tooltip
# for each of the ~2,000 facilities (each with a moment in the reader's language). At a
# million people that was a quarter of a second of the server's time before the deck
# could leave (about 0.1 s of it the facilities' tooltips). Worked out once for the
# same inputs and kept here, a few at a time: nothing in them is more than the inputs
# they were made from.
_MEMO: dict[Any, tuple[tuple, Any]] = {}
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 32


def _remembered(name: str, objects: tuple, params: tuple, make: Any) -> Any:
    """`make()`, or what it gave for the same `objects` (the same ones: the shipped base
    map, read once per server) and `params` (values) before."""
    key = (name, tuple(id(o) for o in objects), params)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], objects, strict=True)):
        return hit[1]
    value = make()
    with _MEMO_LOCK:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = (objects, value)  # the objects held, so their ids stay theirs
    return value


def _fingerprint(frame: pd.DataFrame) -> str | None:
    """A digest of a frame's columns and values, None for one pandas cannot hash (cells
    that are lists): two frames with the same digest hold the same rows."""
    try:
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:
        return None
    digest = hashlib.blake2b(rows.tobytes(), digest_size=16)
    digest.update(repr(list(frame.columns)).encode())
    return digest.hexdigest()


# --- the layers ------------------------------------------------------------------------

def _overlaps(a: tuple[float, float, float, float] | None,
              b: tuple[float, float, float, float]) -> bool:
    """Whether two (south, west, north, east) boxes meet."""
    return a is not None and a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def regions_in_view(base: dict[str, dict], view: MapView) -> list[str]:
    """The shipped 1:10m region files that cover part of the scenario's areas: the others
    are left out of the deck (they are far away, and every layer is sent to the browser)."""
    south, west, north, east = view.extent
    around = (south - 2, west - 2, north + 2, east + 2)
    return _remembered("regions", (base,), (around,), lambda: [
        name for name in geo.REGION_FILES
        if name in base and _overlaps(geo.layer_extent(base[name]), around)])


# The world is drawn this far around the scenario's areas, and the map zooms out no
# further than that shows: every country drawn costs the browser (on a machine without
# a graphics card, seconds a visit for the whole world) and nobody reads the crisis on
# another continent.
NEAR_DEG = 20.0


def near(view: MapView) -> tuple[float, float, float, float] | None:
    """The box around the scenario's areas that the map draws and shows at most; None
    for a scenario without areas, which opens on the whole world."""
    if view.extent == geo.WORLD_VIEW:
        return None
    south, west, north, east = view.extent
    return (max(south - NEAR_DEG, -85.0), west - NEAR_DEG, min(north + NEAR_DEG, 85.0),
            east + NEAR_DEG)


def world_near(world: dict, view: MapView) -> dict:
    """The world file's countries that reach into `near(view)`."""
    box = near(view)
    if box is None:
        return world
    return _remembered("world", (world,), (box,), lambda: {
        **world, "features": [f for f in world.get("features", [])
                              if _overlaps(geo.extent_of(f.get("geometry")), box)]})


def min_zoom(view: MapView, width: int) -> float:
    """The furthest out the map zooms: where a deck `width` pixels wide shows no more
    than `near(view)` across or down, and never past the opening view (0: the world)."""
    box = near(view)
    if box is None:
        return 0.0
    across = geo.fit(*box, width=width, height=10 ** 6)[2]
    down = geo.fit(*box, width=10 ** 6, height=HEIGHT)[2]
    return round(min(max(across, down), view.zoom), 2)


def basemap_layers(base: dict[str, dict], tiles: bool, view: MapView) -> list[pdk.Layer]:
    """Sea, land and borders from the shipped files (the world at 1:110m, and at 1:10m
    the region of the scenario's areas), and the outlines of the scenario's districts;
    with tiles, the outlines only."""
    layers = []
    if not tiles:
        layers.append(pdk.Layer(
            "PolygonLayer", id="sea",
            data=[{"polygon": [[-180, -85], [180, -85], [180, 85], [-180, 85]]}],
            get_polygon="polygon", get_fill_color=rgba(SEA), stroked=False, pickable=False))
    files = [(geo.WORLD_FILE, 0.6)] + [(name, 1.2) for name in regions_in_view(base, view)]
    for name, width in files:
        data = world_near(base[name], view) if name == geo.WORLD_FILE else base[name]
        layers.append(pdk.Layer(
            "GeoJsonLayer", id=name.split(".")[0], data=data,
            filled=not tiles, get_fill_color=rgba(LAND), stroked=True,
            get_line_color=rgba(BORDER), line_width_min_pixels=width, pickable=False))
    layers.append(pdk.Layer(
        "GeoJsonLayer", id="districts", data=view.districts(), filled=False,
        stroked=True, get_line_color=rgba(DISTRICT, 200), line_width_min_pixels=1,
        pickable=False))
    return layers


def label_position(feature: dict, box: tuple[float, float, float, float],
                   half_width: float = 0.0, steps: int = 24) -> list[float]:
    """Where to name a country: its label point, or where that is outside `box` (the
    first view, less `half_width` degrees at each side so the name fits), the point of
    a grid over the box that lies in the country and nearest its label point, so that
    a neighbour mostly off screen is named on the part of it that shows."""
    props = feature["properties"]
    south, west, north, east = box
    west, east = west + half_width, east - half_width
    lon, lat = props["label_lon"], props["label_lat"]
    if south <= lat <= north and west <= lon <= east:
        return [lon, lat]
    polygons = geo.rings(feature["geometry"])
    grid = [(west + (east - west) * i / steps, south + (north - south) * j / steps)
            for i in range(steps + 1) for j in range(steps + 1)]
    xs, ys = np.array([point[0] for point in grid]), np.array([point[1] for point in grid])
    hits = np.zeros(len(grid), dtype=bool)
    for polygon in polygons:
        hits |= geo.in_ring_where(polygon[0], xs, ys)
    inside = [point for point, hit in zip(grid, hits, strict=True) if hit]
    if not inside:
        return [lon, lat]
    x, y = min(inside, key=lambda q: (q[0] - lon) ** 2 + (q[1] - lat) ** 2)
    return [round(x, 3), round(y, 3)]


def country_labels(base: dict[str, dict], view: MapView) -> pdk.Layer:
    """The names of the scenario country's neighbours (its own districts are named)."""
    south, west, north, east = geo.view_box(view.latitude, view.longitude, view.zoom)
    inset = (north - south) * 0.05  # clear of the top and bottom edges
    box = (south + inset, west, north - inset, east)
    char = LABEL_CHAR_DEG * 2 ** (LABEL_ZOOM - view.zoom)
    rows = _remembered("names", (base,), (box, char, view.extent, view.country), lambda: [
        {"text": f["properties"]["name"],
         "position": label_position(f, box, len(f["properties"]["name"]) * char / 2)}
        for name in regions_in_view(base, view) for f in base[name]["features"]
        if f["properties"].get("label") and f["properties"].get("iso3") != view.country])
    return country_labels_layer(rows, view.zoom)


def country_labels_layer(rows: list[dict], zoom: float | None = None) -> pdk.Layer:
    # Never moved: a neighbour's name stays on its own land.
    return text_layer("countries", rows, size=18, colour=[110, 106, 98, 255], zoom=zoom,
                      move=False)


def text_layer(layer_id: str, rows: list[dict], size: int,
               colour: Sequence[int] = (20, 20, 20, 255),
               zoom: float | None = None, move: bool = True,
               boxed: bool = False) -> pdk.Layer:
    """Labels with a white halo, drawn over everything whatever the layer order (no depth
    test: a facility dot never covers a district's name). Where a label would overlap one
    kept before it at the first view, it is moved just above, below, beside or across
    from its place, half a label away, then a whole one, but never onto another
    district (`rings` in the rows: a name stays on, or just beside, the place it names);
    only where all of those overlap too is it left
    out (it stays in the tooltips; without `move`, left out at once). Done here rather
    than with deck.gl's CollisionFilterExtension, which drew labels faint in headless
    Chromium. Labels use the page's own font (`LABEL_FONT`)."""
    # degrees a label covers shrink by half at each zoom level
    scale = (2 ** (LABEL_ZOOM - zoom) if zoom is not None else 1.0) * size / LABEL_SIZE

    def half_width(row: dict) -> float:
        return max(len(line) for line in row["text"].split("\n")) * LABEL_CHAR_DEG * scale / 2

    def half_height(row: dict) -> float:
        return (row["text"].count("\n") + 1) * LABEL_LINES_DEG * scale / 4

    def clear(row: dict, lon: float, lat: float) -> bool:
        return all(abs(lon - k["position"][0]) > half_width(row) + half_width(k) or
                   abs(lat - k["position"][1]) > half_height(row) + half_height(k)
                   for k in kept)

    def own_place(row: dict, lon: float, lat: float) -> bool:
        """Whether a moved label still names the place under it: inside its own
        district (`rings`, its outer rings, where the rows say), or in no district at
        all (the sea beside a coastal one); never on another."""
        if row.get("rings") is None:
            return True
        if any(geo.in_ring(ring, lon, lat) for ring in row["rings"]):
            return True
        return not any(geo.in_ring(ring, lon, lat) for other in rows
                       for ring in other.get("rings") or ())

    kept: list[dict] = []
    for row in rows:
        lon, lat = row["position"]
        up, side = 2 * half_height(row) * 1.1, 2 * half_width(row) * 0.6
        places = [(0.0, 0.0)] + ([(k * dx, k * dy) for k in (0.5, 1)
                                  for dx, dy in ((0, up), (0, -up), (side, 0), (-side, 0),
                                                 (side, up), (-side, up), (side, -up),
                                                 (-side, -up))] if move else [])
        for dx, dy in places:
            if clear(row, lon + dx, lat + dy) and (
                    (dx, dy) == (0, 0) or own_place(row, lon + dx, lat + dy)):
                kept.append({"text": row["text"],
                             "position": [round(lon + dx, 4), round(lat + dy, 4)]})
                break
    return pdk.Layer("TextLayer", id=layer_id, data=kept, get_position="position",
                     get_text="text", get_size=size, get_color=list(colour),
                     font_weight=700, font_family=LABEL_FONT,
                     outline_width=4, outline_color=[255, 255, 255, 235],
                     font_settings={"sdf": True}, parameters={"depthCompare": "always"},
                     # `boxed`: on a white box, readable over a cluster of dots
                     background=boxed, get_background_color=[255, 255, 255, 215],
                     background_padding=[4, 2, 4, 2], pickable=False)


# Degrees of longitude one character covers, and of latitude a two-line label, at zoom
# LABEL_ZOOM (about 150 pixels a degree), for labels of LABEL_SIZE pixels.
LABEL_CHAR_DEG, LABEL_LINES_DEG, LABEL_ZOOM, LABEL_SIZE = 0.058, 0.17, 7.75, 15
# The page's own typeface (Streamlit serves it, so it needs no internet), then any sans
# serif. The backquotes make pydeck send it as text: a bare string is sent as a
# JavaScript expression, which left deck.gl a font a few pixels high.
LABEL_FONT = "`Source Sans, Source Sans Pro, DejaVu Sans, Arial, sans-serif`"
# District labels: on a projector, larger.
DISTRICT_LABEL_SIZE, PROJECTOR_LABEL_SIZE = 16, 22


def _persons(people: People, n: int) -> str:
    """A drawn district's or cell's count for its tooltip, saying when it is rounded."""
    if people.rounded:
        return ngettext("{count} person (rounded to a multiple of 5)",
                        "{count} persons (rounded to a multiple of 5)",
                        n).format(count=language.number(n))
    return ngettext("{count} person", "{count} persons", n).format(count=language.number(n))


def _latitude(value: float) -> str:
    """A latitude with its hemisphere: 18.45 N, 33.90 S."""
    degrees = language.number(abs(value), 2)
    if value >= 0:
        # Translators: a latitude north of the equator, in degrees.
        return _("{degrees} N").format(degrees=degrees)
    # Translators: a latitude south of the equator, in degrees.
    return _("{degrees} S").format(degrees=degrees)


def _longitude(value: float) -> str:
    """A longitude with its hemisphere: 35.50 E, 69.90 W."""
    degrees = language.number(abs(value), 2)
    if value >= 0:
        # Translators: a longitude east of Greenwich, in degrees.
        return _("{degrees} E").format(degrees=degrees)
    # Translators: a longitude west of Greenwich, in degrees.
    return _("{degrees} W").format(degrees=degrees)


# Cells are drawn this share of a cell's side inside it on each side: the base map shows
# between them as a thin line. Not an outline: in software WebGL (a machine without a
# graphics card) a few thousand outline segments took a tenth of a second a frame.
CELL_GAP = 0.04


def people_layers(people: People, zoom: float | None = None,
                  label_size: int = DISTRICT_LABEL_SIZE) -> list[pdk.Layer]:
    """Districts or cells shaded by count (the count shown, never a true one the role may
    not see), or a liaison's points coloured by status."""
    if people.mode == "points":
        rows = [{"position": [round(float(r.lon), 5), round(float(r.lat), 5)],
                 "color": rgba(palette.PERSON_STATUS.get(r.status, NO_REPORT), 230),
                 "tip": f"{r.full_name}\n{r.ref} · {_label(r.status, labels.PERSON_STATUS)}"}
                for r in people.points.itertuples()]
        return [pdk.Layer("ScatterplotLayer", id="people-points", data=rows,
                          get_position="position", get_fill_color="color",
                          get_radius=60, radius_min_pixels=4, radius_max_pixels=12,
                          stroked=True, get_line_color=[255, 255, 255, 255],
                          line_width_min_pixels=1, pickable=True)]
    if people.mode == "areas":
        rows = [{"polygon": part, "persons": int(r.persons), "pcode": r.pcode, "name": r.name,
                 "color": rgba(count_colour(int(r.persons)), 190),
                 "tip": f"{_district(r.name, r.pcode, r.approximate)}\n"
                        f"{_persons(people, int(r.persons))}"}
                for r in people.areas.itertuples() for part in r.polygon]
        # Biggest first: where labels collide, the district with more people keeps its own.
        # A district's name as the data has it, and its count.
        names = [{"position": [round(float(r.lon), 4), round(float(r.lat), 4)],
                  "text": f"{r.name}\n{language.number(int(r.persons))}",
                  "rings": [part[0] for part in r.polygon if part]}
                 for r in people.areas.sort_values("persons", ascending=False).itertuples()]
        return [
            pdk.Layer("PolygonLayer", id="people-districts", data=rows, get_polygon="polygon",
                      get_fill_color="color", stroked=True, get_line_color=[90, 90, 90, 255],
                      line_width_min_pixels=1, pickable=True),
            text_layer("district-labels", names, size=label_size, zoom=zoom, boxed=True),
        ]
    rows = []
    gap = GRID_STEP * CELL_GAP
    for r in people.cells.itertuples():
        south, west = r.polygon[0][1], r.polygon[0][0]
        inset = [[round(x, 5), round(y, 5)] for x, y in (
            (west + gap, south + gap), (west + GRID_STEP - gap, south + gap),
            (west + GRID_STEP - gap, south + GRID_STEP - gap),
            (west + gap, south + GRID_STEP - gap))]
        rows.append({"polygon": inset, "persons": int(r.persons),
                     "gi": int(r.gi), "gj": int(r.gj),
                     "color": rgba(count_colour(int(r.persons)), 225),
                     "tip": f"{_persons(people, int(r.persons))}\n"
                            + _("cell {south} to {north}, {west} to {east}").format(
                                south=_latitude(south), north=_latitude(south + GRID_STEP),
                                west=_longitude(west), east=_longitude(west + GRID_STEP))})
    return [pdk.Layer("PolygonLayer", id="people-cells", data=rows, get_polygon="polygon",
                      get_fill_color="color", stroked=False, pickable=True)]


def _percent(value: float) -> str:
    """A percentage, whole, as the reader's language writes it: "90%"."""
    # Translators: a percentage; {percent} is a whole number.
    return _("{percent}%").format(percent=language.number(value))


def _district(name: str, pcode: str, approximate: bool) -> str:
    """A district's tooltip line: its name and P-code (the data's), and whether its shape
    is an approximation."""
    if approximate:
        return _("{name} district, P-code {pcode} (approximate shape)").format(name=name,
                                                                               pcode=pcode)
    return _("{name} district, P-code {pcode}").format(name=name, pcode=pcode)


def _facility_tip(r) -> str:
    capacity = int(r.capacity)
    places = language.number(capacity)
    if r.occupants is None or (isinstance(r.occupants, float) and pd.isna(r.occupants)):
        load = ngettext("{capacity} place · no valid occupancy report",
                        "{capacity} places · no valid occupancy report",
                        capacity).format(capacity=places)
    elif r.occupants == privacy.SUPPRESSED:
        load = ngettext("fewer than 5 of {capacity} place taken",
                        "fewer than 5 of {capacity} places taken",
                        capacity).format(capacity=places)
    else:
        # Translators: {share} is a percentage ("90%").
        load = ngettext("{occupants} of {capacity} place taken ({share} full)",
                        "{occupants} of {capacity} places taken ({share} full)",
                        capacity).format(occupants=language.number(int(r.occupants)),
                                         capacity=places, share=_percent(r.full_pct))
    kind, status = _label(r.kind, labels.FACILITY_KIND), _label(r.status, labels.FACILITY_STATUS)
    confirmed = _when(r.confirmed_at)
    last = (_("last confirmed never") if confirmed is None
            else _("last confirmed {moment}").format(moment=confirmed))
    # A facility's name (the data's), its kind and status (labels), its load, when confirmed.
    return f"{r.name}\n{kind} · {status.lower()}\n{load}\n{last}"


facility_colour = palette.facility_colour


def facility_layer(facilities: pd.DataFrame) -> pdk.Layer:
    def rows() -> list[dict]:
        return [{"position": [round(float(r.lon), 5), round(float(r.lat), 5)],
                 "color": rgba(facility_colour(r.occupants, int(r.capacity))),
                 "tip": _facility_tip(r)} for r in facilities.itertuples()]

    digest = _fingerprint(facilities)  # the tooltips are in the reader's language
    data = (rows() if digest is None else
            _remembered("facilities", (), (digest, language.current()), rows))
    return pdk.Layer("ScatterplotLayer", id="facilities", data=data, get_position="position",
                     get_fill_color="color", get_radius=400, radius_min_pixels=7,
                     radius_max_pixels=16, stroked=True, get_line_color=[30, 30, 30, 255],
                     line_width_min_pixels=1.5, pickable=True)


def _hazard_tip(r) -> str:
    kind = _("Hazard: {kind}").format(kind=_label(r.kind, labels.HAZARD_KIND))
    severity = _("severity {severity}").format(
        severity=_label(r.severity, labels.HAZARD_SEVERITY).lower())
    start, end = _when(r.valid_from), _when(r.valid_to)
    if end is None:
        since = _("since {start}").format(start=start or _("never"))
    else:
        since = _("since {start}, until {end}").format(start=start or _("never"), end=end)
    return f"{kind}\n{severity}\n{since}"


def hazard_layer(hazards: pd.DataFrame) -> pdk.Layer:
    rows = [{"polygon": r.polygon,
             "fill": rgba(HAZARD_SEVERITY.get(r.severity, NO_REPORT), 90),
             "line": rgba(HAZARD_SEVERITY.get(r.severity, NO_REPORT), 255),
             "tip": _hazard_tip(r)} for r in hazards.itertuples()]
    return pdk.Layer("PolygonLayer", id="hazards", data=rows, get_polygon="polygon",
                     get_fill_color="fill", get_line_color="line", line_width_min_pixels=2,
                     stroked=True, pickable=True)


def post_layer(posts: pd.DataFrame) -> pdk.Layer:
    rows = [{"position": [round(float(r.lon), 5), round(float(r.lat), 5)],
             "tip": f"{r.name}\n{_label(r.status, labels.CONSULAR_POST_STATUS)} · "
                    + (_("hotline {number}").format(number=r.hotline) if r.hotline
                       else _("hotline none"))}
            for r in posts.itertuples()]
    return pdk.Layer("ScatterplotLayer", id="consular-posts", data=rows,
                     get_position="position", get_fill_color=[255, 255, 255, 255],
                     get_line_color=rgba(POST), get_radius=200, radius_min_pixels=5,
                     radius_max_pixels=10, stroked=True, line_width_min_pixels=3,
                     pickable=True)


# The deck's width the first view is fitted to in projector mode: a 1920-pixel screen
# less the page's margins (the normal page assumes a laptop's, geo.VIEW_WIDTH_PX).
PROJECTOR_WIDTH = 1600
FIT_PADDING_PX = 40  # around what is shown, so that nothing touches the edge


def _points(geometry: dict) -> Iterable[Sequence[float]]:
    for polygon in geo.rings(geometry):
        for ring in polygon:
            yield from ring


def shown_extent(view: MapView, people: People,
                 layers: MapLayers) -> tuple[float, float, float, float]:
    """(south, west, north, east) of what the map shows: the district outlines, the
    drawn districts, cells or points, and the facilities; the scenario's extent
    (geo.map_view) where none of them is known."""
    lons: list[float] = []
    lats: list[float] = []
    for geometry in view.shapes.values():
        for point in _points(geometry):
            lons.append(float(point[0]))
            lats.append(float(point[1]))
    frames = [(people.points, "lon", "lat"), (layers.facilities, "lon", "lat")]
    for frame, lon, lat in frames:
        if len(frame) and lon in frame and lat in frame:
            lons += [float(v) for v in pd.to_numeric(frame[lon], errors="coerce").dropna()]
            lats += [float(v) for v in pd.to_numeric(frame[lat], errors="coerce").dropna()]
    for polygon in list(people.cells.get("polygon", [])):
        for point in polygon:
            lons.append(float(point[0]))
            lats.append(float(point[1]))
    south, west, north, east = view.extent
    # what lies far outside the scenario's areas (a bad row) does not stretch the view
    keep = [(x, y) for x, y in zip(lons, lats, strict=True)
            if south - 1 <= y <= north + 1 and west - 1 <= x <= east + 1]
    if not keep:
        return view.extent
    return (min(y for _, y in keep), min(x for x, _ in keep),
            max(y for _, y in keep), max(x for x, _ in keep))


def fitted(view: MapView, people: People, layers: MapLayers, width: int = geo.VIEW_WIDTH_PX,
           height: int = HEIGHT) -> MapView:
    """`view` opening on what the map shows, as large as a deck of `width` x `height`
    pixels holds it whole (with FIT_PADDING_PX around it)."""
    if view.extent == geo.WORLD_VIEW:
        return view
    latitude, longitude, zoom = geo.fit(*shown_extent(view, people, layers),
                                        width=width - 2 * FIT_PADDING_PX,
                                        height=height - 2 * FIT_PADDING_PX)
    return replace(view, latitude=latitude, longitude=longitude, zoom=zoom)


def build_deck(people: People, layers: MapLayers, base: dict[str, dict], view: MapView,
               tiles: bool = False, large: bool | None = None) -> pdk.Deck:
    """The whole map, opening on what it shows (`fitted`: the districts, cells or points
    and the facilities, within the scenario's areas, geo.map_view). Offline unless
    `tiles`: then a street-map style is fetched from the internet under the shipped
    outlines. `large` labels (projector mode, the default when it is on) are larger,
    and the view is fitted to a wider deck."""
    large = projector.is_on() if large is None else large
    width = PROJECTOR_WIDTH if large else geo.VIEW_WIDTH_PX
    view = fitted(view, people, layers, width=width)
    stack = basemap_layers(base, tiles, view)
    drawn = people_layers(people, view.zoom,
                          label_size=PROJECTOR_LABEL_SIZE if large else DISTRICT_LABEL_SIZE)
    on_top = [layer for layer in drawn if layer.type == "TextLayer"]
    stack += [layer for layer in drawn if layer.type != "TextLayer"]
    stack.append(hazard_layer(layers.hazards))
    stack.append(facility_layer(layers.facilities))
    stack.append(post_layer(layers.posts))
    stack.append(country_labels(base, view))
    # Last, so on top of everything: no hazard or facility dot ever hides a district's
    # name or count.
    stack += on_top
    # A "text" tooltip, never "html": Streamlit (1.67) writes it with innerText, so a
    # facility or a person named with HTML shows its name as written. The tips are
    # therefore not escaped (escaped, they would show "&lt;"); labels on the map are
    # drawn by TextLayer, as text.
    tooltip = {"text": "{tip}", "style": {"fontSize": "16px", "whiteSpace": "pre-line",
                                          "maxWidth": "420px"}}
    start = pdk.ViewState(latitude=view.latitude, longitude=view.longitude, zoom=view.zoom,
                          pitch=0, bearing=0,
                          min_zoom=min_zoom(view, width))
    if tiles:
        return OfflineDeck(layers=stack, initial_view_state=start, tooltip=tooltip,
                           map_provider="carto", map_style=pdk.map_styles.LIGHT)
    # No provider and pydeck's "no style chosen" sentinel: Streamlit then draws no base
    # map and fetches nothing. (With no mapStyle key at all it would fetch Carto's.)
    return OfflineDeck(layers=stack, initial_view_state=start, tooltip=tooltip,
                       map_provider=None)


# --- one deck for the whole session --------------------------------------------------------
# Streamlit makes a new deck, and the browser a new WebGL context, for every map it is
# sent at a new place on the page; a new context compiles every shader again, which on
# a machine without a GPU (software WebGL) held a Map visit up for 1 to 2 s. So the map
# lives in one place on every run: the slot app.py opens first on the page. The Map page
# draws its deck there; every other run an empty deck, out of sight, with made-up shapes
# only (`primers`: no data stays in the browser) and fetching nothing. The same element
# at the same place is the same deck and context, from the sign-in form (where deck.gl's
# 3 MB script loads while the reader types) to every later visit of the Map.
SLOT_KEY, BELOW_KEY, DECK_KEY = "map-slot", "map-below", "map-deck"
# While the server finds its first figures after a start, every page waits for them, and
# on a machine that also runs the reader's browser (a laptop in a drill) the deck took
# CPU from that count: compiling the primers 3-4 s, and the deck itself (deck.gl's script
# and a WebGL context) most of a second more. A session that saw the count under way
# draws no deck, and once the count is over and its first page has been shown for
# PRIMERS_AFTER_S, runs again to draw it with the primers, while the reader reads.
PRIMERS_KEY = "sitroom_primers"  # HELD or DUE, as above; none: drawn as usual
HELD, DUE = "held", "due"
PRIMERS_AFTER_S = 10
# The opening view of this session's last Map (ViewState's JSON), which the empty deck
# opens on too: Streamlit moves a deck to a new opening view only after drawing it once
# at the old one, and in software WebGL each drawing of the Map takes a third of a
# second. Kept under MAP_VIEW_KEY, which sign-out forgets.
_run = threading.local()


def open_slot() -> None:
    """Open the map's place for this run: first on the page, before anything a run may
    or may not draw, so that its place is the same on every run."""
    _run.slot = st.container(key=SLOT_KEY)
    _run.drawn = False


def close_slot(counting: Callable[[], bool] = lambda: False, signed_in: bool = False) -> None:
    """End the run's slot: the Map did not draw, so an empty deck out of sight, with
    its primers; none while `counting()` (the server's first count is under way) holds
    them back for the session (`primed_now`)."""
    slot = getattr(_run, "slot", None)
    _run.slot = None
    if slot is None or _run.drawn:
        return
    with slot:
        # The Map's views and its last opening view: going back to the Map then
        # changes only its layers, and the deck is drawn once, where the reader left it.
        last = st.session_state.get(MAP_VIEW_KEY)
        if primed_now(counting()):
            _draw(empty_deck(tuple(sorted(last.items())) if isinstance(last, dict) else ()))
        elif signed_in:  # not the form: no run while a reader types in it
            prime_later(counting)
        # Out of sight and taking no room, but at its size: a deck shown again after
        # none (display: none) opened some visits on its empty view, not the Map's. Its
        # width is the page column's (made its containing block), so that showing or
        # hiding it does not resize its drawing buffer: a fresh framebuffer, a third of
        # a second without a graphics card, on every visit and every leave.
        st.html(f"<style>{_column(SLOT_KEY)} {{position: relative;}} "
                f"{_wrapper(SLOT_KEY)} {{position: absolute; left: -100000px; "
                "width: 100%; visibility: hidden;}</style>")


def primed_now(counting: bool) -> bool:
    """Whether this run draws the empty deck and its primers: not while the first count
    is under way, nor after it in a session that saw it until `prime_later` says so."""
    state = st.session_state.get(PRIMERS_KEY)
    if counting:
        st.session_state[PRIMERS_KEY] = HELD
        return False
    if state == DUE:
        del st.session_state[PRIMERS_KEY]
    return state != HELD


def prime_later(counting: Callable[[], bool]) -> None:
    """Run the whole page again PRIMERS_AFTER_S after this run, once the first count is
    over, to draw the empty deck and its primers (a fragment may not draw in the slot,
    and a deck drawn from one is another element each time). Nothing the reader sees
    changes."""
    @st.fragment(run_every=PRIMERS_AFTER_S)
    def timer() -> None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run and not counting():
            st.session_state[PRIMERS_KEY] = DUE
            st.rerun()

    timer()


@functools.lru_cache(maxsize=64)
def empty_deck(view: tuple[tuple[str, Any], ...] = ()) -> OfflineDeck:
    """The deck drawn out of sight on every run but the Map's, opening on `view` (the
    items of a ViewState's JSON; none: the world) with the primers at its centre. The
    same for the same view, so made once per server and view."""
    start = dict(view) or {"latitude": 0.0, "longitude": 0.0, "zoom": 1.0}
    zoom = float(start.get("zoom", 1.0))
    centre = (float(start.get("longitude", 0.0)), float(start.get("latitude", 0.0)))
    # as JSON, sent as it is: the same object the Map's deck sent
    return OfflineDeck(layers=primers(centre, PRIMER_PX / 2 ** zoom),
                       map_provider=None, initial_view_state=start)


PRIMER_PX = 40.0  # a primer's half side, in degrees at zoom 0: ~60 pixels at any zoom


def signature(layer: dict) -> tuple:
    """What decides the programs (and, in software WebGL, the compiled pipelines) a
    layer's JSON needs: its type, and each prop as an accessor read from the rows,
    a flag's value, or a constant. Two layers of one signature draw alike."""
    def kind(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("@@="):
            return "accessor"
        return value if isinstance(value, bool) else "constant"
    return (layer.get("@@type"),
            tuple(sorted((k, kind(v)) for k, v in layer.items() if k not in ("id", "data"))))


def primers(centre: tuple[float, float] = (0.0, 0.0), half: float = 20.0) -> list[pdk.Layer]:
    """Every layer the Map may draw, each signature once, as its builder makes it but
    with a made-up square of `half` degrees around `centre` for data: drawn by the
    empty deck out of sight (behind the sign-in form first), so that the browser
    compiles their programs, pipelines and the labels' font atlas while nobody waits,
    not on a visit of the Map (seconds without a graphics card). A layer primed with
    other accessors than the Map's compiles again on the visit. About no person and
    no place."""
    lon, lat = centre
    square = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
              [lon - half, lat + half]]
    row = {"position": [lon, lat], "polygon": square, "text": "0", "color": [0, 0, 0, 255],
           "fill": [0, 0, 0, 255], "line": [0, 0, 0, 255], "tip": ""}
    shape = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [square + square[:1]]}}]}
    primed: dict[tuple, pdk.Layer] = {}
    for layer in _every_kind():
        key = signature(json.loads(json.dumps(layer, default=default_serialize)))
        if key not in primed:
            layer.data = shape if layer.type == "GeoJsonLayer" else [row]
            layer.id = f"primer-{len(primed)}"
            primed[key] = layer
    return list(primed.values())


def _every_kind() -> list[pdk.Layer]:
    """The Map's layers as its builders make them, with no data: for each kind of
    people layer, with tiles and without, every facility, hazard, post and label."""
    nothing = pd.DataFrame()
    view = MapView(None, (-1.0, -1.0, 1.0, 1.0), 0.0, 0.0, 1.0, {}, frozenset())
    base = {geo.WORLD_FILE: {"type": "FeatureCollection", "features": []}}
    zero = privacy.shown(privacy.ZERO, True)
    layers = [*basemap_layers(base, False, view), *basemap_layers(base, True, view)]
    areas = pd.DataFrame(columns=["pcode", "name", "lat", "lon", "persons", "polygon"])
    for mode in ("areas", "cells", "points"):
        layers += people_layers(People(mode, areas, nothing, nothing, *[zero] * 6))
    return layers + [hazard_layer(nothing), facility_layer(nothing), post_layer(nothing),
                     country_labels_layer([])]


def show(deck: pdk.Deck) -> Any:
    """Draw the Map's deck in the slot (or here, for a page run alone, as in tests), and
    put it after what the page drew so far: what the page draws next goes in `below()`."""
    slot = getattr(_run, "slot", None)
    if slot is None:
        return _draw(deck)
    _run.drawn = True
    st.session_state[MAP_VIEW_KEY] = json.loads(json.dumps(deck.initial_view_state,
                                                       default=default_serialize))
    with slot:
        event = _draw(deck)
        # The slot is first on the page: CSS order puts it after the page's head and
        # filters (order 0) and before what comes below it (order 2). The order is the
        # keyed container's wrapper's, the child of the page's column.
        st.html(f"<style>{_wrapper(SLOT_KEY)} {{order: 1;}} {_wrapper(BELOW_KEY)} {{order: 2;}}"
                "</style>")
    return event


def _wrapper(key: str) -> str:
    return f'[data-testid="stLayoutWrapper"]:has(> .st-key-{key})'


def _column(key: str) -> str:
    """The page column the keyed container's wrapper is in (no :has in a :has)."""
    return f'[data-testid="stVerticalBlock"]:has(> [data-testid="stLayoutWrapper"] > .st-key-{key})'


def below():
    """The container for what the Map page draws under its deck."""
    return st.container(key=BELOW_KEY)


def _draw(deck: pdk.Deck) -> Any:
    # Under the entrypoint's hash, as the other runs' empty deck: Streamlit makes an
    # element's id from the page it is drawn by, and a new id is a new deck.
    ctx = get_script_run_ctx()
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash) if ctx else nullcontext():
        return st.pydeck_chart(deck, height=HEIGHT, on_select="rerun",
                               selection_mode="single-object", key=DECK_KEY)


# --- the legend ----------------------------------------------------------------------------

def _swatch(colour: str, label: str, shape: str = "square", ring: str | None = None) -> str:
    radius = "50%" if shape == "circle" else "3px"
    border = f"3px solid {ring}" if ring else "1px solid #333"
    return (f"<span style='display:inline-flex;align-items:center;margin:0 1.1rem 0.3rem 0'>"
            f"<span style='display:inline-block;width:1.1rem;height:1.1rem;background:{colour};"
            f"border:{border};border-radius:{radius};margin-right:0.4rem'></span>"
            f"{escape_markdown(label)}</span>")


def legend_html(mode: str, statuses: Sequence[str] = (), rounded: bool = False,
                few_hidden: bool = False) -> str:
    """The legend for what the deck draws, as HTML for st.markdown: `rounded` when the
    counts are rounded to a multiple of 5 (geo.People.rounded), `few_hidden` when a
    facility with 1 to 4 people shows no occupancy (a liaison's map)."""
    rows = []
    if mode == "points":
        rows.append((_("Your nationals, by status"),
                     [_swatch(palette.PERSON_STATUS[s], _label(s, labels.PERSON_STATUS), "circle")
                      for s in
                      (statuses or vocab.PERSON_STATUSES) if s in palette.PERSON_STATUS]))
    else:
        upper = [b - 1 for b in COUNT_BINS[1:]] + [None]
        number = language.number
        ranges = [f"{number(a)}–{number(b)}" if b else f"{number(a)}+"
                  for a, b in zip(COUNT_BINS, upper, strict=True)]
        if mode == "areas":
            title = (_("Persons per district, rounded to a multiple of 5") if rounded
                     else _("Persons per district"))
        else:
            title = (_("Persons per cell, rounded to a multiple of 5") if rounded
                     else _("Persons per cell"))
        rows.append((title, [_swatch(c, t) for c, t in zip(COUNT_COLOURS, ranges, strict=True)]))

    def pct(share: float) -> str:
        return _percent(share * 100)

    rows.append((_("Facility load"), [
        _swatch(palette.LOAD_GREEN, _("under {share}").format(share=pct(palette.AMBER_FROM)),
                "circle"),
        _swatch(palette.LOAD_AMBER, f"{pct(palette.AMBER_FROM)}–{pct(palette.RED_FROM)}",
                "circle"),
        _swatch(palette.LOAD_RED, _("{share} and over").format(share=pct(palette.RED_FROM)),
                "circle"),
        _swatch(NO_REPORT, _("no valid report or fewer than 5") if few_hidden
                else _("no valid report"), "circle"),
    ]))
    rows.append((_("Hazard severity"), [
        _swatch(c, _label(s, labels.HAZARD_SEVERITY).lower()) for s, c in HAZARD_SEVERITY.items()]))
    rows.append((_("Consular post"), [_swatch("#ffffff", _("embassy or consulate"), "circle",
                                              ring=POST)]))
    # Translators: a legend's title, then its entries: the colon as your language writes it.
    titled = _("{title}:")
    return "".join(
        f"<div style='font-size:1.05rem;margin-bottom:0.2rem'>"
        f"<b>{titled.format(title=escape_markdown(title))}</b> "
        f"{''.join(items)}</div>" for title, items in rows)


def as_of_caption(as_of: datetime, earlier: bool = False) -> str:
    """What the moment shown means for each layer, in the reader's language."""
    if not earlier:
        # Translators: {moment} is a date and time, with "UTC".
        return _("Hazards active at {moment}.").format(moment=language.moment(as_of))
    # Translators: {moment} is a date and time, with "UTC".
    return _("As of {moment}: people where their history puts them then, facility load from "
             "the latest valid report by then, last confirmed by then (or else the latest "
             "report then), hazards active then. Facility status has no history: it is "
             "today's.").format(moment=language.moment(as_of))
