"""rsdat: chunked n-dimensional arrays computed on a cluster, as dask.array and
dask.distributed do it, by a C++ runtime.

    import rsdat
    import rsdat.array as da

    with rsdat.LocalCluster(n_workers=2, threads_per_worker=1) as cluster, rsdat.Client(cluster):
        x = da.random.random((10000, 10000), chunks=(1000, 1000))
        y = (x + x.T)[::2, 5000:] - x.mean(axis=0)[5000:]
        print(y.sum(axis=1).compute())

Errors: a failed task raises rsdat.TaskError (a RuntimeError with .task, .worker and
.worker_message), an unreachable or refusing cluster rsdat.ClusterError, a
cancelled computation rsdat.CancelledError; bad arguments raise ValueError or
TypeError with the library's message when the array is built.
"""

import os as _os
import sys as _sys

from .kernels import kernel

if "_rsdat_worker" in _sys.builtin_module_names:
    # Inside rsdat-worker --python-kernels: only rsdat.kernel is wanted, not the client.
    __all__ = ["kernel"]
else:
    from . import _paths

    if "RSDAT_BIN_DIR" not in _os.environ and _os.path.isdir(_paths.BIN_DIR):
        # Where LocalCluster finds rsdat-scheduler and rsdat-worker.
        _os.environ["RSDAT_BIN_DIR"] = _paths.BIN_DIR

    from ._rsdat import CancelledError, ClusterError, TaskError  # noqa: E402
    from .client import Client, LocalCluster, compute, default_client, get_client, persist  # noqa: E402
    from . import array, ndimage  # noqa: E402
    from .array import Array, map_blocks  # noqa: E402
    from .progress import ProgressInfo, progress  # noqa: E402
    from .report import performance_report  # noqa: E402
    from .progress import _install_default as _install_progress  # noqa: E402

    _install_progress()
    from . import stac, store  # noqa: E402
    from .xarray import from_xarray, open_zarr, to_xarray  # noqa: E402
    from .xarray import _install as _install_xarray  # noqa: E402

    _install_xarray()

    __all__ = ["Array", "CancelledError", "Client", "ClusterError", "LocalCluster", "TaskError", "array", "compute",
               "ndimage", "default_client", "get_client", "kernel", "map_blocks", "persist", "progress", "ProgressInfo",
               "performance_report",
               "stac", "store", "open_zarr", "to_xarray", "from_xarray"]
__version__ = "0.1.0"
