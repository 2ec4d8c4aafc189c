"""Planning numbers: how many rows a pattern would need to become significant (STATISTICS.md §9.4)."""
from __future__ import annotations

from collections.abc import Callable

from ._validation import as_counts
from .depletion import depletion_test

__all__ = ["rows_needed", "iut_depletion_p"]


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
    ps = [depletion_test(v[0], v[1], v[2], v[3])[0]]
    ps += [depletion_test(v[0], v[1], lp, sp)[0] for sp, lp in zip(v[4::2], v[5::2])]
    return float(max(ps))
