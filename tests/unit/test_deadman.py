"""roles/migrate/files/deadman.py, the host-side dead-man switch, with a real process as the app
(manager command): it stops the app, puts this run's .env copy back, starts the app again, and
records it all in the journal; it does nothing once the run ended."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

DEADMAN = Path(__file__).resolve().parents[2] / "roles" / "migrate" / "files" / "deadman.py"
spec = importlib.util.spec_from_file_location("deadman", DEADMAN)
deadman = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deadman)


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True, mode=0o700)
    app = tmp_path / "app"
    app.mkdir()
    (app / ".env").write_text("DATABASE_URL=postgresql://x\n")
    (run / "env").write_text("SQLITE_PATH=/srv/db.sqlite3\n")
    pid_file = tmp_path / "app.pid"
    # The "app": a daemon that writes its pid file, as gunicorn --daemon does.
    start = [sys.executable, "-c", "import os, sys, time\nif os.fork(): sys.exit(0)\nos.setsid()\n"
             "open(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(300)", str(pid_file)]
    (run / "deadman.json").write_text(json.dumps({
        "manager": "command", "units": [], "start_command": start, "pid_file": str(pid_file), "service_user": "",
        "chdir": str(app), "environment": {}, "stop_timeout": 10, "env_file": str(app / ".env"),
        "env_copy": str(run / "env"), "health_url": ""}))
    yield run
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 9)
        except (ProcessLookupError, ValueError):
            pass


def journal(run_dir, state):
    (run_dir / "state.json").write_text(json.dumps({"run_id": "r1", "state": state, "history": []}))


def test_fire_restores_the_env_and_starts_the_app(run_dir):
    journal(run_dir, "switched")
    assert deadman.main(["deadman.py", "fire", str(run_dir)]) == 0
    state = json.loads((run_dir / "state.json").read_text())
    assert state["state"] == "deadman_restored" and state["deadman"]["state_when_fired"] == "switched"
    assert [h["state"] for h in state["history"]] == ["deadman_fired", "deadman_restored"]
    assert all(action["ok"] for action in state["deadman"]["actions"]), state["deadman"]["actions"]
    assert (run_dir.parent.parent / "app" / ".env").read_text() == "SQLITE_PATH=/srv/db.sqlite3\n"
    pid_file = run_dir.parent.parent / "app.pid"
    for _attempt in range(50):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    assert os.path.exists("/proc/%s" % pid_file.read_text())


@pytest.mark.parametrize("state", ["healthy", "undoing", "undone", "deadman_restored"])
def test_fire_does_nothing_once_the_run_ended(run_dir, state):
    journal(run_dir, state)
    before = (run_dir / "state.json").read_text()
    assert deadman.main(["deadman.py", "fire", str(run_dir)]) == 0
    assert (run_dir / "state.json").read_text() == before
    assert (run_dir.parent.parent / "app" / ".env").read_text() == "DATABASE_URL=postgresql://x\n"
