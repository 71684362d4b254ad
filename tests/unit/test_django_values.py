"""The option `django` as the modules use it, and the preflight's scan of a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import django_values as dv

COLUMNS = {
    "id": {"field": "BigAutoField", "internal_type": "BigAutoField", "null": False, "primary_key": True},
    "price": {"field": "DecimalField", "internal_type": "DecimalField", "null": False, "primary_key": False,
              "max_digits": 12, "decimal_places": 2},
    "created_at": {"field": "DateTimeField", "internal_type": "DateTimeField", "null": False, "primary_key": False},
    "release_date": {"field": "DateField", "internal_type": "DateField", "null": True, "primary_key": False},
}


def django(use_tz=False, time_zone="America/New_York", tables=None):
    return {"settings": {"use_tz": use_tz, "time_zone": time_zone,
                         "database": {"engine": "django.db.backends.sqlite3", "name": "x", "vendor": "sqlite"}},
            "tables": {"inventory_item": COLUMNS} if tables is None else tables, "changed": False}


def test_use_tz_false_means_wall_clock_in_time_zone():
    values = dv.DjangoValues(django())
    assert values.session_time_zone == "America/New_York" and values.wall_clock
    assert values.datetime_columns("inventory_item") == ["created_at"]
    assert values.decimal_columns("inventory_item") == {"price": (12, 2)}
    assert values.datetime_columns("other") == [] and values.decimal_columns("other") == {}


def test_use_tz_true_is_utc_as_before():
    values = dv.DjangoValues(django(use_tz=True))
    assert values.session_time_zone == "UTC" and not values.wall_clock
    assert values.datetime_columns("inventory_item") == []
    assert values.decimal_columns("inventory_item") == {"price": (12, 2)}
    assert dv.DjangoValues.from_option(None) is None and dv.DjangoValues.from_option({}) is None


@pytest.mark.parametrize("option, needle", [
    ("text", "must be a dict"),
    ({"tables": {}}, "settings is missing"),
    ({"settings": {"use_tz": "no", "time_zone": "UTC"}}, "use_tz"),
    (django(time_zone="Mars/Base"), "Mars/Base"),
    (django(tables={"t": ["c"]}), "tables must be a dict"),
    (django(tables={"t": {"c": {"internal_type": "DecimalField", "max_digits": 2, "decimal_places": 5}}}),
     "t.c is a DecimalField without valid"),
])
def test_malformed_option_is_named(option, needle):
    with pytest.raises(dv.DjangoValuesError) as err:
        dv.DjangoValues(option)
    assert needle in str(err.value) and "option django" in str(err.value)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "inventory_item" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
                 '"price" decimal NOT NULL, "created_at" datetime NOT NULL, "release_date" date NULL)')
    conn.executemany("INSERT INTO inventory_item VALUES (?, ?, ?, ?)", [
        (1, "12.50", "2021-06-01 12:00:00", None),
        (2, 9077091.122, "2021-03-14 02:30:00", "2021-03-14"),     # rounds; skipped hour in New York
        (3, "123456789012.5", "2021-11-07 01:30:00.5", None),      # overflow; repeated hour
        (4, 0.1, "2021-03-14 02:00:00", None),                     # fits; skipped hour
    ])
    conn.commit()
    yield conn
    conn.close()


def test_scan_reports_every_value_that_would_not_read_back(source):
    values = dv.DjangoValues(django())
    decimals, local_times, rows = dv.scan_source(source, values, ["inventory_item", "django_session"])
    assert rows == 4
    result, problems = dv.scan_result(decimals, local_times)
    kinds = {(e["column"], e["kind"]): e for e in result["decimals"] + result["local_times"]}
    assert kinds[("price", "rounds")]["count"] == 1
    assert kinds[("price", "rounds")]["samples"] == [{"value": "9077091.122", "key": 2, "rounded": "9077091.12"}]
    assert kinds[("price", "overflow")]["samples"][0]["key"] == 3
    assert kinds[("created_at", "gap")]["count"] == 2
    assert kinds[("created_at", "ambiguous")]["count"] == 1
    # rounds, overflow, gap (the repeated hour reads back the same), as preflight problems
    assert [p["check"] for p in problems] == ["decimal_overflow", "decimal_rounds", "local_time_gap"]
    gap = problems[2]
    assert (gap["table"], gap["column"], gap["count"]) == ("inventory_item", "created_at", 2)
    assert gap["examples"] == ["2021-03-14 02:30:00", "2021-03-14 02:00:00"]
    assert result["decimal_rounded"] == {}
    # round: the rounded values are counted and only what rounding cannot fix is refused.
    result, problems = dv.scan_result(decimals, local_times, decimal_policy="round", gap_policy="shift_forward")
    assert result["decimal_rounded"] == {"inventory_item": 1}
    assert len(problems) == 1 and "max_digits" in problems[0]["message"]


def test_scan_with_use_tz_reads_no_datetimes(source):
    decimals, local_times, _rows = dv.scan_source(source, dv.DjangoValues(django(use_tz=True)), ["inventory_item"])
    assert local_times.entries("gap") == [] and len(decimals.entries()) == 2


def test_preflight_refuses_unknown_policies(source):
    with pytest.raises(dv.DjangoValuesError, match="decimal_overflow must be one of"):
        dv.preflight(source, dv.DjangoValues(django()), ["inventory_item"], "truncate")
