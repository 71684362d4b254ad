"""The online strategy's modules end to end, on a real SQLite file written by another process and a
real PostgreSQL: change_capture while the writer runs, a snapshot by sqlite_backup, the snapshot
loaded by the pgloader module (engine copy), more writes, the writer stopped, apply_changes, and
consistency_check finding PostgreSQL equal to SQLite row for row.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

WRITER = Path(__file__).resolve().parent / "online_writer.py"
CHECKS = ["tables", "columns", "row_counts", "content", "foreign_keys"]

# Tables the demo lacks, in both databases: SQLite-level cascades, a keyless and a WITHOUT ROWID table.
SQLITE_EXTRA = """
CREATE TABLE online_parent (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, name varchar(50) NOT NULL UNIQUE);
CREATE TABLE online_child (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, note text NOT NULL,
  parent_id bigint NOT NULL REFERENCES online_parent (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX online_child_parent ON online_child (parent_id);
CREATE TABLE online_log (msg text, n integer);
CREATE TABLE online_pair (a text NOT NULL, b integer NOT NULL, v text, PRIMARY KEY (a, b)) WITHOUT ROWID;
INSERT INTO online_parent (name) VALUES ('first'), ('second'), ('third');
INSERT INTO online_child (note, parent_id) VALUES ('a', 1), ('b', 1), ('c', 2);
INSERT INTO online_log VALUES ('hello', 1), ('hello', 1);
INSERT INTO online_pair VALUES ('k1', 0, 'x');
"""
PG_EXTRA = """
CREATE TABLE online_parent (id bigint PRIMARY KEY, name varchar(50) NOT NULL UNIQUE);
CREATE TABLE online_child (id bigint PRIMARY KEY, note text NOT NULL,
  parent_id bigint NOT NULL REFERENCES online_parent (id) DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ON online_child (parent_id);
CREATE TABLE online_log (msg text, n integer);
CREATE TABLE online_pair (a text COLLATE "C" NOT NULL, b integer NOT NULL, v text, PRIMARY KEY (a, b));
"""


class Writer(object):
    """online_writer.py in its own process, stopped by a file."""

    def __init__(self, db, workdir, seed):
        self.stop_file, self.report = workdir / ("stop-%d" % seed), workdir / ("report-%d.json" % seed)
        self.proc = subprocess.Popen([sys.executable, str(WRITER), str(db), str(self.stop_file), str(self.report),
                                      str(seed), "120"])

    def stop(self):
        self.stop_file.write_text("")
        assert self.proc.wait(timeout=60) == 0, "the writer failed"
        return json.loads(self.report.read_text())


@pytest.fixture
def live(demo_source, tmp_path):
    """A writable copy of the demo file plus the online_* tables (the 'app's live file')."""
    path = tmp_path / "live.sqlite3"
    shutil.copy(demo_source, path)
    path.chmod(0o600)
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_EXTRA)
    conn.close()
    return path


@pytest.fixture
def online_copy(demo_copy):
    conn = demo_copy.connect()
    with conn.cursor() as cur:
        cur.execute(PG_EXTRA)
    conn.commit()
    conn.close()
    return demo_copy


def dump_all(path):
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def dump(path):
    """Every app row and every schema entry but the capture's own (what `absent` must leave as it was)."""
    return [line for line in dump_all(path) if "pgmigrate_" not in line]


def capture(ansible, path, state="present", check=False, diff=False):
    return ansible.module("change_capture", {"path": str(path), "state": state}, check=check, diff=diff)


def apply(ansible, target, live, snapshot, check=False, **extra):
    args = dict(target.params, source=str(live), snapshot=str(snapshot))
    args.update(extra)
    return ansible.module("apply_changes", args, check=check)


def preflight_of(ansible, live):
    """change_capture in check mode: the tables, the limits and the fingerprint; nothing in the file changes."""
    preflight = capture(ansible, live, check=True)
    assert preflight.rc == 0 and preflight.result["changed"] is True, preflight.output[-3000:]
    assert preflight.result["log_table"] is True and preflight.result["in_place"] is True  # would be
    limits = {(item["table"], item["limit"]) for item in preflight.result["limits"]}
    assert ("inventory_item_tags", "replace_deletes_without_trigger") in limits
    assert ("online_log", "no_primary_key") in limits and ("online_pair", "without_rowid") in limits
    assert (None, "change_log_growth") in limits
    kinds = {t["name"]: t["key_kind"] for t in preflight.result["tables"]}
    assert kinds["online_log"] == "rowid" and kinds["inventory_item"] == "pk"
    assert "django_migrations" not in kinds and "pgmigrate_change_log" not in kinds
    assert not [line for line in dump_all(live) if "pgmigrate_" in line]
    return preflight.result


def online_window(ansible, live, target, tmp_path):
    """The window with the writer running: preflight, capture, snapshot, load. (capture result, snapshot, writes)"""
    writer = Writer(live, tmp_path, seed=15)
    try:
        time.sleep(0.3)
        preflight = preflight_of(ansible, live)
        installed = capture(ansible, live)
        assert installed.rc == 0 and installed.result["changed"] is True, installed.output[-3000:]
        assert installed.result["schema_fingerprint"] == preflight["schema_fingerprint"]
        time.sleep(0.5)
        snapshot = tmp_path / "snapshot.sqlite3"
        backup = ansible.module("sqlite_backup", {"path": str(live), "dest": str(snapshot)})
        assert backup.rc == 0, backup.output[-3000:]
        load = ansible.module("pgloader", dict(target.params, source=str(snapshot), engine="copy", truncate=True))
        assert load.rc == 0, load.result.get("msg")
        assert "pgmigrate_change_log" not in {t["name"] for t in load.result["tables"]}
        time.sleep(0.5)
    finally:
        done = writer.stop()
    assert sum(done.values()) > 50 and done.get("m2m_replace") and done.get("primary_key_change"), done
    return installed.result, snapshot


def assert_capture_removed(ansible, live, installed):
    """absent: only the capture's objects go; the app's rows and schema stay as they were."""
    with_capture = dump(live)
    removed = capture(ansible, live, state="absent", diff=True)
    assert removed.rc == 0 and removed.result["changed"] is True
    assert removed.result["schema_fingerprint"] == installed["schema_fingerprint"]
    assert dump(live) == with_capture
    assert not [line for line in dump_all(live) if "pgmigrate_" in line]


def test_online_window_applied_row_for_row(ansible, live, online_copy, tmp_path):
    installed, snapshot = online_window(ansible, live, online_copy, tmp_path)
    status = capture(ansible, live, state="status")
    assert status.rc == 0 and status.result["in_place"] is True and status.result["pending_changes"] > 50

    digest = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM inventory_item t"
    loaded = online_copy.scalar(digest)
    dry = apply(ansible, online_copy, live, snapshot, check=True)
    assert dry.rc == 0 and dry.result["changed"] is False and dry.result["changes"] > 0, dry.output[-3000:]
    assert online_copy.scalar(digest) == loaded

    applied = apply(ansible, online_copy, live, snapshot, expected_fingerprint=installed["schema_fingerprint"])
    assert applied.rc == 0, (applied.result.get("msg"), applied.result.get("problems"))
    out = applied.result
    print(json.dumps(out["tables"]))
    assert out["changed"] is True and out["counts"]["ok"] is True and out["problems"] == []
    assert online_copy.password not in applied.output
    tables = {t["name"]: t for t in out["tables"]}
    assert tables["online_log"]["recopied"] == online_copy.scalar("SELECT count(*) FROM online_log") > 2
    assert tables["inventory_item"]["upserted"] > 0 and out["rows_checked"] > 0

    final = ansible.module("consistency_check", dict(online_copy.params, source=str(live), checks=CHECKS))
    assert final.rc == 0 and final.result["consistent"], final.result.get("problems")
    rerun = apply(ansible, online_copy, live, snapshot)
    assert rerun.rc == 0 and rerun.result["changed"] is False, rerun.result["tables"]
    assert_capture_removed(ansible, live, installed)


# An app with USE_TZ = False in Asia/Kolkata (django_settings' shape) for the two tables the test rewrites whole.
DATETIME = {"internal_type": "DateTimeField", "null": False, "primary_key": False}
KOLKATA = {"settings": {"use_tz": False, "time_zone": "Asia/Kolkata"},
           "tables": {"inventory_event": {"happened_at": dict(DATETIME, field="happened_at")},
                      "inventory_item": {"created_at": dict(DATETIME, field="created_at")}}}


def test_ten_thousand_changed_keys_in_seconds(ansible, demo_source, demo_copy, tmp_path):
    """1e4 distinct changed keys (updates, deletes, inserts) applied and verified in a few seconds; the
    schema changed afterwards (a migrate on SQLite) is refused, changing nothing."""
    path = tmp_path / "live.sqlite3"
    shutil.copy(demo_source, path)
    path.chmod(0o600)
    installed = capture(ansible, path)
    assert installed.rc == 0, installed.result.get("msg")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE inventory_item SET name = substr(name, 1, 150) || ' (sold)', note = 'n' || id")
    conn.execute("UPDATE inventory_event SET kind = 'moved'")
    conn.execute("DELETE FROM inventory_item_tags")
    conn.execute("INSERT INTO inventory_item_tags (item_id, tag_id) SELECT id, 1 + id % 25 FROM inventory_item "
                 "WHERE id % 4 <> 0")
    conn.execute("COMMIT")
    changes = conn.execute("SELECT count(*) FROM (SELECT DISTINCT table_name, key FROM pgmigrate_change_log)"
                           ).fetchone()[0]
    assert changes >= 10000

    dry = ansible.module("apply_changes", dict(demo_copy.params, source=str(path), after_seq=0), check=True)
    assert dry.rc == 0 and dry.result["changes"] == changes and dry.result["changed"] is False

    # a value PostgreSQL refuses (SQLite does not enforce varchar(200)): everything rolled back, named
    digest = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM inventory_item t"
    loaded = demo_copy.scalar(digest)
    conn.execute("UPDATE inventory_item SET name = printf('%.300c', 'x') WHERE id = 7")
    refused = ansible.module("apply_changes", dict(demo_copy.params, source=str(path), after_seq=0))
    assert refused.rc != 0 and "value too long" in refused.result["msg"] and "rolled back" in refused.result["msg"]
    assert demo_copy.scalar(digest) == loaded and refused.result["changed"] is False
    conn.execute("UPDATE inventory_item SET name = 'seven' WHERE id = 7")

    applied = ansible.module("apply_changes", dict(demo_copy.params, source=str(path), after_seq=0, django=KOLKATA,
                                                   expected_fingerprint=installed.result["schema_fingerprint"]))
    assert applied.rc == 0, (applied.result.get("msg"), applied.result.get("problems"))
    out = applied.result
    print("apply_changes: %d keys in %.2f s, %d rows checked" % (out["changes"], out["seconds"], out["rows_checked"]))
    assert out["changes"] == changes and out["counts"]["ok"] and out["seconds"] < 20
    final = ansible.module("consistency_check", dict(demo_copy.params, source=str(path), checks=CHECKS,
                                                     django=KOLKATA))
    assert final.rc == 0 and final.result["consistent"], final.result.get("problems")
    # the events were written as Kolkata wall clock, as the load converts with that option: read as UTC they differ
    utc = ansible.module("consistency_check", dict(demo_copy.params, source=str(path), checks=["content"],
                                                   include_tables=["inventory_event"], fail_on_mismatch=False))
    assert "differs in column(s) happened_at" in " ".join(utc.result["problems"])

    conn.execute("ALTER TABLE inventory_tag ADD COLUMN colour varchar(10) NULL")  # a migrate on SQLite
    conn.execute("UPDATE inventory_item SET name = 'after the migrate' WHERE id = 1")
    conn.close()
    refused = ansible.module("apply_changes", dict(demo_copy.params, source=str(path), after_seq=0,
                                                   expected_fingerprint=installed.result["schema_fingerprint"]))
    assert refused.rc != 0 and "migrate ran on SQLite" in refused.result["msg"], refused.result.get("msg")
    assert refused.result["changed"] is False
    assert demo_copy.scalar("SELECT name FROM inventory_item WHERE id = 1") != "after the migrate"


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_changed_rows_are_read_by_primary_key_probes(pg_target):
    """The verification's read of the written rows probes the primary key index once per key, also as a
    cursor (planned for its first rows) with an analyzed key table: never a walk of the whole table."""
    from ansible_collections.pgmigrate.django.plugins.module_utils.change_rows import ROWS_TEMP, rows_by_key_probes
    from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import sql

    conn = pg_target.connect()
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE big (id bigint PRIMARY KEY, name text NOT NULL);"
                    "INSERT INTO big SELECT g, 'n' || g FROM generate_series(1, 200000) AS g; ANALYZE big")
        conn.autocommit = False
        cur.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT * FROM big WHERE id % 200 = 0; ANALYZE {}")
                    .format(sql.Identifier(ROWS_TEMP), sql.Identifier(ROWS_TEMP)))
        query = sql.SQL("SELECT id, name FROM {} ORDER BY id").format(
            rows_by_key_probes(sql.Identifier("public", "big"), "big", ["id"]))
        cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) DECLARE probe CURSOR FOR {}").format(query))
        scans = [node for node in _plan_nodes(cur.fetchone()[0][0]["Plan"]) if node.get("Relation Name") == "big"]
        assert scans and all(node["Node Type"] == "Index Scan" and node.get("Index Cond") for node in scans), scans
        cur.execute(query)
        assert cur.fetchall() == [(key, "n%d" % key) for key in range(200, 200001, 200)]
    finally:
        conn.close()


# ---------------------------------------------------------------- reset_sequences=true

def captured_live(ansible, demo_source, tmp_path):
    """A writable copy of the demo file with the capture installed (the log starts empty: after_seq=0)."""
    path = tmp_path / "live.sqlite3"
    shutil.copy(demo_source, path)
    path.chmod(0o600)
    installed = capture(ansible, path)
    assert installed.rc == 0, installed.result.get("msg")
    return path


def next_ids(target, tables):
    """{table: the id nextval() hands out next}, read without consuming one."""
    out = {}
    for table in tables:
        sequence = target.scalar("SELECT pg_get_serial_sequence(%s, 'id')", ('"%s"' % table,))
        last_value, is_called = target.query("SELECT last_value, is_called FROM %s" % sequence)[0]
        out[table] = last_value + 1 if is_called else last_value
    return out


def moved(result):
    return dict((s["table"], s["after"]) for s in result.result["sequences"] if s["changed"])


SEQUENCED = ["inventory_tag", "inventory_category", "inventory_item", "inventory_event"]


def test_reset_sequences_moves_them_with_the_rows_then_changes_nothing(ansible, demo_source, migrated_copy, tmp_path):
    """Rows inserted in SQLite above the snapshot's max: the next PostgreSQL insert gets max + 1; a deleted last
    row of an AUTOINCREMENT table is honoured (sqlite_sequence); check mode moves nothing; an excluded table's
    sequence is not touched; the run after changes nothing."""
    target = migrated_copy  # the snapshot loaded and its sequences reset, as after the online window
    live = captured_live(ansible, demo_source, tmp_path)
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("INSERT INTO inventory_tag (name) VALUES ('online-1'), ('online-2'), ('online-3')")
    top_tag = conn.execute("SELECT max(id) FROM inventory_tag").fetchone()[0]
    gone = conn.execute("INSERT INTO inventory_category (name, description) VALUES ('gone', 'last row')").lastrowid
    conn.execute("DELETE FROM inventory_category WHERE id = ?", (gone,))
    conn.close()
    loaded = next_ids(target, SEQUENCED)
    assert loaded["inventory_tag"] == top_tag - 2 and loaded["inventory_category"] == gone  # would be reused

    args = dict(target.params, source=str(live), after_seq=0, reset_sequences=True)
    dry = ansible.module("apply_changes", args, check=True)
    assert dry.rc == 0, dry.result.get("msg")
    assert dry.result["changed"] is True and dry.result["sequences_changed"] == 2
    assert moved(dry) == {"inventory_tag": top_tag + 1, "inventory_category": gone + 1}
    assert next_ids(target, SEQUENCED) == loaded, "check mode moved a sequence"
    assert target.scalar("SELECT max(id) FROM inventory_tag") == top_tag - 3, "check mode wrote rows"

    first = ansible.module("apply_changes", dict(args, exclude_tables=["django_migrations", "inventory_category"]))
    assert first.rc == 0, (first.result.get("msg"), first.result.get("problems"))
    assert first.result["changed"] is True and first.result["sequences_changed"] == 1
    assert moved(first) == {"inventory_tag": top_tag + 1}
    assert "inventory_category" not in {s["table"] for s in first.result["sequences"]}
    assert "django_migrations" not in {s["table"] for s in first.result["sequences"]}
    assert next_ids(target, SEQUENCED) == dict(loaded, inventory_tag=top_tag + 1)
    assert target.scalar("SELECT max(id) FROM inventory_tag") == top_tag

    second = ansible.module("apply_changes", args)
    assert second.rc == 0, second.result.get("msg")
    assert second.result["changed"] is True and moved(second) == {"inventory_category": gone + 1}
    assert not any(t["upserted"] or t["deleted"] for t in second.result["tables"]), second.result["tables"]

    rerun = ansible.module("apply_changes", args)
    assert rerun.rc == 0 and rerun.result["changed"] is False and rerun.result["sequences_changed"] == 0
    assert rerun.result["sequences"] and not moved(rerun)
    assert target.scalar("INSERT INTO inventory_tag (name) VALUES ('next') RETURNING id") == top_tag + 1
    assert target.scalar("INSERT INTO inventory_category (name, description) VALUES ('next', '') RETURNING id") \
        == gone + 1


def test_a_sequence_that_cannot_move_rolls_back_the_rows_too(ansible, demo_source, migrated_copy, tmp_path):
    """One sequence out of its range: the task fails with reset_sequences' message, and neither the applied rows
    nor any other sequence is committed. Without the reset the same apply commits them (the sequence failed)."""
    target = migrated_copy
    live = captured_live(ansible, demo_source, tmp_path)
    top_tag = target.scalar("SELECT max(id) FROM inventory_tag")
    target.query("ALTER TABLE inventory_tag ALTER COLUMN id SET MAXVALUE %d" % (top_tag + 1))
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("INSERT INTO inventory_tag (name) VALUES ('online-1'), ('online-2')")  # next would be top + 3
    conn.execute("INSERT INTO inventory_category (name, description) VALUES ('online', 'moves its sequence')")
    conn.close()
    counts = "SELECT (SELECT count(*) FROM inventory_tag), (SELECT count(*) FROM inventory_category)"
    rows, loaded = target.query(counts)[0], next_ids(target, SEQUENCED)

    args = dict(target.params, source=str(live), after_seq=0)
    failed = ansible.module("apply_changes", dict(args, reset_sequences=True))
    assert failed.rc != 0 and failed.result["changed"] is False
    msg = failed.result["msg"]
    assert "Cannot reset 1 sequence(s), nothing was changed" in msg and "inventory_tag_id_seq" in msg, msg
    assert "outside its range" in msg and "rolled back" in msg, msg
    assert len(failed.result["problems"]) == 1
    assert target.query(counts)[0] == rows, "the applied rows were committed"
    assert next_ids(target, SEQUENCED) == loaded, "a sequence moved"

    plain = ansible.module("apply_changes", args)
    assert plain.rc == 0 and plain.result["changed"] is True, plain.result.get("msg")
    assert target.query(counts)[0] == (rows[0] + 2, rows[1] + 1)
