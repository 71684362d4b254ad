# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Change capture in the live SQLite file (the online strategy): the change log and its triggers.

Every selected table gets three triggers, AFTER INSERT/UPDATE/DELETE, that write the table name
and the row's key (a JSON array of its primary key values, or [rowid] for a rowid table without
one) into ``pgmigrate_change_log``, in the app's own transaction: a change and its log row commit
or roll back together, and ``seq`` (AUTOINCREMENT, one writer at a time) follows commit order. So a
snapshot taken by the online backup API holds exactly the log rows up to its own max(seq): the
watermark after which apply_changes re-reads the logged keys.

A key value that is a REAL or a BLOB is logged as NULL (a JSON array cannot carry a BLOB, and a
REAL key read back from JSON may be another double): the table is then re-copied whole.
Nothing here writes to an app table; SQLite internals, virtual and shadow tables are never captured.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3

from ansible_collections.pgmigrate.django.plugins.module_utils import sqlite_source, table_selection
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident, text

LOG_TABLE = "pgmigrate_change_log"
TRIGGER_PREFIX = "pgmigrate_capture_"
LOG_DDL = ("CREATE TABLE %s (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, key TEXT, "
           "op TEXT NOT NULL)" % LOG_TABLE)
OPS = (("insert", "INSERT"), ("update", "UPDATE"), ("delete", "DELETE"))
DEFAULT_EXCLUDE = ("django_migrations",)


class CaptureError(ModuleError):
    """The change capture cannot be set up, read or removed; the message says why and what to do."""


def is_own_object(name):
    """True for the change log and the capture triggers (never copied, never fingerprinted)."""
    return name == LOG_TABLE or name.startswith(TRIGGER_PREFIX)


# ---------------------------------------------------------------- the file

def open_live(path, busy_timeout):
    """The live SQLite file for writing (never created); waits up to BUSY_TIMEOUT seconds for the app's
    writers. Autocommit mode: transactions are begun explicitly. Run as root, SQLite gives the journal and
    WAL files it creates the database file's owner (measured with SQLite 3.40), so the app can still write."""
    sqlite_source.check_source_file(path)
    if not os.access(path, os.W_OK) or not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        raise CaptureError("SQLite file %s (or its directory, for the journal) is not writable by this user: run "
                           "the task as the app's user (become_user)" % path)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise CaptureError("cannot open SQLite file %s: %s" % (path, error))
    return conn


def fingerprint(conn):
    """sha256 of the schema (sqlite_master) without SQLite's own tables and without the capture's objects:
    equal before and after the capture, different after any migrate."""
    digest = hashlib.sha256()
    rows = conn.execute("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master "
                        "ORDER BY type, name").fetchall()
    for row in rows:
        values = [text(value) for value in row]
        if values[1].startswith("sqlite_") or is_own_object(values[1]):
            continue
        digest.update(("\x1f".join(values) + "\x1e").encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# ---------------------------------------------------------------- the tables

def describe_table(conn, name):
    """{name, key_columns, key_kind (pk | rowid), without_rowid, unique} of one table."""
    columns = sqlite_source.table_columns(conn, name)
    key = sqlite_source.primary_key(columns)
    without_rowid = not sqlite_source.has_rowid(conn, name)
    return {"name": name, "key_columns": key or ["rowid"], "key_kind": "pk" if key else "rowid",
            "without_rowid": without_rowid, "unique": unique_indexes(conn, name),
            "inexact_key": [c["name"] for c in columns if c["pk"] and _inexact_affinity(c["type"])]}


def _inexact_affinity(declared):
    declared = (declared or "").upper()
    if "INT" in declared or "CHAR" in declared or "CLOB" in declared or "TEXT" in declared:
        return False
    return True  # BLOB, REAL, none, or NUMERIC (which keeps 1.5 a REAL)


def unique_indexes(conn, table):
    """[[columns]] of the UNIQUE constraints and indexes other than the primary key ([None] in a list:
    an expression)."""
    found = []
    for row in conn.execute("PRAGMA index_list(%s)" % quote_ident(table)).fetchall():
        name, unique, origin = text(row[1]), row[2], text(row[3])
        if not unique or origin == "pk":
            continue
        info = conn.execute("PRAGMA index_info(%s)" % quote_ident(name)).fetchall()
        found.append([text(item[2]) if item[2] is not None else None for item in info])
    return found


def selected_tables(conn, include, exclude):
    """The tables to capture by the table-selection rule (SQLite internals, virtual and shadow tables and
    the capture's own log are never captured), each described."""
    tables, skipped = sqlite_source.list_tables(conn)
    tables = [name for name in tables if not is_own_object(name)]
    known = tables + [item["name"] for item in skipped]
    where = "the SQLite file"
    include = table_selection.resolve("include_tables", include, known, where)
    exclude = table_selection.resolve("exclude_tables", exclude, known, where, tolerated=DEFAULT_EXCLUDE)
    chosen = [pair[0] for pair in table_selection.select([(n, n) for n in tables], include, exclude)]
    return [describe_table(conn, name) for name in chosen]


# ---------------------------------------------------------------- the triggers

def _literal(value):
    return "'%s'" % value.replace("'", "''")


def key_expression(table, row):
    """SQL giving the JSON key of ROW (NEW or OLD) of TABLE, or NULL when a key value is REAL or BLOB."""
    if table["key_kind"] == "rowid":
        return "json_array(%s.rowid)" % row
    values = ["%s.%s" % (row, quote_ident(column)) for column in table["key_columns"]]
    inexact = " OR ".join("typeof(%s) IN ('real', 'blob')" % value for value in values)
    return "CASE WHEN %s THEN NULL ELSE json_array(%s) END" % (inexact, ", ".join(values))


def key_changed(table):
    columns = ["rowid"] if table["key_kind"] == "rowid" else [quote_ident(c) for c in table["key_columns"]]
    return " OR ".join("NEW.%s IS NOT OLD.%s" % (column, column) for column in columns)


def trigger_name(table, op):
    return "%s%s_%s" % (TRIGGER_PREFIX, op, table["name"])


def trigger_sql(table, op):
    """The CREATE TRIGGER statement of one operation (insert, update, delete) on TABLE."""
    insert = "INSERT INTO %s (table_name, key, op) " % LOG_TABLE
    name = _literal(table["name"])
    if op == "insert":
        body = "%sVALUES (%s, %s, 'I');" % (insert, name, key_expression(table, "NEW"))
    elif op == "delete":
        body = "%sVALUES (%s, %s, 'D');" % (insert, name, key_expression(table, "OLD"))
    else:
        body = "%sVALUES (%s, %s, 'U'); %sSELECT %s, %s, 'U' WHERE %s;" % (
            insert, name, key_expression(table, "OLD"), insert, name, key_expression(table, "NEW"),
            key_changed(table))
    return "CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW BEGIN %s END" % (
        quote_ident(trigger_name(table, op)), dict(OPS)[op], quote_ident(table["name"]), body)


def desired_objects(tables):
    """{name: (type, CREATE statement)} of the log table and every trigger for TABLES."""
    wanted = {LOG_TABLE: ("table", LOG_DDL)}
    for table in tables:
        for op, _word in OPS:
            wanted[trigger_name(table, op)] = ("trigger", trigger_sql(table, op))
    return wanted


def existing_objects(conn):
    """{name: (type, sql)} of the capture's objects in the file."""
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')").fetchall()
    return {text(name): (text(kind), text(ddl)) for kind, name, ddl in rows if is_own_object(text(name))}


def plan_changes(existing, wanted):
    """(names to drop, names to create) to go from EXISTING to WANTED objects."""
    drop = sorted(name for name in existing if existing[name] != wanted.get(name))
    create = sorted((name for name in wanted if existing.get(name) != wanted[name]),
                    key=lambda name: (wanted[name][0] != "table", name))  # the log before its triggers
    return drop, create


def drop_statement(name, kind):
    return "DROP %s IF EXISTS %s" % ("TABLE" if kind == "table" else "TRIGGER", quote_ident(name))


def apply_in_one_transaction(conn, path, statements):
    """STATEMENTS in one BEGIN IMMEDIATE transaction (waits for the app's writer up to the busy timeout)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise CaptureError("cannot start a write transaction on %s: %s (the app held its write lock longer than "
                           "busy_timeout: raise it, or retry when the app is less busy); nothing was changed"
                           % (path, error))
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute("COMMIT")
    except sqlite3.Error as error:
        conn.execute("ROLLBACK")
        raise CaptureError("the change capture could not be changed on %s: %s; nothing was changed" % (path, error))


# ---------------------------------------------------------------- the log

def log_state(conn):
    """(pending rows, max seq) of the change log, or (0, None) when it does not exist."""
    if LOG_TABLE not in existing_objects(conn):
        return 0, None
    count, top = conn.execute("SELECT count(*), max(seq) FROM %s" % LOG_TABLE).fetchone()
    return count, top


def watermark(path):
    """max(seq) of the change log in a snapshot file (0 when its log is empty); refuses a file without one."""
    conn = sqlite_source.open_readonly(path)
    try:
        if LOG_TABLE not in existing_objects(conn):
            raise CaptureError("snapshot %s has no %s: it was taken before the change capture was installed (or "
                               "from another file); take the snapshot after change_capture state=present"
                               % (path, LOG_TABLE))
        return conn.execute("SELECT coalesce(max(seq), 0) FROM %s" % LOG_TABLE).fetchone()[0]
    finally:
        conn.close()
