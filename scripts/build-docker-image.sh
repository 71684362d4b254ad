#!/usr/bin/env bash
# Build the systemd-capable Debian base images the Molecule scenarios use, without any
# registry: debootstrap a minbase rootfs from the host's Debian mirror and `docker import` it.
# One image per suite: bookworm -> pgmigrate/debian12-systemd:latest (PostgreSQL 15),
# trixie -> pgmigrate/debian13-systemd:latest (PostgreSQL 17). An existing image is reused
# (a second or so) unless --force is given.
#
# Usage: scripts/build-docker-image.sh [--force] [--suite bookworm|trixie]... [--help]
#   Without --suite: every suite above.
# Environment:
#   IMAGE            image name (only with a single --suite; default as above)
#   DEBIAN_MIRROR    Debian mirror URL (default: taken from the host's apt sources)
#   SECURITY_MIRROR  Debian security mirror URL (default: taken from the host's apt sources)
#   BUILD_TMPDIR     parent of the temporary build dir (default /var/tmp: /tmp may be noexec)
set -euo pipefail

# Suite -> image name. Debian's own PostgreSQL: 15 in bookworm, 17 in trixie.
declare -A SUITE_IMAGES=(
    [bookworm]=pgmigrate/debian12-systemd:latest
    [trixie]=pgmigrate/debian13-systemd:latest
)
ALL_SUITES=(bookworm trixie)
# Only what Ansible and systemd need; roles install everything else themselves.
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps
# Units that fail or only make noise in a container.
MASKED_UNITS=(
    getty.target console-getty.service getty@tty1.service
    systemd-logind.service systemd-timesyncd.service
    apt-daily.service apt-daily.timer apt-daily-upgrade.service apt-daily-upgrade.timer
)

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=false
suites=()

log() { printf 'build-docker-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --force) force=true ;;
        --suite)
            [[ $# -ge 2 && -n ${SUITE_IMAGES[$2]:-} ]] || { usage >&2; die "--suite needs one of: ${ALL_SUITES[*]}"; }
            suites+=("$2")
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

[[ ${#suites[@]} -gt 0 ]] || suites=("${ALL_SUITES[@]}")
[[ -z ${IMAGE:-} || ${#suites[@]} -eq 1 ]] || die "IMAGE names one image: give it with a single --suite"

"${script_dir}/ensure-dockerd.sh"

# Print the URI of the first host apt source (deb822 stanza or one-line entry) that
# serves suite $1. Written without pipes so pipefail cannot trip on an early exit.
host_mirror_for_suite() {
    local suite="$1" file uri=""
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -r ${file} && -z ${uri} ]] || continue
        uri="$(awk -v suite="${suite}" '
            function flush() {
                if (!found && uri != "" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
                    print uri; found = 1
                }
                uri = ""; suites = ""; types = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^URIs:/   { uri = $2 }
            /^Suites:/ { $1 = ""; suites = $0 }
            /^Types:/  { $1 = ""; types = $0 }
            END { flush() }
        ' "${file}")"
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r ${file} && -z ${uri} ]] || continue
        uri="$(awk -v suite="${suite}" '!found && $1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) { print $i; found = 1 }
        }' "${file}")"
    done
    printf '%s\n' "${uri}"
}

# Build image $2 from suite $1. Runs in a subshell: its cleanup trap and lock end with it.
build_image() (
    local suite="$1" image="$2" mirror security_mirror workdir rootfs old_id new_id size start
    mirror="${DEBIAN_MIRROR:-$(host_mirror_for_suite "${suite}")}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    security_mirror="${SECURITY_MIRROR:-$(host_mirror_for_suite "${suite}-security")}"
    security_mirror="${security_mirror:-http://deb.debian.org/debian-security}"
    log "image:           ${image}"
    log "mirror:          ${mirror}"
    log "security mirror: ${security_mirror}"

    if ! command -v debootstrap >/dev/null 2>&1; then
        log "debootstrap not found: installing it with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
    fi

    # Serialise concurrent builds: both would import the same tag.
    lock_dir=/run/lock
    [[ -d ${lock_dir} && -w ${lock_dir} ]] || lock_dir="${BUILD_TMPDIR:-/var/tmp}"
    exec 9>"${lock_dir}/pgmigrate-build-docker-image.lock"
    if ! flock -n 9; then
        log "another build is running: waiting for it"
        flock 9
        if [[ ${force} == false ]] && docker image inspect "${image}" >/dev/null 2>&1; then
            log "image ${image} was built meanwhile: reusing it"
            exit 0
        fi
    fi

    workdir="$(mktemp -d "${BUILD_TMPDIR:-/var/tmp}/pgmigrate-image.XXXXXX")"
    rootfs="${workdir}/rootfs"
    cleanup() {
        # A failed debootstrap can leave proc/sys mounted inside the rootfs: unmount them
        # (deepest first) before deleting, and never let rm cross into another filesystem.
        local mnt
        while read -r mnt; do
            umount -l "${mnt}" 2>/dev/null || true
        done < <(awk -v p="${workdir}/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r)
        rm -rf --one-file-system "${workdir}"
    }
    trap cleanup EXIT

    start=${SECONDS}
    log "debootstrap --variant=minbase ${suite} into ${rootfs} (this takes about a minute)"
    debootstrap --variant=minbase --include="${PACKAGES}" "${suite}" "${rootfs}" "${mirror}" \
        >"${workdir}/debootstrap.log" 2>&1 || {
        tail -n 30 "${workdir}/debootstrap.log" >&2
        [[ -f ${rootfs}/debootstrap/debootstrap.log ]] && tail -n 30 "${rootfs}/debootstrap/debootstrap.log" >&2
        die "debootstrap failed"
    }
    log "debootstrap done after $((SECONDS - start)) s"

    log "configuring the rootfs for systemd in a container"
    # Same mirrors as the host: containers reach them over the docker bridge.
    rm -f "${rootfs}/etc/apt/sources.list"
    cat >"${rootfs}/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: ${mirror}
Suites: ${suite} ${suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${security_mirror}
Suites: ${suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

    # Empty machine-id: systemd generates a fresh one per container at boot.
    : >"${rootfs}/etc/machine-id"
    rm -f "${rootfs}/var/lib/dbus/machine-id"
    # Without a UTF-8 locale initdb creates SQL_ASCII clusters.
    printf 'LANG=C.UTF-8\n' >"${rootfs}/etc/default/locale"

    for unit in "${MASKED_UNITS[@]}"; do
        ln -sfn /dev/null "${rootfs}/etc/systemd/system/${unit}"
    done

    # Small image; deleting the lists also forces roles to run apt-get update. Backdate the
    # lists dir: the apt module judges cache freshness by its mtime and would skip the update.
    rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/*.bin \
        "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/periodic/*
    mkdir -p "${rootfs}/var/lib/apt/lists/partial"
    touch -d @0 "${rootfs}/var/lib/apt/lists"
    # Docker provides these at run time.
    : >"${rootfs}/etc/resolv.conf"
    rm -f "${rootfs}/etc/hostname"

    # dockerd 20.10 rejects STOPSIGNAL in --change: scenarios set stop_signal: SIGRTMIN+3 themselves.
    old_id="$(docker image inspect --format '{{.Id}}' "${image}" 2>/dev/null || true)"
    log "docker import -> ${image}"
    tar --numeric-owner -C "${rootfs}" -c . | docker import \
        --change 'CMD ["/lib/systemd/systemd"]' \
        --change 'ENV container=docker' \
        --change 'ENV LANG=C.UTF-8' \
        --message "debootstrap --variant=minbase ${suite} from ${mirror}" \
        - "${image}" >/dev/null
    new_id="$(docker image inspect --format '{{.Id}}' "${image}")"
    # --force leaves the previous image dangling: drop it unless a container still uses it.
    if [[ -n ${old_id} && ${old_id} != "${new_id}" ]]; then
        docker image rm "${old_id}" >/dev/null 2>&1 || log "old image ${old_id} still in use: kept"
    fi

    size="$(docker image inspect --format '{{.Size}}' "${image}")"
    log "built ${image} (${new_id:7:12}, $((size / 1024 / 1024)) MiB) in $((SECONDS - start)) s"
)

for suite in "${suites[@]}"; do
    image="${IMAGE:-${SUITE_IMAGES[${suite}]}}"
    if [[ ${force} == false ]] && docker image inspect "${image}" >/dev/null 2>&1; then
        log "image ${image} already exists: reusing it (--force rebuilds)"
        continue
    fi
    [[ ${EUID} -eq 0 ]] || die "must run as root (debootstrap needs chroot and device nodes)"
    build_image "${suite}" "${image}"
done
