# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Row-by-row comparison of one SQLite table with its PostgreSQL copy, streamed.

Tables with a primary key whose columns sort the same way on both sides (integers, text with
COLLATE "C" on PostgreSQL, uuid) are read in key order from both sides (a SQLite cursor and a
PostgreSQL server-side cursor) and merged by key: memory stays constant and every difference is
named by its key and its columns.

Tables without such a key are compared as multisets with a sort-free additive hash: every row's
canonical form is hashed (blake2b, 128 bits) and the hashes are summed per side in 4096 buckets
(count and sum modulo 2**128); equal multisets give equal buckets. Only when a bucket differs,
a second pass reads the rows of (a bounded number of) differing buckets to name them. Memory is
O(buckets), whatever the table size; no ORDER BY, so no sort on either side. (Ordering both
sides by all columns would need the two engines to sort every type alike: they do not, for JSON,
floats, timestamps as text vs timestamptz, blobs.)

A key-ordered table whose keys turn out not to be strictly increasing on one side (for example
upper-case uuid text in SQLite) is compared again as a multiset instead of giving false
differences.
"""

from __future__ import annotations

import dataclasses
import time
from operator import itemgetter

from ansible_collections.pgmigrate.django.plugins.module_utils.catalog import match_names
from ansible_collections.pgmigrate.django.plugins.module_utils.content_multiset import multiset_compare
from ansible_collections.pgmigrate.django.plugins.module_utils.row_batches import (
    Prefetch, batches, flatten, server_side_batches,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident
from ansible_collections.pgmigrate.django.plugins.module_utils.value_normalize import column_plan, display

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - the modules fail earlier with a clear message
    sql = None

BATCH_ROWS = 20000


class OrderError(Exception):
    """Keys are not strictly increasing on one side: the merge cannot be trusted."""


@dataclasses.dataclass
class TableSpec:
    """What to select from both sides of one table and how to compare it: the column PLANS, the first
    KEY_LEN of which are the key, and MODE (key: merged in key order; multiset) with a NOTE why."""

    source_table: str
    target_table: str
    schema: str
    plans: list
    key_len: int
    mode: str
    note: str = None

    @property
    def key_columns(self):
        return [plan.source for plan in self.plans[:self.key_len]]

    def source_query(self, ordered=True):
        columns = ", ".join(quote_ident(plan.source) for plan in self.plans)
        query = "SELECT %s FROM %s" % (columns, quote_ident(self.source_table))
        if ordered and self.key_len:
            order = []
            for plan in self.plans[:self.key_len]:
                collate = " COLLATE BINARY" if plan.kind in ("text", "uuid") else ""
                order.append(quote_ident(plan.source) + collate)
            query += " ORDER BY " + ", ".join(order)
        return query

    def target_query(self, ordered=True):
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(plan.expression for plan in self.plans),
            sql.SQL(".").join([sql.Identifier(self.schema), sql.Identifier(self.target_table)]),
        )
        if ordered and self.key_len:
            query = sql.SQL("{} ORDER BY {}").format(
                query, sql.SQL(", ").join(plan.order_expression for plan in self.plans[:self.key_len]))
        return query


def plan_table(source_table, target_table, schema, source_columns, target_columns, target_key, source_key):
    """The TableSpec for a pair of tables (columns as from sqlite_source/catalog)."""
    pairs, _source_only, _target_only = match_names([c["name"] for c in source_columns],
                                                    [c["name"] for c in target_columns])
    source_for = dict((target, source) for source, target in pairs)
    target_for = dict(pairs)
    by_target = dict((c["name"], c) for c in target_columns)
    plans = dict((target, column_plan(source, target, by_target[target])) for source, target in pairs)
    key = [name for name in target_key if name in source_for] if target_key else []
    if not key or len(key) != len(target_key):
        key = [target_for[name] for name in source_key if name in target_for]
        if len(key) != len(source_key):
            key = []
    ordered = [plans[name] for name in key]
    ordered += [plans[c["name"]] for c in target_columns if c["name"] in plans and c["name"] not in key]
    if not key:
        return TableSpec(source_table, target_table, schema, ordered, 0, "multiset",
                         "no primary key: compared as multisets")
    bad = [plans[name].target for name in key if not plans[name].key_ok]
    if bad:
        return TableSpec(source_table, target_table, schema, ordered, len(key), "multiset",
                         "primary key column(s) %s do not sort alike on both sides: compared as multisets"
                         % ", ".join(bad))
    return TableSpec(source_table, target_table, schema, ordered, len(key), "key")


# ---------------------------------------------------------------- results


class TableResult(object):
    """Counts and the first mismatches of one table."""

    def __init__(self, spec, max_reported, report_values):
        self.spec = spec
        self.max_reported = max_reported
        self.report_values = report_values
        self.reset()

    def reset(self):
        self.source_rows = 0
        self.target_rows = 0
        self.missing = 0
        self.extra = 0
        self.changed = 0
        self.lower_bound = False
        self.samples = []
        self.error = None

    @property
    def mismatches(self):
        return self.missing + self.extra + self.changed

    def _key(self, values):
        return dict(zip(self.spec.key_columns, (_plain(v) for v in values)))

    def _row(self, row):
        return dict((plan.source, display(value)) for plan, value in zip(self.spec.plans, row))

    def add_missing(self, key_values, row=None):
        self.missing += 1
        self._sample("missing", "source", key_values, row)

    def add_extra(self, key_values, row=None):
        self.extra += 1
        self._sample("extra", "target", key_values, row)

    def _sample(self, kind, side, key_values, row):
        """A row on one side only, kept as a sample while there are fewer than max_reported."""
        if len(self.samples) < self.max_reported:
            sample = {"kind": kind, "key": self._key(key_values), "columns": []}
            if self.report_values and row is not None:
                sample[side] = self._row(row)
            self.samples.append(sample)

    def add_changed(self, key_values, indexes, source_row, target_row):
        self.changed += 1
        if len(self.samples) < self.max_reported:
            plans = self.spec.plans
            sample = {"kind": "changed", "key": self._key(key_values), "columns": [plans[i].source for i in indexes]}
            if self.report_values:
                sample["source"] = dict((plans[i].source, display(source_row[i])) for i in indexes)
                sample["target"] = dict((plans[i].source, display(target_row[i])) for i in indexes)
            self.samples.append(sample)

    def as_dict(self):
        return {
            "mode": self.spec.mode,
            "key": self.spec.key_columns,
            "note": self.spec.note,
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "mismatches": self.mismatches,
            "mismatches_lower_bound": self.lower_bound,
            "missing_rows": self.missing,
            "extra_rows": self.extra,
            "changed_rows": self.changed,
            "first_mismatches": self.samples,
            "error": self.error,
        }

    def problems(self):
        name = self.spec.source_table
        lines = []
        if self.error:
            lines.append("table %s: content not compared: %s" % (name, self.error))
        if not self.mismatches:
            return lines
        lines.append("table %s: %s%d row(s) differ (%d changed, %d missing in PostgreSQL, %d only in PostgreSQL)"
                     % (name, "at least " if self.lower_bound else "", self.mismatches, self.changed,
                        self.missing, self.extra))
        for sample in self.samples:
            key = ", ".join("%s=%s" % (k, display(v)) for k, v in sample["key"].items())
            if not key:
                values = sample.get("source") or sample.get("target")
                key = "(%s)" % ", ".join("%s=%s" % item for item in values.items()) if values else \
                    "(a row without key; report_values shows it)"
            if sample["kind"] == "changed":
                lines.append("table %s: row %s differs in column(s) %s" % (name, key, ", ".join(sample["columns"])))
            elif sample["kind"] == "missing":
                lines.append("table %s: row %s is missing in PostgreSQL" % (name, key))
            else:
                lines.append("table %s: row %s exists only in PostgreSQL" % (name, key))
        return lines


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return display(value)


# ---------------------------------------------------------------- row comparison


def row_equality(plans):
    """A function (source_row, target_row) -> bool for the fast path, or None when `==` will do."""
    identity = tuple(i for i, plan in enumerate(plans) if plan.fast is None)
    special = tuple((i, plan.fast) for i, plan in enumerate(plans) if plan.fast is not None)
    if not special:
        return None
    if len(identity) > 1:
        getter = itemgetter(*identity)
    elif identity:
        index = identity[0]

        def getter(row):
            return row[index]
    else:
        def getter(_row):
            return None

    def equal(source_row, target_row):
        if getter(source_row) != getter(target_row):
            return False
        try:
            for index, fast in special:
                if not fast(source_row[index], target_row[index]):
                    return False
        except (ValueError, TypeError, ArithmeticError):
            return False
        return True

    return equal


def differing_columns(plans, source_row, target_row):
    """Indexes of the columns whose values are really different (exact comparison)."""
    out = []
    for index, plan in enumerate(plans):
        source_value, target_value = source_row[index], target_row[index]
        if plan.fast_equal(source_value, target_value):
            continue
        try:
            same = plan.same(source_value, target_value)
        except Exception:  # a canonical form that cannot be built is a difference
            same = False
        if not same:
            out.append(index)
    return out


def _key_functions(plans, key_len):
    converts = [plan.key_convert for plan in plans[:key_len]]
    if key_len == 1:
        target_key = itemgetter(0)
        convert = converts[0]
        source_key = target_key if convert is None else (lambda row: convert(row[0]))
    else:
        target_key = itemgetter(*range(key_len))
        if not any(converts):
            source_key = target_key
        else:
            def source_key(row):
                return tuple(row[i] if c is None else c(row[i]) for i, c in enumerate(converts))
    return source_key, target_key


def _keyed(rows, key, side):
    """(key, row) pairs of a stream that must be in strictly growing key order."""
    previous = first = object()
    for row in rows:
        current = key(row)
        if previous is not first and current <= previous:
            raise OrderError("%s keys out of order at %r" % (side, current))
        previous = current
        yield current, row


def merge_compare(spec, source_rows, target_rows, result):
    """Merge two key-ordered row streams; raises OrderError when a side is not strictly ordered."""
    plans = spec.plans
    equal = row_equality(plans)
    source_key, target_key = _key_functions(plans, spec.key_len)
    multi = spec.key_len > 1
    src = _keyed(source_rows, source_key, "SQLite")
    tgt = _keyed(target_rows, target_key, "PostgreSQL")
    n_source = n_target = 0
    done = (None, None)

    def keys_of(key):
        return key if multi else (key,)

    try:
        sk, s = next(src, done)
        tk, t = next(tgt, done)
        while s is not None and t is not None:
            if sk == tk:
                if s != t and (equal is None or not equal(s, t)):
                    indexes = differing_columns(plans, s, t)
                    if indexes:
                        result.add_changed(keys_of(sk), indexes, s, t)
                n_source += 1
                n_target += 1
                sk, s = next(src, done)
                tk, t = next(tgt, done)
            elif sk < tk:
                result.add_missing(keys_of(sk), s)
                n_source += 1
                sk, s = next(src, done)
            else:
                result.add_extra(keys_of(tk), t)
                n_target += 1
                tk, t = next(tgt, done)
        while s is not None:
            result.add_missing(keys_of(sk), s)
            n_source += 1
            sk, s = next(src, done)
        while t is not None:
            result.add_extra(keys_of(tk), t)
            n_target += 1
            tk, t = next(tgt, done)
    except (TypeError, ValueError) as error:
        # Keys of different types (text in an integer key) or a key that cannot be converted.
        raise OrderError("keys cannot be ordered: %s" % error)
    result.source_rows = n_source
    result.target_rows = n_target
    return result


class Streams(object):
    """Opens both row streams of a table; closes whatever is still open."""

    def __init__(self, sqlite_conn, pg_conn, spec, batch_rows, prefetch=True):
        self.sqlite_conn = sqlite_conn
        self.pg_conn = pg_conn
        self.spec = spec
        self.batch_rows = batch_rows
        self.prefetch = prefetch
        self._open = []

    def source(self, ordered):
        rows = batches(self.sqlite_conn.execute(self.spec.source_query(ordered)), self.batch_rows)
        self._open.append(rows)
        return flatten(rows)

    def target(self, ordered):
        rows = server_side_batches(self.pg_conn, self.spec.target_query(ordered), self.batch_rows)
        if self.prefetch:
            reader = Prefetch(rows)
            self._open.append(reader)
            return iter(reader)
        self._open.append(rows)
        return flatten(rows)

    def close(self):
        while self._open:
            self._open.pop().close()


def compare_table(sqlite_conn, pg_conn, spec, max_reported=10, report_values=False, batch_rows=BATCH_ROWS,
                  prefetch=True):
    """Compare one table; returns (TableResult, seconds). Database errors end up in result.error."""
    started = time.monotonic()
    result = TableResult(spec, max_reported, report_values)
    streams = Streams(sqlite_conn, pg_conn, spec, batch_rows, prefetch)
    try:
        if spec.mode == "key":
            try:
                merge_compare(spec, streams.source(True), streams.target(True), result)
            except OrderError as error:
                streams.close()
                result.reset()
                spec.mode = "multiset"
                spec.note = "%s: compared as multisets" % error
        if spec.mode == "multiset":
            def source_factory():
                return streams.source(False)

            def target_factory():
                return streams.target(False)

            multiset_compare(spec, source_factory, target_factory, result)
    finally:
        streams.close()
    return result, time.monotonic() - started
