"""What the Python module adds: the latency of a tiny computation, and the
throughput of gathering a large result into a numpy array (one chunk: the
received buffer itself; many chunks: one placing copy), for rsdat and, when
installed, dask.distributed on the same machine.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--no-dask]

With --kernels PLUGIN (the built tests/plugins library, build/tests/librsdat_test_ops.so),
the cost per task of a Python kernel (bench/python_kernels.py, loaded by the workers with
--python-kernels) beside the same kernel as a C++ plugin op, over many small blocks, and
dask's map_blocks of the same function.
"""

import argparse
import os
import time

import numpy as np


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times), sorted(times)[len(times) // 2]


def run(name, da, compute_one, n=8192):
    tiny = da.ones(10, chunks=5)
    lo, med = best(lambda: compute_one(tiny.sum()), 50)
    print(f"{name:6s} tiny compute (ones(10).sum()): best {lo * 1e3:.2f} ms, median {med * 1e3:.2f} ms")
    for chunks in ((n, n // 4), (n // 8, n // 4)):  # 128 MiB in 1 and in 8 chunks
        # random, not ones: dask's ones are a broadcast scalar that travels as a few bytes
        x = da.random.random((n, n // 4), chunks=chunks)
        lo, med = best(lambda: compute_one(x), 5)
        mb = x.nbytes / 2**20
        print(f"{name:6s} gather {mb:.0f} MiB in {x.npartitions} chunk(s): best {lo:.3f} s "
              f"({mb / lo:.0f} MiB/s), median {med:.3f} s")


def kernels(plugin, no_dask, sizes=((4096, 1024), (256, 131072))):
    """Time per task of map_blocks(...).sum() with a Python kernel, with the same C++ op,
    and with dask's map_blocks: the median of five runs, over n blocks of `block` float64
    values, divided by n (8 KiB blocks, which workers run in batches, and 1 MiB ones)."""
    import rsdat
    import rsdat.array as rda
    here = os.path.dirname(os.path.abspath(__file__))
    inputs = [(np.random.default_rng(0).uniform(size=n * block), block) for n, block in sizes]
    with rsdat.LocalCluster(n_workers=2, threads_per_worker=1, worker_plugins=[plugin],
                            python_kernels=[os.path.join(here, "python_kernels.py")]) as cluster, \
            rsdat.Client(cluster):
        for x_np, block in inputs:
            n = x_np.size // block
            x = rda.from_array(x_np, chunks=block).persist()
            for name in ("test_add_one", "py_add_one"):
                y = rsdat.map_blocks(name, x, dtype="float64").sum()
                assert abs(float(y.compute()) - (x_np.sum() + x_np.size)) < 1e-6 * x_np.size
                _, med = best(lambda: y.compute(), 5)
                kind = "C++ plugin op" if name.startswith("test_") else "Python kernel"
                print(f"rsdat  {kind:16s} ({name:12s}): {med * 1e6 / n:7.1f} us per task, "
                      f"{n} blocks of {block * 8 // 1024} KiB", flush=True)
    if no_dask:
        return
    import dask.array as dda
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        for x_np, block in inputs:
            n = x_np.size // block
            x = client.persist(dda.from_array(x_np, chunks=block))
            y = x.map_blocks(lambda b: b + 1.0, dtype="float64").sum()
            _, med = best(lambda: y.compute(), 5)
            print(f"dask   Python function  (map_blocks  ): {med * 1e6 / n:7.1f} us per task, "
                  f"{n} blocks of {block * 8 // 1024} KiB", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-dask", action="store_true", help="time rsdat only")
    p.add_argument("--kernels", metavar="PLUGIN", help="time Python kernels beside the C++ plugin PLUGIN")
    args = p.parse_args()
    if args.kernels:
        kernels(args.kernels, args.no_dask)
        return
    import rsdat
    import rsdat.array as rda
    with rsdat.LocalCluster(n_workers=2, threads_per_worker=1) as cluster, rsdat.Client(cluster):
        run("rsdat", rda, lambda a: a.compute())
    if args.no_dask:
        return
    try:
        import dask.array as dda
        from distributed import Client, LocalCluster
    except ImportError:
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, \
            Client(cluster):
        run("dask", dda, lambda a: a.compute())


if __name__ == "__main__":
    main()
