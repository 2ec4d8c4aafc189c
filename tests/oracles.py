"""Reference computations the tests check the library against, written from their formulas.

Independent of :mod:`biasaudit.stats`: exact fractions for the hypergeometric distribution and
Newcombe's interval from its definition, shared by the test modules that need them.
"""
from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import strategies as st

__all__ = ["exact_pmf", "exact_cdf", "hypergeom_tables", "newcombe"]


def exact_pmf(x: int, M: int, K: int, N: int) -> Fraction:
    """Hypergeometric P(X = x) as an exact fraction (M items, K marked, N drawn)."""
    if x < max(0, N - (M - K)) or x > min(N, K):
        return Fraction(0)
    return Fraction(math.comb(K, x) * math.comb(M - K, N - x), math.comb(M, N))


def exact_cdf(x: int, M: int, K: int, N: int) -> Fraction:
    """Hypergeometric P(X <= x) as an exact fraction."""
    lo = max(0, N - (M - K))
    return sum((exact_pmf(y, M, K, N) for y in range(lo, x + 1)), Fraction(0))


@st.composite
def hypergeom_tables(draw, max_m: int = 40):
    """(x, M, K, N) with x in the support of Hypergeom(M, K, N)."""
    M = draw(st.integers(1, max_m))
    K = draw(st.integers(0, M))
    N = draw(st.integers(0, M))
    lo, hi = max(0, N - (M - K)), min(N, K)
    x = draw(st.integers(lo, hi))
    return x, M, K, N


def newcombe(k1, n1, k2, n2, alpha=0.05):
    """Newcombe (1998) method 10 from its formula: Wilson limits combined by the square-and-add rule."""
    from scipy.stats import norm
    z = norm.ppf(1 - alpha / 2)

    def wilson(k, n):
        p = k / n
        centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    return p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)
