# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Engine-independent verification of a load: counts on both sides and foreign keys.

A loader's own report is not trusted (pgloader 3.6.9 exits 0 with rows rejected, with tables cut
short, with foreign keys it failed to re-create). Every copied table is counted in SQLite and in
PostgreSQL after the load; a table is complete when the target holds exactly the SQLite rows.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils import catalog, sqlite_source
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import quote_qualified, scrub, sql
from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import quote_ident


def table_results(plan_tables, source_counts, target_counts, reported):
    """[{name, target, source_rows, read, imported, errors, rejected, target_rows, seconds}].

    REPORTED is {target table: {read, imported, errors, seconds}} from the engine (absent tables:
    read/imported/errors None). `rejected` is what the target misses: source_rows - target_rows.
    """
    results = []
    for entry in plan_tables:
        name, target = entry["source"], entry["target"]
        report = reported.get(target) or {}
        source_rows = source_counts.get(name)
        target_rows = target_counts.get(target)
        missing = None
        if source_rows is not None and target_rows is not None:
            missing = max(0, source_rows - target_rows)
        results.append({
            "name": name,
            "target": target,
            "source_rows": source_rows,
            "read": report.get("read"),
            "imported": report.get("imported"),
            "errors": report.get("errors"),
            "rejected": missing,
            "target_rows": target_rows,
            "seconds": report.get("seconds"),
        })
    return results


def describe(result):
    parts = ["SQLite %s rows" % result["source_rows"]]
    if result["read"] is None:
        parts.append("not in the loader's report")
        parts.append("target %s" % result["target_rows"])
        text = "%s: %s" % (result["name"], ", ".join(parts))
        return text + (" (%d missing)" % result["rejected"] if result["rejected"] else "")
    else:
        parts.append("read %s" % result["read"])
        parts.append("imported %s" % result["imported"])
    parts.append("target %s" % result["target_rows"])
    text = "%s: %s" % (result["name"], ", ".join(parts))
    if result["rejected"]:
        text += " (%d missing)" % result["rejected"]
    return text


def shortfalls(results, max_rejected_rows=0):
    """(problems, notices) from table_results().

    A problem: a target with more rows than SQLite, missing rows in a table absent from the
    loader's report, or missing rows beyond MAX_REJECTED_ROWS in total. Notices (to be shown as
    warnings, never silent): missing rows within the limit, and tables the loader did not report
    although the counts agree.
    """
    problems, lossy = [], []
    for result in results:
        if result["target_rows"] is None or result["source_rows"] is None:
            problems.append("%s: could not be counted on both sides" % result["name"])
        elif result["target_rows"] > result["source_rows"]:
            problems.append("%s: the target holds %d rows, more than SQLite's %d (it was not emptied first?)"
                            % (result["name"], result["target_rows"], result["source_rows"]))
        elif result["read"] is None and result["rejected"]:
            problems.append(describe(result))  # never tolerated: nothing says what happened to the rows
        elif result["rejected"]:
            lossy.append(result)
        elif result["read"] is not None and result["read"] < result["source_rows"]:
            # counts agree but the loader read fewer rows than exist: should not happen, never ignore it
            problems.append(describe(result) + ": the loader read fewer rows than SQLite holds")
    notices = ["%s: the loader did not report this table, but both sides hold %d rows"
               % (result["name"], result["source_rows"])
               for result in results if result["read"] is None and result["source_rows"] and not result["rejected"]
               and result["target_rows"] == result["source_rows"]]
    missing_total = sum(result["rejected"] for result in lossy)
    if missing_total > max_rejected_rows:
        problems += [describe(result) for result in lossy]
        return problems, notices
    return problems, [describe(result) for result in lossy] + notices


def count_target(cur, schema, tables):
    """{table: count(*)} in the target."""
    counts = {}
    for table in tables:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(quote_qualified(schema, table)))
        counts[table] = cur.fetchone()[0]
    return counts


def fk_key(fk):
    return (fk["table"], fk["name"])


def foreign_key_changes(before, after):
    """FKs of BEFORE that are missing from AFTER or whose definition changed: [before entries]."""
    now = {fk_key(fk): fk for fk in after}
    changed = []
    for fk in before:
        current = now.get(fk_key(fk))
        if current is None or current["definition"] != fk["definition"]:
            changed.append(dict(fk, state="missing" if current is None else "altered"))
    return changed


def restore_foreign_keys(conn, schema, changed):
    """Re-create CHANGED foreign keys with their original definition, one transaction each.

    Returns (restored names, executed queries, errors [(name, message)]).
    """
    restored, queries, errors = [], [], []
    for fk in changed:
        statements = []
        table = quote_qualified(schema, fk["table"])
        if fk["state"] == "altered":
            statements.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(fk["name"])))
        statements.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(table, sql.Identifier(fk["name"]))
                          + sql.SQL(fk["definition"]))
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    text = statement.as_string(conn)
                    cur.execute(statement)
                    queries.append(text)
            conn.commit()
            restored.append(fk["name"])
        except Exception as error:  # psycopg2.Error: report it with the constraint's name
            conn.rollback()
            errors.append((fk["name"], str(error).strip().splitlines()[0] if str(error).strip() else repr(error)))
    return restored, queries, errors


def missing_created_foreign_keys(sconn, plan_tables, fks_after):
    """For a load that created the schema: tables with fewer foreign keys than SQLite declares.

    pgloader reports a failed `ALTER TABLE ... ADD FOREIGN KEY` in its log and exits 0 (measured:
    Chinook with `quote identifiers`, where it writes the column names unquoted).
    """
    created = {}
    for fk in fks_after:
        created[fk["table"]] = created.get(fk["table"], 0) + 1
    problems = []
    for entry in plan_tables:
        rows = sconn.execute("PRAGMA foreign_key_list(%s)" % quote_ident(entry["source"])).fetchall()
        declared = len({row[0] for row in rows})
        if created.get(entry["target"], 0) < declared:
            problems.append("%s: SQLite declares %d foreign key(s), pgloader created %d"
                            % (entry["source"], declared, created.get(entry["target"], 0)))
    return problems


def verify(params, conn, sconn, plan, outcome, words):
    """Counts on both sides and foreign keys after an engine ran; (result keys, warnings).

    Raises ModuleError (with the result keys) when the target misses rows beyond max_rejected_rows
    or a foreign key cannot be re-created. WORDS name the engine in messages (its WORDS).
    """
    schema = params["schema"]
    with conn.cursor() as cur:
        target_counts = count_target(cur, schema, [e["target"] for e in plan["tables"]])
        fks_after = catalog.foreign_keys(cur, schema)
    source_counts = {e["source"]: sqlite_source.count_rows(sconn, e["source"]) for e in plan["tables"]}
    tables = table_results(plan["tables"], source_counts, target_counts, outcome["reported"])
    result = {"tables": tables, "rows": sum(t["target_rows"] or 0 for t in tables),
              "rejected_rows": sum(t["rejected"] or 0 for t in tables),
              "reject_reasons": outcome.get("reject_reasons", {}), "engine_errors": outcome.get("errors", [])}
    restored, queries, fk_errors = repair_foreign_keys(conn, schema, plan.get("foreign_keys", []), fks_after)
    result["foreign_keys_restored"] = restored
    result["executed_queries"] = outcome.get("queries", []) + queries
    problems, tolerated = shortfalls(tables, params["max_rejected_rows"])
    for name, error in fk_errors:
        problems.append("foreign key %s was %s and cannot be re-created: %s"
                        % (name, words["dropped"], scrub(error, params)))
    if params["mode"] == "create_schema":
        problems += missing_created_foreign_keys(sconn, plan["tables"], fks_after)
    warnings = [line if "did not report" in line else "rows missing in the target (within max_rejected_rows=%d): %s"
                % (params["max_rejected_rows"], line) for line in tolerated]
    if restored:
        warnings.append("foreign keys %s were %s and not restored; the module re-created them"
                        % (", ".join(restored), words["dropped"]))
    if problems:
        reasons = ["%s: %s" % (table, items[0]) for table, items in sorted(result["reject_reasons"].items()) if items]
        detail = reasons[:5] or result["engine_errors"][:3]
        raise ModuleError("%s but the load is incomplete - %s%s" % (
            words["done"], "; ".join(problems), (". First reasons: " + " | ".join(detail)) if detail else ""),
            **result)
    return result, warnings


def repair_foreign_keys(conn, schema, before, after):
    """Re-create the keys the engine dropped and did not restore: (restored names, queries, errors)."""
    changed = foreign_key_changes(before, after)
    if not changed:
        return [], [], []
    conn.autocommit = False
    try:
        return restore_foreign_keys(conn, schema, changed)
    finally:
        conn.autocommit = True
