"""Synthetic inputs of the example notebooks, made with NumPy from a seed, so that a
check can make the same inputs again and compute the notebooks' results with NumPy
(tests/notebooks/check_notebook.py). Real analyses read their inputs instead
(rsdat.array.from_zarr, from_raster, from_netcdf, a STAC catalog).
"""
import numpy as np


def red_nir(time=16, size=256, seed=2024, cloud_fraction=0.1):
    """A red and a near-infrared reflectance cube (time, y, x), float32, like
    rsdat-ndvi-demo's: fields of more and less vegetation that green up and brown off
    over the season, sensor noise, and clouds (NaN in both bands) over about
    `cloud_fraction` of the observations."""
    rng = np.random.default_rng(seed)
    t = np.arange(time, dtype=np.float32)[:, None, None] / np.float32(time)
    y = np.arange(size, dtype=np.float32)[None, :, None] / np.float32(size)
    x = np.arange(size, dtype=np.float32)[None, None, :] / np.float32(size)
    hill = 16 * x * (1 - x) * y * (1 - y)
    diag = (x - y) ** 2
    season = 4 * t * (1 - t)  # green-up and senescence
    veg = 0.15 + 0.6 * hill * (0.5 + 0.5 * season) - 0.3 * np.minimum(diag, 0.5)
    shape = (time, size, size)
    red = (0.02 + 0.12 * (1 - veg) + 0.02 * rng.random(shape, dtype=np.float32)).astype(np.float32)
    nir = (0.10 + 0.45 * veg + 0.04 * rng.random(shape, dtype=np.float32)).astype(np.float32)
    cloudy = rng.random(shape) < cloud_fraction
    red[cloudy] = np.nan
    nir[cloudy] = np.nan
    return red, nir


def daymet_like(days=300, ny=64, nx=64, seed=7):
    """Daymet-like daily tmin, tmax (degrees C) and dayl (s), (time, y, x) float32,
    as `rsdat-spring-index --generate` makes them: a seasonal cycle falling from south
    to north, a cold mountain in the north-west where some plants never leaf out, a
    daily range of 8 to 14 degrees, uniform noise, day length from 9 to 15 hours, and
    NaN over a sea along the eastern edge."""
    rng = np.random.default_rng(seed)
    two_pi = 2 * np.pi
    t = np.arange(days, dtype=np.float64)[:, None, None]
    yn = (np.arange(ny, dtype=np.float64) / ny)[None, :, None]  # 0 south .. 1 north
    xn = (np.arange(nx, dtype=np.float64) / nx)[None, None, :]
    season = -np.cos((t - 15) * (two_pi / 365))  # -1 mid-January .. 1 mid-July
    mountain = ((xn - 0.3) ** 2 + (yn - 0.7) ** 2 < 0.01).astype(np.float64)
    tmean = 8 - 10 * yn + (13 + 4 * yn) * season - 25 * mountain
    range_c = 11 + 3 * np.sin(t * (two_pi / 365) + xn)
    dayl_h = 12 + (2 + 1.5 * yn) * np.sin((t - 79) * (two_pi / 365))
    sea = np.broadcast_to(xn > 0.82 + 0.08 * np.sin(yn * 7), (days, ny, nx))
    shape = (days, ny, nx)

    def noise():
        return (rng.random(shape) - 0.5) * 6

    tmin = np.where(sea, np.nan, tmean - 0.5 * range_c + noise()).astype(np.float32)
    tmax = np.where(sea, np.nan, tmean + 0.5 * range_c + noise()).astype(np.float32)
    dayl = np.where(sea, np.nan, np.broadcast_to(dayl_h * 3600, shape)).astype(np.float32)
    return tmin, tmax, dayl
