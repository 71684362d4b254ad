#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: reset_sequences
short_description: Move the sequences of serial and identity columns past the copied ids
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - After rows were copied into PostgreSQL with their ids (pgloader, C(COPY)), the sequences
    behind the id columns still stand at their start, and the first insert by the application
    fails with a duplicate key. This module moves every sequence owned by a C(serial) or
    C(identity) column (Django 4.1 and later use identity columns, which pgloader's own reset
    ignores) of O(schema) to the larger of the column maximum (C(max)) and, when O(source) is given, SQLite's
    C(sqlite_sequence) value for the table, so ids deleted at the top in SQLite are never reused.
  - A sequence of an empty table (and no C(sqlite_sequence) entry) is restarted at its start value
    (C(is_called) false), so the next insert gets the start value.
  - Every change is made in one transaction with C(ALTER SEQUENCE ... RESTART), which, unlike
    C(setval) alone, is undone by a rollback; the tables are locked against writers (C(SHARE)
    mode) while the maximum ids are read again before the change (not in check mode). Either
    all sequences move or none does.
  - A sequence counts as changed only when the value the next insert gets moves. A second run
    reports no change.
  - The module must run as a role that owns the sequences (the role that ran C(manage.py migrate)).
    When a sequence that needs to move is not owned, the module fails and changes nothing.
options:
  include_tables:
    aliases: [tables]
  exclude_tables:
    default: []
  source:
    description:
      - The SQLite database the data was copied from. Its table names are then known names for O(include_tables)
        and O(exclude_tables) too, so one list of names serves every module of a migration.
      - When given, its C(sqlite_sequence) values
        (tables with C(AUTOINCREMENT)) count for the sequence of the matching table's single-column
        primary key, so ids that SQLite already handed out are never handed out again.
    required: false
extends_documentation_fragment: [pgmigrate.django.connection, pgmigrate.django.sqlite_source,
                                 pgmigrate.django.table_selection, pgmigrate.django.attributes,
                                 pgmigrate.django.django_settings]
attributes:
  check_mode:
    support: full
    details: Reads the sequences and reports the moves and the SQL that would run; moves nothing.
  diff_mode:
    support: full
    details: The next value of every sequence that moves, before and after.
notes:
  - RV(sequences[].before) and RV(sequences[].after) are the values the next insert gets
    (C(nextval)), which is one more than the highest id in use for an ascending sequence.
  - Descending sequences (negative increment) are handled with the column minimum (C(min)).
seealso:
  - module: pgmigrate.django.pgloader
  - module: pgmigrate.django.consistency_check
  - name: PostgreSQL sequence functions
    description: C(nextval), C(setval) and C(is_called).
    link: https://www.postgresql.org/docs/current/functions-sequence.html
"""

EXAMPLES = r"""
- name: Move every id sequence past the copied rows, honouring SQLite's sqlite_sequence (on the database host)
  pgmigrate.django.reset_sequences:
    source: /srv/app/db.sqlite3
    login_unix_socket: /var/run/postgresql
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
  register: sequences

- name: Only two tables, in another schema; report what would move
  pgmigrate.django.reset_sequences:
    login_db: app
    schema: shop
    include_tables:
      - inventory_item
      - Order
  check_mode: true
"""

RETURN = r"""
django:
  description:
    - The settings of O(django) (empty without it). Sequences do not depend on them; the option is taken
      so that one registered C(pgmigrate.django.django_settings) result is passed to every module, and a
      malformed one fails here too.
  returned: always
  type: dict
  sample: {"use_tz": false, "time_zone": "Asia/Kolkata", "session_time_zone": "Asia/Kolkata"}
sequences:
  description: Every sequence looked at, sorted by table and column.
  returned: always
  type: list
  elements: dict
  contains:
    sequence:
      description: The sequence, schema-qualified.
      type: str
      sample: public.inventory_item_id_seq
    table:
      description: The table that owns it.
      type: str
      sample: inventory_item
    column:
      description: The serial or identity column.
      type: str
      sample: id
    kind:
      description: V(identity) or V(serial).
      type: str
      sample: identity
    before:
      description: The value the next insert would have got before this run.
      type: int
      sample: 1
    after:
      description: The value the next insert gets after this run (in check mode, would get).
      type: int
      sample: 500001
    column_max:
      description: The highest value in the column (lowest for a descending sequence); null when the table is empty.
      type: int
      sample: 500000
    sqlite_sequence:
      description: SQLite's C(sqlite_sequence) value for the table, or null (no O(source), no entry).
      type: int
      sample: 500000
    changed:
      description: Whether the next value moved (in check mode, would move).
      type: bool
      sample: true
  sample:
    - sequence: public.inventory_event_id_seq
      table: inventory_event
      column: id
      kind: identity
      before: 1
      after: 250001
      column_max: 249997
      sqlite_sequence: 250000
      changed: true
executed_queries:
  description: The statements run, with their values (in check mode, the statements that would run).
  returned: always
  type: list
  elements: str
  sample:
    - ALTER SEQUENCE "public"."inventory_event_id_seq" RESTART WITH 250000
    - SELECT pg_catalog.setval(c.oid::regclass, 250000, true) FROM pg_catalog.pg_class c ...
changed_count:
  description: How many sequences moved (in check mode, would move).
  returned: always
  type: int
  sample: 9
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import django_values, table_selection
from ansible_collections.pgmigrate.django.plugins.module_utils.catalog import target_tables
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, explain_error, postgres_argument_spec, psycopg2, quote_qualified, run_task, sql,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sequences import (
    restart_statements, sequence_states, sqlite_values_by_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import list_tables, open_readonly, sqlite_sequences

LOCK_TIMEOUT = "30s"


def read_source(path):
    """({SQLite table: sqlite_sequence value}, every SQLite table name), or ({}, []) without O(source)."""
    if not path:
        return {}, []
    conn = open_readonly(path)
    try:
        tables, skipped = list_tables(conn)
        return sqlite_sequences(conn), tables + [item["name"] for item in skipped]
    except Exception as error:  # sqlite3.Error and decoding problems alike
        raise ModuleError("Cannot read sqlite_sequence from %s: %s" % (path, error))
    finally:
        conn.close()


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


def reset(params, conn, sqlite_values_by_name, check_mode, source_tables=()):
    schema = params["schema"]
    cur = conn.cursor()
    check_schema(cur, params)
    all_tables = target_tables(cur, schema)
    tables = selected_tables(params, all_tables, source_tables)
    sqlite_values = sqlite_values_by_table(sqlite_values_by_name, all_tables)
    states = sequence_states(cur, schema, tables, sqlite_values)
    moves = [state for state in states if state["next_value"] != state["wanted_next"]]
    refuse_impossible(params, moves)
    if moves and not check_mode:
        # Read again under a lock that keeps writers out until the commit.
        lock_tables(cur, schema, [state["table"] for state in states])
        states = sequence_states(cur, schema, tables, sqlite_values)
        moves = [state for state in states if state["next_value"] != state["wanted_next"]]
        refuse_impossible(params, moves)
    queries = []
    for state in moves:
        for statement, params in restart_statements(state):
            queries.append(cur.mogrify(statement, params).decode("utf-8"))
            if not check_mode:
                cur.execute(statement, params)
    if check_mode:
        conn.rollback()
    else:
        conn.commit()
    moved = set(id(state) for state in moves)
    sequences = [report(state, id(state) in moved) for state in states]
    diff = dict(
        before="".join("%s: next %s\n" % (s["sequence"], s["before"]) for s in sequences if s["changed"]),
        after="".join("%s: next %s\n" % (s["sequence"], s["after"]) for s in sequences if s["changed"]),
    )
    return dict(changed=bool(moves), sequences=sequences, executed_queries=queries, changed_count=len(moves),
                diff=diff)


def run(params, check_mode):
    params = django_values.with_option(params)  # a malformed option django fails before anything is read
    sqlite_values, source_tables = read_source(params["source"])
    conn = connect(params)
    try:
        return dict(reset(params, conn, sqlite_values, check_mode, source_tables), django=django_values.summary(params))
    except psycopg2.Error as error:
        conn.rollback()
        raise ModuleError("Resetting the sequences failed, nothing was changed: %s" % explain_error(error, params))
    finally:
        conn.close()


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        schema=dict(type="str", default="public"),
        include_tables=dict(type="list", elements="str", default=[], aliases=["tables"]),
        exclude_tables=dict(type="list", elements="str", default=[]),
        source=dict(type="path"),
    )
    argument_spec.update(django_values.argument_spec(policies=False))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    result = run_task(module, run, module.params, module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
