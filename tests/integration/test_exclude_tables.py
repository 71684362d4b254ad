"""exclude_tables, SQLite virtual tables, the migrations' own rows and engine limits, module by module,
against the real PostgreSQL and the real pgloader (issue 16, part B).

The fixture is a site like the CMS of issue 16: a search index whose PostgreSQL table has NOT NULL
columns SQLite does not have (the app rebuilds it there), an FTS5 table and an R*Tree table with
their shadow tables in SQLite only, and a table the app's migrations fill in the fresh target.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from loadhelpers import snapshot
from migrate_site import health, site  # noqa: F401  pylint: disable=unused-import

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
        # (and a foreign key to a loaded table, which the load must empty all the same)
        "CREATE TABLE search_index (id bigserial PRIMARY KEY, title text NOT NULL, body_text text NOT NULL,"
        " group_id integer REFERENCES app_group (id));"
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
    assert len(target.query("SELECT 1 FROM pg_constraint WHERE conrelid = 'search_index'::regclass"
                            " AND contype = 'f' AND convalidated")) == 1

    if engine == "pgloader":
        return  # what follows reads the target only: once is enough

    # sequences: the excluded table's sequence stays where the app left it (SQLite names are known names)
    sequences = run(ansible, "reset_sequences", target, source, exclude_tables=EXCLUDE)
    assert not sequences.failed, sequences.output[-3000:]
    assert {s["table"]: s["after"] for s in sequences.result["sequences"]} == {"app_doc": 5, "app_group": 4}
    assert target.scalar("SELECT last_value FROM search_index_id_seq") == 1

    # the check: equal with the exclusion, the rebuilt index differs without it
    check = run(ansible, "consistency_check", target, source, exclude_tables=EXCLUDE)
    assert not check.failed and check.result["consistent"] is True, check.output[-3000:]
    assert {s["name"] for s in check.result["skipped_tables"]} == SKIPPED
    # what rollback.yml's write detection runs: without the exclusion the rebuilt index is a write
    differs = run(ansible, "consistency_check", target, source, checks=["tables", "row_counts", "content"],
                  fail_on_mismatch=False)
    assert differs.result["consistent"] is False
    assert [line for line in differs.result["problems"] if "search_index" not in line] == []


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


# ------------------------------------------------------------------ through migrate.yml and rollback.yml

SEED_MIGRATION = '''
from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("auth", "Group").objects.create(name="Migration-made editors")
    for name in ("Migration-made A", "Migration-made B"):
        apps.get_model("inventory", "Category").objects.create(name=name)
    apps.get_model("inventory", "Tag").objects.create(name="migration-made")


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length"), ("inventory", "%s")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
'''


def test_migrate_replaces_the_migrations_rows_and_rollback_ignores_an_excluded_table(site):
    migrations_dir = site.app_dir / "inventory" / "migrations"
    last = sorted(p.stem for p in migrations_dir.glob("0*.py"))[-1]
    (migrations_dir / "0099_pgmigrate_seed.py").write_text(SEED_MIGRATION % last)
    conn = sqlite3.connect(site.sqlite)  # a SQLite-only full-text index next to the app's tables
    conn.executescript("CREATE VIRTUAL TABLE inventory_item_fts USING fts5(name);"
                       "INSERT INTO inventory_item_fts (name) SELECT name FROM inventory_item LIMIT 50;")
    conn.close()
    sqlite_counts = sqlite3.connect(site.sqlite)
    expected = {table: sqlite_counts.execute('SELECT count(*) FROM "%s"' % table).fetchone()[0]
                for table in ("auth_group", "inventory_category", "inventory_tag")}
    sqlite_counts.close()
    inventory = {"pgmigrate_app_health_retries": 5, "pgmigrate_app_health_delay": 1}
    site.write_inventory(extra_vars=dict(inventory, pgmigrate_exclude_tables=["django_session"]))

    run = site.run("migrate.yml")
    assert run.rc == 0, run.output[-4000:]
    report = json.loads((site.root / "reports" / "migration-localhost.json").read_text())
    replaced = report["migration_rows_replaced"]
    assert {"auth_group": 1, "inventory_category": 2, "inventory_tag": 1}.items() <= replaced.items()
    assert replaced["django_content_type"] > 0 and replaced["auth_permission"] > 0
    assert report["excluded_tables"] == ["django_session"] and report["consistent"] is True
    assert {s["name"] for s in report["skipped_tables"]} >= {"inventory_item_fts", "inventory_item_fts_data"}
    for table, count in expected.items():
        assert site.in_target_as_admin('SELECT count(*) FROM "%s"' % table)[0][0] == count, table
    assert not site.in_target_as_admin("SELECT 1 FROM inventory_category WHERE name LIKE 'Migration-made%%'")
    # the journal keeps the list, so a recovery that finishes this run replaces the same tables
    assert [journal["migration_rows"] for journal in site.journals().values()] == [replaced]

    # The app fills the excluded table on PostgreSQL (as a search index is rebuilt there): no user write
    # for rollback.yml. Without the exclusion the same comparison finds it (first test of this file); a
    # refused rollback.yml run itself costs another minute and a half here, so it is not repeated.
    site.in_target_as_admin("INSERT INTO django_session VALUES ('rebuilt-on-postgresql', 'x', now())")
    back = site.run("rollback.yml")
    assert back.rc == 0, back.output[-3000:]
    assert "no rows written since the cut-over" in back.output
    assert health(site.url)["vendor"] == "sqlite" and site.target_tables() == 0
