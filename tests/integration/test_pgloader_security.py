"""How the pgloader module keeps TLS and the password with each engine (issue 17), against the real
PostgreSQL and the real pgloader 3.6.9.

- engine pgloader knows sslmode=require at most (chain only, no host name): ssl_mode verify-full is
  refused before anything is read or changed, naming engine copy, unless allow_chain_only_tls;
- pgloader 3.6.9 cannot log in with a non-ASCII password: refused up front, with the reason;
- pgloader reads the password from a 0600 libpq password file in its private 0700 directory
  (PGPASSFILE), never from PGPASSWORD: its environment, read from /proc while it runs, holds no
  password;
- the old result keys are still returned next to the engine-neutral ones.
"""

from __future__ import annotations

import os
import stat
import threading
import time

import psycopg2
import pytest

from loadhelpers import migrate_target, snapshot

pytestmark = pytest.mark.integration

NON_ASCII_PASSWORD = "Pässwörd-€-%d" % os.getpid()


@pytest.fixture
def demo_target(pg_target, demo_workdir):
    migrate_target(demo_workdir, pg_target)
    return pg_target


def load(ansible, target, source, **options):
    args = dict(target.params, source=str(source))
    args.update(options)
    return ansible.module("pgloader", args)


def test_verify_full_refuses_engine_pgloader_before_anything(ansible, demo_target, demo_source):
    before = snapshot(demo_target)
    # the refusal comes before any connection: the local server needs no TLS for it
    result = load(ansible, demo_target, demo_source, ssl_mode="verify-full", engine="pgloader")
    assert result.failed and result.result["changed"] is False
    message = result.result["msg"]
    assert "ssl_mode verify-full cannot be kept by engine pgloader" in message
    assert "use engine copy" in message.lower() and "allow_chain_only_tls: true" in message
    assert result.result["preflight_seconds"] == 0.0 and result.result["tables"] == []
    assert snapshot(demo_target) == before


def test_allow_chain_only_tls_is_refused_by_engine_copy(ansible, demo_target, demo_source):
    before = snapshot(demo_target)
    result = load(ansible, demo_target, demo_source, engine="copy", allow_chain_only_tls=True)
    assert result.failed and result.result["changed"] is False
    assert "allow_chain_only_tls only apply to another engine than copy" in result.result["msg"]
    for option, value in (("pgloader_path", "/usr/bin/pgloader"), ("prefetch_rows", 500), ("concurrency", 2)):
        refused = load(ansible, demo_target, demo_source, engine="copy", **{option: value})
        assert refused.failed and "%s only apply to another engine" % option in refused.result["msg"]
    assert snapshot(demo_target) == before


def test_non_ascii_password_refused_for_pgloader_and_loads_with_copy(ansible, demo_target, demo_source):
    before = snapshot(demo_target)
    demo_target.query("ALTER ROLE CURRENT_USER PASSWORD '%s'" % NON_ASCII_PASSWORD)
    params = dict(demo_target.params, login_password=NON_ASCII_PASSWORD)
    try:
        refused = ansible.module("pgloader", dict(params, source=str(demo_source), engine="pgloader"))
        # the password itself is good: the copy engine (libpq) logs in with it
        checked = ansible.module("pgloader", dict(params, source=str(demo_source), engine="copy",
                                                  include_tables=["inventory_tag"]), check=True)
    finally:
        conn = psycopg2.connect(host=demo_target.host, port=demo_target.port, user=demo_target.user,
                                password=NON_ASCII_PASSWORD, dbname=demo_target.dbname)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ALTER ROLE CURRENT_USER PASSWORD %s", (demo_target.password,))
        conn.close()
    assert refused.failed and refused.result["changed"] is False
    assert "non-ASCII" in refused.result["msg"] and "pgloader 3.6.9 cannot log in" in refused.result["msg"]
    assert NON_ASCII_PASSWORD not in refused.output
    assert checked.rc == 0 and not checked.failed, checked.output[-3000:]
    assert NON_ASCII_PASSWORD not in checked.output
    assert snapshot(demo_target) == before


def _pgloader_environ(stop, seen):
    """While the load runs: the environment and password file of every pgloader process."""
    while not stop.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as handle:
                    cmdline = handle.read()
                if b"pgloader" not in cmdline or b"migrate.load" not in cmdline:
                    continue
                with open("/proc/%s/environ" % pid, "rb") as handle:
                    environ = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
                passfile = environ.get(b"PGPASSFILE", b"").decode()
                info = os.stat(passfile) if passfile else None
                seen.append({"environ": environ, "passfile": passfile, "mode": info and stat.S_IMODE(info.st_mode),
                             "dir_mode": passfile and stat.S_IMODE(os.stat(os.path.dirname(passfile)).st_mode)})
            except OSError:
                continue
        time.sleep(0.05)


def test_pgloader_reads_the_password_from_a_private_file(ansible, demo_target, demo_source):
    stop, seen, outcome = threading.Event(), [], {}
    watcher = threading.Thread(target=_pgloader_environ, args=(stop, seen))
    watcher.start()
    try:
        outcome["result"] = load(ansible, demo_target, demo_source, engine="pgloader")
    finally:
        stop.set()
        watcher.join()
    result = outcome["result"]
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    assert seen, "no look at /proc caught pgloader running"
    password = demo_target.password.encode()
    for look in seen:
        assert b"PGPASSWORD" not in look["environ"]
        assert all(password not in value for value in look["environ"].values())
        assert look["passfile"] and look["mode"] == 0o600 and look["dir_mode"] == 0o700
    # the private directory, and the password file in it, are gone
    assert not os.path.exists(seen[0]["passfile"])


def test_old_result_keys_are_still_returned(ansible, demo_target, demo_source):
    result = load(ansible, demo_target, demo_source, engine="copy", include_tables=["inventory_tag"])
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    res = result.result
    assert res["engine"] == "copy" and res["engine_version"] is None and res["engine_errors"] == []
    assert res["pgloader_version"] == res["engine_version"]
    assert res["pgloader_errors"] == res["engine_errors"]
    assert res["load_file"] == res["plan"] and res["plan"].startswith('TRUNCATE "public"."inventory_tag"')
