# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the pgloader module loads, from plain parameters (no AnsibleModule): the load plan.

The plan is the preflight's pairing of SQLite tables with target tables (preflight_checks),
with every table's SQLite row count, the problems that stop the load and the warnings. Both
engines load the same plan; load_verify checks the result against it.
"""

from __future__ import annotations

import time

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    catalog, pgloader_loadfile, preflight_checks, sqlite_source,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError

# Without the full scan only what makes the load impossible stops it.
STRUCTURAL_CHECKS = ("target_schema_empty", "missing_target_table", "missing_target_column",
                     "target_column_required", "target_not_empty", "unreadable_table")


def open_source(path):
    """The SQLite file, read-only, TEXT as bytes (invalid UTF-8 is found, not raised mid-load)."""
    return sqlite_source.open_readonly(path, raw_text=True)


def make_plan(params, sconn, cur):
    """The preflight (full or structural) and the table pairing for PARAMS; raises ModuleError when
    the request itself is wrong. Problems found in the data are in plan['problems']."""
    started = time.monotonic()
    with sqlite_source.reading(params["source"]):
        if params["mode"] == "create_schema":
            plan = plan_create_schema(params, sconn, cur)
        else:
            plan = preflight_checks.run_preflight(
                sconn, cur, schema=params["schema"], include=params["include_tables"],
                exclude=params["exclude_tables"], values=params["preflight"], foreign_keys=params["preflight"],
                integrity=params["integrity_check"] if params["preflight"] else "none",
                target_must_be_empty=not params["truncate"], prefilled=params["prefilled_tables"],
                django=params.get("django_values"), decimal_overflow=params["decimal_overflow"],
                local_time_gap=params["local_time_gap"], engine=params["engine"])
            if not params["preflight"]:
                plan["problems"] = [p for p in plan["problems"] if p["check"] in STRUCTURAL_CHECKS]
    plan["preflight_seconds"] = round(time.monotonic() - started, 3)
    return plan


def synthetic_target(sconn, tables, identifiers):
    """For mode create_schema: plan entries whose target columns are 'text' (NUL/UTF-8 checks only)."""
    fold = (lambda n: n) if identifiers == "quote" else (lambda n: n.lower())
    entries = []
    for name in tables:
        columns = sqlite_source.table_columns(sconn, name)
        target_columns = [{"name": fold(c["name"]), "type": "text", "udt": "text", "notnull": False,
                           "max_length": None, "identity": "", "default": None} for c in columns]
        entries.append({"source": name, "target": fold(name), "source_columns": columns,
                        "target_columns": target_columns,
                        "column_pairs": [(c["name"], fold(c["name"])) for c in columns]})
    return entries


def plan_create_schema(params, sconn, cur):
    """The plan when pgloader creates the tables: SQLite's own names, no target to pair with."""
    source_tables, skipped = sqlite_source.list_tables(sconn)
    existing = catalog.target_tables(cur, params["schema"])
    selected, excluded = preflight_checks.resolve_selection(
        source_tables, [s["name"] for s in skipped], params["include_tables"], params["exclude_tables"])
    names = list(selected)
    for name in selected:
        names += [c["name"] for c in sqlite_source.table_columns(sconn, name)]
    identifiers = "quote" if any(n != n.lower() for n in names) else "downcase"
    entries = synthetic_target(sconn, selected, identifiers)
    plan = {"tables": entries, "skipped": skipped, "excluded": excluded, "source_only": [], "target_only": [],
            "all_sqlite_tables": preflight_checks.sqlite_table_names(sconn), "problems": [], "warnings": [],
            "target_nonempty": [], "target_rows": {}, "identifiers": identifiers}
    clash = sorted(e["target"] for e in entries if e["target"] in existing)
    if clash:
        plan["problems"].append(preflight_checks.problem(
            "target_table_exists", "mode create_schema creates the tables, but %s already exist in schema %s: "
            "use mode data_only, or start from an empty database" % (", ".join(clash), params["schema"])))
    if params["preflight"]:
        plan["problems"] += preflight_checks.check_integrity(sconn, params["integrity_check"])
        found, warnings = preflight_checks.check_foreign_keys(sconn, [e["source"] for e in entries])
        plan["problems"] += found
        plan["warnings"] += warnings
    plan["source_rows"] = {}
    for entry in entries:
        if params["preflight"]:
            rows, found = preflight_checks.scan_table(sconn, entry, engine=params["engine"])
            plan["problems"] += found
        else:
            rows = sqlite_source.count_rows(sconn, entry["source"])
        entry["rows"] = plan["source_rows"][entry["source"]] = rows
    return plan


def name_rules(plan, exact_allowed=False):
    """(identifiers, interval columns [(SQLite table, SQLite column)]) of a plan.

    identifiers: how the target spells the SQLite names, V(quote) (as they are) or V(downcase).
    An engine that pairs every name by itself (EXACT_ALLOWED) reports a mix as V(exact) instead
    of refusing it.
    """
    if "identifiers" in plan:  # create_schema: pgloader makes the names, no interval column exists
        return plan["identifiers"], []
    entries = plan["tables"]
    pairs = [(e["source"], e["target"]) for e in entries]
    intervals = []
    for entry in entries:
        pairs += entry["column_pairs"]
        udt = {c["name"]: c["udt"] for c in entry["target_columns"]}
        intervals += [(entry["source"], source) for source, target in entry["column_pairs"]
                      if udt.get(target) == "interval"]
    try:
        identifiers = pgloader_loadfile.identifier_case(pairs)
    except pgloader_loadfile.LoadFileError as error:
        if not exact_allowed:
            raise ModuleError(str(error))
        identifiers = "exact"
    return identifiers, sorted(intervals)


def refuse_other_engines_options(params, engines):
    """Options only another engine reads are refused when set, never silently ignored."""
    given = [name for engine_name, engine in sorted(engines.items()) if engine_name != params["engine"]
             for name in engine.OWN_OPTIONS if params.get(name) not in (None, False, [], {})]
    if given:
        raise ModuleError("%s only apply to another engine than %s, which does not read them: remove them, or "
                          "choose that engine" % (", ".join(given), params["engine"]))


def check_loadable(plan, source):
    """Refuse, before anything changes, a plan the preflight found problems in or with nothing to load."""
    if plan["problems"]:
        raise ModuleError("nothing was loaded: the preflight found %d problem(s) in %s: %s" % (
            len(plan["problems"]), source, preflight_checks.summarize(plan["problems"])))
    if not plan["tables"]:
        raise ModuleError("no table is left to load: check include_tables and exclude_tables")


def target_foreign_keys(params, plan, cur):
    """Keep the target's foreign keys before the load in the plan (the copy engine drops and restores
    them, the verification compares); returns warnings about keys already NOT VALID."""
    plan["foreign_keys"] = catalog.foreign_keys(cur, params["schema"]) if params["mode"] == "data_only" else []
    not_valid = [fk["name"] for fk in plan["foreign_keys"] if fk["definition"].endswith(" NOT VALID")]
    if not not_valid:
        return []
    return ["foreign keys %s are NOT VALID in the target (left so by an interrupted load?); they are kept so: "
            "validate them with ALTER TABLE ... VALIDATE CONSTRAINT" % ", ".join(not_valid)]
