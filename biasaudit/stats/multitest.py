"""Multiple-testing correction over the scan family (STATISTICS.md §1.3)."""
from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["adjust_pvalues", "ADJUST_METHODS"]

#: biasaudit name -> statsmodels ``multipletests`` method.
ADJUST_METHODS = {"bh": "fdr_bh", "holm": "holm", "by": "fdr_by"}


def adjust_pvalues(p, method: str = "bh") -> np.ndarray:
    r"""Adjust a family of p-values; NaN entries (untestable hypotheses) pass through as NaN.

    With sorted p-values :math:`p_{(1)} \le \dots \le p_{(m)}`:

    .. math::
        q^{BH}_{(i)} = \min_{j \ge i} \min\Bigl(1, \frac{m}{j} p_{(j)}\Bigr), \qquad
        q^{BY}_{(i)} = \min_{j \ge i} \min\Bigl(1, \frac{m\,c_m}{j} p_{(j)}\Bigr),\ c_m = \sum_{k=1}^m \tfrac1k,

    .. math:: q^{Holm}_{(i)} = \max_{j \le i} \min\bigl(1, (m - j + 1) p_{(j)}\bigr).

    Computed by ``statsmodels.stats.multitest.multipletests``; m counts the non-NaN entries only
    (the family after the Tarone filter).

    Parameters
    ----------
    p : array-like of shape (m,)
    method : {"bh", "holm", "by"}

    Returns
    -------
    numpy.ndarray of shape (m,)

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). JRSS-B 57, 289-300.
    Benjamini, Y. & Yekutieli, D. (2001). Annals of Statistics 29, 1165-1188.
    Holm, S. (1979). Scandinavian Journal of Statistics 6, 65-70.
    """
    if method not in ADJUST_METHODS:
        raise ValueError(
            f"The 'method' parameter of adjust_pvalues must be one of {tuple(ADJUST_METHODS)}. Got {method!r} instead."
        )
    arr = np.asarray(p, dtype=float).ravel()
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        raise ValueError(f"The 'p' parameter of adjust_pvalues must lie in [0, 1]. Got {arr[ok].tolist()} instead.")
    if ok.any():
        out[ok] = multipletests(arr[ok], alpha=0.05, method=ADJUST_METHODS[method])[1]
    return out
