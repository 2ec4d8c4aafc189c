"""Conditional association of two binary variables across strata (STATISTICS.md §4.3).

Cochran-Mantel-Haenszel via ``statsmodels.stats.contingency_tables.StratifiedTable``; when the
Mantel-Fleiss criterion fails, the exact conditional test (R's ``mantelhaen.test(exact=TRUE)``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from ._validation import REL_TOL, as_counts, chi2_sf
from .results import CMHResult

__all__ = ["cmh_test", "exact_stratified_test", "mantel_fleiss", "informative_strata", "mh_risk_difference",
           "MANTEL_FLEISS_MIN"]

#: The asymptotic CMH test is trusted when the Mantel-Fleiss criterion is at least this.
EXACT_ALONGSIDE_MAX_N = 2000
MANTEL_FLEISS_MIN = 5.0


def informative_strata(strata) -> list[np.ndarray]:
    """Strata as 2 x 2 int arrays, without those with a zero row or column margin."""
    out = []
    for k, s in enumerate(strata):
        t = as_counts(s, name=f"strata[{k}]", func="cmh_test", ndim=2)
        if t.shape != (2, 2):
            raise ValueError(
                f"Every stratum given to cmh_test must be 2 x 2. Got shape {t.shape} at index {k} instead."
            )
        if np.all(t.sum(axis=0) > 0) and np.all(t.sum(axis=1) > 0):
            out.append(t)
    return out


def mh_risk_difference(strata) -> float:
    r"""Mantel-Haenszel risk difference of K 2 x 2 tables (rows exposure, columns outcome).

    .. math:: RD_{MH} = \frac{\sum_k (a_k n_{0k} - c_k n_{1k}) / N_k}{\sum_k n_{1k} n_{0k} / N_k}

    with :math:`a_k` (:math:`c_k`) the exposed (unexposed) rows with the outcome, :math:`n_{1k}`,
    :math:`n_{0k}` the row totals and :math:`N_k = n_{1k} + n_{0k}`.  Strata with an empty row carry
    no information and are skipped; NaN when none is left.

    References
    ----------
    Greenland, S. & Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
    """
    t = np.asarray(strata, dtype=float).reshape(-1, 2, 2)
    n1, n0 = t[:, 0].sum(axis=1), t[:, 1].sum(axis=1)
    ok = (n1 > 0) & (n0 > 0)
    if not ok.any():
        return math.nan
    t, n1, n0 = t[ok], n1[ok], n0[ok]
    big_n = n1 + n0
    den = float(np.sum(n1 * n0 / big_n))
    return float(np.sum((t[:, 0, 0] * n0 - t[:, 1, 0] * n1) / big_n) / den)


def _support(t: np.ndarray) -> tuple[int, int, int, int, int]:
    """(lo, hi, n, K, N) of the top-left cell: Hypergeom(M=n, K=first column, N=first row)."""
    r1, c1, n = int(t[0].sum()), int(t[:, 0].sum()), int(t.sum())
    return max(0, r1 - (n - c1)), min(r1, c1), n, c1, r1


def mantel_fleiss(strata) -> float:
    r"""Mantel-Fleiss criterion :math:`\min(\sum_k E a_k - \sum_k lo_k,\ \sum_k hi_k - \sum_k E a_k)`.

    :math:`E a_k = r_k c_k / n_k`; lo/hi are the bounds of :math:`a_k` given the margins.

    References
    ----------
    Mantel, N. & Fleiss, J. L. (1980). Minimum expected cell size requirements for the
    Mantel-Haenszel one-degree-of-freedom chi-square test. Am. J. Epidemiol. 112, 129-134.
    """
    tables = informative_strata(strata)
    if not tables:
        return math.nan
    e = sum(t[0].sum() * t[:, 0].sum() / t.sum() for t in tables)
    lo = sum(_support(t)[0] for t in tables)
    hi = sum(_support(t)[1] for t in tables)
    return float(min(e - lo, hi - e))


#: Each stratum's hypergeometric pmf is cut where it falls below this share of its mode (it decays
#: faster than geometrically), so the convolution costs O(strata x spread) instead of O(n^2).
PMF_TRIM = 1e-40


def _null_distribution(tables: list[np.ndarray]) -> tuple[np.ndarray, int, float]:
    """pmf of S = sum_k a_k (convolution of hypergeometrics), its smallest value, and the mass cut away."""
    pmf = np.ones(1)
    lo_total = 0
    cut = 0.0
    for t in tables:
        lo, hi, n, k, r = _support(t)
        f = stats.hypergeom.pmf(np.arange(lo, hi + 1), n, k, r)
        keep = np.flatnonzero(f >= f.max() * PMF_TRIM)
        a, b = int(keep[0]), int(keep[-1])
        cut += float(f[:a].sum() + f[b + 1:].sum())
        pmf = np.convolve(pmf, f[a:b + 1])
        lo_total += lo + a
    return pmf, lo_total, cut


def exact_stratified_test(strata) -> tuple[float, float]:
    r"""Exact conditional test of conditional independence in K stratified 2 x 2 tables.

    Given all margins, :math:`S = \sum_k a_k` is the sum of independent hypergeometrics
    :math:`a_k \sim \mathrm{Hypergeom}(n_k, c_{1k}, r_{1k})`; its pmf is their convolution. The
    two-sided p-value orders by probability (as R's ``mantelhaen.test(exact=TRUE)``):

    .. math:: p = \sum_{s:\ P(s) \le P(S_{obs})(1+10^{-7})} P(s), \qquad
              p_{min} = \sum_{s:\ P(s) \le \min P\,(1+10^{-7})} P(s).

    Strata with a zero margin are dropped.  Work: each stratum's pmf is trimmed where it falls
    below ``PMF_TRIM`` (1e-40) of its mode and the trimmed mass is added to p (conservative by at
    most that mass), so the cost grows with the strata's spread, not with n squared.

    Returns
    -------
    p_value, p_min : float
        (1.0, 1.0) when no informative stratum is left.

    References
    ----------
    Mehta, C. R., Patel, N. R. & Gray, R. (1985). Computing an exact confidence interval for the
    common odds ratio in several 2 x 2 contingency tables. JASA 80, 969-973.
    """
    tables = informative_strata(strata)
    if not tables:
        return 1.0, 1.0
    pmf, lo_total, cut = _null_distribution(tables)
    s_obs = sum(int(t[0, 0]) for t in tables) - lo_total
    tol = 1 + REL_TOL
    if 0 <= s_obs < len(pmf):
        p = math.fsum(pmf[pmf <= pmf[s_obs] * tol]) + cut
    else:   # beyond the kept support: every kept value is more likely; the cut mass bounds p from above
        p = max(cut, 1e-300)
    p_min = math.fsum(pmf[pmf <= pmf.min() * tol]) + cut
    return min(1.0, p), min(1.0, p_min)


def cmh_test(strata) -> CMHResult:
    r"""Cochran-Mantel-Haenszel test of conditional independence, with exact fallback.

    .. math::
        OR_{MH} = \frac{\sum_k a_k d_k / n_k}{\sum_k b_k c_k / n_k}, \qquad
        X^2_{MH} = \frac{\bigl(\sum_k (a_k - E a_k)\bigr)^2}{\sum_k \mathrm{Var}\, a_k},

    .. math::
        E a_k = \frac{r_k c_k}{n_k}, \qquad
        \mathrm{Var}\, a_k = \frac{r_k (n_k - r_k) c_k (n_k - c_k)}{n_k^2 (n_k - 1)}

    (``StratifiedTable.oddsratio_pooled`` and ``test_null_odds(correction=False)``), plus the
    Breslow-Day test of homogeneous odds ratios (``test_equal_odds(adjust=False)``). When the
    Mantel-Fleiss criterion is below 5 the decision p-value is :func:`exact_stratified_test`.

    Parameters
    ----------
    strata : sequence of array-like of shape (2, 2)
        One table per stratum (rows: exposure, columns: outcome).

    Returns
    -------
    CMHResult

    References
    ----------
    Mantel, N. & Haenszel, W. (1959). JNCI 22, 719-748.
    Breslow, N. E. & Day, N. E. (1980). Statistical Methods in Cancer Research I, IARC.
    Mantel & Fleiss (1980), Am. J. Epidemiol. 112, 129-134.
    """
    tables = informative_strata(strata)
    if not tables:
        return CMHResult("not testable (no informative stratum)", math.nan, 1, 1.0, 1.0, math.nan,
                         math.nan, 1.0, math.nan, math.nan, 0, False, "every stratum has a zero margin")
    st = StratifiedTable([t.astype(float) for t in tables])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        odds_ratio = float(st.oddsratio_pooled)
        statistic = float(st.test_null_odds(correction=False).statistic)
    # statsmodels returns 1 - chi2.cdf, which is exactly 0 below about 1e-16: the survival function does not
    cmh_p = chi2_sf(statistic, 1) if math.isfinite(statistic) else math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if len(tables) >= 2:
            breslow_day_p = float(st.test_equal_odds(adjust=False).pvalue)
        else:
            breslow_day_p = math.nan
    mf = mantel_fleiss(tables)
    # the exact convolution costs O(n * strata); it decides only when Mantel-Fleiss fails, and is
    # reported alongside the asymptotic test for moderate n
    if mf < MANTEL_FLEISS_MIN or sum(int(t.sum()) for t in tables) <= EXACT_ALONGSIDE_MAX_N:
        exact_p, exact_pmin = exact_stratified_test(tables)
    else:
        exact_p, exact_pmin = math.nan, math.nan
    if mf >= MANTEL_FLEISS_MIN:
        return CMHResult("Cochran-Mantel-Haenszel chi-square", statistic, 1, cmh_p, 0.0, odds_ratio, cmh_p,
                         exact_p, breslow_day_p, mf, len(tables), True,
                         f"Mantel-Fleiss criterion {mf:.3g} >= {MANTEL_FLEISS_MIN:g}")
    return CMHResult("exact conditional test (stratified)", statistic, 1, exact_p, exact_pmin, odds_ratio,
                     cmh_p, exact_p, breslow_day_p, mf, len(tables), True,
                     f"Mantel-Fleiss criterion {mf:.3g} < {MANTEL_FLEISS_MIN:g}: asymptotic CMH p={cmh_p:.3g} not used")
