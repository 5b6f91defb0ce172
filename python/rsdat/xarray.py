"""xarray over rsdat arrays.

xarray (Debian's 2023.01) keeps an rsdat Array inside a Variable as a duck array: its
operations (arithmetic, reductions with dim=, isel/sel, where, transpose) build rsdat
graphs through the arrays' __array_ufunc__ and __array_function__, and
``.values`` / ``numpy.asarray`` compute one variable. That xarray's ``.compute()`` and
``.load()`` leave arrays that are not dask's as they are, so the ``.rsdat`` accessor
computes: ``ds.rsdat.compute()`` computes every rsdat-backed variable of a Dataset (or a
DataArray's data and coordinates) in one graph and returns the same object over NumPy.

    import rsdat
    ds = rsdat.open_zarr("https://h/cube.zarr")          # xarray.Dataset, lazily
    ndvi = (ds.nir - ds.red) / (ds.nir + ds.red)
    ndvi.mean("time").rsdat.compute()                     # xarray.DataArray of NumPy
"""

import json
import os

import numpy as np

from . import store as _store


def _xr():
    try:
        import xarray
    except ImportError as e:
        raise ImportError("rsdat.open_zarr and the .rsdat accessor need xarray (Debian's python3-xarray)") from e
    _register()
    return xarray


def to_xarray(arr, dims=None, coords=None, attrs=None, name=None):
    """An xarray.DataArray over the rsdat array `arr` (lazily), with `dims` (default
    dim_0, dim_1, ...), `coords` and `attrs` as xarray.DataArray takes them."""
    from .array import asarray
    arr = asarray(arr)
    return _xr().DataArray(arr, dims=dims, coords=coords, attrs=attrs, name=name)


def from_xarray(obj, chunks="auto"):
    """The rsdat array under an xarray.DataArray (its own when it has one; else its
    NumPy data sent with from_array and `chunks`)."""
    from .array import Array, from_array
    data = obj.variable._data if hasattr(obj, "variable") else obj.data
    return data if isinstance(data, Array) else from_array(np.asarray(obj.data), chunks=chunks)


def _json(store, key):
    try:
        return json.loads(_store.get(store, key))
    except KeyError:
        return None


def _members(store, group):
    """{path: (zarray, zattrs)} of the arrays directly in `group`: from the group's
    consolidated .zmetadata when there is one (xarray's to_zarr writes it), else by
    listing."""
    prefix = group.strip("/") + "/" if group.strip("/") else ""
    meta = _json(store, prefix + ".zmetadata")
    out = {}
    if meta is not None:
        entries = meta.get("metadata", {})
        for key, value in entries.items():
            if key.endswith("/.zarray"):
                path = key[:-len("/.zarray")]
                rel = path[len(prefix):] if path.startswith(prefix) else None
                if rel and "/" not in rel:
                    out[path] = (value, entries.get(path + "/.zattrs", {}))
        return out
    try:
        entries = _store.list(store, prefix.rstrip("/"))
    except KeyError:
        raise ValueError(f"open_zarr: no Zarr group at {store}{'/' + group if group else ''}") from None
    for e in entries:
        if e.is_dir:
            path = prefix + e.name
            zarray = _json(store, path + "/.zarray")
            if zarray is not None:
                out[path] = (zarray, _json(store, path + "/.zattrs") or {})
    return out


def _decoded(arr, zarray, attrs, mask_and_scale):
    """`arr` decoded as xarray's decode_cf does: _FillValue (the array's fill_value when
    not given) and missing_value to NaN, scale_factor and add_offset applied."""
    from . import array as da
    if not mask_and_scale:
        return arr
    fills = []
    for key in ("_FillValue", "missing_value"):
        v = attrs.get(key, zarray.get("fill_value") if key == "_FillValue" else None)
        if v is not None and not (isinstance(v, float) and np.isnan(v)) and v != "NaN":
            fills.extend(np.ravel(v).tolist())
    scale, offset = attrs.get("scale_factor"), attrs.get("add_offset")
    kind = np.dtype(arr.dtype).kind
    if fills and kind in "iu" and scale is None and offset is None and zarray.get("fill_value") is not None \
            and "_FillValue" not in attrs and "missing_value" not in attrs:
        fills = []  # zarr's own fill_value of an integer array: xarray keeps integers then
    if fills or scale is not None or offset is not None:
        if kind not in "f":
            arr = arr.astype("float32" if np.dtype(arr.dtype).itemsize <= 2 and kind in "iu" else "float64")
        for v in fills:
            arr = da.where(arr == v, np.nan, arr)
        if scale is not None:
            arr = arr * scale
        if offset is not None:
            arr = arr + offset
    return arr


def open_zarr(store, group=None, mask_and_scale=True, decode_times=True):
    """The Zarr group at `store` (a directory or a URL; `group` inside it) as an
    xarray.Dataset, as xarray.open_zarr gives it: a variable per array, with the
    dimension names xarray writes (_ARRAY_DIMENSIONS) and the attributes; data variables
    lazily over rsdat arrays (chunks as stored), decoded with mask_and_scale as CF says;
    dimension coordinates read now as NumPy and decoded (times with decode_times).
    Raises ValueError naming an array without _ARRAY_DIMENSIONS."""
    xr = _xr()
    from .array import from_zarr
    store = os.fspath(store)
    group = (group or "").strip("/")
    members = _members(store, group)
    if not members and not _store.exists(store, (group + "/" if group else "") + ".zgroup"):
        raise ValueError(f"open_zarr: no Zarr group at {store}{'/' + group if group else ''}")
    dims_of = {}
    for path, (zarray, attrs) in members.items():
        dims = attrs.get("_ARRAY_DIMENSIONS")
        if dims is None or len(dims) != len(zarray.get("shape", [])):
            raise ValueError(f"open_zarr: {store}/{path} has no _ARRAY_DIMENSIONS for its {len(zarray.get('shape', []))} "
                             "axes (not written by xarray; read it with rsdat.array.from_zarr)")
        dims_of[path] = dims
    data_vars, coords = {}, {}
    for path, (zarray, attrs) in sorted(members.items()):
        name = path.rsplit("/", 1)[-1]
        dims = dims_of[path]
        keep = {k: v for k, v in attrs.items() if k != "_ARRAY_DIMENSIONS"}
        arr = from_zarr(store, path)
        if list(dims) == [name]:  # a dimension coordinate: small, read now, decoded by xarray
            raw = xr.Dataset({name: xr.Variable(dims, np.asarray(arr.compute()), keep)})
            coords[name] = xr.decode_cf(raw, mask_and_scale=mask_and_scale, decode_times=decode_times)[name].variable
            continue
        enc = {k: keep.pop(k) for k in ("_FillValue", "missing_value", "scale_factor", "add_offset", "coordinates")
               if k in keep}
        arr = _decoded(arr, zarray, enc, mask_and_scale)
        if keep.get("dtype") == "bool":  # how xarray stores booleans: int8 with this attribute
            keep.pop("dtype")
            arr = arr.astype(bool)
        var = xr.Variable(dims, arr, keep)
        var.encoding = {"chunks": tuple(zarray.get("chunks", ())), **enc}
        data_vars[name] = var
    attrs = _json(store, (group + "/" if group else "") + ".zattrs") or {}
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    named = set()
    for v in data_vars.values():
        named.update(str(v.encoding.get("coordinates", "")).split())
    return ds.set_coords([n for n in named if n in ds.data_vars])


def _compute(obj):
    """`obj` (Dataset or DataArray) with every rsdat-backed variable computed, in one graph."""
    from . import compute
    from .array import Array
    xr = _xr()
    ds = obj._to_temp_dataset() if isinstance(obj, xr.DataArray) else obj
    names = [n for n, v in ds.variables.items() if isinstance(v._data, Array)]
    values = compute(*[ds.variables[n]._data for n in names]) if names else ()
    out = ds.copy(deep=False)
    for n, value in zip(names, values):
        old = ds.variables[n]
        new = xr.Variable(old.dims, np.asarray(value), old.attrs, old.encoding)
        if n in out.coords:
            out = out.assign_coords({n: new})
        else:
            out[n] = new
    return obj._from_temp_dataset(out) if isinstance(obj, xr.DataArray) else out


class _Accessor:
    def __init__(self, obj):
        self._obj = obj

    def compute(self):
        """This object with its rsdat-backed variables computed into NumPy, in one graph
        (what dask-backed xarray's .compute() does)."""
        return _compute(self._obj)

    def persist(self):
        """This object with its rsdat-backed variables computed and kept on the workers."""
        from . import persist
        from .array import Array
        xr = _xr()
        obj = self._obj
        ds = obj._to_temp_dataset() if isinstance(obj, xr.DataArray) else obj
        out = ds.copy(deep=False)
        for n, v in ds.variables.items():
            if isinstance(v._data, Array):
                new = xr.Variable(v.dims, persist(v._data), v.attrs, v.encoding)
                out = out.assign_coords({n: new}) if n in out.coords else out.assign({n: new})
        return obj._from_temp_dataset(out) if isinstance(obj, xr.DataArray) else out

    def rolling(self, dim=None, center=False, min_periods=None, **windows):
        """xarray's .rolling(dim=window, center, min_periods) computed by rsdat's rolling
        windows (only window - 1 elements travel to each block), not by xarray's
        sliding_window_view: .sum() .mean() .min() .max() .std() .var() .count()
        .median() give the same object with the same coordinates."""
        windows = dict(dim or {}, **windows)
        if len(windows) != 1:
            raise ValueError(f"rsdat rolling: give one dimension and its window, not {windows}")
        (name, window), = windows.items()
        return _Rolling(self._obj, name, int(window), center, min_periods)

    def groupby(self, group):
        """xarray's .groupby(group) (a coordinate's name, "time.month", or a 1-d
        DataArray along one dimension) computed by rsdat's grouped reductions (flox's
        plans): .sum() .mean() .min() .max() .std() .var() .median() .count() .prod()
        .first() .last() skip NaN as xarray's do; the dimension becomes the group's,
        with the sorted groups as its coordinate."""
        return _GroupBy(self._obj, group)

    @property
    def data(self):
        """The rsdat array under a DataArray (None when it holds NumPy)."""
        from .array import Array
        d = self._obj.variable._data
        return d if isinstance(d, Array) else None


def _per_variable(obj, dim, f):
    """f(DataArray) for a DataArray, or for each data variable of a Dataset that has
    `dim` (the others kept)."""
    xr = _xr()
    if isinstance(obj, xr.DataArray):
        return f(obj)
    return obj.map(lambda v: f(v) if dim in v.dims else v, keep_attrs=True)


def _rsdat_data(v):
    from .array import Array, from_array
    d = v.variable._data
    return d if isinstance(d, Array) else from_array(np.asarray(d))


class _Rolling:
    def __init__(self, obj, dim, window, center, min_periods):
        if dim not in obj.dims:
            raise ValueError(f"rsdat rolling: no dimension {dim!r} (dimensions: {tuple(obj.dims)})")
        self._obj, self._dim, self._args = obj, dim, (window, center, min_periods)

    def _reduce(self, stat):
        from .array import rolling
        window, center, min_periods = self._args

        def one(v):
            r = rolling(_rsdat_data(v), v.get_axis_num(self._dim), window, center, min_periods)
            return v.copy(deep=False, data=getattr(r, stat)())
        return _per_variable(self._obj, self._dim, one)

    def sum(self): return self._reduce("sum")
    def mean(self): return self._reduce("mean")
    def min(self): return self._reduce("min")
    def max(self): return self._reduce("max")
    def std(self): return self._reduce("std")
    def var(self): return self._reduce("var")
    def count(self): return self._reduce("count")
    def median(self): return self._reduce("median")


class _GroupBy:
    # xarray's groupby reductions skip NaN on floats: flox's nan forms.
    _SKIPNA = {"sum": "nansum", "mean": "nanmean", "min": "nanmin", "max": "nanmax", "std": "nanstd",
               "var": "nanvar", "median": "nanmedian", "prod": "nanprod", "first": "nanfirst", "last": "nanlast",
               "count": "count"}

    def __init__(self, obj, group):
        xr = _xr()
        labels = obj[group] if isinstance(group, str) else group
        if not isinstance(labels, xr.DataArray) or labels.ndim != 1:
            raise ValueError("rsdat groupby: give a coordinate name, \"time.month\" or a 1-d DataArray")
        self._obj, self._labels, self._dim = obj, labels, labels.dims[0]
        self._name = labels.name or "group"

    def _reduce(self, func, ddof=0):
        from .array import groupby_reduce
        xr = _xr()
        dim, name = self._dim, self._name
        values = np.asarray(self._labels.values)
        out_groups = []

        def one(v):
            if dim not in v.dims:
                return v
            op = self._SKIPNA[func] if np.dtype(v.dtype).kind == "f" else func
            result, groups = groupby_reduce(_rsdat_data(v), values, op, axis=v.get_axis_num(dim), ddof=ddof)
            out_groups.append(groups)
            dims = tuple(name if d == dim else d for d in v.dims)
            coords = {k: c for k, c in v.coords.items() if dim not in c.dims}
            return xr.DataArray(result, dims=dims, coords=coords, attrs=v.attrs, name=v.name)
        out = _per_variable(self._obj, dim, one)
        if out_groups:
            out = out.assign_coords({name: out_groups[0]})
            if isinstance(out, xr.Dataset):  # as xarray's: every variable gets the group dimension
                out = out.map(lambda v: v if name in v.dims else v.expand_dims({name: out[name].size}), keep_attrs=True)
        return out

    def sum(self): return self._reduce("sum")
    def mean(self): return self._reduce("mean")
    def min(self): return self._reduce("min")
    def max(self): return self._reduce("max")
    def std(self, ddof=0): return self._reduce("std", ddof)
    def var(self, ddof=0): return self._reduce("var", ddof)
    def median(self): return self._reduce("median")
    def count(self): return self._reduce("count")
    def prod(self): return self._reduce("prod")
    def first(self): return self._reduce("first")
    def last(self): return self._reduce("last")


_registered = False


def _register():
    """The .rsdat accessor on xarray's Dataset and DataArray, registered once."""
    global _registered
    if _registered:
        return
    import xarray
    _registered = True
    xarray.register_dataset_accessor("rsdat")(_Accessor)
    xarray.register_dataarray_accessor("rsdat")(_Accessor)


class _WhenImported:
    """Registers the accessor right after `import xarray`, so that `import rsdat`
    does not import xarray (half a second) for programs that never use it."""

    def find_spec(self, name, path=None, target=None):
        if name != "xarray" or _registered:
            return None
        import importlib.machinery
        import sys
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                run = spec.loader.exec_module

                def exec_module(module, run=run):
                    run(module)
                    _register()
                spec.loader.exec_module = exec_module
                return spec
            if spec is not None:
                return spec
        return None


def _install():
    import sys
    if "xarray" in sys.modules:
        _register()
    else:
        sys.meta_path.insert(0, _WhenImported())
