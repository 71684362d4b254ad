"""Unit tests of the loader interface and the shared conventions: table selection, engine options,
pgloader's password file, the doc fragments against the modules' argument specs."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest
import yaml

from ansible_collections.pgmigrate.django.plugins.doc_fragments import sqlite_source as source_fragment
from ansible_collections.pgmigrate.django.plugins.doc_fragments import table_selection as selection_fragment
from ansible_collections.pgmigrate.django.plugins.module_utils import (
    copy_engine, load_plan, pgloader_engine, pgloader_runner, table_selection,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"
ENGINES = {"pgloader": pgloader_engine, "copy": copy_engine}


def test_selection_is_exact_and_names_what_exists():
    known = ["Album", "inventory_item", "django_migrations"]
    assert table_selection.resolve("include_tables", ["Album"], known, "schema public") == ["Album"]
    assert table_selection.resolve("exclude_tables", ["django_migrations", "absent"], ["Album"], "x",
                                   tolerated=("absent", "django_migrations")) == []
    with pytest.raises(ModuleError, match=r"unknown table\(s\) in include_tables: album, nope\. Names are exact "
                                          r"\(case included\); schema public has: Album, django_migrations, "
                                          r"inventory_item"):
        table_selection.resolve("include_tables", ["album", "nope"], known, "schema public")
    pairs = [("Album", "album"), ("Track", "track"), ("Genre", "genre")]
    assert table_selection.select(pairs, ["album", "Track"], ["Track"]) == [("Album", "album")]
    assert table_selection.select(pairs, [], ["genre"]) == pairs[:2]


@pytest.mark.parametrize("engine, option, value", [
    ("copy", "concurrency", 2), ("copy", "prefetch_rows", 100), ("copy", "pgloader_path", "/usr/bin/pgloader"),
    ("copy", "allow_chain_only_tls", True), ("copy", "casts", ["column a.b to bigint"]),
])
def test_options_of_the_other_engine_are_refused(engine, option, value):
    params = {"engine": engine, "concurrency": None, "prefetch_rows": None, "pgloader_path": None,
              "allow_chain_only_tls": False, "casts": [], option: value}
    with pytest.raises(ModuleError, match="%s only apply to another engine than %s" % (option, engine)):
        load_plan.refuse_other_engines_options(params, ENGINES)
    params[option] = {"concurrency": None, "prefetch_rows": None, "pgloader_path": None,
                      "allow_chain_only_tls": False, "casts": []}[option]
    load_plan.refuse_other_engines_options(params, ENGINES)


@pytest.mark.parametrize("params, message", [
    ({"ssl_mode": "verify-full"}, "ssl_mode verify-full cannot be kept by engine pgloader"),
    ({"login_password": "caf\u00e9"}, "non-ASCII"),
    ({"login_password": "two\nlines"}, "line break"),
])
def test_pgloader_engine_refuses_up_front(params, message):
    with pytest.raises(ModuleError, match=message):
        pgloader_engine.check_options(params)


def test_chain_only_tls_is_an_explicit_choice():
    pgloader_engine.check_options({"ssl_mode": "verify-full", "allow_chain_only_tls": True})
    pgloader_engine.check_options({"ssl_mode": "require"})


def test_password_file_is_private_and_escaped():
    workdir = pgloader_runner.private_workdir()
    try:
        env = pgloader_engine.environment({"login_password": r"a:b\c*d", "login_user": "owner", "login_db": "app",
                                           "login_host": "db.example", "ssl_mode": "require"}, workdir)
        assert "PGPASSWORD" not in env and r"a:b\c*d" not in "".join(env.values())
        path = env["PGPASSFILE"]
        assert os.path.dirname(path) == workdir
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
        assert Path(path).read_text() == "*:*:*:*:a\\:b\\\\c*d\n"
    finally:
        pgloader_runner.remove_workdir(workdir)


def _argument_spec(module):
    """The spec a module builds, read from its source (argument_spec() or main()'s update())."""
    namespace = {}
    source = (MODULES / ("%s.py" % module)).read_text()
    exec(compile(ast.parse(source), module, "exec"), namespace)  # pylint: disable=exec-used
    if "argument_spec" in namespace:
        return namespace["argument_spec"]()
    return None


@pytest.mark.parametrize("module", ["pgloader", "preflight", "consistency_check"])
def test_shared_fragments_match_the_specs(module):
    spec = _argument_spec(module)
    documented = dict(yaml.safe_load(source_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    documented.update(yaml.safe_load(selection_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    for name, doc in documented.items():
        assert spec[name]["type"] == doc["type"], (module, name)
        assert spec[name].get("default") == doc.get("default"), (module, name)
        assert bool(spec[name].get("required")) == bool(doc.get("required")), (module, name)
