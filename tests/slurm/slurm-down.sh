#!/usr/bin/env bash
# Stops what slurm-up.sh started in DIR (by the pids it recorded) and removes DIR.
# Usage: tests/slurm/slurm-down.sh DIR [--keep]
set -uo pipefail
dir=$1
[[ -d "$dir" ]] || exit 0
if [[ -f "$dir/env" ]]; then
  # shellcheck disable=SC1091
  source "$dir/env"
  scancel --user="$(id -un)" 2>/dev/null || true
fi
for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
done
[[ "${2:-}" == "--keep" ]] || rm -rf "$dir"
