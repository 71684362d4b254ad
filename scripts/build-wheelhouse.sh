#!/usr/bin/env bash
# Wheels of the demo app's requirements for Molecule's app container: it installs them with
# `pip --no-index`, so the container needs no route to PyPI. Reused when up to date.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
requirements=$repo/examples/demo_app/requirements.txt
wheels=$repo/build/wheels
stamp=$wheels/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
rm -rf "$wheels"
mkdir -p "$wheels"
# The containers run Debian 12's Python 3.11 on x86_64: the same wheel tags as the venv here.
"$repo/.venv/bin/pip" download --quiet --disable-pip-version-check --only-binary=:all: \
    --dest "$wheels" -r "$requirements"
echo "$want" > "$stamp"
echo "wheelhouse: $(find "$wheels" -name "*.whl" | wc -l) wheels in $wheels"
