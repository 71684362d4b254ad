# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Does a SQLite value fit a Django ``DecimalField(max_digits, decimal_places)``?

SQLite keeps whatever it is given in a decimal column: ``F("price") * 1.1`` leaves the REAL
``9077091.122`` in a ``(12, 2)`` column. Django reads it quantised (9077091.12), PostgreSQL's
``numeric(12,2)`` would round it half away from zero, and a value with too many integer digits
is refused by PostgreSQL outright. So every value is classified before the load:

- ``fits``: the value has at most ``decimal_places`` places and ``max_digits`` digits;
- ``rounds``: it has more places than the column; Django's own quantisation
  (``django.db.backends.utils.format_number``: ``quantize`` in a context of precision
  ``max_digits``, ROUND_HALF_EVEN) makes it fit, and ``rounded`` is that value;
- ``overflow``: too many integer digits, even after rounding: it cannot be stored at all;
- ``invalid``: not a finite number (text that is no number, NaN, infinity).

How a stored value is taken as a decimal: a REAL is read as Django's SQLite backend reads it,
``Context(prec=15).create_decimal_from_float`` (SQLite keeps 15 significant digits; the rest is
binary noise: 0.1 is 0.1, not 0.1000000000000000055...); an INTEGER or a TEXT is taken exactly.
"""

from __future__ import annotations

import decimal

FITS = "fits"
ROUNDS = "rounds"
OVERFLOW = "overflow"
INVALID = "invalid"
POLICIES = ("refuse", "round")
_SQLITE_FLOAT = decimal.Context(prec=15)


def as_decimal(value):
    """The SQLite value VALUE (float, int, str or bytes) as the exact decimal it stands for.

    Raises ValueError when it is not a finite number.
    """
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float):
        number = _SQLITE_FLOAT.create_decimal_from_float(value)
    elif isinstance(value, int):
        number = decimal.Decimal(value)
    elif isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        try:
            number = decimal.Decimal(text.strip())
        except decimal.InvalidOperation:
            raise ValueError("%r is not a number" % (text[:40],)) from None
    else:
        raise ValueError("%r is not a number" % (value,))
    if not number.is_finite():
        raise ValueError("%s is not a finite number" % number)
    return number


def quantize(number, max_digits, decimal_places):
    """Django's ``format_number`` rounding: NUMBER to DECIMAL_PLACES places, ROUND_HALF_EVEN.

    Raises decimal.InvalidOperation when the result needs more than MAX_DIGITS digits.
    """
    context = decimal.Context(prec=max_digits, rounding=decimal.ROUND_HALF_EVEN)
    return number.quantize(decimal.Decimal(1).scaleb(-decimal_places), context=context)


def classify(value, max_digits, decimal_places):
    """(kind, number, rounded): kind FITS/ROUNDS/OVERFLOW/INVALID for one non-NULL SQLite value.

    NUMBER is the value as a decimal (None when INVALID); ROUNDED is what a ``round`` load
    stores (equal to NUMBER when it FITS, None on OVERFLOW/INVALID).
    """
    try:
        number = as_decimal(value)
    except ValueError:
        return INVALID, None, None
    try:
        rounded = quantize(number, max_digits, decimal_places)
    except decimal.InvalidOperation:
        return OVERFLOW, number, None
    if rounded == number:
        return FITS, number, rounded
    return ROUNDS, number, rounded


class DecimalReport(object):
    """Values of DecimalField columns that do not fit, per (table, column, kind), with samples."""

    def __init__(self, max_samples=5):
        self.max_samples = max_samples
        self.found = {}

    def check(self, table, column, value, max_digits, decimal_places, key=None):
        """Classify one value (NULL fits), record it unless it fits; returns (kind, rounded)."""
        if value is None:
            return FITS, None
        kind, number, rounded = classify(value, max_digits, decimal_places)
        if kind != FITS:
            entry = self.found.setdefault((table, column, kind), {
                "count": 0, "samples": [], "max_digits": max_digits, "decimal_places": decimal_places})
            entry["count"] += 1
            if len(entry["samples"]) < self.max_samples:
                sample = {"value": _display(value, number), "key": key}
                if rounded is not None:
                    sample["rounded"] = "{:f}".format(rounded)
                entry["samples"].append(sample)
        return kind, rounded

    def entries(self, kind=None):
        """[{table, column, kind, count, max_digits, decimal_places, samples}] sorted."""
        return [dict(table=table, column=column, kind=found_kind, **entry)
                for (table, column, found_kind), entry in sorted(self.found.items())
                if kind is None or found_kind == kind]

    def counts(self, kind):
        """{table: number of values of KIND} (e.g. how many values a ``round`` load rounded)."""
        totals = {}
        for entry in self.entries(kind):
            totals[entry["table"]] = totals.get(entry["table"], 0) + entry["count"]
        return totals

    def problems(self, policy="refuse"):
        """Human lines for what the run must refuse under POLICY (``refuse`` or ``round``)."""
        if policy not in POLICIES:
            raise ValueError("decimal_overflow must be one of %s, not %r" % (", ".join(POLICIES), policy))
        refused = [e for e in self.entries() if e["kind"] != ROUNDS or policy == "refuse"]
        return [problem_line(entry) for entry in refused]


def _display(value, number):
    if isinstance(value, float):
        return repr(value)
    return str(number if number is not None else value)[:80]


def problem_line(entry):
    """The human line for one DecimalReport entry."""
    samples = ", ".join(s["value"] for s in entry["samples"])
    where = "%s.%s DecimalField(max_digits=%s, decimal_places=%s)" % (
        entry["table"], entry["column"], entry["max_digits"], entry["decimal_places"])
    if entry["kind"] == ROUNDS:
        return ("%s: %d value(s) with more decimal places than the field (e.g. %s). Round them in the app, "
                "or load with decimal_overflow=round (Django's ROUND_HALF_EVEN; each rounded value is "
                "counted)." % (where, entry["count"], samples))
    if entry["kind"] == OVERFLOW:
        return ("%s: %d value(s) with more digits than max_digits allows (e.g. %s): PostgreSQL refuses them "
                "and rounding cannot help. Correct the values or widen the field (a migration) first."
                % (where, entry["count"], samples))
    return ("%s: %d value(s) that are not finite numbers (e.g. %s). Correct them in the app first."
            % (where, entry["count"], samples))
