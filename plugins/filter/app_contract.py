# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks of the app's contract (its environment) that Jinja alone would make unreadable."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgmigrate.django.plugins.module_utils import dotenv


def units_missing_env_file(show_outputs, env_file):
    """From {unit: output of `systemctl show -p EnvironmentFiles --value UNIT`}, the units whose
    EnvironmentFile= does not name ENV_FILE: ["app.service (EnvironmentFile=none)", ...]."""
    if not isinstance(show_outputs, dict) or not env_file:
        raise AnsibleFilterError("units_missing_env_file expects a dict of unit -> systemctl show output, and a path")
    return dotenv.units_missing_env_file({str(unit): str(output) for unit, output in show_outputs.items()},
                                         str(env_file))


def manage_commands_problems(commands):
    """What is wrong with a list of manage.py argv lists ([] when it is fine)."""
    if not isinstance(commands, (list, tuple)):
        return ["it is a %s, not a list of argv lists such as [[update_index]]" % type(commands).__name__]
    problems = []
    for index, command in enumerate(commands):
        if not isinstance(command, (list, tuple)) or not command:
            problems.append("item %d is %r, not a non-empty list of strings" % (index, command))
        elif not all(isinstance(word, str) and word for word in command):
            problems.append("item %d (%r) holds a word that is not a non-empty string" % (index, list(command)))
        elif command[0].endswith("manage.py"):
            problems.append("item %d starts with manage.py: give the command only, e.g. [update_index]" % index)
    return problems


class FilterModule:
    def filters(self):
        return {"units_missing_env_file": units_missing_env_file, "manage_commands_problems": manage_commands_problems}
