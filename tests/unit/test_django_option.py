"""The option django and its policies: one spec, one doc fragment, the same in every module."""

from __future__ import annotations

import importlib

import pytest
import yaml

from ansible_collections.pgmigrate.django.plugins.doc_fragments.django_settings import ModuleDocFragment
from ansible_collections.pgmigrate.django.plugins.module_utils import django_values, pgloader_loadfile

FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
POLICIES = yaml.safe_load(ModuleDocFragment.POLICIES)["options"]


def test_spec_matches_the_fragment():
    spec = django_values.argument_spec()
    documented = dict(FRAGMENT, **POLICIES)
    assert set(spec) == set(documented)
    for name, option in documented.items():
        assert spec[name]["type"] == option["type"]
        assert spec[name].get("default") == option.get("default")
        assert spec[name].get("choices") == option.get("choices")
    assert set(django_values.argument_spec(policies=False)) == {"django"}


@pytest.mark.parametrize("module, policies", [("pgloader", True), ("preflight", True), ("consistency_check", True),
                                              ("reset_sequences", False)])
def test_every_module_takes_and_documents_the_option(module, policies):
    code = importlib.import_module("ansible_collections.pgmigrate.django.plugins.modules." + module)
    doc = yaml.safe_load(code.DOCUMENTATION)
    fragments = doc["extends_documentation_fragment"]
    assert "pgmigrate.django.django_settings" in fragments
    assert ("pgmigrate.django.django_settings.policies" in fragments) is policies
    assert "django" in yaml.safe_load(code.RETURN)


def test_load_file_session_time_zone():
    text = pgloader_loadfile.build_load_file("/srv/db.sqlite3", "postgresql://u@h:5432/d", [], time_zone="Asia/Kolkata")
    assert "timezone TO 'Asia/Kolkata'" in text and "'UTC'" not in text
    assert "timezone TO 'UTC'" in pgloader_loadfile.build_load_file("/srv/db.sqlite3", "postgresql://u@h:5432/d", [])


def test_session_time_zone_and_summary():
    params = django_values.with_option({"django": None})
    assert params["session_time_zone"] == "UTC" and django_values.summary(params) == {}
    params = django_values.with_option({"django": {"settings": {"use_tz": False, "time_zone": "Asia/Kolkata"}}})
    assert params["session_time_zone"] == "Asia/Kolkata"
    assert django_values.summary(params) == {"use_tz": False, "time_zone": "Asia/Kolkata",
                                             "session_time_zone": "Asia/Kolkata"}
