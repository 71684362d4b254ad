# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the change_capture module does for each state, from plain parameters (no AnsibleModule)."""

from __future__ import annotations

import sqlite3

from ansible_collections.pgmigrate.django.plugins.module_utils import change_limits, change_log
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError


def validate(params):
    if params["busy_timeout"] < 0:
        raise ModuleError("busy_timeout must be 0 or more seconds, not %d" % params["busy_timeout"])
    if params["recopy_limit_rows"] < 0:
        raise ModuleError("recopy_limit_rows must be 0 or more, not %d" % params["recopy_limit_rows"])


def run(params, check_mode=False, diff=False):
    """The module result for PARAMS (path, state, include_tables, exclude_tables, busy_timeout,
    recopy_limit_rows)."""
    validate(params)
    conn = change_log.open_live(params["path"], params["busy_timeout"])
    try:
        return _run(conn, params, check_mode, diff)
    except sqlite3.Error as error:
        raise change_log.CaptureError("cannot read SQLite file %s: %s" % (params["path"], error))
    finally:
        conn.close()


def _public(table):
    return dict((key, table[key]) for key in ("name", "key_columns", "key_kind", "without_rowid"))


def _run(conn, params, check_mode, diff):
    state = params["state"]
    existing = change_log.existing_objects(conn)
    tables, wanted = [], {}
    if state != "absent":
        tables = change_log.selected_tables(conn, params["include_tables"], params["exclude_tables"])
        wanted = change_log.desired_objects(tables)
    if state == "present":
        drop, create = change_log.plan_changes(existing, wanted)
    elif state == "absent":
        drop, create = sorted(existing, key=lambda name: (existing[name][0] == "table", name)), []
    else:
        drop, create = [], []
    statements = [change_log.drop_statement(name, existing[name][0]) for name in drop]
    statements += [wanted[name][1] for name in create]
    if statements and not check_mode:
        change_log.apply_in_one_transaction(conn, params["path"], statements)
    after = dict(existing)
    for name in drop:
        after.pop(name, None)
    for name in create:
        after[name] = wanted[name]
    result = summary(conn, after, wanted, state)
    result.update(changed=bool(statements), executed_statements=statements,
                  schema_fingerprint=change_log.fingerprint(conn))
    if state != "absent":
        result["tables"] = [_public(table) for table in tables]
        result["limits"] = change_limits.all_limits(conn, tables, params["recopy_limit_rows"])
    if diff:
        result["diff"] = {"before": _listing(existing), "after": _listing(after)}
    return result


def summary(conn, after, wanted, state):
    """triggers, log_table, in_place, pending_changes, max_seq as they are after the task."""
    pending, top = change_log.log_state(conn) if change_log.LOG_TABLE in after else (0, None)
    in_place = bool(wanted) and all(after.get(name) == wanted[name] for name in wanted)
    if state != "status":
        in_place = in_place and state == "present" and set(after) == set(wanted)
    return {"triggers": sorted(name for name, (kind, _sql) in after.items() if kind == "trigger"),
            "log_table": change_log.LOG_TABLE in after, "in_place": in_place,
            "pending_changes": pending, "max_seq": top}


def _listing(objects):
    return "".join("%s %s\n" % (kind, name) for name, (kind, _sql) in sorted(objects.items()))
