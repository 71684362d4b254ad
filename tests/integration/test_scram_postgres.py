"""SCRAM-SHA-256 verifiers against the real PostgreSQL: the verifier the filter computes with
PostgreSQL's salt is byte for byte the one PostgreSQL stored for the same password, and a role
whose password was set as our verifier logs in (scram-sha-256 over TCP) with the plain password,
and not with a wrong one."""

from __future__ import annotations

import secrets

import psycopg2
import pytest

from ansible_collections.pgmigrate.django.plugins.filter.scram_sha256_verifier import scram_sha256_verifier
from ansible_collections.pgmigrate.django.plugins.module_utils import scram

pytestmark = pytest.mark.integration

PASSWORDS = [
    "SntlPlain'\"\\$ %@:/?#+x",  # the Molecule sentinels' kind of ASCII specials
    "caf\u00e9 \u00fcber \u20ac",  # non-ASCII, already NFKC
    "cafe\u0301 \ufb01le a\u00adb c\u00a0d",  # combining accent, ligature, soft hyphen, no-break space
    "x\u0080y",  # prohibited by SASLprep: PostgreSQL falls back to the raw bytes
]


@pytest.fixture
def scram_role(pg_admin):
    name = "pgm_scram_%s" % secrets.token_hex(4)
    yield name
    pg_admin.query("DROP ROLE IF EXISTS %s" % name)


def _stored(pg_admin, role):
    return pg_admin.scalar("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", (role,))


def _login(pg_admin, role, password):
    conn = psycopg2.connect(host=pg_admin.host, port=pg_admin.port, dbname="postgres", user=role,
                            password=password, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("password", PASSWORDS, ids=["ascii-specials", "non-ascii", "saslprep-mapped", "prohibited"])
def test_same_verifier_as_postgresql_and_login_works(pg_admin, scram_role, password):
    conn = pg_admin.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET password_encryption = 'scram-sha-256'")
            cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % scram_role, (password,))
    finally:
        conn.close()
    made_by_postgresql = _stored(pg_admin, scram_role)
    iterations, salt = scram.parse_verifier(made_by_postgresql)
    assert scram.build_verifier(password, salt=salt, iterations=iterations) == made_by_postgresql
    assert scram_sha256_verifier(password, current=made_by_postgresql) == made_by_postgresql

    # Now the role's password is our own verifier (a fresh salt): PostgreSQL stores it as given.
    ours = scram_sha256_verifier(password)
    assert ours != made_by_postgresql
    pg_admin.query("ALTER ROLE %s PASSWORD %%s" % scram_role, (ours,))
    assert _stored(pg_admin, scram_role) == ours
    assert _login(pg_admin, scram_role, password) == scram_role
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        _login(pg_admin, scram_role, password + "x")
