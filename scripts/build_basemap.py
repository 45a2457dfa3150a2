"""Build the offline base map in data/basemap/ (run once; not needed at run time).

Inputs: Natural Earth country boundaries (public domain) as TopoJSON from the
npm package `world-atlas`, and each scenario template's district centroids
(data/scenarios/*.yaml, SCENARIOS below). Needs shapely at build time only:

    npm install --prefix /tmp/basemap world-atlas@2.0.2
    pip install shapely
    python scripts/build_basemap.py /tmp/basemap/node_modules/world-atlas

Outputs (GeoJSON FeatureCollections, WGS84):
- world-110m.geojson: every country at 1:110m, with the regions below cut out;
- one file per region of REGIONS: countries at 1:10m clipped to the region,
  each with a label point (`label_lon`, `label_lat`); the neighbours the Map
  names carry `label: true` and their `iso3`;
- one districts file per scenario template of SCENARIOS: APPROXIMATE district
  shapes, the Voronoi cells of the template's district centroids clipped to the
  country's 1:10m outline, by P-code. They are not official boundaries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from shapely import voronoi_polygons
from shapely.geometry import MultiPoint, Point, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "basemap"
SCENARIOS_DIR = ROOT / "data" / "scenarios"

# Regions drawn at 1:10m: (lon_min, lat_min, lon_max, lat_max), and the neighbours
# to name on the map, by Natural Earth name, with their ISO 3166-1 alpha-3 code.
REGIONS = {
    # Eastern Mediterranean: Lebanon with its neighbours, Cyprus and the Sinai.
    "region-10m.geojson": ((31.0, 30.0, 40.5, 37.5),
                           {"Syria": "SYR", "Israel": "ISR", "Cyprus": "CYP", "Jordan": "JOR",
                            "Turkey": "TUR"}),
    # The Greater Antilles: Cuba, Jamaica, Hispaniola, Puerto Rico and the southern Bahamas.
    "caribbean-10m.geojson": ((-86.0, 16.0, -64.0, 24.0),
                              {"Haiti": "HTI", "Dominican Rep.": "DOM", "Cuba": "CUB",
                               "Jamaica": "JAM", "Puerto Rico": "PRI"}),
}
# Scenario template -> (its country's Natural Earth name, the districts file built from it).
SCENARIOS = {
    "lebanon.yaml": ("Lebanon", "lebanon-districts.geojson"),
    "dominican-republic.yaml": ("Dominican Rep.", "dominican-republic-districts.geojson"),
}


def topo_to_shapes(topo: dict, name: str) -> list[tuple[dict, BaseGeometry]]:
    """Decode one TopoJSON object into (properties, shapely geometry) pairs."""
    scale = topo["transform"]["scale"]
    translate = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:  # quantised and delta-encoded
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
        arcs.append(points)

    def ring(indexes: list[int]) -> list[tuple[float, float]]:
        points: list[tuple[float, float]] = []
        for i in indexes:
            part = arcs[i] if i >= 0 else arcs[~i][::-1]
            points.extend(part if not points else part[1:])
        return points

    out = []
    for geom in topo["objects"][name]["geometries"]:
        polys = {"Polygon": [geom.get("arcs")], "MultiPolygon": geom.get("arcs")}.get(geom["type"])
        if not polys:
            continue
        # Quantisation collapses a few tiny islands to fewer than 4 points: drop them.
        coords = [[r for r in (ring(a) for a in poly) if len(r) >= 4] for poly in polys]
        coords = [poly for poly in coords if poly]
        if not coords:
            continue
        g = shape({"type": "MultiPolygon", "coordinates": coords})
        out.append((geom.get("properties") or {}, g.buffer(0)))
    return out


def rounded(geometry: BaseGeometry, digits: int) -> dict:
    def walk(c):
        if isinstance(c, (int, float)):
            return round(c, digits)
        return [walk(x) for x in c]

    g = mapping(geometry)
    return {"type": g["type"], "coordinates": walk(g["coordinates"])}


def write(name: str, features: list[dict]) -> None:
    path = OUT / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {len(features)} features, {path.stat().st_size:,} bytes")


def polygons_only(g: BaseGeometry) -> BaseGeometry | None:
    if g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return unary_union(parts) if parts else None


def main(atlas: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    regions = unary_union([box(*extent) for extent, _ in REGIONS.values()])

    world = topo_to_shapes(json.loads((atlas / "countries-110m.json").read_text()), "countries")
    features = []
    for props, g in world:
        g = polygons_only(g.difference(regions).simplify(0.05))
        if g is not None:
            features.append({"type": "Feature", "properties": {"name": props.get("name", "")},
                             "geometry": rounded(g, 2)})
    write("world-110m.geojson", features)

    detailed = topo_to_shapes(json.loads((atlas / "countries-10m.json").read_text()), "countries")
    outlines = {props.get("name"): g for props, g in detailed}
    for name, (extent, labelled) in REGIONS.items():
        region = box(*extent)
        features = []
        for props, g in detailed:
            clipped = polygons_only(g.intersection(region).simplify(0.0015))
            if clipped is None:
                continue
            label = clipped.representative_point()
            country = props.get("name", "")
            properties = {"name": country, "label_lon": round(label.x, 3),
                          "label_lat": round(label.y, 3)}
            if country in labelled:
                properties |= {"label": True, "iso3": labelled[country]}
            features.append({"type": "Feature", "properties": properties,
                             "geometry": rounded(clipped, 4)})
        write(name, features)

    for template, (country, out_name) in SCENARIOS.items():
        outline = outlines.get(country)
        if outline is None:
            sys.exit(f"{country} not found in countries-10m.json")
        districts = yaml.safe_load((SCENARIOS_DIR / template).read_text(encoding="utf-8"))[
            "districts"]
        centroids = MultiPoint([(d["lon"], d["lat"]) for d in districts])
        cells = voronoi_polygons(centroids, extend_to=outline.envelope.buffer(1.0))
        features = []
        for d in districts:
            point = Point(d["lon"], d["lat"])
            cell = next(c for c in cells.geoms if c.contains(point))
            g = polygons_only(cell.intersection(outline).simplify(0.002))
            if g is None:
                continue
            features.append({"type": "Feature",
                             "properties": {"pcode": d["pcode"], "name": d["name"],
                                            "parent": d["parent"], "approximate": True},
                             "geometry": rounded(g, 4)})
        write(out_name, features)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
