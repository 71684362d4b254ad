"""How SQLite values and their PostgreSQL copies are compared (no database needed).

Target values are given exactly as psycopg2 returns the expression chosen for the column (for
example Django's datetime text from to_char, a uuid as 32 hex digits, an interval as integer
microseconds, a numeric or jsonb as text).
"""

from __future__ import annotations

import decimal

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import value_canon as vc
from ansible_collections.pgmigrate.django.plugins.module_utils import value_normalize as vn


def plan(udt, type_=None):
    return vn.column_plan("c", "c", {"name": "c", "udt": udt, "type": type_ or udt})


SAME = [
    # (udt, pg type, SQLite value, PostgreSQL value)
    ("bool", None, 1, True),
    ("bool", None, 0, False),
    ("bool", None, None, None),
    ("int8", "bigint", 7, 7),
    ("int4", "integer", 2 ** 31 - 1, 2 ** 31 - 1),
    ("timestamptz", None, "2024-02-29 12:00:00.500000", "2024-02-29 12:00:00.500000"),
    ("timestamptz", None, "2024-02-29 12:00:00", "2024-02-29 12:00:00"),
    ("timestamptz", None, "2024-02-29T14:00:00.5+02:00", "2024-02-29 12:00:00.500000"),
    ("timestamptz", None, "2024-02-29 12:00:00Z", "2024-02-29 12:00:00"),
    ("timestamp", None, "2009-01-01 00:00:00", "2009-01-01 00:00:00"),
    ("date", None, "2000-02-29", "2000-02-29"),
    ("time", None, "23:59:59.25", "23:59:59.250000"),
    ("uuid", None, "0f8fad5bd9cb469fa16570867728950e", "0f8fad5bd9cb469fa16570867728950e"),
    ("uuid", None, "0F8FAD5B-D9CB-469F-A165-70867728950E", "0f8fad5bd9cb469fa16570867728950e"),
    ("interval", None, -86400000000, -86400000000),
    ("numeric", "numeric(12,2)", 0.1, "0.10"),
    ("numeric", "numeric(12,2)", 100, "100.00"),
    ("numeric", "numeric(12,2)", 12345678.9, "12345678.90"),
    ("numeric", "numeric(12,2)", "12.50", "12.50"),
    ("numeric", "numeric(12,2)", -0.0, "0.00"),
    ("numeric", "numeric", 1e-07, "0.0000001"),
    ("float8", "double precision", 0.30000000000000004, 0.30000000000000004),
    ("float8", "double precision", 3, 3.0),
    ("float8", "double precision", float("nan"), float("nan")),
    ("float8", "double precision", -0.0, 0.0),
    ("float4", "real", 0.5, 0.5),
    ("bytea", None, b"\x00\xff", b"\x00\xff"),
    ("bytea", None, b"", b""),
    ("text", None, "Grüße 😀\r\n", "Grüße 😀\r\n"),
    ("text", None, "", ""),
    ("varchar", "character varying(5)", "NULL", "NULL"),
    ("bpchar", "character(5)", "ab", "ab   "),
    ("jsonb", None, '{"b": [1, 2.50, true], "a": "\\u00fc"}', '{"a": "ü", "b": [1, 2.50, true]}'),
    ("jsonb", None, '{"x": 1e-07, "y": -0.0, "z": 1.5e300}',
     '{"x": 0.0000001, "y": 0.0, "z": 15' + "0" * 299 + "}"),
    ("jsonb", None, '{"k": 1, "k": 2}', '{"k": 2}'),
    ("jsonb", None, '"just a string"', '"just a string"'),
    ("jsonb", None, "null", "null"),
    ("json", None, '{"a":1}', '{"a":1}'),
    ("jsonb", None, 5, "5"),  # declared JSON in SQLite: NUMERIC affinity stores a bare number
    ("jsonb", None, 1.5, "1.50"),
    ("inet", None, "10.0.0.1", "10.0.0.1"),
]

DIFFERENT = [
    ("bool", None, 2, True),
    ("bool", None, 1, False),
    ("int8", "bigint", 7, 8),
    ("text", None, "", None),  # NULL vs '' swap
    ("text", None, None, ""),
    ("text", None, "before\x00after", "before"),  # cut at a NUL byte
    ("text", None, "trailing ", "trailing"),
    ("timestamptz", None, "2024-02-29 12:00:00.500000", "2024-02-29 13:00:00.500000"),  # +1 h
    ("timestamptz", None, "2024-02-29 12:00:00", "2024-02-29 12:00:00.000001"),
    ("timestamptz", None, "not a date", "2024-02-29 12:00:00"),
    ("date", None, "2000-02-29", "2000-03-01"),
    ("time", None, "23:59:59.25", "23:59:59.200000"),
    ("uuid", None, "0f8fad5bd9cb469fa16570867728950e", "0f8fad5bd9cb469fa16570867728950f"),
    ("interval", None, 1000000, 1000001),
    ("numeric", "numeric(12,2)", 12.345, "12.35"),  # rounded on the way: a change
    ("numeric", "numeric(12,2)", 0.1, "0.11"),
    ("float8", "double precision", 0.1, 0.1000000000000001),
    ("float4", "real", 0.1, 0.10000000149011612),  # float8 precision lost to float4
    ("bytea", None, b"\x00", b""),
    ("bytea", None, None, b""),
    ("bpchar", "character(5)", "ab", "ac   "),
    ("jsonb", None, '{"a": true}', '{"a": 1}'),  # true is not 1
    ("jsonb", None, '{"a": 1}', '{"a": true}'),
    ("jsonb", None, '[true, 1]', '[1, true]'),
    ("jsonb", None, '{"a": "1"}', '{"a": 1}'),
    ("jsonb", None, '{"a": 1}', '{"a": 1, "b": null}'),
    ("jsonb", None, '{"a": 0.1000000000000000000001}', '{"a": 0.1}'),
    ("jsonb", None, "null", None),  # JSON null is not SQL NULL
    ("jsonb", None, "{not json", "{}"),
]


@pytest.mark.parametrize("udt, pg_type, source, target", SAME)
def test_same_values_compare_equal(udt, pg_type, source, target):
    column = plan(udt, pg_type)
    assert column.same(source, target)


@pytest.mark.parametrize("udt, pg_type, source, target", DIFFERENT)
def test_different_values_are_found_and_the_fast_path_never_hides_them(udt, pg_type, source, target):
    column = plan(udt, pg_type)
    assert not column.same(source, target)
    assert not column.fast_equal(source, target)


@pytest.mark.parametrize("udt, pg_type, source, target", SAME)
def test_fast_path_agrees_when_it_says_equal(udt, pg_type, source, target):
    column = plan(udt, pg_type)
    if column.fast_equal(source, target):
        assert column.same(source, target)


def test_fast_path_covers_django_formats_without_the_slow_path():
    # The representations a Django copy produces must pass on the fast path (speed matters).
    assert plan("timestamptz").fast_equal("2024-02-29 12:00:00.500000", "2024-02-29 12:00:00.500000")
    assert plan("uuid").fast_equal("0f8fad5bd9cb469fa16570867728950e", "0f8fad5bd9cb469fa16570867728950e")
    assert plan("numeric", "numeric(12,2)").fast_equal(0.1, "0.10")
    assert plan("jsonb").fast_equal('{"b": 1, "a": [true, null]}', '{"a": [true, null], "b": 1}')
    assert plan("bool").fast_equal(1, True)


def test_plans_select_expressions_that_match_django_sqlite_text():
    from psycopg2 import sql

    rendered = {}
    for udt in ("timestamptz", "uuid", "interval", "float4", "text", "jsonb", "numeric"):
        expression = plan(udt).expression
        assert isinstance(expression, sql.Composable)
        rendered[udt] = repr(expression)
    assert "to_char" in rendered["timestamptz"] and "AT TIME ZONE 'UTC'" in rendered["timestamptz"]
    assert "isfinite" in rendered["timestamptz"]  # to_char(infinity) is NULL: must not look like NULL
    assert "replace" in rendered["uuid"]
    assert "1000000" in rendered["interval"]
    assert "float8" in rendered["float4"]
    assert repr(plan("text").order_expression).count('COLLATE "C"') == 1


@pytest.mark.parametrize("kind, key_ok", [("int8", True), ("text", True), ("uuid", True), ("varchar", True),
                                          ("timestamptz", False), ("numeric", False), ("bpchar", False)])
def test_key_columns_that_sort_alike(kind, key_ok):
    assert plan(kind).key_ok is key_ok


@pytest.mark.parametrize("pg_type, scale", [("numeric(12,2)", 2), ("numeric(5)", 0), ("numeric", None),
                                            ("numeric(10,-2)", None), ("integer", None)])
def test_numeric_scale(pg_type, scale):
    assert vn.numeric_scale(pg_type) == scale


def test_canonical_json_ignores_order_spacing_escapes_and_number_spelling():
    a = vn.canonical_json('{"z": [1, 1.0, 1e0], "a": {"\\u00fc": true}}')
    b = vn.canonical_json('{"a":{"ü":true},"z":[1.00,1,1]}')
    assert a == b
    assert vn.canonical_json("[true]") != vn.canonical_json("[1]")
    with pytest.raises(ValueError):
        vn.canonical_json("{")


def test_canonical_decimal():
    assert vn.canonical_decimal(decimal.Decimal("12.50")) == "12.5"
    assert vn.canonical_decimal(decimal.Decimal("-0.00")) == "0"
    assert vn.canonical_decimal(decimal.Decimal("1E+3")) == "1000"
    assert vn.canonical_decimal(decimal.Decimal("1" * 40 + ".5")) == "1" * 40 + ".5"  # no 28-digit rounding


@pytest.mark.parametrize("text, aware, expected", [
    ("2024-01-01 00:00:00", True, "2024-01-01 00:00:00.000000"),
    ("2024-01-01T23:30:00-01:00", True, "2024-01-02 00:30:00.000000"),
    ("2024-01-01T23:30:00-01:00", False, "2024-01-01 23:30:00.000000"),
    ("2024-01-01 00:00:00.1234565", True, "2024-01-01 00:00:00.123457"),
    ("2024-01-01 23:59:59.9999995", True, "2024-01-02 00:00:00.000000"),
    ("2024-01-01", True, "2024-01-01 00:00:00.000000"),
    (0, True, "1970-01-01 00:00:00.000000"),
    ("2024-13-01 00:00:00", True, None),
    ("yesterday", True, None),
])
def test_parse_datetime(text, aware, expected):
    assert vc.parse_datetime(text, aware) == expected


def test_uuid_forms():
    assert vn.uuid_hex("{0F8FAD5B-D9CB-469F-A165-70867728950E}") == "0f8fad5bd9cb469fa16570867728950e"
    assert vn.uuid_hex(bytes(range(16))) == "000102030405060708090a0b0c0d0e0f"
    with pytest.raises(ValueError):
        vn.uuid_hex("not-a-uuid")


def test_display_is_short_and_printable():
    assert vn.display("x" * 500).endswith("...") and len(vn.display("x" * 500)) == 80
    assert vn.display(memoryview(b"\x00")) == "b'\\x00'"
