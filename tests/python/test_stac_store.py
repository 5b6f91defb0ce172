"""rsdat.stac (read_items, search, stack as stackstac gives it) and rsdat.store, on the
catalog tests/stac/make_catalog.py writes with zarr-python and GDAL, its STAC API
server (tests/stac/search_server.py) on loopback, and what NumPy makes of it."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import rsdat
import rsdat.stac
import rsdat.store

SOURCE = os.environ.get("RSDAT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
STAC = os.path.join(SOURCE, "tests", "stac")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("stac"))
    subprocess.run([sys.executable, os.path.join(STAC, "make_catalog.py"), d, f"file://{d}/"], check=True,
                   capture_output=True)
    return d


@pytest.fixture(scope="module")
def api(catalog, tmp_path_factory):
    port = free_port()
    log = str(tmp_path_factory.mktemp("api") / "requests.log")
    proc = subprocess.Popen([sys.executable, os.path.join(STAC, "search_server.py"), str(port), catalog,
                             f"file://{catalog}/", log])
    try:
        for _ in range(500):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait()


def expected(catalog, name):
    with open(os.path.join(catalog, "expected", name)) as f:
        return json.load(f)


def raw(catalog, name, dtype, shape):
    return np.fromfile(os.path.join(catalog, "expected", name), dtype=dtype).reshape(shape)


def test_read_items_follows_the_catalog(catalog):
    items = rsdat.stac.read_items(os.path.join(catalog, "catalog.json"))
    assert len(items) == 36
    first = items[0]
    assert isinstance(first, rsdat.stac.Item)
    assert first.id == "S2_00" and first.collection == "s2" and first.epsg == 32631
    assert first.datetime == "2021-05-01T10:30:00Z"
    assert first.time == int(rsdat.stac.parse_datetime("2021-05-01T10:30:00Z").astype("int64"))
    assert sorted(first.assets) == ["B04", "B08"]
    assert all(os.path.isabs(a.href.replace("file://", "")) for i in items for a in i.assets.values())


def test_stack_is_stackstacs_dataarray_and_computes_as_numpy(catalog):
    want = expected(catalog, "static.json")
    items = rsdat.stac.read_items(os.path.join(catalog, "catalog.json"))
    cube = rsdat.stac.stack(items, ["B04", "B08"], max_cloud_cover=75, start_datetime="2021-05-10T00:00:00Z",
                            end_datetime="2021-07-20T00:00:00Z")
    assert cube.dims == ("time", "band", "y", "x")
    assert isinstance(cube.rsdat.data, rsdat.Array)
    assert list(cube.id.values) == want["ids"]
    np.testing.assert_array_equal(cube.time.values.astype("int64"), want["time"])
    np.testing.assert_array_equal(cube.x.values, want["x"])
    np.testing.assert_array_equal(cube.y.values, want["y"])
    assert list(cube.band.values) == ["B04", "B08"]
    assert cube.attrs["epsg"] == 32631 and cube.attrs["crs"] == "EPSG:32631"
    shape = (2, 40, 30)
    total = cube.astype("int64").sum("time")
    peak = cube.max("time")
    assert isinstance(total.rsdat.data, rsdat.Array)  # xarray's reductions stay on the cluster
    got_sum, got_max = total.rsdat.compute(), peak.rsdat.compute()
    np.testing.assert_array_equal(got_sum.values, raw(catalog, "static_sum.raw", "<i8", shape))
    np.testing.assert_array_equal(got_max.values, raw(catalog, "static_max.raw", "<u2", shape))
    # Selecting a band by name, as stackstac users do.
    np.testing.assert_array_equal(cube.sel(band="B08").max("time").values, raw(catalog, "static_max.raw", "<u2", shape)[1])


def test_cog_assets_stack_too(catalog):
    cube = rsdat.stac.stack(rsdat.stac.read_items(os.path.join(catalog, "cogs.json")))
    np.testing.assert_array_equal(cube.astype("int64").sum("time").values,
                                  raw(catalog, "cogs_sum.raw", "<i8", (2, 40, 30)))


def test_search_pages_through_the_api(catalog, api):
    url, log = api
    want = expected(catalog, "search.json")
    s = want["search"]
    items = rsdat.stac.search(url, bbox=s["bbox"], datetime=s["datetime"], collections=s["collections"], limit=2)
    assert [i.id for i in items] == want["ids"]
    with open(log) as f:
        assert len(f.read().splitlines()) > 1  # several pages
    cube = rsdat.stac.stack(items, ["B04", "B08"])
    np.testing.assert_array_equal(cube.astype("int64").sum("time").values,
                                  raw(catalog, "search_sum.raw", "<i8", (2, 40, 30)))
    assert len(rsdat.stac.search(url, collections="s2", max_items=3)) == 3


def test_bad_input_is_named(catalog):
    with pytest.raises(ValueError, match="nothing.json"):
        rsdat.stac.read_items(os.path.join(catalog, "nothing.json"))
    items = rsdat.stac.read_items(os.path.join(catalog, "mixed.json"))
    with pytest.raises(ValueError, match="odd-grid"):
        rsdat.stac.stack(items, ["B04"])
    with pytest.raises(ValueError, match="no item"):
        rsdat.stac.stack(items, ["B04"], max_cloud_cover=-1)
    with pytest.raises(ValueError):
        rsdat.stac.parse_datetime("yesterday")


def test_store_files_beside_arrays(tmp_path):
    s = str(tmp_path / "out.zarr")
    rsdat.store.put(s, "notes/a.txt", "first")
    rsdat.store.put(s, "notes/b.bin", b"\x00\x01")
    assert rsdat.store.get(s, "notes/a.txt") == b"first"
    assert rsdat.store.exists(s, "notes/b.bin") and not rsdat.store.exists(s, "notes/c")
    assert rsdat.store.list(s) == [rsdat.store.StoreEntry("notes", True)]
    assert [e.name for e in rsdat.store.list(s, "notes")] == ["a.txt", "b.bin"]
    with pytest.raises(KeyError, match="c.txt"):
        rsdat.store.get(s, "notes/c.txt")
    with pytest.raises(ValueError):
        rsdat.store.get(s, "../escape")
    rsdat.store.remove(s, "notes")
    assert rsdat.store.list(s) == []
