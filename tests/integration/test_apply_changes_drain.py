"""apply_changes with app_writing: the change log drained while the app writes, then the rest at the stop.

Real SQLite written by another process, real PostgreSQL; the refusal is a real PostgreSQL trigger that
alters what the drain writes (a difference no later write of the app explains).
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from test_apply_changes import (  # noqa: F401  pylint: disable=unused-import
    CHECKS, Writer, apply, captured_live, live, online_copy, online_window,
)

pytestmark = pytest.mark.integration


def test_drained_while_the_app_writes_then_the_stop_applies_the_rest(ansible, live, online_copy, tmp_path):
    installed, snapshot = online_window(ansible, live, online_copy, tmp_path)
    fingerprint = installed["schema_fingerprint"]
    writer = Writer(live, tmp_path, seed=16)
    try:
        time.sleep(0.5)
        drain = apply(ansible, online_copy, live, snapshot, app_writing=True, expected_fingerprint=fingerprint)
        time.sleep(0.5)
    finally:
        done = writer.stop()
    assert sum(done.values()) > 20, done
    assert drain.rc == 0, (drain.result.get("msg"), drain.result.get("problems"))
    out = drain.result
    assert out["changes"] > 0 and online_copy.password not in drain.output
    if out["drained"]:
        assert out["next_watermark"] == out["max_seq"] > out["watermark"] and out["drain_note"] == ""
    else:  # a conflict only the stop resolves: nothing kept, the stop applies everything
        assert out["next_watermark"] == out["watermark"] and out["drain_note"], out
    print("drain:", out["drained"], out["changes"], out["drain_note"])

    rest = ansible.module("apply_changes", dict(online_copy.params, source=str(live), after_seq=out["next_watermark"],
                                                expected_fingerprint=fingerprint))
    assert rest.rc == 0, (rest.result.get("msg"), rest.result.get("problems"))
    assert rest.result["counts"]["ok"] and rest.result["problems"] == []
    final = ansible.module("consistency_check", dict(online_copy.params, source=str(live), checks=CHECKS))
    assert final.rc == 0 and final.result["consistent"], final.result.get("problems")


ALTER_ON_WRITE = """
CREATE FUNCTION pgmigrate_test_alter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.description := NEW.description || '!'; RETURN NEW; END $$;
CREATE TRIGGER pgmigrate_test_alter BEFORE INSERT OR UPDATE ON inventory_category
FOR EACH ROW WHEN (NEW.description = 'drained') EXECUTE FUNCTION pgmigrate_test_alter();
"""


def test_a_difference_no_write_explains_keeps_nothing_then_the_drain_is_final(ansible, demo_source, migrated_copy,
                                                                              tmp_path):
    target = migrated_copy
    live_file = captured_live(ansible, demo_source, tmp_path)
    conn = sqlite3.connect(live_file, isolation_level=None)
    conn.execute("INSERT INTO inventory_tag (name) VALUES ('drain-1'), ('drain-2')")
    conn.execute("UPDATE inventory_category SET description = 'drained' WHERE id = (SELECT min(id) FROM "
                 "inventory_category)")
    top = conn.execute("SELECT max(seq) FROM pgmigrate_change_log").fetchone()[0]
    conn.close()
    tags = "SELECT count(*) FROM inventory_tag WHERE name LIKE 'drain-%'"
    target.query(ALTER_ON_WRITE)
    args = dict(target.params, source=str(live_file), after_seq=0, app_writing=True)

    refused = ansible.module("apply_changes", args)
    assert refused.rc == 0, refused.result.get("msg")
    out = refused.result
    assert out["drained"] is False and out["changed"] is False and out["next_watermark"] == 0
    assert "inventory_category" in out["drain_note"] and out["problems"], out
    assert target.scalar(tags) == 0, "a drain that was refused kept rows"

    target.query("DROP TRIGGER pgmigrate_test_alter ON inventory_category")
    drained = ansible.module("apply_changes", args)
    assert drained.rc == 0 and drained.result["drained"] is True and drained.result["changed"] is True
    assert drained.result["next_watermark"] == top and target.scalar(tags) == 2
    # Nothing was written after the drain's top: the stop has nothing left but the counts.
    rest = ansible.module("apply_changes", dict(target.params, source=str(live_file), after_seq=top))
    assert rest.rc == 0 and rest.result["changes"] == 0 and rest.result["counts"]["ok"]

    both = ansible.module("apply_changes", dict(args, reset_sequences=True))
    assert both.failed and "mutually exclusive" in both.result["msg"]
