# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Moving the sequences of serial and identity columns past the copied ids (no AnsibleModule).

The one implementation behind `reset_sequences` (its own transaction, `reset()`) and
`apply_changes reset_sequences=true` (inside the apply's open transaction, `move()`, so the rows
and the sequences are committed together or not at all). The rules themselves (what a sequence
should be, the SQL that gets it there) are sequences.py's.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import table_selection
from ansible_collections.pgmigrate.django.plugins.module_utils.catalog import target_tables
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sequences import (
    restart_statements, sequence_states, sqlite_values_by_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import (
    list_tables, open_readonly, sqlite_sequences,
)

LOCK_TIMEOUT = "30s"
FAILED = "Resetting the sequences failed, nothing was changed: %s"


def read_source(path):
    """({SQLite table: sqlite_sequence value}, every SQLite table name), or ({}, []) without a path."""
    if not path:
        return {}, []
    conn = open_readonly(path)
    try:
        return read_sqlite(conn, path)
    finally:
        conn.close()


def read_sqlite(conn, path):
    """read_source() from an open SQLite connection (a caller's read transaction)."""
    try:
        tables, skipped = list_tables(conn)
        return sqlite_sequences(conn), tables + [item["name"] for item in skipped]
    except Exception as error:  # sqlite3.Error and decoding problems alike
        raise ModuleError("Cannot read sqlite_sequence from %s: %s" % (path, error))


def check_schema(cur, params):
    cur.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (params["schema"],))
    if cur.fetchone() is None:
        raise ModuleError("Schema %r does not exist in database %r: check `schema` (nothing was changed)"
                          % (params["schema"], params["login_db"]))


def selected_tables(params, all_tables, source_tables=()):
    """The PostgreSQL tables selected by O(include_tables) and O(exclude_tables), or None for all.

    With O(source), a name of a SQLite table is known too (the same names select in every module)."""
    where = "schema %s" % params["schema"] + (" and the SQLite file" if source_tables else "")
    known = sorted(set(all_tables) | set(source_tables))
    include = table_selection.resolve("include_tables", params["include_tables"], known, where)
    # django_migrations may be named without existing, as in every module's exclude_tables
    exclude = table_selection.resolve("exclude_tables", params["exclude_tables"], known, where,
                                      tolerated=("django_migrations",))
    if not include and not exclude:
        return None
    pairs = table_selection.select([(name, name) for name in all_tables], include, exclude)
    return [name for name, _same in pairs]


def lock_tables(cur, schema, tables):
    """Keep writers out while max(id) is read and the sequences move."""
    if not tables:
        return
    cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
    names = sql.SQL(", ").join(quote_qualified(schema, table) for table in sorted(set(tables)))
    cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(names))


def refuse_impossible(params, moves):
    problems = []
    for state in moves:
        if not state["fits"]:
            problems.append("sequence %s (%s.%s) would need next value %s, outside its range %s..%s: widen the "
                            "column and its sequence (bigint)"
                            % (state["qualified"], state["table"], state["column"], state["wanted_next"],
                               state["min_value"], state["max_value"]))
        elif not state["owned"]:
            problems.append("sequence %s (%s.%s) must move from %s to %s but role %r does not own it: run as the "
                            "owner of the tables (the role that ran manage.py migrate)"
                            % (state["qualified"], state["table"], state["column"], state["next_value"],
                               state["wanted_next"], params["login_user"]))
    if problems:
        raise ModuleError("Cannot reset %d sequence(s), nothing was changed: %s"
                          % (len(problems), "; ".join(problems)), problems=problems)


def report(state, changed):
    return dict(
        sequence=state["qualified"], table=state["table"], column=state["column"], kind=state["kind"],
        before=state["next_value"], after=state["wanted_next"] if changed else state["next_value"],
        column_max=state["column_max"], sqlite_sequence=state["sqlite_sequence"], changed=changed,
    )


def _moves(states):
    return [state for state in states if state["next_value"] != state["wanted_next"]]


def move(cur, params, sqlite_values_by_name, check_mode, source_tables=()):
    """Bring the selected sequences up to their column's max and sqlite_sequence, in the transaction CUR is
    in; never commits nor rolls back (the caller does, or rolls back on the ModuleError of an impossible
    move). In check mode only reads. dict(sequences, executed_queries, changed_count, diff)."""
    schema = params["schema"]
    check_schema(cur, params)
    all_tables = target_tables(cur, schema)
    tables = selected_tables(params, all_tables, source_tables)
    sqlite_values = sqlite_values_by_table(sqlite_values_by_name, all_tables)
    states = sequence_states(cur, schema, tables, sqlite_values)
    moves = _moves(states)
    refuse_impossible(params, moves)
    if moves and not check_mode:
        # Read again under a lock that keeps writers out until the commit.
        lock_tables(cur, schema, [state["table"] for state in states])
        states = sequence_states(cur, schema, tables, sqlite_values)
        moves = _moves(states)
        refuse_impossible(params, moves)
    queries = []
    for state in moves:
        for statement, values in restart_statements(state):
            queries.append(cur.mogrify(statement, values).decode("utf-8"))
            if not check_mode:
                cur.execute(statement, values)
    moved = set(id(state) for state in moves)
    sequences = [report(state, id(state) in moved) for state in states]
    diff = dict(
        before="".join("%s: next %s\n" % (s["sequence"], s["before"]) for s in sequences if s["changed"]),
        after="".join("%s: next %s\n" % (s["sequence"], s["after"]) for s in sequences if s["changed"]),
    )
    return dict(sequences=sequences, executed_queries=queries, changed_count=len(moves), diff=diff)


def reset(params, conn, sqlite_values_by_name, check_mode, source_tables=()):
    """move() in a transaction of its own: committed, or rolled back in check mode."""
    result = move(conn.cursor(), params, sqlite_values_by_name, check_mode, source_tables)
    if check_mode:
        conn.rollback()
    else:
        conn.commit()
    return dict(result, changed=bool(result["changed_count"]))
