"""migrate.yml with the app's own settings: the settings contract, decimals, USE_TZ = False.

The demo site of migrate_site.py (gunicorn on SQLite, a provisioned empty target). The preflight
asks the app itself (pgmigrate.django.django_settings) with the owner's temporary settings before
the schema step, and hands the answer to the preflight scan, the load and the check.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from migrate_site import ROWS, assert_no_secret, health, sha256, site  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.integration


def test_an_app_that_ignores_database_url_is_refused_in_preflight(site):
    pid = site.pid_file.read_text().strip()
    settings = site.app_dir / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + "\nDATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
                        "'NAME': %r}}\n" % str(site.sqlite))
    run = site.run("migrate.yml")
    assert run.rc != 0
    assert "Preflight failed" in run.output and "Settings contract broken" in run.output
    assert "DJANGO_ENV_FILE" in run.output and "DATABASE_URL" in run.output
    # Refused before manage.py migrate: no table in the target, the SQLite file as it was, the app never stopped.
    assert site.target_tables() == 0
    assert sha256(site.sqlite) == site.before["sqlite"]
    assert site.pid_file.read_text().strip() == pid and health(site.url)["vendor"] == "sqlite"
    assert_no_secret(site, run)


def test_over_precise_decimal_reported_by_the_preflight_only_run_then_rounded(site):
    pid = site.pid_file.read_text().strip()
    conn = sqlite3.connect(site.sqlite)
    with conn:  # what F("price") * 1.1 leaves behind
        conn.execute("UPDATE inventory_item SET price = 9077091.122 WHERE id = (SELECT min(id) FROM inventory_item)")
    conn.close()
    run = site.run("migrate.yml", "-e", "pgmigrate_preflight_only=true")
    assert run.rc != 0
    assert "inventory_item.price" in run.output and "decimal_overflow=round" in run.output
    assert site.pid_file.read_text().strip() == pid and health(site.url)["vendor"] == "sqlite"
    assert site.target_tables() == 0

    run = site.run("migrate.yml", "-e", "pgmigrate_decimal_overflow=round")
    assert run.rc == 0, run.output[-4000:]
    assert health(site.url)["vendor"] == "postgresql"
    assert site.in_target_as_admin("SELECT count(*) FROM inventory_item WHERE price = 9077091.12")[0][0] == 1
    assert re.search(r'"decimal_rounded": \{\s*"inventory_item": 1\s*\}', run.output), "the rounded value is not counted"
    assert_no_secret(site, run)


# Each zone once through the whole playbook, both engines among them (3 zones x 2 engines run at module
# level in test_django_values_load.py).
@pytest.mark.parametrize("zone, engine", [("America/New_York", "copy"), ("Asia/Kolkata", "pgloader"),
                                          ("Australia/Lord_Howe", "copy")])
def test_use_tz_false_site_migrates_with_the_same_wall_clock(site, zone, engine):
    with site.env_file.open("a") as env:
        env.write("DJANGO_USE_TZ=False\nDJANGO_TIME_ZONE=%s\n" % zone)
    site.stop_app()
    site.start_app()
    conn = sqlite3.connect(site.sqlite)
    before = dict(conn.execute("SELECT id, happened_at FROM inventory_event"))
    conn.close()
    run = site.run("migrate.yml", "-e", "pgmigrate_engine=%s" % engine)
    assert run.rc == 0, run.output[-4000:]
    assert health(site.url)["vendor"] == "postgresql"
    after = dict(site.in_target_as_admin(
        "SELECT id, to_char(happened_at AT TIME ZONE %s, 'YYYY-MM-DD HH24:MI:SS.US') FROM inventory_event", (zone,)))
    assert after == {key: value if "." in value else value + ".000000" for key, value in before.items()}
