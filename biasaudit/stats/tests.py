"""Choosing and running the test for a categorical table (STATISTICS.md §1.1).

* :func:`independence_test` -- r x c table: Pearson X^2, Fisher, Freeman-Halton, seeded Monte Carlo,
  or pooling of rare levels, by the decision table of §1.1.
* :func:`gof_test` -- 1 x k counts against known probabilities: exact binomial, Pearson X^2, G-test,
  exact multinomial, or seeded Monte Carlo multinomial.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import stats

from ._validation import as_counts, as_probs, as_rng, drop_empty, chi2_sf, pearson_x2
from ._validation import expected_counts as expected_freq
from .exact import (
    binomial_pmin,
    count_2xk_tables,
    count_compositions,
    exact_multinomial_full,
    fisher_pmin_2x2,
    freeman_halton_2xk,
    monte_carlo_multinomial,
    multinomial_pmin,
)
from .results import TestResult

__all__ = [
    "cochran_ok",
    "independence_test",
    "gof_test",
    "MAX_2XK_TABLES",
    "MAX_MULTINOMIAL_TABLES",
    "MC_RESAMPLES",
    "MC_MULTINOMIAL_DRAWS",
    "POOLING_MIN_N",
]

#: Largest number of 2 x K tables enumerated by the Freeman-Halton test.
MAX_2XK_TABLES = 20_000
#: Largest number of compositions enumerated by the exact multinomial test.
MAX_MULTINOMIAL_TABLES = 2_000_000
#: Resamples of the Monte Carlo conditional test on r x c tables.
MC_RESAMPLES = 9_999
#: Draws of the Monte Carlo multinomial goodness-of-fit test.
MC_MULTINOMIAL_DRAWS = 100_000
#: Above this n an r x c table failing Cochran's rule is pooled instead of simulated.
POOLING_MIN_N = 100

_EXACT_2X2 = ("fisher", "barnard", "boschloo")
_GOF_METHODS = ("auto", "pearson", "g", "exact")


def cochran_ok(expected) -> bool:
    """Cochran's rule: every expected count is >= 1 and at most 20 % of them are below 5.

    References
    ----------
    Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10, 417-451.
    """
    e = np.asarray(expected, dtype=float).ravel()
    if e.size == 0:
        return False
    return bool(np.all(e >= 1) and np.mean(e < 5) <= 0.2)


def _pearson(table: np.ndarray) -> tuple[float, int]:
    return pearson_x2(table)


def _level_names(table) -> tuple[list[str], list[str]]:
    if hasattr(table, "index") and hasattr(table, "columns"):
        return [str(v) for v in table.index], [str(v) for v in table.columns]
    shape = np.shape(table)
    return [f"row {i}" for i in range(shape[0])], [f"col {j}" for j in range(shape[1])]


def _pool_key(vec: np.ndarray) -> tuple:
    """Order levels by margin, then by their sorted profile (never by name or position)."""
    return (int(vec.sum()), tuple(sorted(vec.tolist(), reverse=True)))


def _pool_rare(table: np.ndarray, rows: list[str], cols: list[str]):
    """Merge the rarest level into the next-rarest one (same dimension) until Cochran holds.

    Returns the pooled table, its level names and the list of merges performed.
    """
    t = table.copy()
    rows, cols = list(rows), list(cols)
    merges: list[str] = []
    while not cochran_ok(expected_freq(t)) and (t.shape[0] > 2 or t.shape[1] > 2):
        candidates = []
        if t.shape[0] > 2:
            candidates += [(_pool_key(t[i]), 0, i) for i in range(t.shape[0])]
        if t.shape[1] > 2:
            candidates += [(_pool_key(t[:, j]), 1, j) for j in range(t.shape[1])]
        candidates.sort(key=lambda c: c[0])
        _, axis, i = candidates[0]
        same_axis = sorted((c for c in candidates if c[1] == axis and c[2] != i), key=lambda c: c[0])
        j = same_axis[0][2]
        names = rows if axis == 0 else cols
        if axis == 0:
            t[j] += t[i]
            t = np.delete(t, i, axis=0)
        else:
            t[:, j] += t[:, i]
            t = np.delete(t, i, axis=1)
        merged = f"{names[j]}+{names[i]}"
        merges.append(merged)
        names[j] = merged
        del names[i]
    return t, rows, cols, merges


def _sorted_axis(t: np.ndarray) -> np.ndarray:
    keys = [(int(v.sum()), tuple(sorted(v.tolist(), reverse=True)), tuple(v.tolist())) for v in t]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=int)


def _canonical_order(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r_idx, c_idx = np.arange(t.shape[0]), np.arange(t.shape[1])
    for _ in range(4):
        r_idx = r_idx[_sorted_axis(t[np.ix_(r_idx, c_idx)])]
        c_idx = c_idx[_sorted_axis(t[np.ix_(r_idx, c_idx)].T)]
    return r_idx, c_idx


def _canonical(t: np.ndarray, rows: list[str], cols: list[str]):
    """Put the table in a canonical orientation and order so that the result (including the
    seeded Monte Carlo draws and the pooling order) does not depend on how levels were named
    or ordered (STATISTICS.md §0, name invariance)."""
    options = []
    for tt, rn, cn in ((t, rows, cols), (t.T, cols, rows)):
        r_idx, c_idx = _canonical_order(tt)
        ct = tt[np.ix_(r_idx, c_idx)]
        options.append((ct.shape[0] > ct.shape[1], ct.shape, tuple(ct.ravel().tolist()),
                        ct, [rn[i] for i in r_idx], [cn[j] for j in c_idx]))
    best = min(options, key=lambda o: o[:3])
    return best[3], best[4], best[5]


def _two_by_two(t: np.ndarray, x2: float, exact_2x2: str, prefix: str = "", note: str = "") -> TestResult:
    if exact_2x2 == "fisher":
        p = float(stats.fisher_exact(t).pvalue)
        p_min = fisher_pmin_2x2(t.sum(axis=1), t.sum(axis=0))
        name = "Fisher exact (two-sided)"
    else:
        func = stats.barnard_exact if exact_2x2 == "barnard" else stats.boschloo_exact
        p = float(func(t).pvalue)
        r = t.sum(axis=1)
        # smallest attainable p given the group sizes: a perfectly separated table
        p_min = float(min(func([[r[0], 0], [0, r[1]]]).pvalue, func([[0, r[0]], [r[1], 0]]).pvalue))
        name = f"{exact_2x2.capitalize()} exact (two-sided)"
    return TestResult(name + prefix, x2, 1, min(p, 1.0), min(p_min, 1.0), True, note)


def independence_test(table, *, alpha: float = 0.05, rng=0, exact_2x2: str = "fisher") -> TestResult:
    r"""Test independence of rows and columns of an r x c count table, choosing the test by §1.1.

    All-zero rows and columns are dropped first. Then, with expected counts
    :math:`E_{ij} = r_i c_j / n` and Pearson's statistic

    .. math:: X^2 = \sum_{ij} \frac{(O_{ij} - E_{ij})^2}{E_{ij}} \sim \chi^2_{(r-1)(c-1)},

    the test is:

    ==================================================  =====================================
    situation                                           test
    ==================================================  =====================================
    Cochran holds                                       Pearson X^2, no Yates (p_min = 0)
    2 x 2, Cochran fails                                Fisher exact two-sided (or Barnard /
                                                        Boschloo, set in advance by exact_2x2)
    2 x K, Cochran fails, <= 20 000 tables              Freeman-Halton exact enumeration
    r x c, Cochran fails, n <= 100                      Monte Carlo conditional test, 9 999
                                                        resamples, seeded
    r x c, Cochran fails, n > 100                       pool rarest levels, then Pearson
    ==================================================  =====================================

    Parameters
    ----------
    table : array-like of shape (r, c)
        Integer counts. A pandas DataFrame's index/columns name the pooled levels in ``note``.
    alpha : float
        Level; when ``p_min > alpha`` the note says the hypothesis is untestable.
    rng : int, numpy.random.Generator or None
        Seed of the Monte Carlo test (deterministic by default).
    exact_2x2 : {"fisher", "barnard", "boschloo"}
        The exact test for a 2 x 2 table failing Cochran's rule, fixed **before** seeing the data.

    Returns
    -------
    TestResult
        ``statistic`` is always Pearson's X^2 of the (pooled) table and ``dof`` its degrees of
        freedom. For the Monte Carlo test ``p_min = 1/(B+1)``, the smallest p the simulation can
        report (a lower bound of the exact p_min, so the Tarone filter never drops a testable
        hypothesis). For unconditional 2 x 2 tests, p_min is the p of a perfectly separated table.

    References
    ----------
    Cochran (1954) Biometrics 10:417; Fisher (1935) The Design of Experiments;
    Freeman & Halton (1951) Biometrika 38:141; Barnard (1945) Nature 156:177;
    Boschloo (1970) Statistica Neerlandica 24:1; Tarone (1990) Biometrics 46:515.
    """
    if exact_2x2 not in _EXACT_2X2:
        raise ValueError(
            f"The 'exact_2x2' parameter of independence_test must be one of {_EXACT_2X2}. Got {exact_2x2!r} instead."
        )
    t_full = as_counts(table, name="table", func="independence_test", ndim=2)
    row_names, col_names = _level_names(table)
    t, keep_r, keep_c = drop_empty(t_full)
    row_names = [row_names[i] for i in keep_r]
    col_names = [col_names[j] for j in keep_c]
    if t.shape[0] >= 2 and t.shape[1] >= 2:
        t, row_names, col_names = _canonical(t, row_names, col_names)
    res = _choose_test(t, row_names, col_names, rng, exact_2x2)
    if res.p_min > alpha:
        note = f"untestable at alpha={alpha:g}: p_min={res.p_min:.3g}"
        res = replace(res, note=f"{res.note}; {note}" if res.note else note)
    return res


def _choose_test(t, row_names, col_names, rng, exact_2x2) -> TestResult:
    if t.shape[0] < 2 or t.shape[1] < 2:
        return TestResult("not testable (one level)", float("nan"), None, 1.0, 1.0, True,
                          "fewer than two non-empty rows or columns")
    n = int(t.sum())
    x2, dof = _pearson(t)
    if cochran_ok(expected_freq(t)):
        p = chi2_sf(x2, dof)
        return TestResult("Pearson chi-square", x2, dof, p, 0.0)
    if t.shape == (2, 2):
        return _two_by_two(t, x2, exact_2x2)
    if min(t.shape) == 2:
        t2 = t if t.shape[0] == 2 else t.T
        if count_2xk_tables(t2.sum(axis=1), t2.sum(axis=0)) <= MAX_2XK_TABLES:
            p, p_min, n_tables = freeman_halton_2xk(t2)
            return TestResult("Freeman-Halton exact", x2, dof, p, p_min, True, f"{n_tables} tables enumerated")
    if n <= POOLING_MIN_N:
        method = stats.MonteCarloMethod(n_resamples=MC_RESAMPLES, rng=as_rng(rng))
        # scipy 1.17 may return a shape-(1,) array for some small tables: take the scalar
        p = float(np.asarray(stats.fisher_exact(t, method=method).pvalue).ravel()[0])
        se = float(np.sqrt(p * (1 - p) / MC_RESAMPLES))
        return TestResult("Monte Carlo conditional test", x2, dof, p, 1.0 / (MC_RESAMPLES + 1), True,
                          f"{MC_RESAMPLES} resamples; MC s.e. {se:.2g}")
    pooled, _, _, merges = _pool_rare(t, row_names, col_names)
    suffix = f" (pooled: {'; '.join(merges)})"
    note = f"pooled rare levels: {'; '.join(merges)}"
    x2p, dofp = _pearson(pooled)
    if cochran_ok(expected_freq(pooled)):
        return TestResult("Pearson chi-square" + suffix, x2p, dofp, chi2_sf(x2p, dofp), 0.0, True, note)
    # pooled down to 2 x 2 and still sparse: the exact 2 x 2 test of the pooled table
    return _two_by_two(pooled, x2p, exact_2x2, suffix, note)


def gof_test(observed, probs, *, rng=0, method: str = "auto") -> TestResult:
    r"""Goodness of fit of 1 x k counts against known probabilities (STATISTICS.md §2.1).

    ``method="auto"`` follows §1.1: k = 2 -> exact binomial (``scipy.stats.binomtest``); Cochran
    holds -> Pearson :math:`X^2 = \sum_i (O_i - np_i)^2/(np_i)` (``power_divergence``); otherwise
    the exact multinomial test when :math:`\binom{n+k-1}{k-1} \le 2\cdot10^6`, else a seeded Monte
    Carlo multinomial test with 10^5 draws (its s.e. in ``note``).
    ``method="g"`` runs the G-test :math:`G^2 = 2\sum_i O_i \ln(O_i/(np_i))`; ``"pearson"`` forces
    Pearson; ``"exact"`` forces the exact multinomial (Monte Carlo when too large). A forced
    asymptotic test with Cochran failing is returned with ``valid=False``.

    Categories with probability 0 (structural zeros) are removed; rows observed there are
    "impossible under the reference" and are reported in ``note``, the rest is tested.

    Parameters
    ----------
    observed : array-like of shape (k,)
    probs : array-like of shape (k,)
    rng : int, numpy.random.Generator or None
        Seed of the Monte Carlo fallback.
    method : {"auto", "pearson", "g", "exact"}

    Returns
    -------
    TestResult
        ``p_min`` of the exact tests is the total probability of the least likely outcome(s).

    References
    ----------
    Cochran (1954); Read & Cressie (1988) Goodness-of-Fit Statistics for Discrete Multivariate Data;
    Larntz (1978) JASA 73:253 (small-sample X^2 versus G^2).
    """
    if method not in _GOF_METHODS:
        raise ValueError(f"The 'method' parameter of gof_test must be one of {_GOF_METHODS}. Got {method!r} instead.")
    obs = as_counts(observed, name="observed", func="gof_test", ndim=1)
    p = as_probs(probs, size=obs.size, func="gof_test")
    notes = []
    impossible = int(obs[p == 0].sum())
    if impossible:
        notes.append(f"impossible under the reference: {impossible} rows (excluded)")
    keep = p > 0
    obs, p = obs[keep], p[keep]
    n = int(obs.sum())
    if obs.size < 2 or n == 0:
        return TestResult("not testable (one level)", float("nan"), None, 1.0, 1.0, True,
                          "; ".join(notes + ["fewer than two categories or no observations"]))
    expected = n * p
    x2 = float(stats.power_divergence(obs, expected, lambda_="pearson").statistic)
    dof = obs.size - 1
    ok = cochran_ok(expected)
    if method == "g" or method == "pearson":
        res = stats.power_divergence(obs, expected, lambda_="log-likelihood" if method == "g" else "pearson")
        if not ok:
            notes.append("Cochran's rule fails: asymptotic p-value not valid")
        name = "G-test" if method == "g" else "Pearson chi-square"
        return TestResult(name, float(res.statistic), dof, float(res.pvalue), 0.0, ok, "; ".join(notes))
    if method == "auto" and obs.size == 2:
        pv = float(stats.binomtest(int(obs[0]), n, float(p[0])).pvalue)
        return TestResult("exact binomial", x2, dof, pv, binomial_pmin(n, float(p[0])), True, "; ".join(notes))
    if method == "auto" and ok:
        pv = chi2_sf(x2, dof)
        return TestResult("Pearson chi-square", x2, dof, pv, 0.0, True, "; ".join(notes))
    if count_compositions(n, obs.size) <= MAX_MULTINOMIAL_TABLES:
        pv, p_min, n_tables = exact_multinomial_full(obs, p)
        notes.append(f"{n_tables} outcomes enumerated")
        return TestResult("exact multinomial", x2, dof, pv, p_min, True, "; ".join(notes))
    pv, se = monte_carlo_multinomial(obs, p, n_draws=MC_MULTINOMIAL_DRAWS, rng=rng)
    notes.append(f"{MC_MULTINOMIAL_DRAWS} draws; MC s.e. {se:.2g}")
    p_min = max(multinomial_pmin(n, p), 1.0 / (MC_MULTINOMIAL_DRAWS + 1))
    return TestResult("Monte Carlo multinomial", x2, dof, pv, p_min, True, "; ".join(notes))
