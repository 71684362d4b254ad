#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Find everything that would make a SQLite to PostgreSQL load fail or alter data
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Compares a SQLite database with the PostgreSQL schema it is about to be loaded into, and scans every
    value that is going to be copied, changing nothing on either side.
  - Reports, naming table, column and count, NUL bytes in TEXT (PostgreSQL cannot store them and pgloader
    silently cuts the value), invalid UTF-8 (pgloader stops the table and still exits 0), text longer than
    the target's C(varchar(n)), integers outside the target column's range, text that is not a number in
    numeric columns, booleans other than 0 and 1, invalid JSON and the C(\u0000) escape C(jsonb) refuses,
    invalid UUIDs, NULL in NOT NULL columns, values the chosen O(engine) cannot load, foreign key orphans
    (C(PRAGMA foreign_key_check), by column and referenced table), C(PRAGMA integrity_check) failures,
    tables and columns that exist on one side only, and target tables that already hold rows.
  - SQLite internals (C(sqlite_sequence), C(sqlite_stat*)), virtual tables of any module (FTS3/4/5, R*Tree, ...)
    with their shadow tables are never data to copy; they are listed in RV(skipped_tables).
  - With O(fail_on_problems=true) (the default) the task fails with every problem at once; the playbook
    runs it before the application is stopped.
  - The scan streams (SQLite aggregates each table in one pass) and opens the SQLite file read-only; a
    missing file is reported, never created.
extends_documentation_fragment: [pgmigrate.django.connection, pgmigrate.django.sqlite_source,
                                 pgmigrate.django.table_selection, pgmigrate.django.attributes,
                                 pgmigrate.django.django_settings, pgmigrate.django.django_settings.policies]
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
options:
  integrity_check:
    description:
      - V(full) runs C(PRAGMA integrity_check), V(quick) the faster C(PRAGMA quick_check) (no index
        content check), V(none) skips it.
    type: str
    choices: [full, quick, none]
    default: full
  check_values:
    description:
      - Scan the values (NUL, UTF-8, lengths, ranges, types). V(false) keeps only the structure,
        integrity and foreign key checks.
    type: bool
    default: true
  check_foreign_keys:
    description:
      - Run C(PRAGMA foreign_key_check) on every checked table.
    type: bool
    default: true
  target_must_be_empty:
    description:
      - Report target tables that already hold rows (except O(prefilled_tables)).
      - Set V(false) when the load is going to replace them (the M(pgmigrate.django.pgloader) option
        O(pgmigrate.django.pgloader#module:truncate)), or when every row in the target was made by the app's
        own C(manage.py migrate) into an empty database (the C(migrate) role does this, and hands
        RV(target_rows) to the load as O(pgmigrate.django.pgloader#module:prefilled_tables)).
    type: bool
    default: true
  engine:
    description:
      - The load engine whose limits are predicted (M(pgmigrate.django.pgloader) O(pgmigrate.django.pgloader#module:engine)).
        With V(pgloader), +Infinity and -Infinity in C(real)/C(double precision)/C(numeric) columns are problems
        (pgloader cannot load them; measured with pgloader 3.6); V(copy) carries them.
    type: str
    choices: [copy, pgloader]
    default: pgloader
  prefilled_tables:
    description:
      - Target tables that C(manage.py migrate) fills by itself (content types, permissions, the default
        site). Their rows do not count as data already in the target; the load replaces them.
    type: list
    elements: str
    default: [django_content_type, auth_permission, django_site]
  max_examples:
    description:
      - How many example keys (primary key values, or rowids) to return per problem.
    type: int
    default: 3
  fail_on_problems:
    description:
      - Fail the task when any problem is found, listing all of them.
      - With V(false) the problems are only returned.
    type: bool
    default: true
notes:
  - The SQLite file is opened read-only (C(mode=ro)); the target is only read through C(pg_catalog) and
    C(SELECT EXISTS) per table.
seealso:
  - module: pgmigrate.django.pgloader
  - name: SQLite PRAGMA foreign_key_check
    description: How SQLite finds rows whose parent row is missing.
    link: https://www.sqlite.org/pragma.html#pragma_foreign_key_check
"""

EXAMPLES = r"""
- name: Check the SQLite data against the schema made by migrate, before stopping the app
  pgmigrate.django.preflight:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_user: app_readonly  # the preflight only reads
    login_password: "{{ vault_app_readonly_password }}"
    login_db: app
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/pgmigrate-ca.crt

- name: Collect the problems without failing (for a report), connecting through the local socket
  pgmigrate.django.preflight:
    source: /srv/app/db.sqlite3
    login_db: app
    integrity_check: quick
    fail_on_problems: false
  register: preflight

- name: Show them
  ansible.builtin.debug:
    msg: "{{ preflight.problems | map(attribute='message') | list }}"
"""

RETURN = r"""
django:
  description: The settings of O(django) the scan honoured (empty without it).
  returned: always
  type: dict
  sample: {"use_tz": false, "time_zone": "America/New_York", "session_time_zone": "America/New_York"}
decimals:
  description:
    - With O(django), the DecimalField values that do not fit their field, per table, column and kind
      (C(rounds) - more decimal places, C(overflow) - too many digits, C(invalid) - not a finite number),
      with their count and samples (C(value), C(key), and for C(rounds) the C(rounded) value).
    - Problems unless O(decimal_overflow=round) and the kind is C(rounds).
  returned: always
  type: list
  elements: dict
  sample: [{"table": "inventory_item", "column": "price", "kind": "rounds", "count": 1, "max_digits": 12,
            "decimal_places": 2, "samples": [{"value": "9077091.122", "key": 7, "rounded": "9077091.12"}]}]
local_times:
  description:
    - With O(django) and C(USE_TZ=false), the DateTimeField values in a skipped (C(gap)) or repeated
      (C(ambiguous)) local hour of C(TIME_ZONE), with count and samples. Gaps are problems unless
      O(local_time_gap=shift_forward); repeated hours read back the same and are listed only.
  returned: always
  type: list
  elements: dict
  sample: [{"table": "inventory_event", "column": "happened_at", "kind": "ambiguous", "count": 2,
            "samples": [{"value": "2021-11-07 01:30:00", "key": 12}]}]
problems:
  description:
    - Every problem found, in the order tables, integrity, values, foreign keys, target rows.
    - C(check) is one of V(target_schema_empty), V(missing_target_table), V(missing_source_table),
      V(missing_target_column), V(target_column_required), V(integrity_check), V(unreadable_table),
      V(nul_byte), V(invalid_utf8), V(too_long), V(out_of_range), V(not_integer), V(not_numeric),
      V(not_boolean), V(invalid_json), V(json_nul_escape), V(invalid_uuid), V(null_in_not_null),
      V(engine_limit) (a value the chosen O(engine) cannot load), V(fk_orphans), V(target_not_empty).
    - For V(fk_orphans), C(column) is the foreign key's column (comma-separated when it has several),
      C(references) the referenced table and C(examples) the rowids of the first orphan rows.
    - C(examples) (when known) holds the primary key (or rowid) values of the first offending rows.
  returned: always
  type: list
  elements: dict
  sample:
    - check: nul_byte
      table: inventory_item
      column: name
      count: 2
      message: "inventory_item.name: 2 value(s) contain a NUL byte; PostgreSQL text cannot hold it ..."
      examples: {key: id, values: [17, 52]}
problem_count:
  description: Number of entries in RV(problems).
  returned: always
  type: int
  sample: 0
tables:
  description: The SQLite tables checked, with their target table and row count.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: Album, target: Album, source_rows: 347, target_has_rows: false}
skipped_tables:
  description: SQLite tables that are never copied (internals, virtual tables, shadow tables) and why.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: sqlite_sequence, reason: SQLite internal table}
excluded:
  description: Tables left out by O(exclude_tables) that exist on either side.
  returned: always
  type: list
  elements: str
  sample: [django_migrations]
source_only:
  description: Checked SQLite tables without a target table.
  returned: always
  type: list
  elements: str
  sample: []
target_only:
  description: Target tables without a SQLite table (within the selection).
  returned: always
  type: list
  elements: str
  sample: []
target_nonempty:
  description: Checked target tables that already hold rows (O(prefilled_tables) included).
  returned: always
  type: list
  elements: str
  sample: [django_content_type, auth_permission]
target_rows:
  description: The checked target tables that already hold rows, with their row count.
  returned: always
  type: dict
  sample: {django_content_type: 31, auth_permission: 124}
rows:
  description: Total number of rows in the checked SQLite tables.
  returned: always
  type: int
  sample: 15607
seconds:
  description: How long the checks took.
  returned: always
  type: float
  sample: 0.84
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import django_values, preflight_checks, sqlite_source
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, postgres_argument_spec, psycopg2, run_task, scrub,
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        source=dict(type="path", required=True),
        schema=dict(type="str", default="public"),
        include_tables=dict(type="list", elements="str", default=[]),
        exclude_tables=dict(type="list", elements="str", default=list(preflight_checks.DEFAULT_EXCLUDE)),
        integrity_check=dict(type="str", default="full", choices=["full", "quick", "none"]),
        check_values=dict(type="bool", default=True),
        check_foreign_keys=dict(type="bool", default=True),
        target_must_be_empty=dict(type="bool", default=True),
        prefilled_tables=dict(type="list", elements="str", default=list(preflight_checks.PREFILLED_TABLES)),
        max_examples=dict(type="int", default=3),
        engine=dict(type="str", default="pgloader", choices=["copy", "pgloader"]),
        fail_on_problems=dict(type="bool", default=True),
    )
    spec.update(django_values.argument_spec())
    return spec


def run(params):
    """The preflight of PARAMS: read-only on both sides (the target session is read-only)."""
    params = django_values.with_option(params)
    sconn = sqlite_source.open_readonly(params["source"], raw_text=True)
    conn = None
    try:
        conn = connect(params)
        conn.set_session(readonly=True)
        with conn.cursor() as cur, sqlite_source.reading(params["source"]):
            plan = preflight_checks.run_preflight(
                sconn, cur, schema=params["schema"], include=params["include_tables"],
                exclude=params["exclude_tables"], integrity=params["integrity_check"],
                values=params["check_values"], foreign_keys=params["check_foreign_keys"],
                target_must_be_empty=params["target_must_be_empty"], prefilled=params["prefilled_tables"],
                max_examples=max(0, params["max_examples"]), django=params["django_values"],
                decimal_overflow=params["decimal_overflow"], local_time_gap=params["local_time_gap"],
                engine=params["engine"])
            plan["django"] = django_values.summary(params)
            return plan
    except psycopg2.Error as error:
        raise ModuleError("preflight failed while reading the target: %s" % scrub(error, params))
    finally:
        if conn is not None:
            conn.rollback()
            conn.close()
        sconn.close()


def result_from(plan):
    result = dict(
        changed=False,
        problems=plan["problems"],
        problem_count=len(plan["problems"]),
        tables=preflight_checks.public_tables(plan),
        skipped_tables=plan["skipped"],
        excluded=plan["excluded"],
        source_only=plan["source_only"],
        target_only=plan["target_only"],
        target_nonempty=plan["target_nonempty"],
        target_rows=plan["target_rows"],
        rows=sum(plan["source_rows"].values()),
        seconds=plan["seconds"],
    )
    found = plan.get("django_values") or {}
    result.update(decimals=found.get("decimals", []), local_times=found.get("local_times", []),
                  django=plan.get("django", {}))
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    plan = run_task(module, run, module.params)
    result = result_from(plan)
    for warning in plan["warnings"]:
        module.warn(warning)
    if result["problems"] and module.params["fail_on_problems"]:
        module.fail_json(
            msg="preflight found %d problem(s) in %s: %s" % (
                len(result["problems"]), module.params["source"], preflight_checks.summarize(result["problems"])),
            **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
