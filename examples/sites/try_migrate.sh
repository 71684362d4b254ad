#!/usr/bin/env bash
# Try the collection's migrate.yml on a real third-party site, as a new user would: the site is
# built and serving on SQLite (setup.sh), a database and its two roles are provisioned in the
# local PostgreSQL, and migrate.yml runs with an inventory of variables only. No patch to the
# playbook, no change to the site.
#
#   examples/sites/try_migrate.sh NAME PORT [fresh]   prepare, then migrate.yml
#   examples/sites/try_migrate.sh NAME PORT prepare   fresh site data serving on SQLite, a new database
#                                                     and its roles, the inventory
#   examples/sites/try_migrate.sh NAME PORT migrate   migrate.yml again, same inventory
#   examples/sites/try_migrate.sh NAME PORT rollback  rollback.yml, same inventory
#   examples/sites/try_migrate.sh NAME PORT check     check_copy.yml: consistency_check of the site's
#                                                     SQLite file against its PostgreSQL copy
#   examples/sites/try_migrate.sh NAME PORT cleanup   stop the site, drop its database and roles
#
# The inventory ($work/inventory/): hosts.yml holds what every site needs (paths, database, how
# the app is started); group_vars/all/site.yml is examples/sites/NAME/pgmigrate.yml, what this site
# needs besides (Wagtail: a table to exclude, a command to run after the load). The site's
# environment file (site.env, what a systemd unit's EnvironmentFile= holds) is pgmigrate_app_env_file.
# PGMIGRATE_ENGINE (copy, the collection's default, or pgloader) chooses the engine.
#
# Output: $work/logs/<n>-<action>.log (the full -vv run) and the recap line; exit status = the playbook's.
# Needs: `make deps postgres` (the repository's .venv, PostgreSQL on 127.0.0.1:5432), root (runuser).
set -euo pipefail

usage() { echo "usage: $0 NAME PORT [fresh|prepare|migrate|rollback|check|cleanup]" >&2; exit 2; }
[ $# -ge 2 ] || usage
name=$1
port=$2
action=${3:-fresh}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${PGMIGRATE_SITES_DIR:-$repo/.cache/sites}/$name
db=pgm_site_$name
owner=${db}_owner
app_user=${db}_app
[ -f "$here/$name/site.conf" ] || { echo "unknown site '$name'" >&2; exit 2; }

psql_postgres() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }

drop_database() {
    psql_postgres -d postgres <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db';
DROP DATABASE IF EXISTS $db;
DROP ROLE IF EXISTS $owner;
DROP ROLE IF EXISTS $app_user;
SQL
}

# An empty database owned by a role that runs the migrations, and a DML-only app role, as
# provision.yml would make them (passwords only in a 0600 vars file).
provision_database() {
    drop_database
    local owner_password app_password
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
}

# The inventory: variables only. Every key of the site's environment is in site.env; the
# collection passes them to every manage.py it runs and to the app it starts.
write_inventory() {
    # shellcheck source=/dev/null
    . "$here/$name/site.conf"
    rm -rf "$work/inventory"
    mkdir -p "$work/inventory/group_vars/all"
    cp "$here/$name/pgmigrate.yml" "$work/inventory/group_vars/all/site.yml"
    cat >"$work/inventory/hosts.yml" <<YAML
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
    pgmigrate_engine: ${PGMIGRATE_ENGINE:-copy}
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
    pgmigrate_app_health_url: http://127.0.0.1:$port/
    pgmigrate_app_health_retries: 20
    pgmigrate_app_health_delay: 1
    pgmigrate_report_dir: $work/reports
YAML
}

run_playbook() {
    local playbook=$1 log rc
    export ANSIBLE_COLLECTIONS_PATH=$repo/build/collections ANSIBLE_HOME=$repo/.cache/ansible
    # Each task's duration in the log, and the slowest at the end.
    export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=15
    mkdir -p "$repo/build/collections/ansible_collections/pgmigrate" "$work/logs"
    # One log per run, numbered: 1-fresh.log, 2-migrate.log, 3-rollback.log, ...
    log=$work/logs/$(($(find "$work/logs" -name '*.log' | wc -l) + 1))-$action.log
    ln -sfn "$repo" "$repo/build/collections/ansible_collections/pgmigrate/django"
    set +e
    "$repo/.venv/bin/ansible-playbook" -i "$work/inventory" -e "@$work/secrets.yml" -vv \
        "$playbook" >"$log" 2>&1
    rc=$?
    set -e
    echo "$name: $(basename "$playbook") rc=$rc (log: $log)"
    grep -E '^localhost +:' "$log" | tail -1 || true
    [ "$rc" -eq 0 ] || grep -E '^(fatal|failed):' -A3 "$log" | cut -c1-2000 | head -40 || true
    return "$rc"
}

case "$action" in
    cleanup)
        "$here/setup.sh" "$name" --stop
        drop_database
        exit 0
        ;;
    prepare | fresh)
        # A fresh site on SQLite, serving (the venv is kept between tries).
        "$here/setup.sh" "$name" --reset >/dev/null
        "$here/setup.sh" "$name" --serve "$port"
        provision_database
        write_inventory
        [ "$action" = prepare ] || run_playbook "$repo/playbooks/migrate.yml"
        ;;
    migrate) run_playbook "$repo/playbooks/migrate.yml" ;;
    rollback) run_playbook "$repo/playbooks/rollback.yml" ;;
    check) run_playbook "$here/check_copy.yml" ;;
    *) usage ;;
esac
