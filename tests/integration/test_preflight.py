"""pgmigrate.django.preflight against the real PostgreSQL, run through Ansible.

Read-only on both sides; lists every problem at once, naming table, column and count.
"""

from __future__ import annotations

import sqlite3

import pytest

from loadhelpers import (
    CHINOOK_DDL, migrate_target, snapshot, sqlite_counts, writable_copy,
)

pytestmark = pytest.mark.integration


def preflight(ansible, target, source, check=False, **options):
    args = dict(target.params, source=str(source))
    args.update(options)
    return ansible.module("preflight", args, check=check)


def test_demo_app_passes_and_nothing_changes(ansible, pg_target, demo_source, demo_workdir):
    migrate_target(demo_workdir, pg_target)
    before = snapshot(pg_target)
    for check in (True, False):
        result = preflight(ansible, pg_target, demo_source, check=check)
        assert result.rc == 0 and not result.failed, result.output[-3000:]
        res = result.result
        assert res["changed"] is False and res["problems"] == [] and res["problem_count"] == 0
        tables = {t["name"]: t["source_rows"] for t in res["tables"]}
        assert "django_migrations" not in tables and res["excluded"] == ["django_migrations"]
        assert tables == sqlite_counts(demo_source, list(tables))
        assert res["rows"] == sum(tables.values()) and tables["inventory_item"] > 1000
        assert [s["name"] for s in res["skipped_tables"]] == ["sqlite_sequence"]
        # migrate's own rows (content types, permissions) are not "data already there"
        assert set(res["target_nonempty"]) == {"django_content_type", "auth_permission"}
        assert res["source_only"] == [] and res["target_only"] == []
    assert snapshot(pg_target) == before


def test_chinook_mixed_case_passes(ansible, pg_target, testdata):
    pg_target.query(CHINOOK_DDL)
    result = preflight(ansible, pg_target, testdata("Chinook_Sqlite.sqlite"))
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    assert result.result["rows"] == 15607 and len(result.result["tables"]) == 11
    assert {t["name"] for t in result.result["tables"]} == {t["target"] for t in result.result["tables"]}


@pytest.fixture
def broken(tmp_path, pg_target):
    """A SQLite file and a target schema with one of every problem."""
    path = tmp_path / "broken.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE shop_cat (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
        "CREATE TABLE shop_item (id INTEGER PRIMARY KEY, name TEXT, code TEXT, qty INTEGER, price DECIMAL,"
        " data TEXT, ref INTEGER REFERENCES shop_cat (id), extra TEXT);"
        "CREATE TABLE only_in_sqlite (id INTEGER PRIMARY KEY);"
        "CREATE VIRTUAL TABLE docs USING fts4(body);"
        "INSERT INTO shop_cat (name) VALUES ('tools'), ('a name that is too long');"
        "INSERT INTO docs (body) VALUES ('full text');"
    )
    rows = [
        (1, "a\x00b", "abc", 1, 1.5, "{}", 1, None),
        (2, b"caf\xe9", "abc", 1, 1.5, "{}", 1, None),       # Latin-1, not UTF-8
        (3, "fine", "toolong", 1, 1.5, "{}", 1, None),
        (4, "fine", "abc", 3000000000, 1.5, "{}", 1, None),
        (5, "fine", "abc", 1, 12345.0, "{bad json", 1, None),
        (6, "fine", "abc", 1, 1.5, "{}", 999, None),          # orphan
        (7, None, "abc", 1, 1.5, "{}", 2, None),
    ]
    conn.executemany("INSERT INTO shop_item VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    pg_target.query(
        "CREATE TABLE shop_cat (id bigint PRIMARY KEY, name varchar(10) NOT NULL);"
        "CREATE TABLE shop_item (id bigint PRIMARY KEY, name text NOT NULL, code varchar(3), qty integer,"
        " price numeric(6,2), data jsonb, ref bigint REFERENCES shop_cat (id), required_col text NOT NULL);"
        "CREATE TABLE only_in_target (id integer)")
    return path


def test_every_problem_at_once(ansible, pg_target, broken):
    before = snapshot(pg_target)
    result = preflight(ansible, pg_target, broken)
    assert result.failed and result.result["changed"] is False
    res = result.result
    found = sorted((p["check"], p["table"], p["column"], p["count"]) for p in res["problems"])
    assert found == sorted([
        ("missing_target_table", "only_in_sqlite", None, None),
        ("missing_source_table", "only_in_target", None, None),
        ("missing_target_column", "shop_item", "extra", None),
        ("target_column_required", "shop_item", "required_col", None),
        ("too_long", "shop_cat", "name", 1),
        ("nul_byte", "shop_item", "name", 1),
        ("invalid_utf8", "shop_item", "name", 1),
        ("null_in_not_null", "shop_item", "name", 1),
        ("too_long", "shop_item", "code", 1),
        ("out_of_range", "shop_item", "qty", 1),
        ("out_of_range", "shop_item", "price", 1),
        ("invalid_json", "shop_item", "data", 1),
        ("fk_orphans", "shop_item", "ref", 1),
    ])
    examples = {(p["check"], p["column"]): p.get("examples", {}).get("values") for p in res["problems"]}
    assert examples[("nul_byte", "name")] == [1] and examples[("invalid_utf8", "name")] == [2]
    assert examples[("out_of_range", "qty")] == [4]
    orphan = next(p for p in res["problems"] if p["check"] == "fk_orphans")
    assert orphan["references"] == "shop_cat" and orphan["examples"] == {"key": "rowid", "values": [6]}
    assert orphan["message"].startswith("shop_item.ref -> shop_cat.id: 1 row(s) reference rows of shop_cat")
    assert res["msg"].startswith("preflight found 13 problem(s) in %s: " % broken)
    assert "shop_item.name: 1 value(s) contain a NUL byte" in res["msg"]
    skipped = {s["name"]: s["reason"] for s in res["skipped_tables"]}
    assert set(skipped) == {"docs", "docs_content", "docs_segments", "docs_segdir", "docs_docsize", "docs_stat",
                            "sqlite_sequence", "sqlite_stat1"}
    assert skipped["docs_segdir"] == "shadow table of the virtual table docs"
    assert skipped["docs"].startswith("virtual table") and skipped["sqlite_stat1"] == "SQLite internal table"
    assert snapshot(pg_target) == before
    # the same findings without failing
    listed = preflight(ansible, pg_target, broken, fail_on_problems=False)
    assert listed.rc == 0 and not listed.failed and listed.result["problem_count"] == 13


@pytest.mark.parametrize("name, ddl, expected", [
    ("bad-utf8.db", "CREATE TABLE files (id integer PRIMARY KEY, filename text)",
     ("invalid_utf8", "files", "filename", 1, [2])),
    ("type-mismatch.db", "CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL)",
     ("not_integer", "products", "qty", 1, [2])),
])
def test_pgloader_test_databases(ansible, pg_target, testdata, name, ddl, expected):
    pg_target.query(ddl)
    result = preflight(ansible, pg_target, testdata(name))
    assert result.failed
    assert [(p["check"], p["table"], p["column"], p["count"], p["examples"]["values"])
            for p in result.result["problems"]] == [expected]


def test_target_rows_and_integrity_failures(ansible, pg_target, tmp_path):
    path = tmp_path / "index.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER, y INTEGER); CREATE INDEX t_x ON t (x);")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, i, 100 - i) for i in range(1, 30)])
    conn.commit()
    conn.execute("PRAGMA writable_schema = ON")  # the index no longer matches its table: a damaged file
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX t_x ON t (y)' WHERE name = 't_x'")
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE t (id integer PRIMARY KEY, x integer, y integer); INSERT INTO t VALUES (1, 1, 1)")
    result = preflight(ansible, pg_target, path)
    assert result.failed
    checks = [p["check"] for p in result.result["problems"]]
    assert checks.count("integrity_check") >= 5 and "target_not_empty" in checks
    assert "row 1 missing from index t_x" in result.result["msg"]
    # quick_check does not look at index content; rows in the target may be allowed
    quick = preflight(ansible, pg_target, path, integrity_check="quick", target_must_be_empty=False)
    assert quick.rc == 0 and not quick.failed, quick.output[-2000:]
    assert quick.result["target_nonempty"] == ["t"] and quick.result["target_rows"] == {"t": 1}


@pytest.mark.parametrize("case", ["missing", "not_sqlite", "corrupt", "wrong_password", "unreachable",
                                  "unknown_table", "empty_target"])
def test_bad_input_fails_clearly(ansible, pg_target, demo_source, tmp_path, case):
    args = dict(pg_target.params, source=str(demo_source))
    if case == "missing":
        args["source"] = str(tmp_path / "nope" / "db.sqlite3")
        expect = "does not exist"
    elif case == "not_sqlite":
        (tmp_path / "x.txt").write_text("hello\n" * 100)
        args["source"] = str(tmp_path / "x.txt")
        expect = "not a SQLite 3 database"
    elif case == "corrupt":
        corrupt = writable_copy(demo_source, tmp_path / "corrupt.sqlite3")
        with open(corrupt, "r+b") as handle:
            handle.seek(100)
            handle.write(b"\x00\xff" * 2000)
        args["source"] = str(corrupt)
        expect = "corrupt"
    elif case == "wrong_password":
        args["login_password"] = "Wr0ng-Passw0rd-Sentinel"
        expect = "password authentication failed"
    elif case == "unreachable":
        args.update(login_port=1, connect_retries=1, connect_retry_delay=0.1)
        expect = "after 2 attempt(s)"
    elif case == "unknown_table":
        args["exclude_tables"] = ["django_migrations", "inventory_itme"]
        expect = "unknown table(s) in exclude_tables: inventory_itme"
    else:
        expect = "has no tables: create them first with the app's own `manage.py migrate`"
    result = ansible.module("preflight", args)
    assert result.failed and result.result.get("changed") is False
    assert expect in result.result["msg"], result.result["msg"]
    assert pg_target.password not in result.output and "Wr0ng-Passw0rd-Sentinel" not in result.output
    if case == "missing":
        assert not (tmp_path / "nope").exists()
