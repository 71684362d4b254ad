"""The AWX wrappers run the way AWX runs them: ansible-runner, a private data directory, the
synced project copied into it, the collection installed from the built tarball (as project sync
installs collections/requirements.yml), the job's extra vars in env/extravars and the credential's
in a separate `-e @file` (both written as AWX's safe_dump writes them: every string `!unsafe`),
the stdout callback and collection path set by the runner, and standard input closed.

The preflight runs against the local demo: the demo app, its .env and its SQLite file as
inventories/local renders them (examples/demo_prepare.yml makes them when missing, as `make demo`
does). The target is a database and owner role of this test, and the backups/lock directory is
private too: the demo's own database may already hold a finished migration, or a `make demo` may
be using it right now, and a preflight leaves its target as found by emptying it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT = REPO / "awx" / "project"
CONTROLLER = REPO / "awx" / "controller"
LOCAL_INVENTORY = REPO / "inventories" / "local" / "hosts.yml"
DEMO_ROOT = REPO / ".cache" / "demo"

# What AWX adds to every job's extra vars (awx/main/models/jobs.py awx_meta_vars), tower_* twins included.
AWX_META_VARS = {
    "awx_job_id": 4242, "tower_job_id": 4242, "awx_job_launch_type": "manual", "tower_job_launch_type": "manual",
    "awx_job_template_id": 7, "tower_job_template_id": 7, "awx_job_template_name": "pgmigrate: preflight",
    "tower_job_template_name": "pgmigrate: preflight", "awx_project_revision": "0" * 40,
    "awx_user_name": "admin", "tower_user_name": "admin", "awx_inventory_name": "pgmigrate demo",
    "awx_execution_node": "localhost", "awx_host": "https://awx.example.com",
}


class Unsafe(str):
    pass


class AwxDumper(yaml.SafeDumper):
    """awx.main.utils.safe_yaml.safe_dump: every string goes out tagged !unsafe."""


AwxDumper.add_representer(Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data)))


def awx_safe_dump(data):
    def mark(value):
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, str):
            return Unsafe(value)
        return value

    return yaml.dump(mark(data), Dumper=AwxDumper, default_flow_style=False)


def private_file(path, text):
    path.write_text(text)
    path.chmod(0o600)
    return path


def clean_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "DJANGO_", "DATABASE_URL"))}
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
               PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    return env


@pytest.fixture(scope="module")
def synced_collections(tmp_path_factory):
    """What a project sync leaves for the job: the collection installed from its tarball."""
    work = tmp_path_factory.mktemp("awx-sync")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work)],
                   cwd=REPO, check=True, capture_output=True)
    (tarball,) = work.glob("pgmigrate-django-*.tar.gz")
    target = work / "requirements_collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-n", str(tarball),
                    "-p", str(target)], check=True, capture_output=True, env=clean_env(work))
    return target


def demo_app_pid():
    """The pid of the local demo's gunicorn master, or None when it does not run."""
    try:
        pid = int((DEMO_ROOT / "run" / "gunicorn.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def stop_demo_app(pid):
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and demo_app_pid() == pid:
        time.sleep(0.2)


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory):
    """The pgmigrate_* values of inventories/local, rendered (passwords read from .cache/demo/secrets).

    The demo app this starts (the first half of `make demo`) is stopped again afterwards; one that
    already ran (a `make demo` of the user's) is left running.
    """
    running_before = demo_app_pid()
    yield from _local_demo(tmp_path_factory)
    started = demo_app_pid()
    if started is not None and running_before is None:
        stop_demo_app(started)


def _local_demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("awx-demo")
    env = clean_env(work)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "build" / "collections")
    if not (DEMO_ROOT / "app" / "manage.py").exists() or not (DEMO_ROOT / "data" / "db.sqlite3").exists():
        # The first half of `make demo`.
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(LOCAL_INVENTORY),
                               str(REPO / "examples" / "demo_prepare.yml")], cwd=str(REPO), env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    out = work / "demo-vars.json"
    playbook = work / "render.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Render the demo's pgmigrate_* variables", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Write them", "no_log": True, "ansible.builtin.copy": {
            "dest": str(out), "mode": "0600",
            "content": "{{ hostvars[inventory_hostname] | dict2items | selectattr('key', 'match', '^pgmigrate_')"
                       " | items2dict | to_json }}"}}]}]))
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(LOCAL_INVENTORY), str(playbook)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    values = json.loads(out.read_text())
    assert values["pgmigrate_db_owner_password"] == (DEMO_ROOT / "secrets" / "owner").read_text().split()[0]
    assert values["pgmigrate_db_app_password"] == (DEMO_ROOT / "secrets" / "app").read_text().split()[0]
    yield values


def survey_spec(name):
    return json.loads((CONTROLLER / "surveys" / name).read_text())["spec"]


def job_template(name):
    templates = yaml.safe_load((CONTROLLER / "job_templates.yml").read_text())["pgmigrate_controller_job_templates"]
    (found,) = [t for t in templates if t["name"] == name]
    return found


def awx_job_extra_vars(template_name, answers):
    """JT extra_vars, then the survey's defaults, then the answers (what AWX writes to env/extravars)."""
    template = job_template(template_name)
    extra_vars = dict(template.get("extra_vars") or {})
    asked = set()
    for element in survey_spec(template["survey"]):
        asked.add(element["variable"])
        if "default" in element:
            extra_vars[element["variable"]] = element["default"]
    extra_vars.update({k: v for k, v in answers.items() if k in asked})
    extra_vars.update(AWX_META_VARS, awx_job_template_name=template_name, tower_job_template_name=template_name)
    return extra_vars


def credential_extra_vars(inputs):
    """The credential type's extra_vars injector, rendered as AWX renders it (unset inputs are empty)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    injectors = json.loads((CONTROLLER / "credential_type.json").read_text())["injectors"]["extra_vars"]
    namespace = {k: v for k, v in inputs.items() if v}
    return {k: ImmutableSandboxedEnvironment().from_string(t).render(**namespace) for k, t in injectors.items()}


class PrivateDataDir(object):
    """An AWX job's private data directory for ansible-runner."""

    def __init__(self, root, collections, inventory, extra_vars, credential_vars, cmdline=""):
        self.root = root
        shutil.copytree(PROJECT, root / "project")
        (root / "inventory").mkdir()
        (root / "env").mkdir()
        (root / "inventory" / "hosts").write_text(yaml.safe_dump(inventory))
        private_file(root / "env" / "extravars", awx_safe_dump(extra_vars))
        credential_file = private_file(root / "env" / "tmp_credential", awx_safe_dump(credential_vars))
        private_file(root / "env" / "cmdline", ("-e @%s %s" % (credential_file, cmdline)).strip())
        private_file(root / "env" / "envvars", json.dumps({
            # AWX's collection path: the project sync's install, then the image's (here the venv's).
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_HOME": str(root / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(root / "ansible-local"),
            "ANSIBLE_FORCE_COLOR": "False",
        }))

    def run(self, playbook, ident, env, timeout=900):
        proc = subprocess.run([str(BIN / "ansible-runner"), "run", str(self.root), "-p", playbook, "--ident", ident],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)
        self.artifacts = self.root / "artifacts" / ident
        return proc

    def events(self):
        return [json.loads(p.read_text()) for p in sorted((self.artifacts / "job_events").glob("*.json"),
                                                          key=lambda p: int(p.name.split("-")[0]))]

    def stats(self):
        (stats,) = [e for e in self.events() if e["event"] == "playbook_on_stats"]
        return stats["event_data"]


def sqlite_tables(path):
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not name.startswith("sqlite_")}
    finally:
        conn.close()


@pytest.fixture
def demo_target(pg_admin):
    """A database and owner role for this test, made like the demo's (and the provision role's)."""
    suffix = secrets.token_hex(4)
    owner, app, dbname = "pgm_awx_owner_" + suffix, "pgm_awx_app_" + suffix, "pgm_awx_" + suffix
    owner_password, app_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    for role, password in ((owner, owner_password), (app, app_password)):
        pg_admin.query("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %%s" % role, (password,))
    pg_admin.query("CREATE DATABASE %s OWNER %s" % (dbname, owner))
    target = type(pg_admin)(dbname=dbname, user=owner, password=owner_password)
    target.extra = {"app_user": app, "app_password": app_password}
    yield target
    pg_admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
    pg_admin.query("DROP DATABASE IF EXISTS %s" % dbname)
    for role in (owner, app):
        pg_admin.query("DROP ROLE IF EXISTS %s" % role)


def demo_inventory(local_demo, extra_hosts=()):
    """The AWX inventory: localhost in both groups, the demo's non-survey settings as group vars."""
    asked = {e["variable"] for e in survey_spec("migrate.json")}
    group_vars = {k: v for k, v in local_demo.items() if k not in asked and "password" not in k}
    hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
    for name in extra_hosts:
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    return {"all": {"children": {
        "postgresql": {"hosts": {"localhost": None}},
        "django": {"hosts": hosts, "vars": group_vars}}}}


def test_preflight_wrapper_under_ansible_runner_publishes_set_stats(
        local_demo, demo_target, synced_collections, tmp_path):
    backup_dir = tmp_path / "backups"
    answers = dict(local_demo)
    answers.update(pgmigrate_db_host=demo_target.host, pgmigrate_db_port=demo_target.port,
                   pgmigrate_db_name=demo_target.dbname, pgmigrate_db_owner=demo_target.user,
                   pgmigrate_db_app_user=demo_target.extra["app_user"], pgmigrate_backup_dir=str(backup_dir),
                   # No CA here: the local cluster's TLS is whatever it is (the demo says prefer).
                   pgmigrate_db_ca_cert=str(tmp_path / "no-ca.crt"))
    extra_vars = awx_job_extra_vars("pgmigrate: preflight", answers)
    assert extra_vars["pgmigrate_preflight_only"] is True and extra_vars["pgmigrate_db_ssl_mode"] == "prefer"
    credential = credential_extra_vars({"owner_password": demo_target.password,
                                        "app_password": demo_target.extra["app_password"]})
    pdd = PrivateDataDir(tmp_path / "job", synced_collections, demo_inventory(local_demo), extra_vars, credential)

    proc = pdd.run("pgmigrate_preflight.yml", "preflight", clean_env(tmp_path))

    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert (pdd.artifacts / "rc").read_text().strip() == "0"
    assert (pdd.artifacts / "status").read_text().strip() == "successful"
    # The preflight's set_stats data is in the job's artifacts (what AWX shows and hands on).
    artifact = pdd.stats()["artifact_data"]
    assert set(artifact) == {"pgmigrate_preflight"}
    result = artifact["pgmigrate_preflight"]["localhost"]
    assert result["problem_count"] == 0 and result["problems"] == []
    checked = {t["name"] for t in result["tables"]}
    source = sqlite_tables(local_demo["pgmigrate_sqlite_path"])
    assert checked and checked <= source and "django_migrations" not in checked
    assert result["rows"] == sum(t["source_rows"] for t in result["tables"]) > 0
    # Preflight only: nothing was cut over, the target is as found, the lock released.
    assert not (backup_dir / "migrated.json").exists() and not (backup_dir / "migrate.lock").exists()
    assert demo_target.scalar("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'") == 0
    # The collection ran from the synced install, not from the repository.
    task_paths = {e["event_data"].get("task_path", "") for e in pdd.events()}
    assert any(p.startswith(str(synced_collections / "ansible_collections" / "pgmigrate" / "django" / "roles" / "migrate"))
               for p in task_paths), sorted(task_paths)[:5]
    # Secrets: the job's output and events never show the passwords (survey values are not masked there).
    everything = (pdd.artifacts / "stdout").read_text() + json.dumps(pdd.events())
    assert demo_target.password not in everything
    assert demo_target.extra["app_password"] not in everything
    assert "pgmigrate_preflight" in everything


def test_limited_run_is_refused_before_anything_runs(local_demo, synced_collections, tmp_path):
    inventory = demo_inventory(local_demo, extra_hosts=("app2.example.com",))
    extra_vars = awx_job_extra_vars("pgmigrate: migrate", dict(local_demo, pgmigrate_backup_dir=str(tmp_path / "b")))
    pdd = PrivateDataDir(tmp_path / "job", synced_collections, inventory, extra_vars,
                         credential_extra_vars({"owner_password": "x", "app_password": "y"}), cmdline="--limit localhost")
    proc = pdd.run("pgmigrate_migrate.yml", "limited", clean_env(tmp_path), timeout=300)
    assert proc.returncode != 0
    stdout = (pdd.artifacts / "stdout").read_text()
    assert "leaves out app2.example.com of the group django" in stdout
    assert "Clear the job's limit" in stdout
    # Refused in the first play: migrate.yml never started.
    started = [e["event_data"].get("task") for e in pdd.events() if e["event"] == "playbook_on_task_start"]
    assert "Validate the inputs" not in started and not (tmp_path / "b").exists()


def test_check_job_type_is_refused_for_the_cut_over(local_demo, synced_collections, tmp_path):
    extra_vars = awx_job_extra_vars("pgmigrate: migrate", dict(local_demo, pgmigrate_backup_dir=str(tmp_path / "b")))
    pdd = PrivateDataDir(tmp_path / "job", synced_collections, demo_inventory(local_demo), extra_vars,
                         credential_extra_vars({"owner_password": "x", "app_password": "y"}), cmdline="--check")
    proc = pdd.run("pgmigrate_migrate.yml", "check", clean_env(tmp_path), timeout=300)
    assert proc.returncode != 0
    stdout = (pdd.artifacts / "stdout").read_text()
    assert "job type is Check" in stdout and "pgmigrate_preflight_only=true" in stdout
    assert not (tmp_path / "b").exists()
