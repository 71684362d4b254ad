"""run.py's measurements summarized: medians over the repeats, the target ratios, the markdown tables.

A run holds, per size: `migrations` (one entry per "strategy/engine", from bench_site.py),
`pgloader` (raw pgloader, plain read, consistency_check alone) and `dumpdata` (raw_steps.py).
"""

from __future__ import annotations

TARGETS = {
    "offline_vs_pgloader": 1.3,       # issue 7: the whole migration against raw pgloader, 1e6 rows
    "online_vs_pgloader": 0.6,        # issue 15: the online downtime against raw pgloader, 1e6 rows
    "online_downtime_1e6": 10.0,      # issue 15: seconds at 1e6 rows
    "online_growth": 1.5,             # issue 15: downtime at 1e7 rows / downtime at 1e5 rows
    "dumpdata_vs_migration": 10.0,
    "check_vs_load": 1.0,
    "check_vs_plain_read": 2.0,
    "modules_peak_rss_mb": 150.0,
    "pgloader_peak_rss_mb": 500.0,
}


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2.0


def pick(entries, *path):
    """The median of the value at PATH (keys) over ENTRIES; None when no entry has it."""
    values = []
    for entry in entries:
        for key in path:
            entry = entry.get(key) if isinstance(entry, dict) else None
        values.append(entry if isinstance(entry, (int, float)) else None)
    return median(values)


def ratio(numerator, denominator):
    return None if numerator is None or not denominator else round(numerator / denominator, 2)


def summarize_migration(entries, pgloader_seconds):
    """Medians of one strategy/engine at one size, over the repeats."""
    row = {key: pick(entries, key) for key in ("downtime_seconds", "seconds", "online_window_seconds",
                                               "changes_applied", "apply_seconds", "pgloader_peak_rss_mb")}
    row["phases"] = {phase: pick(entries, "phases_seconds", phase)
                     for entry in entries for phase in entry.get("phases_seconds", {})}
    row["modules_rss"] = {module: max(e.get("modules_peak_rss_mb", {}).get(module, 0.0) for e in entries)
                          for entry in entries for module in entry.get("modules_peak_rss_mb", {})}
    row["modules_rss_max"] = max(row["modules_rss"].values()) if row["modules_rss"] else None
    writers = [e["writer"] for e in entries if e.get("writer")]
    row["writes_acked"] = sum(w["acked"] for w in writers) if writers else None
    row["items_verified"] = sum(w["items_checked"] for w in writers) if writers else None
    row["writes_in_doubt"] = sum(w["in_doubt"] for w in writers) if writers else None
    row["writer_latency_max"] = max(w["latency_max_s"] for w in writers) if writers else None
    row["writer_longest_gap"] = max(w.get("longest_gap_s", 0.0) for w in writers) if writers else None
    row["downtime_tasks"] = entries[-1].get("downtime_tasks", [])  # one repeat's: names repeat across roles
    row["vs_pgloader"] = ratio(row["downtime_seconds"], pgloader_seconds)
    row["check_vs_load"] = ratio(row["phases"].get("verify"), row["phases"].get("load"))
    return row


def summarize(runs):
    """{rows: medians of every measurement over the repeats, per strategy/engine for the migrations}."""
    sizes = {}
    for run in runs:
        sizes.setdefault(run["rows"], []).append(run)
    summary = {}
    for rows, entries in sorted(sizes.items()):
        row = {"repeats": len(entries), "sqlite_mb": entries[0].get("sqlite_mb"),
               "pgloader": pick(entries, "pgloader", "pgloader", "seconds"),
               "pgloader_rss_raw": pick(entries, "pgloader", "pgloader", "peak_rss_mb"),
               "plain_read": pick(entries, "pgloader", "plain_read", "seconds"),
               "check_alone": pick(entries, "pgloader", "consistency_check", "seconds"),
               "check_alone_rss": pick(entries, "pgloader", "consistency_check", "peak_rss_mb"),
               "dumpdata_loaddata": pick(entries, "dumpdata", "seconds")}
        labels = sorted({label for entry in entries for label in entry.get("migrations", {})})
        row["migrations"] = {label: summarize_migration([e["migrations"][label] for e in entries
                                                         if label in e.get("migrations", {})], row["pgloader"])
                             for label in labels}
        row["check_alone_vs_pgloader"] = ratio(row["check_alone"], row["pgloader"])
        row["check_alone_vs_plain_read"] = ratio(row["check_alone"], row["plain_read"])
        summary[rows] = row
    return summary


def fmt(value, digits=1):
    return "-" if value is None else ("%.*f" % (digits, value))


def _met(value, limit):
    return None if value is None or limit is None else value <= limit


def migration_verdicts(summary):
    """(target, rows, measured, limit, met) for the downtime targets of each strategy/engine."""
    out = []
    for rows, row in sorted(summary.items()):
        for label, mig in row["migrations"].items():
            online = label.startswith("online")
            if rows == 1000000 or rows == max(summary):
                key = "online_vs_pgloader" if online else "offline_vs_pgloader"
                out.append(("%s: downtime / raw pgloader" % label, rows, mig["vs_pgloader"],
                            "<= %.1f" % TARGETS[key], _met(mig["vs_pgloader"], TARGETS[key])))
            if online and rows == 1000000:
                out.append(("%s: downtime, seconds" % label, rows, mig["downtime_seconds"],
                            "<= %.0f" % TARGETS["online_downtime_1e6"],
                            _met(mig["downtime_seconds"], TARGETS["online_downtime_1e6"])))
            dump = ratio(row["dumpdata_loaddata"], mig["downtime_seconds"])
            if dump is not None:
                out.append(("%s: dumpdata+loaddata / downtime" % label, rows, dump,
                            ">= %.0f" % TARGETS["dumpdata_vs_migration"], _met(TARGETS["dumpdata_vs_migration"], dump)))
            out.append(("%s: peak RSS of our modules, MB" % label, rows, mig["modules_rss_max"],
                        "< %.0f" % TARGETS["modules_peak_rss_mb"],
                        _met(mig["modules_rss_max"], TARGETS["modules_peak_rss_mb"])))
    out += growth_verdicts(summary)
    return out


def growth_verdicts(summary):
    """The online downtime at the largest size against the smallest, when they are 100x apart."""
    small, large = min(summary), max(summary)
    if large < 100 * small:
        return []
    out = []
    for label in summary[large]["migrations"]:
        if not label.startswith("online") or label not in summary[small]["migrations"]:
            continue
        growth = ratio(summary[large]["migrations"][label]["downtime_seconds"],
                       summary[small]["migrations"][label]["downtime_seconds"])
        out.append(("%s: downtime at %d rows / at %d rows" % (label, large, small), large, growth,
                    "<= %.1f" % TARGETS["online_growth"], _met(growth, TARGETS["online_growth"])))
    return out


def check_verdicts(summary):
    out = []
    for rows, row in sorted(summary.items()):
        out.append(("consistency_check alone / raw pgloader", rows, row["check_alone_vs_pgloader"],
                    "<= %.1f" % TARGETS["check_vs_load"], _met(row["check_alone_vs_pgloader"], TARGETS["check_vs_load"])))
        out.append(("consistency_check alone / plain read", rows, row["check_alone_vs_plain_read"],
                    "<= %.1f" % TARGETS["check_vs_plain_read"],
                    _met(row["check_alone_vs_plain_read"], TARGETS["check_vs_plain_read"])))
        raw_rss = row["pgloader_rss_raw"]
        out.append(("peak RSS of raw pgloader, MB", rows, raw_rss, "< %.0f" % TARGETS["pgloader_peak_rss_mb"],
                    _met(raw_rss, TARGETS["pgloader_peak_rss_mb"])))
    return [verdict for verdict in out if verdict[2] is not None]


# ---------------------------------------------------------------------------------------- markdown

def main_table(summary):
    """One line per size and strategy/engine: the numbers issue 15 asks for."""
    lines = ["| rows | SQLite MB | strategy/engine | **downtime** s | raw pgloader s | downtime / raw pgloader "
             "| online window s | changes applied in the downtime (apply_changes' own s) | whole playbook s "
             "| writes acknowledged / items verified on PostgreSQL (in doubt) | longest time without a write s |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for rows, row in sorted(summary.items()):
        for label, mig in row["migrations"].items():
            writes = "-" if mig["writes_acked"] is None else "%d / %d (%d)" % (
                mig["writes_acked"], mig["items_verified"], mig["writes_in_doubt"])
            lines.append("| %d | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s |" % (
                rows, fmt(row["sqlite_mb"], 0), label, fmt(mig["downtime_seconds"]), fmt(row["pgloader"]),
                fmt(mig["vs_pgloader"], 2), fmt(mig["online_window_seconds"]),
                "%s (%s)" % (fmt(mig["changes_applied"], 0), fmt(mig["apply_seconds"], 2)),
                fmt(mig["seconds"]), writes, fmt(mig["writer_longest_gap"], 1)))
    return lines


def detail_table(summary):
    """Phases and peak RSS of each migration, and the floors, one column per size."""
    sizes = sorted(summary)
    lines = ["| seconds (peak RSS MB) | " + " | ".join("%d rows" % r for r in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]

    def line(title, cells):
        lines.append("| %s | %s |" % (title, " | ".join(cells)))

    labels = sorted({label for r in sizes for label in summary[r]["migrations"]})
    for label in labels:
        migs = [summary[r]["migrations"].get(label, {}) for r in sizes]
        line("**%s: downtime**" % label, [fmt(m.get("downtime_seconds")) for m in migs])
        phases = []
        for mig in migs:
            phases += [p for p in mig.get("phases", {}) if p not in phases]
        for phase in phases:
            line("&nbsp;&nbsp;phase %s" % phase, [fmt(m.get("phases", {}).get(phase), 2) for m in migs])
        line("&nbsp;&nbsp;peak RSS: pgloader", [fmt(m.get("pgloader_peak_rss_mb") or None, 0) for m in migs])
        modules = sorted({mod for m in migs for mod in m.get("modules_rss", {})})
        for module in modules:
            line("&nbsp;&nbsp;peak RSS: module %s" % module, [fmt(m.get("modules_rss", {}).get(module), 0) for m in migs])
    line("**raw pgloader**, same load file", ["%s (%s)" % (fmt(summary[r]["pgloader"]), fmt(summary[r]["pgloader_rss_raw"], 0))
                                              for r in sizes])
    line("plain read of both sides", [fmt(summary[r]["plain_read"], 2) for r in sizes])
    line("consistency_check alone (module process, after raw pgloader)",
         ["%s (%s)" % (fmt(summary[r]["check_alone"], 2), fmt(summary[r]["check_alone_rss"], 0)) for r in sizes])
    line("**dumpdata + loaddata**", [fmt(summary[r]["dumpdata_loaddata"]) for r in sizes])
    return lines


def downtime_tasks_table(summary):
    """Where the downtime goes: each task of 0.2 s or more (profile_tasks), per strategy/engine and size."""
    columns = [(rows, label) for rows, row in sorted(summary.items()) for label in row["migrations"]]
    seconds, order = {}, []
    for column in columns:
        mig = summary[column[0]]["migrations"][column[1]]
        for task, value in mig["downtime_tasks"]:
            name = task.split(" : ", 1)[-1]
            if name not in order:
                order.append(name)
            seconds[(name, column)] = seconds.get((name, column), 0.0) + value
    lines = ["| task in the downtime (0.2 s or more; one repeat) | %s |" % " | ".join(
        "%s %d rows" % (label, rows) for rows, label in columns), "|---|" + "---:|" * len(columns)]
    for name in order:
        lines.append("| %s | %s |" % (name.replace("|", "/"), " | ".join(fmt(seconds.get((name, c)), 2) for c in columns)))
    rest = []
    for rows, label in columns:
        mig = summary[rows]["migrations"][label]
        listed = sum(value for _task, value in mig["downtime_tasks"])
        rest.append(None if mig["downtime_seconds"] is None else mig["downtime_seconds"] - listed)
    lines.append("| every other task (under 0.2 s each) and Ansible between tasks | %s |" % " | ".join(
        fmt(value, 2) for value in rest))
    lines.append("| **downtime** | %s |" % " | ".join(
        fmt(summary[rows]["migrations"][label]["downtime_seconds"]) for rows, label in columns))
    return lines


def markdown(summary, meta):
    lines = ["Run %s on %s (%d cores, %s); load average (uptime) at start %s, at end %s; median of %s "
             "repeat(s); writer load %s writes/s; wall time %s s." % (
                 meta["started"], meta["host"], meta["cpus"], meta["platform"], meta["load_average_start"],
                 meta.get("load_average_end", "-"), meta["repeat"], meta["writer_rate"], meta.get("wall_seconds", "-")),
             ""]
    lines += main_table(summary) + [""] + detail_table(summary) + [""] + downtime_tasks_table(summary)
    lines += ["", "| target | rows | measured | target | met |", "|---|---:|---:|---|---|"]
    for title, rows, value, limit, met in migration_verdicts(summary) + check_verdicts(summary):
        lines.append("| %s | %d | %s | %s | %s |" % (title, rows, fmt(value, 2), limit,
                                                     "n/a" if met is None else ("yes" if met else "**MISSED**")))
    return "\n".join(lines) + "\n"
