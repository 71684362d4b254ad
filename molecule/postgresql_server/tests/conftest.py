"""Shared helpers for the postgresql_server scenario's testinfra checks.

Every SQL check runs `psql` inside the container (as the brief asks: the client is on the
database host's network, like an app host), over TCP to the container's own address, except
the few that must use the unix socket as postgres. Passwords never appear in a command line:
a 0600 ~/.pgpass is written through `docker exec -i` stdin once per session.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

CONTAINER = "pgmigrate-pgserver"
SCENARIO_DIR = Path(__file__).resolve().parent.parent
PORT = 5432
CA_IN_CONTAINER = "/etc/pgmigrate/tls/ca.crt"
PGPASS_IN_CONTAINER = "/root/.pgpass-molecule"


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


def docker_exec(argv: list[str], stdin: str | None = None, env: dict | None = None, user: str | None = None) -> Result:
    cmd = ["docker", "exec", "-i"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    if user:
        cmd += ["-u", user]
    proc = subprocess.run(
        cmd + [CONTAINER] + argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def container_ip() -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", CONTAINER],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert out, "the container has no address"
    return out


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


@pytest.fixture(scope="session")
def ip():
    return container_ip()


@pytest.fixture(scope="session")
def pgpass(passwords):
    lines = "".join(f"*:*:*:{_pgpass_escape(user)}:{_pgpass_escape(pw)}\n" for user, pw in passwords.items())
    res = docker_exec(["sh", "-c", f"umask 077 && cat > {PGPASS_IN_CONTAINER}"], stdin=lines)
    assert res.rc == 0, res.stderr
    yield PGPASS_IN_CONTAINER
    docker_exec(["rm", "-f", PGPASS_IN_CONTAINER])


@pytest.fixture(scope="session")
def psql(pgpass, ip, names):
    """psql over TCP inside the container; verify-full against the generated CA by default."""

    def run(sql: str, user: str, dbname: str | None = None, host: str | None = None,
            sslmode: str = "verify-full", extra: str = "") -> Result:
        conninfo = (
            f"host={host or ip} port={PORT} dbname={dbname or names['db']} user={user} "
            f"sslmode={sslmode} sslrootcert={CA_IN_CONTAINER} connect_timeout=10 {extra}"
        )
        return docker_exec(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
            env={"PGPASSFILE": pgpass},
        )

    return run


@pytest.fixture(scope="session")
def psql_postgres():
    """psql as the postgres OS user over the unix socket (peer)."""

    def run(sql: str, dbname: str = "postgres") -> Result:
        return docker_exec(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", sql],
            user="postgres",
        )

    return run


@pytest.fixture(scope="session")
def ephemeral_dir() -> Path:
    path = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert path, "run through molecule: MOLECULE_EPHEMERAL_DIRECTORY is not set"
    return Path(path)
