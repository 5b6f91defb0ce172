#!/usr/bin/python3
"""rsdat driven from its Python module: the workloads of rsdat-bench that
bench/compare-dask also times through the C++ client (tiny_tasks_sum,
x_plus_xT_mean, ndvi_zarr), written as a dask.array user writes them, on a
rsdat.LocalCluster of the same workers, threads and memory limit.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_peer.py [--only NAME,...]

Prints one line per workload as bench/dask_peer.py does: name, seconds, check=
(the same generators and seeds as rsdat-bench, so the checks agree with its
exactly).
"""
import argparse
import os
import shutil
import tempfile
import time

WORKLOADS = ("tiny_tasks_sum", "x_plus_xT_mean", "ndvi_zarr")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads (others are ignored)")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    import rsdat
    import rsdat.array as da

    s = a.scale
    tmp = tempfile.mkdtemp(prefix="rsdat-python-peer-")

    def tiny():
        n = int(10000 * s)
        return float(da.ones(n * 100, chunks=100).sum().compute())

    def xxt():
        m = int(20000 * s ** 0.5) // 2000 * 2000
        x = da.random.RandomState(0).random_sample((m, m), chunks=(2000, 2000))
        return float((x + x.T).mean(axis=0).sum().compute())

    def ndvi():
        t, y = 32, max(1024, int(4096 * s ** 0.5) // 1024 * 1024)
        store = os.path.join(tmp, "cube.zarr")
        red = da.random.RandomState(3).random_sample((t, y, y), chunks=(8, 1024, 1024), dtype="float32")
        nir = da.random.RandomState(4).random_sample((t, y, y), chunks=(8, 1024, 1024), dtype="float32")
        da.to_zarr(red, store, "red")
        da.to_zarr(nir, store, "nir")
        r, n_ = da.from_zarr(store, "red"), da.from_zarr(store, "nir")
        da.to_zarr(((n_ - r) / (n_ + r)).mean(axis=0), store, "ndvi_mean")
        return float(da.from_zarr(store, "ndvi_mean").sum().compute())

    runs = {"tiny_tasks_sum": tiny, "x_plus_xT_mean": xxt, "ndvi_zarr": ndvi}
    try:
        with rsdat.LocalCluster(n_workers=a.workers, threads_per_worker=a.threads, memory_limit=a.memory_limit,
                                local_directory=tmp) as cluster, rsdat.Client(cluster):
            for name in a.only.split(","):
                if name not in runs:
                    continue
                t0 = time.perf_counter()
                v = runs[name]()
                print(f"{name:24s} {time.perf_counter() - t0:8.3f} s  check={v}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
