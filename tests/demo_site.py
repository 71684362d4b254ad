"""The demo app on SQLite under gunicorn, a private inventory and an empty provisioned database.

The same setup as examples/demo_prepare.yml and inventories/local (which `make demo` uses), each
site with its own directory, port, database and roles. Used by the integration tests
(tests/integration/) and by the benchmarks (benchmarks/run.py): `sql(statement, dbname=None)` runs
SQL as a superuser, however the caller reaches one.
"""

from __future__ import annotations

import importlib.util
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

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_APP = REPO / "examples" / "demo_app"


def _envconfig():
    spec = importlib.util.spec_from_file_location("demo_envconfig", DEMO_APP / "demo_project" / "envconfig.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def app_environ(env_file, base=None):
    """The demo app's process environment: BASE (os.environ), the .env's keys (as systemd's
    EnvironmentFile= gives them: the app reads no file itself) and DJANGO_ENV_FILE."""
    env = dict(os.environ if base is None else base)
    env.update(_envconfig().read_env_file(env_file))
    env["DJANGO_ENV_FILE"] = str(env_file)
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return {}


class DemoSite:
    """One demo site: the app, its SQLite file, its inventory, its target database and roles."""

    def __init__(self, root, sql, *, prefix="pgm_site_", owner_password=None, app_password=None, workers=1):
        self.root = Path(root)
        self.sql = sql
        tag = secrets.token_hex(4)
        self.db = prefix + tag
        self.owner = prefix + "own_" + tag
        self.app_user = prefix + "app_" + tag
        self.owner_password = owner_password or secrets.token_hex(16)
        self.app_password = app_password or secrets.token_hex(16)
        self.workers = workers
        self.port = free_port()
        self.app_dir = self.root / "app"
        self.sqlite = self.root / "data" / "db.sqlite3"
        self.env_file = self.app_dir / ".env"
        self.pid_file = self.root / "run" / "gunicorn.pid"
        self.backup_dir = self.root / "backups"
        self.reports = self.root / "reports"
        self.url = "http://127.0.0.1:%d/healthz" % self.port

    # -- setup ---------------------------------------------------------------------------
    def provision(self):
        """Owner and app roles, the database, the privileges provision.yml grants."""
        for role, password in ((self.owner, self.owner_password), (self.app_user, self.app_password)):
            self.sql("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '%s'"
                     % (role, password.replace("'", "''")))
        self.sql("CREATE DATABASE %s OWNER %s" % (self.db, self.owner))
        for statement in (
                "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
                "GRANT CONNECT ON DATABASE {db} TO {app}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA public "
                "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app}"):
            self.sql(statement.format(db=self.db, own=self.owner, app=self.app_user), dbname=self.db)

    def install_app(self, source=None, rows=None):
        """Copy the demo app; its SQLite file is SOURCE copied, or made with ROWS generated rows."""
        shutil.copytree(DEMO_APP, self.app_dir,
                        ignore=shutil.ignore_patterns("db.sqlite3*", ".env", "__pycache__", "tests", "static"))
        for directory in (self.sqlite.parent, self.pid_file.parent, self.backup_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("# Demo app settings, SQLite edition.\nDJANGO_SECRET_KEY=demo-%s\n"
                                 "DJANGO_ALLOWED_HOSTS=*\nSQLITE_PATH=%s\n" % (secrets.token_hex(16), self.sqlite))
        self.env_file.chmod(0o640)
        if source:
            shutil.copyfile(source, self.sqlite)
            return
        for args in (["migrate", "--noinput"], ["generate_data", "--rows", str(rows)]):
            self.manage(*args)

    def manage(self, *args):
        env = app_environ(self.env_file)
        return subprocess.run([sys.executable, "manage.py", *args], cwd=self.app_dir, env=env, check=True,
                              capture_output=True, text=True)

    @property
    def start_command(self):
        # As inventories/local: a daemonized gunicorn with a pid file.
        return [sys.executable, "-m", "gunicorn", "--daemon", "--workers=%d" % self.workers,
                "--bind=127.0.0.1:%d" % self.port, "--pid=%s" % self.pid_file,
                "--error-logfile=%s" % (self.root / "run" / "gunicorn.log"), "demo_project.wsgi"]

    def start_app(self):
        env = app_environ(self.env_file)
        subprocess.run(self.start_command, cwd=self.app_dir, env=env, check=True)
        for _attempt in range(100):
            if health(self.url).get("status") == "ok":
                return
            time.sleep(0.2)
        raise RuntimeError("the demo app did not start on %s" % self.url)

    def inventory_vars(self):
        return {
            "ansible_connection": "local",
            "ansible_pipelining": True,
            "ansible_python_interpreter": sys.executable,
            "pgmigrate_app_dir": str(self.app_dir),
            "pgmigrate_app_python": sys.executable,
            "pgmigrate_app_env_file": str(self.env_file),
            "pgmigrate_sqlite_path": str(self.sqlite),
            "pgmigrate_backup_dir": str(self.backup_dir),
            "pgmigrate_db_host": "127.0.0.1",
            "pgmigrate_db_port": 5432,
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
            "pgmigrate_deadman_python": sys.executable,
            "pgmigrate_report_dir": str(self.reports),
        }

    def write_inventory(self, extra_vars=None, extra_hosts=None):
        group_vars = self.inventory_vars()
        group_vars.update(extra_vars or {})
        hosts = {"localhost": None}
        hosts.update(extra_hosts or {})
        inventory = {"all": {"children": {"django": {"hosts": hosts},
                                          "postgresql": {"hosts": {"localhost": None}}},
                             "vars": group_vars}}
        (self.root / "hosts.yml").write_text(yaml.safe_dump(inventory))
        secrets_file = self.root / "secrets.yml"
        secrets_file.write_text(yaml.safe_dump({"pgmigrate_db_owner_password": self.owner_password,
                                                "pgmigrate_db_app_password": self.app_password}))
        secrets_file.chmod(0o600)

    # -- use -----------------------------------------------------------------------------
    def health(self):
        return health(self.url)

    def app_pid(self):
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop_app(self):
        pid = self.app_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            # Until the master is gone: it holds the port (and the SQLite file) until then.
            for _attempt in range(300):
                if not os.path.exists("/proc/%d" % pid):
                    break
                time.sleep(0.1)

    def drop(self):
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % self.db)
        self.sql("DROP DATABASE IF EXISTS %s" % self.db)
        for role in (self.owner, self.app_user):
            self.sql("DROP ROLE IF EXISTS %s" % role)
