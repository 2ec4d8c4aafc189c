r"""One-sided hypergeometric tests of a cell and their intersection-union maximum (STATISTICS.md §3.2-3.6).

A cell C of support ``s`` holds ``obs`` rows of label L; the data (or a parent cell P of C) hold
``n`` rows, ``n_L`` of them labelled L.  Under "the label is independent of C" the count of L in
C is :math:`X \sim \mathrm{Hypergeom}(M=n, K=n_L, N=s)` and

.. math::
    \text{depletion: } p = P(X \le obs), \qquad \text{purity / enrichment: } p = P(X \ge obs).

The smallest attainable p (Tarone 1990) is the tail at the most extreme count the margins allow,
:math:`\max(0, s - (n - n_L))` (depletion) or :math:`\min(s, n_L)` (purity).  The
intersection-union test of a multi-item cell (Berger 1982) takes the maximum of the overall test
and the test within every parent P (the cell with one item dropped):

.. math:: p_{IUT} = \max\bigl(p(obs; n, n_L, s),\ \max_P p(obs; s_P, n_{L,P}, s)\bigr).

Both the coverage scan (:mod:`biasaudit.detectors._cellstats`) and the claims tool
(:mod:`biasaudit.tools.claims`) use these functions: one implementation of each tail.  The tails
themselves are :func:`biasaudit.stats.hypergeom_cdf` / :func:`~biasaudit.stats.hypergeom_sf`
(vectorised, equal to ``scipy.stats.hypergeom.cdf`` / ``.sf`` to about 1e-13).

References
----------
Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling. Technometrics 24, 295-300.
Tarone, R. E. (1990). A modified Bonferroni method for discrete data. Biometrics 46, 515-522.
"""
from __future__ import annotations

import numpy as np

from .hypergeom import hypergeom_cdf, hypergeom_logtails, hypergeom_pmf, hypergeom_sf

__all__ = ["hypergeom_tail", "one_sided_p", "iut_p", "iut_p_min"]


def hypergeom_tail(x, M, K, N, upper: bool = False) -> np.ndarray:
    r"""Lower tail :math:`P(X \le x)` or, for ``upper``, :math:`P(X \ge x)`, vectorised.

    :math:`X \sim \mathrm{Hypergeom}(M, K, N)` (scipy's ``hypergeom(M, n=K, N)``); the upper tail is
    ``hypergeom_sf(x - 1, M, K, N)``.

    For two labels given as arrays of shape (C, 2) (column 1 the complement of column 0: same M
    and N, :math:`K_1 = M - K_0`, :math:`x_1 = N - x_0`) the lower tail of label 1 is the upper tail
    of label 0, :math:`P(X_1 \le N - x_0) = P(X_0 \ge x_0) = P(X_0 > x_0) + P(X_0 = x_0)`: both
    columns come from one summation, for the label with the smaller (K, x), so that the result
    does not depend on which label is listed first.

    Parameters
    ----------
    x, M, K, N : array-like of int (broadcast together)
    upper : bool
        Upper tail instead of the lower one.

    Returns
    -------
    ndarray of float
    """
    if not upper and np.ndim(x) == 2 and np.shape(x)[1] == 2:
        x, M, K, N = np.broadcast_arrays(*(np.asarray(a) for a in (x, M, K, N)))
        if not (np.array_equal(x[:, 1], N[:, 1] - x[:, 0]) and np.array_equal(K[:, 1], M[:, 1] - K[:, 0])
                and np.array_equal(N[:, 0], N[:, 1]) and np.array_equal(M[:, 0], M[:, 1])):
            return hypergeom_cdf(x, M, K, N)
        # sum for the label with the smaller (K, x): the same label whatever the names (invariance)
        b = ((K[:, 1] < K[:, 0]) | ((K[:, 1] == K[:, 0]) & (x[:, 1] < x[:, 0]))).astype(np.int64)
        rows = np.arange(x.shape[0])
        xb, kb, mb, nb = x[rows, b], K[rows, b], M[rows, b], N[rows, b]
        lc, ls = hypergeom_logtails(xb, mb, kb, nb)
        direct = np.exp(lc)
        other = np.minimum(np.exp(ls) + hypergeom_pmf(xb, mb, kb, nb), 1.0)
        tie = (K[:, 0] == K[:, 1]) & (x[:, 0] == x[:, 1])     # the same distribution and value
        other = np.where(tie, direct, other)
        out = np.empty(x.shape)
        out[rows, b], out[rows, 1 - b] = direct, other
        return out
    return hypergeom_sf(np.asarray(x) - 1, M, K, N) if upper else hypergeom_cdf(x, M, K, N)


def _extreme(s: int, n_label: int, n: int, upper: bool) -> int:
    """The most extreme count of L the margins allow in the direction of the test."""
    return min(s, n_label) if upper else max(0, s - (n - n_label))


def one_sided_p(obs: int, s: int, n_label: int, n: int, upper: bool = False) -> tuple[float, float]:
    r"""``(p, p_min)`` of the one-sided test of one cell (module docstring), each at most 1.

    .. math::
        p = P(X \le obs) \text{ or } P(X \ge obs), \qquad
        p_{min} = P(X \le \max(0, s - n + n_L)) \text{ or } P(X \ge \min(s, n_L)),

    :math:`X \sim \mathrm{Hypergeom}(n, n_L, s)`; ``(1.0, 1.0)`` when ``n`` or ``s`` is 0.  The
    lower tail equals :func:`biasaudit.stats.depletion_test` and
    ``scipy.stats.fisher_exact([[obs, s - obs], [n_L - obs, n - s - n_L + obs]], alternative="less")``.
    """
    if n == 0 or s == 0:
        return 1.0, 1.0
    p = float(hypergeom_tail(obs, n, n_label, s, upper))
    p_min = float(hypergeom_tail(_extreme(s, n_label, n, upper), n, n_label, s, upper))
    return min(p, 1.0), min(p_min, 1.0)


def _models(s, n_label, n, parents):
    m = np.array([n] + [int(sp) for sp, _ in parents], dtype=np.int64)
    k = np.array([n_label] + [int(lp) for _, lp in parents], dtype=np.int64)
    return m, k


def iut_p(obs: int, s: int, n_label: int, n: int, parents=(), upper: bool = False) -> float:
    r"""Intersection-union p of one cell: the largest one-sided p over the overall and every parent test.

    .. math:: p = \min\bigl(1, \max\bigl(p(obs; n, n_L, s),\ \max_P p(obs; s_P, n_{L,P}, s)\bigr)\bigr)

    Parameters
    ----------
    obs, s, n_label, n : int
        Rows of L in the cell, the cell's support, rows of L and rows in the data.
    parents : sequence of (s_P, n_L_P)
        Support and rows of L of every parent cell.
    upper : bool
        Purity (upper tail) instead of depletion.

    References
    ----------
    Berger, R. L. (1982). Technometrics 24, 295-300.
    """
    if s == 0:
        return 1.0
    m, k = _models(s, n_label, n, parents)
    return min(float(np.max(hypergeom_tail(obs, m, k, s, upper))), 1.0)


def iut_p_min(s: int, n_label: int, n: int, parents=(), upper: bool = False) -> float:
    r"""Smallest attainable intersection-union p of a cell with these margins (Tarone 1990).

    The count of L is set to the most extreme value every margin allows,
    :math:`x^* = \max(0, s - (n - n_L), \max_P (s - (s_P - n_{L,P})))` for depletion and
    :math:`x^* = \min(s, n_L, \min_P n_{L,P})` for purity, and the IUT p is evaluated there.
    """
    if s == 0:
        return 1.0
    bounds = [_extreme(s, n_label, n, upper)] + [_extreme(s, int(lp), int(sp), upper) for sp, lp in parents]
    x = min(bounds) if upper else max(bounds)
    m, k = _models(s, n_label, n, parents)
    return float(np.max(hypergeom_tail(x, m, k, s, upper)))
