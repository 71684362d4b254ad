"""run_journal through Ansible: create once, advance, refuse to go on after the dead-man switch fired."""

from __future__ import annotations

import json
import stat

import pytest

pytestmark = pytest.mark.integration


def test_journal_lifecycle(ansible, tmp_path):
    run = tmp_path / "runs" / "r1"
    checked = ansible.module("run_journal", {"path": str(run), "create": True, "state": "preflight"}, check=True)
    assert checked.rc == 0 and checked.result["changed"] and not run.exists()

    created = ansible.module("run_journal", {"path": str(run), "create": True, "state": "preflight", "lease": 60,
                                             "data": {"host": "app1"}})
    assert created.rc == 0, created.output
    assert stat.S_IMODE(run.stat().st_mode) == 0o700 and stat.S_IMODE((run / "state.json").stat().st_mode) == 0o600
    again = ansible.module("run_journal", {"path": str(run), "create": True})
    assert again.failed and "a run id is used once" in again.result["msg"]

    read = ansible.module("run_journal", {"path": str(run)})
    assert read.rc == 0 and read.result["changed"] is False and read.result["journal"]["host"] == "app1"

    assert ansible.module("run_journal", {"path": str(run), "state": "stopped"}).rc == 0
    journal = json.loads((run / "state.json").read_text())
    assert journal["state"] == "stopped" and [h["state"] for h in journal["history"]] == ["preflight", "stopped"]

    # The host's dead-man switch took over: the run may not move on, a recovery may write.
    journal["state"] = "deadman_restored"
    (run / "state.json").write_text(json.dumps(journal))
    refused = ansible.module("run_journal", {"path": str(run), "state": "loaded"})
    assert refused.failed and "dead-man switch" in refused.result["msg"]
    assert json.loads((run / "state.json").read_text())["state"] == "deadman_restored"
    undo = ansible.module("run_journal", {"path": str(run), "state": "undoing", "after_deadman": True})
    assert undo.rc == 0 and json.loads((run / "state.json").read_text())["state"] == "undoing"


def test_missing_journal_reads_empty(ansible, tmp_path):
    result = ansible.module("run_journal", {"path": str(tmp_path / "none")})
    assert result.rc == 0 and result.result["journal"] == {} and result.result["exists"] is False
