"""Unit tests of the pgloader runner: private files, minimal environment, the hard timeout."""

from __future__ import annotations

import os
import stat
import time

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import pgloader_runner as runner


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_private_workdir_and_files():
    workdir = runner.private_workdir()
    try:
        assert stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
        path = runner.write_private(os.path.join(workdir, "x.load"), "LOAD DATABASE ...")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as handle:
            assert handle.read() == "LOAD DATABASE ..."
    finally:
        runner.remove_workdir(workdir)
    assert not os.path.exists(workdir)


def test_child_environment_is_minimal():
    env = runner.child_environment({"PATH": "/bin", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x",
                                    "ANSIBLE_VAULT_PASSWORD_FILE": "/v"}, {"PGPASSWORD": "pw"})
    assert env == {"PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "PGPASSWORD": "pw"}


def test_timeout_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path):
    pids = tmp_path / "pids"
    # A leader that ignores SIGTERM (as pgloader does) and a child of its own.
    script = "trap '' TERM; sleep 300 & echo $$ $! > %s; wait" % pids
    started = time.monotonic()
    result = runner.run(["/bin/sh", "-c", script], {"PATH": "/bin:/usr/bin"}, str(tmp_path), 1,
                        str(tmp_path / "out"), str(tmp_path / "err"))
    assert result["timed_out"] is True and result["rc"] == -9
    assert 1 <= result["seconds"] < 10 and time.monotonic() - started < 10
    leader, child = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(leader) and not _alive(child)


def test_normal_exit_and_output_files(tmp_path):
    result = runner.run(["/bin/sh", "-c", "echo '2026-01-01T00:00:00.000000Z ERROR bad thing'; "
                                          "echo 'CONTEXT: detail'; echo fine >&2; exit 3"],
                        {"PATH": "/bin:/usr/bin"}, str(tmp_path), 30, str(tmp_path / "out"), str(tmp_path / "err"))
    assert result == {"rc": 3, "timed_out": False, "seconds": result["seconds"], "pid": result["pid"]}
    assert runner.error_lines(str(tmp_path / "out")) == ["ERROR bad thing CONTEXT: detail"]
    assert runner.error_lines(str(tmp_path / "out"), scrub=lambda t: t.replace("bad", "***")) == [
        "ERROR *** thing CONTEXT: detail"]
    assert runner.tail(str(tmp_path / "err")) == "fine\n"


def test_missing_executable_is_a_runner_error(tmp_path):
    with pytest.raises(runner.RunnerError, match="cannot start /nonexistent/pgloader"):
        runner.run(["/nonexistent/pgloader"], {}, str(tmp_path), 5, str(tmp_path / "o"), str(tmp_path / "e"))
