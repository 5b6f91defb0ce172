"""Progress of computations: tasks of the graph done out of all, as the scheduler
counts them.

On a terminal the client draws its own bar on stderr. In a Jupyter notebook each
compute() that takes more than half a second shows a bar under its cell, updated while
the computation runs: an ipywidgets progress bar where ipywidgets 7 or later is
installed, else a line of text updated in place (which every frontend and
`jupyter nbconvert --execute` show; Debian 12's python3-ipywidgets 6 speaks a widget
protocol that its own nbclient and JupyterLab refuse). ``rsdat.progress(callback)`` replaces that with a function
of your own, called on the thread that called compute() with a ProgressInfo a few
times a second and once more at the end (``finished``, with fewer tasks done than in
all when the computation failed or was cancelled); ``rsdat.progress(None)`` shows
nothing.
"""

import sys
import time
from collections import namedtuple

from . import _rsdat

ProgressInfo = namedtuple("ProgressInfo", "tasks_done tasks_total seconds finished")
ProgressInfo.__doc__ = ("How far a computation is: its graph's tasks done and in all (0 until the "
                        "scheduler's first count), seconds since it was submitted, and whether it ended.")

_SHOW_AFTER = 0.5  # seconds: quicker computations show no bar


def in_notebook():
    """True inside a Jupyter kernel (IPython's kernel app)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _text(info):
    eta = ""
    if info.finished:
        eta = f"in {info.seconds:.1f} s"
    elif info.tasks_done and info.tasks_total:
        left = info.seconds * (info.tasks_total - info.tasks_done) / info.tasks_done
        eta = f"{info.seconds:.1f} s, about {left:.0f} s left"
    return f"{info.tasks_done} / {info.tasks_total} tasks {eta}".rstrip()


class NotebookBar:
    """The bar a notebook shows under the cell that computes: one per computation."""

    def __init__(self):
        self._shown = None  # (widget or display handle, label) once shown
        self._last = 0.0

    def __call__(self, done, total, seconds, finished):
        info = ProgressInfo(done, total, seconds, finished)
        if self._shown is None:
            if total == 0 or seconds < _SHOW_AFTER:
                if finished:
                    self._reset()
                return
            self._show(info)
        now = time.monotonic()
        if finished or now - self._last >= 0.2:  # at most five redraws a second
            self._last = now
            self._update(info)
        if finished:
            self._reset()

    def _reset(self):
        self._shown, self._last = None, 0.0

    def _show(self, info):
        from IPython.display import display
        ipywidgets = _widgets()
        if ipywidgets is None:
            self._shown = (display(_TextBar(info), display_id=True), None)
            return
        bar = ipywidgets.IntProgress(min=0, max=max(info.tasks_total, 1), description="rsdat",
                                     bar_style="info")
        label = ipywidgets.Label()
        display(ipywidgets.HBox([bar, label]))
        self._shown = (bar, label)

    def _update(self, info):
        bar, label = self._shown
        if label is None:  # text
            bar.update(_TextBar(info))
            return
        bar.max = max(info.tasks_total, 1)
        bar.value = info.tasks_done
        label.value = _text(info)
        if info.finished:
            bar.bar_style = "success" if info.tasks_done >= info.tasks_total else "danger"


def _widgets():
    """ipywidgets, if a version the frontends and nbclient understand (7 on) is there.
    Its version is read before the import: importing version 6 already opens a comm
    that nbclient refuses."""
    from importlib import metadata
    try:
        major = int(metadata.version("ipywidgets").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if major < 7:
        return None
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


class _TextBar:
    """A line of text in the notebook: '[#####     ] 512 / 1024 tasks 1.2 s, about 1 s left'."""

    def __init__(self, info):
        width = 30
        filled = width * info.tasks_done // max(info.tasks_total, 1)
        self.text = f"rsdat [{'#' * filled}{' ' * (width - filled)}] {_text(info)}"

    def __repr__(self):
        return self.text

    def _repr_pretty_(self, p, cycle):
        p.text(self.text)


def progress(callback):
    """Shows computations' progress with ``callback(info)`` (a ProgressInfo) instead of
    the default display; None shows nothing (the terminal bar on stderr is the Client's
    own: rsdat.Client(progress=False) turns it off)."""
    if callback is None:
        _rsdat.set_progress(None)
    elif not callable(callback):
        raise TypeError("rsdat.progress: give a function of one ProgressInfo, or None")
    else:
        _rsdat.set_progress(lambda done, total, seconds, finished: callback(ProgressInfo(done, total, seconds,
                                                                                          finished)))


def _install_default():
    """In a notebook, the notebook's bar."""
    if in_notebook():
        _rsdat.set_progress(NotebookBar())
