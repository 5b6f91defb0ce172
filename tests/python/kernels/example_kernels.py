"""Python kernels the workers of tests/python/test_kernels.py load with
rsdat-worker --python-kernels (this file is run by the workers, not by pytest)."""

import threading
import time

import numpy as np

import rsdat


@rsdat.kernel("py_scaled_log1p")
def scaled_log1p(block, scale=1.0, offset=0.0):
    return np.log1p(block) * scale + offset


@rsdat.kernel("py_where_above")
def where_above(values, mask_source, threshold=0.5):
    return np.where(mask_source > threshold, values, np.nan)


@rsdat.kernel("py_identity")
def identity(block):
    return block  # the input's own memory, returned without a copy


@rsdat.kernel("py_row_sums_wrong_shape")
def row_sums(block):
    return block.sum(axis=-1)


@rsdat.kernel("py_writes_its_input")
def writes_its_input(block):
    block[...] = 0
    return block


@rsdat.kernel("py_raises")
def raises(block, message="no"):
    raise ValueError(message)


@rsdat.kernel("py_thread_id")
def thread_id(block, sleep=0.0):
    # Which worker thread ran the block (its system-wide thread id), after a pause that
    # releases the GIL, as NumPy's own loops do.
    time.sleep(float(sleep))
    return np.full(block.shape, threading.get_native_id(), dtype=np.int64)


@rsdat.kernel("py_box_mean")
def box_mean(block, radius=1):
    # The mean over a (2r+1)-square window of the extended block (map_overlap's halo).
    out = np.zeros_like(block, dtype=np.float64)
    r = int(radius)
    padded = np.pad(block.astype(np.float64), r, mode="constant", constant_values=np.nan)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out += padded[r + dy:r + dy + block.shape[0], r + dx:r + dx + block.shape[1]]
    return out / (2 * r + 1) ** 2
