"""One engine, one path: a DataFrame, the same data as CSV or Parquet, in chunks of any size, give the
same roles, count tables and findings.

Counts are checked against independent computations (pandas reading the CSV on its own,
``numpy.quantile``); whole audits are checked against each other across sources and chunk sizes
(the issue's invariant), on a wide table with numbers, booleans, NA words, padded text, a
multi-valued column, an id, a category that first appears in the last chunk and a column missing
from every early chunk, and on hypothesis-generated tables.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import biasaudit as ba
from biasaudit.engine import coltypes as _coltypes
from biasaudit.engine import scan as engine_scan
from biasaudit.engine import spill as _spill
from biasaudit.engine import summaries as _summaries
from biasaudit.engine.store import CountStore, RowAccessError, cover
from biasaudit.tools.simulate import generate_dogs_cats

N = 1200


def wide_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """12 columns of every kind the loader types, with a planted label dependence on ``region``."""
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
    assert [f["id"] for f in fa] == [f["id"] for f in fb]
    assert fa == fb
    da, db = _plain(a.dataset), _plain(b.dataset)
    db["source"] = da["source"]
    assert da == db
    pd.testing.assert_frame_equal(a.groups, b.groups)
    sa, sb = _plain(a.sections), _plain(b.sections)
    sa.pop("engine")
    sb.pop("engine")
    assert sa == sb


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    df = wide_frame()
    csv, parquet = folder / "wide.csv", folder / "wide.parquet"
    df.to_csv(csv, index=False)
    ba.load(csv).to_parquet(parquet, index=False)  # the data as read from the CSV ("NA" is missing there)
    return {"frame": df, "csv": csv, "parquet": parquet, "csv_audit": ba.audit(csv, probe=False)}


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
    whole = _spill.sample_keys(7, 0, 1000)
    parts = np.concatenate([_spill.sample_keys(7, s, m) for s, m in ((0, 1), (1, 499), (500, 500))])
    assert np.array_equal(whole, parts)


def test_cover_contains_every_needed_set_within_the_cell_budget():
    sizes = {c: k for c, k in zip("abcdefgL", (2, 3, 4, 5, 6, 7, 2, 2))}
    need = [frozenset(s) for s in (("a", "b", "L"), ("c", "d", "e", "L"), ("f", "g", "L"), ("a", "g", "L"))]
    tables = cover(need, sizes, list(sizes), max_cells=600)
    for s in need:
        assert any(s <= set(t) for t in tables)
    assert all(math.prod(sizes[c] for c in t) <= 600 for t in tables)


def test_count_store_serves_margins_recounts_the_rest_and_refuses_rows():
    t = np.arange(24).reshape(2, 3, 4)
    levels = {"a": ("x", "y"), "b": ("p", "q", "r"), "c": tuple("1234")}
    asked = []

    def recount(cols):
        asked.append(cols)
        return np.ones(tuple(len(levels[c]) for c in cols), dtype=np.int64)

    store = CountStore(levels, {("a", "b", "c"): t}, 276, recount=recount)
    assert np.array_equal(store.count("c", "a").counts, t.sum(axis=1).T)
    assert store.count("b").counts.tolist() == t.sum(axis=(0, 2)).tolist()
    assert store.n == 276 and store.weights is None and "a" in store.codes
    assert asked == []
    for bad in (lambda: store.codes["a"], lambda: store.mask(a="x")):
        with pytest.raises(RowAccessError, match="reads='sample'|rows are not available"):
            bad()
    small = CountStore({"a": ("x", "y"), "b": ("p", "q", "r")}, {("a",): np.array([1, 2])}, 3, recount=recount)
    assert small.count("a", "b").counts.shape == (2, 3) and asked == [("a", "b")]
    assert small.recounted == [["a", "b"]]


def test_an_unplanned_table_is_counted_by_another_pass(wide, monkeypatch):
    import functools
    monkeypatch.setattr(engine_scan, "cover", functools.partial(cover, max_cells=64))  # small covering tables
    sc = engine_scan.scan(wide["csv"], chunk_rows=97)
    try:
        sc.count()
        store = sc.store
        from itertools import combinations
        cols = next(c + ("label",) for k in (3, 4) for c in combinations(("region", "member", "kids", "late", "grade"), k)
                    if not any(set(c) | {"label"} <= set(t) for t in sc.tables))  # a table nobody planned
        got = store.count(*cols)
        assert store.recounted == [list(cols)]
        df = ba.load(wide["csv"])
        df = df[df["label"].notna()]
        text = {"member": df["member"].map({True: "true", False: "false"}), "kids": df["kids"].astype(str),
                "grade": df["grade"].fillna("(missing)")}
        want = df.assign(**text).groupby(list(cols)).size()
        for idx, n in want.items():
            pos = tuple(got.levels[i].index(v) for i, v in enumerate(idx))
            assert got.counts[pos] == n
        assert got.counts.sum() == len(df)
    finally:
        sc.close()


# ----------------------------------------------------------------------------- counts and roles
def _scan(data, **kw):
    sc = engine_scan.scan(data, **kw)
    sc.count()
    sc.close()
    return sc


@pytest.mark.parametrize("chunk", [N, 97, 13])
def test_counts_equal_an_independent_pandas_count(wide, chunk):
    sc = _scan(wide["csv"], chunk_rows=chunk)
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


def test_numeric_bins_are_rounded_quantiles_of_every_value(wide):
    sc = _scan(wide["csv"], chunk_rows=101)
    df = pd.read_csv(wide["csv"])
    x = df.loc[df["label"].notna(), "score"].to_numpy(dtype=float)
    q = np.quantile(x, [0.05, 0.2, 0.4, 0.6, 0.8, 0.95])  # n >= 600: a bottom and a top 5 % bin
    assert sc.roles.bins["score"] == [float(f"{v:.2g}") for v in q]
    assert sc.approximate == []


@pytest.mark.parametrize("source", ["csv", "parquet", "frame"])
def test_roles_equal_those_of_the_loaded_frame(wide, source):
    from biasaudit.engine.roles import resolve
    data = wide[source]
    _, roles = resolve(ba.load(data))
    assert _scan(data, chunk_rows=97).roles == roles


def test_roles_of_the_bundled_datasets_do_not_depend_on_the_source():
    from pathlib import Path

    from biasaudit.engine.roles import resolve
    root = Path(__file__).resolve().parents[1] / "datasets"
    for name, label in (("dogs_cats.csv", "species"), ("german_credit.csv", "credit"),
                        ("dogs_cats_large.csv", None)):
        _, roles = resolve(pd.read_csv(root / name), label=label)
        assert _scan(root / name, chunk_rows=50, label=label).roles == roles


def test_multi_valued_column_with_many_combinations_is_audited_through_its_indicators():
    # 41 combinations of 8 values, max_levels=10: the column is left out, its indicators are sensitive
    rng = np.random.default_rng(5)
    vals = list("abcdefgh")
    combos = vals + [f"{x}|{y}" for i, x in enumerate(vals) for y in vals[i + 1:]] + ["a|b|c", "b|c|d", "c|d|e",
                                                                                    "d|e|f", "e|f|g"]
    assert len(combos) == 41
    df = pd.DataFrame({"tags": rng.choice(combos, 2000), "g": rng.choice(["u", "v"], 2000),
                       "y": rng.choice(["p", "q"], 2000)})
    from biasaudit.engine.roles import resolve
    _, roles = resolve(df, label="y", max_levels=10)
    assert "tags" in roles.excluded
    assert set(roles.sensitive) == {"g", "tags_count"} | {f"tags_has_{v}" for v in vals}
    for data in (df, df.iloc[::-1].reset_index(drop=True)):
        assert set(_scan(data, chunk_rows=300, label="y", max_levels=10).roles.sensitive) == set(roles.sensitive)


# ----------------------------------------------------------------------------- whole audits
@pytest.mark.parametrize("chunk", [97, 13])
def test_audit_does_not_depend_on_the_chunk_size(wide, chunk):
    b = ba.audit(wide["csv"], chunk_size=chunk, probe=False)
    assert_same_audit(wide["csv_audit"], b)
    eng = b.sections["engine"]
    assert eng["sample_complete"] and eng["sample_rows"] == N and eng["chunk_rows"] == chunk


def test_parquet_frame_and_csv_give_one_audit(wide):
    a = wide["csv_audit"]
    assert_same_audit(a, ba.audit(wide["parquet"], chunk_size=100, probe=False))
    assert_same_audit(a, ba.audit(ba.load(wide["csv"]), chunk_size=64, probe=False))
    assert_same_audit(a, ba.audit(wide["csv"], engine="memory", probe=False))
    raw = wide["frame"]  # in memory "NA" is a value, not missing: the same audit as its own Parquet file
    path = wide["parquet"].with_name("raw.parquet")
    raw.to_parquet(path, index=False)
    assert_same_audit(ba.audit(raw, probe=False), ba.audit(path, chunk_size=77, probe=False))


def test_dogs_and_cats_with_the_probe_from_every_source(tmp_path):
    df = generate_dogs_cats(1500, seed=4)
    path = tmp_path / "dc.csv"
    df.to_csv(path, index=False)
    a = ba.audit(path)
    assert any(f.severity in ("critical", "high", "medium") for f in a.findings)  # planted biases found
    assert_same_audit(a, ba.audit(path, chunk_size=211))
    assert_same_audit(a, ba.audit(df))


def test_full_dictionaries_switch_modes_without_changing_results(wide, monkeypatch):
    # at 40 distinct values: "score" goes on as numbers, "row_id" as hashed text (still id-like)
    monkeypatch.setattr(_summaries, "DICT_CAP", 40)
    assert_same_audit(wide["csv_audit"], ba.audit(wide["csv"], chunk_size=97, probe=False))


def test_weighted_table(tmp_path):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 300), "h": rng.choice(["u", "v"], 300),
                       "n": rng.integers(0, 9, 300), "y": rng.choice(["p", "q"], 300, p=[0.3, 0.7])})
    path = tmp_path / "w.csv"
    df.to_csv(path, index=False)
    a = ba.audit(df, weight="n", label="y", probe=False)
    assert_same_audit(a, ba.audit(path, weight="n", label="y", chunk_size=41, probe=False))
    assert a.dataset["n_weighted"] == df["n"].sum()
    t = a.groups.set_index(["attribute", "group"])
    for g, part in df.groupby("g"):
        assert t.loc[("g", g), "n"] == part["n"].sum()


def test_default_positive_class_is_the_weighted_minority():
    # by rows "p" is the minority (2 of 5 rows), by weight "q" is (weights 1 + 1 + 1 = 3 of 23)
    df = pd.DataFrame({"g": ["a", "b", "a", "b", "a"], "y": ["p", "p", "q", "q", "q"], "w": [10, 10, 1, 1, 1]})
    r = ba.audit(df, label="y", weight="w", probe=False)
    assert r.dataset["positive"] == "q" and r.dataset["label_values"] == ["p", "q"]
    assert ba.audit(df, label="y", probe=False).dataset["positive"] == "p"
    from biasaudit.engine.roles import resolve
    assert resolve(df, label="y", weight="w")[1].positive == "q"


def test_a_small_sample_keeps_count_findings_exact_and_marks_the_rest(wide):
    a = wide["csv_audit"]
    b1 = ba.audit(wide["csv"], chunk_size=97, sample_rows=300, probe=False)
    b2 = ba.audit(wide["csv"], chunk_size=400, sample_rows=300, probe=False)
    assert [(f.id, f.p_value) for f in b1.findings] == [(f.id, f.p_value) for f in b2.findings]
    counted = ("group_attribution", "conditional", "reporting", "label_quality", "overgeneralization", "leakage")
    exact = {f.id: (f.p_value, f.statistic, f.effect_size) for f in a.findings if f.detector in counted}
    got = {f.id: (f.p_value, f.statistic, f.effect_size) for f in b1.findings if f.detector in counted}
    assert got == exact
    eng = b1.sections["engine"]
    assert eng["sample_rows"] == 300 and not eng["sample_complete"]
    assert "selection" in eng["sample_readers"]
    assert not {"overgeneralization", "proxies", "reporting"} & set(eng["sample_readers"])
    for f in b1.findings:
        if f.detector in eng["sample_readers"]:
            assert "sample of 300 of 1,200 rows" in f.details["approximate"]
        else:
            assert "approximate" not in f.details
    assert any("sample of 300 of 1,200 rows" in n for n in b1.dataset["notes"])


def test_numbers_beyond_the_exact_cap_are_binned_from_the_sample(wide, monkeypatch):
    monkeypatch.setattr(_summaries, "DICT_CAP", 40)  # numbers leave the dictionary ...
    monkeypatch.setattr(_summaries, "NUM_EXACT_CAP", 100)  # ... and have too many values for exact counts
    sc = _scan(wide["csv"], chunk_rows=97, sample_rows=500)
    assert any(a.startswith("score:") for a in sc.approximate)
    counts = sc.store.count("score").counts
    assert counts.sum() == sc.n_kept and (counts > 0).all()


# ----------------------------------------------------------------------------- property: every source agrees
_VALUES = st.sampled_from(["a", "b", "c", "a|b", "b|c", None, " a", "NA"])


@st.composite
def tables(draw):
    n = draw(st.integers(30, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    df = pd.DataFrame({
        "cat": rng.choice(["u", "v", "w"], n),
        "multi": [draw(_VALUES) for _ in range(n)] if draw(st.booleans()) else rng.choice(["a", "a|b", "b"], n),
        "num": np.round(rng.normal(0, 1, n), 2) if draw(st.booleans()) else rng.integers(0, 30, n).astype(float),
        "flag": rng.choice(["true", "false"], n),
        "y": rng.choice(["p", "q"], n),
    })
    df.loc[rng.random(n) < 0.1, "num"] = np.nan
    df.loc[n - 1, "cat"] = "late"  # a category that first appears in the last chunk
    df.loc[rng.random(n) < 0.05, "y"] = None
    if draw(st.booleans()):
        df["w"] = rng.integers(0, 4, n)
    if df["y"].dropna().nunique() < 2:
        df.loc[:1, "y"] = ["p", "q"]
    return df


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(df=tables(), chunk=st.integers(7, 60), max_levels=st.sampled_from([3, 50]))
def test_every_source_and_chunking_gives_the_same_roles_counts_and_findings(tmp_path, df, chunk, max_levels):
    kw = dict(label="y", weight="w" if "w" in df.columns else None, max_levels=max_levels, probe=False,
              detectors=["group_attribution", "reporting", "label_quality"])
    csv, parquet, raw_parquet = tmp_path / "t.csv", tmp_path / "t.parquet", tmp_path / "raw.parquet"
    df.to_csv(csv, index=False)
    loaded = ba.load(csv)  # as read from CSV ("NA" is missing there, a value in memory)
    loaded.to_parquet(parquet, index=False)
    df.to_parquet(raw_parquet, index=False)
    try:
        a = ba.audit(csv, **kw)
    except ba.DataError:  # e.g. no attribute left at this max_levels: every source must say so
        for data in (loaded, parquet):
            with pytest.raises(ba.DataError):
                ba.audit(data, **kw)
        return
    for data, chunk_size in ((csv, chunk), (parquet, chunk + 1), (loaded, chunk + 2)):
        assert_same_audit(a, ba.audit(data, chunk_size=chunk_size, **kw))
    try:
        r = ba.audit(df, chunk_size=chunk, **kw)
    except ba.DataError:
        with pytest.raises(ba.DataError):
            ba.audit(raw_parquet, **kw)
    else:
        assert_same_audit(r, ba.audit(raw_parquet, chunk_size=chunk + 3, **kw))
    sa = _scan(csv, label="y", weight=kw["weight"], max_levels=max_levels)
    sb = _scan(loaded, chunk_rows=chunk, label="y", weight=kw["weight"], max_levels=max_levels)
    assert sa.roles == sb.roles
    for cols in [(c, "y") for c in sa.roles.attributes]:
        ta, tb = sa.store.count(*cols), sb.store.count(*cols)
        assert ta.levels == tb.levels and np.array_equal(ta.counts, tb.counts)


# ----------------------------------------------------------------------------- options, errors, CLI
def test_exclude_attributes_and_one_sensitive_column(wide):
    r = ba.audit(wide["frame"], exclude=["score", "tags"], sensitive="region", probe=False,
                 detectors=["group_attribution"])
    assert "score" not in r.dataset["attributes"] and "tags_count" not in r.dataset["attributes"]
    assert r.dataset["excluded"]["score"].startswith("left out by the user")
    assert r.dataset["sensitive"] == ["region"]
    r = ba.audit(wide["frame"], attributes=["region", "kids"], probe=False, detectors=["group_attribution"])
    assert r.dataset["attributes"] == ["region", "kids"]
    with pytest.raises(ba.ColumnError, match="Excluded column 'nope' not found"):
        ba.audit(wide["frame"], exclude=["nope"])


def test_label_must_be_a_column_name(wide):
    from biasaudit.audit.run import LABEL_TYPE_ERROR
    with pytest.raises(TypeError, match="'label' parameter of audit must be a column name") as err:
        ba.audit(wide["frame"], label=wide["frame"]["label"])
    assert str(err.value) == LABEL_TYPE_ERROR.format(got="a Series")


def test_explicit_bins_in_python_and_cli(wide, tmp_path):
    r = ba.audit(wide["frame"], bins={"age": [30, 50, 65]}, probe=False, detectors=["group_attribution"])
    assert r.dataset["bins"]["age"] == [30.0, 50.0, 65.0]
    x = wide["frame"]["age"][wide["frame"]["label"].notna()]
    g = r.groups[r.groups["attribute"] == "age"].set_index("group")["n"]
    want = pd.cut(x, [-np.inf, 30, 50, 65, np.inf], labels=["<=30", "(30, 50]", "(50, 65]", ">65"]).value_counts()
    assert g.to_dict() == {k: v for k, v in want.items() if v}
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["scan", str(wide["csv"]), "--bins", "4", "--bins", "age=30,50,65", "--no-probe",
                                   "--exclude", "comment", "--format", "json", "-o", str(out), "-q", "--no-config"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["dataset"]["bins"]["age"] == [30.0, 50.0, 65.0] and len(doc["dataset"]["bins"]["score"]) == 5
    assert "comment" in doc["dataset"]["excluded"]
    with pytest.raises(ValueError, match="increasing"):
        ba.audit(wide["frame"], bins={"age": [50, 30]})


def test_engine_choice_and_errors(wide, tmp_path):
    assert engine_scan.choose_engine(wide["csv"], "auto") == "stream"
    assert engine_scan.choose_engine(wide["frame"], "memory") == "stream"
    with pytest.raises(ValueError, match="'engine' parameter"):
        engine_scan.choose_engine(wide["csv"], "fast")
    with pytest.raises(ba.ColumnError, match="Label column 'target' not found"):
        ba.audit(wide["csv"], label="target")
    with pytest.raises(ValueError, match="chunk_size"):
        ba.audit(wide["csv"], chunk_size=0)
    odd = tmp_path / "t.jsonl"  # not read in chunks: the loader reads it, the engine counts it the same way
    wide["frame"].to_json(odd, orient="records", lines=True)
    assert_same_audit(ba.audit(ba.load(odd), probe=False), ba.audit(odd, probe=False))


def test_cli_engine_names_give_one_result(wide, tmp_path):
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    out = {}
    for engine in ("memory", "auto"):
        path = tmp_path / f"{engine}.json"
        res = CliRunner().invoke(cli, ["scan", str(wide["csv"]), "--engine", engine, "--chunk-size", "100",
                                       "--no-probe", "--format", "json", "-o", str(path), "-q", "--no-config"])
        assert res.exit_code == 0, res.output
        out[engine] = json.loads(path.read_text())
    key = [(f["id"], f["severity"], f["p_value"]) for f in out["memory"]["findings"]]
    assert key == [(f["id"], f["severity"], f["p_value"]) for f in out["auto"]["findings"]]


def test_without_a_sample_only_count_detectors_run(wide):
    b = ba.audit(wide["csv"], chunk_size=500, sample_rows=0, probe=False)
    eng = b.sections["engine"]
    assert eng["sample_rows"] == 0 and eng["skipped"] and eng["sample_readers"] == []
    assert {f.detector for f in b.findings} <= {"group_attribution", "conditional", "reporting", "label_quality",
                                                "overgeneralization", "proxies", "leakage"}
    assert "overgeneralization" in {f.detector for f in b.findings}
    exact = {f.id: f.p_value for f in wide["csv_audit"].findings if f.detector == "group_attribution"}
    assert {f.id: f.p_value for f in b.findings if f.detector == "group_attribution"} == exact


def test_dask_engine_without_dask_says_what_to_install(wide, monkeypatch):
    from biasaudit.engine import dask as distributed

    def no_module(name):
        raise ImportError(f"No module named {name!r}")
    monkeypatch.setattr(distributed, "import_module", no_module)
    with pytest.raises(distributed.DaskMissingError, match=r'pip install "biasaudit\[dask\]"'):
        distributed.read_dask(wide["csv"])


def test_config_bins_table_and_exclude(wide, tmp_path):
    from biasaudit.integrations.config import ConfigError, load_config
    path = tmp_path / "biasaudit.toml"
    path.write_text('exclude = ["comment"]\n[bins]\nage = [30, 50, 65]\nscore = 3\n')
    cfg = load_config(path)
    kw = cfg.audit_kwargs()
    assert kw["exclude"] == ["comment"] and kw["bins"] == {"age": [30, 50, 65], "score": 3}
    r = ba.audit(wide["frame"], probe=False, detectors=["group_attribution"], **kw)
    assert r.dataset["bins"]["age"] == [30.0, 50.0, 65.0] and len(r.dataset["bins"]["score"]) == 4  # 3 bins + tails
    assert "comment" in r.dataset["excluded"]
    cfg_file = tmp_path / "setup.cfg"
    cfg_file.write_text("[tool:biasaudit]\nbins =\n    age=30,50,65\n")
    assert ba.audit(wide["frame"], probe=False, detectors=["group_attribution"],
                    **load_config(cfg_file).audit_kwargs()).dataset["bins"]["age"] == [30.0, 50.0, 65.0]
    path.write_text('[bins]\nage = [50, 30]\n')
    with pytest.raises(ConfigError, match="increasing"):
        load_config(path)
