#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: change_capture
short_description: Capture every change to a live SQLite database while the app serves (online cut-over)
version_added: 0.2.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Installs, reports or removes the change capture of the online strategy in the app's live SQLite file. The
    capture is one table, C(pgmigrate_change_log) (C(seq) INTEGER PRIMARY KEY AUTOINCREMENT, C(table_name),
    C(key) as a JSON array, C(op) V(I), V(U) or V(D)), and three triggers per selected table, C(AFTER INSERT),
    C(AFTER UPDATE) and C(AFTER DELETE), named C(pgmigrate_capture_<op>_<table>).
  - A trigger writes the table and the row's key in the app's own transaction, so a change and its log row
    commit together and C(seq) follows commit order. The key is every primary key column, or C(rowid) for a
    rowid table without a primary key; an C(UPDATE) logs the old key and, if it changed, the new one.
  - A snapshot taken afterwards (M(pgmigrate.django.sqlite_backup)) holds the log up to its own C(max(seq)), and
    M(pgmigrate.django.apply_changes) re-reads, in the downtime, every key logged after it.
  - The app's rows are never changed. SQLite internals, virtual (FTS, R*Tree) and shadow tables are never
    captured.
  - The limits of the capture are named before anything is installed (RV(limits)), each with how it is handled.
options:
  path:
    description:
      - The app's live SQLite database file. It must exist and be writable by the user running the module (and its
        directory, for SQLite's journal). Run as root, SQLite gives the journal and WAL files it creates the file's
        owner, so the app can still write them.
    type: path
    required: true
  state:
    description:
      - V(present) installs the log table and the triggers in one C(BEGIN IMMEDIATE) transaction, waiting for
        the app's writers up to O(busy_timeout). Objects that exist with another definition are recreated;
        triggers of tables no longer selected are dropped. Nothing is done when everything is in place.
      - V(absent) drops every capture trigger and the log table (also when only some exist), in one transaction.
      - V(status) changes nothing and returns RV(pending_changes), RV(max_seq), RV(schema_fingerprint) and
        whether every trigger is in place (RV(in_place)).
    type: str
    choices: [present, absent, status]
    default: present
  busy_timeout:
    description:
      - Seconds to wait for the app's write lock (SQLite's busy timeout) before giving up, changing nothing.
    type: int
    default: 30
  recopy_limit_rows:
    description:
      - A table without a primary key is re-copied whole in the downtime when it changed during the window;
        above this many rows it is named in RV(limits) as V(large_recopy).
    type: int
    default: 100000
extends_documentation_fragment: [pgmigrate.django.table_selection, pgmigrate.django.attributes]
attributes:
  check_mode:
    support: full
    details: V(present) in check mode is the preflight of the online strategy; it returns RV(tables),
      RV(limits) and RV(schema_fingerprint) and changes nothing.
  diff_mode:
    support: full
    details: The capture objects (log table and triggers) before and after.
notes:
  - V(present) and V(absent) take SQLite's write lock for a moment, like any writer of the app. In rollback-journal
    mode, an app transaction that read before it writes may then fail with C(database is locked), as it would
    against another writer; WAL mode or Django's C(transaction_mode) C(IMMEDIATE) avoid it.
  - The change log grows with every write to a captured table until the downtime; RV(pending_changes) of
    V(status) says how far.
  - The fingerprint leaves out C(sqlite_*) tables and the capture's own objects, so it is the same before
    V(present) and after V(absent), and any C(manage.py migrate) on SQLite changes it.
seealso:
  - module: pgmigrate.django.apply_changes
  - module: pgmigrate.django.sqlite_backup
"""

EXAMPLES = r"""
- name: Preflight of the online strategy (changes nothing)
  pgmigrate.django.change_capture:
    path: /srv/app/db.sqlite3
  check_mode: true
  register: capture_plan

- name: Capture every change from now on
  pgmigrate.django.change_capture:
    path: /srv/app/db.sqlite3
  become: true
  become_user: app
  register: capture

- name: How many changes wait for the downtime
  pgmigrate.django.change_capture:
    path: /srv/app/db.sqlite3
    state: status
  register: capture_status

- name: Remove the capture (success, failure or rollback alike)
  pgmigrate.django.change_capture:
    path: /srv/app/db.sqlite3
    state: absent
"""

RETURN = r"""
schema_fingerprint:
  description: sha256 of C(sqlite_master) without C(sqlite_*) tables and the capture's own objects. Pass it to
    O(pgmigrate.django.apply_changes#module:expected_fingerprint).
  returned: always
  type: str
  sample: 5b1c0e6f9a3d4e2b8c7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c
tables:
  description: The captured tables (with V(present) and V(status)), sorted by name.
  returned: when state is present or status
  type: list
  elements: dict
  contains:
    name:
      description: The SQLite table.
      type: str
    key_columns:
      description: The columns of its key (C([rowid]) for a rowid table without a primary key).
      type: list
      elements: str
    key_kind:
      description: V(pk) (applied key by key) or V(rowid) (no primary key; re-copied whole when it changed).
      type: str
    without_rowid:
      description: True for a C(WITHOUT ROWID) table.
      type: bool
  sample:
    - {name: inventory_item, key_columns: [id], key_kind: pk, without_rowid: false}
limits:
  description: Each limit of the capture, with C(table) (null for the log itself), C(limit) (V(replace_deletes_without_trigger),
    V(without_rowid), V(no_primary_key), V(large_recopy), V(inexact_key_type), V(change_log_growth)), C(detail) and
    C(handling).
  returned: when state is present or status
  type: list
  elements: dict
  sample:
    - table: inventory_tag
      limit: replace_deletes_without_trigger
      detail: "UNIQUE (name) besides the primary key: INSERT OR REPLACE ... deletes the conflicting row without firing the delete trigger"
      handling: "caught by apply_changes: a row count that differs ... makes it reconcile the key set of this table"
triggers:
  description: The capture triggers in the file after the task (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [pgmigrate_capture_delete_inventory_item, pgmigrate_capture_insert_inventory_item,
           pgmigrate_capture_update_inventory_item]
log_table:
  description: Whether C(pgmigrate_change_log) exists after the task (would, in check mode).
  returned: always
  type: bool
  sample: true
in_place:
  description: True when the log table and every trigger of the selected tables exist exactly as V(present) makes them.
  returned: always
  type: bool
  sample: true
pending_changes:
  description: Rows in the change log (0 without one).
  returned: always
  type: int
  sample: 1204
max_seq:
  description: The highest C(seq) of the change log (null when it is empty or absent).
  returned: always
  type: int
  sample: 1204
executed_statements:
  description: The statements run (that would run, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["DROP TRIGGER IF EXISTS \"pgmigrate_capture_insert_inventory_item\""]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import change_capture_task
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import run_task


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "status"]),
        include_tables=dict(type="list", elements="str", default=[]),
        exclude_tables=dict(type="list", elements="str", default=["django_migrations"]),
        busy_timeout=dict(type="int", default=30),
        recopy_limit_rows=dict(type="int", default=100000),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result = run_task(module, change_capture_task.run, module.params, module.check_mode, module._diff)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
