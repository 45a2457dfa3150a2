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
from collections.abc import Iterable

SECRET = "tests-disclosure-key-not-a-real-secret-0123456789"
KEY_SPACE = 65536
MODULUS = 2_147_483_647
LESS_THAN_5 = "<5"
WITHHELD = "—"


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
