#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need; a second run installs nothing.
set -euo pipefail
packages=(
    python3 python3-venv          # the controller's virtualenv (pyenv machines have it built in)
    postgresql postgresql-client  # the local target of the demo and of the integration tests
    pgloader sqlite3              # the load engine and the source's own CLI
    docker.io debootstrap         # Molecule: Docker engine and the registry-free base image
    python3-psycopg2              # modules run as the postgres user with the system Python
    lsof procps git rsync
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
