"""The Python kernel bench/python_bench.py --kernels times beside the C++ plugin's
test_add_one (tests/plugins/test_ops.cpp): the same work, b + 1 in float64."""

import rsdat


@rsdat.kernel("py_add_one")
def add_one(block):
    return block + 1.0
