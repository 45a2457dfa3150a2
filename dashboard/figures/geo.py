"""What the Map page draws, for one viewer: people, facilities, hazards, consular posts,
and the offline base map.

People leave the database already aggregated for the roles that see only
counts (docs/design.md §2.4, §2.6): by district for the committee, by a square
grid cell for the coordinator. Each district's or cell's count is shown as
privacy.rounded makes it (0, "<5" or a multiple of 5 chosen by the cell key of
the persons counted), so the same persons show the same count under every filter
and moment, and no difference of two filters or of parts and totals singles out
one to four people. A district or cell of 1 to 4 persons ("<5") is not drawn;
nothing is hidden to protect another one. Every number in the notes is itself a
rounded count. Only a consular liaison gets points, and only of its visible
nationals (access.person_scope), and only up to a cap: past it, its nationals
are gridded too, with exact counts, so a page never ships more than a few MB
(docs/design.md §8). Rows that break the contract are left out with the
data-quality conditions.

At the latest moment the counts are summed from the *placements*: one tally per
scenario of its persons by tallies group, status, grid cell, district, whether at
a confidential place and vulnerability tags, each row with its count `n` and the
cell key `k` of the persons counted, found by the server once for every
scope and refreshed in the background (as dashboard.figures.tallies). Until it is first
found, and at an earlier moment, each scope is counted in the database.

At an earlier moment, people are where their history puts them then
(people.persons_at), facility load is the latest report by then, and hazards
those valid then; the same rules of scope, rounding and confidentiality apply.

Facility occupancy is reported by facilities, not counted from persons: it is shown
exactly, except that a liaison, who sees its nationals at those places person by
person, sees no exact occupancy of a facility holding 1 to 4 people.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import config, language
from dashboard.contract import vocab
from dashboard.figures import people as persons
from dashboard.figures import quality, reference, tallies
from dashboard.language import N_
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.rules.privacy import Count, Shown
from dashboard.store import cache, db
from dashboard.store.db import Database

BASEMAP_DIR = config.DATA_DIR / "basemap"
WORLD_FILE = "world-110m.geojson"
# Countries at 1:10m, each file for one region (its features carry label points; the
# neighbours to name carry `label` and `iso3`), and approximate district shapes by P-code
# for the shipped scenario templates (data/basemap/README.md).
REGION_FILES = ("region-10m.geojson", "caribbean-10m.geojson")
DISTRICT_FILES = ("lebanon-districts.geojson", "dominican-republic-districts.geojson")
BASEMAP_FILES = (WORLD_FILE, *REGION_FILES, *DISTRICT_FILES)

# Points cost ~40 bytes each in the compact spec: 5,000 is ~0.2 MB, well inside 2 MB.
POINT_CAP = 5000
# One fixed grid for everyone: offering several sizes would let nested cells be
# subtracted from each other to recover suppressed counts.
GRID_STEP = 0.05  # degrees, about 5.5 km north-south
# Statuses of people still in the country: the map's default filter.
IN_COUNTRY = ("located", "sheltered", "in_transit", "relocated", "missing")

TTL = int(config.get("SITROOM_CACHE_TTL_S"))


class Note(str):
    """A note under the map. As a str it is the note in English (what the tests, the logs
    and the code read); `said()` says it in the reader's language where it is drawn.

    Notes are made in cached code, which runs in English (dashboard.store.cache), so a
    note keeps its msgid, its plural and the count that chooses between them, and its
    fields as values (numbers as numbers, said in the reader's convention). Made with
    `Note.gettext` or `Note.ngettext`, named as gettext's own so that the catalogs find
    their strings (dashboard.tools.catalogs); they translate nothing: `said` does."""

    message: str
    plural: str | None
    n: int | None
    fields: dict[str, object]

    def __new__(cls, message: str, plural: str | None = None, n: int | None = None,
                fields: dict[str, object] | None = None) -> Note:
        fields = dict(fields or {})
        english = message if plural is None or n == 1 else plural
        note = super().__new__(cls, english.format(**{k: _english(v) for k, v in fields.items()}))
        note.message, note.plural, note.n, note.fields = message, plural, n, fields
        return note

    @classmethod
    def gettext(cls, message: str, **fields: object) -> Note:
        return cls(message, fields=fields)

    @classmethod
    def ngettext(cls, singular: str, plural: str, n: int, **fields: object) -> Note:
        return cls(singular, plural, n, fields)

    def __reduce__(self):  # copied out of the cache (and pickled) with what it says
        return (Note, (self.message, self.plural, self.n, self.fields))

    def said(self) -> str:
        """The note in the reader's language."""
        text = (language.gettext(self.message) if self.plural is None
                else language.ngettext(self.message, self.plural, int(self.n or 0)))
        return text.format(**{k: _said(v) for k, v in self.fields.items()})


def _english(value: object) -> str:
    """A field of a note as the English note has it: 1,234 and 0.05."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def _said(value: object) -> str:
    """A field of a note in the reader's convention (a float with as many decimals)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    digits = len(str(value).partition(".")[2]) if isinstance(value, float) else 0
    return language.number(value, digits)


@dataclass(frozen=True)
class MapFilters:
    """The reader's filters. Empty means no filter on that field. Hashable: a cache key."""

    nationalities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = IN_COUNTRY
    vulnerabilities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("nationalities", "statuses", "vulnerabilities"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))


@dataclass(frozen=True)
class FilterOptions:
    nationalities: dict[str, str]  # iso3 -> name
    statuses: tuple[str, ...]
    vulnerabilities: tuple[str, ...]


@dataclass(frozen=True)
class People:
    """People as the viewer may see them on the map.

    `mode` is "areas" (committee), "cells" (coordinator, or a liaison past the
    cap) or "points" (a liaison). Every count here is as the viewer is shown it:
    exact for a liaison (its own nationals), and for the roles that see only counts
    (`rounded`) privacy.rounded of the persons it counts: 0, "<5" or a multiple of
    5. No true count of those roles is kept, so none can reach the page. The
    `persons` of a drawn district or cell is such a shown count (never "<5": a
    district or cell of 1 to 4 persons is not drawn).
    """

    mode: str
    areas: pd.DataFrame     # pcode, name, lat, lon, persons, polygon, approximate — drawn only
    cells: pd.DataFrame     # gi, gj, persons, polygon — drawn cells only
    points: pd.DataFrame    # lon, lat, ref, full_name, status — a liaison's nationals only
    placed: Shown           # persons with valid coordinates matching the filters
    drawn: Shown            # persons in the drawn areas, cells or points, counted together
    hidden: Shown           # persons in areas or cells of 1 to 4 persons, not drawn
    unplaced: Shown         # persons whose district has no shape on the map
    in_confidential: Shown  # persons at a confidential facility, kept off cells and points
    bad_coordinates: Shown  # persons matching the filters without valid coordinates
    notes: tuple[Note, ...] = field(default=())  # in English as str; Note.said()
    as_of: datetime | None = None  # the earlier moment shown; None for the latest data
    rounded: bool = False   # counts are rounded (a role that sees only counts)


@dataclass(frozen=True)
class MapLayers:
    facilities: pd.DataFrame  # name, kind, status, capacity, occupants, full_pct, lat, lon, ...
    hazards: pd.DataFrame     # kind, severity, polygon (one row per polygon part)
    posts: pd.DataFrame       # country, name, status, hotline, lat, lon
    unreadable_hazards: int


# --- base map -----------------------------------------------------------------------------

def read_layer(name: str, folder: Path = BASEMAP_DIR) -> dict:
    """One offline base-map layer shipped in data/basemap/ (see its README). The map
    still works without it: a missing or unreadable file is an empty layer marked
    `missing`, and the page says which."""
    try:
        return json.loads((Path(folder) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"type": "FeatureCollection", "features": [], "missing": True}


def simplified(layer: dict, tolerance: float) -> dict:
    """A base-map layer with each feature's shape simplified to within `tolerance`
    degrees (Douglas-Peucker, by shapely: GEOS keeps each shape valid), its
    coordinates to 5 decimals. A feature shapely cannot read is kept as it is."""
    import shapely  # loaded only by the Map's server

    features = []
    for feature in layer.get("features", []):
        try:
            shape = shapely.geometry.shape(feature["geometry"])
            simple = shapely.simplify(shapely.set_precision(shape, 1e-5), tolerance,
                                      preserve_topology=True)
            geometry = json.loads(shapely.to_geojson(simple))
        except (KeyError, TypeError, ValueError, AttributeError,
                shapely.errors.ShapelyError):
            geometry = feature.get("geometry")
        features.append({**feature, "geometry": geometry})
    return {**layer, "features": features}


def read_basemap(folder: Path = BASEMAP_DIR) -> dict[str, dict]:
    """Every base-map layer, by file name. Static files: nothing in them is about a
    person (the page keeps them loaded once per server: components.map.basemap)."""
    return {name: read_layer(name, folder) for name in BASEMAP_FILES}


def district_shapes() -> dict[str, dict]:
    """pcode -> GeoJSON geometry of the shipped approximate district shapes of every
    shipped template (a few tens of KB, read whenever the map's view is worked out, at
    most once per scope per interval)."""
    return {f["properties"]["pcode"]: f["geometry"]
            for name in DISTRICT_FILES for f in read_layer(name)["features"]}


def extent_of(geometry: dict) -> tuple[float, float, float, float] | None:
    """(south, west, north, east) of a GeoJSON geometry's points, None without any."""
    lons, lats = [], []

    def walk(c) -> None:
        if c and isinstance(c[0], (int, float)):
            lons.append(float(c[0]))
            lats.append(float(c[1]))
        else:
            for x in c or ():
                walk(x)

    walk(geometry.get("coordinates") if isinstance(geometry, dict) else None)
    return (min(lats), min(lons), max(lats), max(lons)) if lats else None


def layer_extent(layer: dict) -> tuple[float, float, float, float] | None:
    """(south, west, north, east) of every feature of a base-map layer."""
    boxes = [b for f in layer.get("features", []) if (b := extent_of(f.get("geometry")))]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


# The Map's initial view is worked out for a deck of about this size: the wide page on a
# laptop screen of 1400 pixels, less the sidebar (a projector shows more around it).
VIEW_WIDTH_PX, VIEW_HEIGHT_PX = 900, 760
VIEW_MARGIN_DEG = 0.3  # around the areas' centres, so that their shapes fit too
WORLD_VIEW = (-60.0, -180.0, 75.0, 180.0)
BOUNDARY_DIGITS = 3  # an imported boundary is drawn to about 100 m


def fit(south: float, west: float, north: float, east: float,
        width: int = VIEW_WIDTH_PX, height: int = VIEW_HEIGHT_PX) -> tuple[float, float, float]:
    """(latitude, longitude, zoom) of a Web Mercator view that shows the box whole:
    deck.gl's world is 512 pixels wide at zoom 0 and doubles at each level."""
    def y(lat: float) -> float:
        lat = max(-85.0, min(85.0, lat))
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    span_x = max(east - west, 0.05) / 360.0
    span_y = max(y(north) - y(south), math.radians(0.05)) / (2 * math.pi)
    zoom = min(math.log2(width / (512 * span_x)), math.log2(height / (512 * span_y)))
    middle = math.degrees(math.atan(math.sinh((y(north) + y(south)) / 2)))
    zoom = math.floor(max(0.5, min(zoom, 12.0)) * 100) / 100  # down: the box fits whole
    return round(middle, 4), round((west + east) / 2, 4), zoom


def view_box(latitude: float, longitude: float, zoom: float, width: int = VIEW_WIDTH_PX,
             height: int = VIEW_HEIGHT_PX) -> tuple[float, float, float, float]:
    """(south, west, north, east) that a view of `width` x `height` pixels shows (fit's
    inverse)."""
    world = 512 * 2 ** zoom
    half_lon = width / world * 180.0
    y = math.log(math.tan(math.pi / 4 + math.radians(latitude) / 2))
    half_y = height / world * math.pi

    def lat(v: float) -> float:
        return math.degrees(math.atan(math.sinh(v)))

    return lat(y - half_y), longitude - half_lon, lat(y + half_y), longitude + half_lon


def drawable(geometry: dict, digits: int = BOUNDARY_DIGITS) -> dict:
    """A boundary light enough to send to the browser: points rounded to `digits`
    decimals and repeated points dropped. An official boundary can carry a point every
    few metres, megabytes for a country's districts; the Map needs a hundred metres."""
    polygons = []
    for polygon in rings(geometry):
        kept = []
        for ring in polygon:
            points: list[list[float]] = []
            for point in ring:
                x, y = round(float(point[0]), digits), round(float(point[1]), digits)
                if not points or points[-1] != [x, y]:
                    points.append([x, y])
            if len(points) >= 4:
                kept.append(points)
        if kept:
            polygons.append(kept)
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


@dataclass(frozen=True)
class MapView:
    """Where the Map opens and what it outlines, from the scenario's own areas: its
    country (scenarios.country), the extent of that country's areas, and their
    district (admin level 2) shapes: the boundary the database holds
    (areas.geometry, from `sitroom import areas`), else the shipped approximate shape
    of the same P-code. Nothing here is about a person: the same for every role."""

    country: str | None
    extent: tuple[float, float, float, float]  # south, west, north, east of the areas' centres
    latitude: float
    longitude: float
    zoom: float
    shapes: dict[str, dict]  # pcode -> GeoJSON geometry of the districts drawn
    approximate: frozenset[str]  # the P-codes whose shape is a shipped approximation

    def districts(self) -> dict:
        """The district outlines as a GeoJSON FeatureCollection."""
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"pcode": pcode}, "geometry": geometry}
            for pcode, geometry in sorted(self.shapes.items())]}


def _scenario_areas(database: Database, scenario_id: int) -> tuple[str | None, pd.DataFrame]:
    """The scenario's country and its areas (every area where the scenario names no
    country, or none of its country's areas are known)."""
    found = database.read("SELECT country FROM scenarios WHERE id = :scenario",
                          {"scenario": scenario_id})
    country = found["country"].iloc[0] if len(found) else None
    country = str(country) if country is not None and not pd.isna(country) else None
    columns = "a.pcode, a.admin_level, a.lat, a.lon, a.geometry"
    valid = "a.lat BETWEEN -90 AND 90 AND a.lon BETWEEN -180 AND 180"
    areas = pd.DataFrame()
    if country:
        areas = database.read(f"SELECT {columns} FROM areas a WHERE a.country = :country "
                              f"AND {valid}", {"country": country})
    if areas.empty:
        areas = database.read(f"SELECT {columns} FROM areas a WHERE {valid}")
    return country, areas


@cache.scoped(ttl=TTL)
def map_view(database: Database, viewer: Viewer) -> MapView:
    """The view and the district outlines of the viewer's scenario (MapView)."""
    country, areas = _scenario_areas(database, viewer.scenario_id)
    if areas.empty:  # no areas at all: the scenario's facilities, else the world
        areas = database.read(
            "SELECT f.lat, f.lon FROM facilities f WHERE f.scenario_id = :scenario "
            "AND f.lat BETWEEN -90 AND 90 AND f.lon BETWEEN -180 AND 180",
            {"scenario": viewer.scenario_id})
    if areas.empty:
        extent = WORLD_VIEW
        box = WORLD_VIEW
    else:
        lat, lon = pd.to_numeric(areas["lat"]), pd.to_numeric(areas["lon"])
        extent = (float(lat.min()), float(lon.min()), float(lat.max()), float(lon.max()))
        box = (extent[0] - VIEW_MARGIN_DEG, extent[1] - VIEW_MARGIN_DEG,
               extent[2] + VIEW_MARGIN_DEG, extent[3] + VIEW_MARGIN_DEG)
    latitude, longitude, zoom = fit(*box)
    shapes: dict[str, dict] = {}
    approximate: set[str] = set()
    if "geometry" in areas:
        shipped = district_shapes()
        for r in areas[pd.to_numeric(areas["admin_level"]) == 2].itertuples():
            own = None
            if isinstance(r.geometry, str) and r.geometry:
                try:
                    own = json.loads(r.geometry)
                except ValueError:
                    own = None
            try:  # another writer may have stored anything: a bad shape is no shape
                own = drawable(own) if isinstance(own, dict) else None
            except (TypeError, ValueError, IndexError, KeyError):
                own = None
            if own is not None and rings(own):
                shapes[str(r.pcode)] = own
            elif str(r.pcode) in shipped:
                shapes[str(r.pcode)] = shipped[str(r.pcode)]
                approximate.add(str(r.pcode))
    return MapView(country, extent, latitude, longitude, zoom, shapes, frozenset(approximate))


def rings(geometry: dict) -> list[list]:
    """A Polygon or MultiPolygon as a list of polygons (each a list of rings), for PolygonLayer."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon" and coords:
        return [coords]
    if kind == "MultiPolygon" and coords:
        return list(coords)
    return []


def in_ring(ring: list, x: float, y: float) -> bool:
    """Whether the point (x, y) = (lon, lat) is inside a closed ring (even-odd rule)."""
    found = False
    for a, b in zip(ring, ring[1:], strict=False):
        (x1, y1), (x2, y2) = a[:2], b[:2]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            found = not found
    return found


def in_ring_where(ring: list, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """`in_ring` for many points at once (arrays of lon and lat): which are inside, as
    booleans. Every edge against every point in one step, for a grid of candidates."""
    corners = np.asarray([c[:2] for c in ring], dtype=float)
    x1, y1 = corners[:-1, :1], corners[:-1, 1:]
    x2, y2 = corners[1:, :1], corners[1:, 1:]
    crosses = (y1 > ys) != (y2 > ys)  # a flat edge never does, so its 0/0 is never read
    with np.errstate(divide="ignore", invalid="ignore"):
        left = xs < x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
    return np.count_nonzero(crosses & left, axis=0) % 2 == 1


# --- filters ------------------------------------------------------------------------------

@cache.scoped(ttl=TTL)
def filter_options(database: Database, viewer: Viewer) -> FilterOptions:
    """What the filters offer. A liaison is offered only its own nationalities.
    Codes and tags only, no counts: safe for every role."""
    names = reference.nationalities(database, viewer.scenario_id)
    if access.sees_person_level(viewer.role):
        names = {n: names.get(n, n) for n in viewer.nationalities}
    # Tags are words, not people: read from the tag index alone, across scenarios.
    frame = database.read("SELECT DISTINCT tag FROM person_vulnerabilities")
    tags = set(frame["tag"].dropna().astype(str)) | set(vocab.VULNERABILITY_TAGS)
    return FilterOptions(names, tuple(vocab.PERSON_STATUSES), tuple(sorted(tags)))


def persons_matching(database: Database, viewer: Viewer, filters: MapFilters,
           then: datetime | None) -> tuple[str, str, dict]:
    """The viewer's persons as they were at `then` (None: now), and the condition for
    those matching the filters, with a status in the vocabulary."""
    source, where, params = persons.persons_at(database, viewer, then)
    if filters.nationalities:
        # Either nationality, as the consular rule reads it (docs/design.md §3).
        where += " AND (p.nationality IN :f_nats OR p.second_nationality IN :f_nats)"
        params["f_nats"] = list(filters.nationalities)
    if filters.statuses:
        where += " AND p.status IN :f_statuses"
        params["f_statuses"] = list(filters.statuses)
    if filters.vulnerabilities:
        where += (" AND EXISTS (SELECT 1 FROM person_vulnerabilities v "
                  "WHERE v.person_id = p.id AND v.tag IN :f_tags)")
        params["f_tags"] = list(filters.vulnerabilities)
    return source, where, params



def grid_columns(database: Database) -> str:
    """The grid cell (gi, gj) of a person `p`, NULL without valid coordinates."""
    # offset so that the value is never negative (Database.floor_int)
    gi, gj = (database.floor_int("(p.lat + 90.0) / :step"),
              database.floor_int("(p.lon + 180.0) / :step"))
    return (f"CASE WHEN {quality.valid_person_coordinates()} THEN {gi} END AS gi, "
            f"CASE WHEN {quality.valid_person_coordinates()} THEN {gj} END AS gj")


def cell_polygon(gi: int, gj: int, step: float = GRID_STEP) -> list[list[float]]:
    south, west = gi * step - 90, gj * step - 180
    north, east = south + step, west + step
    return [[round(x, 5), round(y, 5)] for x, y in
            ((west, south), (east, south), (east, north), (west, north), (west, south))]


def _exact(viewer: Viewer) -> bool:
    """Whether the viewer sees its counts exactly (a liaison, of its own nationals)."""
    return not access.suppresses_small_counts(viewer.role)


def _total(counts) -> Count:
    return sum(counts, privacy.ZERO)


def _shown(viewer: Viewer, counts: dict) -> tuple[dict, dict]:
    """The districts or cells to draw with the count each shows (privacy.shown: exact
    for a liaison, rounded for everyone else), and the Counts of those not drawn
    because they hold 1 to 4 persons ("<5"). Nothing is hidden to protect another:
    every count shown is rounded, so no difference gives a hidden one back."""
    drawn, hidden = {}, {}
    for key, count in counts.items():
        value = privacy.shown(count, _exact(viewer))
        if value == privacy.SUPPRESSED:
            hidden[key] = count
        elif isinstance(value, int) and value > 0:
            drawn[key] = value
    return drawn, hidden


def _shown_count(viewer: Viewer, count: Count) -> Shown:
    """A count of persons in a note, as the viewer may be told it: a number, or "<5"."""
    return privacy.shown(count, _exact(viewer))


def _drawn_in_cells(count: Shown, cells: int) -> Note:
    """Never "<5": a drawn cell holds 5 or more; were it so, it is shown as it is."""
    return Note.ngettext("{count} persons drawn in {cells} cell of {step}°.",
                         "{count} persons drawn in {cells} cells of {step}°.",
                         cells, count=count, cells=cells, step=GRID_STEP)


def _drawn_in_districts(count: Shown, districts: int) -> Note:
    """Never "<5": a drawn district holds 5 or more; were it so, it is shown as it is."""
    return Note.ngettext("{count} persons drawn in {districts} district.",
                         "{count} persons drawn in {districts} districts.",
                         districts, count=count, districts=districts)


def _without_coordinates(count: Shown) -> Note:
    if count == privacy.SUPPRESSED:
        return Note.gettext("Fewer than 5 persons without valid coordinates are not drawn "
                            "(see Data quality).")
    return Note.ngettext("{count} person without valid coordinates is not drawn "
                         "(see Data quality).",
                         "{count} persons without valid coordinates are not drawn "
                         "(see Data quality).", int(count), count=count)


ROUNDING_NOTE = N_("Counts are rounded to a multiple of 5; parts may not add up to the total.")


# Persons without valid coordinates are counted in the same pass as the cells or
# districts: each pass reads the whole scope again (and at an earlier moment its history).
_PLACED = f"CASE WHEN {quality.valid_person_coordinates()} THEN 1 ELSE 0 END"


def _counted(rows: pd.DataFrame) -> Count:
    """The Count of some rows of counts `n` and cell keys `k`."""
    return Count(int(rows["n"].sum()), int(rows["k"].sum()))


def _split_placed(frame: pd.DataFrame) -> tuple[pd.DataFrame, Count]:
    """The rows of persons with valid coordinates, and the Count of the others."""
    frame = frame.assign(**{c: pd.to_numeric(frame[c]).fillna(0).astype(np.int64)
                            for c in ("placed", "n", "k")})
    placed = frame["placed"] == 1
    return (frame[placed].drop(columns="placed").reset_index(drop=True),
            _counted(frame[~placed]))


def _cells(database: Database, source: str, where: str, params: dict,
           at_confidential: str) -> pd.DataFrame:
    """Persons by whether placed, grid cell and whether at a confidential place (n),
    with the cell key of each count (k)."""
    return database.read(
        f"SELECT {_PLACED} AS placed, {grid_columns(database)}, {at_confidential} AS conf, "
        f"COUNT(*) AS n, SUM({tallies.rk('p.id')}) AS k FROM {source} WHERE {where} "
        "GROUP BY 1, 2, 3, 4", {**params, **privacy.installation_key_params()})


def _districts(database: Database, source: str, where: str, params: dict) -> pd.DataFrame:
    """Persons by whether placed and district (n), with the cell key of each count (k)."""
    return database.read(
        f"SELECT {_PLACED} AS placed, p.area_pcode AS pcode, COUNT(*) AS n, "
        f"SUM({tallies.rk('p.id')}) AS k FROM {source} WHERE {where} GROUP BY 1, 2",
        {**params, **privacy.installation_key_params()})


# --- the shared placements (the latest moment) --------------------------------------------

# One bit per tag in a 64-bit mask. Past this many distinct tags (only ever on a
# dirty database) the vulnerability filter is left to the database.
MAX_TAGS = 62


@dataclass(frozen=True)
class Placements(tallies.Tallies):
    """A scenario's persons with a status in the vocabulary, at the latest data, in one
    frame, "placements": tallies group, status, placed (valid coordinates), gi and gj
    (grid cell, -1 if not placed), conf (at a confidential place), pcode (district,
    "" if none), mask (bit i: has tag `tags[i]`), n (persons) and k (the sum of
    their record keys, privacy.record_key: any sum of rows is a privacy.Count)."""

    tags: tuple[str, ...] | None = ()  # None: too many tags for the mask


def placements(database: Database, scenario_id: int) -> Placements | None:
    """The placements of a scenario, or None while they are first being found (a few
    seconds at a million persons): the caller then counts its scope in the database."""
    return database.current.peek(("placements", scenario_id),
                            lambda: _count_placements(database, scenario_id))


def find_placements(database: Database, scenario_id: int) -> Placements:
    """The placements, found now if they are not yet (the warm-up thread)."""
    return database.current.get(("placements", scenario_id),
                           lambda: _count_placements(database, scenario_id))


@db.patient()
def _count_placements(database: Database, scenario_id: int) -> Placements:
    found = database.read("SELECT DISTINCT tag FROM person_vulnerabilities")
    found_tags = tuple(sorted(set(found["tag"].dropna().astype(str))))
    tags: tuple[str, ...] | None = found_tags
    at_confidential, conf_params = access.at_confidential_place(scenario_id)
    params: dict[str, object] = {**conf_params, "scenario": scenario_id, "step": GRID_STEP}
    mask, join = "0", ""
    if len(found_tags) > MAX_TAGS:
        tags = None
    elif tags:
        params |= {f"tag_{i}": tag for i, tag in enumerate(tags)}
        bit = " ".join(f"WHEN :tag_{i} THEN {1 << i}" for i in range(len(tags)))
        mask = "COALESCE(m.mask, 0)"
        join = ("LEFT JOIN (SELECT t.person_id, SUM(t.bit) AS mask FROM (SELECT DISTINCT "
                f"v.person_id, CASE v.tag {bit} END AS bit FROM person_vulnerabilities v) t "
                "GROUP BY t.person_id) m ON m.person_id = p.id")
    frame = tallies.read(database, (
        f"SELECT {tallies.group_columns()}, p.status, {_PLACED} AS placed, "
        f"{grid_columns(database)}, "
        f"{at_confidential} AS conf, COALESCE(p.area_pcode, '') AS pcode, {mask} AS mask, "
        f"COUNT(*) AS n, SUM({tallies.rk('p.id')}) AS k FROM persons p {join} "
        f"WHERE p.scenario_id = :scenario AND {quality.valid_person_status()} "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"), params)
    frame = frame.astype({"placed": np.int8, "conf": np.int8, "status": "category",
                          "pcode": "category"})
    for column in ("gi", "gj"):
        frame[column] = pd.to_numeric(frame[column]).fillna(-1).astype(np.int32)
    frame["mask"] = pd.to_numeric(frame["mask"]).astype(np.int64)
    frame[["n", "k"]] = frame[["n", "k"]].astype(np.int64)
    counted = tallies.with_groups({"placements": frame})
    return Placements(counted.groups, counted.frames, tags=tags)


def _placed(found: Placements, viewer: Viewer, filters: MapFilters) -> pd.DataFrame | None:
    """The placements of the viewer's persons matching the filters; None where the
    placements cannot tell (a tag beyond the mask)."""
    rows = found.of_nationality(found.scope("placements", viewer), filters.nationalities)
    if filters.statuses:
        rows = rows[rows["status"].isin(filters.statuses)]
    if filters.vulnerabilities:
        if found.tags is None:
            return None
        bits = sum(1 << found.tags.index(t) for t in filters.vulnerabilities if t in found.tags)
        rows = rows[(rows["mask"].to_numpy() & bits) != 0]
    return rows


def _summed(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Persons (n) and their cell keys (k) summed by `keys`."""
    return rows.groupby(keys, observed=True, as_index=False)[["n", "k"]].sum()


@cache.scoped(ttl=TTL)
def people(database: Database, viewer: Viewer, filters: MapFilters,
           point_cap: int = POINT_CAP, as_of: datetime | None = None) -> People:
    """The people layer for `viewer` at `as_of` (None: the latest data), filtered,
    aggregated in the database, every count as the viewer may be shown it."""
    then = persons.earlier(database, viewer.scenario_id, as_of)
    source, where, params = persons_matching(database, viewer, filters, then)
    at_confidential, conf_params = access.at_confidential_place(viewer.scenario_id)
    params = {**params, **conf_params, "step": GRID_STEP}
    empty_cells = pd.DataFrame(columns=["gi", "gj", "persons", "polygon"])
    empty_areas = pd.DataFrame(columns=["pcode", "name", "lat", "lon", "persons", "polygon",
                                        "approximate"])
    empty_points = pd.DataFrame(columns=["lon", "lat", "ref", "full_name", "status"])

    found = placements(database, viewer.scenario_id) if then is None else None
    rows = _placed(found, viewer, filters) if found is not None else None
    if access.map_people_by_district(viewer.role):
        frame = (_summed(rows, ["placed", "pcode"]) if rows is not None
                 else _districts(database, source, where, params))
        return _by_area(database, viewer, frame, then, empty_cells, empty_points)

    cells, bad = _split_placed(_summed(rows, ["placed", "gi", "gj", "conf"]) if rows is not None
                               else _cells(database, source, where, params, at_confidential))
    cells = cells.astype({"gi": int, "gj": int, "conf": int})
    exact = _exact(viewer)
    placed = _counted(cells)
    in_conf = _counted(cells[cells["conf"] == 1])
    open_cells = cells[cells["conf"] == 0].groupby(["gi", "gj"])[["n", "k"]].sum()
    mode = "cells"
    points = empty_points
    if access.sees_person_level(viewer.role) and (placed - in_conf).n <= point_cap:
        mode = "points"
    if mode == "points" and placed.n > in_conf.n:
        points = database.read(
            f"SELECT p.lon, p.lat, p.ref, p.full_name, p.status FROM {source} "
            f"WHERE {where} AND {quality.valid_person_coordinates()} "
            f"AND {at_confidential} = 0 ORDER BY p.id", params)

    counts = {(int(i), int(j)): Count(int(n), int(k)) for (i, j), n, k in
              zip(open_cells.index, open_cells["n"], open_cells["k"], strict=True) if n > 0}
    drawn, hidden = ({}, {}) if mode == "points" else _shown(viewer, counts)
    cell_frame = empty_cells if mode == "points" else pd.DataFrame({
        "gi": [k[0] for k in drawn], "gj": [k[1] for k in drawn],
        "persons": list(drawn.values()),
        "polygon": [cell_polygon(*k) for k in drawn],
    })
    drawn_count = (Count(len(points)) if mode == "points"
                   else _total(counts[k] for k in drawn))
    hidden_count = _total(hidden.values())

    notes = []
    if mode == "points":
        notes.append(Note.ngettext("{count} of your nationals drawn as points.",
                                   "{count} of your nationals drawn as points.",
                                   len(points), count=len(points)))
    elif access.sees_person_level(viewer.role):
        notes.append(Note.gettext(
            "{count} of your nationals match: more than {cap}, so they are counted in "
            "{step}° cells. Narrow the filters (status, vulnerability, nationality) to see "
            "them as points.", count=(placed - in_conf).n, cap=point_cap, step=GRID_STEP))
    else:
        notes.append(_drawn_in_cells(_shown_count(viewer, drawn_count), len(drawn)))
    if not exact:
        notes.append(Note.gettext(ROUNDING_NOTE))
    if hidden:
        count = _shown_count(viewer, hidden_count)
        notes.append(
            Note.gettext("Fewer than 5 persons in cells of fewer than 5 people are not drawn.")
            if count == privacy.SUPPRESSED else
            Note.ngettext("{count} person in a cell of fewer than 5 people is not drawn.",
                          "{count} persons in cells of fewer than 5 people are not drawn.",
                          int(count), count=count))
    if in_conf.n:
        count = _shown_count(viewer, in_conf)
        notes.append(
            Note.gettext("Fewer than 5 persons at confidential facilities are not placed on "
                         "the map; they count in district totals only.")
            if count == privacy.SUPPRESSED else
            Note.ngettext("{count} person at a confidential facility is not placed on the "
                          "map; they count in district totals only.",
                          "{count} persons at confidential facilities are not placed on the "
                          "map; they count in district totals only.", int(count), count=count))
    if bad.n:
        notes.append(_without_coordinates(_shown_count(viewer, bad)))
    return People(mode, empty_areas, cell_frame, points, privacy.shown(placed, exact),
                  privacy.shown(drawn_count, exact), privacy.shown(hidden_count, exact), 0,
                  privacy.shown(in_conf, exact), privacy.shown(bad, exact), tuple(notes),
                  then, rounded=not exact)


def _by_area(database: Database, viewer: Viewer, districts: pd.DataFrame, then: datetime | None,
             empty_cells: pd.DataFrame, empty_points: pd.DataFrame) -> People:
    """The committee's view: persons by district (admin level 2) on the approximate shapes,
    from the persons by district with their cell keys (`_districts`)."""
    frame, bad = _split_placed(districts)
    areas = database.read("SELECT pcode, name, lat, lon FROM areas WHERE admin_level = 2")
    view = map_view(database, viewer)
    shapes = view.shapes
    known = {r.pcode: r for r in areas.itertuples() if r.pcode in shapes}
    counts: dict[str, Count] = {}
    unplaced = privacy.ZERO
    for pcode, n, k in zip(frame["pcode"], frame["n"], frame["k"], strict=True):
        if n <= 0:
            continue
        if pcode in known:
            counts[str(pcode)] = counts.get(str(pcode), privacy.ZERO) + Count(int(n), int(k))
        else:
            unplaced += Count(int(n), int(k))
    exact = _exact(viewer)
    drawn, hidden = _shown(viewer, counts)
    area_frame = pd.DataFrame({
        "pcode": list(drawn), "name": [known[k].name for k in drawn],
        "lat": [float(known[k].lat) for k in drawn], "lon": [float(known[k].lon) for k in drawn],
        "persons": list(drawn.values()), "polygon": [rings(shapes[k]) for k in drawn],
        "approximate": [k in view.approximate for k in drawn],
    })
    drawn_count = _total(counts[k] for k in drawn)
    hidden_count = _total(hidden.values())
    notes = [_drawn_in_districts(_shown_count(viewer, drawn_count), len(drawn))]
    if not exact:
        notes.append(Note.gettext(ROUNDING_NOTE))
    if hidden:
        count = _shown_count(viewer, hidden_count)
        notes.append(
            Note.gettext("Fewer than 5 persons in districts of fewer than 5 people are not "
                         "drawn.")
            if count == privacy.SUPPRESSED else
            Note.ngettext("{count} person in a district of fewer than 5 people is not drawn.",
                          "{count} persons in districts of fewer than 5 people are not drawn.",
                          int(count), count=count))
    if unplaced.n:
        count = _shown_count(viewer, unplaced)
        notes.append(
            Note.gettext("Fewer than 5 persons have no known district and are not drawn.")
            if count == privacy.SUPPRESSED else
            Note.ngettext("{count} person has no known district and is not drawn.",
                          "{count} persons have no known district and are not drawn.",
                          int(count), count=count))
    if bad.n:
        notes.append(_without_coordinates(_shown_count(viewer, bad)))
    if then is not None:
        notes.append(Note.gettext(
            "The history records places, not districts: a person who was then in another "
            "facility than now is counted in that facility's district, anyone else in their "
            "current district."))
    return People("areas", area_frame, empty_cells, empty_points,
                  privacy.shown(_counted(frame), exact), privacy.shown(drawn_count, exact),
                  privacy.shown(hidden_count, exact), privacy.shown(unplaced, exact), 0,
                  privacy.shown(bad, exact), tuple(notes), then, rounded=not exact)


# --- facilities, hazards, consular posts --------------------------------------------------

@cache.scoped(ttl=TTL)
def layers(database: Database, viewer: Viewer, as_of: datetime) -> MapLayers:
    """Facilities (never a confidential one) with their load at `as_of` ("<5" occupants
    for a liaison where 1 to 4 people are there), hazards active at `as_of`, consular
    posts. Facility status has no history: it is today's."""
    params = {"scenario": viewer.scenario_id}
    # The latest report by an earlier moment; at the latest moment, the latest report.
    earlier = persons.earlier(database, viewer.scenario_id, as_of) is not None
    occupancy = quality.latest_occupancy(dialect=database.dialect)
    occ_params: dict[str, object] = dict(params)
    if earlier:
        occupancy = quality.latest_occupancy("occ_at", database.dialect)
        occ_params = {**params, "occ_at": as_of}
    # Two small queries, one row per facility each: SQLite re-runs a grouped subquery
    # inside a LEFT JOIN for every facility, which took seconds at the reference scale.
    fac = database.read(
        "SELECT f.id, f.name, f.kind, f.status, f.capacity, f.lat, f.lon, f.confidential, "
        "f.confirmed_at FROM facilities f "
        "WHERE f.scenario_id = :scenario AND f.lat BETWEEN -90 AND 90 "
        "AND f.lon BETWEEN -180 AND 180 ORDER BY f.id", params)
    latest = database.read(
        f"SELECT f.id, CASE WHEN {quality.valid_occupancy()} THEN lo.occupants END AS occupants, "
        f"lo.at AS reported_at FROM facilities f JOIN ({occupancy}) lo "
        "ON lo.facility_id = f.id WHERE f.scenario_id = :scenario", occ_params)
    fac = fac.merge(latest, on="id", how="left")
    if earlier:
        # confirmed_at keeps only the latest confirmation, unknown at an earlier moment if
        # made since: the latest report by then stands in (as on the Shelters page).
        confirmed = pd.to_datetime(fac["confirmed_at"], format="mixed")
        fac["confirmed_at"] = confirmed.where(
            confirmed <= as_of, pd.to_datetime(fac["reported_at"], format="mixed"))
    fac = fac.drop(columns=["reported_at"])
    fac = fac[[access.facility_drawn(bool(c)) for c in fac["confidential"]]]
    fac = fac.drop(columns=["confidential"]).reset_index(drop=True)
    occupants = pd.to_numeric(fac["occupants"], errors="coerce")
    fac["full_pct"] = (100 * occupants / fac["capacity"]).round(0)
    # Occupancy is reported by facilities, not counted from persons: shown exactly to
    # the roles that see only counts. A liaison sees its own nationals at these places
    # person by person, so it gets no exact occupancy of a place holding 1 to 4 people
    # (the others there could be told apart): neither the count nor the share.
    liaison = access.sees_person_level(viewer.role)
    few = pd.Series([liaison and pd.notna(n) and privacy.is_small(int(n)) for n in occupants],
                    index=fac.index, dtype=bool)
    fac["full_pct"] = fac["full_pct"].mask(few)
    fac["occupants"] = [privacy.SUPPRESSED if f else (None if pd.isna(n) else int(n))
                        for f, n in zip(few, occupants, strict=True)]

    haz = database.read(
        "SELECT h.id, h.kind, h.severity, h.geometry, h.valid_from, h.valid_to FROM hazards h "
        "WHERE h.scenario_id = :scenario AND h.valid_from <= :at "
        "AND (h.valid_to IS NULL OR h.valid_to > :at) ORDER BY h.id",
        {**params, "at": as_of})
    rows, unreadable = [], 0
    for h in haz.itertuples():
        try:
            parts = rings(json.loads(h.geometry))
        except (TypeError, ValueError, AttributeError):
            parts = []
        if not parts:
            unreadable += 1
        rows += [{"id": int(h.id), "kind": h.kind, "severity": h.severity, "polygon": part,
                  "valid_from": h.valid_from, "valid_to": h.valid_to} for part in parts]
    hazards = pd.DataFrame(rows, columns=["id", "kind", "severity", "polygon", "valid_from",
                                          "valid_to"])

    posts = database.read("SELECT p.country, p.name, p.status, p.hotline, p.lat, p.lon "
                                  "FROM consular_posts p WHERE p.lat BETWEEN -90 AND 90 "
                                  "AND p.lon BETWEEN -180 AND 180 ORDER BY p.id")
    return MapLayers(fac, hazards, posts, unreadable)
