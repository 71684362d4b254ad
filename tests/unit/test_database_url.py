"""database_url filter: every awkward password survives Django's (the demo app's) and libpq's URL parsing."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg2.extensions
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgmigrate.django.plugins.filter.database_url import FilterModule, database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "demo_app"))
from demo_project.envconfig import parse_database_url  # noqa: E402  (the app's own settings parser)

PASSWORDS = ["plain", "p@ss:w/rd?#%+ x", "%2F already-encoded", "ümlaut ünïcode €", "a+b=c&d", "trailing space "]


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_round_trips_through_django_and_libpq(password):
    url = database_url({"user": "app user@x", "password": password, "host": "db.example.com", "port": 6432,
                        "dbname": "shop-db ü", "params": {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/pg ca.crt"}})
    assert password not in url or password.isalnum()
    django = parse_database_url(url)
    assert django["USER"] == "app user@x" and django["PASSWORD"] == password and django["NAME"] == "shop-db ü"
    assert django["HOST"] == "db.example.com" and str(django["PORT"]) == "6432"
    assert django["OPTIONS"] == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/pg ca.crt"}
    libpq = psycopg2.extensions.parse_dsn(url)
    assert libpq["password"] == password and libpq["user"] == "app user@x" and libpq["dbname"] == "shop-db ü"


def test_ipv6_host_is_bracketed_and_empty_params_are_dropped():
    url = database_url({"user": "u", "password": "", "host": "fd00::5", "dbname": "d", "params": {"sslmode": ""}})
    assert url == "postgresql://u@[fd00::5]:5432/d"
    assert psycopg2.extensions.parse_dsn(url)["host"] == "fd00::5"


@pytest.mark.parametrize("parts, message", [
    ("postgresql://x", "expects a dict"),
    ({"user": "u", "host": "h"}, "missing dbname"),
    ({"user": "u", "host": "h", "dbname": "d", "port": "x"}, "port must be an integer"),
])
def test_bad_input_is_refused(parts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        database_url(parts)


def test_filter_is_registered():
    assert FilterModule().filters()["database_url"] is database_url
