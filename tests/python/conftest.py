"""One LocalCluster (two single-threaded workers) and its Client for the whole
session; it is the default client of every test."""

import numpy as np
import pytest

import rsdat


@pytest.fixture(scope="session", autouse=True)
def client():
    with rsdat.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="2GB") as cluster:
        with rsdat.Client(cluster) as c:
            yield c


def check(result, expected, exact=None, rtol=1e-12):
    """result (an rsdat Array) computes to `expected` (NumPy's): same shape and
    dtype, equal values (NaN where NumPy has NaN; close for floats)."""
    assert isinstance(result, rsdat.Array), type(result)
    expected = np.asarray(expected)
    assert result.shape == expected.shape, (result.shape, expected.shape)
    assert result.dtype == expected.dtype, (result.dtype, expected.dtype)
    got = np.asarray(result.compute())
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if expected.dtype.kind == "f" and not exact:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)
