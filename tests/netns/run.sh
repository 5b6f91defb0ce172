#!/usr/bin/env bash
# Several hosts for real, on one machine: the scheduler, three workers and a client each
# in a Linux network namespace of its own, with its own address on a private network
# (10.213.0.0/24) that exists only inside these namespaces, joined by a bridge in a
# "switch" namespace. Then, each with a pass/fail line:
#   1. the scheduler file carries the address of the interface given with --interface;
#      workers and the client on other hosts connect with the file alone; the result is
#      that of a LocalCluster, bit for bit;
#   2. a worker's link goes down in the middle of a computation: the scheduler drops the
#      worker after --worker-timeout, its tasks run elsewhere, the result is exact; when
#      the link is back the worker reads the scheduler's goodbye and exits (status 0);
#   3. partitions shorter than the worker timeout (a worker's link, the scheduler's,
#      then the client's, down for a second): no worker is lost, the result is exact;
#   4. delay and loss on every host's link (netem delay 1ms loss 0.5%; where the kernel
#      has no netem, 0.5% of packets dropped by nftables and no delay): the result is
#      exact; the wall time is printed beside the undisturbed run's (no timed assertion).
# Everything it creates (namespaces named rsdat-PID-*, processes, files) is removed on
# exit, on failure or on a signal; every wait is bounded.
# Usage: tests/netns/run.sh BIN_DIR   (as root)
set -euo pipefail

fail() {
  echo "netns: FAIL: $*" >&2
  exit 1
}
[[ $# -eq 1 ]] || fail "usage: $0 BIN_DIR"
[[ $(id -u) -eq 0 ]] || fail "must run as root: it creates network namespaces (ip netns add); CI runs it as root"
command -v ip >/dev/null || fail "needs ip from iproute2 (scripts/install-deps.sh installs it)"
command -v setpriv >/dev/null || fail "needs setpriv from util-linux"
bin=$(cd "$1" && pwd)
for p in rsdat-scheduler rsdat-worker rsdat-bench rsdat-status; do
  [[ -x "$bin/$p" ]] || fail "$bin/$p is not built"
done

# matmul of two 3000 x 3000 float64 arrays in 1000 x 1000 chunks: a few seconds here.
scale=${RSDAT_NETNS_SCALE:-0.06}
worker_timeout=5
id=rsdat-$$
hosts=(sched w1 w2 w3 client)
declare -A addr=([sched]=10.213.0.1 [w1]=10.213.0.2 [w2]=10.213.0.3 [w3]=10.213.0.4 [client]=10.213.0.5)
dir=$(mktemp -d "/tmp/$id-XXXXXX")
sfile=$dir/scheduler.json
pids=()
declare -A pid
watchdog=""

alive() {  # PID: running (an exited child not yet waited for is a zombie, not running)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Waits for PID (already ended, or bounded by its own means) and takes it off the list the
# clean-up kills, so that a pid the system hands out again is never signalled.
reap() {  # PID: returns its exit status
  local p status=0 kept=()
  wait "$1" || status=$?
  for p in "${pids[@]}"; do [[ "$p" == "$1" ]] || kept+=("$p"); done
  pids=("${kept[@]}")
  return "$status"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "$watchdog" ]]; then
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local any=""
    for p in "${pids[@]}"; do alive "$p" && any=1; done
    [[ -z "$any" ]] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for h in "${hosts[@]}" sw; do ip netns del "$id-$h" 2>/dev/null || true; done
  if [[ $status -ne 0 ]]; then
    for log in "$dir"/*.log; do
      [[ -f "$log" ]] || continue
      echo "--- $log (last lines)"
      tail -n 15 "$log"
    done
  fi
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "netns: FAIL: interrupted" >&2; exit 1' INT TERM
# Bounded as a whole, below the CTest timeout, so that the clean-up always runs.
# It ends by itself as soon as the script is gone (it is then no longer its parent).
(
  for _ in $(seq 200); do
    sleep 1
    [[ "$(awk '{print $4}' "/proc/$BASHPID/stat")" == "$$" ]] || exit 0
  done
  echo "netns: FAIL: took over 200 s" >&2
  kill -TERM $$
) &
watchdog=$!

# Namespaces and files left by a run that was killed outright (its pid gone; its
# daemons died with it).
for ns in $(ip netns list | awk '{print $1}' | grep -E '^rsdat-[0-9]+-(sw|sched|w1|w2|w3|client)$' || true); do
  owner=${ns#rsdat-}
  owner=${owner%%-*}
  [[ -d /proc/$owner ]] || ip netns del "$ns" 2>/dev/null || true
done
for old in /tmp/rsdat-[0-9]*-??????; do
  [[ -f "$old/scheduler.key" || -f "$old/reference.json" ]] || continue  # one of these runs' directories
  owner=${old#/tmp/rsdat-}
  owner=${owner%%-*}
  [[ -d /proc/$owner ]] || rm -rf "$old"
done

# ---- the network: a bridge in the switch namespace, a veth pair per host ----
ip netns add "$id-sw" || fail "cannot create a network namespace (ip netns add): is this a container without CAP_SYS_ADMIN?"
ip -n "$id-sw" link set lo up
ip -n "$id-sw" link add br0 type bridge
ip -n "$id-sw" link set br0 up
for h in "${hosts[@]}"; do
  ip netns add "$id-$h"
  ip -n "$id-$h" link set lo up
  ip -n "$id-sw" link add "$h" type veth peer name eth0 netns "$id-$h"
  ip -n "$id-sw" link set "$h" master br0 up
  ip -n "$id-$h" addr add "${addr[$h]}/24" dev eth0
  ip -n "$id-$h" link set eth0 up
done

# start NAME HOST PROGRAM ARGS...: in HOST's namespace, output to NAME.log; killed if this
# script dies without its clean-up (SIGKILL from outside).
start() {
  local name=$1 host=$2
  shift 2
  ip netns exec "$id-$host" setpriv --pdeathsig KILL -- "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  pid[$name]=$!
}
start_worker() {  # NAME HOST
  mkdir -p "$dir/$1-spill"
  start "$1" "$2" "$bin/rsdat-worker" --scheduler-file "$sfile" --nthreads 1 --memory-limit 1GB --name "$1" \
    --local-directory "$dir/$1-spill"
}
on_client() { ip netns exec "$id-client" timeout 120 "$@"; }
# Workers the scheduler counts, asked from the client host.
count_workers() {
  on_client "$bin/rsdat-status" --scheduler-file "$sfile" --timeout 10 | sed -n 's/.*: \([0-9]*\) workers,.*/\1/p'
}
wait_workers() {  # N SECONDS
  local deadline=$((SECONDS + $2))
  while [[ $SECONDS -lt $deadline ]]; do
    [[ "$(count_workers)" == "$1" ]] && return 0
    sleep 0.2
  done
  return 1
}
wait_log() {  # FILE PATTERN SECONDS
  local deadline=$((SECONDS + $3))
  while [[ $SECONDS -lt $deadline ]]; do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# Tasks queued plus chunks held by worker NAME, as the scheduler counts them.
work_on() {
  on_client "$bin/rsdat-status" --scheduler-file "$sfile" --timeout 10 |
    awk -v w="$1" '$1 == w { print $(NF - 1) + $NF }'
}
# Waits (bounded) until worker NAME holds or runs something of the computation PID runs.
wait_busy() {  # NAME PID
  local deadline=$((SECONDS + 30))
  while [[ $SECONDS -lt $deadline ]] && alive "$2"; do
    [[ "$(work_on "$1")" -gt 0 ]] 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# The matmul workload from the client host: its JSON line goes to NAME.json.
declare -A started
bench_start() {  # NAME
  started[$1]=$(date +%s.%N)
  ip netns exec "$id-client" setpriv --pdeathsig KILL -- "$bin/rsdat-bench" --scheduler-file "$sfile" \
    --workload matmul --scale "$scale" >"$dir/$1.json" 2>"$dir/$1.log" &
  pids+=($!)
  pid[$1]=$!
}
bench_wait() {  # NAME: sets check to its result
  reap "${pid[$1]}" || fail "$1: rsdat-bench failed: $(cat "$dir/$1.json" "$dir/$1.log")"
  check=$(field "$1" check)
  [[ -n "$check" ]] || fail "$1: no check in $(cat "$dir/$1.json")"
}
field() {  # NAME KEY
  sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$dir/$1.json"
}
pass() { echo "netns: PASS: $*"; }
# Whether the computation of run NAME was still going at time T (date +%s.%N): its start
# here plus its duration as it measured it is no later than its real end.
ran_past() {  # NAME T
  awk -v s="${started[$1]}" -v d="$(field "$1" seconds)" -v t="$2" 'BEGIN { exit !(s + d > t) }'
}

# ---- 1. the scheduler on its interface's address; workers and client by the file ----
echo "netns: matmul at scale $scale; reference on a LocalCluster of 3 workers (ipc, this host)"
RSDAT_BIN_DIR=$bin timeout 120 "$bin/rsdat-bench" --workers 3 --threads 1 --memory-limit 1GB --workload matmul \
  --scale "$scale" >"$dir/reference.json" 2>"$dir/reference.log" || fail "the LocalCluster run failed: $(cat "$dir/reference.log")"
reference=$(field reference check)
[[ -n "$reference" ]] || fail "no check in the reference run: $(cat "$dir/reference.json")"

start scheduler sched "$bin/rsdat-scheduler" --interface eth0 --port 0 --scheduler-file "$sfile" \
  --worker-timeout "$worker_timeout" --dashboard-port -1
for w in w1 w2 w3; do start_worker "$w" "$w"; done
for _ in $(seq 100); do [[ -s "$sfile" ]] && break; sleep 0.1; done
[[ -s "$sfile" ]] || fail "the scheduler wrote no scheduler file within 10 s"
address=$(sed -n 's/.*"address": *"\([^"]*\)".*/\1/p' "$sfile")
[[ "$address" =~ ^tcp://${addr[sched]//./\\.}:[0-9]+$ ]] ||
  fail "case 1: the scheduler file's address is '$address', not eth0's ${addr[sched]} in the scheduler's namespace"
wait_workers 3 30 || fail "case 1: the scheduler does not count 3 workers within 30 s"
for w in w1 w2 w3; do
  grep -q "worker $w joined: 1 threads at tcp://${addr[$w]}:" "$dir/scheduler.log" ||
    fail "case 1: worker $w did not join from its own address ${addr[$w]}"
done
bench_start undisturbed
bench_wait undisturbed
[[ "$check" == "$reference" ]] || fail "case 1: result $check, the LocalCluster's $reference"
undisturbed_seconds=$(field undisturbed seconds)
pass "case 1: scheduler file names $address (eth0 of host sched); 3 workers on their own hosts and a client" \
  "connected by the file alone; matmul check $check equals the LocalCluster's"

# ---- 2. a worker's link goes down in the middle of a computation ----
bench_start lost
wait_busy w1 "${pid[lost]}" || fail "case 2: w1 got no work before the computation ended (raise RSDAT_NETNS_SCALE)"
ip -n "$id-w1" link set eth0 down
down_at=$SECONDS
wait_log "$dir/scheduler.log" "worker w1 left: no heartbeat" $((worker_timeout + 15)) ||
  fail "case 2: the scheduler did not drop w1 within $((worker_timeout + 15)) s of its link going down"
dropped_at=$(date +%s.%N)
noticed=$((SECONDS - down_at))
bench_wait lost
ran_past lost "$dropped_at" ||
  fail "case 2: the computation ended before w1 was dropped: not in the middle (raise RSDAT_NETNS_SCALE)"
[[ "$check" == "$reference" ]] || fail "case 2: result $check after losing w1, undisturbed $reference"
[[ "$(count_workers)" == 2 ]] || fail "case 2: the scheduler does not count 2 workers with w1 cut off"
ip -n "$id-w1" link set eth0 up
up_at=$SECONDS
for _ in $(seq 300); do alive "${pid[w1]}" || break; sleep 0.1; done
alive "${pid[w1]}" && fail "case 2: w1 still runs 30 s after its link came back"
w1_status=0
reap "${pid[w1]}" || w1_status=$?
[[ $w1_status -eq 0 ]] || fail "case 2: w1 exited with status $w1_status"
grep -q "scheduler says goodbye: lost: no heartbeat" "$dir/w1.log" ||
  fail "case 2: w1 exited without the scheduler's goodbye"
pass "case 2: w1 cut off mid-computation, dropped after ${noticed} s (timeout ${worker_timeout} s), result exact;" \
  "with its link back it read the scheduler's goodbye and exited with status 0 within $((SECONDS - up_at)) s"

# A new worker on host w1 for the rest.
mv "$dir/w1.log" "$dir/w1-first.log"
start_worker w1 w1
wait_workers 3 30 || fail "a new worker on host w1 did not join within 30 s"

# ---- 3. partitions shorter than the worker timeout ----
partition() {  # NAME WHAT-TO-CUT (switch-end port) WORKER-THAT-MUST-BE-BUSY
  bench_start "$1"
  wait_busy "$3" "${pid[$1]}" || fail "case 3: $3 got no work before the computation ended (raise RSDAT_NETNS_SCALE)"
  ip -n "$id-sw" link set "$2" down
  sleep 1
  ip -n "$id-sw" link set "$2" up
  local healed_at
  healed_at=$(date +%s.%N)
  bench_wait "$1"
  ran_past "$1" "$healed_at" ||
    fail "case 3: the computation ended before $2's cut healed: not across it (raise RSDAT_NETNS_SCALE)"
  [[ "$check" == "$reference" ]] || fail "case 3: result $check with $2 cut off for 1 s, undisturbed $reference"
  local lost
  lost=$(tail -n "+$((mark + 1))" "$dir/scheduler.log" | grep "worker .* left" || true)
  [[ -z "$lost" ]] || fail "case 3: a worker was lost in a 1 s partition of $2: $lost"
  [[ "$(count_workers)" == 3 ]] || fail "case 3: the scheduler does not count 3 workers after $2's partition"
  for w in w1 w2 w3; do alive "${pid[$w]}" || fail "case 3: worker $w exited after $2's partition"; done
}
mark=$(wc -l <"$dir/scheduler.log")  # only what the scheduler says from here on counts
partition short-worker w2 w2
partition short-scheduler sched w3
partition short-client client w1
pass "case 3: w2's link, the scheduler's, then the client's, cut for 1 s mid-computation (under the" \
  "${worker_timeout} s timeout): no worker lost, results exact"

# ---- 4. delay and loss on every host's link ----
if ip netns exec "$id-sched" tc qdisc add dev eth0 root netem delay 1ms loss 0.5% 2>/dev/null; then
  for h in w1 w2 w3 client; do ip netns exec "$id-$h" tc qdisc add dev eth0 root netem delay 1ms loss 0.5%; done
  impairment="netem delay 1ms loss 0.5% on every host's link"
  dropped() {  # packets netem dropped on every host's link
    local h n=0
    for h in "${hosts[@]}"; do
      n=$((n + $(ip netns exec "$id-$h" tc -s qdisc show dev eth0 | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -1)))
    done
    echo "$n"
  }
elif command -v nft >/dev/null; then
  for h in "${hosts[@]}"; do
    ip netns exec "$id-$h" nft -f - <<'EOF'
table inet rsdat_loss {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "eth0" numgen random mod 1000 < 5 counter drop
  }
}
EOF
  done
  impairment="0.5% of packets dropped on every host's link (nftables; this kernel has no netem, so no delay)"
  dropped() {  # packets nftables dropped on every host's link
    local h n=0
    for h in "${hosts[@]}"; do
      n=$((n + $(ip netns exec "$id-$h" nft list chain inet rsdat_loss out | sed -n 's/.*packets \([0-9]*\).*/\1/p')))
    done
    echo "$n"
  }
else
  fail "case 4: this kernel has no netem qdisc and nft (Debian package nftables) is missing for the loss fallback"
fi
bench_start impaired
bench_wait impaired
[[ "$check" == "$reference" ]] || fail "case 4: result $check under $impairment, undisturbed $reference"
lost_packets=$(dropped)
[[ "$lost_packets" -gt 0 ]] || fail "case 4: no packet was dropped: the loss did not apply"
pass "case 4: $impairment ($lost_packets packets dropped): result exact; wall time $(field impaired seconds) s," \
  "undisturbed $undisturbed_seconds s"
echo "netns: all cases passed in $SECONDS s"
