#!/usr/bin/env bash
# Installs the Debian 12 packages rsdat needs, and nothing when all are there.
# Usage: scripts/install-deps.sh [--with-python]   (python: zarr/dask peers for tests and bench)
set -euo pipefail

packages=(
  g++ make cmake pkg-config
  libzmq3-dev cppzmq-dev capnproto libcapnp-dev
  libeigen3-dev libtbb-dev libxtensor-dev libxsimd-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  libzstd-dev liblz4-dev libblosc-dev zlib1g-dev libstb-dev libcpp-httplib-dev libopenblas-dev
  libcurl4-openssl-dev libexpat1-dev lighttpd lighttpd-mod-webdav lighttpd-mod-openssl openssl
  clang libclang-rt-14-dev
  slurmctld slurmd slurm-client munge
  iproute2 nftables  # tests/netns: hosts in network namespaces; loss where the kernel has no netem
  libgdal-dev gdal-bin python3-gdal  # rasters (io/raster.cpp); python3-gdal makes the test files
  libnetcdf-dev libhdf5-dev  # NetCDF4/HDF5 reads and writes (rsdat/netcdf.hpp)
)
# tests/zarr3 (zarrita) and tests/s3 (s3rver) install their peers with npm ci on Node, the
# machine's own when it has one; Debian's nodejs lacks npm, other builds bundle it.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [[ "${1:-}" == "--with-python" ]]; then
  packages+=(python3 python3-numpy python3-zarr python3-numcodecs python3-dask
             python3-distributed python3-xarray python3-scipy libopenblas0-pthread
             python3-fsspec python3-aiohttp
             python3-rasterio python3-rioxarray  # the cog_ndvi peer
             python3-dev pybind11-dev python3-pytest  # the Python module and its tests
             prometheus  # promtool and a real server for the /metrics tests (about 100 MB)
             chromium)   # headless, for the dashboard's browser tests (about 300 MB)
  packages+=(python3-netcdf4)  # tests/netcdf: files written by netCDF4-python, read back by xarray
  # Jupyter on SLURM (rsdat-slurm jupyter) and examples/notebooks, run headless by nbconvert
  packages+=(jupyter-notebook jupyter-nbconvert python3-nbconvert python3-ipykernel python3-nbclient)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Installing the SLURM, munge and lighttpd packages must not start their system services: the
# tests run daemons of their own.
policy_added=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ -n "$policy_added" ]]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
