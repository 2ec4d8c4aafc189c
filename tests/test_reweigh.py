"""Reweighing (Kamiran & Calders), raking (IPF), weight files and re-auditing with them.

Oracles: pandas group sums written out in each test (P(g), P(y), P(g, y), weighted rates and
shares), ``scipy.stats.chi2_contingency`` on the weighted table, and the invariance of the
cross-product ratios under IPF (Bishop, Fienberg & Holland 1975, ch. 3).
Data: German credit (label credit, sensitive sex and housing) and the lecture table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from biasaudit import audit
from biasaudit.integrations.cli import cli
from biasaudit.errors import DataError
from biasaudit.tools.reweigh import (
    ipf,
    kish_n_eff,
    rake,
    read_weight_file,
    reweigh,
    write_weights,
)
from conftest import DATASETS


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    return pd.read_csv(DATASETS / "german_credit.csv")


def weighted_rate(df, w, by, label, positive):
    d = df.assign(_w=w, _p=(df[label] == positive) * w)
    g = d.groupby(by)[["_p", "_w"]].sum()
    return g["_p"] / g["_w"]


def test_kamiran_calders_weights_equal_the_formula(german):
    res = reweigh(german, label="credit", sensitive=["sex"])
    n = len(german)
    p_g = german["sex"].value_counts() / n
    p_y = german["credit"].value_counts() / n
    p_gy = german.groupby(["sex", "credit"]).size() / n
    expected = np.array([p_g[s] * p_y[c] / p_gy[(s, c)] for s, c in zip(german["sex"], german["credit"])])
    np.testing.assert_allclose(res.weights, expected, rtol=1e-12)
    assert res.method == "kamiran-calders" and res.converged
    # totals of every group and every label are kept
    assert res.weights.sum() == pytest.approx(n)
    for col in ("sex", "credit"):
        got = pd.Series(res.weights).groupby(german[col].to_numpy()).sum()
        np.testing.assert_allclose(got.sort_index(), german[col].value_counts().sort_index(), rtol=1e-12)


def test_weighted_disparate_impact_is_one(german):
    res = reweigh(german, label="credit", sensitive=["sex"])
    before = weighted_rate(german, np.ones(len(german)), "sex", "credit", "bad")
    after = weighted_rate(german, res.weights, "sex", "credit", "bad")
    assert before.min() / before.max() < 0.8          # 27.7% vs 35.2%: the four-fifths rule fails
    di = after.min() / after.max()
    assert 0.99 <= di <= 1.01
    assert di == pytest.approx(1.0, abs=1e-12)
    # the summary the command prints says the same
    assert any("disparate impact 0.787 -> 1.000" in line for line in res.lines())


def test_two_attributes_make_the_label_independent_of_their_joint(german):
    res = reweigh(german, label="credit", sensitive=["sex", "housing"])
    t = pd.crosstab([german["sex"], german["housing"]], german["credit"], values=res.weights, aggfunc="sum")
    n = t.to_numpy().sum()
    outer = np.outer(t.sum(axis=1), t.sum(axis=0)) / n
    np.testing.assert_allclose(t.to_numpy(), outer, rtol=1e-10)
    assert len(res.cells) == 12 and res.max_abs_error < 1e-12


def test_rake_reproduces_the_given_margins(german):
    ref = pd.DataFrame({"attribute": ["sex", "sex", "housing", "housing", "housing"],
                        "value": ["female", "male", "own", "rent", "for free"],
                        "share": [0.5, 0.5, 0.6, 0.3, 0.1]})
    res = rake(german, ref, label="credit")
    assert res.converged and res.method == "raking" and res.iterations >= 2
    assert res.max_abs_error <= 1e-6
    w = res.weights
    for _, r in ref.iterrows():
        share = w[(german[r["attribute"]] == r["value"]).to_numpy()].sum() / w.sum()
        assert abs(share - r["share"]) <= 1e-6
    assert w.sum() == pytest.approx(len(german))
    # IPF keeps the cross-product ratios of the sample (it changes margins only)
    t0 = pd.crosstab(german["sex"], german["housing"]).to_numpy(dtype=float)
    t1 = pd.crosstab(german["sex"], german["housing"], values=w, aggfunc="sum").to_numpy()
    for j in range(1, 3):
        or0 = t0[0, 0] * t0[1, j] / (t0[0, j] * t0[1, 0])
        or1 = t1[0, 0] * t1[1, j] / (t1[0, j] * t1[1, 0])
        assert or1 == pytest.approx(or0, rel=1e-9)


def test_rake_to_a_joint_and_a_margin(german):
    ref = pd.DataFrame({"attribute": ["sex|credit"] * 4 + ["housing"] * 3,
                        "value": ["female|bad", "female|good", "male|bad", "male|good", "own", "rent", "for free"],
                        "share": [0.15, 0.35, 0.15, 0.35, 0.5, 0.3, 0.2]})
    res = rake(german, ref, label="credit")
    assert res.converged
    w = res.weights / res.weights.sum()
    joint = pd.Series(w).groupby([german["sex"], german["credit"]]).sum()
    assert joint[("female", "bad")] == pytest.approx(0.15, abs=1e-6)
    assert joint[("male", "good")] == pytest.approx(0.35, abs=1e-6)
    assert pd.Series(w).groupby(german["housing"]).sum()["for free"] == pytest.approx(0.2, abs=1e-6)


def test_ipf_reports_non_convergence_when_margins_conflict():
    # a and b always agree, so their margins cannot differ
    a = np.array([0, 0, 1, 1])
    b = a.copy()
    w, it, err, ok = ipf([(a, np.array([0.5, 0.5])), (b, np.array([0.3, 0.7]))], np.ones(4), max_iter=50)
    assert not ok and it == 50 and err > 0.1


def test_rake_refuses_a_reference_cell_without_rows(german):
    ref = pd.DataFrame({"attribute": ["housing"] * 3, "value": ["own", "rent", "castle"], "share": [0.5, 0.3, 0.2]})
    with pytest.raises(DataError, match="castle"):
        rake(german, ref, label="credit")


def test_kish_effective_sample_size():
    w = np.array([1.0, 2.0, 3.0])
    assert kish_n_eff(w) == pytest.approx(36 / 14)
    assert kish_n_eff(np.ones(7)) == pytest.approx(7)


def test_weight_file_by_id_and_by_order(tmp_path):
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    res = reweigh(df, label="species", sensitive=["size"])
    assert res.id_column == "id"
    path = tmp_path / "w.csv"
    write_weights(res, path)
    assert [p.name for p in tmp_path.iterdir()] == ["w.csv"]       # atomic: no temporary file left
    back = pd.read_csv(path)
    assert list(back.columns) == ["id", "weight"]
    # matched by id whatever the file's order
    shuffled = back.sample(frac=1, random_state=1)
    np.testing.assert_allclose(read_weight_file(shuffled, df), res.weights, rtol=1e-15)
    # without an id column: row order, one weight per row
    np.testing.assert_allclose(read_weight_file(back[["weight"]], df), res.weights)
    with pytest.raises(DataError, match="13 weights for 14 data rows"):
        read_weight_file(back[["weight"]].iloc[:13], df)
    with pytest.raises(DataError, match="no weight"):
        read_weight_file(back.iloc[:13], df)
    with pytest.raises(DataError, match="non-negative"):
        read_weight_file(back.assign(weight=-1.0), df)
    with pytest.raises(DataError, match="column 'weight'"):
        read_weight_file(back.rename(columns={"weight": "w"}), df)


def test_scan_with_the_weights_loses_the_disparity(german, tmp_path):
    before = audit(german, label="credit", sensitive=["sex"], detectors=["group_attribution"], probe=False)
    f0 = next(f for f in before.findings if f.id == "group_attribution:sex:label=credit")
    t = pd.crosstab(german["sex"], german["credit"]).to_numpy()
    from scipy.stats import chi2_contingency
    assert f0.p_value == pytest.approx(chi2_contingency(t, correction=False).pvalue, rel=1e-9)
    assert f0.p_value < 0.05
    path = tmp_path / "weights.csv"
    write_weights(reweigh(german, label="credit", sensitive=["sex"]), path)
    after = audit(german, label="credit", sensitive=["sex"], detectors=["group_attribution"], probe=False,
                  weight_file=str(path))
    f1 = next(f for f in after.findings if f.id == "group_attribution:sex:label=credit")
    assert f1.p_value > 0.5 and not f1.established
    # the test saw the weighted table scaled to Kish's n_eff and rounded, computed here by hand
    w = pd.read_csv(path)["weight"].to_numpy()
    scaled = w * kish_n_eff(w) / w.sum()
    tw = np.rint(pd.crosstab(german["sex"], german["credit"], values=scaled, aggfunc="sum").to_numpy())
    assert f1.p_value == pytest.approx(chi2_contingency(tw, correction=False).pvalue, rel=1e-9)
    assert any("n_eff=" in note for note in after.dataset["notes"])


def test_cli_reweigh_then_scan(tmp_path):
    runner = CliRunner()
    out = tmp_path / "weights.csv"
    data = DATASETS / "german_credit.csv"
    r = runner.invoke(cli, ["reweigh", str(data), "-l", "credit", "-s", "sex", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "disparate impact 0.787 -> 1.000" in r.output and "--weight-file" in r.output
    assert pd.read_csv(out).shape == (1000, 1)
    js = tmp_path / "r.json"
    r = runner.invoke(cli, ["scan", str(data), "-l", "credit", "-s", "sex", "--no-probe", "--weight-file", str(out),
                            "--format", "json", "-o", str(js), "-q"])
    assert r.exit_code == 0, r.output
    import json
    found = {f["id"]: f for f in json.loads(js.read_text())["findings"]}
    assert found["group_attribution:sex:label=credit"]["p_value"] > 0.5
    # raking through the command
    ref = tmp_path / "ref.csv"
    pd.DataFrame({"attribute": ["sex", "sex"], "value": ["female", "male"],
                  "share": [0.5, 0.5]}).to_csv(ref, index=False)
    r = runner.invoke(cli, ["reweigh", str(data), "-l", "credit", "--reference", str(ref), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "converged" in r.output
    w = pd.read_csv(out)["weight"].to_numpy()
    sex = pd.read_csv(data)["sex"].to_numpy()
    assert w[sex == "female"].sum() / w.sum() == pytest.approx(0.5, abs=1e-6)


def test_cli_reweigh_needs_attributes(tmp_path):
    r = CliRunner().invoke(cli, ["reweigh", str(DATASETS / "german_credit.csv"), "-l", "credit",
                                 "-o", str(tmp_path / "w.csv")])
    assert r.exit_code == 2 and "-s" in r.output
