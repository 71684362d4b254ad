"""The `migrate` step of run.py: the whole playbooks/migrate.yml on a demo site, under a writer load.

The site is tests/demo_site.py's DemoSite (the demo app under gunicorn on its SQLite file, a
private inventory like inventories/local, owner and app roles, an empty database), set up through
the local postgres account. The writer load (writer_load.py) starts before the playbook and
writes until the app stops; after the playbook every write the app acknowledged is read back from
the app, now on PostgreSQL. Downtime and phases come from the playbook's JSON report, the tasks of
the downtime from ansible.posix.profile_tasks, peak RSS from the process tree monitor.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import COLLECTIONS, REPO, psql_as_postgres
from proctree import TreeMonitor
from writer_load import WriterLoad, verify

sys.path.insert(0, str(REPO / "tests"))
import demo_site  # noqa: E402  pylint: disable=wrong-import-position
from demo_site import health  # noqa: E402  pylint: disable=wrong-import-position


class BenchSite(demo_site.DemoSite):
    """A demo site whose migrate.yml run is watched by the tree monitor."""

    def __init__(self, root, source):
        super().__init__(root, lambda statement, dbname=None: psql_as_postgres(statement, dbname=dbname or "postgres"),
                         prefix="pgm_bsite_", workers=2)
        self.source = source
        self.base_url = "http://127.0.0.1:%d" % self.port

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


def inventory_extra(strategy, engine):
    extra = {"pgmigrate_engine": engine}
    if strategy != "offline":  # the default; a tree without the option refuses it as unknown
        extra["pgmigrate_strategy"] = strategy
    return extra


def step_migrate(rows, source, options, strategy, engine):
    """One migrate.yml run at ROWS rows with STRATEGY and ENGINE, the writer load running; its measurements."""
    label = "%s-%s-%d" % (strategy, engine, rows)
    site = BenchSite(Path(tempfile.mkdtemp(prefix="site-", dir=options.workdir)), source)
    writer = None
    try:
        site.provision()
        site.install_app()
        site.write_inventory(extra_vars=inventory_extra(strategy, engine))
        site.start_app()
        if options.writer_rate > 0:
            writer = WriterLoad(site.base_url, Path(options.results) / ("writes-%s.jsonl" % label),
                                rate=options.writer_rate)
            writer.start_and_wait()
        rc, wall, peaks, output = site.migrate(options.interval)
        text = output.read_text()
        for secret in (site.owner_password, site.app_password):
            text = text.replace(secret, "********")
        (Path(options.results) / ("migrate-%s.out" % label)).write_text(text)
        if rc != 0:
            raise SystemExit("migrate.yml failed (rc %d), %s:\n%s" % (rc, label, text[-4000:]))
        report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
        answer = health(site.url)
        if answer.get("vendor") != "postgresql":
            raise SystemExit("after migrate.yml the app does not serve from PostgreSQL: %s" % answer)
        # An online report without a full check may say consistent: false (asked of 15R to change); its
        # verification is apply_changes', which fails the run when it finds a difference.
        if not report.get("consistent") and not (strategy == "online" and "changes_applied" in report.get("online", {})):
            raise SystemExit("migrate.yml's report does not say consistent: %s" % json.dumps(report)[:2000])
        result = measurements(report, wall, peaks, text)
        if writer is not None:
            result["writer"] = writer_outcome(writer, site)
        return result
    finally:
        if writer is not None:
            writer.halt()
        site.stop_app()
        site.drop()
        if not options.keep:
            shutil.rmtree(site.root, ignore_errors=True)


def writer_outcome(writer, site):
    """The writer's numbers, after checking that it ran until the stop and lost nothing."""
    writer.halt()  # it ended at the stop already; halting a finished thread is a no-op
    summary = writer.summary()
    if writer.stopped_by != "refused (the stop)":
        raise SystemExit("the writer load never saw the app stop (%s): %s" % (writer.stopped_by, summary))
    summary.update(verify(site.base_url, writer.log_path))
    if health(site.url).get("vendor") != "postgresql":
        raise SystemExit("the writes were read back from an app that does not serve from PostgreSQL")
    return summary


def measurements(report, wall, peaks, text):
    modules = {k[len("module "):]: round(v, 1) for k, v in peaks.items() if k.startswith("module ")}
    online = report.get("strategy") == "online"
    return {
        "downtime_tasks": downtime_tasks(text),
        "seconds": round(wall, 2),
        "downtime_seconds": float(report["downtime_seconds"]),
        "phases_seconds": {k: float(v) for k, v in report["phases_seconds"].items()},
        "strategy": report.get("strategy", "offline"),
        # Offline runs report 0 for both: shown as "-", there is no window.
        "online_window_seconds": number(report.get("online_window_seconds")) if online else None,
        "changes_applied": number(report.get("changes_applied")) if online else None,
        # apply_changes' own seconds (the data work of the online downtime) and the parts of the window.
        "apply_seconds": number(report.get("online", {}).get("apply_seconds")) if online else None,
        "window_seconds": report.get("online", {}).get("window_seconds", {}) if online else {},
        "rows_loaded": int(report["rows"]),
        "peak_rss_mb": {k: round(v, 1) for k, v in sorted(peaks.items())},
        "modules_peak_rss_mb": modules,
        "pgloader_peak_rss_mb": round(peaks.get("pgloader", 0.0), 1),
    }


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


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
