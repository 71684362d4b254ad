"""The pgloader module's two engines against psql \\copy of ready COPY files, measured in one run.

    .venv/bin/python benchmarks/bench_copy_engine.py --rows 1000000 --repeat 3

Builds the demo app's SQLite file (`generate_data --rows N`, cached in --workdir) and one
PostgreSQL database with the app's schema (`manage.py migrate`), used as the template of a fresh
database for every measured load. A preparatory load with the pgloader engine gives the COPY text
files (`psql \\copy TABLE TO FILE`, one per table): the data exactly as PostgreSQL holds it.

Then, --repeat times and in a rotating order (a slow spell of the shared machine spreads over all
methods), each on a fresh database:

- `psql \\copy` of the ready files (the floor): one psql session loading every file, parents first,
  into the migrated schema as it is (Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so
  every row is checked when its \\copy commits);
- the same with the foreign keys dropped first and re-created at the end, inside the timed script
  (what no row-by-row check costs: the hardware's floor);
- the pgloader module with `engine: copy` (per --copy-workers), and with `engine: pgloader`: the
  module file run as Ansible runs it on the host (a JSON argument file, no controller), so the
  peak RSS is the module's process tree (the pgloader child included). "load s" is the module's own
  `load_seconds` (the engine, foreign key work included); "task s" is the whole task (preflight scan
  and verification counts too).

Everything runs under `/usr/bin/time -v` (wall time; peak RSS of the largest process of the tree).
Afterwards the last copy and pgloader targets get `reset_sequences` and `consistency_check` (both
must be consistent), and their contents are compared table by table (the text of every row, in
order): identical or the benchmark fails.

Prints a Markdown table (median, and min-max over the repeats) and the verdict for "load within
1.15x of psql \\copy, peak RSS under 100 MB". Needs root (roles and databases are made through the
local `postgres` account) and the local PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import django, make_source, psql_as_postgres, run_module, timed

import psycopg2
from psycopg2 import sql

HOST, PORT = "127.0.0.1", 5432
TARGET = 1.15
RSS_LIMIT_MB = 100


class Databases(object):
    """A role, a migrated template database and throw-away clones of it."""

    def __init__(self, workdir):
        self.role = "pgm_bcopy_%s" % secrets.token_hex(4)
        self.password = "pw-" + secrets.token_urlsafe(18)
        self.made = []
        psql_as_postgres("CREATE ROLE %s LOGIN PASSWORD '%s';\n" % (self.role, self.password))
        self.template = self.create()
        django("migrate", "--noinput", env_extra={"DATABASE_URL": self.url(self.template)}, workdir=workdir)

    def url(self, name):
        return "postgresql://%s:%s@%s:%d/%s" % (self.role, self.password, HOST, PORT, name)

    def create(self, template=None):
        name = "%s_%s" % (self.role, secrets.token_hex(3))
        clause = " TEMPLATE %s" % template if template else ""
        psql_as_postgres("CREATE DATABASE %s OWNER %s%s;\n" % (name, self.role, clause))
        self.made.append(name)
        return name

    def clone(self):
        return self.create(self.template)

    def connect(self, name):
        conn = psycopg2.connect(host=HOST, port=PORT, dbname=name, user=self.role, password=self.password)
        conn.autocommit = True
        return conn

    def module_args(self, name, **extra):
        args = {"login_host": HOST, "login_port": PORT, "login_db": name, "login_user": self.role,
                "login_password": self.password}
        args.update(extra)
        return args

    def drop(self, name):
        psql_as_postgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s';\n"
                         "DROP DATABASE IF EXISTS %s;\n" % (name, name))
        if name in self.made:
            self.made.remove(name)

    def close(self):
        for name in list(self.made):
            self.drop(name)
        psql_as_postgres("DROP ROLE IF EXISTS %s;\n" % self.role)


def catalog(conn):
    """(tables parents first, foreign keys [(table, name, definition)]) of the public schema."""
    with conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
                    " AND relname <> 'django_migrations' ORDER BY 1")
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT conrelid::regclass::text, conname, confrelid::regclass::text,"
                    " pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1, 2")
        fks = cur.fetchall()
    order, placed = [], set()
    while len(order) < len(tables):
        ready = [table for table in tables if table not in placed
                 and {ref for child, _n, ref, _d in fks if child == table and ref != table} <= placed]
        for table in ready or [t for t in tables if t not in placed]:  # a cycle: the rest as it comes
            order.append(table)
            placed.add(table)
    return order, [(child, name, definition) for child, name, _ref, definition in fks]


def export_files(dbs, name, directory):
    """COPY text files of every table of database NAME, through psql \\copy (as a user would)."""
    conn = dbs.connect(name)
    tables, fks = catalog(conn)
    conn.close()
    directory.mkdir(mode=0o700)
    for table in tables:
        script = "\\copy %s TO '%s'\n" % (sql_ident(table), directory / ("%s.copy" % table))
        proc, _wall, _rss = timed(psql(dbs, name), env=pg_env(dbs), stdin=script)
        if proc.returncode != 0:
            raise SystemExit("export of %s failed: %s" % (table, proc.stderr[-2000:]))
    return tables, fks


def psql(dbs, name):
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(PORT), "-U", dbs.role, "-d", name]


def pg_env(dbs):
    return dict(os.environ, PGPASSWORD=dbs.password)


def floor_scripts(tables, fks, directory):
    """(untimed preparation, timed load) scripts for both floors."""
    prepare = "TRUNCATE %s;\n" % ", ".join(sql_ident(table) for table in tables)
    copies = "".join("\\copy %s FROM '%s'\n" % (sql_ident(table), directory / ("%s.copy" % table)) for table in tables)
    drop = "".join("ALTER TABLE %s DROP CONSTRAINT %s;\n" % (table, sql_ident(name)) for table, name, _d in fks)
    add = "".join("ALTER TABLE %s ADD CONSTRAINT %s %s;\n" % (table, sql_ident(name), definition)
                  for table, name, definition in fks)
    return prepare, {"psql_copy": copies, "psql_copy_no_fk": drop + copies + add}


def sql_ident(name):
    return '"%s"' % name.replace('"', '""')


def measure_psql(dbs, prepare, script):
    name = dbs.clone()
    proc, _wall, _rss = timed(psql(dbs, name), env=pg_env(dbs), stdin=prepare)
    if proc.returncode != 0:
        raise SystemExit("floor preparation failed: %s" % proc.stderr[-2000:])
    proc, wall, rss = timed(psql(dbs, name), env=pg_env(dbs), stdin=script)
    if proc.returncode != 0:
        raise SystemExit("psql \\copy failed: %s" % proc.stderr[-2000:])
    dbs.drop(name)
    return {"load": wall, "task": wall, "rss": rss}


def measure_module(dbs, source, private, engine, workers, keep=False):
    name = dbs.clone()
    args = dbs.module_args(name, source=str(source), engine=engine)
    if workers:
        args["workers"] = workers
    result, wall, rss = run_module("pgloader", args, private)
    if not keep:
        dbs.drop(name)
    return {"load": result["load_seconds"], "task": wall, "rss": rss, "rows": result["rows"],
            "database": name if keep else None}


def content_digest(dbs, name):
    """{table: sha256 of every row's text, in text order}, streamed (server-side cursor)."""
    conn = dbs.connect(name)
    tables, _fks = catalog(conn)
    conn.autocommit = False
    digests = {}
    for table in tables:
        digest = hashlib.sha256()
        with conn.cursor(name="digest") as cur:
            cur.itersize = 5000
            cur.execute(sql.SQL("SELECT t::text FROM {} t ORDER BY 1").format(sql.Identifier(table)))
            for (text,) in cur:
                digest.update(text.encode("utf-8") + b"\n")
        digests[table] = digest.hexdigest()
    conn.close()
    return digests


def check_copy(dbs, source, private, name):
    """reset_sequences then consistency_check on database NAME; returns consistency_check's verdict."""
    run_module("reset_sequences", dbs.module_args(name, source=str(source)), private)
    args = dbs.module_args(name, source=str(source), exclude_tables=["django_migrations"])
    check, _wall, _rss = run_module("consistency_check", args, private)
    return check["consistent"], check.get("problems", [])[:5]


def summary(samples):
    values = [s for s in samples if s is not None]
    return statistics.median(values), min(values), max(values)


def cell(samples, digits=2):
    median, low, high = summary(samples)
    if len(samples) == 1:
        return "%.*f" % (digits, median)
    return "%.*f (%.*f-%.*f)" % (digits, median, digits, low, digits, high)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copy-workers", default="2,4",
                        help="comma-separated `workers` values for engine copy (default 2,4; 4 is the module default)")
    parser.add_argument("--json", action="store_true", help="also print every sample as JSON")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pgmigrate-bench",
                        help="where the demo SQLite files are cached")
    options = parser.parse_args()
    options.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    workdir = options.workdir
    source = make_source(options.rows, workdir)
    workers = [int(w) for w in options.copy_workers.split(",") if w.strip()]
    private = Path(tempfile.mkdtemp(prefix="pgmigrate-bench-copy-"))
    private.chmod(0o700)
    dbs = Databases(workdir)
    started = time.monotonic()
    try:
        reference = measure_module(dbs, source, private, "pgloader", None, keep=True)["database"]
        tables, fks = export_files(dbs, reference, private / "copy")
        dbs.drop(reference)
        prepare, scripts = floor_scripts(tables, fks, private / "copy")
        methods = [("psql \\copy (floor: migrated schema, FKs checked per row)", "psql_copy", None),
                   ("psql \\copy, FKs dropped and re-created (no per-row checks)", "psql_copy_no_fk", None)]
        methods += [("engine copy, workers=%d" % w, "copy", w) for w in workers]
        methods.append(("engine pgloader (module defaults)", "pgloader", None))
        samples = dict((label, []) for label, _kind, _w in methods)
        kept = {}
        for round_ in range(options.repeat):
            shift = round_ % len(methods)
            for label, kind, count in methods[shift:] + methods[:shift]:
                last = round_ == options.repeat - 1
                if kind in scripts:
                    sample = measure_psql(dbs, prepare, scripts[kind])
                else:
                    keep = last and kind not in kept
                    sample = measure_module(dbs, source, private, kind, count, keep=keep)
                    if keep:
                        kept[kind] = sample["database"]
                samples[label].append(sample)
                print("round %d: %-62s load %6.2f s  task %6.2f s  peak RSS %7.1f MB" % (
                    round_ + 1, label, sample["load"], sample["task"], sample["rss"]), file=sys.stderr)
        consistent = dict((kind, check_copy(dbs, source, private, name)) for kind, name in kept.items())
        digests = dict((kind, content_digest(dbs, name)) for kind, name in kept.items())
        identical = digests["copy"] == digests["pgloader"]
    finally:
        shutil.rmtree(private, ignore_errors=True)
        dbs.close()

    floor = summary([s["load"] for s in samples[methods[0][0]]])[0]
    floor_no_fk = summary([s["load"] for s in samples[methods[1][0]]])[0]
    lines = ["| method | load s | task s | peak RSS MB | load / floor | load / floor without FK checks |",
             "|---|---|---|---|---|---|"]
    for label, _kind, _w in methods:
        loads = [s["load"] for s in samples[label]]
        median = summary(loads)[0]
        lines.append("| %s | %s | %s | %s | %.2f | %.2f |" % (
            label, cell(loads), cell([s["task"] for s in samples[label]]), cell([s["rss"] for s in samples[label]], 0),
            median / floor, median / floor_no_fk))
    rows = samples[methods[2][0]][0]["rows"]
    print("\n%d rows (SQLite file %.0f MB), %d round(s), medians (min-max); %d CPUs, load average at the end %s\n"
          % (rows, source.stat().st_size / 1048576.0, options.repeat, os.cpu_count(),
             " ".join("%.1f" % v for v in os.getloadavg())))
    print("\n".join(lines))
    print()
    for label, kind, _w in methods:
        if kind != "copy":
            continue
        load = summary([s["load"] for s in samples[label]])[0]
        rss = max(s["rss"] for s in samples[label])
        verdicts = ("yes" if load <= TARGET * floor else "NO", "yes" if rss < RSS_LIMIT_MB else "NO")
        print("%s: load %.2fx the floor (target <= %.2fx): %s; %.2fx the floor without FK checks; peak RSS %.0f MB "
              "(target < %d MB): %s" % (label, load / floor, TARGET, verdicts[0], load / floor_no_fk, rss,
                                        RSS_LIMIT_MB, verdicts[1]))
    for kind, (ok, problems) in sorted(consistent.items()):
        verdict = "consistent" if ok else "NOT consistent %s" % problems
        print("consistency_check after engine %s: %s" % (kind, verdict))
    print("engine copy and engine pgloader hold identical content: %s" % ("yes" if identical else "NO: %s" % [
        t for t in digests["copy"] if digests["copy"][t] != digests["pgloader"].get(t)]))
    print("benchmark wall time: %.0f s" % (time.monotonic() - started))
    if options.json:
        print(json.dumps({label: samples[label] for label, _k, _w in methods}, indent=1))
    if not identical or not all(ok for ok, _p in consistent.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
