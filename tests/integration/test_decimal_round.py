"""decimal_overflow=round after a load: PostgreSQL ends with Django's ROUND_HALF_EVEN values."""

from __future__ import annotations

import decimal
import sqlite3

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import decimal_round, django_values

pytestmark = pytest.mark.integration

ROWS = [
    # (id, SQLite value, what Django reads/stores, what numeric(12,2) alone would make of it)
    (1, 9077091.122, "9077091.12", "9077091.12"),
    (2, "0.125", "0.12", "0.13"),      # a tie: half even vs half away from zero
    (3, 1.005, "1.00", "1.01"),        # 1.005 to Django (15 digits), 1.00499.. in binary
    (4, "-2.675", "-2.68", "-2.68"),
    (5, 10.5, "10.50", "10.50"),       # fits: not touched
    (6, None, None, None),
]
DJANGO = {"settings": {"use_tz": True, "time_zone": "UTC"},
          "tables": {"shop_price": {
              "id": {"field": "BigAutoField", "internal_type": "BigAutoField", "null": False, "primary_key": True},
              "amount": {"field": "DecimalField", "internal_type": "DecimalField", "null": True,
                         "primary_key": False, "max_digits": 12, "decimal_places": 2}}}}


def test_round_loaded_writes_djangos_values_and_counts_them(tmp_path, pg_target):
    sconn = sqlite3.connect(tmp_path / "db.sqlite3")
    sconn.execute('CREATE TABLE shop_price ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "amount" decimal NULL)')
    sconn.executemany("INSERT INTO shop_price VALUES (?, ?)", [(r[0], r[1]) for r in ROWS])
    sconn.commit()
    conn = pg_target.connect()
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE shop_price (id bigint PRIMARY KEY, amount numeric(12,2))")
        # What an engine does: the SQLite value as text, PostgreSQL rounds it.
        for key, value, _django, _plain in ROWS:
            cur.execute("INSERT INTO shop_price VALUES (%s, %s::numeric)",
                        (key, None if value is None else (repr(value) if isinstance(value, float) else value)))
        cur.execute("SELECT id, amount::text FROM shop_price ORDER BY id")
        assert [row[1] for row in cur.fetchall()] == [r[3] for r in ROWS]
    values = django_values.DjangoValues(DJANGO)
    rounded = decimal_round.round_loaded(sconn, conn, values, ["shop_price", "not_a_model"])
    conn.commit()
    assert rounded == {"shop_price": 4}
    with conn.cursor() as cur:
        cur.execute("SELECT amount FROM shop_price ORDER BY id")
        assert [row[0] for row in cur.fetchall()] == [None if r[2] is None else decimal.Decimal(r[2]) for r in ROWS]
    # A second pass writes the same values again; the data does not move.
    assert decimal_round.round_loaded(sconn, conn, values, ["shop_price"]) == {"shop_price": 4}
    conn.close()
    sconn.close()


def test_a_row_missing_on_the_target_is_an_error(tmp_path, pg_target):
    sconn = sqlite3.connect(tmp_path / "db.sqlite3")
    sconn.execute('CREATE TABLE shop_price ("id" integer NOT NULL PRIMARY KEY, "amount" decimal NULL)')
    sconn.execute("INSERT INTO shop_price VALUES (1, '0.125')")
    sconn.commit()
    conn = pg_target.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE shop_price (id bigint PRIMARY KEY, amount numeric(12,2))")
    with pytest.raises(Exception, match=r"shop_price.amount: the row \[1\] to round is not in the target"):
        decimal_round.round_loaded(sconn, conn, django_values.DjangoValues(DJANGO), ["shop_price"])
    conn.close()
    sconn.close()
