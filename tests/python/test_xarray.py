"""xarray over rsdat arrays: rsdat.open_zarr against xarray.open_zarr on stores that
xarray's to_zarr wrote (zarr-python underneath), xarray's operations staying lazy on
rsdat arrays, and the .rsdat accessor computing in one graph."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import rsdat
import rsdat.array as da


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A dataset with the CF encodings xarray writes: times, a float variable with NaN,
    an int16 one packed with scale_factor/add_offset/_FillValue, a non-dimension
    coordinate, attributes."""
    rng = np.random.default_rng(7)
    t, y, x = 12, 30, 40
    temp = rng.normal(280, 5, (t, y, x))
    temp[rng.uniform(size=temp.shape) < 0.1] = np.nan
    ds = xr.Dataset(
        {"temp": (("time", "y", "x"), temp, {"units": "K", "long_name": "air temperature"}),
         "ndvi": (("time", "y", "x"), rng.uniform(-1, 1, (t, y, x)).round(4)),
         "mask": (("y", "x"), rng.uniform(size=(y, x)) > 0.3)},
        coords={"time": pd.date_range("2021-01-01", periods=t, freq="D"), "y": np.arange(y) * -10.0 + 5e6,
                "x": np.arange(x) * 10.0 + 6e5, "station": (("y", "x"), rng.integers(0, 5, (y, x)))},
        attrs={"title": "test cube", "version": 3})
    ds.ndvi.encoding = {"dtype": "int16", "scale_factor": 1e-4, "add_offset": 0.0, "_FillValue": -32768}
    ds["ndvi"][0, 0, 0] = np.nan
    ds = ds.chunk({"time": 5, "y": 16, "x": 16})
    d = tmp_path_factory.mktemp("xr")
    paths = {}
    for consolidated in (True, False):
        paths[consolidated] = str(d / f"cube-{consolidated}.zarr")
        ds.to_zarr(paths[consolidated], consolidated=consolidated)
    return paths


@pytest.mark.parametrize("consolidated", [True, False])
def test_open_zarr_reads_what_xarray_reads(written, consolidated):
    path = written[consolidated]
    ours, theirs = rsdat.open_zarr(path), xr.open_zarr(path, consolidated=consolidated).load()
    assert set(ours.data_vars) == set(theirs.data_vars) == {"temp", "ndvi", "mask"}
    assert set(ours.coords) == set(theirs.coords)
    assert ours.attrs == theirs.attrs
    for name in ours.data_vars:
        assert isinstance(ours[name].rsdat.data, rsdat.Array), name
        assert ours[name].dims == theirs[name].dims and ours[name].attrs == theirs[name].attrs
    computed = ours.rsdat.compute()
    for name in list(ours.data_vars) + list(ours.coords):
        assert isinstance(computed[name].data, np.ndarray)
        assert computed[name].dtype == theirs[name].dtype, name
        np.testing.assert_array_equal(computed[name].values, theirs[name].values, err_msg=name)
    assert ours.temp.encoding["chunks"] == (5, 16, 16)


def test_xarray_operations_stay_on_the_cluster(written):
    ours, theirs = rsdat.open_zarr(written[True]), xr.open_zarr(written[True]).load()

    def same(f):
        got, want = f(ours), f(theirs)
        assert isinstance(got.variable._data, rsdat.Array), type(got.variable._data)
        c = got.rsdat.compute()
        assert c.dims == want.dims and c.dtype == want.dtype
        # ndvi decodes to float32 (as xarray's), whose sums differ in their order
        rtol = 2e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(c.values, want.values, rtol=rtol, atol=rtol, equal_nan=True)

    same(lambda d: d.temp.mean("time"))
    same(lambda d: (d.temp - d.temp.mean("time")).std("time"))
    same(lambda d: d.temp.where(d.mask).max(["y", "x"]))
    same(lambda d: d.ndvi.isel(time=slice(2, 9), x=slice(None, None, 3)).sum("x"))
    same(lambda d: d.ndvi.sel(time="2021-01-05"))
    same(lambda d: d.temp.transpose("x", "time", "y") * d.mask)
    same(lambda d: np.sqrt(d.temp).median("time"))
    same(lambda d: xr.where(d.ndvi > 0, d.ndvi, 0).count("time"))


def test_to_and_from_xarray():
    x = da.arange(24, chunks=5).reshape(4, 6)
    a = rsdat.to_xarray(x, dims=("y", "x"), coords={"x": np.arange(6)}, attrs={"units": "m"}, name="h")
    assert a.rsdat.data is rsdat.from_xarray(a)
    assert a.name == "h" and a.attrs == {"units": "m"}
    np.testing.assert_array_equal(a.sum("y").rsdat.compute().values, np.arange(24).reshape(4, 6).sum(0))
    plain = xr.DataArray(np.ones((3, 3)), dims=("a", "b"))
    back = rsdat.from_xarray(plain, chunks=2)
    assert back.chunks == ((2, 1), (2, 1))
    assert plain.rsdat.data is None
    np.testing.assert_array_equal(plain.rsdat.compute().values, plain.values)  # nothing to compute


def test_persist_keeps_the_arrays_on_the_workers(written):
    ds = rsdat.open_zarr(written[True])
    kept = ds[["temp"]].rsdat.persist()
    assert isinstance(kept.temp.rsdat.data, rsdat.Array)
    np.testing.assert_array_equal(kept.temp.values, xr.open_zarr(written[True]).temp.values)


def test_errors_are_named(tmp_path):
    with pytest.raises(ValueError, match="no Zarr group"):
        rsdat.open_zarr(str(tmp_path / "none.zarr"))
    import zarr
    g = zarr.open_group(str(tmp_path / "raw.zarr"), mode="w")
    g.zeros("plain", shape=(3,), chunks=(2,))
    with pytest.raises(ValueError, match="plain has no _ARRAY_DIMENSIONS"):
        rsdat.open_zarr(str(tmp_path / "raw.zarr"))


def test_rolling_and_groupby_run_on_rsdat_and_agree_with_xarray(written):
    ours, theirs = rsdat.open_zarr(written[True]), xr.open_zarr(written[True]).load()
    for stat in ("sum", "mean", "min", "max", "std", "count", "median"):
        for center, min_periods in ((False, None), (True, 2)):
            got = getattr(ours.temp.rsdat.rolling(time=3, center=center, min_periods=min_periods), stat)()
            want = getattr(theirs.temp.rolling(time=3, center=center, min_periods=min_periods), stat)()
            assert isinstance(got.rsdat.data, rsdat.Array)
            # std from running sums (O(1) per element) is exact to about 1e-9 of values near 280
            np.testing.assert_allclose(got.rsdat.compute().values, want.values, rtol=1e-8, atol=1e-8,
                                       equal_nan=True, err_msg=f"{stat} center={center}")
    for stat in ("sum", "mean", "min", "max", "std", "median", "count", "first", "last"):
        got = getattr(ours.temp.rsdat.groupby("time.dayofweek"), stat)()
        want = getattr(theirs.temp.groupby("time.dayofweek"), stat)()
        assert got.dims == want.dims and isinstance(got.rsdat.data, rsdat.Array), stat
        np.testing.assert_array_equal(got.dayofweek.values, want.dayofweek.values)
        np.testing.assert_allclose(got.rsdat.compute().values, want.values, rtol=1e-10, equal_nan=True, err_msg=stat)
    # A Dataset: every variable along the dimension.
    got = ours.rsdat.groupby("time.dayofweek").mean().rsdat.compute()
    want = theirs.groupby("time.dayofweek").mean()
    np.testing.assert_allclose(got.ndvi.values, want.ndvi.values, rtol=2e-5, equal_nan=True)
    np.testing.assert_array_equal(got.mask.values, want.mask.values)


def test_array_level_rolling_and_groupby_reduce():
    x = np.random.default_rng(3).normal(size=(50, 6))
    x[5, 2] = np.nan
    r = rsdat.array.rolling(da.from_array(x, chunks=(7, 3)), 0, 4, min_periods=2).mean().compute()
    want = xr.DataArray(x).rolling(dim_0=4, min_periods=2).mean().values
    np.testing.assert_allclose(r, want, rtol=1e-12, equal_nan=True)
    labels = np.array(["b", "a", "c", "a", "b"] * 10)
    got, groups = rsdat.array.groupby_reduce(da.from_array(x, chunks=(7, 3)), labels, "nanmean", axis=0)
    assert list(groups) == ["a", "b", "c"]
    np.testing.assert_allclose(got.compute(), np.stack([np.nanmean(x[labels == g], axis=0) for g in groups]),
                               rtol=1e-12)
    got, groups = rsdat.array.groupby_reduce(da.from_array(x, chunks=(7, 3)), labels, "sum", axis=0,
                                             expected_groups=["c", "z", "a"], fill_value=0)
    assert list(groups) == ["a", "c", "z"]
    np.testing.assert_allclose(got.compute()[2], 0)
    with pytest.raises(ValueError, match="one label per index"):
        rsdat.array.groupby_reduce(da.from_array(x), labels[:3], "sum", axis=0)
