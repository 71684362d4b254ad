"""stop_daemon and app_command's pid_file through Ansible, on real daemonizing processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

# Forks, detaches, writes its pid file like gunicorn --daemon --pid, and takes IGNORE_SECONDS to obey
# SIGTERM (a gunicorn finishing its requests), or ignores it for ever when IGNORE_SECONDS is -1.
DAEMON = r"""
import os, signal, sys, time
pid_file, env_out, linger = sys.argv[1], sys.argv[2], float(sys.argv[3])
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    os._exit(0)
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
def on_term(signum, frame):
    if linger < 0:
        return
    time.sleep(linger)
    os.unlink(pid_file)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(env_out, "w") as handle:
    handle.write(os.environ.get("APP_MARK", ""))
with open(pid_file, "w") as handle:
    handle.write("%d\n" % os.getpid())
while True:
    time.sleep(0.05)
"""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def start_args(tmp_path, linger=0.3):
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    env = tmp_path / ".env"
    env.write_text("APP_MARK=from-the-env-file\n")
    return {"argv": [sys.executable, str(script), str(tmp_path / "app.pid"), str(tmp_path / "env.out"), str(linger)],
            "env_file": str(env), "pid_file": str(tmp_path / "app.pid"), "pid_file_timeout": 10}


@pytest.fixture
def reaper():
    """Pids to kill at the end, whatever the test did."""
    pids = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_start_once_then_stop_once(ansible, tmp_path, reaper):
    args = start_args(tmp_path)
    checked = ansible.module("app_command", args, check=True)
    assert checked.rc == 0 and checked.result["changed"] is True and not (tmp_path / "app.pid").exists()

    started = ansible.module("app_command", args)
    assert started.rc == 0 and started.result["changed"] is True, started.result
    pid = started.result["pid"]
    reaper.append(pid)
    assert alive(pid) and int((tmp_path / "app.pid").read_text()) == pid
    assert (tmp_path / "env.out").read_text() == "from-the-env-file"

    again = ansible.module("app_command", args)
    assert again.rc == 0 and again.result["changed"] is False and again.result["pid"] == pid
    assert "already running" in again.result["msg"]

    stop = {"pid_file": args["pid_file"], "timeout": 10}
    would = ansible.module("stop_daemon", stop, check=True)
    assert would.rc == 0 and would.result["changed"] is True and would.result["pid"] == pid and alive(pid)

    stopped = ansible.module("stop_daemon", stop)
    assert stopped.rc == 0 and stopped.result["changed"] is True and stopped.result["pid"] == pid
    assert not alive(pid)
    # The daemon lingered 0.3 s after SIGTERM; the module polls every 0.1 s.
    assert 0.25 <= stopped.result["waited"] < 3

    nothing = ansible.module("stop_daemon", stop)
    assert nothing.rc == 0 and nothing.result["changed"] is False and nothing.result["pid"] is None


def test_a_reused_pid_is_left_alone(ansible, tmp_path, reaper):
    # A process that started after the pid file was written cannot be the daemon that wrote it.
    other = subprocess.Popen(["sleep", "60"])
    reaper.append(other.pid)
    pid_path = tmp_path / "app.pid"
    pid_path.write_text("%d\n" % other.pid)
    hour_ago = time.time() - 3600
    os.utime(pid_path, (hour_ago, hour_ago))

    stopped = ansible.module("stop_daemon", {"pid_file": str(pid_path)})
    assert stopped.rc == 0 and stopped.result["changed"] is False and stopped.result["pid"] is None
    assert "reused" in stopped.result["msg"] and other.poll() is None

    # app_command counts it as not running and starts the daemon, which rewrites the file.
    args = start_args(tmp_path)
    started = ansible.module("app_command", args)
    assert started.rc == 0 and started.result["changed"] is True and started.result["pid"] != other.pid
    reaper.append(started.result["pid"])
    other.kill()
    other.wait()


def test_a_daemon_that_ignores_sigterm_fails_the_stop_by_name(ansible, tmp_path, reaper):
    started = ansible.module("app_command", start_args(tmp_path, linger=-1))
    assert started.rc == 0, started.result
    pid = started.result["pid"]
    reaper.append(pid)

    stopped = ansible.module("stop_daemon", {"pid_file": str(tmp_path / "app.pid"), "timeout": 1})
    assert stopped.failed and "pid %d" % pid in stopped.result["msg"] and "still running" in stopped.result["msg"]
    assert alive(pid)


def test_bad_pid_files_and_a_start_that_writes_none(ansible, tmp_path):
    garbage = tmp_path / "garbage.pid"
    garbage.write_text("not-a-pid\n")
    refused = ansible.module("stop_daemon", {"pid_file": str(garbage)})
    assert refused.failed and "does not hold a process id" in refused.result["msg"]

    # The command exits 0 without daemonizing: the module says so instead of reporting a start.
    silent = ansible.module("app_command", {"argv": ["true"], "pid_file": str(tmp_path / "never.pid"),
                                            "pid_file_timeout": 1})
    assert silent.failed and "names no running process" in silent.result["msg"]
