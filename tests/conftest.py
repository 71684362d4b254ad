"""Test harness: a real local PostgreSQL, a fresh database and role per test, Ansible for real.

Integration tests talk to the local PostgreSQL 15 cluster (started when it is down) through a
session-wide superuser created for the run; every test gets its own non-superuser role and
database, dropped afterwards. Modules run through `ansible-playbook` with the collection found
through ANSIBLE_COLLECTIONS_PATH, exactly as users run them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTDATA = (REPO.parent / "shared" / "testdata").resolve()
COLLECTIONS_ROOT = REPO / "build" / "collections"
PG_VERSION = os.environ.get("PGMIGRATE_TEST_PG_VERSION", "15")
PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("PGMIGRATE_TEST_PG_PORT", "5432"))
ADMIN_ROLE = "pgmigrate_test_admin"

sys.path.insert(0, str(COLLECTIONS_ROOT))


def _run_as_postgres_psql(sql_text):
    """Run SQL as the postgres OS user over the local socket (peer auth); SQL goes on stdin."""
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"],
        input=sql_text, text=True, check=True, capture_output=True,
    )


def ensure_collection_link():
    """build/collections/ansible_collections/pgmigrate/django -> the repository root."""
    link = COLLECTIONS_ROOT / "ansible_collections" / "pgmigrate" / "django"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        if link.exists():
            shutil.rmtree(link)
        link.symlink_to(REPO, target_is_directory=True)
    return COLLECTIONS_ROOT


def ensure_postgres_running():
    def ready():
        probe = ["pg_isready", "-h", PG_HOST, "-p", str(PG_PORT)]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    if ready():
        return
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "start"], check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError("PostgreSQL %s did not start on %s:%s" % (PG_VERSION, PG_HOST, PG_PORT))


@dataclass
class PgTarget:
    """One database and its owner role; `params` are the modules' connection options."""

    dbname: str
    user: str
    password: str
    host: str = PG_HOST
    port: int = PG_PORT
    extra: dict = field(default_factory=dict)

    @property
    def params(self):
        return {
            "login_host": self.host, "login_port": self.port, "login_db": self.dbname,
            "login_user": self.user, "login_password": self.password,
        }

    @property
    def database_url(self):
        from urllib.parse import quote

        return "postgresql://%s:%s@%s:%s/%s" % (
            quote(self.user, safe=""), quote(self.password, safe=""), self.host, self.port, self.dbname)

    def connect(self, **kwargs):
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                                password=self.password, **kwargs)
        conn.autocommit = True
        return conn

    def query(self, statement, args=None):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def scalar(self, statement, args=None):
        return self.query(statement, args)[0][0]


@pytest.fixture(scope="session")
def pg_admin():
    """A superuser for the harness only (creates and drops the per-test roles and databases)."""
    ensure_postgres_running()
    # One password for every session and every clone on this machine (a 0600 file in the user's
    # cache): parallel pytest runs must not reset the shared role's password under each other.
    password_file = Path.home() / ".cache" / "pgmigrate" / "pg-test-admin-password"
    password_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not password_file.exists():
        password_file.touch(mode=0o600)
        password_file.write_text(secrets.token_urlsafe(24))
    password = password_file.read_text().strip()
    _run_as_postgres_psql(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s; END IF; END$$;\n"
        "ALTER ROLE %s SUPERUSER LOGIN PASSWORD '%s';\n" % (ADMIN_ROLE, ADMIN_ROLE, ADMIN_ROLE, password)
    )
    return PgTarget(dbname="postgres", user=ADMIN_ROLE, password=password)


def _new_target(pg_admin, prefix="pgm_t"):
    name = "%s_%s" % (prefix, secrets.token_hex(5))
    password = "pw-" + secrets.token_urlsafe(18)
    pg_admin.query("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %%s" % name, (password,))
    pg_admin.query("CREATE DATABASE %s OWNER %s" % (name, name))
    target = PgTarget(dbname=name, user=name, password=password)
    # PostgreSQL 15: schema public belongs to pg_database_owner, so the owner can create tables.
    return target


def _drop_target(pg_admin, target):
    pg_admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (target.dbname,))
    pg_admin.query("DROP DATABASE IF EXISTS %s" % target.dbname)
    pg_admin.query("DROP ROLE IF EXISTS %s" % target.user)


@pytest.fixture
def pg_target(pg_admin):
    """A fresh, empty database owned by a fresh non-superuser role; dropped after the test."""
    target = _new_target(pg_admin)
    yield target
    _drop_target(pg_admin, target)


@pytest.fixture
def pg_target_factory(pg_admin):
    """Make as many fresh targets as a test needs; all dropped afterwards."""
    made = []

    def make():
        made.append(_new_target(pg_admin))
        return made[-1]

    yield make
    for target in made:
        _drop_target(pg_admin, target)


def testdata_path(name):
    """A file of ../shared/testdata: fail under CI when missing, skip with a reason elsewhere."""
    path = TESTDATA / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("test data %s is missing (CI=true): ../shared/testdata must be present" % path)
        pytest.skip("test data %s not present" % path)
    return path


@pytest.fixture
def testdata():
    return testdata_path


@dataclass
class AnsibleResult:
    rc: int
    result: dict
    stdout: str
    stderr: str

    @property
    def failed(self):
        return bool(self.result.get("failed")) or self.rc != 0

    @property
    def output(self):
        return self.stdout + self.stderr


class AnsibleRunner:
    """Runs one module task (or a whole playbook) with ansible-playbook on localhost."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.collections = ensure_collection_link()

    def env(self, extra=None):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCAL_TEMP": str(self.workdir / "ansible-local"),
            "ANSIBLE_HOME": str(self.workdir / "ansible-home"),
        })
        env.update(extra or {})
        return env

    def module(self, name, args, check=False, diff=False, verbosity=0, callback=None, timeout=900, env=None):
        """Run `pgmigrate.django.NAME` with ARGS (passed in a 0600 vars file, never in argv)."""
        name = name if "." in name else "pgmigrate.django." + name
        vars_file = self.workdir / ("args-%s.json" % secrets.token_hex(4))
        vars_file.write_text(json.dumps({"module_args": args}))
        vars_file.chmod(0o600)
        playbook = self.workdir / "module.yml"
        playbook.write_text(
            "- name: Run one module\n"
            "  hosts: localhost\n"
            "  gather_facts: false\n"
            "  tasks:\n"
            "    - name: Under test\n"
            "      %s: \"{{ module_args }}\"\n" % name
        )
        extra = ["-e", "@%s" % vars_file]
        return self.playbook(playbook, extra, check=check, diff=diff, verbosity=verbosity,
                             callback=callback, timeout=timeout, env=env)

    def playbook(self, playbook, extra_args=(), check=False, diff=False, verbosity=0, callback=None,
                 timeout=1800, env=None, inventory=None):
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook),
                "-i", inventory or "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % sys.executable]
        argv += list(extra_args)
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if verbosity:
            argv.append("-" + "v" * verbosity)
        extra_env = dict(env or {})
        if callback:
            extra_env["ANSIBLE_STDOUT_CALLBACK"] = callback
        proc = subprocess.run(argv, cwd=str(self.workdir), env=self.env(extra_env), capture_output=True,
                              text=True, timeout=timeout, check=False)
        return AnsibleResult(proc.returncode, self._last_result(proc.stdout), proc.stdout, proc.stderr)

    @staticmethod
    def _last_result(stdout):
        """The result of the last task run on localhost, from the json callback's output."""
        try:
            start = stdout.index("{")
            data = json.loads(stdout[start:])
        except ValueError:
            return {}
        result = {}
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                hosts = task.get("hosts", {})
                if hosts:
                    result = next(iter(hosts.values()))
        return result


@pytest.fixture
def ansible(tmp_path):
    return AnsibleRunner(tmp_path)


@pytest.fixture
def private_tmp():
    path = tempfile.mkdtemp(prefix="pgmigrate-test-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)
