"""The stratified statistics of stats/: generalised CMH, CMH p-values, the Mantel-Haenszel risk difference.

Oracles: ``statsmodels.stats.contingency_tables.StratifiedTable`` (CMH statistic), ``scipy.stats.chi2``
(survival function), ``scipy.stats.chi2_contingency`` (one stratum), brute-force enumeration of every
label assignment (exact conditional distribution), a hand loop for the Mantel-Haenszel risk difference,
and STATISTICS.md §4.3 [TV C2a] (kidney stones, Charig et al. 1986).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import StratifiedTable

from biasaudit import stats
from biasaudit.stats import exact, gcmh


# ----------------------------------------------------------------------------- generalised CMH identities
def test_general_cmh_single_stratum_is_scaled_pearson():
    t = np.array([[30, 20], [25, 25], [10, 40]])
    res = stats.general_cmh(t[None])
    x2 = sps.chi2_contingency(t, correction=False).statistic
    assert res["statistic"] == pytest.approx((t.sum() - 1) / t.sum() * x2, rel=1e-10)
    assert res["p_value"] == pytest.approx(sps.chi2.sf(res["statistic"], 2), rel=1e-10) and res["dof"] == 2


def test_general_cmh_two_levels_is_cmh():
    strata = np.array([[[12, 30], [20, 25]], [[40, 10], [35, 22]], [[5, 5], [9, 3]]])
    res = stats.general_cmh(strata)
    ref = StratifiedTable([s.astype(float) for s in strata]).test_null_odds(correction=False)
    assert res["statistic"] == pytest.approx(ref.statistic, rel=1e-10) and res["dof"] == 1
    assert res["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)


def _brute_force(strata):
    """Exact conditional p of the generalised CMH by enumerating every label assignment in each stratum."""
    per = []
    for t in strata:
        level = np.repeat(np.arange(t.shape[0]), t.sum(axis=1))
        m = int(t[:, 0].sum())
        vecs = {}
        for pick in itertools.combinations(range(len(level)), m):
            v = tuple(np.bincount(level[list(pick)], minlength=t.shape[0]))
            vecs[v] = vecs.get(v, 0) + 1
        total = sum(vecs.values())
        per.append({k: v / total for k, v in vecs.items()})
    dist = {tuple([0] * strata.shape[1]): 1.0}
    for d in per:
        new = {}
        for a, pa in dist.items():
            for b, pb in d.items():
                k = tuple(np.add(a, b))
                new[k] = new.get(k, 0) + pa * pb
        dist = new
    return dist


def test_general_cmh_exact_against_brute_force():
    strata = np.array([[[2, 1], [0, 3], [1, 1]], [[1, 2], [2, 0], [0, 2]]])
    res = stats.general_cmh(strata)
    assert res["test"].startswith("exact")
    dist = _brute_force(strata)
    # Q of every support point with the null moments computed here
    x = strata[:, :, 0].astype(float)
    n = strata.sum(axis=2).astype(float)
    m, big = x.sum(axis=1), n.sum(axis=1)
    e = (n * (m / big)[:, None]).sum(axis=0)
    v = sum(m[k] * (big[k] - m[k]) / (big[k] ** 2 * (big[k] - 1)) * (big[k] * np.diag(n[k]) - np.outer(n[k], n[k]))
            for k in range(2))
    vinv = np.linalg.pinv(v)
    qf = {k: float((np.array(k) - e) @ vinv @ (np.array(k) - e)) for k in dist}
    q_obs = float((x.sum(axis=0) - e) @ vinv @ (x.sum(axis=0) - e))
    p = sum(pr for k, pr in dist.items() if qf[k] >= q_obs * (1 - 1e-7) - 1e-12)
    p_min = sum(pr for k, pr in dist.items() if qf[k] >= max(qf.values()) * (1 - 1e-7) - 1e-12)
    assert res["statistic"] == pytest.approx(q_obs, rel=1e-9)
    assert res["p_value"] == pytest.approx(p, rel=1e-9)
    assert res["p_min"] == pytest.approx(p_min, rel=1e-9)


def test_general_cmh_monte_carlo_close_to_exact(monkeypatch):
    strata = np.array([[[4, 2], [1, 5], [3, 3]], [[2, 4], [5, 1], [2, 2]]])
    exact = stats.general_cmh(strata)
    monkeypatch.setattr(gcmh, "MAX_EXACT_SUPPORT", 1)
    mc = stats.general_cmh(strata, rng=0)
    assert mc["test"].startswith("Monte Carlo") and mc["p_min"] == pytest.approx(1 / 10_000)
    se = math.sqrt(exact["p_value"] * (1 - exact["p_value"]) / gcmh.MC_DRAWS)
    assert abs(mc["p_value"] - exact["p_value"]) < 4 * se + 1e-4
    assert stats.general_cmh(strata, rng=0)["p_value"] == mc["p_value"]   # seeded: deterministic
    assert mc["mc_se"] == pytest.approx(math.sqrt(mc["p_value"] * (1 - mc["p_value"]) / gcmh.MC_DRAWS))


def test_generalized_cmh_statistic_only_agrees_with_general_cmh():
    strata = np.array([[[30, 20], [25, 25], [10, 40]], [[12, 30], [20, 25], [8, 8]]])
    q, dof, p = stats.generalized_cmh(strata)
    full = stats.general_cmh(strata)
    assert (q, dof) == (pytest.approx(full["statistic"], rel=1e-12), full["dof"])
    assert p == pytest.approx(sps.chi2.sf(q, 2), rel=1e-12)
    assert stats.generalized_cmh(np.array([[[3, 0], [4, 0]]])) == (0.0, 0, 1.0)   # no informative stratum


# ----------------------------------------------------------------------------- p-values never underflow
def test_cmh_p_from_survival_function_not_zero():
    # a strong effect: statsmodels' 1 - chi2.cdf is exactly 0, the survival function is not
    strata = [np.array([[110, 40], [40, 110]]), np.array([[100, 50], [35, 115]])]
    st_ = StratifiedTable([s.astype(float) for s in strata]).test_null_odds(correction=False)
    res = stats.cmh_test(strata)
    assert st_.pvalue == 0.0                                       # the underflow the tool must not inherit
    assert res.statistic == pytest.approx(st_.statistic, rel=1e-12)
    assert 0.0 < res.p_value < 1e-16
    assert res.p_value == pytest.approx(sps.chi2.sf(st_.statistic, 1), rel=1e-12)
    g = stats.general_cmh(np.stack(strata))
    assert 0.0 < g["p_value"] == pytest.approx(sps.chi2.sf(g["statistic"], 1), rel=1e-12)


def test_p_below_the_double_range_is_floored_not_zero():
    strata = [np.array([[900, 100], [100, 900]]), np.array([[800, 200], [150, 850]])]
    assert sps.chi2.sf(stats.cmh_test(strata).statistic, 1) == 0.0
    assert stats.cmh_test(strata).p_value == np.finfo(float).tiny
    assert stats.generalized_cmh(np.stack(strata))[2] == np.finfo(float).tiny


def test_kidney_stones_cmh_vector():
    # [TV C2a]: treatment A vs B, strata small / large stones
    strata = [np.array([[81, 6], [234, 36]]), np.array([[192, 71], [55, 25]])]
    res = stats.cmh_test(strata)
    assert res.statistic == pytest.approx(2.43386, rel=1e-5) and res.cmh_p == pytest.approx(0.118741, rel=1e-5)
    assert res.odds_ratio == pytest.approx(1.44685, rel=1e-5)
    assert stats.general_cmh(np.stack(strata))["statistic"] == pytest.approx(2.43386, rel=1e-5)


# ----------------------------------------------------------------------------- Mantel-Haenszel risk difference
def _rd_loop(strata):
    num = den = 0.0
    for (a, b), (c, d) in strata:
        n1, n0 = a + b, c + d
        if n1 and n0:
            num += (a * n0 - c * n1) / (n1 + n0)
            den += n1 * n0 / (n1 + n0)
    return num / den if den else math.nan


def test_mh_risk_difference_kidney_stones():
    strata = np.array([[[81, 6], [234, 36]], [[192, 71], [55, 25]]])
    # Greenland-Robins weights n1 n0 / N: by hand
    w = [87 * 270 / 357, 263 * 80 / 343]
    rd = [81 / 87 - 234 / 270, 192 / 263 - 55 / 80]
    assert stats.mh_risk_difference(strata) == pytest.approx(np.dot(w, rd) / sum(w), rel=1e-12)
    assert stats.mh_risk_difference(np.array([[[3, 1], [0, 0]]])) != stats.mh_risk_difference(np.array([[[3, 1], [0, 0]]]))


@given(st.lists(st.tuples(*[st.integers(0, 30)] * 4), min_size=1, max_size=6))
def test_mh_risk_difference_matches_loop_and_flips_sign(cells):
    strata = np.array(cells, dtype=float).reshape(-1, 2, 2)
    ref = _rd_loop(strata)
    got = stats.mh_risk_difference(strata)
    if math.isnan(ref):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-12)
        # swapping exposure rows, or the outcome columns, flips its sign
        assert stats.mh_risk_difference(strata[:, ::-1, :]) == pytest.approx(-ref, rel=1e-9, abs=1e-12)
        assert stats.mh_risk_difference(strata[:, :, ::-1]) == pytest.approx(-ref, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------- bounded exact enumerations
def test_freeman_halton_is_bounded_and_monte_carlo_agrees():
    # the case: 2 x 6, n = 240, about 2.9e7 tables: refused (bounded work), Monte Carlo instead
    t = np.array([[30, 25, 20, 20, 15, 4], [20, 25, 30, 30, 15, 6]])
    n_tables = stats.count_2xk_tables(t.sum(axis=1), t.sum(axis=0))
    assert n_tables > exact.MAX_EXACT_TABLES
    with pytest.raises(ValueError, match="freeman_halton_2xk_mc"):
        stats.freeman_halton_2xk(t)
    p, se = stats.freeman_halton_2xk_mc(t, n_draws=20_000, rng=1)
    # oracle: scipy's own Monte Carlo conditional test on the same table (probability ordering differs
    # from the chi-square ordering only in ties; at n = 240 both estimate the same tail closely)
    ref = sps.chi2_contingency(t, correction=False).pvalue
    assert abs(p - ref) < 5 * se + 0.01
    assert stats.freeman_halton_2xk_mc(t, n_draws=20_000, rng=1) == (p, se)   # seeded


def test_freeman_halton_monte_carlo_matches_exact_on_small_table():
    t = np.array([[1, 5, 0, 1, 0, 3], [2, 0, 1, 0, 1, 0]])                  # [TV A3]: exact p = 0.035964
    p, se = stats.freeman_halton_2xk_mc(t, n_draws=99_999, rng=0)
    assert abs(p - 0.035964) < 4 * se


@pytest.mark.parametrize("margins", [([3, 4], [2, 2, 3]), ([10, 12], [5, 7, 3, 7]), ([30, 30], [20, 20, 20])])
def test_count_2xk_tables_against_brute_force(margins):
    rows, cols = margins
    count = sum(1 for x in itertools.product(*[range(c + 1) for c in cols]) if sum(x) == rows[0])
    assert stats.count_2xk_tables(rows, cols) == count


def test_count_2xk_tables_large_margin_is_fast_and_close():
    # the float path (margin > 2,000) against the exact integer recursion run here
    rows, cols = [2500, 2600], [1000, 1500, 2600]
    coef = [1] + [0] * 2500
    for cj in cols:
        pre = [0]
        for v in coef:
            pre.append(pre[-1] + v)
        coef = [pre[s + 1] - pre[max(0, s - cj)] for s in range(2501)]
    assert stats.count_2xk_tables(rows, cols) == pytest.approx(coef[2500], rel=1e-9)


def test_exact_stratified_test_trimmed_equals_full_convolution():
    # rare exposure at large n (Mantel-Fleiss < 5): the trimmed convolution against the full one
    strata = [np.array([[1, 3000], [3, 6000]]), np.array([[0, 1500], [2, 2500]]), np.array([[2, 800], [0, 3000]])]
    pmf, lo_total = np.ones(1), 0
    for t in strata:
        r1, c1, n = t[0].sum(), t[:, 0].sum(), t.sum()
        lo, hi = max(0, r1 - (n - c1)), min(r1, c1)
        pmf = np.convolve(pmf, sps.hypergeom.pmf(np.arange(lo, hi + 1), n, c1, r1))
        lo_total += lo
    s_obs = sum(int(t[0, 0]) for t in strata) - lo_total
    p = pmf[pmf <= pmf[s_obs] * (1 + 1e-7)].sum()
    got, _ = stats.exact_stratified_test(strata)
    assert stats.mantel_fleiss(strata) < 5
    assert got == pytest.approx(p, rel=1e-12)
    assert stats.cmh_test(strata).p_value == pytest.approx(p, rel=1e-12)
