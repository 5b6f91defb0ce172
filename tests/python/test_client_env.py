"""Client() with no argument: the cluster the environment names (the scheduler file
rsdat-slurm's jobs set, or an address), else a LocalCluster of its own."""

import numpy as np
import pytest

import rsdat
import rsdat.array as da


@pytest.fixture(scope="module")
def other_cluster():
    with rsdat.LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="1GB") as cluster:
        yield cluster


def test_client_finds_the_scheduler_file_in_the_environment(other_cluster, monkeypatch):
    monkeypatch.setenv("RSDAT_SCHEDULER_FILE", other_cluster.scheduler_file)
    monkeypatch.delenv("RSDAT_SCHEDULER_ADDRESS", raising=False)
    with rsdat.Client() as c:
        assert c.cluster is None
        assert c.scheduler_address == other_cluster.scheduler_address
        assert rsdat.get_client() is c
        assert len(c.workers()) == 1
        x = np.arange(30.0).reshape(5, 6)
        np.testing.assert_array_equal((da.from_array(x, chunks=2) * 2).sum(axis=0).compute(), (x * 2).sum(axis=0))


def test_client_finds_the_address_in_the_environment(other_cluster, monkeypatch):
    monkeypatch.delenv("RSDAT_SCHEDULER_FILE", raising=False)
    monkeypatch.setenv("RSDAT_SCHEDULER_ADDRESS", other_cluster.scheduler_address)
    with rsdat.Client() as c:
        assert c.cluster is None
        assert c.scheduler_address == other_cluster.scheduler_address


def test_the_scheduler_file_wins_over_the_address(other_cluster, monkeypatch):
    monkeypatch.setenv("RSDAT_SCHEDULER_FILE", other_cluster.scheduler_file)
    monkeypatch.setenv("RSDAT_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
    with rsdat.Client() as c:
        assert c.scheduler_address == other_cluster.scheduler_address


def test_a_missing_scheduler_file_is_a_cluster_error_naming_it(tmp_path, monkeypatch):
    missing = tmp_path / "no-scheduler.json"
    monkeypatch.setenv("RSDAT_SCHEDULER_FILE", str(missing))
    with pytest.raises(rsdat.ClusterError, match="no-scheduler.json"):
        rsdat.Client(timeout=0.5)


def test_cluster_arguments_start_a_local_cluster_whatever_the_environment(monkeypatch):
    monkeypatch.setenv("RSDAT_SCHEDULER_FILE", "/nonexistent/scheduler.json")
    with rsdat.Client(n_workers=1, threads_per_worker=1, memory_limit="1GB") as c:
        assert isinstance(c.cluster, rsdat.LocalCluster)
        assert c.scheduler_address == c.cluster.scheduler_address
        assert len(c.workers()) == 1


def test_no_environment_starts_a_local_cluster(monkeypatch):
    monkeypatch.delenv("RSDAT_SCHEDULER_FILE", raising=False)
    monkeypatch.setenv("RSDAT_SCHEDULER_ADDRESS", "")
    with rsdat.Client() as c:
        assert isinstance(c.cluster, rsdat.LocalCluster)
        assert len(c.workers()) == 2
