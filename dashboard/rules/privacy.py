"""Disclosure control for the roles that see only counts (docs/design.md §2.4).

Suppression alone cannot hold where filters, tiles, totals, time steps and deltas
combine freely: one hidden cell comes back as a total less its shown parts, or as
the difference of two filters. So every count derived from persons that a
count-only role sees is shown in two steps, the same everywhere:

1. A count of 1 to 4 is shown as "<5" (SUPPRESSED), and 0 as 0.
2. Any other count is *randomly rounded* to a multiple of 5 (BASE), up or down,
   with a chance that keeps it unbiased (117 goes to 115 three times in five and
   to 120 twice), decided by the *cell key*: the sum of the record keys of the
   rows counted. A row's record key is a keyed pseudo-random number fixed for
   that row (`record_key`), so the same people always give the same shown count,
   whichever filter, page or moment selects them, and asking again or averaging
   gives nothing away (consistent random rounding, as the Australian Bureau of
   Statistics' TableBuilder and the UK ONS use cell keys).

Every shown count is then 0, "<5" or a multiple of 5 within 4 of the truth, so no
sum or difference of shown counts can single out one to four people: a total less
its parts, one filter less another, one moment less the next are all multiples of
5 known only to within the rounding of each. Shown parts need not add up to their
shown total; the pages say so. Nothing is hidden to protect another cell, so
"<5" always means 1 to 4; the one exception is the parts of a total shown "<5",
which are withheld (WITHHELD, `withhold_under_small_totals`): four parts of "<5"
beside it would pin each to one. Rounding protects in probability, not against
every combination (docs/design.md §2.4 says which).

A consular liaison sees its own nationals person by person, so its counts of them
are exact. Facility occupancy is reported by facilities, not counted from persons,
and stays exact, but a liaison sees no exact occupancy of a facility holding 1 to
4 people (`occupancy_for_liaison`).
"""

from __future__ import annotations

import functools
import hashlib
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from dashboard import config

THRESHOLD = 5
SUPPRESSED = f"<{THRESHOLD}"
# A value not shown for any other reason than being 1 to 4 itself (a change between
# two counts one of which is "<5"): never "<5", and the page's legend says what it means.
WITHHELD = "—"
BASE = 5  # shown counts are multiples of BASE
KEY_SPACE = 1 << 16  # record keys and cell keys are numbers in [0, KEY_SPACE)
_MODULUS = 2_147_483_647  # a prime: the keyed hash of a row id is taken modulo it

Shown = int | str  # a count as shown: a whole number, or SUPPRESSED


@dataclass(frozen=True)
class Count:
    """A true count and the cell key of the rows it counts (the sum of their record
    keys). Counts of disjoint sets of rows add; one set less a subset subtracts."""

    n: int
    key: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.n + other.n, self.key + other.key)

    def __sub__(self, other: Count) -> Count:
        return Count(self.n - other.n, self.key - other.key)


ZERO = Count(0, 0)


def rounded(count: Count) -> Shown:
    """The count as a count-only role sees it (module docstring)."""
    n = count.n
    if n <= 0:
        return 0
    if n < THRESHOLD:
        return SUPPRESSED
    low = n - n % BASE
    if low == n:
        return n
    chance_up = (n - low) / BASE
    return low + BASE if (count.key % KEY_SPACE) / KEY_SPACE < chance_up else low


def shown(count: Count, exact: bool) -> Shown:
    """`count` for a reader who may see it exactly (a liaison, of its own nationals)
    or only rounded (everyone else): callers pass access.suppresses_small_counts."""
    return count.n if exact else rounded(count)


def occupancy_for_liaison(n: int) -> Shown:
    """A facility's reported occupancy as a consular liaison sees it: exact, but "<5"
    for 1 to 4 people (the few in it could be that liaison's own nationals)."""
    return SUPPRESSED if is_small(n) else n


def withhold_under_small_totals(frame: pd.DataFrame, parts: Sequence[str],
                                total: str) -> pd.DataFrame:
    """Where a row's shown total is "<5", its parts are withheld (WITHHELD): a part
    shown "<5" says it holds at least one, and four such parts beside a total of at
    most four would give every one of them away. Works on shown values."""
    small = frame[total].astype(object) == SUPPRESSED
    if small.any():
        frame = frame.astype({c: object for c in parts})
        frame.loc[small, list(parts)] = WITHHELD
    return frame


def withhold_under_small_column_totals(frame: pd.DataFrame,
                                       totals: Mapping[str, Shown]) -> pd.DataFrame:
    """The same for columns whose shown totals (column -> shown) are "<5"."""
    small = [c for c, shown_total in totals.items() if shown_total == SUPPRESSED]
    if small:
        frame = frame.astype({c: object for c in small})
        frame[small] = WITHHELD
    return frame


def change(now: Shown, before: Shown) -> Shown | None:
    """The change between two shown counts, worked out from what is shown (never from
    the true counts, which would give back what the rounding hides); None where one
    of them is "<5" and the change cannot be shown."""
    if isinstance(now, str) or isinstance(before, str):
        return None
    return now - before


def record_key(id_column: str) -> str:
    """SQL for the record key of a row, from its integer id: a keyed hash, the same
    on SQLite and PostgreSQL, with the parameters of `key_params()`."""
    return (f"((CAST({id_column} AS BIGINT) * :ck_mult + :ck_add) % {_MODULUS}) "
            f"% {KEY_SPACE}")


def key_params(secret: str) -> dict[str, int]:
    """The parameters of `record_key` for an installation's secret."""
    digest = hashlib.sha256(secret.encode()).digest()
    mult = int.from_bytes(digest[:4], "big") % (_MODULUS - 1) + 1
    add = int.from_bytes(digest[4:8], "big") % _MODULUS
    return {"ck_mult": mult, "ck_add": add}


@functools.cache
def installation_key_params() -> dict[str, int]:
    """`key_params` of this installation's secret: SITROOM_DISCLOSURE_KEY, else a
    random key made once and kept (owner-only) in SITROOM_HOME. It must not change:
    a new key rounds the same people differently, and comparing figures before and
    after would narrow down the truth."""
    return key_params(config.disclosure_secret())


def python_record_key(row_id: int, params: Mapping[str, int]) -> int:
    """`record_key` worked out in Python (for rows the server already holds)."""
    return ((row_id * params["ck_mult"] + params["ck_add"]) % _MODULUS) % KEY_SPACE


def is_small(n: int) -> bool:
    return 0 < n < THRESHOLD


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


def shown_number(value: object) -> float | None:
    """A shown count read back as a number ("1,519" is 1519.0), for a bar's length or an
    order; None for "<5", "—", blank or missing: what is withheld is never drawn."""
    if isinstance(value, str):
        digits = value.strip().replace(",", "")
        return float(digits) if digits.lstrip("-").isdigit() else None
    return float(value) if isinstance(value, numbers.Real) and not pd.isna(value) else None


def as_shown(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Columns holding numbers and "<5" as text, so that a table can show them
    (charts.stacked_bars reads the numbers back and leaves "<5" undrawn)."""
    frame = frame.copy()
    for c in columns:
        frame[c] = ["" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                    for v in frame[c]]
    return frame
