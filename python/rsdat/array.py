"""rsdat.array: chunked arrays computed on an rsdat cluster, named as dask.array.

    import rsdat.array as da                       # was: import dask.array as da
    x = da.random.random((20000, 20000), chunks=(2000, 2000))
    y = (x + x.T)[::2, 5:] - x.mean(axis=0)
    y.sum(axis=1).compute()                        # numpy.ndarray

An Array is a cheap handle to a node of a lazy expression graph; building one does
no work, ``compute()`` runs it (see rsdat.compute for several at once). Dtypes,
broadcasting, NaN rules and negative axes are NumPy's; a Python or NumPy scalar
operand keeps the array's kind of dtype (``int32 + 1`` is int32, ``float32 * 2.0``
float32), as NumPy does for scalars. Bad arguments raise ValueError (TypeError for
a dtype rsdat has not: bool, int8..int64, uint8..uint64, float32, float64),
IndexError for an index out of range, when the array is built; a failing task
raises rsdat.TaskError from compute().

Memory: the client holds the graph and, on compute(), the result (received once
and wrapped without a copy when the array has one chunk, else placed block by
block into one buffer); every task holds the few blocks it reads and writes.
"""

import builtins
import math
import numbers
import os
import warnings

import numpy as np

from . import _rsdat
from .client import _handle, compute as _compute

__all__ = []  # filled at the end: every public function below

_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}
_AUTO_BYTES = 128 * 2**20  # dask's array.chunk-size default for chunks="auto"


def _dtype_name(dtype):
    dt = np.dtype(dtype)
    if dt.name not in _DTYPES:
        raise TypeError(f"rsdat arrays have no dtype {dt.name} (bool, int8..int64, uint8..uint64, float32, float64)")
    return dt.name


# ---- chunks ----------------------------------------------------------------------


def _auto_chunks(shape, fixed, itemsize):
    """dask's chunks="auto": axes in `fixed` (axis -> size) keep theirs, the others
    share a block of about 128 MiB as evenly as they fit."""
    out = list(fixed.get(i, 0) for i in range(len(shape)))
    autos = sorted((i for i in range(len(shape)) if i not in fixed), key=lambda i: shape[i])
    budget = _AUTO_BYTES / itemsize
    for i in fixed:
        budget /= builtins.max(fixed[i], 1)
    for n, i in enumerate(autos):
        target = builtins.max(1, int(budget ** (1 / (len(autos) - n))))
        out[i] = builtins.max(1, builtins.min(shape[i], target))
        budget /= out[i]
    return out


def _normalize_chunks(chunks, shape, itemsize):
    """dask's chunks argument -> (regular chunk shape, explicit per-axis chunks or
    None): an int for every axis, "auto", a tuple with per axis an int (-1 or None:
    the whole axis), "auto" or a tuple of sizes, or a dict {axis: chunk}."""
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    if chunks is None or isinstance(chunks, str):
        if chunks not in (None, "auto"):
            raise ValueError(f"chunks: unknown form {chunks!r}")
        chunks = ("auto",) * nd
    elif isinstance(chunks, numbers.Integral):
        chunks = (int(chunks),) * nd
    elif isinstance(chunks, dict):
        chunks = tuple(chunks.get(i, chunks.get(i - nd, -1)) for i in range(nd))
    chunks = tuple(chunks)
    if len(chunks) != nd:
        raise ValueError(f"chunks {chunks} do not match the shape {shape}")
    fixed, explicit = {}, [None] * nd
    for i, c in enumerate(chunks):
        if isinstance(c, str):
            if c != "auto":
                raise ValueError(f"chunks: unknown form {c!r}")
            continue
        if c is None or (isinstance(c, numbers.Integral) and c == -1):
            fixed[i] = builtins.max(shape[i], 1)
        elif isinstance(c, numbers.Integral):
            if c <= 0:
                raise ValueError(f"chunks must be positive (or -1), got {chunks}")
            fixed[i] = int(c)
        else:
            sizes = tuple(int(s) for s in c)
            if builtins.sum(sizes) != shape[i] or builtins.any(s < 0 for s in sizes):
                raise ValueError(f"chunks {sizes} do not add up to {shape[i]} along axis {i}")
            explicit[i] = sizes
            fixed[i] = builtins.max(builtins.max(sizes, default=1), 1)
    regular = _auto_chunks(shape, fixed, itemsize)
    if builtins.all(e is None or e == _regular_sizes(shape[i], regular[i]) for i, e in enumerate(explicit)):
        return regular, None
    return regular, [list(e if e is not None else _regular_sizes(shape[i], regular[i])) for i, e in enumerate(explicit)]


def _regular_sizes(n, c):
    if n == 0:
        return (0,)
    return tuple(builtins.min(c, n - o) for o in range(0, n, c))


def _made(make, shape, chunks, dtype):
    """An array made by make(shape, chunk_shape) in dask's `chunks`."""
    shape = _shape_arg(shape)
    regular, explicit = _normalize_chunks(chunks, shape, np.dtype(dtype).itemsize)
    a = make(list(shape), regular)
    return Array(a if explicit is None else a.rechunk(explicit))


def _shape_arg(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


# ---- scalars and operands --------------------------------------------------------------

_BOOL, _INT, _FLOAT = 0, 1, 2


def _scalar_kind(v):
    """The kind of a Python or NumPy scalar operand, or None for anything else."""
    if isinstance(v, (bool, np.bool_)):
        return _BOOL
    if isinstance(v, (numbers.Integral, np.integer)):
        return _INT
    if isinstance(v, (numbers.Real, np.floating)):
        return _FLOAT
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "biuf":
        return _scalar_kind(v[()])
    return None


def asarray(a, dtype=None, chunks="auto", **kwargs):
    """An rsdat Array of `a`: itself when it is one, else from_array(a)."""
    if isinstance(a, Array):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return from_array(np.asarray(a, dtype=dtype), chunks=chunks)


asanyarray = asarray
array = asarray


def _operand(v):
    """The extension's Array for an operand that is an array: an rsdat Array or
    something numpy.asarray takes (put on the cluster in one chunk)."""
    if isinstance(v, Array):
        return v._a
    arr = np.asarray(v)
    if arr.dtype == object:
        raise TypeError(f"rsdat: cannot use {type(v).__name__} as an array")
    return from_array(arr, chunks=-1)._a


def _binary(name, a, b):
    """The elementwise function `name` of two operands, either a scalar."""
    ka, kb = _scalar_kind(a), _scalar_kind(b)
    if ka is not None and kb is not None:
        return getattr(np, _NUMPY_NAMES.get(name, name))(a, b)
    fn = getattr(_rsdat, "_" + name + "_scalar")
    if kb is not None:
        return Array(fn(_operand(a), float(b), kb, False))
    if ka is not None:
        return Array(fn(_operand(b), float(a), ka, True))
    return Array(getattr(_rsdat, name)(_operand(a), _operand(b)))


def _unary(name, a):
    if _scalar_kind(a) is not None and not isinstance(a, Array):
        return getattr(np, _NUMPY_NAMES.get(name, name))(a)
    return Array(getattr(_rsdat, name)(_operand(a)))


# rsdat's elementwise name -> NumPy's where they differ.
_NUMPY_NAMES = {"mod": "remainder"}


# ---- axes and reductions ------------------------------------------------------------


def _axes(axis):
    """NumPy's axis argument for the extension: [] for None (every axis)."""
    if axis is None:
        return []
    if isinstance(axis, numbers.Integral):
        return [int(axis)]
    axes = [int(a) for a in axis]
    if not axes:
        raise ValueError("axis=(): a reduction over no axis is not supported")
    return axes


def _split(split_every):
    if split_every is None:
        return 8
    if isinstance(split_every, dict):
        return builtins.max(2, builtins.min(split_every.values(), default=8))
    return int(split_every)


def _reduce(name, a, axis, keepdims, split_every, dtype=None):
    a = asarray(a)
    if dtype is not None:
        a = a.astype(dtype)
    r = Array(getattr(_rsdat, name)(a._a, _axes(axis), _split(split_every), bool(keepdims)))
    if dtype is not None and r.dtype != np.dtype(dtype):
        r = r.astype(dtype)
    return r


def _ddof_reduce(name, a, axis, dtype, keepdims, ddof, split_every):
    a = asarray(a)
    if dtype is not None:
        a = a.astype(dtype)
    r = Array(getattr(_rsdat, name)(a._a, _axes(axis), float(ddof), _split(split_every), bool(keepdims)))
    if dtype is not None and r.dtype != np.dtype(dtype):
        r = r.astype(dtype)
    return r


def _arg_reduce(name, a, axis, keepdims, split_every):
    a = asarray(a)
    return Array(getattr(_rsdat, name)(a._a, None if axis is None else int(axis), _split(split_every),
                                       bool(keepdims)))


def sum(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    """numpy.sum: int64 for bool and signed integers, uint64 for unsigned, floats keep theirs."""
    return _reduce("sum", a, axis, keepdims, split_every, dtype)


def prod(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    """numpy.prod, with sum's dtypes."""
    return _reduce("prod", a, axis, keepdims, split_every, dtype)


def nansum(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    """numpy.nansum: NaN counts as 0."""
    return _reduce("nansum", a, axis, keepdims, split_every, dtype)


def nanprod(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    """numpy.nanprod: NaN counts as 1."""
    return _reduce("nanprod", a, axis, keepdims, split_every, dtype)


def min(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.min: NaN wins; a zero-size axis raises ValueError."""
    return _reduce("min", a, axis, keepdims, split_every)


def max(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.max: NaN wins; a zero-size axis raises ValueError."""
    return _reduce("max", a, axis, keepdims, split_every)


amin, amax = min, max


def nanmin(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.nanmin: NaN ignored (NaN for a slice of NaN only)."""
    return _reduce("nanmin", a, axis, keepdims, split_every)


def nanmax(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.nanmax: NaN ignored (NaN for a slice of NaN only)."""
    return _reduce("nanmax", a, axis, keepdims, split_every)


def any(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.any (bool)."""
    return _reduce("any", a, axis, keepdims, split_every)


def all(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.all (bool)."""
    return _reduce("all", a, axis, keepdims, split_every)


def mean(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    """numpy.mean: float64, float32 for float32."""
    return _reduce("mean", a, axis, keepdims, split_every, dtype)


def nanmean(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    """numpy.nanmean: NaN where a slice has no value that is not NaN."""
    return _reduce("nanmean", a, axis, keepdims, split_every, dtype)


def count_nonzero(a, axis=None, keepdims=False, split_every=None):
    """numpy.count_nonzero (int64)."""
    return _reduce("count_nonzero", a, axis, keepdims, split_every)


def ptp(a, axis=None, keepdims=False, split_every=None):
    """numpy.ptp: max - min, in a's dtype."""
    return _reduce("ptp", a, axis, keepdims, split_every)


def var(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    """numpy.var with `ddof` (NaN where count - ddof <= 0)."""
    return _ddof_reduce("var", a, axis, dtype, keepdims, ddof, split_every)


def std(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    """numpy.std with `ddof`."""
    return _ddof_reduce("std", a, axis, dtype, keepdims, ddof, split_every)


def nanvar(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    """numpy.nanvar."""
    return _ddof_reduce("nanvar", a, axis, dtype, keepdims, ddof, split_every)


def nanstd(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    """numpy.nanstd."""
    return _ddof_reduce("nanstd", a, axis, dtype, keepdims, ddof, split_every)


def argmin(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.argmin (int64; without axis a flat C-order index; a NaN wins)."""
    return _arg_reduce("argmin", a, axis, keepdims, split_every)


def argmax(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.argmax (int64; without axis a flat C-order index; a NaN wins)."""
    return _arg_reduce("argmax", a, axis, keepdims, split_every)


def nanargmin(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.nanargmin; a slice of NaN only fails its task ("All-NaN slice encountered")."""
    return _arg_reduce("nanargmin", a, axis, keepdims, split_every)


def nanargmax(a, axis=None, keepdims=False, split_every=None, out=None):
    """numpy.nanargmax; a slice of NaN only fails its task ("All-NaN slice encountered")."""
    return _arg_reduce("nanargmax", a, axis, keepdims, split_every)


# ---- the Array ------------------------------------------------------------------------


def _to_result(v):
    """compute()'s value: the ndarray, or for 0-d a NumPy scalar (as dask gives)."""
    return v[()] if v.ndim == 0 else v


class Array:
    """A lazy chunked array (dask.array.Array). See the module's documentation."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 11  # NumPy defers binary operators to ours

    def __init__(self, handle):
        self._a = handle

    # -- attributes --
    @property
    def shape(self):
        return tuple(self._a.shape)

    @property
    def dtype(self):
        return np.dtype(self._a.dtype)

    @property
    def chunks(self):
        return tuple(tuple(c) for c in self._a.chunks)

    @property
    def chunksize(self):
        return tuple(builtins.max(c) for c in self.chunks)

    @property
    def numblocks(self):
        return tuple(len(c) for c in self.chunks)

    @property
    def npartitions(self):
        return self._a.num_chunks

    @property
    def ndim(self):
        return len(self._a.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def name(self):
        return self._a.name

    @property
    def T(self):
        return self.transpose()

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return (f"rsdat.array<{self.name}, shape={self.shape}, dtype={self.dtype}, "
                f"chunksize={self.chunksize}, chunktype=numpy.ndarray>")

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # -- computing --
    def compute(self, client=None, **kwargs):
        """The values as a numpy.ndarray (a NumPy scalar when 0-d). Raises TaskError,
        ClusterError, or KeyboardInterrupt after cancelling on Ctrl-C."""
        return _compute(self, client=client)[0]

    def persist(self, client=None, **kwargs):
        """Computes and keeps the chunks on the workers while the returned Array lives."""
        return Array(self._a.persist(_handle(client)))

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.compute(), dtype=dtype)

    def __bool__(self):
        return bool(self.compute())

    def __int__(self):
        return int(self.compute())

    def __float__(self):
        return float(self.compute())

    def __index__(self):
        return int(self.compute())

    def item(self, *args):
        return np.asarray(self.compute()).item(*args)

    def to_zarr(self, url, component=None, **kwargs):
        return to_zarr(self, url, component, **kwargs)

    # -- NumPy protocols --
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = _UFUNCS.get(ufunc.__name__, ufunc.__name__)
        if kwargs.get("out") is not None:
            return NotImplemented
        if method in ("reduce", "accumulate") and len(inputs) == 1:
            # numpy.add.reduce(x, axis) is sum, numpy.maximum.accumulate(x, axis) cummax, ...
            f = _UFUNC_METHODS.get((name, method))
            if f is None or builtins.any(k not in ("out", "axis", "keepdims", "dtype") for k in kwargs):
                return NotImplemented
            axis = kwargs.get("axis", 0)
            if method == "accumulate":
                return f(inputs[0], axis=axis) if kwargs.get("dtype") is None else f(inputs[0], axis=axis,
                                                                                       dtype=kwargs["dtype"])
            kw = {k: v for k, v in kwargs.items() if k in ("keepdims", "dtype") and v is not None}
            return f(inputs[0], axis=axis, **kw)
        if method == "__call__" and name == "matmul" and len(inputs) == 2 and not kwargs:
            return matmul(*inputs)
        if method != "__call__" or name not in _ELEMENTWISE:
            return NotImplemented
        if builtins.any(k not in ("out", "dtype") for k in kwargs):
            return NotImplemented
        r = _unary(name, inputs[0]) if len(inputs) == 1 else _binary(name, inputs[0], inputs[1])
        if kwargs.get("dtype") is not None:
            r = r.astype(kwargs["dtype"])
        return r

    # An Array never changes (operations make new ones): copies may share it, as
    # xarray's copy(deep=True) of a Dataset over rsdat arrays does.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __array_function__(self, func, types, args, kwargs):
        ours = _ARRAY_FUNCTIONS.get(func.__name__)
        if ours is not None and getattr(func, "__module__", "").startswith("numpy"):
            return ours(*args, **kwargs)
        warnings.warn(f"numpy.{func.__name__} is not implemented by rsdat arrays: computing them and "
                      f"calling NumPy's", stacklevel=2)
        conv = _convert_arrays(args), {k: _convert_arrays(v) for k, v in kwargs.items()}
        return func(*conv[0], **conv[1])

    # -- elementwise operators (NumPy's, scalars on either side) --
    def __add__(self, o): return _binary("add", self, o)
    def __radd__(self, o): return _binary("add", o, self)
    def __sub__(self, o): return _binary("subtract", self, o)
    def __rsub__(self, o): return _binary("subtract", o, self)
    def __mul__(self, o): return _binary("multiply", self, o)
    def __rmul__(self, o): return _binary("multiply", o, self)
    def __truediv__(self, o): return _binary("divide", self, o)
    def __rtruediv__(self, o): return _binary("divide", o, self)
    def __floordiv__(self, o): return _binary("floor_divide", self, o)
    def __rfloordiv__(self, o): return _binary("floor_divide", o, self)
    def __mod__(self, o): return _binary("mod", self, o)
    def __rmod__(self, o): return _binary("mod", o, self)
    def __pow__(self, o): return _binary("power", self, o)
    def __rpow__(self, o): return _binary("power", o, self)
    def __lshift__(self, o): return _binary("left_shift", self, o)
    def __rlshift__(self, o): return _binary("left_shift", o, self)
    def __rshift__(self, o): return _binary("right_shift", self, o)
    def __rrshift__(self, o): return _binary("right_shift", o, self)
    def __and__(self, o): return _binary("bitwise_and", self, o)
    def __rand__(self, o): return _binary("bitwise_and", o, self)
    def __or__(self, o): return _binary("bitwise_or", self, o)
    def __ror__(self, o): return _binary("bitwise_or", o, self)
    def __xor__(self, o): return _binary("bitwise_xor", self, o)
    def __rxor__(self, o): return _binary("bitwise_xor", o, self)
    def __eq__(self, o): return _binary("equal", self, o)
    def __ne__(self, o): return _binary("not_equal", self, o)
    def __lt__(self, o): return _binary("less", self, o)
    def __le__(self, o): return _binary("less_equal", self, o)
    def __gt__(self, o): return _binary("greater", self, o)
    def __ge__(self, o): return _binary("greater_equal", self, o)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
    def __neg__(self): return _unary("negative", self)
    def __pos__(self): return self
    def __abs__(self): return _unary("abs", self)
    def __invert__(self): return _unary("invert", self)

    __hash__ = object.__hash__

    # -- indexing --
    def __getitem__(self, key):
        return _getitem(self, key)

    def __setitem__(self, key, value):
        raise TypeError("rsdat arrays are immutable: use rsdat.array.where(mask, value, x)")

    # -- methods --
    def astype(self, dtype, **kwargs):
        if np.dtype(dtype) == self.dtype:
            return self
        return Array(self._a.astype(_dtype_name(dtype)))

    def rechunk(self, chunks="auto", **kwargs):
        return rechunk(self, chunks)

    def reshape(self, *shape, **kwargs):
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]
        return reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], numbers.Integral)):
            axes = axes[0]
        return transpose(self, axes or None)

    def ravel(self):
        return ravel(self)

    flatten = ravel

    def squeeze(self, axis=None):
        return squeeze(self, axis)

    def swapaxes(self, axis1, axis2):
        return swapaxes(self, axis1, axis2)

    def copy(self):
        return self

    def dot(self, other):
        return dot(self, other)

    def round(self, decimals=0):
        return round(self, decimals)

    def clip(self, min=None, max=None):
        return clip(self, min, max)

    def cumsum(self, axis=None, dtype=None, out=None, method="sequential"):
        return cumsum(self, axis, dtype)

    def cumprod(self, axis=None, dtype=None, out=None, method="sequential"):
        return cumprod(self, axis, dtype)

    def sum(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        return sum(self, axis, dtype, keepdims, split_every)

    def prod(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        return prod(self, axis, dtype, keepdims, split_every)

    def mean(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        return mean(self, axis, dtype, keepdims, split_every)

    def min(self, axis=None, keepdims=False, split_every=None, out=None):
        return min(self, axis, keepdims, split_every)

    def max(self, axis=None, keepdims=False, split_every=None, out=None):
        return max(self, axis, keepdims, split_every)

    def any(self, axis=None, keepdims=False, split_every=None, out=None):
        return any(self, axis, keepdims, split_every)

    def all(self, axis=None, keepdims=False, split_every=None, out=None):
        return all(self, axis, keepdims, split_every)

    def std(self, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
        return std(self, axis, dtype, keepdims, ddof, split_every)

    def var(self, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
        return var(self, axis, dtype, keepdims, ddof, split_every)

    def argmin(self, axis=None, keepdims=False, split_every=None, out=None):
        return argmin(self, axis, keepdims, split_every)

    def argmax(self, axis=None, keepdims=False, split_every=None, out=None):
        return argmax(self, axis, keepdims, split_every)

    def nonzero(self):
        raise NotImplementedError("rsdat: nonzero is not available yet")


def _convert_arrays(v):
    if isinstance(v, Array):
        return v.compute()
    if isinstance(v, (list, tuple)):
        return type(v)(_convert_arrays(x) for x in v)
    return v


# ---- indexing ------------------------------------------------------------------------


def _is_advanced(k):
    return isinstance(k, (Array, np.ndarray, list)) and not (isinstance(k, np.ndarray) and k.ndim == 0)


def _getitem(x, key):
    """NumPy's indexing: ints (negative from the end), slices, None, Ellipsis, and one
    integer or boolean array (a boolean one of x's shape selects elements: a 1-d
    result)."""
    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(k[()] if isinstance(k, np.ndarray) and k.ndim == 0 else k for k in key)
    advanced = [i for i, k in enumerate(key) if _is_advanced(k)]
    if len(advanced) > 1:
        raise NotImplementedError("rsdat: at most one integer or boolean array per index")
    if advanced:
        adv = key[advanced[0]]
        if isinstance(adv, Array):
            is_bool = adv.dtype == np.bool_
        else:
            adv = np.asarray(adv)
            is_bool = adv.dtype == np.bool_
            if not is_bool and adv.dtype.kind not in "iu" and adv.size:
                raise IndexError("arrays used as indices must be of integer (or boolean) type")
        if is_bool and adv.ndim > 1 or (is_bool and adv.ndim == x.ndim and len(key) == 1):
            if len(key) != 1:
                raise NotImplementedError("rsdat: a multi-dimensional boolean mask must be the whole index")
            if adv.shape != x.shape:
                raise IndexError(f"boolean index of shape {adv.shape} does not match the array's shape {x.shape}")
            if x.ndim == 1:
                return compress(adv, x, axis=0)
            return compress(ravel(adv) if isinstance(adv, Array) else adv.ravel(), x)
    # Expand the Ellipsis; None takes no axis of x.
    taking = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if taking > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, but {taking} were indexed")
    full = []
    for k in key:
        if k is Ellipsis:
            full.extend([slice(None)] * (x.ndim - taking))
        else:
            full.append(k)
    basic, adv_pos, out_axis, ints = [], None, 0, []
    for i, k in enumerate(full):
        if k is None:
            basic.append(None)
            out_axis += 1
        elif isinstance(k, slice):
            basic.append(k)
            out_axis += 1
        elif _is_advanced(k):
            basic.append(slice(None))
            adv_pos = (i, out_axis)
            out_axis += 1
        elif isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, (bool, np.bool_)):
            basic.append(int(k))
            ints.append(i)
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                             "integer or boolean arrays are valid indices")
    r = Array(_rsdat.view(x._a, basic)) if builtins.any(
        k is None or isinstance(k, int) or k != slice(None) for k in basic) else x
    if adv_pos is None:
        return r
    pos, axis = adv_pos
    adv = full[pos]
    if isinstance(adv, Array) and adv.dtype == np.bool_:
        if adv.ndim != 1:
            raise NotImplementedError("rsdat: a boolean index along an axis must be 1-d")
        r = compress(adv, r, axis=axis)
    else:
        idx = adv.compute() if isinstance(adv, Array) else np.asarray(adv)
        if idx.dtype == np.bool_:
            if idx.ndim != 1:
                raise NotImplementedError("rsdat: a boolean index along an axis must be 1-d")
            if idx.shape[0] != r.shape[axis]:
                raise IndexError(f"boolean index did not match indexed array along axis {axis}; size of axis "
                                 f"is {r.shape[axis]} but size of corresponding boolean axis is {idx.shape[0]}")
            r = Array(_rsdat.compress_local([bool(b) for b in idx], r._a, axis))
        else:
            if idx.ndim != 1:
                raise NotImplementedError("rsdat: an integer array index must be 1-d")
            r = Array(_rsdat.take(r._a, [int(i) for i in idx], axis))
    # NumPy puts the array's axis first when integers and it are not side by side.
    together = sorted(ints + [pos])
    if ints and together != list(range(together[0], together[0] + len(together))):
        r = moveaxis(r, axis, 0)
    return r


# ---- creation -------------------------------------------------------------------------


def zeros(shape, dtype=float, chunks="auto", **kwargs):
    """numpy.zeros in dask's `chunks`."""
    d = _dtype_name(dtype)
    return _made(lambda s, c: _rsdat.zeros(s, c, d), shape, chunks, d)


def ones(shape, dtype=float, chunks="auto", **kwargs):
    """numpy.ones in dask's `chunks`."""
    d = _dtype_name(dtype)
    return _made(lambda s, c: _rsdat.ones(s, c, d), shape, chunks, d)


def empty(shape, dtype=float, chunks="auto", **kwargs):
    """numpy.empty: values not to be relied on (they cost what zeros does)."""
    d = _dtype_name(dtype)
    return _made(lambda s, c: _rsdat.empty(s, c, d), shape, chunks, d)


def full(shape, fill_value, dtype=None, chunks="auto", **kwargs):
    """numpy.full (dtype: fill_value's, as NumPy's, when not given)."""
    if _scalar_kind(fill_value) is None:
        raise ValueError("full: fill_value must be a scalar")
    d = _dtype_name(dtype if dtype is not None else np.array(fill_value).dtype)
    return _made(lambda s, c: _rsdat.full(s, c, float(fill_value), d), shape, chunks, d)


def _like(make, a, dtype, chunks, shape):
    a = asarray(a)
    dt = dtype if dtype is not None else a.dtype
    if shape is None and chunks is None:
        return None
    return make(a.shape if shape is None else shape, dtype=dt, chunks=a.chunks if chunks is None else chunks)


def zeros_like(a, dtype=None, chunks=None, shape=None, **kwargs):
    """numpy.zeros_like (a's shape and chunks unless given)."""
    r = _like(zeros, a, dtype, chunks, shape)
    return r if r is not None else Array(_rsdat.full_like(asarray(a)._a, 0.0, _opt_dt(dtype)))


def ones_like(a, dtype=None, chunks=None, shape=None, **kwargs):
    """numpy.ones_like (a's shape and chunks unless given)."""
    r = _like(ones, a, dtype, chunks, shape)
    return r if r is not None else Array(_rsdat.full_like(asarray(a)._a, 1.0, _opt_dt(dtype)))


def empty_like(a, dtype=None, chunks=None, shape=None, **kwargs):
    """numpy.empty_like: zeros_like."""
    return zeros_like(a, dtype, chunks, shape)


def full_like(a, fill_value, dtype=None, chunks=None, shape=None, **kwargs):
    """numpy.full_like (a's shape and chunks unless given)."""
    if shape is not None or chunks is not None:
        a = asarray(a)
        return full(a.shape if shape is None else shape, fill_value, dtype or a.dtype,
                    a.chunks if chunks is None else chunks)
    return Array(_rsdat.full_like(asarray(a)._a, float(fill_value), _opt_dt(dtype)))


def _opt_dt(dtype):
    return None if dtype is None else _dtype_name(dtype)


def _chunk_1d(chunks, n, itemsize):
    regular, explicit = _normalize_chunks(chunks if not isinstance(chunks, numbers.Integral) else (chunks,),
                                          (n,), itemsize)
    return regular[0], explicit


def arange(*args, chunks="auto", dtype=None, **kwargs):
    """numpy.arange(start, stop, step): int64 for whole numbers, else float64, unless dtype."""
    if "start" in kwargs or "stop" in kwargs or "step" in kwargs:
        args = (kwargs.pop("start", 0), kwargs.pop("stop"), kwargs.pop("step", 1))
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    elif len(args) == 2:
        (start, stop), step = args, 1
    elif len(args) == 3:
        start, stop, step = args
    else:
        raise TypeError("arange takes 1 to 3 positional arguments")
    if step == 0:
        raise ValueError("arange: step must not be 0")
    n = builtins.max(0, math.ceil((stop - start) / step))
    item = np.dtype(dtype).itemsize if dtype is not None else 8
    c, explicit = _chunk_1d(chunks, n, item)
    a = _rsdat.arange(float(start), float(stop), float(step), c, _opt_dt(dtype))
    return Array(a if explicit is None else a.rechunk(explicit))


def linspace(start, stop, num=50, endpoint=True, retstep=False, chunks="auto", dtype=None):
    """numpy.linspace (float64 unless dtype)."""
    d = _dtype_name(dtype if dtype is not None else float)
    c, explicit = _chunk_1d(chunks, int(num), np.dtype(d).itemsize)
    a = _rsdat.linspace(float(start), float(stop), int(num), c, bool(endpoint), d)
    r = Array(a if explicit is None else a.rechunk(explicit))
    if retstep:
        div = (num - 1) if endpoint else num
        return r, (stop - start) / div if div > 0 else float("nan")
    return r


def eye(N, chunks="auto", M=None, k=0, dtype=float):
    """numpy.eye in square chunks."""
    d = _dtype_name(dtype)
    if isinstance(chunks, numbers.Integral):
        c = int(chunks)
    else:
        c = _normalize_chunks("auto", (N, N if M is None else M), np.dtype(d).itemsize)[0][0]
    return Array(_rsdat.eye(int(N), None if M is None else int(M), int(k), builtins.max(c, 1), d))


def identity(n, dtype=float, chunks="auto"):
    """numpy.identity: eye(n)."""
    return eye(n, chunks=chunks, dtype=dtype)


def from_array(x, chunks="auto", name=None, asarray=None, **kwargs):
    """A NumPy array (or anything numpy.asarray takes) put on the cluster in dask's
    `chunks`. Up to 64 MiB it travels with the graph of the computation that reads
    it; a larger one is sent to the workers now (that needs a client) and stays
    there while the returned Array, or one made from it, lives."""
    if isinstance(x, Array):
        return x if chunks == "auto" else x.rechunk(chunks)
    arr = np.asarray(x, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    _dtype_name(arr.dtype)
    regular, explicit = _normalize_chunks(chunks, arr.shape, arr.dtype.itemsize)
    a = _rsdat.from_array(arr, regular, _handle(None))
    return Array(a if explicit is None else a.rechunk(explicit))


def from_zarr(url, component=None, **kwargs):
    """The Zarr array at `url` (its `component` inside a group), lazily, with the
    store's chunks (v3 when a zarr.json is there, sharded arrays one chunk per shard, else v2). Raises ValueError naming the file for missing or unsupported
    metadata; a chunk that cannot be read fails its task."""
    return Array(_rsdat.from_zarr(os.fspath(url), component or ""))


def to_zarr(arr, url, component=None, compute=True, compressor="blosc", dims=None, zarr_format=2, shards=None,
            **kwargs):
    """Writes `arr` into a Zarr store at `url` (under `component`), replacing an
    array already there, with the array's first chunks as the store's; now, through
    the default client. `zarr_format=3` writes Zarr v3, sharded when `shards` gives a
    shard shape (a multiple of the chunks per axis). Returns None (the bytes written
    are not dask's)."""
    if not compute:
        raise NotImplementedError("to_zarr(compute=False) is not supported")
    arr = asarray(arr)
    _rsdat.write_zarr(arr._a, os.fspath(url), component or "", [], compressor, list(dims or []), _handle(None),
                      int(zarr_format), [int(s) for s in (shards or [])])
    return None


def from_raster(url, masked=True, mask_and_scale=False, overview_level=None, band=None, chunks=None):
    """The raster at `url` (a path, http(s):// or dav(s)://; GeoTIFF, COG, anything GDAL
    reads) as a lazy (band, y, x) array, like rioxarray.open_rasterio: chunks on the
    file's tiles, nodata as NaN unless masked=False, scale and offset applied with
    mask_and_scale, `overview_level` as rioxarray's, `band` a band number (from 1) or a
    list of them. Its georeferencing: raster_grid(arr). Raises ValueError naming the file."""
    bands = [] if band is None else [int(b) for b in (band if isinstance(band, (list, tuple)) else [band])]
    ch = [0, 0, 0] if chunks is None else [int(c) for c in chunks]
    ov = -1 if overview_level is None else int(overview_level)
    return Array(_rsdat.from_raster(os.fspath(url), bool(masked), bool(mask_and_scale), ov, bands, ch))


def raster_grid(arr):
    """The georeferencing `arr` carries (rio.crs, rio.transform()): a dict of crs_wkt,
    epsg, transform (GDAL's geotransform), height and width; None when it has none."""
    return _rsdat.raster_grid(asarray(arr)._a)


def to_raster(arr, path, driver="COG", compress="DEFLATE", predictor=0, blocksize=512, overviews=True,
              nodata=None):
    """Writes `arr` ((y, x) or (band, y, x)) now to the local file `path` as a COG (or a
    tiled GeoTIFF with driver="GTiff"), with its georeferencing, like rio.to_raster.
    Returns the size of the file in bytes."""
    return _rsdat.to_raster(asarray(arr)._a, os.fspath(path), driver, compress, int(predictor), int(blocksize),
                            bool(overviews), nodata, _handle(None))


def from_netcdf(url, variable, mask_and_scale=True, chunks=None):
    """The NetCDF4/HDF5 variable `variable` of the file at `url` (a path or an
    http(s)/dav(s) URL), lazily, with the variable's storage chunks (or `chunks`, a
    tuple with -1 for a whole axis) and its dimension names. Decoded as xarray's
    decode_cf does (scale_factor, add_offset, _FillValue and missing_value to NaN)
    unless mask_and_scale is False. Raises ValueError naming the file and variable."""
    return Array(_rsdat.from_netcdf(os.fspath(url), variable, bool(mask_and_scale), list(chunks or [])))


def to_netcdf(arr, path, variable, dims=None, attrs=None, mode="w", level=4):
    """Computes `arr` and writes it as the NetCDF4 variable `variable` of the local file
    `path` (chunked like the array, zlib level `level`), with dimension names `dims`
    and attributes `attrs` (str, number or list of numbers); mode "a" adds it to an
    existing file. Returns None."""
    arr = asarray(arr)
    text, numbers = {}, {}
    for k, v in (attrs or {}).items():
        if isinstance(v, str):
            text[k] = v
        else:
            numbers[k] = [float(x) for x in np.ravel(v)]
    _rsdat.to_netcdf(arr._a, os.fspath(path), variable, list(dims or []), text, numbers, mode, int(level),
                     _handle(None))
    return None


class _Random:
    """dask.array.random's functions over rsdat's counter-based generator: values
    depend on the seed and the element's index only (the same for any chunks)."""

    def __init__(self, seed=None):
        self._seed = int.from_bytes(os.urandom(8), "little") if seed is None else int(seed)

    def _next(self):
        s = self._seed
        self._seed = (self._seed * 6364136223846793005 + 1442695040888963407) % 2**64
        return s

    def random(self, size=None, chunks="auto", dtype=float, **kwargs):
        """Uniform floats in [0, 1)."""
        d = _dtype_name(dtype)
        seed = self._next()
        return _made(lambda s, c: _rsdat.random_uniform(s, c, seed, d), () if size is None else size, chunks, d)

    random_sample = random

    def uniform(self, low=0.0, high=1.0, size=None, chunks="auto", **kwargs):
        """Uniform floats in [low, high)."""
        return self.random(size, chunks=chunks) * (high - low) + low

    def seed(self, seed=None):
        self.__init__(seed)


class _RandomModule:
    RandomState = _Random

    def __init__(self):
        self._state = _Random()
        self.random = self._state.random
        self.random_sample = self._state.random
        self.uniform = self._state.uniform
        self.seed = self._state.seed

    def default_rng(self, seed=None):
        return _Random(seed)


random = _RandomModule()


# ---- elementwise functions ---------------------------------------------------------------

_ELEMENTWISE = set()


def _make_unary(name):
    def f(x, out=None, **kwargs):
        return _unary(name, x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"numpy.{name}, elementwise and lazy."
    return f


def _make_binary(name):
    def f(x1, x2, out=None, **kwargs):
        return _binary(name, x1, x2)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"numpy.{_NUMPY_NAMES.get(name, name)}, elementwise and lazy (arrays broadcast; scalars on either side)."
    return f


for _name in dir(_rsdat):
    if _name.startswith("_") and _name.endswith("_scalar"):
        _b = _name[1:-len("_scalar")]
        globals()[_b] = _make_binary(_b)
        _ELEMENTWISE.add(_b)
for _name in ("negative", "abs", "square", "sign", "reciprocal", "floor", "ceil", "trunc", "rint", "sqrt", "cbrt",
              "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
              "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "deg2rad", "rad2deg", "isnan",
              "isfinite", "isinf", "logical_not", "invert"):
    if hasattr(_rsdat, _name):
        globals()[_name] = _make_unary(_name)
        _ELEMENTWISE.add(_name)

# NumPy's other names of the same functions (ufunc.__name__ -> rsdat's).
_UFUNCS = {"absolute": "abs", "remainder": "mod", "true_divide": "divide", "bitwise_not": "invert",
           "degrees": "rad2deg", "radians": "deg2rad", "pow": "power", "bitwise_left_shift": "left_shift",
           "bitwise_right_shift": "right_shift"}
absolute = globals()["abs"]
remainder = globals()["mod"]
true_divide = globals()["divide"]
bitwise_not = globals()["invert"]
degrees = globals()["rad2deg"]
radians = globals()["deg2rad"]
pow = globals()["power"]


def where(condition, x=None, y=None):
    """numpy.where(condition, x, y): x where condition (non-zero is true), else y; x and
    y arrays or scalars, broadcast."""
    if x is None or y is None:
        raise NotImplementedError("where(condition) (nonzero) is not available yet: give x and y")
    c = _operand(condition)
    kx, ky = _scalar_kind(x), _scalar_kind(y)
    if kx is not None and ky is not None:
        dt = np.result_type(x, y)
        return Array(_rsdat.where(c, float(x), _rsdat.full_like(c, float(y), _dtype_name(dt))))
    if kx is not None:
        return Array(_rsdat.where(c, float(x), _operand(y)))
    if ky is not None:
        return Array(_rsdat.where(c, _operand(x), float(y)))
    return Array(_rsdat.where(c, _operand(x), _operand(y)))


def clip(a, a_min=None, a_max=None, out=None, **kwargs):
    """numpy.clip: bounds arrays (broadcast) or scalars, None for none; NaN stays NaN."""
    if a_min is None and a_max is None:
        raise ValueError("clip: one of a_min and a_max must be given")
    if _scalar_kind(a_min) is not None and _scalar_kind(a_max) is not None and a_min > a_max:
        raise ValueError("clip: the lower bound is above the upper bound")
    r = asarray(a)
    if a_min is not None:
        r = maximum(r, a_min)
    if a_max is not None:
        r = minimum(r, a_max)
    return r


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """numpy.isclose."""
    return Array(_rsdat.isclose(_operand(a), _operand(b), float(rtol), float(atol), bool(equal_nan)))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """numpy.allclose, lazily: a 0-d bool Array."""
    return all(isclose(a, b, rtol, atol, equal_nan))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """numpy.nan_to_num."""
    return Array(_rsdat.nan_to_num(_operand(x), float(nan), posinf, neginf))


def round(a, decimals=0):
    """numpy.round: halves to even."""
    return Array(_rsdat.round(_operand(a), int(decimals)))


around = round


def isin(element, test_elements, assume_unique=False, invert=False):
    """numpy.isin with the test elements local (a list or NumPy array)."""
    values = [float(v) for v in np.asarray(test_elements).ravel()]
    r = Array(_rsdat.isin(_operand(element), values))
    return logical_not(r) if invert else r


def broadcast_to(x, shape, chunks=None):
    """numpy.broadcast_to, without copying."""
    r = Array(_rsdat.broadcast_to(_operand(x), list(_shape_arg(shape))))
    return r if chunks is None else r.rechunk(chunks)


def broadcast_arrays(*args, **kwargs):
    """numpy.broadcast_arrays (a list)."""
    return [Array(a) for a in _rsdat.broadcast_arrays([_operand(a) for a in args])]


# ---- linear algebra -------------------------------------------------------------------


def matmul(a, b):
    """numpy.matmul (also a @ b); floats through OpenBLAS, integers exact."""
    return Array(_rsdat.matmul(_operand(a), _operand(b)))


def dot(a, b):
    """numpy.dot."""
    return Array(_rsdat.dot(_operand(a), _operand(b)))


def tensordot(a, b, axes=2):
    """numpy.tensordot (axes an int or a pair of axis lists)."""
    if isinstance(axes, numbers.Integral):
        return Array(_rsdat.tensordot(_operand(a), _operand(b), int(axes)))
    xa, xb = axes
    xa = [xa] if isinstance(xa, numbers.Integral) else list(xa)
    xb = [xb] if isinstance(xb, numbers.Integral) else list(xb)
    return Array(_rsdat.tensordot(_operand(a), _operand(b), xa, xb))


def outer(a, b):
    """numpy.outer."""
    return Array(_rsdat.outer(_operand(a), _operand(b)))


def einsum(subscripts, *operands, **kwargs):
    """numpy.einsum over letters (no '...', no repeated letter within an operand)."""
    return Array(_rsdat.einsum(subscripts, [_operand(o) for o in operands]))


# ---- shape ----------------------------------------------------------------------------


def rechunk(x, chunks="auto", **kwargs):
    """x in new chunks (dask's forms; a dict keeps the axes it does not name)."""
    x = asarray(x)
    if isinstance(chunks, dict):
        chunks = tuple(chunks.get(i, chunks.get(i - x.ndim, x.chunks[i])) for i in range(x.ndim))
    regular, explicit = _normalize_chunks(chunks, x.shape, x.itemsize)
    if explicit is None:
        explicit = [list(_regular_sizes(n, c)) for n, c in zip(x.shape, regular)]
    if [list(c) for c in x.chunks] == explicit:
        return x
    return Array(x._a.rechunk(explicit))


def reshape(x, shape=None, merge_chunks=True, limit=None, newshape=None, order="C"):
    """numpy.reshape (one -1 allowed; numpy's `newshape` is `shape`), rechunking
    first when the chunks do not allow it, as dask does. C order only."""
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    shape = newshape if shape is None else shape
    return Array(_rsdat.reshape(_operand(x), list(_shape_arg(shape))))


def ravel(x):
    """numpy.ravel: reshape(x, -1)."""
    return Array(_rsdat.ravel(_operand(x)))


def transpose(a, axes=None):
    """numpy.transpose (default: the axes reversed)."""
    return Array(_operand(a).transpose([] if axes is None else [int(i) for i in axes]))


def moveaxis(a, source, destination):
    """numpy.moveaxis."""
    s = [source] if isinstance(source, numbers.Integral) else list(source)
    d = [destination] if isinstance(destination, numbers.Integral) else list(destination)
    return Array(_rsdat.moveaxis(_operand(a), s, d))


def swapaxes(a, axis1, axis2):
    """numpy.swapaxes."""
    return Array(_rsdat.swapaxes(_operand(a), int(axis1), int(axis2)))


def expand_dims(a, axis):
    """numpy.expand_dims: size-1 axes at `axis` (positions in the result)."""
    return Array(_rsdat.expand_dims(_operand(a), [axis] if isinstance(axis, numbers.Integral) else list(axis)))


def squeeze(a, axis=None):
    """numpy.squeeze: without the size-1 axes `axis` (default: all of them)."""
    if axis is not None:
        axis = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    return Array(_rsdat.squeeze(_operand(a), axis))


def flip(m, axis=None):
    """numpy.flip along `axis` (default: every axis)."""
    if axis is not None:
        axis = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    return Array(_rsdat.flip(_operand(m), axis))


def flipud(m):
    """numpy.flipud: flip(m, 0)."""
    return flip(m, 0)


def fliplr(m):
    """numpy.fliplr: flip(m, 1)."""
    return flip(m, 1)


def roll(a, shift, axis=None):
    """numpy.roll (shift and axis ints or sequences of them)."""
    if isinstance(shift, numbers.Integral) and (axis is None or isinstance(axis, numbers.Integral)):
        return Array(_rsdat.roll(_operand(a), int(shift), axis))
    shifts = [shift] if isinstance(shift, numbers.Integral) else list(shift)
    axes = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    return Array(_rsdat.roll(_operand(a), shifts, axes))


def concatenate(seq, axis=0, **kwargs):
    """numpy.concatenate, in the dtype NumPy promotes the arrays to."""
    return Array(_rsdat.concatenate([_operand(a) for a in seq], int(axis)))


def stack(seq, axis=0, **kwargs):
    """numpy.stack."""
    return Array(_rsdat.stack([_operand(a) for a in seq], int(axis)))


def atleast_1d(*arys):
    """numpy.atleast_1d."""
    r = [asarray(a) if asarray(a).ndim >= 1 else reshape(a, (1,)) for a in arys]
    return r[0] if len(r) == 1 else r


def atleast_2d(*arys):
    """numpy.atleast_2d."""
    r = []
    for a in arys:
        a = asarray(a)
        r.append(a if a.ndim >= 2 else reshape(a, (1, builtins.max(a.size, 1) if a.ndim else 1)))
    return r[0] if len(r) == 1 else r


def vstack(tup, **kwargs):
    """numpy.vstack: concatenate along the first axis, 1-d arrays as rows."""
    return concatenate([atleast_2d(a) for a in tup], axis=0)


def hstack(tup, **kwargs):
    """numpy.hstack: concatenate along the second axis (the first for 1-d arrays)."""
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1)


def pad(array, pad_width, mode="constant", constant_values=0, **kwargs):
    """numpy.pad with mode constant, edge, reflect, symmetric or wrap; pad_width an
    int, a (before, after) pair, or one pair per axis."""
    a = _operand(array)
    nd = len(a.shape)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)) if nd else np.zeros((0, 2), np.int64)
    return Array(_rsdat.pad(a, [(int(b), int(e)) for b, e in pw], mode, float(constant_values)))


def take(a, indices, axis=None):
    """numpy.take with local indices (negative allowed, out of range: IndexError)."""
    return Array(_rsdat.take(_operand(a), [int(i) for i in np.asarray(indices).ravel()], axis))


def compress(condition, a, axis=None):
    """numpy.compress: the slices along `axis` (or the elements of the flattened array)
    where the 1-d condition is true. A condition that is an rsdat Array is computed
    now (one round trip: the result's length depends on it)."""
    if isinstance(condition, Array):
        return Array(_rsdat.compress(condition._a, _operand(a), axis, _handle(None)))
    return Array(_rsdat.compress_local([bool(c) for c in np.asarray(condition).ravel()], _operand(a), axis))


# ---- scans ----------------------------------------------------------------------------


def cumsum(x, axis=None, dtype=None, out=None, method="sequential"):
    """numpy.cumsum (without axis: of the flattened array)."""
    return Array(_rsdat.cumsum(_operand(x), axis, _opt_dt(dtype)))


def cumprod(x, axis=None, dtype=None, out=None, method="sequential"):
    """numpy.cumprod."""
    return Array(_rsdat.cumprod(_operand(x), axis, _opt_dt(dtype)))


def nancumsum(x, axis=None, dtype=None, out=None, method="sequential"):
    """numpy.nancumsum: NaN counts as 0."""
    return Array(_rsdat.nancumsum(_operand(x), axis, _opt_dt(dtype)))


def nancumprod(x, axis=None, dtype=None, out=None, method="sequential"):
    """numpy.nancumprod: NaN counts as 1."""
    return Array(_rsdat.nancumprod(_operand(x), axis, _opt_dt(dtype)))


def cummax(x, axis=None):
    """numpy.maximum.accumulate (NaN from the first NaN on)."""
    return Array(_rsdat.cummax(_operand(x), axis))


def cummin(x, axis=None):
    """numpy.minimum.accumulate."""
    return Array(_rsdat.cummin(_operand(x), axis))


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """numpy.diff."""
    p = None if prepend is None else _operand(prepend)
    q = None if append is None else _operand(append)
    return Array(_rsdat.diff(_operand(a), int(n), int(axis), p, q))


def ediff1d(ary, to_end=None, to_begin=None):
    """numpy.ediff1d."""
    e = None if to_end is None else _operand(np.atleast_1d(to_end) if _scalar_kind(to_end) is not None else to_end)
    b = None if to_begin is None else _operand(
        np.atleast_1d(to_begin) if _scalar_kind(to_begin) is not None else to_begin)
    return Array(_rsdat.ediff1d(_operand(ary), e, b))


# ---- order statistics -----------------------------------------------------------------


def median(a, axis=None, keepdims=False, out=None, overwrite_input=False):
    """numpy.median: exact (each task reads whole slices along the axes)."""
    return Array(_rsdat.median(_operand(a), _axes(axis), bool(keepdims)))


def nanmedian(a, axis=None, keepdims=False, out=None, overwrite_input=False):
    """numpy.nanmedian."""
    return Array(_rsdat.nanmedian(_operand(a), _axes(axis), bool(keepdims)))


def _quantile(name, a, q, axis, method, keepdims, interpolation):
    method = interpolation or method
    if np.ndim(q) == 0:
        qq = float(q)
    else:
        qq = [float(v) for v in np.asarray(q).ravel()]
        if np.ndim(q) > 1:
            raise NotImplementedError(f"{name}: q must be a scalar or 1-d")
    return Array(getattr(_rsdat, name)(_operand(a), qq, _axes(axis), method, bool(keepdims)))


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
             interpolation=None):
    """numpy.quantile (q in [0, 1], a scalar or a list adding a leading axis)."""
    return _quantile("quantile", a, q, axis, method, keepdims, interpolation)


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
                interpolation=None):
    """numpy.nanquantile: NaN left out (NaN for a slice of NaN only)."""
    return _quantile("nanquantile", a, q, axis, method, keepdims, interpolation)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
               interpolation=None):
    """numpy.percentile (q in [0, 100])."""
    return _quantile("percentile", a, q, axis, method, keepdims, interpolation)


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
                  interpolation=None):
    """numpy.nanpercentile."""
    return _quantile("nanpercentile", a, q, axis, method, keepdims, interpolation)


def sort(a, axis=-1, kind=None, order=None):
    """numpy.sort along `axis` (NaN last; one chunk along it)."""
    if axis is None:
        a, axis = ravel(a), 0
    return Array(_rsdat.sort(_operand(a), int(axis)))


def argsort(a, axis=-1, kind=None, order=None):
    """numpy.argsort(kind="stable")."""
    if axis is None:
        a, axis = ravel(a), 0
    return Array(_rsdat.argsort(_operand(a), int(axis)))


def topk(a, k, axis=-1, split_every=None):
    """dask.array.topk: the k largest along `axis` (k < 0: the |k| smallest)."""
    return Array(_rsdat.topk(_operand(a), int(k), int(axis), _split(split_every)))


def argtopk(a, k, axis=-1, split_every=None):
    """dask.array.argtopk."""
    return Array(_rsdat.argtopk(_operand(a), int(k), int(axis), _split(split_every)))


# ---- rolling windows and grouped reductions ---------------------------------------------

class Rolling:
    """Moving-window statistics along one axis with xarray's semantics (see rolling)."""

    def __init__(self, a, axis, window, center, min_periods):
        self._args = (asarray(a)._a, int(axis), int(window), bool(center),
                      None if min_periods is None else int(min_periods))

    def _stat(self, name):
        return Array(_rsdat.rolling(*self._args, name))

    def sum(self): return self._stat("sum")
    def mean(self): return self._stat("mean")
    def min(self): return self._stat("min")
    def max(self): return self._stat("max")
    def std(self): return self._stat("std")
    def var(self): return self._stat("var")
    def count(self): return self._stat("count")
    def median(self): return self._stat("median")


def rolling(a, axis, window, center=False, min_periods=None):
    """xarray's DataArray.rolling({dim: window}, center, min_periods) along `axis`: the
    result of .sum() .mean() .min() .max() .std() .var() .count() .median() has a's shape
    and chunks; position i summarises the window ending there (centred with center),
    NaN skipped, NaN where fewer than min_periods (default: the window) values are valid.
    Only window - 1 elements travel to each block. See also a.rsdat.rolling(dim=w) on
    xarray objects."""
    return Rolling(a, axis, window, center, min_periods)


def groupby_reduce(array, by, func="sum", *, axis=-1, expected_groups=None, fill_value=None, method="auto",
                   ddof=0, split_every=8):
    """flox.groupby_reduce along one axis: `array` reduced per group of equal labels in
    `by` (one per index of `axis`; any sortable values, NaN for no group) with flox's
    `func` names (sum, nansum, mean, nanmean, min, max, count, var, std, median, first,
    last, and their nan forms). Returns (result, groups): `axis` replaced by one entry
    per group, in the order of the sorted groups. `method` "cohorts" or "map-reduce"
    (flox's plans; "auto" picks by how the labels lie in the chunks)."""
    a = asarray(array)
    by = np.asarray(by)
    if by.ndim != 1 or by.shape[0] != a.shape[axis]:
        raise ValueError(f"groupby_reduce: by has shape {by.shape}; give one label per index of axis {axis} "
                         f"({a.shape[axis]})")
    valid = ~(np.isnan(by) if by.dtype.kind == "f" else np.zeros(by.shape, bool))
    if expected_groups is not None:
        groups = np.asarray(expected_groups)
        if len(np.unique(groups)) != len(groups):
            raise ValueError("groupby_reduce: expected_groups repeats a label")
        order = np.argsort(groups, kind="stable")
        groups = groups[order]
        codes = np.full(by.shape, -1, np.int64)
        pos = np.searchsorted(groups, by[valid])
        hit = (pos < len(groups)) & (groups[np.minimum(pos, len(groups) - 1)] == by[valid])
        codes[np.flatnonzero(valid)[hit]] = pos[hit]
        expected = list(range(len(groups)))
    else:
        groups, inverse = np.unique(by[valid], return_inverse=True)
        codes = np.full(by.shape, -1, np.int64)
        codes[valid] = inverse
        expected = None
    values, _, _ = _rsdat.groupby_reduce(a._a, codes.tolist(), int(axis), func, expected,
                                         None if fill_value is None else float(fill_value), method, float(ddof),
                                         int(split_every))
    return Array(values), groups


# ---- coarsen ---------------------------------------------------------------------------

# NumPy reductions coarsen() runs, by name -> the C++ Coarsen method. The C++ windows
# skip NaN on floats (xarray's default), so on floats only NumPy's nan-functions are
# the same; on integers and bools both spellings are.
_COARSEN_NAN = {"nansum": "sum", "nanprod": "prod", "nanmean": "mean", "nanmin": "min", "nanmax": "max",
                "nanvar": "var", "nanstd": "std", "nanmedian": "median"}
_COARSEN_PLAIN = {"sum": "sum", "prod": "prod", "mean": "mean", "min": "min", "max": "max", "amin": "min",
                  "amax": "max", "var": "var", "std": "std", "median": "median"}


def coarsen(reduction, x, axes, trim_excess=False, **kwargs):
    """dask.array.coarsen: `reduction` (numpy.nansum, numpy.nanmean, ...; on integer
    and bool arrays also numpy.sum, numpy.mean, ...) over non-overlapping windows of
    axes {axis: size}; with trim_excess the elements past the last whole window are
    left out, else an axis that is not a multiple of its window raises ValueError.
    `ddof=` for var and std. One task per block (each axis rechunked to multiples of
    its window where it is not already), no tree."""
    x = asarray(x)
    name = reduction if isinstance(reduction, str) else getattr(reduction, "__name__", "")
    stat = _COARSEN_NAN.get(name)
    if stat is None and x.dtype.kind != "f":
        stat = _COARSEN_PLAIN.get(name)
    if stat is None:
        hint = " (on floats use its nan-form, e.g. numpy.nanmean)" if name in _COARSEN_PLAIN else ""
        raise NotImplementedError(f"coarsen: reduction {name or reduction!r} is not supported{hint}")
    windows = [(int(k), int(v)) for k, v in dict(axes).items()]
    r = Array(_rsdat.coarsen(x._a, windows, "trim" if trim_excess else "exact", stat, float(kwargs.get("ddof", 0))))
    return r


# ---- counting --------------------------------------------------------------------------


def bincount(x, weights=None, minlength=0, split_every=None):
    """numpy.bincount of a 1-d non-negative integer array (its maximum is computed now)."""
    w = None if weights is None else _operand(weights)
    return Array(_rsdat.bincount(_operand(x), w, int(minlength), _handle(None)))


def histogram(a, bins=10, range=None, normed=False, weights=None, density=False):
    """numpy.histogram: (counts Array, edges numpy.ndarray); bins an int (with `range`,
    else the data's range, computed now) or the edges; `weights` (of a's shape) and
    `density` as NumPy's."""
    if normed:
        raise TypeError("histogram: normed was removed from NumPy; use density")
    w = None if weights is None else _operand(asarray(weights))
    if isinstance(bins, numbers.Integral):
        counts, edges = _rsdat.histogram(_operand(a), int(bins), None if range is None else tuple(map(float, range)),
                                         w, bool(density), _handle(None))
    else:
        counts, edges = _rsdat.histogram_edges(_operand(a), [float(e) for e in np.asarray(bins)], w, bool(density))
    dt = np.float32 if asarray(a).dtype == np.float32 and isinstance(bins, numbers.Integral) else np.float64
    return Array(counts), np.asarray(edges, dtype=dt)


def unique(ar, return_counts=False, **kwargs):
    """numpy.unique of the flattened array, computed now (rsdat Arrays of one chunk;
    with return_counts, (values, counts))."""
    if kwargs.get("return_index") or kwargs.get("return_inverse"):
        raise NotImplementedError("unique: return_index and return_inverse are not available yet")
    values, counts = _rsdat.unique(_operand(ar), bool(return_counts), _handle(None))
    return (Array(values), Array(counts)) if return_counts else Array(values)


# numpy.<ufunc>.reduce and .accumulate that are rsdat reductions and scans.
_UFUNC_METHODS = {
    ("add", "reduce"): sum, ("multiply", "reduce"): prod, ("maximum", "reduce"): max, ("minimum", "reduce"): min,
    ("fmax", "reduce"): nanmax, ("fmin", "reduce"): nanmin, ("logical_and", "reduce"): all,
    ("logical_or", "reduce"): any, ("add", "accumulate"): cumsum, ("multiply", "accumulate"): cumprod,
    ("maximum", "accumulate"): cummax, ("minimum", "accumulate"): cummin,
}


# ---- kernels the workers load ----------------------------------------------------------------

def _kernel_params(kwargs, fn):
    import json
    try:
        return json.dumps(kwargs) if kwargs else ""
    except TypeError as e:
        raise TypeError(f"{fn}: keyword arguments go to the kernel as JSON: {e}") from None


def map_blocks(func, *args, dtype=None, **kwargs):
    """dask.array.map_blocks for kernels the workers load: ``func`` is the name of a
    kernel (a Python kernel from rsdat-worker --python-kernels, see rsdat.kernel, or a C++
    plugin's op) or a function decorated with @rsdat.kernel. Each block of the first array
    goes to the kernel with the other arrays' blocks at the same place (they are rechunked
    to the first one's chunks; all have one shape) and ``kwargs`` (JSON values; C++ ops get
    them as JSON text); it returns a block of the same shape, in ``dtype`` (default: the
    first array's). An op no worker knows fails its task with rsdat.TaskError."""
    from .kernels import kernel_name
    name = kernel_name(func)
    if not args:
        raise TypeError("map_blocks: needs at least one array")
    arrays = [a if isinstance(a, Array) else from_array(np.asarray(a), chunks=-1) for a in args]
    d = _dtype_name(dtype) if dtype is not None else str(arrays[0].dtype)
    for key in ("chunks", "drop_axis", "new_axis", "meta"):
        if kwargs.get(key) is not None:
            raise NotImplementedError(f"map_blocks: {key}= is not supported (blocks keep their shape)")
        kwargs.pop(key, None)
    return Array(_rsdat.map_blocks(name, [a._a for a in arrays], d, _kernel_params(kwargs, "map_blocks")))


def _per_axis(value, ndim, what, convert):
    if isinstance(value, dict):
        out = [None] * ndim
        for axis, v in value.items():
            ax = int(axis)
            if not -ndim <= ax < ndim:
                raise ValueError(f"map_overlap: {what} for axis {axis} of a {ndim}-d array")
            out[ax % ndim] = convert(v)
        return out
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(f"map_overlap: {len(value)} {what} values for a {ndim}-d array")
        return [convert(v) for v in value]
    return [convert(value)] * ndim


def map_overlap(func, *args, depth=None, boundary=None, trim=True, dtype=None, **kwargs):
    """dask.array.map_overlap for kernels the workers load (``func`` as in map_blocks):
    each block extended by ``depth`` (an int, or one per axis as a tuple or a dict) with
    ``boundary`` ("none" (default, as dask's), "reflect", "periodic", "nearest", or a
    number for a constant; one per axis as a tuple or a dict), the kernel applied, and with
    ``trim`` the halo cut off again. One input array."""
    from .kernels import kernel_name
    name = kernel_name(func)
    if len(args) != 1:
        raise NotImplementedError("map_overlap: one array (rsdat extends the blocks of one input)")
    a = args[0] if isinstance(args[0], Array) else from_array(np.asarray(args[0]), chunks=-1)
    for key in ("align_arrays", "allow_rechunk", "meta", "chunks", "drop_axis", "new_axis"):
        kwargs.pop(key, None)
    depths = [0 if v is None else v
              for v in _per_axis(0 if depth is None else depth, a.ndim, "depth", lambda v: 0 if v is None else int(v))]

    def one_boundary(b):
        if b is None:
            return ("none", 0.0)
        if isinstance(b, str):
            return (b, 0.0)
        return ("constant", float(b))
    bounds = _per_axis("none" if boundary is None else boundary, a.ndim, "boundary", one_boundary)
    bounds = [("none", 0.0) if b is None else b for b in bounds]
    d = _dtype_name(dtype) if dtype is not None else None
    return Array(_rsdat.map_overlap(name, a._a, depths, bounds, bool(trim), d, _kernel_params(kwargs, "map_overlap")))


# ---- not bound yet ---------------------------------------------------------------------------

# The C++ operations this module does not offer yet, with why (tests/python checks
# that every public C++ function is bound or listed here).
NOT_YET_BOUND = {
    "overlap": "dask.array.overlap's form (depth and boundary per axis) not mapped yet",
    "histogram_along": "no NumPy or dask counterpart",
    "growing_degree_hours": "the phenology example's kernels, not array operations",
    "spring_index_leaf": "as growing_degree_hours",
    "spring_index": "as growing_degree_hours",
    "coordinate": "no NumPy counterpart (numpy.indices gives all axes at once)",
    "with_raster_grid": "rioxarray's rio.write_transform/write_crs; belongs with an xarray-like layer",
}


# ---- __array_function__ --------------------------------------------------------------------

_ARRAY_FUNCTIONS = {}
for _name, _f in list(globals().items()):
    if callable(_f) and not _name.startswith("_") and not isinstance(_f, type) and _name not in (
            "asarray", "asanyarray", "array", "from_array", "from_zarr", "to_zarr", "compress", "NOT_YET_BOUND",
            "from_raster", "to_raster", "raster_grid", "from_netcdf", "to_netcdf", "rolling", "groupby_reduce"):
        _ARRAY_FUNCTIONS[_name] = _f
_ARRAY_FUNCTIONS["amin"], _ARRAY_FUNCTIONS["amax"], _ARRAY_FUNCTIONS["round_"] = min, max, round
_ARRAY_FUNCTIONS["shape"] = lambda a: asarray(a).shape
_ARRAY_FUNCTIONS["ndim"] = lambda a: asarray(a).ndim
_ARRAY_FUNCTIONS["size"] = lambda a, axis=None: asarray(a).size if axis is None else asarray(a).shape[axis]
_ARRAY_FUNCTIONS["compress"] = compress
# Dtype questions are answered from the arrays' dtypes, never by computing them (xarray
# asks them of every operand).
_ARRAY_FUNCTIONS["result_type"] = lambda *a: np.result_type(*(x.dtype if isinstance(x, Array) else x for x in a))

__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and n not in ("builtins", "math", "numbers", "os", "warnings", "np")
                 and (callable(v) or n in ("random", "NOT_YET_BOUND")))
