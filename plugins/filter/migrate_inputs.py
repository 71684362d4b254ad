# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks of the migrate role's inputs that Jinja alone would make unreadable."""

from __future__ import annotations

import difflib

from ansible.errors import AnsibleFilterError


def unknown_variables(names, known, allowed_prefixes=()):
    """Names of NAMES that are neither in KNOWN nor start with one of ALLOWED_PREFIXES, each with
    the closest known name: ["pgmigrate_dbname (did you mean pgmigrate_db_name?)", ...]."""
    if not isinstance(names, (list, tuple)) or not isinstance(known, (list, tuple)):
        raise AnsibleFilterError("unknown_variables expects two lists of variable names")
    known = sorted(set(str(name) for name in known))
    found = []
    for name in sorted(set(str(name) for name in names)):
        if name in known or any(name.startswith(prefix) for prefix in allowed_prefixes):
            continue
        # The shared pgmigrate_ prefix alone makes any two names look alike: a high cutoff.
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        found.append("%s (did you mean %s?)" % (name, close[0]) if close else "%s (no known name is close)" % name)
    return found


def shared_targets(targets):
    """From {host: 'dbhost:port/dbname'}, the targets used by more than one host:
    ["127.0.0.1:5432/shop: app1, app2", ...]."""
    if not isinstance(targets, dict):
        raise AnsibleFilterError("shared_targets expects a dict of host -> target")
    by_target = {}
    for host, target in targets.items():
        by_target.setdefault(str(target), []).append(str(host))
    return ["%s: %s" % (target, ", ".join(sorted(hosts)))
            for target, hosts in sorted(by_target.items()) if len(hosts) > 1]


class FilterModule:
    def filters(self):
        return {"unknown_variables": unknown_variables, "shared_targets": shared_targets}
