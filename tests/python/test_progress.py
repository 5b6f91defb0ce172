"""Progress of computations from Python: rsdat.progress(callback), and the bar a
Jupyter notebook shows under the cell that computes (executed by a real kernel
through nbclient)."""

import importlib
import os
import re
import sys

import numpy as np
import pytest

import rsdat
import rsdat.array as da
progress_module = importlib.import_module("rsdat.progress")  # rsdat.progress is the function

KERNELS = os.path.join(os.path.dirname(__file__), "kernels", "example_kernels.py")


@pytest.fixture
def seen():
    got = []
    rsdat.progress(got.append)
    yield got
    rsdat.progress(None)


def test_callback_counts_the_graphs_tasks_to_the_end(seen, client):
    assert float(da.ones(200000, chunks=20).sum().compute()) == 200000.0
    assert seen, "no progress reported"
    assert all(isinstance(i, rsdat.ProgressInfo) for i in seen)
    done = [i.tasks_done for i in seen]
    assert done == sorted(done)
    assert [i.finished for i in seen] == [False] * (len(seen) - 1) + [True]
    last = seen[-1]
    assert last.tasks_done == last.tasks_total == client.last_stats()["tasks"] > 10000
    assert last.seconds > 0


def test_each_computation_reports_its_own_end(seen):
    da.ones(100, chunks=10).sum().compute()
    da.zeros(100, chunks=10).sum().compute()
    assert [i.finished for i in seen].count(True) == 2


def test_a_failing_callback_does_not_end_the_computation(client):
    def broken(info):
        raise RuntimeError("display gone")
    rsdat.progress(broken)
    try:
        hook = sys.unraisablehook
        raised = []
        sys.unraisablehook = raised.append
        try:
            assert float(da.ones(1000, chunks=10).sum().compute()) == 1000.0
        finally:
            sys.unraisablehook = hook
        assert raised and "display gone" in str(raised[-1].exc_value)
    finally:
        rsdat.progress(None)


def test_none_shows_nothing_and_bad_arguments_are_refused(seen):
    rsdat.progress(None)
    da.ones(100, chunks=10).sum().compute()
    assert seen == []
    with pytest.raises(TypeError, match="rsdat.progress"):
        rsdat.progress(42)


def test_a_notebook_shows_a_bar_under_the_cell_that_computes(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    v4 = nbformat.v4
    # Blocks that each take 0.25 s on 2 single-threaded workers: the computation takes
    # about a second, more than the half second after which a bar shows.
    slow = ('y = rsdat.map_blocks("py_thread_id", da.from_array(np.zeros((256, 256)), chunks=64), '
            'dtype="int64", sleep=0.25)\n'
            'print(int(y.compute().size))')
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("import sys\nimport numpy as np\nimport rsdat\nimport rsdat.array as da\n"
                         f"cluster = rsdat.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit='1GB', "
                         f"python_kernels=[{KERNELS!r}])\n"
                         "client = rsdat.Client(cluster)"),
        v4.new_code_cell(slow),  # a widget where ipywidgets 7+ is installed, else text
        v4.new_code_cell("print(float(da.ones(10, chunks=5).sum().compute()))"),  # quick: no bar
        v4.new_code_cell("sys.modules['ipywidgets'] = None  # as where python3-ipywidgets is missing\n" + slow),
        v4.new_code_cell("client.close()\ncluster.close()"),
    ])
    # The kernel (Debian's python3, as this one) imports the rsdat this test imported.
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(os.path.dirname(os.path.abspath(rsdat.__file__))))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    def outputs(i):
        return nb.cells[i].outputs

    for i in range(len(nb.cells)):
        assert not [o for o in outputs(i) if o.output_type == "error"], outputs(i)
        if i in (1, 3):
            assert any(o.output_type == "stream" and o.text.strip() == "65536" for o in outputs(i)), outputs(i)
    assert [o.output_type for o in outputs(2)] == ["stream"]  # quick: no bar

    def text_bar(i):
        text = [o for o in outputs(i) if o.output_type == "display_data" and "text/plain" in o.data]
        assert len(text) == 1, outputs(i)
        # Updated in place to its last state: full, with the count and the time taken.
        assert re.fullmatch(r"rsdat \[#{30}\] (\d+) / \1 tasks in \d+\.\d s", text[0].data["text/plain"]), text

    text_bar(3)
    if progress_module._widgets() is None:  # as with Debian 12's ipywidgets 6, or none
        text_bar(1)
        return
    widget = [o for o in outputs(1) if o.output_type == "display_data"
              and "application/vnd.jupyter.widget-view+json" in o.data]
    assert len(widget) == 1, outputs(1)
    # The widgets' last state: the bar full, its label the count.
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [m["state"] for m in state.values() if m.get("model_name") == "IntProgressModel"]
    labels = [m["state"]["value"] for m in state.values() if m.get("model_name") == "LabelModel"]
    assert bars and bars[0]["value"] == bars[0]["max"] > 0 and bars[0]["bar_style"] == "success", bars
    assert labels and labels[0].startswith(f"{bars[0]['max']} / {bars[0]['max']} tasks in "), labels


def test_ctrl_c_while_the_callback_runs_cancels_the_computation(client):
    # SIGINT's KeyboardInterrupt may come while the callback (a notebook's bar) runs: it
    # is the user's, for the computation, not the display's to swallow.
    calls = []

    def interrupted(info):
        calls.append(info)
        if not info.finished:
            raise KeyboardInterrupt
    rsdat.progress(interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            da.random.random((40000, 40000), chunks=(500, 500)).sum().compute()
    finally:
        rsdat.progress(None)
    # The end still came, with fewer tasks done than in all.
    assert calls[-1].finished and calls[-1].tasks_done < calls[-1].tasks_total
    assert float(da.ones(10, chunks=5).sum().compute()) == 10.0
