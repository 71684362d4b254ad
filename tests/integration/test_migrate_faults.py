"""Real faults on the local demo, as an operator meets them over a bad day (issue 12).

No test-only switch in the product: the faults are a broken target (event triggers set by the
superuser), app writes between attempts, a process holding the SQLite file, a controller killed
with SIGKILL, rows written on PostgreSQL before a rollback, and bad inventories.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from demo_site import app_environ  # pylint: disable=import-error
from migrate_site import ROWS, assert_no_secret, health, kill_group, sha256, site  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.integration

# An ORM write that leaves its rows in the -wal file: the process ends without closing its
# connection, so SQLite never checkpoints them into the main file.
WAL_WRITER = """
import os, uuid
import django
django.setup()
from inventory.models import Item
template = Item.objects.order_by("id").first()
for number in range(3):
    template.pk = None
    template.id = None
    template.uuid = uuid.uuid4()
    template.name = "written without a checkpoint %d" % number
    template.save()
os._exit(0)
"""


def sqlite_names(path, prefix):
    with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % path, uri=True)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM inventory_item WHERE name LIKE ?", (prefix + "%",))}


def target_names(site, prefix):
    return {row[0] for row in site.in_target_as_admin("SELECT name FROM inventory_item WHERE name LIKE %s",
                                                      (prefix + "%",))}


def write_without_checkpoint(site):
    env_file = site.env_file
    subprocess.run([sys.executable, "-c", WAL_WRITER], cwd=site.app_dir, check=True, capture_output=True,
                   env=app_environ(env_file, {"DJANGO_SETTINGS_MODULE": "demo_project.settings",
                                              "PATH": "/usr/bin:/bin", "PYTHONPATH": str(site.app_dir)}))


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_two_attempts_with_app_writes_in_between_lose_no_row(site, journal_mode):
    site.stop_app()
    with contextlib.closing(sqlite3.connect(site.sqlite)) as conn:
        assert conn.execute("PRAGMA journal_mode=%s" % journal_mode).fetchone()[0] == journal_mode
    site.start_app()

    site.revoke_owner_writes_once_created()
    first = site.run("migrate.yml")
    assert first.rc != 0 and "Rolled back:" in first.output, first.output[-3000:]
    site.drop_revoke_fault()
    assert health(site.url)["vendor"] == "sqlite"

    # The app serves from SQLite again and takes writes; some stay in the -wal file.
    site.post_items(7)
    write_without_checkpoint(site)
    expected = ROWS // 2 + 10
    assert health(site.url)["items"] == expected

    second = site.run("migrate.yml")
    assert second.rc == 0, second.output[-4000:]
    answer = health(site.url)
    assert answer["vendor"] == "postgresql" and answer["items"] == expected
    assert len(target_names(site, "written between attempts")) == 7
    assert len(target_names(site, "written without a checkpoint")) == 3
    runs = site.journals()
    assert sorted(j["state"] for j in runs.values()) == ["healthy", "undone"]
    assert_no_secret(site, second)

    back = site.run("rollback.yml")
    assert back.rc == 0, back.output[-4000:]
    assert "SQLite file verified unchanged" in back.output
    assert health(site.url)["vendor"] == "sqlite" and health(site.url)["items"] == expected
    assert len(sqlite_names(site.sqlite, "written between attempts")) == 7
    assert len(sqlite_names(site.sqlite, "written without a checkpoint")) == 3


def test_rollback_refuses_rows_written_on_postgresql_then_keeps_them_in_a_dump(site):
    assert site.run("migrate.yml").rc == 0
    site.post_items(3, prefix="written on postgresql")

    refused = site.run("rollback.yml")
    assert refused.rc != 0 and "Rollback refused" in refused.output, refused.output[-3000:]
    assert "pgmigrate_rollback_discard_writes=true" in refused.output
    # Nothing was taken away: the app serves from PostgreSQL again, its role may log in, rows are there.
    answer = health(site.url)
    assert answer["vendor"] == "postgresql" and answer["items"] == ROWS // 2 + 3
    assert len(target_names(site, "written on postgresql")) == 3
    assert site.in_target_as_admin("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (site.app_user,))[0][0]
    assert not (site.backup_dir / "migrate.lock").exists()

    kept = site.run("rollback.yml", "-e", "pgmigrate_rollback_discard_writes=true")
    assert kept.rc == 0, kept.output[-3000:]
    dumps = sorted(site.backup_dir.glob("runs/*/*.dump"))
    assert len(dumps) == 1 and str(dumps[0]) in kept.output
    assert oct(dumps[0].stat().st_mode & 0o777) == "0o600"
    restored = subprocess.run(["pg_restore", "--data-only", "--table=inventory_item", "--file=-", str(dumps[0])],
                              check=True, capture_output=True, text=True).stdout
    assert restored.count("written on postgresql") == 3
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0
    assert site.in_target_as_admin("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (site.app_user,))[0][0]
    assert_no_secret(site, kept)


def test_rollback_never_overwrites_a_file_a_process_holds_open(site):
    assert site.run("migrate.yml").rc == 0
    # A forgotten job writes to the old SQLite file and keeps it open.
    with contextlib.closing(sqlite3.connect(site.sqlite)) as conn:
        with conn:
            conn.execute("UPDATE inventory_category SET name = name || ' (late write)' WHERE id = 1")
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
                               "c.execute('SELECT count(*) FROM inventory_item').fetchone(); time.sleep(600)",
                               str(site.sqlite)])
    try:
        time.sleep(1)
        written = sha256(site.sqlite)
        back = site.run("rollback.yml")
        assert back.rc != 0 and "Rollback incomplete" in back.output, back.output[-3000:]
        assert "held open by %d" % holder.pid in back.output
        assert sha256(site.sqlite) == written
        assert not list(site.sqlite.parent.glob("*.pgmigrate-aside-*"))
    finally:
        holder.kill()
        holder.wait()

    # The holder is gone: the next run finishes the rollback, the late write kept aside.
    again = site.run("rollback.yml")
    assert again.rc == 0, again.output[-3000:]
    (aside,) = site.sqlite.parent.glob("db.sqlite3.pgmigrate-aside-*")
    assert sha256(aside) == written
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0


def test_preflight_only_from_group_vars_stops_nothing(site):
    site.write_inventory(extra_vars={"pgmigrate_preflight_only": True})
    pid = site.app_pid()
    # AWX passes unanswered survey questions as blank strings: blank means not given.
    run = site.run("migrate.yml", "-e", "pgmigrate_app_db_host=", "-e", "pgmigrate_report_dir=")
    assert run.rc == 0, run.output[-3000:]
    assert site.app_pid() == pid and health(site.url)["vendor"] == "sqlite"
    assert site.target_tables() == 0 and site.env_file.read_bytes() == site.before["env"]
    assert not (site.backup_dir / "migrated.json").exists()
    assert [j["state"] for j in site.journals().values()] == ["preflight_only"]


def test_unknown_variable_is_refused_with_the_closest_name(site):
    run = site.run("migrate.yml", "-e", "pgmigrate_dbname=shop")
    assert run.rc != 0 and "pgmigrate_dbname (did you mean pgmigrate_db_name?)" in run.output, run.output[-3000:]
    assert health(site.url)["vendor"] == "sqlite" and not site.journals()


def test_two_app_hosts_on_one_database_are_refused(site):
    site.write_inventory(extra_hosts={"app2.example.com": {"ansible_connection": "local"}})
    run = site.run("migrate.yml")
    assert run.rc != 0 and "name the same target database" in run.output, run.output[-3000:]
    assert "app2.example.com, localhost" in run.output
    assert health(site.url)["vendor"] == "sqlite" and not site.journals()


def test_plain_text_transport_to_a_remote_host_is_refused(site):
    run = site.run("migrate.yml", "-e", "pgmigrate_db_host=db.pgmigrate.invalid")
    assert run.rc != 0 and "in plain text" in run.output and "pgmigrate_allow_insecure_transport" in run.output
    assert health(site.url)["vendor"] == "sqlite" and not site.journals()


def test_pgloader_engine_with_verify_full_is_refused_before_anything_stops(site):
    pid = site.app_pid()
    run = site.run("migrate.yml", "-e", "pgmigrate_engine=pgloader", "-e", "pgmigrate_db_ssl_mode=verify-full",
                   "-e", "pgmigrate_db_ca_cert=/etc/ssl/certs/ca-certificates.crt")
    assert run.rc != 0 and "not its host name" in run.output and "pgmigrate_engine=copy" in run.output, \
        run.output[-3000:]
    assert site.app_pid() == pid and health(site.url)["vendor"] == "sqlite"
    assert site.target_tables() == 0 and not site.journals()


def test_concurrent_run_is_refused_and_leaves_the_running_run_alone(site):
    first = site.start_run("migrate.yml")
    try:
        run_id = site.wait_for_state({"stopped", "backed_up", "loaded"}, proc=first)
        run_dir = site.backup_dir / "runs" / run_id
        lock_owner = (site.backup_dir / "migrate.lock" / "owner.json").read_text()
        second = site.run("migrate.yml")
        assert second.rc != 0 and "Another run holds" in second.output and run_id in second.output
        assert (site.backup_dir / "migrate.lock" / "owner.json").read_text() == lock_owner
        assert (run_dir / "state.json").exists() and (run_dir / "deadman.json").exists()
        assert first.wait(timeout=900) == 0, Path(first.log_path).read_text()[-3000:]
    finally:
        if first.poll() is None:
            kill_group(first)
    assert health(site.url)["vendor"] == "postgresql"
    assert len(site.journals()) == 1


# The dead-man switch's limit: long enough for the run to reach the state named below on a machine
# busy with the other test lanes (20 s fired before "started" at load 8), short enough to wait for.
LIMIT = 45


@pytest.mark.parametrize("kill_when, reached", [
    ("after the stop", "backed_up"),
    ("after the load", "switched"),
    ("after the switch", "started"),
])
def test_controller_killed_then_dead_man_switch_then_recovery(site, kill_when, reached):
    run = site.start_run("migrate.yml", "-e", "pgmigrate_downtime_limit=%d" % LIMIT)
    run_id = site.wait_for_state({reached}, proc=run)
    kill_group(run)
    journal = site.journals()[run_id]
    stopped = [h for h in journal["history"] if h["state"] == "stopped"][0]["at"]

    # The app host itself brings the app back on SQLite within the limit.
    deadline = time.monotonic() + LIMIT + 60
    while site.journals()[run_id]["state"] != "deadman_restored" and time.monotonic() < deadline:
        time.sleep(0.5)
    journal = site.journals()[run_id]
    assert journal["state"] == "deadman_restored", json.dumps(journal, indent=1)
    fired = time.mktime(time.strptime(journal["deadman"]["fired"], "%Y-%m-%dT%H:%M:%SZ"))
    assert fired - time.mktime(time.strptime(stopped, "%Y-%m-%dT%H:%M:%SZ")) <= LIMIT + 5
    answer = health(site.url)
    assert answer["vendor"] == "sqlite" and answer["items"] == ROWS // 2, (kill_when, answer)
    assert site.env_file.read_bytes() == site.before["env"]
    assert (site.backup_dir / "migrate.lock").exists()

    # A rerun undoes the interrupted run (a dump before anything is dropped), then migrates.
    rerun = site.run("migrate.yml")
    assert rerun.rc == 0, rerun.output[-4000:]
    assert "Recovered run %s" % run_id in rerun.output
    states = {key: j["state"] for key, j in site.journals().items()}
    assert states.pop(run_id) == "undone" and list(states.values()) == ["healthy"]
    answer = health(site.url)
    assert answer["vendor"] == "postgresql" and answer["items"] == ROWS // 2
    assert not (site.backup_dir / "migrate.lock").exists()
    assert not list(site.backup_dir.glob("runs/*/owner.env")) and not list(site.backup_dir.glob("runs/*/pgpass"))
    if reached != "backed_up":
        assert list((site.backup_dir / "runs" / run_id).glob("*.dump"))
        assert "may log in again" in rerun.output
    assert_no_secret(site, rerun)


def test_controller_killed_after_the_load_then_finished_on_request(site):
    run = site.start_run("migrate.yml")
    run_id = site.wait_for_state({"switched"}, proc=run)
    kill_group(run)
    finish = site.run("migrate.yml", "-e", "pgmigrate_recover=finish", "-e", "pgmigrate_takeover_run=%s" % run_id)
    assert finish.rc == 0, finish.output[-4000:]
    assert [j["state"] for j in site.journals().values()] == ["healthy"]
    answer = health(site.url)
    assert answer["vendor"] == "postgresql" and answer["items"] == ROWS // 2
    assert not (site.backup_dir / "migrate.lock").exists()
