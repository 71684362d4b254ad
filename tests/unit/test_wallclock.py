"""Naive Django datetimes as wall-clock time in TIME_ZONE: gaps, repeats, PostgreSQL's choice.

The instants expected here were read from PostgreSQL 15 (`SET TimeZone = ...; SELECT
'<text>'::timestamptz AT TIME ZONE 'UTC'`); tests/integration/test_wallclock_postgres.py asks the
real server the same questions for every sample below.
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import wallclock as wc

NY = wc.zone("America/New_York")
KOLKATA = wc.zone("Asia/Kolkata")
LORD_HOWE = wc.zone("Australia/Lord_Howe")

# (zone, naive local text, kind, UTC instant PostgreSQL makes of it, wall clock it reads back)
CASES = [
    (NY, "2017-10-02 18:55:02", wc.OK, "2017-10-02 22:55:02", "2017-10-02 18:55:02"),
    (NY, "2021-01-15 12:00:00.000001", wc.OK, "2021-01-15 17:00:00.000001", "2021-01-15 12:00:00.000001"),
    (NY, "2021-03-14 01:59:59.999999", wc.OK, "2021-03-14 06:59:59.999999", "2021-03-14 01:59:59.999999"),
    (NY, "2021-03-14 02:00:00", wc.GAP, "2021-03-14 07:00:00", "2021-03-14 03:00:00"),
    (NY, "2021-03-14 02:30:00", wc.GAP, "2021-03-14 07:30:00", "2021-03-14 03:30:00"),
    (NY, "2021-03-14 03:00:00", wc.OK, "2021-03-14 07:00:00", "2021-03-14 03:00:00"),
    (NY, "2021-11-07 00:59:59", wc.OK, "2021-11-07 04:59:59", "2021-11-07 00:59:59"),
    (NY, "2021-11-07 01:00:00", wc.AMBIGUOUS, "2021-11-07 06:00:00", "2021-11-07 01:00:00"),
    (NY, "2021-11-07 01:30:00", wc.AMBIGUOUS, "2021-11-07 06:30:00", "2021-11-07 01:30:00"),
    (NY, "2021-11-07 02:00:00", wc.OK, "2021-11-07 07:00:00", "2021-11-07 02:00:00"),
    (KOLKATA, "2017-10-02 18:55:02", wc.OK, "2017-10-02 13:25:02", "2017-10-02 18:55:02"),
    (KOLKATA, "2024-03-31 02:30:00", wc.OK, "2024-03-30 21:00:00", "2024-03-31 02:30:00"),
    # India's war time: +05:30 -> +06:30 at midnight on 1941-10-01 (a one-hour gap) and back.
    (KOLKATA, "1941-10-01 00:30:00", wc.GAP, "1941-09-30 19:00:00", "1941-10-01 01:30:00"),
    (KOLKATA, "1941-10-01 01:00:00", wc.OK, "1941-09-30 18:30:00", "1941-10-01 01:00:00"),
    (KOLKATA, "1942-05-14 23:30:00", wc.AMBIGUOUS, "1942-05-14 18:00:00", "1942-05-14 23:30:00"),
    # Local mean time +05:21:10 -> +05:30 on 1906-01-01: a gap of 8 min 50 s.
    (KOLKATA, "1906-01-01 00:05:00", wc.GAP, "1905-12-31 18:43:50", "1906-01-01 00:13:50"),
    # Lord Howe Island moves its clocks by half an hour (+10:30 <-> +11:00) at 02:00.
    (LORD_HOWE, "2021-10-03 01:59:00", wc.OK, "2021-10-02 15:29:00", "2021-10-03 01:59:00"),
    (LORD_HOWE, "2021-10-03 02:15:00", wc.GAP, "2021-10-02 15:45:00", "2021-10-03 02:45:00"),
    (LORD_HOWE, "2021-10-03 02:30:00", wc.OK, "2021-10-02 15:30:00", "2021-10-03 02:30:00"),
    (LORD_HOWE, "2021-04-04 01:29:59", wc.OK, "2021-04-03 14:29:59", "2021-04-04 01:29:59"),
    (LORD_HOWE, "2021-04-04 01:45:00", wc.AMBIGUOUS, "2021-04-03 15:15:00", "2021-04-04 01:45:00"),
    (LORD_HOWE, "2021-04-04 02:00:00", wc.OK, "2021-04-03 15:30:00", "2021-04-04 02:00:00"),
]


def naive(text):
    return datetime.datetime.fromisoformat(text)


@pytest.mark.parametrize("tz, text, kind, utc, back", CASES, ids=str)
def test_instant_kind_and_wall_clock_read_back(tz, text, kind, utc, back):
    value = wc.parse_datetime(text)
    assert wc.classify(value, tz) == kind
    instant, found = wc.to_utc(value, tz)
    assert found == kind
    assert instant == naive(utc).replace(tzinfo=wc.UTC)
    assert wc.wall_clock(instant, tz) == naive(back)
    assert wc.expected_wall_clock(value, tz) == naive(back)
    # Only a skipped hour reads back as another wall clock.
    assert (naive(back) == value) is (kind != wc.GAP)


def test_repeated_hour_reads_back_the_same_whichever_offset():
    value = naive("2021-11-07 01:30:00")
    for fold in (0, 1):
        instant = value.replace(tzinfo=NY, fold=fold).astimezone(wc.UTC)
        assert wc.wall_clock(instant, NY) == value


def test_parse_datetime_forms_django_writes():
    assert wc.parse_datetime("2038-01-19 03:14:08.000001") == datetime.datetime(2038, 1, 19, 3, 14, 8, 1)
    assert wc.parse_datetime("2000-02-29 00:00:00") == datetime.datetime(2000, 2, 29)
    assert wc.parse_datetime("2000-02-29") == datetime.datetime(2000, 2, 29)
    assert wc.parse_datetime("2000-02-29T10:11:12.5") == datetime.datetime(2000, 2, 29, 10, 11, 12, 500000)
    aware = wc.parse_datetime("2021-03-14 02:30:00+05:30")
    assert aware.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    assert wc.to_utc(aware, NY) == (datetime.datetime(2021, 3, 13, 21, 0, tzinfo=wc.UTC), wc.OK)


@pytest.mark.parametrize("text", ["", "yesterday", "2021-02-30 10:00:00", "2021-13-01", "10:00"])
def test_parse_datetime_rejects(text):
    with pytest.raises(wc.WallClockError):
        wc.parse_datetime(text)


def test_unknown_zone_is_named():
    with pytest.raises(wc.WallClockError, match="Mars/Base"):
        wc.zone("Mars/Base")


def test_report_counts_gaps_and_repeats_and_refuses_gaps_by_default():
    report = wc.LocalTimeReport(max_samples=2)
    values = ["2021-03-14 02:00:00", "2021-03-14 02:30:00", "2021-03-14 02:59:59", "2021-11-07 01:30:00",
              "2021-06-01 12:00:00", None]
    kinds = [report.check("inventory_event", "happened_at", text, NY, key=i) for i, text in enumerate(values)]
    assert kinds == [wc.GAP, wc.GAP, wc.GAP, wc.AMBIGUOUS, wc.OK, wc.OK]
    (gap,) = report.entries(wc.GAP)
    assert gap["count"] == 3 and [s["value"] for s in gap["samples"]] == values[:2]
    assert gap["samples"][0]["key"] == 0
    assert report.entries(wc.AMBIGUOUS)[0]["count"] == 1
    (line,) = report.problems()
    assert "inventory_event.happened_at: 3 value(s) in a skipped local hour" in line
    assert "shift_forward" in line
    assert report.problems("shift_forward") == []
    with pytest.raises(wc.WallClockError, match="gap policy"):
        report.problems("ignore")
