"""postgresql_backup: the timer exists, a dump made by its service restores into a scratch
database with the same row counts, dumps are private, retention keeps the newest N."""

from __future__ import annotations

import pytest

from conftest import scenario_vars

BACKUP_DIR = "/var/backups/postgresql"
UNIT = "pgmigrate-pg-backup"
SCRATCH = "pgmigrate_restore_check"
SCRATCH_FULL = "pgmigrate_restore_full"
# Row counts of every table in schema public, one query (no table names formatted in by us).
COUNTS = (
    "SELECT table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', "
    "table_schema, table_name), false, true, '')))[1]::text "
    "FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
)


def run_backup(target) -> None:
    res = target.exec(["systemctl", "start", f"{UNIT}.service"])
    assert res.rc == 0, res.stderr + target.exec(["journalctl", "-u", f"{UNIT}.service", "-n", "30"]).stdout


def dumps(target, db: str) -> list[str]:
    res = target.exec(["sh", "-c", f"ls -1 {BACKUP_DIR}/{db}-*.dump 2>/dev/null | sort"])
    return res.stdout.split()


@pytest.fixture(scope="module")
def data(psql, names):
    res = psql(
        "DROP TABLE IF EXISTS backup_probe_a, backup_probe_b; "
        "CREATE TABLE backup_probe_a (id bigserial PRIMARY KEY, label text, payload jsonb); "
        "CREATE TABLE backup_probe_b (id bigserial PRIMARY KEY, a_id bigint REFERENCES backup_probe_a); "
        "INSERT INTO backup_probe_a (label, payload) "
        "SELECT 'row ' || g, jsonb_build_object('g', g, 'text', 'é€') FROM generate_series(1, 1000) g; "
        "INSERT INTO backup_probe_b (a_id) SELECT g FROM generate_series(1, 37) g",
        user=names["owner"],
    )
    assert res.rc == 0, res.stderr
    yield
    psql("DROP TABLE IF EXISTS backup_probe_b, backup_probe_a", user=names["owner"])


def test_timer_is_enabled_and_waiting(host):
    timer = host.service(f"{UNIT}.timer")
    assert timer.is_enabled
    assert timer.is_running
    next_run = host.run(f"systemctl show -p NextElapseUSecRealtime --value {UNIT}.timer").stdout.strip()
    assert next_run not in ("", "n/a"), next_run
    unit = host.run(f"systemctl cat {UNIT}.service").stdout
    assert "User=postgres" in unit
    assert "OnCalendar=*-*-* 03:15:00" in host.run(f"systemctl cat {UNIT}.timer").stdout


def test_dump_made_by_the_service_restores_with_the_same_row_counts(target, data, names, psql_postgres):
    db = names["db"]
    before = set(dumps(target, db))
    run_backup(target)
    new = sorted(set(dumps(target, db)) - before)
    assert len(new) == 1, (before, new)
    dump = new[0]

    info = target.exec(["stat", "-c", "%U %G %a %s", dump]).stdout.split()
    assert info[:3] == ["postgres", "postgres", "600"]
    assert int(info[3]) > 0
    listing = target.exec(["pg_restore", "--list", dump], user="postgres")
    assert listing.rc == 0, listing.stderr
    assert "Format: CUSTOM" in listing.stdout
    assert "Compression: 6" in listing.stdout or "Compression: gzip" in listing.stdout

    # The documented restore procedure (roles/postgresql_backup/README.md).
    assert psql_postgres(f"DROP DATABASE IF EXISTS {SCRATCH}").rc == 0
    try:
        assert psql_postgres(f"CREATE DATABASE {SCRATCH} TEMPLATE template0").rc == 0
        restore = target.exec(["pg_restore", "--exit-on-error", "--no-owner", "--no-acl", "-d", SCRATCH, dump],
                              user="postgres")
        assert restore.rc == 0, restore.stderr
        live = psql_postgres(COUNTS, dbname=db)
        restored = psql_postgres(COUNTS, dbname=SCRATCH)
        assert live.rc == 0 and restored.rc == 0, live.stderr + restored.stderr
        assert restored.rows == live.rows
        counts = dict(restored.rows)
        assert counts["backup_probe_a"] == "1000"
        assert counts["backup_probe_b"] == "37"
        same = psql_postgres("SELECT payload->>'text' FROM backup_probe_a WHERE id = 1000", dbname=SCRATCH)
        assert same.stdout.strip() == "é€"
    finally:
        psql_postgres(f"DROP DATABASE IF EXISTS {SCRATCH}")


def test_dump_restores_with_owners_and_privileges(target, data, names, psql_postgres, psql):
    """README step 3b, into a second database so the live one stays: owners, schema ACL and
    default privileges come back, so the app role can read the restored tables."""
    db, owner, app = names["db"], names["owner"], names["app"]
    run_backup(target)
    dump = dumps(target, db)[-1]
    assert psql_postgres(f"DROP DATABASE IF EXISTS {SCRATCH_FULL}").rc == 0
    try:
        assert psql_postgres(f"CREATE DATABASE {SCRATCH_FULL} OWNER {owner} TEMPLATE template0").rc == 0
        assert psql_postgres(f"GRANT CONNECT ON DATABASE {SCRATCH_FULL} TO {app}").rc == 0
        restore = target.exec(["pg_restore", "--exit-on-error", "-d", SCRATCH_FULL, dump], user="postgres")
        assert restore.rc == 0, restore.stderr
        owners = psql_postgres(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'backup_probe_a' "
            "UNION ALL SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'",
            dbname=SCRATCH_FULL,
        )
        assert owners.rows == [[owner], [owner]]
        # The app role's login is limited to its database by pg_hba.conf: check its rights here.
        rights = psql_postgres(
            f"SELECT has_table_privilege('{app}', 'backup_probe_a', 'SELECT'), "
            f"has_table_privilege('{app}', 'backup_probe_a', 'INSERT'), "
            f"has_schema_privilege('{app}', 'public', 'CREATE')",
            dbname=SCRATCH_FULL,
        )
        assert rights.rows == [["t", "t", "f"]]
    finally:
        psql_postgres(f"DROP DATABASE IF EXISTS {SCRATCH_FULL}")


def test_retention_keeps_the_newest_dumps(target, names, host):
    keep = scenario_vars()["postgresql_backup_keep"]
    db = names["db"]
    for _run in range(keep + 1):
        run_backup(target)
    files = dumps(target, db)
    assert len(files) == keep, files
    assert target.exec(["sh", "-c", f"ls {BACKUP_DIR} | grep -c partial"]).stdout.strip() == "0"
    backup_dir = host.file(BACKUP_DIR)
    assert (backup_dir.user, backup_dir.mode) == ("postgres", 0o700)
