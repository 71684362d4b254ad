"""consistency_check against pgloader on the same file, measured in one run.

    .venv/bin/python benchmarks/bench_consistency_check.py --rows 1000000

Builds the demo app's SQLite file (`generate_data --rows N`), a fresh PostgreSQL database with
the app's schema (`manage.py migrate`), loads it with the real pgloader, moves the sequences
(`reset_sequences`), then runs `consistency_check` with every check. pgloader and both modules
run as their own processes under `/usr/bin/time -v`, so the wall time and the peak RSS of each
are measured the same way; the modules run exactly as Ansible runs them on the managed host
(the module file with a JSON argument file), without the controller around them.

Also timed: a plain read of every row of both sides (SQLite cursor, PostgreSQL server-side
cursor, nothing compared), the floor any comparison has to pay.

Prints one JSON document; `check_vs_pgloader` is consistency_check's wall time divided by
pgloader's (the target is <= 1.0). Needs root (it creates the role and database through the
local `postgres` account) and the local PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The helpers live in benchmarks/common.py (shared with run.py); imported here under their old names.
from common import (  # noqa: F401 pylint: disable=unused-import
    COLLECTIONS, DEMO_APP, MODULES, PGLOADER, PLAIN_READ, REPO, django, make_source, psql_as_postgres, run_module,
    timed,
)

INTERVAL_CAST = '(lambda (us) (when us (format nil "~a microseconds" us)))'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pgmigrate-bench")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database and role")
    options = parser.parse_args()
    workdir = options.workdir
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (workdir / "empty.env").write_text("")
    started = time.monotonic()
    source = make_source(options.rows, workdir)
    generate_seconds = time.monotonic() - started

    name = "pgm_bench_%s" % secrets.token_hex(4)
    password = "pw-" + secrets.token_urlsafe(18)
    psql_as_postgres("CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n"
                     % (name, password, name, name))
    private = Path(tempfile.mkdtemp(prefix="pgmigrate-bench-"))
    private.chmod(0o700)
    try:
        url = "postgresql://%s:%s@127.0.0.1:5432/%s" % (name, password, name)
        django("migrate", "--noinput", env_extra={"DATABASE_URL": url}, workdir=workdir)
        load_file = private / "load.load"
        load_file.write_text(
            "LOAD DATABASE\n  FROM sqlite://%s\n  INTO postgresql://%s@127.0.0.1:5432/%s\n"
            "WITH data only, truncate, reset no sequences\n"
            "SET work_mem to '64MB', timezone to 'UTC'\n"
            "CAST column inventory_item.warranty to interval using %s\n"
            "EXCLUDING TABLE NAMES LIKE 'django_migrations';\n" % (source, name, name, INTERVAL_CAST))
        load_file.chmod(0o600)
        env = dict(os.environ, PGPASSWORD=password)
        proc, pgloader_wall, pgloader_rss = timed(
            [PGLOADER, "--root-dir", str(private / "root"), "--summary", str(private / "summary.csv"), str(load_file)],
            env=env)
        if proc.returncode != 0:
            raise SystemExit("pgloader failed: %s" % (proc.stdout + proc.stderr)[-3000:])

        connection = {"login_host": "127.0.0.1", "login_port": 5432, "login_db": name, "login_user": name,
                      "login_password": password}
        reset, reset_wall, reset_rss = run_module("reset_sequences", dict(connection, source=str(source)), private)
        check, check_wall, check_rss = run_module("consistency_check", dict(connection, source=str(source)), private)
        if not check["consistent"]:
            raise SystemExit("the copy is not consistent: %s" % check["problems"][:10])

        proc, plain_wall, plain_rss = timed(
            [sys.executable, "-c", PLAIN_READ, str(source),
             "host=127.0.0.1 dbname=%s user=%s password=%s" % (name, name, password)])
        if proc.returncode != 0:
            raise SystemExit("plain read failed: %s" % proc.stderr[-2000:])

        report = {
            "rows_source": check["rows_compared"],
            "sqlite_mb": round(source.stat().st_size / 1048576.0, 1),
            "generate_seconds": round(generate_seconds, 2),
            "pgloader_seconds": round(pgloader_wall, 2),
            "pgloader_peak_rss_mb": round(pgloader_rss, 1),
            "reset_sequences_seconds": round(reset_wall, 2),
            "reset_sequences_peak_rss_mb": round(reset_rss, 1),
            "sequences_moved": reset["changed_count"],
            "consistency_check_seconds": round(check_wall, 2),
            "consistency_check_module_seconds": check["seconds"],
            "consistency_check_peak_rss_mb": round(check_rss, 1),
            "consistency_check_timings": check["timings"],
            "per_table_content_seconds": dict((t["name"], t.get("content_seconds")) for t in check["tables"]
                                              if t.get("source_rows", 0) > 1000),
            "plain_read_seconds": round(plain_wall, 2),
            "plain_read_peak_rss_mb": round(plain_rss, 1),
            "check_vs_pgloader": round(check_wall / pgloader_wall, 3),
            "check_vs_plain_read": round(check_wall / plain_wall, 3),
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if not options.keep:
            psql_as_postgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s';\n"
                             "DROP DATABASE IF EXISTS %s;\nDROP ROLE IF EXISTS %s;\n" % (name, name, name))


if __name__ == "__main__":
    main()
