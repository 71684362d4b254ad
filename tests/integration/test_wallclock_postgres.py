"""wallclock's instants and read-backs are PostgreSQL's own: every unit-test case asked to the server.

The copy engine loads naive text with `SET TimeZone = TIME_ZONE` and Django (USE_TZ = False)
reads `AT TIME ZONE` it; if PostgreSQL's choice for a skipped or repeated hour ever differed
from wallclock.to_utc, the loaded values and the check would disagree. This test would fail.
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import wallclock as wc

from tests.unit.test_wallclock import CASES

pytestmark = pytest.mark.integration


def test_postgresql_makes_the_same_instants_and_wall_clocks(pg_target):
    conn = pg_target.connect()
    try:
        with conn.cursor() as cur:
            for tz, text, kind, _utc, _back in CASES:
                cur.execute("SELECT set_config('TimeZone', %s, false)", (tz.key,))
                cur.execute("SELECT %s::timestamptz, (%s::timestamptz AT TIME ZONE %s)", (text, text, tz.key))
                instant, back = cur.fetchone()
                expected, found = wc.to_utc(wc.parse_datetime(text), tz)
                assert found == kind
                assert instant == expected, (tz.key, text)
                assert back == wc.expected_wall_clock(wc.parse_datetime(text), tz), (tz.key, text)
                assert isinstance(back, datetime.datetime) and back.tzinfo is None
    finally:
        conn.close()
