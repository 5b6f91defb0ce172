"""Clusters and clients, as dask.distributed names them.

    with rsdat.LocalCluster(n_workers=2, threads_per_worker=1) as cluster, \\
         rsdat.Client(cluster) as client:
        x = rsdat.array.random.random((4000, 4000), chunks=1000)
        m, s = rsdat.compute(x.mean(), x.std())      # one graph: x is made once

The most recently created Client that is not closed is the default one (dask's
default client), used by ``.compute()``, ``.persist()`` and ``rsdat.compute()``
unless one is given. A computation waits without holding the GIL; Ctrl-C
(KeyboardInterrupt) while it waits cancels it on the cluster, which then holds
nothing of it, and the cluster and client stay usable.
"""

import os as _os

from . import _rsdat

__all__ = ["LocalCluster", "Client", "compute", "persist", "get_client", "default_client"]

_clients = []  # live Clients, oldest first; the last one is the default


class LocalCluster:
    """A scheduler and ``n_workers`` workers as child processes on this machine
    (dask.distributed.LocalCluster). ``memory_limit`` is per worker: bytes (an int)
    or a string such as ``"2GB"``, or ``"auto"`` (this machine's memory divided among
    the workers). ``worker_plugins`` are C++ kernel libraries and ``python_kernels`` Python
    files of @rsdat.kernel functions every worker loads (rsdat-worker --plugin and
    --python-kernels). The daemons stop on ``close()`` (idempotent), at the end of a
    ``with`` block, or when this process dies. Raises ``rsdat.ClusterError`` when
    they cannot be started."""

    def __init__(self, n_workers=2, threads_per_worker=1, memory_limit="auto", *, local_directory=None,
                 transport="ipc", log_level="warn", start_timeout=30, worker_plugins=(), python_kernels=(), processes=True,
                 dashboard_address=None, silence_logs=None):
        # processes, dashboard_address and silence_logs are dask's, accepted so that its
        # calls port: rsdat's workers are always processes, with no dashboard here.
        if not processes:
            raise ValueError("LocalCluster: rsdat's workers are processes (processes=False is not supported)")
        if isinstance(memory_limit, (int, float)) and not isinstance(memory_limit, bool):
            memory_limit = str(int(memory_limit))
        self._c = _rsdat.LocalCluster(int(n_workers), int(threads_per_worker), str(memory_limit), log_level,
                                      local_directory or "", transport, float(start_timeout),
                                      list(worker_plugins), [str(p) for p in python_kernels])
        self._n_workers = int(n_workers)
        self._threads = int(threads_per_worker)

    @property
    def scheduler_address(self):
        return self._c.scheduler_address

    @property
    def scheduler_file(self):
        return self._c.scheduler_file

    @property
    def worker_pids(self):
        return list(self._c.worker_pids)

    def add_worker(self):
        """Starts one more worker; returns its pid."""
        return self._c.add_worker()

    def close(self):
        self._c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self._c.closed:
            return "LocalCluster(closed)"
        return (f"LocalCluster({self.scheduler_address!r}, workers={len(self.worker_pids)}, "
                f"threads_per_worker={self._threads})")


class Client:
    """A connection to an rsdat cluster (dask.distributed.Client): ``Client(cluster)``
    for a LocalCluster, ``Client("tcp://host:port")``, or
    ``Client(scheduler_file=path)`` (waiting up to ``timeout`` seconds for the
    file). ``Client()`` with no argument connects to the cluster that the
    environment names, as dask's does with its ``scheduler-address`` setting: the
    scheduler file ``$RSDAT_SCHEDULER_FILE`` (set in the jobs that ``rsdat-slurm``
    submits, its Jupyter server's included), else the address
    ``$RSDAT_SCHEDULER_ADDRESS``; where neither is set, and always when given
    LocalCluster's arguments (``Client(n_workers=4)``), it starts a LocalCluster of
    its own, closed with the client. Becomes the default client. Raises
    ``rsdat.ClusterError`` when the scheduler cannot be reached or refuses.
    ``progress``: the client's bar of tasks done on stderr (default: on, except in a
    notebook, which shows its own; see rsdat.progress)."""

    def __init__(self, address=None, *, scheduler_file=None, timeout=60, progress=None, **cluster_kwargs):
        from .progress import in_notebook
        # The client's own bar on stderr, unless a notebook shows one of its own.
        bar = (not in_notebook()) if progress is None else bool(progress)
        self._own_cluster = None
        if address is None and scheduler_file is None and not cluster_kwargs:
            scheduler_file = _os.environ.get("RSDAT_SCHEDULER_FILE") or None
            if scheduler_file is None:
                address = _os.environ.get("RSDAT_SCHEDULER_ADDRESS") or None
        if address is None and scheduler_file is None:
            address = self._own_cluster = LocalCluster(**cluster_kwargs)
        elif cluster_kwargs:
            raise TypeError(f"Client: unexpected arguments {sorted(cluster_kwargs)} for an existing cluster")
        if scheduler_file is not None:
            self._c = _rsdat.Client.connect_scheduler_file(str(scheduler_file), float(timeout), bar)
        elif isinstance(address, LocalCluster):
            self._c = _rsdat.Client.connect_cluster(address._c, bar)
        elif isinstance(address, str):
            self._c = _rsdat.Client.connect_address(address, bar)
        else:
            raise TypeError("Client: give a LocalCluster, a scheduler address or scheduler_file=")
        _clients.append(self)

    @property
    def scheduler_address(self):
        return self._c.scheduler_address

    @property
    def cluster(self):
        """The LocalCluster this client started (Client()), else None."""
        return self._own_cluster

    def compute(self, *args, **kwargs):
        """Like rsdat.compute(*args) through this client (the results, not futures)."""
        return compute(*args, client=self, **kwargs)

    def persist(self, *args):
        return persist(*args, client=self)

    def cancel(self):
        """Cancels the computation this client runs now (from another thread)."""
        self._c.cancel()

    def workers(self):
        """The cluster's workers as the scheduler sees them (a list of dicts)."""
        return self._c.workers()

    def last_stats(self):
        """What the last computation through this client cost (tasks, bytes, seconds)."""
        return self._c.last_stats()

    def close(self):
        """Disconnects (idempotent); the previous live client becomes the default."""
        if self in _clients:
            _clients.remove(self)
        self._c.close()
        if self._own_cluster is not None:
            self._own_cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self._c.closed:
            return "<rsdat.Client: closed>"
        return f"<rsdat.Client: scheduler={self.scheduler_address!r}>"


def get_client():
    """The default client: the most recently created one not closed. Raises
    ValueError when there is none."""
    if not _clients:
        raise ValueError("No clients found: create one with rsdat.Client(cluster)")
    return _clients[-1]


default_client = get_client


def _handle(client):
    """The extension's client for `client` (default: the default one, or None when
    there is none: the extension then raises ClusterError)."""
    if client is not None:
        return client._c
    return _clients[-1]._c if _clients else None


def _collect(obj, arrays):
    from .array import Array
    if isinstance(obj, Array):
        arrays.append(obj)
        return lambda results: results[id(obj)]
    if isinstance(obj, (list, tuple)):
        parts = [_collect(o, arrays) for o in obj]
        kind = type(obj)
        return lambda results: kind(p(results) for p in parts)
    if isinstance(obj, dict):
        parts = {k: _collect(v, arrays) for k, v in obj.items()}
        return lambda results: {k: p(results) for k, p in parts.items()}
    return lambda results: obj


def compute(*args, client=None, traverse=True, **kwargs):
    """Computes every rsdat Array in ``args`` (also inside lists, tuples and dicts)
    in one graph, so what they share is computed once (dask.compute), and returns a
    tuple of ``args`` with each Array replaced by its numpy.ndarray (a numpy scalar
    for 0-d arrays, as dask gives). Raises TaskError (naming the failed task and
    carrying the worker's message), ClusterError, or KeyboardInterrupt after
    cancelling the computation."""
    from .array import _to_result
    arrays = []
    builders = [(_collect(a, arrays) if traverse or not isinstance(a, (list, tuple, dict)) else (lambda r, a=a: a))
                for a in args]
    unique = list({id(a): a for a in arrays}.values())
    values = _rsdat.compute([a._a for a in unique], _handle(client)) if unique else []
    results = {id(a): _to_result(v) for a, v in zip(unique, values)}
    return tuple(b(results) for b in builders)


def persist(*args, client=None):
    """Computes each Array in ``args`` and keeps its chunks on the workers; returns
    Arrays that refer to them (one for one argument, else a tuple), released when
    the last reference goes."""
    from .array import Array
    h = _handle(client)
    out = tuple(Array(a._a.persist(h)) if isinstance(a, Array) else a for a in args)
    return out[0] if len(out) == 1 else out
