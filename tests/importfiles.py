"""Files like the ones responders send, written by the tests themselves: a scenario's
tables read with the tests' own SQL and written as HXL-tagged CSV or XLSX (a header
row, then a hashtag row, as HXL Proxy and most HDX datasets have them)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from dashboard.contract.models import Base

# What each KIND's file holds, as the test's own SQL (:s is the scenario). Headers are
# the contract's column names; person_ref names the person by `ref`.
EXPORTS = {
    "areas": "SELECT pcode, name, admin_level, parent_pcode, country, lat, lon FROM areas "
             "ORDER BY pcode",
    "facilities": "SELECT id, name, kind, lat, lon, area_pcode, capacity, status, confidential, "
                  "operator, confirmed_at FROM facilities WHERE scenario_id = :s ORDER BY id",
    "occupancy": "SELECT o.facility_id, o.at, o.occupants FROM facility_occupancy o "
                 "JOIN facilities f ON f.id = o.facility_id WHERE f.scenario_id = :s "
                 "ORDER BY o.id",
    "persons": "SELECT ref, full_name, sex, birth_year, nationality, second_nationality, "
               "family_id, phone, lat, lon, area_pcode, facility_id, status, consent_consular, "
               "protection_confidential, documents, registered_at, updated_at, id AS pid "
               "FROM persons WHERE scenario_id = :s ORDER BY id",
    "movements": "SELECT id, mode, origin_facility_id, destination, capacity, departs_at, "
                 "status FROM movements WHERE scenario_id = :s ORDER BY id",
    "evacuation": "SELECT c.id, p.ref AS person_ref, c.stage, c.destination, c.movement_id, "
                  "c.requested_at, c.updated_at FROM evacuation_cases c "
                  "JOIN persons p ON p.id = c.person_id WHERE c.scenario_id = :s ORDER BY c.id",
    "referrals": "SELECT r.id, p.ref AS person_ref, r.service, r.from_org, r.to_org, "
                 "r.priority, r.status, r.created_at, r.due_at, r.closed_at FROM referrals r "
                 "JOIN persons p ON p.id = r.person_id WHERE r.scenario_id = :s ORDER BY r.id",
    "consular-posts": "SELECT id, country, name, lat, lon, status, hotline FROM consular_posts "
                      "ORDER BY id",
    "hazards": "SELECT id, kind, severity, geometry, valid_from, valid_to FROM hazards "
               "WHERE scenario_id = :s ORDER BY id",
}
TABLES = {"occupancy": "facility_occupancy", "evacuation": "evacuation_cases",
          "consular-posts": "consular_posts"}
ORDER = ("areas", "facilities", "occupancy", "persons", "movements", "evacuation", "referrals",
         "consular-posts", "hazards")
EXTRA_TAGS = {"person_ref": "#affected+id", "vulnerabilities": "#affected+vulnerability"}


def hashtag(kind: str, column: str) -> str:
    if column in EXTRA_TAGS:
        return EXTRA_TAGS[column]
    table = Base.metadata.tables[TABLES.get(kind, kind)]
    return table.c[column].info.get("hxl", "") if column in table.c else ""


def table_rows(engine: Engine, kind: str, scenario: int) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one KIND's file, from the database at `engine`."""
    with engine.connect() as conn:
        result = conn.execute(text(EXPORTS[kind]), {"s": scenario})
        header = list(result.keys())
        rows = [list(r) for r in result]
        if kind == "persons":
            tags: dict[int, list[str]] = {}
            for pid, tag in conn.execute(text(
                    "SELECT v.person_id, v.tag FROM person_vulnerabilities v JOIN persons p "
                    "ON p.id = v.person_id WHERE p.scenario_id = :s ORDER BY v.tag"),
                    {"s": scenario}):
                tags.setdefault(pid, []).append(tag)
            header[-1] = "vulnerabilities"
            for row in rows:
                row[-1] = ";".join(tags.get(row[-1], []))
    return header, rows


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def write_csv(path: Path, kind: str, header: list[str], rows: list[list[Any]],
              delimiter: str = ",", encoding: str = "utf-8", hashtags: bool = True,
              title: str | None = None) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        out = csv.writer(f, delimiter=delimiter)
        if title:
            out.writerow([title])
        out.writerow(header)
        if hashtags:
            out.writerow([hashtag(kind, c) for c in header])
        for row in rows:
            out.writerow([_cell(v) for v in row])
    return path


def write_xlsx(path: Path, kind: str, header: list[str], rows: list[list[Any]],
               hashtags: bool = True, sheet: str = "data", title: str | None = None) -> Path:
    import openpyxl  # the tests write workbooks with openpyxl; the importer reads with calamine

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    if title:
        ws.append([title])
    ws.append(header)
    if hashtags:
        ws.append([hashtag(kind, c) for c in header])
    for row in rows:
        ws.append([_xlsx(v) for v in row])
    book.save(path)
    return path


def _xlsx(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 19 and value[4] == "-" and value[10] == " ":
        try:
            return datetime.fromisoformat(value)  # SQLite gives times as text
        except ValueError:
            return value
    return value
