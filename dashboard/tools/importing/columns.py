"""Which column of a file is which column of the contract: by HXL hashtag where the file
has a hashtag row, else by the contract's column name, else through the mapping file.
A column carrying immigration, residence or legal status is recognised here and never
stored (docs/design.md §2.1)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# libhxl: the HXL standard's own library finds the hashtag row (and a title row above
# it), parses hashtags and attributes and matches them as the standard says.
import hxl
import hxl.input
import hxl.model

# pyyaml: the mapping file is YAML, as the drill scripts and the users file are.
import yaml

from dashboard.tools.importing.kinds import KINDS, Field, Kind
from dashboard.tools.importing.read import FileProblem, Record, Sheet

DROP = "drop"
LEGAL = "legal_status"  # a mapping target: this column says someone's legal status

# Hashtag attributes and headers that name immigration, residence or legal status.
LEGAL_ATTRIBUTES = {"legal", "immigration", "residence", "residency", "visa", "permit",
                    "migratory", "asylum", "refugee", "refugees", "stateless", "undocumented"}
LEGAL_HEADER = re.compile(
    r"immigra|residency|r[ée]sidence.?(status|permit)|statut.?de.?r[ée]sidence|legal.?status"
    r"|statut.?(l[ée]gal|juridique|migratoire|administratif)|situation.?administrative"
    r"|migratory|migratori|s[ée]jour|\bvisa|permit\b|permis\b|undocumented|sans.?papiers"
    r"|irregular|irr[ée]guli|asyl|asile|refugee|r[ée]fugi|stateless|apatrid", re.IGNORECASE)
# A legal-status value (or the header of a yes/no column) that means international
# protection: the person is protection_confidential, and nothing else of it is kept.
PROTECTED = re.compile(r"asyl|asile|refug|r[ée]fugi|stateless|apatrid|protect|\bhcr\b",
                       re.IGNORECASE)


class MappingProblem(Exception):
    """The mapping file cannot be used."""


def norm(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)  # norm(header) -> target
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # column -> norm(v) -> value
    dates: str | None = None  # day-first or month-first
    formats: dict[str, str] = field(default_factory=dict)  # column -> strptime format

    def value(self, column: str, raw: Any) -> Any:
        table = self.values.get(column)
        if not table or raw is None:
            return raw
        return table.get(norm(raw), raw)


def load_mapping(path: Path | None, kind: Kind) -> Mapping:
    if path is None:
        return Mapping()
    if not path.exists():
        raise MappingProblem(f"{path}: no such mapping file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingProblem(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise MappingProblem(f"{path.name}: expected keys columns, values, dates, formats")
    unknown = set(doc) - {"columns", "values", "dates", "formats", "description"}
    if unknown:
        raise MappingProblem(f"{path.name}: unknown key(s) {', '.join(sorted(unknown))} "
                             "(known: columns, values, dates, formats, description)")
    targets = {f.name for f in kind.fields} | {DROP, LEGAL}
    out = Mapping()
    for source, target in (doc.get("columns") or {}).items():
        if str(target) not in targets:
            raise MappingProblem(
                f"{path.name}: columns: {source!r} maps to {target!r}, which is not a column of "
                f"{kind.name} ({', '.join(sorted(targets))})")
        out.columns[norm(source)] = str(target)
    for column, table in (doc.get("values") or {}).items():
        if str(column) not in targets or not isinstance(table, dict):
            raise MappingProblem(f"{path.name}: values: {column!r} is not a column of "
                                 f"{kind.name} with a table of values under it")
        # YAML reads `Oui: true` as a boolean and `Non:` keys as text: both are kept as given
        out.values[str(column)] = {norm(k): v for k, v in table.items()}
    dates = doc.get("dates")
    if dates is not None and dates not in ("day-first", "month-first"):
        raise MappingProblem(f"{path.name}: dates must be day-first or month-first, not {dates!r}")
    out.dates = dates
    out.formats = {str(k): str(v) for k, v in (doc.get("formats") or {}).items()}
    return out


@dataclass
class Column:
    position: int
    header: str            # the file's header, or its hashtag where it has no header
    field: Field | None    # None: not stored
    legal: bool = False    # immigration, residence or legal status: read for protection only
    why_dropped: str | None = None


@dataclass
class Layout:
    columns: list[Column]
    sheet: Sheet
    data_from: int         # the first row after the header (and hashtag) row
    hashtags: bool
    admin_level: int | None = None  # areas: the level the hashtags (#adm2+code) say
    _stored: dict[str, Column] | None = field(default=None, repr=False)

    def rows(self) -> Iterator[Record]:
        """The data rows, blank ones left out, read from the file afresh on each call."""
        for line, cells, geometry in itertools.islice(self.sheet.records(), self.data_from,
                                                      None):
            if not _blank_row(cells):
                yield line, cells, geometry

    def stored(self) -> dict[str, Column]:
        """The columns that are written, by contract column (asked for every row)."""
        if self._stored is None:
            self._stored = {c.field.name: c for c in self.columns if c.field is not None}
        return self._stored

    def dropped(self) -> list[Column]:
        return [c for c in self.columns if c.field is None]


def _blank_row(cells: list[Any]) -> bool:
    try:
        return not "".join(cells).strip()  # a CSV row: text only, joined in C
    except TypeError:  # a workbook's row: numbers, dates, empty cells
        return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _names(kind: Kind) -> dict[str, Field]:
    out = {}
    for f in kind.fields:
        for name in (f.name, *f.aliases):
            out[norm(name)] = f
    return out


def _is_legal(header: str, column: hxl.model.Column | None) -> bool:
    if column is not None and column.tag and column.attributes & LEGAL_ATTRIBUTES:
        return True
    return bool(LEGAL_HEADER.search(header))


def _by_hashtag(kind: Kind, column: hxl.model.Column) -> Field | None:
    best, best_size = None, -1
    for f in kind.fields:
        if not f.hxl:
            continue
        pattern = hxl.model.TagPattern.parse(f.hxl)
        if pattern.match(column) and len(pattern.include_attributes) > best_size:
            best, best_size = f, len(pattern.include_attributes)
    return best


_ADMIN = re.compile(r"#adm([1-5])$")


def layout(sheet: Sheet, kind: Kind, mapping: Mapping) -> Layout:
    """The file's columns matched to the contract, and its data rows with their lines."""
    hashtag_columns: list[hxl.model.Column | None] = []
    data_from = 0
    hashtags = not sheet.geojson  # GeoJSON properties are plain names
    if hashtags:
        try:
            # libhxl looks for the hashtag row in the first 25 rows (below any title) and
            # takes the row above it as the headers. It reads only the head: the rows it
            # gives back after the hashtag row say where the data starts.
            source = hxl.data(sheet.head)
            hashtag_columns = list(source.columns)
            data_from = len(sheet.head) - sum(1 for _ in source)
        except hxl.input.HXLTagsNotFoundException:
            hashtags = False
    if hashtags:
        headers = [str(c.header).strip() if c.header else c.display_tag
                   for c in hashtag_columns if c is not None]
    else:
        header_at = 0 if sheet.geojson else _find_header(sheet, kind, mapping)
        headers = [str(c).strip() if c is not None else "" for c in sheet.head[header_at]]
        hashtag_columns = [None] * len(headers)
        data_from = header_at + 1
    names = _names(kind)
    columns: list[Column] = []
    for position, (header, tagged) in enumerate(zip(headers, hashtag_columns, strict=False)):
        shown = header or (tagged.display_tag if tagged is not None else f"column {position + 1}")
        target = mapping.columns.get(norm(header)) if header else None
        if target is None and tagged is not None and tagged.tag:
            target = mapping.columns.get(norm(tagged.display_tag))
        if _is_legal(header, tagged) or target == LEGAL:
            columns.append(Column(position, shown, None, legal=True,
                                  why_dropped="immigration, residence or legal status: never "
                                              "stored"))
            continue
        if target == DROP:
            columns.append(Column(position, shown, None, why_dropped="dropped by the mapping"))
            continue
        found: Field | None = None
        if target is not None:
            found = kind.field(target)
        elif tagged is not None and tagged.tag:
            found = _by_hashtag(kind, tagged)
        if found is None and target is None and header:
            found = names.get(norm(header))
        columns.append(Column(position, shown, found,
                              why_dropped=None if found else "not a column of the contract"))
    level = _admin_levels(columns, hashtag_columns, mapping) if kind.name == "areas" else None
    seen: dict[str, Column] = {}
    for c in columns:
        if c.field is None:
            continue
        if c.field.name in seen:
            raise FileProblem(f"{sheet.name}: columns {seen[c.field.name].header!r} and "
                              f"{c.header!r} both give {c.field.name}; map one of them to "
                              "drop in the mapping file")
        seen[c.field.name] = c
    return Layout(columns, sheet, data_from, hashtags, level)


# The common operational datasets' own column names (HDX COD-AB shapefiles and GeoJSON:
# ADM2_PCODE, ADM2_EN; their CSV tables: admin2Pcode, admin2Name_en).
_COD_CODE = re.compile(r"^adm(?:in)?([1-5])_?p?code$", re.IGNORECASE)
_COD_NAME = re.compile(r"^adm(?:in)?([1-5])_?(?:name(?:_[a-z]{2})?|ref|[a-z]{2})$", re.IGNORECASE)


def _admin_levels(columns: list[Column], tagged: list[hxl.model.Column | None],
                  mapping: Mapping) -> int | None:
    """An areas list names P-codes by level (#adm1+code and #adm2+code, or the common
    operational datasets' ADM1_PCODE and ADM2_PCODE): the deepest level is the area,
    the one above it its parent. A column the mapping names is left as it maps."""
    levels: dict[str, list[tuple[int, Column]]] = {"code": [], "name": []}
    for c, t in zip(columns, tagged, strict=False):
        if c.legal or norm(c.header) in mapping.columns:
            continue
        m = _ADMIN.match(t.tag) if t is not None and t.tag else None
        if m and t is not None:
            for what in ("code", "name"):
                if what in t.attributes:
                    levels[what].append((int(m[1]), c))
        elif t is None or not t.tag:
            if code := _COD_CODE.match(c.header):
                levels["code"].append((int(code[1]), c))
            elif name := _COD_NAME.match(c.header):
                levels["name"].append((int(name[1]), c))
    codes = sorted(levels["code"], key=lambda x: x[0], reverse=True)
    names = sorted(levels["name"], key=lambda x: x[0], reverse=True)
    areas = KINDS["areas"]
    if codes:
        for c in (c for _, c in codes):
            c.field, c.why_dropped = None, "an admin level above the parent's"
        codes[0][1].field, codes[0][1].why_dropped = areas.field("pcode"), None
        if len(codes) > 1:
            codes[1][1].field, codes[1][1].why_dropped = areas.field("parent_pcode"), None
    if names:
        # one name per area: the first column of the deepest level (ADM2_EN before ADM2_FR)
        for c in (c for _, c in names):
            c.field, c.why_dropped = None, "another name, or the name of an area above"
        deepest = [c for level, c in names if level == names[0][0]]
        deepest.sort(key=lambda c: c.position)
        deepest[0].field, deepest[0].why_dropped = areas.field("name"), None
    return codes[0][0] if codes else None


def _find_header(sheet: Sheet, kind: Kind, mapping: Mapping) -> int:
    """The row of column names: among the first ten, the one naming most columns of the
    contract or of the mapping (a title row above it names none)."""
    names = set(_names(kind)) | set(mapping.columns)
    best, best_hits = None, 0
    for i, row in enumerate(sheet.head[:10]):
        hits = sum(1 for cell in row if cell is not None and norm(cell) in names)
        if hits > best_hits:
            best, best_hits = i, hits
    if best is None:
        expected = ", ".join(f.name for f in kind.fields if f.required)
        raise FileProblem(f"{sheet.name}: found no row of column names in the first ten rows "
                          f"and no HXL hashtag row (a {kind.name} file needs columns such as "
                          f"{expected}; or map the file's own names in a mapping file)")
    return best
