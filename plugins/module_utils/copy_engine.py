# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The `copy` engine of the pgloader module: every planned table streamed into COPY (copy_table),
in parallel, with the foreign keys dropped for the load and restored exactly.

Measured on the demo app (1e6 rows, 2 cores, PostgreSQL 15), which shaped the design:

- Tables in parallel on threads, each with its own PostgreSQL connection and one transaction
  (TRUNCATE + COPY + COMMIT); processes were not faster and need their results pickled back.
- Foreign keys touching the loaded tables are dropped before the load, re-added NOT VALID after it
  and then validated in parallel, so pg_get_constraintdef() ends exactly as before. Deferring the
  checks instead costs a per-row trigger (250,000 link rows: 2.0 s against 0.55 s for the COPY and
  0.17 s for the validation), and a child's commit-time check cannot see a parent table that
  another worker has not committed yet.
- Every connection is psycopg2's (libpq), so ssl_mode verify-full holds for the whole load.
"""

from __future__ import annotations

import queue
import threading
import time

from ansible_collections.pgmigrate.django.plugins.module_utils import load_plan
from ansible_collections.pgmigrate.django.plugins.module_utils.copy_table import TableCopy, describe_error, load_table
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import psycopg2, quote_qualified, scrub, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident

NAME = "copy"
OWN_OPTIONS = ()
WORDS = {"done": "the copy engine finished", "dropped": "dropped for the load"}


class CopyError(Exception):
    """The load cannot go on: a table failed for a reason that is not one row, or the deadline passed."""

    def __init__(self, msg, table=None, timed_out=False, partial=True):
        super().__init__(msg)
        self.table = table
        self.timed_out = timed_out
        self.partial = partial  # False: stopped before any table was touched
        self.outcome = {}


# ------------------------------------------------------------------------------------ the engine API

def check_options(params):
    """Refuse, before anything is read or changed, what only pgloader does."""
    if params["mode"] != "data_only":
        raise ModuleError("engine copy loads into the tables `manage.py migrate` made (mode data_only); mode "
                          "create_schema needs engine pgloader")
    if params.get("casts"):
        raise ModuleError("casts are pgloader CAST rules; engine copy converts every value by its target column's "
                          "type. Remove casts, or use engine pgloader")


def prepare(params, plan, conn):
    """{plan: the statements the engine runs per table, identifiers, interval_columns, version: None}."""
    identifiers, intervals = load_plan.name_rules(plan, exact_allowed=True)
    lines = []
    for entry in plan["tables"]:
        table = TableCopy(entry, params["schema"])
        lines.append("%s; %s  -- %s rows from SQLite table %s" % (
            table.truncate_statement().as_string(conn), table.copy_statement().as_string(conn),
            table.rows, quote_ident(table.source)))
    return {"plan": "\n".join(lines) + ("\n" if lines else ""), "identifiers": identifiers,
            "interval_columns": ["%s.%s" % pair for pair in intervals], "version": None}


def load(params, plan, connect):
    """Load the plan with COPY; CONNECT() gives a new psycopg2 connection (not autocommit).
    Returns {reported, seconds, errors, reject_reasons, timed_out, queries}; raises ModuleError."""
    try:
        outcome = run_load(
            connect, lambda: load_plan.open_source(params["source"]), params["schema"], plan["tables"],
            plan["foreign_keys"], workers=params["workers"], batch_rows=params["batch_rows"],
            timeout=params["timeout"], settings=params["settings"], max_reasons=params["max_reject_reasons"],
            time_zone=params.get("session_time_zone") or "UTC")
    except CopyError as error:
        raise failure(error, params)
    return {"seconds": outcome["seconds"], "errors": [scrub(e, params) for e in outcome["errors"][:10]],
            "timed_out": False, "reported": outcome["reported"], "queries": outcome["queries"],
            "reject_reasons": {table: [scrub(r, params) for r in reasons]
                               for table, reasons in outcome["reject_reasons"].items()}}


def failure(error, params):
    """The ModuleError for a CopyError: what was loaded, and what to do."""
    outcome = error.outcome
    message = scrub(error, params)
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
                    "engine_errors" % ", ".join(outcome["foreign_keys_lost"]))
    return ModuleError(message, changed=error.partial, timed_out=error.timed_out,
                       engine_errors=[scrub(e, params) for e in outcome.get("errors", [])[:10]],
                       load_seconds=outcome.get("seconds", 0.0), executed_queries=outcome.get("queries", []))


# ------------------------------------------------------------------------------------ foreign keys

def keys_to_drop(foreign_keys, targets):
    """The foreign keys whose table or referenced table is loaded (TRUNCATE and COPY need them gone)."""
    wanted = set(targets)
    return [fk for fk in foreign_keys if fk["table"] in wanted or fk["ref_table"] in wanted]


def not_valid_definition(definition):
    return definition if definition.endswith(" NOT VALID") else definition + " NOT VALID"


def drop_foreign_keys(conn, schema, keys, queries):
    with conn.cursor() as cur:
        for fk in keys:
            statement = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                quote_qualified(schema, fk["table"]), sql.Identifier(fk["name"]))
            queries.append(statement.as_string(conn))
            cur.execute(statement)
    conn.commit()


def add_foreign_keys_not_valid(conn, schema, keys, queries):
    """Re-add KEYS as NOT VALID (no scan, cannot fail on data); one transaction."""
    with conn.cursor() as cur:
        for fk in keys:
            statement = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                quote_qualified(schema, fk["table"]), sql.Identifier(fk["name"])) + sql.SQL(
                not_valid_definition(fk["definition"]))
            queries.append(statement.as_string(conn))
            cur.execute(statement)
    conn.commit()


def validate_foreign_key(conn, schema, fk, queries):
    """VALIDATE one re-added key (its original was valid). Returns an error line or None."""
    statement = sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
        quote_qualified(schema, fk["table"]), sql.Identifier(fk["name"]))
    queries.append(statement.as_string(conn))
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.commit()
    except psycopg2.Error as error:
        conn.rollback()
        return "foreign key %s: %s" % (fk["name"], describe_error(error))
    return None


# ------------------------------------------------------------------------------------ the load

class _Workers(object):
    """Worker threads taking tasks from one queue until it is empty, one fails, or they are stopped."""

    def __init__(self, tasks, count, run_task, connections):
        self.tasks = queue.Queue()
        for task in tasks:
            self.tasks.put(task)
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.run_task = run_task
        self.connections = connections  # (PostgreSQL, SQLite) per worker
        self.threads = []
        for index in range(count):
            thread = threading.Thread(target=self._work, args=(index,), name="pgmigrate-copy-%d" % index)
            thread.daemon = True  # a worker stuck in a C call must not keep the module alive
            self.threads.append(thread)

    def _work(self, index):
        conn = self.connections[index][0]
        while not self.cancel.is_set():
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                return
            try:
                self.run_task(index, task)
            except BaseException as error:  # pylint: disable=broad-except
                _rollback_quietly(conn)  # in this thread: the connection is never shared
                if not self.cancel.is_set():  # else: stopped (psycopg2 turns read()'s Cancelled into an error)
                    with self.lock:
                        self.failures.append((task, error))
                    self.cancel.set()
                return

    def run(self, deadline):
        """Start, wait; True when DEADLINE (monotonic) passed and the workers were stopped."""
        for thread in self.threads:
            thread.start()
        for thread in self.threads:
            while thread.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    self.stop()
                    return True
                thread.join(0.2)
        return False

    def stop(self, grace=10.0):
        """The flag (read() raises), a cancel request to PostgreSQL, an interrupt to SQLite; then wait."""
        self.cancel.set()
        for conn, sconn in self.connections:
            for action in (conn.cancel, sconn.interrupt):
                try:
                    action()
                except Exception:  # pylint: disable=broad-except
                    pass
        end = time.monotonic() + grace
        for thread in self.threads:
            thread.join(max(0.0, end - time.monotonic()))

    def stuck(self):
        return [thread.name for thread in self.threads if thread.is_alive()]


def _error_text(error):
    if isinstance(error, psycopg2.Error):
        return describe_error(error)
    return "%s: %s" % (type(error).__name__, error)


def run_load(connect, open_sqlite, schema, entries, foreign_keys, workers=4, batch_rows=10000, timeout=0,
             settings=None, max_reasons=5, time_zone="UTC"):
    """Load ENTRIES (planned tables) with COPY; returns the outcome the module verifies.

    CONNECT() gives a new psycopg2 connection (not autocommit), OPEN_SQLITE() a new read-only
    SQLite connection (text as bytes). FOREIGN_KEYS are the target's keys before the load
    (catalog.foreign_keys). Raises CopyError when a table fails as a whole or TIMEOUT seconds
    pass; its .outcome holds what is known then. Either way the dropped foreign keys exist again.

    Outcome: {reported: {target: {read, imported, errors, seconds}}, reject_reasons: {source: [...]},
    errors: [lines], queries: [...], seconds, foreign_keys_not_valid: [names re-added NOT VALID only]}.
    """
    run = _Load(connect, schema, entries, foreign_keys, workers, timeout)
    try:
        run.open(open_sqlite, settings, time_zone)
        run.drop_keys()
        run.copy_tables(batch_rows, max_reasons)
        run.restore_keys()
        return run.outcome
    except CopyError as error:
        error.outcome = run.outcome
        raise
    finally:
        run.close()


class _Load(object):
    """One run of the engine: its connections, the keys it dropped, what it reports."""

    def __init__(self, connect, schema, entries, foreign_keys, workers, timeout):
        self.started = time.monotonic()
        self.timeout = timeout
        self.deadline = self.started + timeout if timeout and timeout > 0 else None
        self.schema = schema
        self.tables = sorted((TableCopy(entry, schema) for entry in entries), key=lambda t: -(t.rows or 0))
        self.count = max(1, min(workers, len(self.tables)))
        self.queries, self.errors = [], []
        self.outcome = {"reported": {}, "reject_reasons": {}, "errors": self.errors, "queries": self.queries,
                        "foreign_keys_not_valid": []}
        self.keys = keys_to_drop(foreign_keys, [t.target for t in self.tables])
        self.dropped = []  # the keys gone from the target until they are re-added
        self.connect = connect
        self.connections = []  # (PostgreSQL, SQLite) per worker
        self.control = connect()  # the foreign keys' DDL

    def open(self, open_sqlite, settings, time_zone="UTC"):
        for _index in range(self.count):
            self.connections.append((self.connect(), open_sqlite()))
        try:
            prepare_session(self.control, None, settings)  # the keys' DDL: names resolve as they were printed
            for conn, _sconn in self.connections:
                prepare_session(conn, self.schema, settings, time_zone)
        except psycopg2.Error as error:
            raise CopyError("cannot prepare the loading sessions (check settings): %s" % describe_error(error),
                            partial=False)

    def drop_keys(self):
        if self.keys:
            _key_ddl(self.control, self.deadline, drop_foreign_keys, self.schema, self.keys, self.queries,
                     "cannot drop the foreign keys for the load", partial=False)
            self.dropped = self.keys

    def copy_tables(self, batch_rows, max_reasons):
        per_worker = [[] for _index in range(self.count)]
        reports = {}

        def copy_task(index, table):
            conn, sconn = self.connections[index]
            reports[table.target] = load_table(conn, sconn, table, pool.cancel, batch_rows, max_reasons,
                                               per_worker[index])

        pool = _Workers(self.tables, self.count, copy_task, self.connections)
        timed_out = pool.run(self.deadline)
        for table in self.tables:
            report = reports.get(table.target)
            if report is not None:
                self.outcome["reported"][table.target] = dict(
                    (key, report[key]) for key in ("read", "imported", "errors", "seconds"))
                if report["reasons"]:
                    self.outcome["reject_reasons"][table.source] = report["reasons"]
        for worker_queries in per_worker:
            self.queries += worker_queries
        if timed_out:
            self.errors += ["still running when stopped: %s" % ", ".join(pool.stuck())] if pool.stuck() else []
            raise CopyError("the copy engine did not finish within timeout=%d seconds and was stopped"
                            % self.timeout, timed_out=True)
        if pool.failures:
            table, error = pool.failures[0]
            self.errors.append("%s: %s" % (table.source, _error_text(error)))
            raise CopyError("the copy engine could not load table %s: %s" % (table.source, _error_text(error)),
                            table=table.source)

    def restore_keys(self):
        """Every table is in: the keys come back NOT VALID at once, then are validated in parallel."""
        if self.dropped:
            _key_ddl(self.control, self.deadline, add_foreign_keys_not_valid, self.schema, self.dropped,
                     self.queries, "every table is loaded, but the foreign keys cannot be re-added")
            self.dropped = []
            self.errors += validate_foreign_keys(self.connections, self.schema, self.keys, self.deadline,
                                                 self.queries, self.count, self.outcome)

    def close(self):
        if self.dropped:
            _restore_after_failure(self.control, self.schema, self.dropped, self.queries, self.outcome)
        self.outcome["seconds"] = round(time.monotonic() - self.started, 3)
        for conn, sconn in self.connections:
            _close_quietly(conn)
            _close_quietly(sconn)
        _close_quietly(self.control)


def validate_foreign_keys(connections, schema, keys, deadline, queries, count, outcome):
    """VALIDATE the re-added keys whose original was valid, on the worker connections; error lines."""
    failed, validated, per_worker = [], [], [[] for _index in range(count)]
    wanted = [fk for fk in keys if not fk["definition"].endswith(" NOT VALID")]

    def validate_task(index, fk):
        error = validate_foreign_key(connections[index][0], schema, fk, per_worker[index])
        if error:
            failed.append(error)
        else:
            validated.append(fk["name"])

    pool = _Workers(wanted, count, validate_task, connections)
    timed_out = pool.run(deadline)
    for worker_queries in per_worker:
        queries += worker_queries
    if timed_out:
        outcome["foreign_keys_not_valid"] = [fk["name"] for fk in wanted if fk["name"] not in validated]
        raise CopyError("the copy engine did not finish validating the foreign keys within the timeout and was "
                        "stopped", timed_out=True)
    return sorted(failed)


def _key_ddl(control, deadline, action, schema, keys, queries, what, partial=True):
    """ACTION (drop or re-add KEYS) on the control connection, waiting for locks until DEADLINE at most."""
    try:
        bound_locks(control, deadline)
        action(control, schema, keys, queries)
    except psycopg2.Error as error:
        _rollback_quietly(control)
        raise CopyError("%s: %s" % (what, describe_error(error)),
                        timed_out=deadline is not None and time.monotonic() >= deadline, partial=partial)


def bound_locks(conn, deadline):
    """DDL of the main thread waits for locks no longer than the deadline (the workers are cancelled instead)."""
    with conn.cursor() as cur:
        if deadline is None:
            cur.execute("SET lock_timeout = 0")
        else:
            cur.execute("SELECT set_config('lock_timeout', %s, false)",
                        ("%dms" % max(1, int((deadline - time.monotonic()) * 1000)),))
    conn.commit()


def _restore_after_failure(control, schema, keys, queries, outcome):
    """After a failure or the deadline: the dropped keys exist again, NOT VALID (the load is partial)."""
    try:
        _rollback_quietly(control)
        with control.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
        control.commit()
        add_foreign_keys_not_valid(control, schema, keys, queries)
        outcome["foreign_keys_not_valid"] = [fk["name"] for fk in keys]
    except Exception as error:  # pylint: disable=broad-except
        _rollback_quietly(control)
        outcome["foreign_keys_lost"] = [fk["name"] for fk in keys]
        outcome["errors"].insert(0, "the foreign keys dropped for the load could not be re-added: %s; their "
                                    "definitions: %s" % (_error_text(error), "; ".join(
                                        "%s.%s %s" % (fk["table"], fk["name"], fk["definition"]) for fk in keys)))


def prepare_session(conn, schema, settings, time_zone="UTC"):
    """UTF-8, TIME_ZONE (Django's naive text is UTC, or TIME_ZONE with USE_TZ = False: option django), the
    schema first (SCHEMA None: the role's own search_path, in which pg_get_constraintdef() printed the
    foreign keys), then the user's settings."""
    conn.set_client_encoding("UTF8")
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('timezone', %s, false)", (time_zone,))
        if schema is not None:
            cur.execute("SELECT set_config('search_path', %s, false)", (sql.Identifier(schema).as_string(conn),))
        for name, value in sorted((settings or {}).items()):
            if name.lower() in ("timezone", "search_path"):
                continue
            cur.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
    conn.commit()


def _rollback_quietly(conn):
    try:
        conn.rollback()
    except Exception:  # pylint: disable=broad-except
        pass


def _close_quietly(conn):
    try:
        conn.close()
    except Exception:  # pylint: disable=broad-except
        pass
