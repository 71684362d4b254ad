# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One table of apply_changes: its changed keys re-read from SQLite and written to PostgreSQL.

Every value goes through the copy engine's own line making (copy_table.TableCopy), into a temporary
table by COPY, and from there into the table with one statement; so a value is converted exactly
as the load converted it, and nothing is held in Python memory but one chunk of lines. The keys
come from the change log inside SQLite (json_extract over the entries after the watermark), so the
row lookups are index probes of the app's table and the work grows with the changed keys only.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import change_log, copy_table
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

ROWS_TEMP = "pgmigrate_apply_rows"
KEYS_TEMP = "pgmigrate_apply_keys"


class LineStream(object):
    """A file-like object for copy_expert() over an iterator of CSV chunks (bytes)."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)

    def read(self, size=-1):
        return next(self.chunks, b"")


class ChangedTable(object):
    """The SQL of one planned table (a preflight_checks.plan_tables entry) with logged changes."""

    def __init__(self, entry, schema, target_key, watermark):
        self.entry = entry
        self.source, self.target, self.schema = entry["source"], entry["target"], schema
        self.watermark = watermark
        self.copy = copy_table.TableCopy(entry, schema)
        pairs = dict(entry["column_pairs"])
        self.source_key = [c["name"] for c in sorted((c for c in entry["source_columns"] if c["pk"]),
                                                     key=lambda c: c["pk"])]
        self.target_key = [pairs.get(name) for name in self.source_key]
        # Key by key only when both sides have the same primary key; else the table is re-copied whole.
        self.keyed = bool(self.source_key) and self.target_key == list(target_key)
        key_entry = dict(entry, column_pairs=[(s, pairs[s]) for s in self.source_key]) if self.keyed else None
        self.key_copy = copy_table.TableCopy(key_entry, schema) if self.keyed else None

    # ------------------------------------------------------------ SQLite side

    def logged_keys_sql(self):
        """SELECT of the distinct logged keys, one column per key column named as it (parameters: table, seq)."""
        columns = ", ".join("json_extract(key, '$[%d]') AS %s" % (index, quote_ident(name))
                            for index, name in enumerate(self.source_key))
        return "SELECT DISTINCT %s FROM %s WHERE table_name = ? AND seq > ? AND key IS NOT NULL" % (
            columns, change_log.LOG_TABLE)

    def args(self):
        return (self.source, self.watermark)

    def key_tuple(self):
        names = ", ".join(quote_ident(name) for name in self.source_key)
        return "(%s)" % names

    def present_rows_from(self):
        """FROM clause of the rows of the table whose key was logged (present in SQLite)."""
        return "%s WHERE %s IN (%s)" % (quote_ident(self.source), self.key_tuple(), self.logged_keys_sql())

    def gone_keys_from(self):
        """FROM clause of the logged keys that SQLite no longer has."""
        match = " AND ".join("t.%s = k.%s" % (quote_ident(n), quote_ident(n)) for n in self.source_key)
        return "(%s) AS k WHERE NOT EXISTS (SELECT 1 FROM %s AS t WHERE %s)" % (
            self.logged_keys_sql(), quote_ident(self.source), match)

    # ------------------------------------------------------------ PostgreSQL side

    def qualified(self):
        return quote_qualified(self.schema, self.target)

    def columns_sql(self, columns):
        return sql.SQL(", ").join(sql.Identifier(c) for c in columns)

    def create_rows_temp(self):
        return sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
            sql.Identifier(ROWS_TEMP), self.qualified())

    def create_keys_temp(self):
        return sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            sql.Identifier(KEYS_TEMP), self.columns_sql(self.target_key), self.qualified())

    def copy_into(self, temp, columns):
        return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            sql.Identifier(temp), self.columns_sql(columns))

    def upsert(self):
        """INSERT the temporary rows, updating every other column of a row whose key exists."""
        columns = self.copy.columns
        others = [c for c in columns if c not in self.target_key]
        action = sql.SQL("DO NOTHING")
        if others:
            # only rows that really differ are written (and counted): a second apply changes nothing
            action = sql.SQL("DO UPDATE SET {} WHERE ROW({})::text IS DISTINCT FROM ROW({})::text").format(
                sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                                   for c in others),
                sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in others),
                sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in others))
        return sql.SQL("INSERT INTO {} AS t ({}) {}SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            self.qualified(), self.columns_sql(columns), self.overriding(), self.columns_sql(columns),
            sql.Identifier(ROWS_TEMP), self.columns_sql(self.target_key), action)

    def overriding(self):
        """GENERATED ALWAYS identity columns take the SQLite value as the load gave it (COPY does)."""
        always = [c for c in self.entry["target_columns"] if c.get("identity") == "a" and c["name"] in self.copy.columns]
        return sql.SQL("OVERRIDING SYSTEM VALUE " if always else "")

    def insert(self):
        columns = self.columns_sql(self.copy.columns)
        return sql.SQL("INSERT INTO {} ({}) {}SELECT {} FROM {}").format(
            self.qualified(), columns, self.overriding(), columns, sql.Identifier(ROWS_TEMP))

    def _match(self):
        return sql.SQL(" AND ").join(sql.SQL("t.{} = k.{}").format(sql.Identifier(c), sql.Identifier(c))
                                     for c in self.target_key)

    def delete_using(self, temp):
        """DELETE the rows whose key is in the temporary table TEMP."""
        return sql.SQL("DELETE FROM {} AS t USING {} AS k WHERE {}").format(
            self.qualified(), sql.Identifier(temp), self._match())

    def delete_not_in(self, temp):
        """DELETE the rows whose key is NOT in the temporary table TEMP (the key-set reconciliation)."""
        return sql.SQL("DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM {} AS k WHERE {})").format(
            self.qualified(), sql.Identifier(temp), self._match())

    def analyze_temp(self, temp):
        """ANALYZE of a temporary table just filled: without statistics the planner guesses its row count
        from its size, and may scan the whole app table to join it."""
        return sql.SQL("ANALYZE {}").format(sql.Identifier(temp))

    def rows_of_temp_keys(self):
        """FROM item of the table's rows whose key is in ROWS_TEMP (rows_by_key_probes)."""
        return rows_by_key_probes(self.qualified(), self.target, self.target_key)

    def drop_temp(self, temp):
        return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(temp))


def rows_by_key_probes(qualified, name, key_columns):
    """FROM item of the rows of table QUALIFIED whose key is in ROWS_TEMP, named NAME, its columns only.

    One primary key index probe per key whatever the estimates: a LATERAL subquery behind OFFSET 0 is
    planned on its own, the key a parameter. (An IN or a join is the planner's choice, and a cursor is
    planned for its first rows: a merge join walking the whole primary key index, O(table rows); with
    enable_seqscan off, a nested loop over that walk, O(table rows x keys): 23 s for 3197 keys of a
    1e6-row demo.)"""
    match = sql.SQL(" AND ").join(sql.SQL("r.{} = k.{}").format(sql.Identifier(c), sql.Identifier(c))
                                  for c in key_columns)
    return sql.SQL("(SELECT t.* FROM {} AS k CROSS JOIN LATERAL (SELECT * FROM {} AS r WHERE {} OFFSET 0) AS t) "
                   "AS {}").format(sql.Identifier(ROWS_TEMP), qualified, match, sql.Identifier(name))


def stream_copy(cur, statement, copy, sconn, select, args=()):
    """COPY the lines of TableCopy COPY for SQLite's SELECT (with ARGS) by STATEMENT; the rows sent."""
    counter = [0]
    cursor = sconn.execute(select, args)
    cur.copy_expert(statement, LineStream(copy.chunks(cursor, counter)), size=copy_table.CHUNK_BYTES)
    return counter[0]
