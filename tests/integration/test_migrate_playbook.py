"""migrate.yml and rollback.yml end to end on this machine: the demo app under gunicorn on SQLite,
the local PostgreSQL as target, real faults injected in the target database.

Each test gets its own app copy, SQLite file, database and roles. The passwords are sentinels
that must never show in the -vvv --diff output.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ROWS = 2000


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())
    except OSError:
        return {}


class DemoSite:
    """The demo app on SQLite, its inventory, and an empty provisioned target database."""

    def __init__(self, root, pg_admin, ansible):
        self.root = root
        self.admin = pg_admin
        self.ansible = ansible
        tag = secrets.token_hex(4)
        self.db = "pgm_site_" + tag
        self.owner = "pgm_own_" + tag
        self.app_user = "pgm_app_" + tag
        # ASCII specials only: pgloader cannot log in with a non-ASCII password.
        self.owner_password = "SntlSiteOwner%s'\"\\$ %%@:/?#+" % tag
        self.app_password = "SntlSiteApp%s'\"\\$ %%@:/?#+" % tag
        self.port = free_port()
        self.app_dir = root / "app"
        self.sqlite = root / "data" / "db.sqlite3"
        self.env_file = self.app_dir / ".env"
        self.pid_file = root / "run" / "gunicorn.pid"
        self.backup_dir = root / "backups"
        self.url = "http://127.0.0.1:%d/healthz" % self.port

    # -- setup ---------------------------------------------------------------------------
    def provision(self):
        admin = self.admin
        for role, password in ((self.owner, self.owner_password), (self.app_user, self.app_password)):
            admin.query("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %%s" % role, (password,))
        admin.query("CREATE DATABASE %s OWNER %s" % (self.db, self.owner))
        in_db = self.in_target_as_admin
        in_db("REVOKE ALL ON DATABASE %s FROM PUBLIC" % self.db)
        in_db("GRANT CONNECT ON DATABASE %s TO %s" % (self.db, self.app_user))
        in_db("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s"
              % (self.owner, self.app_user))
        in_db("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %s"
              % (self.owner, self.app_user))

    def install_app(self):
        shutil.copytree(REPO / "examples" / "demo_app", self.app_dir,
                        ignore=shutil.ignore_patterns("db.sqlite3*", ".env", "__pycache__", "tests"))
        for directory in (self.sqlite.parent, self.pid_file.parent, self.backup_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("# demo settings\nDJANGO_SECRET_KEY=test-not-secret\nDJANGO_ALLOWED_HOSTS=*\n"
                                 "SQLITE_PATH=%s\n" % self.sqlite)
        self.env_file.chmod(0o640)
        env = dict(os.environ, DJANGO_ENV_FILE=str(self.env_file))
        for args in (["migrate", "--noinput"], ["generate_data", "--rows", str(ROWS)]):
            subprocess.run([sys.executable, "manage.py", *args], cwd=self.app_dir, env=env, check=True,
                           capture_output=True)

    def start_app(self):
        env = dict(os.environ, DJANGO_ENV_FILE=str(self.env_file))
        subprocess.run(self.start_command, cwd=self.app_dir, env=env, check=True)
        for _attempt in range(50):
            if health(self.url).get("status") == "ok":
                return
            time.sleep(0.2)
        raise RuntimeError("the demo app did not start on %s" % self.url)

    @property
    def start_command(self):
        return [sys.executable, "-m", "gunicorn", "--daemon", "--workers=1", "--bind=127.0.0.1:%d" % self.port,
                "--pid=%s" % self.pid_file, "--error-logfile=%s" % (self.root / "run" / "gunicorn.log"),
                "demo_project.wsgi"]

    def write_inventory(self):
        group_vars = {
            "ansible_connection": "local",
            "ansible_pipelining": True,
            "ansible_python_interpreter": sys.executable,
            "pgmigrate_app_dir": str(self.app_dir),
            "pgmigrate_app_python": sys.executable,
            "pgmigrate_app_env_file": str(self.env_file),
            "pgmigrate_sqlite_path": str(self.sqlite),
            "pgmigrate_backup_dir": str(self.backup_dir),
            "pgmigrate_db_host": "127.0.0.1",
            "pgmigrate_db_name": self.db,
            "pgmigrate_db_owner": self.owner,
            "pgmigrate_db_app_user": self.app_user,
            "pgmigrate_db_ssl_mode": "prefer",
            "pgmigrate_install_tools": False,
            "pgmigrate_app_service_manager": "command",
            "pgmigrate_app_start_command": self.start_command,
            "pgmigrate_app_pid_file": str(self.pid_file),
            "pgmigrate_app_environment": {"DJANGO_ENV_FILE": str(self.env_file)},
            "pgmigrate_app_health_url": self.url,
            "pgmigrate_app_health_retries": 5,
            "pgmigrate_app_health_delay": 1,
            "pgmigrate_report_dir": str(self.root / "reports"),
        }
        inventory = {"all": {"children": {"django": {"hosts": {"localhost": None}},
                                          "postgresql": {"hosts": {"localhost": None}}},
                             "vars": group_vars}}
        (self.root / "hosts.yml").write_text(yaml.safe_dump(inventory))
        secrets_file = self.root / "secrets.yml"
        secrets_file.write_text(yaml.safe_dump({"pgmigrate_db_owner_password": self.owner_password,
                                                "pgmigrate_db_app_password": self.app_password}))
        secrets_file.chmod(0o600)

    # -- use -----------------------------------------------------------------------------
    def run(self, playbook, *extra):
        return self.ansible.playbook(REPO / "playbooks" / playbook,
                                     ["-e", "@%s" % (self.root / "secrets.yml"), *extra],
                                     inventory=str(self.root / "hosts.yml"), diff=True, verbosity=3,
                                     callback="ansible.builtin.default")

    def in_target_as_admin(self, statement, args=None):
        conn = psycopg2.connect(host=self.admin.host, port=self.admin.port, dbname=self.db, user=self.admin.user,
                                password=self.admin.password)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def target_tables(self):
        return self.in_target_as_admin(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'")[0][0]

    def stop_app(self):
        if self.pid_file.exists():
            try:
                os.kill(int(self.pid_file.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass

    def drop(self):
        self.admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.db,))
        self.admin.query("DROP DATABASE IF EXISTS %s" % self.db)
        for role in (self.owner, self.app_user):
            self.admin.query("DROP ROLE IF EXISTS %s" % role)


@pytest.fixture
def site(tmp_path, pg_admin, ansible):
    demo = DemoSite(tmp_path, pg_admin, ansible)
    demo.provision()
    demo.install_app()
    demo.write_inventory()
    demo.start_app()
    demo.before = {"sqlite": sha256(demo.sqlite), "env": demo.env_file.read_bytes()}
    yield demo
    demo.stop_app()
    demo.drop()


def assert_no_secret(site, run):
    for password in (site.owner_password, site.app_password):
        assert password not in run.output
        assert password.split("'")[0] not in run.output, "the sentinel marker leaked"


def assert_rolled_back(site, run, failed_step):
    assert run.rc != 0, run.output[-3000:]
    assert "Rolled back:" in run.output and failed_step in run.output, run.output[-3000:]
    assert sha256(site.sqlite) == site.before["sqlite"]
    assert site.env_file.read_bytes() == site.before["env"]
    answer = health(site.url)
    assert answer.get("vendor") == "sqlite" and answer.get("items") == ROWS // 2
    assert site.target_tables() == 0
    assert not (site.backup_dir / "migrate.lock").exists()
    assert_no_secret(site, run)


def test_migrate_then_rerun_then_rollback(site):
    run = site.run("migrate.yml")
    assert run.rc == 0, run.output[-4000:]
    answer = health(site.url)
    assert answer["vendor"] == "postgresql" and answer["items"] == ROWS // 2
    report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
    assert report["consistent"] is True and report["rows"] > ROWS
    assert report["downtime_seconds"] > 0 and set(report["phases_seconds"]) >= {"load", "verify", "start_app"}
    assert sha256(site.sqlite) == site.before["sqlite"]
    env_text = site.env_file.read_text()
    assert "SQLITE_PATH" not in env_text and "DATABASE_URL=postgresql://" in env_text
    assert "# demo settings" in env_text and oct(site.env_file.stat().st_mode & 0o777) == "0o600"
    assert_no_secret(site, run)

    again = site.run("migrate.yml")
    assert again.rc == 0 and "changed=0" in again.output, again.output[-3000:]

    back = site.run("rollback.yml")
    assert back.rc == 0, back.output[-3000:]
    assert site.env_file.read_bytes() == site.before["env"]
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0
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
    site.in_target_as_admin("""
        CREATE FUNCTION public.pgm_fault_revoke() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                     WHERE command_tag = 'CREATE TABLE' AND object_identity = 'public.inventory_tag') THEN
            EXECUTE format('REVOKE INSERT, TRUNCATE ON public.inventory_tag FROM %%I', '%s');
          END IF;
        END $$;
        CREATE EVENT TRIGGER pgm_fault_revoke ON ddl_command_end EXECUTE FUNCTION public.pgm_fault_revoke();
    """ % site.owner)
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
    run = site.run("migrate.yml", "-e", "pgmigrate_app_db_host=db.pgmigrate.invalid")
    assert_rolled_back(site, run, "Start the app and prove it serves from PostgreSQL")


def test_concurrent_run_is_refused(site):
    (site.backup_dir / "migrate.lock").mkdir()
    run = site.run("migrate.yml")
    assert run.rc != 0 and "Another migration of this host is running" in run.output
    assert (site.backup_dir / "migrate.lock").exists()
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0


def test_migrate_with_the_copy_engine(site):
    run = site.run("migrate.yml", "-e", "pgmigrate_engine=copy")
    assert run.rc == 0, run.output[-4000:]
    report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
    assert report["engine"] == "copy" and report["consistent"] is True
    assert health(site.url)["vendor"] == "postgresql"
    assert sha256(site.sqlite) == site.before["sqlite"]
    assert_no_secret(site, run)
