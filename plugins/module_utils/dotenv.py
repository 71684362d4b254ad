# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Editing `.env` files line by line: managed keys set or removed, every other line kept."""

from __future__ import annotations

import re

KEY_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+,=~-]*$")
MASK = "********"


def line_key(line):
    match = KEY_LINE.match(line)
    return match.group(1) if match else None


def format_value(value):
    """Bare when it is plainly safe, else double-quoted with \\ and \" escaped (dotenv style)."""
    value = str(value)
    if "\n" in value or "\r" in value:
        raise ValueError("values of a .env file must be single-line")
    if SAFE_VALUE.match(value):
        return value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def edit_lines(lines, values, remove):
    """New lines: keys in VALUES set (in place, or appended), keys in REMOVE dropped, the rest kept.

    Returns (new_lines, added, changed, removed) with key names only.
    """
    rendered = {key: "%s=%s" % (key, format_value(value)) for key, value in values.items()}
    remove = set(remove) - set(values)
    seen, out, changed, removed = set(), [], [], []
    for line in lines:
        key = line_key(line)
        if key in remove:
            removed.append(key)
            continue
        if key in rendered:
            if key in seen:  # a duplicate of a managed key: the first one wins, drop the rest
                changed.append(key)
                continue
            seen.add(key)
            if line.rstrip("\n") != rendered[key]:
                changed.append(key)
            out.append(rendered[key] + "\n")
            continue
        out.append(line if line.endswith("\n") else line + "\n")
    added = [key for key in values if key not in seen]
    out.extend(rendered[key] + "\n" for key in added)
    return out, added, sorted(set(changed)), sorted(set(removed))


def masked(lines):
    """The file's text with every value replaced by a mask: what a diff may show."""
    result = []
    for line in lines:
        key = line_key(line)
        result.append("%s=%s\n" % (key, MASK) if key else line)
    return "".join(result)
