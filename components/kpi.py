"""Headline figure tiles."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import language
from dashboard.figures.overview import Figure
from dashboard.language import N_, _
from dashboard.rules import privacy

T = TypeVar("T")
WITHHELD_HELP = N_("A change marked — is withheld: one of the two figures is below 5, and "
                   "the change would count those few people.")


def _change(delta: int) -> str:
    """A change with its sign, in the reader's convention: +1,234, -5, +0."""
    return ("+" if delta >= 0 else "-") + language.number(abs(delta))


def _in_rows(items: Sequence[T], per_row: int) -> Iterator[tuple[DeltaGenerator, T]]:
    """Each item with the column it goes in, `per_row` columns to a row."""
    for start in range(0, len(items), per_row):
        yield from zip(st.columns(per_row), items[start:start + per_row], strict=False)


def kpi_row(figures: Sequence[Figure], per_row: int = 5, delta_label: str = "") -> None:
    """Figures as st.metric tiles, `per_row` to a row, each with its change. A figure's
    label and help are in English (marked where they are defined) and said here in the
    reader's language; `delta_label`, already in it.

    A figure of 1 to 4 people is "<5"; a change that cannot be shown because one
    of its two figures is "<5" is "—" (withheld), without an arrow, and its help
    says why. A change is coloured off: up is neither good nor bad for most figures.
    """
    for column, figure in _in_rows(figures, per_row):
        delta, arrow, help_text = figure.delta, "auto", _(figure.help)
        if delta == privacy.WITHHELD:
            arrow = "off"
            # Translators: a figure's own help, then why its change is withheld.
            help_text = _("{help}. {withheld}").format(help=help_text,
                                                        withheld=_(WITHHELD_HELP))
        if isinstance(delta, int):
            delta = f"{_change(delta)} {delta_label}".strip()
        elif delta is not None:
            delta = f"{delta} {delta_label}".strip()
        value = (language.number(figure.value) if isinstance(figure.value, int)
                 else figure.value)
        label = language.pgettext(language.TILE, figure.label)
        column.metric(label, value, delta, delta_color="off", help=help_text,
                      border=True, delta_arrow=arrow)


def tiles(shown: Sequence[tuple[str, object]], per_row: int = 4) -> None:
    """Plain figure tiles (label, value already in the reader's words), `per_row` to a
    row: six to a row cut a six-digit figure to "521,…" on a laptop."""
    for column, (label, value) in _in_rows(shown, per_row):
        column.metric(label, value, border=True)
