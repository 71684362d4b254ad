# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The limits of change capture, found before it is installed (the preflight of the online strategy).

Each limit is {table, limit, detail, handling}: what it is and how apply_changes deals with it, so a
limit is named while the app serves instead of being discovered in the downtime.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import sqlite_source

REPLACE = "replace_deletes_without_trigger"
WITHOUT_ROWID = "without_rowid"
NO_PRIMARY_KEY = "no_primary_key"
INEXACT_KEY = "inexact_key_type"
LARGE_RECOPY = "large_recopy"
LOG_GROWTH = "change_log_growth"


def _limit(table, limit, detail, handling):
    return {"table": table, "limit": limit, "detail": detail, "handling": handling}


def _unique_text(unique):
    return "; ".join("(%s)" % ", ".join(c if c is not None else "<expression>" for c in cols) for cols in unique)


def table_limits(conn, table, recopy_limit_rows):
    """The limits of one described table (change_log.describe_table)."""
    name, found = table["name"], []
    if table["unique"]:
        found.append(_limit(
            name, REPLACE,
            "UNIQUE %s besides the primary key: INSERT OR REPLACE, UPDATE OR REPLACE or a REPLACE conflict "
            "resolution deletes the conflicting row without firing the delete trigger (the app's connections do "
            "not set recursive_triggers)" % _unique_text(table["unique"]),
            "caught by apply_changes: a row count that differs, or an upsert that meets a unique conflict, makes it "
            "reconcile the key set of this table (every key of the table read on both sides in key order, rows "
            "SQLite no longer has deleted, missing rows re-read), then verify again"))
    if table["without_rowid"]:
        found.append(_limit(
            name, WITHOUT_ROWID, "WITHOUT ROWID table: it has a primary key (%s)" % ", ".join(table["key_columns"]),
            "captured by its primary key like any other table (no rowid is needed)"))
    if table["key_kind"] == "rowid":
        rows = sqlite_source.count_rows(conn, name)
        found.append(_limit(
            name, NO_PRIMARY_KEY, "no primary key (%d rows): changes are captured by rowid, which PostgreSQL does "
            "not have" % rows,
            "when any change of it is logged, the table is re-copied whole in the downtime (DELETE and COPY in "
            "the apply transaction)"))
        if rows > recopy_limit_rows:
            found.append(_limit(
                name, LARGE_RECOPY, "%d rows without a primary key, more than recopy_limit_rows=%d" % (
                    rows, recopy_limit_rows),
                "re-copied whole if it changes during the window: the downtime grows with its size; give it a "
                "primary key, keep writers off it, or use the offline strategy"))
    if table["key_kind"] == "pk" and table["inexact_key"]:
        found.append(_limit(
            name, INEXACT_KEY, "primary key column(s) %s may hold REAL or BLOB values, which a JSON key cannot carry "
            "exactly" % ", ".join(table["inexact_key"]),
            "a change whose key value is a REAL or a BLOB is logged without a key; the table is then re-copied "
            "whole in the downtime"))
    return found


def all_limits(conn, tables, recopy_limit_rows):
    """The limits of every captured table, then the one of the change log itself."""
    found = []
    for table in tables:
        found += table_limits(conn, table, recopy_limit_rows)
    found.append(_limit(
        None, LOG_GROWTH,
        "every write to a captured table adds a row to pgmigrate_change_log in the same transaction; the log "
        "only drains in the downtime, where apply_changes re-reads each distinct changed key",
        "state=status returns pending_changes; the downtime grows with the distinct keys changed since the "
        "snapshot (not with the database): keep the window between snapshot and stop short"))
    return found
