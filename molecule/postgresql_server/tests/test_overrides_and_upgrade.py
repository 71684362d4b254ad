"""The role's settings win over other configuration files, and a run over what an earlier version
of the role left (UPDATE on sequences, an md5 password, a tuning file in conf.d) brings the
server in line.

- A conf.d file read BEFORE the role's zz-pgmigrate.conf (10-tuning.conf) is simply overridden:
  the role runs, and what PostgreSQL applies is the role's value.
- A file read AFTER it (zzz-late.conf) or ALTER SYSTEM (postgresql.auto.conf) makes the role
  fail, naming each file and setting, before PostgreSQL is reloaded or restarted.
"""

from __future__ import annotations

import hashlib

import pytest

from conftest import provision, recap, sentinel_markers, summary

EARLY = "10-tuning.conf"
LATE = "zzz-late.conf"
# What the issue found a tuning file could do to the role's settings, and what the role sets.
CONFLICTING = {"listen_addresses": "localhost", "ssl_min_protocol_version": "TLSv1", "password_encryption": "md5"}
OURS = {"listen_addresses": "*", "ssl_min_protocol_version": "TLSv1.2", "password_encryption": "scram-sha-256"}
PROBE = "upgrade_probe"


def _write_conf(target, name: str) -> None:
    path = f"{target.conf_dir}/conf.d/{name}"
    text = "".join(f"{key} = '{value}'\n" for key, value in CONFLICTING.items())
    res = target.exec(["sh", "-c", f"cat > {path} && chown postgres:postgres {path} && chmod 0644 {path}"], stdin=text)
    assert res.rc == 0, res.stderr


def _no_sentinel(proc) -> None:
    leaked = [marker for marker in sentinel_markers() if marker in proc.stdout or marker in proc.stderr]
    assert not leaked, f"a password marker appears in the playbook output: {len(leaked)} of them"


def _postgres_c(target, name: str) -> str:
    """What a restart would apply: `postgres -C` over the complete configuration."""
    res = target.exec([f"{target.bin_dir}/postgres", "-D", target.data_dir, "-c",
                       f"config_file={target.conf_dir}/postgresql.conf", "-C", name], user="postgres")
    assert res.rc == 0, res.stderr
    return res.stdout.strip()


@pytest.fixture(scope="module")
def rerun(target, names, passwords, psql, psql_postgres):
    """The server as an earlier version of the role and a tuning file left it, then the role."""
    db, owner, app = names["db"], names["owner"], names["app"]
    res = psql(f"CREATE TABLE IF NOT EXISTS {PROBE} (id bigserial PRIMARY KEY)", user=owner)
    assert res.rc == 0, res.stderr
    res = psql_postgres(
        f"GRANT UPDATE ON ALL SEQUENCES IN SCHEMA public TO {app}; "
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT UPDATE ON SEQUENCES TO {app}",
        dbname=db,
    )
    assert res.rc == 0, res.stderr
    # An md5 hash, computed here: the plain password never goes into SQL (nor the server log).
    md5 = "md5" + hashlib.md5((passwords[app] + app).encode(), usedforsecurity=False).hexdigest()
    res = psql_postgres(f"ALTER ROLE {app} PASSWORD '{md5}'")
    assert res.rc == 0, res.stderr
    _write_conf(target, EARLY)
    try:
        yield provision(target)
    finally:
        target.exec(["rm", "-f", f"{target.conf_dir}/conf.d/{EARLY}"])
        psql_postgres("SELECT pg_reload_conf()")
        psql(f"DROP TABLE IF EXISTS {PROBE}", user=owner)


def test_the_rerun_changes_only_what_the_earlier_version_left(rerun, target):
    assert rerun.returncode == 0, summary(rerun)
    _no_sentinel(rerun)
    # The app role's password (md5 -> SCRAM verifier), UPDATE revoked on the sequences and in
    # the default privileges; the tuning file changes nothing the role manages.
    assert recap(rerun, target.name)["changed"] == 3, summary(rerun)


def test_update_on_sequences_is_taken_back(rerun, names, psql_postgres):
    app, owner = names["app"], names["owner"]
    res = psql_postgres(
        f"SELECT has_sequence_privilege('{app}', '{PROBE}_id_seq', 'UPDATE'), "
        f"has_sequence_privilege('{app}', '{PROBE}_id_seq', 'USAGE'), "
        "(SELECT string_agg(a.privilege_type, ',' ORDER BY a.privilege_type) FROM pg_default_acl d "
        f"CROSS JOIN aclexplode(d.defaclacl) a WHERE d.defaclobjtype = 'S' AND a.grantee = '{app}'::regrole "
        f"AND d.defaclrole = '{owner}'::regrole)",
        dbname=names["db"],
    )
    assert res.rc == 0, res.stderr
    assert res.rows == [["f", "t", "SELECT,USAGE"]]


def test_an_md5_password_becomes_a_scram_verifier_that_logs_in(rerun, names, psql, psql_postgres):
    res = psql_postgres(f"SELECT left(rolpassword, 19) FROM pg_authid WHERE rolname = '{names['app']}'")
    assert res.stdout.strip() == "SCRAM-SHA-256$4096:"
    res = psql("SELECT current_user", user=names["app"])
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == names["app"]


def test_a_conf_d_file_read_earlier_is_overridden(rerun, target, psql_postgres):
    for name, value in OURS.items():
        assert _postgres_c(target, name) == value, name
    res = psql_postgres("SELECT pg_reload_conf()")
    assert res.rc == 0, res.stderr
    res = psql_postgres(
        "SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'ssl_min_protocol_version', "
        "'password_encryption') ORDER BY name"
    )
    assert dict(res.rows) == OURS
    res = psql_postgres(
        f"SELECT count(*) FILTER (WHERE applied), count(*) FROM pg_file_settings WHERE sourcefile LIKE '%/{EARLY}'"
    )
    assert res.rows == [["0", str(len(CONFLICTING))]]


def test_a_file_read_later_makes_the_role_fail_naming_it(target, psql_postgres):
    times = "SELECT pg_conf_load_time(), pg_postmaster_start_time()"
    before = psql_postgres(times).stdout
    _write_conf(target, LATE)
    res = psql_postgres("ALTER SYSTEM SET ssl_prefer_server_ciphers = off")
    assert res.rc == 0, res.stderr
    try:
        run = provision(target)
        after = psql_postgres(times).stdout
    finally:
        target.exec(["rm", "-f", f"{target.conf_dir}/conf.d/{LATE}"])
        psql_postgres("ALTER SYSTEM RESET ssl_prefer_server_ciphers")
    assert run.returncode != 0, summary(run)
    _no_sentinel(run)
    # ansible-core 2.19 prints the failure to stderr ([ERROR]) and to stdout (fatal: ... FAILED!).
    message = " ".join((run.stdout + run.stderr).split())
    assert "zz-pgmigrate.conf and override its settings" in message, summary(run)
    for name in CONFLICTING:
        assert f"{name} in {target.conf_dir}/conf.d/{LATE} line" in message, (name, summary(run))
    assert f"ssl_prefer_server_ciphers in {target.data_dir}/postgresql.auto.conf line" in message, summary(run)
    assert f"{EARLY} line" not in message
    # Neither reloaded nor restarted.
    assert after == before
    res = psql_postgres("SHOW ssl_min_protocol_version")
    assert res.stdout.strip() == "TLSv1.2"
