"""Every built-in Django model field, through both engines, exactly.

The demo app's SQLite file (generate_data: time, small/big/positive integers at the ends of their
ranges, unicode slugs, e-mails, URLs, file/image/file paths, GenericIPAddressField with IPv6,
IPv4-mapped and IPv4-compatible addresses, one-to-one, a generic relation, an abstract base and a
multi-table child) is loaded into the schema made by the app's own `manage.py migrate` on
PostgreSQL, with engine `pgloader` and with engine `copy`. Then: reset_sequences, consistency_check
finds it consistent with every check, and every row of every model read back through Django on
SQLite and on PostgreSQL is equal.

One difference is PostgreSQL's, not an engine's, and is pinned down exactly: `inet` prints the
IPv4-compatible address Django stores as '::c000:201' as '::192.0.2.1' (the same address; Django
hands back the database's text). Every other value comes back as the same text.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import sys

import pytest

from loadhelpers import DEMO_APP, manage, migrate_target, orm_dump

pytestmark = pytest.mark.integration

sys.path.insert(0, str(DEMO_APP))
from inventory import fielddata  # noqa: E402  (the demo app's own edge values)

EVERY_FIELD_TABLES = ["inventory_comment", "inventory_location", "inventory_stocklevel", "inventory_warehouse"]
# (table, column) -> (udt, character_maximum_length) that Django's migrate makes on PostgreSQL.
PG_TYPES = {
    ("inventory_location", "id"): ("int2", None),  # SmallAutoField
    ("inventory_location", "slug"): ("varchar", 80),
    ("inventory_location", "email"): ("varchar", 254),
    ("inventory_location", "website"): ("varchar", 300),
    ("inventory_location", "opens_at"): ("time", None),
    ("inventory_location", "address"): ("varchar", None),  # CharField without max_length
    ("inventory_location", "created_at"): ("timestamptz", None),  # from the abstract base
    ("inventory_warehouse", "location_ptr_id"): ("int2", None),  # multi-table child key
    ("inventory_warehouse", "capacity"): ("int4", None),
    ("inventory_warehouse", "floors"): ("int2", None),
    ("inventory_warehouse", "min_temperature"): ("int2", None),
    ("inventory_warehouse", "pallets_moved"): ("int8", None),
    ("inventory_warehouse", "balance_cents"): ("int8", None),
    ("inventory_warehouse", "gateway_ip"): ("inet", None),
    ("inventory_warehouse", "refrigerated"): ("bool", None),
    ("inventory_warehouse", "floor_plan"): ("varchar", 100),
    ("inventory_warehouse", "photo"): ("varchar", 100),
    ("inventory_warehouse", "config_file"): ("varchar", 200),
    ("inventory_stocklevel", "item_id"): ("int8", None),  # OneToOneField to a BigAutoField
    ("inventory_stocklevel", "reserved"): ("int2", None),
    ("inventory_stocklevel", "units_sold"): ("int8", None),
    ("inventory_stocklevel", "counted_at"): ("time", None),
    ("inventory_stocklevel", "bin_code"): ("varchar", 20),
    ("inventory_comment", "content_type_id"): ("int4", None),
    ("inventory_comment", "object_id"): ("int8", None),
    ("inventory_comment", "remote_addr"): ("inet", None),
    ("inventory_comment", "attachment"): ("varchar", 255),
}
# Django's text for each GenericIPAddressField value, read on SQLite and on PostgreSQL.
IP_TEXTS = (
    "import json\n"
    "from inventory.models import Comment, Warehouse\n"
    "rows = [['w', pk, ip] for pk, ip in Warehouse.objects.order_by('pk').values_list('pk', 'gateway_ip')]\n"
    "rows += [['c', pk, ip] for pk, ip in Comment.objects.order_by('pk').values_list('pk', 'remote_addr')]\n"
    "print('IPS ' + json.dumps(rows))\n"
)
ENGINES = ["pgloader", "copy"]


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def source_values(source, query):
    conn = sqlite3.connect("file:%s?mode=ro" % source, uri=True)
    try:
        return {row[0] for row in conn.execute(query)}
    finally:
        conn.close()


def test_source_holds_every_edge_value(demo_source):
    """The test below is only worth something if the data has the values that can go wrong."""
    assert source_values(demo_source, "SELECT gateway_ip FROM inventory_warehouse") == set(fielddata.GATEWAY_IPS)
    assert source_values(demo_source, "SELECT remote_addr FROM inventory_comment") == set(fielddata.REMOTE_IPS)
    assert set(fielddata.ON_HAND) <= source_values(demo_source, "SELECT on_hand FROM inventory_stocklevel")
    assert set(fielddata.VALUE_CENTS) <= source_values(demo_source, "SELECT value_cents FROM inventory_stocklevel")
    assert set(fielddata.UNITS_SOLD) <= source_values(demo_source, "SELECT units_sold FROM inventory_stocklevel")
    assert set(fielddata.RESERVED) <= source_values(demo_source, "SELECT reserved FROM inventory_stocklevel")
    assert set(fielddata.TIMES) <= source_values(demo_source, "SELECT counted_at FROM inventory_stocklevel")
    assert {"東京倉庫", "αποθήκη-αθήνα", "x" * 80} <= source_values(demo_source, "SELECT slug FROM inventory_location")
    assert {None, ""} <= source_values(demo_source, "SELECT screenshot FROM inventory_comment")
    models = source_values(demo_source, "SELECT c.model FROM inventory_comment m JOIN django_content_type c"
                                        " ON c.id = m.content_type_id")
    assert models == {"item", "warehouse", "category"}


def test_every_field_round_trips_exactly(ansible, pg_target, demo_source, demo_workdir, tmp_path, engine):
    migrate_target(demo_workdir, pg_target)
    columns = dict(((t, c), (u, n)) for t, c, u, n in pg_target.query(
        "SELECT table_name, column_name, udt_name, character_maximum_length FROM information_schema.columns"
        " WHERE table_schema = 'public'"))
    assert {key: columns[key] for key in PG_TYPES} == PG_TYPES

    loaded = ansible.module("pgloader", dict(pg_target.params, source=str(demo_source), engine=engine))
    assert loaded.rc == 0 and not loaded.failed, loaded.output[-4000:]
    tables = {t["name"]: t for t in loaded.result["tables"]}
    for table in EVERY_FIELD_TABLES:
        assert tables[table]["source_rows"] == tables[table]["target_rows"] > 0 and tables[table]["rejected"] == 0
    sequences = ansible.module("reset_sequences", dict(pg_target.params, source=str(demo_source)))
    assert sequences.rc == 0 and not sequences.failed, sequences.output[-3000:]

    checked = ansible.module("consistency_check", dict(pg_target.params, source=str(demo_source)))
    assert checked.rc == 0 and not checked.failed, checked.output[-4000:]
    assert checked.result["consistent"] is True and checked.result["problems"] == []
    by_table = {t["name"]: t for t in checked.result["tables"]}
    for table in EVERY_FIELD_TABLES:
        assert by_table[table]["mode"] == "key" and by_table[table]["mismatches"] == 0, by_table[table]

    # Every row of every model through the Django ORM (IP fields by value, see demo_dump.py).
    sqlite_dump, pg_dump = tmp_path / "sqlite.jsonl", tmp_path / "pg.jsonl"
    counts = orm_dump(demo_workdir, sqlite_dump, sqlite_path=demo_source)
    assert counts == orm_dump(demo_workdir, pg_dump, database_url=pg_target.database_url)
    assert all(counts[table] > 0 for table in EVERY_FIELD_TABLES)
    with open(sqlite_dump, encoding="utf-8") as left, open(pg_dump, encoding="utf-8") as right:
        for number, (a, b) in enumerate(zip(left, right), start=1):
            assert a == b, "row %d differs:\nSQLite:     %s\nPostgreSQL: %s" % (number, a[:800], b[:800])

    # The IP addresses as text: equal, but for PostgreSQL's spelling of IPv4-compatible addresses.
    on_sqlite = ip_texts(demo_workdir, sqlite_path=demo_source)
    on_pg = ip_texts(demo_workdir, database_url=pg_target.database_url)
    assert [row[:2] for row in on_sqlite] == [row[:2] for row in on_pg] and len(on_sqlite) > 600
    spelled_otherwise = set()
    for (_kind, _pk, left), (_kind2, _pk2, right) in zip(on_sqlite, on_pg):
        if left != right:
            assert ipaddress.ip_address(left) == ipaddress.ip_address(right)
            spelled_otherwise.add((left, right))
    assert spelled_otherwise == {("::c000:201", "::192.0.2.1")}


def ip_texts(workdir, **database):
    proc = manage(workdir, "shell", "-v", "0", "-c", IP_TEXTS, **database)
    line = [text for text in proc.stdout.splitlines() if text.startswith("IPS ")][-1]
    return json.loads(line[4:])
