"""The Map page, read from what is sent to the browser: the deck spec.

Expected values come from the test's own SQL and pandas over the raw rows; what a
role that sees only counts must be shown of them, from the tests' own oracle
(tests/disclosure.py: `expected` of the ids of the persons counted).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from components import map as deck
from dashboard import config, language
from dashboard.contract import labels
from dashboard.figures import geo
from dashboard.rules.access import Viewer
from tests.apptest import open_page, texts
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5, expected

IN_COUNTRY = ("located", "sheltered", "in_transit", "relocated", "missing")
STATUSES = (*IN_COUNTRY, "evacuated", "deceased")
STEP = 0.05
TWO_MB = 2 * 1024 * 1024
DISTRICTS_FILE = geo.BASEMAP_DIR / "lebanon-districts.geojson"
ROUNDING_NOTE = "Counts are rounded to a multiple of 5; parts may not add up to the total."


# --- the test's own reading of the database ------------------------------------------------

def frame(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def persons(engine, scenario: int = 1) -> pd.DataFrame:
    rows = frame(engine, "SELECT * FROM persons WHERE scenario_id = :s", s=scenario)
    rows["valid_xy"] = (rows.lat.notna() & rows.lon.notna() & rows.lat.between(-90, 90)
                        & rows.lon.between(-180, 180))
    return rows


def facilities(engine, scenario: int = 1) -> pd.DataFrame:
    rows = frame(engine, "SELECT * FROM facilities WHERE scenario_id = :s", s=scenario)
    rows["confidential"] = rows.confidential.astype(bool)
    return rows


def at_confidential(people: pd.DataFrame, fac: pd.DataFrame) -> pd.Series:
    secret = fac[fac.confidential]
    spots = set(zip(secret.lat, secret.lon, strict=True))
    return (people.facility_id.isin(set(secret.id))
            | pd.Series([(a, b) in spots for a, b in zip(people.lat, people.lon, strict=True)],
                        index=people.index))


def visible_to(people: pd.DataFrame, nats: set[str]) -> pd.Series:
    own = people.nationality.isin(nats) | people.second_nationality.isin(nats)
    return own & people.consent_consular.astype(bool) & ~people.protection_confidential.astype(bool)


def on_map(people: pd.DataFrame, statuses=IN_COUNTRY) -> pd.DataFrame:
    return people[people.status.isin(statuses) & people.valid_xy]


def as_of(people: pd.DataFrame):
    return pd.to_datetime(people.updated_at, format="mixed").max().to_pydatetime()


# --- what the browser got ------------------------------------------------------------------

def spec_of(at) -> tuple[str, dict]:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    raw_json = charts[0].proto.json
    return raw_json, json.loads(raw_json)


def layer(spec: dict, layer_id: str) -> list[dict]:
    found = [lyr for lyr in spec["layers"] if lyr.get("id") == layer_id]
    return found[0]["data"] if found else []


def pairs(node) -> set[tuple[float, float]]:
    """Every [x, y] pair of numbers anywhere in the spec, rounded to the data's 5 decimals."""
    out: set[tuple[float, float]] = set()
    if isinstance(node, dict):
        for value in node.values():
            out |= pairs(value)
    elif isinstance(node, list):
        if len(node) in (2, 3) and all(isinstance(v, int | float) for v in node):
            out.add((round(float(node[0]), 5), round(float(node[1]), 5)))
        else:
            for value in node:
                out |= pairs(value)
    return out


def xy(rows: pd.DataFrame) -> set[tuple[float, float]]:
    return {(round(float(a), 5), round(float(b), 5)) for a, b in zip(rows.lon, rows.lat,
                                                                     strict=True)}


def public_places(engine) -> set[tuple[float, float]]:
    """Where non-confidential facilities and consular posts stand: drawn for every role,
    and where sheltered people's coordinates are recorded too."""
    fac = facilities(engine)
    posts = frame(engine, "SELECT lon, lat FROM consular_posts")
    return xy(fac[~fac.confidential]) | xy(posts)


def note_number(page_text: str, pattern: str) -> int | None:
    match = re.search(r"^([\d,]+) " + pattern, page_text, re.MULTILINE)
    return int(match.group(1).replace(",", "")) if match else None


def note_says(page_text: str, pattern: str) -> int | str | None:
    """The count a note starts with: a number, "<5" for "Fewer than 5", None if no note."""
    if re.search(r"^Fewer than 5 " + pattern, page_text, re.MULTILINE):
        return LESS_THAN_5
    return note_number(page_text, pattern)


def told(ids) -> int | str | None:
    """What a note must say of these persons for a count-only role: the oracle's shown
    count, and no note at all where there is no one."""
    ids = list(ids)
    return expected(ids) if ids else None


# --- what the oracle says a count-only role must see, place by place ------------------------

def with_cells(people: pd.DataFrame) -> pd.DataFrame:
    """The persons with their grid cell (gi, gj), worked out here."""
    return people.assign(gi=[math.floor((y + 90) / STEP) for y in people.lat],
                         gj=[math.floor((x + 180) / STEP) for x in people.lon])


def ids_by(people: pd.DataFrame, keys) -> dict:
    """The ids of the persons in each place (a district's pcode, or a cell's (gi, gj))."""
    return {(tuple(int(v) for v in k) if isinstance(k, tuple) else k): list(g.id)
            for k, g in people.groupby(keys)}


def expected_drawn(places: dict) -> dict:
    """The places a count-only role is shown, each with its count: those whose persons
    round to a number; a place of 1 to 4 ("<5") is not drawn, and no other is hidden."""
    shown = {k: expected(ids) for k, ids in places.items()}
    return {k: v for k, v in shown.items() if v != LESS_THAN_5 and v != 0}


def small_ids(places: dict) -> list[int]:
    """The persons of the places of 1 to 4: the page tells their number, rounded."""
    return [i for ids in places.values() if 0 < len(ids) < 5 for i in ids]


def drawn_ids(places: dict, drawn: dict) -> list[int]:
    return [i for k in drawn for i in places[k]]


def district_shapes() -> set[str]:
    """The districts the base map has a shape for, read from the shipped file here."""
    return {f["properties"]["pcode"]
            for f in json.loads(DISTRICTS_FILE.read_text(encoding="utf-8"))["features"]}


# --- aggregate roles -----------------------------------------------------------------------

@pytest.fixture(params=["placements", "tables"])
def counted_from(request, monkeypatch) -> str:
    """At the latest moment people are summed from the placements once the server has
    found them, and counted in the database until then: both must give the same map."""
    if request.param == "placements":
        db_url = request.getfixturevalue(
            "dirty_db_url" if "dirty_db_url" in request.fixturenames else "db_url")
        geo.find_placements(opened(db_url), 1)
    else:
        monkeypatch.setattr(geo, "placements", lambda *_: None)
    return request.param


SLOT_RUN = """
import streamlit as st
from components import map as deck
deck.open_slot()
st.title("a page")
if st.session_state.get("map"):
    deck.show(deck.OfflineDeck(
        layers=[deck.pdk.Layer("ScatterplotLayer", id="points", data=[{"position": [35.5, 33.9]}])],
        initial_view_state=deck.pdk.ViewState(latitude=33.9, longitude=35.5, zoom=8,
                                              min_zoom=4, pitch=0, bearing=0)))
    with deck.below():
        st.markdown("under the map")
deck.close_slot()
"""


def made_up_only(spec: dict) -> bool:
    """Whether a deck holds only one made-up shape a layer, at most 20° from the centre
    of the deck's opening view (0° 0° for the world), with no name and no tip
    (components/map.py primers): nothing about anyone or anywhere."""
    start = spec.get("initialViewState") or {}
    centre = (start.get("longitude", 0.0), start.get("latitude", 0.0))
    for lyr in spec["layers"]:
        data = lyr["data"]
        rows = [f["geometry"] | f["properties"] for f in data["features"]] \
            if isinstance(data, dict) else data
        if len(rows) != 1 or not lyr["id"].startswith("primer-"):
            return False
        row = rows[0]
        points = re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", json.dumps(
            [row.get(k) for k in ("position", "polygon", "coordinates")]))
        if not points or any(abs(float(x) - centre[0]) > 20 or abs(float(y) - centre[1]) > 20
                             for x, y in points) or row.get("tip") or \
                row.get("text", "0") != "0" or set(row) - PRIMER_KEYS:
            return False
    return True


PRIMER_KEYS = {"position", "polygon", "text", "color", "fill", "line", "tip", "type",
               "coordinates"}


def test_the_map_and_every_other_run_draw_one_deck_in_one_place():
    """The deck the Map draws and the empty one of every other run are one element (one
    id, first on the page): in the browser, one deck and one WebGL context for the
    session. The empty one holds nothing but made-up shapes and fetches no base map."""
    at = AppTest.from_string(SLOT_RUN, default_timeout=60)
    at.session_state["map"] = True
    at.run()
    drawn = at.get("deck_gl_json_chart")
    assert len(drawn) == 1 and json.loads(drawn[0].proto.json)["layers"][0]["id"] == "points"
    first_id = drawn[0].proto.id
    assert at.main.children[0].get("deck_gl_json_chart")  # first on the page
    at.session_state["map"] = False
    at.run()
    empty = at.get("deck_gl_json_chart")
    assert len(empty) == 1 and empty[0].proto.id == first_id
    assert at.main.children[0].get("deck_gl_json_chart")
    spec = json.loads(empty[0].proto.json)
    assert made_up_only(spec) and spec.get("mapProvider") is None
    assert not at.exception


def test_the_empty_deck_opens_where_the_map_last_opened():
    """Streamlit draws a deck once at its old opening view before moving it to a new
    one (two drawings of the whole map a visit, a third of a second each in software
    WebGL): so the empty deck has the Map's views and the opening view of the
    session's last Map, its made-up shapes at that view's centre. Before any Map, and
    after sign-out, it opens on the world."""
    at = AppTest.from_string(SLOT_RUN, default_timeout=60)
    at.run()
    before = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    at.session_state["map"] = True
    at.run()
    shown = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    at.session_state["map"] = False
    at.run()
    after = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert after["initialViewState"] == shown["initialViewState"] == {
        "latitude": 33.9, "longitude": 35.5, "zoom": 8, "minZoom": 4, "pitch": 0, "bearing": 0}
    assert after["views"] == shown["views"] == before["views"]
    assert made_up_only(after)
    assert before["initialViewState"]["latitude"] == before["initialViewState"]["longitude"] == 0
    for lyr in after["layers"]:  # a few pixels around the centre at zoom 8, not 20°
        rows = [f["geometry"] for f in lyr["data"]["features"]] \
            if isinstance(lyr["data"], dict) else lyr["data"]
        numbers = [float(n) for n in re.findall(r"-?\d+\.\d+|-?\d+", json.dumps(
            [r.get(k) for r in rows for k in ("position", "polygon", "coordinates")]))]
        assert all(abs(n - 35.5) < 1 or abs(n - 33.9) < 1 for n in numbers), lyr["id"]


def test_a_session_that_saw_the_first_count_draws_no_deck_until_told():
    """While the server's first count is under way no deck is drawn, and in a session
    that saw it none after either, signed in or not, until the page's timer asks for it
    (components/map.py, PRIMERS_AFTER_S; the browser test follows it through in a real
    first start): then the empty deck and its primers, the same element from then on.
    A session that never saw the count has them at once."""
    script = SLOT_RUN.replace("deck.close_slot()", (
        "deck.close_slot(lambda: st.session_state.get('counting', False),\n"
        "                signed_in=st.session_state.get('signed in', False))"))

    def decks(at: AppTest) -> list:
        return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]

    saw = AppTest.from_string(script, default_timeout=60)
    saw.session_state["counting"] = True
    saw.run()
    assert decks(saw) == []
    saw.session_state["counting"] = False
    saw.run()
    assert decks(saw) == []
    saw.session_state["signed in"] = True
    saw.run()
    assert decks(saw) == [] and not saw.exception
    saw.session_state[deck.PRIMERS_KEY] = deck.DUE  # what the timer's run sets
    saw.run()
    [primed] = decks(saw)
    assert primed["layers"] and made_up_only(primed)
    first_id = saw.get("deck_gl_json_chart")[0].proto.id
    saw.run()  # and from then on
    assert decks(saw) == [primed] and saw.get("deck_gl_json_chart")[0].proto.id == first_id

    fresh = AppTest.from_string(script, default_timeout=60)
    fresh.run()
    [fresh_deck] = decks(fresh)
    assert fresh_deck["layers"] and made_up_only(fresh_deck)


def drawing_kind(layer: dict) -> tuple:
    """What decides the programs a layer needs compiled: its type, and each prop as
    read from the rows (an accessor), a flag's value, or a constant."""
    def kind(value):
        if isinstance(value, str) and value.startswith("@@="):
            return "rows"
        return value if isinstance(value, bool) else "constant"
    return (layer["@@type"], frozenset((k, kind(v)) for k, v in layer.items()
                                       if k not in ("id", "data")))


@pytest.mark.parametrize("tiles", [False, True])
def test_the_empty_deck_primes_every_layer_the_map_draws_as_it_draws_it(db_url, tiles):
    """The browser compiles a layer's programs (and in software WebGL its pipelines, by
    which props are read from the rows and which are constants) the first time it
    draws one: the empty deck (behind the sign-in form, and out of sight on every other
    page) draws each layer the Map does, for every role and mode, with the same props,
    so the first visit of the Map compiles nothing."""
    drawn = set()
    for role, nats in (("committee", None), ("coordinator", None), ("consular", ["ETH"])):
        at = open_page(db_url, "map", role, nats)
        if tiles:
            at.toggle(key="map_tiles").set_value(True).run()
        _, spec = spec_of(at)
        drawn |= {drawing_kind(lyr) for lyr in spec["layers"]}
    empty = json.loads(deck.empty_deck().to_json())
    assert drawn <= {drawing_kind(lyr) for lyr in empty["layers"]}
    assert made_up_only(empty)


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_no_person_level_data_reaches_an_aggregate_role(db_url, raw, role, counted_from):
    engine = raw(db_url)
    people = persons(engine)
    at = open_page(db_url, "map", role)
    assert not at.exception
    spec_json, spec = spec_of(at)

    exposed = (xy(people[people.valid_xy]) - public_places(engine)) & pairs(spec)
    assert not exposed, f"person coordinates in the {role}'s map: {sorted(exposed)[:3]}"
    for column in ("ref", "full_name", "phone"):
        leaked = [v for v in people[column].dropna() if str(v) in spec_json]
        assert not leaked, f"{column} in the {role}'s map: {leaked[:3]}"
    types = {lyr["@@type"] for lyr in spec["layers"]}
    assert not types & {"HexagonLayer", "HeatmapLayer", "ScreenGridLayer", "GridLayer"}
    assert not layer(spec, "people-points")
    counts = [row["persons"] for lid in ("people-districts", "people-cells")
              for row in layer(spec, lid)]
    assert counts and min(counts) >= 5
    assert all(isinstance(n, int) and n % 5 == 0 for n in counts)  # rounded, never exact
    assert "rounded to a multiple of 5" in texts(at)
    tips = [row["tip"] for lid in ("people-districts", "people-cells") for row in layer(spec, lid)]
    assert all("(rounded to a multiple of 5)" in tip for tip in tips)


def drawn_districts(engine, spec: dict) -> dict[str, int]:
    areas = frame(engine, "SELECT pcode, name FROM areas WHERE admin_level = 2")
    by_name = dict(zip(areas.name, areas.pcode, strict=True))
    return {by_name[r["tip"].split(" district")[0]]: r["persons"]
            for r in layer(spec, "people-districts")}


def check_districts(engine, at, people: pd.DataFrame) -> None:
    """Each drawn district shows exactly the oracle's rounding of the persons the test's
    own SQL puts there, the districts of 1 to 4 persons are not drawn (and no other),
    and every number in the notes is itself the rounding of the persons it counts."""
    shapes = district_shapes()
    places = ids_by(people[people.area_pcode.isin(shapes)], "area_pcode")
    want = expected_drawn(places)
    _, spec = spec_of(at)
    drawn = drawn_districts(engine, spec)
    assert drawn == want
    assert all(isinstance(n, int) and n >= 5 and n % 5 == 0 for n in drawn.values())
    page = texts(at)
    assert note_number(page, f"persons drawn in {len(want)} districts") == expected(
        drawn_ids(places, want))
    assert note_says(page, "persons in districts of fewer than 5 people") == told(
        small_ids(places))
    assert note_says(page, "persons have no known district") == told(
        people.id[~people.area_pcode.isin(shapes)])
    assert ROUNDING_NOTE in page


def test_committee_districts_match_the_database(db_url, raw, counted_from):
    engine = raw(db_url)
    at = open_page(db_url, "map", "committee")
    assert not at.exception
    check_districts(engine, at, on_map(persons(engine)))


def drawn_cells(spec: dict) -> dict[tuple[int, int], int]:
    drawn = {}
    for cell in layer(spec, "people-cells"):
        west, south = cell["polygon"][0]
        drawn[(round((south + 90) / STEP), round((west + 180) / STEP))] = cell["persons"]
    return drawn


def check_cells(engine, at, people: pd.DataFrame) -> dict:
    """Each drawn cell shows exactly the oracle's rounding of the persons the test's own
    SQL puts there (never those at a confidential place), the cells of 1 to 4 persons
    are not drawn (and no other), and every number in the notes is itself rounded."""
    secret = at_confidential(people, facilities(engine))
    places = ids_by(with_cells(people[~secret]), ["gi", "gj"])
    want = expected_drawn(places)
    drawn = drawn_cells(spec_of(at)[1])
    assert drawn == want
    assert all(isinstance(n, int) and n >= 5 and n % 5 == 0 for n in drawn.values())
    page = texts(at)
    assert note_number(page, f"persons drawn in {len(want):,} cells") == expected(
        drawn_ids(places, want))
    assert note_says(page, "persons in cells of fewer than 5 people") == told(
        small_ids(places))
    assert note_says(page, "persons at confidential facilities") == told(people.id[secret])
    assert ROUNDING_NOTE in page
    return drawn


def test_coordinator_cells_match_the_database(db_url, raw, counted_from):
    engine = raw(db_url)
    at = open_page(db_url, "map", "coordinator")
    assert not at.exception
    drawn = check_cells(engine, at, on_map(persons(engine)))
    assert len(drawn) > 10


def test_cells_are_drawn_inside_their_own_cell_without_an_outline(db_url):
    """A cell is drawn a little inside its grid square, so that the base map shows
    between neighbours, with no outline (outlines are the costly part of a frame in
    software WebGL): each polygon lies within its own square, and covers most of it."""
    _, spec = spec_of(open_page(db_url, "map", "coordinator"))
    cells = [lyr for lyr in spec["layers"] if lyr["id"] == "people-cells"]
    assert cells and not cells[0].get("stroked")
    for cell in cells[0]["data"]:
        south, west = cell["gi"] * STEP - 90, cell["gj"] * STEP - 180
        xs = [x for x, _ in cell["polygon"]]
        ys = [y for _, y in cell["polygon"]]
        assert west < min(xs) < max(xs) < west + STEP and south < min(ys) < max(ys) < south + STEP
        assert (max(xs) - min(xs)) * (max(ys) - min(ys)) > 0.8 * STEP * STEP


def test_the_1_10m_countries_are_drawn_simplified_within_a_kilometre(db_url):
    """The region's countries are drawn with fewer points than the shipped file holds,
    each outline within 0.01 degrees of the shipped one (simplified to 0.005: an
    enclave smaller than that may go), every country kept."""
    import shapely
    from shapely.geometry import shape

    _, spec = spec_of(open_page(db_url, "map", "committee"))
    drawn = next(lyr for lyr in spec["layers"] if lyr["id"] == "region-10m")["data"]
    shipped = json.loads((geo.BASEMAP_DIR / "region-10m.geojson").read_text())
    assert [f["properties"] for f in drawn["features"]] == [
        f["properties"] for f in shipped["features"]]
    points = {"drawn": 0, "shipped": 0}
    for mine, theirs in zip(drawn["features"], shipped["features"], strict=True):
        a, b = shape(mine["geometry"]), shape(theirs["geometry"])
        assert a.is_valid and a.hausdorff_distance(b) <= 0.01
        points["drawn"] += shapely.get_num_coordinates(a)
        points["shipped"] += shapely.get_num_coordinates(b)
    assert points["drawn"] < 0.7 * points["shipped"]


# --- the consular liaison ------------------------------------------------------------------

@pytest.mark.parametrize("nats", [["ETH"], ["PHL", "KEN"]])
def test_a_liaison_gets_points_of_its_visible_nationals_only(db_url, raw, nats, counted_from):
    engine = raw(db_url)
    everyone = persons(engine)
    people = on_map(everyone)
    mine = people[visible_to(people, set(nats)) & ~at_confidential(people, facilities(engine))]
    at = open_page(db_url, "map", "consular", nats)
    assert not at.exception
    spec_json, spec = spec_of(at)
    points = layer(spec, "people-points")
    assert len(points) == len(mine) > 0
    assert {tuple(p["position"]) for p in points} == xy(mine)
    others = everyone[~visible_to(everyone, set(nats)) & everyone.valid_xy]
    exposed = (xy(others) - xy(mine) - public_places(engine)) & pairs(spec)
    assert not exposed
    leaked = [r for r in others.ref if r in spec_json]
    assert not leaked
    assert set(mine.ref) == {p["tip"].split("\n")[1].split(" · ")[0] for p in points}


def test_past_the_cap_a_liaisons_nationals_are_counted_in_cells(db_url, raw, counted_from):
    engine = raw(db_url)
    people = on_map(persons(engine))
    mine = people[visible_to(people, {"ETH"}) & ~at_confidential(people, facilities(engine))]
    result = geo.people(opened(db_url), Viewer("l", "consular", 1, ("ETH",)), geo.MapFilters(),
                        point_cap=len(mine) - 1)
    assert result.mode == "cells" and result.points.empty
    # a liaison's counts are exact, small cells included
    own = with_cells(mine).groupby(["gi", "gj"]).size()
    assert {(int(r.gi), int(r.gj)): int(r.persons) for r in result.cells.itertuples()} == {
        (int(i), int(j)): int(n) for (i, j), n in own.items()}
    assert (own < 5).any()
    assert not result.rounded and result.drawn == len(mine)
    assert any("Narrow the filters" in note for note in result.notes)
    assert not any("rounded" in note for note in result.notes)


# --- facilities, hazards, posts, base map --------------------------------------------------

@pytest.mark.parametrize("role,nats", [("committee", None), ("coordinator", None),
                                       ("consular", ["ETH"])])
def test_confidential_facilities_are_never_drawn_and_hazards_are(db_url, raw, role, nats):
    engine = raw(db_url)
    fac = facilities(engine)
    at = open_page(db_url, "map", role, nats)
    assert not at.exception
    spec_json, spec = spec_of(at)
    secret = fac[fac.confidential]
    assert len(secret) > 0
    assert not [n for n in secret.name if n in spec_json]
    assert not xy(secret) & pairs(spec)
    drawn = layer(spec, "facilities")
    assert len(drawn) == int((~fac.confidential).sum())

    moment = as_of(persons(engine))
    hazards = frame(engine, "SELECT * FROM hazards WHERE scenario_id = 1")
    start = pd.to_datetime(hazards.valid_from, format="mixed")
    end = pd.to_datetime(hazards.valid_to, format="mixed")
    active = hazards[(start <= moment) & (end.isna() | (end > moment))]
    assert len(active) > 0
    shapes = {json.dumps(json.loads(g)["coordinates"][0]) for g in active.geometry}
    assert {json.dumps(h["polygon"][0]) for h in layer(spec, "hazards")} == shapes
    assert len(layer(spec, "consular-posts")) == len(frame(engine, "SELECT id FROM consular_posts"))


@pytest.mark.parametrize("role,nats", [("committee", None), ("coordinator", None),
                                       ("consular", ["ETH"])])
def test_the_map_is_offline_and_small(db_url, role, nats):
    at = open_page(db_url, "map", role, nats)
    assert not at.exception
    spec_json, spec = spec_of(at)
    assert len(spec_json.encode()) < TWO_MB
    assert "http" not in spec_json  # no tile or style URL: nothing fetched from the internet
    assert "mapProvider" not in spec
    ids = {lyr["id"] for lyr in spec["layers"]}
    assert {"world-110m", "region-10m", "districts"} <= ids


def test_the_base_map_files_are_shipped_without_urls():
    shapes = geo.district_shapes()
    for name in geo.BASEMAP_FILES:
        body = (geo.BASEMAP_DIR / name).read_text(encoding="utf-8")
        assert "http" not in body
        data = json.loads(body)
        assert data["type"] == "FeatureCollection" and data["features"]
    # every district of every shipped template has a shape, by its P-code
    for template in sorted((config.DATA_DIR / "scenarios").glob("*.yaml")):
        districts = yaml.safe_load(template.read_text(encoding="utf-8"))["districts"]
        assert {d["pcode"] for d in districts} <= set(shapes), template.name
    assert len(shapes) == 26 + 31
    assert (geo.BASEMAP_DIR / "README.md").read_text().count("approximation") >= 1


# --- filters and bad data ------------------------------------------------------------------

@pytest.fixture(params=["placements", "placements-without-mask", "tables"])
def filtered_from(request, db_url, monkeypatch) -> str:
    """Filters are applied to the placements, or in the database: before the placements
    are found, or when a dirty database has more tags than their mask holds."""
    if request.param == "tables":
        monkeypatch.setattr(geo, "placements", lambda *_: None)
    else:
        if request.param == "placements-without-mask":
            monkeypatch.setattr(geo, "MAX_TAGS", 0)
        assert (geo.find_placements(opened(db_url), 1).tags is None) == (geo.MAX_TAGS == 0)
    return request.param


def test_filters_change_the_counts_as_the_database_says(db_url, raw, filtered_from):
    engine = raw(db_url)
    everyone = persons(engine)
    at = open_page(db_url, "map", "committee")
    at.multiselect(key="map_status").set_value(["missing"]).run()
    assert not at.exception
    check_districts(engine, at, on_map(everyone, statuses=("missing",)))

    tagged = set(frame(engine, "SELECT person_id FROM person_vulnerabilities "
                               "WHERE tag = 'uasc'").person_id)
    at.multiselect(key="map_status").set_value(list(IN_COUNTRY)).run()
    at.multiselect(key="map_vuln").set_value(["uasc"]).run()
    at.multiselect(key="map_nats").set_value(["ETH", "SYR"]).run()
    assert not at.exception
    people = on_map(everyone)
    chosen = people[people.id.isin(tagged) & (people.nationality.isin({"ETH", "SYR"})
                                              | people.second_nationality.isin({"ETH", "SYR"}))]
    assert 0 < len(chosen) < len(people)
    check_districts(engine, at, chosen)


@pytest.mark.parametrize("role,nats", [("committee", None), ("coordinator", None),
                                       ("consular", ["ETH"])])
def test_the_map_works_on_a_dirty_database(dirty_db_url, raw, role, nats, counted_from):
    engine = raw(dirty_db_url)
    people = persons(engine)
    scope = people if role != "consular" else people[visible_to(people, set(nats))]
    bad = int((scope.status.isin(IN_COUNTRY) & ~scope.valid_xy).sum())
    at = open_page(dirty_db_url, "map", role, nats)
    assert not at.exception
    page = texts(at)
    ids = scope.id[scope.status.isin(IN_COUNTRY) & ~scope.valid_xy]
    assert note_says(page, "persons without valid coordinates") == (
        (bad or None) if role == "consular" else told(ids))
    assert "(see Data quality)" in page or bad == 0
    spec_json, spec = spec_of(at)
    assert "200.0," not in spec_json and len(spec["layers"]) > 5


# --- an earlier moment (the As-of slider) --------------------------------------------------

def as_time(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="mixed")


def earlier_step(engine, days: int = 5) -> datetime:
    """The As-of slider's hourly step `days` before the latest data."""
    start = pd.Timestamp(frame(engine, "SELECT starts_at FROM scenarios WHERE id = 1")
                         .starts_at.iloc[0]).to_pydatetime()
    hours = int((as_of(persons(engine)) - timedelta(days=days) - start).total_seconds() // 3600)
    return start + timedelta(hours=hours)


def persons_then(engine, moment: datetime) -> pd.DataFrame:
    """The persons of scenario 1 registered by `moment` as their history has them then:
    status, facility and place of their latest event by then (latest `at`, then highest
    id); `area_pcode` is the district the committee's map counts them in then (the
    facility's if they were then in another facility than now, else their current one).
    A status outside the vocabulary, now or then, leaves a person out."""
    now = persons(engine)
    now = now[now.status.isin(STATUSES) & (as_time(now.registered_at) <= moment)]
    events = frame(engine, "SELECT * FROM person_events")
    events["at"] = as_time(events["at"])
    last = (events[events["at"] <= moment].sort_values(["person_id", "at", "id"])
            .groupby("person_id").tail(1)
            [["person_id", "at", "status", "facility_id", "lat", "lon"]])
    then = now.drop(columns=["valid_xy"]).merge(last, left_on="id", right_on="person_id",
                                                suffixes=("_now", ""))
    then = then[then.status.isin(STATUSES)].reset_index(drop=True)
    fac = facilities(engine)
    district = dict(zip(fac.id, fac.area_pcode, strict=True))
    elsewhere = then.facility_id.notna() & (then.facility_id != then.facility_id_now)
    then["area_pcode"] = then.area_pcode.where(
        ~elsewhere, then.facility_id.map(district).fillna(then.area_pcode))
    then["valid_xy"] = (then.lat.notna() & then.lon.notna() & then.lat.between(-90, 90)
                        & then.lon.between(-180, 180))
    return then


def open_map_at(db_url: str, role: str, nats, moment: datetime):
    """The Map page opened at the latest data, then with the As-of slider moved to `moment`."""
    at = open_page(db_url, "map", role, nats)
    assert not at.exception
    at.select_slider(key="as-of").set_value(moment).run()
    assert not at.exception
    assert f"as it was on {moment:%d %b %Y, %H:%M} UTC" in texts(at)
    return at


def test_moving_the_slider_redraws_the_committee_districts_as_they_were(db_url, raw):
    engine = raw(db_url)
    moment = earlier_step(engine)
    at = open_page(db_url, "map", "committee")
    assert not at.exception
    _, latest_spec = spec_of(at)
    at.select_slider(key="as-of").set_value(moment).run()
    assert not at.exception
    then = on_map(persons_then(engine, moment))
    check_districts(engine, at, then)
    _, spec = spec_of(at)
    assert layer(spec, "people-districts") != layer(latest_spec, "people-districts")
    assert f"as it was on {moment:%d %b %Y, %H:%M} UTC" in texts(at)
    assert "counted in that facility's district" in texts(at)


def test_the_status_filter_reads_the_status_at_the_moment_shown(db_url, raw):
    engine = raw(db_url)
    moment = earlier_step(engine)
    at = open_map_at(db_url, "committee", None, moment)
    at.multiselect(key="map_status").set_value(["sheltered"]).run()
    assert not at.exception
    then = persons_then(engine, moment)
    changed = then[(then.status == "sheltered") != (then.status_now == "sheltered")]
    assert len(changed) > 0  # the filter has something to get right
    check_districts(engine, at, on_map(then, statuses=("sheltered",)))


def test_coordinator_cells_at_an_earlier_moment_match_the_history(db_url, raw):
    engine = raw(db_url)
    moment = earlier_step(engine)
    at = open_map_at(db_url, "coordinator", None, moment)
    drawn = check_cells(engine, at, on_map(persons_then(engine, moment)))
    assert drawn
    now = on_map(persons(engine))
    secret_now = at_confidential(now, facilities(engine))
    assert drawn != expected_drawn(ids_by(with_cells(now[~secret_now]), ["gi", "gj"]))


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_no_person_level_data_reaches_an_aggregate_role_at_an_earlier_moment(db_url, raw, role):
    engine = raw(db_url)
    moment = earlier_step(engine)
    then = persons_then(engine, moment)
    at = open_map_at(db_url, role, None, moment)
    spec_json, spec = spec_of(at)
    places = xy(then[then.valid_xy]) | xy(persons(engine).query("valid_xy"))
    exposed = (places - public_places(engine)) & pairs(spec)
    assert not exposed, f"person coordinates in the {role}'s map: {sorted(exposed)[:3]}"
    for column in ("ref", "full_name", "phone"):
        leaked = [v for v in then[column].dropna() if str(v) in spec_json]
        assert not leaked, f"{column} in the {role}'s map: {leaked[:3]}"
    assert not layer(spec, "people-points")
    counts = [row["persons"] for lid in ("people-districts", "people-cells")
              for row in layer(spec, lid)]
    assert counts and min(counts) >= 5
    assert all(isinstance(n, int) and n % 5 == 0 for n in counts)


@pytest.mark.parametrize("nats", [["ETH"], ["PHL", "KEN"]])
def test_a_liaison_sees_its_nationals_where_they_were(db_url, raw, nats):
    engine = raw(db_url)
    moment = earlier_step(engine)
    then = on_map(persons_then(engine, moment))
    mine = then[visible_to(then, set(nats)) & ~at_confidential(then, facilities(engine))]
    at = open_map_at(db_url, "consular", nats, moment)
    spec_json, spec = spec_of(at)
    points = layer(spec, "people-points")
    assert len(points) == len(mine) > 0
    tips = {p["tip"].split("\n")[1]: tuple(p["position"]) for p in points}
    assert tips == {f"{r.ref} · {labels.PERSON_STATUS[r.status]}": (round(float(r.lon), 5),
                                                                round(float(r.lat), 5))
                    for r in mine.itertuples()}
    now = on_map(persons(engine))
    assert xy(mine) != xy(now[visible_to(now, set(nats))])  # people moved since
    everyone = persons(engine)
    others = everyone[~visible_to(everyone, set(nats))]
    assert not [r for r in others.ref if r in spec_json]


def occupancy_reports(engine) -> pd.DataFrame:
    reports = frame(engine, "SELECT * FROM facility_occupancy")
    reports["at"] = as_time(reports["at"])
    return reports


def latest_occupants(reports: pd.DataFrame, when) -> pd.Series:
    """Each facility's occupants in its latest report by `when` (latest at, then id)."""
    return (reports[reports["at"] <= when].sort_values(["facility_id", "at", "id"])
            .groupby("facility_id").tail(1).set_index("facility_id").occupants)


def load_lines(engine, when, few_hidden: bool = False) -> dict[str, str]:
    """The load line of each drawn facility's tooltip at `when`. Occupancy is reported by
    facilities, not counted from persons: exact for the roles that see only counts, and
    "fewer than 5" for 1 to 4 people only for a liaison (`few_hidden`)."""
    fac, last = facilities(engine), latest_occupants(occupancy_reports(engine), when)
    lines = {}
    for f in fac[~fac.confidential].itertuples():
        n = last.get(f.id)
        if n is None or pd.isna(n) or not (0 <= n <= f.capacity) or f.capacity <= 0:
            lines[f.name] = f"{int(f.capacity):,} places · no valid occupancy report"
        elif few_hidden and 0 < n < 5:  # none at all is no one to protect
            lines[f.name] = f"fewer than 5 of {int(f.capacity):,} places taken"
        else:
            lines[f.name] = (f"{int(n):,} of {int(f.capacity):,} places taken "
                             f"({100 * n / f.capacity:.0f}% full)")
    return lines


def facility_tips(spec: dict) -> dict[str, list[str]]:
    return {r["tip"].split("\n")[0]: r["tip"].split("\n") for r in layer(spec, "facilities")}


def test_facility_load_and_hazards_are_those_of_the_moment_shown(db_url, raw):
    engine = raw(db_url)
    moment = earlier_step(engine)
    fac = facilities(engine)
    reports = occupancy_reports(engine)

    at = open_map_at(db_url, "coordinator", None, moment)
    _, spec = spec_of(at)
    tips = facility_tips(spec)
    drawn = {name: lines[2] for name, lines in tips.items()}
    assert drawn == load_lines(engine, moment)
    assert drawn != load_lines(engine, as_of(persons(engine)))  # the load did change since

    # A confirmation made since was not known then: the latest report by then stands in.
    reported = (reports[reports["at"] <= moment].groupby("facility_id")["at"].max())
    confirmed = as_time(fac.confirmed_at)
    for f, when in zip(fac[~fac.confidential].itertuples(), confirmed[~fac.confidential],
                       strict=True):
        known = when if when <= moment else reported.get(f.id)
        shown = "never" if known is None or pd.isna(known) else f"{known:%d %b %Y, %H:%M} UTC"
        assert tips[f.name][3] == f"last confirmed {shown}"
    assert (confirmed > moment).any()

    hazards = frame(engine, "SELECT * FROM hazards WHERE scenario_id = 1")
    start, end = as_time(hazards.valid_from), as_time(hazards.valid_to)
    active = hazards[(start <= moment) & (end.isna() | (end > moment))]
    assert 0 < len(active)
    shapes = {json.dumps(json.loads(g)["coordinates"][0]) for g in active.geometry}
    assert {json.dumps(h["polygon"][0]) for h in layer(spec, "hazards")} == shapes


def a_moment_with_few_at_a_public_place(engine) -> datetime:
    """An As-of step at which a drawn facility's latest report counts 1 to 4 people."""
    fac, reports = facilities(engine), occupancy_reports(engine)
    start = pd.Timestamp(frame(engine, "SELECT starts_at FROM scenarios WHERE id = 1")
                         .starts_at.iloc[0]).to_pydatetime()
    latest = as_of(persons(engine))
    public = set(fac.id[~fac.confidential])
    few = reports[reports.facility_id.isin(public) & reports.occupants.between(1, 4)]
    for report in few.sort_values("at", ascending=False).itertuples():
        step = start + timedelta(hours=math.ceil((report.at - start).total_seconds() / 3600))
        if step < latest and 0 < latest_occupants(reports, step).get(report.facility_id) < 5:
            return step
    raise AssertionError("no drawn facility ever holds 1 to 4 people in this scenario")


@pytest.mark.parametrize("role,nats", [("committee", None), ("coordinator", None),
                                       ("consular", ["ETH"])])
def test_only_a_liaison_is_not_told_the_occupancy_of_a_place_of_fewer_than_5(db_url, raw, role,
                                                                          nats):
    """Occupancy is reported by facilities, not counted from persons: the roles that see
    only counts see it exactly. A liaison sees its own nationals at those places one by
    one, so where 1 to 4 people are, it sees "fewer than 5" in the no-report grey."""
    engine = raw(db_url)
    moment = a_moment_with_few_at_a_public_place(engine)
    liaison = role == "consular"
    at = open_map_at(db_url, role, nats, moment)
    _, spec = spec_of(at)
    tips = facility_tips(spec)
    assert {name: tip[2] for name, tip in tips.items()} == load_lines(engine, moment,
                                                                      few_hidden=liaison)
    occupants = latest_occupants(occupancy_reports(engine), moment)
    fac = facilities(engine)
    few = {f.name: int(occupants[f.id]) for f in fac[~fac.confidential].itertuples()
           if 0 < occupants.get(f.id, 0) < 5}
    assert few
    colours = {row["tip"].split("\n")[0]: row["color"] for row in layer(spec, "facilities")}
    for name, n in few.items():
        if liaison:
            assert tips[name][2].startswith("fewer than 5 of ") and "% full" not in tips[name][2]
            assert colours[name] == [189, 189, 189, 255]  # the grey of no valid report
        else:
            assert tips[name][2].startswith(f"{n} of ")
    legend = "".join(str(m.value) for m in at.markdown)
    assert ("no valid report or fewer than 5" in legend) == liaison


@pytest.mark.parametrize("role,nats", [("committee", None), ("coordinator", None),
                                       ("consular", ["ETH"])])
def test_an_earlier_moment_works_on_a_dirty_database(dirty_db_url, raw, role, nats):
    engine = raw(dirty_db_url)
    moment = earlier_step(engine)
    then = persons_then(engine, moment)
    scope = then if role != "consular" else then[visible_to(then, set(nats))]
    bad = int((scope.status.isin(IN_COUNTRY) & ~scope.valid_xy).sum())
    at = open_map_at(dirty_db_url, role, nats, moment)
    page = texts(at)
    ids = scope.id[scope.status.isin(IN_COUNTRY) & ~scope.valid_xy]
    assert note_says(page, "persons without valid coordinates") == (
        (bad or None) if role == "consular" else told(ids))
    if not bad:
        assert "without valid coordinates" not in page
    spec_json, spec = spec_of(at)
    assert "200.0," not in spec_json and len(spec["layers"]) > 5


def _points(coordinates) -> list[tuple[float, float]]:
    if isinstance(coordinates[0], int | float):
        return [(coordinates[0], coordinates[1])]
    return [p for part in coordinates for p in _points(part)]


def test_the_world_is_drawn_around_the_crisis_and_the_map_zooms_out_no_further(sqlite_url,
                                                                               raw):
    """Every country drawn costs the browser (on a machine without a graphics card, the
    whole world was about 3 s of CPU a visit): the world layer holds the countries that
    reach within 20° of the scenario's areas, and the map cannot be zoomed out to show
    more than that."""
    at = open_page(sqlite_url, "map", "committee", None)
    assert not at.exception
    _, spec = spec_of(at)
    with raw(sqlite_url).connect() as conn:
        south, west, north, east = conn.execute(text(
            "SELECT MIN(lat), MIN(lon), MAX(lat), MAX(lon) FROM areas "
            "WHERE country = (SELECT country FROM scenarios WHERE id = 1)")).one()
    box = (south - 20, west - 20, north + 20, east + 20)
    shipped = json.loads((geo.BASEMAP_DIR / geo.WORLD_FILE).read_text(encoding="utf-8"))

    def reaches(feature: dict) -> bool:
        points = _points(feature["geometry"]["coordinates"])
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        return (min(lats) <= box[2] and max(lats) >= box[0] and min(lons) <= box[3]
                and max(lons) >= box[1])

    wanted = {f["properties"]["name"] for f in shipped["features"] if reaches(f)}
    drawn = {f["properties"]["name"] for f in layer(spec, "world-110m")["features"]}
    assert drawn == wanted
    assert "Syria" in drawn and "Brazil" not in drawn and len(drawn) < len(shipped["features"])
    view = spec["initialViewState"]
    assert 0 < view["minZoom"] <= view["zoom"]
    # deck.gl's world is 512 px wide at zoom 0: at the furthest out, the deck shows no
    # wider a span than the box
    shown_deg = 360 * geo.VIEW_WIDTH_PX / (512 * 2 ** view["minZoom"])
    assert shown_deg <= box[3] - box[1] + 0.5


def test_a_grid_of_points_is_found_inside_a_ring_as_each_point_alone_is():
    """Where a neighbour's name goes, many candidate points are tested at once
    (geo.in_ring_where): a square with a notch cut in its top, by hand."""
    ring = [[0, 0], [4, 0], [4, 4], [3, 4], [2, 2], [1, 4], [0, 4], [0, 0]]
    points = {(1, 1): True, (3, 3.5): True, (2, 3): False, (5, 1): False, (-1, 2): False,
              (2, 1.9): True}
    xs = np.array([x for x, _ in points], dtype=float)
    ys = np.array([y for _, y in points], dtype=float)
    assert list(geo.in_ring_where(ring, xs, ys)) == list(points.values())


@settings(max_examples=200, deadline=None)
@given(corners=st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=3,
                        max_size=12),
       points=st.lists(st.tuples(st.floats(-7, 7), st.floats(-7, 7)), min_size=1, max_size=30))
def test_many_points_at_once_agree_with_one_at_a_time(corners, points):
    """Any ring, flat edges and repeated corners included (integer corners make them
    common), against the point-by-point even-odd rule."""
    ring = [list(c) for c in corners] + [list(corners[0])]
    xs = np.array([x for x, _ in points])
    ys = np.array([y for _, y in points])
    assert list(geo.in_ring_where(ring, xs, ys)) == [geo.in_ring(ring, x, y) for x, y in points]


def test_a_facility_tooltip_follows_its_row_and_the_readers_language_from_run_to_run():
    """The facilities' tooltips are kept from one run of the Map to the next
    (components/map.py): a facility whose figures changed, and a reader of another
    language, get tooltips of their own, never the ones kept."""
    frame = pd.DataFrame({
        "name": ["Hall A", "Hall B"], "kind": ["shelter", "reception_centre"],
        "status": ["open", "open"], "capacity": [100, 50], "occupants": [90, 10],
        "full_pct": [90.0, 20.0], "confirmed_at": [pd.Timestamp("2026-11-22 23:59")] * 2,
        "lon": [35.5, 35.6], "lat": [33.9, 33.8]})

    def tips(facilities: pd.DataFrame) -> list[str]:
        return [row["tip"] for row in deck.facility_layer(facilities).data]

    first = tips(frame)
    assert first[0].split("\n")[2] == "90 of 100 places taken (90% full)"
    assert tips(frame.copy()) == first
    later = tips(frame.assign(occupants=[95, 10], full_pct=[95.0, 20.0]))
    assert later[0].split("\n")[2] == "95 of 100 places taken (95% full)"
    assert later[1] == first[1]
    with language.speaking("fr"):
        french = tips(frame)
    assert french[0].split("\n")[0] == "Hall A" and french[0] != first[0]
    assert tips(frame) == first
