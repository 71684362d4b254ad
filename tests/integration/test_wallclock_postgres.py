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


def test_loaded_in_the_zone_and_read_back_as_django_reads_it(pg_target):
    """Loaded with the session in TIME_ZONE, selected by the check's expression, compared by its plan."""
    from ansible_collections.pgmigrate.django.plugins.module_utils import django_compare, django_values
    from ansible_collections.pgmigrate.django.plugins.module_utils import value_normalize

    conn = pg_target.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY, created_at timestamptz)")
            for tz in {case[0] for case in CASES}:
                cases = [case for case in CASES if case[0] is tz]
                cur.execute("TRUNCATE t")
                cur.execute("SELECT set_config('TimeZone', %s, false)", (tz.key,))
                for key, case in enumerate(cases):
                    cur.execute("INSERT INTO t VALUES (%s, %s)", (key, case[1]))
                cur.execute("SELECT set_config('TimeZone', 'UTC', false)")  # the check's own session
                values = django_values.DjangoValues({
                    "settings": {"use_tz": False, "time_zone": tz.key},
                    "tables": {"t": {"created_at": {"internal_type": "DateTimeField"}}}})
                base = {"name": "created_at", "udt": "timestamptz", "type": "timestamp with time zone"}
                for policy in ("refuse", "shift_forward"):
                    plan = django_compare.adapt_plan(value_normalize.column_plan("created_at", "created_at", base),
                                                     values, "t", gap_policy=policy)
                    cur.execute(plan.expression.as_string(conn).join(("SELECT ", " FROM t ORDER BY id")))
                    read_back = [row[0] for row in cur.fetchall()]
                    for case, target in zip(cases, read_back):
                        expected = case[2] != wc.GAP or policy == "shift_forward"
                        assert plan.same(case[1], target) is expected, (tz.key, case[1], target, policy)
    finally:
        conn.close()
