"""The formulas that moved into biasaudit.stats from the detectors and tools, against scipy,
statsmodels, exact rational arithmetic or published numbers, with property tests of their invariants.

* ``stats.celltail``: the one-sided cell tests and their intersection-union maximum (coverage scan
  and claims share them);
* ``stats.leaves``: the probe's leaf tests;
* ``stats.coincidence``: the duplicate-row baseline and Poisson tails;
* ``clopper_pearson_upper``, ``binomial_p``, ``min_detectable_w``, ``two_sample_null_tvd``,
  ``mutual_info_bias``.
"""
from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.power import GofChisquarePower
from statsmodels.stats.proportion import proportion_confint

import biasaudit.stats as bs
from oracles import exact_pmf, hypergeom_tables

FAST = settings(max_examples=60, deadline=None)


def _exact_lower(x, M, K, N) -> float:
    return float(sum((exact_pmf(y, M, K, N) for y in range(0, x + 1)), Fraction(0)))


def _exact_upper(x, M, K, N) -> float:
    return float(sum((exact_pmf(y, M, K, N) for y in range(max(x, 0), N + 1)), Fraction(0)))


@st.composite
def cells(draw, max_n=60):
    """(obs, s, n_label, n) of a consistent cell: obs <= s <= n, obs <= n_label, s - obs <= n - n_label."""
    n = draw(st.integers(1, max_n))
    n_label = draw(st.integers(0, n))
    s = draw(st.integers(0, n))
    obs = draw(st.integers(max(0, s - (n - n_label)), min(s, n_label)))
    return obs, s, n_label, n


# ----------------------------------------------------------------------------- hypergeom_tail
@pytest.mark.parametrize("x, M, K, N", [(0, 20, 7, 5), (2, 20, 7, 5), (5, 20, 7, 5), (3, 50, 25, 10),
                                         (0, 1000, 3, 400), (12, 200, 30, 60), (1, 10, 10, 3)])
def test_hypergeom_tail_against_exact_fractions_and_scipy(x, M, K, N):
    lower = float(bs.hypergeom_tail(x, M, K, N))
    upper = float(bs.hypergeom_tail(x, M, K, N, upper=True))
    assert lower == pytest.approx(_exact_lower(x, M, K, N), rel=1e-12)
    assert upper == pytest.approx(_exact_upper(x, M, K, N), rel=1e-12)
    assert lower == pytest.approx(sps.hypergeom.cdf(x, M, K, N), rel=1e-10)
    assert upper == pytest.approx(sps.hypergeom.sf(x - 1, M, K, N), rel=1e-10)


def test_hypergeom_tail_two_labels_from_one_summation():
    """(C, 2) arrays of a label and its complement: each column equals its own scalar tail, and
    listing the labels the other way round swaps the columns exactly (name invariance)."""
    n, nl0, s = 120, 45, np.array([10, 30, 60, 1])
    obs0 = np.array([1, 11, 30, 0])
    x = np.stack([obs0, s - obs0], axis=1)
    K = np.broadcast_to(np.array([nl0, n - nl0]), x.shape)
    N = np.stack([s, s], axis=1)
    out = bs.hypergeom_tail(x, n, K, N)
    for i in range(len(s)):
        assert out[i, 0] == pytest.approx(sps.hypergeom.cdf(x[i, 0], n, nl0, s[i]), rel=1e-10)
        assert out[i, 1] == pytest.approx(sps.hypergeom.cdf(x[i, 1], n, n - nl0, s[i]), rel=1e-10)
    swapped = bs.hypergeom_tail(x[:, ::-1], n, K[:, ::-1], N)
    assert np.array_equal(swapped, out[:, ::-1])


def test_hypergeom_tail_columns_that_are_not_complements_are_computed_one_by_one():
    x = np.array([[2, 3]])
    K, N = np.array([[10, 12]]), np.array([[8, 8]])
    out = bs.hypergeom_tail(x, 40, K, N)
    assert out[0, 0] == pytest.approx(sps.hypergeom.cdf(2, 40, 10, 8), rel=1e-10)
    assert out[0, 1] == pytest.approx(sps.hypergeom.cdf(3, 40, 12, 8), rel=1e-10)


@FAST
@given(hypergeom_tables())
def test_hypergeom_tail_properties(args):
    x, M, K, N = args
    lo = float(bs.hypergeom_tail(x, M, K, N))
    up = float(bs.hypergeom_tail(x, M, K, N, upper=True))
    assert 0.0 <= lo <= 1.0 + 1e-12 and 0.0 <= up <= 1.0 + 1e-12
    # monotone: the lower tail grows with x, the upper tail shrinks
    assert float(bs.hypergeom_tail(x + 1, M, K, N)) >= lo - 1e-12
    assert float(bs.hypergeom_tail(x + 1, M, K, N, upper=True)) <= up + 1e-12
    # P(X <= x) + P(X >= x + 1) = 1
    assert lo + float(bs.hypergeom_tail(x + 1, M, K, N, upper=True)) == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- one_sided_p, iut
@pytest.mark.parametrize("obs, s, n_label, n", [(0, 8, 30, 100), (3, 20, 30, 100), (10, 12, 50, 60),
                                                 (0, 5, 1, 6), (4, 4, 4, 4)])
def test_one_sided_p_is_fishers_exact_test(obs, s, n_label, n):
    table = [[obs, s - obs], [n_label - obs, n - s - n_label + obs]]
    p, p_min = bs.one_sided_p(obs, s, n_label, n)
    assert p == pytest.approx(sps.fisher_exact(table, alternative="less").pvalue, rel=1e-10)
    assert p_min == pytest.approx(sps.hypergeom.cdf(max(0, s - (n - n_label)), n, n_label, s), rel=1e-10)
    pu, pu_min = bs.one_sided_p(obs, s, n_label, n, upper=True)
    assert pu == pytest.approx(sps.fisher_exact(table, alternative="greater").pvalue, rel=1e-10)
    assert pu_min == pytest.approx(sps.hypergeom.pmf(min(s, n_label), n, n_label, s), rel=1e-10)
    # the depletion test of the coverage scan is the same number
    assert p == pytest.approx(bs.depletion_test(obs, s, n_label, n)[0], rel=1e-15)


@pytest.mark.parametrize("args", [(0, 0, 5, 10), (0, 0, 0, 0)])
def test_one_sided_p_of_an_empty_cell_is_one(args):
    assert bs.one_sided_p(*args) == (1.0, 1.0)
    assert bs.one_sided_p(*args, upper=True) == (1.0, 1.0)


# the lecture's "no small white dogs": cell 0 of 11 DOG; parents size=small (31 rows, 9 DOG) and
# color=white (25 rows, 13 DOG); 100 rows, 55 DOG (counts chosen by hand)
IUT_CASES = [
    (0, 11, 55, 100, [(31, 9), (25, 13)]),
    (2, 20, 40, 200, [(60, 15)]),
    (5, 9, 30, 90, [(40, 20), (15, 8), (30, 12)]),
    (3, 10, 20, 50, []),
]


@pytest.mark.parametrize("obs, s, n_label, n, parents", IUT_CASES)
@pytest.mark.parametrize("upper", [False, True])
def test_iut_p_is_the_largest_test_over_the_parents(obs, s, n_label, n, parents, upper):
    models = [(n, n_label)] + parents
    if upper:
        expected = max(sps.hypergeom.sf(obs - 1, m, k, s) for m, k in models)
        x_star = min(min(s, k) for m, k in models)
        expected_min = max(sps.hypergeom.sf(x_star - 1, m, k, s) for m, k in models)
    else:
        expected = max(sps.hypergeom.cdf(obs, m, k, s) for m, k in models)
        x_star = max(max(0, s - (m - k)) for m, k in models)
        expected_min = max(sps.hypergeom.cdf(x_star, m, k, s) for m, k in models)
    assert bs.iut_p(obs, s, n_label, n, parents, upper) == pytest.approx(min(expected, 1.0), rel=1e-10)
    assert bs.iut_p_min(s, n_label, n, parents, upper) == pytest.approx(expected_min, rel=1e-10)


@pytest.mark.parametrize("obs, s, n_label, n, parents", IUT_CASES)
def test_iut_depletion_p_of_the_planner_is_iut_p(obs, s, n_label, n, parents):
    vec = [obs, s, n_label, n] + [v for sp, lp in parents for v in (sp, lp)]
    assert bs.iut_depletion_p(vec) == bs.iut_p(obs, s, n_label, n, parents)


@FAST
@given(cells(), st.booleans())
def test_one_sided_and_iut_properties(cell, upper):
    obs, s, n_label, n = cell
    p, p_min = bs.one_sided_p(obs, s, n_label, n, upper)
    assert 0.0 <= p_min <= p * (1 + 1e-9) + 1e-300 and p <= 1.0
    # the parent "the whole data again" repeats the overall test: the IUT p is that p
    assert bs.iut_p(obs, s, n_label, n, [(n, n_label)], upper) == pytest.approx(p, rel=1e-12)
    # adding a parent can only raise the IUT p; p_min never exceeds p
    parent = (n, max(obs, min(n_label + 1, n - (s - obs))))
    with_parent = bs.iut_p(obs, s, n_label, n, [parent], upper)
    assert with_parent >= p * (1 - 1e-12)
    assert bs.iut_p_min(s, n_label, n, [parent], upper) <= with_parent * (1 + 1e-9) + 1e-300


# ----------------------------------------------------------------------------- clopper_pearson_upper
@pytest.mark.parametrize("k, n", [(1, 10), (3, 10), (9, 10), (5, 100), (40, 1000), (1, 2)])
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
def test_clopper_pearson_upper_against_beta_quantile_and_statsmodels(k, n, alpha):
    ub = float(bs.clopper_pearson_upper(k, n, alpha)[0])
    assert ub == pytest.approx(sps.beta.ppf(1 - alpha, k + 1, n - k), rel=1e-10)
    # one-sided at alpha = the upper end of the two-sided interval at 2 alpha
    assert ub == pytest.approx(proportion_confint(k, n, alpha=2 * alpha, method="beta")[1], rel=1e-8)


@pytest.mark.parametrize("n, expected", [(8, 0.312344), (10, 0.258866), (100, 0.029513)])
def test_clopper_pearson_upper_of_zero_is_the_rule_of_three(n, expected):
    # 1 - 0.05^(1/n): Hanley & Lippman-Hand (1983); about 3/n
    ub = float(bs.clopper_pearson_upper(0, n, 0.05)[0])
    assert ub == pytest.approx(expected, abs=1e-6)
    assert ub == pytest.approx(bs.zero_upper_bound(n, 0.05), rel=1e-15)


def test_clopper_pearson_upper_edges_and_vectorised():
    out = bs.clopper_pearson_upper([0, 3, 5, 0], [5, 5, 5, 0], 0.05)
    assert out[2] == 1.0 and out[3] == 1.0          # k = n, and no rows at all
    assert out[1] == pytest.approx(sps.beta.ppf(0.95, 4, 2), rel=1e-10)
    assert out[0] == pytest.approx(1 - 0.05 ** (1 / 5), rel=1e-15)


@FAST
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.01, 0.05, 0.1]))
def test_clopper_pearson_upper_properties(kn, alpha):
    k, n = kn
    ub = float(bs.clopper_pearson_upper(k, n, alpha)[0])
    assert k / n <= ub <= 1.0
    if k < n:
        assert float(bs.clopper_pearson_upper(k + 1, n, alpha)[0]) >= ub       # more events, higher bound
    assert float(bs.clopper_pearson_upper(k, n, alpha / 2)[0]) >= ub           # more confidence, wider


# ----------------------------------------------------------------------------- probe leaves
@pytest.mark.parametrize("k, s, n_label, n", [(7, 7, 40, 100), (5, 9, 30, 60), (0, 4, 10, 20), (12, 30, 12, 50)])
def test_leaf_enrichment_against_exact_fractions(k, s, n_label, n):
    p, p_min = bs.leaf_enrichment_test(k, s, n_label, n)
    assert p == pytest.approx(_exact_upper(k, n, n_label, s), rel=1e-9)
    assert p_min == pytest.approx(float(exact_pmf(min(s, n_label), n, n_label, s)), rel=1e-9)
    assert float(bs.leaf_enrichment_p(k, s, n_label, n)) == p


def test_leaf_enrichment_rounds_weighted_counts_and_broadcasts():
    assert bs.leaf_enrichment_test(6.6, 9.2, 29.8, 60.4) == bs.leaf_enrichment_test(7, 9, 30, 60)
    k, s, nl = np.array([3, 5, 0]), np.array([4, 9, 2]), np.array([10, 30, 10])
    vec = bs.leaf_enrichment_p(k, s, nl, 60)
    for i in range(3):
        assert vec[i] == pytest.approx(_exact_upper(int(k[i]), 60, int(nl[i]), int(s[i])), rel=1e-9)


@pytest.mark.parametrize("x, M, K, N", [(0, 31, 22, 11), (1, 50, 10, 8), (4, 40, 20, 8)])
def test_hypergeom_lower_p_against_exact_fractions(x, M, K, N):
    assert bs.hypergeom_lower_p(x, M, K, N) == pytest.approx(_exact_lower(x, M, K, N), rel=1e-9)


# ----------------------------------------------------------------------------- coincidences
def test_duplicate_baseline_birthday_problem():
    """23 people, 365 equally likely days (Feller 1968): C(23,2)/365 = 0.6932 pairs share a
    birthday on average, and 365 (1 - (364/365)^23) = 22.31 distinct days occur."""
    base = bs.duplicate_baseline([np.ones(365)], 23)
    assert base["expected_pairs"] == pytest.approx(253 / 365, rel=1e-12)
    assert base["expected_distinct"] == pytest.approx(365 * (1 - (364 / 365) ** 23), rel=1e-12)
    assert base["cells"] == 365


def test_duplicate_baseline_against_enumeration_of_the_product_space():
    margins = [np.array([5, 3, 2]), np.array([0, 6, 4]), np.array([7, 1, 1, 1])]
    n = 10
    shares = [m[m > 0] / m.sum() for m in margins]
    cells_ = [math.prod(c) for c in product(*shares)]
    base = bs.duplicate_baseline(margins, n)
    assert base["cells"] == len(cells_) == 3 * 2 * 4
    assert base["expected_pairs"] == pytest.approx(math.comb(n, 2) * sum(c * c for c in cells_), rel=1e-12)
    assert base["expected_distinct"] == pytest.approx(sum(1 - (1 - c) ** n for c in cells_), rel=1e-12)
    # the order in which values are listed does not matter
    shuffled = [m[::-1] for m in margins]
    assert bs.duplicate_baseline(shuffled, n) == base


def test_duplicate_baseline_skips_the_distinct_count_of_a_huge_space():
    base = bs.duplicate_baseline([np.ones(2000), np.ones(1000)], 50)
    assert base["cells"] == 2_000_000 and base["expected_distinct"] is None
    assert base["expected_pairs"] == pytest.approx(math.comb(50, 2) / 2_000_000, rel=1e-12)


@pytest.mark.parametrize("k, mu", [(1, 1.0), (3, 0.5), (10, 4.2), (1, 1e-6), (50, 30.0)])
def test_poisson_upper_p_against_the_series(k, mu):
    term = math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1))    # P(X = k)
    expected = 0.0
    for j in range(k + 1, k + 400):                                    # P(X = k) + P(X = k + 1) + ...
        expected += term
        term *= mu / j
    assert bs.poisson_upper_p(k, mu) == pytest.approx(expected, rel=1e-9)


def test_poisson_published_values_and_edges():
    assert bs.poisson_upper_p(1, 1.0) == pytest.approx(1 - math.exp(-1), rel=1e-14)   # 0.632121
    assert bs.poisson_upper_p(3, 0.0) == 0.0
    assert bs.poisson_zero_p(2.0) == pytest.approx(sps.poisson.pmf(0, 2.0), rel=1e-14)   # 0.135335
    assert bs.poisson_zero_p(0.0) == 1.0


# ----------------------------------------------------------------------------- binomial test
def _binom_pmf(j, n, p) -> Fraction:
    return math.comb(n, j) * Fraction(p) ** j * (1 - Fraction(p)) ** (n - j)


@pytest.mark.parametrize("k, n, p", [(7, 10, 0.5), (2, 20, 0.3), (0, 15, 0.1), (30, 40, 0.5), (9, 12, 0.25)])
def test_binomial_p_against_exact_sums(k, n, p):
    pmf = [_binom_pmf(j, n, p) for j in range(n + 1)]
    greater = float(sum(pmf[k:], Fraction(0)))
    less = float(sum(pmf[: k + 1], Fraction(0)))
    cut = pmf[k] * Fraction(1 + 10 ** -7)
    two = min(1.0, float(sum((q for q in pmf if q <= cut), Fraction(0))))
    assert bs.binomial_p(k, n, p, "greater") == pytest.approx(greater, rel=1e-9)
    assert bs.binomial_p(k, n, p, "less") == pytest.approx(less, rel=1e-9)
    assert bs.binomial_p(k, n, p) == pytest.approx(two, rel=1e-9)


def test_binomial_p_published():
    # 7 heads in 10 fair tosses: P(X >= 7) = 176/1024; two-sided 352/1024 (Conover 1999, §3.1)
    assert bs.binomial_p(7, 10, 0.5, "greater") == pytest.approx(0.171875, rel=1e-12)
    assert bs.binomial_p(7, 10) == pytest.approx(0.34375, rel=1e-12)


# ----------------------------------------------------------------------------- power, noise, bias
@pytest.mark.parametrize("n, k", [(100, 2), (87, 2), (500, 4), (1000, 10), (30, 3)])
def test_min_detectable_w_against_statsmodels(n, k):
    w = bs.min_detectable_w(n, k, 0.05, 0.8)
    expected = GofChisquarePower().solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8, n_bins=k)
    assert w == pytest.approx(float(expected), rel=1e-4)   # statsmodels' own root finding is coarser
    crit = sps.chi2.ppf(0.95, k - 1)
    assert sps.ncx2.sf(crit, k - 1, n * w * w) == pytest.approx(0.8, abs=1e-8)


def test_min_detectable_w_cohens_table():
    # Cohen (1988) Table 7.4.6: w = .30 with u = 1 needs N = 87 at alpha .05 and power .80
    assert bs.min_detectable_w(87, 2) == pytest.approx(0.30, abs=0.002)
    assert math.isnan(bs.min_detectable_w(0, 3)) and math.isnan(bs.min_detectable_w(50, 1))


@pytest.mark.parametrize("n1, n2, pooled, expected", [
    (100, 100, [0.5, 0.5], math.sqrt(0.5 / (50 * math.pi))),                        # n_eff = 50
    (300, 100, [0.2, 0.3, 0.5], 0.5 * sum(math.sqrt(2 * p * (1 - p) / (math.pi * 75)) for p in (0.2, 0.3, 0.5))),
])
def test_two_sample_null_tvd_by_hand(n1, n2, pooled, expected):
    assert bs.two_sample_null_tvd(n1, n2, pooled) == pytest.approx(expected, rel=1e-14)
    # the one-sample version at the effective size
    assert bs.two_sample_null_tvd(n1, n2, pooled) == pytest.approx(bs.null_tvd(pooled, 1 / (1 / n1 + 1 / n2)),
                                                                    rel=1e-12)


def test_two_sample_null_tvd_matches_simulation():
    """Seeded simulation of two samples from one distribution: the mean TVD is within 3 % of the formula."""
    rng = np.random.default_rng(5)
    p, n1, n2 = np.array([0.2, 0.3, 0.5]), 400, 600
    a = rng.multinomial(n1, p, size=4000) / n1
    b = rng.multinomial(n2, p, size=4000) / n2
    simulated = float(np.mean(0.5 * np.abs(a - b).sum(axis=1)))
    assert simulated == pytest.approx(bs.two_sample_null_tvd(n1, n2, p), rel=0.03)


@pytest.mark.parametrize("r, c, n, expected", [(2, 2, 100, 0.005), (3, 4, 60, 0.05), (5, 1, 10, 0.0)])
def test_mutual_info_bias_by_hand(r, c, n, expected):
    assert bs.mutual_info_bias(r, c, n) == pytest.approx(expected, rel=1e-15)


def test_mutual_info_bias_matches_the_mean_plug_in_estimate_under_independence():
    """Under independence the true MI is 0, so the mean plug-in MI is the bias, (r-1)(c-1)/(2n)."""
    rng = np.random.default_rng(11)
    n, r, c = 2000, 3, 4
    pr, pc = np.array([0.3, 0.3, 0.4]), np.array([0.25, 0.25, 0.25, 0.25])
    tables = rng.multinomial(n, np.outer(pr, pc).ravel(), size=2000).reshape(-1, r, c)
    mean_mi = float(np.mean([bs.mutual_info(t) for t in tables]))
    assert mean_mi == pytest.approx(bs.mutual_info_bias(r, c, n), rel=0.1)
    assert math.isnan(bs.mutual_info_bias(2, 2, 0))


# ----------------------------------------------------------------------------- the audit computes, readers format
def test_the_group_table_carries_each_rate_with_its_wilson_interval():
    """``AuditResult.groups`` holds the Wilson interval of every group's rate (statsmodels' Wilson
    interval at the audit's alpha, computed in the test); the report readers only format it."""
    import pandas as pd

    import biasaudit as ba
    df = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 12 + ["c"] * 3,
                       "y": ["1"] * 21 + ["0"] * 9 + ["1"] * 2 + ["0"] * 10 + ["0"] * 3})
    result = ba.audit(df, label="y", sensitive=["g"], alpha=0.1, detectors=["group_attribution"])
    g = result.groups.set_index("group")
    for group, k, n in [("a", 21, 30), ("b", 2, 12), ("c", 0, 3)]:
        lo, hi = proportion_confint(k, n, alpha=0.1, method="wilson")
        assert g.loc[group, "ci_low:1"] == pytest.approx(lo, rel=1e-12)
        assert g.loc[group, "ci_high:1"] == pytest.approx(hi, rel=1e-12)
        lo0, hi0 = proportion_confint(n - k, n, alpha=0.1, method="wilson")
        assert (g.loc[group, "ci_low:0"], g.loc[group, "ci_high:0"]) == pytest.approx((lo0, hi0), rel=1e-12)


@pytest.mark.parametrize("table", [[[40, 343], [42, 224]], [[0, 5], [6, 1]], [[3, 3], [3, 3]], [[12, 1], [2, 9]]])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_fisher_exact_p_is_scipys(table, alternative):
    from scipy.stats import fisher_exact
    from biasaudit import stats
    assert stats.fisher_exact_p(np.array(table), alternative) == pytest.approx(
        fisher_exact(table, alternative=alternative).pvalue, rel=1e-12)


@pytest.mark.parametrize("x2,dof", [(0.0, 1), (-1.0, 1), (3.84, 1), (1e4, 3), (np.inf, 2), (np.nan, 1), (5.0, 0)])
def test_chi2_sf_is_scipys_survival_function(x2, dof):
    from scipy.stats import chi2
    from biasaudit.stats._validation import P_FLOOR, chi2_sf
    expected = chi2.sf(x2, dof)
    got = chi2_sf(x2, dof)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(max(expected, P_FLOOR), rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=40).filter(lambda v: sum(v) > 0))
def test_entropy_nats_is_scipys_entropy(counts):
    from scipy.stats import entropy
    from biasaudit.stats import entropy_nats
    assert entropy_nats(counts) == pytest.approx(float(entropy(counts)), rel=1e-12, abs=1e-15)
