#!/usr/bin/env bash
# Installs the build into a fresh prefix, then builds examples/standalone against it
# twice (CMake's find_package and pkg-config), runs both on a local cluster of the
# installed daemons, and compiles every installed public header on its own.
# Usage: tests/install/run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
prefix=$(mktemp -d /tmp/rsdat-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/rsdat-scheduler bin/rsdat-worker bin/rsdat-slurm lib/librsdat_client.a include/rsdat/rsdat.hpp \
         lib/cmake/rsdat/rsdatConfig.cmake lib/pkgconfig/rsdat.pc share/rsdat/slurm/rsdat-worker.sbatch; do
  [[ -e "$prefix/$f" ]] || { echo "install: $f is missing"; exit 1; }
done

# The daemons a LocalCluster starts come from the prefix, not from the build tree.
unset RSDAT_BIN_DIR
export PATH="$prefix/bin:$PATH"

cmake -S "$src/examples/standalone" -B "$prefix/app-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$prefix/app-build" >/dev/null
"$prefix/app-build/rsdat-standalone"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -O1 -o "$prefix/app-pc" "$src/examples/standalone/main.cpp" $(pkg-config --cflags --libs rsdat)
"$prefix/app-pc"

# Each public header compiles alone with nothing but the prefix and xtensor.
for h in "$prefix"/include/rsdat/*.hpp; do
  # shellcheck disable=SC2046
  echo "#include <rsdat/$(basename "$h")>" | g++ -std=c++20 -fsyntax-only -x c++ - -I"$prefix/include" \
    $(pkg-config --cflags xtensor) || { echo "install: $(basename "$h") does not compile on its own"; exit 1; }
done
# ---- the Python module, when it was built: imports from the prefix and computes on a
# local cluster of the installed daemons ----
for pkg in "$prefix"/lib/python3*/dist-packages; do
  [[ -d "$pkg/rsdat" ]] || continue
  (cd "$prefix" && PYTHONPATH="$pkg" /usr/bin/python3 -c '
import rsdat, rsdat.array as da
with rsdat.LocalCluster(n_workers=1) as c, rsdat.Client(c):
    assert da.arange(10, chunks=3).sum().compute() == 45
') || { echo "install: the Python module does not work from the prefix"; exit 1; }
done
# ---- end of the Python module ----
echo "install: ok"
