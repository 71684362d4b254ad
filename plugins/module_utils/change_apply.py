# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the apply_changes module does, from plain parameters (no AnsibleModule)."""

from __future__ import annotations

import time

from ansible_collections.pgmigrate.django.plugins.module_utils import change_log, django_values, sqlite_source
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError


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
            schema_fingerprint=current)
    return current


def pending_by_table(sconn, after):
    """{table: distinct keys logged after AFTER} (NULL keys count once: the table is re-copied)."""
    rows = sconn.execute(
        "SELECT table_name, count(DISTINCT coalesce(key, '')) FROM %s WHERE seq > ? GROUP BY table_name"
        % change_log.LOG_TABLE, (after,)).fetchall()
    return dict((sqlite_source.text(name), count) for name, count in rows)


def run(params, check_mode=False):
    started = time.monotonic()
    validate(params)
    params = django_values.with_option(params)
    after = params["after_seq"] if params.get("after_seq") is not None else change_log.watermark(params["snapshot"])
    sconn = sqlite_source.open_readonly(params["source"])
    try:
        with sqlite_source.reading(params["source"]):
            sconn.execute("BEGIN")
            current = check_fingerprint(sconn, params)
            if change_log.LOG_TABLE not in change_log.existing_objects(sconn):
                raise ModuleError("%s has no %s: install the capture with change_capture state=present first"
                                  % (params["source"], change_log.LOG_TABLE))
            _count, top = change_log.log_state(sconn)
            pending = pending_by_table(sconn, after)
        if not check_mode:
            raise ModuleError("apply_changes: applying is not implemented yet (check mode works)")
        tables = [{"name": name, "changes": count, "upserted": 0, "deleted": 0, "recopied": 0, "reconciled": 0,
                   "verified": 0} for name, count in sorted(pending.items())]
        return {"changed": False, "tables": tables, "changes": sum(pending.values()), "watermark": after,
                "max_seq": top or 0, "rows_checked": 0, "counts": {"ok": True, "tables": []}, "problems": [],
                "schema_fingerprint": current, "decimal_rounded": {}, "django": django_values.summary(params),
                "seconds": round(time.monotonic() - started, 3)}
    finally:
        sconn.close()
