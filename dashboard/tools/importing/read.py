"""Reading an upstream file into rows of cells, each with the line a person opening the
file would see it on: CSV in any common encoding and delimiter, XLSX, GeoJSON.

A CSV is streamed: its rows are read from the file each time they are asked for, never
held all at once, so that a registration list of a million people is checked and
written in bounded memory (docs/importing.md, "Scale"). Workbooks and GeoJSON are read
whole (their libraries read them so; Excel stops at a million rows anyway)."""

from __future__ import annotations

import codecs
import csv
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# charset-normalizer: guesses the encoding of a CSV that is not UTF-8 (Excel's cp1252,
# Latin-1, UTF-16) from its bytes.
import charset_normalizer

# python-calamine: reads XLSX (and XLS, ODS) several times faster than openpyxl, with cell
# types (dates stay dates); the Rust calamine library underneath.
import python_calamine

# The rows where column names and the HXL hashtag row are looked for: libhxl looks in the
# first 25, the header finder in the first 10.
HEAD_ROWS = 30

Record = tuple[int, list[Any], dict | None]  # (line, cells, GeoJSON geometry)


class FileProblem(Exception):
    """The file cannot be read at all: missing, not a spreadsheet, unknown sheet."""


@dataclass
class Sheet:
    """The cells of one file (or one sheet of a workbook), row by row."""

    name: str                    # what the report calls the file
    head: list[list[Any]]        # the first HEAD_ROWS rows: headers, hashtags, a title
    source: Callable[[], Iterator[Record]]  # every row from the first, read afresh per call
    geojson: bool = False        # rows are GeoJSON features, each with its geometry

    def records(self) -> Iterator[Record]:
        """Every row with its line (CSV) or row number (XLSX) from 1, or its position
        in the collection (GeoJSON), and its geometry (GeoJSON only)."""
        return self.source()


def _in_memory(rows: list[list[Any]], lines: list[int],
               geometries: list[dict | None] | None = None) -> Callable[[], Iterator[Record]]:
    def source() -> Iterator[Record]:
        for i, row in enumerate(rows):
            yield lines[i], row, geometries[i] if geometries is not None else None
    return source


def read(path: Path, sheet: str | None = None) -> Sheet:
    if not path.exists():
        raise FileProblem(f"{path}: no such file")
    if path.is_dir():
        raise FileProblem(f"{path} is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls", ".ods"}:
        return read_workbook(path, sheet)
    if sheet:
        raise FileProblem(f"{path.name}: --sheet is for a workbook (XLSX), not a {suffix} file")
    if suffix in {".geojson", ".json"}:
        return read_geojson(path)
    return read_csv(path)


def read_workbook(path: Path, sheet: str | None) -> Sheet:
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        names = book.sheet_names
        if sheet is not None and sheet not in names:
            raise FileProblem(f"{path.name}: no sheet named {sheet!r} (sheets: "
                              f"{', '.join(repr(n) for n in names)})")
        chosen = sheet if sheet is not None else names[0]
        rows = book.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    except FileProblem:
        raise
    except Exception as exc:  # calamine raises its own errors for a file it cannot open
        raise FileProblem(f"{path.name}: not a readable spreadsheet ({exc})") from None
    return Sheet(name=f"{path.name} [{chosen}]" if sheet else path.name, head=rows[:HEAD_ROWS],
                 source=_in_memory(rows, list(range(1, len(rows) + 1))))


BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(data: bytes, name: str) -> str:
    """The text of a whole file: UTF-8 (with or without a byte-order mark) if it is,
    else what charset-normalizer finds."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(_guess(data, name))


def _guess(data: bytes, name: str) -> str:
    """The encoding charset-normalizer finds for text that is not UTF-8."""
    found = charset_normalizer.from_bytes(data)
    best = found.best()
    if best is None:
        raise FileProblem(f"{name}: not a text file in any encoding I know")
    # Short files fit several code pages equally well; among equals, Windows-1252 (what
    # Excel writes on a Western European or French Windows) is the likeliest.
    for match in found:
        if match.chaos <= best.chaos and match.coherence >= best.coherence and \
                "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return best.encoding


def encoding_of(path: Path) -> str:
    """The encoding of a CSV file, found without holding it: a byte-order mark; else
    UTF-8 if every byte decodes as UTF-8 (checked a megabyte at a time); else what
    charset-normalizer finds (a file that is not UTF-8 comes from a spreadsheet on a
    laptop, and is small)."""
    with path.open("rb") as f:
        start = f.read(4)
    for bom, encoding in BOMS:
        if start.startswith(bom):
            return encoding
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                decoder.decode(block)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        return _guess(path.read_bytes(), path.name)


def read_csv(path: Path) -> Sheet:
    with path.open("rb") as f:
        if f.read(4).startswith(b"PK\x03\x04"):
            raise FileProblem(f"{path.name}: a zip or spreadsheet file; name it .xlsx to read "
                              "it as a workbook")
    encoding = encoding_of(path)
    with path.open(encoding=encoding, newline="") as lines:
        sample = "\n".join("".join(itertools.islice(lines, 30)).splitlines()[:30])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        # the sniffer gives up on a file of one column or very uneven lines: count instead
        counts = {d: sample.count(d) for d in ",;\t|"}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","

    def source() -> Iterator[Record]:
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            start = 1
            try:
                for record in reader:
                    yield start, record, None
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise FileProblem(f"{path.name}, line {start}: not readable as CSV ({exc})"
                                  ) from None

    head = [cells for _, cells, _ in itertools.islice(source(), HEAD_ROWS)]
    return Sheet(name=path.name, head=head, source=source)


def read_geojson(path: Path) -> Sheet:
    """One row per feature: its properties as columns, and its geometry aside (the
    area's centre is worked out from it where the properties give none)."""
    try:
        doc = json.loads(decode(path.read_bytes(), path.name))
    except json.JSONDecodeError as exc:
        raise FileProblem(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FileProblem(f"{path.name}: not a GeoJSON FeatureCollection")
    features = doc.get("features") or []
    keys: list[str] = []
    for feature in features:
        for key in (feature.get("properties") or {}):
            if key not in keys:
                keys.append(key)
    rows: list[list[Any]] = [keys]
    geometries: list[dict | None] = [None]
    for feature in features:
        props = feature.get("properties") or {}
        rows.append([props.get(k) for k in keys])
        geometries.append(feature.get("geometry"))
    # "line" of a feature: its position in the collection, from 1 (the report says so)
    return Sheet(name=path.name, head=rows[:HEAD_ROWS],
                 source=_in_memory(rows, list(range(0, len(rows))), geometries), geojson=True)


def centre(geometry: dict | None) -> tuple[float, float] | None:
    """(lat, lon) of the middle of a Polygon or MultiPolygon's bounding box, or of a Point."""
    if not geometry:
        return None
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Point" and len(coords) >= 2:
        return float(coords[1]), float(coords[0])
    points: list = []
    if kind == "Polygon":
        points = [p for ring in coords for p in ring]
    elif kind == "MultiPolygon":
        points = [p for poly in coords for ring in poly for p in ring]
    if not points:
        return None
    lons, lats = [float(p[0]) for p in points], [float(p[1]) for p in points]
    return round((min(lats) + max(lats)) / 2, 5), round((min(lons) + max(lons)) / 2, 5)
