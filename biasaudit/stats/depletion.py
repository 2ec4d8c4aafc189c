"""Cell-level tests of the coverage scan: depletion of a label in a cell, purity of a rule.

Notation (STATISTICS.md §3.2): a cell C has support ``s`` rows, ``obs`` of which carry label L;
the data have ``n`` rows, ``n_label`` of them with label L.
"""
from __future__ import annotations

import math

from scipy import stats

__all__ = [
    "depletion_test",
    "purity_p",
    "min_support_for_purity",
    "zero_upper_bound",
]


def _check_cell(obs: int, s: int, n_label: int, n: int, func: str) -> None:
    values = {"obs": obs, "s": s, "n_label": n_label, "n": n}
    for name, v in values.items():
        if int(v) != v or v < 0:
            raise ValueError(f"The '{name}' parameter of {func} must be a non-negative integer. Got {v!r} instead.")
    if not (obs <= s <= n and obs <= n_label <= n and s - obs <= n - n_label):
        raise ValueError(
            f"The counts given to {func} are inconsistent: need obs <= s <= n, obs <= n_label <= n and "
            f"s - obs <= n - n_label. Got obs={obs}, s={s}, n_label={n_label}, n={n} instead."
        )


def depletion_test(obs: int, s: int, n_label: int, n: int) -> tuple[float, float, float]:
    r"""One-sided exact test that label L is depleted in a cell (model M1, label independent of the cell).

    Under H0 the number of L rows among the s rows of the cell is hypergeometric:

    .. math::
        X \sim \mathrm{Hypergeom}(M=n, K=n_L, N=s), \qquad E = s\,n_L/n, \qquad
        p = P(X \le obs), \qquad p_{min} = P\bigl(X \le \max(0,\ s - (n - n_L))\bigr).

    This equals ``fisher_exact([[obs, s-obs], [n_L-obs, n-s-n_L+obs]], alternative="less")``.

    Parameters
    ----------
    obs : int
        Rows in the cell with label L.
    s : int
        Support of the cell.
    n_label : int
        Rows with label L in the data (or in the parent cell, for the IUT parent test).
    n : int
        Rows in the data (or in the parent cell).

    Returns
    -------
    p_value, p_min, expected : float

    References
    ----------
    Tarone, R. E. (1990). Biometrics 46, 515-522 (p_min).
    Fisher, R. A. (1935). The Design of Experiments (conditional hypergeometric test).
    """
    _check_cell(obs, s, n_label, n, "depletion_test")
    if n == 0:
        return 1.0, 1.0, 0.0
    p = float(stats.hypergeom.cdf(obs, n, n_label, s))
    p_min = float(stats.hypergeom.cdf(max(0, s - (n - n_label)), n, n_label, s))
    return min(p, 1.0), min(p_min, 1.0), s * n_label / n


def purity_p(s: int, n: int, n_label: int) -> float:
    r"""Exact chance probability that all s rows of a cell carry label L (a "pure" rule C -> L).

    .. math:: p = \frac{\binom{n_L}{s}}{\binom{n}{s}} = \mathrm{Hypergeom}(M=n, K=n_L, N=s).\mathrm{pmf}(s)

    Returns 0.0 when s > n_L (purity impossible) and 1.0 when s = 0.
    """
    _check_cell(0, s, 0, n, "purity_p")
    if not 0 <= n_label <= n:
        raise ValueError(f"The 'n_label' parameter of purity_p must be in [0, n={n}]. Got {n_label} instead.")
    if s == 0:
        return 1.0
    if s > n_label:
        return 0.0
    return float(stats.hypergeom.pmf(s, n, n_label, s))


def min_support_for_purity(n: int, n_label: int, alpha: float = 0.05) -> int | None:
    r"""Smallest support for which a 100 % pure rule C -> L can be significant.

    .. math:: s_{min} = \min\{s : \binom{n_L}{s} / \binom{n}{s} \le \alpha\}

    Parameters
    ----------
    n : int
        Rows in the data.
    n_label : int
        Rows with label L.
    alpha : float
        Level of the test.

    Returns
    -------
    int or None
        None when no support up to ``n_label`` reaches alpha (e.g. ``n_label == n``).
    """
    if n_label > n or n_label < 0:
        raise ValueError(
            f"The 'n_label' parameter of min_support_for_purity must be in [0, n={n}]. Got {n_label} instead."
        )
    for s in range(1, n_label + 1):
        if purity_p(s, n, n_label) <= alpha:
            return s
    return None


def zero_upper_bound(s: int, alpha: float = 0.05) -> float:
    r"""Exact one-sided upper confidence bound on a share observed as 0 of s (rule of three).

    .. math:: \pi_{up} = 1 - \alpha^{1/s} \approx 3/s \quad (\alpha = 0.05)

    References
    ----------
    Hanley, J. A. & Lippman-Hand, A. (1983). If nothing goes wrong, is everything all right?
    JAMA 249, 1743-1745.
    """
    if s < 0:
        raise ValueError(f"The 's' parameter of zero_upper_bound must be >= 0. Got {s} instead.")
    if s == 0:
        return 1.0
    return 1.0 - math.pow(alpha, 1.0 / s)
