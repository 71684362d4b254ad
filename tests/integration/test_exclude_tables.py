"""exclude_tables, SQLite virtual tables, the migrations' own rows and engine limits, module by module,
against the real PostgreSQL and the real pgloader (issue 16, part B).

The fixture is a site like the CMS of issue 16: a search index whose PostgreSQL table has NOT NULL
columns SQLite does not have (the app rebuilds it there), an FTS5 table and an R*Tree table with
their shadow tables in SQLite only, and a table the app's migrations fill in the fresh target.
"""

from __future__ import annotations

import sqlite3

import pytest

from loadhelpers import snapshot

pytestmark = pytest.mark.integration

SKIPPED = {"app_doc_fts", "app_doc_fts_config", "app_doc_fts_content", "app_doc_fts_data", "app_doc_fts_docsize",
           "app_doc_fts_idx", "app_place", "app_place_node", "app_place_parent", "app_place_rowid",
           "sqlite_sequence"}
EXCLUDE = ["django_migrations", "search_index"]


@pytest.fixture
def cms(tmp_path, pg_target):
    """(SQLite path, target): SQLite with FTS5/R*Tree tables; the target as the app's migrations left it."""
    path = tmp_path / "cms.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE app_group (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);"
        "CREATE TABLE app_doc (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,"
        " group_id INTEGER REFERENCES app_group (id));"
        "CREATE TABLE search_index (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL);"
        "CREATE VIRTUAL TABLE app_doc_fts USING fts5(title);"
        "CREATE VIRTUAL TABLE app_place USING rtree(id, min_x, max_x);"
        "INSERT INTO app_group (name) VALUES ('Editors'), ('Moderators'), ('Readers');"
        "INSERT INTO app_doc (title, group_id) VALUES ('one', 1), ('two', 2), ('three', 3), ('four', 1);"
        "INSERT INTO search_index (title) VALUES ('one'), ('two');"
        "INSERT INTO app_doc_fts (title) SELECT title FROM app_doc;"
        "INSERT INTO app_place VALUES (1, 0.5, 1.5);")
    conn.commit()
    conn.close()
    pg_target.query(
        "CREATE TABLE app_group (id serial PRIMARY KEY, name text NOT NULL);"
        "CREATE TABLE app_doc (id serial PRIMARY KEY, title text NOT NULL, group_id integer REFERENCES app_group (id));"
        # PostgreSQL's search index has other columns than SQLite's (NOT NULL, no default).
        "CREATE TABLE search_index (id bigserial PRIMARY KEY, title text NOT NULL, body_text text NOT NULL);"
        # What the app's migrations made: a group, and the index row the app rebuilt.
        "INSERT INTO app_group (name) VALUES ('Migration-made editors');"
        "INSERT INTO search_index (title, body_text) VALUES ('rebuilt', 'by the app on PostgreSQL')")
    return path, pg_target


def run(ansible, module, target, source, **options):
    args = dict(target.params, source=str(source))
    args.update(options)
    return ansible.module(module, args)


@pytest.mark.parametrize("engine", ["pgloader", "copy"])
def test_excluded_and_virtual_tables_through_every_module(ansible, cms, engine):
    source, target = cms
    # preflight: the search index is a problem until excluded; virtual and shadow tables are listed
    plain = run(ansible, "preflight", target, source, engine=engine, target_must_be_empty=False)
    assert plain.failed and [(p["check"], p["table"], p["column"]) for p in plain.result["problems"]] == [
        ("target_column_required", "search_index", "body_text")]
    scan = run(ansible, "preflight", target, source, engine=engine, exclude_tables=EXCLUDE,
               target_must_be_empty=False)
    assert not scan.failed, scan.output[-3000:]
    assert {s["name"] for s in scan.result["skipped_tables"]} == SKIPPED
    assert scan.result["excluded"] == ["search_index"] and scan.result["target_rows"] == {"app_group": 1}
    assert [t["name"] for t in scan.result["tables"]] == ["app_doc", "app_group"]
    migration_made = list(scan.result["target_rows"])

    # a row someone else wrote into a table the migrations left empty is refused, nothing changes
    target.query("INSERT INTO app_doc (title) VALUES ('foreign')")
    before = snapshot(target)
    refused = run(ansible, "pgloader", target, source, engine=engine, exclude_tables=EXCLUDE,
                  prefilled_tables=migration_made)
    assert refused.failed and [(p["check"], p["table"], p["count"]) for p in refused.result["problems"]] == [
        ("target_not_empty", "app_doc", 1)]
    assert "public.app_doc already holds 1 row(s) that the app's migrations did not make" in refused.result["msg"]
    assert snapshot(target) == before
    target.query("DELETE FROM app_doc")

    # the load replaces the migrations' rows, copies no virtual table and leaves the index as it was
    loaded = run(ansible, "pgloader", target, source, engine=engine, exclude_tables=EXCLUDE,
                 prefilled_tables=migration_made)
    assert not loaded.failed, loaded.output[-3000:]
    assert {s["name"] for s in loaded.result["skipped_tables"]} == SKIPPED
    assert loaded.result["excluded"] == ["search_index"]
    assert {t["name"]: t["target_rows"] for t in loaded.result["tables"]} == {"app_doc": 4, "app_group": 3}
    assert target.query("SELECT id, name FROM app_group ORDER BY id") == [
        (1, "Editors"), (2, "Moderators"), (3, "Readers")]
    assert target.query("SELECT id, title, body_text FROM search_index") == [
        (1, "rebuilt", "by the app on PostgreSQL")]

    # sequences: the excluded table's sequence stays where the app left it (SQLite names are known names)
    sequences = run(ansible, "reset_sequences", target, source, exclude_tables=EXCLUDE)
    assert not sequences.failed, sequences.output[-3000:]
    assert {s["table"]: s["after"] for s in sequences.result["sequences"]} == {"app_doc": 5, "app_group": 4}
    assert target.scalar("SELECT last_value FROM search_index_id_seq") == 1

    # the check: equal with the exclusion, the rebuilt index differs without it
    check = run(ansible, "consistency_check", target, source, exclude_tables=EXCLUDE)
    assert not check.failed and check.result["consistent"] is True, check.output[-3000:]
    assert {s["name"] for s in check.result["skipped_tables"]} == SKIPPED
    differs = run(ansible, "consistency_check", target, source, checks=["tables", "row_counts", "content"],
                  fail_on_mismatch=False)
    assert differs.result["consistent"] is False
    assert any("search_index" in line for line in differs.result["problems"])


def test_an_unknown_name_is_refused_by_every_module_changing_nothing(ansible, cms):
    source, target = cms
    before = snapshot(target)
    calls = [("preflight", {}), ("pgloader", {"engine": "copy"}), ("pgloader", {"engine": "pgloader"}),
             ("reset_sequences", {}), ("consistency_check", {})]
    for module, options in calls:
        result = run(ansible, module, target, source, exclude_tables=["search_indx"], **options)
        assert result.failed, (module, result.output[-2000:])
        message = result.result["msg"]
        assert "unknown table(s) in exclude_tables" in message and "search_indx" in message, (module, message)
        assert all(name in message for name in ("app_doc,", "app_group,", "search_index")), (module, message)
    assert snapshot(target) == before


def test_infinity_is_predicted_for_pgloader_and_loaded_exactly_by_copy(ansible, pg_target, tmp_path):
    source = tmp_path / "floats.sqlite3"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE app_reading (id INTEGER PRIMARY KEY, value REAL, small REAL)")
    conn.executemany("INSERT INTO app_reading VALUES (?, ?, ?)", [
        (1, float("inf"), 1.0), (2, float("-inf"), 2.0), (3, 1.5, 3.0), (4, -0.0, 4.0),
        (5, 9223372036854775807.0, 5.0), (6, float("nan"), 6.0)])  # SQLite itself stores NaN as NULL
    conn.commit()
    conn.close()
    pg_target.query("CREATE TABLE app_reading (id bigint PRIMARY KEY, value double precision, small real)")
    predicted = run(ansible, "preflight", pg_target, source, engine="pgloader")
    assert predicted.failed and [(p["check"], p["column"], p["count"], p["examples"]["values"])
                                 for p in predicted.result["problems"]] == [("engine_limit", "value", 2, [1, 2])]
    assert "engine pgloader cannot load" in predicted.result["msg"] and "engine copy" in predicted.result["msg"]
    assert not run(ansible, "preflight", pg_target, source, engine="copy").failed
    refused = run(ansible, "pgloader", pg_target, source, engine="pgloader")
    assert refused.failed and refused.result["problems"][0]["check"] == "engine_limit"
    assert pg_target.scalar("SELECT count(*) FROM app_reading") == 0
    loaded = run(ansible, "pgloader", pg_target, source, engine="copy")
    assert not loaded.failed, loaded.output[-3000:]
    assert pg_target.query("SELECT id, value::text FROM app_reading ORDER BY id") == [
        (1, "Infinity"), (2, "-Infinity"), (3, "1.5"), (4, "0"), (5, "9.223372036854776e+18"), (6, None)]
    check = run(ansible, "consistency_check", pg_target, source)
    assert check.result["consistent"] is True, check.output[-3000:]
    # a value beyond PostgreSQL's real fails both engines: predicted whatever the engine
    conn = sqlite3.connect(source)
    conn.execute("UPDATE app_reading SET small = 1e39 WHERE id = 3")
    conn.commit()
    conn.close()
    too_big = run(ansible, "preflight", pg_target, source, engine="copy", target_must_be_empty=False)
    assert [(p["check"], p["column"], p["count"]) for p in too_big.result["problems"]] == [("out_of_range", "small", 1)]
