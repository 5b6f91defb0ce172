#!/usr/bin/python3
"""bench/bench_table.py, the table of bench/compare-dask and `rsdat-slurm bench`: parsing of
both sides' output, which checks agree (exactly, to 1e-3 for random inputs, within 6
standard deviations for a statistic around 0), failed and skipped workloads, and the
program's exit status.

Usage: /usr/bin/python3 tests/bench/bench_table_test.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
sys.path.insert(0, BENCH)
import bench_table  # noqa: E402


def rsdat_line(name, seconds, check, **more):
    return json.dumps(dict(name=name, seconds=seconds, check=check, workers=2, bytes_transferred=2e9,
                           bytes_spilled=0, peak_rss=[2**30, 2**31], **more))


RSDAT = "\n".join([
    "some log line",
    rsdat_line("tiny_tasks_sum", 0.5, 1000000.0),
    rsdat_line("x_plus_xT_mean", 2.0, 2000.5),
    rsdat_line("ndvi_zarr", 1.0, 3.0, check_sd=10.0),
    json.dumps({"name": "matmul", "seconds": 1.0, "error": "worker died"}),
    json.dumps({"name": "spill_2x_memory", "skipped": "spill not built"}),
])
DASK = "\n".join([
    '# dask cluster {"scheduler": "tls://10.0.0.1:8786", "workers": []}',
    "tiny_tasks_sum               2.000 s  check=1000000.0 peak_rss=0.10/0.10",
    "x_plus_xT_mean               8.000 s  check=2000.0",
    "ndvi_zarr                   30.000 s  check=-45.0 peak_rss=0.30/0.30",
    "matmul                       3.000 s  check=7.0",
    '{"tiny_tasks_sum": 2.0}',
])


class Table(unittest.TestCase):
    def setUp(self):
        self.rsdat = bench_table.parse_rsdat(RSDAT)
        self.dask = bench_table.parse_peer(DASK)

    def row(self, lines, name):
        rows = [l for l in lines if l.startswith(name + " ")]
        self.assertEqual(len(rows), 1, lines)
        return rows[0]

    def test_parses_both_sides(self):
        self.assertEqual(sorted(self.rsdat), ["matmul", "ndvi_zarr", "spill_2x_memory", "tiny_tasks_sum",
                                              "x_plus_xT_mean"])
        self.assertEqual(self.dask["tiny_tasks_sum"], (2.0, 1000000.0, "0.10/0.10"))
        self.assertEqual(self.dask["x_plus_xT_mean"], (8.0, 2000.0, ""))
        self.assertNotIn("#", self.dask)

    def test_ratio_and_agreeing_checks(self):
        lines, ok = bench_table.table(["tiny_tasks_sum", "x_plus_xT_mean", "ndvi_zarr"], 1.0, self.rsdat, self.dask)
        self.assertTrue(ok)
        self.assertTrue(lines[0].startswith("workload"))
        tiny = self.row(lines, "tiny_tasks_sum").split()
        self.assertEqual(tiny[1:4], ["0.500", "2.000", "4.00"])
        self.assertIn("agree", tiny)
        self.assertIn("moved 2.00 GB", self.row(lines, "tiny_tasks_sum"))
        self.assertIn("peak RSS 1.00/2.00 GiB (Dask's workers 0.10/0.10 GiB)", self.row(lines, "tiny_tasks_sum"))
        # Random inputs: 2000.5 against 2000.0 is within 1e-3.
        self.assertIn(" agree ", self.row(lines, "x_plus_xT_mean"))
        # A statistic around 0: 3 and -45 both lie within 6 x 10.
        self.assertIn(" agree ", self.row(lines, "ndvi_zarr"))

    def test_differing_checks(self):
        dask = dict(self.dask)
        dask["tiny_tasks_sum"] = (2.0, 1000000.01, "")  # exact workloads: relative 1e-9
        dask["x_plus_xT_mean"] = (8.0, 2010.0, "")      # random inputs: beyond 1e-3
        dask["ndvi_zarr"] = (30.0, -61.0, "")           # beyond 6 standard deviations
        lines, ok = bench_table.table(["tiny_tasks_sum", "x_plus_xT_mean", "ndvi_zarr"], 1.0, self.rsdat, dask)
        self.assertFalse(ok)
        for name in ("tiny_tasks_sum", "x_plus_xT_mean", "ndvi_zarr"):
            self.assertIn(" DIFFER ", self.row(lines, name))

    def test_python_column_must_equal_rsdat(self):
        python = {"tiny_tasks_sum": (1.0, 1000000.0, "")}
        lines, ok = bench_table.table(["tiny_tasks_sum"], 1.0, self.rsdat, self.dask, python)
        self.assertTrue(ok)
        self.assertEqual(self.row(lines, "tiny_tasks_sum").split()[4:6], ["1.000", "2.00"])
        lines, ok = bench_table.table(["tiny_tasks_sum"], 1.0, self.rsdat, self.dask,
                                      {"tiny_tasks_sum": (1.0, 999999.0, "")})
        self.assertFalse(ok)

    def test_failed_missing_and_skipped_workloads(self):
        lines, ok = bench_table.table(["matmul", "spill_2x_memory", "rechunk_timeseries"], 1.0, self.rsdat, self.dask)
        self.assertFalse(ok)
        self.assertIn("failed: rsdat worker died, dask ok", self.row(lines, "matmul"))
        self.assertIn("not built yet: spill not built", self.row(lines, "spill_2x_memory"))
        self.assertIn("failed: rsdat no result, dask no result", self.row(lines, "rechunk_timeseries"))

    def test_machine_limits(self):
        limits = {"triad_gbps": 10.0, "dgemm_gflops": 100.0}
        lines, _ = bench_table.table(["x_plus_xT_mean"], 1.0, self.rsdat, self.dask, limits=limits)
        # 3 x 20000^2 x 8 B at 10 GB/s is 0.96 s; rsdat took 2 s.
        self.assertIn("2.08x the memory-bandwidth bound", self.row(lines, "x_plus_xT_mean"))

    def test_program_exit_status(self):
        with tempfile.TemporaryDirectory() as d:
            rs, dk = os.path.join(d, "rsdat.jsonl"), os.path.join(d, "dask.txt")
            with open(rs, "w") as f:
                f.write(RSDAT)
            with open(dk, "w") as f:
                f.write(DASK)
            prog = [sys.executable, os.path.join(BENCH, "bench_table.py"), "--scale", "1", "--rsdat", rs, "--dask", dk]
            good = subprocess.run(prog + ["--workload", "tiny_tasks_sum,x_plus_xT_mean"], capture_output=True, text=True)
            self.assertEqual(good.returncode, 0, good.stderr)
            self.assertEqual(len(good.stdout.splitlines()), 3)
            bad = subprocess.run(prog + ["--workload", "tiny_tasks_sum,matmul"], capture_output=True, text=True)
            self.assertEqual(bad.returncode, 1)
            missing = subprocess.run(prog[:-4] + ["--rsdat", os.path.join(d, "none"), "--dask", dk, "--workload", "x"],
                                     capture_output=True, text=True)
            self.assertNotEqual(missing.returncode, 0)
            self.assertIn("No such file", missing.stderr)


if __name__ == "__main__":
    unittest.main()
