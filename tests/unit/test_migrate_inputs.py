"""The migrate role's input filters: unknown_variables (typos named with the closest known name)
and shared_targets (two app hosts on one database)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgmigrate.django.plugins.filter.migrate_inputs import shared_targets, unknown_variables

KNOWN = ["pgmigrate_db_name", "pgmigrate_db_host", "pgmigrate_preflight_only", "pgmigrate_downtime_limit"]


def test_typo_is_named_with_the_closest_known_name():
    found = unknown_variables(["pgmigrate_dbname", "pgmigrate_db_host", "pgmigrate_preflightonly"], KNOWN)
    assert found == ["pgmigrate_dbname (did you mean pgmigrate_db_name?)",
                     "pgmigrate_preflightonly (did you mean pgmigrate_preflight_only?)"]


def test_far_names_and_allowed_prefixes():
    assert unknown_variables(["pgmigrate_xyzzy"], KNOWN) == ["pgmigrate_xyzzy (no known name is close)"]
    assert unknown_variables(["pgmigrate_demo_root", "pgmigrate_launch_group"], KNOWN,
                             ["pgmigrate_demo_", "pgmigrate_launch_"]) == []
    assert unknown_variables(KNOWN, KNOWN) == []


def test_shared_targets():
    assert shared_targets({"app1": "db/shop", "app2": "db/shop", "app3": "db/blog"}) == ["db/shop: app1, app2"]
    assert shared_targets({"app1": "db/shop"}) == []


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        unknown_variables("pgmigrate_x", KNOWN)
    with pytest.raises(AnsibleFilterError):
        shared_targets(["app1"])
