"""Every public C++ operation is reachable from Python, or is listed in
rsdat.array.NOT_YET_BOUND with the reason."""

import os
import re

import rsdat
import rsdat.array as da

SOURCE = os.environ.get("RSDAT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

# C++ names reached under another Python name.
ELSEWHERE = {
    "view": lambda: rsdat.Array.__getitem__,
    "write_zarr": lambda: da.to_zarr,
    "compute": lambda: rsdat.compute,
    "uniform": lambda: da.random.uniform,
}
ELSEWHERE.update({f: (lambda f=f: getattr(rsdat.ndimage, f)) for f in rsdat.ndimage.__all__})
ELSEWHERE.update({f"stac.{f}": (lambda f=f: getattr(rsdat.stac, f))
                  for f in ("read_items", "search", "stack", "parse_datetime")})


def cpp_operations():
    names = set()
    decl = re.compile(r"^(?:inline\s+)?(?:Array|std::vector<Array>|Histogram|Unique|GroupbyResult|Rolling|Coarsen|"
                      r"SpringIndexLeaf|SpringIndex|uint64_t|std::vector<HostArray>)\s+(\w+)\(")
    macro = re.compile(r"^RSDAT_(?:DDOF_|ARG_)?REDUCTION_\((\w+)\)")
    inc = os.path.join(SOURCE, "client", "include", "rsdat")
    for f in sorted(os.listdir(inc)):
        with open(os.path.join(inc, f)) as h:
            for line in h:
                m = decl.match(line) or macro.match(line)
                if m:
                    names.add(m.group(1))
    # rsdat::stac's functions, by their qualified names (stac.stack is not rsdat.stack).
    stac = re.compile(r"^(?:std::vector<Item>|Stack|int64_t)\s+(\w+)\(")
    with open(os.path.join(inc, "stac.hpp")) as h:
        names.update("stac." + m.group(1) for m in map(stac.match, h) if m)
    defs = re.compile(r"^RSDAT_(?:UNARY|BINARY|MONOID)\((\w+),")
    for f in ("elementwise_ops.def", "reductions.def"):
        with open(os.path.join(SOURCE, "ops", "include", "rsdat", f)) as h:
            names.update(m.group(1) for m in map(defs.match, h) if m)
    return names


def test_headers_are_parsed():
    names = cpp_operations()
    # A few from every header, so that a parse that finds nothing fails.
    for n in ("add", "sum", "mean", "argmax", "cumsum", "median", "reshape", "concatenate", "matmul", "from_zarr",
              "uniform_filter", "histogram", "compute", "stac.stack", "stac.read_items", "stac.search"):
        assert n in names, n


def test_every_cpp_operation_is_bound_or_listed():
    missing = []
    for name in sorted(cpp_operations()):
        if name in ELSEWHERE:
            assert ELSEWHERE[name]() is not None
        elif not hasattr(da, name) and name not in da.NOT_YET_BOUND:
            missing.append(name)
    assert not missing, f"C++ operations neither bound nor in NOT_YET_BOUND: {missing}"


def test_not_yet_bound_is_not_stale():
    names = cpp_operations()
    for name in da.NOT_YET_BOUND:
        assert name in names, f"{name} is listed as not yet bound but is no C++ operation"
        assert not hasattr(da, name), f"{name} is bound: take it off NOT_YET_BOUND"
