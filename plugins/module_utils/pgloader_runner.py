# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running pgloader: private files, the password in the environment, a hard timeout.

pgloader ignores SIGTERM (measured with 3.6.9: only SIGKILL ends it) and may start helpers, so it
runs in a session (process group) of its own and a timeout SIGKILLs the whole group. That needs
subprocess.Popen rather than module.run_command, which has no timeout. Arguments are a list (no
shell); the password is only in the child's environment (PGPASSWORD), never in argv or files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

INSTALL_HINT = (
    "pgloader is not installed on this host (or not on PATH): install it with `apt-get install pgloader` "
    "(Debian/Ubuntu), `dnf install pgloader` (Fedora; RHEL/Rocky/Alma with EPEL) or the PGDG packages, "
    "or give its full path in pgloader_path"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z\s+")
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b")


class RunnerError(Exception):
    """pgloader could not be started."""


def private_workdir(prefix="pgmigrate-pgloader-"):
    """A new 0700 directory (tempfile.mkdtemp creates it so); the caller removes it in finally."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o700)
    return path


def remove_workdir(path):
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def write_private(path, text):
    """Create PATH with mode 0600 from the start (no window where others could read it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def kill_group(proc):
    """SIGKILL the process group of PROC (its own session), then reap PROC."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process always ends
        pass


def run(argv, env, cwd, timeout, stdout_path, stderr_path, on_start=None):
    """Run ARGV in its own session with ENV only; SIGKILL the group after TIMEOUT seconds (0: no limit).

    Returns {rc, timed_out, seconds, pid}. Output goes to the two files (pgloader writes a lot).
    """
    started = time.monotonic()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        try:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
        except OSError as error:
            raise RunnerError("cannot start %s: %s" % (argv[0], error))
        if on_start is not None:
            on_start(proc)
        timed_out = False
        try:
            proc.wait(timeout=timeout if timeout and timeout > 0 else None)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Whatever happened (timeout, an exception, a signal to us): nothing of pgloader survives.
            if proc.poll() is None or timed_out:
                kill_group(proc)
            else:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group, if any
                except (ProcessLookupError, PermissionError):
                    pass
    return {"rc": proc.returncode, "timed_out": timed_out, "seconds": round(time.monotonic() - started, 3),
            "pid": proc.pid}


def child_environment(base, extra):
    """A minimal environment for pgloader: PATH, locale, HOME, TMPDIR, plus EXTRA (PG* variables)."""
    env = {}
    for key in ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"):
        if base.get(key):
            env[key] = base[key]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra)
    return env


def error_lines(path, limit=10, scrub=None):
    """The first LIMIT ERROR/FATAL lines of a pgloader output file, each with its next line of context."""
    found = []
    if not os.path.exists(path):
        return found
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    for index, line in enumerate(lines):
        if _ERROR_LINE.search(line):
            text = _TIMESTAMP.sub("", line.strip())
            # pgloader puts the detail (CONTEXT, QUERY, "junk in string") on the following line(s)
            if index + 1 < len(lines) and lines[index + 1].strip() and not re.match(r"^\d{4}-\d\d-\d\d", lines[index + 1]):
                text += " " + lines[index + 1].strip()
            text = text[:400]
            if scrub is not None:
                text = scrub(text)
            found.append(text)
            if len(found) >= limit:
                break
    return found


def tail(path, size=2000, scrub=None):
    if not os.path.exists(path):
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        length = handle.tell()
        handle.seek(max(0, length - size))
        text = handle.read().decode("utf-8", "replace")
    return scrub(text) if scrub is not None else text
