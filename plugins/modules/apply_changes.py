#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: apply_changes
short_description: Apply the changes captured in SQLite since a snapshot to its PostgreSQL copy, and verify them
version_added: 0.2.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - The downtime step of the online strategy. M(pgmigrate.django.change_capture) logged every changed key in
    C(pgmigrate_change_log) of the live file; a snapshot of the file was loaded into PostgreSQL while the app
    served. With the app stopped, this module re-reads from O(source) every distinct (table, key) logged
    after the snapshot's watermark, and writes it to PostgreSQL, in ONE transaction with
    C(SET CONSTRAINTS ALL DEFERRED); a row still in SQLite is upserted, a row gone is deleted.
  - Values are converted exactly as the copy engine of M(pgmigrate.django.pgloader) converts them (the same
    code, COPY into a temporary table), under the same session time zone (O(django)), and
    O(decimal_overflow=round) rounds as the load does.
  - A table without a primary key that changed (keys logged by C(rowid)) is compared whole, and re-copied whole
    (DELETE and COPY) when it differs.
  - Only rows that really differ are written, so a second run with the same log changes nothing.
  - Then, in the same transaction, every changed key is read again on both sides and compared with the
    canonicalisation of M(pgmigrate.django.consistency_check), and every selected table's row count is compared.
    A count that differs, or an upsert that meets a unique conflict (an C(INSERT OR REPLACE) deleted a row
    without firing the delete trigger), makes the module reconcile that table's key set (every SQLite key of the
    table copied into a temporary table, the PostgreSQL rows beyond them deleted), then verify again.
    Any difference left rolls everything back and fails with the first differences.
  - Streams; memory does not grow with the number of changes or the size of a table. Only the row counts
    read whole tables.
  - O(source) is the app's live SQLite file holding C(pgmigrate_change_log), with the app stopped.
  - Refuses, changing nothing, when the schema of O(source) is not O(expected_fingerprint) (a C(migrate) ran
    on SQLite during the window).
options:
  snapshot:
    description:
      - The snapshot of O(source) that was loaded into PostgreSQL, taken after the capture was installed. Its own
        C(max(seq)) of C(pgmigrate_change_log) is the watermark; the log entries above it are applied.
      - Exactly one of O(snapshot) and O(after_seq).
    type: path
  after_seq:
    description:
      - The watermark as a number; entries with a greater C(seq) are applied.
    type: int
  expected_fingerprint:
    description:
      - The RV(pgmigrate.django.change_capture#module:schema_fingerprint) returned when the capture was installed.
        When the schema of O(source) differs, nothing is applied and the task fails.
    type: str
  batch_keys:
    description:
      - Rows fetched per round trip when the changed rows are read again on both sides for the verification.
    type: int
    default: 5000
  max_reported_mismatches:
    description:
      - How many differing rows are reported per table in RV(problems).
    type: int
    default: 10
  reset_sequences:
    description:
      - After the apply and its verification succeeded, and in the same transaction (before the commit), move
        every sequence owned by a C(serial) or C(identity) column of the selected tables exactly as
        M(pgmigrate.django.reset_sequences) with O(source) does (the column maximum, SQLite's C(sqlite_sequence)
        of O(source), the same C(SHARE) lock and rules), so one task less runs while the app is down.
      - The sequence of a table left out by O(include_tables) or O(exclude_tables) is not touched (the default
        O(exclude_tables) leaves out C(django_migrations), whose rows PostgreSQL's own C(migrate) wrote).
      - A sequence that cannot move (not owned by the role, or the value outside its range) fails the task
        with M(pgmigrate.django.reset_sequences)' message, and the changes are rolled back with it, nothing is
        committed.
    type: bool
    default: false
  app_writing:
    description:
      - V(true) drains the change log while the app still serves and writes (the online strategy runs it just
        before the stop, so the downtime applies only the changes logged after it).
      - The log's last C(seq) is read first (RV(next_watermark)); every key logged up to it is applied and
        compared. A row that differs is accepted only when its key was logged again after that C(seq) (the app
        wrote it again, and the apply at the stop, with O(after_seq=next_watermark), applies and verifies it); a key
        not logged again did not change since it was compared. Row counts are not compared (they move with the
        app's writes; the apply at the stop compares them).
      - Never fails for a difference or a database error. The drain is rolled back, RV(drained) is false,
        RV(next_watermark) stays the watermark and RV(drain_note) says why; the apply at the stop then applies
        every change since the watermark. A changed schema still fails.
      - The drain reads O(source) in one read transaction, so its rows are those of one moment and a child row
        never arrives without its parent; in rollback-journal mode the app's writers wait for it (as long as the
        drain).
      - Cannot go with O(reset_sequences).
    type: bool
    default: false
extends_documentation_fragment: [pgmigrate.django.connection, pgmigrate.django.sqlite_source,
                                 pgmigrate.django.table_selection, pgmigrate.django.attributes,
                                 pgmigrate.django.django_settings, pgmigrate.django.django_settings.policies]
attributes:
  check_mode:
    support: full
    details:
      - Checks the fingerprint, reads the watermark and counts the pending changes per table; writes nothing.
      - With O(reset_sequences), also reports the sequences that would move, measured against PostgreSQL as it is
        (before the pending changes; C(sqlite_sequence) of O(source) covers the ids they add to an
        C(AUTOINCREMENT) table); C(changed) is then true when a sequence would move.
  diff_mode:
    support: none
notes:
  - The role needs C(SELECT), C(INSERT), C(UPDATE), C(DELETE) on the tables and C(TEMPORARY) on the database;
    the owner that ran the load will do.
  - Sequences are not touched unless O(reset_sequences) is true; then the role must own them (the role that ran
    C(manage.py migrate)), otherwise run M(pgmigrate.django.reset_sequences) afterwards.
  - Foreign keys are checked at commit when they are C(DEFERRABLE) (Django's are); others are checked per
    statement, and an apply that meets one fails and rolls back.
seealso:
  - module: pgmigrate.django.change_capture
  - module: pgmigrate.django.pgloader
  - module: pgmigrate.django.consistency_check
"""

EXAMPLES = r"""
- name: Apply what the app wrote during the window (the app is stopped)
  pgmigrate.django.apply_changes:
    source: /srv/app/db.sqlite3
    snapshot: /var/backups/app/runs/20261203T1400/snapshot.sqlite3
    expected_fingerprint: "{{ capture.schema_fingerprint }}"
    django: "{{ app_settings }}"
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/pgmigrate-ca.crt
  register: applied

- name: The same, and the id sequences brought up to the ids in use, committed with the rows
  pgmigrate.django.apply_changes:
    source: /srv/app/db.sqlite3
    snapshot: /var/backups/app/runs/20261203T1400/snapshot.sqlite3
    expected_fingerprint: "{{ capture.schema_fingerprint }}"
    reset_sequences: true
    login_unix_socket: /var/run/postgresql
    login_user: app_owner
    login_db: app
  register: applied
"""

RETURN = r"""
tables:
  description: Every selected table that had changes after the watermark, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The SQLite table.
      type: str
    changes:
      description: Distinct keys logged after the watermark (in check mode, the only key).
      type: int
    upserted:
      description: Rows written (inserted or updated).
      type: int
    deleted:
      description: Rows deleted (keys SQLite no longer has).
      type: int
    recopied:
      description: Rows copied when the table was re-copied whole (0 otherwise).
      type: int
    reconciled:
      description: Rows deleted or written by the key-set reconciliation after a count difference (0 mostly).
      type: int
    verified:
      description: Rows compared on both sides after the apply.
      type: int
  sample:
    - {name: inventory_item, changes: 120, upserted: 117, deleted: 3, recopied: 0, reconciled: 0, verified: 117}
changes:
  description: Distinct (table, key) pairs logged after the watermark in the selected tables.
  returned: always
  type: int
  sample: 1204
watermark:
  description: The C(seq) after which entries were applied.
  returned: always
  type: int
  sample: 88
max_seq:
  description: The last C(seq) in the change log of O(source).
  returned: always
  type: int
  sample: 1292
rows_checked:
  description: Rows compared after the apply (changed keys and re-copied tables).
  returned: always
  type: int
  sample: 1201
counts:
  description: C(ok) (every selected table has as many rows on both sides) and C(tables) (those that differ, with
    C(name), C(source_rows), C(target_rows)).
  returned: always
  type: dict
  sample: {ok: true, tables: []}
problems:
  description: Every difference left after the apply, one line each (empty on success).
  returned: always
  type: list
  elements: str
  sample: []
schema_fingerprint:
  description: The schema fingerprint of O(source) now.
  returned: always
  type: str
  sample: 5b1c0e6f9a3d4e2b8c7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c
decimal_rounded:
  description: With O(decimal_overflow=round), per table, how many applied values were rounded as Django rounds them.
  returned: always
  type: dict
  sample: {}
django:
  description: The settings of O(django) honoured (empty without it).
  returned: always
  type: dict
  sample: {}
sequences:
  description:
    - With O(reset_sequences), every sequence of the selected tables looked at, sorted by table and column, as
      RV(pgmigrate.django.reset_sequences#module:sequences) (in check mode, what would move); empty without it.
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
      sample: 500001
    after:
      description: The value the next insert gets after this run (in check mode, would get).
      type: int
      sample: 500121
    column_max:
      description: The highest value in the column (lowest for a descending sequence); null when the table is empty.
      type: int
      sample: 500120
    sqlite_sequence:
      description: SQLite's C(sqlite_sequence) value for the table, or null (no entry).
      type: int
      sample: 500120
    changed:
      description: Whether the next value moved (in check mode, would move).
      type: bool
      sample: true
  sample:
    - {sequence: public.inventory_item_id_seq, table: inventory_item, column: id, kind: identity, before: 500001,
       after: 500121, column_max: 500120, sqlite_sequence: 500120, changed: true}
sequences_changed:
  description: How many sequences moved (in check mode, would move); 0 without O(reset_sequences).
  returned: always
  type: int
  sample: 3
next_watermark:
  description: The C(seq) the next apply should start after (O(after_seq)) - every change logged up to it is in
    PostgreSQL and verified. RV(max_seq) after an apply; the watermark itself in check mode and after a drain
    that was rolled back.
  returned: always
  type: int
  sample: 1292
drained:
  description: With O(app_writing), whether the drain was committed; false otherwise.
  returned: always
  type: bool
  sample: true
drain_note:
  description: With O(app_writing), why the drain was rolled back; empty otherwise.
  returned: always
  type: str
  sample: ""
seconds:
  description: Seconds the whole apply took.
  returned: always
  type: float
  sample: 1.7
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import change_apply, django_values
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import postgres_argument_spec, run_task


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        source=dict(type="path", required=True),
        schema=dict(type="str", default="public"),
        snapshot=dict(type="path"),
        after_seq=dict(type="int"),
        expected_fingerprint=dict(type="str"),
        include_tables=dict(type="list", elements="str", default=[]),
        exclude_tables=dict(type="list", elements="str", default=["django_migrations"]),
        batch_keys=dict(type="int", default=5000, no_log=False),
        max_reported_mismatches=dict(type="int", default=10),
        reset_sequences=dict(type="bool", default=False),
        app_writing=dict(type="bool", default=False),
    )
    spec.update(django_values.argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("snapshot", "after_seq"), ("app_writing", "reset_sequences")],
                           required_one_of=[("snapshot", "after_seq")])
    result = run_task(module, change_apply.run, module.params, module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
