"""consistency_check against real copies made by the real pgloader.

An exact copy checks consistent; each single fault injected in PostgreSQL afterwards makes it
inconsistent, and the problems name the table, the key and the column.
"""

from __future__ import annotations

import sqlite3

import pytest

pytestmark = pytest.mark.integration


def check(ansible, target, source, check_mode=False, **extra):
    args = dict(target.params, source=str(source))
    args.update(extra)
    return ansible.module("consistency_check", args, check=check_mode)


def first_id(source, query):
    conn = sqlite3.connect("file:%s?mode=ro" % source, uri=True)
    try:
        row = conn.execute(query).fetchone()
    finally:
        conn.close()
    assert row is not None, query
    return row[0]


def test_exact_demo_copy_is_consistent(ansible, migrated_copy, demo_source):
    result = check(ansible, migrated_copy, demo_source)
    assert result.rc == 0, result.output[-4000:]
    out = result.result
    assert out["consistent"] is True and out["problems"] == [], out["problems"]
    assert out["changed"] is False
    assert migrated_copy.password not in result.output
    tables = dict((entry["name"], entry) for entry in out["tables"])
    assert "django_migrations" not in tables  # excluded by default: migrate writes it on PostgreSQL
    assert tables["inventory_item"]["source_rows"] == tables["inventory_item"]["target_rows"] >= 5000
    assert all(entry["mode"] == "key" and entry["mismatches"] == 0 for entry in tables.values())
    assert out["rows_compared"] >= 10000
    assert out["index_warnings"] == []  # Django indexes every FK and gives every table a key
    # no sequence: django_session (text key), inventory_warehouse (keyed by its parent's id)
    assert all(s["ok"] for s in out["sequences"]) and len(out["sequences"]) == len(tables) - 2
    assert all(fk["orphans"] == 0 and fk["constraint"] for fk in out["foreign_keys"])
    assert set(out["checks"]) == {"tables", "columns", "row_counts", "content", "sequences", "foreign_keys",
                                  "indexes"}
    # check mode runs the same read-only checks
    dry = check(ansible, migrated_copy, demo_source, check_mode=True)
    assert dry.rc == 0 and dry.result["consistent"] is True and dry.result["rows_compared"] == out["rows_compared"]


FAULTS = {
    "value_changed": (
        "UPDATE inventory_item SET name = name || ' (edited)' WHERE id = 42",
        "table inventory_item: row id=42 differs in column(s) name"),
    "row_deleted": (
        "DELETE FROM inventory_item_tags WHERE id = 7",
        "table inventory_item_tags: row id=7 is missing in PostgreSQL"),
    "row_added": (
        "INSERT INTO inventory_category (id, name, description) VALUES (999, 'added later', '')",
        "table inventory_category: row id=999 exists only in PostgreSQL"),
    "null_for_empty": (
        "UPDATE inventory_item SET note = NULL WHERE id = {empty_note}",
        "table inventory_item: row id={empty_note} differs in column(s) note"),
    "datetime_plus_1h": (
        "UPDATE inventory_event SET happened_at = happened_at + interval '1 hour' WHERE id = 11",
        "table inventory_event: row id=11 differs in column(s) happened_at"),
    "json_value_changed": (
        "UPDATE inventory_item SET attributes = jsonb_set(attributes, ARRAY[(SELECT min(k) FROM"
        " jsonb_object_keys(attributes) k)], '\"changed\"') WHERE id = {json_object}",
        "table inventory_item: row id={json_object} differs in column(s) attributes"),
    "fk_dropped": (
        "DO $$ BEGIN EXECUTE (SELECT format('ALTER TABLE inventory_event DROP CONSTRAINT %I', conname)"
        " FROM pg_constraint WHERE conrelid = 'inventory_event'::regclass AND contype = 'f'); END $$",
        "table inventory_event: foreign key (item_id) -> inventory_item(id) declared in SQLite has no constraint"),
    "sequence_behind": (
        "ALTER SEQUENCE inventory_item_id_seq RESTART WITH 100",
        "table inventory_item: column id: sequence public.inventory_item_id_seq is behind: next value 100 <= max(id)"),
    "float_precision_lost": (
        "UPDATE inventory_item SET weight = weight::real WHERE id = {full_mantissa}",
        "table inventory_item: row id={full_mantissa} differs in column(s) weight"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_injected_fault_is_found_and_named(ansible, migrated_copy, demo_source, fault):
    statement, expected = FAULTS[fault]
    ids = {
        "empty_note": first_id(demo_source, "SELECT min(id) FROM inventory_item WHERE note = ''"),
        "json_object": first_id(demo_source, "SELECT min(id) FROM inventory_item WHERE attributes LIKE '{\"%'"),
        "full_mantissa": first_id(demo_source, "SELECT min(id) FROM inventory_item WHERE weight BETWEEN 1 AND 1000"
                                               " AND weight != round(weight, 4)"),
    }
    migrated_copy.query(statement.format(**ids))
    result = check(ansible, migrated_copy, demo_source)
    assert result.failed, "fault %s went unnoticed" % fault
    out = result.result
    assert out["consistent"] is False
    expected = expected.format(**ids)
    assert any(expected in line for line in out["problems"]), (expected, out["problems"])
    assert "differs from SQLite" in out["msg"]
    if fault in ("value_changed", "null_for_empty", "datetime_plus_1h", "json_value_changed", "float_precision_lost"):
        # Exactly one row, one column: normalisation hides nothing and invents nothing.
        changed = [entry for entry in out["tables"] if entry["mismatches"]]
        assert len(changed) == 1 and changed[0]["changed_rows"] == 1 and changed[0]["mismatches"] == 1, changed
        sample = changed[0]["first_mismatches"][0]
        assert sample["kind"] == "changed" and len(sample["columns"]) == 1
        assert "source" not in sample  # values only with report_values
    if fault == "row_deleted":
        assert any("inventory_item_tags: " in p and "rows in SQLite" in p for p in out["problems"])


def test_report_only_and_values_on_request(ansible, migrated_copy, demo_source):
    migrated_copy.query("UPDATE inventory_category SET description = 'changed' WHERE id = 3")
    migrated_copy.query("DELETE FROM inventory_item_tags WHERE id = 5")
    result = check(ansible, migrated_copy, demo_source, fail_on_mismatch=False, report_values=True,
                   checks=["content"], include_tables=["inventory_category", "inventory_event", "inventory_item",
                                                      "inventory_item_tags", "inventory_tag"],
                   max_reported_mismatches=1)
    assert result.rc == 0 and not result.failed, result.output[-3000:]
    out = result.result
    assert out["consistent"] is False and out["checks"] == ["content"]
    assert "sequences" not in out and "foreign_keys" not in out
    assert sorted(entry["name"] for entry in out["tables"]) == [
        "inventory_category", "inventory_comment", "inventory_event", "inventory_item", "inventory_item_tags",
        "inventory_location", "inventory_stocklevel", "inventory_tag", "inventory_warehouse"]
    category = [entry for entry in out["tables"] if entry["name"] == "inventory_category"][0]
    sample = category["first_mismatches"][0]
    assert sample["columns"] == ["description"] and sample["target"] == {"description": "'changed'"}
    assert sample["source"]["description"] != "'changed'"
    tags = [entry for entry in out["tables"] if entry["name"] == "inventory_item_tags"][0]
    assert tags["missing_rows"] == 1 and tags["first_mismatches"][0]["key"] == {"id": 5}


def test_selected_checks_only(ansible, migrated_copy, demo_source):
    # Content changed but only counts and tables are checked: consistent, as asked.
    migrated_copy.query("UPDATE inventory_item SET name = 'x' WHERE id = 1")
    result = check(ansible, migrated_copy, demo_source, checks=["tables", "row_counts"])
    assert result.rc == 0 and result.result["consistent"] is True
    assert "mode" not in result.result["tables"][0]


def test_missing_and_extra_tables_and_columns(ansible, migrated_copy, demo_source):
    migrated_copy.query("CREATE TABLE only_in_pg (id int PRIMARY KEY); ALTER TABLE inventory_tag ADD COLUMN extra int;"
                        " ALTER TABLE django_session RENAME TO django_session_renamed")
    result = check(ansible, migrated_copy, demo_source, fail_on_mismatch=False)
    problems = result.result["problems"]
    assert "table only_in_pg exists in PostgreSQL schema public but not in SQLite" in problems
    assert "table django_session exists in SQLite but not in PostgreSQL schema public" in problems
    assert "table inventory_tag: column extra exists in PostgreSQL but not in SQLite" in problems
    assert result.result["source_only_tables"] == ["django_session"]


def test_orphans_found_when_the_constraint_is_gone(ansible, migrated_copy, demo_source):
    migrated_copy.query(
        "DO $$ BEGIN EXECUTE (SELECT format('ALTER TABLE inventory_item_tags DROP CONSTRAINT %I', conname)"
        " FROM pg_constraint WHERE conrelid = 'inventory_item_tags'::regclass AND contype = 'f'"
        " AND conname LIKE '%tag_id%'); END $$;"
        " DELETE FROM inventory_tag WHERE id = 2")
    result = check(ansible, migrated_copy, demo_source, fail_on_mismatch=False)
    problems = result.result["problems"]
    assert any(p.startswith("table inventory_item_tags: ") and "reference missing inventory_tag(id) rows" in p
               and "tag_id=2" in p for p in problems), problems
    fk = [f for f in result.result["foreign_keys"] if f["table"] == "inventory_item_tags" and f["columns"] == ["tag_id"]]
    assert fk[0]["constraint"] is None and fk[0]["in_sqlite"] is True and fk[0]["orphans"] > 0


def test_missing_fk_index_is_a_warning_not_a_difference(ansible, migrated_copy, demo_source):
    migrated_copy.query(
        "DO $$ BEGIN EXECUTE (SELECT format('DROP INDEX %s', indexrelid::regclass) FROM pg_index"
        " WHERE indrelid = 'inventory_event'::regclass AND NOT indisprimary); END $$")
    result = check(ansible, migrated_copy, demo_source)
    assert result.rc == 0 and result.result["consistent"] is True, result.result.get("problems")
    assert result.result["index_warnings"] == [
        "table inventory_event: foreign key column(s) item_id have no index (joins and deletes of inventory_item "
        "rows scan the whole table)"]
    assert "inventory_event: foreign key column(s) item_id have no index" in result.output  # module.warn


def test_chinook_exact_copy_is_consistent(ansible, chinook_copy, chinook_source):
    reset = ansible.module("reset_sequences", dict(chinook_copy.params, source=str(chinook_source)))
    assert reset.rc == 0, reset.output[-2000:]
    result = check(ansible, chinook_copy, chinook_source)
    assert result.rc == 0, result.output[-4000:]
    out = result.result
    assert out["consistent"] is True, out["problems"]
    tables = dict((entry["name"], entry) for entry in out["tables"])
    assert len(tables) == 11 and tables["Track"]["target"] == "Track"
    assert tables["PlaylistTrack"]["key"] == ["PlaylistId", "TrackId"] and tables["PlaylistTrack"]["mode"] == "key"
    assert sum(entry["source_rows"] for entry in tables.values()) == out["rows_compared"] > 15000
    assert len(out["foreign_keys"]) == 11 and all(fk["constraint"] for fk in out["foreign_keys"])


def test_chinook_fault_in_mixed_case_table(ansible, chinook_copy, chinook_source):
    old = first_id(chinook_source, 'SELECT min("TrackId") FROM "PlaylistTrack" WHERE "PlaylistId" = 1')
    new = first_id(chinook_source, 'SELECT min("TrackId") FROM "Track" WHERE "TrackId" NOT IN'
                                   ' (SELECT "TrackId" FROM "PlaylistTrack" WHERE "PlaylistId" = 1)')
    chinook_copy.query('UPDATE "InvoiceLine" SET "UnitPrice" = "UnitPrice" + 0.01 WHERE "InvoiceLineId" = 17;'
                       ' UPDATE "PlaylistTrack" SET "TrackId" = %s WHERE "PlaylistId" = 1 AND "TrackId" = %s',
                       (new, old))
    result = check(ansible, chinook_copy, chinook_source, checks=["content"], fail_on_mismatch=False)
    problems = result.result["problems"]
    assert "table InvoiceLine: row InvoiceLineId=17 differs in column(s) UnitPrice" in problems
    assert "table PlaylistTrack: row PlaylistId=1, TrackId=%d is missing in PostgreSQL" % old in problems
    assert "table PlaylistTrack: row PlaylistId=1, TrackId=%d exists only in PostgreSQL" % new in problems


@pytest.mark.parametrize("args, message", [
    ({"source": "/nonexistent/db.sqlite3"}, "does not exist"),
    ({"schema": "nowhere"}, "Schema 'nowhere' does not exist"),
    ({"checks": []}, "checks is empty"),
    ({"include_tables": ["no_such_table"]}, "unknown table(s) in include_tables: no_such_table"),
    ({"max_reported_mismatches": -1}, "max_reported_mismatches must be 0 or more"),
])
def test_bad_input_is_refused_clearly(ansible, pg_target, demo_source, args, message):
    base = dict(pg_target.params, source=str(demo_source))
    base.update(args)
    result = ansible.module("consistency_check", base)
    assert result.failed and message in result.result["msg"], result.result.get("msg")


SOURCE_TABLES = r"""
CREATE TABLE nokey (a INTEGER, b TEXT, c REAL);
INSERT INTO nokey VALUES (1, 'x', 0.5), (1, 'x', 0.5), (2, NULL, 1e-300), (3, '', NULL);
CREATE TABLE "order" ("user" INTEGER PRIMARY KEY, "Select" TEXT, "group" INTEGER REFERENCES texted (code));
INSERT INTO "order" VALUES (1, 'a', NULL), (2, 'b', NULL);
CREATE TABLE texted (code TEXT PRIMARY KEY, val TEXT);
INSERT INTO texted VALUES ('B', 'upper'), ('a', 'lower'), ('Ä', 'umlaut'), ('10', 'ten'), ('9', 'nine'), ('z', '😀');
CREATE TABLE uuided (id CHAR(32) PRIMARY KEY, n INTEGER);
INSERT INTO uuided VALUES ('FFFFFFFF000040008000000000000001', 1), ('0000000a000040008000000000000002', 2),
                          ('0000000B000040008000000000000003', 3);
CREATE TABLE typed (id INTEGER PRIMARY KEY, flag bool, at datetime, d date, t time, dur bigint, j text, b blob,
                    num decimal, f real, f4 real);
INSERT INTO typed VALUES
 (1, 1, '2024-03-01T12:00:00.5+02:00', '2024-02-29', '23:59:59.25', -1, '{"b": [1, 2.50, true], "a": "\u00fc"}',
  x'00ff', '1234567.125', 0.1, 0.5),
 (2, 0, '2024-03-01 10:00:00Z', NULL, '00:00:00', 86400000000, '[]', x'', 3, -0.0, 2.0),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""

TARGET_TABLES = """
CREATE TABLE nokey (a int, b text, c float8);
INSERT INTO nokey VALUES (2, NULL, 1e-300), (1, 'x', 0.5), (3, '', NULL), (1, 'x', 0.5);
CREATE TABLE texted (code varchar(10) PRIMARY KEY, val text);
INSERT INTO texted VALUES ('B', 'upper'), ('a', 'lower'), ('Ä', 'umlaut'), ('10', 'ten'), ('9', 'nine'), ('z', '😀');
CREATE TABLE "order" ("user" int PRIMARY KEY, "Select" text, "group" varchar(10) REFERENCES texted (code));
CREATE INDEX ON "order" ("group");
INSERT INTO "order" VALUES (1, 'a', NULL), (2, 'b', NULL);
CREATE TABLE uuided (id uuid PRIMARY KEY, n int);
INSERT INTO uuided VALUES ('ffffffff-0000-4000-8000-000000000001', 1), ('0000000a-0000-4000-8000-000000000002', 2),
                          ('0000000b-0000-4000-8000-000000000003', 3);
CREATE TABLE typed (id bigint PRIMARY KEY, flag boolean, at timestamptz, d date, t time, dur interval, j jsonb,
                    b bytea, num numeric(30,3), f float8, f4 real);
INSERT INTO typed VALUES
 (1, true, '2024-03-01 10:00:00.5+00', '2024-02-29', '23:59:59.25', '-1 microseconds',
  '{"a": "ü", "b": [1, 2.5, true]}', '\\x00ff', 1234567.125, 0.1, 0.5),
 (2, false, '2024-03-01 10:00:00+00', NULL, '00:00:00', '1 day', '[]', '\\x', 3, 0, 2),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""


@pytest.fixture
def hand_made(pg_target, tmp_path):
    """A small SQLite database of awkward types and keys, and a correct copy written by hand."""
    source = tmp_path / "awkward.sqlite3"
    conn = sqlite3.connect(str(source))
    conn.executescript(SOURCE_TABLES)
    conn.commit()
    conn.close()
    pg_target.query(TARGET_TABLES)
    return source, pg_target


def test_hand_made_copy_of_awkward_types_is_consistent(ansible, hand_made):
    source, target = hand_made
    result = check(ansible, target, source)
    assert result.rc == 0, result.result.get("problems") or result.output[-3000:]
    tables = dict((entry["name"], entry) for entry in result.result["tables"])
    assert tables["order"]["mode"] == "key" and tables["order"]["key"] == ["user"]
    assert [fk["table"] for fk in result.result["foreign_keys"]] == ["order"]
    assert tables["nokey"]["mode"] == "multiset" and tables["nokey"]["source_rows"] == 4
    assert tables["texted"]["mode"] == "key"
    # Upper-case hex in SQLite does not sort like uuid: detected, and compared as a multiset instead.
    assert tables["uuided"]["mode"] == "multiset" and "out of order" in tables["uuided"]["note"]
    assert tables["typed"]["mode"] == "key" and tables["typed"]["mismatches"] == 0
    assert result.result["index_warnings"] == [
        "table nokey has no primary key (updates and deletes by the ORM need one; rows can only be compared as "
        "multisets)"]


def test_hand_made_faults_in_multisets_keys_and_types(ansible, hand_made):
    source, target = hand_made
    target.query(
        "UPDATE nokey SET b = 'y' WHERE a = 3;"  # '' -> 'y' in a table without key
        " INSERT INTO nokey VALUES (1, 'x', 0.5);"  # a third duplicate
        " UPDATE uuided SET n = 20 WHERE n = 2;"
        " UPDATE texted SET val = 'LOWER' WHERE code = 'a';"
        " UPDATE typed SET f4 = 0.1, t = '23:59:59.2' WHERE id = 2;"
        " UPDATE typed SET j = '{\"a\": \"ü\", \"b\": [1, 2.5, 1]}' WHERE id = 1;"
        ' UPDATE "order" SET "Select" = \'B\' WHERE "user" = 2')
    result = check(ansible, target, source, fail_on_mismatch=False, report_values=True,
                   checks=["content"])
    tables = dict((entry["name"], entry) for entry in result.result["tables"])
    nokey = tables["nokey"]
    assert (nokey["missing_rows"], nokey["extra_rows"], nokey["changed_rows"]) == (1, 2, 0), nokey
    assert {"a": "3", "b": "''", "c": "None"} in [m.get("source") for m in nokey["first_mismatches"]]
    uuided = tables["uuided"]
    assert uuided["changed_rows"] == 1 and uuided["first_mismatches"][0]["columns"] == ["n"]
    assert uuided["first_mismatches"][0]["key"] == {"id": "0000000a000040008000000000000002"}
    assert tables["texted"]["first_mismatches"] == [
        {"kind": "changed", "key": {"code": "a"}, "columns": ["val"], "source": {"val": "'lower'"},
         "target": {"val": "'LOWER'"}}]
    assert tables["order"]["first_mismatches"][0]["key"] == {"user": 2}
    assert tables["order"]["first_mismatches"][0]["columns"] == ["Select"]
    typed = dict((m["key"]["id"], m["columns"]) for m in tables["typed"]["first_mismatches"])
    # true -> 1 in JSON is a change, 0.1 in a real column is 0.10000000149011612, .2 s is not .25 s
    assert typed == {1: ["j"], 2: ["t", "f4"]}, typed


def test_text_cut_at_nul_is_a_difference(ansible, pg_target, tmp_path):
    source = tmp_path / "nul.sqlite3"
    conn = sqlite3.connect(str(source))
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes VALUES (1, ?), (2, ?)", ("before\x00after", "plain"))
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'before'),"
                    " (2, 'plain')")
    result = check(ansible, pg_target, source, checks=["content"])
    assert result.failed
    assert result.result["problems"][-1] == "table notes: row id=1 differs in column(s) body"


def test_pgloader_cut_short_by_bad_utf8_is_named(ansible, pg_target, testdata):
    source = testdata("bad-utf8.db")
    # What pgloader leaves behind for this file: it stops the table at the bad row (and exits 0).
    pg_target.query("CREATE TABLE files (id int PRIMARY KEY, filename text);"
                    " INSERT INTO files VALUES (1, 'valid-file.txt')")
    result = check(ansible, pg_target, source, fail_on_mismatch=False)
    assert result.rc == 0, result.output[-3000:]
    problems = result.result["problems"]
    assert "table files: row id=2 is missing in PostgreSQL" in problems
    assert "table files: row id=3 is missing in PostgreSQL" in problems
    assert "table files: 3 rows in SQLite, 1 in PostgreSQL" in problems


def test_invalid_utf8_text_is_named_not_a_crash(ansible, pg_target, tmp_path):
    source = tmp_path / "latin1.sqlite3"
    conn = sqlite3.connect(str(source))
    conn.execute("CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO names VALUES (1, 'ok'), (2, CAST(x'4dfc6c6c6572' AS TEXT)), (3, 'fine')")
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE names (id int PRIMARY KEY, name text);"
                    " INSERT INTO names VALUES (1, 'ok'), (2, 'Müller'), (3, 'fine')")
    result = check(ansible, pg_target, source, checks=["content"], fail_on_mismatch=False)
    assert result.rc == 0, result.output[-3000:]
    problems = result.result["problems"]
    assert problems[0].startswith("table names: SQLite holds text that is not valid UTF-8"), problems
    assert problems[-1] == "table names: row id=2 differs in column(s) name"
    assert result.result["tables"][0]["changed_rows"] == 1
