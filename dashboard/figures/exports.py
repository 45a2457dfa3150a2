"""The files a reader takes away: a shown table as CSV or XLSX, as a partner's tools
read it (docs/design.md §2.8).

Each file holds exactly the table on screen (its suppressed cells as shown), in this
order: for an exercise, one line "# EXERCISE — … — NOT LIVE DATA"; the headings a
reader reads; the HXL hashtag row (dashboard.contract.hxl); the rows. A column of
codes keeps its codes, with their labels beside it. No cell is one a spreadsheet
would run. The audit line and the download button are the page's
(components/tables.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from dashboard.contract import hxl, labels
from dashboard.language import _
from dashboard.rules import privacy

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def exercise_marking(scenario_name: str) -> str:
    """The first line of an exercise's file, in the reader's language (the file's name
    says EXERCISE in every language)."""
    # "# " stays outside: the file's tools read a line starting so as a comment.
    # Translators: the first line of a file taken from an exercise; {scenario} is its name
    return "# " + _("EXERCISE — {scenario} — NOT LIVE DATA").format(scenario=scenario_name)


# --- codes and their labels ----------------------------------------------------------------

def coded_columns(frame: pd.DataFrame, codes: Mapping[str, Mapping[str, str]] | None
                  ) -> dict[str, Mapping[str, str]]:
    """The columns of `frame` that hold codes, with their vocabularies' labels: those
    named in `codes`, and those whose name says it (labels.BY_COLUMN)."""
    found: dict[str, Mapping[str, str]] = {
        c: labels.BY_COLUMN[c] for c in frame.columns if c in labels.BY_COLUMN}
    found.update({c: words for c, words in (codes or {}).items() if c in frame.columns})
    return found


def labelled(values: pd.Series, words: Mapping[str, str]) -> pd.Series:
    """Each code of `values` as its label, a missing one blank. Each distinct code is
    looked up once: a column holds thousands of rows and a handful of codes."""
    said = {code: labels.word(code, words) for code in values.dropna().unique()}
    return values.map(said).fillna("")


def with_labels(frame: pd.DataFrame,
                codes: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """For a file: each coded column keeps its codes, with their labels beside it in
    `<column>_label`."""
    out = frame.copy()
    for column, words in coded_columns(frame, codes).items():
        at = list(out.columns).index(column) + 1
        out.insert(at, f"{column}{hxl.LABEL_SUFFIX}", labelled(frame[column], words))
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


# --- one table, ready to write ------------------------------------------------------------

@dataclass(frozen=True)
class Sheet:
    """A shown table as a file holds it: the marking line (or None), the headings,
    the hashtags, and the rows with codes and labels side by side."""

    first_line: str | None
    headings: list[str]
    hashtags: list[str]
    rows: pd.DataFrame


def sheet(frame: pd.DataFrame, first_line: str | None = None,
          codes: dict[str, dict[str, str]] | None = None,
          hashtags: dict[str, str] | None = None) -> Sheet:
    """`frame` as its files hold it. A column of codes is headed "<heading> (code)",
    its labels beside it under the plain heading; a column of times "<heading> (UTC)".
    Headings are in the reader's language (the current one), hashtags and codes as
    they are."""
    rows = with_labels(frame, codes)
    # A series in a cell (a trend) is held as an object; text is too before pandas 3,
    # and _series leaves it as it is.
    for column in [c for c in rows.columns if rows[c].dtype == object]:
        rows[column] = rows[column].map(_series)
    coded = set(coded_columns(frame, codes))
    headings = []
    for column in map(str, rows.columns):
        if column in coded:
            # Translators: the heading of a file's column of codes, beside their labels
            headings.append(_("{heading} (code)").format(heading=labels.heading(column)))
        elif column.endswith(hxl.LABEL_SUFFIX) and column.removesuffix(hxl.LABEL_SUFFIX) in coded:
            headings.append(labels.heading(column.removesuffix(hxl.LABEL_SUFFIX)))
        elif pd.api.types.is_datetime64_any_dtype(rows[column]):
            # Translators: the heading of a file's column of times, all in UTC
            headings.append(_("{heading} (UTC)").format(heading=labels.heading(column)))
        else:
            headings.append(labels.heading(column))
    return Sheet(first_line, headings, hxl.row(rows.columns, hashtags), rows)


def _series(values: object) -> object:
    """A series in one cell as a person writes it: "8, 9, 9", not "[8.0 9.0 9.0]"; blank
    when it holds no value that may be shown. Any other value as it is."""
    if not isinstance(values, (list, tuple, np.ndarray)):
        return values

    def plain(number: object) -> str:
        if labels.missing(number):
            return ""
        if isinstance(number, (float, np.floating)) and float(number).is_integer():
            return str(int(number))
        return str(number)

    shown = [plain(v) for v in values]
    return ", ".join(shown) if any(shown) else ""


def csv_text(frame: pd.DataFrame, first_line: str | None = None,
             headings: list[str] | None = None, hashtags: list[str] | None = None) -> str:
    """`frame` as CSV with every text cell (and heading) `neutralised`; numbers, times
    and empty cells as pandas writes them. `first_line`, if given, is one cell on one
    line above the header (the EXERCISE marking); `hashtags`, if given, a row under it.

    Lines end in CRLF (RFC 4180), so that a cell holding a carriage return is quoted:
    unquoted, a spreadsheet would start a new row there, and the rest of the cell
    would be a cell of its own, formula and all."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=CRLF)
    if first_line is not None:
        writer.writerow([neutralised(" ".join(first_line.split()))])
    writer.writerow([neutralised(str(c)) for c in (headings or frame.columns)])
    if hashtags is not None:
        writer.writerow(hashtags)
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            safe[column] = series.astype(object).map(neutralised)
    safe.to_csv(out, index=False, header=False, lineterminator=CRLF)
    return out.getvalue()


def csv_file(table: Sheet) -> str:
    return csv_text(table.rows, table.first_line, table.headings, table.hashtags)


def _cell_value(value: object) -> object:
    """A value openpyxl can write: no NaN or NA (blank), times without a zone (all
    are UTC, as the heading says), text neutralised, numpy scalars as Python's."""
    if labels.missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    return neutralised(value)


_WHOLE = re.compile(r"-?(0|[1-9]\d*)")  # a whole number, written without leading zeros


def _shown_counts(column: pd.Series) -> bool:
    """Whether a column of text holds shown counts (whole numbers beside "<5" or "—"),
    which a workbook should hold as numbers; not references or codes that look like
    numbers, which keep their leading zeros."""
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return False
    values = [v for v in column if isinstance(v, str) and v != ""]
    return bool(values) and all(_WHOLE.fullmatch(v) or v in (privacy.SUPPRESSED, privacy.WITHHELD)
                                for v in values) \
        and any(_WHOLE.fullmatch(v) for v in values)


def xlsx_bytes(table: Sheet, title: str | None = None) -> bytes:
    """The sheet as an Excel workbook of one sheet: marking, bold headings, hashtags,
    rows, with the panes frozen under the hashtag row. openpyxl writes it (the same
    library the XLSX import tests use), in write-only mode so that a long table does
    not sit in memory twice."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    ws = book.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", title or "")[:31] or _("Table"))
    top = 1 if table.first_line is None else 2
    ws.freeze_panes = f"A{top + 2}"
    for i, heading in enumerate(table.headings, start=1):
        width = max(len(heading), len(table.hashtags[i - 1]), 8) + 2
        ws.column_dimensions[get_column_letter(i)].width = min(width, 48)
    if table.first_line is not None:
        marking = WriteOnlyCell(ws, neutralised(" ".join(table.first_line.split())))
        marking.font = Font(bold=True, color="B00020")
        ws.append([marking])
    bold = []
    for heading in table.headings:
        cell = WriteOnlyCell(ws, neutralised(heading))
        cell.font = Font(bold=True)
        bold.append(cell)
    ws.append(bold)
    ws.append(table.hashtags)
    times = [i for i, c in enumerate(table.rows.columns)
             if pd.api.types.is_datetime64_any_dtype(table.rows[c])]
    counts = [i for i, c in enumerate(table.rows.columns) if _shown_counts(table.rows[c])]
    for values in table.rows.itertuples(index=False, name=None):
        cells = [_cell_value(v) for v in values]
        for i in counts:  # a number, so that a spreadsheet sums it; "<5" stays text
            text = cells[i]
            if isinstance(text, str) and _WHOLE.fullmatch(text):
                cells[i] = int(text)
        for i in times:
            if cells[i] is not None:
                stamped = WriteOnlyCell(ws, cells[i])
                stamped.number_format = "yyyy-mm-dd hh:mm"
                cells[i] = stamped
        ws.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
