r"""Tests of the probe's tree leaves (STATISTICS.md §6): enrichment of a leaf's label, its p_min,
the within-parent tail of the intersection-union test.

A leaf of s rows holds k rows of its predicted label L; the data hold n rows, n_L of them L.  Under
"the label is independent of the leaf" :math:`X \sim \mathrm{Hypergeom}(M=n, K=n_L, N=s)` and

.. math::
    p = P(X \ge k), \qquad p_{min} = P(X = \min(s, n_L)) \quad \text{(Tarone 1990)}.

These use scipy's Boost hypergeometric (``scipy.stats.hypergeom``), as the probe always has: its
selection-adjusted p compares these values between the observed tree and thousands of refits, so
the observed and null statistics must come from the same code.  They agree with the vectorised
:mod:`biasaudit.stats.hypergeom` to about 1e-10 relative (``tests/test_hypergeom.py``).

References
----------
Tarone, R. E. (1990). A modified Bonferroni method for discrete data. Biometrics 46, 515-522.
Berger, R. L. (1982). Technometrics 24, 295-300 (intersection-union tests).
"""
from __future__ import annotations

import numpy as np

__all__ = ["leaf_enrichment_p", "leaf_enrichment_test", "hypergeom_lower_p"]


def leaf_enrichment_p(k, s, n_label, n) -> np.ndarray:
    r"""One-sided p that label L is over-represented in a leaf, vectorised.

    .. math:: p = P(X \ge k), \quad X \sim \mathrm{Hypergeom}(M=n, K=n_L, N=s)

    (``scipy.stats.hypergeom.sf(k - 1, n, n_L, s)``; arguments broadcast together).
    """
    from scipy.stats import hypergeom
    return hypergeom.sf(np.asarray(k) - 1, n, n_label, s)


def leaf_enrichment_test(k: float, s: float, n_label: float, n: float) -> tuple[float, float]:
    r"""``(p, p_min)`` of the one-sided enrichment test of one leaf; weighted counts are rounded.

    .. math:: p = P(X \ge k),\quad p_{min} = P(X = \min(s, n_L)),\quad X \sim \mathrm{Hypergeom}(M=n, K=n_L, N=s)
    """
    from scipy.stats import hypergeom
    k, s, nl, n = (int(round(x)) for x in (k, s, n_label, n))
    return float(hypergeom.sf(k - 1, n, nl, s)), float(hypergeom.pmf(min(s, nl), n, nl, s))


def hypergeom_lower_p(x: int, M: int, K: int, N: int) -> float:
    r"""Lower tail :math:`P(X \le x)`, :math:`X \sim \mathrm{Hypergeom}(M, K, N)` (``scipy.stats.hypergeom.cdf``).

    The probe's within-parent test of a rule (the other labels' count x among the leaf's N rows,
    K other-label rows among the parent's M) and the depletion p_min of a cell the rule implies.
    """
    from scipy.stats import hypergeom
    return float(hypergeom.cdf(x, M, K, N))
