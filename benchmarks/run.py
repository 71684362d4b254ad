"""The migration against its alternatives, as the data grows: what `make bench` runs.

    .venv/bin/python benchmarks/run.py [--rows 1e5,1e6] [--strategy offline] [--engine copy] [--repeat 1]

For each size, on the demo app's data (`generate_data --rows N`, cached in the work directory),
one round measures, in this order, each on its own fresh PostgreSQL database:

  migrate     our whole playbooks/migrate.yml on localhost, the way `make demo` runs it, once per
              strategy and engine, while a writer load (--writer-rate writes/s of inserts,
              updates, deletes through the app's JSON API) runs from before the playbook until the
              app stops; every acknowledged write is then read back from PostgreSQL (bench_site.py,
              writer_load.py); downtime and phases come from the playbook's JSON report;
  pgloader    raw pgloader on the same file with the load file our pgloader module builds: the
              floor our load step stands on (raw_steps.py);
  plain_read  every row of both sides read and dropped, then consistency_check as a module
              process, on the database pgloader just filled: the floor for the check;
  dumpdata    Django's dumpdata then loaddata: what a Django user tries first. Only up to
              --dumpdata-max-rows (default 100000): at 1e6 rows it takes about ten minutes.

Rounds are interleaved (sizes and steps in turn, --repeat times), so a slow spell of the machine
spreads over all of them. Writes benchmarks/results/results-<UTC time>.json (every measurement),
results.md (the tables and the targets, misses flagged), the writer logs and the playbook outputs,
and the plot (--plot, default benchmarks/downtime.png), and prints the tables. Needs root (roles
and databases are created through the local `postgres` account) and PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import tempfile
import time
from pathlib import Path

from bench_site import step_migrate
from common import REPO, make_source
from plot import plot
from raw_steps import step_dumpdata, step_pgloader
from report import markdown, summarize

STEPS = ("migrate", "pgloader", "plain_read", "dumpdata")


def comma_list(convert):
    """An argparse type: 'a,b' -> [a, b] (every item converted), so `--rows 1e5,1e6` and `--rows 1e5 1e6` both work."""
    return lambda text: [convert(item) for item in text.split(",") if item]


def row_count(text):
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError("rows must be a positive whole number such as 100000 or 1e6, not %r" % text)
    return int(value)


def choice(*allowed):
    def convert(text):
        if text not in allowed:
            raise argparse.ArgumentTypeError("%r is not one of %s" % (text, ", ".join(allowed)))
        return text
    return convert


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=comma_list(row_count), nargs="+", default=[[100000, 1000000]],
                        help="sizes, e.g. 1e5,1e6,1e7 (default 1e5,1e6; 1e7 is a 2.7 GB SQLite file)")
    parser.add_argument("--strategy", type=comma_list(choice("offline", "online")), nargs="+",
                        default=[["offline"]], help="offline, online or both: offline,online (default offline)")
    parser.add_argument("--engine", type=comma_list(choice("copy", "pgloader")), nargs="+", default=[["copy"]],
                        help="the load engine of migrate.yml: copy, pgloader or both (default copy)")
    parser.add_argument("--writer-rate", type=float, default=20.0,
                        help="writes a second against the app until it stops; 0 for none (default 20)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--pgloader-max-rows", type=row_count, default=10 ** 12,
                        help="run raw pgloader (and the plain read) only up to this size (default: every size)")
    parser.add_argument("--dumpdata-max-rows", type=int, default=100000,
                        help="run dumpdata/loaddata only up to this size (default 100000: ~10 min at 1e6)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pgmigrate-bench",
                        help="SQLite files are generated here once and reused")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "downtime.png")
    parser.add_argument("--interval", type=float, default=0.1, help="process tree polling interval, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the demo site directories")
    parser.add_argument("--from-json", type=Path, help="no measuring: the tables and the plot of a results-*.json")
    options = parser.parse_args()
    for name in ("rows", "strategy", "engine"):
        flat = []
        for group in getattr(options, name):
            flat += [item for item in group if item not in flat]
        setattr(options, name, flat)
    return options


def load_average():
    return ", ".join("%.1f" % v for v in os.getloadavg())


def one_round(rows, source, repeat, options):
    """Every step at one size: {rows, migrations: {strategy/engine: ...}, pgloader, dumpdata}."""
    run = {"rows": rows, "repeat": repeat, "sqlite_mb": round(source.stat().st_size / 1048576.0, 1), "migrations": {}}
    todo = [("migrate", s, e) for s in options.strategy for e in options.engine] if "migrate" in options.steps else []
    if "pgloader" in options.steps and rows <= options.pgloader_max_rows:
        todo.append(("pgloader", None, None))
    if "dumpdata" in options.steps and rows <= options.dumpdata_max_rows:
        todo.append(("dumpdata", None, None))
    for step, strategy, engine in todo:
        started = time.monotonic()
        if step == "migrate":
            label = "%s/%s" % (strategy, engine)
            run["migrations"][label] = step_migrate(rows, source, options, strategy, engine)
            step = "migrate %s, downtime %.1f s" % (label, run["migrations"][label]["downtime_seconds"])
        elif step == "pgloader":
            run["pgloader"] = step_pgloader(source, options, then_plain_read="plain_read" in options.steps)
        else:
            run["dumpdata"] = step_dumpdata(rows, source, options)
        print("repeat %d, %d rows, %s: %.1f s, load average %s" % (
            repeat + 1, rows, step, time.monotonic() - started, load_average()), flush=True)
    return run


def measure(options):
    """Every round: (meta, runs)."""
    began = time.monotonic()
    meta = {"started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "host": socket.gethostname(), "cpus": os.cpu_count(), "platform": platform.platform(terse=True),
            "load_average_start": load_average(), "repeat": options.repeat, "rows": options.rows,
            "strategy": options.strategy, "engine": options.engine, "steps": options.steps,
            "writer_rate": options.writer_rate, "dumpdata_max_rows": options.dumpdata_max_rows,
            "pgloader_max_rows": options.pgloader_max_rows}
    sources = {}
    for rows in options.rows:
        started = time.monotonic()
        sources[rows] = make_source(rows, options.workdir)
        size_mb = sources[rows].stat().st_size / 1048576.0
        print("source %d rows: %s (%.1f MB, %.0f s)" % (rows, sources[rows], size_mb, time.monotonic() - started),
              flush=True)
    runs = [one_round(rows, sources[rows], repeat, options)
            for repeat in range(options.repeat) for rows in options.rows]
    meta.update(load_average_end=load_average(), wall_seconds=round(time.monotonic() - began))
    return meta, runs


def main():
    options = parse_options()
    options.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    options.results.mkdir(parents=True, exist_ok=True)
    if options.from_json:
        document = json.loads(options.from_json.read_text())
        meta, runs = document["meta"], document["runs"]
    else:
        meta, runs = measure(options)
    summary = summarize(runs)
    written = [options.results / "results.md", options.plot]
    if not options.from_json:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        document = {"meta": meta, "runs": runs, "summary": {str(k): v for k, v in summary.items()}}
        written.insert(0, options.results / ("results-%s.json" % stamp))
        written[0].write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(summary, meta)
    (options.results / "results.md").write_text(table)
    plot(summary, options.plot, subtitle=", %s" % meta["started"])
    print(table)
    print("written: %s" % ", ".join(str(path) for path in written))


if __name__ == "__main__":
    main()
