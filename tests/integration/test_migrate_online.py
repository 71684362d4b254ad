"""The online strategy through migrate.yml and rollback.yml, with the app writing through its own URL.

Real faults only: a PostgreSQL trigger that refuses a row the app wrote after the snapshot (the apply in
the downtime fails), a schema change of the SQLite file while the capture runs, more pending changes than
allowed, and a controller killed with SIGKILL in the window. No test-only switch in the product.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time

import pytest
from migrate_site import ROWS, assert_no_secret, health, kill_group, site  # noqa: F401  pylint: disable=unused-import
from app_writer import Writer, missing_writes

pytestmark = pytest.mark.integration

ONLINE = ("-e", "pgmigrate_strategy=online")

# Refuses, in PostgreSQL only, any row named like the poison the app writes after the snapshot.
POISON = """
    CREATE FUNCTION public.pgm_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.name LIKE 'poison%' THEN RAISE EXCEPTION 'pgm fault: poison row refused'; END IF;
      RETURN NEW;
    END $$;
"""


def sqlite_rows(path):
    def rows_of(statement, args=()):
        with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % path, uri=True)) as conn:
            return conn.execute(statement.replace("%s", "?"), args).fetchall()
    return rows_of


def capture_objects(path):
    with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % path, uri=True)) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'pgmigrate%'")]


def state_of_latest_run(site):
    def state():
        runs = site.journals()
        return runs[max(runs)]["state"] if runs else "before"
    return state


def start_writer(site):
    writer = Writer(site.url.replace("/healthz", ""), state_of_latest_run(site), known_items=range(1, 200))
    writer.start()
    return writer


def wait_for_file(path, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no %s" % path
        time.sleep(0.05)


def stop_writer_at_the_stop(site, writer, run):
    """Let WRITER write through the window; stop it once the run journals "stopped" (or ends)."""
    try:
        site.wait_for_state({"stopped", "undone", "undo_incomplete", "preflight_failed"}, proc=run)
    finally:
        writer.stop()


def test_online_run_with_the_app_writing_loses_no_row_and_leaves_no_trigger(site):
    writer = start_writer(site)
    run = site.start_run("migrate.yml", *ONLINE)
    try:
        stop_writer_at_the_stop(site, writer, run)
        assert run.wait(timeout=900) == 0, open(run.log_path, encoding="utf-8").read()[-4000:]
    finally:
        writer.stop()
        if run.poll() is None:
            kill_group(run)
    output = open(run.log_path, encoding="utf-8").read()
    assert not writer.errors, writer.errors[:5]
    # The app wrote while the capture was installed and while the snapshot was loaded and checked.
    assert writer.phases.get("snapshot", 0) >= 5 and writer.phases.get("preflight", 0) >= 1, writer.phases
    assert health(site.url)["vendor"] == "postgresql"
    assert missing_writes(writer, site.in_target_as_admin) == []
    assert capture_objects(site.sqlite) == []
    # The demo's file is in rollback-journal mode: the preflight scanned a private copy, removed after the scan.
    assert re.search(r"Copy the live SQLite file for the scan[^\n]*\n(?:[^\n]*\n)?changed: ", output), output[-4000:]
    assert not list(site.backup_dir.glob("runs/*/preflight-scan.sqlite3*"))

    (journal,) = site.journals().values()
    assert journal["state"] == "healthy" and journal["capture_removed"]
    assert [h["state"] for h in journal["history"]][:4] == ["preflight", "capturing", "snapshot", "stopped"]
    report = json.loads((site.reports / "migration-localhost.json").read_text())
    assert report["strategy"] == "online" and report["verify"] == "changed" and report["consistent"]
    assert report["changes_applied"] > 0 and float(report["downtime_seconds"]) > 0

    # PostgreSQL equals the live SQLite file row for row (the writer stopped at the stop).
    check = site.ansible.module("consistency_check", {
        "source": str(site.sqlite), "login_host": site.admin.host, "login_port": site.admin.port,
        "login_user": site.admin.user, "login_password": site.admin.password, "login_db": site.db,
        "exclude_tables": ["django_migrations"], "checks": ["tables", "row_counts", "content", "sequences"]})
    assert check.result.get("consistent") is True, check.output[-3000:]
    assert_no_secret(site, output)

    back = site.run("rollback.yml")
    assert back.rc == 0, back.output[-4000:]
    assert "live SQLite file unchanged since the run removed its change capture" in back.output
    assert health(site.url)["vendor"] == "sqlite"
    assert missing_writes(writer, sqlite_rows(site.sqlite)) == []


def test_failure_after_the_stop_rolls_back_with_the_triggers_gone_and_every_row_in_sqlite(site):
    writer = start_writer(site)
    run = site.start_run("migrate.yml", *ONLINE)
    try:
        run_id = site.wait_for_state({"snapshot"}, proc=run)
        # The target's tables exist (the preflight built them): arm the fault, then write the poison
        # once the snapshot is taken, so only the apply in the downtime meets it.
        site.in_target_as_admin(POISON + "CREATE TRIGGER pgm_poison BEFORE INSERT OR UPDATE ON inventory_item "
                                "FOR EACH ROW EXECUTE FUNCTION public.pgm_poison()")
        wait_for_file(site.backup_dir / "runs" / run_id / "db.sqlite3.json", run)
        poison = site.post_items(1, prefix="poison")[0]
        stop_writer_at_the_stop(site, writer, run)
        assert run.wait(timeout=900) != 0
    finally:
        writer.stop()
        if run.poll() is None:
            kill_group(run)
    output = open(run.log_path, encoding="utf-8").read()
    assert "poison row refused" in output and "Rolled back:" in output, output[-4000:]
    assert "change capture removed from the SQLite file" in output
    assert capture_objects(site.sqlite) == []
    assert health(site.url)["vendor"] == "sqlite"
    assert sqlite_rows(site.sqlite)("SELECT name FROM inventory_item WHERE id = %s", (poison,)) == [("poison 0",)]
    assert missing_writes(writer, sqlite_rows(site.sqlite)) == []
    assert site.target_tables() == 0
    assert [j["state"] for j in site.journals().values()] == ["undone"]


def test_schema_change_during_the_window_is_refused_before_the_stop_and_the_capture_undone(site):
    pid = site.app_pid()
    run = site.start_run("migrate.yml", *ONLINE)
    try:
        run_id = site.wait_for_state({"snapshot"}, proc=run)
        wait_for_file(site.backup_dir / "runs" / run_id / "db.sqlite3.json", run)
        # What a deploy's `manage.py migrate` does to the live file while the capture runs.
        with contextlib.closing(sqlite3.connect(site.sqlite)) as conn:
            with conn:
                conn.execute("ALTER TABLE inventory_tag ADD COLUMN colour varchar(20) NULL")
        assert run.wait(timeout=900) != 0
    finally:
        if run.poll() is None:
            kill_group(run)
    output = open(run.log_path, encoding="utf-8").read()
    assert "The online window failed" in output and "fingerprint" in output, output[-4000:]
    assert "The app was never stopped" in output
    assert site.app_pid() == pid and health(site.url)["vendor"] == "sqlite"
    assert capture_objects(site.sqlite) == []
    assert site.target_tables() == 0
    assert [j["state"] for j in site.journals().values()] == ["undone"]


def test_too_many_pending_changes_are_refused_before_the_stop(site):
    pid = site.app_pid()
    writer = start_writer(site)
    try:
        run = site.run("migrate.yml", *ONLINE, "-e", "pgmigrate_online_max_pending_changes=0")
    finally:
        writer.stop()
    assert run.rc != 0 and "more than pgmigrate_online_max_pending_changes=0" in run.output, run.output[-3000:]
    assert site.app_pid() == pid and capture_objects(site.sqlite) == []
    assert missing_writes(writer, sqlite_rows(site.sqlite)) == []
    # The PostgreSQL .env was rendered ahead (-vvv --diff here): no password shown, none left behind.
    assert_no_secret(site, run)
    assert not list(site.backup_dir.glob("runs/*/env.postgresql"))


def test_controller_killed_in_the_window_then_recovery_removes_the_capture(site):
    pid = site.app_pid()
    run = site.start_run("migrate.yml", *ONLINE)
    run_id = site.wait_for_state({"snapshot"}, proc=run)
    kill_group(run)
    assert capture_objects(site.sqlite), "the capture should be in place while the window runs"

    # The run's lease (the window limit) has not passed: refused until the operator names it dead.
    refused = site.run("rollback.yml")
    assert refused.rc != 0 and "Another run holds" in refused.output, refused.output[-3000:]
    recovered = site.run("rollback.yml", "-e", "pgmigrate_takeover_run=%s" % run_id)
    assert recovered.rc == 0, recovered.output[-4000:]
    assert "Recovered run %s" % run_id in recovered.output
    assert "change capture removed from the SQLite file" in recovered.output
    # The app kept serving from SQLite throughout: the undo of a window never stops it.
    assert site.app_pid() == pid and health(site.url)["vendor"] == "sqlite"
    assert capture_objects(site.sqlite) == [] and site.target_tables() == 0
    assert site.journals()[run_id]["state"] == "undone"
    assert not (site.backup_dir / "migrate.lock").exists()
