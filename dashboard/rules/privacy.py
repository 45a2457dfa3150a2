"""Small-cell suppression (docs/design.md §2.4).

A count between 1 and THRESHOLD-1 could single a person out, so it is shown
as "<5". When a group of counts is shown beside its total, hiding one cell is
not enough (total minus the others gives it back), so the next-smallest cell
is hidden too: complementary suppression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

THRESHOLD = 5
SUPPRESSED = f"<{THRESHOLD}"

Cell = int | str


def is_small(n: int) -> bool:
    return 0 < n < THRESHOLD


def suppress_value(n: int) -> Cell:
    return SUPPRESSED if is_small(n) else n


def suppress_group(counts: Mapping[str, int], total_shown: bool = True) -> dict[str, Cell]:
    """Suppress a group of counts that add up to a total shown beside them.

    Every small cell becomes "<5". If the total is shown and exactly one cell
    was hidden, the smallest remaining non-zero cell is hidden as well, so the
    hidden one cannot be recovered by subtraction.
    """
    out: dict[str, Cell] = {k: suppress_value(v) for k, v in counts.items()}
    hidden = [k for k, v in out.items() if v == SUPPRESSED]
    if total_shown and len(hidden) == 1:
        shown = sorted((v, k) for k, v in counts.items() if k not in hidden and v > 0)
        if shown:
            out[shown[0][1]] = SUPPRESSED
    return out


def suppress_total(counts: Mapping[str, int]) -> Cell:
    """The total of a group, hidden only when it is itself small: suppress_group
    already hides enough cells that the total gives none of them away."""
    total = sum(counts.values())
    return suppress_value(total)


CONFIDENTIAL_POOL = 2  # confidential places an area must hold for them to count in its total


def counted_in_totals(facilities: pd.DataFrame) -> pd.Series:
    """Which facility rows may count in a total (docs/design.md §2.5, with §2.4's reasoning):
    every listed one, and a confidential one only where its area holds at least
    CONFIDENTIAL_POOL confidential rows of this frame. An area's total less the places
    listed in it must never give one confidential place's figures away, so a place
    alone in its area counts in no total at all. Needs `confidential` and `area`."""
    confidential = facilities["confidential"].astype(bool)
    area = facilities["area"].fillna("(no area)")
    pooled = confidential.groupby(area).transform("sum") >= CONFIDENTIAL_POOL
    return ~confidential | pooled


# --- tables and series ----------------------------------------------------------------

def thin_steps(frame: pd.DataFrame, increments: Sequence[str]) -> pd.Series:
    """Which points of a cumulative series may be drawn for an aggregate role.

    Two drawn points of a running total give away the count between them, so a
    point is kept only when every increment since the last kept point is 0 or at
    least the threshold (docs/design.md §2.4)."""
    keep, since = [], dict.fromkeys(increments, 0)
    for row in frame[list(increments)].itertuples(index=False):
        for name, value in zip(increments, row, strict=True):
            since[name] += int(value)
        ok = all(v == 0 or v >= THRESHOLD for v in since.values())
        keep.append(ok)
        if ok:
            since = dict.fromkeys(increments, 0)
    return pd.Series(keep, index=frame.index)


def suppress_table(frame: pd.DataFrame, columns: list[str],
                   column_totals: bool = True) -> pd.DataFrame:
    """Small-cell suppression of a table whose row totals (and column totals, if
    `column_totals`) are shown: "<5" for every small cell, then, until none is left,
    a second cell in any row or column where a hidden cell stands alone (it would
    come back by subtraction)."""
    values = frame[columns].astype(int).to_numpy()
    hidden = (values > 0) & (values < THRESHOLD)
    changed = True
    while changed:
        changed = False
        for lines in (hidden, hidden.T) if column_totals else (hidden,):
            vals = values if lines is hidden else values.T
            for i in range(lines.shape[0]):
                if lines[i].sum() == 1:
                    candidates = [(vals[i, j], j) for j in range(lines.shape[1])
                                  if not lines[i, j] and vals[i, j] > 0]
                    if candidates:
                        lines[i, min(candidates)[1]] = True  # a view: marks `hidden` too
                        changed = True
    out = frame.copy().astype({c: object for c in columns})
    for j, c in enumerate(columns):
        out[c] = [SUPPRESSED if hidden[i, j] else int(values[i, j])
                  for i in range(len(out))]
    return out


def suppress_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Suppress each row's cells across `columns`, whose total is shown beside them."""
    frame = frame.copy().astype({c: object for c in columns})
    for i in frame.index:
        cells = suppress_group({c: int(frame.at[i, c]) for c in columns})
        for c in columns:
            frame.at[i, c] = cells[c]
    return frame


def suppress_column(frame: pd.DataFrame, key: str, column: str) -> pd.DataFrame:
    """Suppress one column across rows, whose total is shown elsewhere on the page."""
    frame = frame.copy()
    cells = suppress_group(dict(zip(frame[key], frame[column].astype(int), strict=True)))
    frame[column] = [cells[k] for k in frame[key]]
    return frame


def as_shown(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Columns holding numbers and "<5" as text, so that a table can show them
    (charts.stacked_bars reads the numbers back and leaves "<5" undrawn)."""
    frame = frame.copy()
    for c in columns:
        frame[c] = ["" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                    for v in frame[c]]
    return frame
