# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Editing `.env` files line by line: managed keys set or removed, every other line kept."""

from __future__ import annotations

import posixpath
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


# -- reading: the app's environment file as systemd's EnvironmentFile= and the role give it -----------

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_FILE_VAR = "DJANGO_ENV_FILE"


def parse_env_text(text):
    """KEY=VALUE lines (``export`` allowed, ``#`` comment lines, '..' literal, ".." with \\" \\\\).

    Raises ValueError naming the line number only: the line may hold a secret.
    """
    result = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("export ", "export\t")):
            line = line[len("export"):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not ENV_KEY.match(key):
            raise ValueError("line %d is not KEY=VALUE" % lineno)
        result[key] = _unquote(value.strip())
    return result


def _unquote(value):
    if len(value) >= 2 and value[0] == "'" and "'" in value[1:]:
        return value[1:value.index("'", 1)]
    if len(value) >= 2 and value[0] == '"':
        out, i = [], 1
        while i < len(value) and value[i] != '"':
            if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
                i += 1
            out.append(value[i])
            i += 1
        return "".join(out)
    return value


def process_environment(base, environment, env_file_values, env_file):
    """The app's process environment, in systemd's order: BASE, then ENVIRONMENT (a unit's
    Environment=, the role's app environment), then the .env keys (EnvironmentFile= wins), then
    DJANGO_ENV_FILE naming the file (kept for apps that load it themselves)."""
    env = dict(base)
    env.update((key, str(value)) for key, value in environment.items())
    env.update(env_file_values)
    if env_file:
        env[ENV_FILE_VAR] = env_file
    return env


def systemd_environment_files(show_output):
    """The paths in ``systemctl show -p EnvironmentFiles --value UNIT`` output.

    Each line is ``PATH (ignore_errors=yes|no)``; a unit without EnvironmentFile= prints nothing.
    """
    paths = []
    for line in show_output.splitlines():
        line = line.strip()
        if not line:
            continue
        path = re.sub(r"\s*\(ignore_errors=\w+\)$", "", line)
        paths.append(path)
    return paths


def units_missing_env_file(show_outputs, env_file):
    """Units (of {unit: systemctl show output}) whose EnvironmentFile= does not name ENV_FILE,
    each as 'unit (reads: ...)'."""
    wanted = posixpath.normpath(env_file)
    missing = []
    for unit, output in show_outputs.items():
        paths = systemd_environment_files(output)
        if wanted not in [posixpath.normpath(path) for path in paths]:
            missing.append("%s (EnvironmentFile=%s)" % (unit, ", ".join(paths) if paths else "none"))
    return missing
