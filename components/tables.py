"""Tables and exports that keep the audit log honest about what was shown."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.session import Context, current_view, note_rows
from dashboard.rules import audit


def person_table(frame: pd.DataFrame, **kwargs) -> None:
    """Show rows about people (a liaison's nationals, a referral queue) and count
    them for the audit log. Aggregate tables use st.dataframe directly."""
    note_rows(len(frame))
    config = {c: st.column_config.Column(label(c)) for c in frame.columns}
    config.update(kwargs.pop("column_config", None) or {})
    text = frame.select_dtypes(include=["object", "str"]).columns
    shown = frame.assign(**{c: frame[c].fillna("") for c in text})  # blank, not "None"
    st.dataframe(shown, hide_index=True, width="stretch", column_config=config, **kwargs)


def label(column: str) -> str:
    """A column name as a reader would write it: `evacuation_stage` → "Evacuation stage"."""
    return column.replace("_", " ").capitalize()


def csv_export(context: Context, frame: pd.DataFrame, filename: str,
               label: str = "Download CSV") -> None:
    """A download of exactly `frame`, written to the audit log when taken, and
    marked EXERCISE in its name and first line for an exercise scenario."""
    body = frame.to_csv(index=False)
    if context.scenario.is_exercise:
        filename = f"EXERCISE-{filename}"
        body = f"# EXERCISE — {context.scenario.name} — NOT LIVE DATA\n{body}"
    view = current_view()
    filters = dict(view.filters) if view else {}
    page = view.page if view else "unknown"

    def log_export() -> None:
        audit.record(context.viewer, audit.Entry(page=page, action="export",
                                                 filters={**filters, "file": filename},
                                                 rows_shown=len(frame)))

    st.download_button(label, body, file_name=filename, mime="text/csv",
                       on_click=log_export, key=f"export-{page}-{filename}")
