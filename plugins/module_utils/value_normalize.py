# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How a SQLite value and its PostgreSQL copy are compared.

A correct copy changes representations: SQLite's 0/1 becomes a boolean, Django's naive UTC
datetime text a timestamptz, JSON text a jsonb (keys reordered, spacing changed), 32 hex digits a
uuid, integer microseconds an interval, a decimal stored as REAL a numeric, and so on. Anything
else that differs is a real difference and must be reported.

For every column a `ColumnPlan` is chosen once per table from the PostgreSQL type (never by
sniffing each value). It holds:

- `expression`: what is selected on PostgreSQL (psycopg2.sql), chosen so that the value psycopg2
  returns usually *is* the SQLite value as Python sees it (Django's datetime text comes back from
  `to_char`, a uuid as 32 hex digits, an interval as integer microseconds, a float4 widened to
  float8 so lost precision shows);
- `fast`: None when plain `==` of the two values decides the fast path, else a cheap function
  (source, target) -> bool (numeric: the SQLite number printed as numeric prints it; JSON: both
  documents decoded and compared as values); it may raise ValueError/TypeError to mean "not sure";
- `canon_source` / `canon_target`: exact canonical forms. Two values are the same copy if and
  only if their canonical forms are equal. Used when the fast path says "different", for tables
  compared as multisets, and to name the differing columns.

Equality on the fast path always implies equality of the canonical forms, so the fast path can
only save time, never hide a difference.
"""

from __future__ import annotations

import decimal
import ipaddress
import json
import re

from ansible_collections.pgmigrate.django.plugins.module_utils.value_canon import (  # noqa: F401 (parse_datetime: API)
    as_text, bad, canon_bool_source, canon_bool_target, canon_date_source, canon_date_target, canon_datetime_target,
    canon_float_source, canon_float_target, canon_int_source, canon_int_target, canon_numeric_source,
    canon_numeric_target, canon_time_source, numeric_source, canon_time_target, canonical_decimal, datetime_source,
    numeric_fast_equal, parse_datetime, to_decimal,
)

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - the modules fail earlier with a clear message
    sql = None

# Canonical forms of values that do not fit the column's type are tagged tuples, so they never
# compare equal to a well-formed value of the other side.
_HEX32_RE = re.compile(r"^[0-9a-f]{32}$")

INT_TYPES = ("int2", "int4", "int8", "oid")
# Key columns that sort the same way on both sides (see ColumnPlan.key_ok).
KEY_KINDS = ("int", "text", "uuid")


class ColumnPlan(object):
    """How one column pair is selected and compared (see the module docstring)."""

    __slots__ = ("source", "target", "pg_type", "kind", "expression", "order_expression", "fast",
                 "canon_source", "canon_target", "key_convert")

    def __init__(self, source, target, pg_type, kind, expression, fast, canon_source, canon_target,
                 order_expression=None, key_convert=None):
        self.source = source
        self.target = target
        self.pg_type = pg_type
        self.kind = kind
        self.expression = expression
        self.order_expression = order_expression
        self.fast = fast
        self.canon_source = canon_source
        self.canon_target = canon_target
        self.key_convert = key_convert

    @property
    def key_ok(self):
        """True when a merge on this column sees both sides in the same order.

        Integers sort numerically on both sides; text sorts by code point in SQLite (BINARY) and
        with COLLATE "C" on PostgreSQL; uuid sorts like its lower-case hex text.
        """
        return self.kind in KEY_KINDS

    def same(self, source_value, target_value):
        """Exact comparison through the canonical forms."""
        return self.canon_source(source_value) == self.canon_target(target_value)

    def fast_equal(self, source_value, target_value):
        if self.fast is None:
            return source_value == target_value
        try:
            return self.fast(source_value, target_value)
        except (ValueError, TypeError, ArithmeticError):
            return False


# ---------------------------------------------------------------- text and bytes


def canon_text_source(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return as_text(value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return bad(value)


def canon_text_target(value):
    return value


def canon_bpchar_source(value):
    value = canon_text_source(value)
    return value.rstrip(" ") if isinstance(value, str) else value


def canon_bpchar_target(value):
    return None if value is None else value.rstrip(" ")


def canon_bytes_source(value):
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bad(value)


def canon_bytes_target(value):
    return None if value is None else bytes(value)


# ---------------------------------------------------------------- uuid, interval


def uuid_hex(value):
    """SQLite uuid (32 hex digits as Django writes it, the dashed form, or 16 bytes) -> 32 hex."""
    if isinstance(value, bytes) and len(value) == 16:
        return value.hex()
    if isinstance(value, (str, bytes)):
        text = as_text(value).strip().lower().replace("-", "")
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        if _HEX32_RE.match(text):
            return text
    raise ValueError("not a uuid")


def canon_uuid_source(value):
    if value is None:
        return None
    try:
        return uuid_hex(value)
    except ValueError:
        return bad(value)


def canon_interval_source(value):
    """Django's DurationField on SQLite: integer microseconds."""
    return canon_int_source(value)


# ---------------------------------------------------------------- JSON


def _json_number(text):
    # Tagged, so that a number never equals true/false (True == 1 in Python) or a string.
    return ("number", decimal.Decimal(text))


_FAST_JSON = json.JSONDecoder(parse_float=_json_number, parse_int=_json_number)


def json_fast_equal(source_value, target_value):
    """Same JSON value? Dict equality ignores key order; numbers compare exactly as decimals.

    Used on the fast path (C-level decoding, one Python call per number); duplicate keys keep
    the last value on both sides, as jsonb does.
    """
    if source_value == target_value:
        return True
    return _FAST_JSON.decode(as_text(source_value)) == _FAST_JSON.decode(target_value)


def _canon_json_value(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, decimal.Decimal):
        return canonical_decimal(value)
    if isinstance(value, int):
        return canonical_decimal(decimal.Decimal(value))
    if isinstance(value, list):
        return "[" + ",".join(_canon_json_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted((json.dumps(key, ensure_ascii=False), _canon_json_value(item)) for key, item in value.items())
        return "{" + ",".join(key + ":" + item for key, item in items) + "}"
    raise ValueError("unexpected JSON value %r" % (value,))


def canonical_json(text):
    """JSON text -> a canonical text: key order, spacing, escapes and number spelling do not count.

    Numbers compare by value (1, 1.0 and 1e0 are one number, as in jsonb); true is not 1.
    Raises ValueError when TEXT is not JSON.
    """
    document = json.loads(as_text(text), parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    return _canon_json_value(document)


def canon_json(value):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A column declared JSON has NUMERIC affinity in SQLite: a bare number is stored as one.
        return canonical_decimal(to_decimal(value))
    try:
        return canonical_json(value)
    except (ValueError, TypeError, RecursionError):
        return bad(value)


# ---------------------------------------------------------------- other types


def canon_other_source(value):
    """Types without a rule: PostgreSQL's text output against the SQLite value as text."""
    return canon_text_source(value)


# ---------------------------------------------------------------- plans

_FRACTION_FORMAT = "CASE WHEN {v} = date_trunc('second', {v}) THEN 'YYYY-MM-DD HH24:MI:SS'" \
                   " ELSE 'YYYY-MM-DD HH24:MI:SS.US' END"


# ---------------------------------------------------------------- inet, cidr

NETWORK_TYPES = ("inet", "cidr")


def canon_network(value):
    """inet/cidr text -> (IP version, address bytes, prefix length): equal exactly for the same value.

    Django's GenericIPAddressField keeps text in SQLite ('192.0.2.1', '2001:db8::1') and `inet` in
    PostgreSQL, which prints a mask only when it is not the full one ('10.0.0.1/24') and may spell
    an address otherwise ('2001:DB8:0::1' -> '2001:db8::1', '::c000:201' -> '::192.0.2.1').
    An IPv4-mapped address ('::ffff:192.0.2.1') stays IPv6 and differs from '192.0.2.1': Django
    unpacks it on save only (unpack_ipv4), never on read, so both sides hold what the app wrote.
    """
    if value is None:
        return None
    if not isinstance(value, (str, bytes)):
        return bad(value)
    try:
        interface = ipaddress.ip_interface(as_text(value).strip())
    except ValueError:
        return bad(value)
    return (interface.version, interface.ip.packed, interface.network.prefixlen)


def _expressions(udt, column):
    """(select expression, order expression) for a PostgreSQL column of type UDT."""
    ident = sql.Identifier(column)
    if udt in INT_TYPES or udt in ("bool", "float8", "bytea", "text", "varchar", "citext", "bpchar"):
        order = sql.SQL("{} COLLATE \"C\"").format(ident) if udt in ("text", "varchar") else ident
        return ident, order
    if udt == "float4":
        return sql.SQL("{}::float8").format(ident), ident
    if udt == "timestamptz":
        value = sql.SQL("({} AT TIME ZONE 'UTC')").format(ident)
    elif udt == "timestamp":
        value = ident
    else:
        value = None
    if value is not None:
        expression = sql.SQL("CASE WHEN isfinite({v}) THEN to_char({v}, " + _FRACTION_FORMAT + ") ELSE {i}::text END")
        return expression.format(v=value, i=ident), ident
    if udt == "time":
        value = sql.SQL("(DATE '2000-01-01' + {})").format(ident)
        expression = sql.SQL("to_char({v}, CASE WHEN {v} = date_trunc('second', {v}) THEN 'HH24:MI:SS'"
                             " ELSE 'HH24:MI:SS.US' END)")
        return expression.format(v=value), ident
    if udt in NETWORK_TYPES:
        # The type's own output ('192.0.2.1'), not ::text ('192.0.2.1/32'); psycopg2 returns it as str.
        return ident, ident
    if udt == "uuid":
        return sql.SQL("replace({}::text, '-', '')").format(ident), ident
    if udt == "interval":
        return sql.SQL("(extract(epoch FROM {}) * 1000000)::int8").format(ident), ident
    # numeric, date (DateStyle ISO), json, jsonb, name, char and everything else: the text output.
    return sql.SQL("{}::text").format(ident), ident


def column_plan(source_name, target_name, target_column):
    """The ColumnPlan for SQLite column SOURCE_NAME copied to the PostgreSQL column TARGET_COLUMN.

    TARGET_COLUMN is a dict from catalog.target_columns() (name, type, udt, ...).
    """
    udt = target_column["udt"]
    pg_type = target_column["type"]
    expression, order = _expressions(udt, target_name)
    fast = None
    key_convert = None
    if udt in INT_TYPES:
        kind, canon_s, canon_t = "int", canon_int_source, canon_int_target
    elif udt == "bool":
        kind, canon_s, canon_t = "bool", canon_bool_source, canon_bool_target
    elif udt in ("float4", "float8"):
        kind, canon_s, canon_t = "float", canon_float_source, canon_float_target
    elif udt == "numeric":
        kind, canon_s, canon_t = "numeric", numeric_source(numeric_scale(pg_type)), canon_numeric_target
        fast = numeric_fast_equal(numeric_scale(pg_type))
    elif udt in ("text", "varchar"):
        kind, canon_s, canon_t = "text", canon_text_source, canon_text_target
    elif udt == "bpchar":
        kind, canon_s, canon_t = "bpchar", canon_bpchar_source, canon_bpchar_target
    elif udt == "bytea":
        kind, canon_s, canon_t = "bytes", canon_bytes_source, canon_bytes_target
    elif udt in ("timestamptz", "timestamp"):
        kind, canon_s, canon_t = udt, datetime_source(udt == "timestamptz"), canon_datetime_target
    elif udt == "date":
        kind, canon_s, canon_t = "date", canon_date_source, canon_date_target
    elif udt == "time":
        kind, canon_s, canon_t = "time", canon_time_source, canon_time_target
    elif udt == "uuid":
        kind, canon_s, canon_t = "uuid", canon_uuid_source, canon_text_target
        key_convert = uuid_hex
    elif udt == "interval":
        kind, canon_s, canon_t = "interval", canon_interval_source, canon_int_target
    elif udt in ("json", "jsonb"):
        kind, canon_s, canon_t, fast = udt, canon_json, canon_json, json_fast_equal
    elif udt in NETWORK_TYPES:
        # Kind "other" as before: the copy engine writes these columns as it always did.
        kind, canon_s, canon_t = "other", canon_network, canon_network
    else:
        kind, canon_s, canon_t = "other", canon_other_source, canon_text_target
    return ColumnPlan(source_name, target_name, pg_type, kind, expression, fast, canon_s, canon_t,
                      order_expression=order, key_convert=key_convert)


def numeric_scale(pg_type):
    """'numeric(12,2)' -> 2; 'numeric(5)' -> 0; 'numeric' -> None."""
    match = re.match(r"^numeric\((\d+)(?:,\s*(-?\d+))?\)$", pg_type or "")
    if not match:
        return None
    scale = int(match.group(2) or 0)
    return scale if scale >= 0 else None


def display(value, limit=80):
    """A short, printable form of a value for reports."""
    if isinstance(value, memoryview):
        value = bytes(value)
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
