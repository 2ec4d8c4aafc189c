r"""Generalised Cochran-Mantel-Haenszel test of general association for K stratified r x 2 tables.

Rows are the r levels of an attribute A, columns (positive, other), one table per level of a
stratifier B (STATISTICS.md §4.3, §2.5).  Under conditional independence of A and the outcome
given B, the positive counts :math:`x_k` of stratum k (row totals :math:`n_k`, :math:`m_k`
positives, :math:`N_k` rows) are multivariate hypergeometric:

.. math::
    E x_k = n_k m_k / N_k, \qquad
    V_k = \frac{m_k (N_k - m_k)}{N_k^2 (N_k - 1)} \bigl(N_k \operatorname{diag}(n_k) - n_k n_k^\top\bigr),

.. math::
    Q = d^\top \Bigl(\sum_k V_k\Bigr)^{+} d, \qquad d = \sum_k (x_k - E x_k),

asymptotically :math:`\chi^2` with :math:`\operatorname{rank}(\sum_k V_k)` degrees of freedom
(r - 1 when every level occurs in an informative stratum); p from the survival function
``scipy.stats.chi2.sf``, so it does not underflow to 0 as ``1 - cdf`` does below about 1e-16 (and
it is floored at the smallest normal double, 2.2e-308).  For r = 2 it is the CMH
:math:`X^2_{MH}` without continuity correction (``statsmodels`` ``StratifiedTable.test_null_odds
(correction=False)``); for K = 1 it is :math:`(N - 1)/N` times Pearson's :math:`X^2`.

References
----------
Landis, J. R., Heyman, E. R. & Koch, G. G. (1978). Average partial association in three-way
contingency tables. International Statistical Review 46, 237-254.
Agresti, A. (2013). Categorical Data Analysis, 3rd ed., §6.4.
Mantel, N. & Fleiss, J. L. (1980). Am. J. Epidemiol. 112, 129-134.
"""
from __future__ import annotations

import math

import numpy as np

from ._validation import chi2_sf
from .exact import count_2xk_tables

__all__ = ["general_cmh", "generalized_cmh", "MAX_EXACT_SUPPORT", "MC_DRAWS"]

#: Largest support of the exact conditional distribution of the stratified sum before Monte Carlo.
MAX_EXACT_SUPPORT = 200_000
#: Seeded Monte Carlo draws of the conditional test when it is neither asymptotic nor enumerable.
MC_DRAWS = 9_999
_TOL = 1e-7


def _moments(t: np.ndarray):
    """Observed sum, expected sum and summed covariance of the positive counts (vectorised over strata)."""
    x = t[:, :, 0].astype(float)
    n = t.sum(axis=2).astype(float)                                   # (K, r)
    m = x.sum(axis=1)                                                 # (K,)
    big_n = n.sum(axis=1)
    e = n * (m / big_n)[:, None]
    c = m * (big_n - m) / (big_n ** 2 * (big_n - 1))
    v = np.diag((c * big_n) @ n) - np.einsum("k,ki,kj->ij", c, n, n)
    return x.sum(axis=0), e.sum(axis=0), v, n, m, big_n


def _informative(t: np.ndarray) -> np.ndarray:
    """Strata with both outcomes and at least two occupied rows."""
    keep = (t.sum(axis=1) > 0).all(axis=1) & ((t.sum(axis=2) > 0).sum(axis=1) >= 2)
    return t[keep]


def generalized_cmh(tables) -> tuple[float, int, float]:
    """The asymptotic generalised CMH test only: ``(Q, dof, p)``; ``(0.0, 0, 1.0)`` when nothing is informative.

    Parameters
    ----------
    tables : array-like of shape (K, r, 2)
        Counts per stratum; rows the levels of A, columns (positive, other).
    """
    t = _informative(np.asarray(tables, dtype=float).reshape(-1, *np.shape(tables)[-2:]))
    if len(t) == 0:
        return 0.0, 0, 1.0
    obs, exp, v, *_ = _moments(t)
    dof = int(np.linalg.matrix_rank(v, tol=1e-9 * max(1.0, float(np.abs(v).max()))))
    if dof == 0:
        return 0.0, 0, 1.0
    d = obs - exp
    q = float(d @ np.linalg.pinv(v, rcond=1e-10) @ d)
    return q, dof, chi2_sf(q, dof)


def _enumerate(n: np.ndarray, m: int) -> np.ndarray:
    """All integer vectors x (rows) with sum m and 0 <= x_i <= n_i."""
    vecs, rem = np.zeros((1, 0), dtype=np.int64), np.array([m])
    for i, cap in enumerate(n):
        rest = int(n[i + 1:].sum())
        x = np.arange(int(cap) + 1)
        r = rem[:, None] - x[None, :]
        ok = (r >= 0) & (r <= rest)
        src, xs = np.nonzero(ok)
        vecs = np.column_stack([vecs[src], x[xs]])
        rem = r[src, xs]
    return vecs


def _log_mvhyper(x: np.ndarray, n: np.ndarray, m: int) -> np.ndarray:
    from scipy.special import gammaln

    def lc(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)
    return lc(n, x).sum(axis=1) - lc(n.sum(), m)


def general_cmh(tables, *, rng=0) -> dict:
    r"""Generalised CMH test with exact and Monte Carlo fallbacks (see the module docstring).

    The asymptotic :math:`\chi^2` p is used when the Mantel-Fleiss criterion holds for every level,
    :math:`\min_i \min(\sum_k E x_{ik} - \sum_k lo_{ik},\ \sum_k hi_{ik} - \sum_k E x_{ik}) \ge 5`
    (lo/hi the bounds of :math:`x_{ik}` given the margins).  Otherwise the exact conditional
    distribution of :math:`\sum_k x_k` (the convolution of the strata's multivariate
    hypergeometrics) is enumerated and ordered by Q, while its support stays within
    ``MAX_EXACT_SUPPORT`` values (the work is bounded by that number times the tables of one
    stratum); beyond, ``MC_DRAWS`` seeded draws of the same conditional distribution give
    :math:`p = (1 + \#\{Q^* \ge Q\}) / (B + 1)`, whose Monte Carlo standard error
    :math:`\sqrt{p(1-p)/B}` is returned as ``mc_se``.

    Parameters
    ----------
    tables : array-like of shape (K, r, 2)
        Integer counts per stratum; rows the levels of A, columns (positive, other).
    rng : int or numpy.random.Generator
        Seed of the Monte Carlo fallback.

    Returns
    -------
    dict
        ``test``, ``statistic``, ``dof``, ``p_value``, ``p_min``, ``mantel_fleiss``, ``n_strata``,
        ``note`` and, for Monte Carlo, ``mc_se``.
    """
    t = _informative(np.asarray(tables, dtype=np.int64))
    if len(t) == 0:
        return {"test": "not testable (no informative stratum)", "statistic": math.nan, "dof": None,
                "p_value": 1.0, "p_min": 1.0, "mantel_fleiss": math.nan, "n_strata": 0, "note": ""}
    obs, e_tot, v, n, m, big_n = _moments(t)
    vinv = np.linalg.pinv(v)
    dof = int(np.linalg.matrix_rank(v))

    def q_of(s):
        d = s - e_tot
        return np.einsum("...i,ij,...j->...", d, vinv, d)
    q_obs = float(q_of(obs))
    lo = np.maximum(0, m[:, None] - (big_n[:, None] - n)).sum(axis=0)
    hi = np.minimum(n, m[:, None]).sum(axis=0)
    mf = float(np.min(np.minimum(e_tot - lo, hi - e_tot)[n.sum(axis=0) > 0]))
    out = {"statistic": q_obs, "dof": dof, "mantel_fleiss": mf, "n_strata": len(t)}
    if mf >= 5:
        return {**out, "test": "generalised CMH chi-square", "p_value": chi2_sf(q_obs, dof),
                "p_min": 0.0, "note": f"Mantel-Fleiss criterion {mf:.3g} >= 5"}
    support, logp = np.zeros((1, t.shape[1]), dtype=np.int64), np.zeros(1)
    for k in range(len(t)):      # one convolution step per stratum; each step's work is bounded
        nk, mk = t[k].sum(axis=1), int(t[k, :, 0].sum())
        if len(support) * count_2xk_tables([mk, int(nk.sum()) - mk], nk) > MAX_EXACT_SUPPORT:
            return {**out, **_monte_carlo(t, q_of, q_obs, rng),
                    "note": f"Mantel-Fleiss criterion {mf:.3g} < 5; {MC_DRAWS} seeded Monte Carlo draws of the "
                            f"conditional distribution (the exact one has more than {MAX_EXACT_SUPPORT:,} values)"}
        vk = _enumerate(nk, mk)
        lk = _log_mvhyper(vk, nk, mk)
        s = (support[:, None, :] + vk[None, :, :]).reshape(-1, t.shape[1])
        lp = (logp[:, None] + lk[None, :]).reshape(-1)
        support, inv = np.unique(s, axis=0, return_inverse=True)
        logp = np.log(np.bincount(inv.ravel(), weights=np.exp(lp - lp.max()))) + lp.max()
    prob = np.exp(logp - logp.max())
    prob /= prob.sum()
    q_all = q_of(support.astype(float))
    p = float(prob[q_all >= q_obs * (1 - _TOL) - 1e-12].sum())
    p_min = float(prob[q_all >= q_all.max() * (1 - _TOL) - 1e-12].sum())
    return {**out, "test": "exact generalised CMH (conditional)", "p_value": min(1.0, p),
            "p_min": min(1.0, p_min), "note": f"Mantel-Fleiss criterion {mf:.3g} < 5; "
            f"{len(support)} values of the stratified sum enumerated"}


def _monte_carlo(t: np.ndarray, q_of, q_obs: float, rng) -> dict:
    gen = np.random.default_rng(rng)
    total = np.zeros((MC_DRAWS, t.shape[1]))
    for k in range(len(t)):
        total += gen.multivariate_hypergeometric(t[k].sum(axis=1), int(t[k, :, 0].sum()), size=MC_DRAWS)
    q = q_of(total)
    p = (1 + int(np.sum(q >= q_obs * (1 - _TOL) - 1e-12))) / (MC_DRAWS + 1)
    return {"test": "Monte Carlo generalised CMH (conditional)", "p_value": p, "p_min": 1 / (MC_DRAWS + 1),
            "mc_se": math.sqrt(p * (1 - p) / MC_DRAWS)}
