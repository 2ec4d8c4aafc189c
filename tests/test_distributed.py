"""The Dask engine on a real ``distributed.LocalCluster`` (2 worker processes, 1 thread each).

Findings, p-values, the dataset block and the group table equal those of ``engine="memory"``
on the same data, whatever the partitioning (a category that first appears in the last
partition, a column missing from every early partition).
"""
from __future__ import annotations

import json

import pytest

dd = pytest.importorskip("dask.dataframe", reason="dask is not installed (pip install 'biasaudit[dask]')")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

import biasaudit as ba  # noqa: E402
from biasaudit.engine import summaries as _colsummary
from biasaudit.engine import scan as stream  # noqa: E402
from biasaudit.engine.dask import read_dask  # noqa: E402
from biasaudit.tools.simulate import generate_dogs_cats  # noqa: E402
from test_stream import assert_same_audit, wide_frame  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, distributed.Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    df = wide_frame()
    path = tmp_path_factory.mktemp("dask") / "wide.csv"
    df.to_csv(path, index=False)
    return {"frame": df, "csv": path, "memory_frame": ba.audit(df, engine="memory"),
            "memory_csv": ba.audit(path, engine="memory")}


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_dask_audit_on_a_cluster_equals_memory(cluster, wide, partitions):
    ddf = dd.from_pandas(wide["frame"], npartitions=partitions)
    b = ba.audit(ddf)
    assert b.dataset["source"] == "dask DataFrame"
    assert b.sections["engine"]["engine"] == "dask"
    assert_same_audit(wide["memory_frame"], b)


def test_dask_reads_csv_like_the_loader(cluster, wide):
    b = ba.audit(read_dask(wide["csv"], blocksize=20_000))
    assert b.sections["engine"]["n_rows"] == 1200
    assert_same_audit(wide["memory_csv"], b)


def test_dask_on_dogs_and_cats(cluster):
    df = generate_dogs_cats(1500, seed=5)
    assert_same_audit(ba.audit(df, engine="memory"), ba.audit(dd.from_pandas(df, npartitions=4)))


def test_partition_dictionaries_merge_across_mode_changes(wide, monkeypatch):
    # local threads so that the patched dictionary size applies to every task
    import dask
    monkeypatch.setattr(_colsummary, "DICT_CAP", 40)
    with dask.config.set(scheduler="threads"):
        b = ba.audit(dd.from_pandas(wide["frame"], npartitions=5))
    assert_same_audit(wide["memory_frame"], b)


def test_engine_choice_for_dask_frames(wide):
    ddf = dd.from_pandas(wide["frame"], npartitions=2)
    assert stream.choose_engine(ddf, "auto") == "dask"
    with pytest.raises(ValueError, match="engine='dask'"):
        stream.choose_engine(ddf, "stream")


def test_cli_engine_dask_with_a_scheduler_address(cluster, wide, tmp_path):
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    lc, _ = cluster
    path = tmp_path / "dask.json"
    res = CliRunner().invoke(cli, ["scan", str(wide["csv"]), "--engine", "dask", "--scheduler", lc.scheduler_address,
                                   "--format", "json", "-o", str(path), "-q", "--no-config"])
    assert res.exit_code == 0, res.output
    got = json.loads(path.read_text())
    want = [(f.id, f.severity) for f in wide["memory_csv"].findings]
    assert [(f["id"], f["severity"]) for f in got["findings"]] == want
