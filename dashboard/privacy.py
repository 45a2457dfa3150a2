"""Small-cell suppression (DESIGN.md §2.4).

A count between 1 and THRESHOLD-1 could single a person out, so it is shown
as "<5". When a group of counts is shown beside its total, hiding one cell is
not enough (total minus the others gives it back), so the next-smallest cell
is hidden too: complementary suppression.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    """Which facility rows may count in a total (DESIGN.md §2.5, with §2.4's reasoning):
    every listed one, and a confidential one only where its area holds at least
    CONFIDENTIAL_POOL confidential rows of this frame. An area's total less the places
    listed in it must never give one confidential place's figures away, so a place
    alone in its area counts in no total at all. Needs `confidential` and `area`."""
    confidential = facilities["confidential"].astype(bool)
    area = facilities["area"].fillna("(no area)")
    pooled = confidential.groupby(area).transform("sum") >= CONFIDENTIAL_POOL
    return ~confidential | pooled
