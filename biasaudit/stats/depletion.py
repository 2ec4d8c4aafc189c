"""Cell-level tests of the coverage scan: depletion of a label in a cell, purity of a rule.

Notation (STATISTICS.md §3.2): a cell C has support ``s`` rows, ``obs`` of which carry label L;
the data have ``n`` rows, ``n_label`` of them with label L.
"""
from __future__ import annotations

import math

import numpy as np

from .hypergeom import hypergeom_cdf, hypergeom_logpmf, hypergeom_pmf

__all__ = [
    "depletion_test",
    "purity_p",
    "min_support_for_purity",
    "zero_upper_bound",
    "gap_addition_fragility",
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

    This equals ``fisher_exact([[obs, s-obs], [n_L-obs, n-s-n_L+obs]], alternative="less")``
    (computed by :func:`biasaudit.stats.hypergeom_cdf`).

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
    p = float(hypergeom_cdf(obs, n, n_label, s))
    p_min = float(hypergeom_cdf(max(0, s - (n - n_label)), n, n_label, s))
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
    return float(hypergeom_pmf(s, n, n_label, s))


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
    if n_label == 0:
        return None
    target = math.log(alpha)
    start, width = 1, 64   # the purity p decreases with s: search growing blocks of supports
    while start <= n_label:
        sizes = np.arange(start, min(n_label, start + width - 1) + 1)
        ok = np.flatnonzero(hypergeom_logpmf(sizes, n, n_label, sizes) <= target)
        if ok.size:
            return int(sizes[ok[0]])
        start += width
        width *= 4
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


def gap_addition_fragility(obs, s, n_label, n, alpha: float = 0.05, parents=None) -> np.ndarray:
    r"""Counter-examples to add before each depletion gap stops being significant, vectorised.

    The same number as :func:`biasaudit.stats.addition_fragility_gap` for many gaps at once: k rows
    with label L are added to the cell, and

    .. math:: p(k) = \max\bigl(F_{H}(obs+k;\ n+k,\ n_L+k,\ s+k),\ \max_P F_{H}(obs+k;\ s_P+k,\ n_{L,P}+k,\ s+k)\bigr)

    is recomputed; the answer is the smallest k with :math:`p(k) > \alpha` (0 when p(0) > alpha),
    found by doubling and bisection on all gaps together.

    Parameters
    ----------
    obs, s, n_label, n : array-like of int, shape (G,)
    alpha : float
    parents : array-like of shape (G, P, 2), optional
        ``(s_P, n_label_P)`` of each parent (pad a missing parent with ``(n, n_label)``, which
        repeats the overall test).
    """
    obs, s, nl, nn = (np.atleast_1d(np.asarray(v, dtype=np.int64)) for v in (obs, s, n_label, n))
    comps_m = [nn[:, None]]
    comps_k = [nl[:, None]]
    if parents is not None and np.size(parents):
        par = np.asarray(parents, dtype=np.int64).reshape(obs.size, -1, 2)
        comps_m.append(par[:, :, 0])
        comps_k.append(par[:, :, 1])
    M0, K0 = np.concatenate(comps_m, axis=1), np.concatenate(comps_k, axis=1)

    def p_at(k, idx):
        kk = k[:, None]
        return hypergeom_cdf((obs[idx] + k)[:, None], M0[idx] + kk, K0[idx] + kk, (s[idx] + k)[:, None]).max(axis=1)

    every = np.arange(obs.size)
    out = np.zeros(obs.size, dtype=np.int64)
    sig = p_at(np.zeros(obs.size, dtype=np.int64), every) <= alpha
    idx = every[sig]
    hi = np.ones(idx.size, dtype=np.int64)
    grow = idx.copy()
    pos = np.arange(idx.size)
    while grow.size:
        still = p_at(hi[pos], grow) <= alpha
        hi[pos[still]] *= 2
        grow, pos = grow[still], pos[still]
    lo = hi // 2
    active = np.flatnonzero(hi - lo > 1)
    while active.size:
        mid = (lo[active] + hi[active]) // 2
        above = p_at(mid, idx[active]) > alpha
        hi[active[above]] = mid[above]
        lo[active[~above]] = mid[~above]
        active = active[hi[active] - lo[active] > 1]
    out[idx] = hi
    return out
