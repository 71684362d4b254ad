"""Issue 16's "Done when" on two real third-party sites from PyPI (examples/sites/README.md).

Each site (wagtail 8, django-oscar 4) is built on SQLite with its own migrations and data made
through its own models, served by gunicorn, then moved by the unmodified playbooks with an
inventory of variables only (examples/sites/try_migrate.sh writes it):

  migrate.yml   rc 0; the front page answers 2xx; the app's own manage.py, run with the app's
                environment, reports connection.vendor postgresql; the front page still answers
                2xx while the SQLite file is moved aside; the run's report and an independent
                consistency_check (examples/sites/check_copy.yml) find the copy equal
  migrate.yml   again: rc 0, changed=0
  rollback.yml  rc 0; the front page answers 2xx and manage.py reports sqlite
Afterwards the site is stopped, its database and roles dropped, and its port is free.
Run with `make test-apps` (tests/apps/run.sh: PGMIGRATE_TEST_APPS=1, one pytest per site, side by side);
PGMIGRATE_ENGINE picks the engine (copy).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SITES_SRC = REPO / "examples" / "sites"
SITES_WORK = Path(os.environ.get("PGMIGRATE_SITES_DIR", REPO / ".cache" / "sites"))
SITES = os.environ.get("TEST_APPS", "wagtail oscar").split()
BASE_PORT = int(os.environ.get("TEST_APPS_PORT", "18600"))
VENDOR_PROBE = (
    "from django.db import connection; connection.ensure_connection(); "
    "print('VENDOR', connection.vendor, connection.settings_dict['NAME'])"
)


# A fixed port per site, so that sites may run side by side (tests/apps/run.sh).
KNOWN_SITES = sorted(path.parent.name for path in SITES_SRC.glob("*/site.conf"))


def _port(name):
    return BASE_PORT + 1 + KNOWN_SITES.index(name)


def _try_migrate(name, action, timings):
    """examples/sites/try_migrate.sh NAME PORT ACTION; returns (rc, output, log text)."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(SITES_SRC / "try_migrate.sh"), name, str(_port(name)), action],
        capture_output=True, text=True, check=False,
    )
    timings["%d-%s" % (len(timings) + 1, action)] = round(time.monotonic() - start, 1)
    output = proc.stdout + proc.stderr
    match = re.search(r"\(log: (\S+)\)", output)
    log = Path(match.group(1)).read_text(encoding="utf-8") if match else ""
    return proc.returncode, output, log


def _recap_changed(log):
    recap = re.findall(r"^localhost\s+:.*\bchanged=(\d+)", log, re.MULTILINE)
    assert recap, "no PLAY RECAP in the log"
    return int(recap[-1])


def _site_env(name):
    """The site's environment file as systemd's EnvironmentFile= reads it (KEY=VALUE, quotes removed)."""
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    for line in (SITES_WORK / name / "site.env").read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def _vendor(name):
    """(vendor, database name) as the app's own manage.py sees them with its environment."""
    work = SITES_WORK / name
    proc = subprocess.run(
        [str(work / "venv" / "bin" / "python"), "manage.py", "shell", "-c", VENDOR_PROBE],
        cwd=work / "app", env=_site_env(name), capture_output=True, text=True, check=False, timeout=120,
    )
    match = re.search(r"^VENDOR (\S+) (.*)$", proc.stdout, re.MULTILINE)
    assert match, "manage.py shell failed (rc %s): %s" % (proc.returncode, (proc.stdout + proc.stderr)[-2000:])
    return match.group(1), match.group(2)


def _front_page(name):
    """Status of GET / after redirects (a shop redirects / to its catalogue)."""
    url = "http://127.0.0.1:%d/" % _port(name)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _listening(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _assert_ok(rc, output, log, what):
    tail = "\n".join(log.splitlines()[-60:])
    assert rc == 0, "%s failed (rc %s):\n%s\n--- log tail ---\n%s" % (what, rc, output[-3000:], tail)


@pytest.fixture(name="site")
def fixture_site(request):
    """The site's name; afterwards: stopped, database dropped, port free, timings written."""
    name = request.param
    timings = {}
    results = {}
    yield name, timings, results
    rc, output = _try_migrate(name, "cleanup", timings)[:2]
    summary = {"site": name, "engine": os.environ.get("PGMIGRATE_ENGINE", "copy"),
               "seconds": timings, "checks": results}
    (SITES_WORK / name / "test-result.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print("\n%s: %s" % (name, json.dumps(summary)))
    assert rc == 0, "cleanup failed: %s" % output
    assert not _listening(_port(name)), "something still listens on port %d" % _port(name)


@pytest.mark.parametrize("site", SITES, indirect=True)
def test_real_site_migrates_and_rolls_back(site):
    name, timings, results = site
    sqlite_path = SITES_WORK / name / "data" / "db.sqlite3"

    rc, output, log = _try_migrate(name, "prepare", timings)
    _assert_ok(rc, output, log, "building and serving the site on SQLite")
    assert _vendor(name)[0] == "sqlite"

    rc, output, log = _try_migrate(name, "migrate", timings)
    _assert_ok(rc, output, log, "migrate.yml")
    results["migrate_rc"] = rc

    vendor, database = _vendor(name)
    results["vendor_after_migrate"] = [vendor, database]
    assert (vendor, database) == ("postgresql", "pgm_site_%s" % name)
    results["front_page_postgresql"] = _front_page(name)
    assert 200 <= results["front_page_postgresql"] < 300

    report = json.loads((SITES_WORK / name / "reports" / "migration-localhost.json").read_text(encoding="utf-8"))
    results["report_consistent"] = report["consistent"]
    results["report_rows"] = report["rows"]
    assert report["consistent"] in (True, "True", "true")

    rc, output, log = _try_migrate(name, "check", timings)
    results["consistency_check_rc"] = rc
    _assert_ok(rc, output, log, "consistency_check of the SQLite file against PostgreSQL")

    # The front page from PostgreSQL alone: with the SQLite file moved aside, a site still on
    # SQLite would open a new empty file and fail.
    aside = sqlite_path.with_name(sqlite_path.name + ".aside")
    sqlite_path.rename(aside)
    try:
        results["front_page_without_sqlite"] = _front_page(name)
        assert not sqlite_path.exists(), "the site created a new SQLite file: it still uses SQLite"
    finally:
        aside.replace(sqlite_path)
    assert 200 <= results["front_page_without_sqlite"] < 300

    rc, output, log = _try_migrate(name, "migrate", timings)
    _assert_ok(rc, output, log, "the second migrate.yml")
    results["rerun_changed"] = _recap_changed(log)
    assert results["rerun_changed"] == 0, "the second run changed something:\n%s" % output

    rc, output, log = _try_migrate(name, "rollback", timings)
    results["rollback_rc"] = rc
    _assert_ok(rc, output, log, "rollback.yml")
    vendor, database = _vendor(name)
    results["vendor_after_rollback"] = [vendor, database]
    assert vendor == "sqlite" and Path(database) == sqlite_path
    results["front_page_sqlite_after_rollback"] = _front_page(name)
    assert 200 <= results["front_page_sqlite_after_rollback"] < 300
