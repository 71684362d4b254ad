#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pgloader
short_description: Load a SQLite database into an existing PostgreSQL schema (pgloader or COPY), losing no row silently
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Copies the rows of a SQLite database into the PostgreSQL schema that the application's own
    C(manage.py migrate) created (schema first), with one of two engines behind one interface. The preflight,
    the verification and the results do not depend on the engine.
  - Before loading it runs the source scan of M(pgmigrate.django.preflight) and refuses, changing nothing,
    when a value would be refused or silently altered, when tables or columns exist on one side only, or when
    the target already holds rows and O(truncate) is not set.
  - After the load it counts every copied table in SQLite and in PostgreSQL and fails, naming table and
    counts, when the target misses rows (beyond O(max_rejected_rows)), whatever the engine reported (pgloader
    exits 0 with rows rejected). It re-creates with their original definition the foreign keys the engine
    dropped and did not restore, and fails if that is impossible.
  - A row PostgreSQL refuses is rejected alone, with its reason; nothing is altered to make a value fit.
    Sequences are left alone (M(pgmigrate.django.reset_sequences) moves them).
  - O(engine=pgloader) writes a load file from the options and the target's catalog (data only, the session
    time zone, microsecond casts for C(interval) columns, quoted identifiers where needed, an exact table filter)
    and runs pgloader in a private 0700 directory, in its own process group that a hard O(timeout) kills.
  - O(engine=copy) streams every table from SQLite into C(COPY ... FROM STDIN) through psycopg2, converting each
    value by its target column's type; tables load in parallel up to O(workers), each in one transaction, with
    the foreign keys touching them dropped first, re-added C(NOT VALID) and validated. It needs no pgloader and
    its memory stays flat; measured figures are in C(benchmarks/README.md).
  - The session time zone is C(UTC) (Django with C(USE_TZ=true)); with O(django) from an app with
    C(USE_TZ=false) it is the app's C(TIME_ZONE), so Django reads the same wall clock on both sides.
    O(decimal_overflow) and O(local_time_gap) decide what happens to values Django would not read back the
    same; rounded values are written as Django rounds them and counted in RV(decimal_rounded).
  - Options only one engine reads say so; the other engine refuses them when they are set.
extends_documentation_fragment: [pgmigrate.django.connection, pgmigrate.django.sqlite_source,
                                 pgmigrate.django.table_selection, pgmigrate.django.attributes,
                                 pgmigrate.django.django_settings, pgmigrate.django.django_settings.policies]
attributes:
  check_mode:
    support: full
    details: Runs the source scan and builds the plan (the load file, or the COPY statements); loads nothing.
  diff_mode:
    support: none
options:
  engine:
    description:
      - The loader. V(pgloader) runs pgloader with a load file the module writes; V(copy) is the module's own
        streaming C(COPY) loader (psycopg2).
    type: str
    choices: [copy, pgloader]
    default: pgloader
  mode:
    description:
      - V(data_only) loads into existing tables made by C(manage.py migrate), the procedure for Django.
      - V(create_schema) (O(engine=pgloader) only) lets pgloader create the tables from the SQLite declarations;
        not for Django (JSON and UUID become text, no NOT NULL or CHECK); the tables must not exist yet.
    type: str
    choices: [data_only, create_schema]
    default: data_only
  truncate:
    description:
      - Allow replacing rows the target tables already hold. With V(false) the module refuses to load when
        a copied table holds rows, except O(prefilled_tables).
      - The load always empties the copied tables first (with O(engine=copy) in the table's own transaction,
        so a table that cannot be loaded keeps its rows).
    type: bool
    default: false
  prefilled_tables:
    description: Target tables that C(manage.py migrate) fills by itself; their rows are replaced without O(truncate).
    type: list
    elements: str
    default: [django_content_type, auth_permission, django_site]
  settings:
    description: PostgreSQL settings for the loading sessions, e.g. C(maintenance_work_mem). C(timezone) is
      always the session time zone (C(UTC), or the app's C(TIME_ZONE), see O(django)) and C(search_path) is O(schema).
    type: dict
    default: {}
  workers:
    description: How many tables load at the same time (pgloader C(workers); copy - one connection each).
    type: int
    default: 4
  batch_rows:
    description: Rows per batch when a failed batch is retried (pgloader C(batch rows); copy - under savepoints).
    type: int
    default: 10000
  timeout:
    description: Seconds the load may take, V(0) for no limit; then pgloader's process group is killed, or
      every C(COPY) cancelled (their tables roll back), and the task fails.
    type: int
    default: 3600
  max_rejected_rows:
    description: How many SQLite rows in total may be missing from the target without failing the task (always
      reported in RV(rejected_rows), RV(reject_reasons) and a warning).
    type: int
    default: 0
  preflight:
    description: Run the full source scan of M(pgmigrate.django.preflight) first and refuse on any problem; with
      V(false) only tables and columns are matched (the counts after the load still catch every missing row).
    type: bool
    default: true
  integrity_check:
    description: The SQLite integrity check of the preflight, V(full), V(quick) (the default - the app is stopped
      now and M(pgmigrate.django.preflight) and M(pgmigrate.django.sqlite_backup) ran the full check) or V(none).
    type: str
    choices: [full, quick, none]
    default: quick
  max_reject_reasons:
    description: How many rejected-row reasons to return per table.
    type: int
    default: 5
  casts:
    description:
      - O(engine=pgloader) only. Extra pgloader CAST rules, after the automatic interval casts, e.g.
        V(column app_item.size to bigint drop typemod).
    type: list
    elements: str
    default: []
  concurrency:
    description: O(engine=pgloader) only. pgloader C(concurrency), parallel COPY streams per table; V(1) when not set.
    type: int
  prefetch_rows:
    description:
      - O(engine=pgloader) only. pgloader C(prefetch rows), the rows read ahead from SQLite; pgloader's memory
        grows with it. V(10000) when not set (pgloader's own default, 100000, needs several times the memory).
    type: int
  pgloader_path:
    description: O(engine=pgloader) only. The pgloader executable, a name looked up on C(PATH) or a full path;
      V(pgloader) when not set.
    type: str
  allow_chain_only_tls:
    description:
      - O(engine=pgloader) only. Accept that with O(ssl_mode=verify-full) pgloader checks the server
        certificate's chain but not its host name. Without it O(ssl_mode=verify-full) refuses
        O(engine=pgloader) before anything is read; O(engine=copy) keeps verify-full for the whole load.
    type: bool
    default: false
notes:
  - TLS with O(engine=pgloader) (measured with pgloader 3.6.9) - pgloader knows C(sslmode) up to V(require) and
    it checks the chain against O(ca_cert) (as C(SSL_CERT_FILE)), never the host name; so
    O(ssl_mode=verify-full) needs O(allow_chain_only_tls=true) for the load itself.
  - The password with O(engine=pgloader) (measured with pgloader 3.6.9) - pgloader reads it from a libpq
    password file (C(PGPASSFILE)), which the module writes 0600 in the private 0700 directory and removes with
    it; it is never in pgloader's environment, on a command line, in the load file, in results or in logs.
    pgloader cannot log in with a non-ASCII password (it fails SCRAM authentication or refuses the
    character), so such a password is refused up front; O(engine=copy) takes it.
  - With O(engine=copy) a failed load leaves the tables committed before loaded, the others as they were, and
    the dropped foreign keys back C(NOT VALID); re-run with O(truncate=true).
requirements:
  - pgloader 3.6 or later on the host that runs the module, for O(engine=pgloader).
seealso:
  - module: pgmigrate.django.preflight
  - module: pgmigrate.django.reset_sequences
  - module: pgmigrate.django.consistency_check
  - name: pgloader SQLite support
    description: The load file options this module writes.
    link: https://pgloader.readthedocs.io/en/latest/ref/sqlite.html
"""

EXAMPLES = r"""
- name: Load the SQLite data into the schema made by `manage.py migrate`, verify-full for the whole load
  pgmigrate.django.pgloader:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    engine: copy
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/pgmigrate-ca.crt
  register: load

- name: Show the plan of two tables only (the load file of engine pgloader), replacing what they hold
  pgmigrate.django.pgloader:
    source: /srv/app/db.sqlite3
    include_tables: [inventory_item, inventory_item_tags]
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    truncate: true
  check_mode: true
"""

RETURN = r"""
engine:
  description: The loader used.
  returned: always
  type: str
  sample: copy
engine_version:
  description: What C(pgloader --version) prints (Debian's 3.6.9 says 3.6.7~devel); null with O(engine=copy).
  returned: always
  type: str
  sample: 3.6.7~devel
plan:
  description: What the engine runs, without any password - the pgloader load file, or the C(TRUNCATE) and
    C(COPY) statements of O(engine=copy), one line per table.
  returned: always
  type: str
  sample: "LOAD DATABASE\n  FROM sqlite:///srv/app/db.sqlite3\n  INTO postgresql://app_owner@db.example.com:5432/app ..."
engine_errors:
  description: The first errors of the engine that are not about one row (pgloader's ERROR lines; with
    O(engine=copy) a table that failed as a whole, a foreign key that cannot be validated), password removed.
  returned: always
  type: list
  elements: str
  sample: ["ERROR Illegal :UTF-8 character starting at position 4."]
tables:
  description: One entry per copied table. C(read), C(imported), C(errors) are the engine's figures (null if it
    did not report the table), C(source_rows) and C(target_rows) the module's counts (check mode - C(source_rows)).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: Album, target: Album, source_rows: 347, read: 347, imported: 347, errors: 0, rejected: 0,
       target_rows: 347, seconds: 0.304}
rows:
  description: Rows in the target's copied tables after the load (in check mode, rows in SQLite).
  returned: always
  type: int
  sample: 15607
rejected_rows:
  description: SQLite rows missing from the target in total (tolerated up to O(max_rejected_rows)).
  returned: always
  type: int
  sample: 0
reject_reasons:
  description: The first reasons PostgreSQL gave for rejected rows, per SQLite table.
  returned: always
  type: dict
  sample: {inventory_item: ["id=3: Database error 22001: value too long"]}
seconds:
  description: Wall time of the whole task (scan, load, verification).
  returned: always
  type: float
  sample: 12.8
django:
  description: The settings of O(django) the load honoured (empty without it); C(session_time_zone) is the
    session C(TimeZone) both engines loaded in.
  returned: always
  type: dict
  sample: {"use_tz": false, "time_zone": "America/New_York", "session_time_zone": "America/New_York"}
decimal_rounded:
  description: With O(decimal_overflow=round), how many values of each table were rounded as Django rounds them.
  returned: always
  type: dict
  sample: {"inventory_item": 2}
load_seconds:
  description: How long the engine ran, foreign key work included (0 in check mode).
  returned: always
  type: float
  sample: 11.7
preflight_seconds:
  description: How long the source scan took.
  returned: always
  type: float
  sample: 0.9
identifiers:
  description: How the target spells SQLite's names, V(quote), V(downcase) or (O(engine=copy)) V(exact).
  returned: always
  type: str
  sample: downcase
interval_columns:
  description: SQLite columns loaded as microseconds into C(interval), as C(table.column).
  returned: always
  type: list
  elements: str
  sample: [inventory_item.lead_time]
foreign_keys_restored:
  description: Foreign keys the engine dropped and did not restore exactly, re-created by the verification.
  returned: always
  type: list
  elements: str
  sample: []
executed_queries:
  description: SQL the module ran on the target (foreign key repairs; with O(engine=copy) the whole load).
  returned: always
  type: list
  elements: str
  sample: []
problems:
  description: Problems found by the source scan (see M(pgmigrate.django.preflight)); any fails the task.
  returned: always
  type: list
  elements: dict
  sample: []
skipped_tables:
  description: SQLite tables never copied (internals, virtual and shadow tables) and why.
  returned: always
  type: list
  elements: dict
  sample: [{name: sqlite_sequence, reason: SQLite internal table}]
excluded:
  description: Tables left out by O(exclude_tables).
  returned: always
  type: list
  elements: str
  sample: [django_migrations]
timed_out:
  description: Whether the load was stopped by O(timeout) (the task then fails).
  returned: always
  type: bool
  sample: false
pgloader_version:
  description: Deprecated, the same as RV(engine_version); returned until version 0.3.0.
  returned: always
  type: str
  sample: 3.6.7~devel
pgloader_errors:
  description: Deprecated, the same as RV(engine_errors); returned until version 0.3.0.
  returned: always
  type: list
  elements: str
  sample: []
load_file:
  description: Deprecated, the same as RV(plan); returned until version 0.3.0.
  returned: always
  type: str
  sample: "LOAD DATABASE ..."
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    copy_engine, decimal_round, django_values, load_plan, load_verify, pgloader_engine, preflight_checks,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, ensure_psycopg2, postgres_argument_spec, scrub,
)

ENGINES = {"pgloader": pgloader_engine, "copy": copy_engine}
# Old result keys, returned with the neutral ones until 0.3.0: old name -> new name.
DEPRECATED_KEYS = {"pgloader_version": "engine_version", "pgloader_errors": "engine_errors", "load_file": "plan"}


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        source=dict(type="path", required=True),
        schema=dict(type="str", default="public"),
        engine=dict(type="str", default="pgloader", choices=sorted(ENGINES)),
        mode=dict(type="str", default="data_only", choices=["data_only", "create_schema"]),
        prefilled_tables=dict(type="list", elements="str", default=list(preflight_checks.PREFILLED_TABLES)),
        include_tables=dict(type="list", elements="str", default=[]),
        exclude_tables=dict(type="list", elements="str", default=list(preflight_checks.DEFAULT_EXCLUDE)),
        settings=dict(type="dict", default={}),
        workers=dict(type="int", default=4), batch_rows=dict(type="int", default=10000),
        timeout=dict(type="int", default=3600), max_rejected_rows=dict(type="int", default=0),
        truncate=dict(type="bool", default=False), preflight=dict(type="bool", default=True),
        integrity_check=dict(type="str", default="quick", choices=["full", "quick", "none"]),
        max_reject_reasons=dict(type="int", default=5),
        # engine pgloader only (engine copy refuses them when set)
        casts=dict(type="list", elements="str", default=[]),
        concurrency=dict(type="int"), prefetch_rows=dict(type="int"), pgloader_path=dict(type="str"),
        allow_chain_only_tls=dict(type="bool", default=False),
    )
    spec.update(django_values.argument_spec())
    return spec


def check_params(params):
    """The engine for PARAMS, once every option it cannot honour is refused (nothing read or changed yet)."""
    for option in ("workers", "concurrency", "batch_rows", "prefetch_rows"):
        if params[option] is not None and params[option] < 1:
            raise ModuleError("%s must be at least 1" % option)
    engine = ENGINES[params["engine"]]
    engine.check_options(params)
    load_plan.refuse_other_engines_options(params, ENGINES)
    return engine


def planned_result(plan, prepared):
    """The result keys known before the load (all of them in check mode)."""
    tables = plan["tables"]
    return dict(
        plan=prepared["plan"], identifiers=prepared["identifiers"], interval_columns=prepared["interval_columns"],
        engine_version=prepared["version"], problems=plan["problems"], skipped_tables=plan["skipped"],
        excluded=plan["excluded"], preflight_seconds=plan["preflight_seconds"],
        tables=[{"name": e["source"], "target": e["target"], "source_rows": e.get("rows")} for e in tables],
        rows=sum(e.get("rows") or 0 for e in tables),
    )


def execute(module, result):
    params = django_values.with_option(module.params)
    result["django"] = django_values.summary(params)
    engine = check_params(params)
    sconn = load_plan.open_source(params["source"])
    conn = None
    try:
        conn = connect(params, autocommit=True)
        with conn.cursor() as cur:
            plan = load_plan.make_plan(params, sconn, cur)
            warnings = plan["warnings"] + load_plan.target_foreign_keys(params, plan, cur)
        result.update(planned_result(plan, engine.prepare(params, plan, conn)))
        for warning in warnings:
            module.warn(warning)
        load_plan.check_loadable(plan, params["source"])
        result["changed"] = True
        if module.check_mode:
            return
        outcome = engine.load(params, plan, lambda: connect(params))
        result["load_seconds"] = outcome["seconds"]
        result["decimal_rounded"] = decimal_round.after_load(params, sconn, conn, [e["source"] for e in plan["tables"]])
        verified, warnings = load_verify.verify(params, conn, sconn, plan, outcome, engine.WORDS)
        result.update(verified)
        for warning in warnings:
            module.warn(warning)
    finally:
        if conn is not None:
            conn.close()
        sconn.close()


def finished(result, started):
    result["seconds"] = round(time.monotonic() - started, 3)
    for old, new in DEPRECATED_KEYS.items():
        result[old] = result[new]
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    ensure_psycopg2(module)
    started = time.monotonic()
    result = dict(changed=False, engine=module.params["engine"], engine_version=None, engine_errors=[], plan="",
                  identifiers=None, interval_columns=[], problems=[], skipped_tables=[], excluded=[], tables=[],
                  rows=0, rejected_rows=0, reject_reasons={}, foreign_keys_restored=[], executed_queries=[],
                  timed_out=False, preflight_seconds=0.0, load_seconds=0.0, django={}, decimal_rounded={})
    try:
        execute(module, result)
    except ModuleError as failure:
        result.update(failure.result)
        module.fail_json(msg=scrub(str(failure), module.params), **finished(result, started))
    except Exception as error:  # an unexpected database or file error: say it, without the password
        module.fail_json(msg="pgloader task failed: %s: %s" % (type(error).__name__, scrub(error, module.params)),
                         **finished(result, started))
    module.exit_json(**finished(result, started))


if __name__ == "__main__":
    main()
