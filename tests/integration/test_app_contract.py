"""The app's contract (issue 16 A), through migrate.yml, rollback.yml and role app_service alone.

The demo app reads its settings from its process environment only (no .env loader). Here a settings
module written by the test reads its database from keys of its own naming (DB_NAME, DB_HOST, ...), as
many real apps do; the collection must write those keys, export them into every manage.py it runs
(the schema step, the vendor proof, the post-load commands) and start the app with them. The health
URL is an HTML page behind a redirect (no JSON, no app code of ours); the vendor is proven with the
app's own python. The passwords are sentinels that must never show in the -vvv output.
"""

from __future__ import annotations

import http.server
import json
import os
import threading

import pytest
from migrate_site import assert_no_secret, health, sha256, site  # noqa: F401  pylint: disable=unused-import
from test_django_settings import App  # pylint: disable=import-error

pytestmark = pytest.mark.integration

SETTINGS_DB_KEYS = '''"""The demo's settings, the database from DB_* keys of the process environment (no file read)."""
import os

from demo_project.settings import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

if os.environ.get("DB_NAME"):
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["DB_NAME"], "USER": os.environ["DB_USER"],
        "PASSWORD": os.environ["DB_PASSWORD"], "HOST": os.environ["DB_HOST"], "PORT": os.environ["DB_PORT"],
        "OPTIONS": {"sslmode": os.environ["DB_SSLMODE"]}}}
'''
DB_KEYS = {"name": "DB_NAME", "user": "DB_USER", "password": "DB_PASSWORD", "host": "DB_HOST", "port": "DB_PORT",
           "sslmode": "DB_SSLMODE", "sslrootcert": ""}
# A manage.py command that says which database Django uses, and reads from it.
SAY_VENDOR = ("from django.db import connection; from inventory.models import Item; "
              "print('VENDOR', connection.vendor, connection.settings_dict['NAME'], Item.objects.count())")


def use_db_keys(site, **extra):
    (site.app_dir / "demo_project" / "settings_dbkeys.py").write_text(SETTINGS_DB_KEYS)
    site.write_inventory(extra_vars=dict({
        "pgmigrate_app_health_retries": 5, "pgmigrate_app_health_delay": 1,
        "pgmigrate_app_env_format": "discrete", "pgmigrate_app_env_keys": DB_KEYS,
        "pgmigrate_app_environment": {"DJANGO_SETTINGS_MODULE": "demo_project.settings_dbkeys"},
        # An HTML page behind a redirect (302 to /admin/login/): no JSON, no vendor in it.
        "pgmigrate_app_health_url": site.url.replace("/healthz", "/admin/"),
    }, **extra))


def test_env_only_app_with_its_own_key_names_html_health_and_a_post_load_command(site):
    use_db_keys(site, pgmigrate_post_load_manage_commands=[["shell", "-c", SAY_VENDOR]])
    run = site.run("migrate.yml")
    assert run.rc == 0, run.output[-4000:]
    env_text = site.env_file.read_text()
    assert "DB_NAME=%s\n" % site.db in env_text and "DB_USER=%s\n" % site.app_user in env_text
    assert "DB_PASSWORD=" in env_text and "DB_SSLMODE=prefer" in env_text
    assert "DATABASE_URL" not in env_text and "POSTGRES_DB" not in env_text and "SQLITE_PATH" not in env_text
    assert health(site.url)["vendor"] == "postgresql"

    report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
    assert report["consistent"] is True
    # The health page is HTML; the vendor and the database are proven with the app's own python.
    assert report["health"]["status"] == 200 and report["health"]["json"] == {}
    assert report["health"]["vendor"] == "postgresql" and report["health"]["database"] == site.db
    [command] = report["post_load_commands"]
    assert command["rc"] == 0 and command["command"].startswith("manage.py shell -c")
    assert "VENDOR postgresql %s %d" % (site.db, health(site.url)["items"]) in command["stdout"], command
    journal = next(iter(site.journals().values()))
    assert journal["post_load_commands"][0]["rc"] == 0
    assert_no_secret(site, run)

    back = site.run("rollback.yml")
    assert back.rc == 0, back.output[-3000:]
    assert site.env_file.read_bytes() == site.before["env"]
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0
    assert "uses sqlite" in back.output
    assert_no_secret(site, back)


def test_a_failing_post_load_command_rolls_back(site):
    use_db_keys(site, pgmigrate_post_load_manage_commands=[
        ["shell", "-c", "import sys; print('about to fail'); sys.exit(3)"]])
    run = site.run("migrate.yml")
    assert run.rc != 0 and "Rolled back:" in run.output, run.output[-3000:]
    assert "manage.py shell -c import sys" in run.output and "failed with rc 3" in run.output
    assert "about to fail" in run.output
    assert sha256(site.sqlite) == site.before["sqlite"] and site.env_file.read_bytes() == site.before["env"]
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0
    assert_no_secret(site, run)


def test_post_load_commands_that_are_not_argv_lists_are_refused_before_anything_stops(site):
    pid = site.app_pid()
    run = site.run("migrate.yml", "-e", json.dumps({"pgmigrate_post_load_manage_commands": [["update_index", ""], []]}))
    assert run.rc != 0 and "Preflight failed" in run.output, run.output[-3000:]
    assert "must be a list of manage.py argv lists" in run.output and "item 1 is []" in run.output
    assert site.app_pid() == pid and health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0


# -- role app_service alone: health without app code -----------------------------------------------------

class Pages(http.server.BaseHTTPRequestHandler):
    """/html: 200 HTML; /broken: 500 with 30 numbered lines; /json-mysql: 200 JSON naming another vendor."""

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        status, kind, body = {
            "/html": (200, "text/html", "<!doctype html>\n<title>Shop</title>\n<h1>Welcome</h1>\n"),
            "/broken": (500, "text/html", "".join("body line %02d\n" % number for number in range(1, 31))),
            "/json-mysql": (200, "application/json", json.dumps({"vendor": "mysql"})),
        }.get(self.path, (404, "text/plain", "no such page\n"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture(scope="module")
def pages():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def run_app_service(ansible, tmp_path, app, url, vendor="sqlite"):
    """Role app_service, state started, for an app that already runs (this process's pid)."""
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(str(os.getpid()))
    role_vars = {"app_service_state": "started", "app_service_manager": "command",
                 "app_service_start_command": ["/bin/false"], "app_service_pid_file": str(pid_file),
                 "app_service_health_url": url, "app_service_health_retries": 1, "app_service_health_delay": 0,
                 "app_service_python": app.args()["python"], "app_service_chdir": str(app.dir),
                 "app_service_env_file": str(app.env_file), "app_service_health_vendor": vendor,
                 "app_service_health_database": str(app.sqlite)}
    playbook = tmp_path / "app_service.yml"
    playbook.write_text(
        "- name: Role app_service alone\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Start and prove healthy\n      ansible.builtin.include_role:\n"
        "        name: pgmigrate.django.app_service\n      vars: %s\n"
        "    - name: Show the health answer\n      ansible.builtin.debug:\n        var: app_service_health\n"
        % json.dumps(role_vars))
    return ansible.playbook(playbook, callback="ansible.builtin.default")


@pytest.fixture
def app(tmp_path):
    return App(tmp_path)


def test_app_service_alone_html_page_passes_and_the_vendor_is_proven(ansible, tmp_path, app, pages):
    run = run_app_service(ansible, tmp_path, app, pages + "/html")
    assert run.rc == 0, run.output[-3000:]
    assert '"vendor": "sqlite"' in run.output and '"database": "%s"' % app.sqlite in run.output
    assert '"status": 200' in run.output


def test_app_service_alone_500_fails_with_the_status_and_the_first_lines(ansible, tmp_path, app, pages):
    run = run_app_service(ansible, tmp_path, app, pages + "/broken")
    assert run.rc != 0
    assert "HTTP status 500" in run.output and "body line 01" in run.output and "body line 20" in run.output
    assert "body line 21" not in run.output, "more than 20 lines of the body"
    assert "Check: the app's own log" in run.output


def test_app_service_alone_json_vendor_or_settings_on_another_database_fail(ansible, tmp_path, app, pages):
    run = run_app_service(ansible, tmp_path, app, pages + "/json-mysql")
    assert run.rc != 0 and "JSON vendor mysql where sqlite was expected" in run.output, run.output[-3000:]
    # The page answers, but the app's own settings are on SQLite, not PostgreSQL.
    run = run_app_service(ansible, tmp_path, app, pages + "/html", vendor="postgresql")
    assert run.rc != 0 and "Settings contract broken" in run.output and "vendor is sqlite, not postgresql" in run.output
