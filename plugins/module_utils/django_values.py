# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The option ``django`` (the result of django_settings) as the loaders and the check use it.

`DjangoValues` validates the dict once and answers the questions the modules ask: which session
time zone the load and the comparison use (UTC, or TIME_ZONE when ``USE_TZ = False``), which
columns hold Django datetimes read as wall-clock time, and which hold decimals with their
``max_digits`` / ``decimal_places``. `scan_source` streams those columns of the SQLite source once
and reports the values that would not read back the same (skipped local hours, decimals that do
not fit), for the preflight, while the app still serves.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import decimal_fit, wallclock
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import (
    primary_key,
    quote_ident,
    table_columns,
)

DATETIME_TYPES = ("DateTimeField",)
DECIMAL_TYPES = ("DecimalField",)


class DjangoValuesError(ModuleError):
    """The option ``django`` is malformed; the message says what is wrong and what to pass."""


def argument_spec(policies=True):
    """The options of the doc fragment pgmigrate.django.django_settings (and its POLICIES)."""
    spec = dict(django=dict(type="dict"))
    if policies:
        spec.update(
            decimal_overflow=dict(type="str", default="refuse", choices=list(decimal_fit.POLICIES)),
            local_time_gap=dict(type="str", default="refuse", choices=list(wallclock.GAP_POLICIES)))
    return spec


def session_time_zone(values):
    """The session TimeZone for VALUES (a DjangoValues or None: UTC, as without the option)."""
    return values.session_time_zone if values is not None else "UTC"


def with_option(params):
    """PARAMS plus the option django read once: django_values (DjangoValues or None), session_time_zone."""
    values = DjangoValues.from_option(params.get("django"))
    return dict(params, django_values=values, session_time_zone=session_time_zone(values))


def summary(params):
    """The settings a module honoured ({} without the option django), for its result."""
    values = params.get("django_values")
    return values.summary() if values is not None else {}


def _require(condition, message):
    if not condition:
        raise DjangoValuesError("option django: %s. Pass the registered result of "
                                "pgmigrate.django.django_settings." % message)


class DjangoValues(object):
    """How the app reads its values (see the doc fragment pgmigrate.django.django_settings)."""

    def __init__(self, django):
        _require(isinstance(django, dict), "must be a dict, not %s" % type(django).__name__)
        settings = django.get("settings")
        _require(isinstance(settings, dict), "settings is missing")
        _require(isinstance(settings.get("use_tz"), bool), "settings.use_tz must be true or false")
        _require(isinstance(settings.get("time_zone"), str) and settings["time_zone"],
                 "settings.time_zone must be an IANA time zone name")
        tables = django.get("tables") or {}
        _require(isinstance(tables, dict) and all(isinstance(cols, dict) for cols in tables.values()),
                 "tables must be a dict of tables, each a dict of columns")
        self.use_tz = settings["use_tz"]
        self.time_zone = settings["time_zone"]
        try:
            self.tz = wallclock.zone(self.time_zone)
        except wallclock.WallClockError as exc:
            raise DjangoValuesError("option django: %s" % exc) from None
        self.tables = tables
        for table, columns in tables.items():
            for column, info in columns.items():
                self._check_decimal(table, column, info)

    @classmethod
    def from_option(cls, django):
        """None for no option (or an empty dict): the modules then behave as before (UTC)."""
        return cls(django) if django else None

    @staticmethod
    def _check_decimal(table, column, info):
        _require(isinstance(info, dict) and isinstance(info.get("internal_type", ""), str),
                 "tables.%s.%s must be a dict with internal_type" % (table, column))
        if info.get("internal_type") in DECIMAL_TYPES:
            digits, places = info.get("max_digits"), info.get("decimal_places")
            _require(isinstance(digits, int) and isinstance(places, int) and 0 <= places <= digits,
                     "tables.%s.%s is a DecimalField without valid max_digits/decimal_places" % (table, column))

    @property
    def wall_clock(self):
        """True when naive datetimes are local wall-clock time (USE_TZ = False)."""
        return not self.use_tz

    @property
    def session_time_zone(self):
        """The PostgreSQL session TimeZone for loading and comparing naive datetimes."""
        return "UTC" if self.use_tz else self.time_zone

    def _columns(self, table, internal_types):
        return {column: info for column, info in self.tables.get(table, {}).items()
                if info.get("internal_type") in internal_types}

    def datetime_columns(self, table):
        """Columns of TABLE whose naive values are wall-clock time in TIME_ZONE ([] with USE_TZ)."""
        return sorted(self._columns(table, DATETIME_TYPES)) if self.wall_clock else []

    def decimal_columns(self, table):
        """{column: (max_digits, decimal_places)} of the decimal columns of TABLE."""
        return {column: (info["max_digits"], info["decimal_places"])
                for column, info in self._columns(table, DECIMAL_TYPES).items()}

    def summary(self):
        """What a module reports about the settings it honoured."""
        return {"use_tz": self.use_tz, "time_zone": self.time_zone, "session_time_zone": self.session_time_zone}


def _key_expression(columns):
    keys = primary_key(columns)
    return ", ".join(quote_ident(k) for k in keys) if keys else "rowid", max(len(keys), 1)


def scan_table(conn, values, table, decimals, local_times):
    """Stream TABLE's decimal and (USE_TZ = False) datetime columns into the two reports."""
    present = {col["name"] for col in table_columns(conn, table)}
    decimal_cols = {c: spec for c, spec in values.decimal_columns(table).items() if c in present}
    datetime_cols = [c for c in values.datetime_columns(table) if c in present]
    if not decimal_cols and not datetime_cols:
        return 0
    key_sql, key_width = _key_expression(table_columns(conn, table))
    names = sorted(decimal_cols) + datetime_cols
    cursor = conn.execute("SELECT %s, %s FROM %s" % (
        key_sql, ", ".join(quote_ident(n) for n in names), quote_ident(table)))
    rows = 0
    for row in cursor:
        rows += 1
        key = row[0] if key_width == 1 else list(row[:key_width])
        for name, value in zip(names, row[key_width:]):
            if name in decimal_cols:
                decimals.check(table, name, value, decimal_cols[name][0], decimal_cols[name][1], key=key)
            else:
                _check_local_time(local_times, table, name, value, values.tz, key)
    return rows


def _check_local_time(report, table, column, value, tz, key):
    try:
        report.check(table, column, value.decode("utf-8", "replace") if isinstance(value, bytes) else value,
                     tz, key=key)
    except wallclock.WallClockError:
        # Not a datetime at all: the preflight's type scan and the check report it.
        pass


def scan_source(conn, values, tables, max_samples=5):
    """(DecimalReport, LocalTimeReport, rows read) over TABLES of the open SQLite CONN."""
    decimals = decimal_fit.DecimalReport(max_samples)
    local_times = wallclock.LocalTimeReport(max_samples)
    rows = 0
    for table in tables:
        if table in values.tables:
            rows += scan_table(conn, values, table, decimals, local_times)
    return decimals, local_times, rows


def scan_result(decimals, local_times, decimal_policy="refuse", gap_policy="refuse"):
    """The preflight's findings as a result dict, and the problems that stop the run (dicts with
    check, table, column, count, message, examples, as every preflight problem)."""
    problems = []
    for entry in decimals.entries():
        if entry["kind"] != decimal_fit.ROUNDS or decimal_policy == "refuse":
            problems.append(_problem("decimal_" + entry["kind"], decimal_fit.problem_line(entry), entry))
    if gap_policy == "refuse":
        problems += [_problem("local_time_gap", line, entry) for entry, line in
                     zip(local_times.entries(wallclock.GAP), local_times.problems(gap_policy))]
    return {
        "decimals": decimals.entries(),
        "local_times": local_times.entries(wallclock.GAP) + local_times.entries(wallclock.AMBIGUOUS),
        "decimal_rounded": decimals.counts(decimal_fit.ROUNDS) if decimal_policy == "round" else {},
    }, problems


def _problem(check, message, entry):
    return {"check": check, "table": entry["table"], "column": entry["column"], "count": entry["count"],
            "message": message, "examples": [sample["value"] for sample in entry["samples"]]}


def preflight(sconn, values, tables, decimal_policy="refuse", gap_policy="refuse", max_samples=5):
    """(problems, findings) of the values of TABLES that would not read back the same."""
    if decimal_policy not in decimal_fit.POLICIES or gap_policy not in wallclock.GAP_POLICIES:
        raise DjangoValuesError("option django: decimal_overflow must be one of %s and local_time_gap one of %s"
                                % (", ".join(decimal_fit.POLICIES), ", ".join(wallclock.GAP_POLICIES)))
    decimals, local_times, _rows = scan_source(sconn, values, tables, max(1, max_samples))
    findings, problems = scan_result(decimals, local_times, decimal_policy, gap_policy)
    return problems, findings
