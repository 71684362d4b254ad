#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_journal
short_description: Read or advance the journal of one migration run on the app host
version_added: 0.2.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Keeps C(state.json) in a run directory (C(<backup_dir>/runs/<run id>/), mode 0700). The migration
    writes the state BEFORE each irreversible step, so after a crash the journal tells what may have
    happened.
  - Every change is made under an exclusive C(flock) on C(state.lock) in the run directory, the same lock
    the host's dead-man switch takes, and written atomically (temporary file, fsync, rename).
  - Once the dead-man switch has fired, the run may not move on (the app runs on SQLite again); only a
    recovery or rollback (O(after_deadman=true)) may still write.
options:
  path:
    description: The run directory. Created (0700) with O(create=true).
    type: path
    required: true
  state:
    description: The state to record (C(preflight), C(stopped), C(backed_up), C(loaded), C(switched),
      C(started), C(healthy), C(undone), ...). Omitted, the journal is only read.
    type: str
  data:
    description: Keys merged into the journal (no secrets).
    type: dict
    default: {}
  lease:
    description: Seconds from now during which the run counts as alive (C(lease_until)); 0 keeps the old lease.
    type: int
    default: 0
  create:
    description: Create the run directory and a new journal; fails when the journal already exists.
    type: bool
    default: false
  after_deadman:
    description: Allow a write after the dead-man switch fired (recovery and rollback only).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Reports the changes it makes (or would make in check mode) in diff mode.
    support: none
  platform:
    description: The systems the module can run on.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Record the stop before the app is stopped
  pgmigrate.django.run_journal:
    path: /var/backups/pgmigrate/runs/20261203T101500Z-1a2b
    state: stopped
    lease: 1800
"""

RETURN = r"""
journal:
  description: The journal after the change (or as read). Empty when there is none.
  returned: always
  type: dict
  sample: {"run_id": "20261203T101500Z-1a2b", "state": "stopped", "lease_until": 1796212500.0,
           "history": [{"state": "preflight", "at": "2026-12-03T10:15:00Z"}]}
exists:
  description: Whether the journal existed before this call.
  returned: always
  type: bool
  sample: true
"""

import fcntl
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

DEADMAN_STATES = ("deadman_fired", "deadman_restored")


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_journal(path):
    try:
        with open(os.path.join(path, "state.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def write_journal(path, journal):
    target = os.path.join(path, "state.json")
    tmp = target + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(journal, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def advance(module, journal, params):
    """The journal with the new state, or fail when the dead-man switch has taken over."""
    if journal.get("state") in DEADMAN_STATES and not params["after_deadman"]:
        module.fail_json(
            msg="The dead-man switch of run %s fired at %s: the app host put the SQLite-era .env back and started "
                "the app on SQLite, so this run stops before '%s'. It is undone next (the journal keeps what "
                "happened)." % (journal.get("run_id"), journal.get("deadman", {}).get("fired", "?"), params["state"]),
            journal=journal)
    updated = dict(journal)
    updated.update(params["data"])
    if params["state"]:
        updated["state"] = params["state"]
        updated["history"] = list(journal.get("history", [])) + [{"state": params["state"], "at": utc_now()}]
    if params["lease"]:
        updated["lease_until"] = time.time() + params["lease"]
    updated["updated"] = utc_now()
    return updated


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str"),
            data=dict(type="dict", default={}),
            lease=dict(type="int", default=0),
            create=dict(type="bool", default=False),
            after_deadman=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    if module.params["create"]:
        if os.path.isdir(path) and read_journal(path) is not None:
            module.fail_json(msg="%s already holds a journal: a run id is used once" % path)
        if module.check_mode:
            module.exit_json(changed=True, journal={}, exists=False)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    elif not os.path.isdir(path):
        module.exit_json(changed=False, journal={}, exists=False)

    with open(os.path.join(path, "state.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        journal = read_journal(path)
        exists = journal is not None
        if not exists and not module.params["create"]:
            module.exit_json(changed=False, journal={}, exists=False)
        journal = journal or {"run_id": os.path.basename(path.rstrip("/")), "created": utc_now(), "history": []}
        if not module.params["state"] and not module.params["data"] and not module.params["lease"] and exists:
            module.exit_json(changed=False, journal=journal, exists=True)
        updated = advance(module, journal, module.params)
        if not module.check_mode:
            write_journal(path, updated)
    module.exit_json(changed=True, journal=updated, exists=exists)


if __name__ == "__main__":
    main()
