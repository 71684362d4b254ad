#!/usr/bin/env bash
# Make sure a Docker daemon answers on this machine (Molecule's docker driver needs one).
# Idempotent: returns at once when `docker info` already works; otherwise installs
# docker.io if dockerd is missing, starts dockerd in the background and waits for it.
#
# Environment:
#   DOCKERD_WAIT_SECONDS  how long to wait for the daemon to answer (default 60)
#   DOCKERD_LOG           where dockerd's output goes (default /var/log/dockerd.log)
set -euo pipefail

wait_seconds="${DOCKERD_WAIT_SECONDS:-60}"
log_file="${DOCKERD_LOG:-/var/log/dockerd.log}"

log() { printf 'ensure-dockerd: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run as root directly, otherwise through sudo (apt-get and dockerd need root).
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

docker_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

if docker_answers; then
    log "dockerd already running"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    log "dockerd/docker not found: installing docker.io with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io
fi

# A dockerd may already be starting (e.g. a concurrent call): only start one if none runs.
if pgrep -x dockerd >/dev/null 2>&1; then
    log "a dockerd process exists but does not answer yet: waiting for it"
else
    log "starting dockerd in the background (log: ${log_file})"
    # No systemd on this machine: run dockerd detached, immune to the caller's hangup.
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh, on purpose
    as_root sh -c 'nohup dockerd >>"$1" 2>&1 </dev/null &' sh "${log_file}"
fi

for ((i = 0; i < wait_seconds; i++)); do
    if docker_answers; then
        log "dockerd answers after ${i} s"
        exit 0
    fi
    sleep 1
done

log "last lines of ${log_file}:"
tail -n 20 "${log_file}" >&2 2>/dev/null || true
die "dockerd did not answer within ${wait_seconds} s (see ${log_file})"
