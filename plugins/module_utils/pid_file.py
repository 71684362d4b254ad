# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The process a daemon's pid file names, when it is still that daemon (Linux /proc)."""

from __future__ import annotations

import os
import time

# A process that started this long after its pid file was last written cannot have written it: the
# daemon died and the kernel handed its pid to someone else (gunicorn writes the file once it runs).
PID_REUSE_SLACK_SECONDS = 2.0


def boot_time():
    with open("/proc/stat", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("btime "):
                return int(line.split()[1])
    raise OSError("no btime in /proc/stat")


def process_start_time(pid):
    """Epoch seconds at which PID started, or None when no such process exists."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # Field 22 (starttime, in clock ticks since boot) comes after the command, which may hold spaces.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie is gone for our purposes
        return None
    return boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def read_pid(path):
    """(pid, file mtime) from PATH, or (None, None) when it is missing or empty. ValueError when not a pid."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read().strip()
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None, None
    if not text:
        return None, None
    if not text.isdigit() or int(text) <= 1:
        raise ValueError("%s does not hold a process id (%r)" % (path, text[:40]))
    return int(text), mtime


def live_pid(path):
    """(pid, note): the live process PATH names, or (None, why not)."""
    pid, mtime = read_pid(path)
    if pid is None:
        return None, "no pid file" if mtime is None else "empty pid file"
    started = process_start_time(pid)
    if started is None:
        return None, "pid %d from %s is not running (stale pid file)" % (pid, path)
    if started > mtime + PID_REUSE_SLACK_SECONDS:
        return None, ("pid %d from %s belongs to a process started after the file was written (the pid was "
                      "reused): left alone" % (pid, path))
    return pid, "running"


def alive(pid):
    return process_start_time(pid) is not None


def wait_gone(pid, timeout, sleep):
    """True once PID is gone, False when TIMEOUT seconds passed first."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(sleep)
    return True


def wait_live(path, timeout, sleep):
    """(pid, note) once PATH names a live process, or (None, last note) after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, note = live_pid(path)
        except ValueError as error:  # a half-written file: read it again
            pid, note = None, str(error)
        if pid is not None or time.monotonic() >= deadline:
            return pid, note
        time.sleep(sleep)
