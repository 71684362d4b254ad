"""The migration against its alternatives, as the data grows: what `make bench` runs.

    .venv/bin/python benchmarks/run.py [--rows 100000 1000000] [--repeat 1]

For each size, on the demo app's data (`generate_data --rows N`, cached in the work directory),
one round measures, in this order, each on its own fresh PostgreSQL database:

  migrate     our whole playbooks/migrate.yml on localhost, the way `make demo` runs it (the demo
              app under gunicorn on its SQLite file, a private inventory, owner and app roles);
              downtime and per-phase seconds come from its JSON report;
  pgloader    raw pgloader on the same file with the load file our pgloader module builds (its
              load_plan and pgloader engine called on the same plan), into the schema
              `manage.py migrate` created: the floor our load step stands on;
  plain_read  every row of both sides read and dropped (SQLite cursor, PostgreSQL server-side
              cursor), on the database pgloader just filled: the floor for consistency_check;
  dumpdata    Django's `dumpdata --natural-foreign --natural-primary` (without contenttypes,
              auth.permission, sessions) then `loaddata` into a freshly migrated database: what a
              Django user tries first. Only up to --dumpdata-max-rows (default 100000): at 1e6
              rows it takes about ten minutes.

Rounds are interleaved (sizes and steps in turn, --repeat times), so a slow spell of the machine
spreads over all of them. Peak RSS: every process of the playbook's tree is polled (its VmHWM, the
kernel's own high-water mark) and attributed to pgloader, to the module of the task running at
that moment, or to the controller; the standalone steps run under /usr/bin/time -v.

Writes benchmarks/results/results-<UTC time>.json (every measurement), results.md (the table and
the target ratios, misses flagged) and results.png (seconds against rows), and prints the table.
Needs root (roles and databases are created through the local `postgres` account) and the local
PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import (
    COLLECTIONS, DEMO_APP, PGLOADER, PLAIN_READ, REPO, Database, django_env, make_source, psql_as_postgres, run_module,
    timed,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import demo_site  # noqa: E402  pylint: disable=wrong-import-position
from demo_site import health  # noqa: E402  pylint: disable=wrong-import-position


sys.path.insert(0, str(COLLECTIONS))
# pylint: disable=wrong-import-position
from ansible_collections.pgmigrate.django.plugins.module_utils import load_plan, pgloader_engine  # noqa: E402
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import connection_kwargs  # noqa: E402
from ansible_collections.pgmigrate.django.plugins.modules import pgloader as pgloader_module  # noqa: E402

STEPS = ("migrate", "pgloader", "plain_read", "dumpdata")
# Task names of migrate.yml (prefixes) -> the module the task runs.
MODULE_TASKS = (
    ("Scan the source", "preflight"),
    ("Back up the SQLite database", "sqlite_backup"),
    ("Load the data", "pgloader (module)"),
    ("Bring every sequence", "reset_sequences"),
    ("Compare source and target", "consistency_check"),
    ("Wait until no process holds the SQLite database", "wait_file_closed"),
)
TARGETS = {
    "migration_vs_pgloader": 1.3,
    "dumpdata_vs_migration": 10.0,
    "check_vs_load": 1.0,
    "check_vs_plain_read": 2.0,
    "modules_peak_rss_mb": 150.0,
    "pgloader_peak_rss_mb": 500.0,
}


# ------------------------------------------------------------------------------------ process tree

def vm_hwm_mb(pid):
    """The kernel's peak RSS of PID (VmHWM), in MB; None once it is gone."""
    try:
        with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def children(pid):
    """Every descendant pid of PID (from /proc/*/stat's ppid)."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parent_of[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parent_of.items():
            if parent == current:
                found.append(child)
                frontier.append(child)
    return found


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


class TreeMonitor(threading.Thread):
    """Polls the process tree of ROOT_PID and keeps each label's peak RSS.

    Labels: `pgloader` (the SBCL binary), the module of the task running at that moment (read
    from the playbook's output, a pipelined module is a bare `python` reading its stdin),
    `ansible-playbook` (the controller and its forks), `manage.py <command>`.
    """

    def __init__(self, root_pid, output_path, interval=0.1):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.output_path = output_path
        self.interval = interval
        self.peaks = {}
        self.task = "?"
        self._halt = threading.Event()
        self._output = None
        self._labels = {}

    def current_task(self):
        if self._output is None:
            try:
                self._output = open(self.output_path, encoding="utf-8", errors="replace")  # pylint: disable=consider-using-with
            except OSError:
                return self.task
        for line in self._output.readlines():
            if line.startswith("TASK ["):
                self.task = line[6:].rsplit("]", 1)[0]
        return self.task

    def label(self, pid, task):
        argv = cmdline(pid)
        if not argv:
            return None
        name = os.path.basename(argv[0])
        if name == "pgloader":
            return "pgloader"
        if any(os.path.basename(a) == "ansible-playbook" for a in argv[:2]):
            return "ansible-playbook"
        if "manage.py" in argv:
            rest = argv[argv.index("manage.py") + 1:]
            return "manage.py " + (rest[0] if rest else "")
        if name.startswith("python") and len(argv) == 1:
            # A module: the label stays the one of the task it first ran under.
            if pid not in self._labels:
                module = next((m for prefix, m in MODULE_TASKS if prefix in task), None)
                self._labels[pid] = "module " + module if module else "other modules"
            return self._labels[pid]
        return None

    def sample(self):
        task = self.current_task()
        for pid in [self.root_pid] + children(self.root_pid):
            label = self.label(pid, task)
            if label is None:
                continue
            rss = vm_hwm_mb(pid)
            if rss is not None and rss > self.peaks.get(label, 0.0):
                self.peaks[label] = rss

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)
        self.sample()

    def stop(self):
        self._halt.set()
        self.join()
        if self._output is not None:
            self._output.close()


# ------------------------------------------------------------------------------------ the whole migration

class DemoSite(demo_site.DemoSite):
    """tests/demo_site.py's demo site, set up through the local postgres account, whose migrate.yml
    run is watched by the tree monitor."""

    def __init__(self, root, source):
        super().__init__(root, lambda statement, dbname=None: psql_as_postgres(statement, dbname=dbname or "postgres"),
                         prefix="pgm_bsite_", workers=2)
        self.source = source

    def install_app(self):  # pylint: disable=arguments-differ
        super().install_app(source=self.source)

    def migrate(self, interval):
        """Run migrate.yml under the tree monitor: (rc, wall seconds, peaks, output path)."""
        output = self.root / "migrate.out"
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
                   ANSIBLE_HOME=str(self.root / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(self.root / "ansible-tmp"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", PYTHONUNBUFFERED="1",
                   # Per-task seconds in the output, for where the downtime goes.
                   ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="12")
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.root / "hosts.yml"),
                str(REPO / "playbooks" / "migrate.yml"), "-e", "@%s" % (self.root / "secrets.yml")]
        with open(output, "w", encoding="utf-8") as out:
            started = time.monotonic()
            proc = subprocess.Popen(argv, cwd=str(self.root), env=env, stdout=out,  # pylint: disable=consider-using-with
                                    stderr=subprocess.STDOUT)
            monitor = TreeMonitor(proc.pid, output, interval)
            monitor.start()
            rc = proc.wait()
            wall = time.monotonic() - started
            monitor.stop()
        return rc, wall, monitor.peaks, output


def step_migrate(rows, source, workdir, options):
    site = DemoSite(Path(tempfile.mkdtemp(prefix="site-", dir=workdir)), source)
    try:
        site.provision()
        site.install_app()
        site.write_inventory()
        site.start_app()
        rc, wall, peaks, output = site.migrate(options.interval)
        if rc != 0:
            raise SystemExit("migrate.yml failed (rc %d) at %d rows:\n%s" % (rc, rows, output.read_text()[-4000:]))
        report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
        answer = health(site.url)
        if answer.get("vendor") != "postgresql" or not report.get("consistent"):
            raise SystemExit("after migrate.yml the app does not serve from PostgreSQL: %s" % answer)
        modules = {k[len("module "):]: round(v, 1) for k, v in peaks.items() if k.startswith("module ")}
        text = output.read_text()
        for secret in (site.owner_password, site.app_password):
            text = text.replace(secret, "********")
        (Path(options.results) / ("migrate-%d.out" % rows)).write_text(text)
        return {
            "downtime_tasks": downtime_tasks(text),
            "seconds": round(wall, 2),
            "downtime_seconds": float(report["downtime_seconds"]),
            "phases_seconds": {k: float(v) for k, v in report["phases_seconds"].items()},
            "rows_loaded": int(report["rows"]),
            "peak_rss_mb": {k: round(v, 1) for k, v in sorted(peaks.items())},
            "modules_peak_rss_mb": modules,
            "pgloader_peak_rss_mb": round(peaks.get("pgloader", 0.0), 1),
        }
    finally:
        site.stop_app()
        site.drop()
        if not options.keep:
            shutil.rmtree(site.root, ignore_errors=True)


# ------------------------------------------------------------------------------------ raw pgloader, plain read

def downtime_tasks(text):
    """[(task, seconds)] of the tasks between the stop and the healthy app taking 0.2 s or more.

    From ansible.posix.profile_tasks: each task banner is followed by a line whose parenthesis
    holds the previous task's duration.
    """
    tasks, durations = [], []
    for line in text.splitlines():
        if line.startswith("TASK ["):
            tasks.append(line[6:].rsplit("]", 1)[0])
        match = re.search(r"\((\d+):(\d+):(\d+\.\d+)\)\s+\d+:\d+:\d+\.\d+", line)
        if match and len(tasks) >= 2 and len(durations) == len(tasks) - 2:
            durations.append(int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3)))
    inside, found = False, []
    for task, seconds in zip(tasks, durations):
        inside = inside or "Record when the app stops" in task
        if inside and seconds >= 0.2:
            found.append([task, round(seconds, 2)])
        if "Record when the app is healthy" in task:
            break
    return found


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


def step_pgloader(rows, source, workdir, options, then_plain_read):
    db = Database("pgm_bload")
    private = Path(tempfile.mkdtemp(prefix="pgloader-", dir=workdir))
    try:
        db.migrate(workdir)
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
            proc, wall, rss = timed([sys.executable, "-c", PLAIN_READ, str(source), db.dsn])
            if proc.returncode != 0:
                raise SystemExit("plain read failed: %s" % proc.stderr[-2000:])
            result["plain_read"] = {"seconds": round(wall, 2), "peak_rss_mb": round(rss, 1),
                                    "rows_read": int(proc.stdout.strip())}
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
    finally:
        shutil.rmtree(private, ignore_errors=True)
        db.drop()


# ------------------------------------------------------------------------------------ dumpdata / loaddata

DUMP_EXCLUDES = ["-e", "contenttypes", "-e", "auth.permission", "-e", "sessions"]


def step_dumpdata(rows, source, workdir, options):
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


# ------------------------------------------------------------------------------------ report

def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2.0


def summarize(runs):
    """Per size: the median of every measurement over the repeats, and the target ratios."""
    sizes = {}
    for run in runs:
        sizes.setdefault(run["rows"], []).append(run)
    summary = {}
    for rows, entries in sorted(sizes.items()):
        def pick(*path):
            values = []
            for entry in entries:
                value = entry
                for key in path:
                    value = value.get(key) if isinstance(value, dict) else None
                values.append(value)
            return median(values)

        row = {
            "repeats": len(entries),
            "migration_downtime": pick("migrate", "downtime_seconds"),
            "migration_playbook": pick("migrate", "seconds"),
            "load_phase": pick("migrate", "phases_seconds", "load"),
            "verify_phase": pick("migrate", "phases_seconds", "verify"),
            "pgloader": pick("pgloader", "pgloader", "seconds"),
            "plain_read": pick("pgloader", "plain_read", "seconds"),
            "check_alone": pick("pgloader", "consistency_check", "seconds"),
            "check_alone_rss": pick("pgloader", "consistency_check", "peak_rss_mb"),
            "dumpdata_loaddata": pick("dumpdata", "seconds"),
            "pgloader_rss_in_migration": pick("migrate", "pgloader_peak_rss_mb"),
            "pgloader_rss_raw": pick("pgloader", "pgloader", "peak_rss_mb"),
            "phases": {},
            "modules_rss": {},
        }
        for entry in entries:
            for phase in entry.get("migrate", {}).get("phases_seconds", {}):
                row["phases"][phase] = pick("migrate", "phases_seconds", phase)
            for module in entry.get("migrate", {}).get("modules_peak_rss_mb", {}):
                row["modules_rss"][module] = max(
                    e.get("migrate", {}).get("modules_peak_rss_mb", {}).get(module, 0.0) for e in entries)
        row["modules_rss_max"] = max(row["modules_rss"].values()) if row["modules_rss"] else None

        def ratio(numerator, denominator):
            if row.get(numerator) is None or not row.get(denominator):
                return None
            return round(row[numerator] / row[denominator], 2)

        row["ratios"] = {
            "migration_vs_pgloader": ratio("migration_downtime", "pgloader"),
            "load_phase_vs_pgloader": ratio("load_phase", "pgloader"),
            "dumpdata_vs_migration": ratio("dumpdata_loaddata", "migration_downtime"),
            "check_vs_load": ratio("verify_phase", "load_phase"),
            "check_vs_pgloader": ratio("verify_phase", "pgloader"),
            "check_vs_plain_read": ratio("verify_phase", "plain_read"),
            "check_alone_vs_pgloader": ratio("check_alone", "pgloader"),
            "check_alone_vs_plain_read": ratio("check_alone", "plain_read"),
        }
        summary[rows] = row
    return summary


def fmt(value, digits=1):
    return "-" if value is None else ("%.*f" % (digits, value))


def verdicts(summary):
    """(target, size, measured, limit, met) for each target the issue names."""
    out = []
    sizes = sorted(summary)
    for rows in sizes:
        row = summary[rows]
        ratios = row["ratios"]
        if rows >= 1000000 or rows == sizes[-1]:
            out.append(("whole migration (downtime) / raw pgloader", rows, ratios["migration_vs_pgloader"],
                        "<= %.1f" % TARGETS["migration_vs_pgloader"],
                        _met(ratios["migration_vs_pgloader"], TARGETS["migration_vs_pgloader"])))
        if ratios["dumpdata_vs_migration"] is not None:
            out.append(("dumpdata+loaddata / whole migration (downtime)", rows, ratios["dumpdata_vs_migration"],
                        ">= %.0f" % TARGETS["dumpdata_vs_migration"],
                        _met(TARGETS["dumpdata_vs_migration"], ratios["dumpdata_vs_migration"])))
        out.append(("consistency_check / load (their phases in migrate.yml)", rows, ratios["check_vs_load"],
                    "<= %.1f" % TARGETS["check_vs_load"], _met(ratios["check_vs_load"], TARGETS["check_vs_load"])))
        out.append(("consistency_check (its phase in migrate.yml) / plain read", rows, ratios["check_vs_plain_read"],
                    "<= %.1f" % TARGETS["check_vs_plain_read"],
                    _met(ratios["check_vs_plain_read"], TARGETS["check_vs_plain_read"])))
        out.append(("consistency_check alone / raw pgloader", rows, ratios["check_alone_vs_pgloader"],
                    "<= %.1f" % TARGETS["check_vs_load"],
                    _met(ratios["check_alone_vs_pgloader"], TARGETS["check_vs_load"])))
        out.append(("consistency_check alone / plain read", rows, ratios["check_alone_vs_plain_read"],
                    "<= %.1f" % TARGETS["check_vs_plain_read"],
                    _met(ratios["check_alone_vs_plain_read"], TARGETS["check_vs_plain_read"])))
        out.append(("peak RSS of our modules, MB (largest)", rows, row["modules_rss_max"],
                    "< %.0f" % TARGETS["modules_peak_rss_mb"],
                    _met(row["modules_rss_max"], TARGETS["modules_peak_rss_mb"])))
        pg_rss = max([v for v in (row["pgloader_rss_in_migration"], row["pgloader_rss_raw"]) if v is not None] or [0])
        out.append(("peak RSS of pgloader, MB", rows, pg_rss or None, "< %.0f" % TARGETS["pgloader_peak_rss_mb"],
                    _met(pg_rss or None, TARGETS["pgloader_peak_rss_mb"])))
    return out


def _met(value, limit):
    if value is None or limit is None:
        return None
    return value <= limit


def markdown(summary, meta):
    lines = ["Run %s on %s (%d cores, %s), load average at start %s; median of %s repeat(s)." % (
        meta["started"], meta["host"], meta["cpus"], meta["platform"], meta["load_average_start"],
        meta["repeat"]), ""]
    sizes = sorted(summary)
    lines.append("| seconds (peak RSS MB) | " + " | ".join("%d rows" % r for r in sizes) + " |")
    lines.append("|---|" + "---:|" * len(sizes))

    def line(title, cells):
        lines.append("| %s | %s |" % (title, " | ".join(cells)))

    line("**migrate.yml: downtime**", [fmt(summary[r]["migration_downtime"]) for r in sizes])
    line("migrate.yml: whole playbook (preflight included, app still up)",
         [fmt(summary[r]["migration_playbook"]) for r in sizes])
    phases = []
    for rows in sizes:
        phases += [p for p in summary[rows]["phases"] if p not in phases]
    for phase in phases:
        line("&nbsp;&nbsp;phase %s" % phase, [fmt(summary[r]["phases"].get(phase), 2) for r in sizes])
    line("**raw pgloader**, same load file", ["%s (%s)" % (fmt(summary[r]["pgloader"]), fmt(summary[r]["pgloader_rss_raw"], 0))
                                              for r in sizes])
    line("plain read of both sides", [fmt(summary[r]["plain_read"], 2) for r in sizes])
    line("consistency_check alone (module process, after raw pgloader)",
         ["%s (%s)" % (fmt(summary[r]["check_alone"], 2), fmt(summary[r]["check_alone_rss"], 0)) for r in sizes])
    line("**dumpdata + loaddata**", [fmt(summary[r]["dumpdata_loaddata"]) for r in sizes])
    line("peak RSS: pgloader under migrate.yml", [fmt(summary[r]["pgloader_rss_in_migration"], 0) for r in sizes])
    modules = []
    for rows in sizes:
        modules += [m for m in summary[rows]["modules_rss"] if m not in modules]
    for module in sorted(modules):
        line("peak RSS: module %s" % module, [fmt(summary[r]["modules_rss"].get(module), 0) for r in sizes])
    lines += ["", "| target | rows | measured | target | met |", "|---|---:|---:|---|---|"]
    for title, rows, value, limit, met in verdicts(summary):
        lines.append("| %s | %d | %s | %s | %s |" % (title, rows, fmt(value, 2), limit,
                                                     "n/a" if met is None else ("yes" if met else "**MISSED**")))
    return "\n".join(lines) + "\n"


def plot(summary, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    sizes = sorted(summary)
    fig, (seconds, memory) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for key, title, style in (("migration_downtime", "migrate.yml downtime", "o-"),
                              ("load_phase", "  its load phase (pgloader module)", "o--"),
                              ("verify_phase", "  its verify phase (consistency_check)", "o:"),
                              ("pgloader", "raw pgloader, same load file", "s-"),
                              ("plain_read", "plain read of both sides", "^-"),
                              ("check_alone", "consistency_check alone", "v:"),
                              ("dumpdata_loaddata", "dumpdata + loaddata", "x-")):
        points = [(r, summary[r][key]) for r in sizes if summary[r][key] is not None]
        if points:
            seconds.plot([p[0] for p in points], [p[1] for p in points], style, label=title)
    seconds.set_xscale("log")
    seconds.set_yscale("log")
    seconds.set_xlabel("rows in the SQLite file (generate_data --rows)")
    seconds.set_ylabel("seconds")
    seconds.set_title("Time: SQLite -> PostgreSQL, demo app, %d cores" % os.cpu_count())
    seconds.grid(True, which="both", alpha=0.3)
    seconds.legend(fontsize="small")
    series = {"pgloader (under migrate.yml)": [summary[r]["pgloader_rss_in_migration"] for r in sizes]}
    modules = sorted({m for r in sizes for m in summary[r]["modules_rss"]})
    for module in modules:
        series[module] = [summary[r]["modules_rss"].get(module) for r in sizes]
    for title, values in series.items():
        points = [(r, v) for r, v in zip(sizes, values) if v is not None]
        if points:
            memory.plot([p[0] for p in points], [p[1] for p in points], "o-", label=title)
    memory.axhline(TARGETS["modules_peak_rss_mb"], color="grey", linestyle="--", linewidth=0.8)
    memory.axhline(TARGETS["pgloader_peak_rss_mb"], color="grey", linestyle=":", linewidth=0.8)
    memory.set_xscale("log")
    memory.set_ylim(bottom=0)
    memory.set_xlabel("rows")
    memory.set_ylabel("peak RSS, MB (targets: modules 150, pgloader 500)")
    memory.set_title("Peak RSS per process")
    memory.grid(True, which="both", alpha=0.3)
    memory.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100000, 1000000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--dumpdata-max-rows", type=int, default=100000,
                        help="run dumpdata/loaddata only up to this size (default 100000: ~10 min at 1e6)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pgmigrate-bench",
                        help="SQLite files are generated here once and reused")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--interval", type=float, default=0.1, help="process tree polling interval, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the demo site directories")
    options = parser.parse_args()
    options.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    options.results.mkdir(parents=True, exist_ok=True)
    meta = {"started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "host": socket.gethostname(), "cpus": os.cpu_count(), "platform": platform.platform(terse=True),
            "load_average_start": ", ".join("%.1f" % v for v in os.getloadavg()), "repeat": options.repeat,
            "rows": options.rows, "steps": options.steps, "dumpdata_max_rows": options.dumpdata_max_rows}
    sources = {}
    for rows in options.rows:
        started = time.monotonic()
        sources[rows] = make_source(rows, options.workdir)
        size_mb = sources[rows].stat().st_size / 1048576.0
        print("source %d rows: %s (%.1f MB, %.0f s)" % (rows, sources[rows], size_mb, time.monotonic() - started),
              flush=True)
    runs = []
    for repeat in range(options.repeat):
        for rows in options.rows:
            run = {"rows": rows, "repeat": repeat, "sqlite_mb": round(sources[rows].stat().st_size / 1048576.0, 1)}
            for step in options.steps:
                started = time.monotonic()
                if step == "migrate":
                    run["migrate"] = step_migrate(rows, sources[rows], options.workdir, options)
                elif step == "pgloader":
                    run["pgloader"] = step_pgloader(rows, sources[rows], options.workdir, options,
                                                    then_plain_read="plain_read" in options.steps)
                elif step == "dumpdata":
                    if rows > options.dumpdata_max_rows:
                        continue
                    run["dumpdata"] = step_dumpdata(rows, sources[rows], options.workdir, options)
                else:
                    continue  # plain_read runs on pgloader's database
                print("repeat %d, %d rows, %s: %.1f s, load average %.1f" % (
                    repeat + 1, rows, step, time.monotonic() - started, os.getloadavg()[0]), flush=True)
            runs.append(run)
    meta["load_average_end"] = ", ".join("%.1f" % v for v in os.getloadavg())
    summary = summarize(runs)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    document = {"meta": meta, "runs": runs, "summary": {str(k): v for k, v in summary.items()}}
    (options.results / ("results-%s.json" % stamp)).write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(summary, meta)
    (options.results / "results.md").write_text(table)
    plot(summary, options.results / "results.png")
    print(table)
    names = ("results-%s.json" % stamp, "results.md", "results.png")
    print("written: %s" % ", ".join(str(options.results / n) for n in names))


if __name__ == "__main__":
    main()
