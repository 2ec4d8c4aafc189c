"""Input checks shared by the statistics modules (private)."""
from __future__ import annotations

import numpy as np

#: Relative tolerance used by every "probability ordering" exact test (as R and scipy do):
#: outcomes with P(x) <= P(observed) * (1 + REL_TOL) count as "at least as extreme".
REL_TOL = 1e-7
#: Smallest p-value an asymptotic test returns: below the range of doubles the survival function is
#: exactly 0, which would read as "impossible"; readers print it as "< 1e-300".
P_FLOOR = float(np.finfo(float).tiny)


def chi2_sf(statistic: float, dof: float) -> float:
    """Upper tail of the chi-square distribution, never below ``P_FLOOR``.

    ``scipy.special.chdtrc(dof, x)``: the function ``scipy.stats.chi2.sf`` evaluates, without the
    distribution object's argument handling (thousands of tables are tested per scan).
    """
    from scipy.special import chdtrc
    if not dof > 0:  # as scipy.stats.chi2.sf: no distribution
        return float("nan")
    if statistic <= 0:  # the whole distribution lies at or above 0
        return 1.0
    return max(float(chdtrc(dof, statistic)), P_FLOOR)


def expected_counts(table) -> np.ndarray:
    r"""Expected counts of a two-way table under independence, :math:`E_{ij} = r_i c_j / n`."""
    t = np.asarray(table, dtype=float)
    return np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()


def pearson_x2(table) -> tuple[float, int]:
    r"""Pearson's :math:`X^2 = \sum_{ij} (O_{ij} - E_{ij})^2 / E_{ij}` and its :math:`(r-1)(c-1)` degrees of
    freedom, without continuity correction (``scipy.stats.chi2_contingency(correction=False)``).
    Every row and column sum must be positive.

    References
    ----------
    Pearson, K. (1900). Philosophical Magazine 50, 157-175.
    """
    t = np.asarray(table, dtype=float)
    e = expected_counts(t)
    return float(((t - e) ** 2 / e).sum()), int((t.shape[0] - 1) * (t.shape[1] - 1))


def as_counts(values, *, name: str, func: str, ndim: int | None = None) -> np.ndarray:
    """Return ``values`` as a non-negative int64 array or raise ``ValueError``.

    The message follows the "The 'X' parameter of F must be Y. Got Z instead." convention.
    """
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(
            f"The '{name}' parameter of {func} must be an array of counts. Got dtype {arr.dtype} instead."
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"The '{name}' parameter of {func} must have {ndim} dimension(s). Got shape {arr.shape} instead."
        )
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr))):
        raise ValueError(
            f"The '{name}' parameter of {func} must hold non-negative integer counts. Got {arr.tolist()} instead."
        )
    return arr.astype(np.int64)


def as_probs(probs, *, size: int, func: str) -> np.ndarray:
    """Return ``probs`` as a float vector of length ``size`` summing to one."""
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1 or p.size != size:
        raise ValueError(
            f"The 'probs' parameter of {func} must have one entry per category ({size}). "
            f"Got shape {p.shape} instead."
        )
    if np.any(~np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(
            f"The 'probs' parameter of {func} must be non-negative and sum to 1. Got {p.tolist()} instead."
        )
    if abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"The 'probs' parameter of {func} must sum to 1. Got sum {p.sum():.6g} instead."
        )
    return p / p.sum()


def as_rng(rng) -> np.random.Generator:
    """``np.random.default_rng`` accepts a seed, None or a Generator."""
    return np.random.default_rng(rng)


def drop_empty(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop all-zero rows and columns; also return the kept row and column indices."""
    rows = np.flatnonzero(table.sum(axis=1) > 0)
    cols = np.flatnonzero(table.sum(axis=0) > 0)
    return table[np.ix_(rows, cols)], rows, cols
