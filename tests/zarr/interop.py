#!/usr/bin/python3
"""Zarr interoperability with zarr-python 2.x (Debian's python3-zarr, python3-numcodecs).

  interop.py write DIR   writes stores covering dtypes, byte orders, orders, fill values,
                         compressors, separators, groups and consolidated metadata, and
                         DIR/python/manifest.json describing what rsdat must read back
  interop.py check DIR   reads the stores rsdat wrote (DIR/rsdat/manifest.json) and
                         compares their values, dtypes, codecs and attributes exactly

The expected values of every store are saved beside it (raw C-order, little-endian).
Exits non-zero, naming the store, at the first mismatch.
"""
import json, os, sys

import numpy as np
import numcodecs
import zarr


def values(shape, dtype, bool_rule="mod3"):
    """Deterministic values of `dtype` for `shape` (the rule rsdat's writer uses too)."""
    n = int(np.prod(shape)) if len(shape) else 1
    base = np.arange(n, dtype=np.float64).reshape(shape)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return (base * 0.25 - 20 != 0) if bool_rule == "nonzero" else (base % 3 == 0)
    if dt.kind == "f":
        return (base * 0.25 - 20).astype(dt)
    return (base % 100).astype(dt)


def write(root):
    out = os.path.join(root, "python")
    os.makedirs(out, exist_ok=True)
    manifest = []

    def save(store, path, arr, expected, dims=None):
        name = f"{len(manifest):03d}"
        raw = os.path.join(out, name + ".expected")
        exp = np.ascontiguousarray(expected)
        exp.astype(exp.dtype.newbyteorder("<")).tofile(raw)
        manifest.append({"store": store, "path": path, "dtype": exp.dtype.newbyteorder("=").name,
                         "shape": list(exp.shape), "expected": raw, "dims": dims or [],
                         "what": f"{arr.dtype.str} order={arr.order} fill={arr.fill_value} "
                                 f"compressor={arr.compressor} sep={getattr(arr, '_dimension_separator', '.')}"})

    def one(tag, shape, chunks, dtype, path="", fill=0, region=None, **kw):
        store = os.path.join(out, tag + ".zarr")
        z = zarr.open(store, mode="w", path=path or None, shape=shape, chunks=chunks, dtype=dtype,
                      fill_value=fill, **kw)
        v = values(shape, dtype)
        if region is None:
            z[...] = v
        else:
            z[region] = v[region]
        save(store, path, z, z[...])

    # Every dtype and byte order, edge chunks, default blosc-lz4.
    for dt in ["<f4", ">f4", "<f8", ">f8", "|u1", "|i1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4",
               "<u4", "<i8", ">i8", "<u8", ">u8", "|b1"]:
        one("dtype_" + dt.replace("<", "le_").replace(">", "be_").replace("|", ""), (13, 17), (5, 6), dt)
    # Fortran order.
    for dt in ["<f8", ">i2", "|u1", "<f4"]:
        one("order_f_" + dt[1:] + ("_be" if dt[0] == ">" else ""), (7, 9, 5), (3, 4, 5), dt, order="F")
    # Compressors.
    for cname in ["lz4", "lz4hc", "blosclz", "zstd", "zlib"]:
        for shuffle in [0, 1, 2]:
            one(f"blosc_{cname}_{shuffle}", (40, 30), (16, 16), "<f4",
                compressor=numcodecs.Blosc(cname=cname, clevel=5, shuffle=shuffle))
    one("blosc_u1_bitshuffle", (40, 30), (16, 16), "|u1", compressor=numcodecs.Blosc(cname="lz4", shuffle=2))
    one("blosc_autoshuffle", (40, 30), (16, 16), "<i8", compressor=numcodecs.Blosc(cname="zstd", shuffle=-1))
    for level in [1, 9]:
        one(f"zstd_{level}", (40, 30), (16, 16), "<f8", compressor=numcodecs.Zstd(level=level))
    one("lz4", (40, 30), (16, 16), "<i4", compressor=numcodecs.LZ4())
    one("zlib", (40, 30), (16, 16), ">f4", compressor=numcodecs.Zlib(level=6))
    one("gzip", (40, 30), (16, 16), "<u2", compressor=numcodecs.GZip(level=5))
    one("none", (40, 30), (16, 16), "<f8", compressor=None)
    # Fill values; missing chunks read as the fill value.
    part = (slice(0, 10), slice(0, 20))
    one("fill_nan", (40, 30), (8, 8), "<f4", fill=float("nan"), region=part)
    one("fill_inf", (40, 30), (8, 8), "<f8", fill=float("inf"), region=part)
    one("fill_minus_inf", (40, 30), (8, 8), ">f8", fill=float("-inf"), region=part)
    one("fill_int", (40, 30), (8, 8), "<i4", fill=-7, region=part)
    one("fill_bool", (40, 30), (8, 8), "|b1", fill=True, region=part)
    one("fill_null", (40, 30), (8, 8), "<f8", fill=None)
    # Nested chunk keys.
    one("separator_slash", (9, 10, 11), (4, 4, 4), "<f4", dimension_separator="/")
    one("separator_slash_missing", (9, 10, 11), (4, 4, 4), "<i2", dimension_separator="/", fill=3,
        region=(slice(0, 4), slice(0, 8), slice(0, 11)))
    # Shapes: 1-D, single chunk, chunk larger than the array, size-1 axes.
    one("one_d", (1000,), (128,), "<f8")
    one("single_chunk", (20, 30), (20, 30), "<f4")
    one("chunk_larger", (5, 7), (8, 8), "<i8")
    one("size_one_axes", (1, 25, 1), (1, 10, 1), "<f4")

    # A group holding arrays with xarray's dimension names, consolidated.
    store = os.path.join(out, "group.zarr")
    g = zarr.open_group(store, mode="w")
    red = g.create_dataset("bands/red", shape=(4, 12, 10), chunks=(2, 5, 5), dtype="<f4")
    red[...] = values((4, 12, 10), "<f4")
    red.attrs["_ARRAY_DIMENSIONS"] = ["time", "y", "x"]
    nir = g.create_dataset("bands/nir", shape=(4, 12, 10), chunks=(2, 5, 5), dtype="<u2",
                           compressor=numcodecs.Zstd(level=3))
    nir[...] = values((4, 12, 10), "<u2")
    nir.attrs["_ARRAY_DIMENSIONS"] = ["time", "y", "x"]
    zarr.consolidate_metadata(store)
    save(store, "bands/red", red, red[...], ["time", "y", "x"])
    save(store, "bands/nir", nir, nir[...], ["time", "y", "x"])
    # Only the consolidated metadata says what nir is: rsdat must read it from there.
    os.remove(os.path.join(store, "bands", "nir", ".zarray"))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(manifest)} stores under {out}")


def check(root):
    with open(os.path.join(root, "rsdat", "manifest.json")) as f:
        manifest = json.load(f)
    for m in manifest:
        z = zarr.open(m["store"], mode="r", path=m["path"] or None)
        where = f"{m['store']}/{m['path']} ({m['what']})"
        exp = values(tuple(m["shape"]), m["dtype"], m.get("rule", "mod3"))
        if z.shape != tuple(m["shape"]):
            sys.exit(f"{where}: shape {z.shape}, expected {tuple(m['shape'])}")
        if z.dtype != np.dtype(m["dtype"]):
            sys.exit(f"{where}: dtype {z.dtype}, expected {m['dtype']}")
        if tuple(z.chunks) != tuple(m["chunks"]):
            sys.exit(f"{where}: chunks {z.chunks}, expected {m['chunks']}")
        got = z[...]
        if not np.array_equal(got, exp):
            bad = np.argwhere(got != exp)[0]
            sys.exit(f"{where}: value at {tuple(bad)} is {got[tuple(bad)]}, expected {exp[tuple(bad)]}")
        conf = z.compressor.get_config() if z.compressor is not None else {"id": "none"}
        for k, v in m["compressor"].items():
            if conf.get(k) != v:
                sys.exit(f"{where}: compressor {conf}, expected {m['compressor']}")
        if z.order != m["order"]:
            sys.exit(f"{where}: order {z.order}, expected {m['order']}")
        if m["dims"] and z.attrs.get("_ARRAY_DIMENSIONS") != m["dims"]:
            sys.exit(f"{where}: dimension names {z.attrs.get('_ARRAY_DIMENSIONS')}, expected {m['dims']}")
        fill = m.get("fill")
        if fill == "NaN":
            if not np.isnan(z.fill_value):
                sys.exit(f"{where}: fill_value {z.fill_value}, expected NaN")
        elif fill is not None and z.fill_value != fill:
            sys.exit(f"{where}: fill_value {z.fill_value}, expected {fill}")
        for dirpath, _, files in os.walk(m["store"]):
            for name in files:
                if ".tmp." in name:
                    sys.exit(f"{where}: temporary file {name} left behind")
    print(f"zarr-python read back {len(manifest)} stores rsdat wrote")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        sys.exit(__doc__)
    (write if sys.argv[1] == "write" else check)(sys.argv[2])
