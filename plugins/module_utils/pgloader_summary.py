# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading what pgloader leaves behind: its `--summary FILE.csv`, its reject logs, its version.

pgloader 3.6.9 exits 0 when rows are rejected or a table is cut short, so these files (and a
count on both sides) are the only evidence. Measured formats:

- summary CSV, no header, one line per phase or table, `;`-separated, labels quoted with
  backslash-escaped inner quotes (quoted identifiers keep their quotes):
  ``"\\"Album\\"";347;347;0;10743;"0.492s"`` = label, read, imported, errors (events, not rows),
  bytes, duration (``1h2m3.456s`` style).
- reject log ``<root-dir>/<table>/<table>.log``: ``Database error <code>: <message>`` lines,
  each followed by a ``CONTEXT: COPY ...`` line; the rejected rows themselves are in ``.dat``
  next to it and are never read back (they are user data).
"""

from __future__ import annotations

import os
import re

SUMMARY_FIELDS = ("read", "imported", "errors", "bytes")
_DURATION = re.compile(
    r"^\s*(?:(?P<years>\d+)\s*years?\s*)?(?:(?P<months>\d+)\s*months?\s*)?(?:(?P<days>\d+)\s*days?\s*)?"
    r"(?:(?P<hours>\d+)h)?\s*(?:(?P<minutes>\d+)m)?\s*(?:(?P<seconds>\d+(?:\.\d*)?)s)?\s*$"
)
_VERSION = re.compile(r'pgloader version "?([^"\s]+)"?')
# Phase labels pgloader writes besides the tables, spelled exactly as it does (a table label is the
# target identifier: folded to lower case, or double-quoted with `quote identifiers`).
PHASE_LABELS = frozenset((
    "fetch", "fetch meta data", "Create Schemas", "Create SQL Types", "Create tables", "Set Table OIDs",
    "Drop Foreign Keys", "Drop Indexes", "Truncate", "COPY Threads Completion", "Create Indexes",
    "Index Build Completion", "Reset Sequences", "Primary Keys", "Create Foreign Keys", "Create Triggers",
    "Install Comments", "Before Load", "After Load", "Total import time",
))


class SummaryError(Exception):
    """The summary file cannot be read as pgloader's CSV summary."""


def parse_duration(text):
    """Seconds (float) from pgloader's duration format ('0.492s', '1m2.500s', '1h0m3.000s')."""
    if text is None:
        return 0.0
    match = _DURATION.match(text.strip())
    if not match or not text.strip():
        raise SummaryError("unexpected duration %r in the pgloader summary" % text)
    parts = {key: float(value) for key, value in match.groupdict().items() if value is not None}
    return round(
        parts.get("years", 0) * 365 * 86400 + parts.get("months", 0) * 30 * 86400 + parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0), 3)


def _unquote_csv_label(field):
    """The label field: "..." with backslash escapes inside (pgloader's CSV style)."""
    field = field.strip()
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        inner = field[1:-1]
        return re.sub(r'\\(.)', r'\1', inner)
    return field


def parse_summary(text):
    """[{label, read, imported, errors, bytes, seconds}] in file order.

    The label may itself contain ';' (a quoted table name), so each line is split from the right.
    """
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(";", 5)
        if len(parts) != 6:
            raise SummaryError("line %d of the pgloader summary has %d fields, expected 6: %r"
                               % (number, len(parts), line[:200]))
        label, read, imported, errors, size, secs = parts
        try:
            numbers = [int(value.strip()) for value in (read, imported, errors, size)]
        except ValueError:
            raise SummaryError("line %d of the pgloader summary has non-numeric counts: %r" % (number, line[:200]))
        entry = {"label": _unquote_csv_label(label)}
        entry.update(zip(SUMMARY_FIELDS, numbers))
        entry["seconds"] = parse_duration(_unquote_csv_label(secs))
        entries.append(entry)
    return entries


def read_summary(path):
    """parse_summary() of PATH; a missing or empty file is an error (pgloader died before the end)."""
    if not os.path.exists(path):
        raise SummaryError("pgloader wrote no summary (%s): it stopped before the end of the load" % path)
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if not text.strip():
        raise SummaryError("the pgloader summary %s is empty: it stopped before the end of the load" % path)
    return parse_summary(text)


def _label_keys(label):
    """Names a summary label may stand for: as written, without identifier quotes, without a schema."""
    keys = [label]
    unquoted = label
    if len(label) >= 2 and label[0] == '"' and label[-1] == '"':
        unquoted = label[1:-1].replace('""', '"')
        keys.append(unquoted)
    # "schema"."table" or schema.table (only split on the last dot outside quotes)
    match = re.match(r'^(?:"(?:[^"]|"")+"|[^".]+)\.("(?:[^"]|"")+"|[^".]+)$', label)
    if match:
        table = match.group(1)
        if table.startswith('"') and table.endswith('"'):
            table = table[1:-1].replace('""', '"')
        keys.append(table)
    return keys


def table_entries(entries, target_tables):
    """{target table: summary entry} for the tables pgloader reported.

    TARGET_TABLES are the PostgreSQL names loaded into; pgloader labels them as the target
    identifier (quoted when `quote identifiers` is on, sometimes schema-qualified).
    A name matches exactly first, then case-insensitively (default identifier case folding).
    """
    wanted = list(target_tables)
    exact = {name: name for name in wanted}
    folded = {}
    for name in wanted:
        folded.setdefault(name.lower(), []).append(name)
    found = {}
    for entry in entries:
        if entry["label"] in PHASE_LABELS:
            continue
        for key in _label_keys(entry["label"]):
            name = exact.get(key)
            if name is None and len(folded.get(key.lower(), [])) == 1:
                name = folded[key.lower()][0]
            if name is not None and name not in found:
                found[name] = entry
                break
    return found


def read_reject_reasons(root_dir, names, limit=5):
    """{name: [reason, ...]} from pgloader's reject logs under ROOT_DIR, at most LIMIT per table.

    A reason is one 'Database error ...' line joined with its CONTEXT line. The .dat files
    (the rejected rows) are never read.
    """
    reasons = {}
    if not root_dir or not os.path.isdir(root_dir):
        return reasons
    wanted = {name.lower(): name for name in names}
    for dirpath, _dirnames, filenames in os.walk(root_dir):
        for filename in sorted(filenames):
            if not filename.endswith(".log") or filename == "pgloader.log":
                continue
            stem = filename[:-len(".log")]
            name = wanted.get(stem.strip('"').lower(), stem)
            found = _reasons_from_log(os.path.join(dirpath, filename), limit)
            if found:
                reasons.setdefault(name, [])
                reasons[name].extend(found[:max(0, limit - len(reasons[name]))])
    return reasons


def _reasons_from_log(path, limit):
    found = []
    current = None
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("CONTEXT:") and current is not None:
                current = "%s (%s)" % (current, _shorten(line, 160))
                continue
            if current is not None:
                found.append(current)
                if len(found) >= limit:
                    return found
            current = _shorten(line, 300)
    if current is not None and len(found) < limit:
        found.append(current)
    return found


def _shorten(text, size):
    text = text.strip()
    return text if len(text) <= size else text[:size - 3] + "..."


def parse_version(output):
    """'3.6.7~devel' from `pgloader --version` (3.6.9 Debian prints 3.6.7~devel), else None."""
    match = _VERSION.search(output or "")
    return match.group(1) if match else None
