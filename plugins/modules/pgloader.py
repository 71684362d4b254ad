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
  - Copies the rows of a SQLite database (a Django app's C(db.sqlite3)) into the PostgreSQL schema that the
    application's own C(manage.py migrate) created (schema first), with pgloader (O(engine=pgloader), the
    default) or with the module's own streaming C(COPY) loader (O(engine=copy)). The options, the preflight,
    the verification and the results are the same for both.
  - Before loading it runs the same source scan as M(pgmigrate.django.preflight) and refuses, changing
    nothing, when a value would be refused or silently altered (NUL bytes, invalid UTF-8, overlong text,
    out-of-range integers, FK orphans, ...), when tables or columns exist on one side only, or when the
    target already holds rows and O(truncate) is not set.
  - Builds the pgloader load file from the options and the target's catalog - C(data only), C(truncate),
    C(reset no sequences), C(SET timezone TO 'UTC') (Django stores naive UTC text in SQLite), a
    microseconds cast for every C(interval) column (Django's DurationField), C(quote identifiers) when the
    target keeps mixed-case names, C(on error resume next) (a refused row is rejected alone, with its reason
    in pgloader's reject log, instead of stopping its table), and a table filter that selects exactly the wanted tables (pgloader's
    filter is SQLite C(LIKE), so the module adds the exclusions C(LIKE) needs, and refuses what it cannot
    express).
  - Runs pgloader in a private 0700 directory (load file 0600, removed afterwards), with the password in
    its environment only, in a process group of its own that a hard O(timeout) kills with SIGKILL
    (pgloader ignores SIGTERM).
  - pgloader exits 0 when rows are rejected, when a table stops at a bad row and when it fails to re-create
    foreign keys. So the module counts every copied table in SQLite and in PostgreSQL afterwards and fails,
    naming table and counts, when the target misses rows (beyond O(max_rejected_rows)); it re-creates with
    their original definition the foreign keys pgloader dropped and did not restore, and fails if that is
    impossible.
  - O(engine=copy) needs no pgloader (for hosts where it is not packaged, such as the RHEL family's base
    repositories), keeps its memory small and flat, and loads faster. Measured on the demo app's 1 million rows
    (2 cores shared with other work, PostgreSQL 15, C(benchmarks/bench_copy_engine.py), medians of three runs)
    - load 5.4 to 7.5 s with a peak RSS of 57 MB (47 MB at 20,000 rows), against 13 to 18 s and 265 to 270 MB
    for pgloader with this module's defaults, and 9.0 to 9.9 s for C(psql \copy) of ready COPY files into the
    same migrated schema.
  - O(engine=copy) reads each SQLite table with one query that builds the C(COPY) CSV lines in SQLite itself
    and streams them into C(COPY ... FROM STDIN) through psycopg2,
    converting every value by its target column's type - boolean from 0/1, timestamptz from Django's naive UTC
    text (the session runs in UTC), interval from integer microseconds, uuid from 32 hex digits, jsonb from
    JSON text, bytea from blobs, numeric and double precision from decimal text or REAL (REAL values printed
    exactly, by Python). Tables load in parallel up to O(workers), each with its own connection and in one
    transaction (C(TRUNCATE) then C(COPY)). The foreign keys touching the loaded tables are dropped first,
    re-added C(NOT VALID) after the load and validated, so they end exactly as they were.
  - With O(engine=copy) a row PostgreSQL refuses is rejected alone, with PostgreSQL's reason, as pgloader does
    (its table is loaded again in batches of O(batch_rows) under savepoints, and a failing batch is halved until
    the refused rows are found); nothing is altered to make a value fit.
  - Sequences are left alone (use M(pgmigrate.django.reset_sequences) next).
extends_documentation_fragment:
  - pgmigrate.django.connection
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Runs the source scan and builds the plan and the load file (the COPY statements with
      O(engine=copy)); loads nothing and changes nothing.
  diff_mode:
    description: Reports the changes it makes (or would make in check mode) in diff mode.
    support: none
  platform:
    description: The systems the module can run on.
    support: full
    platforms: posix
options:
  source:
    description:
      - Path of the SQLite database file on the host that runs the module (and pgloader, with O(engine=pgloader)).
      - The application must be stopped so the file does not change during the load.
    type: path
    required: true
  schema:
    description:
      - Target schema holding the tables (set as C(search_path) for the load).
    type: str
    default: public
  engine:
    description:
      - The loader. The preflight, the verification and the results do not depend on it.
      - V(pgloader) runs pgloader with a load file the module writes.
      - V(copy) streams the rows with PostgreSQL's C(COPY) through psycopg2, in the module's own process; it
        needs no pgloader and supports O(mode=data_only) only (and no O(casts)).
    type: str
    choices: [pgloader, copy]
    default: pgloader
  mode:
    description:
      - V(data_only) loads into existing tables (made by C(manage.py migrate)); this is the procedure for
        Django.
      - V(create_schema) lets pgloader create tables, indexes and foreign keys from the SQLite declarations
        (O(engine=pgloader) only).
        Not for Django (JSON and UUID become text, DurationField bigint, FloatField float4, no NOT NULL or
        CHECK); the target must not hold these tables yet.
    type: str
    choices: [data_only, create_schema]
    default: data_only
  truncate:
    description:
      - Allow replacing rows the target tables already hold. With V(false) the module refuses to load when
        a copied table holds rows, except O(prefilled_tables).
      - The load always empties the copied tables first (pgloader C(truncate); with O(engine=copy) a
        C(TRUNCATE) in the table's own transaction, so a table that cannot be loaded keeps its rows).
    type: bool
    default: false
  prefilled_tables:
    description:
      - Target tables that C(manage.py migrate) fills by itself (content types, permissions, the default
        site). Their rows are replaced by SQLite's without O(truncate).
    type: list
    elements: str
    default: [django_content_type, auth_permission, django_site]
  include_tables:
    description:
      - Load only these SQLite tables (exact names; each must exist). Empty means all tables except
        O(exclude_tables), SQLite internals and virtual tables.
    type: list
    elements: str
    default: []
  exclude_tables:
    description:
      - Tables not to load (exact names; each must exist, except V(django_migrations), which the target's
        own C(migrate) fills).
    type: list
    elements: str
    default: [django_migrations]
  casts:
    description:
      - Extra pgloader CAST rules, appended after the automatic interval casts, e.g.
        V(column app_item.size to bigint drop typemod).
      - O(engine=copy) refuses them (it converts every value by its target column's type).
    type: list
    elements: str
    default: []
  settings:
    description:
      - PostgreSQL settings for the loading sessions (pgloader's C(SET) clause; C(set_config) with
        O(engine=copy)), e.g. C(maintenance_work_mem). C(timezone) is always C(UTC) and C(search_path) is
        O(schema).
    type: dict
    default: {}
  workers:
    description:
      - pgloader C(workers). With O(concurrency), O(batch_rows) and O(prefetch_rows) it bounds pgloader's
        memory; the defaults keep it under 500 MB on a 1.8 million row database (measured peak RSS 272 MB on
        the demo app's 1.8 million rows, a 502 MB SQLite file).
      - With O(engine=copy), how many tables load at the same time (one PostgreSQL connection each, plus one
        for the foreign keys); each adds a few MB (peak RSS 58 MB with 2, 65 MB with 4 on the demo app's
        1 million rows). On a 2-core host 2 and 4 were as fast.
    type: int
    default: 4
  concurrency:
    description:
      - pgloader C(concurrency) (parallel COPY streams per table). O(engine=copy) uses one stream per table
        (its table is one transaction) and ignores it.
    type: int
    default: 1
  batch_rows:
    description:
      - pgloader C(batch rows), the rows per COPY batch (and per retry when a batch fails).
      - With O(engine=copy), the rows per batch when a table that had a refused row is loaded again.
    type: int
    default: 10000
  prefetch_rows:
    description:
      - pgloader C(prefetch rows), the rows read ahead from SQLite. pgloader's memory grows with it (on the
        demo app's 1.8 million rows, 4 workers - peak RSS 272 MB at 10000, 385 MB at 25000, 630 MB at
        pgloader's own default 100000). O(engine=copy) ignores it (it reads ahead at most about 2 MB per table).
    type: int
    default: 10000
  timeout:
    description:
      - Seconds pgloader may run; then its whole process group is killed with SIGKILL and the task fails.
        V(0) means no limit.
      - With O(engine=copy), the seconds the load may take; then every C(COPY) is cancelled, their tables are
        rolled back, and the task fails.
    type: int
    default: 3600
  max_rejected_rows:
    description:
      - How many SQLite rows in total may be missing from the target without failing the task. They are
        always reported (RV(rejected_rows), RV(reject_reasons) and a warning).
    type: int
    default: 0
  preflight:
    description:
      - Run the full source scan of M(pgmigrate.django.preflight) (values, foreign keys, O(integrity_check))
        before loading and refuse on any problem. With V(false) only the table and column matching is done;
        the counts after the load still catch every missing row.
    type: bool
    default: true
  integrity_check:
    description:
      - The SQLite integrity check of the preflight, V(full) (C(PRAGMA integrity_check)), V(quick)
        (C(PRAGMA quick_check), which skips comparing index content with the tables) or V(none).
      - V(quick) by default because this step runs while the application is stopped, after
        M(pgmigrate.django.preflight) and M(pgmigrate.django.sqlite_backup) have run the full check.
    type: str
    choices: [full, quick, none]
    default: quick
  max_reject_reasons:
    description:
      - How many rejected-row reasons to return per table (from pgloader's reject logs, or PostgreSQL's errors
        with O(engine=copy)).
    type: int
    default: 5
  pgloader_path:
    description:
      - The pgloader executable (a name looked up on C(PATH), or a full path). Not used with O(engine=copy).
    type: str
    default: pgloader
notes:
  - pgloader knows C(sslmode) up to V(require) only, and (measured with 3.6.9) then always checks the server
    certificate's chain, against OpenSSL's default store or O(ca_cert) (passed as C(SSL_CERT_FILE)), but not
    the host name. So with a private CA give O(ca_cert) even for O(ssl_mode=require). With
    O(ssl_mode=verify-ca) or O(ssl_mode=verify-full) pgloader gets C(sslmode=require), and the module's own
    connection, made first through libpq, has already verified the chain and (V(verify-full)) the host name.
  - The password reaches pgloader as C(PGPASSWORD) in its environment; it is never on a command line, in the
    load file, in results or in logs.
  - pgloader writes rejected rows to C(<table>.dat) files in its private directory; they are deleted with it,
    only the reasons are returned.
  - With O(engine=copy), if the load fails or times out, the tables committed before stay loaded, the others
    are as they were, and the dropped foreign keys are back but C(NOT VALID) (the partial load may violate
    them); drop the database, or re-run with O(truncate=true).
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
- name: Load the SQLite data into the schema made by `manage.py migrate`
  pgmigrate.django.pgloader:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/pgmigrate-ca.crt
  register: load

- name: Report rows and time per table
  ansible.builtin.debug:
    msg: "{{ load.tables | map(attribute='name') | zip(load.tables | map(attribute='target_rows')) | list }}"

- name: Show the plan and the load file only
  pgmigrate.django.pgloader:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
  check_mode: true

- name: Load without pgloader, with the built-in streaming COPY loader
  pgmigrate.django.pgloader:
    source: /srv/app/db.sqlite3
    engine: copy
    workers: 2
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app

- name: Reload two tables, replacing what they hold, with a 10 minute limit
  pgmigrate.django.pgloader:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_app_owner_password }}"
    login_db: app
    include_tables: [inventory_item, inventory_item_tags]
    truncate: true
    timeout: 600
"""

RETURN = r"""
tables:
  description:
    - One entry per copied table. C(read), C(imported) and C(errors) are the engine's own figures (pgloader's
      summary, where C(errors) counts events, not rows; with O(engine=copy) the rows read from SQLite, the rows
      committed and the rows refused; all three are null when the engine did not report the table);
      C(source_rows) and C(target_rows) are counted by the module; C(rejected) is
      C(source_rows - target_rows). In check mode only C(name), C(target) and C(source_rows) are known.
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
  description:
    - The first reasons PostgreSQL gave for rejected rows, per table, from pgloader's reject logs.
    - With O(engine=copy), PostgreSQL's errors, each after the row's key in SQLite.
  returned: always
  type: dict
  sample: {inventory_item: ["Database error 22001: value too long for type character varying(5) (CONTEXT: COPY inventory_item, line 3, column name)"]}
pgloader_errors:
  description:
    - The first ERROR lines pgloader printed (password removed).
    - With O(engine=copy), the errors of its statements that are not about one row (a table that failed as a
      whole, a foreign key that cannot be validated).
  returned: always
  type: list
  elements: str
  sample: ["2026-11-24T09:28:58.424000Z ERROR Illegal :UTF-8 character starting at position 4."]
seconds:
  description: Wall time of the whole task (scan, load, verification).
  returned: always
  type: float
  sample: 12.8
load_seconds:
  description: How long the engine ran (pgloader, or the COPY load with its foreign key work); 0 in check mode.
  returned: always
  type: float
  sample: 11.7
preflight_seconds:
  description: How long the source scan took.
  returned: always
  type: float
  sample: 0.9
pgloader_version:
  description: What C(pgloader --version) prints (the Debian 3.6.9 package says 3.6.7~devel); null with O(engine=copy).
  returned: always
  type: str
  sample: 3.6.7~devel
load_file:
  description:
    - The load file given to pgloader (it holds no password).
    - With O(engine=copy), the C(TRUNCATE) and C(COPY) statements it runs, one line per table.
  returned: always
  type: str
  sample: "LOAD DATABASE\n  FROM sqlite:///srv/app/db.sqlite3\n  INTO postgresql://app_owner@db.example.com:5432/app?sslmode=require\n ..."
identifiers:
  description:
    - How pgloader spells target names, V(quote) (as in SQLite) or V(downcase).
    - With O(engine=copy), the same, or V(exact) when the target mixes both (it pairs every name itself).
  returned: always
  type: str
  sample: downcase
interval_columns:
  description: SQLite columns loaded through the microseconds-to-interval cast, as C(table.column).
  returned: always
  type: list
  elements: str
  sample: [inventory_item.lead_time]
foreign_keys_restored:
  description:
    - Foreign keys the engine dropped and did not re-create (or re-created differently), re-created by the
      module's verification.
  returned: always
  type: list
  elements: str
  sample: []
executed_queries:
  description:
    - SQL the module ran itself on the target (foreign key repairs); pgloader's own SQL is not listed.
    - With O(engine=copy), also every statement of the load (foreign keys dropped, C(TRUNCATE), C(COPY),
      foreign keys re-added and validated).
  returned: always
  type: list
  elements: str
  sample: []
problems:
  description: Problems found by the source scan (see M(pgmigrate.django.preflight)); the task fails when there are any.
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
engine:
  description: The loader used.
  returned: always
  type: str
  sample: pgloader
timed_out:
  description: Whether the load was stopped by O(timeout) (the task then fails).
  returned: always
  type: bool
  sample: false
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    catalog, copy_engine, load_verify, pgloader_loadfile, pgloader_runner, pgloader_summary, preflight_checks,
    sqlite_source,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, ensure_psycopg2, postgres_argument_spec, scrub,
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        source=dict(type="path", required=True),
        schema=dict(type="str", default="public"),
        engine=dict(type="str", default="pgloader", choices=["pgloader", "copy"]),
        mode=dict(type="str", default="data_only", choices=["data_only", "create_schema"]),
        truncate=dict(type="bool", default=False),
        prefilled_tables=dict(type="list", elements="str", default=list(preflight_checks.PREFILLED_TABLES)),
        include_tables=dict(type="list", elements="str", default=[]),
        exclude_tables=dict(type="list", elements="str", default=list(preflight_checks.DEFAULT_EXCLUDE)),
        casts=dict(type="list", elements="str", default=[]),
        settings=dict(type="dict", default={}),
        workers=dict(type="int", default=pgloader_loadfile.DEFAULT_OPTIONS["workers"]),
        concurrency=dict(type="int", default=pgloader_loadfile.DEFAULT_OPTIONS["concurrency"]),
        batch_rows=dict(type="int", default=pgloader_loadfile.DEFAULT_OPTIONS["batch_rows"]),
        prefetch_rows=dict(type="int", default=pgloader_loadfile.DEFAULT_OPTIONS["prefetch_rows"]),
        timeout=dict(type="int", default=3600),
        max_rejected_rows=dict(type="int", default=0),
        preflight=dict(type="bool", default=True),
        integrity_check=dict(type="str", default="quick", choices=["full", "quick", "none"]),
        max_reject_reasons=dict(type="int", default=5),
        pgloader_path=dict(type="str", default="pgloader"),
    )
    return spec


class Failure(Exception):
    """Stop with this message and these extra result keys (nothing else to undo)."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


# ------------------------------------------------------------------------------------ planning

def find_pgloader(module):
    path = module.params["pgloader_path"]
    if os.sep in path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise Failure("pgloader_path %s is not an executable file. %s" % (path, pgloader_runner.INSTALL_HINT))
    found = module.get_bin_path(path, required=False)
    if not found:
        raise Failure(pgloader_runner.INSTALL_HINT)
    return found


def pgloader_version(module, binary):
    rc, out, err = module.run_command([binary, "--version"])
    return pgloader_summary.parse_version(out + err) or "unknown"


def open_source(path):
    try:
        return sqlite_source.open_readonly(path, raw_text=True)
    except sqlite_source.SourceError as error:
        raise Failure(str(error))


def synthetic_target(sconn, tables, identifiers):
    """For mode create_schema: plan entries whose target columns are 'text' (NUL/UTF-8 checks only)."""
    entries = []
    for name in tables:
        columns = sqlite_source.table_columns(sconn, name)
        fold = (lambda n: n) if identifiers == "quote" else (lambda n: n.lower())
        target_columns = [{"name": fold(c["name"]), "type": "text", "udt": "text", "notnull": False,
                           "max_length": None, "identity": "", "default": None} for c in columns]
        entries.append({"source": name, "target": fold(name), "source_columns": columns,
                        "target_columns": target_columns,
                        "column_pairs": [(c["name"], fold(c["name"])) for c in columns]})
    return entries


def plan_create_schema(module, sconn, cur):
    params = module.params
    source_tables, skipped = sqlite_source.list_tables(sconn)
    existing = catalog.target_tables(cur, params["schema"])
    selected, excluded = preflight_checks.resolve_selection(
        source_tables, [s["name"] for s in skipped], params["include_tables"], params["exclude_tables"])
    names = list(selected)
    for name in selected:
        names += [c["name"] for c in sqlite_source.table_columns(sconn, name)]
    identifiers = "quote" if any(n != n.lower() for n in names) else "downcase"
    entries = synthetic_target(sconn, selected, identifiers)
    clash = sorted(e["target"] for e in entries if e["target"] in existing)
    plan = {"tables": entries, "skipped": skipped, "excluded": excluded, "source_only": [], "target_only": [],
            "all_sqlite_tables": preflight_checks.sqlite_table_names(sconn), "problems": [], "warnings": [],
            "target_nonempty": [], "identifiers": identifiers}
    if clash:
        plan["problems"].append(preflight_checks.problem(
            "target_table_exists", "mode create_schema creates the tables, but %s already exist in schema %s: "
            "use mode data_only, or start from an empty database" % (", ".join(clash), params["schema"])))
    return plan


def make_plan(module, sconn, cur):
    """The preflight (full or structural) and the table pairing; raises Failure on any problem."""
    params = module.params
    started = time.monotonic()
    try:
        if params["mode"] == "create_schema":
            plan = plan_create_schema(module, sconn, cur)
            if params["preflight"]:
                plan["problems"] += preflight_checks.check_integrity(sconn, params["integrity_check"])
                found, warnings = preflight_checks.check_foreign_keys(sconn, [e["source"] for e in plan["tables"]])
                plan["problems"] += found
                plan["warnings"] += warnings
            source_rows = {}
            for entry in plan["tables"]:
                if params["preflight"]:
                    rows, found = preflight_checks.scan_table(sconn, entry)
                    plan["problems"] += found
                else:
                    rows = sqlite_source.count_rows(sconn, entry["source"])
                entry["rows"] = source_rows[entry["source"]] = rows
            plan["source_rows"] = source_rows
        elif params["preflight"]:
            plan = preflight_checks.run_preflight(
                sconn, cur, schema=params["schema"], include=params["include_tables"],
                exclude=params["exclude_tables"], integrity=params["integrity_check"],
                target_must_be_empty=not params["truncate"], prefilled=params["prefilled_tables"])
        else:
            plan = preflight_checks.plan_tables(sconn, cur, params["schema"], params["include_tables"],
                                                params["exclude_tables"])
            # Without the scan only what makes the load impossible stops it.
            plan["problems"] = [p for p in plan["problems"] if p["check"] in (
                "target_schema_empty", "missing_target_table", "missing_target_column", "target_column_required")]
            plan["source_rows"] = {}
            for entry in plan["tables"]:
                entry["rows"] = plan["source_rows"][entry["source"]] = sqlite_source.count_rows(sconn, entry["source"])
            plan["target_nonempty"] = preflight_checks.target_nonempty(
                cur, params["schema"], [e["target"] for e in plan["tables"]])
            if not params["truncate"]:
                for table in plan["target_nonempty"]:
                    if table not in params["prefilled_tables"]:
                        plan["problems"].append(preflight_checks.problem(
                            "target_not_empty", "target table %s.%s already holds rows: load into an empty database "
                            "(re-create it and run migrate), or replace them with truncate: true"
                            % (params["schema"], table),
                            table=table))
    except preflight_checks.PreflightError as error:
        raise Failure(str(error))
    except sqlite_source.sqlite3.DatabaseError as error:
        raise Failure("cannot read the SQLite file %s: %s (is it corrupt? check it with `sqlite3 FILE "
                      "'PRAGMA integrity_check'`)" % (params["source"], error))
    plan["preflight_seconds"] = round(time.monotonic() - started, 3)
    return plan


def source_for_loadfile(path, workdir):
    """The SQLite path as the load file names it.

    pgloader's `sqlite://` grammar stops at a space and has no quoting, so a path with anything
    but letters, digits and `_./-` is reached through a symlink in the private directory (SQLite
    resolves it, so a -wal file next to the real file is still found).
    """
    path = os.path.abspath(path)
    if pgloader_loadfile.plain_path(path):
        return path
    link = os.path.join(workdir, "source.sqlite3")
    os.symlink(path, link)
    return link


def name_rules(plan, engine="pgloader"):
    """(identifiers, interval pairs [(SQLite table, SQLite column)]) of a data_only plan.

    identifiers: how the target spells the SQLite names, V(quote) (as they are) or V(downcase); the
    copy engine pairs every name by itself, so a mix it reports as V(exact) instead of refusing.
    """
    entries = plan["tables"]
    pairs = [(e["source"], e["target"]) for e in entries]
    intervals = []
    for entry in entries:
        pairs += entry["column_pairs"]
        udt = {c["name"]: c["udt"] for c in entry["target_columns"]}
        intervals += [(entry["source"], source) for source, target in entry["column_pairs"]
                      if udt.get(target) == "interval"]
    try:
        identifiers = pgloader_loadfile.identifier_case(pairs)
    except pgloader_loadfile.LoadFileError:
        if engine == "pgloader":
            raise
        identifiers = "exact"
    return identifiers, intervals


def build_load_file(module, plan, target_url, source_path):
    """(load file text, identifiers, interval columns) for the plan; raises Failure when inexpressible."""
    params = module.params
    entries = plan["tables"]
    try:
        include, exclude = pgloader_loadfile.table_filter([e["source"] for e in entries], plan["all_sqlite_tables"])
        if params["mode"] == "create_schema":
            identifiers = plan["identifiers"]
            intervals = []
        else:
            identifiers, intervals = name_rules(plan)
        casts = pgloader_loadfile.interval_casts(intervals) + list(params["casts"])
        text = pgloader_loadfile.build_load_file(
            source_path, target_url, include, exclude, mode=params["mode"], identifiers=identifiers,
            casts=casts, schema=params["schema"], workers=params["workers"], concurrency=params["concurrency"],
            batch_rows=params["batch_rows"], prefetch_rows=params["prefetch_rows"], gucs=params["settings"])
    except pgloader_loadfile.LoadFileError as error:
        raise Failure(str(error))
    return text, identifiers, ["%s.%s" % pair for pair in sorted(intervals)]


def copy_plan(module, plan, conn):
    """(the statements the copy engine runs, identifiers, interval columns): its load_file."""
    if not plan["tables"]:
        raise Failure("no table is left to load: check include_tables and exclude_tables")
    identifiers, intervals = name_rules(plan, engine="copy")
    text = copy_engine.plan_text(plan["tables"], module.params["schema"], conn)
    return text, identifiers, ["%s.%s" % pair for pair in sorted(intervals)]


# ------------------------------------------------------------------------------------ engines

def pgloader_environment(params, url_env):
    extra = dict(url_env)
    if params.get("login_password"):
        extra["PGPASSWORD"] = params["login_password"]
    if params.get("ssl_mode") != "disable" and params.get("ca_cert"):
        # pgloader (cl+ssl) checks the server's chain against OpenSSL's default store; point it at the CA
        extra["SSL_CERT_FILE"] = params["ca_cert"]
    return pgloader_runner.child_environment(os.environ, extra)


def load_with_pgloader(module, plan, context):
    """Run pgloader once in context's workdir (private, removed by the caller).

    Returns {reported: {target: summary entry}, seconds, errors, reject_reasons, timed_out, rc}.
    """
    params = module.params
    load_file, url_env, binary, workdir = (context["load_file"], context["url_env"], context["binary"],
                                           context["workdir"])
    root = os.path.join(workdir, "root")
    os.mkdir(root, 0o700)
    load_path = pgloader_runner.write_private(os.path.join(workdir, "migrate.load"), load_file)
    summary_path = os.path.join(workdir, "summary.csv")
    stdout_path = os.path.join(workdir, "pgloader.out")
    stderr_path = os.path.join(workdir, "pgloader.err")
    argv = [binary, "--root-dir", root + os.sep, "--summary", summary_path, "--logfile",
            os.path.join(workdir, "pgloader.log"), load_path]
    env = pgloader_environment(params, url_env)
    try:
        run = pgloader_runner.run(argv, env, workdir, params["timeout"], stdout_path, stderr_path)
    except pgloader_runner.RunnerError as error:
        raise Failure(str(error))

    def hide(text):
        return scrub(text, params)

    errors = pgloader_runner.error_lines(stdout_path, scrub=hide) + pgloader_runner.error_lines(stderr_path, scrub=hide)
    outcome = {"seconds": run["seconds"], "errors": errors[:10], "timed_out": run["timed_out"], "rc": run["rc"]}
    if run["timed_out"]:
        raise Failure("pgloader did not finish within timeout=%d seconds and was killed (SIGKILL to its process "
                      "group %d); the target holds a partial load: drop the database (or re-run with "
                      "truncate: true) and raise timeout" % (params["timeout"], run["pid"]),
                      timed_out=True, pgloader_errors=outcome["errors"], load_seconds=run["seconds"])
    if run["rc"] != 0:
        if any("SSL verify error" in line for line in errors):
            errors.insert(0, "pgloader could not verify the server certificate: give the CA that signed it "
                             "in ca_cert (pgloader checks the chain even for ssl_mode=require)")
        raise Failure("pgloader failed with exit code %s: %s" % (
            run["rc"], " | ".join(errors[:5]) or pgloader_runner.tail(stderr_path, 600, hide)
            or pgloader_runner.tail(stdout_path, 600, hide)),
            pgloader_errors=outcome["errors"], load_seconds=run["seconds"])
    try:
        entries = pgloader_summary.read_summary(summary_path)
    except pgloader_summary.SummaryError as error:
        raise Failure("%s. pgloader said: %s" % (error, " | ".join(errors[:5]) or "nothing"),
                      pgloader_errors=outcome["errors"], load_seconds=run["seconds"])
    targets = [entry["target"] for entry in plan["tables"]]
    outcome["reported"] = pgloader_summary.table_entries(entries, targets)
    names = targets + [entry["source"] for entry in plan["tables"]]
    reasons = pgloader_summary.read_reject_reasons(root, names, limit=max(0, params["max_reject_reasons"]))
    by_lower = {}
    for entry in plan["tables"]:
        by_lower[entry["target"].lower()] = entry["source"]
        by_lower[entry["source"].lower()] = entry["source"]
    outcome["reject_reasons"] = {by_lower.get(k.lower(), k): [hide(r) for r in v] for k, v in reasons.items()}
    return outcome


def load_with_copy(module, plan, context):
    """The built-in engine: SQLite rows streamed into COPY (module_utils/copy_engine.py).

    Returns what load_with_pgloader returns, plus the SQL it ran (`queries`).
    """
    params = module.params

    def hide(text):
        return scrub(text, params)

    try:
        outcome = copy_engine.load(
            lambda: connect(module), lambda: open_source(params["source"]), params["schema"], plan["tables"],
            context["foreign_keys"], workers=params["workers"], batch_rows=params["batch_rows"],
            timeout=params["timeout"], settings=params["settings"], max_reasons=params["max_reject_reasons"])
    except copy_engine.CopyError as error:
        outcome = error.outcome
        message = hide(error)
        if not error.partial:
            message += " (nothing was loaded)"
        elif error.timed_out:
            message += (" (the tables committed before the deadline stay loaded, the others are as they were: drop "
                        "the database, or re-run with truncate: true, and raise timeout)")
        else:
            message += (" (the other tables were stopped; the target holds a partial load: drop the database, or "
                        "fix the cause and re-run with truncate: true)")
        if outcome.get("foreign_keys_not_valid"):
            message += ("; foreign keys %s are back but NOT VALID, as the partial load may violate them"
                        % ", ".join(outcome["foreign_keys_not_valid"]))
        if outcome.get("foreign_keys_lost"):
            message += ("; foreign keys %s could not be re-added: create them again from the definitions in "
                        "pgloader_errors" % ", ".join(outcome["foreign_keys_lost"]))
        raise Failure(message, changed=error.partial, timed_out=error.timed_out,
                      pgloader_errors=[hide(e) for e in outcome["errors"][:10]],
                      load_seconds=outcome.get("seconds", 0.0), executed_queries=outcome.get("queries", []))
    return {"seconds": outcome["seconds"], "errors": [hide(e) for e in outcome["errors"][:10]], "timed_out": False,
            "rc": 0, "reported": outcome["reported"], "queries": outcome["queries"],
            "reject_reasons": {table: [hide(r) for r in reasons] for table, reasons in outcome["reject_reasons"].items()}}


ENGINES = {"pgloader": load_with_pgloader, "copy": load_with_copy}
# How the verification names each engine in its messages.
ENGINE_WORDS = {
    "pgloader": {"done": "pgloader exited 0", "dropped": "dropped by pgloader"},
    "copy": {"done": "the copy engine finished", "dropped": "dropped for the load"},
}


# ------------------------------------------------------------------------------------ verification

def verify(module, conn, sconn, plan, outcome, fks_before):
    """Counts on both sides, foreign keys; returns the result dict or raises Failure."""
    params = module.params
    schema = params["schema"]
    result = {}
    with conn.cursor() as cur:
        target_counts = load_verify.count_target(cur, schema, [e["target"] for e in plan["tables"]])
        fks_after = catalog.foreign_keys(cur, schema)
    source_counts = {e["source"]: sqlite_source.count_rows(sconn, e["source"]) for e in plan["tables"]}
    tables = load_verify.table_results(plan["tables"], source_counts, target_counts, outcome["reported"])
    result["tables"] = tables
    result["rows"] = sum(t["target_rows"] or 0 for t in tables)
    result["rejected_rows"] = sum(t["rejected"] or 0 for t in tables)
    result["reject_reasons"] = outcome.get("reject_reasons", {})
    result["pgloader_errors"] = outcome.get("errors", [])
    changed_fks = load_verify.foreign_key_changes(fks_before, fks_after)
    restored, queries, fk_errors = [], [], []
    if changed_fks:
        conn.autocommit = False
        try:
            restored, queries, fk_errors = load_verify.restore_foreign_keys(conn, schema, changed_fks)
        finally:
            conn.autocommit = True
    result["foreign_keys_restored"] = restored
    result["executed_queries"] = outcome.get("queries", []) + queries
    words = ENGINE_WORDS[params["engine"]]
    problems, tolerated = load_verify.shortfalls(tables, params["max_rejected_rows"])
    for name, error in fk_errors:
        problems.append("foreign key %s was %s and cannot be re-created: %s"
                        % (name, words["dropped"], scrub(error, params)))
    if params["mode"] == "create_schema":
        problems += load_verify.missing_created_foreign_keys(sconn, plan["tables"], fks_after)
    for line in tolerated:
        if "did not report" in line:
            module.warn(line)
        else:
            module.warn("rows missing in the target (within max_rejected_rows=%d): %s"
                        % (params["max_rejected_rows"], line))
    if restored:
        module.warn("foreign keys %s were %s and not restored; the module re-created them"
                    % (", ".join(restored), words["dropped"]))
    if problems:
        reasons = ["%s: %s" % (table, items[0]) for table, items in sorted(result["reject_reasons"].items()) if items]
        detail = reasons[:5] or result["pgloader_errors"][:3]
        raise Failure("%s but the load is incomplete - %s%s" % (
            words["done"], "; ".join(problems), (". First reasons: " + " | ".join(detail)) if detail else ""),
            **result)
    return result


# ------------------------------------------------------------------------------------ main

def base_result(module, plan, load_file, identifiers, intervals, version):
    return dict(
        changed=False, engine=module.params["engine"], load_file=load_file, identifiers=identifiers,
        interval_columns=intervals, pgloader_version=version, problems=plan.get("problems", []),
        skipped_tables=plan.get("skipped", []), excluded=plan.get("excluded", []), timed_out=False,
        preflight_seconds=plan.get("preflight_seconds", 0.0), load_seconds=0.0, rejected_rows=0,
        reject_reasons={}, pgloader_errors=[], foreign_keys_restored=[], executed_queries=[],
        tables=[{"name": e["source"], "target": e["target"], "source_rows": e.get("rows")} for e in plan.get("tables", [])],
        rows=sum(e.get("rows") or 0 for e in plan.get("tables", [])),
    )


def check_engine_options(params):
    """Options one engine cannot honour are refused before anything is read or changed."""
    if params["engine"] != "copy":
        return
    if params["mode"] != "data_only":
        raise Failure("engine copy loads into the tables `manage.py migrate` made (mode data_only); mode "
                      "create_schema needs engine pgloader")
    if params["casts"]:
        raise Failure("casts are pgloader CAST rules; engine copy converts every value by its target column's type. "
                      "Remove casts, or use engine pgloader")


def execute(module, started, result):
    params = module.params
    engine = params["engine"]
    check_engine_options(params)
    binary = None
    if engine == "pgloader":
        binary = find_pgloader(module)
        result["pgloader_version"] = pgloader_version(module, binary)
    sconn = open_source(params["source"])
    conn = connect(module, autocommit=True)
    workdir = pgloader_runner.private_workdir()
    try:
        with conn.cursor() as cur:
            plan = make_plan(module, sconn, cur)
        context = {"binary": binary, "workdir": workdir, "url_env": {}}
        if engine == "pgloader":
            url, context["url_env"] = pgloader_loadfile.target_url(params)
            load_file, identifiers, intervals = build_load_file(module, plan, url,
                                                                source_for_loadfile(params["source"], workdir))
        else:
            load_file, identifiers, intervals = copy_plan(module, plan, conn)
        context["load_file"] = load_file
        result.update(base_result(module, plan, load_file, identifiers, intervals, result["pgloader_version"]))
        for warning in plan.get("warnings", []):
            module.warn(warning)
        if plan["problems"]:
            raise Failure("nothing was loaded: the preflight found %d problem(s) in %s: %s" % (
                len(plan["problems"]), params["source"], preflight_checks.summarize(plan["problems"])))
        if module.check_mode:
            result["changed"] = True
            return result
        with conn.cursor() as cur:
            fks_before = catalog.foreign_keys(cur, params["schema"]) if params["mode"] == "data_only" else []
        context["foreign_keys"] = fks_before
        not_valid = [fk["name"] for fk in fks_before if fk["definition"].endswith(" NOT VALID")]
        if not_valid:
            module.warn("foreign keys %s are NOT VALID in the target (left so by an interrupted load?); they are "
                        "kept so: validate them with ALTER TABLE ... VALIDATE CONSTRAINT" % ", ".join(not_valid))
        result["changed"] = True
        outcome = ENGINES[engine](module, plan, context)
        result["load_seconds"] = outcome["seconds"]
        result.update(verify(module, conn, sconn, plan, outcome, fks_before))
        return result
    finally:
        pgloader_runner.remove_workdir(workdir)
        conn.close()
        sconn.close()
        result["seconds"] = round(time.monotonic() - started, 3)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    ensure_psycopg2(module)
    for option in ("workers", "concurrency", "batch_rows", "prefetch_rows"):
        if module.params[option] < 1:
            module.fail_json(msg="%s must be at least 1" % option)
    started = time.monotonic()
    result = {"changed": False, "pgloader_version": None}
    try:
        execute(module, started, result)
    except Failure as failure:
        result.update(failure.result)
        result["seconds"] = round(time.monotonic() - started, 3)
        module.fail_json(msg=scrub(str(failure), module.params), **result)
    except Exception as error:  # an unexpected database or file error: say it, without the password
        result["seconds"] = round(time.monotonic() - started, 3)
        module.fail_json(msg="pgloader task failed: %s: %s" % (type(error).__name__, scrub(error, module.params)),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
