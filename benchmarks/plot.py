"""The PNG of a run: downtime against rows for each strategy/engine, raw pgloader, and peak RSS."""

from __future__ import annotations

import os

from report import TARGETS


def _series(axes, summary, points_of, style, label):
    points = [(rows, value) for rows, value in ((r, points_of(summary[r])) for r in sorted(summary))
              if value is not None]
    if points:
        axes.plot([p[0] for p in points], [p[1] for p in points], style, label=label)


def seconds_panel(axes, summary, subtitle):
    from matplotlib import ticker  # pylint: disable=import-outside-toplevel
    labels = sorted({label for row in summary.values() for label in row["migrations"]})
    for label in labels:
        online = label.startswith("online")
        _series(axes, summary, lambda row, l=label: row["migrations"].get(l, {}).get("downtime_seconds"),
                "o-", "%s: downtime (app stopped to app healthy)" % label)
        if online:
            _series(axes, summary, lambda row, l=label: row["migrations"].get(l, {}).get("online_window_seconds"),
                    "o:", "%s: online window (app serving)" % label)
    _series(axes, summary, lambda row: row["pgloader"], "s--", "raw pgloader, same file (no check)")
    _series(axes, summary, lambda row: row["dumpdata_loaddata"], "x-", "dumpdata + loaddata")
    axes.axhline(TARGETS["online_downtime_1e6"], color="grey", linestyle=":", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axes.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    axes.set_xlabel("rows in the SQLite file (demo app, generate_data --rows)")
    axes.set_ylabel("seconds (dotted: the online target, 10 s at 1e6 rows)")
    axes.set_title("SQLite -> PostgreSQL downtime, %d cores%s" % (os.cpu_count(), subtitle))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")


def memory_panel(axes, summary):
    _series(axes, summary, lambda row: row["pgloader_rss_raw"], "s--", "raw pgloader")
    labels = sorted({label for row in summary.values() for label in row["migrations"]})
    for label in labels:
        _series(axes, summary, lambda row, l=label: row["migrations"].get(l, {}).get("modules_rss_max"),
                "o-", "%s: largest module" % label)
        _series(axes, summary, lambda row, l=label: row["migrations"].get(l, {}).get("pgloader_peak_rss_mb") or None,
                "o:", "%s: pgloader" % label)
    axes.axhline(TARGETS["modules_peak_rss_mb"], color="grey", linestyle="--", linewidth=0.8)
    axes.axhline(TARGETS["pgloader_peak_rss_mb"], color="grey", linestyle=":", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("rows")
    axes.set_ylabel("peak RSS, MB (targets: modules 150, pgloader 500)")
    axes.set_title("Peak RSS per process")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="x-small")


def plot(summary, path, subtitle=""):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    fig, (seconds, memory) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    seconds_panel(seconds, summary, subtitle)
    memory_panel(memory, summary)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
