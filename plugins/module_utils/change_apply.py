# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the apply_changes module does, from plain parameters (no AnsibleModule).

One PostgreSQL transaction (foreign keys deferred) for the whole apply; per table with logged keys:
the keys SQLite no longer has are deleted, the rows it has are upserted (copy_table's conversion via
COPY into a temporary table), then those rows are read again on both sides and compared with the
canonical forms of consistency_check. Then every selected table's row count is compared; a table
whose counts differ had a row deleted without a trigger firing (INSERT OR REPLACE) and has its key
set reconciled. Any difference left rolls everything back. With reset_sequences, the sequences of the
selected tables are then brought up to their column's max and sqlite_sequence (sequence_reset.move) in
the same transaction, so the rows and the sequences are committed together or not at all.
"""

from __future__ import annotations

import time

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    catalog, change_drain, change_log, change_verify, consistency_checks, django_values, load_plan, preflight_checks,
    sequence_reset, sqlite_source,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.change_rows import (
    KEYS_TEMP, ROWS_TEMP, ChangedTable, stream_copy,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import (
    connect, explain_error, psycopg2, quote_qualified, savepoint, sql,
)

SHOWN_PROBLEMS = 5
NOT_APPLIED = " (the changes applied in the same transaction were rolled back too: nothing was applied)"


def validate(params):
    if params["batch_keys"] < 1:
        raise ModuleError("batch_keys must be at least 1, not %d" % params["batch_keys"])
    if params["max_reported_mismatches"] < 0:
        raise ModuleError("max_reported_mismatches must be 0 or more, not %d" % params["max_reported_mismatches"])
    if params.get("after_seq") is not None and params["after_seq"] < 0:
        raise ModuleError("after_seq must be 0 or more, not %d" % params["after_seq"])


def check_fingerprint(sconn, params):
    """The current fingerprint; refuses when it is not the expected one."""
    current = change_log.fingerprint(sconn)
    expected = params.get("expected_fingerprint")
    if expected and current != expected:
        raise ModuleError(
            "the schema of %s changed since the change capture was installed (fingerprint %s, expected %s): a "
            "migrate ran on SQLite during the online window. Nothing was applied: remove the capture "
            "(change_capture state=absent) and start the cut-over again" % (params["source"], current, expected),
            schema_fingerprint=current, changed=False)
    return current


def pending_by_table(sconn, after):
    """{table: distinct keys logged after AFTER} (entries without a key count once: the table is re-copied)."""
    rows = sconn.execute(
        "SELECT table_name, count(DISTINCT coalesce(key, '')) FROM %s WHERE seq > ? GROUP BY table_name"
        % change_log.LOG_TABLE, (after,)).fetchall()
    return dict((sqlite_source.text(name), count) for name, count in rows)


def read_log(sconn, params, after):
    """(fingerprint, max seq, {table: pending keys}) of the source, in its read transaction."""
    sconn.execute("BEGIN")
    current = check_fingerprint(sconn, params)
    if change_log.LOG_TABLE not in change_log.existing_objects(sconn):
        raise ModuleError("%s has no %s: install the capture with change_capture state=present before the "
                          "snapshot" % (params["source"], change_log.LOG_TABLE), changed=False)
    _count, top = change_log.log_state(sconn)
    top = top or 0
    if after > top:
        raise ModuleError("the watermark %d is above the last seq %d of %s: the snapshot is not of this file, or the "
                          "capture was installed again after it" % (after, top, params["source"]), changed=False)
    return current, top, pending_by_table(sconn, after)


def run(params, check_mode=False):
    started = time.monotonic()
    validate(params)
    params = django_values.with_option(params)
    after = params["after_seq"] if params.get("after_seq") is not None else change_log.watermark(params["snapshot"])
    live = bool(params.get("app_writing"))
    raw = load_plan.open_source(params["source"])  # TEXT as bytes: copy_table's lines
    texts = sqlite_source.open_readonly(params["source"])  # TEXT as str: the comparison
    conn = None
    try:
        with sqlite_source.reading(params["source"]):
            current, top, pending = read_log(raw, params, after)
            # One read transaction for the whole apply, also while the app writes: the rows read are those of
            # one moment, so a child never arrives without its parent (measured: a drain reading table by table
            # met a foreign key violation every time under a writer load).
            texts.execute("BEGIN")
            sequence_source = (sequence_reset.read_sqlite(texts, params["source"]) if params.get("reset_sequences")
                               else None)
            result = {"changed": False, "watermark": after, "max_seq": top, "schema_fingerprint": current,
                      "django": django_values.summary(params), "decimal_rounded": {}, "problems": [],
                      "rows_checked": 0, "counts": {"ok": True, "tables": []}, "sequences": [],
                      "sequences_changed": 0, "next_watermark": top, "drained": False, "drain_note": ""}
            if check_mode:
                pending = selected(pending, params)
                result.update(tables=[_entry(name, count) for name, count in sorted(pending.items())],
                              changes=sum(pending.values()))
                if sequence_source is not None:
                    conn = connect(params)
                    move_sequences(conn, params, sequence_source, result, check_mode=True)
                    result["changed"] = result["sequences_changed"] > 0
                result["next_watermark"] = after
            else:
                conn = connect(params)
                Apply(params, raw, texts, conn, after, pending, result, sequence_source, top).run()
    except psycopg2.Error as error:
        if live:
            change_drain.not_drained(conn, result, explain_error(error, params))
            return _finished(result, started)  # the handles are closed below
        raise ModuleError("the changes could not be applied: %s; nothing was applied (rolled back)"
                          % explain_error(error, params), changed=False)
    finally:
        for handle in (conn, raw, texts):
            _close_quietly(handle)
    return _finished(result, started)


def _finished(result, started):
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def move_sequences(conn, params, sequence_source, result, check_mode=False):
    """sequence_reset.move() in CONN's open transaction (the apply's, or a read in check mode, rolled back); an
    impossible move or an error rolls the whole transaction back and fails with reset_sequences' message."""
    sqlite_values, source_tables = sequence_source
    suffix = "" if check_mode else NOT_APPLIED
    try:
        moved = sequence_reset.move(conn.cursor(), params, sqlite_values, check_mode, source_tables)
    except ModuleError as error:
        conn.rollback()
        raise ModuleError("%s%s" % (error, suffix), **dict(result, **dict(error.result, changed=False)))
    except psycopg2.Error as error:
        conn.rollback()
        raise ModuleError(sequence_reset.FAILED % explain_error(error, params) + suffix, **dict(result, changed=False))
    if check_mode:
        conn.rollback()
    result.update(sequences=moved["sequences"], sequences_changed=moved["changed_count"])


def selected(pending, params):
    """PENDING of the tables the selection options keep (check mode: names as SQLite spells them)."""
    include, exclude = set(params["include_tables"]), set(params["exclude_tables"])
    return dict((name, count) for name, count in pending.items()
                if (not include or name in include) and name not in exclude)


def _entry(name, changes):
    return {"name": name, "changes": changes, "upserted": 0, "deleted": 0, "recopied": 0, "reconciled": 0,
            "verified": 0}


def _close_quietly(handle):
    try:
        if handle is not None:
            handle.close()
    except Exception:  # pylint: disable=broad-except
        pass


class Apply(object):
    """One apply: the plan, the transaction, each changed table, the counts, commit or rollback."""

    def __init__(self, params, raw, texts, conn, watermark, pending, result, sequence_source=None, top=None):
        self.params, self.raw, self.texts, self.conn = params, raw, texts, conn
        self.live, self.top = bool(params.get("app_writing")), top  # top: the last seq read (app_writing)
        self.sequence_source = sequence_source  # read_sqlite() of the source when the sequences move too
        self.schema = params["schema"]
        self.watermark, self.pending, self.result = watermark, pending, result
        self.cur = None
        self.adapt = change_verify.plan_adapter(params)

    def run(self):
        consistency_checks.prepare_target_session(self.conn)  # registers bytea as bytes for the comparison
        self.conn.rollback()
        self.conn.set_session(readonly=False, autocommit=False)
        self.cur = self.conn.cursor()
        plan = self.plan()
        self.cur.execute("SET CONSTRAINTS ALL DEFERRED")
        # JIT compiles a plan whose cost passes jit_above_cost (a count of a large table does): compiling took
        # 0.6 s per statement (measured), and the apply's statements are short.
        self.cur.execute("SELECT set_config('jit', 'off', true)")
        tables, problems = [], []
        for entry in plan["tables"]:
            if entry["source"] in self.pending:
                tables.append(self.apply_table(entry, problems))
        if self.live:  # the counts move with the app's writes: the downtime compares them
            change_drain.finish(self, tables, problems)
            return
        counts = self.check_counts(plan["tables"], tables, problems)
        self.result.update(tables=tables, changes=sum(t["changes"] for t in tables), problems=problems,
                           counts=counts, rows_checked=sum(t["verified"] for t in tables))
        if problems:
            self.conn.rollback()
            shown = "; ".join(problems[:SHOWN_PROBLEMS])
            more = " (and %d more, see problems)" % (len(problems) - SHOWN_PROBLEMS) if len(problems) > SHOWN_PROBLEMS \
                else ""
            raise ModuleError("the changes applied to PostgreSQL differ from SQLite %s, so nothing was applied (rolled "
                              "back): %s%s" % (self.params["source"], shown, more), **dict(self.result, changed=False))
        if self.sequence_source is not None:
            move_sequences(self.conn, self.params, self.sequence_source, self.result)
        self.conn.commit()
        self.result["changed"] = self.result["sequences_changed"] > 0 or any(
            t["upserted"] or t["deleted"] or t["recopied"] or t["reconciled"] for t in tables)

    def plan(self):
        """The selected tables paired with the target (the load's own pairing); refuses a plan with problems."""
        try:
            plan = preflight_checks.plan_tables(self.raw, self.cur, self.schema, self.params["include_tables"],
                                                self.params["exclude_tables"])
        except ModuleError as error:
            raise ModuleError(str(error), changed=False)
        if plan["problems"]:
            raise ModuleError("nothing was applied: the tables of %s and schema %s do not pair as for the load: %s"
                              % (self.params["source"], self.schema, preflight_checks.summarize(plan["problems"])),
                              changed=False)
        self.conn.rollback()  # the catalog reads were a transaction of their own
        return plan

    # ------------------------------------------------------------ session phases

    def writing(self):
        """The copy engine's session for the writes: its time zone, PostgreSQL's own input formats."""
        for name, _value in consistency_checks.SESSION_SETTINGS:
            self.cur.execute(sql.SQL("RESET {}").format(sql.Identifier(name)))
        self.cur.execute("SELECT set_config('timezone', %s, false), set_config('search_path', %s, false)",
                         (self.params["session_time_zone"], sql.Identifier(self.schema).as_string(self.conn)))

    def comparing(self):
        """consistency_check's session: fixed output formats, UTC."""
        for name, value in consistency_checks.SESSION_SETTINGS:
            self.cur.execute(sql.SQL("SET {} TO {}").format(sql.Identifier(name), sql.Literal(value)))

    # ------------------------------------------------------------ one table

    def apply_table(self, entry, problems):
        target_key = catalog.target_primary_key(self.cur, self.schema, entry["target"])
        table = ChangedTable(entry, self.schema, target_key, self.watermark)
        stats = _entry(table.source, self.pending[table.source])
        self.writing()
        if not table.keyed or self.has_keyless_entries(table):
            return self.recopy(table, stats, problems)
        self.cur.execute(table.create_keys_temp())
        stream_copy(self.cur, table.copy_into(KEYS_TEMP, table.target_key), table.key_copy, self.raw,
                    table.key_copy.select_from(table.gone_keys_from()), table.args())
        self.cur.execute(table.analyze_temp(KEYS_TEMP))
        self.cur.execute(table.delete_using(KEYS_TEMP))
        stats["deleted"] = self.cur.rowcount
        self.cur.execute(table.drop_temp(KEYS_TEMP))
        self.cur.execute(table.create_rows_temp())
        stream_copy(self.cur, table.copy_into(ROWS_TEMP, table.copy.columns), table.copy, self.raw,
                    table.copy.select_from(table.present_rows_from()), table.args())
        self.cur.execute(table.analyze_temp(ROWS_TEMP))
        stats["upserted"], stats["reconciled"] = self.write_rows(table)
        self.round_decimals(table)
        self.comparing()
        stats["verified"] = change_verify.changed_rows(self, table, problems, self.changed_again(table))
        self.cur.execute(table.drop_temp(ROWS_TEMP))
        return stats

    def recopy(self, table, stats, problems):
        """A table without a usable key: compared whole first (a second apply changes nothing), and when it
        differs, DELETE + COPY (TRUNCATE would need the referencing tables too), then compared again."""
        self.comparing()
        found = []
        stats["verified"] = change_verify.whole_table(self, table, found)
        if not found:
            return stats
        again = self.changed_again(table)
        if again is not None and again.accepts_any():
            return stats  # written again since TOP: the downtime re-copies and compares it
        self.writing()
        self.cur.execute(sql.SQL("DELETE FROM {}").format(table.qualified()))
        stats["recopied"] = stream_copy(self.cur, table.copy.copy_statement(), table.copy, self.raw,
                                        table.copy.select)
        self.round_decimals(table, whole=True)
        self.comparing()
        stats["verified"] = change_verify.whole_table(self, table, problems, again)
        return stats

    def changed_again(self, table):
        """While the app writes: the keys of TABLE logged after the drain's TOP (None at the stop)."""
        return change_drain.ChangedAgain(self.raw, table, self.top) if self.live else None

    def has_keyless_entries(self, table):
        return self.raw.execute("SELECT 1 FROM %s WHERE table_name = ? AND seq > ? AND key IS NULL LIMIT 1"
                                % change_log.LOG_TABLE, table.args()).fetchone() is not None

    def write_rows(self, table):
        """(rows written, rows removed by a reconciliation). An upsert that meets a unique conflict means a row
        was deleted without its trigger (REPLACE) or two rows swapped unique values: the key set is
        reconciled and the changed keys are deleted then inserted."""
        try:
            with savepoint(self.cur, "pgmigrate_apply_upsert"):
                self.cur.execute(table.upsert())
                return self.cur.rowcount, 0
        except psycopg2.IntegrityError as error:
            if getattr(error, "pgcode", None) != "23505":  # unique_violation
                raise
        reconciled = self.reconcile(table)
        self.cur.execute(table.delete_using(ROWS_TEMP))
        self.cur.execute(table.insert())
        return self.cur.rowcount, reconciled

    def reconcile(self, table):
        """Delete the rows whose key SQLite does not have (every key of the table read once); the count."""
        self.writing()
        self.cur.execute(table.create_keys_temp())
        stream_copy(self.cur, table.copy_into(KEYS_TEMP, table.target_key), table.key_copy, self.raw,
                    table.key_copy.select)
        self.cur.execute(table.analyze_temp(KEYS_TEMP))
        self.cur.execute(table.delete_not_in(KEYS_TEMP))
        removed = self.cur.rowcount
        self.cur.execute(table.drop_temp(KEYS_TEMP))
        return removed

    def round_decimals(self, table, whole=False):
        rounded = change_verify.round_decimals(self, table, whole)
        if rounded:
            self.result["decimal_rounded"][table.source] = rounded

    # ------------------------------------------------------------ counts

    def check_counts(self, entries, tables, problems):
        """Every selected table's row count on both sides; a keyed table that differs is reconciled once."""
        by_name = dict((t["name"], t) for t in tables)
        differing = []
        for entry in entries:
            source_rows, target_rows = self.count(entry)
            if source_rows != target_rows:
                target_key = catalog.target_primary_key(self.cur, self.schema, entry["target"])
                table = ChangedTable(entry, self.schema, target_key, self.watermark)
                if table.keyed and source_rows < target_rows:
                    stats = by_name.setdefault(entry["source"], _entry(entry["source"], 0))
                    if stats not in tables:
                        tables.append(stats)
                    stats["reconciled"] += self.reconcile(table)
                    source_rows, target_rows = self.count(entry)
            if source_rows != target_rows:
                differing.append({"name": entry["source"], "source_rows": source_rows, "target_rows": target_rows})
                problems.append("table %s: %d rows in SQLite, %d in PostgreSQL after the apply"
                                % (entry["source"], source_rows, target_rows))
        tables.sort(key=lambda t: t["name"])
        return {"ok": not differing, "tables": differing}

    def count(self, entry):
        source_rows = sqlite_source.count_rows(self.raw, entry["source"])
        self.cur.execute(sql.SQL("SELECT count(*) FROM {}").format(
            quote_qualified(self.schema, entry["target"])))
        return source_rows, self.cur.fetchone()[0]
