"""Errors as Python exceptions, and cancellation: Ctrl-C while waiting and
Client.cancel() from another thread; the cluster and client stay usable."""

import os
import signal
import threading

import numpy as np
import pytest

import rsdat
import rsdat.array as da


def test_task_error_names_the_task_and_carries_the_worker_message():
    a = da.from_array(np.array([[np.nan, np.nan], [1.0, 2.0]]), chunks=1)
    with pytest.raises(rsdat.TaskError) as e:
        da.nanargmax(a, axis=1).compute()
    assert isinstance(e.value, RuntimeError)
    assert "All-NaN slice encountered" in e.value.worker_message
    assert e.value.task and e.value.worker
    assert e.value.task in str(e.value)
    assert float(da.ones(3, chunks=2).sum()) == 3.0  # the cluster goes on serving


def test_bad_arguments_raise_value_and_type_errors():
    with pytest.raises(ValueError, match="add"):
        da.ones((3, 4), chunks=2) + da.ones((5,), chunks=2)
    with pytest.raises(ValueError):
        da.ones((3, 4), chunks=2).transpose(0, 0)
    with pytest.raises(TypeError):
        da.zeros(3, dtype="complex64")
    with pytest.raises(ValueError, match="quantile"):
        da.quantile(da.ones(4, chunks=2), 2.0)
    with pytest.raises(IndexError):
        da.take(da.ones(4, chunks=2), [4])


def test_exception_classes():
    for cls in (rsdat.TaskError, rsdat.ClusterError, rsdat.CancelledError):
        assert issubclass(cls, RuntimeError)
    assert not issubclass(rsdat.CancelledError, rsdat.ClusterError)


def test_unreachable_scheduler_raises_cluster_error():
    with pytest.raises(rsdat.ClusterError):
        rsdat.Client(scheduler_file="/nonexistent/scheduler.json", timeout=0.2)


def long_computation():
    # About ten seconds of work for two workers: far longer than the test waits.
    return da.random.random((40000, 40000), chunks=(2000, 2000)).std()


def test_ctrl_c_cancels_and_the_client_stays_usable(client):
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            long_computation().compute()
    finally:
        timer.cancel()
    check = da.arange(10, chunks=3).sum().compute()
    assert check == 45
    assert len(client.workers()) == 2


def test_setitimer_interrupt_during_persist():
    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            da.random.random((40000, 40000), chunks=(2000, 2000)).persist()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    np.testing.assert_array_equal(da.ones(4, chunks=3).compute(), np.ones(4))


def test_client_cancel_from_another_thread(client):
    timer = threading.Timer(0.5, client.cancel)
    timer.start()
    try:
        with pytest.raises(rsdat.CancelledError):
            long_computation().compute()
    finally:
        timer.cancel()
    assert da.ones(5, chunks=2).sum().compute() == 5


def test_gil_is_released_while_computing():
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.01)

    t = threading.Thread(target=count)
    t.start()
    try:
        da.random.random((4000, 4000), chunks=1000).sum().compute()
    finally:
        stop.set()
        t.join()
    assert len(ticks) > 1  # the other thread ran while this one waited


def test_clients_and_default():
    assert rsdat.get_client() is not None
    cluster = rsdat.LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=2**30)
    try:
        with rsdat.Client(cluster) as c2:
            assert rsdat.get_client() is c2
            assert da.ones(3, chunks=2).sum().compute() == 3
            assert "Client" in repr(c2) and "LocalCluster" in repr(cluster)
        assert rsdat.get_client() is not c2
    finally:
        cluster.close()
        cluster.close()  # idempotent
    assert "closed" in repr(cluster)


def test_client_starts_its_own_cluster():
    with rsdat.Client(n_workers=1, threads_per_worker=1, memory_limit="1GB", dashboard_address=":0") as c:
        assert c.cluster is not None and len(c.cluster.worker_pids) == 1
        assert rsdat.get_client() is c
        assert da.arange(4, chunks=3).sum().compute() == 6
    assert "closed" in repr(c.cluster)
    with pytest.raises(ValueError):
        rsdat.LocalCluster(processes=False)
    with pytest.raises(TypeError):
        rsdat.Client(rsdat.get_client().scheduler_address, n_workers=3)
