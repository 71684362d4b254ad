#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_command
short_description: Run a command of a Django app (manage.py, its start command) in the app's environment
version_added: 0.2.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Runs O(argv) (no shell) in O(chdir) with the app's process environment, as a systemd unit gives it;
    the module's own environment, then O(environment) (a unit's C(Environment=)), then every key of
    O(env_file) (a unit's C(EnvironmentFile=), which wins), then C(DJANGO_ENV_FILE) naming that file.
  - So the app needs no code to load a C(.env) file; an app that does load it finds its path in
    C(DJANGO_ENV_FILE).
  - The values of O(env_file) (passwords, C(DATABASE_URL)) are read on the managed host by the module. They
    are never on a command line (C(ps)), in the task's arguments, in results or in C(-vvv) logs; only the
    command's own process environment holds them, readable by its user and root.
  - Fails when the command exits non-zero, with its last output lines.
options:
  argv:
    description:
      - The command and its arguments, e.g. C([/srv/app/.venv/bin/python, manage.py, migrate, --noinput]).
    type: list
    elements: str
    required: true
  chdir:
    description: The directory to run in (the one holding C(manage.py)).
    type: path
  env_file:
    description:
      - The app's C(.env) (C(KEY=VALUE) lines, C(export) allowed, C(#) comment lines, single or double quotes).
        It must exist and be readable by the user the task runs as.
    type: path
  environment:
    description:
      - More environment variables, not secrets (they are task arguments). The keys of O(env_file) win.
    type: dict
    default: {}
  output_lines:
    description: How many lines of stdout and of stderr (each from its end) RV(stdout) and RV(stderr) keep.
    type: int
    default: 40
  changed:
    description: What the result's C(changed) says after the command ran (a read-only command says V(false)).
    type: bool
    default: true
  pid_file:
    description:
      - For a start command that daemonizes and writes this pid file (gunicorn C(--daemon --pid FILE)). When the
        process the file names is running, nothing runs and the result is not changed; else the command runs
        and the module waits until the file names a running process, polling every 0.1 s.
      - A pid file whose process started after the file was written (a reused pid) counts as not running.
    type: path
  pid_file_timeout:
    description: Seconds to wait for O(pid_file) after the command exited.
    type: int
    default: 30
extends_documentation_fragment: [pgmigrate.django.attributes]
attributes:
  check_mode:
    support: full
    details: Nothing runs in check mode; the result says so in RV(msg).
  diff_mode:
    support: none
notes:
  - A daemonizing start command (gunicorn C(--daemon)) must detach its output, as gunicorn does.
  - In check mode with O(pid_file), the result says whether the command would run.
seealso:
  - module: pgmigrate.django.django_settings
  - module: pgmigrate.django.env_file
"""

EXAMPLES = r"""
- name: Rebuild the search index on PostgreSQL, with the app's settings in its environment
  pgmigrate.django.app_command:
    argv: [/srv/app/.venv/bin/python, manage.py, update_index]
    chdir: /srv/app
    env_file: /srv/app/.env
    environment:
      DJANGO_SETTINGS_MODULE: site.settings.production
  become: true
  become_user: app
"""

RETURN = r"""
rc:
  description: The command's exit code.
  returned: when it ran
  type: int
  sample: 0
cmd:
  description: O(argv) as run.
  returned: always
  type: list
  elements: str
  sample: [/srv/app/.venv/bin/python, manage.py, update_index]
stdout:
  description: The last O(output_lines) lines of the command's standard output.
  returned: when it ran
  type: str
  sample: "Updating backend: default\n"
stderr:
  description: The last O(output_lines) lines of the command's standard error.
  returned: when it ran
  type: str
  sample: ""
pid:
  description: With O(pid_file), the running process it names (after the start); null without O(pid_file).
  returned: always
  type: int
  sample: 4242
env_keys:
  description: The names (never the values) of the keys taken from O(env_file).
  returned: always
  type: list
  elements: str
  sample: [DATABASE_URL, DJANGO_SECRET_KEY]
msg:
  description: What happened.
  returned: always
  type: str
  sample: "manage.py update_index: rc 0"
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import dotenv, pid_file


SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|URL|_KEY$", re.IGNORECASE)


def tail(text, lines):
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def read_env_file(module, path):
    try:
        with open(path, encoding="utf-8") as handle:
            return dotenv.parse_env_text(handle.read())
    except OSError as exc:
        module.fail_json(msg="env_file %s cannot be read (%s): it must be the app's .env, readable by the user "
                             "this task runs as." % (path, exc.strerror), cmd=module.params["argv"])
    except ValueError as exc:
        module.fail_json(msg="env_file %s: %s. Fix the app's .env." % (path, exc), cmd=module.params["argv"])
    return {}


def label(argv):
    """'manage.py update_index' rather than the interpreter's path."""
    words = [os.path.basename(word) if index == 0 else word for index, word in enumerate(argv)]
    if len(words) > 1 and words[1].endswith("manage.py"):
        words = words[1:]
    return " ".join(words)


def running_daemon(module):
    """The pid O(pid_file) names when that daemon runs, else None."""
    try:
        return pid_file.live_pid(module.params["pid_file"])[0]
    except (OSError, ValueError) as error:
        module.fail_json(msg="Cannot read pid_file: %s. Fix or remove it; nothing was run." % error,
                         cmd=module.params["argv"])
    return None


def wait_for_daemon(module, result):
    pid, note = pid_file.wait_live(module.params["pid_file"], module.params["pid_file_timeout"], 0.1)
    if pid is None:
        module.fail_json(msg="%s exited with rc 0 but %s names no running process after %d s (%s): the command must "
                             "daemonize and write that pid file. Last lines:\n%s"
                             % (label(module.params["argv"]), module.params["pid_file"],
                                module.params["pid_file_timeout"], note,
                                tail(result["stderr"] or result["stdout"], 20)), **result)
    return pid


def main():
    module = AnsibleModule(
        argument_spec=dict(
            argv=dict(type="list", elements="str", required=True),
            chdir=dict(type="path"),
            env_file=dict(type="path"),
            environment=dict(type="dict", default={}),
            output_lines=dict(type="int", default=40),
            changed=dict(type="bool", default=True),
            pid_file=dict(type="path"),
            pid_file_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["argv"] or not params["argv"][0]:
        module.fail_json(msg="argv must name a command", cmd=params["argv"])
    values = read_env_file(module, params["env_file"]) if params["env_file"] else {}
    # Should the command print a secret of the .env, it is masked in the result.
    module.no_log_values.update(value for key, value in values.items() if SECRET_KEY.search(key) and len(value) > 3)
    result = dict(cmd=params["argv"], env_keys=sorted(values), pid=None)
    if params["pid_file"]:
        running = running_daemon(module)
        if running is not None:
            result["pid"] = running
            module.exit_json(changed=False, msg="%s: already running as pid %s" % (label(params["argv"]), running),
                             **result)
    if module.check_mode:
        module.exit_json(changed=bool(params["pid_file"]), msg="%s: not run in check mode" % label(params["argv"]),
                         **result)
    env = dotenv.process_environment(os.environ, params["environment"], values, params["env_file"])
    # run_command's environ_update reaches only this child; nothing of it is logged.
    rc, out, err = module.run_command(params["argv"], cwd=params["chdir"], environ_update=env,
                                      check_rc=False, expand_user_and_vars=False)
    lines = params["output_lines"]
    result.update(rc=rc, stdout=tail(out, lines), stderr=tail(err, lines))
    if rc != 0:
        module.fail_json(msg="%s failed with rc %s. Last lines:\n%s" % (label(params["argv"]), rc,
                                                                        tail(err or out, 20)), **result)
    if params["pid_file"]:
        result["pid"] = wait_for_daemon(module, result)
    module.exit_json(changed=params["changed"], msg="%s: rc 0" % label(params["argv"]), **result)


if __name__ == "__main__":
    main()
