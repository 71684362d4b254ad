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

from ansible_collections.pgmigrate.django.plugins.module_utils import django_values
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, explain_error, postgres_argument_spec, psycopg2, run_task,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sequence_reset import FAILED, read_source, reset


def run(params, check_mode):
    params = django_values.with_option(params)  # a malformed option django fails before anything is read
    sqlite_values, source_tables = read_source(params["source"])
    conn = connect(params)
    try:
        return dict(reset(params, conn, sqlite_values, check_mode, source_tables), django=django_values.summary(params))
    except psycopg2.Error as error:
        conn.rollback()
        raise ModuleError(FAILED % explain_error(error, params))
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
