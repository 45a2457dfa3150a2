"""One cell at a time: times, numbers, yes/no, codes. Each parser returns the contract's
value or raises `Bad` with the rule the value breaks, in words a data clerk reads."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any


class Bad(ValueError):
    """A value that breaks a rule; the message is the rule."""


def blank(value: Any) -> bool:
    if value.__class__ is str:  # nearly every cell of a CSV: asked first
        return not value.strip()
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and value != value)


def text(value: Any, limit: int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet's number cell holding a code
    out = str(value).strip()
    if len(out) > limit:
        raise Bad(f"longer than {limit} characters")
    return out


_WHOLE = re.compile(r"[+-]?\d+(\.0+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


def integer(value: Any, low: int | None = None, high: int | None = None) -> int:
    if value.__class__ is str and value.isdecimal():  # the common case, without a pattern
        number = int(value)
    elif isinstance(value, bool):
        raise Bad("not a whole number")
    elif isinstance(value, float):
        if not value.is_integer():
            raise Bad("not a whole number")
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        raw = str(value).strip().replace("\u202f", "").replace("\xa0", "")
        if _WHOLE.fullmatch(raw) is None:
            raise Bad("not a whole number")
        number = int(float(raw)) if "." in raw else int(raw)
    if low is not None and number < low:
        raise Bad(f"less than {low}")
    if high is not None and number > high:
        raise Bad(f"more than {high}")
    return number


def decimal(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise Bad("not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        raw = str(value).strip()
        # a decimal comma, as French or German spreadsheets write it ("33,89")
        if "," in raw and _DECIMAL_COMMA.fullmatch(raw):
            raw = raw.replace(",", ".")
        try:
            number = float(raw)
        except ValueError:
            raise Bad("not a number") from None
    if number != number or not low <= number <= high:
        raise Bad(f"outside [{low:g}, {high:g}]")
    return number


TRUE = {"true", "t", "yes", "y", "1", "oui", "o", "vrai", "si", "sí", "1.0"}
FALSE = {"false", "f", "no", "n", "0", "non", "faux", "0.0"}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise Bad("not yes/no (true, false, yes, no, 1, 0, oui, non; or map it in the mapping file)")


def code(value: Any, known: dict | set | list, what: str) -> str:
    word = str(value).strip()
    if word not in known:
        shown = ", ".join(sorted(known)) if len(known) <= 14 else f"{len(known)} values"
        raise Bad(f"not a {what} ({shown})")
    return word


def iso3(value: Any, countries: set[str]) -> str:
    word = str(value).strip().upper()
    if word not in countries:
        raise Bad("not an ISO 3166-1 alpha-3 code in countries")
    return word


# --- times -------------------------------------------------------------------------------------

# Excel's day 1 is 1900-01-01 and it counts a 29 February 1900 that never was: serial
# numbers from 61 on are days since 1899-12-30.
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_SERIALS = (20_000, 80_000)  # 1954 .. 2119: a number outside is not taken for a date

# Unambiguous text forms. A numeric day/month/year form is read only when the day is
# above 12 (it cannot be a month) or a format says which comes first.
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
_NUMERIC = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_YMD_SLASH = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_MONTH_NAMES = ("%d %B %Y", "%d %b %Y", "%d-%b-%Y", "%d %B %Y %H:%M", "%d %b %Y %H:%M",
                "%d-%b-%Y %H:%M", "%B %d, %Y", "%b %d, %Y")

DAY_FIRST, MONTH_FIRST = "day-first", "month-first"


def _stored(moment: datetime, zone: tzinfo) -> datetime:
    """UTC, without a zone, to the second: the contract's form."""
    if moment.tzinfo is None:
        if zone is UTC:  # the usual file: nothing to convert
            return moment.replace(microsecond=0) if moment.microsecond else moment
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def moment(value: Any, zone: tzinfo = UTC, order: str | None = None,
           fmt: str | None = None) -> datetime:
    """A time from a cell: a spreadsheet date, an Excel serial number, ISO 8601, a
    named month, or day/month/year when unambiguous or `order` says which comes first.
    A time without a zone is in `zone`."""
    if isinstance(value, datetime):
        return _stored(value, zone)
    if isinstance(value, date):
        return _stored(datetime.combine(value, time()), zone)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if EXCEL_SERIALS[0] <= value <= EXCEL_SERIALS[1]:
            return _stored(EXCEL_EPOCH + timedelta(days=float(value)), zone)
        raise Bad("a number that is not a date")
    raw = str(value).strip()
    if fmt:
        try:
            return _stored(datetime.strptime(raw, fmt), zone)
        except ValueError:
            raise Bad(f"not a time in the format {fmt}") from None
    if _ISO.fullmatch(raw):
        try:
            return _stored(datetime.fromisoformat(raw.replace("Z", "+00:00")), zone)
        except ValueError:
            raise Bad("not a real date") from None
    if re.fullmatch(r"\d{5}(\.\d+)?", raw):  # an Excel serial pasted as text
        return moment(float(raw), zone)
    if m := _YMD_SLASH.fullmatch(raw):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        return _build(y, mo, d, m[4], m[5], m[6], zone)
    if m := _NUMERIC.fullmatch(raw):
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        if order == DAY_FIRST or (order is None and first > 12 >= second):
            day, month = first, second
        elif order == MONTH_FIRST or (order is None and second > 12 >= first):
            day, month = second, first
        elif first == second:
            day = month = first
        else:
            raise Bad("ambiguous date: day/month or month/day? Give the column's format in "
                      "the mapping file (dates: day-first or month-first)")
        return _build(year, month, day, m[4], m[5], m[6], zone)
    for form in _MONTH_NAMES:
        try:
            return _stored(datetime.strptime(raw, form), zone)
        except ValueError:
            continue
    raise Bad("not a time (use 2026-10-27 08:15, or a spreadsheet date)")


def _build(y: int, mo: int, d: int, hh: str | None, mm: str | None, ss: str | None,
           zone: tzinfo) -> datetime:
    try:
        return _stored(datetime(y, mo, d, int(hh or 0), int(mm or 0), int(ss or 0)), zone)
    except ValueError:
        raise Bad("not a real date") from None
