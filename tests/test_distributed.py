"""The dask back end on a real ``distributed.LocalCluster`` (2 worker processes, 1 thread each, free ports).

Findings, p-values, the dataset block and the group table equal those of the same rows given as a
pandas DataFrame or a file, whatever the partitioning (a category that first appears in the last
partition, a column missing from every early partition).
"""
from __future__ import annotations

import json

import pytest

dd = pytest.importorskip("dask.dataframe", reason="dask is not installed (pip install 'biasaudit[dask]')")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

import biasaudit as ba  # noqa: E402
from biasaudit.engine import scan as engine_scan  # noqa: E402
from biasaudit.engine import summaries as _summaries  # noqa: E402
from biasaudit.engine.dask import read_dask  # noqa: E402
from biasaudit.tools.simulate import generate_dogs_cats  # noqa: E402
from test_stream import assert_same_audit, wide_frame  # noqa: E402

LIGHT = dict(probe=False, detectors=["group_attribution", "conditional", "reporting", "label_quality",
                                     "overgeneralization"])


@pytest.fixture(scope="module")
def cluster():
    # port 0 everywhere: the scheduler, the workers and the dashboard take free ports
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, scheduler_port=0,
                                  dashboard_address=":0") as lc, distributed.Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    df = wide_frame()
    path = tmp_path_factory.mktemp("dask") / "wide.csv"
    df.to_csv(path, index=False)
    return {"frame": df, "csv": path, "frame_audit": ba.audit(df, **LIGHT), "csv_audit": ba.audit(path, **LIGHT)}


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_dask_audit_on_a_cluster_equals_the_frame(cluster, wide, partitions):
    ddf = dd.from_pandas(wide["frame"], npartitions=partitions)
    b = ba.audit(ddf, **LIGHT)
    assert b.dataset["source"] == "dask DataFrame"
    assert b.sections["engine"]["engine"] == "dask"
    assert_same_audit(wide["frame_audit"], b)


def test_dask_reads_csv_like_the_engine(cluster, wide):
    b = ba.audit(read_dask(wide["csv"], blocksize=20_000), **LIGHT)
    assert b.sections["engine"]["n_rows"] == 1200
    assert_same_audit(wide["csv_audit"], b)


def test_dask_on_dogs_and_cats_with_the_probe(cluster):
    df = generate_dogs_cats(1500, seed=5)
    assert_same_audit(ba.audit(df), ba.audit(dd.from_pandas(df, npartitions=4)))


def test_partition_dictionaries_merge_across_mode_changes(wide, monkeypatch):
    # local threads so that the patched dictionary size applies to every task
    import dask
    monkeypatch.setattr(_summaries, "DICT_CAP", 40)
    with dask.config.set(scheduler="threads"):
        b = ba.audit(dd.from_pandas(wide["frame"], npartitions=5), **LIGHT)
    assert_same_audit(wide["frame_audit"], b)


def test_engine_choice_for_dask_frames(wide):
    ddf = dd.from_pandas(wide["frame"], npartitions=2)
    assert engine_scan.choose_engine(ddf, "auto") == "dask"
    with pytest.raises(ValueError, match="engine='dask'"):
        engine_scan.choose_engine(ddf, "stream")


def test_cli_engine_dask_with_a_scheduler_address(cluster, wide, tmp_path):
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    lc, _ = cluster
    path = tmp_path / "dask.json"
    res = CliRunner().invoke(cli, ["scan", str(wide["csv"]), "--engine", "dask", "--scheduler", lc.scheduler_address,
                                   "--no-probe", "--format", "json", "-o", str(path), "-q", "--no-config"])
    assert res.exit_code == 0, res.output
    got = json.loads(path.read_text())
    want = [(f.id, f.severity) for f in ba.audit(wide["csv"], probe=False).findings]
    assert [(f["id"], f["severity"]) for f in got["findings"]] == want
