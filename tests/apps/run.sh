#!/usr/bin/env bash
# make test-apps: tests/apps/test_real_sites.py once per site, the sites side by side (each has
# its own port, work directory, database and run lock; most of a migration waits on a stop, a
# start or a health check, so two sites take little longer than one). Output per site in
# .cache/sites/NAME.pytest.log, shown at the end; exit status 0 only when every site passed.
#
#   tests/apps/run.sh [SITE...]      default: $TEST_APPS or every examples/sites/*/site.conf
# Environment: TEST_APPS_PORT (base port, 18600), PGMIGRATE_ENGINE (copy | pgloader),
#              TEST_APPS_SERIAL=1 (one site after the other), PYTEST_ARGS.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
read -r -a sites <<<"${*:-${TEST_APPS:-$(cd examples/sites && ls -d -- */site.conf | cut -d/ -f1 | tr '\n' ' ')}}"
mkdir -p .cache/sites
start=$(date +%s)
pids=()
failed=()
for site in "${sites[@]}"; do
    # shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
    PGMIGRATE_TEST_APPS=1 TEST_APPS=$site .venv/bin/python -m pytest tests/apps -p no:cacheprovider -s \
        ${PYTEST_ARGS:-} >".cache/sites/$site.pytest.log" 2>&1 &
    if [ "${TEST_APPS_SERIAL:-0}" = 1 ]; then
        wait "$!" || failed+=("$site")
    else
        pids+=("$site:$!")
    fi
done
for entry in ${pids[@]+"${pids[@]}"}; do
    wait "${entry#*:}" || failed+=("${entry%%:*}")
done
for site in "${sites[@]}"; do
    echo "=== ${site} (.cache/sites/${site}.pytest.log)"
    cat ".cache/sites/$site.pytest.log"
done
elapsed=$(($(date +%s) - start))
if [ ${#failed[@]} -gt 0 ]; then
    echo "make test-apps: FAILED: ${failed[*]} (${elapsed} s)" >&2
    exit 1
fi
echo "make test-apps: ${sites[*]} (${PGMIGRATE_ENGINE:-copy}) passed in ${elapsed} s"
