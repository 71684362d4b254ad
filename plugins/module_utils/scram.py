# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""SCRAM-SHA-256 verifiers as PostgreSQL stores them in pg_authid.rolpassword.

A role's password is sent to the server as a verifier (PostgreSQL stores a verifier as given),
so the plain password never appears in SQL, in the server log or on the database host.

Format (RFC 5802 / RFC 7677, PostgreSQL's pg_authid):
    SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>    (base64)
    SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations)
    StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
    ServerKey      = HMAC(SaltedPassword, "Server Key")

SASLprep follows PostgreSQL's src/common/saslprep.c, which decides what a client's login will
hash: pure ASCII is used as it is; otherwise RFC 4013 (map, NFKC, prohibit, bidi); when that
fails (prohibited or unassigned characters, an empty result) the raw UTF-8 bytes are used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stringprep
import unicodedata

DEFAULT_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)
SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN
_B64 = r"[A-Za-z0-9+/]+={0,2}"
VERIFIER_RE = re.compile(rf"^SCRAM-SHA-256\$(\d+):({_B64})\$({_B64}):({_B64})$")

_PROHIBITED = (
    stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
    stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
    stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
    stringprep.in_table_a1,  # unassigned in Unicode 3.2: PostgreSQL prohibits them too
)


class ScramError(ValueError):
    """A password or verifier that cannot be used."""


def saslprep(password: str) -> bytes:
    """The bytes PostgreSQL (server and libpq) feed to PBKDF2 for this password."""
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in password if not stringprep.in_table_b1(ch)
    )
    if not mapped:
        return raw
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    if any(check(ch) for ch in prepared for check in _PROHIBITED):
        return raw
    if any(stringprep.in_table_d1(ch) for ch in prepared):
        # RFC 3454 section 6: right-to-left text holds no left-to-right character and begins
        # and ends with a right-to-left one.
        if (any(stringprep.in_table_d2(ch) for ch in prepared)
                or not stringprep.in_table_d1(prepared[0]) or not stringprep.in_table_d1(prepared[-1])):
            return raw
    return prepared.encode("utf-8")


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_verifier(password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """A verifier for password; a fresh random salt unless one is given."""
    if not isinstance(password, str) or not password:
        raise ScramError("the password must be a non-empty string")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ScramError(f"iterations must be a positive integer, got {iterations!r}")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    if not salt:
        raise ScramError("the salt must not be empty")
    stored_key, server_key = _keys(password, salt, iterations)
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def parse_verifier(verifier: str) -> tuple[int, bytes]:
    """(iterations, salt) of a stored verifier; ScramError when it is not a SCRAM-SHA-256 one."""
    match = VERIFIER_RE.match(verifier or "")
    if not match:
        raise ScramError("not a SCRAM-SHA-256 verifier")
    return int(match.group(1)), base64.b64decode(match.group(2))


def verifier_matches(password: str, verifier: str | None) -> bool:
    """True when verifier (as read from pg_authid, may be None or md5) was made from password."""
    try:
        iterations, salt = parse_verifier(verifier or "")
    except ScramError:
        return False
    return hmac.compare_digest(build_verifier(password, salt=salt, iterations=iterations), verifier)
