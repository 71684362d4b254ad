# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The value scan of the preflight: every value PostgreSQL would refuse or pgloader would alter.

Every table is scanned once by SQLite itself (one aggregate query with one sum() per check), so
the scan streams and stays fast; Python only looks at the few candidate values SQL cannot judge
(UTF-8 validity, text in numeric columns), through a cursor, as bytes.
"""

from __future__ import annotations

import decimal
import re
import sqlite3

from ansible_collections.pgmigrate.django.plugins.module_utils import sqlite_source
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

INTEGER_RANGES = {
    "int2": (-32768, 32767),
    "int4": (-2147483648, 2147483647),
    "int8": (-9223372036854775808, 9223372036854775807),
}
NUMERIC_TYPES = ("numeric", "float4", "float8")
# The largest finite float4 (PostgreSQL `real`): both engines fail on a larger value (measured).
FLOAT4_MAX = 3.4028234663852886e38
# What SQLite reads as +Infinity (a REAL overflow); abs() folds -Infinity onto it.
SQLITE_INFINITY = "9e999"
# Targets whose SQLite values are numbers: no byte-level (NUL, UTF-8) pass over them.
NON_TEXT_TYPES = ("int2", "int4", "int8", "numeric", "float4", "float8", "bool", "interval", "oid")
BOOLEAN_TEXT = (b"t", b"f", b"true", b"false", b"y", b"n", b"yes", b"no", b"on", b"off", b"1", b"0")
_NUMERIC_TYPMOD = re.compile(r"numeric\((\d+),(\d+)\)")

MESSAGES = {
    "nul_byte": "{where}: {count} value(s) contain a NUL byte; PostgreSQL text cannot hold it and pgloader "
                "silently cuts the value there. Remove the NUL characters in SQLite first.",
    "invalid_utf8": "{where}: {count} value(s) are not valid UTF-8; pgloader stops the table at the first one "
                    "and still reports success. Fix their encoding in SQLite first.",
    "too_long": "{where}: {count} value(s) are longer than the target's {type}. Shorten them or widen the "
                "column (max_length in the Django model) first.",
    "out_of_range": "{where}: {count} value(s) are out of range of the target's {type}. Use a wider field "
                    "(BigIntegerField, more max_digits) first.",
    "not_integer": "{where}: {count} value(s) are not integers, which the target's {type} refuses.",
    "not_numeric": "{where}: {count} value(s) are not numbers, which the target's {type} refuses.",
    "not_boolean": "{where}: {count} value(s) are neither 0 nor 1, which the target's boolean refuses.",
    "invalid_json": "{where}: {count} value(s) are not valid JSON, which the target's {type} refuses.",
    "json_nul_escape": "{where}: {count} JSON value(s) contain the escape \\u0000, which jsonb refuses.",
    "invalid_uuid": "{where}: {count} value(s) are not UUIDs, which the target's uuid refuses.",
    "null_in_not_null": "{where}: {count} NULL value(s), but the target column is NOT NULL.",
    "engine_limit": "{where}: {count} value(s) are +Infinity or -Infinity, which engine pgloader cannot load "
                    "(measured with pgloader 3.6: it writes #.DOUBLE-FLOAT-POSITIVE-INFINITY, PostgreSQL rejects "
                    "the row after part of the table is loaded). Load with engine copy, which carries them "
                    "exactly into the target's {type}, or replace them in SQLite first.",
}
# Checks that depend on the engine that loads: {check: engines that cannot carry the value}.
ENGINE_CHECKS = {"engine_limit": ("pgloader",)}


def problem(check, message, table=None, column=None, count=None, examples=None):
    item = {"check": check, "table": table, "column": column, "count": count, "message": message}
    if examples:
        item["examples"] = examples
    return item


def _numeric_limit(type_text):
    """10 ** (precision - scale) for numeric(p,s), else None."""
    match = _NUMERIC_TYPMOD.search(type_text or "")
    if not match:
        return None
    precision, scale = int(match.group(1)), int(match.group(2))
    return 10 ** (precision - scale)


def column_checks(column, target):
    """(SQL checks, Python checks) for one column pair.

    SQL checks are [(check, expression over the quoted column, verifier or None)]: the expression
    is true for a bad value; with a verifier it only marks candidates and verifier(typeof, value)
    decides in Python. Python checks are the names of the checks the per-row pass runs on every
    TEXT/BLOB value of the column (NUL bytes, UTF-8, UUID format, jsonb's \\u0000): measured
    cheaper than the same tests in SQL (GLOB, CAST AS BLOB), which copy every value.
    """
    col = quote_ident(column)
    udt = target["udt"]
    type_text = target["type"]
    checks, python = [], []
    if udt == "bytea":
        return checks, python
    if udt not in NON_TEXT_TYPES:
        # A BLOB in a text column is decoded as UTF-8 by pgloader: the same two checks apply to it.
        # (Text in numeric/boolean columns is judged by their own checks below.)
        python += ["nul_byte", "invalid_utf8"]
    if target["notnull"]:
        checks.append(("null_in_not_null", "%s IS NULL" % col, None))
    if udt in ("varchar", "bpchar") and target.get("max_length"):
        checks.append(("too_long", "typeof(%s) IN ('text', 'integer', 'real') AND length(%s) > %d"
                       % (col, col, int(target["max_length"])), None))
    if udt in INTEGER_RANGES:
        low, high = INTEGER_RANGES[udt]
        if udt != "int8":
            checks.append(("out_of_range", "typeof(%s) = 'integer' AND (%s < %d OR %s > %d)"
                           % (col, col, low, col, high), None))
        checks.append(("not_integer", "typeof(%s) IN ('text', 'real', 'blob')" % col, _integer_verifier(low, high)))
    elif udt in NUMERIC_TYPES:
        limit = _numeric_limit(type_text) if udt == "numeric" else None
        if limit is not None and limit <= 10 ** 18:
            checks.append(("out_of_range", "typeof(%s) IN ('integer', 'real') AND abs(%s) >= %d"
                           % (col, col, limit), None))
        elif udt == "float4":
            checks.append(("out_of_range", "typeof(%s) IN ('integer', 'real') AND abs(%s) > %r AND abs(%s) < %s"
                           % (col, col, FLOAT4_MAX, col, SQLITE_INFINITY), None))
        if limit is None or limit > 10 ** 18:  # numeric(p,s) refuses an infinity already (out_of_range)
            checks.append(("engine_limit", "typeof(%s) = 'real' AND abs(%s) = %s" % (col, col, SQLITE_INFINITY),
                           None))
        checks.append(("not_numeric", "typeof(%s) IN ('text', 'blob')" % col, _numeric_verifier(udt, limit)))
    elif udt == "bool":
        checks.append(("not_boolean",
                       "%s IS NOT NULL AND NOT (typeof(%s) = 'integer' AND %s IN (0, 1))" % (col, col, col),
                       _boolean_ok_not))
    elif udt in ("json", "jsonb"):
        checks.append(("invalid_json", "typeof(%s) = 'text' AND NOT json_valid(%s)" % (col, col), None))
        if udt == "jsonb":
            python.append("json_nul_escape")
    elif udt == "uuid":
        checks.append(("invalid_uuid", "%s IS NOT NULL AND typeof(%s) NOT IN ('text', 'blob')" % (col, col), None))
        python.append("invalid_uuid")
    return checks, python


_UUID_BYTES = re.compile(rb"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")
# the JSON escape \\u0000: preceded by an even number of backslashes
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def python_verdicts(value, wanted):
    """The Python checks in WANTED that VALUE (bytes: TEXT or BLOB) fails."""
    bad = []
    if b"\x00" in value and "nul_byte" in wanted:
        bad.append("nul_byte")
    if not value.isascii() and "invalid_utf8" in wanted:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            bad.append("invalid_utf8")
    if "invalid_uuid" in wanted and not _UUID_BYTES.match(value):
        bad.append("invalid_uuid")
    if "json_nul_escape" in wanted and b"\\u0000" in value and _JSON_NUL.search(value):
        bad.append("json_nul_escape")
    return bad


def _integer_verifier(low, high):
    def bad(kind, value):
        if kind != "text":
            return True  # real (a fraction: integer affinity keeps whole numbers as integers) or blob
        try:
            number = int(value.decode("utf-8").strip())
        except (UnicodeDecodeError, ValueError):
            return True
        return not low <= number <= high
    return bad


def _numeric_verifier(udt, limit):
    def bad(kind, value):
        if kind != "text":
            return True
        try:
            text = value.decode("utf-8").strip()
            number = decimal.Decimal(text)
        except (UnicodeDecodeError, decimal.InvalidOperation, ValueError):
            return True
        if not number.is_finite():
            return False  # NaN and Infinity: numeric (PostgreSQL 14+) and float accept them
        return limit is not None and abs(number) >= limit
    return bad


def _boolean_ok_not(kind, value):
    if kind == "text":
        return value.strip().lower() not in BOOLEAN_TEXT
    if kind == "real":
        return value not in (0.0, 1.0)
    return True


class _Tally:
    """Counts and first example keys per (column, check)."""

    def __init__(self, max_examples):
        self.max_examples = max_examples
        self.counts = {}
        self.examples = {}

    def add(self, column, check, key, count=1):
        slot = (column, check)
        self.counts[slot] = self.counts.get(slot, 0) + count
        found = self.examples.setdefault(slot, [])
        if key is not None and len(found) < self.max_examples:
            found.append(_example(key))


def scan_table(sconn, entry, max_examples=3, json_ok=True, engine=None):
    """(row count, problems) for one planned table; ENGINE (pgloader or copy) adds the limits of that
    engine (ENGINE_CHECKS); None checks none of them.

    One aggregate query (SQLite does the work, one pass), one streaming Python pass over the
    TEXT/BLOB values that need byte-level checks, and candidate look-ups only where SQL found some.
    """
    target_by_name = {c["name"]: c for c in entry["target_columns"]}
    sql_checks, python_columns = [], []
    for source_column, target_column in entry["column_pairs"]:
        checks, python = column_checks(source_column, target_by_name[target_column])
        sql_checks += [(source_column, check, expr, verifier) for check, expr, verifier in checks
                       if (json_ok or check != "invalid_json") and engine in ENGINE_CHECKS.get(check, (engine,))]
        if python:
            python_columns.append((source_column, frozenset(python)))
    key_expr, key_name = sqlite_source.row_key(entry["source_columns"])
    if key_expr == "rowid" and not sqlite_source.has_rowid(sconn, entry["source"]):
        key_expr = None
    tally = _Tally(max_examples)
    rows = _sql_pass(sconn, entry["source"], sql_checks, key_expr, tally)
    if python_columns and rows:
        _python_pass(sconn, entry["source"], python_columns, key_expr, tally)
    return rows, _problems(entry, tally, key_name if key_expr else None)


def _sql_pass(sconn, table, sql_checks, key_expr, tally):
    """The aggregate query; candidates of checks with a verifier are judged in Python. Returns the rows."""
    qtable = quote_ident(table)
    select = ["count(*)"] + ["coalesce(sum(%s), 0)" % expr for _c, _k, expr, _v in sql_checks]
    row = sconn.execute("SELECT %s FROM %s" % (", ".join(select), qtable)).fetchone()
    for (source_column, check, expr, verifier), hits in zip(sql_checks, row[1:]):
        if not hits:
            continue
        if verifier is None:
            tally.add(source_column, check, None, count=hits)
            if key_expr and tally.max_examples:
                tally.examples[(source_column, check)] = [_example(r[0]) for r in sconn.execute(
                    "SELECT %s FROM %s WHERE %s LIMIT %d" % (key_expr, qtable, expr, int(tally.max_examples)))]
            continue
        cursor = sconn.execute("SELECT %s, typeof(%s), %s FROM %s WHERE %s" % (
            key_expr or "NULL", quote_ident(source_column), quote_ident(source_column), qtable, expr))
        for key, kind, value in cursor:
            if verifier(sqlite_source.text(kind), value):
                tally.add(source_column, check, key)
    return row[0]


def _python_pass(sconn, table, python_columns, key_expr, tally):
    """One streaming pass over the TEXT/BLOB values of PYTHON_COLUMNS (NUL, UTF-8, uuid, jsonb checks)."""
    columns = ", ".join(quote_ident(c) for c, _w in python_columns)
    plain = frozenset(("nul_byte", "invalid_utf8"))
    specs = []
    for index, (column, wanted) in enumerate(python_columns, start=1):
        kind = {plain: 0, plain | {"invalid_uuid"}: 1, plain | {"json_nul_escape"}: 2}.get(wanted, 3)
        specs.append((index, column, wanted, kind))
    add = tally.add
    uuid_match = _UUID_BYTES.match
    for values in sconn.execute("SELECT %s, %s FROM %s" % (key_expr or "NULL", columns, quote_ident(table))):
        for index, column, wanted, kind in specs:
            value = values[index]
            if value.__class__ is not bytes:
                continue  # NULL, integer, real: the SQL checks judge them
            # the hot paths, inlined: most values are plain text or well-formed
            if kind == 1 and uuid_match(value):
                continue
            if kind == 0 or kind == 2:
                if b"\x00" in value:
                    add(column, "nul_byte", values[0])
                if not value.isascii():
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        add(column, "invalid_utf8", values[0])
                if kind == 2 and b"\\u0000" in value and _JSON_NUL.search(value):
                    add(column, "json_nul_escape", values[0])
                continue
            for check in python_verdicts(value, wanted):
                add(column, check, values[0])


def _problems(entry, tally, key_name):
    """The tally as problems, in column order, with example keys when the table has a key."""
    table = entry["source"]
    target_by_name = {c["name"]: c for c in entry["target_columns"]}
    problems = []
    order = {name: index for index, (name, _t) in enumerate(entry["column_pairs"])}
    for (column, check), count in sorted(tally.counts.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        if not count:
            continue
        target = target_by_name[dict(entry["column_pairs"])[column]]
        message = MESSAGES[check].format(where="%s.%s" % (table, column), count=count, type=target["type"])
        item = problem(check, message, table=table, column=column, count=count)
        examples = tally.examples.get((column, check))
        if examples and key_name:
            item["examples"] = {"key": key_name, "values": examples}
        problems.append(item)
    return problems


def _example(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def json_functions_available(sconn):
    try:
        sconn.execute("SELECT json_valid('1')").fetchone()
        return True
    except sqlite3.OperationalError:
        return False
