"""env_file and wait_file_closed through Ansible: check, run, rerun; secrets never shown."""

from __future__ import annotations

import stat
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

SENTINEL = "Sentinel-Pw-@:/?#%+ 7f3a"


def test_env_file_check_run_rerun_and_masked_diff(ansible, tmp_path):
    env = tmp_path / ".env"
    env.write_text("# keep me\nSQLITE_PATH=/srv/db.sqlite3\nDJANGO_DEBUG=False\n")
    env.chmod(0o644)
    args = {"path": str(env), "values": {"POSTGRES_SSLMODE": "verify-full"},
            "secret_values": {"POSTGRES_PASSWORD": SENTINEL}, "remove": ["SQLITE_PATH"]}

    checked = ansible.module("env_file", args, check=True, diff=True, verbosity=3)
    assert checked.rc == 0 and checked.result["changed"] is True
    assert env.read_text() == "# keep me\nSQLITE_PATH=/srv/db.sqlite3\nDJANGO_DEBUG=False\n"

    done = ansible.module("env_file", args, diff=True, verbosity=3)
    assert done.rc == 0 and done.result["changed"] is True
    assert done.result["removed"] == ["SQLITE_PATH"] and done.result["added"] == ["POSTGRES_SSLMODE", "POSTGRES_PASSWORD"]
    assert "POSTGRES_PASSWORD=********" in done.result["diff"]["after"]
    text = env.read_text()
    assert text.startswith("# keep me\nDJANGO_DEBUG=False\n") and "SQLITE_PATH" not in text
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    for run in (checked, done):
        assert SENTINEL not in run.output

    again = ansible.module("env_file", args, diff=True)
    assert again.rc == 0 and again.result["changed"] is False


def test_wait_file_closed_waits_for_the_holder_then_fails_on_timeout(ansible, tmp_path):
    db = tmp_path / "db.sqlite3"
    db.write_bytes(b"x")
    holder = subprocess.Popen([sys.executable, "-c", "import sys,time; f=open(sys.argv[1]); time.sleep(4)", str(db)])
    try:
        time.sleep(0.5)
        short = ansible.module("wait_file_closed", {"path": str(db), "timeout": 1})
        assert short.failed and str(holder.pid) in short.result["msg"]
        # The holder exits after ~4 s: the module must wait for it, not fail.
        waited = ansible.module("wait_file_closed", {"path": str(db), "timeout": 30})
        assert waited.rc == 0 and waited.result["holders"] == [] and waited.result["changed"] is False
    finally:
        holder.kill()
        holder.wait()
