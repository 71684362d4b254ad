# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Canonical forms of numbers, booleans and date/time values for value_normalize's column plans.

A SQLite value and its PostgreSQL copy are the same copy if and only if their canonical forms are
equal; a value that cannot be read gets a BAD marker that equals nothing a good value gives.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re

from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import text as sqlite_text

BAD = "unparsed"

_DECIMAL_CONTEXT = decimal.Context(prec=2000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_DATETIME_RE = re.compile(
    r"^\s*(\d{4,})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*$")
_TRUE_TEXT = ("t", "true", "y", "yes", "on", "1")
_FALSE_TEXT = ("f", "false", "n", "no", "off", "0")
_UTC = datetime.timezone.utc


# ---------------------------------------------------------------- helpers


def as_text(value):
    """SQLite TEXT that may come as bytes; invalid UTF-8 stays distinct (surrogateescape)."""
    return sqlite_text(value, "surrogateescape")


def bad(value):
    return (BAD, type(value).__name__, repr(value))


def canonical_decimal(value):
    """Decimal -> a string equal for numerically equal values (12.5 == 12.50, -0 == 0)."""
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_zero():
        return "0"
    return "{0:f}".format(_DECIMAL_CONTEXT.normalize(value))


def to_decimal(value):
    """SQLite value -> Decimal, or None when it is not a number."""
    if isinstance(value, bool):
        return decimal.Decimal(int(value))
    if isinstance(value, int):
        return decimal.Decimal(value)
    if isinstance(value, float):
        # repr is the shortest text that gives this double back: what the user stored.
        return decimal.Decimal(repr(value))
    if isinstance(value, (str, bytes)):
        try:
            return decimal.Decimal(as_text(value).strip())
        except decimal.InvalidOperation:
            return None
    return None


# ---------------------------------------------------------------- integers, booleans, floats


def canon_int_source(value):
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, bytes)) and _INT_RE.match(as_text(value)):
        return int(as_text(value))
    return bad(value)


def canon_int_target(value):
    return value


def canon_bool_source(value):
    if value is None:
        return None
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, (str, bytes)):
        text = as_text(value).strip().lower()
        if text in _TRUE_TEXT:
            return 1
        if text in _FALSE_TEXT:
            return 0
    return bad(value)


def canon_bool_target(value):
    return None if value is None else int(value)


def _float_text(number):
    # repr is exact for doubles; NaN equals NaN here, and -0.0 equals 0.0 (as `==` says).
    return "0.0" if number == 0 else repr(number)


def canon_float_source(value):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _float_text(float(value))
    if isinstance(value, (str, bytes)):
        try:
            return _float_text(float(as_text(value)))
        except ValueError:
            return bad(value)
    return bad(value)


def canon_float_target(value):
    return None if value is None else _float_text(float(value))


# ---------------------------------------------------------------- numeric


def numeric_converter(scale):
    """SQLite value -> the text PostgreSQL prints for numeric(p, SCALE) (None scale: plain numeric).

    No rounding is done: 12.345 in a numeric(10,2) column is a difference, not a representation.
    Raises ValueError when the fast form cannot be built (the exact comparison then decides).
    """

    def convert(value):
        kind = type(value)
        if kind is float:
            text = repr(value)
        elif kind is int:
            text = str(value)
        elif value is None:
            return None
        elif kind is str:
            text = value
        else:
            raise ValueError("no fast form")
        if scale is None or "e" in text or "n" in text:  # exponent, nan, inf: exact path
            return text
        point = text.find(".")
        if point < 0:
            return text + "." + "0" * scale if scale else text
        digits = len(text) - point - 1
        if digits > scale:
            raise ValueError("more decimals than the column keeps")
        return text + "0" * (scale - digits)

    return convert


def numeric_fast_equal(scale):
    convert = numeric_converter(scale)

    def fast(source_value, target_value):
        return convert(source_value) == target_value

    return fast


def canon_numeric_source(value):
    if value is None:
        return None
    number = to_decimal(value)
    return bad(value) if number is None else canonical_decimal(number)


# Django's SQLite backend reads a DecimalField stored as REAL through a 15-digit context, then
# quantizes it to the field's decimal places (DatabaseOperations.get_decimalfield_converter).
_DJANGO_FLOAT_CONTEXT = decimal.Context(prec=15)


def numeric_source(scale):
    """canon_numeric_source for numeric(p, SCALE), with REAL values read the way Django reads them.

    SQLite arithmetic on a decimal (`F('total') + price`) stores a REAL such as 750.1999999999999:
    Django on SQLite shows Decimal('750.20'), PostgreSQL's numeric(12,2) stores 750.20. Such a
    float, whose shortest text has more decimals than SCALE, is taken at 15 significant digits
    when that leaves no more decimals than SCALE; any other value is compared exactly as before
    (12.345 in numeric(10,2) differs).
    """
    if scale is None:
        return canon_numeric_source

    def fits(number):
        return number.is_zero() or number.normalize().as_tuple().exponent >= -scale

    def canon(value):
        if isinstance(value, float) and math.isfinite(value):
            if not fits(decimal.Decimal(repr(value))):
                django_value = _DJANGO_FLOAT_CONTEXT.create_decimal_from_float(value)
                if fits(django_value):
                    return canonical_decimal(django_value)
        return canon_numeric_source(value)

    return canon


def canon_numeric_target(value):
    if value is None:
        return None
    return canonical_decimal(decimal.Decimal(value))


# ---------------------------------------------------------------- date and time


def _fraction_to_micro(fraction):
    """'5' -> 500000; more than 6 digits are rounded like PostgreSQL does (half up)."""
    if not fraction:
        return 0, 0
    if len(fraction) <= 6:
        return int(fraction.ljust(6, "0")), 0
    micro = int(fraction[:6]) + (1 if fraction[6] >= "5" else 0)
    return (micro - 1000000, 1) if micro >= 1000000 else (micro, 0)


def _offset(text):
    if not text or text in ("Z", "z"):
        return datetime.timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return sign * datetime.timedelta(hours=hours, minutes=minutes)


def format_datetime(value):
    """datetime -> 'YYYY-MM-DD HH:MM:SS.ffffff', the canonical datetime text."""
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


def parse_datetime(value, aware):
    """SQLite datetime (text in the usual ISO forms, or Unix seconds) -> canonical text.

    With AWARE (timestamptz) an offset is applied and the result is UTC; naive text is taken as
    UTC, as Django (USE_TZ) and pgloader (`set timezone to 'UTC'`) do. Without AWARE
    (timestamp) an offset is dropped, as PostgreSQL does on input.
    Returns None when the value is not a datetime.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            moment = datetime.datetime.fromtimestamp(value, _UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
        return format_datetime(moment)
    if not isinstance(value, (str, bytes)):
        return None
    match = _DATETIME_RE.match(as_text(value))
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro, carry = _fraction_to_micro(fraction)
    try:
        moment = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                   int(second or 0), micro)
        moment += datetime.timedelta(seconds=carry)
        if aware and zone:
            moment -= _offset(zone)
    except (ValueError, OverflowError):
        return None
    return format_datetime(moment)


def datetime_source(aware):
    def canon(value):
        if value is None:
            return None
        parsed = parse_datetime(value, aware)
        return bad(value) if parsed is None else parsed

    return canon


def canon_datetime_target(value):
    """The `to_char` text selected on PostgreSQL, with the fraction always present."""
    if value is None:
        return None
    if len(value) == 19:
        return value + ".000000"
    return value


def canon_date_source(value):
    if value is None:
        return None
    parsed = parse_datetime(value, False) if isinstance(value, (str, bytes)) else None
    if parsed is None or not parsed.endswith(" 00:00:00.000000"):
        return bad(value)
    return parsed[:10]


def canon_date_target(value):
    return value


def canon_time_source(value):
    if value is None:
        return None
    match = _TIME_RE.match(as_text(value)) if isinstance(value, (str, bytes)) else None
    if not match:
        return bad(value)
    hour, minute, second, fraction = match.groups()
    micro, carry = _fraction_to_micro(fraction)
    return "%02d:%02d:%02d.%06d" % (int(hour), int(minute), int(second or 0) + carry, micro)


def canon_time_target(value):
    if value is None:
        return None
    return value + ".000000" if len(value) == 8 else value
