# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: scram_sha256_verifier
short_description: The SCRAM-SHA-256 verifier PostgreSQL stores for a password
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Computes, on the controller, C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)
    (RFC 5802, RFC 7677) for a password, with PostgreSQL's SASLprep. PostgreSQL stores a
    verifier given as a role's password as it is, so the plain password never reaches the
    database host, its SQL or its log.
  - With O(current) (the role's C(pg_authid.rolpassword)), returns O(current) itself when it was
    made from the password, so that setting the same password again changes nothing; otherwise
    a new verifier with a fresh random salt.
  - The result is as secret as a password hash. Use it in C(no_log) tasks only.
options:
  _input:
    description: The password (non-empty).
    type: str
    required: true
  current:
    description:
      - The verifier stored now, if any (C(pg_authid.rolpassword), read as a superuser).
        C(None), an md5 hash or anything else that is not a SCRAM-SHA-256 verifier means
        "does not match".
    type: str
  iterations:
    description: PBKDF2 iterations for a new verifier (PostgreSQL's default is 4096).
    type: int
    default: 4096
  salt:
    description:
      - Base64 salt for a new verifier, for reproducible results. Default is 16 random bytes,
        as PostgreSQL does. Never reuse a salt across roles.
    type: str
"""

EXAMPLES = r"""
- name: Read the stored verifier of the app role
  community.postgresql.postgresql_query:
    query: SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %(name)s
    named_args:
      name: app
  become: true
  become_user: postgres
  register: app_stored
  no_log: true

- name: Set the app role's password as a verifier (no change when it still matches)
  community.postgresql.postgresql_user:
    name: app
    password: >-
      {{ app_password | pgmigrate.django.scram_sha256_verifier(
           current=(app_stored.query_result | map(attribute='rolpassword') | first | default(none))) }}
  become: true
  become_user: postgres
  no_log: true
"""

RETURN = r"""
_value:
  description: The verifier, for example C(SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8o...=:0Hf...=).
  type: str
"""

import base64
import binascii

from ansible.errors import AnsibleFilterError

from ansible_collections.pgmigrate.django.plugins.module_utils.scram import (
    DEFAULT_ITERATIONS,
    ScramError,
    build_verifier,
    verifier_matches,
)


def scram_sha256_verifier(password, current=None, iterations=DEFAULT_ITERATIONS, salt=None):
    """The verifier to store for password: current when it matches, else a new one."""
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("scram_sha256_verifier: the password must be a non-empty string")
    try:
        iterations = int(iterations)
    except (TypeError, ValueError):
        raise AnsibleFilterError("scram_sha256_verifier: iterations must be an integer") from None
    salt_bytes = None
    if salt is not None:
        try:
            salt_bytes = base64.b64decode(str(salt), validate=True)
        except (binascii.Error, ValueError):
            raise AnsibleFilterError("scram_sha256_verifier: salt must be base64") from None
    try:
        if isinstance(current, str) and verifier_matches(password, current):
            return current
        return build_verifier(password, salt=salt_bytes, iterations=iterations)
    except ScramError as exc:
        # The message never holds the password.
        raise AnsibleFilterError(f"scram_sha256_verifier: {exc}") from None


class FilterModule:
    def filters(self):
        return {"scram_sha256_verifier": scram_sha256_verifier}
