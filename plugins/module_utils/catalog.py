# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the PostgreSQL target looks like (from pg_catalog), and how its names map to SQLite's.

Every query takes names as bound parameters: identifiers are never formatted into SQL.
"""

from __future__ import annotations


def target_tables(cur, schema):
    """Ordinary and partitioned tables of SCHEMA, sorted by name."""
    cur.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY c.relname",
        (schema,),
    )
    return [row[0] for row in cur.fetchall()]


def target_columns(cur, schema, table):
    """[{name, type, udt, notnull, max_length, identity, default}] in column order.

    `type` is format_type() (e.g. 'character varying(100)'), `udt` the base type name
    (e.g. 'varchar', 'int8', 'timestamptz'); `max_length` is n of varchar(n)/char(n) or None.
    """
    cur.execute(
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,"
        " CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END,"
        " a.attidentity, pg_catalog.pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_catalog.pg_attribute a"
        " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (schema, table),
    )
    return [
        {"name": name, "type": type_, "udt": udt, "notnull": notnull, "max_length": max_length,
         "identity": identity or "", "default": default}
        for name, type_, udt, notnull, max_length, identity, default in cur.fetchall()
    ]


def target_primary_key(cur, schema, table):
    """Primary key column names in key order ([] when the table has none)."""
    cur.execute(
        "SELECT a.attname FROM pg_catalog.pg_constraint con"
        " JOIN pg_catalog.pg_class c ON c.oid = con.conrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
        " WHERE n.nspname = %s AND c.relname = %s AND con.contype = 'p'"
        " ORDER BY k.ord",
        (schema, table),
    )
    return [row[0] for row in cur.fetchall()]


def owned_sequences(cur, schema, tables=None):
    """Sequences owned by a serial (deptype 'a') or identity (deptype 'i') column.

    [{sequence, sequence_schema, table, column, kind}] sorted by table and column.
    """
    cur.execute(
        "SELECT s.relname, sn.nspname, t.relname, a.attname,"
        " CASE d.deptype WHEN 'i' THEN 'identity' ELSE 'serial' END"
        " FROM pg_catalog.pg_depend d"
        " JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
        " JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace"
        " JOIN pg_catalog.pg_class t ON t.oid = d.refobjid"
        " JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
        " WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass"
        " AND d.deptype IN ('a', 'i') AND tn.nspname = %s"
        " ORDER BY t.relname, a.attname",
        (schema,),
    )
    found = [
        {"sequence": seq, "sequence_schema": seq_schema, "table": table, "column": column, "kind": kind}
        for seq, seq_schema, table, column, kind in cur.fetchall()
    ]
    if tables is not None:
        wanted = set(tables)
        found = [item for item in found if item["table"] in wanted]
    return found


def foreign_keys(cur, schema):
    """[{name, table, columns, ref_table, ref_columns, definition}] sorted by table and name."""
    cur.execute(
        "SELECT con.conname, c.relname,"
        " ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o)"
        "       JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),"
        " r.relname,"
        " ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o)"
        "       JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o),"
        " pg_catalog.pg_get_constraintdef(con.oid)"
        " FROM pg_catalog.pg_constraint con"
        " JOIN pg_catalog.pg_class c ON c.oid = con.conrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_class r ON r.oid = con.confrelid"
        " WHERE con.contype = 'f' AND n.nspname = %s"
        " ORDER BY c.relname, con.conname",
        (schema,),
    )
    return [
        {"name": name, "table": table, "columns": list(cols), "ref_table": ref_table,
         "ref_columns": list(ref_cols), "definition": definition}
        for name, table, cols, ref_table, ref_cols, definition in cur.fetchall()
    ]


def match_names(source_names, target_names):
    """Pair SQLite names with PostgreSQL names.

    An exact match wins; otherwise a case-insensitive match when it is unambiguous
    (pgloader and Django both fold to lower case; Chinook keeps `Album`).
    Returns (pairs [(source, target)], source_only, target_only), each sorted.
    """
    targets = set(target_names)
    by_folded = {}
    for name in target_names:
        by_folded.setdefault(name.lower(), []).append(name)
    pairs, source_only, used = [], [], set()
    for name in sorted(source_names):
        if name in targets and name not in used:
            match = name
        else:
            candidates = [t for t in by_folded.get(name.lower(), []) if t not in used and t not in source_names]
            match = candidates[0] if len(candidates) == 1 else None
        if match is None:
            source_only.append(name)
        else:
            pairs.append((name, match))
            used.add(match)
    target_only = sorted(t for t in target_names if t not in used)
    return pairs, source_only, target_only
