#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: consistency_check
short_description: Prove that a PostgreSQL database is an exact copy of a SQLite database
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Compares a SQLite database with its copy in a PostgreSQL schema and lists every difference, namely
    tables and columns on one side only, row counts, every value of every row, sequences behind the
    copied ids, foreign keys missing or broken, and (as warnings) missing indexes and primary keys.
  - Works on any SQLite to PostgreSQL copy (pgloader, C(COPY), Django C(dumpdata)/C(loaddata)),
    not only Django's.
  - Read-only on both sides and never changes anything. SQLite is opened with C(mode=ro) in one
    read transaction; PostgreSQL is read in one C(REPEATABLE READ READ ONLY) transaction, so all
    checks see one snapshot of each database.
  - Content is streamed in primary-key order from both sides (a SQLite cursor and a PostgreSQL
    server-side cursor) and merged by key; memory stays constant whatever the table size. Tables
    without a usable primary key are compared as multisets of rows with an additive hash, also in
    constant memory.
  - Values are compared after normalising the representations a correct copy may change
    (SQLite 0/1 and boolean; Django's naive UTC datetime text and timestamptz, or with O(django) from an app
    with C(USE_TZ=false) its wall-clock text in C(TIME_ZONE) and the timestamptz read back there; JSON text and
    jsonb, compared as JSON values so key order and spacing do not count; 32 hex digits and uuid;
    integer microseconds and interval; decimal text or real and numeric; blob and bytea; integer and
    bigint). With O(decimal_overflow=round) an over-precise decimal is compared as Django rounds it.
    Anything else is a difference - a changed value, NULL instead of an empty string, a
    datetime shifted by an hour, a double that lost precision in a C(real) column, text cut at a
    NUL byte, a missing or an extra row.
options:
  checks:
    description:
      - Which checks to run.
      - V(tables) - every SQLite table (virtual tables of any module, their shadow tables and C(sqlite_*) tables
        are skipped) has a PostgreSQL table and the other way round; a PostgreSQL table named like a skipped
        SQLite table is the app's own rebuild of it, not a difference.
      - V(columns) - the same columns on both sides.
      - V(row_counts) - C(count) of the rows on both sides.
      - V(content) - every value of every row (see the description).
      - V(sequences) - every sequence of a serial or identity column hands out a value above the
        column's maximum and above SQLite's C(sqlite_sequence) for the table.
      - V(foreign_keys) - every foreign key declared in SQLite has a constraint in PostgreSQL, and
        no PostgreSQL row references a missing row (checked for both sides' foreign keys).
      - V(indexes) - warnings only, not differences; every foreign key column has an index and every
        table a primary key.
      - Names are matched exactly, else case-insensitively when that is unambiguous.
    type: list
    elements: str
    choices: [tables, columns, row_counts, content, sequences, foreign_keys, indexes]
    default: [tables, columns, row_counts, content, sequences, foreign_keys, indexes]
  max_reported_mismatches:
    description:
      - How many differing rows are reported per table (all are counted).
    type: int
    default: 10
  report_values:
    description:
      - Also return the differing values (shortened), not only keys and column names.
      - Off by default because rows may hold secrets (password hashes, session data).
    type: bool
    default: false
  fail_on_mismatch:
    description:
      - Fail the task when the copy is not consistent. With V(false) the task succeeds and
        RV(consistent) tells.
    type: bool
    default: true
  batch_rows:
    description:
      - Rows fetched per round trip from each side (PostgreSQL server-side cursor size).
      - Memory grows with it; the default suits rows of a few kilobytes.
    type: int
    default: 20000
extends_documentation_fragment: [pgmigrate.django.connection, pgmigrate.django.sqlite_source,
                                 pgmigrate.django.table_selection, pgmigrate.django.attributes,
                                 pgmigrate.django.django_settings, pgmigrate.django.django_settings.policies]
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same way in check mode.
  diff_mode:
    support: none
notes:
  - The role needs C(SELECT) on the tables and sequences of O(schema); the owner or a read-only role will do.
  - PostgreSQL rows are read in key order through the primary key index; tables with a text key are
    sorted with C(COLLATE "C") to match SQLite's C(BINARY) order, which costs a sort.
seealso:
  - module: pgmigrate.django.pgloader
  - module: pgmigrate.django.reset_sequences
  - module: pgmigrate.django.preflight
"""

EXAMPLES = r"""
- name: Prove the copy is exact before the app is switched to PostgreSQL
  pgmigrate.django.consistency_check:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/pgmigrate-ca.crt

- name: Only counts and foreign keys of the inventory tables, report instead of failing
  pgmigrate.django.consistency_check:
    source: /srv/app/db.sqlite3
    login_db: app
    checks: [tables, row_counts, foreign_keys]
    include_tables: [inventory_category, inventory_item, inventory_item_tags, inventory_tag]
    fail_on_mismatch: false
  register: check

- name: Show what differs
  ansible.builtin.debug:
    var: check.problems
  when: not check.consistent
"""

RETURN = r"""
django:
  description: The settings of O(django) the comparison honoured (empty without it). With C(use_tz=false)
    the DateTimeFields of O(django) are compared as wall-clock time in C(time_zone).
  returned: always
  type: dict
  sample: {"use_tz": false, "time_zone": "Australia/Lord_Howe", "session_time_zone": "Australia/Lord_Howe"}
consistent:
  description: True when no check found a difference (index warnings do not count).
  returned: always
  type: bool
  sample: true
problems:
  description: Every difference found, one readable line each (naming the table, the key and the columns).
  returned: always
  type: list
  elements: str
  sample:
    - "table inventory_item: 1 row(s) differ (1 changed, 0 missing in PostgreSQL, 0 only in PostgreSQL)"
    - "table inventory_item: row id=42 differs in column(s) note"
index_warnings:
  description: Foreign key columns without an index and tables without a primary key (only with the V(indexes) check).
  returned: always
  type: list
  elements: str
  sample:
    - "table shop_order: foreign key column(s) customer_id have no index (joins and deletes of shop_customer rows scan the whole table)"
tables:
  description: One entry per table present on both sides, sorted by SQLite name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The SQLite table.
      type: str
      sample: inventory_item
    target:
      description: The PostgreSQL table it was paired with.
      type: str
      sample: inventory_item
    source_rows:
      description: Rows in SQLite (with V(row_counts) or V(content)).
      type: int
      sample: 500000
    target_rows:
      description: Rows in PostgreSQL (with V(row_counts) or V(content)).
      type: int
      sample: 500000
    mode:
      description: How the content was compared, V(key) (merge in primary-key order) or V(multiset) (with V(content)).
      type: str
      sample: key
    key:
      description: The key columns (SQLite names) the mismatches are named by (with V(content)).
      type: list
      elements: str
      sample: [id]
    note:
      description: Why a table was compared as a multiset, or null.
      type: str
      sample: "no primary key: compared as multisets"
    mismatches:
      description: Rows that differ, are missing or are extra (with V(content)).
      type: int
      sample: 0
    mismatches_lower_bound:
      description: True when a very different multiset table was only partly examined, so RV(tables[].mismatches) is a lower bound.
      type: bool
      sample: false
    missing_rows:
      description: Rows only in SQLite (with V(content)).
      type: int
      sample: 0
    extra_rows:
      description: Rows only in PostgreSQL (with V(content)).
      type: int
      sample: 0
    changed_rows:
      description: Rows present on both sides with different values (with V(content)).
      type: int
      sample: 0
    first_mismatches:
      description:
        - The first O(max_reported_mismatches) differing rows, each with C(kind) (V(changed), V(missing), V(extra)),
          C(key) (column to value) and C(columns) (the differing columns of a changed row).
        - With O(report_values), also C(source) and C(target) (column to shortened value).
      type: list
      elements: dict
      sample:
        - kind: changed
          key: {id: 42}
          columns: [note]
    error:
      description: Why the content of this table could not be compared, or null.
      type: str
      sample: null
    content_seconds:
      description: Seconds spent comparing the content of this table.
      type: float
      sample: 3.2
  sample:
    - name: inventory_category
      target: inventory_category
      source_rows: 20
      target_rows: 20
      mode: key
      key: [id]
      note: null
      mismatches: 0
      mismatches_lower_bound: false
      missing_rows: 0
      extra_rows: 0
      changed_rows: 0
      first_mismatches: []
      error: null
      content_seconds: 0.01
sequences:
  description: The sequences of serial and identity columns and whether they are ahead of the data (with V(sequences)).
  returned: when the V(sequences) check ran
  type: list
  elements: dict
  sample:
    - sequence: public.inventory_item_id_seq
      table: inventory_item
      column: id
      kind: identity
      next_value: 500001
      column_max: 500000
      sqlite_sequence: 500000
      ok: true
foreign_keys:
  description:
    - Every foreign key of either side (PostgreSQL names) with C(constraint) (the PostgreSQL constraint or null),
      C(in_sqlite), C(orphans) (rows referencing a missing row; null when the query failed) and C(orphan_samples).
  returned: when the V(foreign_keys) check ran
  type: list
  elements: dict
  sample:
    - table: inventory_item
      columns: [category_id]
      ref_table: inventory_category
      ref_columns: [id]
      in_sqlite: true
      constraint: inventory_item_category_id_1d9c6a2e_fk_inventory_category_id
      orphans: 0
      orphan_samples: []
skipped_tables:
  description: SQLite tables that are never copied (internal, FTS/virtual and their shadow tables), with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - name: sqlite_sequence
      reason: SQLite internal table
source_only_tables:
  description: Tables only in SQLite (after O(include_tables) and O(exclude_tables)).
  returned: always
  type: list
  elements: str
  sample: []
target_only_tables:
  description: Tables only in PostgreSQL (after O(include_tables) and O(exclude_tables)).
  returned: always
  type: list
  elements: str
  sample: []
checks:
  description: The checks that ran.
  returned: always
  type: list
  elements: str
  sample: [tables, columns, row_counts, content, sequences, foreign_keys, indexes]
rows_compared:
  description: SQLite rows whose content was compared.
  returned: always
  type: int
  sample: 1000022
timings:
  description: Seconds spent per check.
  returned: always
  type: dict
  sample: {tables: 0.01, columns: 0.05, row_counts: 0.4, content: 9.8, sequences: 0.1, foreign_keys: 0.9, indexes: 0.01}
seconds:
  description: Seconds the whole check took.
  returned: always
  type: float
  sample: 11.3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils.consistency_checks import (
    CHECKS,
    Checker,
    prepare_source_session,
    prepare_target_session,
)
from ansible_collections.pgmigrate.django.plugins.module_utils import django_compare, django_values
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, explain_error, postgres_argument_spec, psycopg2, run_task,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import open_readonly

SHOWN_PROBLEMS = 5


def validate(params):
    if params["max_reported_mismatches"] < 0:
        raise ModuleError("max_reported_mismatches must be 0 or more, not %d" % params["max_reported_mismatches"])
    if params["batch_rows"] < 1:
        raise ModuleError("batch_rows must be at least 1, not %d" % params["batch_rows"])
    if not params["checks"]:
        raise ModuleError("checks is empty: name at least one of %s" % ", ".join(CHECKS))


def check_schema(params, conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (params["schema"],))
        if cur.fetchone() is None:
            raise ModuleError("Schema %r does not exist in database %r: check `schema`"
                              % (params["schema"], params["login_db"]))


def run_checks(params):
    """Every selected check, read-only on both sides; the result (without `changed`)."""
    validate(params)
    params = django_values.with_option(params)
    sqlite_conn = open_readonly(params["source"])
    pg_conn = None
    try:
        pg_conn = connect(params)
        prepare_source_session(sqlite_conn)
        prepare_target_session(pg_conn)
        check_schema(params, pg_conn)
        checker = Checker(
            sqlite_conn, pg_conn, schema=params["schema"], checks=params["checks"],
            include_tables=params["include_tables"], exclude_tables=params["exclude_tables"],
            max_reported=params["max_reported_mismatches"], report_values=params["report_values"],
            batch_rows=params["batch_rows"], adapt_plan=django_compare.plan_adapter(params),
        )
        return dict(checker.run(), django=django_values.summary(params))
    except psycopg2.Error as error:
        raise ModuleError("The consistency check could not run: %s" % explain_error(error, params))
    finally:
        close_quietly(pg_conn, sqlite_conn)


def close_quietly(pg_conn, sqlite_conn):
    """End the read-only transaction and both connections; errors here change nothing."""
    closers = (sqlite_conn.close,) if pg_conn is None else (pg_conn.rollback, pg_conn.close, sqlite_conn.close)
    for close in closers:
        try:
            close()
        except Exception:  # the connection may already be gone
            pass


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        source=dict(type="path", required=True),
        schema=dict(type="str", default="public"),
        checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
        include_tables=dict(type="list", elements="str", default=[]),
        exclude_tables=dict(type="list", elements="str", default=["django_migrations"]),
        max_reported_mismatches=dict(type="int", default=10),
        report_values=dict(type="bool", default=False),
        fail_on_mismatch=dict(type="bool", default=True),
        batch_rows=dict(type="int", default=20000),
    )
    spec.update(django_values.argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result = run_task(module, run_checks, module.params)
    for warning in result["index_warnings"]:
        module.warn(warning)
    if not result["consistent"] and module.params["fail_on_mismatch"]:
        problems = result["problems"]
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        more = " (and %d more, see problems)" % (len(problems) - SHOWN_PROBLEMS) if len(problems) > SHOWN_PROBLEMS else ""
        module.fail_json(msg="The PostgreSQL copy differs from SQLite %s: %d problem(s): %s%s"
                         % (module.params["source"], len(problems), shown, more), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
