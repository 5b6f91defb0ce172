"""STAC catalogs as lazy arrays, as pystac, pystac-client and stackstac give them:

    import rsdat.stac
    items = rsdat.stac.read_items("davs://dcache.example.org:2880/pnfs/s2/catalog.json")
    cube = rsdat.stac.stack(items, assets=["B04", "B08"], max_cloud_cover=20)
    red, nir = cube.sel(band="B04"), cube.sel(band="B08")
    ndvi = ((nir - red) / (nir + red)).median("time")        # an xarray.DataArray over rsdat
    ndvi.rsdat.compute()

Documents are read in this process from any store URL with the stores' credentials
(rsdat.store); relative hrefs resolve against their document. Assets are Zarr arrays
or (Cloud-Optimised) GeoTIFFs, read lazily by the workers. Bad or unreadable documents
raise ValueError naming the URL.
"""

import numpy as np

from . import _rsdat

Item = _rsdat.StacItem
Asset = _rsdat.StacAsset


def read_items(url):
    """The items of the STAC document at `url` (an Item, a FeatureCollection, or a
    Catalog or Collection whose child and item links are followed), in link order."""
    return list(_rsdat.stac_read_items(str(url)))


def search(url, bbox=None, datetime=None, collections=None, limit=100, max_items=None):
    """The items a STAC API at `url` finds (pystac_client.Client.open(url).search(...)
    .items()): POST url/search with bbox (west, south, east, north), datetime
    ("2021-06-01/2021-08-31", "../2021-01-01") and collections, following every "next"
    link until max_items (None: all)."""
    if isinstance(collections, str):
        collections = [collections]
    return list(_rsdat.stac_search(str(url), [float(v) for v in (bbox or [])], datetime or "",
                                   list(collections or []), int(limit), -1 if max_items is None else int(max_items)))


def stack(items, assets=None, *, max_cloud_cover=None, start_datetime=None, end_datetime=None,
          xy_coords="topleft"):
    """`items` stacked as stackstac.stack does: an xarray.DataArray of (time, band, y, x)
    over a lazy rsdat array, sorted by datetime, with the `assets` as bands (every asset
    of the first item when None), on the items' shared grid (proj:epsg, proj:transform,
    proj:shape). Coordinates time (datetime64[ns]), band, y, x (pixel corners, or
    centres with xy_coords="center") and id (the item of each time step); attrs crs,
    epsg and transform. Items are first kept by eo:cloud_cover <= max_cloud_cover and
    the datetime range. Raises ValueError naming the items on another grid, an item
    without an asset, or when none is left."""
    import xarray as xr

    if isinstance(assets, str):
        assets = [assets]
    s = _rsdat.stac_stack(list(items), list(assets or []), None if max_cloud_cover is None else float(max_cloud_cover),
                          start_datetime or "", end_datetime or "", xy_coords)
    from .array import Array
    time = np.array(s["time"], dtype="datetime64[ns]")
    return xr.DataArray(
        Array(s["data"]), dims=tuple(s["dims"]), name="stackstac",
        coords={"time": time, "band": np.array(s["band"]), "y": np.array(s["y"]), "x": np.array(s["x"]),
                "id": ("time", np.array(s["id"]))},
        attrs={"crs": s["crs"], "epsg": s["epsg"], "transform": tuple(s["transform"])})


def parse_datetime(text):
    """An RFC 3339 datetime (a bare date is its midnight UTC) as numpy.datetime64[ns]."""
    return np.datetime64(_rsdat.stac_parse_datetime(text), "ns")
