#!/bin/bash
# What the dashboard costs: tiny_tasks_sum (10,000 chunks, 21,431 tasks) on one cluster
# of a scheduler and 2 workers x 1 thread, in rounds that alternate between the
# dashboard closed and the dashboard open (all five views polled once a second each, as
# five browser tabs do), then with the scheduler's task stream turned off
# (--task-stream-size 0). Prints the median seconds of each.
#
# Usage: bench/dashboard_overhead.sh [BIN_DIR (default build/bin)] [ROUNDS (default 10)] [REPEAT (default 5)]
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
bin=${1:-build/bin}
rounds=${2:-10}
repeat=${3:-5}
[[ -x "$bin/rsdat-scheduler" && -x "$bin/rsdat-worker" && -x "$bin/rsdat-bench" ]] ||
  { echo "dashboard_overhead: no rsdat-scheduler, rsdat-worker and rsdat-bench in $bin" >&2; exit 2; }
dir=$(mktemp -d /tmp/rsdat-dashboard-bench-XXXXXX)
pids=()
poller=""
cleanup() {
  [[ -n "$poller" ]] && kill "$poller" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

start_cluster() {  # extra scheduler flags
  rm -f "$dir/scheduler.json"
  "$bin/rsdat-scheduler" --scheduler-file "$dir/scheduler.json" --log-level warn "$@" > "$dir/scheduler.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -f "$dir/scheduler.json" ]] && break; sleep 0.05; done
  for w in 1 2; do
    "$bin/rsdat-worker" --scheduler-file "$dir/scheduler.json" --nthreads 1 --memory-limit 4GB \
      --local-directory "$dir" --log-level warn > "$dir/worker$w.log" 2>&1 &
    pids+=($!)
  done
}
stop_cluster() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
run() {  # seconds of each repeat, one per line
  "$bin/rsdat-bench" --scheduler-file "$dir/scheduler.json" --workload tiny_tasks_sum --repeat "$repeat" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["seconds"]) for l in sys.stdin if l.startswith("{")]'
}
poll() {  # the five views, once a second each, until killed
  local url base token
  url=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dashboard"])' "$dir/scheduler.json")
  base=${url%%/\?token=*}
  token=${url#*token=}
  while true; do
    for path in status.json api/task-stream.json api/progress.json api/memory.json api/graph.json; do
      curl -s -o /dev/null -H "Authorization: Bearer $token" "$base/$path" || true
    done
    sleep 1
  done
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

start_cluster
run > /dev/null  # warm up
: > "$dir/closed"; : > "$dir/open"
for r in $(seq "$rounds"); do
  run >> "$dir/closed"
  poll & poller=$!
  sleep 1.5  # the views are being built
  run >> "$dir/open"
  kill "$poller"; wait "$poller" 2>/dev/null || true; poller=""
  sleep 11  # no longer watched: the views stop being built
done
stop_cluster
start_cluster --task-stream-size 0
run > /dev/null
: > "$dir/off"
for r in $(seq "$rounds"); do run >> "$dir/off"; done
closed=$(median < "$dir/closed"); open=$(median < "$dir/open"); off=$(median < "$dir/off")
echo "tiny_tasks_sum median of $((rounds * repeat)) runs each:"
echo "  dashboard closed            $closed s"
echo "  dashboard open, polled      $open s   ($(awk -v a="$open" -v b="$closed" 'BEGIN{printf "%+.1f", 100*(a-b)/b}') %)"
echo "  no task stream (size 0)     $off s   ($(awk -v a="$off" -v b="$closed" 'BEGIN{printf "%+.1f", 100*(a-b)/b}') %)"
