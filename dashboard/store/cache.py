"""The one cache policy for query results.

Results are shared by every session of the server (docs/design.md §8) and keyed by
the viewer's *scope* (role, scenario, nationalities), never by the user's name:
twenty committee members share one set of queries, and no scope is ever served
another's figures.

A result is fresh for SITROOM_CACHE_TTL_S seconds, which is also how often pages
refresh themselves. After that it is served stale while one background thread
asks the database again (store.facts.SharedFacts) if its watermark moved, so a
page refreshing itself never waits for the database unless its figures were never
counted or the last try failed (then the reader waits, and is told if the database does not answer).
Results not asked for in FORGET_AFTER intervals are dropped. While the database does
not answer, the last results are served on (store.facts), and a page says they are
stale (components/page.py).

A result is computed for the scope it is kept under: reads made while computing it
(in the reader's thread or in the background refresh) are declared to the database
as the viewer's scope (store.db.reading_as), so that on PostgreSQL the row-level
security policies of docs/deploy.md hold them to it even where a query forgot its
own scope. A function called with no viewer computes for every scope: as the server.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections.abc import Callable, Hashable
from typing import Any

from dashboard import config, language
from dashboard.store import db
from dashboard.store.facts import SharedFacts

TTL_S = int(config.get("SITROOM_CACHE_TTL_S"))
FORGET_AFTER = 20  # intervals
_ALL: list[SharedFacts] = []


def _key(value: Any) -> Hashable:
    if _is_viewer(value):  # a viewer: by what it may see, never by the user's name
        return ("scope", value.scope_key())
    if isinstance(value, list | tuple):
        return tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__,
                tuple(_key(getattr(value, f.name)) for f in dataclasses.fields(value)))
    hash(value)  # anything else must be hashable as it is
    return value


def _is_viewer(value: Any) -> bool:
    return callable(getattr(value, "scope_key", None))


def read_scope(args: tuple, kwargs: dict) -> db.Scope:
    """The scope a call's result is computed for: its viewer's, or the server's (every
    row) when it has none, since such a result is shared by every scope."""
    scopes = {db.scope_of(v) for v in (*args, *kwargs.values()) if _is_viewer(v)}
    if len(scopes) > 1:
        raise TypeError("A cached function computes for one viewer at a time.")
    return scopes.pop() if scopes else db.SERVER


def database_of(args: tuple) -> db.Database | None:
    """The database a call reads: its first Database argument."""
    return next((a for a in args if isinstance(a, db.Database)), None)


def mark_of(database: db.Database, args: tuple, kwargs: dict) -> Callable[[], Hashable]:
    """What a call's result is counted again on: the database's watermark and, for a
    viewer shown persons one by one, the persons it may see (rules.access), read from
    their rows for its scope."""
    viewer = next((v for v in (*args, *kwargs.values()) if _is_viewer(v)), None)
    how = None if viewer is None else viewer.visible_rows_mark_sql(database.dialect)
    if viewer is None or how is None:
        return database.watermark
    statement, params = how
    scope, key = db.scope_of(viewer), viewer.scope_key()

    def rows() -> Hashable:
        with db.reading_as(scope):
            return tuple(str(v) for v in database.read(statement, params).iloc[0])

    return lambda: (database.watermark(), database.scope_marks.reading(key, rows))


def kept_between_starts(args: tuple, kwargs: dict) -> bool:
    """Whether a call's result may be kept on the server's disk: only if it is for a
    viewer shown counts alone. Not a call without a viewer either: those hold places
    as the server reads them, confidential ones included (they are quick to read)."""
    viewers = [v for v in (*args, *kwargs.values()) if _is_viewer(v)]
    return bool(viewers) and all(v.sees_counts_only() for v in viewers)


def scoped(ttl: int | None = None,
           clock: Callable[[], float] = time.monotonic) -> Callable[[Callable], Callable]:
    """Decorator: results per scope and arguments, stale-while-revalidate (above).
    Computed, now or in a background refresh, reading as the viewer's scope (above).
    The result is copied out, so a caller can never change what others are served.
    The decorated function has `clear()` and `settle()` (wait for its refreshes)."""

    def wrap(func: Callable) -> Callable:
        seconds = ttl or TTL_S
        facts = SharedFacts(refresh_after_s=seconds, forget_after_s=seconds * FORGET_AFTER,
                            clock=clock, transient=(db.DatabaseUnavailable,),
                            name=f"{func.__module__}.{func.__qualname__}")
        _ALL.append(facts)

        @functools.wraps(func)
        def cached(*args, **kwargs):
            key = (_key(args), _key(kwargs))
            scope = read_scope(args, kwargs)

            def compute() -> Any:  # the scope travels with it into a refresh thread
                # In English whoever asks: shared by readers of every language, translated
                # where a page draws it (dashboard.language).
                with db.reading_as(scope), language.speaking(language.SOURCE):
                    return func(*args, **kwargs)

            # A consular liaison's rows (a scope by nationality) are never served old:
            # a person who withdraws consent or is newly protected is gone from the
            # liaison's views at the first run of a page after one refresh interval.
            # That rule does not rest on writers keeping their change times
            # (store.watermark): the reader finds whether the persons the liaison may
            # see changed from those rows themselves, and counts again if they did or
            # if the database's watermark moved.
            # Other scopes' results are counted again only when the database's watermark
            # moved, and those that are counts alone are kept between starts with the
            # shared facts, so that a restarted server's first pages are not counted
            # again; a row of a person, even de-identified, is never written to disk.
            database = database_of(args)
            keep = database is not None and kept_between_starts(args, kwargs)
            return copy.deepcopy(facts.get(
                key, compute, stale_ok=not scope.restricted,
                mark=None if database is None else mark_of(database, args, kwargs),
                saved=database.kept if keep else None))

        cached.clear = facts.clear  # type: ignore[attr-defined]
        cached.settle = facts.settle  # type: ignore[attr-defined]
        return cached

    return wrap


def notice_replacement(database: db.Database) -> bool:
    """If the database's SQLite file was replaced since last asked, count every figure
    again from the new file: a consular liaison's rows at their next read (they are
    never served old), the shared facts now in the background, and, once those are
    counted, every other result at its next read. Returns whether it was replaced."""
    if not database.replaced():
        return False
    expire_all()

    def outdate_all() -> None:  # derived from the shared facts: counted again after them
        for facts in _ALL:
            facts.outdate()

    database.recount(then=outdate_all)
    return True


def expire_all() -> None:
    """Make every result old: served on (a consular liaison's excepted) while counted
    again, as when one refresh interval has passed since each was counted."""
    for facts in _ALL:
        facts.expire()


def settle_all() -> None:
    """Wait for every refresh under way, of results and of the databases' shared facts
    (tests, and benchmarks)."""
    for database in db.open_databases():
        database.settle()
    for facts in _ALL:
        facts.settle()


def clear_all() -> None:
    """Forget every cached result (tests, and benchmarks measuring a cold page; the
    databases' shared facts stay: db.forget_all drops those)."""
    for facts in _ALL:
        facts.clear()
