"""TLS: plain TCP is refused, verify-full with the generated CA works, TLS 1.2+ only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg2
import pytest

from conftest import CA_IN_CONTAINER, PORT

SSL_QUERY = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def test_plain_tcp_is_rejected(psql, names):
    res = psql("SELECT 1", user=names["app"], sslmode="disable")
    assert res.rc != 0
    assert "pg_hba.conf rejects connection" in res.stderr
    assert "no encryption" in res.stderr


@pytest.mark.parametrize("host_kind", ["hostname", "ip", "extra_name"])
def test_verify_full_succeeds_with_tls12_or_newer(psql, target, names, ip, host_kind):
    host = {"hostname": target.name, "ip": ip, "extra_name": "db.pgmigrate.test"}[host_kind]
    extra = f"hostaddr={ip}" if host_kind == "extra_name" else ""
    res = psql(SSL_QUERY, user=names["app"], host=host, extra=extra)
    assert res.rc == 0, res.stderr
    (ssl, version), = res.rows
    assert ssl == "t"
    assert version in ("TLSv1.2", "TLSv1.3")


def test_verify_full_refuses_a_name_not_in_the_certificate(psql, names, ip):
    res = psql("SELECT 1", user=names["app"], host="not-the-db.example", extra=f"hostaddr={ip}")
    assert res.rc != 0
    assert 'does not match host name "not-the-db.example"' in res.stderr


def test_verify_full_refuses_another_ca(psql, names, ip):
    # The system CA bundle does not hold our CA: verification must fail.
    res = psql("SELECT 1", user=names["app"], extra="sslrootcert=/etc/ssl/certs/ca-certificates.crt")
    assert res.rc != 0
    assert "certificate verify failed" in res.stderr


def test_controller_connects_with_the_fetched_ca(target, ip, names, passwords):
    ca = Path(target.ca_local)
    in_container = target.exec(["cat", CA_IN_CONTAINER])
    assert in_container.rc == 0
    assert ca.read_text() == in_container.stdout
    conn = psycopg2.connect(host=ip, port=PORT, dbname=names["db"], user=names["app"],
                            password=passwords[names["app"]], sslmode="verify-full",
                            sslrootcert=str(ca), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(SSL_QUERY)
            ssl, version = cur.fetchone()
    finally:
        conn.close()
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")


def test_controller_plain_tcp_is_rejected(ip, names, passwords):
    with pytest.raises(psycopg2.OperationalError, match="no encryption"):
        psycopg2.connect(host=ip, port=PORT, dbname=names["db"], user=names["app"],
                         password=passwords[names["app"]], sslmode="disable", connect_timeout=10)


def _s_client(ip: str, ca: str, protocol_flag: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"{ip}:{PORT}", "-starttls", "postgres", protocol_flag,
         "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", ca, "-verify_return_error", "-brief"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )


def test_server_refuses_tls11_but_accepts_tls12(target, ip):
    ca = target.ca_local
    # Control: the same client, allowed down to SECLEVEL 0, completes a TLS 1.2 handshake...
    ok = _s_client(ip, ca, "-tls1_2")
    assert ok.returncode == 0, ok.stderr
    assert "Protocol version: TLSv1.2" in ok.stderr
    assert "Verification: OK" in ok.stderr
    # ...so a failed TLS 1.1 handshake is the server's ssl_min_protocol_version at work.
    old = _s_client(ip, ca, "-tls1_1")
    assert old.returncode != 0
    assert "Protocol version: TLSv1.1" not in old.stderr


def test_server_certificate_names(host, target, ip):
    cert = host.file("/etc/pgmigrate/tls/server.crt").content_string
    proc = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=cert,
                          capture_output=True, text=True, check=True)
    sans = {item.strip() for item in proc.stdout.splitlines()[1].split(",")}
    expected = {f"DNS:{target.name}", "DNS:db.pgmigrate.test", "DNS:localhost", f"IP Address:{ip}",
                "IP Address:127.0.0.1"}
    assert expected <= sans, sans


def test_tls_files_permissions(host):
    tls_dir = host.file("/etc/pgmigrate/tls")
    assert (tls_dir.user, tls_dir.group, tls_dir.mode) == ("root", "postgres", 0o750)
    ca_key = host.file("/etc/pgmigrate/tls/ca.key")
    assert (ca_key.user, ca_key.mode) == ("root", 0o600)
    key = host.file("/etc/pgmigrate/tls/server.key")
    assert (key.user, key.mode) == ("postgres", 0o600)
