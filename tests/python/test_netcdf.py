"""rsdat.array.from_netcdf and to_netcdf against netCDF4-python and xarray."""

import netCDF4
import numpy as np
import pytest
import xarray as xr

import rsdat.array as da
from conftest import check


def test_netcdf_roundtrip(tmp_path):
    path = str(tmp_path / "in.nc")
    raw = np.arange(4 * 6 * 5, dtype=np.int16).reshape(4, 6, 5)
    raw[0, 0, 0] = -1
    with netCDF4.Dataset(path, "w") as ds:
        for d, n in zip(("time", "y", "x"), raw.shape):
            ds.createDimension(d, n)
        v = ds.createVariable("t", "i2", ("time", "y", "x"), chunksizes=(1, 3, 5), zlib=True, fill_value=np.int16(-1))
        v.scale_factor = np.float32(0.5)
        v.set_auto_maskandscale(False)
        v[:] = raw
    want = xr.open_dataset(path)["t"].values
    a = da.from_netcdf(path, "t")
    assert a.chunks == ((1, 1, 1, 1), (3, 3), (5,))
    check(a, want, exact=True)
    check(da.from_netcdf(path, "t", mask_and_scale=False), raw)
    out = str(tmp_path / "out.nc")
    da.to_netcdf(a * 2, out, "t2", dims=("time", "y", "x"), attrs={"units": "K", "valid_range": [0, 100]})
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(ds["t2"].values, want * 2)
        assert ds["t2"].attrs["units"] == "K"
    with pytest.raises(ValueError, match="no variable 'nope'"):
        da.from_netcdf(path, "nope")
