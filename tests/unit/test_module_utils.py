"""Unit tests of the shared module_utils: connection spec vs doc fragment, name matching, SQLite reading."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from ansible_collections.pgmigrate.django.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.pgmigrate.django.plugins.module_utils import catalog, postgres, sqlite_source


def test_connection_spec_matches_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = postgres.postgres_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("aliases") == option.get("aliases"), name
    assert spec["login_password"]["no_log"] is True


def test_connection_kwargs_and_messages_never_hold_the_password():
    params = dict((k, v.get("default")) for k, v in postgres.postgres_argument_spec().items())
    params.update(login_db="app", login_user="owner", login_password="s3cr3t@:/?#", login_host="db.example",
                  ca_cert="/etc/ca.crt", connect_params={"options": "-c statement_timeout=0"})
    kwargs = postgres.connection_kwargs(params)
    assert kwargs["password"] == "s3cr3t@:/?#" and kwargs["sslrootcert"] == "/etc/ca.crt"
    assert kwargs["options"] == "-c statement_timeout=0"
    assert "s3cr3t" not in postgres.describe_target(params)
    message = postgres.explain_error('FATAL:  password authentication failed for user "owner" s3cr3t@:/?#', params)
    assert "s3cr3t" not in message and "check login_user and login_password" in message


@pytest.mark.parametrize("error, transient", [
    ("could not connect to server: Connection refused", True),
    ("FATAL: the database system is starting up", True),
    ('FATAL: password authentication failed for user "x"', False),
    ('FATAL: database "x" does not exist', False),
])
def test_transient_errors(error, transient):
    assert postgres.is_transient(error) is transient


def test_match_names_exact_then_case_insensitive():
    pairs, source_only, target_only = catalog.match_names(
        ["Album", "artist", "Track", "only_here"], ["Album", "Artist", "track", "only_there"])
    assert pairs == [("Album", "Album"), ("Track", "track"), ("artist", "Artist")]
    assert source_only == ["only_here"] and target_only == ["only_there"]


def test_sqlite_source_refuses_missing_and_foreign_files(tmp_path):
    missing = tmp_path / "missing.sqlite3"
    with pytest.raises(sqlite_source.SourceError, match="does not exist"):
        sqlite_source.open_readonly(str(missing))
    assert not missing.exists()
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n" * 10)
    with pytest.raises(sqlite_source.SourceError, match="not a SQLite 3 database"):
        sqlite_source.open_readonly(str(text))


def test_sqlite_source_lists_tables_and_skips_internals(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        'CREATE TABLE "Mixed" (id INTEGER PRIMARY KEY AUTOINCREMENT, "Name" TEXT);'
        "CREATE TABLE pair (a INTEGER, b INTEGER, PRIMARY KEY (b, a));"
        "CREATE VIRTUAL TABLE docs USING fts4(body);"
        "INSERT INTO \"Mixed\" (\"Name\") VALUES ('x'), ('y'); DELETE FROM \"Mixed\" WHERE id = 2;"
    )
    conn.commit()
    conn.close()
    ro = sqlite_source.open_readonly(str(path))
    tables, skipped = sqlite_source.list_tables(ro)
    assert tables == ["Mixed", "pair"]
    assert {item["name"] for item in skipped} >= {"sqlite_sequence", "docs", "docs_content", "docs_segments"}
    assert sqlite_source.primary_key(sqlite_source.table_columns(ro, "pair")) == ["b", "a"]
    assert sqlite_source.count_rows(ro, "Mixed") == 1
    assert sqlite_source.sqlite_sequences(ro) == {"Mixed": 2}
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("DELETE FROM pair")


def test_sqlite_source_skips_every_virtual_table_and_its_shadow_tables(tmp_path, monkeypatch):
    path = tmp_path / "virtual.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE app_doc (id INTEGER PRIMARY KEY, title TEXT);"
        "CREATE VIRTUAL TABLE app_doc_fts USING fts5(title);"
        "CREATE VIRTUAL TABLE app_doc_vocab USING fts5vocab(app_doc_fts, 'row');"
        "CREATE VIRTUAL TABLE app_place USING rtree(id, min_x, max_x);"
        "CREATE TABLE app_place_notes (id INTEGER PRIMARY KEY);"  # a real table whose name only looks like one
    )
    conn.close()
    ro = sqlite_source.open_readonly(str(path))
    tables, skipped = sqlite_source.list_tables(ro)
    assert tables == ["app_doc", "app_place_notes"]
    reasons = {item["name"]: item["reason"] for item in skipped}
    assert set(reasons) == {"app_doc_fts", "app_doc_fts_config", "app_doc_fts_content", "app_doc_fts_data",
                            "app_doc_fts_docsize", "app_doc_fts_idx", "app_doc_vocab", "app_place", "app_place_node",
                            "app_place_parent", "app_place_rowid"}
    assert reasons["app_doc_vocab"].startswith("virtual table")
    assert reasons["app_place_node"] == "shadow table of the virtual table app_place"
    assert sqlite_source.skipped_names(ro) == sorted(reasons)
    # Suffixes unknown here: SQLite's own PRAGMA table_list still names the shadow tables.
    monkeypatch.setattr(sqlite_source, "SHADOW_SUFFIXES", ())
    assert sqlite_source.list_tables(ro)[0] == ["app_doc", "app_place_notes"]
    # The collection's own tables join the same set with one entry.
    monkeypatch.setitem(sqlite_source.INTERNAL_TABLES, "app_place_notes", "internal table of the collection")
    tables, skipped = sqlite_source.list_tables(ro)
    assert tables == ["app_doc"] and {"name": "app_place_notes", "reason": "internal table of the collection"} in skipped
    ro.close()
