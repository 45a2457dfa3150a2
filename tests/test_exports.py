"""Exports: every file a reader takes away leaves through one function,
components.tables.csv_export, which writes the audit line, marks an exercise and
neutralises what a spreadsheet would run. Nothing else on a page may hand out data:
not the data grid's own toolbar (download as CSV, copy), not Plotly's camera button.

Expected files are worked out here: the CSV is read back with the csv module and
every cell is judged by the OWASP rule, written out again in this file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import create_engine, text

from components import tables
from dashboard.config import PROJECT_ROOT
from dashboard.rules import access, audit
from dashboard.rules.access import Viewer
from dashboard.store.db import sql
from tests.apptest import open_page

FORMULA = '=HYPERLINK("http://evil","x")'
# OWASP, CSV injection: a cell starting with one of these is read as a formula.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
EXERCISE = 2


def expected_cell(value: object) -> str:
    """A cell as a safe export writes it: a text cell a spreadsheet would run gets a
    leading single quote; numbers, and text that is only a number, stay as they are."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        if value.startswith(TRIGGERS) and not PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value
    return str(value)


def runnable(cell: str) -> bool:
    """A cell a spreadsheet would run as a formula."""
    return cell.startswith(TRIGGERS) and not PLAIN_NUMBER.fullmatch(cell)


def read_rows(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body, newline="")))


def test_cells_a_spreadsheet_would_run_are_neutralised_and_numbers_kept():
    # a carriage return inside a cell would start a new row where it is not quoted
    texts = [FORMULA, "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "plain text",
             "-12", "+5", "<5", None, "a\r=1+1"]
    frame = pd.DataFrame({
        "name": texts,
        "count": [-5, 3, -1, 0, 2, 7, 1, -12, 4, 9, 0, 1],
        "share": [-2.5, 0.5, -0.25, 1.0, 2.0, 3.0, 4.0, -12.0, 5.0, 6.0, 7.0, 8.0],
        "=header": ["x"] * len(texts),
    })
    rows = list(csv.reader(io.StringIO(tables.csv_text(frame), newline="")))
    assert rows[0] == ["name", "count", "share", "'=header"]
    assert len(rows) == len(frame) + 1
    for row, (_, source) in zip(rows[1:], frame.iterrows(), strict=True):
        assert row[0] == expected_cell(source["name"])
        assert row[1] == str(source["count"])  # a negative number stays a number
        assert float(row[2]) == source["share"] and not row[2].startswith("'")
    assert rows[1][0] == "'" + FORMULA
    assert rows[8][0] == "-12"  # text that is only a number cannot run


def test_an_exercise_marking_line_cannot_break_the_file_or_run():
    body = tables.csv_text(pd.DataFrame({"a": [1]}),
                           first_line='# EXERCISE — x,=HYPERLINK("http://evil")\nrow — NOT LIVE')
    rows = read_rows(body)
    assert len(rows) == 3 and len(rows[0]) == 1  # one cell, one line
    assert rows[0][0].startswith("# EXERCISE") and "\n" not in rows[0][0]
    assert rows[1:] == [["a"], ["1"]]


# --- through the pages ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def formula_url(sqlite_url, tmp_path_factory) -> str:
    """A copy of the generated scenario whose names start with a spreadsheet formula,
    with a drill run whose injects do too."""
    path = tmp_path_factory.mktemp("formula") / "formula.sqlite"
    source = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE persons SET full_name = :f || full_name"), {"f": FORMULA})
        conn.execute(text("UPDATE facilities SET name = :f || name"), {"f": FORMULA})
        conn.execute(text("UPDATE countries SET name = :f || name"), {"f": FORMULA})
        last = pd.Timestamp(conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
            {"s": EXERCISE}).scalar()).to_pydatetime()
        for seq, days in enumerate((4, 2), start=1):
            at = last.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
            conn.execute(sql(
                "INSERT INTO drill_injects (scenario_id, run_id, seq, name, kind, offset_s, at, "
                "status, detail) VALUES (:s, 'run-f', :seq, :name, 'arrivals', :off, :at, "
                "'applied', :name)", {"at": at}),
                {"s": EXERCISE, "seq": seq, "name": FORMULA, "off": seq * 3600, "at": at})
    engine.dispose()
    return url




def check_file(name: str, body: str, exercise: bool) -> list[list[str]]:
    """The rows of a served file, under its marking line; each cell checked."""
    rows = read_rows(body)
    if exercise:
        assert name.startswith("EXERCISE-"), name
        assert len(rows[0]) == 1 and rows[0][0].startswith("# EXERCISE"), rows[0]
        assert "NOT LIVE DATA" in rows[0][0]
    else:
        assert "EXERCISE" not in name and "EXERCISE" not in body.split("\n", 1)[0]
    for row in rows:
        assert not [cell for cell in row if runnable(cell)], (name, row)
    return rows[1:] if exercise else rows


def test_my_nationals_export_is_neutralised(formula_url, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", formula_url)
    at = open_page(formula_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    (name, body), = downloads
    rows = check_file(name, body, exercise=False)
    header, cells = rows[0], rows[1:]
    shown = at.dataframe[0].value
    assert len(cells) == len(shown)
    names = [row[header.index("name")] for row in cells]
    assert names == ["'" + n for n in shown["name"]]
    phones = [row[header.index("phone")] for row in cells if row[header.index("phone")]]
    assert phones and all(p.startswith("'+") for p in phones)  # "+961 …" would be run


def test_drill_exports_are_neutralised_and_marked(formula_url, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", formula_url)
    at = open_page(formula_url, "drill", "coordinator", scenario=EXERCISE)
    assert not at.exception
    files = dict(downloads)
    assert "EXERCISE-drill-injects.csv" in files
    for name, body in files.items():
        check_file(name, body, exercise=True)
    injects = check_file("EXERCISE-drill-injects.csv", files["EXERCISE-drill-injects.csv"], True)
    header = injects[0]
    assert {row[header.index("name")] for row in injects[1:]} == {"'" + FORMULA}


def test_the_audit_log_export_is_neutralised(sqlite_url, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    audit.record(Viewer(FORMULA, "consular", 1, ("ETH",)),
                 audit.Entry(page="my_nationals", filters={"search": FORMULA}, rows_shown=3))
    at = open_page(sqlite_url, "audit", "admin")
    assert not at.exception
    (name, body), = downloads
    rows = check_file(name, body, exercise=False)
    header = rows[0]
    assert [row[header.index("user")] for row in rows[1:]] == ["'" + FORMULA]


# --- no other way out ----------------------------------------------------------------------

def test_every_download_and_chart_goes_through_the_one_function():
    """st.download_button only in components/tables.py, st.plotly_chart only in
    components/charts.py: pages and components call those."""
    for folder in ("pages", "components"):
        for path in sorted(Path(PROJECT_ROOT, folder).glob("*.py")):
            source = path.read_text(encoding="utf-8")
            if path.name != "tables.py":
                assert "download_button(" not in source, path
            if path.name != "charts.py":
                assert "plotly_chart(" not in source, path


@pytest.mark.parametrize("role", access.ROLES)
def test_no_chart_offers_a_picture_and_no_grid_a_file(sqlite_url, monkeypatch, role):
    """Plotly's camera button saves a picture without an audit line or an EXERCISE
    marking; the data grid's toolbar downloads its rows as CSV and copies cells. Both
    are off; the exports are the audited download buttons."""
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    charts = 0
    for scenario in (1, EXERCISE):
        for page in access.pages_for(role):
            at = open_page(sqlite_url, page, role, ["ETH"] if role == "consular" else None,
                           scenario=scenario)
            assert not at.exception, (role, page)
            for chart in at.get("plotly_chart"):
                config = json.loads(chart.proto.config)
                assert "toImage" in config.get("modeBarButtonsToRemove", []), (page, config)
                assert config.get("displaylogo") is False
                charts += 1
    assert charts or role == "admin"
    # read by the browser when a session starts (and at every run): the grid's CSV
    # download and copy are hidden for every table
    assert st.get_option("client.disableDataExport") is True
