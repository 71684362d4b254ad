"""The demo app's own Django test suite, and generate_data's promises, as part of make test."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "examples" / "demo_app"


def manage(tmp_path, *args):
    env = dict(os.environ, SQLITE_PATH=str(tmp_path / "db.sqlite3"), DJANGO_ENV_FILE=str(tmp_path / "none.env"))
    return subprocess.run([sys.executable, "manage.py", *args], cwd=APP, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_django_test_suite_passes(tmp_path):
    proc = manage(tmp_path, "test", "inventory", "--noinput")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stderr


def test_generate_data_leaves_sqlite_sequence_ahead_of_max_id(tmp_path):
    assert manage(tmp_path, "migrate", "--noinput").returncode == 0
    proc = manage(tmp_path, "generate_data", "--rows", "2000")
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    (max_id,) = db.execute("SELECT max(id) FROM inventory_event").fetchone()
    (seq,) = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inventory_event'").fetchone()
    tables = ("inventory_item", "inventory_item_tags", "inventory_event", "inventory_category", "inventory_tag",
              "inventory_location", "inventory_warehouse", "inventory_stocklevel", "inventory_comment")
    total = sum(db.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in tables)
    db.close()
    assert seq > max_id
    assert 1900 <= total <= 2100
