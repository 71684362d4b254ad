"""The .env editor keeps what it does not manage and writes what the demo app's parser reads back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils.dotenv import edit_lines, format_value, masked

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "demo_app"))
from demo_project.envconfig import parse_env_text  # noqa: E402

ORIGINAL = """# app settings
DJANGO_SECRET_KEY='s3cret'
SQLITE_PATH=/srv/app/db.sqlite3

export DJANGO_DEBUG=False
PG_CONN_MAX_AGE=0
PG_CONN_MAX_AGE=5
"""


def test_edit_keeps_unrelated_lines_in_place_and_reports_keys():
    lines = ORIGINAL.splitlines(keepends=True)
    out, added, changed, removed = edit_lines(lines, {"PG_CONN_MAX_AGE": "60", "DATABASE_URL": "postgresql://u:p%40@h/d"},
                                              ["SQLITE_PATH", "DATABASE_ENGINE"])
    assert "".join(out) == ("# app settings\nDJANGO_SECRET_KEY='s3cret'\n\nexport DJANGO_DEBUG=False\n"
                            "PG_CONN_MAX_AGE=60\nDATABASE_URL=postgresql://u:p%40@h/d\n")
    assert (added, changed, removed) == (["DATABASE_URL"], ["PG_CONN_MAX_AGE"], ["SQLITE_PATH"])
    again = edit_lines(out, {"PG_CONN_MAX_AGE": "60", "DATABASE_URL": "postgresql://u:p%40@h/d"}, ["SQLITE_PATH"])
    assert again == (out, [], [], [])


@pytest.mark.parametrize("value", ['p@ss w"rd\\ #x', "plain", "", "'quoted'", "ünï €", "a=b"])
def test_values_round_trip_through_the_apps_parser(value):
    text = "".join(edit_lines([], {"POSTGRES_PASSWORD": value}, [])[0])
    assert parse_env_text(text) == {"POSTGRES_PASSWORD": value}


def test_multiline_values_are_refused_and_diffs_are_masked():
    with pytest.raises(ValueError, match="single-line"):
        format_value("a\nb")
    shown = masked(["# c\n", "DATABASE_URL=postgresql://u:secret@h/d\n", "export X=1\n"])
    assert "secret" not in shown and shown == "# c\nDATABASE_URL=********\nX=********\n"
