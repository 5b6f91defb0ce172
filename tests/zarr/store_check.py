#!/usr/bin/python3
"""Reads what rsdat wrote to a WebDAV store back with zarr-python over fsspec's HTTP
filesystem, through the same server, and compares it with the values rsdat was given.

  store_check.py check URL TOKEN_FILE

URL is the store; TOKEN_FILE holds the bearer token. Exits non-zero naming the array
at the first mismatch.
"""
import sys

import fsspec
import numpy as np
import zarr


def expected_v():
    """The (5, 9, 7) float64 values: i * 0.5 - 3, NaN where i % 11 == 0."""
    i = np.arange(5 * 9 * 7, dtype=np.float64).reshape(5, 9, 7)
    return np.where(i % 11 == 0, np.nan, i * 0.5 - 3)


def expected_one():
    """The (1, 3) int16 values 7, 8, 9."""
    return np.array([[7, 8, 9]], dtype=np.int16)


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        sys.exit(__doc__)
    url, token_file = sys.argv[2], sys.argv[3]
    token = open(token_file).read().strip()
    mapper = fsspec.get_mapper(url, client_kwargs={"headers": {"Authorization": "Bearer " + token}})
    root = zarr.open_group(mapper, mode="r")
    v = root["grp/v"]
    if v.dtype != np.float64 or v.shape != (5, 9, 7) or v.chunks != (2, 4, 3):
        sys.exit(f"grp/v: dtype {v.dtype} shape {v.shape} chunks {v.chunks}")
    if v.attrs.get("_ARRAY_DIMENSIONS") != ["t", "y", "x"]:
        sys.exit(f"grp/v: dims {v.attrs.asdict()}")
    if not np.array_equal(v[...], expected_v(), equal_nan=True):
        sys.exit("grp/v: values differ")
    one = root["one"]
    if one.dtype != np.int16 or not np.array_equal(one[...], expected_one()):
        sys.exit(f"one: {one.dtype} {one[...]}")
    print("ok")


if __name__ == "__main__":
    main()
