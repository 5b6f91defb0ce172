#!/usr/bin/env bash
# Fuzzes the decoders of untrusted bytes (the daemons' messages, Zarr metadata and
# chunks, the scheduler, key and allowed-keys files): builds the libFuzzer targets
# with clang and AddressSanitizer (in build-fuzz/), checks that every input kept under
# tests/fuzz/regressions/ passes, then runs each target for a bounded time on a seed
# corpus of valid inputs. A crash, or one allocation over 128 MB (a small input
# must not expand into a huge one), fails the run and leaves its input in
# build-fuzz/crash-TARGET-*; fix it and keep the input as a regression.
# Usage: scripts/fuzz.sh [SECONDS per target, default 30]
set -euo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=$(nproc)

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRSDAT_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j "$jobs" --target rsdat-fuzz-scheduler rsdat-fuzz-worker rsdat-fuzz-zarr rsdat-fuzz-zarr3 rsdat-fuzz-config \
  rsdat-fuzz-seeds

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bin/rsdat-fuzz-seeds" "$work/seeds"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=64
for target in scheduler worker zarr zarr3 config; do
  fuzzer="$build/bin/rsdat-fuzz-$target"
  regressions="$root/tests/fuzz/regressions/$target"
  if compgen -G "$regressions/*" >/dev/null; then
    echo "fuzz $target: $(ls "$regressions" | wc -l) regression inputs"
    "$fuzzer" -rss_limit_mb=2048 -malloc_limit_mb=128 "$regressions"/* 2>&1 | tail -n 2
  fi
  mkdir -p "$work/corpus-$target"
  echo "fuzz $target: ${seconds} s from $(ls "$work/seeds/$target" | wc -l) seeds"
  "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=128 -max_len=65536 -timeout=20 \
    -artifact_prefix="$build/crash-$target-" -print_final_stats=1 \
    "$work/corpus-$target" "$work/seeds/$target" >"$work/log-$target" 2>&1 || {
    tail -n 60 "$work/log-$target"
    echo "fuzz $target: FAILED; the input is in $build/crash-$target-*" >&2
    exit 1
  }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$work/log-$target" | tr '\n' ' '
  echo
done
