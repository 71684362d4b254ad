# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One table of the copy engine: SQLite rows turned into COPY CSV lines and streamed into PostgreSQL.

Every value is converted by a rule chosen once per column from the target's catalog (the type
kinds of value_normalize, which consistency_check compares with), and from the SQLite column's
affinity. Measured on the demo app (1e6 rows, 2 cores, PostgreSQL 15), which shaped the design:

- COPY CSV, each line built by SQLite itself (C string functions, the GIL released): producing the
  500,000 item lines takes 2.2 s in CSV (one replace() per text value) against 3.05 s in text
  format (four nested replace() calls), and PostgreSQL parses both at the same speed. BINARY was no
  faster end to end (PostgreSQL's side dominates) and needs Python to encode numeric, timestamps
  and intervals value by value.
- Python formats only what SQLite cannot format exactly: REAL values (SQLite 3.40 prints 15
  digits, and printf('%!.17g') gives a different double for about 0.1% of values), which can only
  be stored in a column whose affinity is not TEXT.
- A producer thread per table fills a small queue of ~1 MB chunks while COPY sends the previous
  ones, so reading SQLite overlaps with PostgreSQL parsing (items alone: 6.2 s -> 4.4 s).
- A row PostgreSQL refuses fails the fast COPY of its table; the table is then loaded again in
  batches (O(batch_rows)) under savepoints, and a failing batch is split in halves until the
  refused rows are found: they are rejected alone, with PostgreSQL's reason, as pgloader does with
  `on error resume next`. Nothing is altered to make a value fit.
"""

from __future__ import annotations

import io
import time

from ansible_collections.pgmigrate.django.plugins.module_utils import sqlite_source, value_normalize
from ansible_collections.pgmigrate.django.plugins.module_utils.row_batches import Prefetch, batches
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    psycopg2, quote_qualified, savepoint, sql,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

NULL_FIELD = b""
CHUNK_BYTES = 1 << 19
FETCH_ROWS = 256
QUEUE_DEPTH = 4
# Kinds (value_normalize.column_plan) whose REAL values must be printed exactly (by Python).
EXACT_REAL_KINDS = ("float", "numeric", "json", "jsonb", "text", "bpchar", "other")


class Cancelled(Exception):
    """Raised in a worker when the load is stopped (deadline, or another table failed)."""


# ------------------------------------------------------------------------------------ converters

def affinity(declared_type):
    """SQLite's column affinity from the declared type (https://sqlite.org/datatype3.html 3.1)."""
    declared = (declared_type or "").upper()
    if "INT" in declared:
        return "integer"
    if "CHAR" in declared or "CLOB" in declared or "TEXT" in declared:
        return "text"
    if "BLOB" in declared or not declared:
        return "blob"
    if "REAL" in declared or "FLOA" in declared or "DOUB" in declared:
        return "real"
    return "numeric"


def csv_quoted(value):
    """TEXT or BLOB bytes as a quoted CSV field (never NULL: an unquoted empty field is NULL)."""
    return b'"' + value.replace(b'"', b'""') + b'"'


def exact_field(value):
    """A value of a column that may hold REALs: the exact number, or the text as it is.

    Integers as digits, REALs as the shortest text that gives the same double back (what the user
    stored; PostgreSQL parses it to the same double, or the same numeric), TEXT/BLOB quoted.
    """
    kind = value.__class__
    if kind is float:
        return repr(value).encode("ascii")
    if kind is int:
        return b"%d" % value
    if value is None:
        return NULL_FIELD
    return csv_quoted(value)


def interval_field(value):
    """Django's DurationField: integer microseconds -> 'N microseconds' (pgloader's cast, the same text).

    A REAL that is not a whole number of microseconds cannot be stored exactly: it goes as text
    PostgreSQL refuses, so the row is rejected with its value instead of being rounded.
    """
    kind = value.__class__
    if kind is int:
        return b"%d microseconds" % value
    if value is None:
        return NULL_FIELD
    if kind is float:
        if value.is_integer():
            return b"%d microseconds" % int(value)
        return csv_quoted(b"%s microseconds (not a whole number)" % repr(value).encode("ascii"))
    return csv_quoted(value + b" microseconds")


def _quoted_sql(expression):
    return "'\"' || replace(%s, '\"', '\"\"') || '\"'" % expression


def _text_sql(column, suffix=""):
    value = "(%s || '%s')" % (column, suffix) if suffix else column
    return "CASE WHEN %s IS NULL THEN '' ELSE %s END" % (column, _quoted_sql(value))


def column_field(source_name, declared_type, target_column):
    """How one column is written into the CSV line: ('sql', SQLite expression) or ('python', function).

    The SQLite expression yields the whole field (quoted when it is text, '' for NULL); the Python
    function gets the raw SQLite value (int, float, bytes or None) and returns the field.
    """
    kind = value_normalize.column_plan(source_name, target_column["name"], target_column).kind
    column = quote_ident(source_name)
    text_affinity = affinity(declared_type) == "text"
    if kind == "int":
        return "sql", "CASE typeof(%s) WHEN 'integer' THEN %s WHEN 'null' THEN '' ELSE %s END" % (
            column, column, _quoted_sql(column))
    if kind == "bool":
        # PostgreSQL reads 0/1 (and t/f, yes/no, ...) as booleans; a REAL 0.0/1.0 is written as 0/1.
        return "sql", ("CASE typeof(%s) WHEN 'integer' THEN %s WHEN 'null' THEN '' WHEN 'real' THEN "
                       "(CASE %s WHEN 0 THEN '0' WHEN 1 THEN '1' ELSE %s END) ELSE %s END"
                       % (column, column, column, _quoted_sql(column), _quoted_sql(column)))
    if kind == "bytes":
        # hex() of a TEXT value is the hex of its UTF-8 bytes, as value_normalize compares it
        return "sql", "CASE WHEN %s IS NULL THEN '' ELSE '\\x' || hex(%s) END" % (column, column)
    if kind == "interval":
        if text_affinity:
            return "sql", _text_sql(column, " microseconds")
        return "python", interval_field
    if kind in EXACT_REAL_KINDS and not text_affinity:
        return "python", exact_field
    return "sql", _text_sql(column)


def _segment(fields):
    """SQL fields joined into one text (a lone integer field is made text too)."""
    return " || ',' || ".join(fields) if len(fields) > 1 else "(%s) || ''" % fields[0]


class TableCopy(object):
    """One table's SELECT on SQLite, COPY statement on PostgreSQL and line assembly."""

    def __init__(self, entry, schema):
        self.source = entry["source"]
        self.target = entry["target"]
        self.schema = schema
        self.rows = entry.get("rows")
        declared = dict((c["name"], c["type"]) for c in entry["source_columns"])
        targets = dict((c["name"], c) for c in entry["target_columns"])
        position = dict((c["name"], index) for index, c in enumerate(entry["target_columns"]))
        pairs = sorted(entry["column_pairs"], key=lambda pair: position[pair[1]])  # the target's column order
        self.columns = [target for _source, target in pairs]
        parts, pending, self.python = [], [], []
        for source, target in pairs:
            how, what = column_field(source, declared.get(source), targets[target])
            if how == "sql":
                pending.append(what)
                continue
            if pending:
                parts.append(_segment(pending))
                pending = []
            self.python.append((len(parts), what))
            parts.append(quote_ident(source))
        # the line ends in SQLite when its last field is made there, else in Python
        self.newline = b""
        if pending:
            parts.append(_segment(pending) + " || char(10)")
        else:
            self.newline = b"\n"
        self.key, self.key_name = sqlite_source.row_key(entry["source_columns"])
        table = quote_ident(self.source)
        self.parts = parts
        self.select = self.select_from(table)
        self.key_select = "SELECT %s, %s FROM %s" % (self.key, ", ".join(parts), table)
        self.key_select_plain = "SELECT NULL, %s FROM %s" % (", ".join(parts), table)

    def select_from(self, source_sql):
        """The line SELECT over SOURCE_SQL (the table, or the table with a WHERE: apply_changes reads some keys)."""
        return "SELECT %s FROM %s" % (", ".join(self.parts), source_sql)

    def copy_statement(self):
        return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            quote_qualified(self.schema, self.target), sql.SQL(", ").join(sql.Identifier(c) for c in self.columns))

    def truncate_statement(self):
        return sql.SQL("TRUNCATE {}").format(quote_qualified(self.schema, self.target))

    def lines(self, rows):
        """The CSV lines (bytes, each ending in a newline) for rows of self.select."""
        if not self.python or not rows:
            return [row[0] for row in rows]
        # column by column (map() in C), then the rows back: measured 14% faster than row by row
        columns = list(zip(*rows))
        for index, convert in self.python:
            columns[index] = map(convert, columns[index])
        join = b",".join
        if self.newline:
            return [join(row) + b"\n" for row in zip(*columns)]
        return [join(row) for row in zip(*columns)]

    def chunks(self, cursor, counter):
        """Yield ~CHUNK_BYTES of CSV from CURSOR (of self.select); counter[0] counts the rows."""
        pending, size = [], 0
        for rows in batches(cursor, FETCH_ROWS, adaptive=False):
            counter[0] += len(rows)
            lines = self.lines(rows)
            pending += lines
            size += sum(len(line) for line in lines)
            if size >= CHUNK_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def keyed_lines(self, rows):
        """[(key, line)] for rows of self.key_select (the key first, then the parts)."""
        return list(zip([row[0] for row in rows], self.lines([row[1:] for row in rows])))


# ------------------------------------------------------------------------------------ streaming

class ChunkStream(object):
    """A file-like object for cursor.copy_expert(): read() hands over the chunks that row_batches'
    Prefetch thread makes (it reads SQLite while COPY sends the previous chunks; at most QUEUE_DEPTH wait)."""

    def __init__(self, chunks, cancel):
        self.cancel = cancel
        self.failure = None  # what the producer raised (psycopg2 reports it only as "error in .read() call")
        self.prefetch = Prefetch(([chunk] for chunk in chunks), depth=QUEUE_DEPTH)
        self.chunks = iter(self.prefetch)

    def read(self, size=-1):
        if self.cancel.is_set():
            raise Cancelled()
        try:
            return next(self.chunks, b"")
        except BaseException as error:
            self.failure = error
            raise

    def close(self):
        self.prefetch.close()


# ------------------------------------------------------------------------------------ one table

ROW_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError) if psycopg2 else ()


def describe_error(error):
    """PostgreSQL's error as one line: SQLSTATE, message, detail and context (COPY line and column)."""
    text = str(error).strip()
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) or (text.splitlines()[0] if text else repr(error))
    parts = ["Database error %s: %s" % (getattr(error, "pgcode", None) or "", primary)]
    for label, value in (("DETAIL", getattr(diag, "message_detail", None)), ("CONTEXT", getattr(diag, "context", None))):
        if value:
            parts.append("(%s: %s)" % (label, " ".join(value.split())))
    line = " ".join(parts)
    return line if len(line) <= 400 else line[:397] + "..."


def fast_copy(conn, sconn, table, cancel, queries):
    """TRUNCATE + one streamed COPY + COMMIT. Returns the rows read; raises what PostgreSQL raised."""
    counter = [0]
    copy_sql = table.copy_statement().as_string(conn)
    truncate = table.truncate_statement()
    with conn.cursor() as cur:
        queries.append(truncate.as_string(conn))
        cur.execute(truncate)
        stream = ChunkStream(table.chunks(sconn.execute(table.select), counter), cancel)
        try:
            queries.append(copy_sql)
            cur.copy_expert(copy_sql, stream, size=CHUNK_BYTES)
        except psycopg2.Error:
            if stream.failure is not None and not isinstance(stream.failure, Cancelled):
                raise stream.failure  # the real cause: SQLite, or a value the line could not be made of
            raise
        finally:
            stream.close()
    conn.commit()
    return counter[0]


def careful_copy(conn, sconn, table, cancel, batch_rows, max_reasons):
    """The table again, in batches under savepoints; refused rows are found by halving and rejected.

    Returns (read, imported, the first MAX_REASONS reasons, rejected rows).
    """
    read = imported = 0
    rejected = []
    copy_sql = table.copy_statement().as_string(conn)
    has_key = table.key is not None and _has_key(sconn, table)
    cursor = sconn.execute(table.key_select if has_key else table.key_select_plain)
    with conn.cursor() as cur:
        cur.execute(table.truncate_statement())
        for rows in batches(cursor, batch_rows, adaptive=False):
            if cancel.is_set():
                raise Cancelled()
            read += len(rows)
            todo = [table.keyed_lines(rows)]
            while todo:
                part = todo.pop()
                try:
                    with savepoint(cur, "pgmigrate_copy_batch"):
                        cur.copy_expert(copy_sql, io.BytesIO(b"".join(line for _key, line in part)))
                except ROW_ERRORS as error:
                    if len(part) == 1:
                        rejected.append((part[0][0], describe_error(error)))
                    else:
                        middle = len(part) // 2
                        todo += [part[middle:], part[:middle]]
                    continue
                imported += len(part)
    conn.commit()
    reasons = ["%s=%s: %s" % (table.key_name, key, reason) if has_key else reason for key, reason in rejected]
    return read, imported, reasons[:max(0, max_reasons)], len(rejected)


def _has_key(sconn, table):
    if table.key != "rowid":
        return True
    return sqlite_source.has_rowid(sconn, table.source)


def load_table(conn, sconn, table, cancel, batch_rows, max_reasons, queries):
    """Load one table; returns its report {read, imported, errors, seconds, reasons}."""
    started = time.monotonic()
    try:
        read = fast_copy(conn, sconn, table, cancel, queries)
        return {"read": read, "imported": read, "errors": 0, "reasons": [],
                "seconds": round(time.monotonic() - started, 3)}
    except ROW_ERRORS:
        conn.rollback()
    read, imported, reasons, errors = careful_copy(conn, sconn, table, cancel, batch_rows, max_reasons)
    return {"read": read, "imported": imported, "errors": errors, "reasons": reasons,
            "seconds": round(time.monotonic() - started, 3)}
