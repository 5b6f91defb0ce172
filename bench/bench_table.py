#!/usr/bin/python3
"""The table of bench/compare-dask and `rsdat-slurm bench`: rsdat-bench's JSON lines beside
bench/dask_peer.py's lines (and bench/python_peer.py's), per workload the times, their
ratio, whether the checks agree, and what rsdat moved, spilled and held.

As a program it reads the three outputs from files and prints the table:

    bench/bench_table.py --workload NAME,... --scale S --rsdat FILE --dask FILE [--python FILE]
                         [--limits FILE]

It exits 1 when a workload failed on either side or the checks differ.
"""
import argparse
import json
import sys

# The workloads bench/python_peer.py knows.
PYTHON_WORKLOADS = {"tiny_tasks_sum", "x_plus_xT_mean", "ndvi_zarr"}
# The same inputs, but float32 sums in different orders: checks compared to a relative 1e-3.
RANDOM_INPUTS = {"x_plus_xT_mean", "matmul", "ndvi_zarr", "spill_2x_memory", "rechunk_timeseries",
                 "broadcast_anomaly", "masked_mean", "argmax_time", "cumsum_time",
                 "median_composite", "rolling_time",
                 "groupby_month",
                 "spring_index",
                 "cog_ndvi", "remote_zarr_mean"}


def limit_seconds(name, scale, limits):
    """The best time the machine allows for a workload, and what bounds it (or None)."""
    if not limits:
        return None
    if name == "x_plus_xT_mean":
        m = int(20000 * scale ** 0.5) // 2000 * 2000
        # x written once by its generator and read twice (x and x.T); the mean writes little.
        return 3 * m * m * 8 / (limits["triad_gbps"] * 1e9), "memory-bandwidth bound"
    if name == "matmul":
        k = int(8000 * scale ** (1 / 3)) // 1000 * 1000
        return 2 * k ** 3 / (limits["dgemm_gflops"] * 1e9), "single-process dgemm time"
    if name in ("broadcast_anomaly", "masked_mean", "argmax_time", "rolling_time"):
        y = max(1024, int(4096 * scale ** 0.5) // 1024 * 1024)
        inputs = 2 if name == "masked_mean" else 1
        # Each input cube (64 x y x y float32) read once.
        return inputs * 64 * y * y * 4 / (limits["triad_gbps"] * 1e9), "memory-bandwidth bound"
    if name == "cumsum_time":
        y = max(1024, int(4096 * scale ** 0.5) // 1024 * 1024)
        # The cube read twice (totals, then the scan), the scan written once and read once.
        return 4 * 64 * y * y * 4 / (limits["triad_gbps"] * 1e9), "memory-bandwidth bound"
    if name == "groupby_month":
        y = max(512, int(2048 * scale ** 0.5) // 512 * 512)
        # The daily cube (360 x y x y float32) read once.
        return 360 * y * y * 4 / (limits["triad_gbps"] * 1e9), "memory-bandwidth bound"
    return None


def parse_rsdat(text):
    """rsdat-bench's output: {workload: its JSON line} (the last repeat's)."""
    rsdat = {}
    for line in text.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            rsdat[d["name"]] = d
    return rsdat


def parse_peer(text):
    """bench/dask_peer.py's or bench/python_peer.py's output, lines of
    `NAME SECONDS s check=VALUE [peak_rss=A/B]`: {workload: (seconds, check, peak_rss text)}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "s" and parts[3].startswith("check="):
            peak = parts[4][len("peak_rss="):] if len(parts) > 4 and parts[4].startswith("peak_rss=") else ""
            out[parts[0]] = (float(parts[1]), float(parts[3][len("check="):]), peak)
    return out


def table(workloads, scale, rsdat, dask, python=None, limits=None):
    """The table's lines for `workloads` (names, in order) and whether every one ran on
    both sides with checks that agree: (lines, ok)."""
    python = python or {}
    ok = True
    lines = [f"{'workload':22s} {'rsdat s':>9s} {'dask s':>9s} {'dask/rsdat':>10s} {'python s':>9s} "
             f"{'python/rsdat':>12s}  checks  rsdat extra"]
    for name in workloads:
        rs = rsdat.get(name, {})
        ds = dask.get(name)
        if "skipped" in rs:
            lines.append(f"{name:22s} {'-':>9s} {ds[0] if ds else '-':>9} {'-':>10s} {'-':>9s} {'-':>12s}  -       "
                         f"not built yet: {rs['skipped']}")
            ok = False
            continue
        if "seconds" not in rs or "error" in rs or ds is None:
            lines.append(f"{name:22s} failed: rsdat {rs.get('error', 'no result')}, dask {'ok' if ds else 'no result'}")
            ok = False
            continue
        tol = 1e-3 if name in RANDOM_INPUTS else 1e-9
        if "check_sd" in rs:
            # A statistic centred on 0 (ndvi_zarr): both must lie within 6 standard deviations.
            agree = abs(rs["check"]) <= 6 * rs["check_sd"] and abs(ds[1]) <= 6 * rs["check_sd"]
        else:
            agree = abs(rs["check"] - ds[1]) <= tol * max(1.0, abs(ds[1]))
        py = python.get(name)
        if py:  # the same generators as rsdat-bench: the same value up to summation order
            agree = agree and abs(py[1] - rs["check"]) <= 1e-9 * max(1.0, abs(rs["check"]))
        ok = ok and agree
        py_s, py_ratio = (f"{py[0]:9.3f}", f"{py[0] / rs['seconds']:12.2f}") if py else (f"{'-':>9s}", f"{'-':>12s}")
        extra = (f"moved {rs.get('bytes_transferred', 0) / 1e9:.2f} GB, "
                 f"spilled {rs.get('bytes_spilled', 0) / 1e9:.2f} GB, peak RSS "
                 + "/".join(f"{p / 2**30:.2f}" for p in rs.get("peak_rss", [])) + " GiB")
        if ds[2]:
            extra += f" (Dask's workers {ds[2]} GiB)"
        if "local_seconds" in rs:
            extra += (f", {rs['seconds'] / rs['local_seconds']:.2f}x its local-disk time ({rs['local_seconds']:.3f} s), "
                      f"{rs['store_concurrency']} requests in flight per worker at most")
        bound = limit_seconds(name, scale, limits)
        if bound:
            extra += f", {rs['seconds'] / bound[0]:.2f}x the {bound[1]}"
        lines.append(f"{name:22s} {rs['seconds']:9.3f} {ds[0]:9.3f} {ds[0] / rs['seconds']:10.2f} {py_s} {py_ratio}  "
                     f"{'agree' if agree else 'DIFFER'}  {extra}")
    return lines, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", required=True, help="comma-separated workloads, in the table's order")
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--rsdat", required=True, metavar="FILE", help="rsdat-bench's output")
    ap.add_argument("--dask", required=True, metavar="FILE", help="bench/dask_peer.py's output")
    ap.add_argument("--python", metavar="FILE", help="bench/python_peer.py's output")
    ap.add_argument("--limits", metavar="FILE", help="rsdat-limits' output (its last line, JSON)")
    a = ap.parse_args()

    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError as e:
            sys.exit(f"bench_table: {e}")

    limits = None
    if a.limits:
        text = read(a.limits).strip()
        limits = json.loads(text.splitlines()[-1]) if text else None
    lines, ok = table(a.workload.split(","), a.scale, parse_rsdat(read(a.rsdat)), parse_peer(read(a.dask)),
                      parse_peer(read(a.python)) if a.python else None, limits)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
