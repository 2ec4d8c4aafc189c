"""Property tests of biasaudit.stats (hypothesis): ranges, p >= p_min, monotonicity of
adjustments, and invariance under relabelling (transposing / permuting rows and columns)."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

import biasaudit.stats as bs

FAST = settings(max_examples=50, deadline=None)
EXACT_TESTS = ("Fisher exact (two-sided)", "Freeman-Halton exact", "exact multinomial", "exact binomial")


@st.composite
def tables(draw, max_rows=4, max_cols=4, max_count=12):
    r = draw(st.integers(2, max_rows))
    c = draw(st.integers(2, max_cols))
    return draw(arrays(np.int64, (r, c), elements=st.integers(0, max_count)))


@st.composite
def tables_with_permutation(draw):
    t = draw(tables())
    rows = draw(st.permutations(range(t.shape[0])))
    cols = draw(st.permutations(range(t.shape[1])))
    return t, np.array(rows), np.array(cols)


def _same_result(a, b):
    # pooled level names refer to the caller's axes ("row 1" vs "col 1"), so compare the test only
    assert a.test.split(" (pooled")[0] == b.test.split(" (pooled")[0]
    if a.test == "Monte Carlo conditional test":
        se = math.sqrt(max(a.p_value * (1 - a.p_value), 1e-4) / bs.tests.MC_RESAMPLES)
        assert abs(a.p_value - b.p_value) <= 5 * se
    else:
        assert a.p_value == np.float64(b.p_value) or math.isclose(a.p_value, b.p_value, rel_tol=1e-9, abs_tol=1e-15)
        assert math.isclose(a.p_min, b.p_min, rel_tol=1e-9, abs_tol=1e-15)
    if not math.isnan(a.statistic):
        assert math.isclose(a.statistic, b.statistic, rel_tol=1e-9, abs_tol=1e-12)


@FAST
@given(tables())
def test_independence_p_in_unit_interval_and_above_pmin(t):
    res = bs.independence_test(t)
    assert 0.0 <= res.p_value <= 1.0
    assert 0.0 <= res.p_min <= 1.0
    if res.test in EXACT_TESTS or res.test.startswith("not testable"):
        assert res.p_value >= res.p_min - 1e-12


@FAST
@given(tables_with_permutation())
def test_independence_invariant_to_transpose_and_permutation(arg):
    t, rows, cols = arg
    base = bs.independence_test(t)
    _same_result(base, bs.independence_test(t.T))
    _same_result(base, bs.independence_test(t[rows][:, cols]))


@FAST
@given(tables(max_rows=2, max_cols=5, max_count=8))
def test_freeman_halton_pmin_bounds_p(t):
    if (t.sum(axis=0) > 0).sum() < 2 or (t.sum(axis=1) > 0).sum() < 2:
        return
    p, p_min, n_tables = bs.freeman_halton_2xk(t)
    assert 0.0 < p_min <= p <= 1.0
    assert n_tables == bs.count_2xk_tables(t.sum(axis=1), t.sum(axis=0))


@FAST
@given(arrays(np.int64, (2, 2), elements=st.integers(0, 15)))
def test_fisher_pmin_bounds_fisher_p(t):
    p = stats.fisher_exact(t).pvalue
    assert bs.fisher_pmin_2x2(t.sum(axis=1), t.sum(axis=0)) <= p + 1e-12


@st.composite
def gof_cases(draw):
    k = draw(st.integers(2, 5))
    obs = draw(arrays(np.int64, (k,), elements=st.integers(0, 6)))
    weights = np.array(draw(st.lists(st.integers(1, 10), min_size=k, max_size=k)), dtype=float)
    perm = np.array(draw(st.permutations(range(k))))
    return obs, weights / weights.sum(), perm


@FAST
@given(gof_cases())
def test_gof_ranges_and_category_permutation(case):
    obs, probs, perm = case
    res = bs.gof_test(obs, probs)
    assert 0.0 <= res.p_value <= 1.0 and 0.0 <= res.p_min <= 1.0
    if res.test in EXACT_TESTS:
        assert res.p_value >= res.p_min - 1e-12
    other = bs.gof_test(obs[perm], probs[perm])
    assert other.test == res.test
    assert math.isclose(other.p_value, res.p_value, rel_tol=1e-9, abs_tol=1e-12)


@FAST
@given(st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), min_size=1, max_size=30))
def test_adjusted_at_least_raw(p):
    raw = np.array(p)
    ok = ~np.isnan(raw)
    q = {method: bs.adjust_pvalues(raw, method) for method in ("bh", "by")}
    for adjusted in q.values():
        assert np.array_equal(np.isnan(adjusted), np.isnan(raw))
        assert np.all(adjusted[ok] >= raw[ok] - 1e-15)
        assert np.all(adjusted[ok] <= 1.0)
    assert np.all(q["by"][ok] >= q["bh"][ok] - 1e-12)


def test_holm_at_least_bh_and_raw():
    # statsmodels' Holm branch calls gc.collect() on every call (slow under hypothesis), so Holm's
    # properties are checked on a fixed set of seeded families instead.
    rng = np.random.default_rng(0)
    for m in (1, 5, 30):
        for _ in range(2):
            raw = rng.uniform(size=m) ** 3
            raw[rng.uniform(size=m) < 0.2] = np.nan
            holm, bh = bs.adjust_pvalues(raw, "holm"), bs.adjust_pvalues(raw, "bh")
            ok = ~np.isnan(raw)
            assert np.array_equal(np.isnan(holm), ~ok)
            assert np.all(holm[ok] >= raw[ok]) and np.all(holm[ok] >= bh[ok] - 1e-12)
            assert np.all(holm[ok] <= 1.0)


@st.composite
def cells(draw):
    n = draw(st.integers(1, 60))
    n_label = draw(st.integers(0, n))
    s = draw(st.integers(0, n))
    obs = draw(st.integers(max(0, s - (n - n_label)), min(s, n_label)))
    return obs, s, n_label, n


@FAST
@given(cells())
def test_depletion_ranges(cell):
    p, p_min, e = bs.depletion_test(*cell)
    assert 0.0 <= p_min <= p + 1e-12 <= 1.0 + 1e-12
    obs, s, n_label, n = cell
    assert math.isclose(e, s * n_label / n)


@st.composite
def strata_lists(draw):
    k = draw(st.integers(1, 4))
    strata = [draw(arrays(np.int64, (2, 2), elements=st.integers(0, 8))) for _ in range(k)]
    perm = draw(st.permutations(range(k)))
    return strata, list(perm)


@FAST
@given(strata_lists())
def test_exact_stratified_ranges_and_order_invariance(arg):
    strata, perm = arg
    p, p_min = bs.exact_stratified_test(strata)
    assert 0.0 < p_min <= p + 1e-12 and p <= 1.0
    p2, p_min2 = bs.exact_stratified_test([strata[i] for i in perm])
    assert math.isclose(p, p2, rel_tol=1e-9) and math.isclose(p_min, p_min2, rel_tol=1e-9)
    res = bs.cmh_test(strata)
    assert 0.0 <= res.p_value <= 1.0


@FAST
@given(tables())
def test_cramers_v_bounds(t):
    v = bs.cramers_v(t, corrected=False)
    vc = bs.cramers_v(t)
    if math.isnan(v):
        assert math.isnan(vc)
    else:
        assert 0.0 <= vc <= v + 1e-12 and v <= 1.0 + 1e-12
        assert math.isclose(bs.cramers_v(t.T), vc, rel_tol=1e-9, abs_tol=1e-12)


@FAST
@given(tables())
def test_theils_u_bounds(t):
    for axis in (0, 1):
        u = bs.theils_u(t, given_axis=axis)
        assert math.isnan(u) or 0.0 <= u <= 1.0
    assert bs.mutual_info(t) >= 0.0
