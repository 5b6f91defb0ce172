import json
import os
"""rsdat.array against NumPy on a LocalCluster: chunked inputs with NaN, irregular
chunks, size-0 and size-1 axes."""

import warnings

import numpy as np
import pytest

import rsdat
import rsdat.array as da
from conftest import check

rng = np.random.default_rng(42)
X = rng.random((7, 10))
X[1, 3] = np.nan
X[5, 0] = np.nan
XC = ((3, 4), (5, 2, 3))  # irregular chunks
Y = rng.random((7, 10)) + 0.5
I32 = rng.integers(-50, 50, (7, 10)).astype(np.int32)
U8 = rng.integers(0, 200, (7, 10)).astype(np.uint8)
B = rng.random((7, 10)) > 0.5
F32 = rng.random((6, 4)).astype(np.float32)


def x():
    return da.from_array(X, chunks=XC)


def quiet(f, *a, **k):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f(*a, **k)


# ---- arrays and their attributes -----------------------------------------------------


def test_attributes_and_repr():
    a = x()
    assert a.shape == (7, 10) and a.ndim == 2 and a.size == 70 and a.nbytes == 560
    assert a.dtype == np.dtype("float64") and isinstance(a.dtype, np.dtype)
    assert a.chunks == XC and a.numblocks == (2, 3) and a.chunksize == (4, 5)
    assert a.T.shape == (10, 7) and a.T.chunks == XC[::-1]
    assert len(a) == 7
    assert repr(a).startswith("rsdat.array<") and "shape=(7, 10)" in repr(a) and "dtype=float64" in repr(a)
    r = a.compute()
    assert isinstance(r, np.ndarray) and r.flags.writeable
    np.testing.assert_array_equal(r, X)
    assert isinstance(a.sum().compute(), np.floating)  # 0-d: a NumPy scalar, as dask gives
    one = da.from_array(X, chunks=-1).compute()
    assert type(one.base).__name__ == "PyCapsule"  # the received chunk itself, not a copy


@pytest.mark.parametrize("chunks, expect", [
    (4, ((4, 3), (4, 4, 2))),
    ((3, -1), ((3, 3, 1), (10,))),
    ((None, 5), ((7,), (5, 5))),
    (((2, 5), (1, 9)), ((2, 5), (1, 9))),
    ({1: 3}, ((7,), (3, 3, 3, 1))),
    ("auto", ((7,), (10,))),
])
def test_chunks_forms(chunks, expect):
    a = da.ones((7, 10), chunks=chunks)
    assert a.chunks == expect
    check(a, np.ones((7, 10)))


def test_bad_chunks_raise():
    with pytest.raises(ValueError):
        da.ones((7, 10), chunks=((3, 3), (10,)))
    with pytest.raises(ValueError):
        da.ones((7, 10), chunks=(3,))
    with pytest.raises(ValueError):
        da.ones((7, 10), chunks=0)


def test_creation():
    check(da.zeros((5, 3), chunks=2, dtype="int32"), np.zeros((5, 3), np.int32))
    check(da.ones((4,), chunks=3, dtype=bool), np.ones(4, bool))
    check(da.full((3, 4), 2.5, chunks=2), np.full((3, 4), 2.5))
    check(da.full((3, 4), 7, chunks=2), np.full((3, 4), 7))
    check(da.arange(10, chunks=3), np.arange(10))
    check(da.arange(1, 10, 2, chunks=2), np.arange(1, 10, 2))
    check(da.arange(0.5, 3.0, 0.25, chunks=4), np.arange(0.5, 3.0, 0.25))
    check(da.arange(5, dtype="float32", chunks=2), np.arange(5, dtype="float32"))
    check(da.linspace(0, 1, 11, chunks=4), np.linspace(0, 1, 11))
    check(da.linspace(0, 1, 10, endpoint=False, chunks=3), np.linspace(0, 1, 10, endpoint=False))
    check(da.eye(5, chunks=2, k=1), np.eye(5, k=1))
    check(da.zeros_like(x()), np.zeros_like(X))
    check(da.ones_like(x(), dtype="int8"), np.ones_like(X, dtype="int8"))
    check(da.full_like(x(), 3.0), np.full_like(X, 3.0))
    check(da.zeros((0, 4), chunks=2), np.zeros((0, 4)))
    check(da.empty((2, 2), chunks=1) * 0, np.zeros((2, 2)))


def test_random():
    r = da.random.random((50, 40), chunks=(20, 15))
    v = r.compute()
    assert r.dtype == np.float64 and v.shape == (50, 40) and (v >= 0).all() and (v < 1).all()
    np.testing.assert_array_equal(r.compute(), v)  # the same array computes the same values
    assert not np.array_equal(da.random.random((50, 40), chunks=20).compute(), v)  # a new one differs
    u = da.random.uniform(-2, 3, size=(1000,), chunks=300).compute()
    assert (u >= -2).all() and (u < 3).all() and u.min() < -1.5 and u.max() > 2.5
    s1 = da.random.RandomState(5).random((10,), chunks=3).compute()
    s2 = da.random.RandomState(5).random((10,), chunks=7).compute()
    np.testing.assert_array_equal(s1, s2)  # a seed gives the same values in any chunks


def test_from_array_dtypes_and_layouts():
    for a in (I32, U8, B, F32, X.T, X[::2, ::3], np.arange(6, dtype=">i4").reshape(2, 3), np.array(3.5),
              np.zeros((0, 3)), np.ones((1, 5))):
        check(da.from_array(a, chunks=2), np.asarray(a, order="C").astype(a.dtype.newbyteorder("=")))
    with pytest.raises(TypeError):
        da.from_array(np.ones(3, np.float16))
    with pytest.raises(TypeError):
        da.from_array(np.ones(3, np.complex128))


# ---- operators and elementwise functions ---------------------------------------------------


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">="])
def test_arithmetic_and_comparison_operators(op):
    f = eval(f"lambda a, b: a {op} b")
    a, b = x(), da.from_array(Y, chunks=(2, 10))
    check(f(a, b), quiet(f, X, Y))
    check(f(a, 2.5), quiet(f, X, 2.5))
    check(f(3, a), quiet(f, 3, X))
    check(f(a, np.float64(2)), quiet(f, X, np.float64(2)))
    check(f(a, Y[0]), quiet(f, X, Y[0]))          # a NumPy array operand, broadcast
    i = da.from_array(I32, chunks=3)
    if op not in ("/", "**"):
        check(f(i, 7), quiet(f, I32, 7))           # a Python int keeps int32
        check(f(-7, i), quiet(f, -7, I32))
    check(f(i, 2.0), quiet(f, I32, 2.0))           # a float makes float64
    check(f(da.from_array(F32, chunks=4), 2.0), quiet(f, F32, 2.0), rtol=1e-6)  # and leaves float32


def test_unary_and_bitwise_operators():
    i, u, b = da.from_array(I32, chunks=3), da.from_array(U8, chunks=4), da.from_array(B, chunks=3)
    check(-x(), -X)
    check(abs(i), abs(I32))
    check(~i, ~I32)
    check(~b, ~B)
    check(+x(), X)
    for f in (lambda p, q: p & q, lambda p, q: p | q, lambda p, q: p ^ q):
        check(f(i, i * 3), f(I32, I32 * 3))
        check(f(b, ~b), f(B, ~B))
        check(f(u, 5), f(U8, 5))
        check(f(6, u), f(6, U8))
    check(u << 2, U8 << 2)
    check(i >> 1, I32 >> 1)
    with pytest.raises(ValueError):
        x() & x()  # floats have no bitwise operations


def test_matmul_operator():
    a = da.from_array(X[:, :6], chunks=(3, 4))
    b = da.from_array(Y[:6, :5], chunks=(4, 2))
    check(np.nan_to_num(1) + (da.nan_to_num(a) @ b), np.nan_to_num(X[:, :6]) @ Y[:6, :5] + 1)
    check(a.T @ np.ones(7), X[:, :6].T @ np.ones(7))


UNARY = ["negative", "abs", "absolute", "square", "sign", "reciprocal", "floor", "ceil", "trunc", "rint", "sqrt",
         "cbrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
         "arctan", "sinh", "cosh", "tanh", "arcsinh", "arctanh", "deg2rad", "rad2deg", "degrees", "radians",
         "isnan", "isfinite", "isinf", "logical_not"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_functions(name):
    check(getattr(da, name)(x()), quiet(getattr(np, name), X), rtol=1e-12)
    check(getattr(da, name)(da.from_array(F32, chunks=3)), quiet(getattr(np, name), F32), rtol=2e-6)
    check(getattr(np, name)(x()), quiet(getattr(np, name), X))  # __array_ufunc__: stays lazy


def test_arccosh_and_invert():
    check(da.arccosh(x() + 1), np.arccosh(X + 1))
    check(da.invert(da.from_array(I32, chunks=4)), np.invert(I32))
    check(da.isnan(da.from_array(I32, chunks=4)), np.isnan(I32))


BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "power", "mod", "remainder", "floor_divide",
          "minimum", "maximum", "fmin", "fmax", "arctan2", "hypot", "equal", "not_equal", "less", "less_equal",
          "greater", "greater_equal", "logical_and", "logical_or", "logical_xor"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_functions(name):
    f, g = getattr(da, name), getattr(np, name)
    y = da.from_array(Y, chunks=(4, 3))
    check(f(x(), y), quiet(g, X, Y))
    check(f(x(), 0.5), quiet(g, X, 0.5))
    check(f(0.5, x()), quiet(g, 0.5, X))
    check(g(x(), y), quiet(g, X, Y))       # numpy's ufunc on rsdat Arrays: lazy
    check(g(2, x()), quiet(g, 2, X))
    check(f(x()[:, :1], y[0]), quiet(g, X[:, :1], Y[0]))  # broadcast (7, 1) with (10,)
    i = da.from_array(I32, chunks=3)
    if name not in ("power",):
        check(f(i, i + 51), quiet(g, I32, I32 + 51))


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"])
def test_bitwise_functions(name):
    f, g = getattr(da, name), getattr(np, name)
    u = da.from_array(U8, chunks=3)
    check(f(u, 3), g(U8, 3))
    check(f(u, u // 50), g(U8, U8 // 50))
    check(g(u, 2), g(U8, 2))


def test_array_ufunc_refuses_what_rsdat_has_not():
    with pytest.raises(TypeError):
        np.sin(x(), out=np.empty((7, 10)))
    assert x().__array_ufunc__(np.add, "outer", x(), x()) is NotImplemented
    assert x().__array_ufunc__(np.ldexp, "__call__", x(), 2) is NotImplemented


def test_array_function():
    a = x()
    check(np.sum(a, axis=0), np.sum(X, axis=0))
    check(np.mean(a), np.mean(X))
    check(np.where(a > 0.5, a, 0.0), np.where(X > 0.5, X, 0.0))
    check(np.concatenate([a, a]), np.concatenate([X, X]))
    assert np.shape(a) == (7, 10) and np.ndim(a) == 2
    check(np.reshape(a, newshape=(10, 7)), np.reshape(X, newshape=(10, 7)))
    check(np.matmul(a, a.T), np.matmul(X, X.T))
    check(np.add.reduce(a), np.add.reduce(X))
    check(np.multiply.reduce(a, axis=1, keepdims=True), np.multiply.reduce(X, axis=1, keepdims=True))
    check(np.maximum.reduce(a, axis=None), np.maximum.reduce(X, axis=None))
    check(np.fmin.reduce(a, axis=1), np.fmin.reduce(X, axis=1))
    check(np.logical_or.reduce(a > 0.9, axis=0), np.logical_or.reduce(X > 0.9, axis=0))
    check(np.add.accumulate(a, axis=1), np.add.accumulate(X, axis=1))
    check(np.maximum.accumulate(a), np.maximum.accumulate(X))
    with pytest.raises(TypeError):
        np.subtract.reduce(a)  # not an rsdat reduction
    np.testing.assert_array_equal(np.asarray(a), X)  # __array__ computes


def test_where_clip_and_friends():
    a, y = x(), da.from_array(Y, chunks=5)
    check(da.where(a > 0.5, a, y), np.where(X > 0.5, X, Y))
    check(da.where(a > 0.5, 1.0, y), np.where(X > 0.5, 1.0, Y))
    check(da.where(a > 0.5, a, -1.0), np.where(X > 0.5, X, -1.0))
    check(da.where(da.from_array(I32, chunks=3), a, y), np.where(I32, X, Y))
    check(da.clip(a, 0.2, 0.8), np.clip(X, 0.2, 0.8))
    check(a.clip(0.3), np.clip(X, 0.3, None))
    check(da.clip(a, None, y), np.clip(X, None, Y))
    check(da.clip(da.from_array(I32, chunks=3), -5, 5), np.clip(I32, -5, 5))
    with pytest.raises(ValueError):
        da.clip(a, 0.8, 0.2)
    check(da.isclose(a, a + 1e-9), np.isclose(X, X + 1e-9))
    check(da.isclose(a, a, equal_nan=True), np.isclose(X, X, equal_nan=True))
    assert not bool(da.allclose(a, a))  # NaN
    assert bool(da.allclose(a, a, equal_nan=True))
    inf = np.array([np.nan, np.inf, -np.inf, 1.0])
    check(da.nan_to_num(da.from_array(inf)), np.nan_to_num(inf))
    check(da.nan_to_num(da.from_array(inf), nan=-1, posinf=9), np.nan_to_num(inf, nan=-1, posinf=9))
    check(da.round(a * 100, 1), np.round(X * 100, 1))
    check(a.round(2), X.round(2))
    check(da.isin(da.from_array(I32, chunks=3), [1, 2, 3, -7]), np.isin(I32, [1, 2, 3, -7]))
    check(da.broadcast_to(a[0], (3, 10)), np.broadcast_to(X[0], (3, 10)))
    p, q = da.broadcast_arrays(a[:, :1], a[0])
    check(p, np.broadcast_arrays(X[:, :1], X[0])[0])
    check(q, np.broadcast_arrays(X[:, :1], X[0])[1])


def test_astype():
    check(x().astype("float32"), X.astype("float32"))
    check(da.from_array(I32, chunks=3).astype(np.uint8), I32.astype(np.uint8))
    check(da.from_array(I32, chunks=3).astype(bool), I32.astype(bool))
    assert x().astype(float).dtype == np.float64
    with pytest.raises(TypeError):
        x().astype("float16")


# ---- reductions ------------------------------------------------------------------------

REDUCTIONS = ["sum", "prod", "mean", "min", "max", "std", "var", "any", "all", "nansum", "nanprod", "nanmean",
              "nanmin", "nanmax", "nanstd", "nanvar", "count_nonzero", "ptp", "median", "nanmedian"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, axis, keepdims):
    f, g = getattr(da, name), getattr(np, name)
    if name == "count_nonzero" and keepdims and axis is None:
        return  # NumPy's count_nonzero ignores keepdims without an axis
    check(f(x(), axis=axis, keepdims=keepdims), quiet(g, X, axis=axis, keepdims=keepdims), rtol=1e-10)
    i = da.from_array(I32, chunks=(2, 4))
    check(f(i, axis=axis, keepdims=keepdims), quiet(g, I32, axis=axis, keepdims=keepdims), rtol=1e-10)


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "min", "max", "std", "var", "any", "all", "argmax",
                                  "argmin"])
def test_reduction_methods(name):
    a = x()
    kw = {} if name.startswith("arg") else {"keepdims": True}
    check(getattr(a, name)(axis=1, **kw), quiet(getattr(X, name), axis=1, **kw), rtol=1e-10)
    check(getattr(a, name)(), quiet(getattr(X, name)), rtol=1e-10)
    if name in ("std", "var"):
        check(getattr(a, name)(axis=0, ddof=1), quiet(getattr(X, name), axis=0, ddof=1), rtol=1e-10)
    if name in ("sum", "mean", "prod"):
        check(getattr(a, name)(axis=0, dtype="float32"), quiet(getattr(X, name), axis=0, dtype="float32"),
              rtol=1e-5)


@pytest.mark.parametrize("name", ["argmax", "argmin", "nanargmax", "nanargmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_arg_reductions(name, axis):
    f, g = getattr(da, name), getattr(np, name)
    check(f(x(), axis=axis), g(X, axis=axis))
    check(f(x(), axis=axis, keepdims=True), g(X, axis=axis, keepdims=True))
    check(f(da.from_array(I32, chunks=3), axis=axis, split_every=2), g(I32, axis=axis))


def test_reduction_dtypes_and_edges():
    check(da.from_array(B, chunks=3).sum(), B.sum())
    check(da.from_array(U8, chunks=3).sum(axis=0), U8.sum(axis=0))
    check(da.from_array(F32, chunks=3).mean(axis=0), F32.mean(axis=0), rtol=1e-6)
    check(da.zeros((0, 3), chunks=2).sum(axis=0), np.zeros((0, 3)).sum(axis=0))
    check(da.ones((1, 3), chunks=1).prod(axis=0), np.ones((1, 3)).prod(axis=0))
    check(x().sum(axis=1, split_every=2), X.sum(axis=1))
    with pytest.raises(ValueError):
        da.zeros((0, 3), chunks=2).max(axis=0)
    with pytest.raises(ValueError):
        x().sum(axis=2)
    with pytest.raises(ValueError):
        x().sum(axis=(0, 0))


# ---- indexing ---------------------------------------------------------------------------

INDICES = [
    np.s_[0], np.s_[-1], np.s_[2:5], np.s_[::2], np.s_[::-1], np.s_[-3:], np.s_[1:6:2, ::3], np.s_[0:10, ::2],
    np.s_[5, 3], np.s_[:, 5], np.s_[..., None], np.s_[None, ..., 2], np.s_[..., ::-2], np.s_[100:], np.s_[-100:2],
    np.s_[:, [0, 3, 3, -1]], np.s_[[4, 0, 2]], np.s_[np.array([1, 1, 6]), 2:8], np.s_[:, np.arange(10) % 3 == 0],
    np.s_[np.array([True, False] * 3 + [True])], np.s_[2, [1, 4]], np.s_[[1, 4], :, None], np.s_[()],
]


@pytest.mark.parametrize("index", INDICES, ids=[str(i) for i in INDICES])
def test_indexing(index):
    check(x()[index], X[index])


def test_indexing_3d_and_masks():
    z = rng.random((4, 5, 6))
    a = da.from_array(z, chunks=(3, 2, 4))
    check(a[0:10, ::2, 5], z[0:10, ::2, 5])
    check(a[:, [1, 3], 0], z[:, [1, 3], 0])   # an int after the array index: NumPy keeps it in place
    check(a[0, :, [1, 3]], z[0, :, [1, 3]])   # an int, a slice, then the array: the array's axis goes first
    check(a[1, ..., -1], z[1, ..., -1])
    check(a[a > 0.5], z[z > 0.5])             # a boolean mask of the array's shape: a 1-d result
    check(a[z > 0.5], z[z > 0.5])
    m = x()
    check(m[m[:, 0] > 0.5], X[X[:, 0] > 0.5])  # an rsdat boolean Array along the first axis
    check(m[:, da.from_array(np.arange(10) < 4)], X[:, np.arange(10) < 4])


def test_bad_indices_raise():
    a = x()
    with pytest.raises(IndexError):
        a[7]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(IndexError):
        a[..., ...]
    with pytest.raises(IndexError):
        a[1.5]
    with pytest.raises(IndexError):
        a[[7]]
    with pytest.raises(ValueError):
        a[::0]
    with pytest.raises(NotImplementedError):
        a[[0, 1], [0, 1]]
    with pytest.raises(TypeError):
        a[0] = 1


# ---- shape and joining ----------------------------------------------------------------------


def test_shape_functions():
    a = x()
    check(a.reshape(70), X.reshape(70))
    check(a.reshape(2, 35), X.reshape(2, 35))
    check(a.reshape((5, -1)), X.reshape((5, -1)))
    check(da.reshape(a, (14, 5)), X.reshape(14, 5))
    check(a.ravel(), X.ravel())
    check(a.transpose(), X.T)
    check(a.transpose(1, 0), X.transpose(1, 0))
    check(da.transpose(a[None], (2, 0, 1)), np.transpose(X[None], (2, 0, 1)))
    check(da.moveaxis(a[None], 0, -1), np.moveaxis(X[None], 0, -1))
    check(da.swapaxes(a, 0, 1), np.swapaxes(X, 0, 1))
    check(da.expand_dims(a, 1), np.expand_dims(X, 1))
    check(da.expand_dims(a, (0, -1)), np.expand_dims(X, (0, -1)))
    check(da.squeeze(a[None, :, 2:3]), np.squeeze(X[None, :, 2:3]))
    check(a[:, :1].squeeze(axis=1), X[:, :1].squeeze(axis=1))
    check(da.flip(a, 0), np.flip(X, 0))
    check(da.flip(a), np.flip(X))
    check(da.flipud(a), np.flipud(X))
    check(da.fliplr(a), np.fliplr(X))
    check(da.roll(a, 3), np.roll(X, 3))
    check(da.roll(a, -2, axis=1), np.roll(X, -2, axis=1))
    check(da.roll(a, (1, 4), axis=(0, 1)), np.roll(X, (1, 4), axis=(0, 1)))
    check(da.concatenate([a, da.from_array(Y, chunks=3)], axis=1), np.concatenate([X, Y], axis=1))
    check(da.concatenate([a, I32], axis=0), np.concatenate([X, I32], axis=0))
    check(da.stack([a, a * 2], axis=1), np.stack([X, X * 2], axis=1))
    check(da.stack([a, a], axis=-1), np.stack([X, X], axis=-1))
    check(da.vstack([a, a[:2]]), np.vstack([X, X[:2]]))
    check(da.hstack([a[0], a[1]]), np.hstack([X[0], X[1]]))
    for mode in ("constant", "edge", "reflect", "symmetric", "wrap"):
        check(da.pad(a, ((1, 2), (3, 0)), mode=mode), np.pad(X, ((1, 2), (3, 0)), mode=mode))
    check(da.pad(a, 2, constant_values=9), np.pad(X, 2, constant_values=9))
    check(da.take(a, [0, -1, 3], axis=1), np.take(X, [0, -1, 3], axis=1))
    check(da.take(a, [5, 69]), np.take(X, [5, 69]))
    check(da.compress([True, False, True], a, axis=0), np.compress([True, False, True], X, axis=0))
    check(da.compress(da.from_array(B[0]), a, axis=1), np.compress(B[0], X, axis=1))
    with pytest.raises(ValueError):
        a.reshape(3, 3)
    with pytest.raises(ValueError):
        da.concatenate([a, a[:, :3]], axis=0)
    with pytest.raises(ValueError):
        da.broadcast_to(a, (3, 7))


def test_rechunk():
    a = x().rechunk((5, 5))
    assert a.chunks == ((5, 2), (5, 5))
    check(a, X)
    b = x().rechunk({0: -1})
    assert b.chunks == ((7,), XC[1])
    c = x().rechunk(((1, 6), (10,)))
    assert c.chunks == ((1, 6), (10,))
    check(c, X)


# ---- scans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum", "nancumprod"])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_scans(name, axis):
    check(getattr(da, name)(x(), axis=axis), getattr(np, name)(X, axis=axis), rtol=1e-10)
    check(getattr(da, name)(da.from_array(I32, chunks=3), axis=axis), getattr(np, name)(I32, axis=axis))
    check(getattr(da, name)(x(), axis=axis, dtype="float32"), getattr(np, name)(X, axis=axis, dtype="float32"),
          rtol=1e-5)


def test_cummax_diff_ediff1d():
    check(da.cummax(x(), axis=1), np.maximum.accumulate(X, axis=1))
    check(da.cummin(x(), axis=0), np.minimum.accumulate(X, axis=0))
    check(x().cumsum(axis=0), X.cumsum(axis=0))
    check(da.diff(x()), np.diff(X))
    check(da.diff(x(), n=2, axis=0), np.diff(X, n=2, axis=0))
    check(da.diff(x(), prepend=0.0, append=X[:, :2]), np.diff(X, prepend=0.0, append=X[:, :2]))
    check(da.diff(da.from_array(U8, chunks=3), axis=0), np.diff(U8, axis=0))
    check(da.ediff1d(x()), np.ediff1d(X))
    check(da.ediff1d(x(), to_begin=-1.0, to_end=[1.0, 2.0]), np.ediff1d(X, to_begin=-1.0, to_end=[1.0, 2.0]))
    with pytest.raises(ValueError):
        da.diff(x(), n=-1)


# ---- order statistics ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quantile", "nanquantile", "percentile", "nanpercentile"])
def test_quantiles(name):
    q = 0.3 if "quantile" in name else 30
    qs = [0.1, 0.5, 0.9] if "quantile" in name else [10, 50, 90]
    f, g = getattr(da, name), getattr(np, name)
    check(f(x(), q, axis=0), quiet(g, X, q, axis=0))
    check(f(x(), qs, axis=1), quiet(g, X, qs, axis=1))
    check(f(x(), q), quiet(g, X, q))
    check(f(x(), q, axis=1, keepdims=True), quiet(g, X, q, axis=1, keepdims=True))
    for method in ("lower", "higher", "nearest", "midpoint"):
        check(f(da.from_array(I32, chunks=3), q, axis=0, method=method), g(I32, q, axis=0, method=method))
    with pytest.raises(ValueError):
        f(x(), 200)


def test_sort_topk():
    check(da.sort(x()), np.sort(X))
    check(da.sort(x(), axis=0), np.sort(X, axis=0))
    check(da.argsort(da.from_array(I32, chunks=3), axis=0), np.argsort(I32, axis=0, kind="stable"))
    check(da.topk(da.from_array(I32, chunks=3), 3), -np.sort(-I32, axis=-1)[:, :3])
    check(da.topk(da.from_array(I32, chunks=3), -2, axis=0), np.sort(I32, axis=0)[:2])
    at = da.argtopk(da.from_array(Y, chunks=3), 2, axis=1).compute()
    np.testing.assert_array_equal(at, np.argsort(-Y, axis=1, kind="stable")[:, :2])
    with pytest.raises(ValueError):
        da.topk(x(), 0)


# ---- linear algebra ------------------------------------------------------------------------


def test_linear_algebra():
    a = da.from_array(Y, chunks=(3, 4))
    b = da.from_array(Y.T.copy(), chunks=(4, 2))
    check(da.matmul(a, b), Y @ Y.T)
    check(da.dot(a[0], a[1]), np.dot(Y[0], Y[1]))
    check(da.dot(a, b), np.dot(Y, Y.T))
    check(da.tensordot(a, b, axes=1), np.tensordot(Y, Y.T, axes=1))
    check(da.tensordot(a, a, axes=([1], [1])), np.tensordot(Y, Y, axes=([1], [1])))
    check(da.outer(a[0], a[:, 1]), np.outer(Y[0], Y[:, 1]))
    check(da.einsum("ij,kj->ik", a, a), np.einsum("ij,kj->ik", Y, Y))
    check(da.einsum("ij->j", a), np.einsum("ij->j", Y))
    check(da.from_array(I32, chunks=3) @ da.from_array(I32.T.copy(), chunks=3), I32 @ I32.T)
    with pytest.raises(ValueError):
        a @ a
    with pytest.raises(ValueError):
        da.einsum("ii->i", a[:, :7])


# ---- counting ----------------------------------------------------------------------------------


def test_bincount_histogram_unique():
    v = rng.integers(0, 9, 50)
    check(da.bincount(da.from_array(v, chunks=7)), np.bincount(v))
    check(da.bincount(da.from_array(v, chunks=7), minlength=12), np.bincount(v, minlength=12))
    w = rng.random(50)
    check(da.bincount(da.from_array(v, chunks=7), weights=da.from_array(w, chunks=7)), np.bincount(v, weights=w))
    counts, edges = da.histogram(da.from_array(Y, chunks=3), bins=5, range=(0.5, 1.5))
    c2, e2 = np.histogram(Y, bins=5, range=(0.5, 1.5))
    check(counts, c2)
    np.testing.assert_allclose(edges, e2)
    counts, edges = da.histogram(da.from_array(Y, chunks=3), bins=4)
    c2, e2 = np.histogram(Y, bins=4)
    check(counts, c2)
    np.testing.assert_allclose(edges, e2)
    counts, _ = da.histogram(da.from_array(Y, chunks=3), bins=[0.5, 0.7, 1.0, 1.5])
    check(counts, np.histogram(Y, bins=[0.5, 0.7, 1.0, 1.5])[0])
    wy = rng.random(Y.shape)
    counts, _ = da.histogram(da.from_array(Y, chunks=3), bins=5, range=(0.5, 1.5), weights=da.from_array(wy, chunks=3))
    check(counts, np.histogram(Y, bins=5, range=(0.5, 1.5), weights=wy)[0])
    counts, _ = da.histogram(da.from_array(Y, chunks=3), bins=[0.5, 0.7, 1.0, 1.5], density=True)
    check(counts, np.histogram(Y, bins=[0.5, 0.7, 1.0, 1.5], density=True)[0])
    with pytest.raises(TypeError):
        da.histogram(da.from_array(Y, chunks=3), bins=4, normed=True)
    check(da.unique(da.from_array(I32 % 5, chunks=3)), np.unique(I32 % 5))
    u, c = da.unique(da.from_array(I32 % 5, chunks=3), return_counts=True)
    u2, c2 = np.unique(I32 % 5, return_counts=True)
    check(u, u2)
    check(c, c2)


# ---- computing ----------------------------------------------------------------------------------


def test_compute_several_in_one_graph(client):
    a = x()
    m, s, (lst,), d = rsdat.compute(a.mean(axis=0), a.std(), [a[0]], {"k": a.max(axis=1), "n": 3})
    np.testing.assert_allclose(m, X.mean(axis=0), equal_nan=True)
    assert np.isnan(s)
    np.testing.assert_array_equal(lst, X[0])
    np.testing.assert_array_equal(d["k"], X.max(axis=1))
    assert d["n"] == 3
    # A shared node that no consumer fuses (a rechunk): one graph makes it once.
    r = da.random.random((200, 200), chunks=50).rechunk((40, 40))
    r.sum(axis=0).compute()
    one_sum = client.last_stats()["tasks"]
    r.mean(axis=1).compute()
    one_mean = client.last_stats()["tasks"]
    r1, r2 = rsdat.compute(r.sum(axis=0), r.mean(axis=1))
    assert client.last_stats()["tasks"] < one_sum + one_mean
    v = r.compute()
    np.testing.assert_allclose(r1, v.sum(axis=0))
    np.testing.assert_allclose(r2, v.mean(axis=1))
    assert rsdat.compute(a, a)[0] is not None and rsdat.compute() == ()


def test_persist():
    a = (x() * 2).persist()
    check(a, X * 2)
    check(a.sum(axis=0), (X * 2).sum(axis=0))
    p, q = rsdat.persist(x() + 1, x() - 1)
    check(p - q, np.full((7, 10), 2.0) + X * 0)


def test_zarr_roundtrip(tmp_path):
    store = str(tmp_path / "out.zarr")
    a = da.from_array(F32, chunks=(3, 2))
    da.to_zarr(a, store, "v")
    b = da.from_zarr(store, component="v")
    assert b.chunks == a.chunks and b.dtype == np.float32
    check(b, F32)
    x().to_zarr(str(tmp_path / "x.zarr"))
    check(da.from_zarr(str(tmp_path / "x.zarr")), X)
    with pytest.raises(ValueError):
        da.from_zarr(str(tmp_path / "missing.zarr"))


def test_zarr_v3_sharded_roundtrip(tmp_path):
    store = str(tmp_path / "v3.zarr")
    a = da.from_array(F32, chunks=(3, 2))
    da.to_zarr(a, store, "v", zarr_format=3, shards=(6, 4))
    with open(os.path.join(store, "v", "zarr.json")) as f:
        meta = json.load(f)
    assert meta["zarr_format"] == 3 and meta["codecs"][0]["name"] == "sharding_indexed"
    assert meta["codecs"][0]["configuration"]["chunk_shape"] == [3, 2]
    b = da.from_zarr(store, component="v")
    assert b.dtype == np.float32 and b.chunks[0][0] == min(6, F32.shape[0])
    check(b, F32)


# ---- coarsen ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nansum", "nanprod", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd",
                                  "nanmedian"])
def test_coarsen(name):
    z = rng.random((6, 12))
    z[0, 0] = np.nan
    a = da.from_array(z, chunks=((4, 2), (5, 7)))  # not multiples of the windows: rechunked
    f = getattr(np, name)
    check(da.coarsen(f, a, {0: 2, 1: 4}), quiet(f, z.reshape(3, 2, 3, 4), axis=(1, 3)), rtol=1e-12)
    check(da.coarsen(f, a, {1: 5}, trim_excess=True), quiet(f, z[:, :10].reshape(6, 2, 5), axis=2), rtol=1e-12)
    i = rng.integers(0, 9, (6, 8)).astype(np.int32)
    plain = getattr(np, name[3:])
    check(da.coarsen(plain, da.from_array(i, chunks=3), {0: 3}), plain(i.reshape(2, 3, 8), axis=1), rtol=1e-12)


def test_coarsen_errors():
    with pytest.raises(ValueError):
        da.coarsen(np.nansum, da.ones((5, 4), chunks=2), {0: 2})
    with pytest.raises(NotImplementedError, match="nan"):
        da.coarsen(np.sum, da.ones((4, 4), chunks=2), {0: 2})
    with pytest.raises(NotImplementedError):
        da.coarsen(np.ptp, da.ones((4, 4), dtype="int32", chunks=2), {0: 2})
