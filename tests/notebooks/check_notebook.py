#!/usr/bin/python3
"""Checks an executed example notebook (examples/notebooks/) against NumPy.

Reads the notebook, fails on any cell that raised, takes the JSON line the cell tagged
"result" printed, makes the notebook's synthetic inputs again (examples/notebooks/
synthetic.py) and computes the same result with NumPy: ndvi.ipynb's time-mean NDVI map
(its summaries and its row and column profiles within 1e-5, the valid-pixel and
clear-observation counts exactly, and a quicklook PNG of the map's size shown),
spring_index.ipynb's first-leaf and first-bloom days (exactly: the same digest, NaN
where NumPy has NaN) and growing-degree hours after the leaf (row sums within 1e-6),
NumPy's model being tests/spring/spring_index_test.py's.

With --execute, first runs the notebook with `jupyter nbconvert --execute` (its kernel
starts in the notebook's directory) into --output-dir.

Usage: check_notebook.py [--execute --output-dir DIR] [--workers N] [--scheduler ADDR] NOTEBOOK.ipynb
"""
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic = load(os.path.join(SOURCE, "examples", "notebooks", "synthetic.py"), "synthetic")


def result_of(path):
    """The JSON result of the executed notebook at `path`; raises on cells that erred,
    a missing result cell or one without output."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    found = None
    executed = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is not None:
            executed += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                raise AssertionError(f"{path}: cell {i} raised {out.get('ename')}: {out.get('evalue')}")
        if "result" in cell.get("metadata", {}).get("tags", []):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"
                           and o.get("name") == "stdout")
            lines = [line for line in text.splitlines() if line.startswith("{")]
            if not lines:
                raise AssertionError(f"{path}: the result cell printed no JSON (outputs {cell.get('outputs')})")
            found = json.loads(lines[-1])
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    if executed != code_cells:
        raise AssertionError(f"{path}: {executed} of {code_cells} code cells were executed")
    if found is None:
        raise AssertionError(f"{path}: no cell tagged 'result'")
    return found, nb


def tagged_png(nb, tag):
    """(width, height) of the PNG the cell tagged `tag` displayed; None without one."""
    import base64
    import struct
    for cell in nb.cells:
        if tag not in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get("image/png")
            if data:
                raw = base64.b64decode(data)
                if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
                    raise AssertionError(f"the cell tagged {tag!r} shows an image/png that is not a PNG")
                return struct.unpack(">II", raw[16:24])
    return None


def close(name, got, want, rtol, atol, failures):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, NumPy {want.shape}")
        return
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    print(f"{name}: {got.size} values, {int(bad.sum())} beyond rtol {rtol} "
          f"(max abs diff {np.nanmax(np.abs(got - want)) if got.size else 0:.3g})")
    if bad.any():
        failures.append(f"{name}: {int(bad.sum())} values differ, first at {np.argwhere(bad)[0].tolist()}: "
                        f"{got[bad][0]!r} against NumPy's {want[bad][0]!r}")


def equal(name, got, want, failures):
    if isinstance(want, list) and len(want) > 4:
        print(f"{name}: {len(want)} values, {'equal' if got == want else 'not equal'}")
    else:
        print(f"{name}: {got!r} (expected {want!r})")
    if got != want:
        failures.append(f"{name}: {got!r}, expected {want!r}")


def check_ndvi(res, nb, failures):
    red, nir = synthetic.red_nir(16, 256, 2024)
    with np.errstate(invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-cloud pixels: mean of nothing
        mean_map = np.nanmean(ndvi, axis=0)
        rows, cols = np.nanmean(mean_map, axis=1), np.nanmean(mean_map, axis=0)
    clear = np.isfinite(ndvi).sum(axis=0)
    if not (np.isnan(ndvi).any() and np.isfinite(ndvi).all(axis=0).any()):
        failures.append("the synthetic cube has no clouds, or clouds everywhere: the check would be vacuous")
    equal("shape", res["shape"], list(mean_map.shape), failures)
    equal("dtype", res["dtype"], str(mean_map.dtype), failures)
    equal("valid pixels", res["valid"], int(np.isfinite(mean_map).sum()), failures)
    equal("clear observations", res["clear"], int(clear.sum()), failures)
    equal("clear observations per row", res["clear_rows"], clear.sum(axis=1).tolist(), failures)
    # The quicklook: the map, two blank rows, the 12-row colour scale.
    equal("quicklook PNG (width, height)", tagged_png(nb, "quicklook"), (256, 256 + 2 + 12), failures)
    for key, want in (("mean", np.nanmean(mean_map)), ("min", np.nanmin(mean_map)), ("max", np.nanmax(mean_map)),
                      ("row_mean", rows), ("col_mean", cols)):
        close(key, res[key], want, 1e-5, 1e-6, failures)


def check_spring_index(res, nb, failures):
    model = load(os.path.join(SOURCE, "tests", "spring", "spring_index_test.py"), "spring_index_model")
    tmin, tmax, dayl = synthetic.daymet_like(300, 64, 64, 7)
    model.INPUTS.update(tmin=tmin, tmax=tmax, dayl=dayl)
    leaf, agdh, bloom = model.spring_index(slice(None))
    names = list(model.PLANTS) + ["mean"]
    equal("shape", res["shape"], list(leaf.shape), failures)
    equal("dtypes", res["dtypes"], ["float32", "float32", "float64"], failures)
    if not np.isnan(leaf[1]).any() or not np.isnan(leaf[2]).sum() > np.isnan(leaf[1]).sum():
        failures.append("no sea, or zabelii leafs out wherever arnold red does: the check would be vacuous")
    if not (~np.isnan(leaf[:3]) & np.isnan(bloom[:3])).any():
        failures.append("every plant with a leaf blooms: no pixel tests a leaf without bloom")

    def digest(days):
        return hashlib.sha256(np.where(np.isnan(days), -1, days).astype("<f4").tobytes()).hexdigest()

    for what, want in (("first_leaf", leaf), ("first_bloom", bloom)):
        for p, name in enumerate(names):
            got = res[what][name]
            w = want[p].astype(np.float32)
            equal(f"{what} {name} NaN pixels", got["nan"], int(np.isnan(w).sum()), failures)
            close(f"{what} {name} mean day", got["mean"], np.nanmean(w), 1e-6, 0, failures)
            equal(f"{what} {name} days (digest)", got["digest"], digest(w), failures)
    for p, name in enumerate(names):
        close(f"agdh_after_leaf {name} row sums", res["agdh_after_leaf_rows"][name], np.nansum(agdh[p], axis=1),
              1e-6, 1e-6, failures)


CHECKS = {"ndvi": check_ndvi, "spring_index": check_spring_index}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("--execute", action="store_true", help="run the notebook with jupyter nbconvert first")
    ap.add_argument("--output-dir", help="where --execute writes the executed notebook")
    ap.add_argument("--timeout", type=int, default=300, help="seconds a cell may take under --execute")
    ap.add_argument("--workers", type=int, help="the number of workers the notebook's client must have seen")
    ap.add_argument("--scheduler", help="the scheduler address the notebook's client must have used")
    args = ap.parse_args()
    kind = os.path.splitext(os.path.basename(args.notebook))[0]
    if kind not in CHECKS:
        ap.error(f"no check for {args.notebook} (known: {', '.join(n + '.ipynb' for n in CHECKS)})")
    path = args.notebook
    if args.execute:
        if not args.output_dir:
            ap.error("--execute needs --output-dir")
        if shutil.which("jupyter-nbconvert") is None:
            print("check_notebook: jupyter-nbconvert is missing (scripts/install-deps.sh --with-python installs "
                  "jupyter-nbconvert and python3-ipykernel)", file=sys.stderr)
            return 2
        os.makedirs(args.output_dir, exist_ok=True)
        cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
               f"--ExecutePreprocessor.timeout={args.timeout}", "--output-dir", args.output_dir, args.notebook]
        print(" ".join(cmd), flush=True)
        done = subprocess.run(cmd)
        if done.returncode != 0:
            print(f"check_notebook: nbconvert failed with status {done.returncode}", file=sys.stderr)
            return 1
        path = os.path.join(args.output_dir, os.path.basename(args.notebook))
    if not os.path.isfile(path):
        print(f"check_notebook: {path} does not exist", file=sys.stderr)
        return 2
    failures = []
    try:
        res, nb = result_of(path)
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    if args.workers is not None:
        equal("workers", res["workers"], args.workers, failures)
    if args.scheduler is not None:
        equal("scheduler", res["scheduler"], args.scheduler, failures)
    CHECKS[kind](res, nb, failures)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"{os.path.basename(path)}: the results equal NumPy's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
