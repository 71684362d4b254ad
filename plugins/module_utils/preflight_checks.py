# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The source scan shared by the `preflight` and `pgloader` modules. Read-only on both sides.

Finds what PostgreSQL would refuse or what pgloader would silently alter, before anything is
loaded, naming table, column and count:

- tables and columns on one side only (FTS/virtual, shadow and `sqlite_*` tables are skipped);
- NUL bytes in TEXT (pgloader cuts the value at the NUL without a message), invalid UTF-8
  (pgloader stops the table there and still exits 0);
- text longer than the target's varchar(n)/char(n), integers outside the target's range,
  non-numbers in numeric columns, booleans other than 0/1, invalid JSON (and the \\u0000 escape
  jsonb refuses), invalid UUIDs, NULL in NOT NULL columns;
- FK orphans (`PRAGMA foreign_key_check`) and `PRAGMA integrity_check` failures;
- target tables that already hold rows.

Every table is scanned once by SQLite itself (one aggregate query with one sum() per check), so
the scan streams and stays fast; Python only looks at the few candidate values SQL cannot judge
(UTF-8 validity, text in numeric columns), through a cursor, as bytes.
"""

from __future__ import annotations

import decimal
import re
import sqlite3
import time

from ansible_collections.pgmigrate.django.plugins.module_utils import catalog, sqlite_source
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

# Tables `manage.py migrate` fills by itself (post_migrate signals): rows there are not user data
# and the load replaces them.
PREFILLED_TABLES = ("django_content_type", "auth_permission", "django_site")
DEFAULT_EXCLUDE = ("django_migrations",)
INTEGER_RANGES = {
    "int2": (-32768, 32767),
    "int4": (-2147483648, 2147483647),
    "int8": (-9223372036854775808, 9223372036854775807),
}
NUMERIC_TYPES = ("numeric", "float4", "float8")
# Targets whose SQLite values are numbers: no byte-level (NUL, UTF-8) pass over them.
NON_TEXT_TYPES = ("int2", "int4", "int8", "numeric", "float4", "float8", "bool", "interval", "oid")
BOOLEAN_TEXT = (b"t", b"f", b"true", b"false", b"y", b"n", b"yes", b"no", b"on", b"off", b"1", b"0")
NON_ASCII_GLOB = "*[^" + chr(1) + "-" + chr(127) + "]*"
HEX = "[0-9a-fA-F]"
UUID_GLOBS = (HEX * 32, "-".join(HEX * n for n in (8, 4, 4, 4, 12)))
_NUMERIC_TYPMOD = re.compile(r"numeric\((\d+),(\d+)\)")
_FLOAT_WORDS = ("nan", "infinity", "+infinity", "-infinity", "inf", "+inf", "-inf")

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
}


class PreflightError(Exception):
    """The request itself is wrong (e.g. an unknown table in a filter); nothing was checked."""


def problem(check, message, table=None, column=None, count=None, examples=None):
    item = {"check": check, "table": table, "column": column, "count": count, "message": message}
    if examples:
        item["examples"] = examples
    return item


# ---------------------------------------------------------------- tables on both sides

def sqlite_table_names(sconn):
    """Every name pgloader lists as a table (it only leaves out sqlite_sequence)."""
    rows = sconn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'").fetchall()
    return sorted(sqlite_source._text(row[0]) for row in rows)


def resolve_selection(source_tables, other_names, include, exclude, tolerated=DEFAULT_EXCLUDE):
    """(selected SQLite tables, excluded names) from exact names; unknown names are refused.

    OTHER_NAMES are further known names (target tables, skipped tables). Names in TOLERATED
    (the defaults of exclude_tables) may be absent without an error.
    """
    known = set(source_tables) | set(other_names)
    unknown = [name for name in (include or []) if name not in known]
    unknown += [name for name in (exclude or []) if name not in known and name not in tolerated]
    if unknown:
        raise PreflightError(
            "unknown table(s) in include_tables/exclude_tables: %s. Names are exact (case included); "
            "the SQLite file has: %s" % (", ".join(sorted(set(unknown))), ", ".join(sorted(source_tables)) or "none"))
    excluded = set(exclude or [])
    selected = [name for name in source_tables
                if (not include or name in include) and name not in excluded]
    return selected, sorted(excluded & known)


def plan_tables(sconn, cur, schema, include=None, exclude=DEFAULT_EXCLUDE, tolerated=DEFAULT_EXCLUDE):
    """Pair the SQLite tables to copy with their target tables, columns included.

    Returns a dict: tables [{source, target, source_columns, target_columns, column_pairs}],
    source_only, target_only, skipped, excluded, all_sqlite_tables, problems, warnings.
    """
    source_tables, skipped = sqlite_source.list_tables(sconn)
    target_tables = catalog.target_tables(cur, schema)
    skipped_names = [item["name"] for item in skipped]
    selected, excluded = resolve_selection(source_tables, list(target_tables) + skipped_names, include, exclude,
                                           tolerated)
    pairs, _source_only, _target_only = catalog.match_names(source_tables, target_tables)
    mapping = dict(pairs)
    matched_targets = set(mapping.values())
    folded_skipped = {name.lower() for name in skipped_names}
    problems, warnings, tables = [], [], []
    source_only = [name for name in selected if name not in mapping]
    target_only = [
        name for name in target_tables
        if name not in matched_targets and name not in excluded and (not include or name in include)
        and name.lower() not in folded_skipped
    ]
    if not target_tables:
        problems.append(problem(
            "target_schema_empty",
            "the target schema %s has no tables: create them first with the app's own `manage.py migrate` "
            "against PostgreSQL (schema first), then load the data" % schema))
    else:
        for name in source_only:
            problems.append(problem(
                "missing_target_table",
                "table %s exists in SQLite but not in the target schema %s: run the app's migrations against "
                "PostgreSQL, or leave the table out with exclude_tables" % (name, schema), table=name))
        for name in target_only:
            problems.append(problem(
                "missing_source_table",
                "target table %s.%s has no SQLite table: the schema and the data come from different versions "
                "of the app, or leave it out with exclude_tables" % (schema, name), table=name))
    for name in selected:
        if name not in mapping:
            continue
        target = mapping[name]
        source_columns = sqlite_source.table_columns(sconn, name)
        target_columns = catalog.target_columns(cur, schema, target)
        entry = {"source": name, "target": target, "source_columns": source_columns,
                 "target_columns": target_columns}
        col_pairs, col_source_only, col_target_only = catalog.match_names(
            [c["name"] for c in source_columns], [c["name"] for c in target_columns])
        entry["column_pairs"] = col_pairs
        by_name = {c["name"]: c for c in target_columns}
        for column in col_source_only:
            problems.append(problem(
                "missing_target_column",
                "%s.%s exists in SQLite but the target table %s has no such column: its data would be lost. "
                "Migrate the target schema to the same app version" % (name, column, target),
                table=name, column=column))
        for column in col_target_only:
            info = by_name[column]
            if info["notnull"] and info["default"] is None and not info["identity"]:
                problems.append(problem(
                    "target_column_required",
                    "target column %s.%s is NOT NULL without a default and SQLite has no such column: every "
                    "row would be rejected" % (target, column), table=name, column=column))
            else:
                warnings.append("target column %s.%s has no SQLite column; it gets its default (or NULL)"
                                % (target, column))
        tables.append(entry)
    return {
        "tables": tables,
        "source_only": source_only,
        "target_only": target_only,
        "skipped": skipped,
        "excluded": excluded,
        "all_sqlite_tables": sqlite_table_names(sconn),
        "problems": problems,
        "warnings": warnings,
    }


# ---------------------------------------------------------------- values

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


def _bad_utf8(kind, value):
    if not isinstance(value, bytes):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


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


def _key_expression(columns):
    pk = sqlite_source.primary_key(columns)
    if len(pk) == 1:
        return quote_ident(pk[0]), pk[0]
    return "rowid", "rowid"


def _has_rowid(sconn, table):
    try:
        sconn.execute("SELECT rowid FROM %s LIMIT 0" % quote_ident(table))
        return True
    except sqlite3.OperationalError:
        return False


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


def scan_table(sconn, entry, max_examples=3, json_ok=True):
    """(row count, problems) for one planned table.

    One aggregate query (SQLite does the work, one pass), one streaming Python pass over the
    TEXT/BLOB values that need byte-level checks, and candidate look-ups only where SQL found some.
    """
    table = entry["source"]
    qtable = quote_ident(table)
    target_by_name = {c["name"]: c for c in entry["target_columns"]}
    sql_checks, python_columns = [], []
    for source_column, target_column in entry["column_pairs"]:
        checks, python = column_checks(source_column, target_by_name[target_column])
        for check, expr, verifier in checks:
            if check == "invalid_json" and not json_ok:
                continue
            sql_checks.append((source_column, target_column, check, expr, verifier))
        if python:
            python_columns.append((source_column, frozenset(python)))
    key_expr, key_name = _key_expression(entry["source_columns"])
    if key_expr == "rowid" and not _has_rowid(sconn, table):
        key_expr = None
    tally = _Tally(max_examples)

    select = ["count(*)"] + ["coalesce(sum(%s), 0)" % expr for _c, _t, _k, expr, _v in sql_checks]
    row = sconn.execute("SELECT %s FROM %s" % (", ".join(select), qtable)).fetchone()
    rows = row[0]
    for (source_column, _target, check, expr, verifier), hits in zip(sql_checks, row[1:]):
        if not hits:
            continue
        if verifier is None:
            tally.add(source_column, check, None, count=hits)
            if key_expr and max_examples:
                tally.examples[(source_column, check)] = [_example(r[0]) for r in sconn.execute(
                    "SELECT %s FROM %s WHERE %s LIMIT %d" % (key_expr, qtable, expr, int(max_examples)))]
            continue
        cursor = sconn.execute("SELECT %s, typeof(%s), %s FROM %s WHERE %s" % (
            key_expr or "NULL", quote_ident(source_column), quote_ident(source_column), qtable, expr))
        for key, kind, value in cursor:
            if verifier(sqlite_source._text(kind), value):
                tally.add(source_column, check, key)

    if python_columns and rows:
        columns = ", ".join(quote_ident(c) for c, _w in python_columns)
        plain = frozenset(("nul_byte", "invalid_utf8"))
        specs = []
        for index, (column, wanted) in enumerate(python_columns, start=1):
            if wanted == plain:
                kind = 0
            elif wanted == plain | {"invalid_uuid"}:
                kind = 1
            elif wanted == plain | {"json_nul_escape"}:
                kind = 2
            else:
                kind = 3
            specs.append((index, column, wanted, kind))
        add = tally.add
        uuid_match = _UUID_BYTES.match
        for values in sconn.execute("SELECT %s, %s FROM %s" % (key_expr or "NULL", columns, qtable)):
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

    problems = []
    order = {name: index for index, (name, _t) in enumerate(entry["column_pairs"])}
    for (column, check), count in sorted(tally.counts.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        if not count:
            continue
        target = target_by_name[dict(entry["column_pairs"])[column]]
        message = MESSAGES[check].format(where="%s.%s" % (table, column), count=count, type=target["type"])
        item = problem(check, message, table=table, column=column, count=count)
        examples = tally.examples.get((column, check))
        if examples and key_expr:
            item["examples"] = {"key": key_name, "values": examples}
        problems.append(item)
    return rows, problems


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


# ---------------------------------------------------------------- whole-file checks

def check_integrity(sconn, mode="full", limit=20):
    """Problems from PRAGMA integrity_check (mode full) or quick_check (mode quick)."""
    if mode in (None, "none", "skip"):
        return []
    pragma = "quick_check" if mode == "quick" else "integrity_check"
    try:
        lines = [sqlite_source._text(row[0]) for row in sconn.execute("PRAGMA %s(%d)" % (pragma, limit))]
    except sqlite3.DatabaseError as error:
        lines = [str(error)]
    if lines == ["ok"]:
        return []
    return [problem("integrity_check", "SQLite %s: %s. The file is damaged: restore it from a backup or "
                    "rebuild it with `sqlite3 FILE .recover` before migrating" % (pragma, line))
            for line in lines[:limit]]


def check_foreign_keys(sconn, tables):
    """(problems, warnings) from PRAGMA foreign_key_check, aggregated per table and parent."""
    problems, warnings = [], []
    for table in tables:
        counts = {}
        try:
            for row in sconn.execute("PRAGMA foreign_key_check(%s)" % quote_ident(table)):
                key = sqlite_source._text(row[2])
                counts[key] = counts.get(key, 0) + 1
        except sqlite3.DatabaseError as error:
            warnings.append("foreign keys of %s cannot be checked in SQLite: %s" % (table, error))
            continue
        for parent, count in sorted(counts.items()):
            problems.append(problem(
                "fk_orphans",
                "%s: %d row(s) reference rows of %s that do not exist (PRAGMA foreign_key_check); PostgreSQL "
                "refuses them. Delete or fix those rows in SQLite first." % (table, count, parent),
                table=table, count=count))
    return problems, warnings


def target_nonempty(cur, schema, tables):
    """The target TABLES that hold at least one row."""
    found = []
    for table in tables:
        cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(quote_qualified(schema, table)))
        if cur.fetchone()[0]:
            found.append(table)
    return found


# ---------------------------------------------------------------- the whole preflight

def run_preflight(sconn, cur, schema="public", include=None, exclude=DEFAULT_EXCLUDE, integrity="full",
                  values=True, foreign_keys=True, target_must_be_empty=True, prefilled=PREFILLED_TABLES,
                  max_examples=3, tolerated=DEFAULT_EXCLUDE):
    """Everything at once. Returns the plan (see plan_tables) extended with:

    problems (all of them), warnings, source_rows {table: n}, target_nonempty [tables], seconds,
    and per-table `rows` in plan['tables'].
    """
    started = time.monotonic()
    plan = plan_tables(sconn, cur, schema, include, exclude, tolerated)
    problems = list(plan["problems"])
    warnings = list(plan["warnings"])
    problems += check_integrity(sconn, integrity)
    json_ok = json_functions_available(sconn)
    if values and not json_ok:
        warnings.append("this SQLite has no JSON functions: JSON values were not validated")
    source_rows = {}
    for entry in plan["tables"]:
        try:
            if values:
                rows, found = scan_table(sconn, entry, max_examples=max_examples, json_ok=json_ok)
                problems += found
            else:
                rows = sqlite_source.count_rows(sconn, entry["source"])
        except sqlite3.DatabaseError as error:
            problems.append(problem("unreadable_table", "cannot read SQLite table %s: %s (is the file corrupt?)"
                                    % (entry["source"], error), table=entry["source"]))
            continue
        entry["rows"] = rows
        source_rows[entry["source"]] = rows
    if foreign_keys:
        found, fk_warnings = check_foreign_keys(sconn, [entry["source"] for entry in plan["tables"]])
        problems += found
        warnings += fk_warnings
    nonempty = target_nonempty(cur, schema, [entry["target"] for entry in plan["tables"]])
    plan["target_nonempty"] = nonempty
    if target_must_be_empty:
        for table in nonempty:
            if table in (prefilled or ()):
                continue
            problems.append(problem(
                "target_not_empty",
                "target table %s.%s already holds rows: load into an empty database (re-create it and run "
                "migrate), or replace them with truncate: true" % (schema, table), table=table))
    plan["problems"] = problems
    plan["warnings"] = warnings
    plan["source_rows"] = source_rows
    plan["seconds"] = round(time.monotonic() - started, 3)
    return plan


def summarize(problems, limit=10):
    """One line for a failure message: the first LIMIT problems, then how many more."""
    lines = [item["message"] for item in problems[:limit]]
    if len(problems) > limit:
        lines.append("... and %d more (see `problems`)" % (len(problems) - limit))
    return " | ".join(lines)


def public_tables(plan):
    """The per-table list modules return (no internal column metadata)."""
    return [
        {"name": entry["source"], "target": entry["target"], "source_rows": entry.get("rows"),
         "target_has_rows": entry["target"] in plan.get("target_nonempty", [])}
        for entry in plan["tables"]
    ]
