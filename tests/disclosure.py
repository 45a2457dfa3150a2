"""The tests' own oracle for the counts a count-only role sees (docs/design.md §2.4),
written from the design, not imported from the code under test: a record key per
row from a keyed hash of its id, a cell key as the sum of the keys of the rows
counted, and consistent random rounding to a multiple of 5 after showing 1 to 4
as "<5". Tests compute the true rows with their own SQL, then what must be shown
with `expected(ids)`.

The test run fixes the installation's secret (SECRET, set in tests/conftest.py as
SITROOM_DISCLOSURE_KEY) so that the oracle and the server use the same keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

SECRET = "tests-disclosure-key-not-a-real-secret-0123456789"
KEY_SPACE = 65536
MODULUS = 2_147_483_647
LESS_THAN_5 = "<5"
WITHHELD = "—"

Shown = int | str  # a count as shown: a whole number, LESS_THAN_5 or WITHHELD
Part = TypeVar("Part", bound=Hashable)
Row = TypeVar("Row", bound=Hashable)


def _hash_params(secret: str = SECRET) -> tuple[int, int]:
    digest = hashlib.sha256(secret.encode()).digest()
    return (int.from_bytes(digest[:4], "big") % (MODULUS - 1) + 1,
            int.from_bytes(digest[4:8], "big") % MODULUS)


MULT, ADD = _hash_params()


def row_key(row_id: int) -> int:
    return ((int(row_id) * MULT + ADD) % MODULUS) % KEY_SPACE


def expected(ids: Iterable[int]) -> int | str:
    """What a count-only role must be shown for the rows with these ids."""
    ids = list(ids)
    return expected_count(len(ids), sum(row_key(i) for i in ids))


def expected_count(n: int, key: int) -> int | str:
    if n == 0:
        return 0
    if n < 5:
        return LESS_THAN_5
    below = (n // 5) * 5
    if below == n:
        return n
    up = (key % KEY_SPACE) / KEY_SPACE < (n - below) / 5
    return below + 5 if up else below


def possible_truths(shown: int | str) -> range:
    """Every true count an attacker who knows the method could infer from one shown
    count: the whole point is that this is never a single small number."""
    if shown == 0:
        return range(0, 1)
    if shown == LESS_THAN_5:
        return range(1, 5)
    value = int(shown)
    return range(max(5, value - 4), value + 5)


def expected_change(now: int | str, before: int | str) -> int | str:
    if isinstance(now, str) or isinstance(before, str):
        return WITHHELD
    return now - before


# --- the parts of a total shown "<5" are withheld (docs/design.md §2.4) ------------------

def expected_parts(parts: Mapping[Part, Shown], total_shown: Shown) -> dict[Part, Shown]:
    """The parts of a total as a count-only role must be shown them beside that total:
    each as shown on its own, unless the total is shown "<5", where every part is
    WITHHELD, zeros included (a part shown "<5" holds at least one, and four such parts
    beside a total of at most four would pin each to exactly 1). An exact total (a
    liaison's) is never "<5", so its parts are left as they are."""
    if total_shown == LESS_THAN_5:
        return dict.fromkeys(parts, WITHHELD)
    return dict(parts)


def expected_columns(rows: Mapping[Row, Mapping[Part, Shown]],
                     column_totals: Mapping[Part, Shown]) -> dict[Row, dict[Part, Shown]]:
    """A table's rows (row -> column -> shown) beside shown column totals: every cell
    of a column whose total is shown "<5" is WITHHELD, in every row; other cells as
    they are. Compose with `expected_parts` for a table with row totals too."""
    small = {c for c, total in column_totals.items() if total == LESS_THAN_5}
    return {r: {c: WITHHELD if c in small else v for c, v in cells.items()}
            for r, cells in rows.items()}


def possible_part_truths(shown: Shown, *totals_shown: Shown) -> range:
    """Every true count an attacker could infer for one part from its shown value and
    the shown totals it is a part of. WITHHELD tells nothing: any value from 0 to the
    largest truth of the tightest total is left open (it needs at least one total).
    Anything else is `possible_truths` of its own shown value."""
    if shown != WITHHELD:
        return possible_truths(shown)
    assert totals_shown, "a withheld part is bounded only by a total it is part of"
    return range(0, min(possible_truths(t).stop for t in totals_shown))
