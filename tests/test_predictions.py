"""A model's predictions by group: confusion counts, error-rate disparities, calibration.

Oracles: pandas ``crosstab`` of (group, truth, prediction) for every count and rate,
``scipy.stats.chi2_contingency`` (no Yates) / ``scipy.stats.fisher_exact`` on each metric's own
sub-table with the test chosen by Cochran's rule as STATISTICS.md §1.1 says, Tarone's p_min by
enumerating every 2 x 2 table with the same margins, statsmodels' ``StratifiedTable`` for the
calibration test, and the Mantel-Haenszel risk difference written out.
Data: COMPAS with ProPublica's filter (label two_year_recid, positive 1; decile_score >= 5 is
ProPublica's Medium/High), and small tables built here.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats as sps
from scipy.stats.contingency import expected_freq
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import proportion_confint

from biasaudit import audit
from biasaudit.integrations.cli import cli
from biasaudit.errors import DataError
from conftest import load_compas

METRIC_COLUMNS = ["attribute", "group", "n", "tp", "fp", "tn", "fn", "tpr", "fpr", "fnr", "ppv", "selection_rate"]


def cochran(t) -> bool:
    e = expected_freq(np.asarray(t))
    return bool((e >= 1).all() and (e < 5).mean() <= 0.2)


def oracle_p(t) -> tuple[str, float]:
    """The test §1.1 prescribes for a 2 x 2, run with scipy directly."""
    t = np.asarray(t)
    if cochran(t):
        return "Pearson chi-square", float(sps.chi2_contingency(t, correction=False).pvalue)
    return "Fisher exact (two-sided)", float(sps.fisher_exact(t).pvalue)


def fisher_pmin(t) -> float:
    t = np.asarray(t)
    r1, c1, n = t[0].sum(), t[:, 0].sum(), t.sum()
    ps = [sps.fisher_exact([[a, r1 - a], [c1 - a, n - r1 - c1 + a]]).pvalue
          for a in range(max(0, r1 + c1 - n), min(r1, c1) + 1)]
    return float(min(ps))


def pandas_confusion(df, group, truth, pred) -> pd.DataFrame:
    d = pd.DataFrame({"g": df[group].astype(str), "y": truth, "p": pred})
    out = pd.DataFrame({
        "tp": d[d.y & d.p].groupby("g").size(), "fp": d[~d.y & d.p].groupby("g").size(),
        "tn": d[~d.y & ~d.p].groupby("g").size(), "fn": d[d.y & ~d.p].groupby("g").size()}).fillna(0)
    out["n"] = out.sum(axis=1)
    out["tpr"] = out.tp / (out.tp + out.fn)
    out["fpr"] = out.fp / (out.fp + out.tn)
    out["fnr"] = out.fn / (out.tp + out.fn)
    out["ppv"] = out.tp / (out.tp + out.fp)
    out["selection_rate"] = (out.tp + out.fp) / out.n
    return out


@pytest.fixture(scope="module")
def compas_result():
    d = load_compas().drop(columns=["score_text"])
    res = audit(d, label="two_year_recid", sensitive=["race", "sex"], score="decile_score", threshold=5,
                reference_group={"race": "Caucasian"}, detectors=["predictions"], probe=False)
    return d, res


def test_compas_confusion_metrics_equal_pandas(compas_result):
    d, res = compas_result
    truth = (d["two_year_recid"] == 1).to_numpy()
    pred = (d["decile_score"] >= 5).to_numpy()           # ProPublica's Medium/High
    got = pd.DataFrame(res.sections["predictions"]["prediction_metrics"])
    assert set(METRIC_COLUMNS) <= set(got.columns)
    for attr in ("race", "sex"):
        want = pandas_confusion(d, attr, truth, pred)
        mine = got[got.attribute == attr].set_index("group")
        assert sorted(mine.index) == sorted(want.index)
        for col in ["n", "tp", "fp", "tn", "fn", "tpr", "fpr", "fnr", "ppv", "selection_rate"]:
            np.testing.assert_allclose(mine.loc[want.index, col].astype(float), want[col], rtol=1e-12, err_msg=col)
    # the worked example: false positive rates of African-American and Caucasian defendants
    want = pandas_confusion(d, "race", truth, pred)
    fpr_b, fpr_w = want.loc["African-American", "fpr"], want.loc["Caucasian", "fpr"]
    assert fpr_b == pytest.approx(641 / 1514) and fpr_w == pytest.approx(282 / 1281)
    f = {x.id: x for x in res.findings}["prediction_disparity:race=African-American:fpr:vs=Caucasian"]
    assert f.effect_size == pytest.approx(fpr_b - fpr_w, rel=1e-12)
    assert f.details["ratio"] == pytest.approx(fpr_b / fpr_w, rel=1e-12)
    assert f.bias_type == "prediction_disparity" and f.in_family and f.established
    # Wilson interval of the group's FPR
    lo, hi = proportion_confint(641, 1514, alpha=0.05, method="wilson")
    row = got[(got.attribute == "race") & (got.group == "African-American")].iloc[0]
    assert (row["fpr_ci_low"], row["fpr_ci_high"]) == pytest.approx((lo, hi))
    assert f.ci_low == pytest.approx(lo) and f.ci_high == pytest.approx(hi)


def test_compas_each_disparity_is_tested_on_its_own_sub_table(compas_result):
    d, res = compas_result
    truth = (d["two_year_recid"] == 1).to_numpy()
    pred = (d["decile_score"] >= 5).to_numpy()
    c = pandas_confusion(d, "race", truth, pred)
    found = {x.id: x for x in res.findings}
    subs = {"fpr": ("fp", "tn"), "fnr": ("fn", "tp"), "ppv": ("tp", "fp"), "selection_rate": None}
    seen_tests = set()
    for g in c.index:
        if g == "Caucasian":
            continue
        for metric, cells in subs.items():
            if cells is None:
                a, b = c.loc[g, "tp"] + c.loc[g, "fp"], c.loc[g, "tn"] + c.loc[g, "fn"]
                a0, b0 = (c.loc["Caucasian", "tp"] + c.loc["Caucasian", "fp"],
                          c.loc["Caucasian", "tn"] + c.loc["Caucasian", "fn"])
            else:
                a, b = c.loc[g, cells[0]], c.loc[g, cells[1]]
                a0, b0 = c.loc["Caucasian", cells[0]], c.loc["Caucasian", cells[1]]
            t = np.array([[a, b], [a0, b0]], dtype=int)
            f = found[f"prediction_disparity:race={g}:{metric}:vs=Caucasian"]
            name, p = oracle_p(t)
            assert f.test == name, (g, metric)
            assert f.p_value == pytest.approx(p, rel=1e-9), (g, metric)
            assert f.details["table2x2"] == t.tolist()
            if name.startswith("Fisher"):
                assert f.p_min == pytest.approx(fisher_pmin(t), rel=1e-9)
            seen_tests.add(name)
    # both branches of §1.1 occur: Native American (6 true negatives) gets Fisher, the large groups Pearson
    assert seen_tests == {"Pearson chi-square", "Fisher exact (two-sided)"}
    # one r x 2 test per metric across the six groups, as chi2_contingency on the sub-table
    f = found["prediction_disparity:race:fpr"]
    t = c[["fp", "tn"]].to_numpy(dtype=int)
    assert cochran(t)  # 2 of 12 expected counts below 5: Cochran's rule holds, Pearson
    assert f.test == "Pearson chi-square"
    assert f.p_value == pytest.approx(sps.chi2_contingency(t, correction=False).pvalue, rel=1e-9)
    assert f.in_family and res.family_size >= sum(1 for x in res.findings if x.in_family)


def test_compas_equalized_odds_and_json(compas_result):
    d, res = compas_result
    truth = (d["two_year_recid"] == 1).to_numpy()
    pred = (d["decile_score"] >= 5).to_numpy()
    c = pandas_confusion(d, "race", truth, pred)
    eod = {e["attribute"]: e for e in res.sections["predictions"]["equalized_odds"]}["race"]
    want = max(c.tpr.max() - c.tpr.min(), c.fpr.max() - c.fpr.min())
    assert eod["equalized_odds_difference"] == pytest.approx(want, rel=1e-12)
    js = json.loads(res.to_json())
    rows = js["predictions"]["prediction_metrics"]
    assert all(set(METRIC_COLUMNS) <= set(r) for r in rows)
    assert any("decile_score >= 5" in line for line in js["predictions"]["text"])


def test_compas_calibration_by_decile(compas_result):
    d, res = compas_result
    f = {x.id: x for x in res.findings}["prediction_disparity:race=African-American:calibration:vs=Caucasian"]
    strata = []
    for s in range(1, 11):
        sub = d[d.decile_score == s]
        b, w = sub[sub.race == "African-American"], sub[sub.race == "Caucasian"]
        strata.append(np.array([[(b.two_year_recid == 1).sum(), (b.two_year_recid == 0).sum()],
                                [(w.two_year_recid == 1).sum(), (w.two_year_recid == 0).sum()]]))
    st = StratifiedTable([t.astype(float) for t in strata])
    assert f.test == "Cochran-Mantel-Haenszel chi-square"
    assert f.p_value == pytest.approx(st.test_null_odds(correction=False).pvalue, rel=1e-9)
    num = sum((t[0, 0] * t[1].sum() - t[1, 0] * t[0].sum()) / t.sum() for t in strata)
    den = sum(t[0].sum() * t[1].sum() / t.sum() for t in strata)
    assert f.effect_size == pytest.approx(num / den, rel=1e-9)
    cal = pd.DataFrame(res.sections["predictions"]["calibration"])
    row = cal[(cal.attribute == "race") & (cal.group == "Caucasian") & (cal.bin == "10")].iloc[0]
    sub = d[(d.race == "Caucasian") & (d.decile_score == 10)]
    assert row["n"] == len(sub) and row["rate"] == pytest.approx(sub.two_year_recid.mean())


def small_frame() -> pd.DataFrame:
    """Three groups, hard predictions 'hi'/'lo', a planted false-positive excess for a=x and b=u."""
    rng = np.random.default_rng(3)
    n = 600
    a = rng.choice(["x", "y", "z"], n, p=[0.4, 0.4, 0.2])
    b = rng.choice(["u", "v"], n)
    y = rng.random(n) < 0.4
    p_pos = np.where(y, 0.7, np.where((a == "x") & (b == "u"), 0.6, 0.15))
    pred = np.where(rng.random(n) < p_pos, "hi", "lo")
    return pd.DataFrame({"a": a, "b": b, "pred": pred, "y": np.where(y, "yes", "no")})


def test_hard_predictions_intersections_and_exclusion():
    df = small_frame()
    res = audit(df, label="y", positive="yes", prediction="pred", predicted_positive=["hi"],
                detectors=["predictions"], probe=False)
    assert "pred" not in res.dataset["attributes"]
    assert {c["name"]: c["kind"] for c in res.dataset["columns"]}["pred"] == "prediction"
    truth, pred = (df.y == "yes").to_numpy(), (df.pred == "hi").to_numpy()
    got = pd.DataFrame(res.sections["predictions"]["prediction_metrics"]).set_index(["attribute", "group"])
    want = pandas_confusion(df, "a", truth, pred)
    np.testing.assert_allclose(got.loc["a"].loc[want.index, "fpr"].astype(float), want.fpr)
    found = {f.id: f for f in res.findings}
    cell = (df.a == "x") & (df.b == "u")
    neg = ~truth
    t = np.array([[(cell & neg & pred).sum(), (cell & neg & ~pred).sum()],
                  [(~cell & neg & pred).sum(), (~cell & neg & ~pred).sum()]])
    f = found["prediction_disparity:a=x,b=u:fpr"]
    name, p = oracle_p(t)
    assert f.kind == "intersection" and f.test == name and f.p_value == pytest.approx(p, rel=1e-9)
    assert f.established and f.effect_size > 0.2
    # the three-group omnibus for the FPR is Pearson on the 3 x 2 sub-table
    tt = want[["fp", "tn"]].to_numpy(dtype=int)
    assert cochran(tt)
    assert found["prediction_disparity:a:fpr"].p_value == pytest.approx(
        sps.chi2_contingency(tt, correction=False).pvalue, rel=1e-9)


def test_small_counts_use_fisher_and_its_pmin():
    df = pd.DataFrame({"g": ["a"] * 8 + ["b"] * 8,
                       "y": [0, 0, 0, 0, 0, 1, 1, 1] * 2,
                       "pred": [1, 1, 1, 1, 0, 1, 1, 1] + [0, 0, 0, 0, 0, 1, 1, 0]})
    res = audit(df, label="y", positive="1", prediction="pred", detectors=["predictions"], probe=False)
    f = {x.id: x for x in res.findings}["prediction_disparity:g=b:fpr:vs=a"]
    t = [[0, 5], [4, 1]]
    assert f.test == "Fisher exact (two-sided)"
    assert f.p_value == pytest.approx(sps.fisher_exact(t).pvalue)
    assert f.p_min == pytest.approx(fisher_pmin(t))


def test_no_predictions_no_op():
    df = small_frame()
    res = audit(df, label="y", detectors=["predictions"], probe=False)
    assert "predictions" not in res.sections and not res.findings


def test_bad_inputs_are_explained():
    df = small_frame()
    with pytest.raises(DataError, match="predicted-positive"):
        audit(df, label="y", positive="yes", prediction="pred", detectors=["predictions"], probe=False)
    with pytest.raises(DataError, match="None of the predicted-positive"):
        audit(df, label="y", prediction="pred", predicted_positive="maybe", detectors=["predictions"], probe=False)
    with pytest.raises(DataError, match="threshold"):
        audit(df.assign(s=np.arange(len(df))), label="y", score="s", detectors=["predictions"], probe=False)
    with pytest.raises(DataError, match="sensitive"):
        audit(df, label="y", sensitive=["pred"], prediction="pred", detectors=["predictions"], probe=False)


def test_row_order_and_group_names_change_nothing():
    df = small_frame()
    kw = dict(label="y", positive="yes", prediction="pred", predicted_positive=["hi"], detectors=["predictions"],
              probe=False)
    r1 = audit(df, **kw)
    r2 = audit(df.sample(frac=1, random_state=5).replace({"a": {"x": "X1", "y": "Y1", "z": "Z1"}}), **kw)
    p1 = sorted(round(f.p_value, 12) for f in r1.findings)
    p2 = sorted(round(f.p_value, 12) for f in r2.findings)
    assert p1 == p2


def test_cli_prediction_options(tmp_path):
    path = tmp_path / "d.csv"
    small_frame().to_csv(path, index=False)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(cli, ["scan", str(path), "-l", "y", "--positive", "yes", "--prediction", "pred",
                                 "--predicted-positive", "hi", "--no-probe", "--format", "json", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    js = json.loads(out.read_text())
    assert js["predictions"]["rule"] == "pred in {hi}"
    assert any(f["bias_type"] == "prediction_disparity" for f in js["findings"])
