"""The streaming engine gives the in-memory results: counts, roles, p-values, findings.

Every comparison is against an independent computation (pandas reading the CSV on its own,
``numpy.nanquantile``) or against ``engine="memory"``, the reference the issue asks the streaming
engine to reproduce exactly.  The data are generated (``generate_dogs_cats`` and a wider table
with numbers, booleans, NA words, padded text, a multi-valued column, an id, a category that
first appears in the last chunk and a column missing from every early chunk).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import biasaudit as ba
from biasaudit.engine import summaries as _colsummary
from biasaudit.engine import coltypes as _coltypes
from biasaudit.engine import sources as _streamio
from biasaudit.engine import scan as stream
from biasaudit.engine.store import CountStore, NotPrecomputedError, RowAccessError, cover
from biasaudit.tools.simulate import generate_dogs_cats

N = 1200


def wide_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """13 columns of every kind the loader types, with a planted label dependence on ``region``."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "row_id": [f"r{i:06d}" for i in range(n)],
        "region": rng.choice(["north", "south", " east", "west "], n),
        "age": rng.integers(18, 80, n).astype(float),
        "score": np.round(rng.normal(50, 10, n), 2),
        "kids": rng.integers(0, 4, n),
        "member": rng.choice(["true", "false", "TRUE"], n),
        "tags": rng.choice(["a", "b", "a|b", "c", "b|c"], n),
        "grade": rng.choice(["A", "B", "C", "NA", " "], n, p=[.3, .3, .2, .1, .1]),
        "late": np.where(np.arange(n) < n - 50, rng.choice(["x", "y"], n), "z"),
        "sparse": np.where(np.arange(n) < n // 2, None, rng.choice(["p", "q"], n)),
        "comment": np.where(rng.random(n) < .1, None, np.char.add("note ", rng.integers(0, 400, n).astype(str))),
        "label": rng.choice(["yes", "no"], n, p=[0.4, 0.6]),
    })
    df.loc[(df["region"] == "north") & (rng.random(n) < .5), "label"] = "yes"
    df.loc[rng.random(n) < 0.01, "label"] = None
    return df


def _plain(x):
    return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def assert_same_audit(a, b) -> None:
    """Findings (every field), dataset block, group table and detector sections are identical."""
    fa = [_plain(f.to_dict()) for f in a.findings]
    fb = [_plain(f.to_dict()) for f in b.findings]
    for f in fb:
        f.get("details", {}).pop("approximate", None)
    assert [f["id"] for f in fa] == [f["id"] for f in fb]
    assert fa == fb
    da, db = _plain(a.dataset), _plain(b.dataset)
    db["source"] = da["source"]
    assert da == db
    pd.testing.assert_frame_equal(a.groups, b.groups)
    sa, sb = _plain(a.sections), _plain(b.sections)
    sb.pop("engine")
    assert sa == sb


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    df = wide_frame()
    csv, parquet = folder / "wide.csv", folder / "wide.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(parquet, index=False)
    return {"frame": df, "csv": csv, "parquet": parquet,
            "memory_csv": ba.audit(csv, engine="memory"), "memory_parquet": ba.audit(parquet, engine="memory")}


# ----------------------------------------------------------------------------- building blocks
@pytest.mark.parametrize("n,n_bins", [(1, 5), (2, 5), (17, 4), (1000, 5), (1001, 10)])
def test_quantiles_from_counts_are_numpys_bit_for_bit(n, n_bins):
    rng = np.random.default_rng(n)
    x = np.round(rng.lognormal(2, 1, n), 1)  # ties
    q = np.linspace(0, 1, n_bins + 1)
    vals, counts = np.unique(x, return_counts=True)
    got = _coltypes.quantiles_from_counts(vals, counts, q)
    assert np.array_equal(got, np.nanquantile(x, q))


def test_sample_keys_do_not_depend_on_the_chunks():
    whole = _streamio.sample_keys(7, 0, 1000)
    parts = np.concatenate([_streamio.sample_keys(7, s, m) for s, m in ((0, 1), (1, 499), (500, 500))])
    assert np.array_equal(whole, parts)


def test_cover_contains_every_needed_set_within_the_cell_budget():
    sizes = {c: k for c, k in zip("abcdefgL", (2, 3, 4, 5, 6, 7, 2, 2))}
    need = [frozenset(s) for s in (("a", "b", "L"), ("c", "d", "e", "L"), ("f", "g", "L"), ("a", "g", "L"))]
    tables = cover(need, sizes, list(sizes), max_cells=600)
    for s in need:
        assert any(s <= set(t) for t in tables)
    assert all(math.prod(sizes[c] for c in t) <= 600 for t in tables)


def test_count_store_serves_margins_and_refuses_rows():
    t = np.arange(24).reshape(2, 3, 4)
    store = CountStore({"a": ("x", "y"), "b": ("p", "q", "r"), "c": tuple("1234")}, {("a", "b", "c"): t}, 276)
    assert np.array_equal(store.count("c", "a").counts, t.sum(axis=1).T)
    assert store.count("b").counts.tolist() == t.sum(axis=(0, 2)).tolist()
    assert store.n == 276 and store.weights is None and "a" in store.codes
    for bad in (lambda: store.codes["a"], lambda: store.mask(a="x"), lambda: store.n_rows):
        with pytest.raises(RowAccessError):
            bad()
    store2 = CountStore({"a": ("x", "y"), "b": ("p", "q", "r")}, {("a",): np.array([1, 2]), ("b",): np.ones(3)}, 3)
    with pytest.raises(NotPrecomputedError, match="did not precompute a table over a, b"):
        store2.count("a", "b")


# ----------------------------------------------------------------------------- counts and roles
@pytest.mark.parametrize("chunk", [N, 97, 13])
def test_counts_equal_an_independent_pandas_count(wide, chunk):
    sc = stream.scan(wide["csv"], chunk_rows=chunk)
    df = pd.read_csv(wide["csv"])  # pandas alone: NA words are missing, labels present
    df = df[df["label"].notna()]
    region = df["region"].str.strip()
    want = pd.crosstab(region, df["label"])
    got = sc.store.count("region", "label")
    for i, r in enumerate(got.levels[0]):
        for j, y in enumerate(got.levels[1]):
            assert got.counts[i, j] == want.loc[r, y]
    late = sc.store.count("late")
    assert dict(zip(late.levels[0], late.counts.tolist())) == df["late"].value_counts().to_dict()
    sparse = sc.store.count("sparse")
    assert dict(zip(sparse.levels[0], sparse.counts.tolist()))["(missing)"] == int(df["sparse"].isna().sum())
    grade = sc.store.count("grade")  # "NA" (read as missing by pandas) and blank fields are missing
    blank = df["grade"].isna() | (df["grade"].str.strip() == "")
    assert dict(zip(grade.levels[0], grade.counts.tolist()))["(missing)"] == int(blank.sum())
    assert sc.store.n == len(df)


def test_numeric_bins_are_the_exact_quantiles(wide):
    sc = stream.scan(wide["csv"], chunk_rows=101)
    df = pd.read_csv(wide["csv"])
    x = df.loc[df["label"].notna(), "score"].to_numpy(dtype=float)
    assert sc.roles.bins["score"] == [float(q) for q in np.unique(np.nanquantile(x, np.linspace(0, 1, 6)))]
    assert sc.section()["approximate"] == []


@pytest.mark.parametrize("source", ["csv", "parquet", "frame"])
def test_roles_equal_resolve(wide, source):
    from biasaudit.engine.roles import resolve
    data = wide[source]
    _, roles = resolve(ba.load(data))
    assert stream.scan(data, chunk_rows=97).roles == roles


def test_roles_of_the_bundled_datasets_equal_resolve():
    from pathlib import Path

    from biasaudit.engine.roles import resolve
    root = Path(__file__).resolve().parents[1] / "datasets"
    for name, label in (("dogs_cats.csv", "species"), ("german_credit.csv", "credit"),
                        ("dogs_cats_large.csv", None)):
        _, roles = resolve(ba.load(root / name), label=label)
        assert stream.scan(root / name, chunk_rows=50, label=label).roles == roles


# ----------------------------------------------------------------------------- whole audits
@pytest.mark.parametrize("chunk", [N, 97, 13])
def test_stream_audit_equals_memory_csv(wide, chunk):
    b = ba.audit(wide["csv"], engine="stream", chunk_size=chunk)
    assert_same_audit(wide["memory_csv"], b)
    eng = b.sections["engine"]
    assert eng["sample_complete"] and eng["sample_rows"] == N
    # the count-based detectors never needed rows
    assert not {"group_attribution", "conditional", "proxies"} & set(eng["row_detectors"])


def test_stream_audit_equals_memory_parquet_and_frame(wide):
    assert_same_audit(wide["memory_parquet"], ba.audit(wide["parquet"], engine="stream", chunk_size=100))
    df = wide["frame"]
    assert_same_audit(ba.audit(df, engine="memory"), ba.audit(df, engine="stream", chunk_size=64))


def test_stream_audit_equals_memory_on_dogs_and_cats(tmp_path):
    df = generate_dogs_cats(1500, seed=4)
    path = tmp_path / "dc.csv"
    df.to_csv(path, index=False)
    a = ba.audit(path, engine="memory")
    assert any(f.severity in ("critical", "high", "medium") for f in a.findings)  # planted biases found
    assert_same_audit(a, ba.audit(path, engine="stream", chunk_size=211))


def test_full_dictionaries_switch_modes_without_changing_results(wide, monkeypatch):
    # at 40 distinct values: "score" goes on as numbers, "row_id" as hashed text (still id-like)
    monkeypatch.setattr(_colsummary, "DICT_CAP", 40)
    b = ba.audit(wide["csv"], engine="stream", chunk_size=97)
    assert_same_audit(wide["memory_csv"], b)


def test_weighted_table_equals_memory(tmp_path):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 300), "h": rng.choice(["u", "v"], 300),
                       "n": rng.integers(0, 9, 300), "y": rng.choice(["p", "q"], 300)})
    path = tmp_path / "w.csv"
    df.to_csv(path, index=False)
    a = ba.audit(path, weight="n", label="y", engine="memory")
    b = ba.audit(path, weight="n", label="y", engine="stream", chunk_size=41)
    assert_same_audit(a, b)
    assert b.dataset["n_weighted"] == df["n"].sum()


def test_a_small_sample_keeps_count_findings_exact_and_marks_the_rest(wide):
    a = wide["memory_csv"]
    b1 = ba.audit(wide["csv"], engine="stream", chunk_size=97, sample_rows=300)
    b2 = ba.audit(wide["csv"], engine="stream", chunk_size=400, sample_rows=300)
    assert [(f.id, f.p_value) for f in b1.findings] == [(f.id, f.p_value) for f in b2.findings]
    counted = ("group_attribution", "conditional", "proxies")
    exact = {f.id: (f.p_value, f.statistic, f.effect_size) for f in a.findings if f.detector in counted}
    got = {f.id: (f.p_value, f.statistic, f.effect_size) for f in b1.findings if f.detector in counted}
    assert got == exact
    eng = b1.sections["engine"]
    assert eng["sample_rows"] == 300 and not eng["sample_complete"]
    for f in b1.findings:
        if f.detector in eng["row_detectors"] or f"{f.detector}:{f.kind}" in eng["row_detectors"]:
            assert "sample of 300 of 1,200 rows" in f.details["approximate"]
        else:
            assert "approximate" not in f.details
    # missing values are counted chunk by chunk: exact whatever the sample
    miss = {f.id: (f.p_value, f.explained_by) for f in a.findings if f.kind == "missingness"}
    assert miss and {f.id: (f.p_value, f.explained_by) for f in b1.findings if f.kind == "missingness"} == miss


def test_numbers_beyond_the_exact_cap_are_binned_from_the_sample(wide, monkeypatch):
    monkeypatch.setattr(_colsummary, "DICT_CAP", 40)  # numbers leave the dictionary ...
    monkeypatch.setattr(_colsummary, "NUM_EXACT_CAP", 100)  # ... and have too many values for exact counts
    sc = stream.scan(wide["csv"], chunk_rows=97, sample_rows=500)
    assert any(a.startswith("score:") for a in sc.section()["approximate"])
    counts = sc.store.count("score").counts
    assert counts.sum() == sc.n_kept and (counts > 0).all()


# ----------------------------------------------------------------------------- engine choice, errors, CLI
def test_choose_engine(wide, monkeypatch):
    assert stream.choose_engine(wide["csv"], "auto") == "memory"
    monkeypatch.setattr(stream, "available_memory", lambda: 1000)
    assert stream.choose_engine(wide["csv"], "auto") == "stream"
    assert stream.choose_engine(wide["frame"], "auto") == "memory"
    with pytest.raises(ValueError, match="'engine' parameter"):
        stream.choose_engine(wide["csv"], "fast")


def test_stream_errors_name_the_problem(wide, tmp_path):
    with pytest.raises(ba.ColumnError, match="Label column 'target' not found"):
        ba.audit(wide["csv"], engine="stream", label="target")
    odd = tmp_path / "t.jsonl"
    odd.write_text('{"a": 1}\n')
    with pytest.raises(ba.InputFileError, match="streaming engine reads"):
        ba.audit(odd, engine="stream")
    with pytest.raises(ValueError, match="chunk_size"):
        ba.audit(wide["csv"], engine="stream", chunk_size=0)


def test_cli_engine_stream_matches_memory(wide, tmp_path):
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    out = {}
    for engine in ("memory", "stream"):
        path = tmp_path / f"{engine}.json"
        res = CliRunner().invoke(cli, ["scan", str(wide["csv"]), "--engine", engine, "--chunk-size", "100",
                                       "--format", "json", "-o", str(path), "-q", "--no-config"])
        assert res.exit_code == 0, res.output
        out[engine] = json.loads(path.read_text())
    key = [(f["id"], f["severity"], f["p_value"]) for f in out["memory"]["findings"]]
    assert key == [(f["id"], f["severity"], f["p_value"]) for f in out["stream"]["findings"]]


def test_without_a_sample_only_count_detectors_run(wide):
    b = ba.audit(wide["csv"], engine="stream", chunk_size=500, sample_rows=0)
    eng = b.sections["engine"]
    assert eng["sample_rows"] == 0 and eng["skipped"]
    assert {f.detector for f in b.findings}.isdisjoint(eng["row_detectors"])
    assert not [f for f in b.findings if f.kind == "duplicates"]
    exact = {f.id: f.p_value for f in wide["memory_csv"].findings if f.detector == "group_attribution"}
    assert {f.id: f.p_value for f in b.findings if f.detector == "group_attribution"} == exact
    assert any("seeded sample of 0 of 1,200 rows" in n for n in b.dataset["notes"])


def test_dask_engine_without_dask_says_what_to_install(wide, monkeypatch):
    from biasaudit.engine import dask as distributed

    def no_module(name):
        raise ImportError(f"No module named {name!r}")
    monkeypatch.setattr(distributed, "import_module", no_module)
    with pytest.raises(distributed.DaskMissingError, match=r'pip install "biasaudit\[dask\]"'):
        distributed.read_dask(wide["csv"])
