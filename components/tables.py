"""Tables and exports that keep the audit log honest about what was shown.

Every file a reader takes away leaves through `csv_export` or `report_export`: one
audit line per download (who, role, scenario, page, filters with the search text,
rows), EXERCISE in the name and first line of an exercise's file (on every page of a
report), and no cell a spreadsheet would run. The data grid's own download and copy
are off (components/session.py), and charts offer no picture (components/charts.py).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pandas as pd
import streamlit as st

from components.session import Context, current_page, current_view, note_rows
from dashboard.contract import labels
from dashboard.figures import report_pdf
from dashboard.figures.scenarios import ScenarioInfo
from dashboard.rules import audit


def table(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None,
          **kwargs) -> None:
    """Show a table as a reader reads it: headings in words, each code as its label
    (`readable`), empty cells blank. For rows about people, person_table."""
    config = {c: st.column_config.Column(labels.heading(str(c))) for c in frame.columns}
    config.update(kwargs.pop("column_config", None) or {})
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    st.dataframe(readable(frame, codes), column_config=config, **kwargs)


def person_table(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None,
                 **kwargs) -> None:
    """Show rows about people (a liaison's nationals, a referral queue) and count
    them for the audit log."""
    note_rows(len(frame))
    table(frame, codes, **kwargs)


def coded_columns(frame: pd.DataFrame,
                  codes: dict[str, dict[str, str]] | None) -> dict[str, dict[str, str]]:
    """The columns of `frame` that hold codes, with their vocabularies' labels: those
    named in `codes`, and those whose name says it (labels.BY_COLUMN)."""
    found = {c: labels.BY_COLUMN[c] for c in frame.columns if c in labels.BY_COLUMN}
    found.update({c: words for c, words in (codes or {}).items() if c in frame.columns})
    return found


def readable(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """`frame` with each code replaced by its label and empty text cells blank (never
    "None")."""
    coded = coded_columns(frame, codes)
    shown = frame.assign(**{c: frame[c].map(lambda v, w=words: "" if labels.missing(v)
                                            else labels.word(v, w))
                            for c, words in coded.items()})
    text = [c for c in shown.select_dtypes(include=["object", "str"]).columns if c not in coded]
    return shown.assign(**{c: shown[c].fillna("") for c in text})


def with_labels(frame: pd.DataFrame,
                codes: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """For a file: each coded column keeps its codes, with their labels beside it in
    `<column>_label`."""
    out = frame.copy()
    for column, words in coded_columns(frame, codes).items():
        at = list(out.columns).index(column) + 1
        out.insert(at, f"{column}_label", frame[column].map(
            lambda v, w=words: "" if labels.missing(v) else labels.word(v, w)))
    return out


# --- what a spreadsheet would run ----------------------------------------------------------

# A cell starting with one of these is read as a formula by Excel, LibreOffice and
# Google Sheets (OWASP, CSV injection): `=HYPERLINK("http://…")` in a name would become
# a link, or worse. Such a text cell gets a leading single quote, as OWASP advises.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Text that is only a number ("-12", "+5") cannot run, and stays a number.
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
CRLF = "\r\n"


def neutralised(value: object) -> object:
    """`value`, with a leading ' if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(frame: pd.DataFrame, first_line: str | None = None) -> str:
    """`frame` as CSV with every text cell (and column name) `neutralised`; numbers,
    times and empty cells as pandas writes them. `first_line`, if given, is one cell
    on one line above the header (the EXERCISE marking).

    Lines end in CRLF (RFC 4180), so that a cell holding a carriage return is quoted:
    unquoted, a spreadsheet would start a new row there, and the rest of the cell
    would be a cell of its own, formula and all."""
    out = io.StringIO()
    if first_line is not None:
        csv.writer(out, lineterminator=CRLF).writerow(
            [neutralised(" ".join(first_line.split()))])
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            safe[column] = series.astype(object).map(neutralised)
    safe.columns = [neutralised(str(c)) for c in frame.columns]
    safe.to_csv(out, index=False, lineterminator=CRLF)
    return out.getvalue()


def exercise_marking(scenario: ScenarioInfo) -> str:
    return f"# EXERCISE — {scenario.name} — NOT LIVE DATA"


def csv_export(context: Context, frame: pd.DataFrame, filename: str,
               label: str = "Download CSV", *, scenario: ScenarioInfo | None = None,
               heading: str | None = None,
               codes: dict[str, dict[str, str]] | None = None) -> None:
    """A download of exactly `frame`, written to the audit log when taken (page,
    filters with the search text, rows), with no cell a spreadsheet would run.

    The rows are of `scenario` (by default the session's): for an exercise, EXERCISE
    leads the file name and the first line. A file of several scenarios' rows (the
    audit log) passes `heading` instead: a first line saying honestly what it holds,
    and no EXERCISE marking over rows that are not all an exercise's."""
    scenario = context.scenario if heading is None and scenario is None else scenario
    first = heading
    if scenario is not None and scenario.is_exercise:
        filename = f"EXERCISE-{filename}"
        first = exercise_marking(scenario)
    body = csv_text(with_labels(frame, codes), first)
    view = current_view()
    filters = dict(view.filters) if view else {}
    page = current_page()
    rows = len(frame)

    def log_export() -> None:
        audit.record(context.viewer, audit.Entry(page=page, action="export",
                                                 filters={**filters, "file": filename},
                                                 rows_shown=rows))

    st.download_button(label, body, file_name=filename, mime="text/csv",
                       on_click=log_export, key=f"export-{page}-{filename}")


def report_export(context: Context, as_of: datetime, reference_at: datetime,
                  label: str = "Situation report (PDF)") -> None:
    """A download of the situation report of what this reader sees at `as_of`, with the
    changes since `reference_at` (dashboard.figures.report_pdf). The PDF is made when
    the button is clicked, not on every run of the page (seconds at a million persons),
    and is written to the audit log as it is made, with the page's filters and the
    file's name: a report whose line cannot be written is not handed out."""
    view = current_view()
    filters = dict(view.filters) if view else {}
    page = current_page()
    name = report_pdf.file_name(context.scenario, as_of)
    database, viewer = context.database, context.viewer

    def made() -> bytes:  # run by Streamlit on the click, in a thread of its own
        return report_pdf.write_report(database, viewer, as_of, reference_at, page=page,
                                       filters=filters, name=name).pdf

    st.download_button(label, made, file_name=name, mime="application/pdf",
                       on_click="ignore", icon=":material/picture_as_pdf:",
                       help="A PDF of these figures, the map, shelters near capacity, overdue "
                            "referrals, the evacuation funnel and movements, hazards and data "
                            "quality, exactly as your role sees them; recorded in the audit log.",
                       key=f"report-{page}")
