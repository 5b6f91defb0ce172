"""Python kernels: functions a worker runs on blocks, by name.

A worker started with ``rsdat-worker --python-kernels FILE`` runs FILE in an interpreter of
its own; every function FILE decorates with ``@rsdat.kernel("name")`` becomes the op
``name``, which a client applies with ``rsdat.map_blocks("name", x, dtype=...)`` (or by
passing the decorated function itself). A client never sends code: the worker's command
line says which files it runs.

    # mymodel.py, given to every worker
    import numpy as np
    import rsdat

    @rsdat.kernel("emulate")
    def emulate(block, scale=1.0):
        return np.tanh(block) * scale

The kernel gets each input's block as a read-only NumPy array over the block's memory (no
copy) and map_blocks' keyword arguments (JSON values); it returns an array of the first
input's block shape, cast to map_blocks' dtype if it has another. It runs on the worker's
threads, holding the GIL while it runs. An exception fails the task with a
rsdat.TaskError naming the kernel and the exception.
"""

_registered = {}


def kernel(name):
    """Registers the decorated function as the kernel ``name`` (see the module's help)."""
    if not isinstance(name, str) or not name:
        raise TypeError("rsdat.kernel: the name is a non-empty string")

    def register(fn):
        if not callable(fn):
            raise TypeError(f"rsdat.kernel({name!r}) decorates a function")
        if _registered.get(name, fn) is not fn:
            raise ValueError(f"rsdat.kernel: {name!r} is defined twice")
        _registered[name] = fn
        fn.__rsdat_kernel__ = name
        return fn

    return register


def kernel_name(op):
    """The op name of ``op``: a string as it is, or the name a function was registered under."""
    if isinstance(op, str):
        return op
    name = getattr(op, "__rsdat_kernel__", None)
    if name is None:
        raise TypeError("map_blocks: rsdat runs kernels by name: pass the name of a kernel the workers load "
                        "(rsdat-worker --python-kernels FILE, or a --plugin), or a function decorated with "
                        "@rsdat.kernel(name); other Python functions cannot be sent to workers")
    return name
