# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Ask a Django app, through its own python and settings, how it reads its database.

The app's python runs `INTROSPECT_SCRIPT` (given on stdin, so nothing of it shows in ``ps``) in
the app's directory with the app's environment. The script loads the settings, names the
``default`` database's backend (its ``vendor``, from the backend class: no connection is
opened), optionally stops there when the vendor or database is not the expected one (the
settings contract), else runs ``django.setup()`` and lists the column of every concrete model.
A SQLite database is switched to a read-only URI before ``django.setup()``, so app code that
queries while starting up cannot write to the live file. The password is never printed.

The script answers with one JSON line after `MARKER`; the app may print what it likes around it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

from ansible_collections.pgmigrate.django.plugins.module_utils import dotenv
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError

MARKER = "@@PGMIGRATE-DJANGO-SETTINGS@@"
DATABASE_KEYS = ("DATABASE_URL", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_HOST",
                 "POSTGRES_PORT")
_SETTINGS_LINE = re.compile(
    r"""os\.environ\.setdefault\(\s*['"]DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]\s*\)""")

INTROSPECT_SCRIPT = r'''
import json, os, sys, traceback

MARKER = "@@PGMIGRATE-DJANGO-SETTINGS@@"
PARAMS = json.loads(%(params)r)


def emit(doc, rc=0):
    sys.stdout.write("\n" + MARKER + json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()
    sys.exit(rc)


def fail(stage, exc):
    emit({"error": stage, "exception": type(exc).__name__, "missing_module": getattr(exc, "name", None),
          "message": str(exc)[:2000], "traceback": traceback.format_exc().splitlines()[-8:]}, 3)


def describe(field):
    value_field = field
    while value_field.is_relation and getattr(value_field, "target_field", None) is not None:
        value_field = value_field.target_field
    info = {"field": type(field).__name__, "internal_type": value_field.get_internal_type(),
            "null": bool(field.null), "primary_key": bool(field.primary_key)}
    if info["internal_type"] == "DecimalField":
        info["max_digits"] = value_field.max_digits
        info["decimal_places"] = value_field.decimal_places
    return info


def tables():
    from django.apps import apps
    from django.db import DEFAULT_DB_ALIAS, router
    found = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or router.db_for_read(model) != DEFAULT_DB_ALIAS:
            continue
        columns = found.setdefault(meta.db_table, {})
        for field in meta.local_concrete_fields:
            columns[field.column] = describe(field)
    return found


def read_only_sqlite(database):
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    from urllib.parse import quote
    database["NAME"] = "file:%%s?mode=ro" %% quote(os.path.abspath(name))
    database.setdefault("OPTIONS", {})["uri"] = True


def main():
    try:
        import django
        from django.conf import settings
    except Exception as exc:
        fail("django", exc)
    try:
        default = settings.DATABASES["default"]
        use_tz, time_zone = bool(settings.USE_TZ), settings.TIME_ZONE
    except Exception as exc:
        fail("settings", exc)
    try:
        from django.db.utils import load_backend
        vendor = load_backend(default.get("ENGINE") or "").DatabaseWrapper.vendor
    except Exception as exc:
        fail("backend", exc)
    doc = {"django_version": django.get_version(),
           "settings_module": os.environ.get("DJANGO_SETTINGS_MODULE"),
           "settings": {"use_tz": use_tz, "time_zone": time_zone,
                        "database": {"engine": default.get("ENGINE"), "name": str(default.get("NAME") or ""),
                                     "host": str(default.get("HOST") or ""), "port": str(default.get("PORT") or ""),
                                     "vendor": vendor}}}
    expected = PARAMS.get("expect_vendor"), PARAMS.get("expect_database")
    if (expected[0] and expected[0] != vendor) or (expected[1] and expected[1] != doc["settings"]["database"]["name"]):
        emit(doc)  # the contract is broken: stop before the app's code runs at all
    if vendor == "sqlite":
        read_only_sqlite(default)
    try:
        django.setup()
    except Exception as exc:
        fail("setup", exc)
    try:
        doc["tables"] = tables()
    except Exception as exc:
        fail("models", exc)
    emit(doc)


main()
'''


class IntrospectError(ModuleError):
    """The app could not be asked; the message names the cause and the fix."""


def introspect_script(expect_vendor=None, expect_database=None):
    """The program the app's python runs (no secrets in it: only what is expected)."""
    params = json.dumps({"expect_vendor": expect_vendor, "expect_database": expect_database})
    return INTROSPECT_SCRIPT % {"params": params}


def settings_module_from_manage_py(text):
    """The DJANGO_SETTINGS_MODULE that manage.py sets by default, or None."""
    match = _SETTINGS_LINE.search(text)
    return match.group(1) if match else None


def parse_env_text(text):
    """The keys of a .env's TEXT (see dotenv.parse_env_text); errors name the line, never its text."""
    try:
        return dotenv.parse_env_text(text)
    except ValueError as exc:
        raise IntrospectError("env_file %s: fix the app's .env" % exc)


def run_app_python(python, app_dir, env, script, timeout):
    """Run SCRIPT with the app's PYTHON in APP_DIR with ENV only; (rc, stdout, stderr).

    Its own session, killed as a group after TIMEOUT seconds (a settings module that hangs on
    import must not hang the play).
    """
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise IntrospectError("The app's python %s does not exist or is not executable: option python must be "
                              "the interpreter of the app's virtualenv (e.g. /srv/app/.venv/bin/python)." % python)
    if not os.path.isdir(app_dir):
        raise IntrospectError("app_dir %s is not a directory: it must be the directory of the app's manage.py."
                              % app_dir)
    proc = subprocess.Popen([python, "-"], cwd=app_dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    try:
        out, err = proc.communicate(script.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise IntrospectError("The app's settings did not load within %s s (a settings module or an app that "
                              "waits for something at import): fix the app or raise option timeout." % timeout)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def app_environment(base, env_file_values, env_file, environment):
    """The app's process environment: BASE, ENVIRONMENT, the .env keys (they win, as systemd's
    EnvironmentFile= wins over Environment=), DJANGO_ENV_FILE."""
    env = dotenv.process_environment(base, environment, env_file_values, env_file)
    # Our own output must be plain: no bytecode written into the app's tree by this probe.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def parse_answer(stdout):
    """The script's JSON answer (the last MARKER line), or None when it printed none."""
    answer = None
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            answer = line[len(MARKER):]
    return json.loads(answer) if answer is not None else None


def error_message(answer, python, settings_module):
    """A message naming the cause and the fix for the script's {"error": stage, ...} answer."""
    stage, exc, text = answer["error"], answer.get("exception"), answer.get("message", "")
    tail = "\n".join(answer.get("traceback") or [])
    if stage == "django":
        return ("Django cannot be imported by %s (%s: %s): option python must be the python of the app's "
                "virtualenv, the one its service runs." % (python, exc, text))
    if stage == "settings" and exc in ("ModuleNotFoundError", "ImportError") and settings_module and \
            settings_module.startswith(str(answer.get("missing_module") or "\0")):
        return ("The settings module %s was not found (%s). Set option app_dir to the directory of manage.py, "
                "or option settings_module (or DJANGO_SETTINGS_MODULE in environment) to the app's settings."
                % (settings_module, text))
    if stage == "backend":
        return ("The app's default database backend cannot be loaded (%s: %s). Install its driver in the "
                "app's virtualenv (psycopg for PostgreSQL). Last lines:\n%s" % (exc, text, tail))
    return ("The app's settings failed to load at step %s (%s: %s). Last lines of the traceback:\n%s"
            % (stage, exc, text, tail))


def contract_problems(settings, expect_vendor, expect_database, app_dir=""):
    """What is not as expected in the app's default database ([] when the contract holds)."""
    database = settings["database"]
    problems = []
    if expect_vendor and database["vendor"] != expect_vendor:
        problems.append("its vendor is %s, not %s" % (database["vendor"], expect_vendor))
    if expect_database and not _same_database(database, expect_database, app_dir):
        problems.append("its database NAME is %s, not %s" % (database["name"], expect_database))
    return problems


def _same_database(database, expected, app_dir):
    if database["name"] == expected:
        return True
    # A SQLite file may be named relative to the app's directory (where the app runs), or through a symlink.
    name = os.path.join(app_dir, database["name"])
    return database["vendor"] == "sqlite" and os.path.realpath(name) == os.path.realpath(expected)


def contract_message(settings, problems, env_file, env_keys, database_keys=None):
    """Why the app does not follow the settings it was given, and what it must read."""
    database = settings["database"]
    keys = list(database_keys or DATABASE_KEYS)
    named = keys + [key for key in DATABASE_KEYS + ("SQLITE_PATH",) if key not in keys]
    given = ", ".join(key for key in named if key in env_keys) or "no database key"
    where = "the settings in %s (%s) in its environment" % (env_file, given) if env_file else "the environment given"
    return ("Settings contract broken: with %s, Django's default database is %s %s: %s. The app must read "
            "its database from its process environment: %s, the keys its .env holds (settings.py: e.g. "
            "DATABASES = {'default': dj_database_url.config()}); an app that loads its .env itself finds the "
            "file's path in DJANGO_ENV_FILE. Nothing was changed; the app's own code did not run "
            "(django.setup() was not called) and its SQLite file was not opened."
            % (where, database["engine"], database["name"], "; ".join(problems),
               " or ".join([keys[0], "(" + ", ".join(keys[1:]) + ")"]) if len(keys) > 1 else keys[0]))


def result_from_answer(answer):
    """The module result (settings, tables, django_version, settings_module) from the answer."""
    settings = answer["settings"]
    database = settings["database"]
    return {
        "settings": {"use_tz": settings["use_tz"], "time_zone": settings["time_zone"],
                     "database": {"engine": database["engine"], "name": database["name"],
                                  "host": database["host"], "port": database["port"],
                                  "vendor": database["vendor"]}},
        "tables": answer.get("tables", {}),
        "django_version": answer.get("django_version"),
        "settings_module": answer.get("settings_module"),
    }
