"""The floors run.py measures the migration against, each on its own fresh database.

  step_pgloader  raw pgloader on the same file with the load file our pgloader module builds (its
                 load_plan and pgloader engine called on the same plan), into the schema
                 `manage.py migrate` created; then (then_plain_read) the plain read of both sides
                 and consistency_check as a module process on that database;
  step_dumpdata  Django's dumpdata (without contenttypes, auth.permission, sessions) then loaddata
                 into a freshly migrated database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from common import COLLECTIONS, DEMO_APP, PGLOADER, PLAIN_READ, Database, django_env, run_module, timed

sys.path.insert(0, str(COLLECTIONS))
# pylint: disable=wrong-import-position
from ansible_collections.pgmigrate.django.plugins.module_utils import load_plan, pgloader_engine  # noqa: E402
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import connection_kwargs  # noqa: E402
from ansible_collections.pgmigrate.django.plugins.modules import pgloader as pgloader_module  # noqa: E402

DUMP_EXCLUDES = ["-e", "contenttypes", "-e", "auth.permission", "-e", "sessions"]


def module_params(db, source):
    """The pgloader module's parameters for a load of SOURCE into DB: its defaults, truncate, engine pgloader."""
    spec = pgloader_module.argument_spec()
    params = {name: option.get("default") for name, option in spec.items()}
    params.update(db.params, source=str(source), truncate=True, engine="pgloader")
    return params


def module_load_file(params):
    """The load file our pgloader module writes (load_plan and the pgloader engine, as the module calls them)."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(**connection_kwargs(params))
    sconn = load_plan.open_source(params["source"])
    try:
        with conn.cursor() as cur:
            plan = load_plan.make_plan(dict(params, preflight=False), sconn, cur)
    finally:
        conn.close()
        sconn.close()
    text, _identifiers, _intervals = pgloader_engine.load_file(params, plan, params["source"])
    return text


def step_pgloader(source, options, then_plain_read):
    """Raw pgloader on SOURCE with our module's load file; then the plain read and the check if asked."""
    db = Database("pgm_bload")
    private = Path(tempfile.mkdtemp(prefix="pgloader-", dir=options.workdir))
    try:
        db.migrate(options.workdir)
        params = module_params(db, source)
        text = module_load_file(params)
        load_path = private / "migrate.load"
        load_path.write_text(text)
        load_path.chmod(0o600)
        (Path(options.results) / "migrate.load").write_text(text.replace(db.name, "<database>"))
        (private / "root").mkdir(mode=0o700)
        # As the module runs it: private root dir, password file, summary and log file.
        env = pgloader_engine.environment(params, str(private))
        proc, wall, rss = timed([PGLOADER, "--root-dir", str(private / "root") + os.sep, "--summary",
                                 str(private / "summary.csv"), "--logfile", str(private / "pgloader.log"),
                                 str(load_path)], env=env, cwd=str(private))
        if proc.returncode != 0:
            raise SystemExit("pgloader failed: %s" % (proc.stdout + proc.stderr)[-3000:])
        result = {"pgloader": {"seconds": round(wall, 2), "peak_rss_mb": round(rss, 1)}}
        if then_plain_read:
            result.update(plain_read_and_check(source, db, private))
        return result
    finally:
        shutil.rmtree(private, ignore_errors=True)
        db.drop()


def plain_read_and_check(source, db, private):
    """The plain read of both sides, then reset_sequences and consistency_check as module processes."""
    proc, wall, rss = timed([sys.executable, "-c", PLAIN_READ, str(source), db.dsn])
    if proc.returncode != 0:
        raise SystemExit("plain read failed: %s" % proc.stderr[-2000:])
    result = {"plain_read": {"seconds": round(wall, 2), "peak_rss_mb": round(rss, 1),
                             "rows_read": int(proc.stdout.strip())}}
    # The same check migrate.yml runs, as a module process without Ansible around it.
    run_module("reset_sequences", dict(db.params, source=str(source)), private)
    check, wall, rss = run_module("consistency_check", dict(db.params, source=str(source),
                                                            exclude_tables=["django_migrations"]), private)
    if not check.get("consistent"):
        raise SystemExit("consistency_check after raw pgloader: not consistent: %s" % check.get("problems"))
    result["consistency_check"] = {"seconds": round(wall, 2), "peak_rss_mb": round(rss, 1),
                                   "module_seconds": check.get("seconds"), "timings": check.get("timings"),
                                   "rows_compared": check.get("rows_compared")}
    return result


def step_dumpdata(rows, source, options):
    workdir = options.workdir
    db = Database("pgm_bdump")
    dump = Path(workdir) / ("dump-%d-%s.json" % (rows, secrets.token_hex(3)))
    try:
        db.migrate(workdir)
        manage = [sys.executable, "manage.py"]
        proc, dump_wall, dump_rss = timed(
            manage + ["dumpdata", "--natural-foreign", "--natural-primary"] + DUMP_EXCLUDES + ["-o", str(dump)],
            env=django_env({"SQLITE_PATH": str(source)}, workdir), cwd=str(DEMO_APP))
        if proc.returncode != 0:
            raise SystemExit("dumpdata failed: %s" % proc.stderr[-3000:])
        proc, load_wall, load_rss = timed(manage + ["loaddata", str(dump)],
                                          env=django_env({"DATABASE_URL": db.url}, workdir), cwd=str(DEMO_APP))
        if proc.returncode != 0:
            raise SystemExit("loaddata failed: %s" % proc.stderr[-3000:])
        return {"seconds": round(dump_wall + load_wall, 2), "dumpdata_seconds": round(dump_wall, 2),
                "loaddata_seconds": round(load_wall, 2), "dumpdata_peak_rss_mb": round(dump_rss, 1),
                "loaddata_peak_rss_mb": round(load_rss, 1), "dump_mb": round(dump.stat().st_size / 1048576.0, 1),
                "loaded": proc.stdout.strip()[-200:]}
    finally:
        if dump.exists():
            dump.unlink()
        db.drop()
