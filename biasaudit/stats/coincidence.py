r"""Chance coincidences: how many identical rows independent columns produce, and Poisson tails.

* **Duplicate baseline** (STATISTICS.md §2.6).  With :math:`p_{jv}` the share of value v in column
  j, n independent rows coincide in

  .. math:: E[\text{pairs}] = \binom{n}{2} \prod_j \sum_v p_{jv}^2

  pairs on average (the birthday problem over the product space), and the K-cell product space
  holds :math:`E[\text{distinct}] = \sum_c 1 - (1 - \pi_c)^n` distinct rows,
  :math:`\pi_c = \prod_j p_{j c_j}`.
* **Poisson tails**: :math:`P(X \ge k)` and :math:`P(X = 0) = e^{-\mu}` for
  :math:`X \sim \mathrm{Poisson}(\mu)`; the count of coincident pairs (or of rows in a rare cell)
  is approximately Poisson when each is rare (Arratia, Goldstein & Gordon 1989).

References
----------
Arratia, R., Goldstein, L. & Gordon, L. (1989). Two moments suffice for Poisson approximations:
the Chen-Stein method. Annals of Probability 17, 9-25.
Feller, W. (1968). An Introduction to Probability Theory and Its Applications I, §II.3 (birthdays).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["duplicate_baseline", "poisson_upper_p", "poisson_zero_p"]


def duplicate_baseline(margins: list, n: int) -> dict:
    r"""Chance baseline of coincident rows under independent columns (module docstring).

    .. math:: E[\text{pairs}] = \binom{n}{2} \prod_j \sum_v p_{jv}^2, \qquad
              E[\text{distinct}] = \sum_c 1 - (1 - \pi_c)^n \ (\text{when } K \le 10^6)

    Parameters
    ----------
    margins : list of array-like
        ``margins[j]`` are the counts of the values of column j (missing included as a value).
    n : int
        Rows.

    Returns
    -------
    dict
        ``expected_pairs``, ``cells`` (K, the size of the product space of the observed values)
        and ``expected_distinct`` (None when K > 1e6).
    """
    # sorted counts: the same sums whatever order a source listed the values in
    shares = [np.sort(np.asarray(m, dtype=float)) / max(float(np.sum(m)), 1.0) for m in margins]
    shares = [p[p > 0] for p in shares]
    collision = math.prod(float(np.sum(p * p)) for p in shares)
    k_cells = math.prod(len(p) for p in shares)
    expected_pairs = math.comb(int(n), 2) * collision
    expected_distinct = None
    if k_cells <= 1_000_000:
        pi = np.ones(1)
        for p in shares:
            pi = np.outer(pi, p).ravel()
        expected_distinct = float(np.sum(-np.expm1(n * np.log1p(-np.minimum(pi, 1 - 1e-12)))))
    return {"expected_pairs": expected_pairs, "cells": k_cells, "expected_distinct": expected_distinct}


def poisson_upper_p(k: float, mu: float) -> float:
    r""":math:`P(X \ge k)`, :math:`X \sim \mathrm{Poisson}(\mu)` (``scipy.stats.poisson.sf(k - 1, mu)``); 0.0 when mu <= 0.

    (With mu = 0 the count is 0 almost surely; the callers only ask for k >= 1.)
    """
    if not mu > 0:
        return 0.0
    from scipy.stats import poisson
    return float(poisson.sf(k - 1, mu))


def poisson_zero_p(mu: float) -> float:
    r""":math:`P(X = 0) = e^{-\mu}`, :math:`X \sim \mathrm{Poisson}(\mu)`: the chance that a cell
    expected to hold mu rows is empty."""
    return math.exp(-mu)
