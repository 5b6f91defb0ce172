"""What the Python module adds: the latency of a tiny computation, and the
throughput of gathering a large result into a numpy array (one chunk: the
received buffer itself; many chunks: one placing copy), for rsdat and, when
installed, dask.distributed on the same machine.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--no-dask]
"""

import argparse
import time


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-dask", action="store_true")
    args = p.parse_args()
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
