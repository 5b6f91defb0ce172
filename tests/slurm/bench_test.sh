#!/usr/bin/env bash
# The benchmark suite on SLURM, under the one-node SLURM of tests/slurm/run.sh:
# `rsdat-slurm bench 2` with two small workloads must write the table of
# bench/compare-dask in which both sides ran on worker jobs of this SLURM: the job ids it
# names are jobs squeue saw running under the bench's job names on the node it names,
# whose own logs say they ran that daemon, and the workers each scheduler saw are those
# jobs' (worker-ID, dask-worker-ID); the checks agree; no job is left afterwards. Bad
# input is refused before anything is submitted.
#
# Environment (tests/CMakeLists.txt sets it): SLURM_CONF and RSDAT_SLURM_TEST_DIR from
# run.sh, RSDAT_SLURM (deploy/slurm/rsdat-slurm), RSDAT_BIN_DIR (build/bin).
# Usage: tests/slurm/run.sh tests/slurm/bench_test.sh
set -euo pipefail
for k in SLURM_CONF RSDAT_SLURM_TEST_DIR RSDAT_SLURM RSDAT_BIN_DIR; do
  [[ -n "${!k:-}" ]] || { echo "bench_test: $k is not set (run through tests/slurm/run.sh, as ctest does)" >&2; exit 2; }
done
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

name=bt$$
dir=$RSDAT_SLURM_TEST_DIR/$name
mkdir -p "$dir"
out=$dir/table.txt
rsdat_slurm() {
  RSDAT_SLURM_CONFIG=/dev/null "$RSDAT_SLURM" --name "$name" --scheduler-file "$dir/scheduler.json" \
    --bin "$RSDAT_BIN_DIR" --cpus 1 --memory 1G --walltime 00:10:00 --scheduler-walltime 00:10:00 --timeout 120 "$@"
}

# Refused before any job: no number, a remote workload, an unknown one, bad sizes.
for bad in "bench" "bench 0" "bench two" "bench 2 --workload remote_zarr_mean" "bench 2 --workload no_such_workload" \
           "bench 2 --scale -1" "bench 2 --threads 0" "bench 2 --memory lots"; do
  status=0
  # shellcheck disable=SC2086
  rsdat_slurm $bad >"$dir/bad.out" 2>&1 || status=$?
  [[ $status -eq 2 ]] || fail "'rsdat-slurm $bad' exited with $status, expected 2: $(cat "$dir/bad.out")"
  [[ -z "$(squeue -h -o %i)" ]] || fail "'rsdat-slurm $bad' left jobs: $(squeue -h -o '%i %j')"
done
rsdat_slurm --help | grep -q '^  bench N' || fail "--help does not describe bench"

# What SLURM itself says ran: every job of the bench's names, sampled while it runs.
seen=$dir/squeue.txt
: > "$seen"
(
  for _ in $(seq 1 1200); do  # at most 10 minutes
    squeue -h --name="$name-bench-scheduler,$name-bench-worker,$name-bench-dask-scheduler,$name-bench-dask-worker" \
      --states=RUNNING -o '%i %j %N' >> "$seen" 2>/dev/null || true
    [[ -f "$dir/done" ]] && break
    sleep 0.5
  done
) &
watcher=$!

status=0
rsdat_slurm bench 2 --workload tiny_tasks_sum,x_plus_xT_mean --scale 0.01 --output "$out" > "$dir/bench.out" 2>&1 || status=$?
touch "$dir/done"
wait "$watcher" || true
[[ $status -eq 0 ]] || fail "rsdat-slurm bench exited with $status"
if [[ ! -s "$out" ]]; then
  fail "no table in $out"
  cat "$dir/bench.out"
  exit 1
fi
echo "--- $out"
cat "$out"

for w in tiny_tasks_sum x_plus_xT_mean; do
  grep -Eq "^$w +[0-9.]+ +[0-9.]+ +[0-9.]+ .* agree " "$out" || fail "no line for $w with both times and agreeing checks"
done
[[ $(grep -c '"workers":2' "$out") -eq 2 ]] || fail "rsdat-bench did not see 2 workers in each workload"
node=$(hostname -s)

# LABEL SCHEDULER-KIND WORKER-KIND WORKER-PREFIX DAEMON: the header line of one side.
check_side() {
  local label=$1 sched_kind=$2 worker_kind=$3 prefix=$4 daemon=$5 line ids id jnode
  line=$(grep "^# ${label}[ :]" "$out" || true)
  [[ -n "$line" ]] || { fail "no '# $label' line"; return; }
  id=$(sed -n 's/.*scheduler job \([0-9]*\) on \([^;]*\);.*/\1 \2/p' <<<"$line")
  read -r id jnode <<<"$id"
  [[ -n "$id" ]] || { fail "$label: no scheduler job id in '$line'"; return; }
  grep -q "^$id $name-bench-$sched_kind $jnode\$" "$seen" || fail "$label: scheduler job $id on $jnode was not seen running as $name-bench-$sched_kind"
  grep -q "^$daemon-scheduler job $id on $node" "$dir/logs/$name-bench-$sched_kind-$id.log" 2>/dev/null ||
    fail "$label: the log of scheduler job $id does not say it ran $daemon-scheduler"
  ids=$(grep -o "[0-9]* on [^ ]* ($prefix-[0-9]* at [^)]*)" <<<"$line" || true)
  [[ $(grep -c . <<<"$ids") -eq 2 ]] || { fail "$label: not 2 worker jobs each seen by its scheduler: '$line'"; return; }
  while read -r id _ jnode wname _; do
    [[ "$wname" == "($prefix-$id" ]] || fail "$label: worker job $id's worker is named ${wname#(}"
    [[ "$jnode" == "$node" ]] || fail "$label: worker job $id on '$jnode', not on $node"
    grep -q "^$id $name-bench-$worker_kind $jnode\$" "$seen" || fail "$label: worker job $id was not seen running as $name-bench-$worker_kind"
    grep -q "^$daemon-worker job $id on $node" "$dir/logs/$name-bench-$worker_kind-$id.log" 2>/dev/null ||
      fail "$label: the log of worker job $id does not say it ran $daemon-worker"
  done <<<"$ids"
}
check_side rsdat scheduler worker worker rsdat
check_side dask dask-scheduler dask-worker dask-worker dask

left=$(squeue -h --name="$name-bench-scheduler,$name-bench-worker,$name-bench-dask-scheduler,$name-bench-dask-worker" -o '%i %j %T')
[[ -z "$left" ]] || fail "jobs left after the bench: $left"
[[ -z "$(find "$dir" -maxdepth 1 -name "$name-bench-*" -type d)" ]] || fail "the bench's scratch directory was not removed"

if (( failures > 0 )); then
  echo "--- rsdat-slurm bench's output"
  cat "$dir/bench.out"
  echo "bench_test: $failures failures" >&2
  exit 1
fi
echo "bench_test: passed"
