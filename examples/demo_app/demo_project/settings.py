"""Django settings for the pgmigrate demo project.

Everything deployment-specific comes from the process environment, nothing else
(see ``envconfig.py`` and README.md): the ``.env`` is the app's environment file,
given by whoever starts it (systemd's ``EnvironmentFile=``, pgmigrate's roles), never
read here. The database is SQLite until the ``pgmigrate.django.migrate`` playbook
writes PostgreSQL settings into that file.
"""

import os
from pathlib import Path

from demo_project import envconfig

BASE_DIR = Path(__file__).resolve().parent.parent

# The process environment only: no .env loader (pgmigrate's contract, issue 16).
ENV = dict(os.environ)

# The fallback is public and therefore insecure: fine for the demo, never for
# anything reachable by others. Set DJANGO_SECRET_KEY in the .env.
SECRET_KEY = ENV.get("DJANGO_SECRET_KEY") or (
    "django-insecure-pgmigrate-demo-key-do-not-use-in-production"
)
DEBUG = envconfig.parse_bool(ENV.get("DJANGO_DEBUG"), False, "DJANGO_DEBUG")
ALLOWED_HOSTS = envconfig.parse_list(ENV.get("DJANGO_ALLOWED_HOSTS"), ["*"])
CSRF_TRUSTED_ORIGINS = envconfig.parse_list(ENV.get("DJANGO_CSRF_TRUSTED_ORIGINS"), [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "inventory",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "demo_project.wsgi.application"

DATABASES = {"default": envconfig.database_config(ENV, BASE_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
# USE_TZ = False stores naive wall-clock time in TIME_ZONE (the case pgmigrate must load and
# compare as the app reads it); the defaults are Django's recommended UTC and aware datetimes.
TIME_ZONE = envconfig.parse_time_zone(ENV.get("DJANGO_TIME_ZONE"), "UTC")
USE_I18N = True
USE_TZ = envconfig.parse_bool(ENV.get("DJANGO_USE_TZ"), True, "DJANGO_USE_TZ")

# No WhiteNoise here: run collectstatic and let the web server serve STATIC_ROOT
# (only the admin needs static files; the API does not).
STATIC_URL = "static/"
STATIC_ROOT = ENV.get("STATIC_ROOT") or str(BASE_DIR / "static")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": ENV.get("DJANGO_LOG_LEVEL") or "INFO"},
}
