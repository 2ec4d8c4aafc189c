"""Tests of biasaudit.stats.

Two oracles:
* the test vectors [TV] of STATISTICS.md / statistics-vectors.txt (computed by an independent
  script with scipy/statsmodels; 6 significant digits, so compared with rel=1e-5 or abs=5e-7);
* scipy / statsmodels called directly inside the test.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import association
from sklearn.metrics import mutual_info_score
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

import biasaudit.stats as bs
from biasaudit.stats import TestResult


def approx(x, rel=1e-5, abs=5e-7):  # noqa: A002 - mirrors pytest.approx
    return pytest.approx(x, rel=rel, abs=abs)


# --------------------------------------------------------------------------------------------
# The lecture table (STATISTICS.md §0) as contingency tables
# --------------------------------------------------------------------------------------------
# colour levels: black, brown, brown-white, red, red-white, white; labels: KURI, PUSI
COLOUR_X_LABEL = np.array([[1, 2], [4, 1], [0, 1], [0, 1], [0, 1], [1, 2]])
COLOUR_X_SIZE = np.array([[1, 2], [1, 4], [0, 1], [0, 1], [0, 1], [1, 2]])  # big, small
COLOUR_X_MULTI = np.array([[3, 0], [5, 0], [0, 1], [1, 0], [0, 1], [3, 0]])  # no, yes
COLOUR_X_HAS_WHITE = np.array([[3, 0], [5, 0], [0, 1], [1, 0], [0, 1], [0, 3]])
SIZE_X_LABEL = np.array([[3, 0], [3, 8]])  # big, small x KURI, PUSI
SIZE_X_MULTI = np.array([[3, 0], [9, 2]])
REF_COLOUR = [0.25, 0.30, 0.10, 0.05, 0.10, 0.20]
KIDNEY = [np.array([[81, 6], [234, 36]]), np.array([[192, 71], [55, 25]])]


# --------------------------------------------------------------------------------------------
# A1/A2: goodness of fit against a reference
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "observed, probs, test, p",
    [
        ([6, 8], [0.5, 0.5], "exact binomial", 0.790527),
        ([3, 11], [0.4, 0.6], "exact binomial", 0.182628),
        ([3, 5, 1, 1, 1, 3], REF_COLOUR, "exact multinomial", 0.980206),
    ],
    ids=["A1-label", "A1-size", "A1-colour"],
)
def test_gof_auto_vectors(observed, probs, test, p):
    res = bs.gof_test(observed, probs)
    assert res.test == test
    assert res.p_value == approx(p)
    assert res.p_value >= res.p_min


@pytest.mark.parametrize(
    "observed, probs, x2, p_pearson, g2, p_g",
    [
        ([6, 8], [0.5, 0.5], 0.285714, 0.59298, 0.286694, 0.592347),
        ([3, 11], [0.4, 0.6], 2.0119, 0.156069, 2.18767, 0.139119),
        ([3, 5, 1, 1, 1, 3], REF_COLOUR, 0.595238, 0.98822, 0.600048, 0.988001),
    ],
    ids=["A1-label", "A1-size", "A1-colour"],
)
def test_gof_pearson_and_g_vectors(observed, probs, x2, p_pearson, g2, p_g):
    pear = bs.gof_test(observed, probs, method="pearson")
    g = bs.gof_test(observed, probs, method="g")
    assert (pear.statistic, pear.p_value) == (approx(x2), approx(p_pearson))
    assert (g.statistic, g.p_value) == (approx(g2), approx(p_g))
    assert pear.valid == bs.cochran_ok(np.sum(observed) * np.asarray(probs))


def test_exact_multinomial_colour_vector():
    p, n_tables = bs.exact_multinomial([3, 5, 1, 1, 1, 3], REF_COLOUR)
    assert p == approx(0.980206)
    assert n_tables == 11628 == math.comb(14 + 5, 5)


def test_cochran_vectors():
    assert bs.cochran_ok([7, 7])
    assert bs.cochran_ok([5.6, 8.4])
    assert not bs.cochran_ok(14 * np.asarray(REF_COLOUR))
    assert not bs.cochran_ok([])


def test_gof_monte_carlo_joint_cells_vector():
    """A2: 12 joint cells at n = 14 are too many to enumerate (4 457 400 outcomes)."""
    size_ref, colour_ref = [0.4, 0.6], REF_COLOUR
    probs = [s * c for s in size_ref for c in colour_ref]
    observed = [1, 1, 0, 0, 0, 1, 2, 4, 1, 1, 1, 2]
    assert bs.count_compositions(14, 12) == 4457400
    res = bs.gof_test(observed, probs)
    assert res.test == "Monte Carlo multinomial"
    assert "MC s.e." in res.note
    assert res.p_value == pytest.approx(0.987365, abs=0.0025)  # TV +- 0.00025 (200 000 draws)
    assert res.statistic == approx(3.59921)
    again = bs.gof_test(observed, probs)
    assert again == res  # seeded: deterministic
    pear = bs.gof_test(observed, probs, method="pearson")
    assert pear.p_value == approx(0.980211) and not pear.valid
    assert bs.gof_test(observed, probs, method="g").p_value == approx(0.945086)


@pytest.mark.parametrize(
    "q, p, tvd, w, jsd",
    [
        ([6, 8], [0.5, 0.5], 0.0714286, 0.142857, 0.00370245),
        ([3, 11], [0.4, 0.6], 0.185714, 0.379088, 0.0295749),
        ([3, 5, 1, 1, 1, 3], REF_COLOUR, 0.0928571, 0.206197, 0.00778611),
        ([1, 1, 0, 0, 0, 1, 2, 4, 1, 1, 1, 2],
         [s * c for s in (0.4, 0.6) for c in REF_COLOUR], 0.192857, 0.507037, 0.0729091),
    ],
    ids=["label", "size", "colour", "joint"],
)
def test_distribution_effects_vectors(q, p, tvd, w, jsd):
    assert bs.tvd(q, p) == approx(tvd)
    assert bs.cohens_w(q, p) == approx(w)
    assert bs.jsd_bits(q, p) == approx(jsd)
    # w = sqrt(X2 / n) against scipy directly
    n = sum(q)
    x2 = stats.chisquare(q, n * np.asarray(p)).statistic
    assert bs.cohens_w(q, p) == pytest.approx(math.sqrt(x2 / n))


def test_null_tvd_vector():
    assert bs.null_tvd([0.5, 0.5], 14) == approx(0.106622)


def test_representation_ratio_ci_vector():
    lo, hi = bs.clopper_pearson_ci(3, 14)
    assert (lo / 0.4, hi / 0.4) == (pytest.approx(0.1164, abs=5e-5), pytest.approx(1.27, abs=5e-3))


@pytest.mark.parametrize("k, n, p, expected", [(5, 14, 0.3, 0.770966), (1, 14, 0.05, 0.512325), (3, 14, 0.25, 1.0)])
def test_per_group_binomial_vectors(k, n, p, expected):
    res = bs.gof_test([k, n - k], [p, 1 - p])
    assert res.p_value == approx(expected)
    assert res.p_min == approx(bs.binomial_pmin(n, p))


def test_gof_structural_zero_is_reported_and_excluded():
    res = bs.gof_test([3, 2, 5], [0.5, 0.0, 0.5])
    assert "impossible under the reference: 2 rows" in res.note
    assert res.p_value == approx(stats.binomtest(3, 8, 0.5).pvalue)


def test_gof_not_testable():
    res = bs.gof_test([5, 0], [1.0, 0.0])
    assert res.test == "not testable (one level)" and res.p_value == 1.0 and res.p_min == 1.0


# --------------------------------------------------------------------------------------------
# A3 / C1 / D: independence of two categorical variables
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table, test, p, p_min, x2",
    [
        ([[5, 5], [1, 3]], "Fisher exact (two-sided)", 0.58042, None, 0.729167),
        ([[2, 8], [1, 3]], "Fisher exact (two-sided)", 1.0, None, 0.0424242),
        ([[1, 5, 0, 1, 0, 3], [2, 0, 1, 0, 1, 0]], "Freeman-Halton exact", 0.035964, 0.00599401, 10.7333),
        (SIZE_X_LABEL, "Fisher exact (two-sided)", 0.0549451, 0.0549451, 5.09091),
        (COLOUR_X_LABEL, "Freeman-Halton exact", 0.55045, 0.001998, 5.28889),
        ([[6, 6], [0, 2]], "Fisher exact (two-sided)", 0.472527, 0.164835, 1.75),
        ([[5, 4], [1, 4]], "Fisher exact (two-sided)", 0.300699, 0.002997, 1.65926),
        ([[0, 6], [1, 7]], "Fisher exact (two-sided)", 1.0, 0.428571, None),
        ([[1, 4, 1], [2, 1, 2]], "Freeman-Halton exact", 0.415584, 0.0021645, None),
        (COLOUR_X_SIZE, "Freeman-Halton exact", 1.0, 0.00824176, None),
        (COLOUR_X_MULTI, "Freeman-Halton exact", 0.032967, 0.032967, None),
        (COLOUR_X_HAS_WHITE, "Freeman-Halton exact", 0.0034965, 0.0034965, None),
        (SIZE_X_MULTI, "Fisher exact (two-sided)", 1.0, 0.032967, None),
        ([[8, 8, 8, 8, 8], [2, 3, 3, 4, 8]], "Freeman-Halton exact", 0.581145, None, 3.16364),
    ],
    ids=["A3-label", "A3-size", "A3-colour", "C1-size", "C1-colour", "C1-multicolour", "C1-has_white",
         "A5-missing", "S3", "D-colour-size", "D-colour-multi", "D-colour-has_white", "D-size-multi", "A4-binned"],
)
def test_independence_vectors(table, test, p, p_min, x2):
    res = bs.independence_test(table)
    assert res.test == test
    assert res.p_value == approx(p)
    if p_min is not None:
        assert res.p_min == approx(p_min)
        assert res.testable() == (p_min <= 0.05)
    if x2 is not None:
        assert res.statistic == approx(x2)
    assert res.p_value >= res.p_min - 1e-12


def test_freeman_halton_counts_tables():
    assert bs.freeman_halton_2xk([[1, 5, 0, 1, 0, 3], [2, 0, 1, 0, 1, 0]]) == (approx(0.035964), approx(0.00599401), 64)
    p, p_min, n_tables = bs.freeman_halton_2xk(COLOUR_X_LABEL)  # K x 2 is transposed
    assert (p, p_min, n_tables) == (approx(0.55045), approx(0.001998), 109)
    assert bs.count_2xk_tables([6, 8], COLOUR_X_LABEL.sum(axis=1)) == 109
    with pytest.raises(ValueError, match="max_tables"):
        bs.freeman_halton_2xk(COLOUR_X_LABEL, max_tables=100)


def test_freeman_halton_matches_monte_carlo_vector():
    """TV A3: scipy's seeded Monte Carlo (99 999 resamples) p = 0.03684."""
    method = stats.MonteCarloMethod(n_resamples=99_999, rng=np.random.default_rng(0))
    mc = stats.fisher_exact([[1, 5, 0, 1, 0, 3], [2, 0, 1, 0, 1, 0]], method=method).pvalue
    exact, _, _ = bs.freeman_halton_2xk([[1, 5, 0, 1, 0, 3], [2, 0, 1, 0, 1, 0]])
    assert mc == pytest.approx(0.03684, abs=1e-3)
    assert exact == pytest.approx(mc, abs=4 * math.sqrt(mc * (1 - mc) / 99_999))


@pytest.mark.parametrize("table", [[[3, 1], [0, 7]], [[8, 2], [1, 5]], [[0, 4], [3, 4]], [[10, 1], [2, 9]]])
def test_freeman_halton_2x2_equals_fisher(table):
    p, p_min, _ = bs.freeman_halton_2xk(table)
    assert p == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-9)
    assert p_min == pytest.approx(bs.fisher_pmin_2x2(np.sum(table, 1), np.sum(table, 0)), rel=1e-9)


def test_fisher_pmin_is_min_over_all_tables():
    for r1, c1, n in [(3, 6, 14), (5, 6, 14), (2, 6, 14), (7, 7, 20), (1, 1, 5)]:
        r, c = [r1, n - r1], [c1, n - c1]
        lo, hi = max(0, c1 - r[1]), min(r1, c1)
        brute = min(stats.fisher_exact([[a, r1 - a], [c1 - a, r[1] - c1 + a]]).pvalue for a in range(lo, hi + 1))
        assert bs.fisher_pmin_2x2(r, c) == pytest.approx(brute, rel=1e-12)
    assert bs.fisher_pmin_2x2([3, 0], [1, 2]) == 1.0
    with pytest.raises(ValueError, match="same total"):
        bs.fisher_pmin_2x2([3, 4], [1, 2])


def test_pearson_against_chi2_contingency():
    table = np.array([[30, 20, 25], [15, 35, 22], [18, 19, 40]])
    res = bs.independence_test(table)
    ref = stats.chi2_contingency(table, correction=False)
    assert res.test == "Pearson chi-square" and res.p_min == 0.0
    assert (res.statistic, res.dof, res.p_value) == (pytest.approx(ref.statistic), ref.dof, pytest.approx(ref.pvalue))


def test_unconditional_2x2_vectors():
    """C1 size x label: Barnard 0.0245885, Boschloo 0.0430406 -- only when configured in advance."""
    bar = bs.independence_test(SIZE_X_LABEL, exact_2x2="barnard")
    bos = bs.independence_test(SIZE_X_LABEL, exact_2x2="boschloo")
    assert bar.test.startswith("Barnard") and bar.p_value == approx(0.0245885)
    assert bos.test.startswith("Boschloo") and bos.p_value == approx(0.0430406)
    assert bar.p_min <= bar.p_value and bos.p_min <= bos.p_value
    with pytest.raises(ValueError, match="exact_2x2"):
        bs.independence_test(SIZE_X_LABEL, exact_2x2="yates")


def test_monte_carlo_rxc_is_seeded_and_close_to_scipy():
    table = np.array([[3, 0, 2, 1], [1, 4, 0, 2], [0, 2, 5, 1]])
    res = bs.independence_test(table, rng=0)
    assert res.test == "Monte Carlo conditional test"
    assert res.p_min == pytest.approx(1 / 10_000)
    assert bs.independence_test(table, rng=0) == res
    assert bs.independence_test(table, rng=np.random.default_rng(0)).p_value == res.p_value
    ref = stats.fisher_exact(table, method=stats.MonteCarloMethod(n_resamples=99_999, rng=np.random.default_rng(1)))
    assert res.p_value == pytest.approx(ref.pvalue, abs=4 * math.sqrt(ref.pvalue * (1 - ref.pvalue) / 9_999) + 1e-3)


def test_pooling_large_sparse_table():
    table = np.array([[50, 3, 1, 2], [40, 1, 2, 1], [30, 2, 2, 0]])
    res = bs.independence_test(table)
    assert res.test.startswith("Pearson chi-square (pooled: ")
    assert "pooled rare levels" in res.note and res.p_min == 0.0
    assert res.valid


def test_pooling_names_levels_from_dataframe():
    import pandas as pd

    df = pd.DataFrame([[50, 3, 1], [40, 1, 2], [30, 2, 2]], index=["a", "b", "c"], columns=["x", "y", "z"])
    res = bs.independence_test(df)
    assert "y" in res.test and "z" in res.test


def test_independence_not_testable_and_empty_levels_dropped():
    one = bs.independence_test([[3, 0], [5, 0]])
    assert one.test == "not testable (one level)"
    assert (one.p_value, one.p_min, one.dof) == (1.0, 1.0, None) and math.isnan(one.statistic)
    with_empty = bs.independence_test([[5, 0, 5], [1, 0, 3], [0, 0, 0]])
    assert with_empty.p_value == approx(0.58042)


@pytest.mark.parametrize("bad", [[[1, -1], [2, 3]], [[1.5, 1], [2, 3]], [1, 2, 3], [["a", "b"], ["c", "d"]]])
def test_independence_rejects_bad_tables(bad):
    with pytest.raises(ValueError, match="'table' parameter of independence_test"):
        bs.independence_test(bad)


def test_untestable_note_and_to_dict():
    res = bs.independence_test(SIZE_X_LABEL)
    assert "untestable" in res.note and not res.testable(0.05) and res.testable(0.06)
    d = res.to_dict()
    assert set(d) == {"test", "statistic", "dof", "p_value", "p_min", "valid", "note"}
    json.dumps(d)
    with pytest.raises(AttributeError):
        res.p_value = 0.0  # frozen


# --------------------------------------------------------------------------------------------
# Effect sizes: Cramér's V, MI, Theil's U, intervals
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table, v, v_corr",
    [
        ([[5, 5], [1, 3]], 0.228218, 0.0),
        ([[2, 8], [1, 3]], 0.0550482, 0.0),
        ([[1, 5, 0, 1, 0, 3], [2, 0, 1, 0, 1, 0]], 0.875595, 0.643342),
        (SIZE_X_LABEL, 0.603023, 0.55732),
        (COLOUR_X_LABEL, 0.614636, 0.0),
        ([[6, 6], [0, 2]], 0.353553, 0.228218),
        ([[5, 4], [1, 4]], 0.344265, 0.212277),
        (COLOUR_X_SIZE, 0.308139, 0.0),
        (COLOUR_X_MULTI, 1.0, 0.816497),
        (SIZE_X_MULTI, 0.213201, 0.0),
    ],
)
def test_cramers_v_vectors(table, v, v_corr):
    assert bs.cramers_v(table, corrected=False) == approx(v)
    assert bs.cramers_v(table, corrected=False) == pytest.approx(association(np.asarray(table), method="cramer"))
    assert bs.cramers_v(table) == approx(v_corr)


def test_cramers_v_degenerate():
    assert math.isnan(bs.cramers_v([[3, 4]]))


@pytest.mark.parametrize(
    "table, mi, u_rows_given_cols, u_cols_given_rows",
    [
        (COLOUR_X_LABEL, 0.231401, 0.145223, 0.338847),   # U(colour|label), U(label|colour)
        (COLOUR_X_SIZE, 0.0680729, 0.0427211, 0.131015),  # U(colour|size), U(size|colour)
        (SIZE_X_LABEL, 0.222517, 0.428263, 0.325837),     # U(size|label), U(label|size)
        (COLOUR_X_MULTI, 0.410116, 0.25738, 1.0),
        (COLOUR_X_HAS_WHITE, 0.651757, 0.409029, 1.0),
        (SIZE_X_MULTI, 0.0375783, 0.0723244, 0.0916284),
    ],
)
def test_mutual_info_and_theils_u_vectors(table, mi, u_rows_given_cols, u_cols_given_rows):
    assert bs.mutual_info(table) == approx(mi)
    assert bs.mutual_info(table) == pytest.approx(mutual_info_score(None, None, contingency=np.asarray(table)))
    assert bs.theils_u(table, given_axis=1) == approx(u_rows_given_cols)  # U(rows | columns)
    assert bs.theils_u(table, given_axis=0) == approx(u_cols_given_rows)  # U(columns | rows)


def test_theils_u_direction():
    # U(size | label) = 0.428263 and U(label | size) = 0.325837 (TV D, sensitive = size)
    assert bs.theils_u(SIZE_X_LABEL, given_axis=1) == approx(0.428263)  # rows = size, given columns = label
    assert bs.theils_u(SIZE_X_LABEL, given_axis=0) == approx(0.325837)
    assert math.isnan(bs.theils_u([[3, 4]], given_axis=1))
    with pytest.raises(ValueError, match="given_axis"):
        bs.theils_u(SIZE_X_LABEL, given_axis=2)


@pytest.mark.parametrize("k, n, lo, hi", [(3, 6, 0.118117, 0.881883), (2, 8, 0.031854, 0.650856)])
def test_clopper_pearson_vectors(k, n, lo, hi):
    assert bs.clopper_pearson_ci(k, n) == (approx(lo), approx(hi))
    ci = stats.binomtest(k, n).proportion_ci(method="exact")
    assert bs.clopper_pearson_ci(k, n) == (pytest.approx(ci.low), pytest.approx(ci.high))


@pytest.mark.parametrize("k, n", [(0, 10), (3, 14), (14, 14), (50, 1000)])
def test_intervals_against_statsmodels_and_scipy(k, n):
    assert bs.wilson_ci(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"))
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert bs.wilson_ci(k, n) == (pytest.approx(ci.low), pytest.approx(ci.high))
    lo, hi = bs.clopper_pearson_ci(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    with pytest.raises(ValueError):
        bs.wilson_ci(n + 1, n)


# --------------------------------------------------------------------------------------------
# B1-B3: depletion, purity, upper bounds (the lecture's statements)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "obs, s, n_label, n, p, p_min, expected",
    [
        (0, 3, 8, 14, 0.0549451, 0.0549451, 1.71429),    # S2 size=big | PUSI
        (0, 1, 6, 14, 0.571429, 0.571429, 0.428571),     # colour=red | KURI
        (0, 2, 6, 14, 0.307692, 0.307692, 0.857143),     # S5 multicolour | KURI
        (0, 2, 1, 3, 0.333333, 0.333333, 0.666667),      # S6 within colour=white
        (0, 2, 3, 11, 0.509091, 0.509091, 0.545455),     # S6 within size=small
        (0, 4, 6, 14, 0.0699301, None, 1.71429),         # S6 variant has_white, overall
        (0, 4, 1, 5, 0.2, None, None),                   # ... within has_white
        (0, 4, 3, 11, 0.212121, None, None),             # ... within small
        (4, 5, 6, 14, 0.997003, 0.027972, None),         # F: colour=brown | KURI
        (1, 5, 8, 14, 0.0629371, 0.002997, None),        # F: colour=brown | PUSI
        (1, 4, 8, 14, 0.174825, 0.014985, None),         # E: leaf 4
    ],
)
def test_depletion_vectors(obs, s, n_label, n, p, p_min, expected):
    res_p, res_min, res_e = bs.depletion_test(obs, s, n_label, n)
    assert res_p == approx(p)
    if p_min is not None:
        assert res_min == approx(p_min)
    if expected is not None:
        assert res_e == approx(expected)
    fisher = stats.fisher_exact([[obs, s - obs], [n_label - obs, n - s - n_label + obs]], alternative="less")
    assert res_p == pytest.approx(fisher.pvalue, rel=1e-12)


def test_iut_complement_cell_vector():
    """F (complement items): small AND colour!=brown | KURI, IUT p = 0.0277778."""
    overall = bs.depletion_test(0, 7, 6, 14)[0]
    within_small = bs.depletion_test(0, 7, 3, 11)[0]
    within_not_brown = bs.depletion_test(0, 7, 2, 9)[0]
    assert max(overall, within_small, within_not_brown) == approx(0.0277778)


def test_depletion_rejects_inconsistent_counts():
    with pytest.raises(ValueError, match="inconsistent"):
        bs.depletion_test(5, 3, 8, 14)


@pytest.mark.parametrize("s, n, n_label, p", [(3, 14, 6, 0.0549451), (1, 14, 8, 0.571429), (2, 14, 8, 0.307692),
                                             (7, 14, 8, 0.002331)])
def test_purity_vectors(s, n, n_label, p):
    assert bs.purity_p(s, n, n_label) == approx(p)
    assert bs.purity_p(s, n, n_label) == pytest.approx(math.comb(n_label, s) / math.comb(n, s))


def test_min_support_vectors():
    assert bs.min_support_for_purity(14, 6) == 4   # -> KURI
    assert bs.min_support_for_purity(14, 8) == 5   # -> PUSI
    assert bs.min_support_for_purity(14, 14) is None
    assert bs.min_support_for_purity(3, 1) is None
    assert bs.purity_p(4, 14, 3) == 0.0 and bs.purity_p(0, 14, 3) == 1.0


@pytest.mark.parametrize("s, bound", [(8, 0.312344), (6, 0.393038), (2, 0.776393)])
def test_zero_upper_bound_vectors(s, bound):
    assert bs.zero_upper_bound(s) == approx(bound)
    # it is the exact Clopper-Pearson one-sided bound: P(0 of s | pi_up) = alpha
    assert stats.binom.pmf(0, s, bs.zero_upper_bound(s)) == pytest.approx(0.05)
    assert bs.zero_upper_bound(0) == 1.0


# --------------------------------------------------------------------------------------------
# Multiple testing
# --------------------------------------------------------------------------------------------
def test_bh_vectors_split_and_scan():
    # A3: BH over the three split tests
    assert bs.adjust_pvalues([0.58042, 1.0, 0.035964]) == pytest.approx([0.870629, 1.0, 0.107892], rel=1e-5)
    # F: whole scan, three testable hypotheses
    raw = [0.997003, 0.0629371, 0.55045]
    assert bs.adjust_pvalues(raw, "bh") == pytest.approx([0.997003, 0.188811, 0.825674], rel=1e-5)
    assert bs.adjust_pvalues(raw, "holm") == pytest.approx([1.0, 0.188811, 1.0], rel=1e-5)
    assert bs.adjust_pvalues(raw, "by") == pytest.approx([1.0, 0.346154, 1.0], rel=1e-5)
    # F3: adding the selection-adjusted model-probe hypothesis
    q = bs.adjust_pvalues(raw + [0.00632701])
    assert q[-1] == approx(0.025308)
    assert bs.adjust_pvalues(raw + [0.00632701], "holm")[-1] == approx(0.025308)


def test_bh_c4_subgroups_vectors():
    p = [0.0549451, 0.0549451, 1, 0.0909091, 1, 1, 1, 1, 0.472527, 0.472527, 0.428571, 0.428571, 0.428571,
         0.472527, 0.244755, 0.472527, 0.58042]
    q_all = [0.467033, 0.467033, 1, 0.515152, 1, 1, 1, 1, 0.73027, 0.73027, 0.73027, 0.73027, 0.73027,
             0.73027, 0.73027, 0.73027, 0.822261]
    assert bs.adjust_pvalues(p) == pytest.approx(q_all, rel=2e-5)
    testable = [math.nan] * 3 + [0.0909091] + [math.nan] * 10 + [0.244755, math.nan, 0.58042]
    q = bs.adjust_pvalues(testable)
    assert np.isnan(q[[0, 1, 2, 4, 15]]).all()
    assert q[[3, 14, 16]] == pytest.approx([0.272727, 0.367133, 0.58042], rel=2e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjust_against_scipy_and_statsmodels(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, size=25) ** 2
    assert bs.adjust_pvalues(p, "bh") == pytest.approx(stats.false_discovery_control(p, method="bh"))
    assert bs.adjust_pvalues(p, "by") == pytest.approx(stats.false_discovery_control(p, method="by"))
    assert bs.adjust_pvalues(p, "holm") == pytest.approx(multipletests(p, method="holm")[1])


def test_adjust_edge_cases():
    assert bs.adjust_pvalues([]).shape == (0,)
    assert np.isnan(bs.adjust_pvalues([math.nan, math.nan])).all()
    with pytest.raises(ValueError, match="method"):
        bs.adjust_pvalues([0.1], "bonferroni-ish")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bs.adjust_pvalues([1.5])


# --------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, value, level",
    [
        ("depletion_ratio", 0.0, 3), ("depletion_ratio", 0.2, 3), ("depletion_ratio", 0.5, 2),
        ("depletion_ratio", 0.8, 1), ("depletion_ratio", 0.81, 0), ("depletion_ratio", 1.5, 0),
        ("disparate_impact", 0.272727, 2), ("disparate_impact", 0.918367, 0),
        ("representation_ratio", 0.761905, 1), ("representation_ratio", 1.3, 1), ("representation_ratio", 1.2, 0),
        ("cohens_w", 0.09, 0), ("cohens_w", 0.1, 1), ("cohens_w", 0.379088, 2), ("cohens_w", 0.5, 3),
        ("cramers_v", 0.55732, 3), ("cramers_v", 0.2, 1),
        ("tvd", 0.026, 0), ("tvd", 0.0775634, 1), ("tvd", 0.185714, 2), ("tvd", 0.2, 3),
        ("psi", 0.236596, 1), ("psi", 0.25, 2), ("psi", 0.6, 3),
        ("spd", -0.727273, 3), ("spd", 0.08, 1), ("spd", 0.04, 0), ("spd", math.nan, 0),
    ],
)
def test_effect_level(name, value, level):
    assert bs.effect_level(name, value) == level


def test_effect_level_cramers_v_on_w_scale_and_errors():
    assert bs.effect_level("cramers_v", 0.2, dof_star=4) == 2  # 0.2 * sqrt(4) = 0.4
    with pytest.raises(ValueError, match="'name' parameter of effect_level"):
        bs.effect_level("odds", 1.0)


@pytest.mark.parametrize(
    "q, level, testable, pattern, severity",
    [
        (1e-4, 3, True, True, "critical"),
        (1e-4, 2, True, True, "high"),
        (0.005, 3, True, True, "high"),
        (0.025308, 3, True, True, "medium"),      # F3 model-probe finding
        (0.0425, 0, True, True, "low"),           # H2 label vs reference (TVD .026)
        (0.188811, 2, True, True, "weak-evidence"),  # F brown | PUSI
        (0.188811, 0, True, False, "info"),
        (math.nan, 3, False, True, "insufficient-data"),  # S2, S5, S6
        (1e-9, 3, False, True, "insufficient-data"),
        (math.nan, 0, False, False, "info"),
        (math.nan, 3, True, True, "weak-evidence"),
    ],
)
def test_grade_severity(q, level, testable, pattern, severity):
    assert bs.grade_severity(q, level, testable=testable, pattern=pattern) == severity


def test_grading_tables_are_printable():
    json.dumps({"rules": bs.SEVERITY_RULES, "thresholds": bs.EFFECT_THRESHOLDS})
    severities = [r["severity"] for r in bs.SEVERITY_RULES]
    assert severities == ["critical", "high", "medium", "low", "weak-evidence", "insufficient-data", "info"]
    assert set(bs.EFFECT_THRESHOLDS) == {"depletion_ratio", "disparate_impact", "representation_ratio",
                                         "cohens_w", "cramers_v", "tvd", "psi", "spd"}


# --------------------------------------------------------------------------------------------
# C2: CMH and the exact stratified test
# --------------------------------------------------------------------------------------------
def test_cmh_kidney_stones_vector():
    res = bs.cmh_test(KIDNEY)
    assert res.test == "Cochran-Mantel-Haenszel chi-square"
    assert res.odds_ratio == approx(1.44685)
    assert res.statistic == approx(2.43386)
    assert res.p_value == approx(0.118741) == res.cmh_p
    assert res.breslow_day_p == approx(0.325068)
    assert res.mantel_fleiss == approx(54.1554)
    assert res.exact_p == approx(0.137979)
    assert bs.exact_stratified_test(KIDNEY)[0] == approx(0.137979)
    # statsmodels directly, including the continuity-corrected value of the vectors
    st = StratifiedTable(KIDNEY)
    assert st.test_null_odds(correction=True).pvalue == approx(0.148144)
    assert res.cmh_p == pytest.approx(st.test_null_odds(correction=False).pvalue)
    # Simpson: marginal Fisher p of the pooled table
    assert stats.fisher_exact(sum(KIDNEY)).pvalue == approx(0.153974)
    json.dumps(res.to_dict())


@pytest.mark.parametrize(
    "strata, x2, p_cmh, mf, p_exact",
    [
        ([[[3, 1], [0, 7]], [[1, 0], [2, 0]]], 6.5625, 0.010415, 1.09091, 0.0242424),       # brown | size
        ([[[0, 2], [3, 6]], [[1, 0], [0, 0]]], 0.833333, 0.36131, 0.545455, 1.0),            # white | size
        ([[[1, 0], [3, 1]], [[1, 0], [0, 2]], [[1, 0], [0, 2]], [[0, 0], [0, 1]]],
         3.88971, 0.0485829, 1.46667, 0.177778),                                               # big | colour
        ([[[0, 4], [3, 4]]], 2.14286, 0.143235, 1.09091, 0.236364),                           # has_white | size
    ],
    ids=["brown|size", "white|size", "big|colour", "has_white|size"],
)
def test_cmh_lecture_vectors_use_exact_test(strata, x2, p_cmh, mf, p_exact):
    res = bs.cmh_test(strata)
    assert res.test == "exact conditional test (stratified)"
    assert res.statistic == approx(x2)
    assert res.cmh_p == approx(p_cmh)
    assert res.mantel_fleiss == approx(mf)
    assert res.p_value == approx(p_exact) == res.exact_p
    assert res.p_value >= res.p_min


def test_cmh_zero_cells_and_breslow_day_nan():
    res = bs.cmh_test([[[1, 0], [3, 1]], [[1, 0], [0, 2]], [[1, 0], [0, 2]]])
    assert math.isinf(res.odds_ratio) and math.isnan(res.breslow_day_p)
    assert res.n_strata == 3


def test_cmh_no_informative_stratum():
    res = bs.cmh_test([[[2, 0], [3, 0]]])
    assert not res.valid and res.p_value == 1.0 and res.p_min == 1.0
    assert bs.exact_stratified_test([[[2, 0], [3, 0]]]) == (1.0, 1.0)


@pytest.mark.parametrize("table", [[[3, 1], [0, 7]], [[81, 6], [234, 36]], [[5, 4], [1, 4]]])
def test_exact_stratified_single_stratum_equals_fisher(table):
    p, p_min = bs.exact_stratified_test([table])
    assert p == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-9)
    assert p_min == pytest.approx(bs.fisher_pmin_2x2(np.sum(table, 1), np.sum(table, 0)), rel=1e-9)


def test_cmh_rejects_non_2x2():
    with pytest.raises(ValueError, match="2 x 2"):
        bs.cmh_test([[[1, 2, 3], [4, 5, 6]]])


# --------------------------------------------------------------------------------------------
# C3 / H2: fragility
# --------------------------------------------------------------------------------------------
def test_fragility_walsh_vectors():
    t = [[1, 99], [9, 91]]
    assert stats.fisher_exact(t).pvalue == approx(0.0184877)
    assert stats.fisher_exact([[2, 98], [9, 91]]).pvalue == approx(0.0582207)
    assert bs.fragility_flip(t) == 1
    assert bs.fragility_delete(t) == 3
    assert bs.fragility_flip([[3, 47], [12, 38]]) == 1


def test_reverse_fragility_vectors():
    assert bs.reverse_fragility(SIZE_X_LABEL) == 1
    assert stats.fisher_exact([[3, 0], [2, 9]]).pvalue == approx(0.0274725)
    assert bs.reverse_fragility(SIZE_X_LABEL, kind="delete") == 1
    assert stats.fisher_exact([[3, 0], [2, 8]]).pvalue == approx(0.034965)
    assert bs.reverse_fragility([[4, 1], [2, 7]]) == 1
    assert bs.reverse_fragility([[4, 1], [2, 7]], kind="delete") == 1
    assert bs.reverse_fragility([[1, 99], [9, 91]]) == 0  # already significant
    # a non-significant table's flip FI is its reverse FI
    assert bs.fragility_flip(SIZE_X_LABEL) == 1


def test_fragility_greedy_large_table_vector():
    t = [[0, 204], [948, 848]]
    assert stats.fisher_exact(t).pvalue == pytest.approx(6.68703e-62, rel=1e-5)
    assert bs.fragility_flip(t) == 93


def test_fragility_none_and_errors():
    assert bs.fragility_flip([[1, 1], [1, 1]]) is None  # 4 rows can never be significant
    assert bs.reverse_fragility([[0, 1], [1, 0]]) is None  # 2 rows can never be significant
    with pytest.raises(ValueError, match="alternative"):
        bs.fragility_flip([[1, 2], [3, 4]], alternative="both")
    with pytest.raises(ValueError, match="kind"):
        bs.reverse_fragility([[1, 2], [3, 4]], kind="add")
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        bs.fragility_delete([[1, 2, 3], [3, 4, 5]])


def test_addition_fragility_gap():
    # 'big -> KURI' rests on 3 rows; one big PUSI gives (two-sided Fisher) p = 0.235165 (C3).
    assert stats.fisher_exact([[3, 1], [3, 8]]).pvalue == approx(0.235165)
    # The one-sided gap (p = 0.0549) is significant at alpha = 0.06; one counter-example ends that.
    assert bs.depletion_test(1, 4, 9, 15)[0] > 0.06
    assert bs.addition_fragility_gap(0, 3, 8, 14, alpha=0.06) == 1
    assert bs.addition_fragility_gap(0, 3, 8, 14) == 0  # not significant to start with
    k = bs.addition_fragility_gap(0, 204, 948, 2000)
    assert stats.hypergeom.cdf(k, 2000 + k, 948 + k, 204 + k) > 0.05
    assert stats.hypergeom.cdf(k - 1, 2000 + k - 1, 948 + k - 1, 204 + k - 1) <= 0.05
    # the IUT p is a maximum, so the gap stops being significant no later than the overall test
    k_iut = bs.addition_fragility_gap(0, 204, 948, 2000, parents=[(1000, 300)])
    assert k_iut <= k


# --------------------------------------------------------------------------------------------
# A4: continuous shift
# --------------------------------------------------------------------------------------------
def _a4_samples():
    train = stats.norm.ppf((np.arange(40) + 0.5) / 40)
    test = stats.norm.ppf((np.arange(20) + 0.5) / 20) + 0.5
    return train, test


def test_numeric_shift_vectors():
    train, test = _a4_samples()
    res = bs.numeric_shift(train, test, n_bins=5)
    assert res["ks_statistic"] == approx(0.225) and res["ks_p"] == approx(0.492978)
    assert res["ad_statistic"] == approx(0.88415) and res["ad_p"] == approx(0.141569)
    assert res["ad_p_method"] == "interpolated"
    assert res["counts_a"] == [8, 8, 8, 8, 8] and res["counts_b"] == [2, 3, 3, 4, 8]
    assert res["binned"]["statistic"] == approx(3.16364)
    assert res["binned"]["p_value"] == approx(0.581145)
    table = np.array([res["counts_a"], res["counts_b"]])
    assert stats.chi2_contingency(table, correction=False).pvalue == approx(0.530824)
    assert res["psi"] == approx(0.236596)
    assert res["wasserstein_sd"] == approx(0.501604)
    json.dumps(res)


def test_numeric_shift_permutation_when_clipped():
    train, test = _a4_samples()
    res = bs.numeric_shift(train, test + 3.0, rng=0)
    assert res["ad_p_method"].startswith("permutation")
    assert 0 < res["ad_p"] < 0.001
    assert bs.numeric_shift(train, test + 3.0, rng=0) == res  # seeded
    default_bins = bs.numeric_shift(train, test)
    assert len(default_bins["counts_b"]) == 4  # min(10, 20 // 5)


def test_psi_symmetry_and_zero():
    assert bs.psi([1, 2, 3], [1, 2, 3]) == 0.0
    assert bs.psi([8, 8, 8, 8, 8], [2, 3, 3, 4, 8]) == pytest.approx(bs.psi([2, 3, 3, 4, 8], [8, 8, 8, 8, 8]))
    assert math.isfinite(bs.psi([5, 5, 0], [3, 3, 4]))


# --------------------------------------------------------------------------------------------
# B4: rows needed (planning number)
# --------------------------------------------------------------------------------------------
def test_rows_needed_vectors():
    # S2 "no big cat": Fisher on the size x label table reaches significance at n = 28
    assert bs.rows_needed(SIZE_X_LABEL, bs.independence_test) == 28
    # the same with the one-sided depletion p (B4: r=2 p=0.00245; S5: r=3 p=0.0257)
    depl = lambda v: bs.depletion_test(*v)[0]  # noqa: E731  v = (obs, s, n_label, n)
    assert depl(np.array([0, 3, 8, 14]) * 2) == pytest.approx(0.00245, rel=2e-3)
    assert bs.rows_needed([0, 3, 8, 14], depl, n0=14) == 28
    assert bs.rows_needed([0, 2, 6, 14], depl, n0=14) == 42
    # S6 IUT: overall and both parents (r=4 p=0.0593, r=5 p=0.029 -> n=70)

    def iut(v):
        obs, s, n_l, n, s_white, n_l_white, s_small, n_l_small = v
        return max(bs.depletion_test(obs, s, n_l, n)[0], bs.depletion_test(obs, s, n_l_white, s_white)[0],
                   bs.depletion_test(obs, s, n_l_small, s_small)[0])

    s6 = np.array([0, 2, 6, 14, 3, 1, 11, 3])
    assert iut(s6 * 4) == pytest.approx(0.0593, rel=2e-3)
    assert iut(s6 * 5) == pytest.approx(0.029, rel=2e-2)
    assert bs.rows_needed(s6, iut, n0=14) == 70
    assert bs.rows_needed(s6, iut, n0=14, max_factor=3) is None
    assert bs.rows_needed([[30, 0], [0, 30]], bs.independence_test) == 60


# --------------------------------------------------------------------------------------------
# Exact multinomial against brute force; helpers
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("observed, probs", [([2, 0, 1], [0.2, 0.3, 0.5]), ([1, 1, 1, 0], [0.1, 0.2, 0.3, 0.4]),
                                             ([4, 1], [0.5, 0.5]), ([0, 5, 0], [1 / 3, 1 / 3, 1 / 3])])
def test_exact_multinomial_brute_force(observed, probs):
    n, k = sum(observed), len(observed)
    outcomes = [x for x in itertools.product(range(n + 1), repeat=k) if sum(x) == n]
    pmf = np.array([stats.multinomial.pmf(x, n, probs) for x in outcomes])
    p_obs = stats.multinomial.pmf(observed, n, probs)
    expected = pmf[pmf <= p_obs * (1 + 1e-7)].sum()
    p, n_tables, = bs.exact_multinomial(observed, probs)
    assert n_tables == len(outcomes) and p == pytest.approx(expected, rel=1e-9)
    full = bs.exact_multinomial_full(observed, probs)
    assert full[1] == pytest.approx(pmf[pmf <= pmf.min() * (1 + 1e-7)].sum(), rel=1e-9)
    assert full[1] == pytest.approx(bs.multinomial_pmin(n, probs), rel=1e-9)


def test_exact_multinomial_k2_is_binomtest():
    for k, n, p in [(3, 14, 0.4), (6, 14, 0.5), (0, 9, 0.2)]:
        assert bs.exact_multinomial([k, n - k], [p, 1 - p])[0] == pytest.approx(stats.binomtest(k, n, p).pvalue)


def test_exact_multinomial_structural_zero_raises():
    with pytest.raises(ValueError, match="structural zeros"):
        bs.exact_multinomial([1, 2], [1.0, 0.0])
    with pytest.raises(ValueError, match="sum to 1"):
        bs.exact_multinomial([1, 2], [0.3, 0.3])


def test_public_api_is_explicit():
    assert len(bs.__all__) == len(set(bs.__all__))
    for name in bs.__all__:
        assert hasattr(bs, name), name
    assert TestResult.__test__ is False


def test_monte_carlo_scalar_p_on_tiny_table():
    """scipy 1.17's Monte Carlo fisher_exact returns shape-(1,) arrays for some tables."""
    res = bs.independence_test([[0, 1, 1], [1, 1, 1], [1, 1, 1]])
    assert res.test == "Monte Carlo conditional test"
    assert isinstance(res.p_value, float) and res.p_value == 1.0
