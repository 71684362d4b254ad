"""postgresql_server_tls_source=provided: certificates made elsewhere (here with openssl on the
controller) are installed, clients verify the server against that CA, and the private key never
shows in the -vvv --diff output. Runs late (file order): it switches the server to the provided
certificates and back to generated ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg2

from conftest import CA_IN_CONTAINER, PORT, provision, summary

SSL_QUERY = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=True)


def _make_certificates(directory: Path, name: str, ip: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=pgmigrate provided test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", f"/CN={name}", cwd=directory)
    (directory / "ext.cnf").write_text(
        f"subjectAltName=DNS:{name},IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf", cwd=directory)


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


def test_provided_certificates_then_back_to_generated(tmp_path, target, ip, names, passwords, psql):
    _make_certificates(tmp_path, target.name, ip)
    fetched = tmp_path / "fetched-ca.crt"
    provided = provision(
        target, "-vvv", "--diff",
        "-e", "postgresql_server_tls_source=provided",
        "-e", f"postgresql_server_tls_cert_src={tmp_path / 'server.crt'}",
        "-e", f"postgresql_server_tls_key_src={tmp_path / 'server.key'}",
        "-e", f"postgresql_server_tls_ca_cert_src={tmp_path / 'ca.crt'}",
        "-e", f"postgresql_server_tls_ca_local_path={fetched}",
    )
    try:
        assert provided.returncode == 0, summary(provided)
        # The key's body (any line of it) never appears in the -vvv --diff output.
        key_lines = [line for line in (tmp_path / "server.key").read_text().splitlines() if "-----" not in line]
        assert not [line for line in key_lines if line in provided.stdout], "the provided private key leaked"
        assert f"changed: [{target.name}]" in provided.stdout

        assert target.exec(["cat", CA_IN_CONTAINER]).stdout == (tmp_path / "ca.crt").read_text()
        assert fetched.read_text() == (tmp_path / "ca.crt").read_text()
        res = psql(SSL_QUERY, user=names["app"], host=target.name)  # verify-full against the installed CA
        assert res.rc == 0, res.stderr
        assert res.rows[0][0] == "t"
        ssl, _version = _controller_tls(ip, names, passwords, tmp_path / "ca.crt")
        assert ssl is True
        # The generated CA no longer vouches for the server.
        old_ca = target.ca_local
        failed = subprocess.run(
            ["openssl", "verify", "-CAfile", str(old_ca), str(tmp_path / "server.crt")],
            capture_output=True, text=True, check=False,
        )
        assert failed.returncode != 0
    finally:
        back = provision(target, "-vvv", "--diff")
    assert back.returncode == 0, summary(back)
    # Back to a generated CA (a new one: the provided CA replaced the old certificate), fetched
    # again to the scenario's path, and clients verify against it.
    generated = Path(target.ca_local)
    assert generated.read_text() == target.exec(["cat", CA_IN_CONTAINER]).stdout
    assert generated.read_text() != (tmp_path / "ca.crt").read_text()
    ssl, _version = _controller_tls(ip, names, passwords, generated)
    assert ssl is True
