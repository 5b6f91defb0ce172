"""Stores by URL (a directory, http(s)://, dav(s)://, s3://): the small files a program
keeps beside its arrays (attributes, coordinates, a manifest), read and written in this
process with the stores' credentials, limits and retries (the README's "Stores").

    import rsdat.store
    rsdat.store.put("davs://dcache.example.org:2880/pnfs/out.zarr", "notes.txt", b"...")
    [e.name for e in rsdat.store.list("https://h/cube.zarr")]

A missing key raises KeyError naming the URL; a bad URL ValueError; a store that
fails RuntimeError naming the URL and the HTTP status (never a token).
"""

import os
from collections import namedtuple

from . import _rsdat

StoreEntry = namedtuple("StoreEntry", "name is_dir")


def get(store, key):
    """The bytes of the object at `key`."""
    return _rsdat.store_get(os.fspath(store), key)


def put(store, key, data):
    """Replaces the object at `key` with `data` (bytes, or str as UTF-8) atomically,
    making missing directories."""
    if isinstance(data, str):
        data = data.encode()
    _rsdat.store_put(os.fspath(store), key, bytes(data))


def exists(store, key):
    """Whether an object exists at `key`."""
    return _rsdat.store_exists(os.fspath(store), key)


def remove(store, key):
    """Removes the object, or the directory and everything under it; a missing key is
    no error."""
    _rsdat.store_remove(os.fspath(store), key)


def list(store, prefix=""):  # noqa: A001 (the store's own verb)
    """The entries directly under `prefix` ("" for the root), sorted by name."""
    return [StoreEntry(n, d) for n, d in _rsdat.store_list(os.fspath(store), prefix)]
