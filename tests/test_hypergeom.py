"""Vectorised hypergeometric tails (biasaudit.stats.hypergeom) against exact rational arithmetic
(Python integers), scipy.stats.hypergeom / fisher_exact, and a direct convolution."""
from __future__ import annotations

import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import stats as sps

from biasaudit import stats
from biasaudit.stats import hypergeom as H
from oracles import exact_cdf, exact_pmf, hypergeom_tables


# ----------------------------------------------------------------------------- exact references
def _float(fr: Fraction) -> float:
    """A positive Fraction as a correctly rounded float, also below 1e-300 (0.0 under the float range)."""
    num, den = fr.numerator, fr.denominator
    if num == 0:
        return 0.0
    e = num.bit_length() - den.bit_length() - 64
    q = (num >> e) // den if e >= 0 else (num << -e) // den
    return math.ldexp(q, e)


def _log(fr: Fraction) -> float:
    """ln of a positive Fraction, accurate for any magnitude."""
    num, den = fr.numerator, fr.denominator
    shift_n, shift_d = max(0, num.bit_length() - 60), max(0, den.bit_length() - 60)
    return (math.log(num >> shift_n) + shift_n * math.log(2)) - (math.log(den >> shift_d) + shift_d * math.log(2))


# ----------------------------------------------------------------------------- pmf and tails
def test_stirling_remainder_table_is_exact():
    getcontext().prec = 50
    pi = Decimal(0)
    for k in range(60):   # Bailey-Borwein-Plouffe
        pi += (Decimal(1) / 16 ** k) * (Decimal(4) / (8 * k + 1) - Decimal(2) / (8 * k + 4)
                                        - Decimal(1) / (8 * k + 5) - Decimal(1) / (8 * k + 6))
    half_ln_2pi = (2 * pi).ln() / 2
    for n in range(1, 16):
        ref = Decimal(math.factorial(n)).ln() - (Decimal(n) + Decimal("0.5")) * Decimal(n).ln() + n - half_ln_2pi
        assert H._stirlerr(np.array([n]))[0] == pytest.approx(float(ref), rel=1e-15, abs=0)
    for n in (16, 40, 100, 1000, 10**6):  # the series: delta(n) = ln n! - (n + 1/2) ln n + n - ln sqrt(2 pi)
        ref = math.lgamma(n + 1) - (n + 0.5) * math.log(n) + n - float(half_ln_2pi)
        assert H._stirlerr(np.array([n]))[0] == pytest.approx(ref, abs=1e-9 * max(1, math.lgamma(n + 1)) * 1e-4)


@settings(max_examples=120, deadline=None)
@given(hypergeom_tables(400))
def test_pmf_cdf_sf_equal_exact_rationals(t):
    x, M, K, N = t
    pmf, cdf = exact_pmf(x, M, K, N), exact_cdf(x, M, K, N)
    sf = 1 - cdf
    for got, ref in ((H.hypergeom_pmf(x, M, K, N), pmf), (H.hypergeom_cdf(x, M, K, N), cdf),
                     (H.hypergeom_sf(x, M, K, N), sf)):
        ref = _float(ref)
        assert float(got) == pytest.approx(ref, rel=2e-13, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(hypergeom_tables(20000))
def test_tails_agree_with_scipy(t):
    x, M, K, N = t
    for mine, theirs in ((H.hypergeom_cdf, sps.hypergeom.cdf), (H.hypergeom_sf, sps.hypergeom.sf),
                         (H.hypergeom_pmf, sps.hypergeom.pmf)):
        ref = float(theirs(x, M, K, N))
        if ref > 1e-300:
            assert float(mine(x, M, K, N)) == pytest.approx(ref, rel=1e-11)


@pytest.mark.parametrize("M", [10**5, 10**6, 10**7])
def test_large_populations_agree_with_scipy(M):
    # scipy (Boost) evaluates the pmf to about 1e-9 relative at N = 1e7 (test_exact_at_large_n shows the
    # error is scipy's); the tails agree within that
    rng = np.random.default_rng(M)
    K = rng.integers(1, M, 60)
    N = rng.integers(1, M, 60)
    mean = N * K / M
    sd = np.sqrt(mean * (1 - K / M) * (M - N) / max(M - 1, 1))
    x = np.clip(np.round(mean + rng.choice([-40, -8, -2, 0, 1, 3, 9, 30], 60) * sd),
                np.maximum(0, N - (M - K)), np.minimum(N, K)).astype(np.int64)
    for mine, theirs in ((H.hypergeom_cdf, sps.hypergeom.cdf), (H.hypergeom_sf, sps.hypergeom.sf)):
        got, ref = mine(x, M, K, N), theirs(x, M, K, N)
        ok = ref > 1e-300
        assert ok.sum() > 30
        np.testing.assert_allclose(got[ok], ref[ok], rtol=5e-9 if M >= 10**6 else 1e-11)


def test_exact_at_large_n():
    # exact big-integer rationals (scipy's pmf is off by ~1e-10 at M = 1e6, ~1e-9 at 1e7)
    for x, M, K, N in ((14342, 10**5, 41952, 36143), (2, 200000, 150, 1200), (0, 10**6, 400, 5000)):
        ref = exact_pmf(x, M, K, N)
        assert float(H.hypergeom_logpmf(x, M, K, N)) == pytest.approx(_log(ref), rel=1e-13)
        if _float(ref) > 0:
            assert float(H.hypergeom_pmf(x, M, K, N)) == pytest.approx(_float(ref), rel=1e-12)


def test_extreme_tails_in_log_space():
    # far below 1e-308 the log cdf stays finite and exact
    x, M, K, N = 0, 20000, 10000, 5000
    ref = exact_pmf(0, M, K, N)
    assert _float(ref) == 0.0                      # under the float range
    assert float(H.hypergeom_logcdf(x, M, K, N)) == pytest.approx(_log(ref), rel=1e-13)
    assert float(H.hypergeom_cdf(x, M, K, N)) == 0.0
    # and the upper tail of the same table near its end
    x = 4999
    ref_sf = exact_pmf(5000, M, K, N)
    assert float(H.hypergeom_logsf(x, M, K, N)) == pytest.approx(_log(ref_sf), rel=1e-13)


def test_edges_and_bad_input():
    assert H.hypergeom_cdf(-1, 10, 4, 5) == 0.0 and H.hypergeom_cdf(4, 10, 4, 5) == 1.0
    assert H.hypergeom_sf(4, 10, 4, 5) == 0.0 and H.hypergeom_sf(-1, 10, 4, 5) == 1.0
    assert H.hypergeom_pmf(0, 10, 0, 5) == 1.0 and H.hypergeom_pmf(0, 10, 4, 0) == 1.0
    assert H.hypergeom_pmf(4, 10, 4, 10) == 1.0
    np.testing.assert_allclose(H.hypergeom_cdf([0, 1, 2], [14, 14, 14], 8, 3),
                               sps.hypergeom.cdf([0, 1, 2], 14, 8, 3), rtol=1e-14)
    with pytest.raises(ValueError, match="integer-valued"):
        H.hypergeom_cdf(0.5, 10, 4, 5)
    with pytest.raises(ValueError, match="0 <= K <= M"):
        H.hypergeom_cdf(0, 10, 11, 5)


# ----------------------------------------------------------------------------- two-sided
@settings(max_examples=120, deadline=None)
@given(hypergeom_tables(300))
def test_two_sided_equals_fisher_exact(t):
    x, M, K, N = t
    ref = sps.fisher_exact([[x, K - x], [N - x, M - K - N + x]]).pvalue
    assert float(H.hypergeom_two_sided(x, M, K, N)) == pytest.approx(ref, rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("M,K,N", [(14, 8, 3), (14, 6, 2), (60, 20, 25), (500, 30, 40)])
def test_two_sided_pmin_is_the_smallest_attainable(M, K, N):
    lo, hi = max(0, N - (M - K)), min(N, K)
    ref = min(sps.fisher_exact([[x, K - x], [N - x, M - K - N + x]]).pvalue for x in range(lo, hi + 1))
    assert float(H.hypergeom_two_sided_pmin(M, K, N)) == pytest.approx(ref, rel=1e-12)


def test_lecture_vectors():
    # STATISTICS.md §9 S2 and S5: P(X = 0) = 20/364 and 28/91; Fisher two-sided 0.0549451 and 0.472527
    assert float(H.hypergeom_cdf(0, 14, 8, 3)) == pytest.approx(20 / 364, rel=1e-14)
    assert float(H.hypergeom_two_sided(0, 14, 8, 3)) == pytest.approx(20 / 364, rel=1e-14)
    assert float(H.hypergeom_cdf(0, 14, 6, 2)) == pytest.approx(28 / 91, rel=1e-14)
    assert float(H.hypergeom_two_sided(0, 14, 6, 2)) == pytest.approx(0.472527, abs=1e-6)


# ----------------------------------------------------------------------------- stratified
def _convolved(obs, N, K, s) -> float:
    pmf, lo_total = np.ones(1), 0
    for n_, k_, s_ in zip(N, K, s):
        lo, hi = max(0, s_ - (n_ - k_)), min(s_, k_)
        pmf = np.convolve(pmf, sps.hypergeom.pmf(np.arange(lo, hi + 1), n_, k_, s_))
        lo_total += lo
    idx = obs - lo_total
    return float(pmf[: idx + 1].sum()) if idx >= 0 else 0.0


@pytest.mark.parametrize("m", [1, 2, 4, 8])
def test_stratified_tail_equals_direct_convolution(m):
    rng = np.random.default_rng(m)
    B = 40
    N = rng.integers(0, 3000, (B, m))
    K = (N * rng.random((B, m))).astype(np.int64)
    s = (N * rng.random((B, m))).astype(np.int64)
    mu = (s * K / np.maximum(N, 1)).sum(axis=1)
    obs = np.maximum(0, np.round(mu + rng.normal(0, 20, B))).astype(np.int64)
    p, exact = stats.stratified_lower_tail(obs, N, K, s)
    assert exact.all()
    ref = np.array([_convolved(obs[b], N[b], K[b], s[b]) for b in range(B)])
    np.testing.assert_allclose(p, ref, atol=1e-12, rtol=0)
    assert ((ref > 0.01) & (ref < 0.99)).sum() > 5    # the comparisons are not all trivial


def test_stratified_tail_of_one_stratum_is_the_hypergeometric_cdf():
    p, _ = stats.stratified_lower_tail([3, 0, 40], [[100], [14], [1000]], [[30], [8], [300]], [[20], [3], [150]])
    np.testing.assert_allclose(p, sps.hypergeom.cdf([3, 0, 40], [100, 14, 1000], [30, 8, 300], [20, 3, 150]),
                               atol=1e-13)


def test_stratified_fallback_is_the_normal_approximation():
    # windows wider than max_terms use the continuity-corrected normal approximation (flagged);
    # it is within a few 1e-3 of the exact tail once every stratum has a variance in the hundreds
    rng = np.random.default_rng(7)
    N = rng.integers(20000, 40000, (30, 2))
    K = N // 2
    s = N // 3
    mu = (s * K / N).sum(axis=1)
    obs = np.round(mu + rng.normal(0, 60, 30)).astype(np.int64)
    exact_p, exact = stats.stratified_lower_tail(obs, N, K, s)
    approx_p, flag = stats.stratified_lower_tail(obs, N, K, s, max_terms=50)
    assert exact.all() and not flag.any()
    var = (s * K / N * (1 - K / N) * (N - s) / (N - 1)).sum(axis=1)
    np.testing.assert_allclose(approx_p, sps.norm.cdf((obs + 0.5 - mu) / np.sqrt(var)), rtol=1e-12)
    assert np.max(np.abs(approx_p - exact_p)) < 5e-3


# ----------------------------------------------------------------------------- planning numbers
@pytest.mark.parametrize("n,labels", [(14, [6, 8]), (2000, [956, 1044]), (100000, [49000, 51000]),
                                      (50, [1, 49]), (30, [30])])
def test_depletion_min_support_is_the_first_testable_support(n, labels):
    def pmin(s):
        return min(sps.hypergeom.cdf(max(0, s - (n - nl)), n, nl, s) for nl in labels)
    want = next((s for s in range(1, n + 1) if pmin(s) <= 0.05), n)
    assert stats.depletion_min_support(n, labels, 0.05) == want


@pytest.mark.parametrize("n,n_label", [(14, 6), (14, 8), (2000, 956), (500, 3)])
def test_min_support_for_purity(n, n_label):
    want = next((s for s in range(1, n_label + 1) if sps.hypergeom.pmf(s, n, n_label, s) <= 0.05), None)
    assert stats.min_support_for_purity(n, n_label, 0.05) == want


def test_gap_addition_fragility_matches_the_scalar_search():
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(25):
        n = int(rng.integers(200, 5000))
        nl = int(rng.integers(20, n - 20))
        s = int(rng.integers(5, n // 3))
        obs = int(max(0, min(s, nl, round(s * nl / n * rng.uniform(0, 0.6)))))
        if s - obs > n - nl:
            continue
        sp = int(rng.integers(s, n))
        lp = int(min(sp - (s - obs), max(obs, round(sp * nl / n))))
        cases.append((obs, s, nl, n, sp, lp))
    obs, s, nl, n, sp, lp = (np.array(c) for c in zip(*cases))
    got = stats.gap_addition_fragility(obs, s, nl, n, 0.05, np.stack([sp, lp], axis=1)[:, None, :])
    want = [stats.addition_fragility_gap(*c[:4], alpha=0.05, parents=[(c[4], c[5])]) for c in cases]
    assert list(got) == want and sum(w > 0 for w in want) > 5
