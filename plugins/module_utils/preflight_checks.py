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

import sqlite3
import time

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    catalog, django_values, sqlite_source, table_selection,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.preflight_values import (  # noqa: F401 (the API)
    json_functions_available, problem, scan_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

# Tables `manage.py migrate` fills by itself (post_migrate signals): rows there are not user data
# and the load replaces them.
PREFILLED_TABLES = ("django_content_type", "auth_permission", "django_site")
DEFAULT_EXCLUDE = ("django_migrations",)


class PreflightError(ModuleError):
    """The request itself is wrong (e.g. an unknown table in a filter); nothing was checked."""


# ---------------------------------------------------------------- tables on both sides

def sqlite_table_names(sconn):
    """Every name pgloader lists as a table (it only leaves out sqlite_sequence)."""
    rows = sconn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'").fetchall()
    return sorted(sqlite_source.text(row[0]) for row in rows)


def resolve_selection(source_tables, other_names, include, exclude, tolerated=DEFAULT_EXCLUDE):
    """(selected SQLite tables, excluded names) by the table-selection rule; unknown names are refused.

    OTHER_NAMES are further known names (target tables, skipped tables). Names in TOLERATED
    (the defaults of exclude_tables) may be absent without an error.
    """
    known = set(source_tables) | set(other_names)
    try:
        for option, names in (("include_tables", include), ("exclude_tables", exclude)):
            table_selection.resolve(option, names, known, "the SQLite file with the target", tolerated)
    except table_selection.SelectionError as error:
        raise PreflightError(str(error))
    included, excluded = [n for n in include or [] if n in known], sorted(set(exclude or []) & known)
    pairs = [(name, name) for name in source_tables]
    selected = [name for name, _same in table_selection.select(pairs, included, excluded)]
    return selected, excluded


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
    mapping = dict(catalog.match_names(source_tables, target_tables)[0])
    folded_skipped = {name.lower() for name in skipped_names}
    source_only = [name for name in selected if name not in mapping]
    target_only = [
        name for name in target_tables
        if name not in set(mapping.values()) and name not in excluded and (not include or name in include)
        and name.lower() not in folded_skipped
    ]
    problems = table_problems(schema, target_tables, source_only, target_only)
    warnings, tables = [], []
    for name in selected:
        if name in mapping:
            tables.append(pair_columns(sconn, cur, schema, name, mapping[name], problems, warnings))
    return {"tables": tables, "source_only": source_only, "target_only": target_only, "skipped": skipped,
            "excluded": excluded, "all_sqlite_tables": sqlite_table_names(sconn), "problems": problems,
            "warnings": warnings}


def table_problems(schema, target_tables, source_only, target_only):
    """Problems of tables on one side only (or of a target schema without tables)."""
    if not target_tables:
        return [problem(
            "target_schema_empty",
            "the target schema %s has no tables: create them first with the app's own `manage.py migrate` "
            "against PostgreSQL (schema first), then load the data" % schema)]
    problems = [problem(
        "missing_target_table",
        "table %s exists in SQLite but not in the target schema %s: run the app's migrations against "
        "PostgreSQL, or leave the table out with exclude_tables" % (name, schema), table=name) for name in source_only]
    problems += [problem(
        "missing_source_table",
        "target table %s.%s has no SQLite table: the schema and the data come from different versions "
        "of the app, or leave it out with exclude_tables" % (schema, name), table=name) for name in target_only]
    return problems


def pair_columns(sconn, cur, schema, name, target, problems, warnings):
    """The plan entry of SQLite table NAME loaded into TARGET; column problems and warnings are added."""
    source_columns = sqlite_source.table_columns(sconn, name)
    target_columns = catalog.target_columns(cur, schema, target)
    col_pairs, col_source_only, col_target_only = catalog.match_names(
        [c["name"] for c in source_columns], [c["name"] for c in target_columns])
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
    return {"source": name, "target": target, "source_columns": source_columns, "target_columns": target_columns,
            "column_pairs": col_pairs}


# ---------------------------------------------------------------- whole-file checks

def check_integrity(sconn, mode="full", limit=20):
    """Problems from PRAGMA integrity_check (mode full) or quick_check (mode quick)."""
    if mode in (None, "none", "skip"):
        return []
    pragma = "quick_check" if mode == "quick" else "integrity_check"
    try:
        lines = [sqlite_source.text(row[0]) for row in sconn.execute("PRAGMA %s(%d)" % (pragma, limit))]
    except sqlite3.DatabaseError as error:
        lines = [str(error)]
    if lines == ["ok"]:
        return []
    return [problem("integrity_check", "SQLite %s: %s. The file is damaged: restore it from a backup or "
                    "rebuild it with `sqlite3 FILE .recover` before migrating" % (pragma, line))
            for line in lines[:limit]]


def check_foreign_keys(sconn, tables, max_examples=3):
    """(problems, warnings) from PRAGMA foreign_key_check, one problem per foreign key (its column(s), the
    referenced table, the count and the first rowids of the orphans)."""
    problems, warnings = [], []
    for table in tables:
        try:
            orphans = _orphans_by_key(sconn, table, max_examples)
            columns = _foreign_key_columns(sconn, table) if orphans else {}
        except sqlite3.DatabaseError as error:
            warnings.append("foreign keys of %s cannot be checked in SQLite: %s" % (table, error))
            continue
        for (parent, fkid), (count, keys) in sorted(orphans.items(), key=lambda item: (item[0][0], item[0][1])):
            source_columns, parent_columns = columns.get(fkid, ([], []))
            column = ",".join(source_columns) or "?"
            where = "%s.%s -> %s" % (table, column, parent)
            if parent_columns and any(parent_columns):
                where += ".%s" % ",".join(c or "?" for c in parent_columns)
            shown = (" (first rowids: %s)" % ", ".join(str(k) for k in keys)) if keys else ""
            problems.append(problem(
                "fk_orphans",
                "%s: %d row(s) reference rows of %s that do not exist%s (PRAGMA foreign_key_check); PostgreSQL "
                "refuses them. Delete or fix those rows in SQLite first." % (where, count, parent, shown),
                table=table, column=column, count=count,
                examples={"key": "rowid", "values": keys} if keys else None))
            problems[-1]["references"] = parent
    return problems, warnings


def _orphans_by_key(sconn, table, max_examples):
    """{(parent table, foreign key id): (count, first rowids)} of TABLE's orphan rows."""
    found = {}
    for row in sconn.execute("PRAGMA foreign_key_check(%s)" % quote_ident(table)):
        slot = (sqlite_source.text(row[2]), row[3])
        count, keys = found.get(slot, (0, []))
        if row[1] is not None and len(keys) < max_examples:
            keys.append(row[1])
        found[slot] = (count + 1, keys)
    return found


def _foreign_key_columns(sconn, table):
    """{foreign key id: ([column, ...], [referenced column or None, ...])} of TABLE."""
    keys = {}
    for row in sconn.execute("PRAGMA foreign_key_list(%s)" % quote_ident(table)):
        source, parent = keys.setdefault(row[0], ([], []))
        source.append(sqlite_source.text(row[3]))
        parent.append(sqlite_source.text(row[4]) if row[4] is not None else None)
    return keys


def target_nonempty(cur, schema, tables):
    """The target TABLES that hold at least one row."""
    return sorted(target_row_counts(cur, schema, tables))


def target_row_counts(cur, schema, tables):
    """{table: rows} of the target TABLES that hold at least one row (only those are counted)."""
    found = {}
    for table in tables:
        name = quote_qualified(schema, table)
        cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(name))
        if cur.fetchone()[0]:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(name))
            found[table] = cur.fetchone()[0]
    return found


# ---------------------------------------------------------------- the whole preflight

def run_preflight(sconn, cur, schema="public", include=None, exclude=DEFAULT_EXCLUDE, integrity="full",
                  values=True, foreign_keys=True, target_must_be_empty=True, prefilled=PREFILLED_TABLES,
                  max_examples=3, tolerated=DEFAULT_EXCLUDE, django=None, decimal_overflow="refuse",
                  local_time_gap="refuse", engine=None):
    """Everything at once. Returns the plan (see plan_tables) extended with:

    problems (all of them), warnings, source_rows {table: n}, target_nonempty [tables], target_rows
    {table: n} (the target tables holding rows), seconds,
    per-table `rows` in plan['tables'], and with DJANGO (a django_values.DjangoValues) and VALUES
    `django_values`: the decimals that do not fit and the local times in a skipped or repeated hour.
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
                rows, found = scan_table(sconn, entry, max_examples=max_examples, json_ok=json_ok, engine=engine)
                problems += found
            else:
                rows = sqlite_source.count_rows(sconn, entry["source"])
        except sqlite3.DatabaseError as error:
            problems.append(problem("unreadable_table", "cannot read SQLite table %s: %s (is the file corrupt?)"
                                    % (entry["source"], error), table=entry["source"]))
            continue
        entry["rows"] = rows
        source_rows[entry["source"]] = rows
    if values and django is not None:
        found, plan["django_values"] = django_values.preflight(
            sconn, django, [entry["source"] for entry in plan["tables"]], decimal_overflow, local_time_gap,
            max_examples)
        problems += found
    if foreign_keys:
        found, fk_warnings = check_foreign_keys(sconn, [entry["source"] for entry in plan["tables"]], max_examples)
        problems += found
        warnings += fk_warnings
    plan["target_rows"] = target_row_counts(cur, schema, [entry["target"] for entry in plan["tables"]])
    nonempty = plan["target_nonempty"] = sorted(plan["target_rows"])
    if target_must_be_empty:
        for table in nonempty:
            if table in (prefilled or ()):
                continue
            count = plan["target_rows"][table]
            problems.append(problem(
                "target_not_empty",
                "target table %s.%s already holds %d row(s) that the app's migrations did not make (not in "
                "prefilled_tables): someone wrote into the target. Find out who; load into an empty database "
                "(re-create it and run migrate), or replace them with truncate: true" % (schema, table, count),
                table=table, count=count))
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
