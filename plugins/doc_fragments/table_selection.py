# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The one table-selection rule (module_utils/table_selection.py) of every module.
    DOCUMENTATION = r"""
options:
  include_tables:
    description:
      - Only these tables. An empty list means every table except O(exclude_tables).
      - SQLite's own tables, virtual tables of any module (FTS3/4/5, R*Tree, ...) with their shadow tables, and
        the collection's internal tables are never copied, compared or sequenced, whatever the selection; the
        modules that read SQLite list them in C(skipped_tables).
      - Names are exact, case included, and each must exist (in the SQLite file or the target schema, as
        the module reads them); an unknown name fails the task, changing nothing, with the list of the
        tables that exist. The same rule holds for every module of the collection.
    type: list
    elements: str
    default: []
  exclude_tables:
    description:
      - Tables to leave out (exact names, each must exist, as for O(include_tables)); an excluded table is
        left out even when O(include_tables) names it.
      - A table left out is not read, written, emptied, sequenced or compared; in PostgreSQL it stays as the
        app's migrations (or the app, for a search index it rebuilds) made it.
      - V(django_migrations), where it is the default, may be absent (the target's own C(manage.py migrate)
        fills it).
    type: list
    elements: str
    default: [django_migrations]
"""
