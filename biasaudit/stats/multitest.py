"""Multiple-testing correction within a family, and the threshold each hypothesis faces in it
(STATISTICS.md §1.3)."""
from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["adjust_pvalues", "rejection_thresholds", "added_threshold", "ADJUST_METHODS"]

#: biasaudit name -> statsmodels ``multipletests`` method.
ADJUST_METHODS = {"bh": "fdr_bh", "holm": "holm", "by": "fdr_by"}


def _check_method(method: str, func: str) -> None:
    if method not in ADJUST_METHODS:
        raise ValueError(
            f"The 'method' parameter of {func} must be one of {tuple(ADJUST_METHODS)}. Got {method!r} instead."
        )


def _as_pvalues(p, func: str) -> np.ndarray:
    arr = np.asarray(p, dtype=float).ravel()
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        raise ValueError(f"The 'p' parameter of {func} must lie in [0, 1]. Got {arr[ok].tolist()} instead.")
    return arr


def adjust_pvalues(p, method: str = "bh") -> np.ndarray:
    r"""Adjust a family of p-values; NaN entries (untestable hypotheses) pass through as NaN.

    With sorted p-values :math:`p_{(1)} \le \dots \le p_{(m)}`:

    .. math::
        q^{BH}_{(i)} = \min_{j \ge i} \min\Bigl(1, \frac{m}{j} p_{(j)}\Bigr), \qquad
        q^{BY}_{(i)} = \min_{j \ge i} \min\Bigl(1, \frac{m\,c_m}{j} p_{(j)}\Bigr),\ c_m = \sum_{k=1}^m \tfrac1k,

    .. math:: q^{Holm}_{(i)} = \max_{j \le i} \min\bigl(1, (m - j + 1) p_{(j)}\bigr).

    BH and BY are computed by ``statsmodels.stats.multitest.multipletests``, Holm by the formula
    above (statsmodels' Holm branch runs a full garbage collection on every call); m counts the
    non-NaN entries only (the family after the Tarone filter).

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
    _check_method(method, "adjust_pvalues")
    arr = _as_pvalues(p, "adjust_pvalues")
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    if ok.any():
        out[ok] = _holm(arr[ok]) if method == "holm" else multipletests(arr[ok], alpha=0.05,
                                                                         method=ADJUST_METHODS[method])[1]
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _level(method: str, m: int, alpha: float) -> float:
    """alpha, or alpha / c_m for Benjamini-Yekutieli."""
    return alpha / float(np.sum(1.0 / np.arange(1, m + 1))) if method == "by" else alpha


def rejection_thresholds(p, method: str = "bh", alpha: float = 0.05) -> np.ndarray:
    r"""For each hypothesis, the largest p-value at which it is still rejected, the others fixed.

    This is the threshold a hypothesis faces in its family: the adjusted p-value of hypothesis i
    is <= alpha exactly when :math:`p_i \le t_i`. It turns a family-wise statement into a planning
    number ("how many rows would establish it", "how many relabelled rows would undo it").

    With the m - 1 other p-values fixed:

    * Holm: :math:`t_i = \alpha / (m - R_i)`, where :math:`R_i` is the length of the longest run
      :math:`o_{(1)}, \dots, o_{(R)}` of the other p-values, sorted, with
      :math:`o_{(j)} \le \alpha/(m-j+1)` (Holm's step-down among m);
    * Benjamini-Hochberg: :math:`t_i = \alpha k^*_i / m`, where :math:`k^*_i` is the largest
      :math:`k \le m` with :math:`\#\{j \ne i : p_j \le \alpha k/m\} \ge k - 1` (BH's step-up
      rejects i with k hypotheses once k - 1 others lie below its line);
    * Benjamini-Yekutieli: as BH with :math:`\alpha / c_m`, :math:`c_m = \sum_{k \le m} 1/k`.

    Both are exact: i is rejected if and only if :math:`p_i \le t_i`.

    Parameters
    ----------
    p : array-like of shape (m,)
        The family's p-values (no NaN).
    method : {"bh", "holm", "by"}
    alpha : float

    Returns
    -------
    numpy.ndarray of shape (m,)

    References
    ----------
    Holm, S. (1979). Scandinavian Journal of Statistics 6, 65-70.
    Benjamini, Y. & Hochberg, Y. (1995). JRSS-B 57, 289-300.
    """
    _check_method(method, "rejection_thresholds")
    arr = _as_pvalues(p, "rejection_thresholds")
    if np.isnan(arr).any():
        raise ValueError("The 'p' parameter of rejection_thresholds must not contain NaN (untestable "
                         "hypotheses are outside the family).")
    m = arr.size
    if m == 0:
        return np.array([])
    a = _level(method, m, alpha)
    order = np.argsort(arr, kind="stable")
    s = arr[order]
    rank = np.empty(m, dtype=int)
    rank[order] = np.arange(1, m + 1)  # 1-based rank of each hypothesis
    if method == "holm":
        j = np.arange(1, m)  # positions 1..m-1 among the others
        lines = a / (m - j + 1)
        pass_p = s[:-1] <= lines             # others before i keep their own position j
        pass_q = s[1:] <= lines              # others after i move up one position (s[j] at j)
        first_fail_p = np.argmin(pass_p) + 1 if not pass_p.all() else m
        # next_fail_q[j] = first position >= j (1-based) where pass_q fails, m if none
        fail_pos = np.where(~pass_q, j, m)
        next_fail_q = np.minimum.accumulate(fail_pos[::-1])[::-1] if m > 1 else np.array([], dtype=int)
        r_i = np.empty(m, dtype=int)
        for_rank = rank  # position of i among all
        before = first_fail_p < for_rank  # a failure among the others ranked before i
        r_i[before] = first_fail_p - 1
        after = ~before
        idx = for_rank[after]  # others from position rank_i on are s[rank_i..]
        nf = np.where(idx <= m - 1, next_fail_q[np.minimum(idx, m - 1) - 1] if m > 1 else m, m)
        r_i[after] = nf - 1
        return a / (m - r_i)
    k = np.arange(1, m + 1)
    count = np.searchsorted(s, a * k / m, side="right")  # C_k = #{all p <= alpha k / m}
    ok_without = count >= k - 1        # level k reachable when i is not below the line
    ok_with = count >= k               # ... when i itself is below the line (counted in C_k)
    last_without = np.maximum.accumulate(np.where(ok_without, k, 0))  # largest k' <= k with ok_without
    best_with = int(k[ok_with].max()) if ok_with.any() else 0
    # smallest k whose line p_i lies below: k0 = ceil(p_i m / alpha)
    k0 = np.maximum(1, np.ceil(arr * m / a - 1e-12).astype(int))
    out_k = np.where(best_with >= k0, best_with, last_without[np.clip(k0 - 2, 0, m - 1)])
    out_k = np.where((best_with < k0) & (k0 <= 1), 1, out_k)
    out_k = np.maximum(out_k, 1)
    return a * out_k / m


def added_threshold(p, method: str = "bh", alpha: float = 0.05) -> float:
    """The threshold a new hypothesis would face if it joined the family ``p`` (m + 1 hypotheses).

    Used for hypotheses screened out of the family (Tarone: untestable at this n): the rows they
    would need are computed against the family they would join. Same rules as
    :func:`rejection_thresholds`.
    """
    _check_method(method, "added_threshold")
    arr = _as_pvalues(p, "added_threshold")
    arr = arr[~np.isnan(arr)]
    # the newcomer with p = 0 ranks first and does not change the others' rejections
    return float(rejection_thresholds(np.concatenate([[0.0], arr]), method, alpha)[0])
