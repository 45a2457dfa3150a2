"""The one cache policy for query results.

Results are shared by every session of the server (docs/design.md §8) and keyed by
the viewer's *scope* (role, scenario, nationalities), never by the user's name:
twenty committee members share one set of queries, and no scope is ever served
another's figures.

A result is fresh for SITROOM_CACHE_TTL_S seconds, which is also how often pages
refresh themselves. After that it is served stale while one background thread
asks the database again (shared.SharedFacts), so a page refreshing itself never
waits for the database unless its figures were never counted or the last try
failed (then the reader waits, and is told if the database does not answer).
Results not asked for in FORGET_AFTER intervals are dropped.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections.abc import Callable, Hashable
from typing import Any

from dashboard import config
from dashboard.store.facts import SharedFacts

TTL_S = int(config.get("SITROOM_CACHE_TTL_S"))
FORGET_AFTER = 20  # intervals
_ALL: list[SharedFacts] = []


def _key(value: Any) -> Hashable:
    scope_key = getattr(value, "scope_key", None)
    if callable(scope_key):  # a viewer: by what it may see, never by the user's name
        return ("scope", scope_key())
    if isinstance(value, list | tuple):
        return tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__,
                tuple(_key(getattr(value, f.name)) for f in dataclasses.fields(value)))
    hash(value)  # anything else must be hashable as it is
    return value


def scoped(ttl: int | None = None,
           clock: Callable[[], float] = time.monotonic) -> Callable[[Callable], Callable]:
    """Decorator: results per scope and arguments, stale-while-revalidate (above).
    The result is copied out, so a caller can never change what others are served.
    The decorated function has `clear()` and `settle()` (wait for its refreshes)."""

    def wrap(func: Callable) -> Callable:
        seconds = ttl or TTL_S
        facts = SharedFacts(refresh_after_s=seconds, forget_after_s=seconds * FORGET_AFTER,
                            clock=clock)
        _ALL.append(facts)

        @functools.wraps(func)
        def cached(*args, **kwargs):
            key = (_key(args), _key(kwargs))
            return copy.deepcopy(facts.get(key, lambda: func(*args, **kwargs)))

        cached.clear = facts.clear  # type: ignore[attr-defined]
        cached.settle = facts.settle  # type: ignore[attr-defined]
        return cached

    return wrap


def clear_all() -> None:
    """Forget every cached result (tests, and benchmarks measuring a cold page; the
    databases' shared facts stay: db.forget_all drops those)."""
    for facts in _ALL:
        facts.clear()
