"""Helpers shared by the benchmark scripts (run them from the repository root with the venv's python).

Every benchmark builds the demo app's SQLite file with `generate_data --rows N` (cached in the
work directory as demo-N.sqlite3), creates its own PostgreSQL role and database through the local
`postgres` account, and runs each measured program as its own process so that wall time and peak
RSS are measured the same way for all of them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_APP = REPO / "examples" / "demo_app"
COLLECTIONS = REPO / "build" / "collections"
MODULES = REPO / "plugins" / "modules"
PGLOADER = os.environ.get("PGMIGRATE_PGLOADER", "/usr/bin/pgloader")


def psql_as_postgres(statement, dbname="postgres"):
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname],
                   input=statement, text=True, check=True, capture_output=True)


def timed(argv, env=None, cwd=None, stdin=None, stdout=None):
    """Run ARGV under /usr/bin/time -v: (completed process, wall seconds, peak RSS in MB).

    The peak RSS is the largest one process of the tree reached (getrusage of the children).
    STDOUT: an open file to send the standard output to instead of capturing it.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", report.name] + argv, env=env, cwd=cwd, input=stdin,
                              stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, check=False)
        wall = time.monotonic() - started
        text = report.read()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return proc, wall, int(rss.group(1)) / 1024.0 if rss else None


def django_env(env_extra, workdir):
    """The environment for the demo app's manage.py: no settings leak in from the caller."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("POSTGRES_")}
    empty = Path(workdir) / "empty.env"
    if not empty.exists():
        empty.write_text("")
    env["DJANGO_ENV_FILE"] = str(empty)
    env.update(env_extra)
    return env


def django(*args, env_extra, workdir):
    subprocess.run([sys.executable, "manage.py"] + list(args), cwd=str(DEMO_APP), env=django_env(env_extra, workdir),
                   check=True, capture_output=True, text=True)


def make_source(rows, workdir):
    """The demo app's SQLite file with ROWS generated rows, built once per work directory."""
    path = Path(workdir) / ("demo-%d.sqlite3" % rows)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        if tmp.exists():
            tmp.unlink()
        django("migrate", "--noinput", env_extra={"SQLITE_PATH": str(tmp)}, workdir=workdir)
        django("generate_data", "--rows", str(rows), env_extra={"SQLITE_PATH": str(tmp)}, workdir=workdir)
        tmp.rename(path)
    return path


class Database:
    """A fresh PostgreSQL database owned by a fresh login role (non-superuser), dropped by drop()."""

    def __init__(self, prefix="pgm_bench"):
        tag = secrets.token_hex(4)
        self.name = "%s_%s" % (prefix, tag)
        self.owner = self.name
        self.password = "pw-" + secrets.token_urlsafe(18)
        psql_as_postgres("CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n"
                         % (self.owner, self.password, self.name, self.owner))

    @property
    def url(self):
        return "postgresql://%s:%s@127.0.0.1:5432/%s" % (self.owner, self.password, self.name)

    @property
    def dsn(self):
        return "host=127.0.0.1 port=5432 dbname=%s user=%s password=%s" % (self.name, self.owner, self.password)

    @property
    def params(self):
        """The modules' connection options."""
        return {"login_host": "127.0.0.1", "login_port": 5432, "login_db": self.name, "login_user": self.owner,
                "login_password": self.password, "ssl_mode": "prefer"}

    def migrate(self, workdir):
        """The app's schema, built by its own migrations as the owner."""
        django("migrate", "--noinput", env_extra={"DATABASE_URL": self.url}, workdir=workdir)

    def drop(self):
        psql_as_postgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s';\n"
                         "DROP DATABASE IF EXISTS %s;\nDROP ROLE IF EXISTS %s;\n" % (self.name, self.name, self.owner))


def run_module(name, args, workdir):
    """The module file run as Ansible runs it on the host, with its arguments in a 0600 file."""
    args_file = Path(workdir) / ("%s-args.json" % name)
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    args_file.chmod(0o600)
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    proc, wall, rss = timed([sys.executable, str(MODULES / ("%s.py" % name)), str(args_file)], env=env)
    args_file.unlink()
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit("%s printed no JSON: %s" % (name, (proc.stdout + proc.stderr)[-3000:]))
    if result.get("failed"):
        raise SystemExit("%s failed: %s" % (name, result.get("msg")))
    return result, wall, rss


# A plain read of every row of both sides, nothing compared: the floor for consistency_check.
# argv: SQLite path, libpq DSN. Prints the number of rows read.
PLAIN_READ = r"""
import sqlite3, sys, psycopg2
src, dsn = sys.argv[1], sys.argv[2]
s = sqlite3.connect("file:%s?mode=ro" % src, uri=True)
p = psycopg2.connect(dsn)
tables = [r[0] for r in s.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                                  " AND name != 'django_migrations'")]
rows = 0
for table in tables:
    for _ in s.execute('SELECT * FROM "%s"' % table):
        rows += 1
    cur = p.cursor(name="plain")
    cur.itersize = 5000
    cur.execute('SELECT * FROM "%s"' % table)
    for _ in cur:
        rows += 1
    cur.close()
print(rows)
"""
