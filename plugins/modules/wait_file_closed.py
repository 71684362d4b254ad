#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: wait_file_closed
short_description: Wait until no process holds a SQLite database (or any file) open
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Scans C(/proc/*/fd) until no process has the file open, nor its SQLite companions
    (C(-wal), C(-shm), C(-journal)), or fails after O(timeout) naming the processes that still
    hold it.
  - Used after the app is stopped, so the copy is taken from a file nobody writes to any more.
  - Reads only; never changes anything. Run it as root to see every process's descriptors.
extends_documentation_fragment:
  - pgmigrate.django.attributes
options:
  path:
    description: The file.
    type: path
    required: true
  companions:
    description: Also watch the SQLite companion files C(-wal), C(-shm) and C(-journal).
    type: bool
    default: true
  timeout:
    description: Seconds to wait before failing.
    type: int
    default: 60
  sleep:
    description: Seconds between scans.
    type: float
    default: 0.5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    details: Linux (C(/proc)).
"""

EXAMPLES = r"""
- name: Wait until the stopped app has let go of its database
  pgmigrate.django.wait_file_closed:
    path: /srv/app/db.sqlite3
    timeout: 120
"""

RETURN = r"""
holders:
  description: Processes that still held the file at the last scan (empty on success).
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "command": "gunicorn: worker [demo_project.wsgi]", "file": "/srv/app/db.sqlite3"}]
waited:
  description: Seconds waited.
  returned: always
  type: float
  sample: 1.5
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def command_of(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]
    except OSError:
        return "?"


def holders_of(paths):
    """[{pid, command, file}] for every process with one of PATHS open."""
    found = []
    own = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if pid == own:
            continue
        fd_dir = "/proc/%s/fd" % pid
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:  # the process ended, or is not ours to see
            continue
        for fd in descriptors:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in paths:
                found.append({"pid": int(pid), "command": command_of(pid), "file": target})
                break
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            companions=dict(type="bool", default=True),
            timeout=dict(type="int", default=60),
            sleep=dict(type="float", default=0.5),
        ),
        supports_check_mode=True,
    )
    path = os.path.realpath(module.params["path"])
    paths = {path}
    if module.params["companions"]:
        paths.update(path + suffix for suffix in COMPANION_SUFFIXES)
    started = time.monotonic()
    while True:
        holders = holders_of(paths)
        waited = round(time.monotonic() - started, 2)
        if not holders:
            module.exit_json(changed=False, holders=[], waited=waited)
        if waited >= module.params["timeout"]:
            who = "; ".join("pid %(pid)s (%(command)s)" % holder for holder in holders)
            module.fail_json(
                msg="%s is still open after %ss by: %s. Stop these processes (the app's units, cron jobs, "
                    "shells) and run again." % (path, module.params["timeout"], who),
                holders=holders, waited=waited)
        time.sleep(module.params["sleep"])


if __name__ == "__main__":
    main()
