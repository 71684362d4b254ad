#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: stop_daemon
short_description: Stop the daemon a pid file names and wait until it is gone
version_added: 0.2.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Reads O(pid_file), sends O(signal) to that process and polls every O(sleep) seconds until it has exited;
    fails after O(timeout) seconds naming the process. One task instead of reading, signalling and waiting
    in several, because it runs in the downtime of a cut-over.
  - Nothing is signalled when the pid file is missing or empty, when its process is not running (a stale
    file), or when the process with that pid started after the file was last written (the daemon died and
    its pid was reused by another process). The result says which in RV(msg).
  - Used for an app run without systemd (gunicorn C(--daemon --pid FILE)); with SIGTERM gunicorn finishes
    the requests in flight before it exits.
extends_documentation_fragment:
  - pgmigrate.django.attributes
options:
  pid_file:
    description: The daemon's pid file.
    type: path
    required: true
  signal:
    description: The signal that asks the daemon to stop.
    type: str
    choices: [TERM, INT, QUIT, KILL]
    default: TERM
  timeout:
    description: Seconds to wait for the process to exit before failing.
    type: int
    default: 60
  sleep:
    description: Seconds between two looks at the process.
    type: float
    default: 0.1
attributes:
  check_mode:
    support: full
    details: Says whether a process would be signalled; sends nothing.
  diff_mode:
    support: none
  platform:
    details: Linux (C(/proc)).
seealso:
  - module: pgmigrate.django.wait_file_closed
  - module: pgmigrate.django.app_command
"""

EXAMPLES = r"""
- name: Stop the app's gunicorn (it finishes its requests first)
  pgmigrate.django.stop_daemon:
    pid_file: /run/app/gunicorn.pid
    timeout: 60
"""

RETURN = r"""
pid:
  description: The process that was running (and signalled, unless in check mode); null when none was.
  returned: always
  type: int
  sample: 4242
waited:
  description: Seconds from the signal until the process was gone.
  returned: always
  type: float
  sample: 0.31
msg:
  description: What happened.
  returned: always
  type: str
  sample: "pid 4242 stopped by SIGTERM after 0.31 s"
"""

import os
import signal as signals
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import pid_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pid_file=dict(type="path", required=True),
            signal=dict(type="str", choices=["TERM", "INT", "QUIT", "KILL"], default="TERM"),
            timeout=dict(type="int", default=60),
            sleep=dict(type="float", default=0.1),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        pid, note = pid_file.live_pid(params["pid_file"])
    except (OSError, ValueError) as error:
        module.fail_json(msg="Cannot read the pid file: %s. Check app_service_pid_file / the daemon's --pid option; "
                             "nothing was signalled." % error, pid=None, waited=0.0)
    if pid is None:
        module.exit_json(changed=False, pid=None, waited=0.0, msg="nothing to stop: %s" % note)
    if module.check_mode:
        module.exit_json(changed=True, pid=pid, waited=0.0, msg="pid %d would get SIG%s" % (pid, params["signal"]))
    started = time.monotonic()
    try:
        os.kill(pid, getattr(signals, "SIG" + params["signal"]))
    except ProcessLookupError:
        pass  # it exited between the look and the signal: stopped all the same
    except PermissionError:
        module.fail_json(msg="Not allowed to signal pid %d (from %s): run this task as the app's user or root."
                             % (pid, params["pid_file"]), pid=pid, waited=0.0)
    gone = pid_file.wait_gone(pid, params["timeout"], params["sleep"])
    waited = round(time.monotonic() - started, 2)
    if not gone:
        module.fail_json(msg="pid %d (from %s) is still running %d s after SIG%s: it may be finishing long "
                             "requests. Raise the timeout, or stop it yourself and run again."
                             % (pid, params["pid_file"], params["timeout"], params["signal"]),
                         pid=pid, waited=waited)
    module.exit_json(changed=True, pid=pid, waited=waited,
                     msg="pid %d stopped by SIG%s after %.2f s" % (pid, params["signal"], waited))


if __name__ == "__main__":
    main()
