r"""Comparing the positive-label rates of two groups: intervals and a symmetric effect level.

For a group with :math:`k_1` positives of :math:`n_1` rows against a comparison with :math:`k_0`
of :math:`n_0` (STATISTICS.md §4.1, §1.4 v0.2):

* the statistical parity difference :math:`SPD = k_1/n_1 - k_0/n_0` with Newcombe's hybrid score
  interval (method 10 of Newcombe 1998; ``statsmodels`` ``confint_proportions_2indep(...,
  method="newcomb", compare="diff")``);
* the rate ratio (disparate impact) :math:`DI = (k_1/n_1)/(k_0/n_0)` with the Katz log interval
  :math:`\exp(\ln DI \pm z \sqrt{1/k_1 - 1/n_1 + 1/k_0 - 1/n_0})` (``method="log",
  compare="ratio"``);
* the log odds ratio :math:`\ln OR = \ln\frac{k_1 (n_0 - k_0)}{(n_1 - k_1) k_0}` with Woolf's
  interval :math:`\pm z\sqrt{\sum 1/\text{cell}}`, Haldane's +0.5 on every cell when one is zero;
* the **effect level**, the larger of the |SPD| level (0.05 / 0.10 / 0.20) and the |ln OR| level
  (0.36 / 0.91 / 1.45: Cohen's d of 0.2 / 0.5 / 0.8 converted by :math:`\ln OR = d\,\pi/\sqrt3`,
  Chinn 2000).  Both are unchanged when the positive label value is swapped (SPD and ln OR change
  sign), so the same table always gets the same level.  DI and the four-fifths rule depend on which
  value is positive: they are reported, not used for the level.

References
----------
Newcombe, R. G. (1998). Interval estimation for the difference between independent proportions:
comparison of eleven methods. Statistics in Medicine 17, 873-890.
Katz, D., Baptista, J., Azen, S. P. & Pike, M. C. (1978). Obtaining confidence intervals for the
risk ratio in cohort studies. Biometrics 34, 469-474.
Woolf, B. (1955). On estimating the relation between blood group and disease. Ann. Hum. Genet. 19, 251-253.
Chinn, S. (2000). A simple method for converting an odds ratio to effect size for use in
meta-analysis. Statistics in Medicine 19, 3127-3131.
"""
from __future__ import annotations

import math

from .effects import wilson_ci
from .grading import effect_level

__all__ = ["spd_ci", "rate_ratio_ci", "log_odds_ratio", "log_odds_ratio_level", "rate_effect_level",
           "LOG_OR_THRESHOLDS"]

#: |ln OR| cut-offs of effect levels 1, 2, 3 (OR 1.44, 2.47, 4.25; Chinn 2000).
LOG_OR_THRESHOLDS = (0.36, 0.91, 1.45)


def _z(alpha: float) -> float:
    from scipy.stats import norm
    return float(norm.isf(alpha / 2))


def spd_ci(k1: float, n1: float, k0: float, n0: float, alpha: float = 0.05) -> tuple[float, float]:
    r"""Newcombe's hybrid score interval of :math:`p_1 - p_0`.

    With Wilson intervals :math:`(l_i, u_i)` of each rate,
    :math:`\bigl(\hat\delta - \sqrt{(p_1 - l_1)^2 + (u_0 - p_0)^2},\
    \hat\delta + \sqrt{(u_1 - p_1)^2 + (p_0 - l_0)^2}\bigr)`.
    """
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson_ci(k1, n1, alpha)
    l0, u0 = wilson_ci(k0, n0, alpha)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def rate_ratio_ci(k1: float, n1: float, k0: float, n0: float, alpha: float = 0.05) -> tuple[float, float]:
    """Katz log interval of the rate ratio :math:`p_1 / p_0`; (nan, nan) when a group has no positive."""
    if k1 <= 0 or k0 <= 0:
        return math.nan, math.nan
    lr = math.log((k1 / n1) / (k0 / n0))
    se = math.sqrt(max(0.0, 1 / k1 - 1 / n1 + 1 / k0 - 1 / n0))
    z = _z(alpha)
    return math.exp(lr - z * se), math.exp(lr + z * se)


def log_odds_ratio(k1: float, n1: float, k0: float, n0: float, alpha: float = 0.05) -> tuple[float, float, float]:
    """ln OR of group 1 against group 0 and Woolf's interval (Haldane +0.5 on every cell if one is 0)."""
    cells = [k1, n1 - k1, k0, n0 - k0]
    if min(cells) <= 0:
        cells = [c + 0.5 for c in cells]
    a, b, c, d = cells
    lor = math.log(a * d / (b * c))
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = _z(alpha)
    return lor, lor - z * se, lor + z * se


def log_odds_ratio_level(value: float) -> int:
    """Effect level 0-3 of |ln OR| (``LOG_OR_THRESHOLDS``); NaN grades as 0."""
    if value is None or math.isnan(float(value)):
        return 0
    v = abs(float(value))
    return sum(v >= t for t in LOG_OR_THRESHOLDS)


def rate_effect_level(spd: float, log_or: float) -> int:
    """The larger of the |SPD| and |ln OR| effect levels: symmetric under swapping the positive label."""
    return max(effect_level("spd", abs(spd)) if math.isfinite(spd) else 0, log_odds_ratio_level(log_or))
