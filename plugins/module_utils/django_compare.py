# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Compare values as the app reads them: a `ColumnPlan` adjusted by the option ``django``.

Without ``django`` (or with ``USE_TZ = True``) the plans of value_normalize stand: naive text is
UTC. With ``USE_TZ = False`` a Django DateTimeField is wall-clock time in TIME_ZONE: PostgreSQL's
``timestamptz`` is selected ``AT TIME ZONE`` that zone (what Django reads back) and compared with
the SQLite text as it is, or, under the gap policy ``shift_forward``, with the wall clock
PostgreSQL gives a skipped local hour (wallclock.expected_wall_clock). Any other difference, a
shifted hour included, stays a difference.

With ``decimal_overflow: round`` a DecimalField's over-precise SQLite value is compared as Django
rounds it (decimal_fit.quantize); without it the raw value must equal the target, as before.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import decimal_fit, wallclock

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - the modules fail earlier with a clear message
    sql = None

_FRACTION_FORMAT = ("CASE WHEN {v} = date_trunc('second', {v}) THEN 'YYYY-MM-DD HH24:MI:SS'"
                    " ELSE 'YYYY-MM-DD HH24:MI:SS.US' END")


def wall_clock_expression(column, time_zone):
    """The Django datetime text of a timestamptz COLUMN read back in TIME_ZONE."""
    value = sql.SQL("({} AT TIME ZONE {})").format(sql.Identifier(column), sql.Literal(time_zone))
    expression = sql.SQL("CASE WHEN isfinite({v}) THEN to_char({v}, " + _FRACTION_FORMAT + ") ELSE {i}::text END")
    return expression.format(v=value, i=sql.Identifier(column))


def wall_clock_source(tz, shift_gaps, fallback):
    """canon_source for a naive-local datetime column: its wall clock (shifted gaps if asked)."""

    def canon(value):
        if value is None:
            return None
        try:
            moment = wallclock.parse_datetime(value.decode("utf-8") if isinstance(value, bytes) else value)
        except (wallclock.WallClockError, UnicodeDecodeError):
            return fallback(value)
        if moment.tzinfo is not None:
            moment = wallclock.wall_clock(moment, tz)
        elif shift_gaps:
            moment = wallclock.expected_wall_clock(moment, tz)
        return _datetime_text(moment)

    return canon


def _datetime_text(value):
    """The canonical datetime text of value_normalize's datetime plans (fraction always present)."""
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


def rounding(digits, places):
    """SQLite value -> the text Django's rounding makes of it (unchanged unless it ``rounds``)."""

    def convert(value):
        if value is None:
            return None
        kind, _number, rounded = decimal_fit.classify(value, digits, places)
        return "{:f}".format(rounded) if kind == decimal_fit.ROUNDS else value

    return convert


def _rounded_plan(plan, digits, places):
    convert = rounding(digits, places)
    canon_source, fast = plan.canon_source, plan.fast
    plan.canon_source = lambda value: canon_source(convert(value))
    if fast is not None:
        plan.fast = lambda source, target: fast(convert(source), target)
    else:
        plan.fast = lambda source, target: convert(source) == target
    return plan


def adapt_plan(plan, values, table, decimal_policy="refuse", gap_policy="refuse"):
    """PLAN (a value_normalize.ColumnPlan of TABLE) adjusted in place to how the app reads it."""
    if values is None:
        return plan
    if plan.kind == "timestamptz" and plan.source in values.datetime_columns(table):
        plan.expression = wall_clock_expression(plan.target, values.time_zone)
        plan.canon_source = wall_clock_source(values.tz, gap_policy == "shift_forward", plan.canon_source)
        plan.fast = None
    decimals = values.decimal_columns(table)
    if plan.kind == "numeric" and plan.source in decimals and decimal_policy == "round":
        _rounded_plan(plan, *decimals[plan.source])
    return plan


def plan_adapter(params):
    """adapt_plan(plan, table) for PARAMS (from django_values.with_option), or None without the option."""
    values = params.get("django_values")
    if values is None:
        return None
    decimal_policy, gap_policy = params.get("decimal_overflow", "refuse"), params.get("local_time_gap", "refuse")
    return lambda plan, table: adapt_plan(plan, values, table, decimal_policy, gap_policy)
