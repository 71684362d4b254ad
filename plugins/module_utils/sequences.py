# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""State of the sequences behind serial and identity columns, and what they should be after a copy.

Shared by `reset_sequences` (which moves them) and `consistency_check` (which only looks).
Identifiers go through psycopg2.sql.Identifier; catalog lookups take names as parameters.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils.catalog import (
    match_names,
    owned_sequences,
    target_primary_key,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, sql


def sequence_settings(cur, schema, name):
    """(start, increment, min_value, max_value) of sequence SCHEMA.NAME."""
    cur.execute(
        "SELECT s.seqstart, s.seqincrement, s.seqmin, s.seqmax, pg_catalog.pg_has_role(c.relowner, 'USAGE')"
        " FROM pg_catalog.pg_sequence s"
        " JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    )
    return cur.fetchone()


def next_value(last_value, is_called, increment):
    """The value nextval() hands out next."""
    return last_value + increment if is_called else last_value


def sqlite_values_by_table(sqlite_sequences, target_tables):
    """{PostgreSQL table: sqlite_sequence value}, SQLite names paired with match_names()."""
    pairs, _source_only, _target_only = match_names(list(sqlite_sequences), list(target_tables))
    return dict((target, sqlite_sequences[source]) for source, target in pairs)


def sequence_states(cur, schema, tables=None, sqlite_values=None):
    """Every sequence owned by a serial or identity column of SCHEMA (optionally only TABLES).

    SQLITE_VALUES maps PostgreSQL table names to their sqlite_sequence value; it counts for
    the sequence of the table's single-column primary key only (SQLite's AUTOINCREMENT is the
    rowid). Returns dicts with the catalog facts, the current state and the wanted state:
    `wanted_last` (the value to set, None for an empty table: restart at `start`) and
    `wanted_next` (what nextval() should hand out next).
    """
    sqlite_values = sqlite_values or {}
    states = []
    primary_keys = {}
    for item in owned_sequences(cur, schema, tables):
        start, increment, min_value, max_value, owned = sequence_settings(
            cur, item["sequence_schema"], item["sequence"])
        seq = quote_qualified(item["sequence_schema"], item["sequence"])
        cur.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(seq))
        last_value, is_called = cur.fetchone()
        aggregate = sql.SQL("max") if increment > 0 else sql.SQL("min")
        cur.execute(sql.SQL("SELECT {}({}) FROM {}").format(
            aggregate, sql.Identifier(item["column"]), quote_qualified(schema, item["table"])))
        column_max = cur.fetchone()[0]
        if item["table"] not in primary_keys:
            primary_keys[item["table"]] = target_primary_key(cur, schema, item["table"])
        sqlite_value = None
        if primary_keys[item["table"]] == [item["column"]]:
            sqlite_value = sqlite_values.get(item["table"])
        floor = _floor(column_max, sqlite_value, increment)
        if floor is None:
            wanted_last, wanted_next = None, start
        else:
            wanted_last, wanted_next = floor, floor + increment
            if (increment > 0 and wanted_next < start) or (increment < 0 and wanted_next > start):
                # Ids below the sequence's start (0, negatives): keep handing out from start.
                wanted_last, wanted_next = None, start
        current_next = next_value(last_value, is_called, increment)
        state = dict(item)
        state.update(
            qualified="%s.%s" % (item["sequence_schema"], item["sequence"]),
            start=start, increment=increment, min_value=min_value, max_value=max_value, owned=bool(owned),
            last_value=last_value, is_called=is_called, next_value=current_next,
            column_max=_plain(column_max), sqlite_sequence=sqlite_value,
            wanted_last=wanted_last, wanted_next=wanted_next,
            fits=min_value <= wanted_next <= max_value,
            behind=_behind(current_next, column_max, sqlite_value, increment),
        )
        states.append(state)
    return states


def _floor(column_max, sqlite_value, increment):
    values = [v for v in (column_max, sqlite_value) if v is not None]
    if not values:
        return None
    return int(max(values) if increment > 0 else min(values))


def _behind(current_next, column_max, sqlite_value, increment):
    """Why the next value would collide or reuse an id, or None when it is safe."""
    if increment > 0:
        if column_max is not None and current_next <= column_max:
            return "next value %s <= max(id) %s" % (current_next, column_max)
        if sqlite_value is not None and current_next <= sqlite_value:
            return "next value %s <= sqlite_sequence %s (deleted ids would be reused)" % (current_next, sqlite_value)
    else:
        if column_max is not None and current_next >= column_max:
            return "next value %s >= min(id) %s (descending sequence)" % (current_next, column_max)
    return None


def _plain(value):
    return int(value) if value is not None else None


def restart_statements(state):
    """The SQL that gives STATE its wanted value, in one transaction and transactionally.

    ALTER SEQUENCE ... RESTART rewrites the sequence in this transaction (setval() alone is not
    undone by a rollback); the setval() that follows only touches the new, still uncommitted
    relation, so a rollback restores the old state entirely.
    """
    seq = quote_qualified(state["sequence_schema"], state["sequence"])
    if state["wanted_last"] is None:
        return [(sql.SQL("ALTER SEQUENCE {} RESTART").format(seq), None)]
    return [
        (sql.SQL("ALTER SEQUENCE {} RESTART WITH {}").format(seq, sql.Literal(state["wanted_last"])), None),
        (sql.SQL("SELECT pg_catalog.setval(c.oid::regclass, %s, true) FROM pg_catalog.pg_class c"
                 " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s"),
         (state["wanted_last"], state["sequence_schema"], state["sequence"])),
    ]
