"""The tests' own reading of the small-cell suppression rules (docs/design.md §2.4).

An oracle for the aggregate tests, written from the rules and not from the code
under test (dashboard.rules.privacy is never called here): from the true counts a
test worked out with its own SQL, what every cell must show to a role that sees
only counts.

- a count from 1 to 4 is shown as "<5" (primary suppression);
- a group of counts shown beside its total: if exactly one cell is hidden, the
  smallest other non-zero cell is hidden with it (ties: the lowest key);
- a table whose row totals (and column totals) are shown: the same, again and
  again, for every row and then every column holding exactly one hidden cell,
  until no line holds a lone hidden cell (ties: the cell nearest the start of
  the line);
- a running total: a point is drawn only when every increment since the last
  drawn point is 0 or at least 5;
- a change between two figures: hidden when either figure or the change is small.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import pandas as pd

LIMIT = 5
HIDDEN = "<5"


def small(n: int) -> bool:
    """A count that could single a person out."""
    return 1 <= int(n) <= LIMIT - 1


def expected_value(n: int) -> int | str:
    """One count on its own."""
    return HIDDEN if small(n) else int(n)


def expected_delta(now: int, before: int) -> int | str:
    """The change between two counts, as a headline delta shows it."""
    change = int(now) - int(before)
    if small(now) or small(before) or small(abs(change)):
        return HIDDEN
    return change


def expected_group(counts: Mapping[Hashable, int],
                   total_shown: bool = True) -> dict[Hashable, int | str]:
    """A group of counts, in the order given, as shown beside its total (or not)."""
    hidden = {key for key, n in counts.items() if small(n)}
    if total_shown and len(hidden) == 1:
        # one hidden cell alone comes back as the total less the others: hide the
        # smallest of the others that holds anyone, the lowest key among equals
        others = sorted((int(n), key) for key, n in counts.items()
                        if key not in hidden and n > 0)
        if others:
            hidden.add(others[0][1])
    return {key: HIDDEN if key in hidden else int(n) for key, n in counts.items()}


def expected_table(table: pd.DataFrame, column_totals: bool = True) -> pd.DataFrame:
    """A table of counts (rows in the order shown) as shown beside its row totals, and
    its column totals if `column_totals`: the same index and columns, int or "<5"."""
    values = [[int(v) for v in row] for row in table.to_numpy().tolist()]
    n_rows, n_cols = len(values), len(table.columns)
    lines = [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
    if column_totals:
        lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    hidden = {(i, j) for i in range(n_rows) for j in range(n_cols) if small(values[i][j])}
    settled = False
    while not settled:
        settled = True
        for line in lines:  # every row, then every column, seeing each change at once
            if sum(cell in hidden for cell in line) != 1:
                continue
            free = [(values[i][j], place, (i, j)) for place, (i, j) in enumerate(line)
                    if (i, j) not in hidden and values[i][j] > 0]
            if free:
                hidden.add(min(free)[2])
                settled = False
    shown = [[HIDDEN if (i, j) in hidden else values[i][j] for j in range(n_cols)]
             for i in range(n_rows)]
    return pd.DataFrame(shown, index=table.index, columns=table.columns, dtype=object)


def expected_kept(increments: Iterable[Sequence[int]]) -> list[bool]:
    """Which points of a running total may be drawn, from each point's increments
    (one sequence per point, one value per series summed into the total)."""
    kept: list[bool] = []
    pending: list[int] | None = None
    for step in increments:
        step = [int(v) for v in step]
        pending = step if pending is None else [a + b for a, b in zip(pending, step, strict=True)]
        ok = all(v == 0 or v >= LIMIT for v in pending)
        kept.append(ok)
        if ok:
            pending = None
    return kept


def as_text(values: Mapping | pd.DataFrame):
    """Cells as a table shows them: text, "<5" or digits."""
    if isinstance(values, pd.DataFrame):
        return values.astype(str)
    return {key: str(v) for key, v in values.items()}
