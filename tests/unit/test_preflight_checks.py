"""Unit tests of the source scan (SQLite side only: target columns are given by hand) and of the
engine-independent load verification."""

from __future__ import annotations

import sqlite3

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import load_verify
from ansible_collections.pgmigrate.django.plugins.module_utils import preflight_checks as pc
from ansible_collections.pgmigrate.django.plugins.module_utils import sqlite_source


def target(name, udt, type_=None, notnull=False, max_length=None):
    return {"name": name, "udt": udt, "type": type_ or udt, "notnull": notnull, "max_length": max_length,
            "identity": "", "default": None}


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, code TEXT, n INTEGER, price DECIMAL, flag BOOL,"
        " doc TEXT, u CHAR(32), blob BLOB, small INTEGER);"
    )
    rows = [
        # id, name, code, n, price, flag, doc, u, blob, small
        (1, "plain", "abc", 1, 1.5, 1, '{"a": 1}', "0123456789abcdef0123456789abcdef", b"\x00\xff", 1),
        (2, "a\x00b", "abcdef", 2, "12.30", 0, '{"a": "\\u0000"}', "not-a-uuid", None, 40000),
        (3, "naïve", None, "lots-of-it", "x1", 2, "{bad json", "01234567-89ab-cdef-0123-456789abcdef", b"", 3),
        (4, "ok", "ab", 2.5, 123456.0, "true", '"\\\\u0000 is text"', None, None, None),
        (5, None, "abcd", 3000000000, None, None, None, None, None, None),
    ]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO t (id, name) VALUES (6, CAST(x'66696C65966E616D65' AS BLOB))")  # invalid UTF-8 blob
    conn.commit()
    conn.close()
    ro = sqlite_source.open_readonly(str(path), raw_text=True)
    yield ro
    ro.close()


def entry_for(conn, targets):
    columns = sqlite_source.table_columns(conn, "t")
    return {"source": "t", "target": "t", "source_columns": columns, "target_columns": targets,
            "column_pairs": [(c["name"], c["name"]) for c in columns]}


def test_scan_table_finds_every_kind_of_bad_value(source):
    targets = [
        target("id", "int8", "bigint", notnull=True),
        target("name", "text", notnull=True),
        target("code", "varchar", "character varying(4)", max_length=4),
        target("n", "int4", "integer"),
        target("price", "numeric", "numeric(5,2)"),
        target("flag", "bool", "boolean"),
        target("doc", "jsonb"),
        target("u", "uuid"),
        target("blob", "bytea"),
        target("small", "int2", "smallint"),
    ]
    rows, problems = pc.scan_table(source, entry_for(source, targets), max_examples=5)
    assert rows == 6
    found = {(p["column"], p["check"]): (p["count"], p.get("examples", {}).get("values")) for p in problems}
    assert found == {
        ("name", "nul_byte"): (1, [2]),
        ("name", "invalid_utf8"): (1, [6]),
        ("name", "null_in_not_null"): (1, [5]),
        ("code", "too_long"): (1, [2]),
        ("n", "out_of_range"): (1, [5]),
        ("n", "not_integer"): (2, [3, 4]),          # text 'lots-of-it' and real 2.5
        ("price", "out_of_range"): (1, [4]),        # 123456 >= 10**3 for numeric(5,2)
        ("price", "not_numeric"): (1, [3]),         # 'x1'; '12.30' is a number
        ("flag", "not_boolean"): (1, [3]),          # 2; 'true' is fine
        ("doc", "invalid_json"): (1, [3]),
        ("doc", "json_nul_escape"): (1, [2]),       # an escaped backslash before u0000 is not the escape
        ("u", "invalid_uuid"): (1, [2]),
        ("small", "out_of_range"): (1, [2]),
    }
    messages = {p["check"]: p["message"] for p in problems}
    assert messages["nul_byte"].startswith("t.name: 1 value(s) contain a NUL byte")
    assert "character varying(4)" in messages["too_long"]


def test_scan_table_text_targets_only_get_byte_checks(source):
    targets = [target(c["name"], "text") for c in sqlite_source.table_columns(source, "t")]
    rows, problems = pc.scan_table(source, entry_for(source, targets))
    assert {(p["column"], p["check"]) for p in problems} == {
        ("name", "nul_byte"), ("name", "invalid_utf8"), ("blob", "nul_byte"), ("blob", "invalid_utf8")}


def test_check_integrity_and_foreign_keys(tmp_path):
    path = tmp_path / "fk.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));"
        "INSERT INTO parent VALUES (1);"
        "INSERT INTO child VALUES (1, 1), (2, 7), (3, 8), (4, NULL);"
    )
    conn.commit()
    conn.close()
    ro = sqlite_source.open_readonly(str(path), raw_text=True)
    assert pc.check_integrity(ro, "full") == [] and pc.check_integrity(ro, "none") == []
    problems, warnings = pc.check_foreign_keys(ro, ["parent", "child"])
    assert warnings == []
    assert [(p["table"], p["column"], p["count"], p["check"], p["references"]) for p in problems] == [
        ("child", "parent_id", 2, "fk_orphans", "parent")]
    assert problems[0]["message"].startswith(
        "child.parent_id -> parent.id: 2 row(s) reference rows of parent that do not exist (first rowids: 2, 3)")
    assert problems[0]["examples"] == {"key": "rowid", "values": [2, 3]}


def test_resolve_selection():
    tables = ["a", "b", "django_migrations"]
    assert pc.resolve_selection(tables, [], [], ["django_migrations"]) == (["a", "b"], ["django_migrations"])
    assert pc.resolve_selection(tables, [], ["b"], []) == (["b"], [])
    # the default exclusion may be absent (Chinook has no django_migrations)
    assert pc.resolve_selection(["a"], [], [], ["django_migrations"]) == (["a"], [])
    with pytest.raises(pc.PreflightError, match="unknown table.*: B, nope"):
        pc.resolve_selection(tables, [], ["B"], ["nope"])


def test_summarize():
    problems = [{"message": "m%d" % i} for i in range(12)]
    assert pc.summarize(problems, limit=2) == "m0 | m1 | ... and 10 more (see `problems`)"


PLAN = [{"source": "Album", "target": "Album"}, {"source": "files", "target": "files"},
        {"source": "t", "target": "t"}, {"source": "empty", "target": "empty"}]


def test_load_verification_names_every_short_table():
    results = load_verify.table_results(
        PLAN, {"Album": 347, "files": 3, "t": 22, "empty": 0}, {"Album": 347, "files": 1, "t": 19, "empty": 0},
        {"Album": {"read": 347, "imported": 347, "errors": 0, "seconds": 0.3},
         "t": {"read": 22, "imported": 19, "errors": 6, "seconds": 0.1}})
    assert results[1] == {"name": "files", "target": "files", "source_rows": 3, "read": None, "imported": None,
                          "errors": None, "rejected": 2, "target_rows": 1, "seconds": None}
    problems, tolerated = load_verify.shortfalls(results, max_rejected_rows=0)
    assert tolerated == []
    assert problems == [
        "files: SQLite 3 rows, not in the loader's report, target 1 (2 missing)",
        "t: SQLite 22 rows, read 22, imported 19, target 19 (3 missing)",
    ]
    # rows PostgreSQL rejected may be tolerated; a table the loader never reported never is
    problems, tolerated = load_verify.shortfalls(results, max_rejected_rows=3)
    assert problems == ["files: SQLite 3 rows, not in the loader's report, target 1 (2 missing)"]
    assert tolerated == ["t: SQLite 22 rows, read 22, imported 19, target 19 (3 missing)"]
    problems, tolerated = load_verify.shortfalls(results, max_rejected_rows=2)
    assert len(problems) == 2 and tolerated == []


def test_load_verification_refuses_extra_rows_and_notes_unreported_tables():
    results = load_verify.table_results(
        PLAN[:2], {"Album": 3, "files": 3}, {"Album": 5, "files": 3}, {"Album": {"read": 3, "imported": 3}})
    problems, notices = load_verify.shortfalls(results)
    assert problems == ["Album: the target holds 5 rows, more than SQLite's 3 (it was not emptied first?)"]
    # complete by the counts although pgloader did not report it: a warning, not a failure
    assert notices == ["files: the loader did not report this table, but both sides hold 3 rows"]


def test_foreign_key_changes():
    before = [{"name": "fk_a", "table": "a", "definition": "FOREIGN KEY (b_id) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED"},
              {"name": "fk_c", "table": "c", "definition": "FOREIGN KEY (b_id) REFERENCES b(id)"},
              {"name": "fk_d", "table": "d", "definition": "FOREIGN KEY (b_id) REFERENCES b(id)"}]
    after = [{"name": "fk_a", "table": "a", "definition": "FOREIGN KEY (b_id) REFERENCES b(id)"},
             {"name": "fk_d", "table": "d", "definition": "FOREIGN KEY (b_id) REFERENCES b(id)"}]
    changed = load_verify.foreign_key_changes(before, after)
    assert [(fk["name"], fk["state"]) for fk in changed] == [("fk_a", "altered"), ("fk_c", "missing")]
