"""SCRAM-SHA-256 verifiers (module_utils/scram.py and the scram_sha256_verifier filter).

The verifier is checked the way a server uses it: RFC 7677's example exchange (user "user",
password "pencil") must authenticate against the StoredKey and produce the ServerSignature of
the RFC. tests/integration/test_scram_postgres.py compares with verifiers PostgreSQL made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgmigrate.django.plugins.filter.scram_sha256_verifier import (
    FilterModule,
    scram_sha256_verifier,
)
from ansible_collections.pgmigrate.django.plugins.module_utils import scram

RFC7677_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC7677_AUTH_MESSAGE = (
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
).encode()
RFC7677_CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC7677_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _keys(verifier):
    match = scram.VERIFIER_RE.match(verifier)
    assert match, verifier
    return int(match.group(1)), match.group(2), base64.b64decode(match.group(3)), base64.b64decode(match.group(4))


def test_rfc7677_exchange_authenticates_against_the_verifier():
    verifier = scram.build_verifier("pencil", salt=base64.b64decode(RFC7677_SALT))
    iterations, salt, stored_key, server_key = _keys(verifier)
    assert (iterations, salt) == (4096, RFC7677_SALT)
    # Server side of RFC 5802 section 3: recover ClientKey from the proof, hash it, compare.
    client_signature = hmac.new(stored_key, RFC7677_AUTH_MESSAGE, hashlib.sha256).digest()
    proof = base64.b64decode(RFC7677_CLIENT_PROOF)
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
    assert hashlib.sha256(client_key).digest() == stored_key
    server_signature = hmac.new(server_key, RFC7677_AUTH_MESSAGE, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == RFC7677_SERVER_SIGNATURE


def test_a_wrong_password_does_not_authenticate():
    _it, _salt, stored_key, _server_key = _keys(scram.build_verifier("pencil!", salt=base64.b64decode(RFC7677_SALT)))
    client_signature = hmac.new(stored_key, RFC7677_AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(base64.b64decode(RFC7677_CLIENT_PROOF), client_signature))
    assert hashlib.sha256(client_key).digest() != stored_key


def test_new_verifiers_have_a_fresh_16_byte_salt_and_4096_iterations():
    first, second = scram.build_verifier("same"), scram.build_verifier("same")
    assert first != second
    for verifier in (first, second):
        iterations, salt, _stored, _server = _keys(verifier)
        assert iterations == 4096 and len(base64.b64decode(salt)) == 16
        assert scram.verifier_matches("same", verifier)
        assert not scram.verifier_matches("Same", verifier)


@pytest.mark.parametrize("password, prepared", [
    ("plain ASCII 'q\" \\ $ %@:", "plain ASCII 'q\" \\ $ %@:".encode()),
    ("ctrl\x07char", b"ctrl\x07char"),  # pure ASCII: used as it is, control characters too
    ("caf\u00e9", "caf\u00e9".encode()),  # already NFKC
    ("cafe\u0301", "caf\u00e9".encode()),  # NFKC composes
    ("\ufb01le", b"file"),  # NFKC: the fi ligature
    ("a\u00adb", "ab".encode()),  # soft hyphen: commonly mapped to nothing (B.1)
    ("a\u00a0b", b"a b"),  # no-break space: non-ASCII space (C.1.2) becomes a space
    ("\u00ad", "\u00ad".encode()),  # empty after mapping: the raw bytes
    ("x\u0080y", "x\u0080y".encode()),  # control character (C.2.2): prohibited, the raw bytes
    ("x\U000e0001", "x\U000e0001".encode()),  # tagging character (C.9): prohibited
    ("\u05d0a\u05d1", "\u05d0a\u05d1".encode()),  # RandAL with L: bidi rule fails, raw bytes
    ("\u05d0\u05d1", "\u05d0\u05d1".encode()),  # RandAL only: fine
])
def test_saslprep_as_postgresql_does(password, prepared):
    assert scram.saslprep(password) == prepared


def test_filter_keeps_the_current_verifier_when_the_password_matches():
    current = scram.build_verifier("s3cret pass")
    assert scram_sha256_verifier("s3cret pass", current=current) == current
    changed = scram_sha256_verifier("another pass", current=current)
    assert changed != current and scram.verifier_matches("another pass", changed)


@pytest.mark.parametrize("current", [None, "", "md5" + "0" * 32, "SCRAM-SHA-256$garbage", 42])
def test_filter_makes_a_new_verifier_when_there_is_none_to_keep(current):
    verifier = scram_sha256_verifier("pw", current=current)
    assert verifier.startswith("SCRAM-SHA-256$4096:") and scram.verifier_matches("pw", verifier)


def test_filter_salt_and_iterations_make_it_reproducible():
    one = scram_sha256_verifier("pw", salt=RFC7677_SALT, iterations=10000)
    assert one == scram_sha256_verifier("pw", salt=RFC7677_SALT, iterations="10000")
    assert one.startswith("SCRAM-SHA-256$10000:" + RFC7677_SALT + "$")
    assert FilterModule().filters()["scram_sha256_verifier"] is scram_sha256_verifier


@pytest.mark.parametrize("kwargs, message", [
    ({"password": ""}, "non-empty string"),
    ({"password": None}, "non-empty string"),
    ({"password": "Sntl-secret", "iterations": "many"}, "iterations must be an integer"),
    ({"password": "Sntl-secret", "iterations": 0}, "iterations must be a positive integer"),
    ({"password": "Sntl-secret", "salt": "not base64!"}, "salt must be base64"),
    ({"password": "Sntl-secret", "salt": ""}, "salt must not be empty"),
])
def test_filter_errors_say_what_is_wrong_without_the_password(kwargs, message):
    password = kwargs.pop("password")
    with pytest.raises(AnsibleFilterError, match=message) as error:
        scram_sha256_verifier(password, **kwargs)
    assert "Sntl" not in str(error.value)
