# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PostgreSQL connection shared by every module of pgmigrate.django.

The options match plugins/doc_fragments/connection.py (a unit test keeps them in step).
"""

from __future__ import annotations

import contextlib
import time
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.pgmigrate.django.plugins.module_utils.errors import ModuleError

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    from psycopg2 import sql  # noqa: F401  (re-exported for the modules)
except ImportError:  # pragma: no cover - exercised only where psycopg2 is missing
    psycopg2 = None
    sql = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
APPLICATION_NAME = "pgmigrate.django"

# Substrings of libpq/psycopg2 messages that mean "try again later"; anything else
# (bad password, missing database, TLS trust) will not get better by retrying.
TRANSIENT_ERRORS = (
    "could not connect to server",
    "connection refused",
    "timeout expired",
    "timed out",
    "the database system is starting up",
    "the database system is shutting down",
    "server closed the connection unexpectedly",
    "no route to host",
    "network is unreachable",
    "too many clients",
)

# (substring of the error, what the operator should do about it)
ERROR_HINTS = (
    ("password authentication failed", "check login_user and login_password"),
    ("no password supplied", "give login_password for this role"),
    ("no pg_hba.conf entry", "allow this client in pg_hba.conf (hostssl ... scram-sha-256) or fix ssl_mode"),
    ("does not exist", "check login_db and login_user, or create them first (role pgmigrate.django.postgresql_server)"),
    ("could not translate host name", "check login_host: the name does not resolve"),
    ("certificate verify failed", "give the CA that signed the server certificate in ca_cert"),
    ("root certificate file", "ca_cert must point to a readable CA certificate file"),
    ("does not match host name", "connect with a name that is in the server certificate, or fix its SANs"),
    ("server does not support ssl", "enable ssl on the server or lower ssl_mode"),
    ("connection refused", "is PostgreSQL running and listening on login_host:login_port (listen_addresses, firewall)?"),
    ("timeout expired", "the host did not answer: check login_host, login_port and firewalls"),
    ("timed out", "the host did not answer: check login_host, login_port and firewalls"),
    ("no route to host", "the host is unreachable: check login_host and the network"),
)


def postgres_argument_spec():
    """The connection options every module accepts (see the `connection` doc fragment)."""
    return dict(
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_unix_socket=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_db=dict(type="str", required=True),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        ssl_cert=dict(type="path"),
        ssl_key=dict(type="path", no_log=False),
        connect_params=dict(type="dict", default={}),
        connect_timeout=dict(type="int", default=10),
        connect_retries=dict(type="int", default=3),
        connect_retry_delay=dict(type="float", default=2.0),
    )


PSYCOPG2_HINT = " Install python3-psycopg2 or `pip install psycopg2-binary` on the host that runs this module."


def ensure_psycopg2(module):
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2", reason="to connect to PostgreSQL") + PSYCOPG2_HINT,
                         exception=PSYCOPG2_IMPORT_ERROR)


def connection_kwargs(params):
    """libpq keyword arguments from the module parameters (password included: in-process only)."""
    kwargs = {
        "dbname": params["login_db"],
        "user": params["login_user"],
        "port": params["login_port"],
        "sslmode": params["ssl_mode"],
        "connect_timeout": params.get("connect_timeout") or 10,
        "application_name": APPLICATION_NAME,
    }
    host = params.get("login_host") or params.get("login_unix_socket")
    if host:
        kwargs["host"] = host
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    for option, libpq_name in (("ca_cert", "sslrootcert"), ("ssl_cert", "sslcert"), ("ssl_key", "sslkey")):
        if params.get(option):
            kwargs[libpq_name] = params[option]
    kwargs.update(params.get("connect_params") or {})
    return kwargs


def describe_target(params):
    """'user@host:port/db' for messages: never the password."""
    host = params.get("login_host") or params.get("login_unix_socket") or "local socket"
    return "%s@%s:%s/%s" % (params["login_user"], host, params["login_port"], params["login_db"])


def scrub(text, params):
    """Remove the password from any text that goes back to the user."""
    text = str(text)
    password = params.get("login_password")
    if password:
        text = text.replace(password, "********")
    return text.strip()


def run_task(module, work, *args):
    """WORK(*ARGS)'s result; a ModuleError fails the task here, once, with its message (password removed)
    and its result keys: every module's main() fails through this."""
    try:
        return work(*args)
    except ModuleError as error:
        module.fail_json(msg=scrub(error, module.params), **error.result)
    return None  # unreachable: fail_json exits


def explain_error(error, params):
    """A one-line explanation of a connection error with what to do about it."""
    message = scrub(error, params).replace("\n", " ")
    lowered = message.lower()
    for needle, hint in ERROR_HINTS:
        if needle in lowered:
            return "%s (%s)" % (message, hint)
    return message


def is_transient(error):
    lowered = str(error).lower()
    return any(needle in lowered for needle in TRANSIENT_ERRORS)


def connect(params, autocommit=False):
    """A new connection, with bounded retries on transient errors; ModuleError saying what to fix."""
    if psycopg2 is None:
        raise ModuleError(missing_required_lib("psycopg2", reason="to connect to PostgreSQL") + PSYCOPG2_HINT,
                          exception=PSYCOPG2_IMPORT_ERROR)
    kwargs = connection_kwargs(params)
    attempts = max(0, params.get("connect_retries") or 0) + 1
    delay = params.get("connect_retry_delay") or 0
    last_error = None
    for attempt in range(1, attempts + 1):
        try:
            conn = psycopg2.connect(**kwargs)
            conn.autocommit = autocommit
            return conn
        except psycopg2.Error as error:
            last_error = error
            if not is_transient(error) or attempt == attempts:
                break
            time.sleep(delay)
    raise ModuleError("Cannot connect to PostgreSQL %s after %d attempt(s): %s"
                      % (describe_target(params), attempt, explain_error(last_error, params)))


@contextlib.contextmanager
def savepoint(cur, name):
    """Run the block in SAVEPOINT NAME: on an error it is rolled back to it (and the error raised),
    so the transaction goes on; else released."""
    identifier = sql.Identifier(name)
    cur.execute(sql.SQL("SAVEPOINT {}").format(identifier))
    try:
        yield
    except Exception:
        cur.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(identifier))
        raise
    cur.execute(sql.SQL("RELEASE SAVEPOINT {}").format(identifier))


def quote_qualified(schema, table):
    """A safely quoted schema.table for psycopg2.sql compositions."""
    return sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(table)])
