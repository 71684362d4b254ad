"""Roles, database and privileges: what each role can and cannot do, as seen by a client."""

from __future__ import annotations

import pytest

PROBE = "access_probe"


@pytest.fixture(scope="module")
def owner_table(psql, names):
    """A table the owner creates after provisioning: default privileges must cover it."""
    res = psql(
        f"DROP TABLE IF EXISTS {PROBE}; "
        f"CREATE TABLE {PROBE} (id bigserial PRIMARY KEY, name text NOT NULL); "
        f"ALTER TABLE {PROBE} ADD COLUMN note text; "
        f"CREATE INDEX {PROBE}_name ON {PROBE} (name); "
        f"SELECT count(*) FROM {PROBE}",
        user=names["owner"],
    )
    assert res.rc == 0, res.stderr
    assert res.stdout.split() == ["0"]
    yield PROBE
    psql(f"DROP TABLE IF EXISTS {PROBE}", user=names["owner"])


def test_owner_runs_ddl(psql, names, owner_table):
    res = psql(
        "CREATE TABLE ddl_probe (id int); ALTER TABLE ddl_probe RENAME TO ddl_probe2; "
        "DROP TABLE ddl_probe2; SELECT 'ok'",
        user=names["owner"],
    )
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_app_can_crud_including_sequences(psql, names, owner_table):
    res = psql(
        f"INSERT INTO {owner_table} (name) VALUES ('a'), ('b'), ('c') RETURNING id; "
        f"UPDATE {owner_table} SET note = 'x' WHERE name = 'b'; "
        f"DELETE FROM {owner_table} WHERE name = 'a'; "
        f"SELECT string_agg(name || ':' || coalesce(note, '-'), ',' ORDER BY name) FROM {owner_table}; "
        f"SELECT nextval(pg_get_serial_sequence('{owner_table}', 'id')) > 3",
        user=names["app"],
    )
    assert res.rc == 0, res.stderr
    lines = res.stdout.split()
    assert lines[-2] == "b:x,c:-"
    assert lines[-1] == "t"
    assert len(lines[:3]) == 3 and all(line.isdigit() for line in lines[:3])


def test_app_cannot_setval_but_still_inserts(psql, names, owner_table):
    """USAGE and SELECT on sequences, not UPDATE: nextval works (Django's inserts), setval does not
    (the app role cannot move a sequence back under existing ids)."""
    sequence = f"pg_get_serial_sequence('{owner_table}', 'id')"
    for sql in (f"SELECT setval({sequence}, 1)", f"SELECT setval({sequence}, 1, false)"):
        res = psql(sql, user=names["app"])
        assert res.rc != 0, sql
        assert "permission denied for sequence access_probe_id_seq" in res.stderr, res.stderr
    res = psql(
        f"INSERT INTO {owner_table} (name) VALUES ('after setval refused') RETURNING id; "
        f"SELECT currval({sequence}) = max(id) FROM {owner_table}; "
        f"SELECT has_sequence_privilege({sequence}, 'USAGE'), has_sequence_privilege({sequence}, 'SELECT'), "
        f"has_sequence_privilege({sequence}, 'UPDATE')",
        user=names["app"],
    )
    assert res.rc == 0, res.stderr
    new_id, currval_is_max, privileges = res.stdout.split()
    assert int(new_id) > 0 and currval_is_max == "t"
    assert privileges == "t|t|f"


def test_app_cannot_alter_or_drop_the_owners_table(psql, names, owner_table):
    for sql in (f"DROP TABLE {owner_table}", f"ALTER TABLE {owner_table} ADD COLUMN x int",
                f"TRUNCATE {owner_table}"):
        res = psql(sql, user=names["app"])
        assert res.rc != 0, sql
        assert "must be owner" in res.stderr or "permission denied" in res.stderr, res.stderr


def test_app_cannot_create_tables(psql, names):
    res = psql("CREATE TABLE app_made (id int)", user=names["app"])
    assert res.rc != 0
    assert "permission denied for schema public" in res.stderr


def test_app_cannot_create_temporary_tables(psql, names):
    res = psql("CREATE TEMPORARY TABLE app_tmp (id int)", user=names["app"])
    assert res.rc != 0
    assert "permission denied to create temporary tables" in res.stderr


def test_app_cannot_create_roles_or_databases(psql, names):
    res = psql("CREATE ROLE sneaky LOGIN", user=names["app"])
    assert res.rc != 0
    assert "permission denied to create role" in res.stderr
    res = psql("CREATE DATABASE sneaky", user=names["app"])
    assert res.rc != 0
    assert "permission denied to create database" in res.stderr


@pytest.mark.parametrize("other_db", ["postgres", "template1"])
def test_app_cannot_connect_to_other_databases(psql, names, other_db):
    res = psql("SELECT 1", user=names["app"], dbname=other_db)
    assert res.rc != 0
    assert "pg_hba.conf rejects connection" in res.stderr
    assert f'database "{other_db}"' in res.stderr


def test_app_cannot_use_the_unix_socket(target, names):
    # Only the postgres OS user may use the socket (peer); a socket login as the app is rejected.
    res = target.exec(["psql", "-X", "-h", "/var/run/postgresql", "-U", names["app"], "-d", names["db"],
                       "-c", "SELECT 1"], env={"PGCONNECT_TIMEOUT": "5"}, user="postgres")
    assert res.rc != 0
    assert 'pg_hba.conf rejects connection for host "[local]"' in res.stderr


def test_readonly_reads_but_does_not_write(psql, names, owner_table):
    res = psql(f"SELECT count(*) >= 0 FROM {owner_table}", user=names["ro"])
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == "t"
    res = psql(f"INSERT INTO {owner_table} (name) VALUES ('ro')", user=names["ro"])
    assert res.rc != 0
    assert f"permission denied for table {owner_table}" in res.stderr


def test_role_attributes(psql_postgres, names):
    res = psql_postgres(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
        "rolcanlogin, rolconnlimit FROM pg_roles "
        f"WHERE rolname IN ('{names['owner']}', '{names['app']}', '{names['ro']}') ORDER BY rolname"
    )
    assert res.rc == 0, res.stderr
    rows = {row[0]: row[1:] for row in res.rows}
    assert set(rows) == {names["owner"], names["app"], names["ro"]}
    for name, (superuser, createdb, createrole, replication, bypassrls, login, connlimit) in rows.items():
        assert (superuser, createdb, createrole, replication, bypassrls, login) == ("f", "f", "f", "f", "f", "t"), name
        assert int(connlimit) > 0, name
    assert rows[names["app"]][-1] == "50"
    assert rows[names["owner"]][-1] == "10"


def test_passwords_are_stored_as_scram(psql_postgres, names):
    res = psql_postgres(
        "SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\\$4096:' FROM pg_authid "
        f"WHERE rolname IN ('{names['owner']}', '{names['app']}', '{names['ro']}') ORDER BY rolname"
    )
    assert res.rc == 0, res.stderr
    assert sorted(res.rows) == sorted([[n, "t"] for n in (names["owner"], names["app"], names["ro"])])


def test_database_and_schema_ownership_and_public_revoked(psql_postgres, names):
    db = names["db"]
    res = psql_postgres(
        f"SELECT pg_get_userbyid(datdba), "
        f"(SELECT count(*) FROM aclexplode(datacl) WHERE grantee = 0) "
        f"FROM pg_database WHERE datname = '{db}'"
    )
    assert res.rc == 0, res.stderr
    assert res.rows == [[names["owner"], "0"]]
    res = psql_postgres(
        "SELECT pg_get_userbyid(nspowner), "
        "(SELECT count(*) FROM aclexplode(nspacl) WHERE grantee = 0), "
        f"has_schema_privilege('{names['app']}', 'public', 'CREATE'), "
        f"has_schema_privilege('{names['app']}', 'public', 'USAGE'), "
        f"has_database_privilege('{names['app']}', '{db}', 'TEMPORARY') "
        "FROM pg_namespace WHERE nspname = 'public'",
        dbname=db,
    )
    assert res.rc == 0, res.stderr
    assert res.rows == [[names["owner"], "0", "f", "t", "f"]]


def test_default_privileges_for_the_owners_future_objects(psql_postgres, names):
    res = psql_postgres(
        "SELECT pg_get_userbyid(d.defaclrole), d.defaclobjtype, pg_get_userbyid(a.grantee), "
        "string_agg(a.privilege_type, ',' ORDER BY a.privilege_type) "
        "FROM pg_default_acl d CROSS JOIN aclexplode(d.defaclacl) a "
        "GROUP BY 1, 2, 3 ORDER BY 2, 3",
        dbname=names["db"],
    )
    assert res.rc == 0, res.stderr
    owner, app, ro = names["owner"], names["app"], names["ro"]
    assert [owner, "S", app, "SELECT,USAGE"] in res.rows
    assert [owner, "S", ro, "SELECT"] in res.rows
    assert [owner, "r", app, "DELETE,INSERT,SELECT,UPDATE"] in res.rows
    assert [owner, "r", ro, "SELECT"] in res.rows
