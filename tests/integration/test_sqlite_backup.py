"""sqlite_backup through Ansible: WAL content included, integrity checked, sha256 recorded, idempotent."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def wal_database(tmp_path):
    """A WAL database whose last rows are still only in the -wal file (a writer keeps it open)."""
    path = tmp_path / "app.sqlite3"
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    writer.executemany("INSERT INTO t (v) VALUES (?)", [("row %d ü" % i,) for i in range(500)])
    writer.commit()
    assert (tmp_path / "app.sqlite3-wal").stat().st_size > 0
    yield path
    writer.close()


def test_backup_includes_wal_and_is_idempotent(ansible, wal_database, tmp_path):
    dest = tmp_path / "backup" / "app.sqlite3.bak"
    dest.parent.mkdir()
    before = sha256(wal_database)

    checked = ansible.module("sqlite_backup", {"path": str(wal_database), "dest": str(dest)}, check=True)
    assert checked.rc == 0 and checked.result["changed"] is True and not dest.exists()

    first = ansible.module("sqlite_backup", {"path": str(wal_database), "dest": str(dest)})
    assert first.rc == 0, first.output
    assert first.result["changed"] is True and first.result["integrity"] == "ok"
    assert first.result["source_sha256"] == before == sha256(wal_database)
    assert first.result["dest_sha256"] == sha256(dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT count(*), max(v) FROM t").fetchone() == (500, "row 99 ü")
    copy.close()
    manifest = json.loads((tmp_path / "backup" / "app.sqlite3.bak.json").read_text())
    assert manifest["source_sha256"] == before and manifest["dest_sha256"] == sha256(dest)

    again = ansible.module("sqlite_backup", {"path": str(wal_database), "dest": str(dest)})
    assert again.rc == 0 and again.result["changed"] is False
    assert again.result["dest_sha256"] == first.result["dest_sha256"]


def test_rows_only_in_the_wal_file_make_a_new_copy(ansible, wal_database, tmp_path):
    """The main file's sha256 does not change when rows land in the -wal file: the old copy is stale."""
    dest = tmp_path / "app.sqlite3.bak"
    first = ansible.module("sqlite_backup", {"path": str(wal_database), "dest": str(dest)})
    assert first.rc == 0 and first.result["source_wal_sha256"]
    main_before = sha256(wal_database)
    writer = sqlite3.connect(wal_database)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.executemany("INSERT INTO t (v) VALUES (?)", [("late %d" % i,) for i in range(7)])
    writer.commit()
    assert sha256(wal_database) == main_before

    second = ansible.module("sqlite_backup", {"path": str(wal_database), "dest": str(dest)})
    writer.close()
    assert second.rc == 0 and second.result["changed"] is True, second.output
    assert second.result["source_wal_sha256"] != first.result["source_wal_sha256"]
    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT count(*) FROM t WHERE v LIKE 'late %'").fetchone() == (7,)
    copy.close()


def test_backup_refuses_missing_or_foreign_source(ansible, tmp_path):
    missing = tmp_path / "nope.sqlite3"
    result = ansible.module("sqlite_backup", {"path": str(missing), "dest": str(tmp_path / "b")})
    assert result.failed and "does not exist" in result.result["msg"]
    assert not missing.exists() and not (tmp_path / "b").exists()

    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    result = ansible.module("sqlite_backup", {"path": str(text), "dest": str(tmp_path / "b")})
    assert result.failed and "not a SQLite 3 database" in result.result["msg"]
    assert not (tmp_path / "b").exists()


WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
while True:
    conn.execute("INSERT INTO t (v) VALUES ('written during the copy')")
    time.sleep(0.002)
"""


def test_one_step_copy_finishes_while_another_process_writes(ansible, tmp_path):
    """pages=-1: one read transaction, so the writes of another process cannot restart the copy."""
    path = tmp_path / "busy.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [("x" * 200,)] * 200000)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])  # pylint: disable=consider-using-with
    try:
        copy = ansible.module("sqlite_backup", {"path": str(path), "dest": str(tmp_path / "copy.sqlite3"),
                                                "pages": -1}, timeout=300)
        assert writer.poll() is None, "the writer must have written throughout"
    finally:
        writer.kill()
        writer.wait()
    assert copy.rc == 0 and copy.result["integrity"] == "ok", copy.output[-2000:]
    with sqlite3.connect(tmp_path / "copy.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] >= 200000
