"""Does a SQLite value fit DecimalField(max_digits, decimal_places) the way Django stores it."""

from __future__ import annotations

import decimal

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import decimal_fit as df

D = decimal.Decimal


@pytest.mark.parametrize(
    "value, digits, places, kind, rounded",
    [
        # What F("price") * 1.1 leaves in SQLite: more places than the field.
        (9077091.122, 12, 2, df.ROUNDS, "9077091.12"),
        ("9077091.122", 12, 2, df.ROUNDS, "9077091.12"),
        (9077091.12, 12, 2, df.FITS, "9077091.12"),
        # REAL is read as Django reads it (15 significant digits), not its binary expansion.
        (0.1, 5, 2, df.FITS, "0.10"),
        (0.30000000000000004, 5, 2, df.FITS, "0.30"),
        (12345678.9, 10, 2, df.FITS, "12345678.90"),
        (9999999999.99, 12, 2, df.FITS, "9999999999.99"),
        (-5, 12, 2, df.FITS, "-5.00"),
        ("0.10", 12, 2, df.FITS, "0.10"),
        # ROUND_HALF_EVEN, as Django's format_number (PostgreSQL would round half away from zero).
        ("0.125", 5, 2, df.ROUNDS, "0.12"),
        ("0.135", 5, 2, df.ROUNDS, "0.14"),
        ("-0.125", 5, 2, df.ROUNDS, "-0.12"),
        (2.5, 5, 0, df.ROUNDS, "2"),
        # Too many integer digits: no rounding helps.
        (12345678901.0, 12, 2, df.OVERFLOW, None),
        ("100000000000", 12, 2, df.OVERFLOW, None),
        (1e20, 12, 2, df.OVERFLOW, None),
        # Rounding carries into one digit too many.
        ("9999999999.995", 12, 2, df.OVERFLOW, None),
        ("999.995", 5, 2, df.OVERFLOW, None),
        ("999.994", 5, 2, df.ROUNDS, "999.99"),
        # INTEGER and TEXT are exact, also beyond 15 digits.
        (1234567890123456789, 19, 0, df.FITS, "1234567890123456789"),
        ("12345678901234567.891", 20, 2, df.ROUNDS, "12345678901234567.89"),
        ("abc", 12, 2, df.INVALID, None),
        ("NaN", 12, 2, df.INVALID, None),
        (float("inf"), 12, 2, df.INVALID, None),
        (b"1.5", 5, 2, df.FITS, "1.50"),
    ],
)
def test_classify(value, digits, places, kind, rounded):
    found, _number, rounded_value = df.classify(value, digits, places)
    assert found == kind
    assert (None if rounded_value is None else "{:f}".format(rounded_value)) == rounded


def test_quantize_is_djangos_format_number():
    # django.db.backends.utils.format_number, restated: prec = max_digits, quantize, ROUND_HALF_EVEN.
    def format_number(value, max_digits, decimal_places):
        context = decimal.getcontext().copy()
        context.prec = max_digits
        return "{:f}".format(value.quantize(D(1).scaleb(-decimal_places), context=context))

    for text in ("0.125", "0.135", "9077091.122", "-2.5", "1.005", "7"):
        assert "{:f}".format(df.quantize(D(text), 12, 2)) == format_number(D(text), 12, 2)
    with pytest.raises(decimal.InvalidOperation):
        df.quantize(D("123456789012"), 12, 2)


def test_report_counts_samples_and_problems():
    report = df.DecimalReport(max_samples=2)
    values = [9077091.122, 1.005, 2.675, 10.0, None, 123456789012.0, "x"]
    for key, value in enumerate(values):
        report.check("inventory_item", "price", value, 12, 2, key=key)
    rounds = report.entries(df.ROUNDS)
    assert [(e["count"], len(e["samples"])) for e in rounds] == [(3, 2)]
    assert rounds[0]["samples"][0] == {"value": "9077091.122", "key": 0, "rounded": "9077091.12"}
    assert report.counts(df.ROUNDS) == {"inventory_item": 3}
    assert report.counts(df.OVERFLOW) == {"inventory_item": 1}
    refuse = report.problems()
    assert len(refuse) == 3
    assert any("3 value(s) with more decimal places" in line and "decimal_overflow=round" in line for line in refuse)
    assert any("more digits than max_digits" in line for line in refuse)
    # With round, only what rounding cannot fix is refused.
    assert len(report.problems("round")) == 2
    assert not any("more decimal places" in line for line in report.problems("round"))
    with pytest.raises(ValueError, match="decimal_overflow"):
        report.problems("truncate")
