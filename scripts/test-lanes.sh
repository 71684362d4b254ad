#!/usr/bin/env bash
# The steps of `make test` in parallel lanes: pytest waits on PostgreSQL and ansible-playbook, Molecule on
# Docker, so on two cores the lanes together take little more than the longest one. Each lane is a
# `make` of its steps in order; its output goes to .cache/test-logs/<lane>.log and is printed whole when
# the lane ends. Every lane runs to its end (a killed lane would leave its app processes behind); the
# exit code is non-zero when any lane failed.
# Usage: scripts/test-lanes.sh NAME="step step" [NAME="step ..."]...
set -uo pipefail

log_dir=${PGMIGRATE_TEST_LOG_DIR:-.cache/test-logs}
mkdir -p "$log_dir"
declare -A lane_pid lane_start
names=()

for spec in "$@"; do
  name=${spec%%=*}
  steps=${spec#*=}
  names+=("$name")
  lane_start[$name]=$(date +%s)
  # shellcheck disable=SC2086  # the steps are words on purpose
  make --no-print-directory $steps >"$log_dir/$name.log" 2>&1 &
  lane_pid[$name]=$!
  echo "test-lanes: lane $name started: make $steps (log: $log_dir/$name.log)"
done

# A line every five minutes, so that a CI log shows progress while the lanes run.
(
  while sleep 300; do
    for name in "${names[@]}"; do
      echo "test-lanes: $name: $(tail -n 1 "$log_dir/$name.log" 2>/dev/null | cut -c1-150)"
    done
  done
) &
heartbeat=$!
trap 'kill "$heartbeat" 2>/dev/null' EXIT

failed=()
for name in "${names[@]}"; do
  wait "${lane_pid[$name]}"
  rc=$?
  elapsed=$(( $(date +%s) - lane_start[$name] ))
  echo "::::::::: lane $name: output"
  cat "$log_dir/$name.log"
  if [ "$rc" -eq 0 ]; then
    echo "::::::::: lane $name passed in $elapsed s"
  else
    echo "::::::::: lane $name FAILED (rc $rc) after $elapsed s"
    failed+=("$name")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "test-lanes: failed lane(s): ${failed[*]} (logs in $log_dir/)" >&2
  exit 1
fi
