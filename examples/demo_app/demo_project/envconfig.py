"""Parse the demo app's configuration from its environment.

Pure Python with no Django import, so the parsing can be unit-tested without a
database or settings module. ``settings.py`` reads ``os.environ`` only;
``parse_env_text``/``read_env_file`` are for tools and tests that start the app
with its ``.env`` file's keys in its environment, as systemd's
``EnvironmentFile=`` does.

The ``.env`` format is deliberately small (the ``app_env`` role writes it):

* ``KEY=VALUE`` lines; an optional leading ``export`` is ignored.
* A line whose first non-blank character is ``#`` is a comment. ``#`` inside a
  value is kept: passwords may contain it.
* A value may be wrapped in single quotes (taken literally) or double quotes
  (only ``\\"`` and ``\\\\`` are unescaped). Unquoted values are stripped.
* No variable interpolation: ``$`` is an ordinary character.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Keys that select PostgreSQL. The SSL and pool settings only modify a
# PostgreSQL configuration: a leftover POSTGRES_SSLMODE after a rollback to
# SQLite must not switch the app back to PostgreSQL.
DISCRETE_KEYS = (
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
)
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
URL_SCHEMES = ("postgres", "postgresql")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class EnvConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which."""


def parse_env_text(text: str) -> dict[str, str]:
    """Parse the text of a ``.env`` file into a dict (later keys win)."""
    result: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("export ", "export\t")):
            line = line[len("export") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.fullmatch(key):
            # Name the line, never echo it: the line may hold a secret.
            raise EnvConfigError(f".env line {lineno}: expected KEY=VALUE")
        result[key] = _unquote_value(value.strip(), lineno)
    return result


def _unquote_value(value: str, lineno: int) -> str:
    if not value or value[0] not in "'\"":
        return value
    quote = value[0]
    out: list[str] = []
    i = 1
    while i < len(value):
        char = value[i]
        if quote == '"' and char == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
            out.append(value[i + 1])
            i += 2
            continue
        if char == quote:
            rest = value[i + 1 :].strip()
            # Only a comment may follow the closing quote.
            if rest and not rest.startswith("#"):
                raise EnvConfigError(f".env line {lineno}: text after the closing quote")
            return "".join(out)
        out.append(char)
        i += 1
    raise EnvConfigError(f".env line {lineno}: unterminated {quote} quote")


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file; a missing file is an empty configuration."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_env_text(text)


def _get(env: Mapping[str, str], key: str) -> str:
    # An empty value counts as unset, so `KEY=` in a .env disables a setting.
    return (env.get(key) or "").strip()


def parse_bool(value: str | None, default: bool, name: str = "value") -> bool:
    """``True/False`` (and 1/0, yes/no, on/off), case-insensitive; empty means default."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise EnvConfigError(f"{name} must be True or False, not {value!r}")


def parse_list(value: str | None, default: list[str]) -> list[str]:
    """A comma-separated list; blanks are dropped; empty means default."""
    items = [part.strip() for part in (value or "").split(",")]
    items = [item for item in items if item]
    return items or list(default)


def parse_time_zone(value: str | None, default: str, name: str = "DJANGO_TIME_ZONE") -> str:
    """An IANA time zone name (``Europe/Berlin``); empty means default."""
    text = (value or "").strip()
    if not text:
        return default
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise EnvConfigError(f"{name} must be an IANA time zone such as Europe/Berlin, not {text!r}") from None
    return text


def _parse_port(value: str, name: str) -> str:
    if not value:
        return ""
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise EnvConfigError(f"{name} must be a TCP port number, not {value!r}")
    return value


def _parse_conn_max_age(value: str) -> int | None:
    if not value:
        return 0
    if value.lower() == "none":
        return None  # Django: keep connections open without limit.
    try:
        seconds = int(value)
    except ValueError:
        raise EnvConfigError(
            f"PG_CONN_MAX_AGE must be a number of seconds or None, not {value!r}"
        ) from None
    if seconds < 0:
        raise EnvConfigError("PG_CONN_MAX_AGE must not be negative")
    return seconds


def parse_database_url(url: str) -> dict:
    """Split a ``postgres://`` URL into Django's NAME/USER/PASSWORD/HOST/PORT/OPTIONS.

    User, password, host and database name are percent-decoded. Query
    parameters (``sslmode``, ``sslrootcert``, ``connect_timeout``, ...) become
    libpq connection parameters in OPTIONS. Error messages never contain the URL:
    it holds the password.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise EnvConfigError(f"DATABASE_URL is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in URL_SCHEMES:
        raise EnvConfigError(
            f"DATABASE_URL must start with postgres:// or postgresql:// (scheme {parts.scheme!r})"
        )
    if parts.fragment:
        # An unencoded '#' in the password cuts the URL here.
        raise EnvConfigError("DATABASE_URL contains '#': percent-encode it (%23) in the password")
    userinfo, _at, hostport = parts.netloc.rpartition("@")
    user, _colon, password = userinfo.partition(":")
    host, port = _split_hostport(hostport)
    options = _parse_query(parts.query)
    name = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if "/" in name:
        raise EnvConfigError("DATABASE_URL: the database name must not contain '/'")
    if not name and "dbname" not in options:
        raise EnvConfigError("DATABASE_URL has no database name (postgres://.../NAME)")
    return {
        "NAME": name or options.pop("dbname"),
        "USER": unquote(user),
        "PASSWORD": unquote(password),
        "HOST": unquote(host),
        "PORT": _parse_port(port, "the DATABASE_URL port"),
        "OPTIONS": options,
    }


def _split_hostport(hostport: str) -> tuple[str, str]:
    # Kept by hand instead of urlsplit().hostname: that lowercases the host and
    # would break a percent-encoded socket directory such as %2Fvar%2FRun.
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise EnvConfigError("DATABASE_URL has a malformed [IPv6] host")
        return host, rest[1:]
    host, _colon, port = hostport.partition(":")
    return host, port


def _parse_query(query: str) -> dict[str, str]:
    # Not parse_qsl: it turns '+' into a space, libpq URIs do not.
    options: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EnvConfigError(f"DATABASE_URL query parameter {unquote(key)!r} has no value")
        options[unquote(key)] = unquote(value)
    return options


def _apply_ssl(options: dict, env: Mapping[str, str]) -> None:
    for key, option in (("POSTGRES_SSLMODE", "sslmode"), ("POSTGRES_SSLROOTCERT", "sslrootcert")):
        value = _get(env, key)
        if not value:
            continue
        if option in options and options[option] != value:
            # Two sources disagree; guessing could silently weaken TLS.
            raise EnvConfigError(
                f"{key}={value!r} contradicts {option}={options[option]!r} in DATABASE_URL"
            )
        options[option] = value
    mode = options.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise EnvConfigError(f"sslmode must be one of {', '.join(SSL_MODES)}, not {mode!r}")


def database_config(env: Mapping[str, str], default_sqlite_path: str | Path) -> dict:
    """Return ``DATABASES['default']`` for the merged configuration ``env``.

    PostgreSQL when ``DATABASE_URL`` or any discrete ``POSTGRES_*`` connection
    key is set (``DATABASE_URL`` wins), otherwise SQLite at ``SQLITE_PATH``.
    """
    atomic = parse_bool(env.get("ATOMIC_REQUESTS"), False, "ATOMIC_REQUESTS")
    url = _get(env, "DATABASE_URL")
    if url:
        config = parse_database_url(url)
    elif any(_get(env, key) for key in DISCRETE_KEYS):
        if not _get(env, "POSTGRES_DB"):
            raise EnvConfigError("POSTGRES_DB is required when other POSTGRES_* keys are set")
        config = {
            "NAME": _get(env, "POSTGRES_DB"),
            "USER": _get(env, "POSTGRES_USER"),
            # Not stripped: leading or trailing blanks may be part of a password.
            "PASSWORD": env.get("POSTGRES_PASSWORD") or "",
            "HOST": _get(env, "POSTGRES_HOST"),
            "PORT": _parse_port(_get(env, "POSTGRES_PORT"), "POSTGRES_PORT"),
            "OPTIONS": {},
        }
    else:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _get(env, "SQLITE_PATH") or str(default_sqlite_path),
            "ATOMIC_REQUESTS": atomic,
            # Several gunicorn workers share the file: wait for locks, don't fail.
            "OPTIONS": {"timeout": 20},
        }
    _apply_ssl(config["OPTIONS"], env)
    conn_max_age = _parse_conn_max_age(_get(env, "PG_CONN_MAX_AGE"))
    config.update(
        ENGINE="django.db.backends.postgresql",
        ATOMIC_REQUESTS=atomic,
        CONN_MAX_AGE=conn_max_age,
        # Persistent connections must survive a PostgreSQL restart.
        CONN_HEALTH_CHECKS=conn_max_age != 0,
    )
    return config
