"""postgresql_server_tls_source=provided: certificates made elsewhere (here with openssl on the
controller) are installed, clients verify the server against that CA, and the private key never
shows in the -vvv --diff output. Runs last (file order): it switches the server to the provided
certificates and back to generated ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2

from conftest import CA_IN_CONTAINER, CONTAINER, PORT, docker_exec

PROJECT = Path(__file__).resolve().parents[3]
# The ansible-playbook next to this Python (the venv), else the one on PATH.
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook")) \
    if Path(sys.executable).with_name("ansible-playbook").exists() else shutil.which("ansible-playbook")
SSL_QUERY = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=True)


def _make_certificates(directory: Path, ip: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=pgmigrate provided test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", f"/CN={CONTAINER}", cwd=directory)
    (directory / "ext.cnf").write_text(
        f"subjectAltName=DNS:{CONTAINER},IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf", cwd=directory)


def _provision(ephemeral_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(ephemeral_dir / "inventory"), str(PROJECT / "playbooks" / "provision.yml"),
         "-vvv", "--diff", *extra],
        capture_output=True, text=True, timeout=600, check=False, env=dict(os.environ, ANSIBLE_FORCE_COLOR="0"),
    )


def _tail(proc: subprocess.CompletedProcess) -> str:
    # Only the recap and the failure: the full -vvv output is long.
    lines = proc.stdout.splitlines()
    failed = [line for line in lines if "fatal:" in line or "FAILED!" in line]
    return "\n".join(failed[:5] + lines[-5:])


def _controller_tls(ip, names, passwords, ca: Path) -> tuple:
    conn = psycopg2.connect(host=ip, port=PORT, dbname=names["db"], user=names["app"],
                            password=passwords[names["app"]], sslmode="verify-full",
                            sslrootcert=str(ca), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(SSL_QUERY)
            return cur.fetchone()
    finally:
        conn.close()


def test_provided_certificates_then_back_to_generated(tmp_path, ephemeral_dir, ip, names, passwords, psql):
    _make_certificates(tmp_path, ip)
    fetched = tmp_path / "fetched-ca.crt"
    provided = _provision(
        ephemeral_dir,
        "-e", "postgresql_server_tls_source=provided",
        "-e", f"postgresql_server_tls_cert_src={tmp_path / 'server.crt'}",
        "-e", f"postgresql_server_tls_key_src={tmp_path / 'server.key'}",
        "-e", f"postgresql_server_tls_ca_cert_src={tmp_path / 'ca.crt'}",
        "-e", f"postgresql_server_tls_ca_local_path={fetched}",
    )
    try:
        assert provided.returncode == 0, _tail(provided)
        # The key's body (any line of it) never appears in the -vvv --diff output.
        key_lines = [line for line in (tmp_path / "server.key").read_text().splitlines() if "-----" not in line]
        assert not [line for line in key_lines if line in provided.stdout], "the provided private key leaked"
        assert "changed: [pgmigrate-pgserver]" in provided.stdout

        assert docker_exec(["cat", CA_IN_CONTAINER]).stdout == (tmp_path / "ca.crt").read_text()
        assert fetched.read_text() == (tmp_path / "ca.crt").read_text()
        res = psql(SSL_QUERY, user=names["app"], host=CONTAINER)  # verify-full against the installed CA
        assert res.rc == 0, res.stderr
        assert res.rows[0][0] == "t"
        ssl, _version = _controller_tls(ip, names, passwords, tmp_path / "ca.crt")
        assert ssl is True
        # The generated CA no longer vouches for the server.
        old_ca = ephemeral_dir / "pgmigrate-ca.crt"
        failed = subprocess.run(
            ["openssl", "verify", "-CAfile", str(old_ca), str(tmp_path / "server.crt")],
            capture_output=True, text=True, check=False,
        )
        assert failed.returncode != 0
    finally:
        back = _provision(ephemeral_dir)
    assert back.returncode == 0, _tail(back)
    # Back to a generated CA (a new one: the provided CA replaced the old certificate), fetched
    # again to the scenario's path, and clients verify against it.
    generated = ephemeral_dir / "pgmigrate-ca.crt"
    assert generated.read_text() == docker_exec(["cat", CA_IN_CONTAINER]).stdout
    assert generated.read_text() != (tmp_path / "ca.crt").read_text()
    ssl, _version = _controller_tls(ip, names, passwords, generated)
    assert ssl is True
