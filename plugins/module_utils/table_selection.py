# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one table-selection rule of every module (doc fragment pgmigrate.django.table_selection).

A name in a selection option selects the table of exactly that name (case included). A name that
selects no table is refused with the list of what exists: a typo never silently selects nothing,
and a name never selects a table it only resembles.
"""

from __future__ import annotations

from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError


class SelectionError(ModuleError):
    """A selection option names a table that does not exist."""


def resolve(option, names, known, where, tolerated=()):
    """NAMES (the value of OPTION, or of several options given as one string) checked against KNOWN.

    WHERE says where the known tables are ("schema public"); names in TOLERATED (an option's
    defaults) may be absent. Returns the names that exist; SelectionError for any other.
    """
    known = set(known)
    unknown = [name for name in names or () if name not in known and name not in tolerated]
    if unknown:
        raise SelectionError(
            "unknown table(s) in %s: %s. Names are exact (case included); %s has: %s" % (
                option, ", ".join(sorted(set(unknown))), where, ", ".join(sorted(known)) or "no table"))
    return sorted(set(name for name in names or () if name in known))


def select(pairs, include, exclude):
    """From [(source, target)] pairs and the resolved include/exclude names, the pairs kept (exclude wins).
    A pair is named by either of its names (SQLite's or PostgreSQL's spelling)."""
    include, exclude = set(include or ()), set(exclude or ())

    def named(pair, names):
        return pair[0] in names or pair[1] in names

    return [pair for pair in pairs if (not include or named(pair, include)) and not named(pair, exclude)]
