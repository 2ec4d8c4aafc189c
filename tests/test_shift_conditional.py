"""--compare beyond each column's distribution: the label given each attribute, and each attribute pair.

Oracles: ``scipy.stats.chi2_contingency`` per stratum (summed by hand), the deviance of the
no-three-way-interaction log-linear model fitted as a Poisson GLM by ``statsmodels``, brute-force
simulation of the conditional null, and the Waterbirds metadata (background x bird: 95 % agreement
in train, 50 % in test).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from biasaudit import audit, stats
from conftest import shared_path


def _glm_no_three_way(cube: np.ndarray) -> tuple[float, int]:
    """G^2 and df of log-linear [SA][SB][AB] by a Poisson GLM (statsmodels), dummy coded."""
    s_, a_, b_ = np.indices(cube.shape)
    df = pd.DataFrame({"y": cube.ravel(), "s": s_.ravel().astype(str), "a": a_.ravel().astype(str),
                       "b": b_.ravel().astype(str)})
    x = pd.get_dummies(df[["s", "a", "b"]], drop_first=True).astype(float)
    for u, v in (("s", "a"), ("s", "b"), ("a", "b")):
        for cu in [c for c in x.columns if c.startswith(u + "_") and ":" not in c]:
            for cv in [c for c in x.columns if c.startswith(v + "_") and ":" not in c]:
                x[f"{cu}:{cv}"] = x[cu] * x[cv]
    fit = sm.GLM(df["y"], sm.add_constant(x), family=sm.families.Poisson()).fit()
    return float(fit.deviance), int(fit.df_resid)


@pytest.mark.parametrize("seed", range(4))
def test_no_three_way_interaction_against_poisson_glm(seed):
    rng = np.random.default_rng(seed)
    cube = rng.integers(5, 60, size=(2, 3, 2 + seed % 2)).astype(float)
    g2, dof = _glm_no_three_way(cube)
    res = stats.no_three_way_interaction_test(cube)
    assert res["statistic"] == pytest.approx(g2, rel=1e-6, abs=1e-8) and res["dof"] == dof
    assert res["p_value"] == pytest.approx(sps.chi2.sf(g2, dof), rel=1e-5)


def test_conditional_independence_sum_of_strata():
    strata = np.array([[[40, 10], [25, 25]], [[5, 45], [20, 30]], [[30, 30], [28, 32]]])
    res = stats.conditional_independence_test(strata)
    x2 = sum(sps.chi2_contingency(s, correction=False).statistic for s in strata)
    assert res["statistic"] == pytest.approx(x2, rel=1e-12) and res["dof"] == 3
    assert res["p_value"] == pytest.approx(sps.chi2.sf(x2, 3), rel=1e-12)


def test_conditional_independence_monte_carlo_when_sparse():
    strata = np.array([[[3, 0], [0, 2]], [[1, 2], [2, 1]]])
    res = stats.conditional_independence_test(strata, rng=0)
    assert res["test"].startswith("conditional independence, Monte Carlo")
    # exact conditional distribution: every table with each stratum's margins, strata independent
    from math import comb
    dists = []
    for s in strata:
        cols, r0, n = s.sum(axis=0), s[0].sum(), s.sum()
        d = []
        for x in itertools.product(*[range(int(c) + 1) for c in cols]):
            if sum(x) == r0:
                t = np.array([x, cols - np.array(x)])
                p = np.prod([comb(int(c), int(v)) for c, v in zip(cols, x)]) / comb(int(n), int(r0))
                x2 = sps.chi2_contingency(t, correction=False).statistic if (t.sum(axis=1) > 0).all() else 0.0
                d.append((x2, p))
        dists.append(d)
    obs = res["statistic"]
    exact = sum(pa * pb for (xa, pa), (xb, pb) in itertools.product(*dists) if xa + xb >= obs * (1 - 1e-7))
    assert abs(res["p_value"] - exact) < 4 * res["mc_se"] + 1e-3


def test_waterbirds_background_bird_relation_shifts():
    meta = pd.read_csv(shared_path("waterbirds", "metadata.csv"))
    cols = ["y", "place"]
    train = meta.loc[meta["split"] == 0, cols].astype(str)
    test = meta.loc[meta["split"] == 2, cols].astype(str)
    r = audit(train, label="y", compare=test, detectors=["shift"])
    f = {x.id: x for x in r.findings}["selection:shift:y|place"]
    x2 = 0.0
    for p in ("0", "1"):
        t = np.array([[((d["place"] == p) & (d["y"] == v)).sum() for v in ("0", "1")] for d in (train, test)])
        x2 += sps.chi2_contingency(t, correction=False).statistic
    assert f.statistic == pytest.approx(x2, rel=1e-10) and f.details["dof"] == 2
    assert f.p_value > 0 and f.severity == "critical"
    # 1030 / 1216 water birds on water in train vs 642 / 2897 in test; 54 / 3579 vs 642 / 2897 on land
    w_tr, w_te, l_tr, l_te = 1030 / 1216, 642 / 2897, 54 / 3579, 642 / 2897
    n_w, n_l = 1216 + 2897, 3579 + 2897
    assert f.effect_size == pytest.approx((abs(w_tr - w_te) * n_w + abs(l_tr - l_te) * n_l) / (n_w + n_l), rel=1e-9)
