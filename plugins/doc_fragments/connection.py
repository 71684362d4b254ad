# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The PostgreSQL connection options shared by every module of the collection.
    # Names follow community.postgresql so the same module_defaults work for both.
    DOCUMENTATION = r"""
options:
  login_user:
    description:
      - The PostgreSQL role the module connects as.
    type: str
    default: postgres
  login_password:
    description:
      - The password of O(login_user).
      - It is handed to libpq in-process; it never appears on a command line, in results or in logs.
    type: str
    default: ''
  login_host:
    description:
      - Host name or address of the PostgreSQL server.
      - Empty means the local Unix socket (see O(login_unix_socket)).
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the Unix domain socket for local connections.
    type: str
    default: ''
  login_port:
    description:
      - TCP port of the PostgreSQL server.
    type: int
    default: 5432
  login_db:
    description:
      - The target database.
    type: str
    required: true
  ssl_mode:
    description:
      - How TLS is negotiated, as libpq's C(sslmode).
      - Use V(verify-full) with O(ca_cert) in production.
      - See U(https://www.postgresql.org/docs/current/libpq-ssl.html).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - Path of the CA certificate(s) that signed the server's certificate (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  ssl_cert:
    description:
      - Path of the client certificate, for certificate authentication.
    type: path
  ssl_key:
    description:
      - Path of the client certificate's private key.
    type: path
  connect_params:
    description:
      - Further libpq connection parameters; they take precedence over the options above.
    type: dict
    default: {}
  connect_timeout:
    description:
      - Seconds to wait for each connection attempt.
    type: int
    default: 10
  connect_retries:
    description:
      - How many more times to try after a transient connection error (refused, timed out,
        server starting up). Authentication and configuration errors fail at once.
    type: int
    default: 3
  connect_retry_delay:
    description:
      - Seconds between connection attempts.
    type: float
    default: 2.0
requirements:
  - psycopg2 (C(psycopg2-binary) from PyPI, or the distribution's C(python3-psycopg2)) on the host that runs the module.
"""
