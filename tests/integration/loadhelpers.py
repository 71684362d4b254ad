"""Helpers for the preflight and pgloader integration tests (imported by test_preflight/test_pgloader)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_APP = REPO / "examples" / "demo_app"
DUMP_SCRIPT = Path(__file__).resolve().parent / "demo_dump.py"

# Chinook with the target schema one would write for it: quoted mixed-case names, the SQLite
# declared types (NVARCHAR(n) -> varchar(n), NUMERIC(10,2), DATETIME -> timestamp), real keys.
CHINOOK_DDL = """
CREATE TABLE "Artist" ("ArtistId" integer PRIMARY KEY, "Name" varchar(120));
CREATE TABLE "Album" ("AlbumId" integer PRIMARY KEY, "Title" varchar(160) NOT NULL,
  "ArtistId" integer NOT NULL REFERENCES "Artist" ("ArtistId"));
CREATE TABLE "Employee" ("EmployeeId" integer PRIMARY KEY, "LastName" varchar(20) NOT NULL,
  "FirstName" varchar(20) NOT NULL, "Title" varchar(30), "ReportsTo" integer REFERENCES "Employee" ("EmployeeId"),
  "BirthDate" timestamp, "HireDate" timestamp, "Address" varchar(70), "City" varchar(40), "State" varchar(40),
  "Country" varchar(40), "PostalCode" varchar(10), "Phone" varchar(24), "Fax" varchar(24), "Email" varchar(60));
CREATE TABLE "Customer" ("CustomerId" integer PRIMARY KEY, "FirstName" varchar(40) NOT NULL,
  "LastName" varchar(20) NOT NULL, "Company" varchar(80), "Address" varchar(70), "City" varchar(40),
  "State" varchar(40), "Country" varchar(40), "PostalCode" varchar(10), "Phone" varchar(24), "Fax" varchar(24),
  "Email" varchar(60) NOT NULL, "SupportRepId" integer REFERENCES "Employee" ("EmployeeId"));
CREATE TABLE "Genre" ("GenreId" integer PRIMARY KEY, "Name" varchar(120));
CREATE TABLE "MediaType" ("MediaTypeId" integer PRIMARY KEY, "Name" varchar(120));
CREATE TABLE "Invoice" ("InvoiceId" integer PRIMARY KEY,
  "CustomerId" integer NOT NULL REFERENCES "Customer" ("CustomerId"), "InvoiceDate" timestamp NOT NULL,
  "BillingAddress" varchar(70), "BillingCity" varchar(40), "BillingState" varchar(40),
  "BillingCountry" varchar(40), "BillingPostalCode" varchar(10), "Total" numeric(10,2) NOT NULL);
CREATE TABLE "Track" ("TrackId" integer PRIMARY KEY, "Name" varchar(200) NOT NULL,
  "AlbumId" integer REFERENCES "Album" ("AlbumId"), "MediaTypeId" integer NOT NULL REFERENCES "MediaType" ("MediaTypeId"),
  "GenreId" integer REFERENCES "Genre" ("GenreId"), "Composer" varchar(220), "Milliseconds" integer NOT NULL,
  "Bytes" integer, "UnitPrice" numeric(10,2) NOT NULL);
CREATE TABLE "InvoiceLine" ("InvoiceLineId" integer PRIMARY KEY,
  "InvoiceId" integer NOT NULL REFERENCES "Invoice" ("InvoiceId"), "TrackId" integer NOT NULL REFERENCES "Track" ("TrackId"),
  "UnitPrice" numeric(10,2) NOT NULL, "Quantity" integer NOT NULL);
CREATE TABLE "Playlist" ("PlaylistId" integer PRIMARY KEY, "Name" varchar(120));
CREATE TABLE "PlaylistTrack" ("PlaylistId" integer NOT NULL REFERENCES "Playlist" ("PlaylistId"),
  "TrackId" integer NOT NULL REFERENCES "Track" ("TrackId"), PRIMARY KEY ("PlaylistId", "TrackId"));
"""
CHINOOK_TABLES = ["Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType",
                  "Playlist", "PlaylistTrack", "Track"]


def django_env(workdir, sqlite_path=None, database_url=None):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "SQLITE_PATH") and not key.startswith("POSTGRES_")}
    empty = Path(workdir) / "empty.env"
    if not empty.exists():
        empty.write_text("")
    env["DJANGO_ENV_FILE"] = str(empty)
    if sqlite_path:
        env["SQLITE_PATH"] = str(sqlite_path)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def manage(workdir, *args, sqlite_path=None, database_url=None, timeout=600):
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=str(DEMO_APP),
                          env=django_env(workdir, sqlite_path, database_url), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        pytest.fail("manage.py %s failed: %s" % (" ".join(args), (proc.stdout + proc.stderr)[-3000:]))
    return proc


def make_demo_source(workdir, path, rows):
    manage(workdir, "migrate", "--noinput", sqlite_path=path)
    manage(workdir, "generate_data", "--rows", str(rows), sqlite_path=path)
    return path


def migrate_target(workdir, target):
    """The schema-first step: the app's own `manage.py migrate` against the PostgreSQL target."""
    manage(workdir, "migrate", "--noinput", database_url=target.database_url)


def orm_dump(workdir, out, sqlite_path=None, database_url=None):
    """Every row of every model through the Django ORM, canonical JSON lines in OUT; returns the counts."""
    proc = subprocess.run([sys.executable, str(DUMP_SCRIPT), str(out)], cwd=str(DEMO_APP),
                          env=django_env(workdir, sqlite_path, database_url), capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail("demo_dump failed: %s" % (proc.stdout + proc.stderr)[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])["counts"]


def writable_copy(source, dest):
    """A private, writable copy of a SQLite file (online backup API: WAL content included)."""
    src = sqlite3.connect("file:%s?mode=ro" % source, uri=True)
    dst = sqlite3.connect(str(dest))
    src.backup(dst)
    src.close()
    dst.close()
    return Path(dest)


def snapshot(target, schema="public"):
    """What a test compares to prove nothing changed: every table's row count and every constraint."""
    tables = [row[0] for row in target.query(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1", (schema,))]
    counts = {t: target.scalar('SELECT count(*) FROM "%s"."%s"' % (schema, t.replace('"', '""'))) for t in tables}
    constraints = target.query(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = %s::regnamespace ORDER BY 1, 2", (schema,))
    return {"counts": counts, "constraints": constraints}


def foreign_keys(target):
    return target.query(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1, 2")


def sqlite_counts(path, tables):
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return {t: conn.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0] for t in tables}
    finally:
        conn.close()


def pgloader_processes():
    """`ps -ewwo pid,args` lines (full width: ps cuts args at 80 columns otherwise) of running pgloader processes."""
    out = subprocess.run(["ps", "-ewwo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "pgloader" in line and "migrate.load" in line]


class TlsServer(object):
    """A throw-away PostgreSQL 15 cluster with TLS only (hostssl + scram), its CA and one database.

    The server certificate names only DNS:localhost, so 127.0.0.1 is a host name mismatch.
    """

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self):
        import secrets
        import socket
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="pgmigrate-tls-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.password = "tls-" + secrets.token_urlsafe(12)
        certs = self.dir / "certs"
        certs.mkdir()
        self.ca = certs / "ca.crt"

        def ssl(*args):
            subprocess.run(["openssl", *args], cwd=str(certs), check=True, capture_output=True)

        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=pgmigrate test CA")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
            "/CN=localhost")
        (certs / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
        ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.crt", "-days", "2", "-extfile", "san.cnf")
        (self.dir / "pw").write_text(self.password + "\n")
        subprocess.run(["chown", "-R", "postgres", str(self.dir)], check=True)
        (certs / "server.key").chmod(0o600)
        self._as_postgres(str(self.BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "scram-sha-256",
                          "--pwfile", str(self.dir / "pw"), "-U", "postgres")
        with open(self.dir / "data" / "postgresql.conf", "a") as conf:
            conf.write("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nssl = on\n"
                       "ssl_cert_file = '%s'\nssl_key_file = '%s'\n"
                       % (self.port, self.dir, certs / "server.crt", certs / "server.key"))
        (self.dir / "data" / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 scram-sha-256\n")
        self._as_postgres(str(self.BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
                          "-w", "start")

    def _as_postgres(self, *argv):
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True)

    def connect(self, dbname="postgres"):
        import psycopg2

        conn = psycopg2.connect(host="localhost", port=self.port, user="postgres", password=self.password,
                                dbname=dbname, sslmode="verify-full", sslrootcert=str(self.ca))
        conn.autocommit = True
        return conn

    def params(self, host="localhost", **extra):
        params = {"login_host": host, "login_port": self.port, "login_user": "postgres",
                  "login_password": self.password, "login_db": "app", "ssl_mode": "verify-full",
                  "ca_cert": str(self.ca)}
        params.update(extra)
        return params

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.BIN / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)
