"""Exports: every file a reader takes away leaves through one function,
components.tables.export (CSV and XLSX), which writes the audit line, marks an
exercise, puts the HXL hashtag row under the headings and neutralises what a
spreadsheet would run. Nothing else on a page may hand out data:
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
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import create_engine, text

from dashboard.config import PROJECT_ROOT
from dashboard.contract.hxl import HASHTAGS
from dashboard.contract.hxl import hashtag as hxl_tag
from dashboard.figures import exports
from dashboard.rules import access, audit
from dashboard.rules.access import Viewer
from dashboard.store.db import sql
from tests.apptest import drawn_charts, open_page, shown_tables
from tests.downloads import served_files

FORMULA = '=HYPERLINK("http://evil","x")'
# OWASP, CSV injection: a cell starting with one of these is read as a formula.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
# HXL 1.1: a hashtag, then attributes, each lower-case letters, digits and underscores
HASHTAG = re.compile(r"#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*")
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
    rows = list(csv.reader(io.StringIO(exports.csv_text(frame), newline="")))
    assert rows[0] == ["name", "count", "share", "'=header"]
    assert len(rows) == len(frame) + 1
    for row, (_, source) in zip(rows[1:], frame.iterrows(), strict=True):
        assert row[0] == expected_cell(source["name"])
        assert row[1] == str(source["count"])  # a negative number stays a number
        assert float(row[2]) == source["share"] and not row[2].startswith("'")
    assert rows[1][0] == "'" + FORMULA
    assert rows[8][0] == "-12"  # text that is only a number cannot run


def test_an_exercise_marking_line_cannot_break_the_file_or_run():
    body = exports.csv_text(pd.DataFrame({"a": [1]}),
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




def check_file(file, exercise: bool) -> None:
    """A served file's marking, hashtag row and cells."""
    if exercise:
        assert file.name.startswith("EXERCISE-"), file.name
        assert file.marking.startswith("# EXERCISE") and "NOT LIVE DATA" in file.marking
    else:
        assert "EXERCISE" not in file.name and not (file.marking or "").startswith("# EXERCISE")
    assert len(file.hashtags) == len(file.headings)
    assert all(HASHTAG.fullmatch(tag) for tag in file.hashtags), file.hashtags
    for row in [file.headings, *file.rows]:
        assert not [c for c in row if isinstance(c, str) and runnable(c)], (file.name, row)


def test_my_nationals_export_is_neutralised(formula_url, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", formula_url)
    at = open_page(formula_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    files = served_files(downloads)
    assert set(files) == {"my-nationals.csv", "my-nationals.xlsx"}
    shown = at.dataframe[0].value
    for file in files.values():
        check_file(file, exercise=False)
        assert len(file.rows) == len(shown)
        assert file.column("#affected+name") == ["'" + n for n in shown["name"]]
        phones = [p for p in file.column("#contact+phone") if p]
        assert phones and all(p.startswith("'+") for p in phones)  # "+961 …" would be run


def test_drill_exports_are_neutralised_and_marked(formula_url, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", formula_url)
    at = open_page(formula_url, "drill", "coordinator", scenario=EXERCISE)
    assert not at.exception
    files = served_files(downloads)
    assert {"EXERCISE-drill-injects.csv", "EXERCISE-drill-injects.xlsx"} <= set(files)
    for file in files.values():
        check_file(file, exercise=True)
    for name in ("EXERCISE-drill-injects.csv", "EXERCISE-drill-injects.xlsx"):
        assert set(files[name].column("#event+name")) == {"'" + FORMULA}


def test_the_audit_log_export_is_neutralised(sqlite_url, monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    audit.record(Viewer(FORMULA, "consular", 1, ("ETH",)),
                 audit.Entry(page="my_nationals", filters={"search": FORMULA}, rows_shown=3))
    at = open_page(sqlite_url, "audit", "admin")
    assert not at.exception
    files = served_files(downloads)
    for name in ("audit-log-scenario-1.csv", "audit-log-scenario-1.xlsx"):
        check_file(files[name], exercise=False)
        assert files[name].column("#meta+user") == ["'" + FORMULA]


# --- no other way out ----------------------------------------------------------------------

def test_every_download_and_chart_goes_through_the_one_function():
    """st.download_button only in components/tables.py, st.plotly_chart only in
    components/charts.py: pages and components call those. But for the sign-in form's
    one of each, with nothing in it, drawn out of sight to load their scripts
    (components/early.py; test_auth checks what it draws says nothing)."""
    early = Path(PROJECT_ROOT, "components", "early.py").read_text(encoding="utf-8")
    assert early.count("download_button(") == 1 and 'download_button("·", b"",' in early
    assert early.count("plotly_chart(") == 1 and "plotly_chart(go.Figure()," in early
    for folder in ("pages", "components"):
        for path in sorted(Path(PROJECT_ROOT, folder).glob("*.py")):
            source = path.read_text(encoding="utf-8")
            if path.name == "early.py":
                continue
            if path.name != "tables.py":
                assert "download_button(" not in source, path
            if path.name != "charts.py":
                assert "plotly_chart(" not in source, path


def cell_text(value: object) -> str:
    """A cell as text, whether read from the screen, a CSV or a workbook: empty as "",
    a whole float as an integer, a time as UTC to the second."""
    if isinstance(value, (list, tuple, np.ndarray)):  # a series: blank if it shows nothing
        cells = [cell_text(v) for v in value]
        return ", ".join(cells) if any(cells) else ""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
        return stamp.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    try:  # a time the CSV wrote as text
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}.*", text):
            return cell_text(pd.Timestamp(text))
        if re.fullmatch(r"-?\d+\.\d+", text) and float(text).is_integer():
            return str(int(float(text)))
    except ValueError:
        pass
    return text


def screen_cells(shown: pd.DataFrame) -> list[list[str]]:
    return [[cell_text(v) for v in row] for row in shown.itertuples(index=False, name=None)]


def file_cells(file) -> list[list[str]]:
    """The file's cells as the screen shows them: the code columns (headed "(code)")
    left out, their labels in their place; a neutralised cell without its quote."""
    keep = [i for i, h in enumerate(file.headings) if not str(h).endswith("(code)")]
    return [[cell_text(v)[1:] if isinstance(v, str) and v.startswith("'") and runnable(v[1:])
             else cell_text(v) for v in (row[i] for i in keep)] for row in file.rows]


@pytest.mark.parametrize("role", access.ROLES)
def test_every_table_leaves_as_csv_and_xlsx_with_its_screen_cells_and_nothing_else(
        sqlite_url, monkeypatch, downloads, role):
    """Each table a page shows can be taken away as CSV and as XLSX, each file holding
    the screen's cells (suppressed ones as shown) under headings and the HXL hashtag
    row, marked EXERCISE on an exercise. Nothing else hands out data: Plotly's camera
    button (a picture without an audit line or a marking) and the data grid's toolbar
    (its rows as CSV, copied cells) are off."""
    import hxl

    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    charts, suppressed = 0, 0
    known = {hxl_tag(c) for c in HASHTAGS} | {hxl_tag(f"{c}_label") for c in HASHTAGS} \
        | {"#event+name", "#event+type"}  # the inject timeline's own
    for scenario in (1, EXERCISE):
        for page in access.pages_for(role):
            downloads.clear()
            at = open_page(sqlite_url, page, role, ["ETH"] if role == "consular" else None,
                           scenario=scenario)
            assert not at.exception, (role, page)
            for chart in at.get("plotly_chart"):
                config = json.loads(chart.proto.config)
                assert "toImage" in config.get("modeBarButtonsToRemove", []), (page, config)
                assert config.get("displaylogo") is False
            # the bar charts drawn as HTML (components.bars) have no picture button at all
            charts += len(drawn_charts(at))
            files = served_files(downloads)
            csvs = [f for n, f in files.items() if n.endswith(".csv")]
            tables = shown_tables(at)
            assert len(csvs) == len(tables), (role, page, list(files))
            for shown, csv_file in zip(tables, csvs, strict=True):
                book = files[csv_file.name.removesuffix(".csv") + ".xlsx"]
                for file in (csv_file, book):
                    # the list of accounts is of no scenario
                    check_file(file, exercise=scenario == EXERCISE and "accounts" not in file.name)
                    assert set(file.hashtags) <= known, (page, file.name, file.hashtags)
                    assert file_cells(file) == screen_cells(shown), (role, page, file.name)
                suppressed += sum(row.count("<5") for row in screen_cells(shown))
                source = hxl.data(  # libhxl reads the CSV as HXL, marking line and all
                    io.BytesIO(downloads_body(downloads, csv_file.name)),
                                  hxl.InputOptions(allow_local=True))
                assert [c.display_tag for c in source.columns] == csv_file.hashtags
    assert charts or role == "admin"
    if not access.sees_person_level(role) and role != "admin":
        assert suppressed, role  # the compared files do hold suppressed cells
    # read by the browser when a session starts (and at every run): the grid's CSV
    # download and copy are hidden for every table
    assert st.get_option("client.disableDataExport") is True


def downloads_body(served, name: str) -> bytes:
    data = next(data for n, data in served if n == name)
    return (data() if callable(data) else data).encode("utf-8")


def contract_hashtags() -> dict[tuple[str, str], str]:
    """(table, column) → hashtag, read from the tables of docs/data-contract.md."""
    found, table = {}, None
    for line in (PROJECT_ROOT / "docs" / "data-contract.md").read_text().splitlines():
        heading = re.fullmatch(r"### `(\w+)`", line)
        if heading:
            table = heading.group(1)
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if table and len(cells) == 5 and cells[0].startswith("`") and cells[4].startswith("#"):
            found[(table, cells[0].strip("`"))] = cells[4]
    return found


def test_a_column_taken_from_the_contract_carries_the_contract_hashtag():
    """What a partner joins on: a shown column that is a contract column carries the
    hashtag docs/data-contract.md gives it."""
    contract = contract_hashtags()
    same = {"ref": ("persons", "ref"), "name": ("persons", "full_name"),
            "sex": ("persons", "sex"), "nationality": ("persons", "nationality"),
            "second_nationality": ("persons", "second_nationality"),
            "phone": ("persons", "phone"), "updated_at": ("persons", "updated_at"),
            "area": ("areas", "name"), "pcode": ("areas", "pcode"),
            "kind": ("facilities", "kind"), "capacity": ("facilities", "capacity"),
            "occupants": ("facility_occupancy", "occupants"),
            "service": ("referrals", "service"), "priority": ("referrals", "priority"),
            "receiving_organisation": ("referrals", "to_org"),
            "mode": ("movements", "mode"), "destination": ("movements", "destination"),
            "departs_at": ("movements", "departs_at")}
    assert {c: HASHTAGS[c] for c in same} == {c: contract[t] for c, t in same.items()}


def test_each_file_taken_is_audited_with_its_page_name_and_rows(formula_url, monkeypatch,
                                                                downloads, own_audit_log):
    """Each file is made on its button's click, never before (a file served ahead of
    the click could be fetched without it), and written to the log as it is made: one
    export line each, with the page, the file and the row count."""
    monkeypatch.setenv("SITROOM_DB_URL", formula_url)
    at = open_page(formula_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    shown = len(at.dataframe[0].value)
    with sqlite3.connect(own_audit_log) as conn:
        before = conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'export'").fetchone()
    assert before == (0,)  # shown, not yet taken
    assert all(callable(data) for _, data in downloads)  # nothing made before the click
    served_files(downloads)  # makes each file, as a click on its button does
    with sqlite3.connect(own_audit_log) as conn:
        rows = conn.execute("SELECT user, page, filters, rows_shown FROM audit_log "
                            "WHERE action = 'export'").fetchall()
    assert [(u, p, json.loads(f)["file"], n) for u, p, f, n in rows] == [
        ("test-consular", "my_nationals", "my-nationals.csv", shown),
        ("test-consular", "my_nationals", "my-nationals.xlsx", shown)]


@pytest.mark.filterwarnings("error")  # pandas warns when a way of selecting will change
def test_a_series_in_a_cell_leaves_as_a_person_writes_it_and_text_as_it_is():
    """A facility's trend (a list in one cell) leaves as "471, 474": whole numbers
    without ".0", a hidden point blank, a series with nothing shown blank; a column of
    text beside it is untouched, whatever pandas holds text in (object before 3, str
    from 3)."""
    frame = pd.DataFrame({"facility": ["Tyre Shelter 4", "Aley Centre 1", "Saida 2"],
                          "trend": [[471, 474, 474], [np.nan, 8.0, 9.5], [None, None]]})
    written = exports.sheet(frame).rows
    assert written["trend"].tolist() == ["471, 474, 474", ", 8, 9.5", ""]
    assert written["facility"].tolist() == ["Tyre Shelter 4", "Aley Centre 1", "Saida 2"]
