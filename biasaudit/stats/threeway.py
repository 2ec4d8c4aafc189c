r"""Tests on three-way tables sample x A x B: has a conditional distribution or a relation shifted?

* :func:`conditional_independence_test` -- H0: B is independent of the sample within every level
  of A (:math:`P(B \mid A, S) = P(B \mid A)`).  Statistic :math:`X^2 = \sum_a X^2_a`, the Pearson
  statistics of the strata's sample x B tables, df :math:`\sum_a (r_a - 1)(c_a - 1)` over informative
  strata.  Unlike the CMH test it has power against shifts of opposite direction in different
  strata (Waterbirds: the share of water birds on water backgrounds falls from 85 % to 22 % while
  on land backgrounds it rises from 2 % to 22 %).  Asymptotic :math:`\chi^2` when Cochran's rule holds
  in every stratum; otherwise the exact conditional distribution (every stratum's table given its
  margins, drawn independently) by ``n_draws`` seeded Monte Carlo draws, with its standard error.
* :func:`no_three_way_interaction_test` -- H0: the association of A and B is the same in both
  samples (log-linear model [SA][SB][AB], no three-way term), fitted by iterative proportional
  fitting; likelihood-ratio :math:`G^2 = 2\sum O \ln(O/\hat E)`, df :math:`(s-1)(I-1)(J-1)` less the
  cells fixed at zero by an empty margin.  Asymptotic; flagged ``valid=False`` when the fitted
  values are sparse (Cochran's rule on :math:`\hat E`).

References
----------
Agresti, A. (2013). Categorical Data Analysis, 3rd ed., §6.3 (conditional independence), §9.2
(the no-three-way-interaction model). Bishop, Y. M. M., Fienberg, S. E. & Holland, P. W. (1975).
Discrete Multivariate Analysis, ch. 3 (iterative proportional fitting). Deming, W. E. & Stephan,
F. F. (1940). Ann. Math. Stat. 11, 427-444.
"""
from __future__ import annotations

import math

import numpy as np

from ._validation import as_rng, chi2_sf
from .tests import cochran_ok

__all__ = ["conditional_independence_test", "no_three_way_interaction_test", "CI_MC_DRAWS", "IPF_MAX_ITER"]

#: Monte Carlo draws of the conditional-independence test when an asymptotic test is not valid.
CI_MC_DRAWS = 9_999
#: Iterations of iterative proportional fitting (each is three rescalings; converges geometrically).
IPF_MAX_ITER = 200
_IPF_TOL = 1e-10


def _pearson_rows(tables: np.ndarray) -> np.ndarray:
    """Pearson X^2 of every 2-D table along the leading axes (empty rows/columns contribute 0)."""
    t = np.asarray(tables, dtype=float)
    n = t.sum(axis=(-2, -1), keepdims=True)
    e = t.sum(axis=-1, keepdims=True) * t.sum(axis=-2, keepdims=True) / np.where(n > 0, n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e > 0, (t - e) ** 2 / np.where(e > 0, e, 1), 0.0).sum(axis=(-2, -1))


def conditional_independence_test(strata, *, rng=0, n_draws: int = CI_MC_DRAWS) -> dict:
    """Test of sample-B conditional independence given A; ``strata`` has shape (levels of A, samples, levels of B).

    Returns
    -------
    dict
        ``test``, ``statistic``, ``dof``, ``p_value``, ``p_min``, ``n_strata``, ``valid`` (always
        True: the Monte Carlo test is exact up to its error), ``note`` and, for Monte Carlo, ``mc_se``.
    """
    t = np.asarray(strata, dtype=np.int64)
    if t.ndim != 3 or t.shape[1] != 2:
        raise ValueError(f"The 'strata' parameter of conditional_independence_test must have shape "
                         f"(levels, 2, values): two samples. Got shape {t.shape} instead.")
    keep = [(t[a].sum(axis=1) > 0).sum() >= 2 and (t[a].sum(axis=0) > 0).sum() >= 2 for a in range(len(t))]
    t = t[np.array(keep, dtype=bool)] if len(t) else t
    if len(t) == 0:
        return {"test": "not testable (no informative stratum)", "statistic": math.nan, "dof": 0, "p_value": 1.0,
                "p_min": 1.0, "n_strata": 0, "valid": True, "note": "no stratum has both samples and two values"}
    dof = int(sum(((s.sum(axis=1) > 0).sum() - 1) * ((s.sum(axis=0) > 0).sum() - 1) for s in t))
    x2 = float(_pearson_rows(t).sum())
    expected = [np.outer(s.sum(axis=1), s.sum(axis=0)) / s.sum() for s in t]
    if all(cochran_ok(e[np.ix_(s.sum(axis=1) > 0, s.sum(axis=0) > 0)]) for e, s in zip(expected, t)):
        return {"test": "conditional independence chi-square (sum over strata)", "statistic": x2, "dof": dof,
                "p_value": chi2_sf(x2, dof), "p_min": 0.0, "n_strata": len(t), "valid": True,
                "note": "Cochran's rule holds in every stratum"}
    gen = as_rng(rng)
    total = np.zeros(n_draws)
    for s in t:   # one vectorised draw per stratum: its sample-0 row given both margins
        cols, r0 = s.sum(axis=0), int(s[0].sum())
        row0 = gen.multivariate_hypergeometric(cols, r0, size=n_draws)
        sim = np.stack([row0, cols[None, :] - row0], axis=1)
        total += _pearson_rows(sim)
    p = (1 + int(np.sum(total >= x2 * (1 - 1e-7)))) / (n_draws + 1)
    return {"test": "conditional independence, Monte Carlo (sum over strata)", "statistic": x2, "dof": dof,
            "p_value": p, "p_min": 1 / (n_draws + 1), "n_strata": len(t), "valid": True,
            "mc_se": math.sqrt(p * (1 - p) / n_draws),
            "note": f"Cochran's rule fails in a stratum; {n_draws} seeded draws of the exact conditional distribution"}


def no_three_way_interaction_test(cube) -> dict:
    """Likelihood-ratio test of no three-way interaction in a (samples, I, J) table, by IPF.

    Returns
    -------
    dict
        ``test``, ``statistic`` (G^2), ``dof``, ``p_value``, ``p_min`` (0: asymptotic), ``valid``
        (Cochran's rule on the fitted values), ``iterations``, ``fitted``, ``note``.
    """
    o = np.asarray(cube, dtype=float)
    o = o[o.sum(axis=(1, 2)) > 0]
    o = o[:, o.sum(axis=(0, 2)) > 0][:, :, o.sum(axis=(0, 1)) > 0]
    s, i_n, j_n = o.shape
    if s < 2 or i_n < 2 or j_n < 2:
        return {"test": "not testable (fewer than two levels)", "statistic": math.nan, "dof": 0, "p_value": 1.0,
                "p_min": 1.0, "valid": True, "iterations": 0, "fitted": None, "note": ""}
    m_si, m_sj, m_ij = o.sum(axis=2), o.sum(axis=1), o.sum(axis=0)
    e = np.ones_like(o)
    it = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for it in range(1, IPF_MAX_ITER + 1):
            e *= np.nan_to_num(m_si / e.sum(axis=2))[:, :, None]
            e *= np.nan_to_num(m_sj / e.sum(axis=1))[:, None, :]
            e *= np.nan_to_num(m_ij / e.sum(axis=0))[None, :, :]
            if np.max(np.abs(e.sum(axis=2) - m_si)) <= _IPF_TOL * max(1.0, o.sum()):
                break
        g2 = float(2 * np.sum(np.where(o > 0, o * np.log(o / np.where(e > 0, e, 1)), 0.0)))
    # cells fitted at 0 (an empty two-way margin) carry no information; each empty margin entry also
    # removes a parameter: df = (s-1)(I-1)(J-1) - zero cells + zero margin entries (Bishop et al. 1975, §3.8)
    z_cells = int((e <= 0).sum())
    z_params = int((m_si == 0).sum() + (m_sj == 0).sum() + (m_ij == 0).sum())
    dof = max(1, (s - 1) * (i_n - 1) * (j_n - 1) - z_cells + z_params)
    valid = cochran_ok(e[e > 0])
    return {"test": "likelihood-ratio test of no three-way interaction (IPF)", "statistic": max(g2, 0.0),
            "dof": dof, "p_value": chi2_sf(max(g2, 0.0), dof), "p_min": 0.0, "valid": bool(valid),
            "iterations": it, "fitted": e,
            "note": "" if valid else "fitted values sparse (Cochran's rule fails): asymptotic p approximate"}
