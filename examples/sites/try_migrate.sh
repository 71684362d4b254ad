#!/usr/bin/env bash
# Try the collection's migrate.yml on a real third-party site, as a new user would: the site is
# built and serving on SQLite (setup.sh), a database and its two roles are provisioned in the
# local PostgreSQL, and migrate.yml runs with an inventory of variables only. No patch to the
# playbook, no change to the site.
#
#   examples/sites/try_migrate.sh NAME PORT            fresh site data, then migrate.yml
#   examples/sites/try_migrate.sh NAME PORT --cleanup  stop the site, drop its database and roles
#
# To get past a stuck point and find the next one, PGMIGRATE_TRY_WORKAROUNDS (space separated)
# applies what a user had to do by hand, each one a patch of the COPY in the work directory (the
# site in examples/sites stays as published) and named in examples/sites/README.md:
#   env-file   the copied settings read the file named by DJANGO_ENV_FILE into os.environ
#              (the collection's current contract), and DJANGO_ENV_FILE is in the app's environment
#   preflight-report-only   a copy of playbooks/ whose source scan reports its problems without
#              failing (the preflight module's fail_on_problems: false): a playbook patch
#
# Output: $work/migrate.log (the full -vv run), $work/hosts.yml (the inventory), the rc on stdout.
# Needs: `make deps postgres` (the repository's .venv, PostgreSQL on 127.0.0.1:5432), root (runuser).
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 NAME PORT [--cleanup]" >&2; exit 2; }
name=$1
port=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${PGMIGRATE_SITES_DIR:-$repo/.cache/sites}/$name
db=pgm_site_$name
owner=${db}_owner
app_user=${db}_app

psql_postgres() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }

drop_database() {
    psql_postgres -d postgres <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db';
DROP DATABASE IF EXISTS $db;
DROP ROLE IF EXISTS $owner;
DROP ROLE IF EXISTS $app_user;
SQL
}

if [ "${3:-}" = "--cleanup" ]; then
    "$here/setup.sh" "$name" --stop
    drop_database
    exit 0
fi

# 1. A fresh site on SQLite, serving (the venv is kept between tries).
"$here/setup.sh" "$name" --reset >/dev/null
"$here/setup.sh" "$name" --serve "$port"

workarounds=" ${PGMIGRATE_TRY_WORKAROUNDS:-} "
if [[ $workarounds == *" env-file "* ]]; then
    # shellcheck source=/dev/null
    settings_file=$work/app/$(. "$here/$name/site.conf" && echo "${SITE_SETTINGS_FILE}")
    python3 - "$settings_file" <<'PY'
import sys
path = sys.argv[1]
shim = """# pgmigrate try_migrate.sh workaround env-file: read the file named by DJANGO_ENV_FILE.
import os as _os
if _os.environ.get("DJANGO_ENV_FILE"):
    with open(_os.environ["DJANGO_ENV_FILE"], encoding="utf-8") as _env:
        for _line in _env:
            _key, _sep, _value = _line.strip().partition("=")
            if _sep and not _key.startswith("#"):
                _os.environ[_key.strip()] = _value.strip().strip(chr(34) + chr(39))
"""
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(shim + text)
PY
    echo "$name: workaround env-file applied to $settings_file"
fi

# 2. An empty database owned by a role that runs the migrations, and a DML-only app role, as
#    provision.yml would make them (passwords only in a 0600 vars file).
drop_database
owner_password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
app_password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
psql_postgres -d postgres <<SQL
CREATE ROLE $owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$owner_password';
CREATE ROLE $app_user LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$app_password';
CREATE DATABASE $db OWNER $owner;
REVOKE ALL ON DATABASE $db FROM PUBLIC;
GRANT CONNECT ON DATABASE $db TO $app_user;
SQL
psql_postgres -d "$db" <<SQL
ALTER DEFAULT PRIVILEGES FOR ROLE $owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO $app_user;
ALTER DEFAULT PRIVILEGES FOR ROLE $owner IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO $app_user;
SQL
(
    umask 077
    printf 'pgmigrate_db_owner_password: "%s"\npgmigrate_db_app_password: "%s"\n' \
        "$owner_password" "$app_password" >"$work/secrets.yml"
)

# 3. The inventory: variables only. The site's environment file is its .env; the keys it needs
#    besides the database are given as the app's environment, as its systemd unit would.
settings=$(sed -n 's/^DJANGO_SETTINGS_MODULE=//p' "$work/site.env")
secret=$(sed -n 's/^DJANGO_SECRET_KEY=//p' "$work/site.env")
# shellcheck source=/dev/null
. "$here/$name/site.conf"
cat >"$work/hosts.yml" <<YAML
---
all:
  children:
    django:
      hosts:
        localhost:
    postgresql:
      hosts:
        localhost:
  vars:
    ansible_connection: local
    ansible_pipelining: true
    ansible_python_interpreter: $repo/.venv/bin/python
    pgmigrate_app_dir: $work/app
    pgmigrate_app_python: $work/venv/bin/python
    pgmigrate_app_env_file: $work/site.env
    pgmigrate_sqlite_path: $work/data/db.sqlite3
    pgmigrate_backup_dir: $work/backups
    pgmigrate_db_host: 127.0.0.1
    pgmigrate_db_name: $db
    pgmigrate_db_owner: $owner
    pgmigrate_db_app_user: $app_user
    pgmigrate_db_ssl_mode: prefer
    pgmigrate_install_tools: false
    pgmigrate_engine: ${PGMIGRATE_ENGINE:-pgloader}
    pgmigrate_app_service_manager: command
    pgmigrate_app_pid_file: $work/run/gunicorn.pid
    pgmigrate_app_start_command:
      - $work/venv/bin/gunicorn
      - --daemon
      - --workers=2
      - --bind=127.0.0.1:$port
      - --pid=$work/run/gunicorn.pid
      - --error-logfile=$work/run/gunicorn.log
      - $SITE_WSGI
    pgmigrate_app_environment:$( [[ $workarounds == *" env-file "* ]] && printf '\n      DJANGO_ENV_FILE: %s' "$work/site.env")
      DJANGO_SETTINGS_MODULE: $settings
      DJANGO_SECRET_KEY: "$secret"
      MEDIA_ROOT: $work/media
      STATIC_ROOT: $work/static
    pgmigrate_app_health_url: http://127.0.0.1:$port/
    pgmigrate_app_health_retries: 5
    pgmigrate_app_health_delay: 1
    pgmigrate_report_dir: $work/reports
YAML

# 4. The playbook (unmodified unless a workaround says otherwise).
playbooks=$repo/playbooks
if [[ $workarounds == *" preflight-report-only "* ]]; then
    rm -rf "$work/playbooks-patched"
    cp -r "$repo/playbooks" "$work/playbooks-patched"
    playbooks=$work/playbooks-patched
    python3 - "$playbooks/tasks/migrate_preflight.yml" <<'PY'
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
old = "      pgmigrate.django.preflight:\n        source: \"{{ pgmigrate_sqlite_path }}\"\n"
assert old in text, "the preflight task changed: update the workaround"
open(path, "w", encoding="utf-8").write(text.replace(old, old + "        fail_on_problems: false\n"))
PY
    echo "$name: workaround preflight-report-only applied to $playbooks"
fi
export ANSIBLE_COLLECTIONS_PATH=$repo/build/collections ANSIBLE_HOME=$repo/.cache/ansible
mkdir -p "$repo/build/collections/ansible_collections/pgmigrate"
ln -sfn "$repo" "$repo/build/collections/ansible_collections/pgmigrate/django"
set +e
"$repo/.venv/bin/ansible-playbook" -i "$work/hosts.yml" -e "@$work/secrets.yml" -vv \
    "$playbooks/migrate.yml" >"$work/migrate.log" 2>&1
rc=$?
set -e
echo "$name: migrate.yml rc=$rc (log: $work/migrate.log)"
grep -E '^(fatal|failed):' -A3 "$work/migrate.log" | cut -c1-2000 | head -40 || true
exit "$rc"
