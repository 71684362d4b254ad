# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Building pgloader's load file (SQLite -> PostgreSQL) from module options and the target catalog.

Pure functions, unit-tested. What pgloader 3.6.9 does that shapes this file (measured):

- `including only table names like` / `excluding table names like` are SQLite LIKE: `_` and `%`
  are wildcards and ASCII case is ignored, there is no escape. `table_filter()` turns a set of
  exact names into LIKE patterns plus the exclusions that remove what LIKE catches too, and refuses
  when no such pair exists.
- Without `quote identifiers` pgloader folds names to lower case; with it, it keeps them as
  written in SQLite. `identifier_case()` picks the one the target's names need, or refuses.
- Django's DurationField is bigint microseconds in SQLite; without a cast it lands as seconds.
- Without `timezone 'UTC'` every datetime shifts by the session's offset.
- The password never goes in the file: pgloader reads PGPASSWORD from its environment.
"""

from __future__ import annotations

import re

DEFAULT_OPTIONS = {
    "workers": 4,
    "concurrency": 1,
    "batch_rows": 10000,
    "prefetch_rows": 10000,
}
# libpq sslmode -> what pgloader's URL accepts (it knows disable/allow/prefer/require only).
PGLOADER_SSLMODE = {
    "disable": "disable",
    "allow": "allow",
    "prefer": "prefer",
    "require": "require",
    "verify-ca": "require",
    "verify-full": "require",
}
INTERVAL_CAST = 'to interval using (lambda (us) (when us (format nil "~a microseconds" us)))'
# What pgloader's URL grammar reads back unchanged; anything else goes through PG* variables.
_URL_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_HOST_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
_SOCKET_SAFE = re.compile(r"^/[A-Za-z0-9_./-]*$")
# namestring in pgloader's cast rules (`column table.column`)
_CAST_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class LoadFileError(Exception):
    """The load file cannot express what was asked; the message says why and what to do."""


def ascii_lower(text):
    """SQLite's LIKE folds ASCII letters only."""
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def like_regex(pattern):
    """A compiled regex with SQLite LIKE semantics (no ESCAPE clause, ASCII case-insensitive)."""
    parts = []
    for char in ascii_lower(pattern):
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def like_matches(pattern, name):
    return like_regex(pattern).fullmatch(ascii_lower(name)) is not None


def selected_by(include, exclude, names):
    """The names pgloader would pick: any include pattern matches and no exclude pattern does."""
    include_re = [like_regex(p) for p in include]
    exclude_re = [like_regex(p) for p in exclude]
    chosen = set()
    for name in names:
        folded = ascii_lower(name)
        if include_re and not any(r.fullmatch(folded) for r in include_re):
            continue
        if any(r.fullmatch(folded) for r in exclude_re):
            continue
        chosen.add(name)
    return chosen


def check_quotable(name, what="table name"):
    """Names go into the load file between single quotes; pgloader has no escape for them."""
    if "'" in name or "\n" in name or "\r" in name:
        raise LoadFileError(
            "the %s %r contains a quote or a line break, which pgloader's load file cannot express: "
            "rename it, or load it with another tool" % (what, name))


def table_filter(wanted, all_names):
    """(include patterns, exclude patterns) making pgloader select exactly WANTED out of ALL_NAMES.

    ALL_NAMES are every table name pgloader lists in the SQLite file (sqlite_master type='table'
    except sqlite_sequence, virtual and shadow tables included). Refuses with LoadFileError when
    LIKE cannot express the selection.
    """
    wanted = set(wanted)
    all_names = set(all_names) | wanted
    if not wanted:
        raise LoadFileError("no table is left to load: check include_tables and exclude_tables")
    for name in sorted(wanted):
        check_quotable(name)
    include = sorted(wanted)
    caught = selected_by(include, [], all_names)
    extra = sorted(caught - wanted)
    for name in extra:
        check_quotable(name)
    chosen = selected_by(include, extra, all_names)
    if chosen != wanted:
        lost = sorted(wanted - chosen)
        culprits = sorted(pattern for pattern in extra
                          for name in lost if like_matches(pattern, name))
        raise LoadFileError(
            "pgloader cannot select exactly the tables to load: its filter is SQLite LIKE (`_` and `%%` "
            "are wildcards, case is ignored) and excluding %s would also exclude %s. Rename one of them, "
            "or load them in separate runs with include_tables."
            % (", ".join(repr(c) for c in sorted(set(culprits))), ", ".join(repr(n) for n in lost)))
    return include, extra


def identifier_case(pairs):
    """'quote' or 'downcase': how pgloader must spell target names.

    PAIRS are (SQLite name, PostgreSQL name) for tables and columns alike. pgloader either keeps
    the SQLite spelling (`quote identifiers`) or folds it to lower case (its default).
    """
    need_quote, need_fold, impossible = [], [], []
    for source, target in pairs:
        exact = source == target
        folded = source.lower() == target
        if exact and not folded:
            need_quote.append(source)
        elif folded and not exact:
            need_fold.append(source)
        elif not exact and not folded:
            impossible.append((source, target))
    if impossible:
        raise LoadFileError(
            "pgloader can only keep SQLite's spelling of a name or fold it to lower case; these target names "
            "are neither: %s. Rename them in the target schema."
            % ", ".join("%s -> %s" % pair for pair in impossible[:10]))
    if need_quote and need_fold:
        raise LoadFileError(
            "the target schema mixes names spelled as in SQLite (%s) with names folded to lower case (%s); "
            "pgloader applies one rule to all names. Create the target schema with one convention."
            % (", ".join(need_quote[:5]), ", ".join(need_fold[:5])))
    return "quote" if need_quote else "downcase"


def interval_casts(interval_columns):
    """Cast rules for (SQLite table, SQLite column) pairs whose target column is an interval."""
    rules = []
    for table, column in sorted(interval_columns):
        for name in (table, column):
            if not _CAST_NAME.match(name):
                raise LoadFileError(
                    "%s.%s becomes an interval but pgloader's cast rule cannot name %r; rename it or use "
                    "a plain column name" % (table, column, name))
        rules.append("column %s.%s %s" % (table, column, INTERVAL_CAST))
    return rules


def target_url(params):
    """(URL for the load file, extra environment) from the connection options. No password in either.

    pgloader reads the password from PGPASSWORD (set by the caller). Names its URL grammar cannot
    carry go through PGUSER/PGDATABASE/PGHOST instead.
    """
    env = {}
    user = params.get("login_user") or ""
    dbname = params.get("login_db") or ""
    host = params.get("login_host") or ""
    socket = params.get("login_unix_socket") or ""
    port = int(params.get("login_port") or 5432)
    netloc_user = ""
    if user:
        if _URL_SAFE.match(user):
            netloc_user = user + "@"
        else:
            env["PGUSER"] = user
    if host:
        if _HOST_SAFE.match(host):
            hostpart = host
        else:
            env["PGHOST"] = host
            hostpart = ""
    elif socket:
        if _SOCKET_SAFE.match(socket):
            hostpart = "unix:" + socket
        else:
            env["PGHOST"] = socket
            hostpart = ""
    else:
        hostpart = "unix:/var/run/postgresql"
    if _URL_SAFE.match(dbname):
        path = "/" + dbname
    else:
        env["PGDATABASE"] = dbname
        path = "/"
    if not hostpart:
        env["PGPORT"] = str(port)
        url = "postgresql://%s%s" % (netloc_user, path)
    else:
        url = "postgresql://%s%s:%d%s" % (netloc_user, hostpart, port, path)
    sslmode = PGLOADER_SSLMODE.get(params.get("ssl_mode") or "prefer", "prefer")
    url += "?sslmode=%s" % sslmode
    return url, env


_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")


def plain_path(path):
    """Whether pgloader's `sqlite://` URL can carry PATH as it is (absolute, no spaces or quotes)."""
    return bool(_PLAIN_PATH.match(path))


def _quote(value):
    check_quotable(value, "value")
    return "'%s'" % value


def with_clause(mode, identifiers, on_error, sizes):
    """The WITH options of the load file; SIZES are workers, concurrency, batch_rows, prefetch_rows (None: default)."""
    opts = dict(DEFAULT_OPTIONS)
    for key, value in sorted(sizes.items()):
        if value is not None:
            if int(value) < 1:
                raise LoadFileError("%s must be at least 1 (got %s)" % (key, value))
            opts[key] = int(value)
    with_options = []
    if mode == "data_only":
        with_options += ["data only", "truncate", "reset no sequences"]
    elif mode == "create_schema":
        with_options += ["create tables", "create indexes", "foreign keys", "reset sequences"]
    else:
        raise LoadFileError("unknown mode %r" % mode)
    if identifiers == "quote":
        with_options.append("quote identifiers")
    elif identifiers != "downcase":
        raise LoadFileError("unknown identifier case %r" % identifiers)
    if on_error == "resume next":
        with_options.append("on error resume next")
    elif on_error == "stop":
        with_options.append("on error stop")
    with_options += [
        "workers = %d" % opts["workers"],
        "concurrency = %d" % opts["concurrency"],
        "batch rows = %d" % opts["batch_rows"],
        "prefetch rows = %d" % opts["prefetch_rows"],
    ]
    return with_options


def build_load_file(source_path, target, tables, exclude=(), mode="data_only", identifiers="downcase",
                    casts=(), schema="public", workers=None, concurrency=None, batch_rows=None,
                    prefetch_rows=None, on_error="resume next", gucs=None, time_zone="UTC"):
    """The text of a pgloader load file. TARGET is target_url()'s URL (no password).

    TABLES/EXCLUDE are table_filter()'s patterns. MODE data_only: `data only, truncate, reset no
    sequences` into the existing schema; create_schema: pgloader creates tables, indexes and keys.
    TIME_ZONE is the session's: Django's naive datetime text is UTC, or TIME_ZONE with USE_TZ = False.
    """
    if not plain_path(source_path):
        raise LoadFileError("the SQLite path %r cannot be written into a pgloader load file (absolute, letters, "
                            "digits and _./- only): link it from a plain path" % source_path)
    with_options = with_clause(mode, identifiers, on_error, dict(
        workers=workers, concurrency=concurrency, batch_rows=batch_rows, prefetch_rows=prefetch_rows))
    settings = [("timezone", time_zone), ("search_path", schema)]
    for key, value in sorted((gucs or {}).items()):
        if key in ("timezone", "search_path"):
            continue
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
            raise LoadFileError("%r is not a PostgreSQL setting name" % key)
        settings.append((key, str(value)))
    lines = [
        "LOAD DATABASE",
        "  FROM sqlite://%s" % source_path,
        "  INTO %s" % target,
        "",
        "  WITH " + ",\n       ".join(with_options),
        "",
        "  SET " + ",\n      ".join("%s TO %s" % (key, _quote(value)) for key, value in settings),
    ]
    casts = list(casts)
    if casts:
        lines += ["", "  CAST " + ",\n       ".join(casts)]
    if tables:
        lines += ["", "  INCLUDING ONLY TABLE NAMES LIKE " + ", ".join(_quote(t) for t in tables)]
    if exclude:
        lines += ["", "  EXCLUDING TABLE NAMES LIKE " + ", ".join(_quote(t) for t in exclude)]
    return "\n".join(lines) + ";\n"
