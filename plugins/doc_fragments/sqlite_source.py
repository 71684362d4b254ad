# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The SQLite file and the PostgreSQL schema, as every module that reads them names them.
    DOCUMENTATION = r"""
options:
  source:
    description:
      - Path of the SQLite database file (a Django app's C(db.sqlite3)) on the host that runs the module.
      - Opened read-only; it is never created or changed.
    type: path
    required: true
  schema:
    description:
      - The PostgreSQL schema holding the tables the application's own C(manage.py migrate) created.
    type: str
    default: public
"""
