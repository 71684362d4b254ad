"""change_drain.ChangedAgain: which differences a drain while the app writes may leave to the stop."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import change_drain, change_log


@pytest.fixture
def log():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE %s (seq INTEGER PRIMARY KEY, table_name TEXT, key TEXT)" % change_log.LOG_TABLE)
    conn.executemany("INSERT INTO %s VALUES (?, ?, ?)" % change_log.LOG_TABLE,
                     [(1, "item", "[1]"), (5, "item", "[2]"), (6, "item", '["a"]'), (7, "loose", None),
                      (8, "pair", '["k", 3]')])
    yield conn
    conn.close()


def result(samples, mismatches=None, error=None, key_columns=("id",)):
    return SimpleNamespace(samples=samples, mismatches=len(samples) if mismatches is None else mismatches,
                           error=error, spec=SimpleNamespace(key_columns=list(key_columns)))


def sample(**key):
    return {"kind": "changed", "key": key, "columns": []}


def test_only_keys_logged_after_top_explain_a_difference(log):
    again = change_drain.ChangedAgain(log, SimpleNamespace(source="item", keyed=True), 4)
    assert again.keys == {(2,), ("a",)} and not again.keyless
    assert again.accepts(result([]))
    assert again.accepts(result([sample(id=2), sample(id="a")]))
    assert not again.accepts(result([sample(id=1)])), "key 1 was logged before top: its row is final"
    assert not again.accepts(result([sample(id=2)], mismatches=2)), "a difference not sampled cannot be judged"
    assert not again.accepts(result([sample(id=2)], error="read failed"))
    assert again.max_reported(10) == 10 and again.max_reported(1) == 3


def test_composite_keys_and_tables_without_a_key(log):
    pair = change_drain.ChangedAgain(log, SimpleNamespace(source="pair", keyed=True), 7)
    assert pair.accepts(result([sample(a="k", b=3)], key_columns=("a", "b")))
    assert not pair.accepts(result([sample(a="k", b=4)], key_columns=("a", "b")))
    loose = change_drain.ChangedAgain(log, SimpleNamespace(source="loose", keyed=False), 4)
    assert loose.keyless and loose.accepts_any() and loose.accepts(result([], mismatches=5))
    settled = change_drain.ChangedAgain(log, SimpleNamespace(source="loose", keyed=False), 7)
    assert not settled.accepts_any() and not settled.accepts(result([], mismatches=5))
