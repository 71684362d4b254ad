"""The execution environment: the collection's meta/execution-environment.yml (shipped in the
tarball, read by ansible-builder's introspection) and the reference ansible-builder v3 definition,
for which `ansible-builder create` writes a complete build context (no image is built)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EE_DIR = REPO / "awx" / "execution-environment"
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("ee-dist")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    (path,) = out.glob("pgmigrate-django-*.tar.gz")
    assert path.name == "pgmigrate-django-%s.tar.gz" % VERSION
    return path


def test_meta_execution_environment_names_files_that_ship_in_the_tarball(tarball):
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    deps = meta["dependencies"]
    assert set(deps) == {"python", "system"}
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for path in ["meta/execution-environment.yml", deps["python"], deps["system"]]:
        assert path in names, path
        assert (REPO / path).is_file()


def test_introspection_of_the_installed_collection_finds_psycopg2_and_the_postgresql_client(tarball, tmp_path):
    collections = tmp_path / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-n", str(tarball),
                    "-p", str(collections)], check=True, capture_output=True, env=_env(tmp_path))
    proc = subprocess.run([str(BIN / "ansible-builder"), "introspect", "--sanitize", str(collections)],
                          capture_output=True, text=True, check=True, env=_env(tmp_path))
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    python = [line.split("#")[0].strip() for line in data["python"]]
    system = [line.split("#")[0].strip() for line in data["system"]]
    assert any(re.match(r"psycopg2(-binary)?\b", req) for req in python), python
    # Debian/Ubuntu images: postgresql-client; RHEL-family images (the AWX EE bases): postgresql is the client.
    assert "postgresql-client [platform:dpkg]" in system
    assert "postgresql [platform:rpm]" in system
    assert all("from collection pgmigrate.django" in line for line in data["python"] + data["system"])


def test_reference_definition_pins_what_the_tests_run_with():
    definition = yaml.safe_load((EE_DIR / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    dev = (REPO / "requirements-dev.txt").read_text()
    for key in ("ansible_core", "ansible_runner"):
        pin = definition["dependencies"][key]["package_pip"]
        assert re.search(r"^%s$" % re.escape(pin), dev, re.M), pin
    galaxy = yaml.safe_load((EE_DIR / definition["dependencies"]["galaxy"]).read_text())["collections"]
    assert galaxy[0] == {"name": "/build/collections/pgmigrate-django-%s.tar.gz" % VERSION, "type": "file"}
    # The same dependency pins as the AWX project's requirements.
    project = yaml.safe_load((REPO / "awx" / "project" / "collections" / "requirements.yml").read_text())
    assert galaxy[1:] == [c for c in project["collections"] if c["name"] != "pgmigrate.django"]


def test_ansible_builder_create_writes_a_complete_build_context(tarball, tmp_path):
    # The definition's layout (awx/execution-environment + build/dist) in a scratch copy.
    root = tmp_path / "checkout"
    shutil.copytree(EE_DIR, root / "awx" / "execution-environment")
    (root / "build" / "dist").mkdir(parents=True)
    shutil.copy(tarball, root / "build" / "dist")
    context = tmp_path / "context"
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f",
                           str(root / "awx" / "execution-environment" / "execution-environment.yml"),
                           "-c", str(context), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, env=_env(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No matches" not in proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    copied = context / "_build" / "collections" / tarball.name
    assert copied.read_bytes() == tarball.read_bytes()
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"][0]["name"] == \
        "/build/collections/" + tarball.name
    assert "COPY _build /build" in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert "ansible-core==" in containerfile and "ansible-runner==" in containerfile


def test_ansible_builder_create_fails_on_a_broken_definition(tmp_path):
    broken = tmp_path / "execution-environment.yml"
    broken.write_text("version: 3\ndependencies:\n  galaxy: requirements.yml\n  no_such_key: 1\n")
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(broken), "-c", str(tmp_path / "c")],
                          capture_output=True, text=True, env=_env(tmp_path), check=False)
    assert proc.returncode != 0
