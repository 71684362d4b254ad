"""The demo site of tests/demo_site.py driven by pytest: migrate.yml and rollback.yml run with the
demo's inventory, the target database checked as the superuser. Shared by the migrate tests.

The passwords are sentinels that must never show in the -vvv --diff output.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo_site import REPO, DemoSite, health  # noqa: E402  pylint: disable=wrong-import-position

ROWS = 2000


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class MigrateSite(DemoSite):
    """A DemoSite with ansible-playbook runs and superuser access to its target database."""

    def __init__(self, root, pg_admin, ansible):
        tag = secrets.token_hex(4)
        # ASCII specials only: pgloader cannot log in with a non-ASCII password.
        super().__init__(root, self._admin_sql, prefix="pgm_site_",
                         owner_password="SntlSiteOwner%s'\"\\$ %%@:/?#+" % tag,
                         app_password="SntlSiteApp%s'\"\\$ %%@:/?#+" % tag)
        self.admin = pg_admin
        self.ansible = ansible

    def _admin_sql(self, statement, dbname=None):
        conn = psycopg2.connect(host=self.admin.host, port=self.admin.port, dbname=dbname or "postgres",
                                user=self.admin.user, password=self.admin.password)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def argv(self, playbook, *extra):
        return [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks" / playbook),
                "-i", str(self.root / "hosts.yml"), "-e", "@%s" % (self.root / "secrets.yml"), *extra]

    def run(self, playbook, *extra):
        result = self.ansible.playbook(REPO / "playbooks" / playbook,
                                       ["-e", "@%s" % (self.root / "secrets.yml"), *extra],
                                       inventory=str(self.root / "hosts.yml"), diff=True, verbosity=3,
                                       callback="ansible.builtin.default")
        # The whole output, for whoever reads a failure (pytest shows only its end).
        (self.root / ("%s-%s.out" % (playbook, secrets.token_hex(3)))).write_text(result.output)
        return result

    def start_run(self, playbook, *extra):
        """ansible-playbook in a process group of its own (to kill it like a dying controller)."""
        log = open(self.root / ("%s-%s.log" % (playbook, secrets.token_hex(3))), "w", encoding="utf-8")  # noqa: SIM115  pylint: disable=consider-using-with
        env = self.ansible.env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
        proc = subprocess.Popen(self.argv(playbook, *extra), cwd=str(self.ansible.workdir), env=env,  # pylint: disable=consider-using-with
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        return proc

    def in_target_as_admin(self, statement, args=None):
        conn = psycopg2.connect(host=self.admin.host, port=self.admin.port, dbname=self.db, user=self.admin.user,
                                password=self.admin.password)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def revoke_owner_writes_once_created(self, table="inventory_tag"):
        """A real load fault: once Django has created `table`, its owner may no longer write to it."""
        self.in_target_as_admin("""
            CREATE FUNCTION public.pgm_fault_revoke() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                         WHERE command_tag = 'CREATE TABLE' AND object_identity = 'public.%s') THEN
                EXECUTE format('REVOKE INSERT, TRUNCATE ON public.%s FROM %%I', '%s');
              END IF;
            END $$;
            CREATE EVENT TRIGGER pgm_fault_revoke ON ddl_command_end EXECUTE FUNCTION public.pgm_fault_revoke();
        """ % (table, table, self.owner))

    def drop_revoke_fault(self):
        self.in_target_as_admin("DROP EVENT TRIGGER pgm_fault_revoke; DROP FUNCTION public.pgm_fault_revoke()")

    def target_tables(self):
        return self.in_target_as_admin(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'")[0][0]

    def journals(self):
        """{run id: journal} of every run of this site."""
        runs = self.backup_dir / "runs"
        found = {}
        for state in sorted(runs.glob("*/state.json")) if runs.exists() else []:
            try:
                found[state.parent.name] = json.loads(state.read_text())
            except ValueError:  # being replaced right now
                continue
        return found

    def wait_for_state(self, states, proc=None, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run_id, journal in self.journals().items():
                if journal.get("state") in states:
                    return run_id
            if proc is not None and proc.poll() is not None:
                raise AssertionError("the run ended (rc %s) before reaching %s:\n%s"
                                     % (proc.returncode, states, Path(proc.log_path).read_text()[-3000:]))
            time.sleep(0.05)
        raise AssertionError("no run reached %s within %ss" % (states, timeout))

    def post_items(self, count, prefix="written between attempts"):
        import urllib.request

        ids = []
        for number in range(count):
            body = json.dumps({"name": "%s %d" % (prefix, number), "category": 1, "price": "1.50",
                               "attributes": {"n": number}}).encode()
            request = urllib.request.Request(self.url.replace("/healthz", "/api/items/"), data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                ids.append(json.loads(answer.read())["id"])
        return ids


def kill_group(proc):
    """SIGKILL ansible-playbook and every process of its group, as when the controller dies."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture
def site(tmp_path, pg_admin, ansible):
    demo = MigrateSite(tmp_path, pg_admin, ansible)
    demo.provision()
    demo.install_app(rows=ROWS)
    demo.write_inventory(extra_vars={"pgmigrate_app_health_retries": 5, "pgmigrate_app_health_delay": 1})
    demo.start_app()
    demo.before = {"sqlite": sha256(demo.sqlite), "env": demo.env_file.read_bytes()}
    yield demo
    demo.stop_app()
    for journal in demo.journals().values():  # a watcher left by a failed test
        pid_file = demo.backup_dir / "runs" / journal.get("run_id", "-") / "deadman.pid"
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text())
                if "deadman.py" in Path("/proc/%d/cmdline" % pid).read_text():
                    os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                pass
    demo.drop()


def assert_no_secret(site, run):
    output = run.output if hasattr(run, "output") else run
    for password in (site.owner_password, site.app_password):
        assert password not in output
        assert password.split("'")[0] not in output, "the sentinel marker leaked"


__all__ = ["ROWS", "MigrateSite", "assert_no_secret", "health", "kill_group", "sha256", "site"]
