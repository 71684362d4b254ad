# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading the SQLite source: opened read-only, never created, internals skipped."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from urllib.parse import quote

from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError

SQLITE_HEADER = b"SQLite format 3\x00"
# Shadow tables that FTS3/4/5 and R*Tree virtual tables keep their data in.
SHADOW_SUFFIXES = ("_content", "_segments", "_segdir", "_docsize", "_stat", "_data", "_idx", "_config",
                   "_node", "_parent", "_rowid")


class SourceError(ModuleError):
    """The SQLite source cannot be used; the message says why and what to do."""


def quote_ident(name):
    """SQLite identifier quoting: double quotes, embedded quotes doubled."""
    return '"%s"' % name.replace('"', '""')


def check_source_file(path):
    """Fail with a clear message unless PATH is an existing, readable SQLite database file."""
    if not path:
        raise SourceError("source is empty: give the path of the SQLite database file")
    if not os.path.exists(path):
        raise SourceError("SQLite file %s does not exist: check `source` (nothing was created)" % path)
    if not os.path.isfile(path):
        raise SourceError("SQLite source %s is not a regular file" % path)
    if not os.access(path, os.R_OK):
        raise SourceError("SQLite file %s is not readable by this user" % path)
    with open(path, "rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise SourceError("%s is not a SQLite 3 database (bad header): check `source`" % path)


def open_readonly(path, raw_text=False):
    """Open PATH read-only (mode=ro: a missing file is never created).

    With raw_text, TEXT values come back as bytes so invalid UTF-8 can be inspected
    instead of raising in the middle of a scan.
    """
    check_source_file(path)
    uri = "file:%s?mode=ro" % quote(os.path.abspath(path))
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        if raw_text:
            conn.text_factory = bytes
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise SourceError("cannot read SQLite file %s: %s (is it corrupt or not a database?)" % (path, error))
    return conn


@contextlib.contextmanager
def reading(path):
    """SQLite errors while reading PATH become one clear ModuleError."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        raise SourceError("cannot read the SQLite file %s: %s (is it corrupt? check it with `sqlite3 FILE "
                          "'PRAGMA integrity_check'`)" % (path, error))


# Tables of the collection's own that live in the app's SQLite file and are never data to copy,
# compare or sequence: name -> why. Add one line here for another internal table.
INTERNAL_TABLES = {}


def list_tables(conn):
    """(tables to copy, skipped tables as dicts with name and reason), both sorted by name.

    The one place that decides which SQLite tables are never copied: every module (preflight, both
    load engines, sequences, the consistency check) goes through it. Skipped are SQLite's own
    tables, INTERNAL_TABLES, virtual tables of any module (FTS3/4/5, R*Tree, ...) and their shadow
    tables: the virtual table's name plus a known suffix, or what SQLite itself reports as a
    shadow table (PRAGMA table_list, SQLite 3.37+, for modules whose suffixes are not known here).
    """
    rows = conn.execute(
        "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ).fetchall()
    rows = [(text(name), text(ddl)) for name, ddl in rows]
    virtual = {name for name, ddl in rows if ddl.lstrip().upper().startswith("CREATE VIRTUAL TABLE")}
    shadow = _reported_shadow_tables(conn)
    tables, skipped = [], []
    for name, _ddl in rows:
        reason = _skip_reason(name, virtual, shadow)
        if reason:
            skipped.append({"name": name, "reason": reason})
        else:
            tables.append(name)
    return tables, skipped


def skipped_names(conn):
    """The names list_tables skips (never copied, compared or sequenced)."""
    return [item["name"] for item in list_tables(conn)[1]]


def _skip_reason(name, virtual, shadow):
    if name.startswith("sqlite_"):
        return "SQLite internal table"
    if name in INTERNAL_TABLES:
        return INTERNAL_TABLES[name]
    if name in virtual:
        return "virtual table (FTS/R*Tree): rebuild it in PostgreSQL"
    owner = [base for base in virtual for suffix in SHADOW_SUFFIXES if name == base + suffix]
    if owner:
        return "shadow table of the virtual table %s" % owner[0]
    if name in shadow:
        return "shadow table of a virtual table"
    return None


def _reported_shadow_tables(conn):
    """Names SQLite reports as shadow tables (empty before SQLite 3.37, which has no PRAGMA table_list)."""
    try:
        rows = conn.execute("PRAGMA main.table_list").fetchall()
    except sqlite3.DatabaseError:
        return set()
    return {text(row[1]) for row in rows if text(row[2]) == "shadow"}


def table_columns(conn, table):
    """[{name, type, notnull, pk}] in column order; pk is the position in the primary key (0 = not)."""
    rows = conn.execute("PRAGMA table_info(%s)" % quote_ident(table)).fetchall()
    return [
        {"name": text(row[1]), "type": text(row[2] or "").lower(), "notnull": bool(row[3]), "pk": int(row[5])}
        for row in rows
    ]


def primary_key(columns):
    return [col["name"] for col in sorted((c for c in columns if c["pk"]), key=lambda c: c["pk"])]


def count_rows(conn, table):
    return conn.execute("SELECT count(*) FROM %s" % quote_ident(table)).fetchone()[0]


def sqlite_sequences(conn):
    """{table: value} from sqlite_sequence (empty when no AUTOINCREMENT table exists)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).fetchone()
    if not exists:
        return {}
    return {text(name): int(seq) for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence")}


def text(value, errors="replace"):
    """A SQLite TEXT value read as bytes (text_factory=bytes) as str. Names and messages use "replace";
    values that are compared use "surrogateescape", so invalid UTF-8 stays distinct."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors)
    return value


def row_key(columns):
    """(SQL expression, name) identifying a row of a table with COLUMNS: its one-column primary key,
    else the rowid (see has_rowid)."""
    pk = primary_key(columns)
    if len(pk) == 1:
        return quote_ident(pk[0]), pk[0]
    return "rowid", "rowid"


def has_rowid(conn, table):
    """False for a WITHOUT ROWID table."""
    try:
        conn.execute("SELECT rowid FROM %s LIMIT 0" % quote_ident(table))
        return True
    except sqlite3.OperationalError:
        return False
