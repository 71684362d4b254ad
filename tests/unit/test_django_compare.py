"""ColumnPlans adjusted to how the app reads its values (no database needed)."""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import django_compare as dc
from ansible_collections.pgmigrate.django.plugins.module_utils import django_values as dv
from ansible_collections.pgmigrate.django.plugins.module_utils import value_normalize as vn

TABLES = {"inventory_item": {
    "created_at": {"field": "DateTimeField", "internal_type": "DateTimeField"},
    "price": {"field": "DecimalField", "internal_type": "DecimalField", "max_digits": 12, "decimal_places": 2},
}}


def values(use_tz=False, time_zone="America/New_York"):
    return dv.DjangoValues({"settings": {"use_tz": use_tz, "time_zone": time_zone}, "tables": TABLES})


def plan(column, udt, pg_type=None, **kwargs):
    base = vn.column_plan(column, column, {"name": column, "udt": udt, "type": pg_type or udt})
    return dc.adapt_plan(base, kwargs.pop("django", values()), "inventory_item", **kwargs)


def test_wall_clock_datetimes_compare_as_local_text():
    created = plan("created_at", "timestamptz")
    # What PostgreSQL returns for `created_at AT TIME ZONE 'America/New_York'`, as to_char text.
    assert created.same("2017-10-02 18:55:02", "2017-10-02 18:55:02")
    assert created.same("2017-10-02 18:55:02.5", "2017-10-02 18:55:02.500000")
    # A value that arrived shifted by the zone's offset is a difference.
    assert not created.same("2017-10-02 18:55:02", "2017-10-02 14:55:02")
    # A skipped hour reads back an hour later: a difference under refuse, expected under shift_forward.
    assert not created.same("2021-03-14 02:30:00", "2021-03-14 03:30:00")
    shifted = plan("created_at", "timestamptz", gap_policy="shift_forward")
    assert shifted.same("2021-03-14 02:30:00", "2021-03-14 03:30:00")
    assert not shifted.same("2021-03-14 02:30:00", "2021-03-14 02:30:00")
    # Text with an offset is an instant: compared as its wall clock in TIME_ZONE.
    assert created.same("2017-10-02 22:55:02+00:00", "2017-10-02 18:55:02")
    assert created.same(None, None) and not created.same("garbage", "2017-10-02 18:55:02")


def test_use_tz_and_other_columns_keep_the_utc_plan():
    for adapted in (plan("created_at", "timestamptz", django=values(use_tz=True)),
                    plan("other_at", "timestamptz")):
        assert adapted.same("2017-10-02 18:55:02", "2017-10-02 18:55:02")
        assert "UTC" in repr(adapted.expression)


def test_round_compares_djangos_rounded_value():
    price = plan("price", "numeric", "numeric(12,2)", decimal_policy="round")
    assert price.same(9077091.122, "9077091.12") and price.fast_equal(9077091.122, "9077091.12")
    assert price.same("0.125", "0.12") and not price.same("0.125", "0.13")
    assert price.same(1.005, "1.00") and price.fast_equal(10.5, "10.50")
    assert not price.same(9077091.122, "9077091.13")
    refuse = plan("price", "numeric", "numeric(12,2)")
    assert not refuse.same(9077091.122, "9077091.12")
