"""pgmigrate.django.django_settings against the real demo app (its python, its settings, its .env).

Each test copies the demo app into its own directory, with its own SQLite file built by the app's
own `manage.py migrate`. The settings contract is proven against the local PostgreSQL: the app
that follows DATABASE_URL passes; an app that ignores it is refused before any of its code runs,
and its SQLite file is byte for byte and mtime for mtime what it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from demo_site import app_environ  # noqa: E402  pylint: disable=wrong-import-position,import-error
DEMO_APP = REPO / "examples" / "demo_app"
EXTRA_MODELS = '''
from django.db import models


class Stamped(models.Model):
    stamped_at = models.DateTimeField()

    class Meta:
        abstract = True


class Place(Stamped):
    name = models.CharField(max_length=50)
    opens = models.TimeField(null=True)


class Restaurant(Place):
    rating = models.DecimalField(max_digits=4, decimal_places=1)
    founded = models.DateField()


class Menu(models.Model):
    code = models.DecimalField(max_digits=6, decimal_places=0, primary_key=True)
    restaurants = models.ManyToManyField(Restaurant)


class MenuAlias(Menu):
    pass


class MenuProxy(Menu):
    class Meta:
        proxy = True


class Dish(models.Model):
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE)
'''


def fingerprint(path):
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


class App:
    """A private copy of the demo app with a migrated SQLite file and a .env."""

    def __init__(self, root, env_lines=()):
        self.dir = root / "app"
        shutil.copytree(DEMO_APP, self.dir, ignore=shutil.ignore_patterns("db.sqlite3*", ".env", "__pycache__",
                                                                          "tests"))
        self.sqlite = root / "db.sqlite3"
        self.env_file = self.dir / ".env"
        self.write_env(env_lines)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=self.dir, check=True,
                       capture_output=True, env=self.environ())
        self.before = fingerprint(self.sqlite)

    @staticmethod
    def clean_environ():
        return {key: value for key, value in os.environ.items()
                if not key.startswith(("DJANGO_", "POSTGRES_")) and key != "DATABASE_URL"}

    def environ(self, env_file=None, **extra):
        """The app's process environment: its .env's keys exported (the app reads no file itself)."""
        return dict(app_environ(env_file or self.env_file, self.clean_environ()), **extra)

    def write_env(self, lines, path=None):
        path = path or self.env_file
        path.write_text("DJANGO_SECRET_KEY=test-not-secret\nSQLITE_PATH=%s\n%s" % (
            self.sqlite, "".join(line + "\n" for line in lines)))
        path.chmod(0o600)
        return path

    def ignore_database_url(self):
        """Settings that hard-code the SQLite file, as an app that never read its environment."""
        settings = self.dir / "demo_project" / "settings.py"
        settings.write_text(settings.read_text() + "\nDATABASES = {'default': {'ENGINE': "
                            "'django.db.backends.sqlite3', 'NAME': %r}}\n" % str(self.sqlite))

    def add_models(self):
        extra = self.dir / "extra"
        extra.mkdir()
        (extra / "__init__.py").write_text("")
        (extra / "models.py").write_text(EXTRA_MODELS)
        settings = self.dir / "demo_project" / "settings.py"
        settings.write_text(settings.read_text() + "\nINSTALLED_APPS = INSTALLED_APPS + ['extra']\n")

    def args(self, **extra):
        return dict(dict(python=sys.executable, app_dir=str(self.dir), env_file=str(self.env_file)), **extra)

    def unchanged(self):
        names = sorted(p.name for p in self.sqlite.parent.iterdir() if p.name.startswith("db.sqlite3"))
        return fingerprint(self.sqlite) == self.before and names == ["db.sqlite3"]


@pytest.fixture
def app(tmp_path):
    return App(tmp_path)


def test_reads_the_demo_apps_settings_and_every_table(app, ansible):
    result = ansible.module("django_settings", app.args())
    assert result.rc == 0 and not result.result.get("changed"), result.output[-3000:]
    settings = result.result["settings"]
    assert settings == {"use_tz": True, "time_zone": "UTC",
                        "database": {"engine": "django.db.backends.sqlite3", "name": str(app.sqlite), "host": "",
                                     "port": "", "vendor": "sqlite"}}
    assert result.result["settings_module"] == "demo_project.settings"
    tables = result.result["tables"]
    item = tables["inventory_item"]
    assert item["price"] == {"field": "DecimalField", "internal_type": "DecimalField", "null": False,
                             "primary_key": False, "max_digits": 12, "decimal_places": 2}
    assert item["id"]["primary_key"] is True and item["id"]["internal_type"] == "BigAutoField"
    assert item["category_id"] == {"field": "ForeignKey", "internal_type": "BigAutoField", "null": False,
                                   "primary_key": False}
    for column, internal in (("created_at", "DateTimeField"), ("release_date", "DateField"),
                             ("warranty", "DurationField"), ("attributes", "JSONField"), ("uuid", "UUIDField"),
                             ("active", "BooleanField")):
        assert item[column]["internal_type"] == internal, column
    assert item["note"]["null"] is True
    # Many-to-many tables are there, with the column types of what they point to.
    assert set(tables["inventory_item_tags"]) == {"id", "item_id", "tag_id"}
    assert tables["auth_user_groups"]["group_id"]["internal_type"] == "AutoField"
    assert set(tables) >= {"auth_user", "auth_permission", "django_content_type", "django_session",
                           "django_admin_log", "inventory_event", "inventory_category", "inventory_tag"}
    # The migrations table is no model: the loaders handle it by its PostgreSQL types.
    assert "django_migrations" not in tables
    assert app.unchanged()


def test_time_zone_settings_from_the_apps_env_file_and_from_environment(app, ansible):
    app.write_env(["DJANGO_USE_TZ=False", "DJANGO_TIME_ZONE=Australia/Lord_Howe"])
    result = ansible.module("django_settings", app.args())
    assert result.rc == 0, result.output[-3000:]
    assert (result.result["settings"]["use_tz"], result.result["settings"]["time_zone"]) == (False, "Australia/Lord_Howe")
    # The .env wins over environment, as systemd's EnvironmentFile= over Environment=; environment fills the rest.
    result = ansible.module("django_settings", app.args(environment={"DJANGO_TIME_ZONE": "Asia/Kolkata"}))
    assert result.result["settings"]["time_zone"] == "Australia/Lord_Howe"
    app.write_env(["DJANGO_USE_TZ=False"])
    result = ansible.module("django_settings", app.args(environment={"DJANGO_TIME_ZONE": "Asia/Kolkata"}))
    assert result.result["settings"]["time_zone"] == "Asia/Kolkata"
    assert app.unchanged()


def test_inherited_abstract_m2m_and_proxy_models(app, ansible):
    app.add_models()
    result = ansible.module("django_settings", app.args())
    assert result.rc == 0, result.output[-3000:]
    tables = result.result["tables"]
    # Multi-table inheritance: each table holds its own columns; the child's key points to the parent.
    assert set(tables["extra_place"]) == {"id", "stamped_at", "name", "opens"}
    assert tables["extra_place"]["stamped_at"]["internal_type"] == "DateTimeField"
    assert tables["extra_place"]["opens"]["internal_type"] == "TimeField"
    restaurant = tables["extra_restaurant"]
    assert set(restaurant) == {"place_ptr_id", "rating", "founded"}
    assert restaurant["place_ptr_id"] == {"field": "OneToOneField", "internal_type": "BigAutoField", "null": False,
                                          "primary_key": True}
    assert restaurant["rating"]["max_digits"] == 4 and restaurant["rating"]["decimal_places"] == 1
    # A decimal primary key and the keys that point to it (FK, m2m, inheritance) keep digits and places.
    for table, column in (("extra_menu", "code"), ("extra_dish", "menu_id"), ("extra_menu_restaurants", "menu_id"),
                          ("extra_menualias", "menu_ptr_id")):
        assert (tables[table][column]["internal_type"], tables[table][column]["max_digits"],
                tables[table][column]["decimal_places"]) == ("DecimalField", 6, 0), (table, column)
    assert "extra_menuproxy" not in tables and "extra_stamped" not in tables


def test_contract_holds_when_the_app_follows_database_url(app, ansible, pg_target):
    owner_env = app.write_env(["DATABASE_URL=%s" % pg_target.database_url], path=app.dir / ".env.owner")
    args = app.args(env_file=str(owner_env), expect_vendor="postgresql", expect_database=pg_target.dbname)
    for check in (True, False):
        result = ansible.module("django_settings", args, check=check, verbosity=3)
        assert result.rc == 0, result.output[-3000:]
        database = result.result["settings"]["database"]
        assert (database["vendor"], database["name"], database["engine"]) == (
            "postgresql", pg_target.dbname, "django.db.backends.postgresql")
        assert database["port"] == str(pg_target.port)
        assert "inventory_item" in result.result["tables"]
        assert pg_target.password not in result.output
    assert app.unchanged()


def test_contract_refuses_an_app_that_ignores_database_url(app, ansible, pg_target):
    app.ignore_database_url()
    owner_env = app.write_env(["DATABASE_URL=%s" % pg_target.database_url], path=app.dir / ".env.owner")
    result = ansible.module("django_settings", app.args(
        env_file=str(owner_env), expect_vendor="postgresql", expect_database=pg_target.dbname), verbosity=3)
    assert result.failed
    message = result.result["msg"]
    for needle in ("Settings contract broken", "DJANGO_ENV_FILE", "DATABASE_URL", str(owner_env),
                   "vendor is sqlite, not postgresql", "was not opened"):
        assert needle in message, needle
    assert result.result["settings"]["database"]["vendor"] == "sqlite"
    assert result.result["tables"] == {}
    assert pg_target.password not in result.output
    # Not opened, not written: same bytes, same mtime, no journal or WAL next to it.
    assert app.unchanged()


def test_contract_env_file_keys_are_the_environment(app, ansible, pg_target):
    """The .env's keys are exported (the demo app reads only its environment); with env_file_export=false
    (DJANGO_ENV_FILE alone, the earlier contract) the same app is refused, naming what it must read."""
    owner_env = app.write_env(["DATABASE_URL=%s" % pg_target.database_url], path=app.dir / ".env.owner")
    args = app.args(env_file=str(owner_env), expect_vendor="postgresql", expect_database=pg_target.dbname)
    result = ansible.module("django_settings", args)
    assert result.rc == 0, result.output[-3000:]
    result = ansible.module("django_settings", dict(args, env_file_export=False, database_keys=["DB_URL"]))
    assert result.failed and "DB_URL" in result.result["msg"], result.output[-3000:]
    assert "process environment" in result.result["msg"]
    assert app.unchanged()


def test_contract_refuses_settings_without_the_target(app, ansible, pg_target):
    # The owner's settings forgot the database URL: Django stays on SQLite.
    result = ansible.module("django_settings", app.args(expect_vendor="postgresql", expect_database=pg_target.dbname))
    assert result.failed and "(SQLITE_PATH)" in result.result["msg"] and "not postgresql" in result.result["msg"]
    assert app.unchanged()


def test_an_app_whose_startup_queries_cannot_write_to_sqlite(app, ansible):
    # App code that writes while it starts up (AppConfig.ready) meets a read-only database.
    apps_py = app.dir / "inventory" / "apps.py"
    apps_py.write_text(apps_py.read_text() + (
        "\n\ndef _write_on_ready(self):\n    from django.db import connection\n"
        "    with connection.cursor() as cursor:\n        cursor.execute('CREATE TABLE pgm_probe (x int)')\n\n\n"
        "InventoryConfig.ready = _write_on_ready\n"))
    result = ansible.module("django_settings", app.args())
    assert result.failed
    assert "readonly database" in result.result["msg"] and "step setup" in result.result["msg"]
    assert app.unchanged()


def test_missing_python_is_named(app, ansible):
    result = ansible.module("django_settings", app.args(python=str(app.dir / "venv" / "bin" / "python")))
    assert result.failed and "does not exist or is not executable" in result.result["msg"]


def test_python_without_django_is_named(app, ansible):
    result = ansible.module("django_settings", app.args(python="/usr/bin/python3"))
    assert result.failed, result.output[-2000:]
    assert "Django cannot be imported" in result.result["msg"]


def test_settings_module_not_found_is_named(app, ansible):
    result = ansible.module("django_settings", app.args(settings_module="demo_project.nosuchsettings"))
    assert result.failed
    assert "The settings module demo_project.nosuchsettings was not found" in result.result["msg"]


def test_import_error_shows_the_last_traceback_lines(app, ansible):
    settings = app.dir / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport not_installed_anywhere  # noqa\n")
    result = ansible.module("django_settings", app.args())
    assert result.failed
    message = result.result["msg"]
    assert "ModuleNotFoundError" in message and "not_installed_anywhere" in message and "settings.py" in message


def test_bad_setting_in_env_file_is_reported(app, ansible):
    app.write_env(["DJANGO_TIME_ZONE=Mars/Olympus"])
    result = ansible.module("django_settings", app.args())
    assert result.failed and "DJANGO_TIME_ZONE must be an IANA time zone" in result.result["msg"]
