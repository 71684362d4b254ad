# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""``decimal_overflow: round`` after the load: every over-precise decimal as Django rounds it.

Both engines hand PostgreSQL the value SQLite holds; ``numeric(p, s)`` rounds it half away from
zero, Django (``format_number``) rounds half to even, and a REAL such as ``1.005`` is ``1.00500...``
to Django but ``1.00499...`` in binary. So after the load every value the preflight classified as
``rounds`` is written again, in the same transaction as the load's verification, as
``decimal_fit.quantize`` makes it, found by its primary key (or rowid, which Django's ``id`` is).
Only those rows are touched; the count per table is the ``decimal_rounded`` result.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import decimal_fit
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import (
    primary_key,
    quote_ident,
    table_columns,
)

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - the modules fail earlier with a clear message
    sql = None


def _rounded_rows(sconn, table, column, digits, places, keys):
    """(key values, rounded text) for every value of TABLE.COLUMN that rounding changes."""
    cursor = sconn.execute("SELECT %s, %s FROM %s WHERE %s IS NOT NULL" % (
        ", ".join(quote_ident(k) for k in keys), quote_ident(column), quote_ident(table), quote_ident(column)))
    for row in cursor:
        kind, _number, rounded = decimal_fit.classify(row[-1], digits, places)
        if kind == decimal_fit.ROUNDS:
            yield [k.decode("utf-8") if isinstance(k, bytes) else k for k in row[:-1]], "{:f}".format(rounded)


def round_table(sconn, cur, schema, table, decimal_columns):
    """Rewrite TABLE's over-precise decimals on PostgreSQL (cursor CUR); the number of values."""
    source_columns = table_columns(sconn, table)
    present = {col["name"] for col in source_columns}
    keys = primary_key(source_columns)
    if not keys:
        raise ModuleError("table %s has no primary key: its over-precise decimals cannot be rounded in place; "
                          "round them in the app instead" % table)
    target = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in keys)
    count = 0
    for column, (digits, places) in sorted(decimal_columns.items()):
        if column not in present:
            continue
        statement = sql.SQL("UPDATE {} SET {} = %s::numeric WHERE {}").format(target, sql.Identifier(column), where)
        for key, rounded in _rounded_rows(sconn, table, column, digits, places, keys):
            cur.execute(statement, [rounded] + key)
            if cur.rowcount != 1:
                raise ModuleError("%s.%s: the row %s to round is not in the target (%d rows matched)"
                                  % (table, column, key, cur.rowcount))
            count += 1
    return count


def round_loaded(sconn, pg_conn, values, tables, schema=None):
    """{table: values rounded} for TABLES, on PG_CONN (the caller commits or rolls back)."""
    rounded = {}
    with pg_conn.cursor() as cur:
        for table in tables:
            columns = values.decimal_columns(table)
            if columns:
                count = round_table(sconn, cur, schema, table, columns)
                if count:
                    rounded[table] = count
    return rounded


def after_load(params, sconn, conn, tables):
    """decimal_overflow=round after a load (PARAMS from django_values.with_option); {table: count}."""
    if params.get("django_values") is None or params.get("decimal_overflow") != "round":
        return {}
    return round_loaded(sconn, conn, params["django_values"], tables, params.get("schema"))
