# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""apply_changes' verification and rounding, on consistency_check's own comparison code.

The changed rows of a table are read again on both sides, restricted to the logged keys (SQLite:
the keys in the change log; PostgreSQL: the keys in the temporary table of the rows just written),
and merged in key order by content_compare with the same column plans (value_normalize, and
django_compare for the option django) as consistency_check; a re-copied table is compared whole.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import decimal_fit, decimal_round, django_compare
from ansible_collections.pgmigrate.django.plugins.module_utils.content_compare import (
    OrderError, TableResult, compare_table, merge_compare, plan_table,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.content_multiset import multiset_compare
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.row_batches import (
    batches, flatten, server_side_batches,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident


def plan_adapter(params):
    return django_compare.plan_adapter(params)


def table_spec(apply, table):
    """content_compare's TableSpec of TABLE, adapted to the option django as consistency_check adapts it."""
    entry = table.entry
    spec = plan_table(table.source, table.target, apply.schema, entry["source_columns"], entry["target_columns"],
                      table.target_key if table.keyed else [], table.source_key)
    for plan in spec.plans if apply.adapt else ():
        apply.adapt(plan, table.source)
    return spec


def _source_rows(apply, table, spec, ordered):
    query = spec.source_query(False) + " WHERE %s IN (%s)" % (table.key_tuple(), table.logged_keys_sql())
    if ordered:
        query += " ORDER BY " + ", ".join(
            quote_ident(plan.source) + (" COLLATE BINARY" if plan.kind in ("text", "uuid") else "")
            for plan in spec.plans[:spec.key_len])
    return flatten(batches(apply.texts.execute(query, table.args()), apply.params["batch_keys"]))


def _target_rows(apply, table, spec, ordered):
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(plan.expression for plan in spec.plans), table.rows_of_temp_keys())
    if ordered:
        query = sql.SQL("{} ORDER BY {}").format(
            query, sql.SQL(", ").join(plan.order_expression for plan in spec.plans[:spec.key_len]))
    return flatten(server_side_batches(apply.conn, query, apply.params["batch_keys"]))


def _max_reported(apply, tolerance):
    default = apply.params["max_reported_mismatches"]
    return tolerance.max_reported(default) if tolerance is not None else default


def _report(result, problems, tolerance):
    """RESULT's differences become PROBLEMS unless TOLERANCE (change_drain.ChangedAgain) explains them all."""
    if tolerance is None or not tolerance.accepts(result):
        problems.extend(result.problems())


def changed_rows(apply, table, problems, tolerance=None):
    """Compare the rows of the logged keys on both sides; the rows read from SQLite."""
    spec = table_spec(apply, table)
    result = TableResult(spec, _max_reported(apply, tolerance), False)
    compared = False
    if spec.mode == "key":
        try:
            merge_compare(spec, _source_rows(apply, table, spec, True), _target_rows(apply, table, spec, True), result)
            compared = True
        except OrderError:
            result.reset()
    if not compared:
        multiset_compare(spec, lambda: _source_rows(apply, table, spec, False),
                         lambda: _target_rows(apply, table, spec, False), result)
    _report(result, problems, tolerance)
    return result.source_rows


def whole_table(apply, table, problems, tolerance=None):
    """Compare a re-copied table whole; the rows read from SQLite."""
    spec = table_spec(apply, table)
    result, _seconds = compare_table(apply.texts, apply.conn, spec, _max_reported(apply, tolerance), False,
                                     apply.params["batch_keys"], prefetch=False)
    _report(result, problems, tolerance)
    return result.source_rows


# ---------------------------------------------------------------- decimal_overflow: round

def round_decimals(apply, table, whole):
    """decimal_overflow=round for the rows just written (every row of a re-copied table), as the load rounds."""
    values = apply.params.get("django_values")
    if values is None or apply.params.get("decimal_overflow") != "round":
        return 0
    columns = values.decimal_columns(table.source)
    if not columns:
        return 0
    if whole or not table.keyed:
        return decimal_round.round_table(apply.raw, apply.cur, apply.schema, table.source, columns)
    present = set(c["name"] for c in table.entry["source_columns"])
    where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in table.target_key)
    count = 0
    for column, (digits, places) in sorted(columns.items()):
        if column not in present:
            continue
        statement = sql.SQL("UPDATE {} SET {} = %s::numeric WHERE {}").format(
            quote_qualified(apply.schema, table.target), sql.Identifier(dict(table.entry["column_pairs"])[column]),
            where)
        select = "SELECT %s, %s FROM %s WHERE %s IN (%s) AND %s IS NOT NULL" % (
            ", ".join(quote_ident(k) for k in table.source_key), quote_ident(column), quote_ident(table.source),
            table.key_tuple(), table.logged_keys_sql(), quote_ident(column))
        for row in apply.raw.execute(select, table.args()):
            kind, _number, rounded = decimal_fit.classify(row[-1], digits, places)
            if kind == decimal_fit.ROUNDS:
                key = [k.decode("utf-8") if isinstance(k, bytes) else k for k in row[:-1]]
                apply.cur.execute(statement, ["{:f}".format(rounded)] + key)
                count += 1
    return count
