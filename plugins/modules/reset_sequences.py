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
  schema:
    description:
      - The PostgreSQL schema whose tables are handled.
    type: str
    default: public
  tables:
    description:
      - Only the sequences of these tables. An empty list means every table of O(schema).
      - Names are matched exactly, else case-insensitively when that is unambiguous (C(Album) and
        C(album) are the same table, as pgloader folds names).
      - A name that matches no table of O(schema) is an error.
    type: list
    elements: str
    default: []
  source:
    description:
      - The SQLite database the data was copied from. When given, its C(sqlite_sequence) values
        (tables with C(AUTOINCREMENT)) count for the sequence of the matching table's single-column
        primary key, so ids that SQLite already handed out are never handed out again.
      - Opened read-only; it is never created or changed.
    type: path
extends_documentation_fragment:
  - pgmigrate.django.connection
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Reads the sequences and reports the moves and the SQL that would run; moves nothing.
  diff_mode:
    description: Reports the changes it makes (or would make in check mode) in diff mode.
    support: full
    details: The next value of every sequence that moves, before and after.
  platform:
    description: The systems the module can run on.
    support: full
    platforms: posix
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
- name: Move every id sequence past the copied rows, honouring SQLite's sqlite_sequence
  pgmigrate.django.reset_sequences:
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/pgmigrate-ca.crt
    source: /srv/app/db.sqlite3
  register: sequences

- name: Only two tables, in another schema; report what would move
  pgmigrate.django.reset_sequences:
    login_db: app
    schema: shop
    tables:
      - inventory_item
      - Order
  check_mode: true
"""

RETURN = r"""
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

from ansible_collections.pgmigrate.django.plugins.module_utils.catalog import match_names, target_tables
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect,
    explain_error,
    postgres_argument_spec,
    psycopg2,
    quote_qualified,
    sql,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sequences import (
    restart_statements,
    sequence_states,
    sqlite_values_by_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import (
    SourceError,
    open_readonly,
    sqlite_sequences,
)

LOCK_TIMEOUT = "30s"


def read_sqlite_sequences(module):
    """{SQLite table: sqlite_sequence value}, or {} without O(source)."""
    path = module.params["source"]
    if not path:
        return {}
    try:
        conn = open_readonly(path)
    except SourceError as error:
        module.fail_json(msg=str(error))
    try:
        return sqlite_sequences(conn)
    except Exception as error:  # sqlite3.Error and decoding problems alike
        module.fail_json(msg="Cannot read sqlite_sequence from %s: %s" % (path, error))
    finally:
        conn.close()
    return {}


def check_schema(module, cur, schema):
    cur.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (schema,))
    if cur.fetchone() is None:
        module.fail_json(msg="Schema %r does not exist in database %r: check `schema` (nothing was changed)"
                         % (schema, module.params["login_db"]))


def selected_tables(module, all_tables):
    """The PostgreSQL tables named in O(tables), or None for all."""
    wanted = module.params["tables"]
    if not wanted:
        return None
    pairs, unknown, _target_only = match_names(wanted, all_tables)
    if unknown:
        module.fail_json(msg="Table(s) %s not found in schema %r: check `tables` (nothing was changed)"
                         % (", ".join(sorted(unknown)), module.params["schema"]))
    return [target for _source, target in pairs]


def lock_tables(cur, schema, tables):
    """Keep writers out while max(id) is read and the sequences move."""
    if not tables:
        return
    cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
    names = sql.SQL(", ").join(quote_qualified(schema, table) for table in sorted(set(tables)))
    cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(names))


def refuse_impossible(module, moves):
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
                               state["wanted_next"], module.params["login_user"]))
    if problems:
        module.fail_json(msg="Cannot reset %d sequence(s), nothing was changed: %s"
                         % (len(problems), "; ".join(problems)), problems=problems)


def report(state, changed):
    return dict(
        sequence=state["qualified"], table=state["table"], column=state["column"], kind=state["kind"],
        before=state["next_value"], after=state["wanted_next"] if changed else state["next_value"],
        column_max=state["column_max"], sqlite_sequence=state["sqlite_sequence"], changed=changed,
    )


def reset(module, conn, sqlite_values_by_name):
    schema = module.params["schema"]
    cur = conn.cursor()
    check_schema(module, cur, schema)
    all_tables = target_tables(cur, schema)
    tables = selected_tables(module, all_tables)
    sqlite_values = sqlite_values_by_table(sqlite_values_by_name, all_tables)
    states = sequence_states(cur, schema, tables, sqlite_values)
    moves = [state for state in states if state["next_value"] != state["wanted_next"]]
    refuse_impossible(module, moves)
    if moves and not module.check_mode:
        # Read again under a lock that keeps writers out until the commit.
        lock_tables(cur, schema, [state["table"] for state in states])
        states = sequence_states(cur, schema, tables, sqlite_values)
        moves = [state for state in states if state["next_value"] != state["wanted_next"]]
        refuse_impossible(module, moves)
    queries = []
    for state in moves:
        for statement, params in restart_statements(state):
            queries.append(cur.mogrify(statement, params).decode("utf-8"))
            if not module.check_mode:
                cur.execute(statement, params)
    if module.check_mode:
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


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        schema=dict(type="str", default="public"),
        tables=dict(type="list", elements="str", default=[]),
        source=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    sqlite_values = read_sqlite_sequences(module)
    conn = connect(module)
    try:
        result = reset(module, conn, sqlite_values)
    except psycopg2.Error as error:
        conn.rollback()
        module.fail_json(msg="Resetting the sequences failed, nothing was changed: %s"
                         % explain_error(error, module.params))
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
