#!/usr/bin/python3
"""The inputs of the cog_ndvi workload, the same for rsdat and Dask: 16 dates x 2 bands
(red, nir) of Y x Y uint16 COGs (512-pixel tiles, DEFLATE, overviews, nodata 0, UTM
31N at 10 m), from a seeded generator. Usage: cog_inputs.py DIR Y. Does nothing when DIR
already holds a complete set for Y (DIR/done)."""
import os
import sys

import numpy as np
from osgeo import gdal, osr

DATES = 16


def main(d, y):
    done = os.path.join(d, "done")
    if os.path.exists(done) and open(done).read().strip() == str(y):
        return
    os.makedirs(d, exist_ok=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    for t in range(DATES):
        for band, hi in (("red", 5000), ("nir", 9000)):
            rng = np.random.default_rng(1000 * t + (band == "nir"))
            a = rng.integers(0, hi, size=(y, y), dtype=np.uint16)
            mem = gdal.GetDriverByName("MEM").Create("", y, y, 1, gdal.GDT_UInt16)
            mem.SetGeoTransform((600000.0, 10.0, 0.0, 5000040.0, 0.0, -10.0))
            mem.SetProjection(srs.ExportToWkt())
            mem.GetRasterBand(1).SetNoDataValue(0)
            mem.GetRasterBand(1).WriteArray(a)
            gdal.Translate(os.path.join(d, f"{band}_{t:02d}.tif"), mem, format="COG",
                           creationOptions=["BLOCKSIZE=512", "COMPRESS=DEFLATE", "NUM_THREADS=ALL_CPUS"])
    with open(done, "w") as f:
        f.write(str(y))


if __name__ == "__main__":
    gdal.UseExceptions()
    main(sys.argv[1], int(sys.argv[2]))
