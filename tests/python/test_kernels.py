"""Python kernels in workers: rsdat-worker --python-kernels FILE, @rsdat.kernel and
rsdat.map_blocks / map_overlap, against NumPy on a real LocalCluster."""

import os
import subprocess

import numpy as np
import pytest

import rsdat
import rsdat.array as da

KERNELS = os.path.join(os.path.dirname(__file__), "kernels", "example_kernels.py")


@pytest.fixture(scope="module")
def kc():
    """A cluster whose workers (two threads each) load the example kernels."""
    with rsdat.LocalCluster(n_workers=2, threads_per_worker=2, memory_limit="1GB",
                            python_kernels=[KERNELS]) as cluster:
        with rsdat.Client(cluster) as c:
            yield c


def values(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=shape)


def test_numpy_kernel_with_keyword_arguments(kc):
    x = values((300, 200))
    got = rsdat.map_blocks("py_scaled_log1p", da.from_array(x, chunks=(70, 90)), scale=2.0, offset=-1.0)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got.compute(client=kc), np.log1p(x) * 2.0 - 1.0, rtol=1e-15)


def test_two_inputs_rechunked_to_the_first(kc):
    v, m = values((120, 80), 1), values((120, 80), 2)
    got = rsdat.map_blocks("py_where_above", da.from_array(v, chunks=(50, 30)), da.from_array(m, chunks=(17, 80)),
                           threshold=0.3)
    np.testing.assert_array_equal(got.compute(client=kc), np.where(m > 0.3, v, np.nan))


def test_the_decorated_function_names_its_kernel(kc):
    # A client may import the kernel file too and pass the function itself.
    import importlib.util
    spec = importlib.util.spec_from_file_location("example_kernels", KERNELS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = values((40, 40), 3)
    got = da.map_blocks(mod.scaled_log1p, da.from_array(x, chunks=20), dtype="float32")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.compute(client=kc), np.log1p(x).astype(np.float32))
    with pytest.raises(TypeError, match="by name"):
        da.map_blocks(lambda b: b, da.from_array(x, chunks=20))


def test_identity_and_dtype_cast_without_loss(kc):
    x = (values((64, 48), 4) * 1000).astype(np.int32)
    a = da.from_array(x, chunks=(16, 48))
    np.testing.assert_array_equal(rsdat.map_blocks("py_identity", a).compute(client=kc), x)
    got = rsdat.map_blocks("py_identity", a, dtype="float64")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.compute(client=kc), x.astype(np.float64))
    # Chained with built-in operations on both sides.
    chained = (rsdat.map_blocks("py_identity", a * 2) + 1).sum(axis=0)
    np.testing.assert_array_equal(chained.compute(client=kc), (x * 2 + 1).sum(axis=0))


def test_threads_run_kernels_at_once(kc):
    # 16 blocks that each wait 0.2 s without the GIL, on 2 workers of 2 threads: three or
    # more thread ids mean some worker ran kernels on both its threads. (The blocks are of
    # 128 KiB: workers run much smaller tasks in batches on one thread.)
    x = values((512, 512))
    ids = rsdat.map_blocks("py_thread_id", da.from_array(x, chunks=128), dtype="int64", sleep=0.2).compute(client=kc)
    assert len(np.unique(ids)) >= 3


def test_map_overlap_gives_the_kernel_its_halo(kc):
    x = values((90, 70), 5)
    got = da.map_overlap("py_box_mean", da.from_array(x, chunks=(25, 30)), depth=1, boundary=np.nan, radius=1)
    padded = np.pad(x, 1, constant_values=np.nan)
    want = sum(padded[1 + dy:91 + dy, 1 + dx:71 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    np.testing.assert_allclose(got.compute(client=kc), want, rtol=1e-14, equal_nan=True)
    per_axis = da.map_overlap("py_box_mean", da.from_array(x, chunks=(25, 30)), depth={0: 1, 1: 1},
                              boundary={0: "reflect", 1: "reflect"})
    reflected = np.pad(x, 1, mode="symmetric")
    want = sum(reflected[1 + dy:91 + dy, 1 + dx:71 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    np.testing.assert_allclose(per_axis.compute(client=kc), want, rtol=1e-14)


@pytest.mark.parametrize("op,match", [
    ("py_raises", "Python kernel py_raises: ValueError: bad block"),
    ("py_row_sums_wrong_shape", r"returned an array of shape \(10,\) for a block of shape \(10, 10\)"),
    ("py_writes_its_input", "read-only"),
    ("no_such_kernel", "no_such_kernel"),
])
def test_kernel_errors_fail_the_task_clearly(kc, op, match):
    a = da.from_array(values((20, 20)), chunks=10)
    with pytest.raises(rsdat.TaskError, match=match):
        rsdat.map_blocks(op, a, message="bad block").compute(client=kc) if op == "py_raises" else \
            rsdat.map_blocks(op, a).compute(client=kc)
    # The cluster goes on.
    np.testing.assert_array_equal(rsdat.map_blocks("py_identity", a).compute(client=kc), a.compute(client=kc))


def test_arguments_that_cannot_reach_a_kernel_are_refused_on_the_client(kc):
    a = da.from_array(values((4, 4)), chunks=2)
    with pytest.raises(TypeError, match="JSON"):
        rsdat.map_blocks("py_scaled_log1p", a, scale=object())
    with pytest.raises(NotImplementedError, match="drop_axis"):
        rsdat.map_blocks("py_scaled_log1p", a, drop_axis=1)
    with pytest.raises(TypeError):
        rsdat.kernel("")
    with pytest.raises(ValueError, match="defined twice"):
        rsdat.kernel("twice")(lambda b: b)
        rsdat.kernel("twice")(lambda b: b + 1)


def worker(*args):
    exe = os.path.join(os.environ["RSDAT_BIN_DIR"], "rsdat-worker")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def test_worker_refuses_a_bad_kernel_file_before_it_connects(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import rsdat\n@rsdat.kernel('k')\ndef k(b):\n    return b\nraise RuntimeError('model file missing')\n")
    r = worker("--scheduler", "tcp://127.0.0.1:9", "--python-kernels", str(broken))
    assert r.returncode == 2, r
    assert "model file missing" in r.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    r = worker("--scheduler", "tcp://127.0.0.1:9", "--python-kernels", str(empty))
    assert r.returncode == 2 and "defines no kernel" in r.stderr, r
    taken = tmp_path / "taken.py"
    taken.write_text("import rsdat\n@rsdat.kernel('fill')\ndef fill(b):\n    return b\n")
    r = worker("--scheduler", "tcp://127.0.0.1:9", "--python-kernels", str(taken))
    assert r.returncode == 2 and "taken by another op" in r.stderr, r
    assert "--python-kernels" in worker("--help").stdout
