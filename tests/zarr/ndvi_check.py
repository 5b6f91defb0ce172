#!/usr/bin/python3
"""The rsdat-ndvi program against NumPy.

  ndvi_check.py make DIR    writes DIR/cube.zarr (group; B04 red, B08 nir: uint16 with
                            fill_value 0 and chunks never written, NaN-free) and
                            DIR/float.zarr (float32 bands with NaN and zero pixels)
  ndvi_check.py check DIR NAME OUT
                            compares OUT (a Zarr array) with numpy's nanmean over time
"""
import sys, warnings

import numpy as np
import numcodecs
import zarr

warnings.simplefilter("ignore")


def bands(name):
    r = np.random.RandomState(7)
    red = r.rand(7, 130, 90) * 0.3
    nir = r.rand(7, 130, 90) * 0.6
    if name == "float":
        red, nir = red.astype("f4"), nir.astype("f4")
        red[:, :10, :10] = 0
        nir[:, :10, :10] = 0           # both 0: missing
        red[2:, 10:20, :10] = np.nan   # NaN in one band: missing
        nir[:, 20:25, :] = np.nan      # a whole stripe missing at every time
    else:
        red, nir = (red * 10000).astype("<u2"), (nir * 10000).astype("<u2")
        red[4:, 64:, :] = 0            # chunks never written read as fill_value 0
        nir[4:, 64:, :] = 0
    return red, nir


def make(d):
    for name in ("float", "cube"):
        red, nir = bands(name)
        g = zarr.open_group(f"{d}/{name}.zarr", mode="w")
        for key, v, comp in (("B04", red, numcodecs.Blosc("lz4")), ("B08", nir, numcodecs.Zstd(3))):
            a = g.create_dataset(key, shape=v.shape, chunks=(2, 64, 64), dtype=v.dtype, compressor=comp, fill_value=0)
            if name == "cube":
                a[:4] = v[:4]
                a[4:, :64] = v[4:, :64]
            else:
                a[...] = v
            a.attrs["_ARRAY_DIMENSIONS"] = ["time", "y", "x"]


def check(d, name, out):
    red, nir = bands(name)
    red, nir = red.astype("f4"), nir.astype("f4")
    with np.errstate(all="ignore"):
        expected = np.nanmean((nir - red) / (nir + red), axis=0)
    store, path = out.split(":") if ":" in out else (out, None)
    z = zarr.open(store, mode="r", path=path)
    got = z[...]
    if z.dtype != np.float32 or got.shape != expected.shape or tuple(z.chunks) != (64, 64):
        sys.exit(f"{out}: {z.dtype} {got.shape} chunks {z.chunks}, expected float32 {expected.shape} chunks (64, 64)")
    if z.attrs.get("_ARRAY_DIMENSIONS") != ["y", "x"]:
        sys.exit(f"{out}: dimension names {z.attrs.get('_ARRAY_DIMENSIONS')}")
    if not np.array_equal(np.isnan(got), np.isnan(expected)):
        sys.exit(f"{out}: NaN pixels differ: {np.isnan(got).sum()} vs {np.isnan(expected).sum()}")
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True):
        sys.exit(f"{out}: values differ by up to {np.nanmax(np.abs(got - expected))}")
    print(f"{out}: matches numpy ({np.isnan(got).sum()} NaN pixels)")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        check(*sys.argv[2:])
    else:
        sys.exit(__doc__)
