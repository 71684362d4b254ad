"""module_utils/pid_file: which process a pid file names, and when that is not the daemon any more."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import pid_file


def test_the_start_time_of_this_process_is_in_the_past():
    started = pid_file.process_start_time(os.getpid())
    assert started is not None and started <= time.time() and started > time.time() - 24 * 3600


def test_a_command_with_spaces_and_parentheses_is_parsed(tmp_path):
    # /proc/PID/stat puts the command name in parentheses; a name like "a) (b c" must not shift the fields.
    odd = tmp_path / "a) (b c"
    odd.symlink_to("/bin/sleep")
    child = subprocess.Popen([str(odd), "30"])
    try:
        time.sleep(0.2)
        with open("/proc/%d/stat" % child.pid, encoding="ascii") as handle:
            assert "(a) (b c)" in handle.read()
        started = pid_file.process_start_time(child.pid)
        assert started is not None and abs(started - time.time()) < 5
    finally:
        child.kill()
        child.wait()


def test_live_pid_missing_empty_stale_reused_and_running(tmp_path):
    path = tmp_path / "app.pid"
    assert pid_file.live_pid(str(path)) == (None, "no pid file")
    path.write_text("")
    assert pid_file.live_pid(str(path))[0] is None

    child = subprocess.Popen(["sleep", "30"])
    try:
        path.write_text("%d\n" % child.pid)
        assert pid_file.live_pid(str(path)) == (child.pid, "running")
        an_hour_ago = time.time() - 3600
        os.utime(path, (an_hour_ago, an_hour_ago))
        pid, note = pid_file.live_pid(str(path))
        assert pid is None and "reused" in note
    finally:
        child.kill()
        child.wait()
    os.utime(path, None)
    pid, note = pid_file.live_pid(str(path))
    assert pid is None and "not running" in note


@pytest.mark.parametrize("text", ["abc", "-5", "1", "12 13"])
def test_a_pid_file_without_a_pid_is_an_error(tmp_path, text):
    path = tmp_path / "app.pid"
    path.write_text(text)
    with pytest.raises(ValueError):
        pid_file.live_pid(str(path))


def test_wait_gone_and_wait_live(tmp_path):
    child = subprocess.Popen(["sleep", "0.3"])
    assert pid_file.wait_gone(child.pid, 0.05, 0.01) is False
    child.wait()
    assert pid_file.wait_gone(child.pid, 5, 0.01) is True
    assert pid_file.wait_live(str(tmp_path / "none.pid"), 0.2, 0.05) == (None, "no pid file")
