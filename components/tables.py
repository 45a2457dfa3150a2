"""Tables and exports that keep the audit log honest about what was shown.

Every file a reader takes away leaves through `export` (CSV and XLSX, with the HXL
hashtag row) or `report_export` (PDF): one audit line per download (who, role,
scenario, page, filters with the search text, file, rows), EXERCISE in the name and
first line of an exercise's file (on every page of a report), and no cell a
spreadsheet would run (dashboard.figures.exports writes the files). The data grid's
own download and copy are off (components/session.py), and charts offer no picture
(components/charts.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime

import pandas as pd
import streamlit as st

from components import projector
from components.charts import escape_markdown
from components.session import Context, current_page, current_view, note_rows
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import exports, report_pdf
from dashboard.figures.scenarios import ScenarioInfo
from dashboard.language import _
from dashboard.rules import audit, privacy


def moment_format(year: bool = False, seconds: bool = False) -> str:
    """How a table (or a slider) writes a moment, in the browser's own formatting
    (moment.js), which knows only English month names: "7 Nov, 04:00" in English, the
    day before the month in figures in every other language ("07/11 04:00"), as their
    conventions write a short date. With `seconds`, to the second (the audit log)."""
    clock = "HH:mm:ss" if seconds else "HH:mm"
    if language.locale().language == "en":
        return f"D MMM YYYY, {clock}" if year else f"D MMM, {clock}"
    return f"DD/MM/YYYY {clock}" if year else f"DD/MM {clock}"


def as_moments(texts: pd.Series) -> pd.Series:
    """ISO 8601 times written as text (the audit log's), as moments a grid writes with
    `moment_format`; the text as it is if any one of them is not a time, so that a
    line written by hand still shows what it holds."""
    moments = pd.to_datetime(texts, utc=True, format="ISO8601", errors="coerce")
    return texts if (moments.isna() & texts.notna()).any() else moments


def table(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None,
          projector_hide: Sequence[str] = (), **kwargs) -> None:
    """Show a table as a reader reads it: headings in words, each code as its label
    (`readable`), empty words blank and an empty figure "—" (withheld, or not known;
    the grid would write "None", which beside "<5" reads as none). For rows about
    people, person_table. In projector mode the columns in `projector_hide` are left
    out, so that a wide table fits the screen (components/projector.py)."""
    config = {c: st.column_config.Column(labels.heading(str(c))) for c in frame.columns}
    config.update(kwargs.pop("column_config", None) or {})
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    kwargs.setdefault("placeholder", privacy.WITHHELD)
    if projector_hide and projector.is_on():
        kwargs["column_order"] = [c for c in kwargs.get("column_order") or frame.columns
                                  if c not in projector_hide and config.get(c, True) is not None]
    if language.right_to_left():  # read from the right: the first column on the right
        kwargs["column_order"] = list(reversed(kwargs.get("column_order") or frame.columns))
    st.dataframe(readable(frame, codes), column_config=config, **kwargs)


def small_table(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None,
                words: int = 1) -> None:
    """A table of a few rows, shown whole as the page's own text (st.table) rather than
    a data grid: nothing to scroll on a projector, long words wrapped rather than cut,
    read out by a screen reader, and no grid sizing itself once the browser is free (a
    grid is first drawn 52 px wide and widened to its column a moment later: on the Map,
    up to a second after the page, behind the map's first drawing). Headings and codes
    in words as `table`; every cell escaped, as st.table renders Markdown. The first
    `words` columns hold words (the first names the rows); the others hold figures,
    aligned on the right to be compared down a column. Its columns keep their order in a
    language read from the right: the browser lays an HTML table out in the page's
    direction, first column on the right (a grid is drawn on a canvas, whose columns
    `table` reverses)."""
    shown = readable(frame, codes)
    # over the alignment Streamlit sets on each cell; figures read left to right ("<5"
    # is not mirrored into "5>" on a page read from the right), as the metric tiles.
    # A rule of the page's, for every static table; one with more words columns (one
    # a page) is drawn in a container of its own, whose rules name it and so win.
    if words == 1:
        rules, place = [_aligned("", "n+2", "right")], nullcontext()
    else:
        scope = f".st-key-{WORDS_KEY} "
        rules = [_aligned(scope, f"n+{words + 1}", "right"),
                 _aligned(scope, f"-n+{words}", "start"),
                 # words wrap at the column's width, not Streamlit's 400 px for a cell
                 f'{scope}[data-testid="stTable"] td > div {{max-width: none;}}']
        place = st.container(key=WORDS_KEY)
    st.html("<style>" + " ".join(rules) + "</style>")
    with place:
        st.table(pd.DataFrame({escape_markdown(labels.heading(str(c))):
                               shown[c].map(escape_markdown) for c in shown.columns}),
                 hide_index=True)


WORDS_KEY = "table-of-words"  # small_table's container, for more than one words column


def _aligned(scope: str, columns: str, side: str) -> str:
    """A CSS rule aligning the static tables' `columns` (an nth-child formula) on `side`:
    figures on the right, left to right; words at the start of the reader's line."""
    cells = ", ".join(f'{scope}[data-testid="stTable"] {cell}:nth-child({columns})'
                      for cell in ("td", "th"))
    direction = "direction: ltr;" if side == "right" else ""
    return f"{cells} {{text-align: {side} !important; {direction}}}"


def person_table(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None,
                 projector_hide: Sequence[str] = (), **kwargs) -> None:
    """Show rows about people (a liaison's nationals, a referral queue) and count
    them for the audit log."""
    note_rows(len(frame))
    table(frame, codes, projector_hide, **kwargs)


def readable(frame: pd.DataFrame, codes: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """`frame` with each code replaced by its label and empty text cells blank (never
    "None")."""
    coded = exports.coded_columns(frame, codes)
    shown = frame.assign(**{c: exports.labelled(frame[c], words) for c, words in coded.items()})
    text = [c for c in shown.select_dtypes(include=["object", "str"]).columns if c not in coded]
    return shown.assign(**{c: shown[c].fillna("") for c in text})


def export(context: Context, frame: pd.DataFrame, name: str, label: str | None = None,
           *, scenario: ScenarioInfo | None = None, heading: str | None = None,
           codes: dict[str, dict[str, str]] | None = None,
           hashtags: dict[str, str] | None = None) -> None:
    """Two downloads of exactly `frame`, `name`.csv and `name`.xlsx
    (dashboard.figures.exports), each written to the audit log when taken (page,
    filters with the search text, file, rows). `label` (already in the reader's
    language; "Download" without one) names the buttons; the files' headings are in
    the reader's language too, their codes and hashtags as they are.

    The rows are of `scenario` (by default the session's): for an exercise, EXERCISE
    leads the file names and the first line. A file of several scenarios' rows (the
    audit log) passes `heading` instead: a first line saying honestly what it holds,
    and no EXERCISE marking over rows that are not all an exercise's. `hashtags`
    gives a column's HXL hashtag where this table's column means something else
    than dashboard.contract.hxl says."""
    label = label or _("Download")
    reading = language.current()  # the files are made in another thread: in this language
    scenario = context.scenario if heading is None and scenario is None else scenario
    first = heading
    if scenario is not None and scenario.is_exercise:
        name = f"EXERCISE-{name}"  # in every language: partners' tools look for it
        first = exports.exercise_marking(scenario.name)
    view = current_view()
    filters = dict(view.filters) if view else {}
    page = current_page()
    rows = len(frame)

    # Both files are made when their button is clicked (by Streamlit, in a thread of its
    # own), never on a run of the page: a file served ahead of the click could be fetched
    # by its address without the click, and so without its audit line.
    def made(file_name: str, write: Callable[[exports.Sheet], bytes | str]) -> bytes | str:
        # a file whose line cannot be written is not handed out
        audit.record(context.viewer, audit.Entry(page=page, action="export",
                                                 filters={**filters, "file": file_name},
                                                 rows_shown=rows))
        with language.speaking(reading):
            return write(exports.sheet(frame, first, codes, hashtags))

    with st.container(horizontal=True, gap="small"):
        # Translators: {label} is what a download holds, such as "Download the queue"
        st.download_button(_("{label} (CSV)").format(label=label),
                           lambda: made(f"{name}.csv", exports.csv_file),
                           file_name=f"{name}.csv", mime="text/csv", on_click="ignore",
                           key=f"export-{page}-{name}.csv", icon=":material/download:")
        # Translators: {label} is what a download holds, such as "Download the queue"
        st.download_button(_("{label} (Excel)").format(label=label),
                           lambda: made(f"{name}.xlsx",
                                        lambda table: exports.xlsx_bytes(table, title=label)),
                           file_name=f"{name}.xlsx", mime=exports.XLSX_MIME, on_click="ignore",
                           key=f"export-{page}-{name}.xlsx", icon=":material/table_view:")


def report_export(context: Context, as_of: datetime, reference_at: datetime,
                  label: str | None = None) -> None:
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
    reading = language.current()  # the report is made in another thread: in this language

    def made() -> bytes:  # run by Streamlit on the click, in a thread of its own
        with language.speaking(reading):
            return report_pdf.write_report(database, viewer, as_of, reference_at, page=page,
                                           filters=filters, name=name).pdf

    st.download_button(label or _("Situation report (PDF)"), made, file_name=name,
                       mime="application/pdf", on_click="ignore",
                       icon=":material/picture_as_pdf:",
                       help=_("A PDF of these figures, the map, shelters near capacity, overdue "
                              "referrals, the evacuation funnel and movements, hazards and data "
                              "quality, exactly as your role sees them; recorded in the audit "
                              "log."),
                       key=f"report-{page}")
