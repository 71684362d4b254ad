"""pgmigrate.django.pgloader against the real PostgreSQL and the real pgloader, run through Ansible.

Covers the issue's "done when": the demo app's data reads back equal through the Django ORM
after a load into the schema made by its own `migrate`; Chinook (mixed-case names) loads exactly;
bad-utf8.db, type-mismatch.db and a NUL byte never pass silently; no password in `ps` or in
`-vvv` output; check mode changes nothing; a timeout kills pgloader; bad input changes nothing.

Every test that is not about pgloader itself runs with both engines (the `engine` fixture):
`pgloader` and the built-in `copy` (COPY through psycopg2), which must load the same data the
same way and fail the same way.
"""

from __future__ import annotations

import decimal
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from loadhelpers import (
    CHINOOK_DDL, CHINOOK_TABLES, TlsServer, foreign_keys, make_demo_source, migrate_target, orm_dump,
    pgloader_processes, snapshot, sqlite_counts, writable_copy,
)

pytestmark = pytest.mark.integration

DEMO_TABLES = ["auth_group", "auth_group_permissions", "auth_permission", "auth_user", "auth_user_groups",
               "auth_user_user_permissions", "django_admin_log", "django_content_type", "django_session",
               "inventory_category", "inventory_comment", "inventory_event", "inventory_item",
               "inventory_item_tags", "inventory_location", "inventory_stocklevel", "inventory_tag",
               "inventory_warehouse"]
BIG_ROWS = 300000
ENGINES = ["pgloader", "copy"]
# What the verification says when an engine finished but rows are missing.
DONE = {"pgloader": "pgloader exited 0 but the load is incomplete",
        "copy": "the copy engine finished but the load is incomplete"}


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def demo_target(pg_target, demo_workdir):
    migrate_target(demo_workdir, pg_target)
    return pg_target


@pytest.fixture(scope="module")
def big_source(tmp_path_factory, demo_workdir):
    """A demo file big enough that pgloader runs for several seconds."""
    return make_demo_source(demo_workdir, tmp_path_factory.mktemp("big") / "big.sqlite3", BIG_ROWS)


def load(ansible, target, source, _check=False, **options):
    args = dict(target.params, source=str(source))
    args.update(options)
    return ansible.module("pgloader", args, check=_check)


def not_valid(keys):
    """foreign_keys() rows as they read once re-added NOT VALID."""
    return [(table, name, definition + " NOT VALID") for table, name, definition in keys]


def table_contents(target):
    """Every row of every public table as PostgreSQL prints it, in primary key (or full row) order."""
    tables = [row[0] for row in target.query(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        " AND relname <> 'django_migrations' ORDER BY 1")]
    return {table: target.query('SELECT t::text FROM "%s" t ORDER BY 1' % table) for table in tables}


# ------------------------------------------------------------------ the demo app, end to end

def test_demo_loads_and_reads_back_equal_through_the_orm(ansible, demo_target, demo_source, demo_workdir, tmp_path,
                                                         engine):
    fks_before = foreign_keys(demo_target)
    migrations_before = demo_target.scalar("SELECT count(*) FROM django_migrations")
    result = load(ansible, demo_target, demo_source, engine=engine)
    assert result.rc == 0 and not result.failed, result.output[-4000:]
    res = result.result
    assert res["changed"] is True
    expected = sqlite_counts(demo_source, DEMO_TABLES)
    assert {t["name"]: t["target_rows"] for t in res["tables"]} == expected
    assert all(t["source_rows"] == t["target_rows"] == t["imported"] == t["read"] and t["rejected"] == 0
               for t in res["tables"])
    assert res["rows"] == sum(expected.values()) and res["rejected_rows"] == 0
    assert res["interval_columns"] == ["inventory_item.warranty"] and res["identifiers"] == "downcase"
    assert res["engine"] == engine
    if engine == "pgloader":
        assert "set timezone to 'utc'" in res["plan"].lower().replace("\n", " ").replace("  ", " ")
    else:
        assert res["engine_version"] is None
        copies = [q for q in res["executed_queries"] if q.startswith("COPY ")]
        assert len(copies) == len(DEMO_TABLES) and all(q.endswith("FROM STDIN WITH (FORMAT csv)") for q in copies)
        # the keys were dropped, re-added NOT VALID and validated: 17 of each
        assert sum(q.endswith("VALIDATE CONSTRAINT %s" % q.split()[-1]) for q in res["executed_queries"]) == 17
    assert demo_target.password not in res["plan"]
    assert res["excluded"] == ["django_migrations"]
    assert {s["name"] for s in res["skipped_tables"]} == {"sqlite_sequence"}
    # pgloader drops the foreign keys for the load; they are back, exactly as migrate made them
    assert foreign_keys(demo_target) == fks_before and res["foreign_keys_restored"] == []
    assert demo_target.scalar("SELECT count(*) FROM django_migrations") == migrations_before

    # Every value, read through the ORM on both sides (JSON, UUID, Duration, datetimes, Decimal, bytes).
    sqlite_dump, pg_dump = tmp_path / "sqlite.jsonl", tmp_path / "pg.jsonl"
    counts_sqlite = orm_dump(demo_workdir, sqlite_dump, sqlite_path=demo_source)
    counts_pg = orm_dump(demo_workdir, pg_dump, database_url=demo_target.database_url)
    assert counts_sqlite == counts_pg and counts_sqlite["inventory_item"] > 1000
    with open(sqlite_dump, encoding="utf-8") as left, open(pg_dump, encoding="utf-8") as right:
        for number, (a, b) in enumerate(zip(left, right), start=1):
            assert a == b, "row %d differs:\nSQLite:     %s\nPostgreSQL: %s" % (number, a[:800], b[:800])

    # A second run refuses to overwrite the data, changing nothing ...
    before = snapshot(demo_target)
    again = load(ansible, demo_target, demo_source, engine=engine)
    assert again.failed and "that the app's migrations did not make" in again.result["msg"]
    assert "truncate: true" in again.result["msg"]
    assert again.result["changed"] is False and snapshot(demo_target) == before
    # ... and replaces it when asked to, ending with the same content.
    forced = load(ansible, demo_target, demo_source, truncate=True, engine=engine)
    assert forced.rc == 0 and not forced.failed, forced.output[-3000:]
    assert snapshot(demo_target) == before


def test_both_engines_load_identical_content(ansible, pg_target_factory, demo_source, demo_workdir):
    """The copy engine's result is pgloader's, value for value, as PostgreSQL prints it."""
    targets = {}
    for engine in ENGINES:
        target = pg_target_factory()
        migrate_target(demo_workdir, target)
        result = load(ansible, target, demo_source, engine=engine)
        assert result.rc == 0 and not result.failed, result.output[-3000:]
        targets[engine] = target
    by_pgloader, by_copy = table_contents(targets["pgloader"]), table_contents(targets["copy"])
    assert sorted(by_pgloader) == sorted(by_copy) and len(by_copy["inventory_item"]) > 1000
    for table, rows in by_pgloader.items():
        assert len(rows) == len(by_copy[table]), table
        for left, right in zip(rows, by_copy[table]):
            assert left == right, "%s differs:\npgloader: %s\ncopy:     %s" % (table, left[0][:600], right[0][:600])
    assert foreign_keys(targets["pgloader"]) == foreign_keys(targets["copy"])


def test_check_mode_plans_and_changes_nothing(ansible, demo_target, demo_source, engine):
    before = snapshot(demo_target)
    result = load(ansible, demo_target, demo_source, _check=True, engine=engine)
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    res = result.result
    assert res["changed"] is True and res["load_seconds"] == 0 and res["executed_queries"] == []
    if engine == "pgloader":
        assert "LOAD DATABASE" in res["plan"] and "data only" in res["plan"]
    else:
        assert 'TRUNCATE "public"."inventory_item"; COPY "public"."inventory_item" ("id", "uuid", ' in res["plan"]
        assert len(res["plan"].splitlines()) == len(DEMO_TABLES)
    assert {t["name"]: t["source_rows"] for t in res["tables"]} == sqlite_counts(demo_source, DEMO_TABLES)
    assert snapshot(demo_target) == before
    assert before["counts"]["inventory_item"] == 0


# ------------------------------------------------------------------ other real databases

def test_chinook_loads_exactly_with_mixed_case_names(ansible, pg_target, testdata, engine):
    source = testdata("Chinook_Sqlite.sqlite")
    conn = pg_target.connect()
    with conn.cursor() as cur:
        cur.execute(CHINOOK_DDL)
    conn.close()
    fks_before = foreign_keys(pg_target)
    result = load(ansible, pg_target, source, engine=engine)
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    res = result.result
    assert res["identifiers"] == "quote" and res["excluded"] == []
    assert {t["name"]: t["target_rows"] for t in res["tables"]} == sqlite_counts(source, CHINOOK_TABLES)
    assert res["rows"] == 15607
    assert foreign_keys(pg_target) == fks_before and len(fks_before) == 11
    # Exactly: every value of every table, in primary key order.
    src = sqlite3.connect("file:%s?mode=ro" % source, uri=True)
    for table in CHINOOK_TABLES:
        columns = [row[1] for row in src.execute('PRAGMA table_info("%s")' % table)]
        order = ", ".join('"%s"' % c for c in columns)
        expected = src.execute('SELECT %s FROM "%s" ORDER BY %s' % (order, table, order)).fetchall()
        actual = pg_target.query('SELECT %s FROM "%s" ORDER BY %s' % (order, table, order))
        assert len(actual) == len(expected)
        for left, right in zip(expected, actual):
            assert tuple(_chinook_value(v) for v in left) == tuple(_chinook_value(v) for v in right), table


def _chinook_value(value):
    """SQLite keeps NUMERIC(10,2) as REAL and DATETIME as text: compare as decimal and ISO text."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value)).quantize(decimal.Decimal("0.01"))
    if isinstance(value, decimal.Decimal):
        return value.quantize(decimal.Decimal("0.01"))
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    return value


@pytest.mark.parametrize("name, ddl, table, column, counts", [
    ("bad-utf8.db", "CREATE TABLE files (id integer PRIMARY KEY, filename text)", "files", "filename",
     "files: SQLite 3 rows"),
    ("type-mismatch.db", "CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL)",
     "products", "qty", "products: SQLite 3 rows, read 3, imported 2, target 2 (1 missing)"),
])
def test_broken_sources_never_load_silently(ansible, pg_target, testdata, name, ddl, table, column, counts, engine):
    source = testdata(name)
    pg_target.query(ddl)
    # The preflight refuses before anything is written ...
    refused = load(ansible, pg_target, source, engine=engine)
    assert refused.failed and refused.result["changed"] is False
    assert "nothing was loaded" in refused.result["msg"]
    problems = refused.result["problems"]
    assert [(p["table"], p["column"], p["count"]) for p in problems] == [(table, column, 1)]
    assert "%s.%s: 1 value(s)" % (table, column) in refused.result["msg"]
    assert pg_target.scalar("SELECT count(*) FROM %s" % table) == 0
    # ... and without it, pgloader exits 0 but the counts on both sides fail the task (the copy
    # engine rejects the one row PostgreSQL refuses, and the counts fail the task the same way).
    loaded = load(ansible, pg_target, source, preflight=False, engine=engine)
    assert loaded.failed and loaded.result["changed"] is True
    assert DONE[engine] in loaded.result["msg"]
    assert counts in loaded.result["msg"]
    if engine == "copy":
        assert "%s: SQLite 3 rows, read 3, imported 2, target 2 (1 missing)" % table in loaded.result["msg"]
        reason = {"files": 'invalid byte sequence for encoding "UTF8": 0x96',
                  "products": 'invalid input syntax for type integer: "lots-of-it"'}[table]
        assert [r for r in loaded.result["reject_reasons"][table] if reason in r and r.startswith("id=2: ")]
    short = {t["name"]: (t["source_rows"], t["target_rows"]) for t in loaded.result["tables"]}
    assert short[table][0] == 3 and short[table][1] < 3
    assert pg_target.scalar("SELECT count(*) FROM %s" % table) == short[table][1]


def test_nul_byte_is_refused_before_loading(ansible, demo_target, demo_source, tmp_path, engine):
    source = writable_copy(demo_source, tmp_path / "nul.sqlite3")
    conn = sqlite3.connect(source)
    conn.execute("UPDATE inventory_item SET description = 'before' || char(0) || 'after' WHERE id IN (3, 5)")
    conn.commit()
    conn.close()
    before = snapshot(demo_target)
    result = load(ansible, demo_target, source, engine=engine)
    assert result.failed and result.result["changed"] is False
    nul = [p for p in result.result["problems"] if p["check"] == "nul_byte"]
    assert [(p["table"], p["column"], p["count"], p["examples"]["values"]) for p in nul] == [
        ("inventory_item", "description", 2, [3, 5])]
    assert "inventory_item.description: 2 value(s) contain a NUL byte" in result.result["msg"]
    assert snapshot(demo_target) == before
    if engine == "copy":
        # without the preflight PostgreSQL refuses the two rows: rejected, never cut at the NUL
        loaded = load(ansible, demo_target, source, engine=engine, preflight=False)
        assert loaded.failed and DONE["copy"] in loaded.result["msg"]
        assert loaded.result["rejected_rows"] == 2
        assert [r.split(":")[0] for r in loaded.result["reject_reasons"]["inventory_item"]] == ["id=3", "id=5"]
        assert demo_target.scalar("SELECT count(*) FROM inventory_item WHERE description LIKE 'before%%'") == 0


def test_rejected_rows_are_reported_with_reasons_and_limited(ansible, pg_target, tmp_path, engine):
    # a path pgloader's load-file grammar cannot carry (spaces): reached through a private symlink
    (tmp_path / "dir with space").mkdir()
    source = tmp_path / "dir with space" / "reject db.sqlite3"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * (9 if i in (7, 14) else 2)) for i in range(1, 31)])
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE t (id integer PRIMARY KEY, code varchar(5))")
    failed = load(ansible, pg_target, source, preflight=False, engine=engine)
    assert failed.failed
    assert "t: SQLite 30 rows, read 30, imported 28, target 28 (2 missing)" in failed.result["msg"]
    reasons = failed.result["reject_reasons"]["t"]
    assert len(reasons) == 2 and all("value too long for type character varying(5)" in r for r in reasons)
    if engine == "copy":
        assert [r.split(":")[0] for r in reasons] == ["id=7", "id=14"]
        assert pg_target.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM t") == ",".join(
            str(i) for i in range(1, 31) if i not in (7, 14))
    tolerated = load(ansible, pg_target, source, preflight=False, max_rejected_rows=2, truncate=True, engine=engine)
    assert tolerated.rc == 0 and not tolerated.failed, tolerated.output[-3000:]
    assert tolerated.result["rejected_rows"] == 2 and len(tolerated.result["reject_reasons"]["t"]) == 2
    assert any("within max_rejected_rows=2" in w for w in tolerated.result.get("warnings", []))
    # with the preflight on, the overlong values are named before loading
    refused = load(ansible, pg_target, source, truncate=True, engine=engine)
    assert refused.failed and [(p["check"], p["count"], p["examples"]["values"]) for p in refused.result["problems"]] \
        == [("too_long", 2, [7, 14])]


def test_foreign_keys_pgloader_cannot_recreate_fail_the_task(ansible, pg_target, tmp_path, engine):
    source = tmp_path / "orphans.sqlite3"
    conn = sqlite3.connect(source)
    conn.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));"
        "INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1), (2, 99);")
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE parent (id integer PRIMARY KEY);"
                    "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer"
                    " CONSTRAINT child_parent_fk REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    definition = foreign_keys(pg_target)
    refused = load(ansible, pg_target, source, engine=engine)
    assert refused.failed and [(p["check"], p["table"], p["count"]) for p in refused.result["problems"]] == [
        ("fk_orphans", "child", 1)]
    # Without the preflight pgloader loads the rows, cannot re-create the key and still exits 0;
    # the copy engine loads them, cannot validate the key, and the task fails the same way.
    loaded = load(ansible, pg_target, source, preflight=False, engine=engine)
    assert loaded.failed
    dropped = {"pgloader": "dropped by pgloader", "copy": "dropped for the load"}[engine]
    assert "foreign key child_parent_fk was %s and cannot be re-created" % dropped in loaded.result["msg"]
    assert "is not present in table" in loaded.result["msg"]
    if engine == "copy":
        # the key is there, NOT VALID (the orphan is in), never silently gone
        assert foreign_keys(pg_target) == not_valid(definition)


def test_table_filter_selects_exactly_the_named_tables(ansible, pg_target, tmp_path, engine):
    source = tmp_path / "like.sqlite3"
    conn = sqlite3.connect(source)
    for table in ("app_item", "appXitem", "app_other"):
        conn.execute('CREATE TABLE "%s" (id INTEGER PRIMARY KEY)' % table)
        conn.executemany('INSERT INTO "%s" VALUES (?)' % table, [(i,) for i in range(1, 4)])
    conn.commit()
    conn.close()
    pg_target.query('CREATE TABLE app_item (id integer PRIMARY KEY); CREATE TABLE "appXitem" (id integer PRIMARY KEY);'
                    "CREATE TABLE app_other (id integer PRIMARY KEY)")
    result = load(ansible, pg_target, source, include_tables=["app_item"], engine=engine)
    # appXitem has capitals: pgloader keeps them (quote identifiers) for every table
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    if engine == "pgloader":
        assert "EXCLUDING TABLE NAMES LIKE 'appXitem'" in result.result["plan"]
    assert [t["name"] for t in result.result["tables"]] == ["app_item"]
    assert pg_target.scalar("SELECT count(*) FROM app_item") == 3
    assert pg_target.scalar('SELECT count(*) FROM "appXitem"') == 0
    assert pg_target.scalar("SELECT count(*) FROM app_other") == 0


def test_create_schema_mode_loads_and_checks_the_keys_pgloader_made(ansible, pg_target_factory, testdata):
    target = pg_target_factory()
    result = load(ansible, target, testdata("storage.sqlite"), mode="create_schema")
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    tables = {t["name"]: (t["source_rows"], t["target_rows"]) for t in result.result["tables"]}
    assert len(tables) == 9 and all(s == t for s, t in tables.values())
    assert sum(s for s, _t in tables.values()) == result.result["rows"] > 0
    assert len(foreign_keys(target)) == 6   # as many as SQLite declares
    # Chinook's mixed-case names: pgloader quotes the tables but not the key columns, every
    # ALTER TABLE ... ADD FOREIGN KEY fails, and it still exits 0.
    chinook = pg_target_factory()
    broken = load(ansible, chinook, testdata("Chinook_Sqlite.sqlite"), mode="create_schema")
    assert broken.failed and "Album: SQLite declares 1 foreign key(s), pgloader created 0" in broken.result["msg"]
    assert all(t["source_rows"] == t["target_rows"] for t in broken.result["tables"])


@pytest.mark.parametrize("options, expect", [
    ({"mode": "create_schema"}, "mode create_schema needs engine pgloader"),
    ({"casts": ["column inventory_item.price to numeric"]}, "casts are pgloader CAST rules"),
])
def test_copy_engine_refuses_what_only_pgloader_does(ansible, demo_target, demo_source, options, expect):
    before = snapshot(demo_target)
    result = load(ansible, demo_target, demo_source, engine="copy", **options)
    assert result.failed and result.result["changed"] is False and expect in result.result["msg"]
    assert snapshot(demo_target) == before


def test_copy_engine_bad_settings_fail_before_anything_changes(ansible, demo_target, demo_source):
    before = snapshot(demo_target)
    result = load(ansible, demo_target, demo_source, engine="copy", settings={"work_mem": "lots"})
    assert result.failed and result.result["changed"] is False, result.result.get("msg")
    assert "cannot prepare the loading sessions (check settings)" in result.result["msg"]
    assert 'invalid value for parameter "work_mem"' in result.result["msg"] and "nothing was loaded" in result.result["msg"]
    assert snapshot(demo_target) == before


def test_copy_engine_table_failing_as_a_whole_stops_the_load_and_keeps_the_keys(ansible, pg_target, tmp_path):
    source = tmp_path / "trigger.sqlite3"
    conn = sqlite3.connect(source)
    conn.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));"
        "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1), (2, 2);")
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE parent (id integer PRIMARY KEY);"
                    "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer"
                    " CONSTRAINT child_parent_fk REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$BEGIN RAISE EXCEPTION 'child rows are refused here'; END$$;"
                    "CREATE TRIGGER refuse BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION refuse()")
    fks = foreign_keys(pg_target)
    result = load(ansible, pg_target, source, engine="copy", workers=1)
    assert result.failed and result.result["changed"] is True
    msg = result.result["msg"]
    assert "the copy engine could not load table child: Database error P0001: child rows are refused here" in msg
    assert "the target holds a partial load" in msg and "foreign keys child_parent_fk are back but NOT VALID" in msg
    assert pg_target.scalar("SELECT count(*) FROM child") == 0
    assert foreign_keys(pg_target) == not_valid(fks)


TRICKY_TEXT = ["x\n\\.\ny", "\\.", "\\.\n", "\\N", "", " ", '"', '""', ",", "a,\"b\",c", "\r\n", "\t", "\\",
               "NULL", "é\u2028\u2029\ufeff", "😀" * 3]


def test_text_that_looks_like_copy_syntax_arrives_as_it_is(ansible, pg_target, tmp_path, engine):
    source = tmp_path / "tricky.sqlite3"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, v, v.encode("utf-8")) for i, v in enumerate(TRICKY_TEXT, 1)]
                     + [(len(TRICKY_TEXT) + 1, None, None)])
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE t (id integer PRIMARY KEY, v text, b bytea)")
    result = load(ansible, pg_target, source, engine=engine)
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    rows = pg_target.query("SELECT id, v, b FROM t ORDER BY id")
    assert [(v, None if b is None else bytes(b)) for _id, v, b in rows] == [
        (v, v.encode("utf-8")) for v in TRICKY_TEXT] + [(None, None)]


def test_copy_engine_needs_no_pgloader(ansible, demo_target, demo_source, tmp_path):
    # a PATH where every command of /usr/bin is found, except pgloader
    bin_dir = tmp_path / "bin-without-pgloader"
    bin_dir.mkdir()
    for entry in os.scandir("/usr/bin"):
        if entry.name != "pgloader":
            os.symlink(entry.path, bin_dir / entry.name)
    result = ansible.module("pgloader", dict(demo_target.params, source=str(demo_source), engine="copy",
                                             include_tables=["inventory_category", "inventory_tag"]),
                            env={"PATH": "%s:%s" % (os.path.dirname(sys.executable), bin_dir)})
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    assert [(t["name"], t["target_rows"]) for t in result.result["tables"]] == [
        ("inventory_category", 20), ("inventory_tag", 25)]


# ------------------------------------------------------------------ bad input: clear error, nothing changed

@pytest.mark.parametrize("case, engine", [
    (case, engine) for case in ("missing", "not_sqlite", "corrupt", "wrong_password", "unreachable", "unknown_table")
    for engine in ENGINES] + [("inexpressible_filter", "pgloader"), ("no_pgloader", "pgloader")])
def test_bad_input_fails_clearly_and_changes_nothing(ansible, demo_target, demo_source, tmp_path, case, engine):
    args = dict(demo_target.params, source=str(demo_source), engine=engine)
    expect = None
    if case == "missing":
        args["source"] = str(tmp_path / "missing.sqlite3")
        expect = "does not exist"
    elif case == "not_sqlite":
        (tmp_path / "notes.txt").write_text("not a database\n" * 100)
        args["source"] = str(tmp_path / "notes.txt")
        expect = "not a SQLite 3 database"
    elif case == "corrupt":
        corrupt = writable_copy(demo_source, tmp_path / "corrupt.sqlite3")
        with open(corrupt, "r+b") as handle:  # keep the header, wreck the schema page
            handle.seek(100)
            handle.write(b"\xde\xad\xbe\xef" * 1000)
        args["source"] = str(corrupt)
        expect = "corrupt"
    elif case == "wrong_password":
        args["login_password"] = "Wr0ng-Passw0rd-Sentinel"
        expect = "password authentication failed"
    elif case == "unreachable":
        args.update(login_host="127.0.0.1", login_port=1, connect_retries=2, connect_retry_delay=0.2)
        expect = "after 3 attempt(s)"
    elif case == "unknown_table":
        args["include_tables"] = ["inventory_item", "no_such_table"]
        expect = "unknown table(s) in include_tables: no_such_table"
    elif case == "inexpressible_filter":
        # pgloader's filter is LIKE: 'inventory_tag' also selects 'inventory%tag', and excluding
        # 'inventory%tag' also excludes 'inventory_tag' ('%' matches '_')
        clash = writable_copy(demo_source, tmp_path / "clash.sqlite3")
        conn = sqlite3.connect(clash)
        conn.execute('CREATE TABLE "inventory%tag" (id INTEGER PRIMARY KEY)')
        conn.commit()
        conn.close()
        args.update(source=str(clash), include_tables=["inventory_tag"])
        expect = "pgloader cannot select exactly the tables"
    elif case == "no_pgloader":
        args["pgloader_path"] = "pgloader-not-installed-here"
        expect = "apt-get install pgloader"
    before = snapshot(demo_target)
    result = ansible.module("pgloader", args)
    assert result.failed and result.result.get("changed") is False
    assert expect in result.result["msg"], result.result["msg"]
    assert demo_target.password not in result.output and "Wr0ng-Passw0rd-Sentinel" not in result.output
    assert snapshot(demo_target) == before
    if case == "missing":
        assert not (tmp_path / "missing.sqlite3").exists()


# ------------------------------------------------------------------ process control and secrets

def test_timeout_kills_pgloader_and_reports_it(ansible, demo_target, big_source, tmp_path):
    # A private TMPDIR marks this run's pgloader (its load file lives there): other pgloader
    # runs on the machine (benchmarks, parallel sessions) are not ours to count.
    private = tmp_path / "private-tmp"
    private.mkdir()
    started = time.monotonic()
    args = dict(demo_target.params, source=str(big_source), timeout=2, preflight=False)
    result = ansible.module("pgloader", args, env={"TMPDIR": str(private)})
    elapsed = time.monotonic() - started
    assert result.failed and result.result["timed_out"] is True
    assert "did not finish within timeout=2 seconds and was killed" in result.result["msg"]
    assert 2 <= result.result["load_seconds"] < 10 and elapsed < 60
    assert [line for line in pgloader_processes() if str(private) in line] == []


def test_timeout_stops_the_copy_engine_and_brings_the_keys_back(ansible, demo_target, big_source):
    fks = foreign_keys(demo_target)
    result = load(ansible, demo_target, big_source, timeout=1, preflight=False, engine="copy", workers=1)
    assert result.failed and result.result["timed_out"] is True, result.result.get("msg")
    assert "the copy engine did not finish within timeout=1 seconds and was stopped" in result.result["msg"]
    assert 1 <= result.result["load_seconds"] < 10
    # the biggest table goes first and was rolled back; no session of the load is left
    assert demo_target.scalar("SELECT count(*) FROM inventory_item") == 0
    assert demo_target.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND application_name = 'pgmigrate.django'") == 0
    # every key exists again, NOT VALID as the message says
    assert "are back but NOT VALID" in result.result["msg"]
    assert foreign_keys(demo_target) == not_valid(fks)
    # a new complete load keeps them as they are now, and says so
    again = load(ansible, demo_target, big_source, preflight=False, engine="copy", truncate=True)
    assert again.rc == 0 and not again.failed, again.output[-3000:]
    assert any("are NOT VALID in the target" in w for w in again.result.get("warnings", []))
    assert foreign_keys(demo_target) == not_valid(fks)


def test_password_never_in_ps_or_verbose_output(ansible, demo_target, big_source, engine):
    sentinel = demo_target.password
    outcome = {}

    def run():
        outcome["result"] = ansible.module("pgloader", dict(demo_target.params, source=str(big_source), engine=engine),
                                           verbosity=3)

    thread = threading.Thread(target=run)
    thread.start()
    snapshots, seen_pgloader = 0, False
    while thread.is_alive():
        listing = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True, check=True).stdout
        snapshots += 1
        assert sentinel not in listing
        seen_pgloader = seen_pgloader or any("pgloader" in line and "migrate.load" in line
                                             for line in listing.splitlines())
        time.sleep(0.05)
    thread.join()
    result = outcome["result"]
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    if engine == "pgloader":
        assert seen_pgloader and snapshots > 10, ("no ps snapshot caught pgloader running", snapshots,
                                                  result.result["load_seconds"])
    else:
        assert not seen_pgloader and snapshots > 10
    assert "<localhost>" in result.output  # verbose output really is verbose
    assert sentinel not in result.output
    assert sentinel not in result.result["plan"]


# ------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def tls_server():
    server = TlsServer()
    try:
        conn = server.connect()
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE app")
        conn.close()
        conn = server.connect("app")
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id integer PRIMARY KEY, code varchar(5))")
        conn.close()
        yield server
    finally:
        server.stop()


def test_tls_verify_full_end_to_end(ansible, tls_server, tmp_path, engine):
    source = tmp_path / "tls.sqlite3"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "c%d" % i) for i in range(1, 101)])
    conn.commit()
    conn.close()
    # The certificate names localhost only: libpq's verify-full refuses 127.0.0.1 before pgloader starts.
    # engine pgloader checks the chain only: it runs with verify-full only when that is accepted explicitly
    chain_only = {"allow_chain_only_tls": True} if engine == "pgloader" else {}
    mismatch = ansible.module("pgloader", dict(tls_server.params(host="127.0.0.1"), source=str(source), engine=engine,
                                               **chain_only))
    assert mismatch.failed and mismatch.result["changed"] is False
    assert "does not match host name" in mismatch.result["msg"]
    # With the CA, pgloader (sslmode=require, chain checked against ca_cert) loads over TLS.
    loaded = ansible.module("pgloader", dict(tls_server.params(), source=str(source), engine=engine, truncate=True,
                                             **chain_only))
    assert loaded.rc == 0 and not loaded.failed, loaded.output[-3000:]
    if engine == "pgloader":
        assert "sslmode=require" in loaded.result["plan"]
    assert [(t["name"], t["target_rows"]) for t in loaded.result["tables"]] == [("t", 100)]
    assert tls_server.password not in loaded.output
    # ssl_mode=require without the CA: libpq does not verify, pgloader does, and says what to do.
    no_ca = ansible.module("pgloader", dict(tls_server.params(ssl_mode="require", ca_cert=None), source=str(source),
                                            truncate=True, engine=engine))
    if engine == "pgloader":
        assert no_ca.failed and "give the CA that signed it in ca_cert" in no_ca.result["msg"]
    else:
        # libpq's require encrypts without checking the chain; the copy engine is libpq
        assert no_ca.rc == 0 and not no_ca.failed, no_ca.output[-3000:]
