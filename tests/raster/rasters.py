#!/usr/bin/python3
"""Test rasters for tests/integration/raster_test.cpp, made by GDAL itself (python3-gdal),
and GDAL's checks of what rsdat writes.

  rasters.py make DIR          writes the test files into DIR and prints their names
  rasters.py check FILE        validates FILE as a COG (GDAL's validate_cloud_optimized_geotiff)
                               and prints its layout as JSON
  rasters.py int8 FILE         prints FILE's first band as rasterio reads it (int8 included), as JSON
  rasters.py ndvi RED NIR OUT  prints JSON: whether OUT holds NumPy's NDVI of RED and NIR
                               (nodata as NaN) exactly, and its georeferencing
"""
import json
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

# A UTM grid of 10 m pixels, as Sentinel-2's.
TRANSFORM = (600000.0, 10.0, 0.0, 5000040.0, 0.0, -10.0)
OTHER = (600000.0, 20.0, 0.0, 5000040.0, 0.0, -20.0)


def srs_wkt(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def values(rng, dtype, shape):
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def write(path, data, nodata=None, driver="COG", options=(), transform=TRANSFORM, epsg=32631, scale=None,
          offset=None):
    """Writes (bands, y, x) `data` as a GeoTIFF (striped or tiled by `options`), or a COG made from it."""
    bands, h, w = data.shape
    # GDAL 3.6 stores int8 as bytes marked PIXELTYPE=SIGNEDBYTE (as rasterio writes it).
    signed = data.dtype == np.int8
    gtype = gdal.GetDataTypeByName({"uint8": "Byte", "int8": "Byte"}.get(data.dtype.name, data.dtype.name.capitalize()))
    tmp_path = path if driver == "GTiff" else "/vsimem/" + path.replace("/", "_")
    ds = gdal.GetDriverByName("GTiff").Create(tmp_path, w, h, bands, gtype,
                                               (list(options) if driver == "GTiff" else []) +
                                               (["PIXELTYPE=SIGNEDBYTE"] if signed else []))
    if signed:
        data = data.view(np.uint8)
    ds.SetGeoTransform(transform)
    ds.SetProjection(srs_wkt(epsg))
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if scale is not None:
            band.SetScale(scale)
            band.SetOffset(offset)
        band.WriteArray(data[b])
    if driver == "COG":
        gdal.Translate(path, ds, format="COG", creationOptions=list(options))
        ds = None
        gdal.Unlink(tmp_path)
    ds = None


def make(d):
    rng = np.random.default_rng(7)
    made = []

    def put(name, *args, **kw):
        write(f"{d}/{name}", *args, **kw)
        made.append(name)

    u8 = values(rng, np.uint8, (1, 700, 1000))
    u8[0, :5, :] = 0
    put("cog_u8.tif", u8, nodata=0, options=["BLOCKSIZE=256", "COMPRESS=DEFLATE"])
    u16 = values(rng, np.uint16, (3, 900, 700))
    u16[:, 100, 100:200] = 65535
    put("cog_u16_3b.tif", u16, nodata=65535, options=["BLOCKSIZE=256", "COMPRESS=ZSTD", "OVERVIEWS=AUTO"])
    i16 = values(rng, np.int16, (2, 513, 777))
    i16[1, 10:20, 10:20] = -9999
    put("striped_i16.tif", i16, nodata=-9999, driver="GTiff", options=["BLOCKYSIZE=8", "COMPRESS=LZW"])
    f32 = values(rng, np.float32, (1, 600, 500))
    f32[0, 0, :] = -9999
    put("cog_f32.tif", f32, nodata=-9999, options=["BLOCKSIZE=512", "COMPRESS=DEFLATE", "PREDICTOR=YES"])
    scaled = values(rng, np.uint16, (1, 300, 400))
    put("scaled_u16.tif", scaled, options=["BLOCKSIZE=128"], scale=0.5, offset=-10.0)
    # Two bands of one scene and a third file on another grid, for the NDVI.
    red = rng.integers(0, 5000, size=(1, 1100, 900), dtype=np.uint16)
    nir = rng.integers(0, 8000, size=(1, 1100, 900), dtype=np.uint16)
    red[0, 50:60, :] = 0
    put("red.tif", red, nodata=0, options=["BLOCKSIZE=256", "COMPRESS=DEFLATE"])
    put("nir.tif", nir, nodata=0, options=["BLOCKSIZE=256", "COMPRESS=DEFLATE"])
    put("other_grid.tif", nir, nodata=0, options=["BLOCKSIZE=256"], transform=OTHER)
    i8 = values(rng, np.int8, (2, 300, 500))
    i8[0, 7, :] = -128
    put("cog_i8.tif", i8, nodata=-128, options=["BLOCKSIZE=256"])
    print("\n".join(made))


def layout(path):
    from osgeo_utils.samples import validate_cloud_optimized_geotiff as v
    warnings, errors, _ = v.validate(path, full_check=True)
    ds = gdal.Open(path)
    b = ds.GetRasterBand(1)
    srs = ds.GetSpatialRef()
    out = {
        "errors": errors, "warnings": warnings,
        "size": [ds.RasterCount, ds.RasterYSize, ds.RasterXSize],
        "block": b.GetBlockSize()[::-1],
        "dtype": gdal.GetDataTypeName(b.DataType),
        "overviews": [[b.GetOverview(i).YSize, b.GetOverview(i).XSize] for i in range(b.GetOverviewCount())],
        "transform": list(ds.GetGeoTransform()),
        "epsg": int(srs.GetAuthorityCode(None)) if srs and srs.GetAuthorityCode(None) else None,
        "compression": ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE"),
        "layout": ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"),
        "nodata": b.GetNoDataValue(),
        "pixeltype": b.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE"),
    }
    print(json.dumps(out))


def int8(path):
    import rasterio
    with rasterio.open(path) as r:
        print(json.dumps({"dtype": r.dtypes[0], "nodata": r.nodata, "values": r.read(1).ravel().tolist()}))


def masked(path):
    ds = gdal.Open(path)
    b = ds.GetRasterBand(1)
    a = b.ReadAsArray().astype(np.float32)
    if b.GetNoDataValue() is not None:
        a[b.ReadAsArray() == b.GetNoDataValue()] = np.nan
    return a


def ndvi(red, nir, out):
    r, n = masked(red), masked(nir)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = (n - r) / (n + r)
    ds = gdal.Open(out)
    got = ds.GetRasterBand(1).ReadAsArray()
    src = gdal.Open(red)
    print(json.dumps({
        "equal": bool(np.array_equal(want, got, equal_nan=True)) and got.dtype == np.float32,
        "max_abs_diff": float(np.nanmax(np.abs(want.astype(np.float64) - got))),
        "nan_equal": bool(np.array_equal(np.isnan(want), np.isnan(got))),
        "same_transform": ds.GetGeoTransform() == src.GetGeoTransform(),
        "same_crs": bool(ds.GetSpatialRef().IsSame(src.GetSpatialRef())),
        "shape": list(got.shape),
    }))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "check":
        layout(sys.argv[2])
    elif cmd == "int8":
        int8(sys.argv[2])
    elif cmd == "ndvi":
        ndvi(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
