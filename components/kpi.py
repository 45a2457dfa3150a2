"""Headline figure tiles."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboard.figures.overview import Figure


def kpi_row(figures: Sequence[Figure], per_row: int = 5, delta_label: str = "") -> None:
    """Figures as st.metric tiles, `per_row` to a row, each with its change.

    A suppressed figure or change is shown as "<5"; a change is coloured off
    for figures where up is neither good nor bad.
    """
    for start in range(0, len(figures), per_row):
        columns = st.columns(per_row)
        for column, figure in zip(columns, figures[start:start + per_row], strict=False):
            delta = figure.delta
            if isinstance(delta, int):
                delta = f"{delta:+,} {delta_label}".strip()
            elif delta is not None:
                delta = f"{delta} {delta_label}".strip()
            value = f"{figure.value:,}" if isinstance(figure.value, int) else figure.value
            column.metric(figure.label, value, delta, delta_color="off", help=figure.help,
                          border=True)
