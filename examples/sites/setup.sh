#!/usr/bin/env bash
# Build one real third-party Django site on SQLite, the way its operator would: its own venv
# from its pinned requirements, its own migrations, data created through its own models
# (the site's seed command), static files collected. Optionally serve it with gunicorn.
#
#   examples/sites/setup.sh NAME                 build (cheap when already built)
#   examples/sites/setup.sh NAME --serve PORT    build, then start gunicorn on 127.0.0.1:PORT
#   examples/sites/setup.sh NAME --stop          stop the gunicorn started by --serve
#   examples/sites/setup.sh NAME --reset         stop it and remove its data (the venv and seed.tar stay)
#
# Everything lives in $PGMIGRATE_SITES_DIR/NAME (default .cache/sites/NAME in the repository):
#   venv/  app/ (a copy of examples/sites/NAME)  data/db.sqlite3  media/  static/  run/
#   site.env  the site's environment (what a systemd unit's EnvironmentFile= would hold):
#             DATABASE_URL, DJANGO_SETTINGS_MODULE, DJANGO_SECRET_KEY, ... (mode 0600)
# The site reads its settings from its environment only; it knows nothing of pgmigrate.
set -euo pipefail

usage() { echo "usage: $0 NAME [--serve PORT | --stop | --reset]" >&2; exit 2; }
[ $# -ge 1 ] || usage
name=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
site=$here/$name
[ -f "$site/site.conf" ] || { echo "unknown site '$name': $site/site.conf does not exist" >&2; exit 2; }
# SITE_SETTINGS (settings module), SITE_WSGI (wsgi module), SITE_SEED (seed command line).
# shellcheck source=/dev/null
. "$site/site.conf"
work=${PGMIGRATE_SITES_DIR:-$repo/.cache/sites}/$name
python=${PYTHON:-python3}
# pip downloads and built wheels are kept between builds (and between CI runs that cache .cache/).
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$repo/.cache/pip}

stop() {
    local pid_file=$work/run/gunicorn.pid
    if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        kill -TERM "$(cat "$pid_file")"
        for _ in $(seq 1 50); do kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
        echo "$name: stopped"
    fi
}

case "${1:-}" in
    --stop) stop; exit 0 ;;
    --reset)
        stop
        [ -d "$work" ] && find "$work" -mindepth 1 -maxdepth 1 ! -name venv ! -name seed.tar ! -name seed.key -exec rm -rf {} +
        echo "$name: data removed from $work"
        exit 0
        ;;
    --serve) [ $# -eq 2 ] || usage; port=$2 ;;
    "") port= ;;
    *) usage ;;
esac

mkdir -p "$work"/{data,media,static,run}
chmod 0700 "$work"

# 1. The venv, rebuilt only when the pinned requirements change.
if ! cmp -s "$site/requirements.txt" "$work/venv/.requirements.txt"; then
    rm -rf "$work/venv"
    "$python" -m venv "$work/venv"
    # (pip.conf here names local find-links that may be absent: their warnings are noise)
    "$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$site/requirements.txt" 2>&1 |
        (grep -v "^WARNING: Location .* is ignored" || true)
    cp "$site/requirements.txt" "$work/venv/.requirements.txt"
fi

# 2. The code: a copy, so that nothing a migration writes next to it lands in the repository.
mkdir -p "$work/app"
(cd "$site" && tar --exclude=__pycache__ --exclude=site.conf --exclude=pgmigrate.yml -cf - .) | (cd "$work/app" && tar -xf -)

# 3. The environment: SQLite until a migration rewrites DATABASE_URL.
if [ ! -f "$work/site.env" ]; then
    (
        umask 077
        printf '%s\n' \
            "DJANGO_SETTINGS_MODULE=$SITE_SETTINGS" \
            "DJANGO_SECRET_KEY=$(head -c 30 /dev/urandom | base64 | tr -d '/+=')" \
            "DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost" \
            "DATABASE_URL=sqlite:///$work/data/db.sqlite3" \
            "MEDIA_ROOT=$work/media" \
            "STATIC_ROOT=$work/static" >"$work/site.env"
    )
fi
set -a
# shellcheck source=/dev/null
. "$work/site.env"
set +a

# 4. Migrations, seed data and static files, once. The result is kept as seed.tar (kept by --reset)
#    and unpacked instead while the venv and the site's files are unchanged: a new try starts from
#    the same freshly built site in seconds.
cd "$work/app"
if [ ! -f "$work/data/.seeded" ]; then
    key=$( (cat "$work/venv/.requirements.txt"; cd "$site" && find . -type f ! -path '*/__pycache__/*' -print0 |
        sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
    if [ -f "$work/seed.tar" ] && [ "$(cat "$work/seed.key" 2>/dev/null)" = "$key" ]; then
        tar -C "$work" -xf "$work/seed.tar"
        echo "$name: unpacked the site built earlier on SQLite ($work/seed.tar)"
    else
        start=$(date +%s)
        "$work/venv/bin/python" manage.py migrate --noinput -v0
        # shellcheck disable=SC2086  # SITE_SEED is a command line
        "$work/venv/bin/python" manage.py $SITE_SEED
        "$work/venv/bin/python" manage.py collectstatic --noinput -v0
        touch "$work/data/.seeded"
        (umask 077 && tar -C "$work" -cf "$work/seed.tar" data media static && echo "$key" >"$work/seed.key")
        echo "$name: built on SQLite in $(($(date +%s) - start)) s: $work/data/db.sqlite3"
    fi
fi

# 5. Serve.
if [ -n "$port" ]; then
    stop
    "$work/venv/bin/gunicorn" --daemon --workers=2 --bind="127.0.0.1:$port" \
        --pid="$work/run/gunicorn.pid" --error-logfile="$work/run/gunicorn.log" "$SITE_WSGI"
    for _ in $(seq 1 100); do
        code=$(curl -sL -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)  # a shop may redirect /
        case "$code" in 2??) echo "$name: http://127.0.0.1:$port/ answers $code"; exit 0 ;; esac
        sleep 0.3
    done
    echo "$name: http://127.0.0.1:$port/ did not answer 2xx (last: $code); see $work/run/gunicorn.log" >&2
    exit 1
fi
