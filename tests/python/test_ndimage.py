"""rsdat.ndimage against scipy.ndimage on chunked inputs (irregular chunks, a
window wider than a chunk, every mode)."""

import numpy as np
import pytest
import scipy.ndimage as sn

import rsdat.ndimage as ndi
import rsdat.array as da
from conftest import check

rng = np.random.default_rng(7)
IMG = rng.random((13, 11))
I16 = rng.integers(-100, 100, (9, 12)).astype(np.int16)
MODES = ["reflect", "constant", "nearest", "mirror", "wrap"]


def img():
    return da.from_array(IMG, chunks=((3, 6, 4), (2, 5, 4)))


@pytest.mark.parametrize("mode", MODES)
def test_size_filters(mode):
    for name in ("uniform_filter", "median_filter", "minimum_filter", "maximum_filter"):
        f, g = getattr(ndi, name), getattr(sn, name)
        check(f(img(), size=3, mode=mode, cval=0.5), g(IMG, size=3, mode=mode, cval=0.5), rtol=1e-12)
        check(f(img(), size=(5, 2), mode=mode), g(IMG, size=(5, 2), mode=mode), rtol=1e-12)
        check(f(da.from_array(I16, chunks=4), size=4, mode=mode), g(I16, size=4, mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_gaussian_and_convolve(mode):
    check(ndi.gaussian_filter(img(), 1.5, mode=mode), sn.gaussian_filter(IMG, 1.5, mode=mode), rtol=1e-10)
    check(ndi.gaussian_filter(img(), (0, 2.0), mode=mode, truncate=2.0),
          sn.gaussian_filter(IMG, (0, 2.0), mode=mode, truncate=2.0), rtol=1e-10)
    w = np.arange(12.0).reshape(3, 4) - 5
    check(ndi.convolve(img(), w, mode=mode, cval=1.0), sn.convolve(IMG, w, mode=mode, cval=1.0), rtol=1e-10)


def test_filter_errors():
    with pytest.raises(ValueError):
        ndi.uniform_filter(img(), size=3, mode="bogus")
    with pytest.raises(ValueError):
        ndi.minimum_filter(img(), size=0)
    with pytest.raises(NotImplementedError):
        ndi.median_filter(img(), footprint=np.ones((3, 3)))
