#!/usr/bin/python3
"""Checks rsdat results against NumPy: for each case of a manifest written by the
NumPy parity tests, evaluates the case's NumPy expression on the same inputs and
compares dtype, shape and values. Prints one line per case; exits 1 if any differs.

Usage: /usr/bin/python3 compare.py MANIFEST.json
"""
import json
import os
import sys

import numpy as np

try:
    import xarray as xr  # for the cases checked against xarray (coarsen, groupby)
except ImportError:
    xr = None


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    manifest = sys.argv[1]
    base = os.path.dirname(manifest)
    with open(manifest) as f:
        cases = json.load(f)
    failed = 0
    for case in cases:
        env = {"np": np, "xr": xr}
        for name, path in case["inputs"].items():
            env[name] = np.load(os.path.join(base, path))
        got = np.load(os.path.join(base, case["result"]))
        with np.errstate(all="ignore"):
            want = np.asarray(eval(case["numpy"], env))  # the test's own expression
        problem = None
        if got.dtype != want.dtype:
            problem = f"dtype {got.dtype}, NumPy gives {want.dtype}"
        elif got.shape != want.shape:
            problem = f"shape {got.shape}, NumPy gives {want.shape}"
        else:
            try:
                np.testing.assert_allclose(got, want, rtol=case["rtol"], atol=case["atol"], equal_nan=True)
            except AssertionError as e:
                problem = str(e).strip().replace("\n", " | ")
        status = "ok" if problem is None else "DIFFERS: " + problem
        print(f"{case['name']}: {case['numpy']}: {status}")
        failed += problem is not None
    print(f"numpy parity: {len(cases) - failed} of {len(cases)} cases agree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
