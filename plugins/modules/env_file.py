#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: env_file
short_description: Set and remove keys of an application's .env file; diffs show keys, never values
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Edits a C(.env) file (C(KEY=VALUE) lines) in place; every line it does not manage (comments,
    blank lines, other keys) is kept as it is, in its place.
  - A key in O(values) or O(secret_values) replaces the first line that sets it (later duplicates
    are dropped) or is appended. Keys in O(remove) are dropped.
  - Values are written bare when they contain only safe characters, otherwise in double quotes
    with C(\\) and C(") escaped, as python-dotenv and django-environ read them.
  - The file is replaced atomically. In diff mode the before/after texts show every value as
    C(********), because a .env file is full of secrets.
options:
  path:
    description: The .env file.
    type: path
    required: true
  values:
    description: Keys to set whose values may be shown in logs.
    type: dict
    default: {}
  secret_values:
    description: Keys to set whose values are secrets (passwords, URLs with passwords); never logged.
    type: dict
    default: {}
  remove:
    description: Keys to remove (ignored when the same key is also set).
    type: list
    elements: str
    default: []
  create:
    description: Create the file when it does not exist; otherwise fail.
    type: bool
    default: true
extends_documentation_fragment: [pgmigrate.django.attributes, ansible.builtin.files]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Values are masked; only the keys and the other lines are shown.
notes:
  - O(mode) defaults to C(0600).
"""

EXAMPLES = r"""
- name: Point the app at PostgreSQL and drop its SQLite setting
  pgmigrate.django.env_file:
    path: /srv/app/.env
    owner: app
    group: app
    values:
      POSTGRES_SSLMODE: verify-full
      PG_CONN_MAX_AGE: "60"
    secret_values:
      DATABASE_URL: "{{ app_database_url }}"
    remove: [SQLITE_PATH]
"""

RETURN = r"""
added:
  description: Keys that were appended.
  returned: always
  type: list
  elements: str
  sample: [DATABASE_URL]
changed_keys:
  description: Keys whose line was rewritten.
  returned: always
  type: list
  elements: str
  sample: [POSTGRES_SSLMODE]
removed:
  description: Keys whose lines were dropped.
  returned: always
  type: list
  elements: str
  sample: [SQLITE_PATH]
path:
  description: The file.
  returned: always
  type: str
  sample: /srv/app/.env
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils.dotenv import edit_lines, masked


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            values=dict(type="dict", default={}),
            secret_values=dict(type="dict", default={}, no_log=True),
            remove=dict(type="list", elements="str", default=[]),
            create=dict(type="bool", default=True),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    if module.params["mode"] is None:
        module.params["mode"] = "0600"
    overlap = set(module.params["values"]) & set(module.params["secret_values"])
    if overlap:
        module.fail_json(msg="Keys given both in values and secret_values: %s" % ", ".join(sorted(overlap)))
    values = dict(module.params["values"])
    values.update(module.params["secret_values"])

    exists = os.path.exists(path)
    if not exists and not module.params["create"]:
        module.fail_json(msg="%s does not exist and create is false" % path)
    if exists:
        with open(path, encoding="utf-8") as handle:
            before = handle.readlines()
    else:
        before = []
    try:
        after, added, changed_keys, removed = edit_lines(before, values, module.params["remove"])
    except ValueError as error:
        module.fail_json(msg=str(error))

    changed = after != before or not exists
    result = dict(path=path, added=added, changed_keys=changed_keys, removed=removed)
    if module._diff:
        result["diff"] = dict(before=masked(before), after=masked(after),
                              before_header=path if exists else "(absent)", after_header=path)
    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".env-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(after)
            os.chmod(tmp, 0o600)
            module.atomic_move(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params, path=path)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
