"""awx/project as AWX sees it: the playbooks it offers, and the wrappers run against the built collection.

AWX's playbook discovery is re-implemented here from its source (awx/main/utils/ansible.py,
`skip_directory` and `could_be_playbook`, walked by `Project.playbooks` in
awx/main/models/projects.py): every `.yml`/`.yaml` file under a directory that has no `roles`,
`tasks`, `group_vars` or `host_vars` element and no element starting with a dot, whose lines match
`^\\s*?-?\\s*?(?:hosts|include|import_playbook):` (or that starts with `$ANSIBLE_VAULT;`), sorted
case-insensitively. The directory test runs on the path as AWX has it on disk
(PROJECTS_ROOT/_<id>__<name>/...), so where this checkout lives does not matter.
"""

from __future__ import annotations

import codecs
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT = REPO / "awx" / "project"
AWX_PROJECT_PATH = "/var/lib/awx/projects/_8__pgmigrate"  # where AWX keeps a synced project

VALID_PLAYBOOK_RE = re.compile(r"^\s*?-?\s*?(?:hosts|include|import_playbook):\s*?.*?$")

EXPECTED_PLAYBOOKS = [
    "pgmigrate_backup.yml",
    "pgmigrate_migrate.yml",
    "pgmigrate_preflight.yml",
    "pgmigrate_provision.yml",
    "pgmigrate_rollback.yml",
]
IMPORTED = {
    "pgmigrate_backup.yml": "pgmigrate.django.backup",
    "pgmigrate_migrate.yml": "pgmigrate.django.migrate",
    "pgmigrate_preflight.yml": "pgmigrate.django.migrate",
    "pgmigrate_provision.yml": "pgmigrate.django.provision",
    "pgmigrate_rollback.yml": "pgmigrate.django.rollback",
}


def awx_skip_directory(relative_directory_path):
    path_elements = relative_directory_path.split(posixpath.sep)
    if "roles" in path_elements:
        return True
    if "tasks" in path_elements:
        return True
    for element in path_elements:
        if element.startswith("."):
            return True
    if "group_vars" in path_elements or "host_vars" in path_elements:
        return True
    return False


def awx_could_be_playbook(path):
    if os.path.splitext(path)[-1] not in [".yml", ".yaml"]:
        return False
    try:
        with codecs.open(path, "r", encoding="utf-8", errors="ignore") as handle:
            for number, line in enumerate(handle):
                if VALID_PLAYBOOK_RE.match(line):
                    return True
                if number == 0 and line.startswith("$ANSIBLE_VAULT;"):
                    return True
    except IOError:
        return False
    return False


def awx_playbooks(project_dir):
    """The list AWX offers for a job template of a project whose files are PROJECT_DIR."""
    project_dir = str(project_dir)
    results = []
    # followlinks=settings.AWX_SHOW_PLAYBOOK_LINKS, False by default
    for dirpath, _dirnames, filenames in os.walk(project_dir, followlinks=False):
        relative = os.path.relpath(dirpath, project_dir)
        as_awx_sees_it = posixpath.normpath(posixpath.join(AWX_PROJECT_PATH, relative.replace(os.sep, "/")))
        if awx_skip_directory(as_awx_sees_it):
            continue
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            if awx_could_be_playbook(path):
                results.append(os.path.relpath(path, project_dir).replace(os.sep, "/"))
    return sorted(results, key=lambda name: name.lower())


def test_awx_offers_exactly_the_five_wrappers():
    assert awx_playbooks(PROJECT) == EXPECTED_PLAYBOOKS


def test_helper_files_are_not_offered_but_exist():
    # Task files live under tasks/ (skipped by AWX) and the requirements file matches no playbook line.
    helpers = sorted(str(p.relative_to(PROJECT)) for p in PROJECT.rglob("*.yml") if p.name not in EXPECTED_PLAYBOOKS)
    assert helpers == ["collections/requirements.yml", "tasks/install_ca.yml", "tasks/launch_checks.yml",
                       "tasks/provision_inputs.yml"]
    offered = awx_playbooks(PROJECT)
    assert not set(helpers) & set(offered)


def test_discovery_rules_catch_what_awx_would_hide(tmp_path):
    """The re-implementation is strict: these files are all hidden from AWX's playbook list."""
    (tmp_path / "fqcn_only.yml").write_text("---\n- name: Import\n  ansible.builtin.import_playbook: x.y.z\n")
    (tmp_path / "plain_import.yml").write_text("---\n- import_playbook: x.y.z\n")
    (tmp_path / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    for hidden_dir in ("roles/r", "tasks", ".hidden", "group_vars", "host_vars/h", "sub/tasks"):
        (tmp_path / hidden_dir).mkdir(parents=True)
        (tmp_path / hidden_dir / "play.yml").write_text("- hosts: all\n")
    (tmp_path / "notes.txt").write_text("- hosts: all\n")
    (tmp_path / "site.yaml").write_text("- name: Play\n  hosts: all\n")
    # An FQCN import_playbook alone does not match AWX's pattern: a wrapper needs a hosts: line.
    assert awx_playbooks(tmp_path) == ["plain_import.yml", "site.yaml", "vault.yml"]


def test_pointing_awx_at_the_whole_repository_lists_the_wrappers_under_awx_project():
    offered = awx_playbooks(REPO)
    for name in EXPECTED_PLAYBOOKS:
        assert "awx/project/" + name in offered
    assert not [p for p in offered if p.startswith("awx/project/tasks/") or p.startswith(".")]


@pytest.mark.parametrize("wrapper", EXPECTED_PLAYBOOKS)
def test_every_wrapper_checks_its_launch_first_and_imports_one_collection_playbook(wrapper):
    plays = yaml.safe_load((PROJECT / wrapper).read_text())
    imports = [p["ansible.builtin.import_playbook"] for p in plays if "ansible.builtin.import_playbook" in p]
    assert imports == [IMPORTED[wrapper]]
    first = plays[0]
    assert first["hosts"] == "all" and first["gather_facts"] is False
    assert first["tasks"][0]["ansible.builtin.import_tasks"] == "tasks/launch_checks.yml"
    group = first["vars"]["pgmigrate_launch_group"]
    assert group == ("postgresql" if wrapper in ("pgmigrate_backup.yml", "pgmigrate_provision.yml") else "django")
    # The cut-over wrappers refuse --check; provision and backup roles support it.
    assert first["vars"]["pgmigrate_launch_allow_check"] is (group == "postgresql")


def test_every_play_of_the_wrappers_validates_its_inputs_first():
    for wrapper in EXPECTED_PLAYBOOKS:
        for play in yaml.safe_load((PROJECT / wrapper).read_text()):
            if "ansible.builtin.import_playbook" in play:
                continue
            first = play["tasks"][0]
            if "ansible.builtin.import_tasks" in first:
                tasks = yaml.safe_load((PROJECT / first["ansible.builtin.import_tasks"]).read_text())
                first = tasks[0]
            assert "ansible.builtin.validate_argument_spec" in first, (wrapper, play["name"])
            names = list(first["ansible.builtin.validate_argument_spec"]["argument_spec"])
            assert all(n.startswith(("pgmigrate_", "postgresql_server_")) for n in names), names


def test_preflight_wrapper_forces_preflight_only():
    plays = yaml.safe_load((PROJECT / "pgmigrate_preflight.yml").read_text())
    (imported,) = [p for p in plays if "ansible.builtin.import_playbook" in p]
    # import_playbook vars override the play vars of migrate.yml (pgmigrate_preflight_only: false).
    assert imported["vars"] == {"pgmigrate_preflight_only": True}


def test_no_ansible_cfg_in_the_project():
    # AWX sets the collection path, inventory and stdout callback itself; a project ansible.cfg
    # that set them would be overridden (or, for the collection path, hide the synced collections).
    assert not (PROJECT / "ansible.cfg").exists()


def _galaxy_dependencies():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    return galaxy["version"], galaxy["dependencies"]


def _installed_version(fqcn):
    import json

    namespace, name = fqcn.split(".")
    for entry in sys.path:
        manifest = Path(entry) / "ansible_collections" / namespace / name / "MANIFEST.json"
        if manifest.exists():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    return None


def test_project_requirements_pin_this_collection_and_every_dependency_exactly():
    version, dependencies = _galaxy_dependencies()
    requirements = yaml.safe_load((PROJECT / "collections" / "requirements.yml").read_text())["collections"]
    pins = {entry["name"]: entry["version"] for entry in requirements}
    assert pins.pop("pgmigrate.django") == "==" + version
    assert set(pins) == set(dependencies)
    for fqcn, pin in pins.items():
        assert pin.startswith("=="), (fqcn, pin)
        installed = _installed_version(fqcn)
        # Pinned to what the tests run with (the `ansible` package of requirements-dev.txt) ...
        assert pin[2:] == installed, (fqcn, pin, installed)
        # ... which satisfies the collection's own range.
        minimum = dependencies[fqcn].lstrip(">=")
        assert tuple(int(x) for x in installed.split(".")) >= tuple(int(x) for x in minimum.split("."))


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory):
    """The collection built into a tarball and installed from it (dependencies: the venv's)."""
    work = tmp_path_factory.mktemp("awx-tarball")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work)],
                   cwd=REPO, check=True, capture_output=True)
    (tarball,) = work.glob("pgmigrate-django-*.tar.gz")
    collections = work / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-n", str(tarball),
                    "-p", str(collections)], check=True, capture_output=True)
    installed = collections / "ansible_collections" / "pgmigrate" / "django"
    assert (installed / "MANIFEST.json").exists() and not installed.is_symlink()
    return collections


def _syntax_check(playbook, collections, tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "postgresql": {"hosts": {"db1": None}}, "django": {"hosts": {"app1": None}}}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(inventory), str(playbook)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("wrapper", EXPECTED_PLAYBOOKS)
def test_wrapper_syntax_checks_against_the_collection_from_the_tarball(wrapper, installed_collection, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    proc = _syntax_check(project / wrapper, installed_collection, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "playbook: %s" % (project / wrapper) in proc.stdout


def test_syntax_check_fails_without_the_collection(tmp_path):
    empty = tmp_path / "no-collections"
    empty.mkdir()
    proc = _syntax_check(PROJECT / "pgmigrate_migrate.yml", empty, tmp_path)
    assert proc.returncode != 0
    assert "pgmigrate.django.migrate" in proc.stdout + proc.stderr


def _run_tasks(task_file, tmp_path, extra_vars, group_vars=None, group="django"):
    """Run one task file of awx/project on localhost (in group GROUP) with EXTRA_VARS."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    playbook = project / "under_test.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Under test", "hosts": group, "gather_facts": False,
        "tasks": [{"name": "Tasks", "ansible.builtin.import_tasks": "tasks/" + task_file},
                  {"name": "Show", "ansible.builtin.debug": {
                      "msg": "{{ {'db': postgresql_server_db_name | default('-'), "
                             "'owner': postgresql_server_owner_user | default('-'), "
                             "'port': postgresql_server_port | default('-')} | to_json }}"}}]}]))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {group: {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        "vars": group_vars or {}}}}}))
    vars_file = tmp_path / "extra.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", "@%s" % vars_file],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def test_provision_inputs_hand_the_pgmigrate_names_to_the_role(tmp_path):
    proc = _run_tasks("provision_inputs.yml", tmp_path, {"pgmigrate_db_name": "shop", "pgmigrate_db_owner": "shop_owner",
                                                         "pgmigrate_db_port": 5433}, group="postgresql")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '{\\"db\\": \\"shop\\", \\"owner\\": \\"shop_owner\\", \\"port\\": 5433}' in proc.stdout


def test_provision_inputs_refuse_an_inventory_that_names_another_database(tmp_path):
    proc = _run_tasks("provision_inputs.yml", tmp_path, {"pgmigrate_db_name": "shop"},
                      group_vars={"postgresql_server_db_name": "other", "postgresql_server_port": 5432},
                      group="postgresql")
    assert proc.returncode != 0
    assert "sets postgresql_server_db_name (pgmigrate_db_name) to other values" in proc.stdout
    # The example inventory's way (role variables templated from pgmigrate_*) agrees by construction.
    proc = _run_tasks("provision_inputs.yml", tmp_path / "again", {"pgmigrate_db_name": "shop"},
                      group_vars={"postgresql_server_db_name": "{{ pgmigrate_db_name }}"}, group="postgresql")
    assert proc.returncode == 0, proc.stdout


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


@pytest.mark.parametrize("credential_pem, provisioned_pem, expected", [
    (PEM, PEM.replace("MIIB", "OTHER"), PEM),       # the credential's CA wins
    ("", PEM.replace("MIIB", "OTHER"), PEM.replace("MIIB", "OTHER")),  # else the provision job's
    ("", "", None),                                   # none given: nothing written
], ids=["credential-wins", "provisioned", "none"])
def test_install_ca_writes_the_chosen_certificate(tmp_path, credential_pem, provisioned_pem, expected):
    dest = tmp_path / "ca" / "pgmigrate-ca.crt"
    dest.parent.mkdir()
    proc = _run_tasks("install_ca.yml", tmp_path, {"pgmigrate_db_ca_cert": str(dest),
                                                   "pgmigrate_db_ca_cert_pem": credential_pem,
                                                   "pgmigrate_provisioned_ca_pem": provisioned_pem})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if expected is None:
        assert not dest.exists()
    else:
        assert dest.read_text() == expected + "\n"
        assert oct(dest.stat().st_mode & 0o777) == "0o644"


def test_install_ca_refuses_what_is_not_a_certificate(tmp_path):
    proc = _run_tasks("install_ca.yml", tmp_path, {"pgmigrate_db_ca_cert": str(tmp_path / "ca.crt"),
                                                   "pgmigrate_db_ca_cert_pem": "not a certificate"})
    assert proc.returncode != 0 and "is not a PEM certificate" in proc.stdout
    assert not (tmp_path / "ca.crt").exists()
