"""Service, settings, pg_hba.conf and the single restart."""

from __future__ import annotations

import re

# Debian's own PostgreSQL per release: what the role installs when no version is asked for.
DEBIAN_POSTGRESQL = {"12": "15", "13": "17"}


def test_postgresql_is_the_distributions_own(host, target, psql_postgres):
    debian_major = host.file("/etc/debian_version").content_string.strip().split(".")[0]
    assert target.version == DEBIAN_POSTGRESQL[debian_major], (debian_major, target.version)
    res = psql_postgres("SELECT current_setting('server_version_num')::int / 10000")
    assert res.stdout.strip() == target.version
    assert host.package(f"postgresql-{target.version}").is_installed


def test_service_runs_and_starts_at_boot(host, target):
    assert host.service(f"postgresql@{target.version}-main").is_running
    assert host.service("postgresql").is_enabled


def test_security_settings(psql_postgres):
    res = psql_postgres(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('ssl', 'ssl_min_protocol_version', 'password_encryption', 'listen_addresses', 'port', "
        "'max_connections', 'ssl_cert_file', 'ssl_key_file') ORDER BY name"
    )
    assert res.rc == 0, res.stderr
    assert dict(res.rows) == {
        "listen_addresses": "*",
        "max_connections": "100",
        "password_encryption": "scram-sha-256",
        "port": "5432",
        "ssl": "on",
        "ssl_cert_file": "/etc/pgmigrate/tls/server.crt",
        "ssl_key_file": "/etc/pgmigrate/tls/server.key",
        "ssl_min_protocol_version": "TLSv1.2",
    }


def test_memory_settings_follow_the_hosts_memory(host, psql_postgres):
    meminfo = host.file("/proc/meminfo").content_string
    memtotal_mb = int(re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M).group(1)) // 1024
    res = psql_postgres(
        "SELECT name, setting::bigint * pg_size_bytes(CASE WHEN unit ~ '^[0-9]' THEN unit ELSE '1' || unit END) / 1048576 "
        "FROM pg_settings WHERE name IN ('shared_buffers', 'effective_cache_size', "
        "'maintenance_work_mem', 'work_mem') ORDER BY name"
    )
    assert res.rc == 0, res.stderr
    got = {name: int(mb) for name, mb in res.rows}
    assert got == {
        "shared_buffers": min(max(int(memtotal_mb * 0.25), 128), 8192),
        "effective_cache_size": max(int(memtotal_mb * 0.75), 256),
        "maintenance_work_mem": min(max(int(memtotal_mb * 0.05), 64), 1024),
        "work_mem": min(max(int(memtotal_mb * 0.25 / 100), 4), 64),
    }


def test_settings_come_from_conf_d_and_are_all_applied(host, target, psql_postgres):
    conf = host.file(f"{target.conf_dir}/conf.d/zz-pgmigrate.conf")
    assert (conf.user, conf.mode) == ("postgres", 0o644)
    assert "ssl = on" in conf.content_string
    assert not host.file(f"{target.conf_dir}/conf.d/00-pgmigrate.conf").exists
    res = psql_postgres(
        "SELECT count(*) FILTER (WHERE error IS NOT NULL), "
        "count(*) FILTER (WHERE sourcefile LIKE '%/conf.d/zz-pgmigrate.conf' AND applied) "
        "FROM pg_file_settings"
    )
    assert res.rc == 0, res.stderr
    errors, applied_from_conf_d = map(int, res.rows[0])
    assert errors == 0
    assert applied_from_conf_d >= 12
    res = psql_postgres("SELECT count(*) FROM pg_settings WHERE pending_restart")
    assert res.stdout.strip() == "0"


def test_pg_hba_is_whole_and_strict(host, target, psql_postgres):
    hba = host.file(f"{target.conf_dir}/pg_hba.conf")
    assert (hba.user, hba.mode) == ("postgres", 0o640)
    lines = [line.split() for line in hba.content_string.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == ["local", "all", "postgres", "peer"]
    assert lines[-2:] == [["local", "all", "all", "reject"], ["host", "all", "all", "all", "reject"]]
    for fields in lines[1:-2]:
        assert fields[0] == "hostssl", fields
        assert fields[-1] == "scram-sha-256", fields
    assert len(lines) == 2 + 2 + 1  # two app networks in the scenario
    text = hba.content_string
    for weak in ("trust", "md5", "password", "ident"):
        assert not re.search(rf"\s{weak}\s*$", text, re.M), weak
    res = psql_postgres("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
    assert res.stdout.strip() == "0"


def test_postgresql_was_restarted_once(host, target):
    # The package starts the cluster once; the role restarts it exactly once (certificates,
    # settings and pg_hba.conf first); check mode and the idempotence run restart nothing.
    log = host.file(target.server_log).content_string
    starts = log.count("database system is ready to accept connections")
    assert starts == 2, log[-3000:]
