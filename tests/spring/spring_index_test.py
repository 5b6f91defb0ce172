#!/usr/bin/python3
"""The SI-x first-leaf and first-bloom models in NumPy, against rsdat-spring-index.

Writes a synthetic Daymet-like year with `rsdat-spring-index --generate`, runs the model
with rsdat on its first 300 days, computes the same model with NumPy (float64, the
hours looped, the days vectorised) from the same stores read by zarr-python, and
compares: NaN positions equal, first-leaf and first-bloom days equal exactly,
agdh_after_leaf within 1e-4 relative. Also opens both stores with xarray (dimensions, the plant coordinate).
Then runs the model on NetCDF inputs in Daymet's layout (netCDF4-python's files of a crop
holding the mountain and the sea; one file per variable, and one with the three) and
compares with NumPy and with the Zarr inputs' result (equal exactly).

Usage: spring_index_test.py --bin build/bin/rsdat-spring-index [--size 512] [--days 300]
"""
import argparse, multiprocessing, os, shutil, subprocess, sys, tempfile, time
import numpy as np

PLANTS = {"lilac": (3.306, 13.878, 0.201, 0.153),
          "arnold_red": (4.266, 20.899, 0.000, 0.248),
          "zabelii": (2.802, 21.433, 0.266, 0.000)}
# The bloom model's (agdh, mds0) coefficients per plant.
BLOOM = {"lilac": (0.116, -23.934), "arnold_red": (0.127, -24.825), "zabelii": (0.096, -11.368)}
BASE = 31.0
INPUTS = {}  # name -> the (days, y, x) float32 array, shared with forked workers


def growing_degree_hours(tmin, tmax, dayl):
    """Each day's growing-degree hours by the SI-x hourly model, float64."""
    tn = tmin.astype(np.float64) * 1.8 + 32
    tx = tmax.astype(np.float64) * 1.8 + 32
    dl = dayl.astype(np.float64) / 3600
    amp = tx - tn
    fl = np.floor(dl)
    ts = amp * np.sin(np.pi * dl / (dl + 4)) + tn
    ts = np.where(ts <= 0, 0.01, ts)
    k = (ts - tn) / np.log(24 - dl)

    def degree_hours(t):
        x = np.clip(t - BASE, 0, None)
        return np.where(np.isfinite(x), x, 0)

    total = degree_hours(tn)  # hour 0: T_0 = tmin_f
    t = np.empty_like(dl)
    arg = np.empty_like(dl)
    for h in range(1, 24):
        day = h <= fl
        night = h > fl
        t.fill(np.nan)  # neither (a NaN day length): no contribution
        np.divide(np.pi * h, dl + 4, out=arg)
        np.sin(arg, out=t, where=day)
        np.multiply(amp, t, out=t, where=day)
        np.add(t, tn, out=t, where=day)
        np.subtract(h, fl, out=arg, where=night)  # c = h - floor(dayl_h) >= 1
        np.log(arg, out=arg, where=night)
        np.multiply(k, arg, out=arg, where=night)
        np.subtract(ts, arg, out=t, where=night)
        total += degree_hours(t)
    return total


def spring_index(rows):
    """first_leaf, agdh_after_leaf and first_bloom (4, rows, x) for a strip of rows."""
    tmin, tmax, dayl = (INPUTS[n][:, rows] for n in ("tmin", "tmax", "dayl"))
    with np.errstate(invalid="ignore", divide="ignore"):
        gdh = growing_degree_hours(tmin, tmax, dayl)
    days = gdh.shape[0]
    padded = np.concatenate([np.repeat(gdh[:1], 7, axis=0), gdh], axis=0)  # numpy.pad mode "edge"
    dde2 = padded[7:] + padded[6:-1] + padded[5:-2]
    dd57 = padded[2:-5] + padded[1:-6] + padded[:-7]
    synop = np.cumsum(dde2 >= 637, axis=0)
    mds0 = np.arange(days, dtype=np.float64)[:, None, None]
    leaves = []
    for a, b, c, e in PLANTS.values():
        mdsum1 = a * mds0 + b * synop + c * dde2 + e * dd57
        reached = mdsum1 >= 999.5
        leaves.append(np.where(reached.any(axis=0), reached.argmax(axis=0) + 1.0, np.nan))
    leaves.append(np.round(np.mean(leaves, axis=0)))
    leaf = np.array(leaves)
    nodata = (np.isnan(tmin) | np.isnan(tmax) | np.isnan(dayl)).any(axis=0)
    leaf[:, nodata] = np.nan
    agdh = np.empty_like(leaf)
    for p in range(4):
        after = np.where(mds0 >= leaf[p] - 1, gdh, 0)
        agdh[p] = np.cumsum(after, axis=0)[-1]
    agdh[np.isnan(leaf)] = np.nan
    # Bloom: from the leaf day L (1-based) on, the first day I with
    # alpha * (gdh summed over days L..I) + beta * (I - L) > 999.5.
    blooms = []
    for p, (alpha, beta) in enumerate(BLOOM.values()):
        since = mds0 - (leaf[p] - 1)  # I - L; NaN where there is no leaf
        with np.errstate(invalid="ignore"):
            grown = since >= 0
        accumulated = np.cumsum(np.where(grown, gdh, 0), axis=0)
        reached = grown & (alpha * accumulated + beta * since > 999.5)
        blooms.append(np.where(reached.any(axis=0), reached.argmax(axis=0) + 1.0, np.nan))
    blooms.append(np.round(np.mean(blooms, axis=0)))
    bloom = np.array(blooms)
    bloom[:, nodata] = np.nan
    return leaf, agdh, bloom


def compare_days(name, got, want, failures):
    """Appends to `failures` when the days `got` differ from `want` (both (4, y, x))."""
    if got.dtype != np.float32 or got.shape != want.shape:
        failures.append(f"{name} is {got.dtype} {got.shape}, expected float32 {want.shape}")
        return
    for p, plant in enumerate(list(PLANTS) + ["mean"]):
        g, w = got[p], want[p]
        nan_diff = int((np.isnan(g) != np.isnan(w)).sum())
        ok = ~np.isnan(w) & ~np.isnan(g)
        day_diff = int((g[ok] != w[ok]).sum())
        print(f"{name} {plant:11s}: {int(ok.sum())} pixels (mean day {np.nanmean(w):.1f}), "
              f"{int(np.isnan(w).sum())} NaN; NaN positions differ at {nan_diff}, days at {day_diff}")
        if nan_diff or day_diff:
            failures.append(f"{name} {plant}")
        if ok.sum() == 0:
            failures.append(f"{name} {plant}: no day anywhere: the comparison would be vacuous")


def compare(res, want_leaf, want_agdh, want_bloom, failures):
    """Appends to `failures` what differs between the rsdat store `res` and NumPy's."""
    compare_days("first_bloom", res["first_bloom"][:], want_bloom, failures)
    if not (~np.isnan(want_leaf[:3]) & np.isnan(want_bloom[:3])).any():
        failures.append("first_bloom: every plant with a leaf blooms: no pixel tests a leaf without bloom")
    got_leaf = res["first_leaf"][:]
    got_agdh = res["agdh_after_leaf"][:].astype(np.float64)
    if got_leaf.dtype != np.float32:
        failures.append(f"first_leaf is {got_leaf.dtype}, not float32")
    if got_leaf.shape != want_leaf.shape or got_agdh.shape != want_agdh.shape:
        failures.append(f"shapes {got_leaf.shape}, {got_agdh.shape}, expected {want_leaf.shape}")
    else:
        names = list(PLANTS) + ["mean"]
        for p, name in enumerate(names):
            g, w = got_leaf[p], want_leaf[p]
            nan_diff = int((np.isnan(g) != np.isnan(w)).sum())
            ok = ~np.isnan(w) & ~np.isnan(g)
            day_diff = int((g[ok] != w[ok]).sum())
            ga, wa = got_agdh[p], want_agdh[p]
            agdh_nan_diff = int((np.isnan(ga) != np.isnan(wa)).sum())
            okA = ~np.isnan(wa) & ~np.isnan(ga)
            rel = np.abs(ga[okA] - wa[okA]) / np.maximum(np.abs(wa[okA]), 1e-300)
            agdh_bad = int((np.abs(ga[okA] - wa[okA]) > 1e-4 * np.abs(wa[okA])).sum())
            print(f"{name:11s}: {int(ok.sum())} leaf pixels (mean day {np.nanmean(w):.1f}), "
                  f"{int(np.isnan(w).sum())} NaN; NaN positions differ at {nan_diff}, days at {day_diff}; "
                  f"agdh NaN differ at {agdh_nan_diff}, beyond 1e-4 at {agdh_bad} "
                  f"(max rel {rel.max() if rel.size else 0:.2e})")
            if nan_diff or day_diff or agdh_nan_diff or agdh_bad:
                failures.append(name)
            if ok.sum() == 0:
                failures.append(f"{name}: no leaf anywhere: the comparison would be vacuous")
        if not np.isnan(want_leaf[1]).any():
            failures.append("no NaN (sea) pixel: the comparison would not test NaN positions")
        if not np.isnan(want_leaf[2]).sum() > np.isnan(want_leaf[1]).sum():
            failures.append("zabelii leafs out wherever arnold red does: no pixel without a leaf on land")



def write_netcdf_inputs(src, crop, directory, single):
    """tmin.nc, tmax.nc and dayl.nc in `directory` as Daymet ships them (time, y, x
    float32, _FillValue -9999 where the inputs are NaN, y/x coordinates in m, time in
    days with units and calendar, chunked and zlib-compressed), and `single` holding
    the three, from the Zarr inputs `src` cropped to `crop` (all days)."""
    import netCDF4

    def create(path):
        ds = netCDF4.Dataset(path, "w", format="NETCDF4")
        days = src["tmin"].shape[0]
        y, x = src["y"][crop[0]], src["x"][crop[1]]
        ds.createDimension("time", None)
        ds.createDimension("y", len(y))
        ds.createDimension("x", len(x))
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2023-01-01 00:00:00", "standard"
        t[:] = np.arange(days, dtype=np.float64)
        for name, values in (("y", y), ("x", x)):
            v = ds.createVariable(name, "f4", (name,))
            v.units = "m"
            v[:] = values
        return ds

    def add(ds, name):
        data = src[name][:, crop[0], crop[1]]
        v = ds.createVariable(name, "f4", ("time", "y", "x"), fill_value=np.float32(-9999.0),
                              chunksizes=(31, min(64, data.shape[1]), min(128, data.shape[2])), zlib=True, complevel=1)
        v.units = "s" if name == "dayl" else "degrees C"
        v.set_auto_maskandscale(False)
        v[:] = np.where(np.isnan(data), np.float32(-9999.0), data)

    with create(single) as one:
        for name in ("tmin", "tmax", "dayl"):
            add(one, name)
            with create(os.path.join(directory, f"{name}.nc")) as ds:
                add(ds, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="rsdat-spring-index")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--days", type=int, default=300)
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    a = ap.parse_args()
    import zarr
    import xarray as xr

    tmp = tempfile.mkdtemp(prefix="rsdat-spring-")
    try:
        daymet, out = os.path.join(tmp, "daymet.zarr"), os.path.join(tmp, "si.zarr")
        # A few days more than the model reads, so that --days is exercised.
        t0 = time.perf_counter()
        subprocess.run([a.bin, "--generate", daymet, "--days", str(a.days + 10), "--size", str(a.size)], check=True)
        subprocess.run([a.bin, "--daymet", daymet, "--out", out, "--days", str(a.days)], check=True)
        # Time in chunks: the model as pad, rolling sums, cumsum and reductions.
        out_chunked = os.path.join(tmp, "si-chunked.zarr")
        subprocess.run([a.bin, "--daymet", daymet, "--out", out_chunked, "--days", str(a.days), "--time-chunk", "64"],
                       check=True)
        t1 = time.perf_counter()

        src = zarr.open_group(daymet, mode="r")
        for name in ("tmin", "tmax", "dayl"):
            INPUTS[name] = src[name][: a.days]
        ny = INPUTS["tmin"].shape[1]
        strips = [slice(r, min(r + 32, ny)) for r in range(0, ny, 32)]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            parts = pool.map(spring_index, strips)
        want_leaf = np.concatenate([p[0] for p in parts], axis=1)
        want_agdh = np.concatenate([p[1] for p in parts], axis=1)
        want_bloom = np.concatenate([p[2] for p in parts], axis=1)
        t2 = time.perf_counter()

        failures = []
        for store in (out, out_chunked):
            print(f"{os.path.basename(store)}:")
            compare(zarr.open_group(store, mode="r"), want_leaf, want_agdh, want_bloom, failures)

        # NetCDF inputs in Daymet's layout, written by netCDF4-python, for a crop holding
        # the mountain and the sea: one file per variable, and one file with the three.
        t3 = time.perf_counter()
        ny_all, nx_all = INPUTS["tmin"].shape[1:]
        crop = (slice(ny_all * 5 // 8, ny_all * 3 // 4), slice(nx_all // 4, nx_all))
        single = os.path.join(tmp, "daymet.nc")
        write_netcdf_inputs(src, crop, tmp, single)
        out_nc = os.path.join(tmp, "si-netcdf.zarr")
        out_nc1 = os.path.join(tmp, "si-netcdf1.zarr")
        files = [os.path.join(tmp, f"{n}.nc") for n in ("tmin", "tmax", "dayl")]
        subprocess.run([a.bin, "--tmin", files[0], "--tmax", files[1], "--dayl", files[2], "--out", out_nc,
                        "--days", str(a.days), "--chunk", "128"], check=True)
        subprocess.run([a.bin, "--daymet", single, "--out", out_nc1, "--days", str(a.days)], check=True)
        t4 = time.perf_counter()
        whole = zarr.open_group(out, mode="r")
        for store in (out_nc, out_nc1):
            print(f"{os.path.basename(store)} (NetCDF inputs, y {crop[0].start}:{crop[0].stop}, "
                  f"x {crop[1].start}:{crop[1].stop}):")
            res = zarr.open_group(store, mode="r")
            compare(res, want_leaf[:, crop[0], crop[1]], want_agdh[:, crop[0], crop[1]],
                    want_bloom[:, crop[0], crop[1]], failures)
            for name in ("first_leaf", "first_bloom", "agdh_after_leaf"):
                got, ref = res[name][:], whole[name][:][:, crop[0], crop[1]]
                if got.shape != ref.shape or not np.array_equal(got, ref, equal_nan=True):
                    failures.append(f"{os.path.basename(store)} {name} differs from the Zarr inputs' result")
        print(f"rsdat on NetCDF inputs {t4 - t3:.1f} s")
        # xarray reads both stores with their dimensions and coordinates.
        with np.errstate(all="ignore"):
            ds_in = xr.open_zarr(daymet, consolidated=False)
            ds = xr.open_zarr(out, consolidated=False)
        if ds_in["tmin"].dims != ("time", "y", "x") or not np.issubdtype(ds_in["time"].dtype, np.datetime64):
            failures.append(f"inputs read by xarray as {ds_in['tmin'].dims}, time {ds_in['time'].dtype}")
        if ds["first_leaf"].dims != ("plant", "y", "x") or list(ds["plant"].values) != list(PLANTS) + ["mean"]:
            failures.append(f"output read by xarray as {ds['first_leaf'].dims}, plant {ds['plant'].values}")
        print(f"rsdat (generate + model) {t1 - t0:.1f} s, NumPy {t2 - t1:.1f} s")
        if failures:
            print("FAILED:", "; ".join(failures))
            return 1
        print("OK")
        return 0
    finally:
        if a.keep:
            print("stores kept in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
