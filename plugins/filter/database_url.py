# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: database_url
short_description: Build a percent-encoded postgresql:// URL for Django's DATABASE_URL
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Builds C(postgresql://user:password@host:port/dbname?params) from its parts.
  - "User, password, database name and every parameter are percent-encoded, so passwords with
    C(@ : / ? # % +) or spaces survive a round trip through Django's URL parsing."
  - IPv6 addresses are put in brackets.
options:
  _input:
    description:
      - The connection parts.
    type: dict
    required: true
    suboptions:
      user:
        description: Role name.
        type: str
        required: true
      password:
        description: Password of O(_input.user); omitted from the URL when empty.
        type: str
      host:
        description: Host name or address.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        default: 5432
      dbname:
        description: Database name.
        type: str
        required: true
      params:
        description: Query parameters such as C(sslmode) and C(sslrootcert), in the order given.
        type: dict
  scheme:
    description: URL scheme.
    type: str
    default: postgresql
    choices: [postgresql, postgres]
"""

EXAMPLES = r"""
- name: Render DATABASE_URL (a secret, so keep no_log on the task that uses it)
  ansible.builtin.set_fact:
    app_database_url: >-
      {{ {'user': 'app', 'password': db_app_password, 'host': 'db.example.com', 'dbname': 'shop',
          'params': {'sslmode': 'verify-full', 'sslrootcert': '/etc/ssl/pg-ca.crt'}}
         | pgmigrate.django.database_url }}
  no_log: true
"""

RETURN = r"""
_value:
  description: The URL, for example C(postgresql://app:p%40ss@db.example.com:5432/shop?sslmode=verify-full).
  type: str
"""

from urllib.parse import quote

from ansible.errors import AnsibleFilterError


def _encode(value):
    return quote(str(value), safe="")


def database_url(parts, scheme="postgresql"):
    """postgresql://user:password@host:port/dbname?params with every part percent-encoded."""
    if not isinstance(parts, dict):
        raise AnsibleFilterError("database_url expects a dict with user, password, host, port, dbname")
    missing = [key for key in ("user", "host", "dbname") if not parts.get(key)]
    if missing:
        raise AnsibleFilterError("database_url: missing %s" % ", ".join(missing))
    if scheme not in ("postgresql", "postgres"):
        raise AnsibleFilterError("database_url: scheme must be postgresql or postgres, not %s" % scheme)
    try:
        port = int(parts.get("port") or 5432)
    except (TypeError, ValueError):
        raise AnsibleFilterError("database_url: port must be an integer")
    credentials = _encode(parts["user"])
    if parts.get("password"):
        credentials += ":" + _encode(parts["password"])
    host = str(parts["host"])
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    url = "%s://%s@%s:%d/%s" % (scheme, credentials, host, port, _encode(parts["dbname"]))
    params = [(key, value) for key, value in (parts.get("params") or {}).items() if value not in (None, "")]
    if params:
        url += "?" + "&".join("%s=%s" % (_encode(key), _encode(value)) for key, value in params)
    return url


class FilterModule:
    def filters(self):
        return {"database_url": database_url}
