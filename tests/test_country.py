"""Any country, not only Lebanon (issue 13, item 3): every shipped scenario template
passes the same tests.

A 2,000-person scenario is generated from each template in data/scenarios/. On each,
the generated rows lie in the template's country, the Map opens on the scenario's
own areas with their district shapes and the base map of their region, every page
opens for every role, no page names the other template's country, imported
boundaries are drawn, and the template's drill plays. Expectations come from the
tests' own SQL and from the template files themselves, never from the code under test.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from dashboard import config
from dashboard.rules import access
from dashboard.tools import cli
from dashboard.tools.generate import generate
from tests.apptest import open_page, texts
from tests.readback import load
from tests.test_labels import _tips, shown_words

PERSONS = 2000
SEED = 5
SCENARIOS = config.DATA_DIR / "scenarios"
# Each template, the drill written for it, and words that belong to it alone: no page of a
# scenario drawn from another template may show them.
TEMPLATES = {
    "lebanon": ("cedar-shield.yaml", ("Lebanon", "Lebanese", "Beirut")),
    "dominican-republic": ("palm-shelter.yaml", ("Dominican", "Santo Domingo", "Hurricane")),
}
MARGIN = 0.5  # degrees around the areas' centres that a generated place may lie within


def template_of(name: str) -> dict:
    return yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8"))


def test_every_shipped_template_is_tested_here():
    assert {p.stem for p in SCENARIOS.glob("*.yaml")} == set(TEMPLATES)


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def scenario(request, tmp_path_factory) -> tuple[str, str]:
    """(template name, URL) of a scenario generated from each template."""
    path = Path(tmp_path_factory.mktemp(f"country_{request.param}")) / "scenario.sqlite"
    url = f"sqlite:///{path}"
    generate(url, persons=PERSONS, seed=SEED, template=SCENARIOS / f"{request.param}.yaml")
    return request.param, url


def extent(engine) -> tuple[float, float, float, float]:
    """(south, west, north, east) of the live scenario's country's areas, by our own SQL."""
    row = load(engine, "SELECT MIN(lat) AS s, MIN(lon) AS w, MAX(lat) AS n, MAX(lon) AS e "
                       "FROM areas WHERE country = (SELECT country FROM scenarios WHERE id = 1)")
    return tuple(float(row[c].iloc[0]) for c in ("s", "w", "n", "e"))


def inside(lat: float, lon: float, box: tuple[float, float, float, float],
           margin: float = 0.0) -> bool:
    south, west, north, east = box
    return south - margin <= lat <= north + margin and west - margin <= lon <= east + margin


# --- the generator ---------------------------------------------------------------------------


def test_the_command_takes_a_template(tmp_path, capsys):
    out = tmp_path / "dr.sqlite"
    template = SCENARIOS / "dominican-republic.yaml"
    assert cli.main(["generate", "--persons", "50", "--seed", "2", "--out", str(out),
                     "--template", str(template)]) == 0
    engine = create_engine(f"sqlite:///{out}")
    try:
        countries = load(engine, "SELECT DISTINCT country FROM scenarios")
        pcodes = set(load(engine, "SELECT pcode FROM areas WHERE admin_level = 2").pcode)
    finally:
        engine.dispose()
    assert list(countries.country) == ["DOM"]
    assert pcodes == {d["pcode"] for d in template_of("dominican-republic")["districts"]}

    # a template that would break the contract is refused, saying what is wrong
    bad = template_of("dominican-republic")
    bad["hazard_places"][0]["kinds"] = ["storm_damage"]
    bad["nationalities"]["QQQ"] = bad["nationalities"]["HTI"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert cli.main(["generate", "--persons", "50", "--out", str(tmp_path / "bad.sqlite"),
                     "--template", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "storm_damage" in err and "QQQ" in err
    assert not (tmp_path / "bad.sqlite").exists()

    missing = tmp_path / "nowhere.yaml"
    assert cli.main(["generate", "--persons", "50", "--out", str(tmp_path / "no.sqlite"),
                     "--template", str(missing)]) == 2
    assert "Cannot read the template" in capsys.readouterr().err
    assert not (tmp_path / "no.sqlite").exists()


def test_the_rows_lie_in_the_templates_country(scenario, raw):
    name, url = scenario
    tpl = template_of(name)
    engine = raw(url)
    box = extent(engine)
    assert set(load(engine, "SELECT country FROM scenarios").country) == {tpl["country"]}
    persons = load(engine, "SELECT lat, lon, nationality, area_pcode, phone FROM persons")
    assert all(inside(a, o, box, MARGIN) for a, o in zip(persons.lat, persons.lon, strict=True))
    assert set(persons.nationality) <= set(tpl["nationalities"])
    level2 = set(load(engine, "SELECT pcode FROM areas WHERE admin_level = 2 AND country = "
                              ":c", c=tpl["country"]).pcode)
    assert set(persons.area_pcode) <= level2
    code = tpl["phone"]["country_code"]
    assert all(p.startswith(code + " ") for p in persons.phone.dropna())
    for table in ("facilities", "consular_posts"):
        places = load(engine, f"SELECT lat, lon FROM {table}")
        assert all(inside(a, o, box, MARGIN) for a, o in zip(places.lat, places.lon,
                                                                strict=True)), table
    hazards = load(engine, "SELECT kind, geometry FROM hazards")
    assert set(hazards.kind) == {k for p in tpl["hazard_places"] for k in p["kinds"]}
    for geometry in hazards.geometry:
        assert all(inside(lat, lon, box, MARGIN)
                   for lon, lat in json.loads(geometry)["coordinates"][0])
    for table in ("evacuation_cases", "movements"):  # nobody is evacuated to the host country
        assert load(engine, f"SELECT COUNT(*) AS n FROM {table} WHERE destination = :c",
                    c=tpl["country"]).n.iloc[0] == 0, table
    land = load(engine, "SELECT DISTINCT destination FROM movements WHERE mode = 'land'")
    assert set(land.destination) <= set(tpl.get("land_destinations") or [])


# --- the Map -------------------------------------------------------------------------------


def deck(at) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


def layer(spec: dict, layer_id: str) -> dict:
    found = [lyr for lyr in spec["layers"] if lyr.get("id") == layer_id]
    assert len(found) == 1, layer_id
    return found[0]


@pytest.mark.parametrize("role", ["committee", "coordinator", "consular"])
def test_the_map_opens_on_the_scenarios_areas(scenario, raw, role):
    name, url = scenario
    tpl = template_of(name)
    engine = raw(url)
    box = extent(engine)
    first = next(iter(tpl["nationalities"]))
    at = open_page(url, "map", role, [first] if role == "consular" else None)
    assert not at.exception
    spec = deck(at)
    view = spec["initialViewState"]
    assert inside(view["latitude"], view["longitude"], box), (view, box)
    assert 5 <= view["zoom"] <= 10
    ids = {lyr["id"] for lyr in spec["layers"]}
    assert "world-110m" in ids
    # the 1:10m region drawn is the one that holds the scenario's country
    regions = [i for i in ids if i.endswith("-10m")]
    assert len(regions) == 1
    region = json.loads((config.DATA_DIR / "basemap" / f"{regions[0]}.geojson").read_text())
    holds = [f for f in region["features"] for ring in _outer_rings(f["geometry"])
             if _contains(ring, view["longitude"], view["latitude"])]
    assert holds, f"{regions[0]} has no country under the view's centre"
    # the district outlines are the country's level-2 areas, every one
    want = set(load(engine, "SELECT pcode FROM areas WHERE admin_level = 2 AND country = :c",
                    c=tpl["country"]).pcode)
    drawn = {f["properties"]["pcode"] for f in layer(spec, "districts")["data"]["features"]}
    assert drawn == want
    # neighbours are named, the country itself is not (its districts are)
    labels = layer(spec, "countries")["data"]
    named = {row["text"] for row in labels}
    assert named and all(n not in holds[0]["properties"]["name"] for n in named)
    # ... each on its own land, never on the scenario's country
    outlines = {f["properties"]["name"]: _outer_rings(f["geometry"]) for f in region["features"]}
    for row in labels:
        lon, lat = row["position"]
        assert any(_contains(ring, lon, lat) for ring in outlines[row["text"]]), row


def _outer_rings(geometry: dict) -> list[list]:
    polygons = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
                else geometry["coordinates"])
    return [polygon[0] for polygon in polygons]


def _contains(ring: list, x: float, y: float) -> bool:
    """Whether the point (x, y) is inside the ring (even-odd rule)."""
    found = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            found = not found
    return found


def test_imported_boundaries_are_drawn_as_the_districts(scenario, tmp_path, capsys, raw):
    name, url = scenario
    copy = tmp_path / "imported.sqlite"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    copy_url = f"sqlite:///{copy}"
    engine = raw(copy_url)
    busiest = load(engine, "SELECT area_pcode, COUNT(*) AS n FROM persons WHERE scenario_id = 1 "
                           "GROUP BY area_pcode ORDER BY n DESC LIMIT 1").area_pcode.iloc[0]
    area = load(engine, "SELECT pcode, name, parent_pcode, lat, lon FROM areas "
                        "WHERE pcode = :p", p=busiest).iloc[0]
    lat, lon = float(area.lat), float(area.lon)
    square = [[round(lon + dx, 3), round(lat + dy, 3)] for dx, dy in
              ((-0.1, -0.1), (0.1, -0.1), (0.1, 0.1), (-0.1, 0.1), (-0.1, -0.1))]
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"ADM2_PCODE": area.pcode, "ADM2_EN": area["name"],
                                          "ADM1_PCODE": area.parent_pcode},
        "geometry": {"type": "Polygon", "coordinates": [square]}}]}
    path = tmp_path / "boundary.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["import", "areas", str(path), "--db-url", copy_url]) == 0, \
        capsys.readouterr()

    at = open_page(copy_url, "map", "committee")
    assert not at.exception
    spec = deck(at)
    shapes = {f["properties"]["pcode"]: f["geometry"]
              for f in layer(spec, "districts")["data"]["features"]}
    assert shapes[area.pcode] == {"type": "Polygon", "coordinates": [square]}
    tips = [row["tip"] for row in layer(spec, "people-districts")["data"]
            if row["polygon"] == [square]]
    assert tips and all(t.startswith(f"{area['name']} district, P-code {area.pcode}\n")
                        for t in tips)
    assert "approximate shape" in " ".join(_tips(spec))  # the others still are


# --- every page, every role ------------------------------------------------------------------


def test_every_page_opens_for_every_role_without_the_other_country(scenario, monkeypatch):
    name, url = scenario
    monkeypatch.setenv("SITROOM_DB_URL", url)
    foreign = [w for other, (_, words) in TEMPLATES.items() if other != name for w in words]
    pattern = re.compile("|".join(re.escape(w) for w in foreign), re.IGNORECASE)
    own = re.compile("|".join(re.escape(w) for w in TEMPLATES[name][1]), re.IGNORECASE)
    seen_own = set()
    first = next(iter(template_of(name)["nationalities"]))
    for role in access.ROLES:
        for page in access.pages_for(role):
            at = open_page(url, page, role, [first] if role == "consular" else None,
                           scenario=2 if page == "drill" else 1)
            assert not at.exception, (role, page, at.exception)
            words = [texts(at), *shown_words(at), *(m.label for m in at.metric),
                     *(str(m.value) for m in at.metric)]
            for chart in at.get("deck_gl_json_chart"):
                words += _tips(json.loads(chart.proto.json))
            found = sorted({m.group(0) for w in words for m in pattern.finditer(w)})
            assert not found, f"{name}: {role} / {page} says {found}"
            seen_own |= {m.group(0) for w in words for m in own.finditer(w)}
    assert seen_own, "the pages never name their own scenario's country: is anything read?"


# --- the template's drill --------------------------------------------------------------------


def test_the_templates_drill_plays_on_it(scenario, tmp_path, monkeypatch, raw, capsys):
    name, url = scenario
    monkeypatch.setenv("SITROOM_HOME", str(tmp_path / "home"))
    copy = tmp_path / "drill.sqlite"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    drill = config.DATA_DIR / "drills" / TEMPLATES[name][0]
    assert cli.main(["simulate", "--check", "--script", str(drill)]) == 0
    assert cli.main(["simulate", "--db-url", f"sqlite:///{copy}", "--scenario", "2",
                     "--script", str(drill), "--speed", "1e9"]) == 0
    capsys.readouterr()
    injects = load(raw(f"sqlite:///{copy}"), "SELECT status, kind FROM drill_injects")
    script = yaml.safe_load(drill.read_text(encoding="utf-8"))["injects"]
    assert len(injects) == len(script)
    assert set(injects.status) == {"applied"}
    assert set(injects.kind) == {i["kind"] for i in script}


def test_a_boundary_that_cannot_be_read_falls_back_to_the_shipped_shape(scenario, tmp_path,
                                                                        raw):
    name, url = scenario
    copy = tmp_path / "junk.sqlite"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    copy_url = f"sqlite:///{copy}"
    engine = raw(copy_url)
    pcodes = sorted(load(engine, "SELECT pcode FROM areas WHERE admin_level = 2").pcode)[:3]
    junk = ["not json", '{"type": "Polygon", "coordinates": "x"}',
            '{"type": "Polygon", "coordinates": [[[1, 2], [1, 2], [1, 2], [1, 2]]]}']
    with engine.begin() as conn:
        for pcode, geometry in zip(pcodes, junk, strict=True):
            conn.execute(text("UPDATE areas SET geometry = :g WHERE pcode = :p"),
                         {"g": geometry, "p": pcode})
    at = open_page(copy_url, "map", "committee")
    assert not at.exception
    shipped = {f["properties"]["pcode"]: f["geometry"] for f in json.loads(
        (config.DATA_DIR / "basemap" / f"{name}-districts.geojson").read_text())["features"]}
    drawn = {f["properties"]["pcode"]: f["geometry"]
             for f in layer(deck(at), "districts")["data"]["features"]}
    assert all(drawn[p] == shipped[p] for p in pcodes)


@pytest.mark.parametrize("box", [(33.05, 35.1, 34.7, 36.6), (17.65, -72.0, 20.15, -68.35),
                                 (-35.0, 10.0, -20.0, 35.0), (60.0, 5.0, 71.0, 31.0)])
def test_the_first_view_shows_the_whole_box(box):
    """geo.fit's view, seen through its inverse, holds the box and not much more."""
    from dashboard.figures import geo

    south, west, north, east = geo.view_box(*geo.fit(*box))
    assert south <= box[0] and west <= box[1] and north >= box[2] and east >= box[3]
    # one side fits tightly (within rounding of the zoom to 0.01)
    assert (east - west) <= 1.02 * (box[3] - box[1]) or (north - south) <= 1.05 * (box[2] - box[0])
