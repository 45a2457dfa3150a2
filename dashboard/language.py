"""The reader's language: the words (gettext catalogs in dashboard/locale, managed with
Babel: `sitroom catalogs`), and numbers, dates and times in the reader's convention
(Babel's CLDR data). docs/translating.md says how to add a language and review one.

The language is the reader's, not the process's: each Streamlit session sets it at the
start of every run of its script (components/session.py), the command line from its
flag, and it lives in a context variable, so that two readers in two languages share
one server and one cache. Cached figures (store.cache) are computed in English, the
catalogs' source language, whoever asks first: what a page shows is translated when it
is drawn, so a figure is never counted twice for two languages.

Strings a reader sees are written in English in the code, marked `_("…")` where they
are drawn, or `N_("…")` where they are defined ahead (a vocabulary's labels, a page's
title) and translated where they are shown. A sentence with values keeps them as
named fields, `_("{n} people").format(n=…)`, so a translator can move them.
"""

from __future__ import annotations

import functools
import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path

from babel import Locale, dates, numbers
from babel.support import NullTranslations, Translations

from dashboard import config

DOMAIN = "sitroom"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE = "en"  # the language the code is written in
# Each language in its own words, as the switch offers it.
LANGUAGES = {"en": "English", "fr": "Français", "es": "Español", "pt": "Português",
             "ar": "العربية"}
RIGHT_TO_LEFT = frozenset({"ar"})
# Not offered to readers: every translated string wrapped in markers, so that a test
# finds any text a reader would see untranslated (tests/browser/test_languages.py).
PSEUDO = "qps"
PSEUDO_OPEN, PSEUDO_CLOSE = "⟦", "⟧"

_current: ContextVar[str | None] = ContextVar("sitroom_language", default=None)


class LanguageUnknown(ValueError):
    """A language the product does not speak; the message lists those it does."""


def known(code: str) -> bool:
    return code in LANGUAGES or code == PSEUDO


def check(code: str, where: str) -> str:
    """`code` if it is a language the product speaks, else a message saying so."""
    code = (code or "").strip().lower()
    if not known(code):
        raise LanguageUnknown(f"{where}: {code!r} is not a language Situation Room speaks; "
                              f"use one of {', '.join(LANGUAGES)}.")
    return code


def server_default() -> str:
    """SITROOM_LANGUAGE, or English; a wrong value is a message when the server starts."""
    return check(config.get("SITROOM_LANGUAGE"), "SITROOM_LANGUAGE")


def current() -> str:
    chosen = _current.get()
    return chosen if chosen is not None else server_default()


def use(code: str) -> None:
    """The language of everything drawn from here on in this context (a script run)."""
    _current.set(check(code, "language"))


@contextmanager
def speaking(code: str) -> Iterator[None]:
    """The language of the block, then the one before it."""
    token = _current.set(check(code, "language"))
    try:
        yield
    finally:
        _current.reset(token)


def right_to_left(code: str | None = None) -> bool:
    return (code or current()) in RIGHT_TO_LEFT


class _Pseudo(NullTranslations):
    """Wraps the strings the catalogs hold (the template's), and only those: a string
    made up at run time and never marked stays bare, as it would in any language."""

    def __init__(self) -> None:
        super().__init__()
        from babel.messages.pofile import read_po

        with open(LOCALE_DIR / f"{DOMAIN}.pot", "rb") as template:
            ids = [m.id for m in read_po(template) if m.id]
        self.known = {i for found in ids for i in ((found,) if isinstance(found, str) else found)}

    def gettext(self, message: str) -> str:
        if message not in self.known:
            return message
        return f"{PSEUDO_OPEN}{message}{PSEUDO_CLOSE}"

    def ngettext(self, singular: str, plural: str, n: int) -> str:  # type: ignore[override]
        return self.gettext(singular if n == 1 else plural)

    def pgettext(self, context: str, message: str) -> str:
        return self.gettext(message)


@functools.cache
def _translations(code: str) -> _gettext.NullTranslations:
    if code == PSEUDO:
        return _Pseudo()
    if code == SOURCE:
        return NullTranslations()
    found = Translations.load(str(LOCALE_DIR), [code], domain=DOMAIN)
    if not isinstance(found, Translations):  # no compiled catalog: a broken install
        raise LanguageUnknown(f"The {LANGUAGES[code]} catalog is missing from {LOCALE_DIR}; "
                              "run `sitroom catalogs compile`.")
    return found


def gettext(message: str) -> str:
    """`message` in the reader's language."""
    return _translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a sentence that fits `n`, in the reader's language."""
    return _translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for it)
    """Marks a string for the catalogs where it is defined; translated where shown."""
    return message


def pgettext(context: str, message: str) -> str:
    """`message` as it reads in `context` (a tile's label, say, where the same English
    word is a person's status elsewhere), else as it reads anywhere."""
    said = _translations(current()).pgettext(context, message)
    return gettext(message) if said == message else said


def NC_(context: str, message: str) -> str:  # noqa: N802
    """Marks a string that reads differently in `context`; translated with pgettext."""
    return message


TILE = "tile"  # the context of a headline tile's label (a count of people): NC_("tile", …)


_ = gettext


class ReaderError(Exception):
    """An error whose message is for the reader. It is raised with its English message,
    marked `N_`, and that message's fields, often inside cached code, which runs in
    English: `str()` is the English (for logs), `shown()` the reader's language, called
    where the message is drawn."""

    def __init__(self, message: str, **fields: object):
        self.message, self.fields = message, fields
        super().__init__(message.format(**fields) if fields else message)

    def shown(self) -> str:
        said = gettext(self.message)
        return said.format(**self.fields) if self.fields else said


def locale() -> Locale:
    """The reader's CLDR locale (English's for the pseudo-language)."""
    return _cldr(current())


@functools.cache
def _cldr(code: str) -> Locale:  # parsed once: a map's tooltips ask thousands of times
    return Locale.parse(SOURCE if code == PSEUDO else code)


def number(value: float, digits: int = 0) -> str:
    """A number with the reader's thousands separator and decimal mark, in Latin digits
    (readable on a projector whatever the language)."""
    return _formatted(value, digits, current())


@functools.lru_cache(maxsize=1 << 14)
def _formatted(value: float, digits: int, code: str) -> str:
    # Babel takes a tenth of a millisecond a number, and a table of facilities or a
    # map's tooltips ask for thousands of them, the same ones at every refresh.
    return _number_pattern(digits).apply(value, _cldr(code))


@functools.cache
def _number_pattern(digits: int) -> numbers.NumberPattern:
    """What babel.numbers.format_decimal parses from the pattern at every call."""
    return numbers.parse_pattern("#,##0" + ("." + "0" * digits if digits else ""))


def separators() -> str:
    """The decimal mark and the thousands separator, in that order (Plotly's
    `separators`, so that a chart's numbers read as the page's)."""
    where = locale()
    return numbers.get_decimal_symbol(where) + numbers.get_group_symbol(where)


def _form(at: date | datetime, english: str, skeleton: str) -> str:
    """`at` in one of the product's forms: English keeps its own pattern (CLDR's syntax);
    other languages take CLDR's form for the same fields (`skeleton`), with the time in
    24 hours joined the language's way."""
    where = locale()
    with_time = isinstance(at, datetime) and "H" in english
    if where.language == "en":
        if with_time:
            return dates.format_datetime(at, english, locale=where)
        return dates.format_date(at, english, locale=where)
    on = dates.format_skeleton(skeleton, at, locale=where)
    if not with_time:
        return on
    joiner = str(dates.get_datetime_format("medium", locale=where))
    return joiner.replace("{1}", on).replace("{0}", f"{at:%H:%M}")


def moment(at: datetime) -> str:
    """A date and time, saying it is UTC: "07 Nov 2026, 04:00 UTC"."""
    return _form(at, "dd MMM y, HH:mm", "yMMMd") + " UTC"


def stamp(at: datetime) -> str:
    """A date and time in a sentence that says UTC itself: "07 Nov 2026 04:00"."""
    return _form(at, "dd MMM y HH:mm", "yMMMd")


def short_moment(at: datetime) -> str:
    """A date and time within the scenario, without the year: "07 Nov, 04:00"."""
    return _form(at, "dd MMM, HH:mm", "MMMd")


def brief(at: datetime) -> str:
    """The same in a label, without the comma: "07 Nov 04:00"."""
    return _form(at, "dd MMM HH:mm", "MMMd")


def weekday_moment(at: datetime) -> str:
    """A date and time with its weekday, without the year: "Sun 22 Nov, 23:59"."""
    return _form(at, "EEE dd MMM, HH:mm", "MMMEd")


def day(on: date | datetime) -> str:
    """A date with its weekday: "Sun 07 Nov 2026"."""
    return _form(on, "EEE dd MMM y", "yMMMEd")


def short_day(on: date | datetime) -> str:
    """A day and its month, for a chart's axis: "7 Nov"."""
    return _form(on, "d MMM", "MMMd")
