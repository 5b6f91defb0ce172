"""rsdat.ndimage: scipy.ndimage's filters on chunked arrays (dask_image.ndfilters'
role), lazily, with scipy's names, arguments and results.

    import rsdat.ndimage as ndi             # was: import scipy.ndimage as ndi (on numpy arrays)
    smooth = ndi.gaussian_filter(img, sigma=2)

The result has the input's shape, chunks and dtype (an integer result truncates, as
scipy's does). `mode` is scipy's: "reflect", "constant" (with `cval`), "nearest",
"mirror" or "wrap". Each block's task reads its block and a halo as deep as the
window reaches, cut from the neighbouring blocks (never a whole neighbour unless
the halo covers it); uniform, gaussian, minimum and maximum filters are separable
(O(size) per element per axis), median and convolve read the n-d window. Memory per
task: the block, its halo and the output, plus one float64 copy of the extended block
(two during a separable pass). Bad arguments raise ValueError naming the filter;
footprints, origins other than 0 and output= are not supported (NotImplementedError).
"""

import numbers

import numpy as np

from . import _rsdat
from .array import Array, asarray

__all__ = ["uniform_filter", "gaussian_filter", "median_filter", "minimum_filter", "maximum_filter", "convolve"]


def _plain(name, footprint, output, origin):
    if footprint is not None or output is not None or np.any(np.asarray(origin) != 0):
        raise NotImplementedError(f"{name}: footprint, output and origin are not supported")


def _sizes(name, size, ndim):
    if size is None:
        raise ValueError(f"{name}: give size")
    sizes = [int(size)] * ndim if isinstance(size, numbers.Integral) else [int(s) for s in size]
    return sizes


def _size_filter(name, input, size, footprint, output, mode, cval, origin):
    _plain(name, footprint, output, origin)
    a = asarray(input)
    return Array(getattr(_rsdat, name)(a._a, _sizes(name, size, a.ndim), mode, float(cval)))


def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0):
    """scipy.ndimage.uniform_filter: the mean over a window of `size` per axis."""
    return _size_filter("uniform_filter", input, size, None, output, mode, cval, origin)


def median_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0):
    """scipy.ndimage.median_filter (for an even count, the upper middle value)."""
    return _size_filter("median_filter", input, size, footprint, output, mode, cval, origin)


def minimum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0):
    """scipy.ndimage.minimum_filter."""
    return _size_filter("minimum_filter", input, size, footprint, output, mode, cval, origin)


def maximum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0):
    """scipy.ndimage.maximum_filter."""
    return _size_filter("maximum_filter", input, size, footprint, output, mode, cval, origin)


def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0):
    """scipy.ndimage.gaussian_filter of order 0 (sigma per axis or one for all)."""
    if np.any(np.asarray(order) != 0):
        raise NotImplementedError("gaussian_filter: only order=0 is supported")
    _plain("gaussian_filter", None, output, 0)
    a = asarray(input)
    sig = [float(sigma)] * a.ndim if isinstance(sigma, numbers.Real) else [float(s) for s in sigma]
    return Array(_rsdat.gaussian_filter(a._a, sig, mode, float(cval), float(truncate)))


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0):
    """scipy.ndimage.convolve with local `weights` (as many dims as the input)."""
    _plain("convolve", None, output, origin)
    return Array(_rsdat.convolve(asarray(input)._a, np.asarray(weights, dtype=np.float64), mode, float(cval)))
