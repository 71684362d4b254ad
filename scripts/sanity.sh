#!/usr/bin/env bash
# Runs `ansible-test sanity` on a copy of the collection. No ignore files: the house rule.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# A venv of its own: --requirements installs ansible-test's pinned sanity tools (pylint, ...) there.
venv=${SANITY_VENV:-$repo/.venv-sanity}
# Outside the repository: inside it, ansible-test asks git and skips ignored or untracked paths.
work=${PGMIGRATE_SANITY_DIR:-${TMPDIR:-/tmp}/pgmigrate-sanity}
dest=$work/ansible_collections/pgmigrate/django

if [ ! -x "$venv/bin/ansible-test" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$(grep '^ansible-core==' "$repo/requirements-dev.txt")"
fi

# ansible-test bootstraps pip in its own venvs with a script from a host we cannot reach; its
# message says to save the script in its cache instead: ours runs ensurepip + pip install.
pip_version=$("$venv/bin/python" - <<'PY'
import inspect
from ansible_test._internal import python_requirements as pr
import re
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(pr.get_venv_packages)).group(1))
PY
)
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
cp "$repo/scripts/ansible-test-get-pip.py" "$cache/get_pip_${pip_version//./_}.py"

rm -rf "$dest"
mkdir -p "$dest"
# The same exclusions as galaxy.yml's build_ignore: sanity checks what ships.
tar -C "$repo" --exclude=./.venv --exclude=./.venv-sanity --exclude=./.git --exclude=./build \
    --exclude=./.cache --exclude=./.ansible --exclude=./.pytest_cache --exclude='__pycache__' \
    --exclude='*.pyc' --exclude='./examples/demo_app/db.sqlite3*' --exclude=./benchmarks/results \
    --exclude=./tests/output -cf - . | tar -C "$dest" -xf -
if ls "$dest"/tests/sanity/ignore-*.txt >/dev/null 2>&1; then
    echo "tests/sanity/ignore-*.txt exists: the house rule is no ignore entries" >&2
    exit 1
fi
cd "$dest"
PATH=$venv/bin:$PATH "$venv/bin/ansible-test" sanity --requirements --python 3.11 --color no "$@"
