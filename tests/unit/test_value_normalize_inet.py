"""inet/cidr compared by value, and a rule for every PostgreSQL type a Django built-in field maps to.

Target values are what psycopg2 returns for the expression chosen for the column: for inet and
cidr the type's own output ('192.0.2.1', '10.0.0.1/24', '::192.0.2.1'), as a str.
Source values are Django's SQLite text (GenericIPAddressField.get_prep_value) or text written by
other tools.
"""

from __future__ import annotations

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import value_normalize as vn


def plan(udt, type_=None):
    return vn.column_plan("c", "c", {"name": "c", "udt": udt, "type": type_ or udt})


SAME = [
    # (udt, SQLite value, PostgreSQL output)
    ("inet", "192.0.2.1", "192.0.2.1"),
    ("inet", "0.0.0.0", "0.0.0.0"),
    ("inet", "255.255.255.255", "255.255.255.255"),
    ("inet", "192.0.2.1/32", "192.0.2.1"),  # the full mask is not printed
    ("inet", "10.1.2.3/24", "10.1.2.3/24"),
    ("inet", "2001:db8::1", "2001:db8::1"),
    ("inet", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),  # written by another tool, not Django
    ("inet", "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
    ("inet", "::", "::"),
    ("inet", "::1", "::1"),
    ("inet", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("inet", "::ffff:192.0.2.1", "::ffff:192.0.2.1"),  # IPv4-mapped, kept (no unpack_ipv4)
    ("inet", "::ffff:c000:201", "::ffff:192.0.2.1"),
    ("inet", "::c000:201", "::192.0.2.1"),  # IPv4-compatible: Django's text, PostgreSQL's spelling
    ("inet", "64:ff9b::c000:201", "64:ff9b::c000:201"),
    ("inet", "2001:db8::/64", "2001:db8::/64"),
    ("inet", b"192.0.2.1", "192.0.2.1"),  # TEXT read as bytes
    ("inet", None, None),
    ("cidr", "192.0.2.0/24", "192.0.2.0/24"),
    ("cidr", "192.0.2.0", "192.0.2.0/32"),
    ("cidr", "2001:db8::/32", "2001:db8::/32"),
]

DIFFERENT = [
    ("inet", "::ffff:192.0.2.1", "192.0.2.1"),  # Django reads back different text: not the same value
    ("inet", "192.0.2.1", "::ffff:192.0.2.1"),
    ("inet", "::c000:201", "192.0.2.1"),
    ("inet", "192.0.2.1", "192.0.2.2"),
    ("inet", "10.1.2.3/24", "10.1.2.3"),  # the mask is part of the value
    ("inet", "2001:db8::1", "2001:db8::2"),
    ("inet", "0.0.0.1", "::1"),
    ("inet", "192.0.2.1", None),
    ("inet", None, "192.0.2.1"),
    ("inet", "", "192.0.2.1"),
    ("inet", "not an address", "192.0.2.1"),
    ("inet", 3221225985, "192.0.2.1"),  # an integer is not an address here
    ("cidr", "192.0.2.0/24", "192.0.2.0/25"),
]


@pytest.mark.parametrize("udt, source, target", SAME)
def test_same_address_compares_equal(udt, source, target):
    assert plan(udt).same(source, target)


@pytest.mark.parametrize("udt, source, target", DIFFERENT)
def test_different_addresses_are_found_on_both_paths(udt, source, target):
    column = plan(udt)
    assert not column.same(source, target)
    assert not column.fast_equal(source, target)


def test_inet_selects_its_own_output_not_text():
    from psycopg2 import sql

    column = plan("inet")
    assert column.canon_source is vn.canon_network and not column.key_ok
    # ::text would print '192.0.2.1/32'; the plain column prints '192.0.2.1'.
    assert isinstance(column.expression, sql.Identifier) and column.expression.strings == ("c",)
    assert column.fast_equal("192.0.2.1", "192.0.2.1")  # Django's text passes without the slow path


# PostgreSQL's spelling of every column type in Django's postgresql backend `data_types`, and the
# udt name catalog.target_columns() reports for it.
UDT_OF = {
    "integer": "int4", "bigint": "int8", "smallint": "int2", "boolean": "bool", "bytea": "bytea",
    "date": "date", "timestamp with time zone": "timestamptz", "interval": "interval",
    "double precision": "float8", "inet": "inet", "jsonb": "jsonb", "text": "text", "time": "time",
    "uuid": "uuid", "varchar": "varchar", "numeric": "numeric",
}


def django_pg_types():
    """{field class name: PostgreSQL type without its (length)} from the installed Django."""
    base = pytest.importorskip("django.db.backends.postgresql.base")
    types = {}
    for field, spec in base.DatabaseWrapper.data_types.items():
        if callable(spec):  # CharField: varchar(n), or varchar without max_length
            spec = spec({"max_length": 10})
        types[field] = spec.split("(")[0].strip()
    return types


def test_every_django_field_type_has_a_comparison_rule():
    types = django_pg_types()
    assert {"GenericIPAddressField", "TimeField", "SmallIntegerField", "PositiveBigIntegerField",
            "SlugField", "FileField"} <= set(types)
    unknown = sorted(set(types.values()) - set(UDT_OF))
    assert not unknown, "no udt known for %s: add it to UDT_OF and give it a rule" % unknown
    without_rule = sorted(field for field, pg in types.items()
                          if plan(UDT_OF[pg]).canon_source is vn.canon_other_source)
    assert without_rule == []


# One Django SQLite value per built-in field type (as the ORM writes it) against PostgreSQL's value
# as the plan selects it, at the edges of each type.
DJANGO_VALUES = [
    ("int2", "smallint", -32768, -32768),  # SmallIntegerField
    ("int2", "smallint", 32767, 32767),  # PositiveSmallIntegerField, SmallAutoField
    ("int4", "integer", -2147483648, -2147483648),
    ("int8", "bigint", 9223372036854775807, 9223372036854775807),  # PositiveBigIntegerField
    ("int8", "bigint", -9223372036854775808, -9223372036854775808),  # BigIntegerField
    ("time", "time without time zone", "00:00:00", "00:00:00"),
    ("time", "time without time zone", "23:59:59.999999", "23:59:59.999999"),
    ("time", "time without time zone", "00:00:00.000001", "00:00:00.000001"),
    ("time", "time without time zone", "17:45:30.500000", "17:45:30.500000"),
    ("varchar", "character varying(80)", "zentrallager-münchen", "zentrallager-münchen"),  # SlugField
    ("varchar", "character varying(254)", "info@bücher.example", "info@bücher.example"),  # EmailField
    ("varchar", "character varying(200)", "http://[2001:db8::1]:8080/p?q=1#f", "http://[2001:db8::1]:8080/p?q=1#f"),
    ("varchar", "character varying(100)", "floor_plans/Grundriss Ü 2.pdf", "floor_plans/Grundriss Ü 2.pdf"),
    ("varchar", "character varying", "no max_length", "no max_length"),
    ("bool", "boolean", None, None),  # BooleanField(null=True)
]


@pytest.mark.parametrize("udt, pg_type, source, target", DJANGO_VALUES)
def test_django_values_of_each_type_compare_equal_on_the_fast_path(udt, pg_type, source, target):
    column = plan(udt, pg_type)
    assert column.fast_equal(source, target) and column.same(source, target)


@pytest.mark.parametrize("udt, pg_type, source, target", [
    ("int2", "smallint", 32767, -32768),
    ("time", "time without time zone", "23:59:59.999999", "23:59:59"),
    ("time", "time without time zone", "00:00:00.000001", "00:00:00"),
    ("varchar", "character varying(80)", "münchen", "munchen"),
    ("varchar", "character varying(100)", "", None),  # FileField '' and NULL stay distinct
])
def test_django_values_that_differ_are_found(udt, pg_type, source, target):
    column = plan(udt, pg_type)
    assert not column.same(source, target) and not column.fast_equal(source, target)


# DecimalField on SQLite after arithmetic (Oscar's F('total_spent') + order total): a REAL with a
# float artefact, read by Django as Decimal('750.20'), stored by numeric(12,2) as 750.20.
@pytest.mark.parametrize("source, target", [
    (750.1999999999999, "750.20"),
    (989.4300000000001, "989.43"),
    (0.30000000000000004, "0.30"),
    (-5.000000000000001, "-5.00"),
])
def test_decimal_float_artefacts_compare_as_django_reads_them(source, target):
    column = plan("numeric", "numeric(12,2)")
    assert column.same(source, target)


@pytest.mark.parametrize("source, target", [
    (12.345, "12.35"),  # three real decimals in a 2-decimal column: Django on SQLite shows 12.34
    (750.1999999999999, "750.19"),
    (750.2, "750.21"),
    (float("nan"), "0.00"),
])
def test_decimal_real_differences_are_still_found(source, target):
    assert not plan("numeric", "numeric(12,2)").same(source, target)


def test_decimal_floats_that_fit_the_column_compare_exactly_as_before():
    column = plan("numeric", "numeric(20,2)")
    # 16 significant digits that fit 2 decimals: the exact value, not a 15-digit reading
    assert column.fast_equal(12345678901234.56, "12345678901234.56")
    assert column.same(12345678901234.56, "12345678901234.56")
    assert not column.same(12345678901234.56, "12345678901234.60")
