#!/bin/bash
# What the dashboard costs: tiny_tasks_sum (10,000 chunks, 21,431 tasks) and noop_tasks
# (50,000 one-element chunks persisted: the no-op task rate) on clusters of a scheduler
# and 2 workers x 1 thread, all started at once and used in turn in each round (in an
# order that turns from round to round): the dashboard closed; the same cluster with the
# dashboard open (all five views polled once a second each over one kept connection, the
# task stream for what is new, as the pages do); a cluster whose scheduler keeps no task
# stream (--task-stream-size 0); and, with BASELINE_BIN_DIR set, a cluster of other
# binaries (those of the commit before, say). Prints the median and the fastest run of
# each (and tasks per second for noop_tasks), and the scheduler's event-loop busy
# seconds (its /metrics) per workload with the dashboard closed and open. WORKLOADS
# picks the workloads (default "tiny_tasks_sum noop_tasks").
#
# Usage: bench/dashboard_overhead.sh [BIN_DIR (default build/bin)] [ROUNDS (default 10)] [REPEAT (default 5)]
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
bin=${1:-build/bin}
rounds=${2:-10}
repeat=${3:-5}
baseline=${BASELINE_BIN_DIR:-}
workloads=${WORKLOADS:-tiny_tasks_sum noop_tasks}
for b in "$bin" $baseline; do
  [[ -x "$b/rsdat-scheduler" && -x "$b/rsdat-worker" && -x "$b/rsdat-bench" ]] ||
    { echo "dashboard_overhead: no rsdat-scheduler, rsdat-worker and rsdat-bench in $b" >&2; exit 2; }
done
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

start_cluster() {  # name, binaries, extra scheduler flags
  local name=$1 b=$2
  shift 2
  mkdir -p "$dir/$name"
  "$b/rsdat-scheduler" --scheduler-file "$dir/$name/scheduler.json" --log-level warn "$@" > "$dir/$name/scheduler.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -f "$dir/$name/scheduler.json" ]] && break; sleep 0.05; done
  for w in 1 2; do
    "$b/rsdat-worker" --scheduler-file "$dir/$name/scheduler.json" --nthreads 1 --memory-limit 4GB \
      --local-directory "$dir/$name" --log-level warn > "$dir/$name/worker$w.log" 2>&1 &
    pids+=($!)
  done
}
run() {  # name, binaries, workload: the seconds of each repeat, one a line
  "$2/rsdat-bench" --scheduler-file "$dir/$1/scheduler.json" --workload "$3" --repeat "$repeat" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["seconds"]) for l in sys.stdin if l.startswith("{")]'
}
poll() {  # the five views of cluster `name`, once a second each as the pages do, until killed
  exec /usr/bin/python3 - "$dir/$1/scheduler.json" "$dir/times/polls" <<'PY'  # exec: killing the job stops it
import http.client, json, re, sys, time, urllib.parse
url = urllib.parse.urlparse(json.load(open(sys.argv[1]))["dashboard"])
token = urllib.parse.parse_qs(url.query)["token"][0]
conn = http.client.HTTPConnection(url.hostname, url.port)  # one connection, kept, as a browser's
after = 0
while True:
    for path in ["/status.json", "/api/task-stream.json?seconds=60&after=%d" % after, "/api/progress.json",
                 "/api/memory.json", "/api/graph.json"]:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        body = conn.getresponse().read()
        if path.startswith("/api/task-stream"):  # "next" is near the start: no need to parse it all here
            after = int(re.search(rb'"next":(\d+)', body[:200]).group(1))
    with open(sys.argv[2], "a") as f:  # one line per round of the five
        f.write("%d\n" % len(body))
    time.sleep(1)
PY
}
busy() {  # the scheduler's event-loop busy seconds so far, of cluster `name` (/metrics)
  local url base token
  url=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dashboard"])' "$dir/$1/scheduler.json")
  base=${url%%/\?token=*}
  token=${url#*token=}
  sleep 0.6  # the metrics are published twice a second
  curl -s -H "Authorization: Bearer $token" "$base/metrics" | awk '/^rsdat_scheduler_event_loop_busy_seconds_total /{print $2}'
}
measured() {  # name, binaries, workload, times file, busy file: a run, and the loop's busy seconds per workload
  local b0 b1
  b0=$(busy "$1")
  run "$1" "$2" "$3" >> "$dir/times/$4"
  b1=$(busy "$1")
  awk -v a="$b0" -v b="$b1" -v n="$repeat" 'BEGIN{print (b-a)/n}' >> "$dir/times/$5"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
least() { sort -g | head -1; }

start_cluster main "$bin"
start_cluster nostream "$bin" --task-stream-size 0
[[ -n "$baseline" ]] && start_cluster baseline "$baseline"
mkdir -p "$dir/times"; : > "$dir/times/polls"
for w in $workloads; do
  run main "$bin" "$w" > /dev/null  # warm up
  run nostream "$bin" "$w" > /dev/null
  [[ -n "$baseline" ]] && run baseline "$baseline" "$w" > /dev/null
  for f in closed open nostream baseline busy-closed busy-open; do : > "$dir/times/$w-$f"; done
done
closed_runs() {  # workload, round: the clusters without a dashboard open, in an order that turns each round
  local order=(main nostream) k
  [[ -n "$baseline" ]] && order+=(baseline)
  for k in $(seq 0 $((${#order[@]} - 1))); do
    case ${order[$(((k + $2) % ${#order[@]}))]} in
      main) measured main "$bin" "$1" "$1-closed" "$1-busy-closed" ;;
      nostream) run nostream "$bin" "$1" >> "$dir/times/$1-nostream" ;;
      baseline) run baseline "$baseline" "$1" >> "$dir/times/$1-baseline" ;;
    esac
  done
}
for r in $(seq "$rounds"); do
  for w in $workloads; do closed_runs "$w" "$r"; done
  poll main & poller=$!
  sleep 1.5  # the views are being built
  for w in $workloads; do measured main "$bin" "$w" "$w-open" "$w-busy-open"; done
  kill "$poller"; wait "$poller" 2>/dev/null || true; poller=""
  sleep 11  # no longer watched: the views stop being built
done
polls=$(wc -l < "$dir/times/polls")
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%+.1f", 100*(a-b)/b}'; }
for w in $workloads; do
  closed=$(median < "$dir/times/$w-closed")
  least_closed=$(least < "$dir/times/$w-closed")
  row() {  # label, times file: median and fastest, each against the dashboard closed
    local m l rate=""
    m=$(median < "$dir/times/$2"); l=$(least < "$dir/times/$2")
    # noop_tasks persists 50,000 tasks (at scale 1): their rate at the median
    [[ "$w" == noop_tasks ]] && rate=$(awk -v m="$m" 'BEGIN{printf ", %.0f tasks/s", 50000/m}')
    printf '  %-28s median %.4f s (%s %%), fastest %.4f s (%s %%)%s\n' "$1" "$m" "$(pct "$m" "$closed")" "$l" \
      "$(pct "$l" "$least_closed")" "$rate"
  }
  echo "$w, median of $((rounds * repeat)) runs each ($polls polls of the five views while open, all workloads):"
  row "dashboard closed" "$w-closed"
  row "dashboard open, polled" "$w-open"
  row "no task stream (size 0)" "$w-nostream"
  if [[ -n "$baseline" ]]; then row "$baseline" "$w-baseline"; fi
  bc=$(median < "$dir/times/$w-busy-closed"); bo=$(median < "$dir/times/$w-busy-open")
  printf "  the scheduler's event loop busy per workload (median): closed %.4f s, open %.4f s (%s %%)\n" "$bc" "$bo" \
    "$(pct "$bo" "$bc")"
done
