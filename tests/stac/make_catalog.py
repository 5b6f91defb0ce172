#!/usr/bin/python3
"""A static STAC catalog of Zarr assets written by zarr-python, and what NumPy makes of it.

  make_catalog.py DIR BASE_URL

writes DIR/catalog.json (a Catalog with one child Collection s2 of 36 items; item
links and asset hrefs alternately relative, with "..", and absolute under BASE_URL,
which is where DIR is served), DIR/mixed.json (a Catalog of s2 and a Collection whose
one item has another grid), DIR/jp2.json (an item with a JPEG 2000 asset, which is not
read), DIR/cogs.json (an item collection of 6 items whose bands are Cloud-Optimised
GeoTIFFs written by GDAL), and in DIR/expected/ the results rsdat must reproduce exactly:

  static.json, static_sum.raw, static_max.raw   items with eo:cloud_cover <= 75 from
      2021-05-10 to 2021-07-20 stacked (time, band, y, x): ids and times in order, the
      x and y coordinates (top-left corners), int64 sum and uint16 max over time
  search.json, search_sum.raw   what search_server.py finds for SEARCH below
  cogs_sum.raw   the COG items stacked, int64 sum over time
"""
import json, os, sys
from datetime import datetime, timedelta, timezone

import numpy as np
import numcodecs
import zarr
from osgeo import gdal, osr

SHAPE = (40, 30)
TRANSFORM = [10.0, 0.0, 600000.0, 0.0, -10.0, 5800000.0]
EPSG = 32631
HERE = [4.8, 52.3, 5.0, 52.4]
ELSEWHERE = [10.0, 40.0, 10.2, 40.1]
SEARCH = {"collections": ["s2"], "bbox": [4.9, 52.35, 4.95, 52.38],
          "datetime": "2021-06-01T00:00:00Z/2021-07-31T23:59:59Z"}


def when(k):
    # Items 10 and 11 share their datetime: they stay two time steps.
    day = k if k <= 10 else k - 1
    return datetime(2021, 5, 1, 10, 30, tzinfo=timezone.utc) + timedelta(days=3 * day)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def band(k, b):
    return np.random.RandomState(1000 * k + b).randint(0, 10000, SHAPE).astype("<u2")


def item_id(k):
    return f"S2_{k:02d}"


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def item(d, base, collection, k, transform=TRANSFORM, bbox=HERE):
    iid = item_id(k) if collection == "s2" else f"odd-grid-{k}"
    rel = f"{collection}/items/{iid}"
    assets = {}
    for b, name in ((4, "B04"), (8, "B08")):
        z = zarr.open_array(f"{d}/{rel}/{name}.zarr", mode="w", shape=SHAPE, chunks=(20, 15), dtype="<u2",
                            compressor=numcodecs.Blosc("lz4") if b == 4 else numcodecs.Zstd(3), fill_value=0)
        z[...] = band(k, b)
        href = [f"./{name}.zarr", f"../{iid}/{name}.zarr", f"{base}{rel}/{name}.zarr"][k % 3]
        assets[name] = {"href": href, "type": "application/vnd+zarr", "roles": ["data"]}
    doc = {"type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": collection,
           "stac_extensions": ["https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                               "https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
           "geometry": None, "bbox": bbox,
           "properties": {"datetime": iso(when(k)), "eo:cloud_cover": float((k * 37) % 100),
                          "proj:epsg": EPSG, "proj:transform": transform, "proj:shape": list(SHAPE)},
           "links": [{"rel": "collection", "href": "../../collection.json"}],
           "assets": assets}
    write_json(f"{d}/{rel}/{iid}.json", doc)
    return rel, doc


def write_cog(path, values):
    mem = gdal.GetDriverByName("MEM").Create("", SHAPE[1], SHAPE[0], 1, gdal.GDT_UInt16)
    mem.SetGeoTransform([TRANSFORM[2], TRANSFORM[0], TRANSFORM[1], TRANSFORM[5], TRANSFORM[3], TRANSFORM[4]])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    mem.SetProjection(srs.ExportToWkt())
    mem.GetRasterBand(1).WriteArray(values)
    gdal.GetDriverByName("COG").CreateCopy(path, mem, options=["COMPRESS=DEFLATE"])


def collection(d, base, name, items):
    links = []
    for n, (rel, _) in enumerate(items):
        sub = rel[len(name) + 1:]
        links.append({"rel": "item", "href": f"./{sub}/{os.path.basename(rel)}.json" if n % 2 == 0
                      else f"{base}{rel}/{os.path.basename(rel)}.json", "type": "application/geo+json"})
    links.append({"rel": "root", "href": "../catalog.json"})
    write_json(f"{d}/{name}/collection.json",
               {"type": "Collection", "stac_version": "1.0.0", "id": name, "description": name, "license": "CC-BY-4.0",
                "extent": {"spatial": {"bbox": [HERE]}, "temporal": {"interval": [["2021-05-01T00:00:00Z", None]]}},
                "links": links})


def stacked(docs):
    order = sorted(range(len(docs)), key=lambda i: docs[i]["properties"]["datetime"])  # stable
    ks = [int(docs[i]["id"][3:]) for i in order]
    data = np.stack([np.stack([band(k, 4), band(k, 8)]) for k in ks])  # (time, band, y, x)
    return [docs[i] for i in order], data


def main():
    d, base = sys.argv[1], sys.argv[2]
    items = [item(d, base, "s2", k, bbox=ELSEWHERE if k % 4 == 3 else HERE) for k in range(36)]
    collection(d, base, "s2", items)
    write_json(f"{d}/catalog.json", {"type": "Catalog", "stac_version": "1.0.0", "id": "root", "description": "test",
                                     "links": [{"rel": "child", "href": "./s2/collection.json"},
                                               {"rel": "self", "href": f"{base}catalog.json"}]})
    odd = [item(d, base, "other", 0, transform=[20.0, 0.0, 600000.0, 0.0, -20.0, 5800000.0])]
    collection(d, base, "other", odd)
    write_json(f"{d}/mixed.json", {"type": "Catalog", "stac_version": "1.0.0", "id": "mixed", "description": "two grids",
                                   "links": [{"rel": "child", "href": "s2/collection.json"},
                                             {"rel": "child", "href": "other/collection.json"}]})
    jp2 = json.loads(json.dumps(items[0][1]))
    jp2["id"] = "jp2-item"
    jp2["assets"] = {"visual": {"href": "./visual.jp2", "type": "image/jp2"}}
    write_json(f"{d}/jp2.json", jp2)
    # Items whose bands are COGs (relative hrefs, and one by file name without a type).
    cogs = []
    for k in range(6):
        doc = json.loads(json.dumps(items[k][1]))
        doc["links"] = []
        for b, name in ((4, "B04"), (8, "B08")):
            os.makedirs(f"{d}/cogs", exist_ok=True)
            write_cog(f"{d}/cogs/{item_id(k)}_{name}.tif", band(k, b))
            doc["assets"][name] = {"href": f"cogs/{item_id(k)}_{name}.tif", "roles": ["data"]}
            if k != 2:
                doc["assets"][name]["type"] = "image/tiff; application=geotiff; profile=cloud-optimized"
        cogs.append(doc)
    write_json(f"{d}/cogs.json", {"type": "FeatureCollection", "features": cogs})

    os.makedirs(f"{d}/expected", exist_ok=True)
    docs = [doc for _, doc in items]
    lo, hi = "2021-05-10T00:00:00Z", "2021-07-20T00:00:00Z"
    kept = [x for x in docs if x["properties"]["eo:cloud_cover"] <= 75 and lo <= x["properties"]["datetime"] <= hi]
    kept, data = stacked(kept)
    x = [TRANSFORM[2] + TRANSFORM[0] * j for j in range(SHAPE[1])]
    y = [TRANSFORM[5] + TRANSFORM[4] * i for i in range(SHAPE[0])]
    write_json(f"{d}/expected/static.json", {"ids": [k["id"] for k in kept], "x": x, "y": y,
                                             "time": [int(datetime.strptime(k["properties"]["datetime"], "%Y-%m-%dT%H:%M:%SZ")
                                                          .replace(tzinfo=timezone.utc).timestamp()) * 10**9 for k in kept]})
    data.astype(np.int64).sum(axis=0).astype("<i8").tofile(f"{d}/expected/static_sum.raw")
    data.max(axis=0).astype("<u2").tofile(f"{d}/expected/static_max.raw")

    lo, hi = SEARCH["datetime"].split("/")
    found = [x for x in docs if x["collection"] in SEARCH["collections"] and lo <= x["properties"]["datetime"] <= hi
             and x["bbox"] == HERE]
    found, data = stacked(found)
    write_json(f"{d}/expected/search.json", {"ids": [k["id"] for k in found], "search": SEARCH})
    data.astype(np.int64).sum(axis=0).astype("<i8").tofile(f"{d}/expected/search_sum.raw")
    _, data = stacked(cogs)
    data.astype(np.int64).sum(axis=0).astype("<i8").tofile(f"{d}/expected/cogs_sum.raw")
    print(f"wrote {len(items)} items, {len(kept)} kept, {len(found)} found")


if __name__ == "__main__":
    main()
