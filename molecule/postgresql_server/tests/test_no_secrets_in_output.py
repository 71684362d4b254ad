"""The whole scenario's `-vvv --diff` output holds no password.

How: molecule.yml runs every playbook of the scenario (prepare, the check-mode run on the fresh
host, converge, idempotence) with `-vvv --diff` and Ansible's `log_path` set to
$MOLECULE_EPHEMERAL_DIRECTORY/ansible-vvv.log; prepare.yml empties that log first. The log is
what Ansible displayed, line for line. The passwords in group_vars/postgresql.yml are sentinels
whose marker (Sntl + letters and digits) survives any escaping (JSON, YAML, shell quoting), so a
leak in any form shows up as the marker.
"""

from __future__ import annotations

import re

import pytest

from conftest import PASSWORD_KEYS, scenario_vars

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Each platform of molecule.yml, with the PostgreSQL its Debian release ships.
PLATFORMS = {"pgmigrate-pgserver-debian12": "15", "pgmigrate-pgserver-debian13": "17"}


def _log(ephemeral_dir) -> str:
    path = ephemeral_dir / "ansible-vvv.log"
    assert path.is_file(), f"{path} missing: run the scenario through molecule (see molecule.yml)"
    # Without the colour codes Molecule makes Ansible emit.
    return ANSI.sub("", path.read_text(errors="replace"))


def test_the_log_covers_the_whole_scenario_at_vvv_with_diff(ephemeral_dir):
    log = _log(ephemeral_dir)
    # Booleans first: a failing `assert "x" in log` would print the log itself.
    evidence = {
        # check, converge, idempotence (prepare's own lines went to the file it replaced)
        "three playbook runs": log.count("PLAY RECAP") >= 3,
    }
    for name, version in PLATFORMS.items():
        evidence.update({
            # the check-mode run on the fresh host
            f"{name}: check mode on a fresh host": f"Check mode: PostgreSQL {version} is not installed yet" in log,
            # the run that created the roles with their passwords (censored)
            f"{name}: roles created": bool(re.search(
                rf"changed: \[{name}\] => \(item=\(censored due to no_log\)\)", log)),
            # -vvv: connection-level detail
            f"{name}: -vvv": f"<{name}> ESTABLISH DOCKER CONNECTION" in log,
            # --diff: template diffs
            f"{name}: --diff": f"--- before: /etc/postgresql/{version}/main/pg_hba.conf" in log,
        })
    missing = [name for name, present in evidence.items() if not present]
    assert not missing, f"the log lacks: {missing}"


def _where(log: str, needle: str) -> list[str]:
    """Line numbers and the task they belong to, never the line itself (it holds the secret)."""
    found, task = [], "?"
    for number, line in enumerate(log.splitlines(), 1):
        if "TASK [" in line or "RUNNING HANDLER [" in line:
            task = line[line.index("[") :][:120]
        if needle in line:
            found.append(f"line {number} in {task}")
    return found


def test_no_password_in_the_output(ephemeral_dir):
    log = _log(ephemeral_dir)
    v = scenario_vars()
    leaks = {}
    for key in PASSWORD_KEYS:
        password = v[key]
        marker = re.match(r"Sntl[A-Za-z0-9]+", password).group(0)
        assert len(marker) >= 12
        places = _where(log, marker) + _where(log, password)
        if places:
            leaks[key] = places[:10]
    # A plain `assert marker not in log` would print the log, secret included, on failure.
    if leaks:
        pytest.fail(f"passwords appear in the -vvv --diff output: {leaks}", pytrace=False)
