"""Performance reports: one self-contained HTML page of what the computations inside a
``with`` block cost, as dask.distributed's ``performance_report``::

    with rsdat.performance_report(filename="rsdat-report.html"):
        y.sum().compute()

The page (no external assets: open it anywhere, send it to a colleague) holds a
summary (wall time, tasks, workers, threads, bytes moved between workers, bytes
spilled), the task stream per worker thread, time per operation (compute, fetches,
spilling, waiting for inputs), the critical path and the scheduler's overhead. It is
written when the block ends, also when it ends with an exception.
"""

from . import _rsdat
from .client import _clients


class performance_report:
    """A context manager that writes ``filename`` at its end for the computations of
    ``client`` (default: the default client) inside it. Raises ValueError when the
    file's directory does not exist or there is no client; the file is written at the
    block's end (RuntimeError when it cannot be). Close the report before its client."""

    def __init__(self, filename="rsdat-report.html", client=None):
        self.filename = str(filename)
        self._client = client
        self._report = None

    def __enter__(self):
        client = self._client if self._client is not None else (_clients[-1] if _clients else None)
        if client is None:
            raise ValueError("performance report: no rsdat.Client; create one before the report")
        self._report = _rsdat.PerformanceReport(self.filename, client._c)
        return self

    def __exit__(self, *exc):
        report, self._report = self._report, None
        if report is not None:
            report.close()
        return False
