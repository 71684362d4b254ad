# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The `pgloader` engine of the pgloader module: a load file, pgloader run once, its summary read.

Measured with pgloader 3.6.9 (Debian's 3.6.7~devel build) against PostgreSQL 15, which shaped it:
- it reads the password from a libpq password file named by PGPASSFILE (wildcards and the
  `\\:`/`\\\\` escapes work), so the password is a 0600 file in the private 0700 directory and
  never in pgloader's environment (/proc/<pid>/environ) or argv;
- it cannot log in with a non-ASCII password (`€ is not an ASCII character`; `ä` fails SCRAM
  authentication), with PGPASSWORD or the file alike: such passwords are refused up front;
- its `sslmode=require` checks the certificate chain but not the host name, and it knows no
  verify-full: `ssl_mode: verify-full` is refused unless allow_chain_only_tls says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.pgmigrate.django.plugins.module_utils import (
    load_plan, pgloader_loadfile, pgloader_runner, pgloader_summary,
)
from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError
from ansible_collections.pgmigrate.django.plugins.module_utils.postgres import scrub

NAME = "pgloader"
# Options only this engine reads (the copy engine refuses them when set).
OWN_OPTIONS = ("concurrency", "prefetch_rows", "casts", "pgloader_path", "allow_chain_only_tls")
WORDS = {"done": "pgloader exited 0", "dropped": "dropped by pgloader"}
DEFAULTS = {"concurrency": 1, "prefetch_rows": 10000, "pgloader_path": "pgloader"}


def check_options(params):
    """Refuse, before anything is read or changed, what pgloader cannot do safely."""
    if params.get("ssl_mode") == "verify-full" and not params.get("allow_chain_only_tls"):
        raise ModuleError(
            "ssl_mode verify-full cannot be kept by engine pgloader: pgloader knows sslmode=require at most, which "
            "checks the certificate chain but not the host name, so the data would travel without a host name "
            "check. Use engine copy (psycopg2, verify-full for the whole load), or accept a chain-only check "
            "with allow_chain_only_tls: true")
    password = params.get("login_password") or ""
    if any(ord(char) > 127 for char in password):
        raise ModuleError(
            "login_password holds non-ASCII characters, and pgloader 3.6.9 cannot log in with them (it refuses "
            "the password or fails SCRAM authentication): use engine copy, or an ASCII password for this role")
    if "\n" in password or "\r" in password:
        raise ModuleError("login_password holds a line break, which a libpq password file cannot carry: use "
                          "engine copy, or another password for this role")


def find_pgloader(params):
    path = params.get("pgloader_path") or DEFAULTS["pgloader_path"]
    if os.sep in path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise ModuleError("pgloader_path %s is not an executable file. %s" % (path, pgloader_runner.INSTALL_HINT))
    found = shutil.which(path, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")
    if not found:
        raise ModuleError(pgloader_runner.INSTALL_HINT)
    return found


def version(binary):
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, check=False)
    return pgloader_summary.parse_version(proc.stdout + proc.stderr) or "unknown"


def load_file(params, plan, source_path):
    """(load file text, identifiers, interval columns) for the plan; raises ModuleError when inexpressible."""
    identifiers, intervals = load_plan.name_rules(plan)
    url, _env = pgloader_loadfile.target_url(params)
    try:
        include, exclude = pgloader_loadfile.table_filter([e["source"] for e in plan["tables"]],
                                                          plan["all_sqlite_tables"])
        casts = pgloader_loadfile.interval_casts(intervals) + list(params.get("casts") or [])
        text = pgloader_loadfile.build_load_file(
            source_path, url, include, exclude, mode=params["mode"], identifiers=identifiers, casts=casts,
            schema=params["schema"], workers=params["workers"],
            concurrency=params.get("concurrency") or DEFAULTS["concurrency"], batch_rows=params["batch_rows"],
            prefetch_rows=params.get("prefetch_rows") or DEFAULTS["prefetch_rows"], gucs=params["settings"],
            time_zone=params.get("session_time_zone") or "UTC")
    except pgloader_loadfile.LoadFileError as error:
        raise ModuleError(str(error))
    return text, identifiers, ["%s.%s" % pair for pair in intervals]


def source_for_loadfile(path, workdir):
    """The SQLite path as the load file names it.

    pgloader's `sqlite://` grammar stops at a space and has no quoting, so a path with anything
    but letters, digits and `_./-` is reached through a symlink in the private directory (SQLite
    resolves it, so a -wal file next to the real file is still found).
    """
    path = os.path.abspath(path)
    if pgloader_loadfile.plain_path(path):
        return path
    link = os.path.join(workdir, "source.sqlite3")
    os.symlink(path, link)
    return link


def prepare(params, plan, conn):
    """What check mode shows and the result reports: {plan (the load file), identifiers, interval_columns,
    version}. CONN is unused (the copy engine reads names through it)."""
    binary = find_pgloader(params)
    workdir = pgloader_runner.private_workdir()
    try:
        text, identifiers, intervals = load_file(params, plan, source_for_loadfile(params["source"], workdir))
    finally:
        pgloader_runner.remove_workdir(workdir)
    return {"plan": text, "identifiers": identifiers, "interval_columns": intervals, "version": version(binary)}


def password_file(workdir, password):
    """A 0600 libpq password file matching any server (`*:*:*:*:`), `:` and `\\` escaped."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return pgloader_runner.write_private(os.path.join(workdir, "pgpass"), "*:*:*:*:%s\n" % escaped)


def environment(params, workdir):
    """pgloader's environment: PG* names its URL cannot carry, the password file, the CA."""
    _url, extra = pgloader_loadfile.target_url(params)
    extra = dict(extra)
    if params.get("login_password"):
        extra["PGPASSFILE"] = password_file(workdir, params["login_password"])
    if params.get("ssl_mode") != "disable" and params.get("ca_cert"):
        # pgloader (cl+ssl) checks the server's chain against OpenSSL's default store; point it at the CA
        extra["SSL_CERT_FILE"] = params["ca_cert"]
    return pgloader_runner.child_environment(os.environ, extra)


def load(params, plan, connect):
    """Run pgloader once in a private 0700 directory (removed afterwards). CONNECT is unused: pgloader
    makes its own connections. Returns {reported, seconds, errors, reject_reasons, timed_out, queries}."""
    workdir = pgloader_runner.private_workdir()
    try:
        root = os.path.join(workdir, "root")
        os.mkdir(root, 0o700)
        text, _identifiers, _intervals = load_file(params, plan, source_for_loadfile(params["source"], workdir))
        load_path = pgloader_runner.write_private(os.path.join(workdir, "migrate.load"), text)
        run, errors = run_pgloader(params, workdir, root, load_path)
        summary_path = os.path.join(workdir, "summary.csv")
        try:
            entries = pgloader_summary.read_summary(summary_path)
        except pgloader_summary.SummaryError as error:
            raise ModuleError("%s. pgloader said: %s" % (error, " | ".join(errors[:5]) or "nothing"),
                              engine_errors=errors[:10], load_seconds=run["seconds"])
        targets = [entry["target"] for entry in plan["tables"]]
        return {"seconds": run["seconds"], "errors": errors[:10], "timed_out": False, "queries": [],
                "reported": pgloader_summary.table_entries(entries, targets),
                "reject_reasons": reject_reasons(params, plan, root)}
    finally:
        pgloader_runner.remove_workdir(workdir)


def run_pgloader(params, workdir, root, load_path):
    """pgloader with a hard timeout; (run, error lines) or ModuleError when it failed or was killed."""
    stdout_path = os.path.join(workdir, "pgloader.out")
    stderr_path = os.path.join(workdir, "pgloader.err")
    argv = [find_pgloader(params), "--root-dir", root + os.sep, "--summary", os.path.join(workdir, "summary.csv"),
            "--logfile", os.path.join(workdir, "pgloader.log"), load_path]
    try:
        run = pgloader_runner.run(argv, environment(params, workdir), workdir, params["timeout"], stdout_path,
                                  stderr_path)
    except pgloader_runner.RunnerError as error:
        raise ModuleError(str(error))

    def hide(text):
        return scrub(text, params)

    errors = pgloader_runner.error_lines(stdout_path, scrub=hide) + pgloader_runner.error_lines(stderr_path, scrub=hide)
    if run["timed_out"]:
        raise ModuleError("pgloader did not finish within timeout=%d seconds and was killed (SIGKILL to its process "
                          "group %d); the target holds a partial load: drop the database (or re-run with "
                          "truncate: true) and raise timeout" % (params["timeout"], run["pid"]),
                          timed_out=True, engine_errors=errors[:10], load_seconds=run["seconds"])
    if run["rc"] != 0:
        if any("SSL verify error" in line for line in errors):
            errors.insert(0, "pgloader could not verify the server certificate: give the CA that signed it "
                             "in ca_cert (pgloader checks the chain even for ssl_mode=require)")
        raise ModuleError("pgloader failed with exit code %s: %s" % (
            run["rc"], " | ".join(errors[:5]) or pgloader_runner.tail(stderr_path, 600, hide)
            or pgloader_runner.tail(stdout_path, 600, hide)),
            engine_errors=errors[:10], load_seconds=run["seconds"])
    return run, errors


def reject_reasons(params, plan, root):
    """{SQLite table: [first reasons]} from pgloader's reject logs, whichever name it used for the table."""
    names = [entry["target"] for entry in plan["tables"]] + [entry["source"] for entry in plan["tables"]]
    reasons = pgloader_summary.read_reject_reasons(root, names, limit=max(0, params["max_reject_reasons"]))
    by_lower = {}
    for entry in plan["tables"]:
        by_lower[entry["target"].lower()] = entry["source"]
        by_lower[entry["source"].lower()] = entry["source"]
    return {by_lower.get(k.lower(), k): [scrub(r, params) for r in v] for k, v in reasons.items()}
