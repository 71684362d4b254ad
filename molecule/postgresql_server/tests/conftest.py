"""Shared helpers for the postgresql_server scenario's testinfra checks.

The scenario has one container per platform (Debian 12 / PostgreSQL 15, Debian 13 /
PostgreSQL 17). testinfra runs every test module that uses `host` (directly or through the
fixtures below) once per container; the fixtures read the container's name from `host` and its
PostgreSQL version from the container itself.

Every SQL check runs `psql` inside the container (the client is on the database host's network,
like an app host), over TCP to the container's own address, except the few that must use the
unix socket as postgres. Passwords never appear in a command line: a 0600 ~/.pgpass is written
through `docker exec -i` stdin once per module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

SCENARIO_DIR = Path(__file__).resolve().parent.parent
PROJECT = SCENARIO_DIR.parents[1]
# The ansible-playbook next to this Python (the venv), else the one on PATH.
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook")) \
    if Path(sys.executable).with_name("ansible-playbook").exists() else shutil.which("ansible-playbook")
PORT = 5432
CA_IN_CONTAINER = "/etc/pgmigrate/tls/ca.crt"
PGPASS_IN_CONTAINER = "/root/.pgpass-molecule"
PASSWORD_KEYS = ("postgresql_server_owner_password", "postgresql_server_app_password",
                 "postgresql_server_readonly_password")


def scenario_vars() -> dict:
    """The scenario's inputs exactly as written (passwords are literal strings there)."""
    return yaml.safe_load((SCENARIO_DIR / "group_vars" / "postgresql.yml").read_text())


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def rows(self) -> list[list[str]]:
        return [line.split("|") for line in self.stdout.splitlines() if line]


def docker_exec(container: str, argv: list[str], stdin: str | None = None, env: dict | None = None,
                user: str | None = None) -> Result:
    cmd = ["docker", "exec", "-i"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    if user:
        cmd += ["-u", user]
    proc = subprocess.run(
        cmd + [container] + argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def container_ip(container: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert out, "the container has no address"
    return out


@dataclass
class Target:
    """One database container: its name (= inventory hostname), address and PostgreSQL paths."""

    name: str
    ip: str
    version: str

    @property
    def conf_dir(self) -> str:
        return f"/etc/postgresql/{self.version}/main"

    @property
    def data_dir(self) -> str:
        return f"/var/lib/postgresql/{self.version}/main"

    @property
    def bin_dir(self) -> str:
        return f"/usr/lib/postgresql/{self.version}/bin"

    @property
    def server_log(self) -> str:
        return f"/var/log/postgresql/postgresql-{self.version}-main.log"

    @property
    def ca_local(self) -> str:
        """Where the role fetched this server's CA on the controller (group_vars)."""
        return f"{os.environ['MOLECULE_EPHEMERAL_DIRECTORY']}/{self.name}-ca.crt"

    def exec(self, argv: list[str], **kwargs) -> Result:
        return docker_exec(self.name, argv, **kwargs)


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@pytest.fixture(scope="session")
def names():
    v = scenario_vars()
    return {
        "db": v["postgresql_server_db_name"],
        "owner": v["postgresql_server_owner_user"],
        "app": v["postgresql_server_app_user"],
        "ro": v["postgresql_server_readonly_user"],
    }


@pytest.fixture(scope="session")
def passwords(names):
    v = scenario_vars()
    return {
        names["owner"]: v["postgresql_server_owner_password"],
        names["app"]: v["postgresql_server_app_password"],
        names["ro"]: v["postgresql_server_readonly_password"],
    }


@pytest.fixture(scope="module")
def target(host) -> Target:
    name = host.backend.get_hostname()
    versions = docker_exec(name, ["ls", "/etc/postgresql"]).stdout.split()
    assert len(versions) == 1, f"{name}: expected one PostgreSQL cluster, found {versions}"
    return Target(name=name, ip=container_ip(name), version=versions[0])


@pytest.fixture(scope="module")
def ip(target):
    return target.ip


@pytest.fixture(scope="module")
def pgpass(target, passwords):
    lines = "".join(f"*:*:*:{_pgpass_escape(user)}:{_pgpass_escape(pw)}\n" for user, pw in passwords.items())
    res = target.exec(["sh", "-c", f"umask 077 && cat > {PGPASS_IN_CONTAINER}"], stdin=lines)
    assert res.rc == 0, res.stderr
    yield PGPASS_IN_CONTAINER
    target.exec(["rm", "-f", PGPASS_IN_CONTAINER])


@pytest.fixture(scope="module")
def psql(target, pgpass, names):
    """psql over TCP inside the container; verify-full against the generated CA by default."""

    def run(sql: str, user: str, dbname: str | None = None, host: str | None = None,
            sslmode: str = "verify-full", extra: str = "") -> Result:
        conninfo = (
            f"host={host or target.ip} port={PORT} dbname={dbname or names['db']} user={user} "
            f"sslmode={sslmode} sslrootcert={CA_IN_CONTAINER} connect_timeout=10 {extra}"
        )
        return target.exec(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
            env={"PGPASSFILE": pgpass},
        )

    return run


@pytest.fixture(scope="module")
def psql_postgres(target):
    """psql as the postgres OS user over the unix socket (peer)."""

    def run(sql: str, dbname: str = "postgres") -> Result:
        return target.exec(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", sql],
            user="postgres",
        )

    return run


@pytest.fixture(scope="session")
def ephemeral_dir() -> Path:
    path = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert path, "run through molecule: MOLECULE_EPHEMERAL_DIRECTORY is not set"
    return Path(path)


def provision(target: Target, *extra: str) -> subprocess.CompletedProcess:
    """playbooks/provision.yml again, on this container only, with the scenario's inventory."""
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(PROJECT / "playbooks" / "provision.yml"),
         "--limit", target.name, *extra],
        capture_output=True, text=True, timeout=600, check=False, env=dict(os.environ, ANSIBLE_FORCE_COLOR="0"),
    )


def summary(proc: subprocess.CompletedProcess) -> str:
    """Only the failures and the recap: the full output is long (and -vvv when asked)."""
    lines = proc.stdout.splitlines()
    failed = [line[:2000] for line in lines if "fatal:" in line or "FAILED!" in line]
    errors = [line[:2000] for line in proc.stderr.splitlines() if "ERROR" in line]
    return "\n".join(failed[:5] + errors[:5] + lines[-5:])


def recap(proc: subprocess.CompletedProcess, name: str) -> dict[str, int]:
    """The PLAY RECAP counters of one host (ok, changed, failed, ...) of the last play."""
    lines = [line for line in proc.stdout.splitlines() if line.startswith(name + " ") and "ok=" in line]
    assert lines, f"no PLAY RECAP line for {name}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1])}


def sentinel_markers() -> list[str]:
    """The unique marker (Sntl + letters and digits) of every password of the scenario."""
    v = scenario_vars()
    return [re.match(r"Sntl[A-Za-z0-9]+", v[key]).group(0) for key in PASSWORD_KEYS]
