"""Shift of a continuous attribute between two samples, e.g. train and test (STATISTICS.md §2.3)."""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from ._validation import as_rng
from .tests import independence_test

__all__ = ["numeric_shift", "psi", "quantile_bins", "AD_CLIP", "AD_PERMUTATIONS", "PSI_EPSILON"]

#: scipy's interpolated Anderson-Darling p-value is clipped to this range.
AD_CLIP = (0.001, 0.25)
#: Permutations used when the clip binds.
AD_PERMUTATIONS = 9_999
#: Added to every bin share inside the PSI logarithm (keeps empty bins finite).
PSI_EPSILON = 1e-4


def _clean(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    arr = arr[~np.isnan(arr)]
    if arr.size < 2:
        raise ValueError(
            f"The '{name}' parameter of numeric_shift needs at least 2 non-missing values. Got {arr.size} instead."
        )
    return arr


def quantile_bins(reference, n_bins: int) -> np.ndarray:
    """Interior bin edges at the quantiles of ``reference`` (duplicates removed)."""
    probs = np.linspace(0, 1, n_bins + 1)[1:-1]
    return np.unique(np.quantile(np.asarray(reference, dtype=float), probs))


def psi(expected_counts, actual_counts, epsilon: float = PSI_EPSILON) -> float:
    r"""Population stability index of two binned distributions.

    .. math:: \mathrm{PSI} = \sum_i (a_i - e_i) \ln\frac{a_i + \epsilon}{e_i + \epsilon}

    with :math:`a_i, e_i` the bin shares and :math:`\epsilon` = ``epsilon`` = 1e-4 added inside the
    logarithm so that empty bins stay finite (this matches the verification script behind
    STATISTICS.md's test vector A4, PSI = 0.236596; a hard floor would give 0.236712).

    References
    ----------
    Yurdakul, B. (2018). Statistical properties of population stability index.
    Western Michigan University dissertation.
    """
    e = np.asarray(expected_counts, dtype=float)
    a = np.asarray(actual_counts, dtype=float)
    e = e / e.sum()
    a = a / a.sum()
    return float(np.sum((a - e) * np.log((a + epsilon) / (e + epsilon))))


def numeric_shift(a, b, *, rng=0, n_bins: int | None = None) -> dict:
    r"""Compare a continuous attribute between a reference sample ``a`` (train) and ``b`` (test).

    * Kolmogorov-Smirnov :math:`D = \sup_x |F_a(x) - F_b(x)|` (``scipy.stats.ks_2samp``).
    * k-sample Anderson-Darling, midrank variant (``scipy.stats.anderson_ksamp``); its
      interpolated p-value is clipped to [0.001, 0.25], so when the clip binds it is recomputed
      with ``PermutationMethod(n_resamples=9999, rng=rng)``.
    * Binned test: ``n_bins`` bins at the quantiles of ``a`` (default
      :math:`\min(10, \max(2, \lfloor n_b/5 \rfloor))`), then the 2 x B table tested by
      :func:`~biasaudit.stats.tests.independence_test`.
    * PSI over the same bins, :math:`\sum (b_i - a_i)\ln((b_i+\epsilon)/(a_i+\epsilon))`, :math:`\epsilon = 10^{-4}`.
    * Wasserstein distance divided by the standard deviation (ddof=1) of ``a``.

    Parameters
    ----------
    a, b : array-like of float
        NaNs are dropped.
    rng : int, numpy.random.Generator or None
        Seed of the permutation and Monte Carlo routines.
    n_bins : int, optional

    Returns
    -------
    dict
        Keys ``n_a, n_b, ks_statistic, ks_p, ad_statistic, ad_p, ad_p_method, bin_edges,
        counts_a, counts_b, binned (TestResult.to_dict()), psi, wasserstein_sd``.

    References
    ----------
    Scholz, F. W. & Stephens, M. A. (1987). K-sample Anderson-Darling tests. JASA 82, 918-924.
    Massey, F. J. (1951). The Kolmogorov-Smirnov test for goodness of fit. JASA 46, 68-78.
    """
    x, y = _clean(a, "a"), _clean(b, "b")
    generator = as_rng(rng)
    with warnings.catch_warnings():
        # ks_2samp may switch from exact to asymptotic with a RuntimeWarning; anderson_ksamp warns
        # when its interpolated p is capped/floored, which is handled below by permutation.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        ks = stats.ks_2samp(x, y)
        ad = stats.anderson_ksamp([x, y], variant="midrank")
        ad_p, ad_method = float(ad.pvalue), "interpolated"
        if ad_p <= AD_CLIP[0] or ad_p >= AD_CLIP[1]:
            method = stats.PermutationMethod(n_resamples=AD_PERMUTATIONS, rng=generator)
            ad_p = float(stats.anderson_ksamp([x, y], variant="midrank", method=method).pvalue)
            ad_method = f"permutation ({AD_PERMUTATIONS} resamples)"
    if n_bins is None:
        n_bins = min(10, max(2, y.size // 5))
    edges = quantile_bins(x, n_bins)
    counts_a = np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)
    counts_b = np.bincount(np.searchsorted(edges, y, side="right"), minlength=edges.size + 1)
    binned = independence_test(np.vstack([counts_a, counts_b]), rng=generator)
    sd = float(np.std(x, ddof=1))
    w = float(stats.wasserstein_distance(x, y))
    return {
        "n_a": int(x.size),
        "n_b": int(y.size),
        "ks_statistic": float(ks.statistic),
        "ks_p": float(ks.pvalue),
        "ad_statistic": float(ad.statistic),
        "ad_p": ad_p,
        "ad_p_method": ad_method,
        "bin_edges": edges.tolist(),
        "counts_a": counts_a.tolist(),
        "counts_b": counts_b.tolist(),
        "binned": binned.to_dict(),
        "psi": psi(counts_a, counts_b),
        "wasserstein_sd": w / sd if sd > 0 else (0.0 if w == 0 else math.inf),
    }
