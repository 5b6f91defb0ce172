#!/usr/bin/env bash
# Runs the SLURM tests: a one-node SLURM (slurm-up.sh) for the duration of the test
# program, stopped and removed afterwards whatever happens.
# Usage: tests/slurm/run.sh TEST-PROGRAM [gtest options]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/rsdat-slurm-XXXXXX)
trap '"$here/slurm-down.sh" "$dir"' EXIT
"$here/slurm-up.sh" "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/env"
export RSDAT_SLURM_TEST_DIR="$dir/home"
mkdir -p "$RSDAT_SLURM_TEST_DIR"
status=0
"$@" || status=$?
if [[ $status -ne 0 ]]; then
  for log in "$dir"/home/*/logs/*.log "$dir"/log/slurmctld.log; do
    [[ -f "$log" ]] || continue
    echo "--- $log (last lines)"
    tail -n 15 "$log"
  done
fi
exit "$status"
