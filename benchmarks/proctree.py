"""The playbook's process tree, polled: each process's peak RSS, attributed to what it runs.

Labels: `pgloader` (the SBCL binary), the module of the task running at that moment (read from the
playbook's output: a pipelined module is a bare `python` reading its stdin), `ansible-playbook`
(the controller and its forks), `manage.py <command>`. The peak is the kernel's own high-water
mark (VmHWM), so a peak between two polls is not lost.
"""

from __future__ import annotations

import os
import threading

# Parts of task names of migrate.yml -> the module the task runs (the first that matches).
MODULE_TASKS = (
    ("Scan the source", "preflight"),
    ("Back up the SQLite database", "sqlite_backup"),
    ("Load the data", "pgloader (module)"),
    ("Bring every sequence", "reset_sequences"),
    ("Compare source and target", "consistency_check"),
    ("Wait until no process holds the SQLite database", "wait_file_closed"),
    # The online strategy.
    ("Install the change capture", "change_capture"),
    ("Name the limits of the change capture", "change_capture"),
    ("Remove the change capture from", "change_capture"),
    ("Snapshot the live SQLite file", "sqlite_backup"),
    ("Load the snapshot", "pgloader (module)"),
    ("Compare the snapshot and PostgreSQL", "consistency_check"),
    ("Compare every row", "consistency_check"),
    ("changes captured", "apply_changes"),
)


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
