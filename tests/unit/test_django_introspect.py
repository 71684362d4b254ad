"""The pure parts of asking a Django app for its settings (no app, no database)."""

from __future__ import annotations

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import django_introspect as di

SETTINGS = {"use_tz": False, "time_zone": "America/New_York",
            "database": {"engine": "django.db.backends.sqlite3", "name": "/srv/app/db.sqlite3", "host": "",
                         "port": "", "vendor": "sqlite"}}


def test_settings_module_from_manage_py():
    text = 'import os\n\ndef main():\n    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")\n'
    assert di.settings_module_from_manage_py(text) == "demo_project.settings"
    assert di.settings_module_from_manage_py("os.environ.setdefault('DJANGO_SETTINGS_MODULE','a.b.c')") == "a.b.c"
    assert di.settings_module_from_manage_py("print('no settings here')") is None


def test_env_text_quotes_comments_and_export():
    text = ("# comment\n\nexport A=1\nB='p@ss#word \"x\"'\nC=\"a\\\"b\\\\c\"\nD= spaced \nE=\n"
            "DATABASE_URL=postgresql://u:p%23w@h/db\n")
    assert di.parse_env_text(text) == {"A": "1", "B": 'p@ss#word "x"', "C": 'a"b\\c', "D": "spaced", "E": "",
                                       "DATABASE_URL": "postgresql://u:p%23w@h/db"}


def test_env_text_error_names_the_line_not_its_content():
    with pytest.raises(di.IntrospectError) as err:
        di.parse_env_text("A=1\nsecret-password-line\n")
    assert "line 2" in str(err.value) and "secret" not in str(err.value)


def test_answer_is_the_last_marker_line():
    out = "app chatter\n%s{\"a\": 1}\nmore\n%s{\"a\": 2}\n" % (di.MARKER, di.MARKER)
    assert di.parse_answer(out) == {"a": 2}
    assert di.parse_answer("Traceback ...") is None


def test_script_holds_the_expectations_and_nothing_else():
    script = di.introspect_script("postgresql", "appdb")
    assert '"expect_vendor": "postgresql"' in script and '"expect_database": "appdb"' in script
    compile(script, "<introspect>", "exec")  # the %-template renders valid Python


def test_environment_order_as_systemd_environment_then_env_file():
    env = di.app_environment({"PATH": "/bin", "A": "base"}, {"A": "file", "B": "file"}, "/srv/app/.env",
                             {"B": "given", "N": 3})
    # EnvironmentFile= wins over Environment=: the .env's keys win over the given environment.
    assert env["A"] == "file" and env["B"] == "file" and env["N"] == "3"
    assert env["DJANGO_ENV_FILE"] == "/srv/app/.env" and env["PATH"] == "/bin"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_contract_problems_and_message_name_what_the_app_must_read():
    problems = di.contract_problems(SETTINGS, "postgresql", "appdb")
    assert problems == ["its vendor is sqlite, not postgresql", "its database NAME is /srv/app/db.sqlite3, not appdb"]
    message = di.contract_message(SETTINGS, problems, "/srv/app/.env.owner", {"DATABASE_URL", "POSTGRES_SSLMODE"})
    for needle in ("DJANGO_ENV_FILE", "DATABASE_URL", "/srv/app/.env.owner", "django.db.backends.sqlite3",
                   "was not opened"):
        assert needle in message
    on_target = dict(SETTINGS, database=dict(SETTINGS["database"], vendor="postgresql", name="appdb"))
    assert di.contract_problems(on_target, "postgresql", "appdb") == []


@pytest.mark.parametrize("answer, needle", [
    ({"error": "django", "exception": "ModuleNotFoundError", "message": "No module named 'django'"},
     "option python must be the python of the app's virtualenv"),
    ({"error": "settings", "exception": "ModuleNotFoundError", "missing_module": "demo_project",
      "message": "No module named 'demo_project'"}, "The settings module demo_project.settings was not found"),
    ({"error": "backend", "exception": "ImproperlyConfigured", "message": "Error loading psycopg2 or psycopg module"},
     "Install its driver"),
    ({"error": "setup", "exception": "RuntimeError", "message": "boom", "traceback": ["  File x", "RuntimeError: boom"]},
     "RuntimeError: boom"),
])
def test_error_messages_name_cause_and_fix(answer, needle):
    assert needle in di.error_message(answer, "/srv/app/.venv/bin/python", "demo_project.settings")
