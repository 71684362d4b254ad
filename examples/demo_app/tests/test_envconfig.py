"""Unit tests for demo_project.envconfig: pure Python, no database, no Django setup."""

# The test names say what each test checks.
# pylint: disable=missing-function-docstring

from urllib.parse import quote

import pytest

from demo_project import envconfig
from demo_project.envconfig import EnvConfigError, database_config, parse_database_url

SQLITE_DEFAULT = "/srv/app/db.sqlite3"
NASTY_PASSWORD = "p@ss:w/o?r#d%2B+ with spaces &=;'\"\\ü€"


def pg_url(password=NASTY_PASSWORD, user="app", rest="db.example.com:5433/appdb"):
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


# --- .env parsing -----------------------------------------------------------


def test_env_text_comments_blank_lines_and_export():
    text = "# a comment\n\n   # indented comment\nexport A=1\nB = two words \nC=\n"
    assert envconfig.parse_env_text(text) == {"A": "1", "B": "two words", "C": ""}


def test_env_text_quotes():
    text = (
        "SINGLE='  keep # and $HOME and \\n literally  '\n"
        'DOUBLE="say \\"hi\\" \\\\ back"\n'
        "TRAILING='value'   # comment after the quote\n"
        "HASH=abc#def\n"
        "EQUALS=a=b=c\n"
    )
    assert envconfig.parse_env_text(text) == {
        "SINGLE": "  keep # and $HOME and \\n literally  ",
        "DOUBLE": 'say "hi" \\ back',
        "TRAILING": "value",
        "HASH": "abc#def",
        "EQUALS": "a=b=c",
    }


def test_env_text_later_key_wins():
    assert envconfig.parse_env_text("A=1\nA=2\n") == {"A": "2"}


@pytest.mark.parametrize(
    "line",
    ["NOSECRET", "=secret", "1KEY=secret", "BAD KEY=secret", "A='secret", "A='secret' junk"],
)
def test_env_text_rejects_malformed_lines_without_echoing_them(line):
    with pytest.raises(EnvConfigError) as err:
        envconfig.parse_env_text(f"OK=1\n{line}\n")
    assert "line 2" in str(err.value)
    assert "SECRET" not in str(err.value).upper()


def test_read_env_file_missing_is_empty(tmp_path):
    assert not envconfig.read_env_file(tmp_path / "absent.env")


def test_settings_read_the_process_environment_only(tmp_path, monkeypatch):
    """No .env loader: a .env next to the code and DJANGO_ENV_FILE are both ignored."""
    import importlib

    from demo_project import settings

    (tmp_path / "x.env").write_text("DATABASE_URL=postgres://u@h/from_file\n", encoding="utf-8")
    for key in ("DATABASE_URL", "POSTGRES_DB", "SQLITE_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DJANGO_ENV_FILE", str(tmp_path / "x.env"))
    assert importlib.reload(settings).DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/from_environment")
    assert importlib.reload(settings).DATABASES["default"]["NAME"] == "from_environment"
    monkeypatch.undo()
    importlib.reload(settings)


# --- DATABASE_URL ---------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        NASTY_PASSWORD,
        "@:/?#%+ ",
        "100%",
        "%41 is not A",
        "only spaces   ",
        "++++",
        "日本語パスワード🔑",
    ],
)
def test_url_password_round_trips(password):
    config = parse_database_url(pg_url(password))
    assert config["PASSWORD"] == password
    assert config["USER"] == "app"
    assert config["HOST"] == "db.example.com"
    assert config["PORT"] == "5433"
    assert config["NAME"] == "appdb"


def test_url_user_is_decoded_and_plus_is_not_a_space():
    config = parse_database_url(pg_url(password="a+b", user="user@corp+x"))
    assert config["USER"] == "user@corp+x"
    assert config["PASSWORD"] == "a+b"


def test_url_literal_plus_stays_plus():
    assert parse_database_url("postgres://u:a+b@h/d")["PASSWORD"] == "a+b"


def test_url_query_parameters_become_options():
    config = parse_database_url(
        pg_url(
            rest="h/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%2Bx.pem&connect_timeout=5"
        )
    )
    assert config["OPTIONS"] == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/ca+x.pem",
        "connect_timeout": "5",
    }


def test_url_without_user_port_or_password():
    config = parse_database_url("postgres://localhost/app")
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]) == (
        "",
        "",
        "localhost",
        "",
    )


def test_url_ipv6_and_socket_hosts():
    assert parse_database_url("postgresql://u:p@[::1]:5432/d")["HOST"] == "::1"
    socket = parse_database_url("postgresql://u@%2Fvar%2FRun%2Fpostgresql/d")
    assert socket["HOST"] == "/var/Run/postgresql"  # case kept


def test_url_database_name_is_decoded():
    assert parse_database_url("postgres://h/my%20db")["NAME"] == "my db"


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://u:p@h/d", "postgres://"),
        ("postgres://u:p@h", "no database name"),
        ("postgres://u:p@h:notaport/d", "port"),
        ("postgres://u:p@h:70000/d", "port"),
        ("postgres://u:pa#ss@h/d", "%23"),
        ("postgres://u:p@h/d?sslmode", "no value"),
    ],
)
def test_url_errors(url, message):
    with pytest.raises(EnvConfigError) as err:
        parse_database_url(url)
    assert message in str(err.value)
    # The password must never appear in an error message.
    assert ":p@" not in str(err.value) and "pa#ss" not in str(err.value)


# --- database_config ------------------------------------------------------------


def test_sqlite_default_and_path():
    config = database_config({}, SQLITE_DEFAULT)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == SQLITE_DEFAULT
    assert config["ATOMIC_REQUESTS"] is False
    assert database_config({"SQLITE_PATH": "/data/x.db"}, SQLITE_DEFAULT)["NAME"] == "/data/x.db"


def test_ssl_settings_alone_do_not_select_postgresql():
    config = database_config(
        {"POSTGRES_SSLMODE": "verify-full", "PG_CONN_MAX_AGE": "60"}, SQLITE_DEFAULT
    )
    assert config["ENGINE"] == "django.db.backends.sqlite3"


def test_empty_values_count_as_unset():
    config = database_config({"DATABASE_URL": "", "POSTGRES_DB": "  "}, SQLITE_DEFAULT)
    assert config["ENGINE"] == "django.db.backends.sqlite3"


def test_database_url_config():
    env = {
        "DATABASE_URL": pg_url(rest="db:5432/app?sslmode=verify-full"),
        "POSTGRES_SSLROOTCERT": "/etc/pgmigrate/ca.crt",
        "PG_CONN_MAX_AGE": "60",
        "ATOMIC_REQUESTS": "True",
        "SQLITE_PATH": "/ignored.sqlite3",
    }
    config = database_config(env, SQLITE_DEFAULT)
    assert config == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "app",
        "PASSWORD": NASTY_PASSWORD,
        "HOST": "db",
        "PORT": "5432",
        "OPTIONS": {"sslmode": "verify-full", "sslrootcert": "/etc/pgmigrate/ca.crt"},
        "ATOMIC_REQUESTS": True,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def test_database_url_wins_over_discrete_keys():
    env = {"DATABASE_URL": "postgres://u@h/from_url", "POSTGRES_DB": "from_discrete"}
    assert database_config(env, SQLITE_DEFAULT)["NAME"] == "from_url"


def test_discrete_keys():
    env = {
        "POSTGRES_DB": "app",
        "POSTGRES_USER": "app_user",
        "POSTGRES_PASSWORD": " @:/?#%+ raw, not encoded ",
        "POSTGRES_HOST": "10.0.0.5",
        "POSTGRES_PORT": "6432",
        "POSTGRES_SSLMODE": "require",
        "ATOMIC_REQUESTS": "False",
    }
    config = database_config(env, SQLITE_DEFAULT)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "app"
    assert config["USER"] == "app_user"
    assert config["PASSWORD"] == " @:/?#%+ raw, not encoded "
    assert (config["HOST"], config["PORT"]) == ("10.0.0.5", "6432")
    assert config["OPTIONS"] == {"sslmode": "require"}
    assert config["ATOMIC_REQUESTS"] is False
    assert config["CONN_MAX_AGE"] == 0
    assert config["CONN_HEALTH_CHECKS"] is False


def test_discrete_keys_require_database_name():
    with pytest.raises(EnvConfigError, match="POSTGRES_DB"):
        database_config({"POSTGRES_HOST": "db"}, SQLITE_DEFAULT)


def test_discrete_password_from_env_file_round_trips(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "POSTGRES_DB=app\nPOSTGRES_PASSWORD='p@ss:w/o?r#d %+ \"x\"'\n", encoding="utf-8"
    )
    env = envconfig.read_env_file(env_file)
    assert database_config(env, SQLITE_DEFAULT)["PASSWORD"] == 'p@ss:w/o?r#d %+ "x"'


def test_url_from_env_file_round_trips(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATABASE_URL={pg_url()}\n", encoding="utf-8")
    env = envconfig.read_env_file(env_file)
    assert database_config(env, SQLITE_DEFAULT)["PASSWORD"] == NASTY_PASSWORD


def test_conflicting_sslmode_is_an_error():
    env = {"DATABASE_URL": "postgres://h/d?sslmode=require", "POSTGRES_SSLMODE": "verify-full"}
    with pytest.raises(EnvConfigError, match="contradicts"):
        database_config(env, SQLITE_DEFAULT)


def test_same_sslmode_twice_is_fine():
    env = {"DATABASE_URL": "postgres://h/d?sslmode=require", "POSTGRES_SSLMODE": "require"}
    assert database_config(env, SQLITE_DEFAULT)["OPTIONS"] == {"sslmode": "require"}


def test_invalid_sslmode():
    with pytest.raises(EnvConfigError, match="sslmode"):
        database_config({"POSTGRES_DB": "d", "POSTGRES_SSLMODE": "verify_full"}, SQLITE_DEFAULT)


@pytest.mark.parametrize(
    "value, expected", [("", 0), ("0", 0), ("600", 600), ("None", None), ("none", None)]
)
def test_conn_max_age(value, expected):
    config = database_config({"POSTGRES_DB": "d", "PG_CONN_MAX_AGE": value}, SQLITE_DEFAULT)
    assert config["CONN_MAX_AGE"] == expected
    assert config["CONN_HEALTH_CHECKS"] is (expected != 0)


@pytest.mark.parametrize("value", ["-1", "1.5", "forever"])
def test_conn_max_age_invalid(value):
    with pytest.raises(EnvConfigError, match="PG_CONN_MAX_AGE"):
        database_config({"POSTGRES_DB": "d", "PG_CONN_MAX_AGE": value}, SQLITE_DEFAULT)


def test_atomic_requests_invalid():
    with pytest.raises(EnvConfigError, match="ATOMIC_REQUESTS"):
        database_config({"ATOMIC_REQUESTS": "maybe"}, SQLITE_DEFAULT)


# --- small helpers ------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("True", True),
        ("true", True),
        ("1", True),
        ("yes", True),
        ("False", False),
        ("FALSE", False),
        ("0", False),
        ("off", False),
        ("", None),
        (None, None),
    ],
)
def test_parse_bool(value, expected):
    default = object()
    result = envconfig.parse_bool(value, default)
    assert result is (default if expected is None else expected)


def test_parse_list():
    assert envconfig.parse_list(" a.example, b.example ,,", ["*"]) == ["a.example", "b.example"]
    assert envconfig.parse_list("", ["*"]) == ["*"]
    assert envconfig.parse_list(None, []) == []


# --- time zone settings -----------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [("", "UTC"), (None, "UTC"), ("America/New_York", "America/New_York"),
     (" Australia/Lord_Howe ", "Australia/Lord_Howe"), ("Asia/Kolkata", "Asia/Kolkata")],
)
def test_parse_time_zone(value, expected):
    assert envconfig.parse_time_zone(value, "UTC") == expected


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "../../etc/passwd", "EST5EDT/x"])
def test_parse_time_zone_invalid(value):
    with pytest.raises(EnvConfigError, match="DJANGO_TIME_ZONE"):
        envconfig.parse_time_zone(value, "UTC")


def _settings_with(tmp_path, **env):
    """Import settings.py afresh with ENV as the whole environment (no .env file)."""
    import importlib
    import os

    from demo_project import settings

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env, DJANGO_ENV_FILE=str(tmp_path / "none.env"))
    try:
        return importlib.reload(settings)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_settings_time_zone_defaults_unchanged(tmp_path):
    settings = _settings_with(tmp_path)
    assert (settings.USE_TZ, settings.TIME_ZONE) == (True, "UTC")


def test_settings_time_zone_from_environment(tmp_path):
    settings = _settings_with(tmp_path, DJANGO_USE_TZ="False", DJANGO_TIME_ZONE="Asia/Kolkata")
    assert (settings.USE_TZ, settings.TIME_ZONE) == (False, "Asia/Kolkata")


def test_settings_use_tz_invalid(tmp_path):
    with pytest.raises(EnvConfigError, match="DJANGO_USE_TZ"):
        _settings_with(tmp_path, DJANGO_USE_TZ="sometimes")
