"""migrate.yml and rollback.yml end to end on this machine: the demo app under gunicorn on SQLite,
the local PostgreSQL as target, real faults injected in the target database.

Each test gets its own app copy, SQLite file, database and roles. The passwords are sentinels
that must never show in the -vvv --diff output.
"""

from __future__ import annotations

import json

import pytest
from migrate_site import ROWS, assert_no_secret, health, sha256, site  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.integration


def assert_rolled_back(site, run, failed_step):
    assert run.rc != 0, run.output[-3000:]
    assert "Rolled back:" in run.output and failed_step in run.output, run.output[-3000:]
    assert sha256(site.sqlite) == site.before["sqlite"]
    assert site.env_file.read_bytes() == site.before["env"]
    answer = health(site.url)
    assert answer.get("vendor") == "sqlite" and answer.get("items") == ROWS // 2
    assert site.target_tables() == 0
    assert not (site.backup_dir / "migrate.lock").exists()
    assert not list(site.backup_dir.glob("runs/*/owner.env"))
    assert_no_secret(site, run)


def test_migrate_then_rerun_then_rollback(site):
    run = site.run("migrate.yml")
    assert run.rc == 0, run.output[-4000:]
    answer = health(site.url)
    assert answer["vendor"] == "postgresql" and answer["items"] == ROWS // 2
    report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
    assert report["consistent"] is True and report["rows"] > ROWS and report["engine"] == "copy"
    assert report["downtime_seconds"] > 0 and set(report["phases_seconds"]) >= {"load", "verify", "start_app"}
    assert sha256(site.sqlite) == site.before["sqlite"]
    env_text = site.env_file.read_text()
    assert "SQLITE_PATH" not in env_text and "DATABASE_URL=\"postgresql://" in env_text and "?sslmode=prefer" in env_text
    assert "# Demo app settings" in env_text and oct(site.env_file.stat().st_mode & 0o777) == "0o600"
    assert_no_secret(site, run)

    again = site.run("migrate.yml")
    assert again.rc == 0 and "changed=0" in again.output, again.output[-3000:]

    back = site.run("rollback.yml")
    assert back.rc == 0, back.output[-3000:]
    assert site.env_file.read_bytes() == site.before["env"]
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0
    assert "set NOLOGIN" in back.output and "may log in again" in back.output
    assert site.in_target_as_admin("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (site.app_user,))[0][0]
    assert list(site.backup_dir.glob("runs/*/*.dump"))
    assert_no_secret(site, back)


def test_wrong_password_fails_in_preflight_and_the_app_never_stops(site):
    pid = site.pid_file.read_text().strip()
    run = site.run("migrate.yml", "-e", "pgmigrate_db_owner_password=wrong-password-x")
    assert run.rc != 0
    assert "Preflight failed" in run.output and "password authentication failed" in run.output
    assert site.pid_file.read_text().strip() == pid and health(site.url)["vendor"] == "sqlite"
    assert site.target_tables() == 0 and site.env_file.read_bytes() == site.before["env"]


def test_missing_sqlite_file_fails_in_preflight(site):
    run = site.run("migrate.yml", "-e", "pgmigrate_sqlite_path=%s" % (site.root / "nope.sqlite3"))
    assert run.rc != 0 and "Preflight failed" in run.output and "does not exist" in run.output
    assert not (site.root / "nope.sqlite3").exists()
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0


def test_load_failure_rolls_back(site):
    # A real fault: once Django has created inventory_tag, its owner may no longer write to it.
    site.revoke_owner_writes_once_created()
    run = site.run("migrate.yml")
    assert_rolled_back(site, run, "Load the data")


def test_consistency_failure_rolls_back(site):
    # A real fault: a trigger in the target changes one value on its way in.
    site.in_target_as_admin("""
        CREATE FUNCTION public.pgm_mangle() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$;
        CREATE FUNCTION public.pgm_fault_trigger() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                     WHERE command_tag = 'CREATE TABLE' AND object_identity = 'public.inventory_category') THEN
            CREATE TRIGGER pgm_mangle BEFORE INSERT ON public.inventory_category
              FOR EACH ROW WHEN (NEW.id = 3) EXECUTE FUNCTION public.pgm_mangle();
          END IF;
        END $$;
        CREATE EVENT TRIGGER pgm_fault_trigger ON ddl_command_end EXECUTE FUNCTION public.pgm_fault_trigger();
    """)
    run = site.run("migrate.yml")
    assert_rolled_back(site, run, "Compare source and target")


def test_unhealthy_app_on_postgresql_rolls_back(site):
    # A real fault: the app host cannot resolve the name the app is given for the database.
    run = site.run("migrate.yml", "-e", "pgmigrate_app_db_host=db.pgmigrate.invalid",
                   "-e", "pgmigrate_allow_insecure_transport=true")
    assert_rolled_back(site, run, "Start the app and prove it serves from PostgreSQL")


def test_migrate_with_the_pgloader_engine(site):
    run = site.run("migrate.yml", "-e", "pgmigrate_engine=pgloader")
    assert run.rc == 0, run.output[-4000:]
    report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
    assert report["engine"] == "pgloader" and report["consistent"] is True
    assert health(site.url)["vendor"] == "postgresql"
    assert sha256(site.sqlite) == site.before["sqlite"]
    assert_no_secret(site, run)
