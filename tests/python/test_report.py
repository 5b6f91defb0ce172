"""rsdat.performance_report: the context manager writes one HTML page of the
computations inside it, with the data it shows embedded."""

import json
import re

import pytest

import rsdat
import rsdat.array as da


def embedded(path):
    html = open(path, encoding="utf-8").read()
    m = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no data in the page"
    return html, json.loads(m.group(1).replace("<\\/", "</"))


def test_the_block_s_computations_are_in_the_file(client, tmp_path):
    path = tmp_path / "report.html"
    da.ones(1000, chunks=100).sum().compute()  # before: not in it
    with rsdat.performance_report(filename=str(path)):
        x = da.ones((400, 400), chunks=(100, 100))
        assert float((x + x.T).sum().compute()) == 320000.0
        ran = client.last_stats()["tasks"]
    html, d = embedded(path)
    assert "<svg" not in html.split("<script")[0], "drawn by the page's own script"
    assert d["summary"]["tasks"] == ran
    assert sum(o["tasks"] for o in d["per_op"]) == ran
    assert len(d["critical_path"]["tasks"]) >= 2
    assert d["scheduler_overhead"]["transitions"] > 0


def test_the_file_is_written_when_the_block_raises(client, tmp_path):
    path = tmp_path / "report.html"
    with pytest.raises(ZeroDivisionError):
        with rsdat.performance_report(str(path)):
            da.ones(100, chunks=10).sum().compute()
            ran = client.last_stats()["tasks"]
            1 / 0
    _, d = embedded(path)
    assert d["summary"]["tasks"] == ran > 0


def test_a_missing_directory_is_a_value_error(client, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        with rsdat.performance_report(str(tmp_path / "no" / "such" / "report.html")):
            pass


def test_an_unwritable_file_raises_at_the_end_of_the_block(client, tmp_path):
    with pytest.raises(RuntimeError, match="cannot write performance report"):
        with rsdat.performance_report(str(tmp_path)):  # a directory
            pass
