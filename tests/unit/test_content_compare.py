"""The streamed merge and the multiset hash of content_compare, on rows held in lists."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import content_compare as cc
from ansible_collections.pgmigrate.django.plugins.module_utils import content_multiset as cm
from ansible_collections.pgmigrate.django.plugins.module_utils import row_batches as rb

ITEM_COLUMNS = [("id", "int8", "bigint"), ("name", "varchar", "character varying(50)"),
                ("price", "numeric", "numeric(12,2)"), ("attributes", "jsonb", "jsonb"), ("active", "bool", "boolean")]


def spec_for(columns, target_key=("id",), source_key=("id",)):
    source = [{"name": name, "type": "", "notnull": False, "pk": 0} for name, _udt, _type in columns]
    target = [{"name": name, "udt": udt, "type": type_} for name, udt, type_ in columns]
    return cc.plan_table("t", "t", "public", source, target, list(target_key), list(source_key))


def rows(count, start=1):
    """SQLite rows and their correct PostgreSQL copies (as psycopg2 returns the chosen expressions)."""
    source, target = [], []
    for i in range(start, start + count):
        # Django writes '0.30'; SQLite's NUMERIC affinity keeps the REAL 0.3; numeric(12,2) prints 0.30.
        price = "%d.%02d" % (i % 7, i % 100)
        source.append((i, "item %d" % i, float(price), '{"b": %d, "a": [true, 1.5]}' % i, i % 2))
        target.append((i, "item %d" % i, price, '{"a": [true, 1.5], "b": %d}' % i, bool(i % 2)))
    return source, target


def merge(spec, source, target, max_reported=10):
    result = cc.TableResult(spec, max_reported, False)
    cc.merge_compare(spec, iter(source), iter(target), result)
    return result


def test_equal_streams_have_no_mismatch():
    spec = spec_for(ITEM_COLUMNS)
    source, target = rows(1000)
    result = merge(spec, source, target)
    assert (result.source_rows, result.target_rows, result.mismatches) == (1000, 1000, 0)
    assert result.problems() == []


def test_changed_missing_and_extra_rows_are_named():
    spec = spec_for(ITEM_COLUMNS)
    source, target = rows(20)
    target[4] = target[4][:1] + ("changed",) + target[4][2:]  # id 5: name
    target[9] = target[9][:4] + (not target[9][4],)  # id 10: active
    del target[14]  # id 15 missing in PostgreSQL
    target.append((99, "extra", "1.00", "{}", True))  # id 99 only in PostgreSQL
    result = merge(spec, source, target)
    assert (result.changed, result.missing, result.extra) == (2, 1, 1)
    assert result.samples == [
        {"kind": "changed", "key": {"id": 5}, "columns": ["name"]},
        {"kind": "changed", "key": {"id": 10}, "columns": ["active"]},
        {"kind": "missing", "key": {"id": 15}, "columns": []},
        {"kind": "extra", "key": {"id": 99}, "columns": []},
    ]
    assert "table t: row id=5 differs in column(s) name" in result.problems()
    assert "table t: row id=15 is missing in PostgreSQL" in result.problems()


def test_only_the_first_mismatches_are_kept_but_all_are_counted():
    spec = spec_for(ITEM_COLUMNS)
    source, target = rows(500)
    target = [t[:1] + ("x",) + t[2:] for t in target]
    result = merge(spec, source, target, max_reported=3)
    assert result.changed == 500 and len(result.samples) == 3


def test_out_of_order_keys_are_refused():
    spec = spec_for(ITEM_COLUMNS)
    source, target = rows(10)
    source[3], source[4] = source[4], source[3]
    with pytest.raises(cc.OrderError):
        merge(spec, source, target)


def test_mixed_key_types_are_refused_not_crashed():
    spec = spec_for(ITEM_COLUMNS)
    source, target = rows(3)
    source[1] = ("2",) + source[1][1:]
    with pytest.raises(cc.OrderError):
        merge(spec, source, target)


def test_composite_keys():
    columns = [("a", "int4", "integer"), ("b", "int4", "integer"), ("v", "text", "text")]
    spec = spec_for(columns, target_key=("a", "b"), source_key=("a", "b"))
    source = [(a, b, "%d-%d" % (a, b)) for a, b in itertools.product(range(3), range(3))]
    target = list(source)
    target[4] = (1, 1, "changed")
    result = merge(spec, source, target)
    assert result.samples == [{"kind": "changed", "key": {"a": 1, "b": 1}, "columns": ["v"]}]


def test_plan_puts_the_key_first_and_picks_the_mode():
    columns = [("name", "text", "text"), ("id", "int8", "bigint")]
    spec = spec_for(columns)
    assert [p.source for p in spec.plans] == ["id", "name"] and spec.mode == "key"
    assert spec_for(columns, target_key=(), source_key=()).mode == "multiset"
    dated = spec_for([("at", "timestamptz", "timestamp with time zone"), ("v", "text", "text")],
                     target_key=("at",), source_key=("at",))
    assert dated.mode == "multiset" and "do not sort alike" in dated.note
    # PostgreSQL has no key but SQLite has: the SQLite key is used.
    assert spec_for(columns, target_key=(), source_key=("id",)).mode == "key"


def multiset(spec, source, target, max_reported=10):
    result = cc.TableResult(spec, max_reported, True)
    cc.multiset_compare(spec, lambda: iter(source), lambda: iter(target), result)
    return result


def test_multisets_ignore_order_and_count_duplicates():
    columns = [("a", "int4", "integer"), ("b", "text", "text")]
    spec = spec_for(columns, target_key=(), source_key=())
    source = [(1, "x"), (1, "x"), (2, None), (3, "")]
    assert multiset(spec, source, list(reversed(source))).mismatches == 0
    result = multiset(spec, source, [(1, "x"), (2, None), (3, ""), (3, "")])
    assert (result.missing, result.extra) == (1, 1)
    assert {"a": "1", "b": "'x'"} in [s.get("source") for s in result.samples]
    assert {"a": "3", "b": "''"} in [s.get("target") for s in result.samples]


def test_multiset_with_a_key_pairs_a_changed_row():
    spec = spec_for(ITEM_COLUMNS)
    source, target = rows(300)
    target[123] = target[123][:1] + ("changed",) + target[123][2:]
    result = multiset(spec, source, target)
    assert (result.changed, result.missing, result.extra) == (1, 0, 0)
    assert result.samples[0]["key"] == {"id": 124} and result.samples[0]["columns"] == ["name"]


def test_multiset_memory_is_bounded_for_very_different_tables(monkeypatch):
    monkeypatch.setattr(cm, "MAX_EXAMINED_ROWS", 50)
    columns = [("a", "int4", "integer")]
    spec = spec_for(columns, target_key=(), source_key=())
    result = multiset(spec, [(i,) for i in range(5000)], [(i,) for i in range(5000, 10000)], max_reported=2)
    assert result.lower_bound is True and 0 < result.mismatches < 10000
    assert "at least" in result.problems()[0]


def test_batch_sizer_shrinks_for_wide_rows():
    sizer = rb.BatchSizer(20000)
    assert sizer.size == rb.FIRST_BATCH_ROWS
    sizer.update([(1, "x" * 100000)] * 10)
    assert sizer.size == rb.TARGET_BATCH_BYTES // (64 + 32 + 32 + 40 + 100000)
    sizer.update([(1, 2)] * 10)
    assert sizer.size == 20000


def test_prefetch_hands_over_rows_and_errors():
    def batches():
        yield [(1,), (2,)]
        yield [(3,)]

    assert list(rb.Prefetch(batches())) == [(1,), (2,), (3,)]

    def failing():
        yield [(1,)]
        raise RuntimeError("server went away")

    reader = rb.Prefetch(failing())
    with pytest.raises(RuntimeError, match="server went away"):
        list(reader)
    reader.close()


def test_prefetch_can_be_closed_early():
    closed = []

    def endless():
        try:
            for i in itertools.count():
                yield [(i,)]
        finally:
            closed.append(True)

    reader = rb.Prefetch(endless())
    first = next(iter(reader))
    reader.close()
    assert first == (0,) and closed == [True]
