"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml.

- every public variable in defaults is documented, and every documented option with a default
  has the same default in defaults/main.yml (templated defaults compared as written);
- required options (passwords) have no default anywhere; secrets are no_log;
- names carry the role prefix; literal defaults pass the spec's own type/choices validation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
# Every role is held to this rule.
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "meta" / "argument_specs.yml").is_file())
# roles/migrate keeps the collection's public pgmigrate_* names (inventories, AWX surveys).
PREFIX = {"migrate": "pgmigrate"}


def _load(role: str) -> tuple[dict, dict]:
    defaults = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"]["options"]


def _templated(value) -> bool:
    return isinstance(value, str) and "{{" in value


def test_roles_have_specs():
    for role in ROLES:
        assert (ROLES_DIR / role / "meta" / "argument_specs.yml").is_file(), role


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_spec_agree(role):
    defaults, options = _load(role)
    undocumented = sorted(set(defaults) - set(options))
    assert not undocumented, f"{role}: defaults without a spec entry: {undocumented}"
    for name, option in options.items():
        assert name.startswith(PREFIX.get(role, role) + "_"), name
        assert option.get("description"), f"{name} has no description"
        if option.get("required"):
            assert name not in defaults, f"{name} is required but has a default"
            assert "default" not in option, name
        elif "default" in option:
            assert name in defaults, f"{name}: spec default but nothing in defaults/main.yml"
            assert defaults[name] == option["default"], f"{name}: {defaults[name]!r} != {option['default']!r}"
        elif name in defaults:
            # Computed defaults (templated) are described in prose, not repeated in the spec.
            assert _templated(defaults[name]), f"{name}: literal default missing from the spec"
        if "password" in name or name.endswith("_key_src"):
            assert option.get("no_log") is True or name.endswith("_key_src"), f"{name} must be no_log"


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_pass_the_spec(role):
    defaults, options = _load(role)
    literal = {k: v for k, v in defaults.items() if not _templated(v)}
    # Required options are given by the user: a placeholder satisfies the validator.
    provided = {name: "x" for name, option in options.items() if option.get("required")}
    # Templated spec defaults are only resolved by Ansible at run time: leave them out here.
    spec = {name: {k: v for k, v in option.items() if not (k == "default" and _templated(v))}
            for name, option in options.items()}
    result = ArgumentSpecValidator(spec).validate({**literal, **provided})
    assert not result.error_messages, result.error_messages
    for name, value in literal.items():
        assert result.validated_parameters[name] == value, f"{name}: the spec would coerce {value!r}"


def test_postgresql_server_passwords_are_required_and_secret():
    options = _load("postgresql_server")[1]
    for name in ("postgresql_server_owner_password", "postgresql_server_app_password"):
        assert options[name]["required"] is True
        assert options[name]["no_log"] is True
    assert options["postgresql_server_readonly_password"]["no_log"] is True
    assert "default" not in options["postgresql_server_readonly_password"]
