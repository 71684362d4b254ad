"""Unit tests of the pgloader load-file builder: LIKE filters, identifier case, casts, URL, the file."""

from __future__ import annotations

import re

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import pgloader_loadfile as lf


@pytest.mark.parametrize("pattern, name, expected", [
    ("app_item", "app_item", True),
    ("app_item", "appXitem", True),      # _ is a wildcard
    ("app_item", "APP_ITEM", True),      # ASCII case is ignored
    ("app_item", "app_items", False),
    ("per%cent", "per_anything_cent", True),
    ("per%cent", "percent", True),
    ("Album", "album", True),
    ("straße", "STRASSE", False),        # no Unicode folding in SQLite's LIKE
    ("Ä", "ä", False),
])
def test_like_matches_sqlite_semantics(pattern, name, expected):
    assert lf.like_matches(pattern, name) is expected


def test_table_filter_selects_exactly_and_adds_exclusions_for_wildcards():
    names = ["app_item", "appXitem", "app_item_tags", "django_migrations", "sqlite_stat1"]
    include, exclude = lf.table_filter(["app_item", "app_item_tags"], names)
    assert include == ["app_item", "app_item_tags"]
    assert exclude == ["appXitem"]
    assert lf.selected_by(include, exclude, names) == {"app_item", "app_item_tags"}


def test_table_filter_refuses_what_like_cannot_express():
    # 'a_c' also selects 'a%c', and excluding 'a%c' would also exclude the wanted 'a_c'
    with pytest.raises(lf.LoadFileError, match=r"cannot select exactly.*excluding 'a%c' would also exclude 'a_c'"):
        lf.table_filter(["a_c"], ["a_c", "a%c", "other"])
    # with underscores only, the exclusions always suffice (SQLite names are unique regardless of case)
    assert lf.table_filter(["a_c", "ab"], ["a_c", "abc", "aXc", "ab"]) == (["a_c", "ab"], ["aXc", "abc"])


def test_table_filter_refuses_empty_and_quoted_names():
    with pytest.raises(lf.LoadFileError, match="no table is left"):
        lf.table_filter([], ["a"])
    with pytest.raises(lf.LoadFileError, match="quote"):
        lf.table_filter(["o'brien"], ["o'brien"])


def test_identifier_case():
    assert lf.identifier_case([("app_item", "app_item"), ("id", "id")]) == "downcase"
    assert lf.identifier_case([("Album", "Album"), ("AlbumId", "AlbumId"), ("x", "x")]) == "quote"
    assert lf.identifier_case([("Album", "album"), ("AlbumId", "albumid")]) == "downcase"
    with pytest.raises(lf.LoadFileError, match="mixes names"):
        lf.identifier_case([("Album", "Album"), ("Track", "track")])
    with pytest.raises(lf.LoadFileError, match="neither"):
        lf.identifier_case([("album", "Album")])


def test_interval_casts():
    rules = lf.interval_casts([("inventory_item", "warranty"), ("app_a", "d")])
    assert rules == [
        'column app_a.d to interval using (lambda (us) (when us (format nil "~a microseconds" us)))',
        'column inventory_item.warranty to interval using (lambda (us) (when us (format nil "~a microseconds" us)))',
    ]
    with pytest.raises(lf.LoadFileError, match="cast rule cannot name"):
        lf.interval_casts([("my table", "d")])


def test_target_url_never_holds_the_password_and_falls_back_to_environment():
    params = {"login_user": "app_owner", "login_password": "s3cr3t:@/", "login_host": "db.example.com",
              "login_port": 5433, "login_db": "app", "ssl_mode": "verify-full"}
    url, env = lf.target_url(params)
    assert url == "postgresql://app_owner@db.example.com:5433/app?sslmode=require"
    assert env == {}
    assert "s3cr3t" not in url + repr(env)
    odd = dict(params, login_user="we@ird", login_db="my db", login_host="", login_unix_socket="/run/postgresql",
               ssl_mode="disable")
    url, env = lf.target_url(odd)
    assert url == "postgresql://unix:/run/postgresql:5433/?sslmode=disable"
    assert env == {"PGUSER": "we@ird", "PGDATABASE": "my db"}


def test_build_load_file_data_only():
    text = lf.build_load_file(
        "/srv/app/db.sqlite3", "postgresql://u@h:5432/d?sslmode=prefer", ["app_item", "app_tag"], ["appXitem"],
        identifiers="quote", casts=lf.interval_casts([("app_item", "warranty")]), schema="public",
        gucs={"maintenance_work_mem": "256MB"})
    assert text.startswith("LOAD DATABASE\n  FROM sqlite:///srv/app/db.sqlite3\n  INTO postgresql://u@h:5432/d")
    with_clause = re.search(r"WITH (.*?)\n\n", text, re.S).group(1)
    options = [part.strip() for part in with_clause.split(",")]
    assert options == ["data only", "truncate", "reset no sequences", "quote identifiers", "on error resume next",
                       "workers = 4", "concurrency = 1", "batch rows = 10000", "prefetch rows = 10000"]
    assert "SET timezone TO 'UTC',\n      search_path TO 'public',\n      maintenance_work_mem TO '256MB'" in text
    assert "CAST column app_item.warranty to interval using (lambda" in text
    assert "INCLUDING ONLY TABLE NAMES LIKE 'app_item', 'app_tag'" in text
    assert text.rstrip().endswith("EXCLUDING TABLE NAMES LIKE 'appXitem';")
    assert "create tables" not in text and "disable triggers" not in text


def test_build_load_file_create_schema_and_tuning():
    text = lf.build_load_file("/x.db", "postgresql://u@h:5432/d", ["a"], mode="create_schema", workers=1,
                              concurrency=2, batch_rows=500, prefetch_rows=1000)
    assert "create tables,\n       create indexes,\n       foreign keys,\n       reset sequences" in text
    assert "data only" not in text and "truncate" not in text
    assert "workers = 1" in text and "concurrency = 2" in text and "batch rows = 500" in text
    assert "prefetch rows = 1000" in text and "EXCLUDING" not in text


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "schema_only"}, "unknown mode"),
    ({"identifiers": "upcase"}, "unknown identifier case"),
    ({"workers": 0}, "at least 1"),
    ({"gucs": {"work_mem; DROP": "1"}}, "not a PostgreSQL setting"),
    ({"gucs": {"application_name": "it's"}}, "quote"),
])
def test_build_load_file_refuses_bad_input(kwargs, message):
    with pytest.raises(lf.LoadFileError, match=message):
        lf.build_load_file("/x.db", "postgresql://u@h:5432/d", ["a"], **kwargs)


@pytest.mark.parametrize("path", ["/srv/o'brien/db.sqlite3", "/srv/my app/db.sqlite3", "relative/db.sqlite3"])
def test_build_load_file_refuses_paths_it_cannot_write(path):
    assert not lf.plain_path(path)
    with pytest.raises(lf.LoadFileError, match="cannot be written"):
        lf.build_load_file(path, "postgresql://u@h/d", ["a"])
