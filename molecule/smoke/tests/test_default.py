"""Testinfra checks for the smoke scenario: systemd really runs the container."""

import json

SMOKE_FILE = "/srv/pgmigrate-smoke/index.html"
SMOKE_URL = "http://127.0.0.1:8080/index.html"


def test_pid1_is_systemd(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_is_running(host):
    # is-system-running exits non-zero when degraded: read its output instead.
    state = host.run("systemctl is-system-running").stdout.strip()
    failed = host.run("systemctl --failed --no-legend --plain").stdout
    assert state in ("running", "degraded"), f"state={state!r}, failed units:\n{failed}"


def test_cron_running_and_enabled(host):
    assert host.package("cron").is_installed
    cron = host.service("cron")
    assert cron.is_running
    assert cron.is_enabled


def test_smoke_file(host):
    smoke = host.file(SMOKE_FILE)
    assert smoke.is_file
    assert smoke.user == "root"
    assert smoke.group == "www-data"
    assert smoke.mode == 0o640
    assert smoke.content_string == "pgmigrate smoke ok\n"


def test_web_service_serves_the_file(host):
    web = host.service("pgmigrate-smoke-web")
    assert web.is_running
    assert web.is_enabled
    main_pid = host.run("systemctl show -p MainPID --value pgmigrate-smoke-web").stdout.strip()
    assert host.run(f"ps -o user= -p {main_pid}").stdout.strip() == "www-data"
    assert host.socket("tcp://127.0.0.1:8080").is_listening
    fetch = host.run(
        "python3 -c 'import json, sys, urllib.request; r = urllib.request.urlopen(sys.argv[1], timeout=5); "
        "print(json.dumps([r.status, r.read().decode()]))' " + SMOKE_URL
    )
    assert fetch.rc == 0, fetch.stderr
    assert json.loads(fetch.stdout) == [200, "pgmigrate smoke ok\n"]
