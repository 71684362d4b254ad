#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: django_settings
short_description: Ask a Django app how it reads its database (time zone, fields, the settings contract)
version_added: 0.2.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Runs the app's own python (O(python)) in its directory (O(app_dir)) with its own environment
    and asks Django, not a guess, for C(USE_TZ), C(TIME_ZONE), the C(default) database
    (C(ENGINE), C(NAME), C(HOST), C(PORT), and the backend's C(vendor); never the password) and,
    for the table of every concrete model (many-to-many tables and multi-table inheritance
    included), every column with its Django field.
  - The result (RV(settings) and RV(tables)) is what the modules C(pgmigrate.django.pgloader),
    C(pgmigrate.django.reset_sequences) and C(pgmigrate.django.consistency_check) take as their
    option C(django), documented once in the doc fragment C(pgmigrate.django.django_settings).
  - The introspection program is given to the app's python on stdin (nothing of it in C(ps)). It
    never opens a database connection; a SQLite database is switched to a read-only URI before
    C(django.setup()), so even app code that queries while it starts cannot write to the file.
  - The settings contract. With O(expect_vendor) and/or O(expect_database) (typically with the
    owner's temporary settings file pointing at PostgreSQL, or after a start to prove the vendor the
    app serves from) the module fails, naming what the app must read (its process environment, with
    C(DATABASE_URL) or the configured keys), when Django's C(default) database is not the expected one.
    It then stops before C(django.setup()), so none of the app's code runs and its SQLite file is not
    opened at all.
  - Read-only; never changes anything.
options:
  python:
    description:
      - The app's python, the interpreter of its virtualenv (the one its service runs).
    type: path
    required: true
  app_dir:
    description:
      - The app's directory, the one holding C(manage.py); the program runs there.
    type: path
    required: true
  settings_module:
    description:
      - The app's settings module (C(demo_project.settings)).
      - Default, in this order, C(DJANGO_SETTINGS_MODULE) from O(environment), from O(env_file), from
        the module's own environment, then the default that C(manage.py) sets.
    type: str
  env_file:
    description:
      - The app's C(.env), its environment file. Its keys are put into the program's environment, as
        systemd's C(EnvironmentFile=) does (they win over O(environment), as C(EnvironmentFile=) wins over
        C(Environment=)), and C(DJANGO_ENV_FILE) is set to its path for an app that loads the file itself.
      - It may hold secrets; its values are never returned or logged.
    type: path
  env_file_export:
    description:
      - Put the keys of O(env_file) into the environment. V(false) gives the app only C(DJANGO_ENV_FILE)
        (the earlier contract, for apps that load their C(.env) themselves).
    type: bool
    default: true
  environment:
    description:
      - More environment variables for the app's python (a unit's C(Environment=)); the keys of
        O(env_file) win over them.
      - Not for secrets, their values may show in results; use O(secret_environment) or O(env_file).
    type: dict
    default: {}
  secret_environment:
    description:
      - Environment variables that hold secrets (C(DATABASE_URL) with a password); they win over
        O(environment) and O(env_file). Never logged nor returned (no_log).
    type: dict
    default: {}
  expect_vendor:
    description:
      - Fail unless Django's C(default) database has this vendor (C(connection.vendor)).
    type: str
    choices: [postgresql, sqlite, mysql, oracle]
  expect_database:
    description:
      - Fail unless the C(NAME) of Django's C(default) database is this (the target database).
    type: str
  database_keys:
    description:
      - The environment keys the app reads its database from (C(DATABASE_URL), or C(DB_NAME), C(DB_HOST), ...),
        named when the settings contract is broken.
    type: list
    elements: str
  timeout:
    description:
      - Seconds the app's python may take; it is killed afterwards.
    type: int
    default: 120
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Read-only; it runs the same way in check mode.
  diff_mode:
    description: Reports the changes it makes (or would make in check mode) in diff mode.
    support: none
  platform:
    description: The systems the module can run on.
    support: full
    platforms: posix
notes:
  - The program imports the app's settings and, unless the contract is broken, runs
    C(django.setup()), so the app's C(AppConfig.ready()) code runs as it does for C(manage.py).
  - Only the C(default) database alias is read; models routed to another database are left out.
seealso:
  - module: pgmigrate.django.preflight
  - module: pgmigrate.django.consistency_check
"""

EXAMPLES = r"""
- name: Ask the app how it reads its data
  pgmigrate.django.django_settings:
    python: /srv/app/.venv/bin/python
    app_dir: /srv/app
    env_file: /srv/app/.env
  register: app_django

- name: Prove the app follows the owner's temporary settings (PostgreSQL), before the schema step
  pgmigrate.django.django_settings:
    python: /srv/app/.venv/bin/python
    app_dir: /srv/app
    env_file: /srv/app/.env.pgmigrate-owner
    expect_vendor: postgresql
    expect_database: app

- name: Compare as the app reads its values
  pgmigrate.django.consistency_check:
    source: /srv/app/db.sqlite3
    login_host: db.example.com
    login_db: app
    login_user: app_owner
    login_password: "{{ app_owner_password }}"
    django: "{{ app_django }}"
"""

RETURN = r"""
settings:
  description:
    - How Django reads its data; the same dict is the C(settings) key of the option C(django) of
      the loading and checking modules.
  returned: always
  type: dict
  contains:
    use_tz:
      description: C(USE_TZ). When false, datetimes are wall-clock time in RV(settings.time_zone).
      type: bool
      returned: always
      sample: false
    time_zone:
      description: C(TIME_ZONE), an IANA time zone.
      type: str
      returned: always
      sample: America/New_York
    database:
      description: The C(default) database. No password, no user, no options.
      type: dict
      returned: always
      sample: {"engine": "django.db.backends.sqlite3", "name": "/srv/app/db.sqlite3", "host": "", "port": "",
               "vendor": "sqlite"}
tables:
  description:
    - Every table of a concrete model in the C(default) database, and each of its columns with
      C(field) (the field class, e.g. C(ForeignKey)), C(internal_type) (the stored value's type, for
      a relation that of the field it points to), C(null), C(primary_key), and for decimals
      C(max_digits) and C(decimal_places).
    - Empty when the settings contract is broken (the module fails before reading models).
  returned: always
  type: dict
  sample:
    inventory_item:
      id: {"field": "BigAutoField", "internal_type": "BigAutoField", "null": false, "primary_key": true}
      price: {"field": "DecimalField", "internal_type": "DecimalField", "null": false, "primary_key": false,
              "max_digits": 12, "decimal_places": 2}
      category_id: {"field": "ForeignKey", "internal_type": "BigAutoField", "null": false, "primary_key": false}
django_version:
  description: The app's Django version.
  returned: always
  type: str
  sample: 5.2.19
settings_module:
  description: The settings module that was loaded.
  returned: always
  type: str
  sample: demo_project.settings
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils import django_introspect as di
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError


def read_env_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return di.parse_env_text(handle.read())
    except OSError as exc:
        raise di.IntrospectError("env_file %s cannot be read (%s): it must be the app's .env, readable by the "
                                 "user this task runs as." % (path, exc.strerror))


def settings_module_for(params, env):
    if params["settings_module"]:
        return params["settings_module"]
    if env.get("DJANGO_SETTINGS_MODULE"):
        return env["DJANGO_SETTINGS_MODULE"]
    manage_py = os.path.join(params["app_dir"], "manage.py")
    try:
        with open(manage_py, encoding="utf-8") as handle:
            found = di.settings_module_from_manage_py(handle.read())
    except OSError:
        found = None
    if not found:
        raise di.IntrospectError("No settings module: %s does not set DJANGO_SETTINGS_MODULE. Set option "
                                 "settings_module, or DJANGO_SETTINGS_MODULE in option environment." % manage_py)
    return found


def ask_the_app(params):
    env_values = read_env_file(params["env_file"]) if params["env_file"] else {}
    exported = env_values if params["env_file_export"] else {}
    env = di.app_environment(os.environ, exported, params["env_file"], params["environment"])
    env.update((key, str(value)) for key, value in params["secret_environment"].items())
    extra = dict(params["environment"], **params["secret_environment"])
    settings_module = settings_module_for(params, env)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    script = di.introspect_script(params["expect_vendor"], params["expect_database"])
    rc, out, err = di.run_app_python(params["python"], params["app_dir"], env, script, params["timeout"])
    answer = di.parse_answer(out)
    if answer is None:
        raise di.IntrospectError("The app's python ended (rc %s) without an answer. Last output:\n%s"
                                 % (rc, (out + err)[-2000:]))
    if "error" in answer:
        raise di.IntrospectError(di.error_message(answer, params["python"], settings_module))
    problems = di.contract_problems(answer["settings"], params["expect_vendor"], params["expect_database"],
                                    params["app_dir"])
    if problems:
        result = di.result_from_answer(answer)
        raise di.IntrospectError(di.contract_message(answer["settings"], problems, params["env_file"],
                                                     set(exported) | set(extra), params["database_keys"]),
                                 **result)
    return di.result_from_answer(answer)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            python=dict(type="path", required=True),
            app_dir=dict(type="path", required=True),
            settings_module=dict(type="str"),
            env_file=dict(type="path"),
            env_file_export=dict(type="bool", default=True),
            environment=dict(type="dict", default={}),
            secret_environment=dict(type="dict", default={}, no_log=True),
            expect_vendor=dict(type="str", choices=["postgresql", "sqlite", "mysql", "oracle"]),
            expect_database=dict(type="str"),
            database_keys=dict(type="list", elements="str", no_log=False),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    try:
        result = ask_the_app(module.params)
    except ModuleError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
