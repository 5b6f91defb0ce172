#!/usr/bin/python3
"""NetCDF files for rsdat's NetCDF tests, written by netCDF4-python, and what xarray reads
from them.

  make_files.py write DIR     writes DIR/*.nc and DIR/manifest.json: for every variable,
                              the values xarray reads (decoded with decode_cf, and raw with
                              mask_and_scale=False) as raw C-order bytes, dtype, shape, dims
  make_files.py check FILE VAR EXPECTED DTYPE SHAPE DIMS CHUNKS
                              opens FILE with xarray and netCDF4 and checks that VAR equals
                              the raw bytes EXPECTED (DTYPE, SHAPE "a,b"), has the dims
                              "y,x", is chunked CHUNKS and zlib-compressed; exit 1 otherwise

Layouts: Daymet's (time, y, x float32 with _FillValue -9999, y/x coordinates in m, time
in days since 1980-01-01 with a calendar) chunked (1, 64, 64) and contiguous; packed
int16 with scale_factor/add_offset (with and without _FillValue); missing_value;
uint8, float64, 1-D and 4-D variables.
"""
import json
import os
import sys

import netCDF4
import numpy as np
import xarray as xr

rng = np.random.default_rng(20240601)
T, Y, X = 12, 96, 80  # not multiples of the chunks: edge chunks are smaller


def daymet(path, contiguous):
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", T if contiguous else None)  # unlimited, as Daymet's (not contiguous then)
        ds.createDimension("y", Y)
        ds.createDimension("x", X)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 1980-01-01 00:00:00 UTC"
        t.calendar = "standard"
        t.long_name = "time"
        t[:] = np.arange(T) + 0.5
        y = ds.createVariable("y", "f4", ("y",))
        y.units = "m"
        y[:] = 1000.0 * np.arange(Y)[::-1] - 500.0
        x = ds.createVariable("x", "f4", ("x",))
        x.units = "m"
        x[:] = 1000.0 * np.arange(X) - 2000.0
        kw = dict(contiguous=True) if contiguous else dict(chunksizes=(1, 64, 64), zlib=True, complevel=4, shuffle=True)
        for name, base in (("tmax", 12.0), ("tmin", 2.0), ("dayl", 40000.0)):
            v = ds.createVariable(name, "f4", ("time", "y", "x"), fill_value=np.float32(-9999.0), **kw)
            v.units = "s" if name == "dayl" else "degrees C"
            v.long_name = name
            v.set_auto_maskandscale(False)
            data = (base + rng.standard_normal((T, Y, X)) * (3000 if name == "dayl" else 4)).astype(np.float32)
            data[:, :, -7:] = -9999.0  # the sea
            data[3, 10:20, 5:9] = -9999.0
            v[:] = data
        ds.setncattr("source", "rsdat tests, Daymet's layout")


def various(path):
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", 7)
        ds.createDimension("y", 33)
        ds.createDimension("x", 45)
        ds.createDimension("station", 1000)
        ds.createDimension("a", 2)
        ds.createDimension("b", 3)
        ds.createDimension("c", 40)
        ds.createDimension("d", 50)
        raw = rng.integers(-3000, 3000, size=(7, 33, 45)).astype(np.int16)
        raw[0, 0, :5] = -32768
        for name, attrs in (("packed", dict(scale_factor=np.float32(0.01), add_offset=np.float32(273.15))),
                            ("packed_f64", dict(scale_factor=0.01, add_offset=100.0)),
                            ("scaled_only", dict(scale_factor=np.float32(0.5)))):
            fill = {} if name == "packed_f64" else dict(fill_value=np.int16(-32768))
            v = ds.createVariable(name, "i2", ("time", "y", "x"), chunksizes=(2, 16, 16), zlib=True, **fill)
            v.set_auto_maskandscale(False)
            for k, val in attrs.items():
                v.setncattr(k, val)
            v[:] = raw
        m = ds.createVariable("with_missing", "f8", ("time", "y", "x"), chunksizes=(7, 33, 45))
        m.missing_value = -1.0
        vals = rng.random((7, 33, 45))
        vals[vals < 0.1] = -1.0
        m.set_auto_maskandscale(False)
        m[:] = vals
        u = ds.createVariable("mask", "u1", ("y", "x"), chunksizes=(16, 20), zlib=True)
        u[:] = rng.integers(0, 256, size=(33, 45)).astype(np.uint8)
        u8f = ds.createVariable("mask_filled", "u1", ("y", "x"), fill_value=np.uint8(255))
        u8f.set_auto_maskandscale(False)
        u8f[:] = rng.integers(250, 256, size=(33, 45)).astype(np.uint8)
        e = ds.createVariable("elev", "f8", ("y", "x"), contiguous=True)
        e.units = "m"
        e[:] = rng.standard_normal((33, 45)) * 500
        s = ds.createVariable("station_temp", "f4", ("station",), chunksizes=(128,), zlib=True)
        s[:] = rng.standard_normal(1000).astype(np.float32)
        c = ds.createVariable("cube", "i4", ("a", "b", "c", "d"), chunksizes=(1, 2, 16, 16), zlib=True)
        c[:] = rng.integers(-(2**31), 2**31 - 1, size=(2, 3, 40, 50), dtype=np.int64).astype(np.int32)


def dump(files, out_dir):
    manifest = []
    for path in files:
        for mask in (True, False):
            with xr.open_dataset(path, mask_and_scale=mask, decode_times=False) as ds:
                for name in list(ds.variables):
                    v = ds[name]
                    values = np.ascontiguousarray(v.values)
                    tag = "decoded" if mask else "raw"
                    expected = os.path.join(out_dir, f"{os.path.basename(path)}.{name}.{tag}.bin")
                    values.tofile(expected)
                    manifest.append(dict(file=path, variable=name, mask_and_scale=mask, dtype=str(values.dtype),
                                         shape=list(values.shape), dims=list(v.dims), expected=expected,
                                         units=str(v.attrs.get("units", ""))))
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    files = [os.path.join(out_dir, n) for n in ("daymet_chunked.nc", "daymet_contiguous.nc", "various.nc")]
    daymet(files[0], contiguous=False)
    daymet(files[1], contiguous=True)
    various(files[2])
    with open(os.path.join(out_dir, "not_netcdf.nc"), "w") as f:
        f.write("this is not a NetCDF file\n")
    dump(files, out_dir)


def check(path, var, expected, dtype, shape, dims, chunks):
    shape = tuple(int(s) for s in shape.split(",") if s)
    want = np.fromfile(expected, dtype=dtype).reshape(shape)
    failures = []
    with xr.open_dataset(path) as ds:
        got = ds[var].values
        if got.dtype != want.dtype or got.shape != want.shape:
            failures.append(f"xarray reads {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
        elif not np.array_equal(got, want, equal_nan=np.issubdtype(want.dtype, np.floating)):
            failures.append(f"values differ at {int((got != want).sum())} elements")
        if ds[var].dims != tuple(dims.split(",")):
            failures.append(f"dims {ds[var].dims}, expected {dims}")
    with netCDF4.Dataset(path) as ds:
        v = ds[var]
        want_chunks = [int(c) for c in chunks.split(",")]
        if v.chunking() != want_chunks:
            failures.append(f"chunking {v.chunking()}, expected {want_chunks}")
        if not v.filters().get("zlib"):
            failures.append(f"not zlib-compressed: {v.filters()}")
        if ds.data_model != "NETCDF4":
            failures.append(f"data model {ds.data_model}")
    if failures:
        print(f"{path} {var}:", "; ".join(failures))
        return 1
    print(f"{path} {var}: xarray reads what was written")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 9 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    else:
        print(__doc__)
        sys.exit(2)
