# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The `copy` engine of the pgloader module: SQLite rows streamed into PostgreSQL's COPY.

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
- Tables in parallel on threads, each with its own PostgreSQL connection and one transaction
  (TRUNCATE + COPY + COMMIT); processes were not faster and need their results pickled back.
- Foreign keys touching the loaded tables are dropped before the load, re-added NOT VALID after it
  and then validated in parallel, so pg_get_constraintdef() ends exactly as before. Deferring the
  checks instead costs a per-row trigger (250,000 link rows: 2.0 s against 0.55 s for the COPY and
  0.17 s for the validation), and a child's commit-time check cannot see a parent table that
  another worker has not committed yet.
- A row PostgreSQL refuses fails the fast COPY of its table; the table is then loaded again in
  batches (O(batch_rows)) under savepoints, and a failing batch is split in halves until the
  refused rows are found: they are rejected alone, with PostgreSQL's reason, as pgloader does with
  `on error resume next`. Nothing is altered to make a value fit.
"""

from __future__ import annotations

import io
import queue
import threading
import time

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    content_compare, preflight_checks, sqlite_source, value_normalize,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import psycopg2, quote_qualified, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

NULL_FIELD = b""
CHUNK_BYTES = 1 << 19
FETCH_ROWS = 256
QUEUE_DEPTH = 4
SAVEPOINT = "pgmigrate_copy_batch"
# Kinds (value_normalize.column_plan) whose REAL values must be printed exactly (by Python).
EXACT_REAL_KINDS = ("float", "numeric", "json", "jsonb", "text", "bpchar", "other")
# Kinds PostgreSQL parses from the SQLite text as it is (numbers in them are refused, not re-read).
TEXT_INPUT_KINDS = ("timestamptz", "timestamp", "date", "time", "uuid")


class CopyError(Exception):
    """The load cannot go on: a table failed for a reason that is not one row, or the deadline passed."""

    def __init__(self, msg, table=None, timed_out=False, partial=True):
        super().__init__(msg)
        self.table = table
        self.timed_out = timed_out
        self.partial = partial  # False: stopped before any table was touched
        self.outcome = {}


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
        self.key, self.key_name = preflight_checks._key_expression(entry["source_columns"])
        table = quote_ident(self.source)
        self.select = "SELECT %s FROM %s" % (", ".join(parts), table)
        self.key_select = "SELECT %s, %s FROM %s" % (self.key, ", ".join(parts), table)
        self.key_select_plain = "SELECT NULL, %s FROM %s" % (", ".join(parts), table)

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
        while True:
            rows = cursor.fetchmany(FETCH_ROWS)
            if not rows:
                break
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
    """A file-like object for cursor.copy_expert(): read() hands over the chunks that consistency_check's
    Prefetch thread makes (it reads SQLite while COPY sends the previous chunks; at most QUEUE_DEPTH wait)."""

    def __init__(self, chunks, cancel):
        self.cancel = cancel
        self.failure = None  # what the producer raised (psycopg2 reports it only as "error in .read() call")
        self.prefetch = content_compare.Prefetch(([chunk] for chunk in chunks), depth=QUEUE_DEPTH)
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
        while True:
            if cancel.is_set():
                raise Cancelled()
            rows = cursor.fetchmany(batch_rows)
            if not rows:
                break
            read += len(rows)
            todo = [table.keyed_lines(rows)]
            while todo:
                part = todo.pop()
                cur.execute("SAVEPOINT " + SAVEPOINT)
                try:
                    cur.copy_expert(copy_sql, io.BytesIO(b"".join(line for _key, line in part)))
                except ROW_ERRORS as error:
                    cur.execute("ROLLBACK TO SAVEPOINT " + SAVEPOINT)
                    if len(part) == 1:
                        rejected.append((part[0][0], describe_error(error)))
                    else:
                        middle = len(part) // 2
                        todo += [part[middle:], part[:middle]]
                    continue
                cur.execute("RELEASE SAVEPOINT " + SAVEPOINT)
                imported += len(part)
    conn.commit()
    reasons = ["%s=%s: %s" % (table.key_name, key, reason) if has_key else reason for key, reason in rejected]
    return read, imported, reasons[:max(0, max_reasons)], len(rejected)


def _has_key(sconn, table):
    if table.key != "rowid":
        return True
    return preflight_checks._has_rowid(sconn, table.source)


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


# ------------------------------------------------------------------------------------ foreign keys

def keys_to_drop(foreign_keys, targets):
    """The foreign keys whose table or referenced table is loaded (TRUNCATE and COPY need them gone)."""
    wanted = set(targets)
    return [fk for fk in foreign_keys if fk["table"] in wanted or fk["ref_table"] in wanted]


def not_valid_definition(definition):
    return definition if definition.endswith(" NOT VALID") else definition + " NOT VALID"


def drop_foreign_keys(conn, schema, keys, queries):
    with conn.cursor() as cur:
        for fk in keys:
            statement = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                quote_qualified(schema, fk["table"]), sql.Identifier(fk["name"]))
            queries.append(statement.as_string(conn))
            cur.execute(statement)
    conn.commit()


def add_foreign_keys_not_valid(conn, schema, keys, queries):
    """Re-add KEYS as NOT VALID (no scan, cannot fail on data); one transaction."""
    with conn.cursor() as cur:
        for fk in keys:
            statement = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                quote_qualified(schema, fk["table"]), sql.Identifier(fk["name"])) + sql.SQL(
                not_valid_definition(fk["definition"]))
            queries.append(statement.as_string(conn))
            cur.execute(statement)
    conn.commit()


def validate_foreign_key(conn, schema, fk, queries):
    """VALIDATE one re-added key (its original was valid). Returns an error line or None."""
    statement = sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
        quote_qualified(schema, fk["table"]), sql.Identifier(fk["name"]))
    queries.append(statement.as_string(conn))
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.commit()
    except psycopg2.Error as error:
        conn.rollback()
        return "foreign key %s: %s" % (fk["name"], describe_error(error))
    return None


# ------------------------------------------------------------------------------------ the load

class _Workers(object):
    """Worker threads taking tasks from one queue until it is empty, one fails, or they are stopped."""

    def __init__(self, tasks, count, run_task, connections):
        self.tasks = queue.Queue()
        for task in tasks:
            self.tasks.put(task)
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.run_task = run_task
        self.connections = connections  # (PostgreSQL, SQLite) per worker
        self.threads = []
        for index in range(count):
            thread = threading.Thread(target=self._work, args=(index,), name="pgmigrate-copy-%d" % index)
            thread.daemon = True  # a worker stuck in a C call must not keep the module alive
            self.threads.append(thread)

    def _work(self, index):
        conn = self.connections[index][0]
        while not self.cancel.is_set():
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                return
            try:
                self.run_task(index, task)
            except BaseException as error:  # pylint: disable=broad-except
                _rollback_quietly(conn)  # in this thread: the connection is never shared
                if not self.cancel.is_set():  # else: stopped (psycopg2 turns read()'s Cancelled into an error)
                    with self.lock:
                        self.failures.append((task, error))
                    self.cancel.set()
                return

    def run(self, deadline):
        """Start, wait; True when DEADLINE (monotonic) passed and the workers were stopped."""
        for thread in self.threads:
            thread.start()
        for thread in self.threads:
            while thread.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    self.stop()
                    return True
                thread.join(0.2)
        return False

    def stop(self, grace=10.0):
        """The flag (read() raises), a cancel request to PostgreSQL, an interrupt to SQLite; then wait."""
        self.cancel.set()
        for conn, sconn in self.connections:
            for action in (conn.cancel, sconn.interrupt):
                try:
                    action()
                except Exception:  # pylint: disable=broad-except
                    pass
        end = time.monotonic() + grace
        for thread in self.threads:
            thread.join(max(0.0, end - time.monotonic()))

    def stuck(self):
        return [thread.name for thread in self.threads if thread.is_alive()]


def _error_text(error):
    if isinstance(error, psycopg2.Error):
        return describe_error(error)
    return "%s: %s" % (type(error).__name__, error)


def load(connect, open_sqlite, schema, entries, foreign_keys, workers=4, batch_rows=10000, timeout=0,
         settings=None, max_reasons=5):
    """Load ENTRIES (planned tables) with COPY; returns the outcome the module verifies.

    CONNECT() gives a new psycopg2 connection (not autocommit), OPEN_SQLITE() a new read-only
    SQLite connection (text as bytes). FOREIGN_KEYS are the target's keys before the load
    (catalog.foreign_keys). Raises CopyError when a table fails as a whole or TIMEOUT seconds
    pass; its .outcome holds what is known then. Either way the dropped foreign keys exist again.

    Outcome: {reported: {target: {read, imported, errors, seconds}}, reject_reasons: {source: [...]},
    errors: [lines], queries: [...], seconds, foreign_keys_not_valid: [names re-added NOT VALID only]}.
    """
    started = time.monotonic()
    deadline = started + timeout if timeout and timeout > 0 else None
    tables = sorted((TableCopy(entry, schema) for entry in entries), key=lambda t: -(t.rows or 0))
    count = max(1, min(workers, len(tables)))
    queries, errors = [], []
    outcome = {"reported": {}, "reject_reasons": {}, "errors": errors, "queries": queries,
               "foreign_keys_not_valid": []}
    control = connect()
    connections = []
    keys = keys_to_drop(foreign_keys, [t.target for t in tables])
    dropped = []  # the keys gone from the target until they are re-added
    try:
        for _index in range(count):
            connections.append((connect(), open_sqlite()))
        try:
            prepare_session(control, None, settings)  # the foreign keys' DDL: names resolve as they were printed
            for conn, _sconn in connections:
                prepare_session(conn, schema, settings)
        except psycopg2.Error as error:
            raise CopyError("cannot prepare the loading sessions (check settings): %s" % describe_error(error),
                            partial=False)
        if keys:
            _key_ddl(control, deadline, drop_foreign_keys, schema, keys, queries,
                     "cannot drop the foreign keys for the load", partial=False)
            dropped = keys
        per_worker = [[] for _index in range(count)]
        reports = {}

        def copy_task(index, table):
            conn, sconn = connections[index]
            reports[table.target] = load_table(conn, sconn, table, pool.cancel, batch_rows, max_reasons,
                                               per_worker[index])

        pool = _Workers(tables, count, copy_task, connections)
        timed_out = pool.run(deadline)
        for table in tables:
            report = reports.get(table.target)
            if report is not None:
                outcome["reported"][table.target] = dict(
                    (key, report[key]) for key in ("read", "imported", "errors", "seconds"))
                if report["reasons"]:
                    outcome["reject_reasons"][table.source] = report["reasons"]
        for worker_queries in per_worker:
            queries += worker_queries
        if timed_out:
            errors += ["still running when stopped: %s" % ", ".join(pool.stuck())] if pool.stuck() else []
            raise CopyError("the copy engine did not finish within timeout=%d seconds and was stopped" % timeout,
                            timed_out=True)
        if pool.failures:
            table, error = pool.failures[0]
            errors.append("%s: %s" % (table.source, _error_text(error)))
            raise CopyError("the copy engine could not load table %s: %s" % (table.source, _error_text(error)),
                            table=table.source)
        if dropped:
            # every table is in: the keys come back NOT VALID at once, then are validated in parallel
            _key_ddl(control, deadline, add_foreign_keys_not_valid, schema, dropped, queries,
                     "every table is loaded, but the foreign keys cannot be re-added")
            dropped = []
            errors += validate_foreign_keys(connections, schema, keys, deadline, queries, count, outcome)
        return outcome
    except CopyError as error:
        error.outcome = outcome
        raise
    finally:
        if dropped:
            _restore_after_failure(control, schema, dropped, queries, outcome)
        outcome["seconds"] = round(time.monotonic() - started, 3)
        for conn, sconn in connections:
            _close_quietly(conn)
            _close_quietly(sconn)
        _close_quietly(control)


def validate_foreign_keys(connections, schema, keys, deadline, queries, count, outcome):
    """VALIDATE the re-added keys whose original was valid, on the worker connections; error lines."""
    failed, validated, per_worker = [], [], [[] for _index in range(count)]
    wanted = [fk for fk in keys if not fk["definition"].endswith(" NOT VALID")]

    def validate_task(index, fk):
        error = validate_foreign_key(connections[index][0], schema, fk, per_worker[index])
        if error:
            failed.append(error)
        else:
            validated.append(fk["name"])

    pool = _Workers(wanted, count, validate_task, connections)
    timed_out = pool.run(deadline)
    for worker_queries in per_worker:
        queries += worker_queries
    if timed_out:
        outcome["foreign_keys_not_valid"] = [fk["name"] for fk in wanted if fk["name"] not in validated]
        raise CopyError("the copy engine did not finish validating the foreign keys within the timeout and was "
                        "stopped", timed_out=True)
    return sorted(failed)


def _key_ddl(control, deadline, action, schema, keys, queries, what, partial=True):
    """ACTION (drop or re-add KEYS) on the control connection, waiting for locks until DEADLINE at most."""
    try:
        bound_locks(control, deadline)
        action(control, schema, keys, queries)
    except psycopg2.Error as error:
        _rollback_quietly(control)
        raise CopyError("%s: %s" % (what, describe_error(error)),
                        timed_out=deadline is not None and time.monotonic() >= deadline, partial=partial)


def bound_locks(conn, deadline):
    """DDL of the main thread waits for locks no longer than the deadline (the workers are cancelled instead)."""
    with conn.cursor() as cur:
        if deadline is None:
            cur.execute("SET lock_timeout = 0")
        else:
            cur.execute("SELECT set_config('lock_timeout', %s, false)",
                        ("%dms" % max(1, int((deadline - time.monotonic()) * 1000)),))
    conn.commit()


def _restore_after_failure(control, schema, keys, queries, outcome):
    """After a failure or the deadline: the dropped keys exist again, NOT VALID (the load is partial)."""
    try:
        _rollback_quietly(control)
        with control.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
        control.commit()
        add_foreign_keys_not_valid(control, schema, keys, queries)
        outcome["foreign_keys_not_valid"] = [fk["name"] for fk in keys]
    except Exception as error:  # pylint: disable=broad-except
        _rollback_quietly(control)
        outcome["foreign_keys_lost"] = [fk["name"] for fk in keys]
        outcome["errors"].insert(0, "the foreign keys dropped for the load could not be re-added: %s; their "
                                    "definitions: %s" % (_error_text(error), "; ".join(
                                        "%s.%s %s" % (fk["table"], fk["name"], fk["definition"]) for fk in keys)))


def prepare_session(conn, schema, settings):
    """UTF-8, UTC (Django stores naive UTC text), the schema first (SCHEMA None: the role's own
    search_path, in which pg_get_constraintdef() printed the foreign keys), then the user's settings."""
    conn.set_client_encoding("UTF8")
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('timezone', 'UTC', false)")
        if schema is not None:
            cur.execute("SELECT set_config('search_path', %s, false)", (sql.Identifier(schema).as_string(conn),))
        for name, value in sorted((settings or {}).items()):
            if name.lower() in ("timezone", "search_path"):
                continue
            cur.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
    conn.commit()


def _rollback_quietly(conn):
    try:
        conn.rollback()
    except Exception:  # pylint: disable=broad-except
        pass


def _close_quietly(conn):
    try:
        conn.close()
    except Exception:  # pylint: disable=broad-except
        pass


def plan_text(entries, schema, conn):
    """The statements the engine runs per table (check mode shows them instead of a load file)."""
    lines = []
    for entry in entries:
        table = TableCopy(entry, schema)
        lines.append("%s; %s  -- %s rows from SQLite table %s" % (
            table.truncate_statement().as_string(conn), table.copy_statement().as_string(conn),
            table.rows, sqlite_source.quote_ident(table.source)))
    return "\n".join(lines) + ("\n" if lines else "")
