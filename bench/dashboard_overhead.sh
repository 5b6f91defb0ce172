#!/bin/bash
# What the dashboard costs: tiny_tasks_sum (10,000 chunks, 21,431 tasks) on clusters of
# a scheduler and 2 workers x 1 thread, all started at once and used in turn in each
# round (in an order that turns from round to round): the dashboard closed; the same
# cluster with the dashboard open (all five views polled once a second each over one
# kept connection, the task stream for what is new, as the pages do); a cluster whose
# scheduler keeps no task stream (--task-stream-size 0); and, with BASELINE_BIN_DIR set,
# a cluster of other binaries (those of the commit before, say). Prints the median and
# the fastest run of each, and the scheduler's event-loop busy seconds (its /metrics)
# per workload with the dashboard closed and open.
#
# Usage: bench/dashboard_overhead.sh [BIN_DIR (default build/bin)] [ROUNDS (default 10)] [REPEAT (default 5)]
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
bin=${1:-build/bin}
rounds=${2:-10}
repeat=${3:-5}
baseline=${BASELINE_BIN_DIR:-}
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
run() {  # name, binaries: the seconds of each repeat, one a line
  "$2/rsdat-bench" --scheduler-file "$dir/$1/scheduler.json" --workload tiny_tasks_sum --repeat "$repeat" 2>/dev/null |
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
measured() {  # name, binaries, times file, busy file: a run, and the loop's busy seconds per workload
  local b0 b1
  b0=$(busy "$1")
  run "$1" "$2" >> "$dir/times/$3"
  b1=$(busy "$1")
  awk -v a="$b0" -v b="$b1" -v n="$repeat" 'BEGIN{print (b-a)/n}' >> "$dir/times/$4"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
least() { sort -g | head -1; }

start_cluster main "$bin"
start_cluster nostream "$bin" --task-stream-size 0
[[ -n "$baseline" ]] && start_cluster baseline "$baseline"
run main "$bin" > /dev/null  # warm up
run nostream "$bin" > /dev/null
[[ -n "$baseline" ]] && run baseline "$baseline" > /dev/null
mkdir -p "$dir/times"; : > "$dir/times/closed"; : > "$dir/times/open"; : > "$dir/times/nostream"; : > "$dir/times/baseline"; : > "$dir/times/polls"
closed_runs() {  # the clusters without a dashboard open, in an order that turns each round
  local order=(main nostream) k
  [[ -n "$baseline" ]] && order+=(baseline)
  for k in $(seq 0 $((${#order[@]} - 1))); do
    case ${order[$(((k + $1) % ${#order[@]}))]} in
      main) measured main "$bin" closed busy-closed ;;
      nostream) run nostream "$bin" >> "$dir/times/nostream" ;;
      baseline) run baseline "$baseline" >> "$dir/times/baseline" ;;
    esac
  done
}
for r in $(seq "$rounds"); do
  closed_runs "$r"
  poll main & poller=$!
  sleep 1.5  # the views are being built
  measured main "$bin" open busy-open
  kill "$poller"; wait "$poller" 2>/dev/null || true; poller=""
  sleep 11  # no longer watched: the views stop being built
done
closed=$(median < "$dir/times/closed")
least_closed=$(least < "$dir/times/closed")
polls=$(wc -l < "$dir/times/polls")
pct() { awk -v a="$1" -v b="${2:-$closed}" 'BEGIN{printf "%+.1f", 100*(a-b)/b}'; }
row() {  # label, times file: median and fastest, each against the dashboard closed
  local m l
  m=$(median < "$dir/times/$2"); l=$(least < "$dir/times/$2")
  printf '  %-28s median %.4f s (%s %%), fastest %.4f s (%s %%)\n' "$1" "$m" "$(pct "$m")" "$l" "$(pct "$l" "$least_closed")"
}
echo "tiny_tasks_sum, median of $((rounds * repeat)) runs each ($polls polls of the five views while open):"
row "dashboard closed" closed
row "dashboard open, polled" open
row "no task stream (size 0)" nostream
if [[ -n "$baseline" ]]; then row "$baseline" baseline; fi
bc=$(median < "$dir/times/busy-closed"); bo=$(median < "$dir/times/busy-open")
printf "the scheduler's event loop busy per workload (median): closed %.4f s, open %.4f s (%s %%)\n" "$bc" "$bo" \
  "$(pct "$bo" "$bc")"
