# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The checks of `consistency_check`: a SQLite database against its PostgreSQL copy, read-only.

Every check adds readable lines to `problems` (the copy is not consistent) or `warnings`
(worth fixing, not a difference: missing indexes and primary keys).
"""

from __future__ import annotations

import sqlite3
import time

from ansible_collections.pgmigrate.django.plugins.module_utils import catalog, table_selection
from ansible_collections.pgmigrate.django.plugins.module_utils.content_compare import (
    BATCH_ROWS,
    compare_table,
    plan_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import psycopg2, quote_qualified, savepoint, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sequences import (
    sequence_states,
    sqlite_values_by_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import (
    count_rows,
    list_tables,
    primary_key,
    quote_ident,
    sqlite_sequences,
    table_columns,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.value_normalize import display

DEFAULT_EXCLUDE = ("django_migrations",)
CHECKS = ("tables", "columns", "row_counts", "content", "sequences", "foreign_keys", "indexes")
SESSION_SETTINGS = (
    ("DateStyle", "ISO, YMD"),
    ("TimeZone", "UTC"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
)
BYTEA_OID = 17


def _bytea(value, cursor):
    if value is None:
        return None
    if value.startswith("\\x"):
        return bytes.fromhex(value[2:])
    return bytes(psycopg2.BINARY(value, cursor))


def prepare_target_session(conn):
    """A read-only REPEATABLE READ transaction (one snapshot for every check) with fixed output formats."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
    # bytea as bytes, not memoryview: bytes compare equal to SQLite's blobs.
    psycopg2.extensions.register_type(psycopg2.extensions.new_type((BYTEA_OID,), "PGMIGRATE_BYTEA", _bytea), conn)
    with conn.cursor() as cur:
        for name, value in SESSION_SETTINGS:
            cur.execute(sql.SQL("SET {} TO {}").format(sql.Identifier(name), sql.Literal(value)))


def prepare_source_session(conn):
    """One read transaction: every table is read from the same SQLite snapshot."""
    conn.execute("BEGIN")


class Checker(object):
    """Runs the selected checks; `run()` returns the module result (without `changed`)."""

    def __init__(self, sqlite_conn, pg_conn, schema="public", checks=CHECKS, include_tables=None,
                 exclude_tables=None, max_reported=10, report_values=False, batch_rows=BATCH_ROWS,
                 prefetch=True, adapt_plan=None):
        self.sqlite = sqlite_conn
        # adapt_plan(plan, table): how the app reads a column (django_compare, option django), or None.
        self.adapt_plan = adapt_plan
        self.pg = pg_conn
        self.cur = pg_conn.cursor()
        self.schema = schema
        self.checks = set(checks)
        self.include, self.exclude = include_tables or [], exclude_tables or []
        self.max_reported = max_reported
        self.report_values = report_values
        self.batch_rows = batch_rows
        self.prefetch = prefetch
        self.problems = []
        self.warnings = []
        self.timings = {}
        self._savepoints = 0

    # ------------------------------------------------------------ plumbing

    def pg_query(self, statement, args=None, fetch="all"):
        """Run a read query inside a savepoint, so one failing check does not end the others."""
        with self.savepoint():
            self.cur.execute(statement, args)
            return self.cur.fetchall() if fetch == "all" else self.cur.fetchone()

    def savepoint(self):
        self._savepoints += 1
        return savepoint(self.cur, "pgmigrate_check_%d" % self._savepoints)

    def _timed(self, check, function, *args):
        started = time.monotonic()
        try:
            return function(*args)
        finally:
            self.timings[check] = round(self.timings.get(check, 0.0) + time.monotonic() - started, 3)

    # ------------------------------------------------------------ tables and columns

    def pair_tables(self):
        """SQLite tables paired with target tables, as the table-selection rule selects them."""
        source_tables, skipped = list_tables(self.sqlite)
        target_tables = catalog.target_tables(self.cur, self.schema)
        known = sorted(set(source_tables) | set(target_tables) | set(item["name"] for item in skipped))
        where = "the SQLite file with schema " + self.schema
        include = table_selection.resolve("include_tables", self.include, known, where)
        exclude = table_selection.resolve("exclude_tables", self.exclude, known, where, tolerated=DEFAULT_EXCLUDE)
        pairs, source_only, target_only = catalog.match_names(source_tables, target_tables)
        pairs = table_selection.select(pairs, include, exclude)
        source_only = [n for n, _n in table_selection.select([(n, n) for n in source_only], include, exclude)]
        target_only = [n for n, _n in table_selection.select([(n, n) for n in target_only], include, exclude)]
        # A PostgreSQL table named like a SQLite virtual or shadow table is the app's own rebuild of it.
        folded_skipped = {item["name"].lower() for item in skipped}
        target_only = [n for n in target_only if n.lower() not in folded_skipped]
        if "tables" in self.checks:
            for name in source_only:
                self.problems.append("table %s exists in SQLite but not in PostgreSQL schema %s" % (name, self.schema))
            for name in target_only:
                self.problems.append("table %s exists in PostgreSQL schema %s but not in SQLite" % (name, self.schema))
        return pairs, source_only, target_only, skipped

    def columns_of(self, source_table, target_table):
        source_columns = table_columns(self.sqlite, source_table)
        target_columns = catalog.target_columns(self.cur, self.schema, target_table)
        if "columns" in self.checks:
            _pairs, source_only, target_only = catalog.match_names([c["name"] for c in source_columns],
                                                                   [c["name"] for c in target_columns])
            for name in source_only:
                self.problems.append("table %s: column %s exists in SQLite but not in PostgreSQL" % (source_table, name))
            for name in target_only:
                self.problems.append("table %s: column %s exists in PostgreSQL but not in SQLite" % (source_table, name))
        return source_columns, target_columns

    # ------------------------------------------------------------ row counts and content

    def count_both(self, source_table, target_table, entry):
        entry["source_rows"] = count_rows(self.sqlite, source_table)
        entry["target_rows"] = self.pg_query(
            sql.SQL("SELECT count(*) FROM {}").format(quote_qualified(self.schema, target_table)), fetch="one")[0]
        if entry["source_rows"] != entry["target_rows"]:
            self.problems.append("table %s: %d rows in SQLite, %d in PostgreSQL"
                                 % (source_table, entry["source_rows"], entry["target_rows"]))

    def compare_content(self, source_table, target_table, source_columns, target_columns, entry):
        target_key = catalog.target_primary_key(self.cur, self.schema, target_table)
        spec = plan_table(source_table, target_table, self.schema, source_columns, target_columns, target_key,
                          primary_key(source_columns))
        for plan in spec.plans if self.adapt_plan else ():
            self.adapt_plan(plan, source_table)
        try:
            try:
                result, seconds = self._compare_in_savepoint(spec)
            except sqlite3.OperationalError as error:
                if "decode" not in str(error):
                    raise
                # Invalid UTF-8 in SQLite: compare again keeping the undecodable bytes, so the rows that
                # hold them are named (they cannot be in PostgreSQL as they are).
                self.problems.append("table %s: SQLite holds text that is not valid UTF-8 (%s)"
                                     % (source_table, _one_line(error)))
                self.sqlite.text_factory = _lenient_text
                try:
                    result, seconds = self._compare_in_savepoint(spec)
                finally:
                    self.sqlite.text_factory = str
        except (psycopg2.Error, sqlite3.Error) as error:
            entry["error"] = _one_line(error)
            self.problems.append("table %s: content could not be compared: %s (run pgmigrate.django.preflight on "
                                 "the source)" % (source_table, _one_line(error)))
            return
        content = result.as_dict()
        for name in ("source_rows", "target_rows"):
            if name in entry and entry[name] != content[name]:
                # The counts came from count(*): a changing database or a broken read.
                self.problems.append("table %s: %s is %s by count(*) but %s rows were read"
                                     % (source_table, name, entry[name], content[name]))
        entry.update(content)
        entry["content_seconds"] = round(seconds, 3)
        self.problems.extend(result.problems())

    def _compare_in_savepoint(self, spec):
        """compare_table() in a savepoint: a failing PostgreSQL read does not end the other checks."""
        with self.savepoint():
            outcome = compare_table(self.sqlite, self.pg, spec, self.max_reported, self.report_values,
                                    self.batch_rows, self.prefetch)
        return outcome

    # ------------------------------------------------------------ sequences

    def check_sequences(self, pairs):
        target_tables = [target for _source, target in pairs]
        sqlite_values = sqlite_values_by_table(sqlite_sequences(self.sqlite), target_tables)
        states = sequence_states(self.cur, self.schema, target_tables, sqlite_values)
        report = []
        for state in states:
            report.append(dict(
                sequence=state["qualified"], table=state["table"], column=state["column"], kind=state["kind"],
                next_value=state["next_value"], column_max=state["column_max"],
                sqlite_sequence=state["sqlite_sequence"], ok=state["behind"] is None,
            ))
            if state["behind"]:
                self.problems.append("table %s: column %s: sequence %s is behind: %s (run pgmigrate.django."
                                     "reset_sequences)" % (state["table"], state["column"], state["qualified"],
                                                           state["behind"]))
        return report

    # ------------------------------------------------------------ foreign keys

    def sqlite_foreign_keys(self, pairs):
        """SQLite's declared foreign keys in PostgreSQL names: {(table, cols, ref_table, ref_cols): text}."""
        target_of = dict(pairs)
        found = {}
        for source_table, target_table in pairs:
            rows = self.sqlite.execute("PRAGMA foreign_key_list(%s)" % quote_ident(source_table)).fetchall()
            groups = {}
            for row in rows:
                groups.setdefault(row[0], []).append(row)
            for fk_rows in groups.values():
                fk_rows.sort(key=lambda r: r[1])
                parent = fk_rows[0][2]
                columns = [r[3] for r in fk_rows]
                ref_columns = [r[4] for r in fk_rows]
                parent_pairs = catalog.match_names([parent], list(target_of.values()))[0]
                parent_target = target_of.get(parent) or (parent_pairs[0][1] if parent_pairs else None)
                if parent_target is None:
                    continue  # the parent is excluded or missing: reported by the tables check
                if any(c is None for c in ref_columns):
                    ref_columns = catalog.target_primary_key(self.cur, self.schema, parent_target)
                    ref_map = dict((c, c) for c in ref_columns)
                else:
                    ref_map = self._column_map(parent, parent_target)
                column_map = self._column_map(source_table, target_table)
                mapped = [column_map.get(c) for c in columns]
                mapped_ref = [ref_map.get(c) for c in ref_columns]
                text = "%s(%s) -> %s(%s)" % (source_table, ", ".join(columns), parent, ", ".join(
                    c or "?" for c in ref_columns))
                if None in mapped or None in mapped_ref or len(mapped) != len(mapped_ref):
                    self.problems.append("table %s: foreign key %s names columns missing in PostgreSQL"
                                         % (source_table, text))
                    continue
                found[(target_table, tuple(mapped), parent_target, tuple(mapped_ref))] = text
        return found

    def _column_map(self, source_table, target_table):
        source = [c["name"] for c in table_columns(self.sqlite, source_table)]
        target = [c["name"] for c in catalog.target_columns(self.cur, self.schema, target_table)]
        return dict(catalog.match_names(source, target)[0])

    def check_foreign_keys(self, pairs):
        paired_targets = set(target for _source, target in pairs)
        pg_fks = [fk for fk in catalog.foreign_keys(self.cur, self.schema)
                  if fk["table"] in paired_targets and fk["ref_table"] in paired_targets]
        pg_index = dict(((fk["table"], tuple(fk["columns"]), fk["ref_table"], tuple(fk["ref_columns"])), fk)
                        for fk in pg_fks)
        declared = self.sqlite_foreign_keys(pairs)
        report = []
        for ident in sorted(set(pg_index) | set(declared)):
            table, columns, ref_table, ref_columns = ident
            entry = dict(table=table, columns=list(columns), ref_table=ref_table, ref_columns=list(ref_columns),
                         in_sqlite=ident in declared, constraint=pg_index[ident]["name"] if ident in pg_index else None)
            if ident in declared and ident not in pg_index:
                self.problems.append("table %s: foreign key (%s) -> %s(%s) declared in SQLite has no constraint in "
                                     "PostgreSQL" % (table, ", ".join(columns), ref_table, ", ".join(ref_columns)))
            self._orphans(entry)
            report.append(entry)
        return report

    def _orphans(self, entry):
        child = quote_qualified(self.schema, entry["table"])
        parent = quote_qualified(self.schema, entry["ref_table"])
        not_null = sql.SQL(" AND ").join(
            sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(column)) for column in entry["columns"])
        joined = sql.SQL(" AND ").join(
            sql.SQL("p.{} = c.{}").format(sql.Identifier(ref), sql.Identifier(column))
            for column, ref in zip(entry["columns"], entry["ref_columns"]))
        where = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(not_null, parent, joined)
        try:
            count = self.pg_query(sql.SQL("SELECT count(*) FROM {} c WHERE {}").format(child, where), fetch="one")[0]
            samples = []
            if count:
                columns = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in entry["columns"])
                rows = self.pg_query(sql.SQL("SELECT DISTINCT {} FROM {} c WHERE {} LIMIT {}").format(
                    columns, child, where, sql.Literal(max(self.max_reported, 1))))
                samples = [dict(zip(entry["columns"], (display(v) if not isinstance(v, (int, str)) else v
                                                       for v in row))) for row in rows]
        except psycopg2.Error as error:
            entry["orphans"] = None
            self.problems.append("table %s: foreign key (%s) could not be checked for orphans: %s"
                                 % (entry["table"], ", ".join(entry["columns"]), _one_line(error)))
            return
        entry["orphans"] = count
        entry["orphan_samples"] = samples
        if count:
            shown = "; ".join(", ".join("%s=%s" % item for item in sample.items()) for sample in samples)
            self.problems.append("table %s: %d row(s) reference missing %s(%s) rows (orphans in PostgreSQL), e.g. %s"
                                 % (entry["table"], count, entry["ref_table"], ", ".join(entry["ref_columns"]),
                                    shown))

    # ------------------------------------------------------------ indexes

    def check_indexes(self, pairs):
        targets = set(target for _source, target in pairs)
        self.cur.execute(
            "SELECT c.relname, ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)"
            " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),"
            " i.indpred IS NULL"
            " FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (self.schema,),
        )
        indexes = {}
        for table, columns, full in self.cur.fetchall():
            if full:
                indexes.setdefault(table, []).append(list(columns))
        for target in sorted(targets):
            if not catalog.target_primary_key(self.cur, self.schema, target):
                self.warnings.append("table %s has no primary key (updates and deletes by the ORM need one; rows "
                                     "can only be compared as multisets)" % target)
        seen = set()
        for fk in catalog.foreign_keys(self.cur, self.schema):
            if fk["table"] not in targets or (fk["table"], tuple(fk["columns"])) in seen:
                continue
            seen.add((fk["table"], tuple(fk["columns"])))
            width = len(fk["columns"])
            wanted = set(fk["columns"])
            if not any(set(index[:width]) == wanted for index in indexes.get(fk["table"], [])):
                self.warnings.append(
                    "table %s: foreign key column(s) %s have no index (joins and deletes of %s rows scan the "
                    "whole table)" % (fk["table"], ", ".join(fk["columns"]), fk["ref_table"]))

    # ------------------------------------------------------------ all together

    def run(self):
        started = time.monotonic()
        pairs, source_only, target_only, skipped = self._timed("tables", self.pair_tables)
        tables = []
        for source_table, target_table in pairs:
            entry = {"name": source_table, "target": target_table}
            source_columns, target_columns = self._timed("columns", self.columns_of, source_table, target_table)
            if "row_counts" in self.checks:
                self._timed("row_counts", self.count_both, source_table, target_table, entry)
            if "content" in self.checks:
                self._timed("content", self.compare_content, source_table, target_table, source_columns,
                            target_columns, entry)
            tables.append(entry)
        result = {"tables": tables, "skipped_tables": skipped, "source_only_tables": source_only,
                  "target_only_tables": target_only}
        if "sequences" in self.checks:
            result["sequences"] = self._timed("sequences", self.check_sequences, pairs)
        if "foreign_keys" in self.checks:
            result["foreign_keys"] = self._timed("foreign_keys", self.check_foreign_keys, pairs)
        if "indexes" in self.checks:
            self._timed("indexes", self.check_indexes, pairs)
        result.update(
            consistent=not self.problems,
            problems=self.problems,
            index_warnings=self.warnings,
            checks=[check for check in CHECKS if check in self.checks],
            rows_compared=sum(entry.get("source_rows", 0) for entry in tables if "mode" in entry),
            timings=self.timings,
            seconds=round(time.monotonic() - started, 3),
        )
        return result


def _lenient_text(value):
    return value.decode("utf-8", "surrogateescape")


def _one_line(error):
    return " ".join(str(error).split())
