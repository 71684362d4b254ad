"""change_capture on real SQLite files (no PostgreSQL): triggers, keys, idempotence, absent, limits."""

from __future__ import annotations

import os
import sqlite3

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import change_capture_task, change_log, sqlite_source
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError

SCHEMA = """
CREATE TABLE parent (id integer PRIMARY KEY AUTOINCREMENT, name text UNIQUE);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id) ON DELETE CASCADE);
CREATE TABLE nokey (a text, b int);
CREATE TABLE pair (a text, b int, v text, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE loose (k PRIMARY KEY, v text);
CREATE TABLE django_migrations (id integer PRIMARY KEY, app text);
CREATE VIRTUAL TABLE search USING fts5(body);
INSERT INTO parent (name) VALUES ('x'), ('y');
"""


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "app.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)
    conn.close()
    return path


def run(path, check_mode=False, diff=False, **params):
    base = dict(path=str(path), state="present", include_tables=[], exclude_tables=["django_migrations"],
                busy_timeout=5, recopy_limit_rows=1)
    base.update(params)
    return change_capture_task.run(base, check_mode=check_mode, diff=diff)


def log(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT table_name, key, op FROM pgmigrate_change_log ORDER BY seq").fetchall()
    finally:
        conn.close()


def master(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()


def test_check_mode_is_the_preflight_and_changes_nothing(db):
    before = master(db)
    result = run(db, check_mode=True, diff=True)
    assert result["changed"] is True and master(db) == before
    assert [t["name"] for t in result["tables"]] == ["child", "loose", "nokey", "pair", "parent"]
    kinds = {t["name"]: (t["key_kind"], t["key_columns"], t["without_rowid"]) for t in result["tables"]}
    assert kinds["nokey"] == ("rowid", ["rowid"], False) and kinds["pair"] == ("pk", ["a", "b"], True)
    limits = {(item["table"], item["limit"]) for item in result["limits"]}
    assert limits == {("parent", "replace_deletes_without_trigger"), ("pair", "without_rowid"),
                      ("nokey", "no_primary_key"), ("loose", "inexact_key_type"), (None, "change_log_growth")}
    assert "pgmigrate_capture_insert_parent" in result["diff"]["after"] and result["diff"]["before"] == ""


def test_large_keyless_table_is_named(db):
    conn = sqlite3.connect(db)
    conn.executescript("INSERT INTO nokey VALUES ('a', 1), ('b', 2);")
    conn.close()
    limits = {(item["table"], item["limit"]) for item in run(db, check_mode=True)["limits"]}
    assert ("nokey", "large_recopy") in limits


def test_every_change_is_logged_by_key(db):
    fingerprint = change_log.fingerprint(sqlite3.connect(db))
    first = run(db)
    assert first["changed"] is True and first["in_place"] is True and first["schema_fingerprint"] == fingerprint
    again = run(db)
    assert again["changed"] is False and again["executed_statements"] == []
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("INSERT INTO child VALUES (1, 1), (2, 1)")
    conn.execute("UPDATE parent SET name = 'z' WHERE id = 2")
    conn.execute("UPDATE parent SET id = 20 WHERE id = 2")
    conn.execute("DELETE FROM parent WHERE id = 1")  # children by ON DELETE CASCADE: their triggers fire
    conn.execute("INSERT INTO nokey VALUES ('a', 1)")
    conn.execute("INSERT INTO pair VALUES ('k', 1, 'v')")
    conn.execute("INSERT INTO loose VALUES (1.5, 'real key'), (x'00ff', 'blob key'), ('t', 'text key')")
    conn.execute("INSERT INTO django_migrations (app) VALUES ('inventory')")
    conn.close()
    assert log(db) == [
        ("child", "[1]", "I"), ("child", "[2]", "I"), ("parent", "[2]", "U"), ("parent", "[2]", "U"),
        ("parent", "[20]", "U"), ("child", "[1]", "D"), ("child", "[2]", "D"), ("parent", "[1]", "D"),
        ("nokey", "[1]", "I"), ("pair", '["k",1]', "I"), ("loose", None, "I"), ("loose", None, "I"),
        ("loose", '["t"]', "I")]
    status = run(db, state="status")
    assert status["changed"] is False and status["in_place"] is True
    assert status["pending_changes"] == 13 and status["max_seq"] == 13


def test_absent_restores_the_schema_and_keeps_the_rows(db):
    before = master(db)
    run(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO parent (name) VALUES ('w')")
    rows = conn.execute("SELECT * FROM parent ORDER BY id").fetchall()
    conn.close()
    removed = run(db, state="absent", diff=True)
    assert removed["changed"] is True and removed["triggers"] == [] and removed["log_table"] is False
    assert "pgmigrate_change_log" in removed["diff"]["before"] and removed["diff"]["after"] == ""
    after = [row for row in master(db) if row[1] != "sqlite_sequence"]
    assert after == [row for row in before if row[1] != "sqlite_sequence"]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT * FROM parent ORDER BY id").fetchall() == rows
    assert conn.execute("SELECT name FROM sqlite_sequence").fetchall() == [("parent",)]
    conn.close()
    assert run(db, state="absent")["changed"] is False


def test_absent_and_present_repair_a_partial_install(db):
    run(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TRIGGER pgmigrate_capture_update_parent")
    conn.execute("DROP TRIGGER pgmigrate_capture_delete_child")
    conn.execute("DROP TRIGGER pgmigrate_capture_insert_nokey")  # and one with another definition
    conn.execute("CREATE TRIGGER pgmigrate_capture_insert_nokey AFTER INSERT ON nokey BEGIN SELECT 1; END")
    conn.close()
    status = run(db, state="status")
    assert status["in_place"] is False
    repaired = run(db)
    assert repaired["changed"] is True and repaired["in_place"] is True
    assert sorted(s.split()[0] for s in repaired["executed_statements"]) == ["CREATE"] * 3 + ["DROP"]
    assert repaired["executed_statements"][0].startswith("DROP TRIGGER")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TABLE pgmigrate_change_log")
    conn.close()
    assert run(db, state="absent")["changed"] is True
    assert not [row for row in master(db) if row[1].startswith("pgmigrate")]


def test_selection_and_the_log_is_never_copied(db):
    result = run(db, include_tables=["parent"], exclude_tables=[])
    assert [t["name"] for t in result["tables"]] == ["parent"] and len(result["triggers"]) == 3
    with pytest.raises(ModuleError, match="unknown table"):
        run(db, include_tables=["Parent"])
    tables, skipped = sqlite_source.list_tables(sqlite3.connect(db))
    assert "pgmigrate_change_log" not in tables and "pgmigrate_change_log" in [s["name"] for s in skipped]
    assert "search" not in tables and "search_data" not in tables


def test_bad_input_changes_nothing(db, tmp_path):
    with pytest.raises(ModuleError, match="does not exist"):
        run(tmp_path / "missing.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()
    with pytest.raises(ModuleError, match="busy_timeout"):
        run(db, busy_timeout=-1)
    assert not [row for row in master(db) if row[1].startswith("pgmigrate")]


def test_watermark_of_a_snapshot(db, tmp_path):
    with pytest.raises(ModuleError, match="before the change capture"):
        change_log.watermark(str(db))
    run(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO parent (name) VALUES ('w')")
    snapshot = sqlite3.connect(tmp_path / "snap.sqlite3")
    conn.backup(snapshot)
    snapshot.close()
    conn.execute("INSERT INTO parent (name) VALUES ('v')")
    conn.close()
    assert change_log.watermark(str(tmp_path / "snap.sqlite3")) == 1


def test_a_held_write_lock_fails_clearly_and_changes_nothing(db):
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO parent (name) VALUES ('held')")
    try:
        with pytest.raises(ModuleError, match="busy_timeout"):
            run(db, busy_timeout=0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not [row for row in master(db) if row[1].startswith("pgmigrate")]


def test_root_leaves_the_journal_files_to_the_owner(db, tmp_path):
    """Run as root on a file of the app's user: SQLite gives the WAL files it creates that user."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(("-wal", "-shm"))]  # removed on close
    os.chown(db, 4321, 4321)
    conn = change_log.open_live(str(db), 5)
    try:
        change_log.apply_in_one_transaction(conn, str(db), [change_log.LOG_DDL])
        owners = {name: os.stat(tmp_path / name).st_uid for name in os.listdir(tmp_path)}  # while still open
    finally:
        conn.close()
        os.chown(db, os.geteuid(), -1)
    assert owners == {"app.sqlite3": 4321, "app.sqlite3-wal": 4321, "app.sqlite3-shm": 4321}, owners
