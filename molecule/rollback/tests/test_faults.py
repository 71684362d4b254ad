"""Real faults during migrate.yml on two hosts: every run fails and rolls back.

No test-only switch in the product: the faults are made in PostgreSQL itself (event triggers
that a superuser sets up, as a hostile or broken server would behave) or in the app's
configuration. After each run: the play failed and said what it undid, the SQLite file and the
.env are byte for byte what they were, the app serves from SQLite, the target is empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
INVENTORY = EPHEMERAL / "inventory"
SECRETS_LOG = EPHEMERAL / "ansible-vvv.log"
# testinfra's ansible backend runs ansible-inventory, which would log every variable (the
# passwords too) into the secrets log: it logs elsewhere.
os.environ["ANSIBLE_LOG_PATH"] = str(EPHEMERAL / "testinfra.log")

DB = testinfra.get_host("ansible://pgmigrate-db", ansible_inventory=str(INVENTORY))
APP = testinfra.get_host("ansible://pgmigrate-app", ansible_inventory=str(INVENTORY))
SQLITE = "/srv/demo/data/db.sqlite3"
ENV_FILE = "/srv/demo/app/.env"
HEALTH = "http://127.0.0.1:8000/healthz"
OWNER = "demo_owner"
# Debian 12's PostgreSQL, as the role installs it there.
CLUSTER = "15 main"


def psql(sql):
    cmd = DB.run("runuser -u postgres -- psql -X -q -tA -v ON_ERROR_STOP=1 -d demo -c %s", sql)
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def playbook_argv(name, *extra):
    playbook = str(Path(sys.executable).parent / "ansible-playbook")
    return [playbook, "-i", str(INVENTORY), str(PROJECT / "playbooks" / name), "-vvv", "--diff", *extra]


def playbook_env():
    return dict(os.environ, ANSIBLE_LOG_PATH=str(SECRETS_LOG), ANSIBLE_PIPELINING="1",
                ANSIBLE_COLLECTIONS_PATH=str(PROJECT / "build" / "collections"), ANSIBLE_NOCOLOR="1")


def migrate(*extra, playbook="migrate.yml"):
    return subprocess.run(playbook_argv(playbook, *extra), env=playbook_env(), capture_output=True, text=True,
                          timeout=1200, check=False)


def journals():
    """{run id: journal} of every run on the app host."""
    out = APP.run("for f in /var/backups/pgmigrate/runs/*/state.json; do [ -f \"$f\" ] && cat \"$f\" && echo ,; done")
    return {j["run_id"]: j for j in json.loads("[" + out.stdout.rstrip().rstrip(",") + "]")}


def health():
    out = APP.check_output(
        "python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' %s",
        HEALTH)
    return json.loads(out)


@pytest.fixture(scope="module")
def before():
    return json.loads(APP.file("/root/pre-migration.json").content_string)


def assert_rolled_back(run, failed_step, before, lock_kept=False):
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "Rolled back:" in output and failed_step in output, output[-3000:]
    assert APP.file(SQLITE).sha256sum == before[SQLITE]
    assert APP.file(ENV_FILE).sha256sum == before[ENV_FILE]
    assert health()["vendor"] == "sqlite"
    # An undo that could not finish keeps the lock: the next run repeats it first.
    assert APP.file("/var/backups/pgmigrate/migrate.lock").exists == lock_kept
    assert "SntlMig" not in output


def target_tables():
    return int(psql("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'"))


@pytest.fixture
def event_trigger():
    """Install a fault as an event trigger on CREATE TABLE of one table; removed afterwards."""
    made = []

    def install(table, action):
        name = "pgm_fault_%d" % len(made)
        psql("""
            CREATE FUNCTION public.%(name)s() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                         WHERE command_tag = 'CREATE TABLE' AND object_identity = 'public.%(table)s') THEN
                %(action)s
              END IF;
            END $f$;
            CREATE EVENT TRIGGER %(name)s ON ddl_command_end EXECUTE FUNCTION public.%(name)s();
        """ % {"name": name, "table": table, "action": action})
        made.append(name)

    yield install
    for name in made:
        psql("DROP EVENT TRIGGER IF EXISTS %s; DROP FUNCTION IF EXISTS public.%s() CASCADE" % (name, name))


def test_load_fails_when_the_owner_cannot_write_a_table(event_trigger, before):
    event_trigger("inventory_tag", "EXECUTE format('REVOKE INSERT, TRUNCATE ON public.inventory_tag FROM %%I', '%s');"
                  % OWNER)
    run = migrate()
    assert_rolled_back(run, "Load the data", before)
    assert target_tables() == 0


def test_consistency_check_fails_when_a_trigger_changes_a_value(event_trigger, before):
    psql("""CREATE OR REPLACE FUNCTION public.pgm_mangle() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $f$""")
    event_trigger("inventory_category", "CREATE TRIGGER pgm_mangle BEFORE INSERT ON public.inventory_category "
                                        "FOR EACH ROW WHEN (NEW.id = 3) EXECUTE FUNCTION public.pgm_mangle();")
    try:
        run = migrate()
        assert_rolled_back(run, "Compare source and target", before)
        assert target_tables() == 0
    finally:
        psql("DROP FUNCTION IF EXISTS public.pgm_mangle() CASCADE")


def test_app_unhealthy_when_it_cannot_resolve_the_database_host(before):
    run = migrate("-e", "pgmigrate_app_db_host=db.pgmigrate.invalid",
                  "-e", "pgmigrate_app_health_retries=5", "-e", "pgmigrate_app_health_delay=1")
    assert_rolled_back(run, "Start the app and prove it serves from PostgreSQL", before)
    assert target_tables() == 0


def test_postgresql_stopped_in_the_middle_of_the_load(event_trigger, before):
    # The first batch into inventory_item makes the server stop itself, as an operator or an
    # OOM kill would: the load is cut, the server is gone for the rest of the run.
    psql("""CREATE OR REPLACE FUNCTION public.pgm_stop_server() RETURNS trigger LANGUAGE plpgsql
            SECURITY DEFINER AS $f$
            BEGIN
              COPY (SELECT 1) TO PROGRAM 'nohup sh -c "sleep 1; pg_ctlcluster %s stop -m fast" >/dev/null 2>&1 &';
              RETURN NULL;
            END $f$""" % CLUSTER)
    event_trigger("inventory_item", "CREATE TRIGGER pgm_stop BEFORE INSERT ON public.inventory_item "
                                    "FOR EACH STATEMENT EXECUTE FUNCTION public.pgm_stop_server();")
    run = migrate()
    output = run.stdout + run.stderr
    try:
        assert_rolled_back(run, "Load the data", before, lock_kept=True)
        assert "the next migrate.yml run empties it first" in output
        assert APP.file("/var/backups/pgmigrate/target-dirty").exists
    finally:
        DB.run("systemctl restart postgresql")
        for _attempt in range(30):
            if DB.run("pg_isready -q").rc == 0:
                break
            time.sleep(1)
    for statement in ("DROP EVENT TRIGGER IF EXISTS pgm_fault_0", "DROP FUNCTION IF EXISTS public.pgm_fault_0() CASCADE",
                      "DROP FUNCTION IF EXISTS public.pgm_stop_server() CASCADE"):
        psql(statement)
    # The server is back with the half-loaded tables: the next run (a preflight-only one here)
    # empties them first and leaves the target as provisioning made it.
    assert target_tables() > 0
    cleanup = migrate("-e", "pgmigrate_preflight_only=true")
    assert cleanup.returncode == 0, (cleanup.stdout + cleanup.stderr)[-3000:]
    assert target_tables() == 0
    assert not APP.file("/var/backups/pgmigrate/target-dirty").exists
    assert health()["vendor"] == "sqlite"


@pytest.mark.parametrize("extra, message", [
    (["-e", "pgmigrate_sqlite_path=/srv/demo/data/missing.sqlite3"], "does not exist"),
    (["-e", "pgmigrate_db_owner_password=not-the-password"], "password authentication failed"),
    (["-e", "pgmigrate_db_host=172.29.77.99"], "172.29.77.99"),
    # The database server, reached under a name its certificate does not hold: verify-full refuses it.
    (["-e", "pgmigrate_db_host=pgmigrate-db-alias"], "does not match host name"),
], ids=["missing-sqlite", "wrong-password", "unreachable-host", "certificate-for-another-name"])
def test_bad_input_fails_in_preflight_and_the_app_never_stops(extra, message, before):
    APP.run("grep -q pgmigrate-db-alias /etc/hosts || echo '172.29.77.10 pgmigrate-db-alias' >> /etc/hosts")
    main_pid = APP.check_output("systemctl show -p MainPID --value demo-app.service")
    run = migrate(*extra)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "Preflight failed" in output and message in output, output[-3000:]
    assert "The app was not stopped" in output
    assert APP.check_output("systemctl show -p MainPID --value demo-app.service") == main_pid
    assert not APP.file("/srv/demo/data/missing.sqlite3").exists
    assert APP.file(SQLITE).sha256sum == before[SQLITE]
    assert APP.file(ENV_FILE).sha256sum == before[ENV_FILE]
    assert health()["vendor"] == "sqlite" and target_tables() == 0
    assert "SntlMig" not in output


def test_controller_killed_after_the_load_then_dead_man_switch_then_recovery(before):
    """SIGKILL to ansible-playbook (and its workers) after the load: the app host's transient
    systemd timer brings the app back on SQLite; a rerun undoes the run and migrates; a rollback
    returns to SQLite, leaving the hosts as the other tests expect them."""
    limit = 40
    log = open(EPHEMERAL / "killed-run.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    run = subprocess.Popen(playbook_argv("migrate.yml", "-e", "pgmigrate_downtime_limit=%d" % limit),
                           env=playbook_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    run_id = None
    deadline = time.monotonic() + 900
    while run_id is None and time.monotonic() < deadline:
        assert run.poll() is None, (EPHEMERAL / "killed-run.log").read_text()[-3000:]
        run_id = next((key for key, j in journals().items() if j["state"] == "switched"), None)
    assert run_id, "the run never reached the switch"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    log.close()

    deadline = time.monotonic() + limit + 120
    while journals()[run_id]["state"] != "deadman_restored" and time.monotonic() < deadline:
        time.sleep(2)
    journal = journals()[run_id]
    assert journal["state"] == "deadman_restored", journal
    assert journal["deadman"]["mechanism"].startswith("systemd timer pgmigrate-deadman-")
    assert all(action["ok"] for action in journal["deadman"]["actions"]), journal["deadman"]
    assert health()["vendor"] == "sqlite"
    assert APP.file(ENV_FILE).sha256sum == before[ENV_FILE]
    assert APP.file("/var/backups/pgmigrate/migrate.lock").exists

    rerun = migrate()
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-4000:]
    assert "Recovered run %s" % run_id in output and "SntlMig" not in output
    assert journals()[run_id]["state"] == "undone"
    assert health()["vendor"] == "postgresql"
    assert not APP.file("/var/backups/pgmigrate/migrate.lock").exists

    back = migrate(playbook="rollback.yml")
    output = back.stdout + back.stderr
    assert back.returncode == 0, output[-4000:]
    assert "set NOLOGIN" in output and "may log in again" in output
    assert health()["vendor"] == "sqlite" and target_tables() == 0
    assert APP.file(SQLITE).sha256sum == before[SQLITE]
    assert APP.file(ENV_FILE).sha256sum == before[ENV_FILE]


def test_no_secret_in_any_log():
    log = SECRETS_LOG.read_text(errors="replace")
    assert "Sntl" + "MigOwner" not in log and "Sntl" + "MigApp" not in log
