"""The collection as users get it: the built tarball, ansible-doc for every module, runtime metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
FORBIDDEN_IN_TARBALL = (".venv", ".venv-sanity", "__pycache__", ".pytest_cache", ".cache", ".git", "tests/output",
                        "build", "db.sqlite3", ".ansible", "benchmarks/results")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    (path,) = out.glob("pgmigrate-django-*.tar.gz")
    return path


def test_tarball_holds_no_venv_cache_or_test_output(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names and "plugins/module_utils/postgres.py" in names
    offending = [n for n in names for bad in FORBIDDEN_IN_TARBALL
                 if n == bad or n.startswith(bad + "/") or ("/" + bad + "/") in ("/" + n + "/")
                 or n.endswith(".pyc")]
    assert offending == []
    assert len(names) < 2000, "the tarball holds %d files: something unexpected was packed" % len(names)


def test_runtime_action_group_holds_exactly_the_connection_modules():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.18.0"
    connecting = {m for m in MODULES if "pgmigrate.django.connection" in
                  (REPO / "plugins" / "modules" / (m + ".py")).read_text()}
    # Group members get the connection defaults: a module without them would fail on them.
    assert connecting == set(runtime["action_groups"]["all"]) & set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_every_module(module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    proc = subprocess.run([str(BIN / "ansible-doc"), "--json", "pgmigrate.django." + module],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["pgmigrate.django." + module]
    assert doc["doc"]["short_description"] and doc["doc"]["options"]
    assert doc["return"], "RETURN is empty"
    examples = yaml.safe_load(doc["examples"])
    assert examples and any("pgmigrate.django." + module in task for task in examples), "no example uses it"
