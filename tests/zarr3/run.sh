#!/bin/sh
# The Zarr v3 interoperability test: installs zarrita from package-lock.json (npm ci,
# only when the lock changed since the last install), then runs the test binary.
#   tests/zarr3/run.sh BUILD/tests/zarr3_interop_test [gtest options]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.rsdat-lock" 2>/dev/null; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$here/node_modules/.rsdat-lock"
fi
exec "$@"
