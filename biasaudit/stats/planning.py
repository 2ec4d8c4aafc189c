"""Planning numbers: how many rows a pattern would need to become significant (STATISTICS.md §9.4)."""
from __future__ import annotations

from collections.abc import Callable

import math

from ._validation import as_counts
from .celltail import iut_p

__all__ = ["rows_needed", "iut_depletion_p", "min_detectable_w"]


def _p_of(result) -> float:
    return float(getattr(result, "p_value", result))


def rows_needed(table, test_fn: Callable, alpha: float = 0.05, max_factor: int = 1000, *,
                n0: int | None = None) -> int | None:
    r"""Smallest n at which the same proportions would reach ``p <= alpha``.

    The table is replicated r times (every count multiplied by r, so the proportions stay
    fixed) and ``test_fn(table * r)`` is evaluated; the answer is :math:`n = r\,n_0` for the
    smallest such r. The search doubles r and then bisects, which assumes the p-value
    decreases with r (true for the exact and asymptotic tests used here, up to discreteness);
    the returned r is checked directly. This is a *planning number*, not a promise: new data
    need not keep the proportions.

    Parameters
    ----------
    table : array-like of int
        Counts at the current n0.
    test_fn : callable
        Maps a count table to a ``TestResult`` (or anything with ``p_value``) or a float p.
    alpha : float
    max_factor : int
        Largest replication factor tried.
    n0 : int, optional
        Rows behind ``table`` (default ``table.sum()``); give it when ``table`` is a vector of
        counts that are not a partition of the rows (e.g. ``(obs, s, n_label, n)``).

    Returns
    -------
    int or None
        None when even ``max_factor`` replications do not reach alpha.
    """
    t = as_counts(table, name="table", func="rows_needed")
    n0 = int(t.sum()) if n0 is None else int(n0)
    if n0 <= 0:
        return None
    if _p_of(test_fn(t)) <= alpha:
        return n0
    lo, hi = 1, 2
    while _p_of(test_fn(t * hi)) > alpha:
        if hi >= max_factor:
            return None
        lo, hi = hi, min(2 * hi, max_factor)
    while hi - lo > 1:  # p(lo) > alpha >= p(hi)
        mid = (lo + hi) // 2
        if _p_of(test_fn(t * mid)) <= alpha:
            hi = mid
        else:
            lo = mid
    return int(hi * n0)


def iut_depletion_p(counts) -> float:
    r"""p of the intersection-union depletion test of a cell, from its counts.

    ``counts = (obs, s, n_L, n, s_P1, n_L,P1, s_P2, n_L,P2, ...)``: the cell's rows of label L and
    support, the data's rows of L and size, then for every parent cell P its support and rows of L.

    .. math:: p = \max\bigl(F_H(obs;\ n, n_L, s),\ \max_P F_H(obs;\ s_P, n_{L,P}, s)\bigr)

    with :math:`F_H` the hypergeometric CDF (:func:`~biasaudit.stats.depletion_test`).  A spec
    ``{"test": "depletion_iut", "counts": [...], "n": n}`` in a finding's ``details["planning"]``
    lets the grader compute the rows needed at the finding's adjusted threshold.

    References
    ----------
    Berger, R. L. (1982). Technometrics 24, 295-300 (intersection-union tests).
    """
    v = [int(x) for x in counts]
    return iut_p(v[0], v[1], v[2], v[3], list(zip(v[4::2], v[5::2])))


def min_detectable_w(n: int, k: int, alpha: float = 0.05, power: float = 0.8) -> float:
    r"""Smallest Cohen's w a Pearson goodness-of-fit test on k cells detects with the given power.

    Solves :math:`P(\chi'^2_{k-1}(\lambda = n w^2) > \chi^2_{k-1,1-\alpha}) = \text{power}` for w
    (non-central chi-square with non-centrality :math:`\lambda = n w^2`; Brent's root finder on
    :math:`[10^{-9}, w_{hi}]`, :math:`w_{hi}` doubled from 1 until the power is reached).
    The same as ``statsmodels.stats.power.GofChisquarePower().solve_power``; written with
    ``scipy.stats.ncx2`` so that no root-finding warning can escape.  NaN when n <= 0 or k < 2.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed., ch. 7.
    """
    from scipy import optimize
    from scipy import stats as sps
    if n <= 0 or k < 2:
        return math.nan
    df = k - 1
    crit = sps.chi2.ppf(1 - alpha, df)

    def gap(w: float) -> float:
        return float(sps.ncx2.sf(crit, df, n * w * w)) - power

    hi = 1.0
    while gap(hi) < 0 and hi < 1e4:
        hi *= 2
    return float(optimize.brentq(gap, 1e-9, hi, xtol=1e-10))
