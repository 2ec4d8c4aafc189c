"""Effect sizes and confidence intervals (STATISTICS.md §2.1, §4.2, §5).

Descriptive numbers: they never enter the multiple-testing family.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import association

from ._validation import as_counts, drop_empty, pearson_x2

__all__ = [
    "wilson_ci",
    "clopper_pearson_ci",
    "clopper_pearson_upper",
    "newcombe_diff_ci",
    "cramers_v",
    "tvd",
    "cohens_w",
    "jsd_bits",
    "null_tvd",
    "two_sample_null_tvd",
    "mutual_info_bias",
    "mutual_info",
    "theils_u",
    "entropy_nats",
]


def _check_k_n(k, n, func):
    if not (0 <= k <= n) or n <= 0:
        raise ValueError(f"{func} needs 0 <= k <= n and n > 0. Got k={k}, n={n} instead.")


def wilson_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    r"""Wilson score interval for a binomial proportion.

    .. math:: \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + z^2/n}

    Thin wrapper of ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    References
    ----------
    Wilson, E. B. (1927). JASA 22, 209-212.
    """
    _check_k_n(k, n, "wilson_ci")
    from statsmodels.stats.proportion import proportion_confint  # imported where used: 0.2 s
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def clopper_pearson_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    r"""Exact (Clopper-Pearson) interval for a binomial proportion.

    .. math:: \bigl[B(\tfrac{\alpha}{2}; k, n-k+1),\ B(1-\tfrac{\alpha}{2}; k+1, n-k)\bigr]

    with B the beta quantile; ``proportion_confint(method="beta")``.

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26, 404-413.
    """
    _check_k_n(k, n, "clopper_pearson_ci")
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(k, n, alpha=alpha, method="beta")
    lo = 0.0 if k == 0 else float(lo)
    hi = 1.0 if k == n else float(hi)
    return lo, hi


def clopper_pearson_upper(k, n, alpha: float = 0.05) -> np.ndarray:
    r"""One-sided exact (Clopper-Pearson) upper confidence bound of a share k/n, vectorised.

    .. math::
        \pi_{up} = \begin{cases} 1 - \alpha^{1/n} & k = 0 \ (\text{rule of three: } \approx 3/n)\\
        B(1 - \alpha;\ k + 1, n - k) & 0 < k < n \\ 1 & k = n \text{ or } n = 0 \end{cases}

    with :math:`B(q; a, b)` the beta quantile (``scipy.special.betaincinv``).  The bound is
    one-sided at level alpha (not alpha/2 as in :func:`clopper_pearson_ci`).

    Parameters
    ----------
    k, n : array-like of int (broadcast together)
    alpha : float

    Returns
    -------
    ndarray of float

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26, 404-413.
    Hanley, J. A. & Lippman-Hand, A. (1983). JAMA 249, 1743-1745 (k = 0).
    """
    from scipy.special import betaincinv
    k, n = np.broadcast_arrays(np.atleast_1d(np.asarray(k, dtype=float)), np.atleast_1d(np.asarray(n, dtype=float)))
    out = np.ones(k.shape, dtype=float)
    zero = (k == 0) & (n > 0)
    out[zero] = 1.0 - np.power(alpha, 1.0 / n[zero])
    mid = (k > 0) & (k < n)
    out[mid] = betaincinv(k[mid] + 1, n[mid] - k[mid], 1 - alpha)
    return out


def _first_orientation(t: np.ndarray) -> bool:
    """For a square table: True when ``t`` (not its transpose) is the canonical orientation."""
    a, b = t.ravel().tolist(), t.T.ravel().tolist()
    return a <= b


def newcombe_diff_ci(k1: int, n1: int, k2: int, n2: int, alpha: float = 0.05) -> tuple[float, float]:
    r"""Newcombe's hybrid score interval for the difference of two proportions ``k1/n1 - k2/n2``.

    With :math:`(l_i, u_i)` the Wilson interval of :math:`\hat p_i` and :math:`d = \hat p_1 - \hat p_2`:

    .. math:: \Bigl[d - \sqrt{(\hat p_1 - l_1)^2 + (u_2 - \hat p_2)^2},\;
              d + \sqrt{(u_1 - \hat p_1)^2 + (\hat p_2 - l_2)^2}\Bigr]

    Thin wrapper of ``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb")``.

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Statistics in Medicine 17, 873-890 (method 10).
    """
    from statsmodels.stats.proportion import confint_proportions_2indep
    _check_k_n(k1, n1, "newcombe_diff_ci")
    _check_k_n(k2, n2, "newcombe_diff_ci")
    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff", alpha=alpha)
    return float(lo), float(hi)


def cramers_v(table, corrected: bool = True) -> float:
    r"""Cramér's V of an r x c table, by default with Bergsma's bias correction.

    .. math::
        V = \sqrt{\frac{X^2/n}{\min(r,c)-1}}, \qquad
        \tilde\varphi^2 = \max\Bigl(0,\ \frac{X^2}{n} - \frac{(k-1)(r-1)}{n-1}\Bigr),\quad
        \tilde k = k - \frac{(k-1)^2}{n-1},\quad \tilde r = r - \frac{(r-1)^2}{n-1},\quad
        \tilde V = \sqrt{\frac{\tilde\varphi^2}{\min(\tilde k-1,\ \tilde r-1)}}.

    Uncorrected V is ``scipy.stats.contingency.association(method="cramer")``. Empty rows and
    columns are dropped first; a table with fewer than two non-empty rows or columns gives NaN.

    References
    ----------
    Bergsma, W. (2013). A bias-correction for Cramér's V and Tschuprow's T.
    Journal of the Korean Statistical Society 42, 323-328.
    """
    t, _, _ = drop_empty(as_counts(table, name="table", func="cramers_v", ndim=2))
    if t.shape[0] < 2 or t.shape[1] < 2:
        return math.nan
    if not corrected:
        return float(association(t, method="cramer"))
    n = int(t.sum())
    if n < 2:
        return math.nan
    if t.shape[0] > t.shape[1] or (t.shape[0] == t.shape[1] and not _first_orientation(t)):
        t = t.T                      # one orientation: V(t) == V(t.T) to the last bit
    r, k = t.shape
    phi2 = pearson_x2(t)[0] / n
    phi2_t = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    k_t = k - (k - 1) ** 2 / (n - 1)
    r_t = r - (r - 1) ** 2 / (n - 1)
    denom = min(k_t - 1, r_t - 1)
    if denom <= 0:
        return 0.0
    return math.sqrt(phi2_t / denom)


def _distributions(q, p, func: str) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q, dtype=float)
    p = np.asarray(p, dtype=float)
    if q.shape != p.shape or q.ndim != 1:
        raise ValueError(f"{func} needs two vectors of the same length. Got shapes {q.shape} and {p.shape} instead.")
    if np.any(q < 0) or np.any(p < 0) or q.sum() <= 0 or p.sum() <= 0:
        raise ValueError(f"{func} needs non-negative vectors with positive sums.")
    return q / q.sum(), p / p.sum()


def tvd(q, p) -> float:
    r"""Total variation distance :math:`\tfrac12 \sum_i |q_i - p_i|` (counts are normalised)."""
    q, p = _distributions(q, p, "tvd")
    return float(0.5 * np.abs(q - p).sum())


def cohens_w(q, p) -> float:
    r"""Cohen's w :math:`\sqrt{\sum_i (q_i - p_i)^2 / p_i} = \sqrt{X^2/n}`.

    Infinite when q puts mass on a category with :math:`p_i = 0`.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, ch. 7.
    """
    q, p = _distributions(q, p, "cohens_w")
    if np.any((p == 0) & (q > 0)):
        return math.inf
    pos = p > 0
    return float(np.sqrt(np.sum((q[pos] - p[pos]) ** 2 / p[pos])))


def jsd_bits(q, p) -> float:
    r"""Jensen-Shannon divergence in bits, :math:`\mathrm{JSD}(q\|p) = \tfrac12 KL(q\|m) + \tfrac12 KL(p\|m)`.

    ``scipy.spatial.distance.jensenshannon`` returns the *distance* (its square root), so it is squared.

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Trans. Inf. Theory 37, 145-151.
    """
    q, p = _distributions(q, p, "jsd_bits")
    return float(jensenshannon(q, p, base=2) ** 2)


def null_tvd(p, n: int) -> float:
    r"""Expected TVD of a sample of size n drawn from p itself (normal approximation).

    .. math:: E_0[\mathrm{TVD}] \approx \tfrac12 \sum_i \sqrt{\frac{2 p_i (1-p_i)}{\pi n}}

    An observed TVD below this value is indistinguishable from sampling noise.
    """
    p = np.asarray(p, dtype=float)
    p = p / p.sum()
    if n <= 0:
        return math.nan
    return _expected_abs_gap(p, n)


def two_sample_null_tvd(n1: float, n2: float, pooled) -> float:
    r"""TVD between two samples of sizes n1 and n2 expected by chance when both come from ``pooled``.

    .. math:: E_0[\mathrm{TVD}] \approx \tfrac12 \sum_i \sqrt{\frac{2 p_i (1-p_i)}{\pi n_{eff}}},
              \qquad n_{eff} = \Bigl(\frac1{n_1} + \frac1{n_2}\Bigr)^{-1}

    (each :math:`\hat q_{1i} - \hat q_{2i}` is approximately normal with variance
    :math:`p_i(1-p_i)/n_{eff}`, and :math:`E|Z| = \sigma\sqrt{2/\pi}`); ``pooled`` are the pooled
    shares, used as given.  The one-sample version is :func:`null_tvd`.
    """
    n_eff = 1.0 / (1.0 / n1 + 1.0 / n2)
    return _expected_abs_gap(np.asarray(pooled, dtype=float), n_eff)


def _expected_abs_gap(p: np.ndarray, n: float) -> float:
    return float(0.5 * np.sum(np.sqrt(2 * p * (1 - p) / (math.pi * n))))


def mutual_info_bias(r: int, c: int, n: float) -> float:
    r"""First-order (Miller-Madow) bias of the plug-in mutual information of an r x c table, in nats.

    .. math:: E[\hat I] - I \approx \frac{(r-1)(c-1)}{2n}

    NaN when n is 0.

    References
    ----------
    Miller, G. A. (1955). Note on the bias of information estimates. In Information Theory in
    Psychology, 95-100.
    """
    return (r - 1) * (c - 1) / (2 * n) if n else math.nan


def entropy_nats(counts) -> float:
    r"""Shannon entropy (nats) of a count or probability vector, :math:`H = -\sum_i p_i \ln p_i`.

    The operations of ``scipy.stats.entropy`` (normalise, ``scipy.special.entr``, sum), without its
    argument handling: the leakage and proxy checks call it for every attribute and pair.

    References
    ----------
    Shannon, C. E. (1948). A mathematical theory of communication. Bell System Technical Journal 27.
    """
    from scipy.special import entr
    c = np.asarray(counts, dtype=float).ravel()
    total = c.sum()
    if total <= 0:
        return 0.0
    return float(np.sum(entr(1.0 * c / total)))


def mutual_info(table) -> float:
    r"""Plug-in mutual information (nats) of the two variables of a contingency table.

    .. math:: I(X;Y) = H(X) + H(Y) - H(X,Y) = \sum_{ij} p_{ij} \ln\frac{p_{ij}}{p_{i\cdot}p_{\cdot j}}

    Biased upward by about :math:`(r-1)(c-1)/(2n)` (Miller-Madow).

    References
    ----------
    Cover, T. M. & Thomas, J. A. (2006). Elements of Information Theory, ch. 2.
    """
    t = as_counts(table, name="table", func="mutual_info", ndim=2)
    if t.sum() == 0:
        return 0.0
    mi = entropy_nats(t.sum(axis=1)) + entropy_nats(t.sum(axis=0)) - entropy_nats(t)
    return max(0.0, mi)


def theils_u(table, given_axis: int) -> float:
    r"""Theil's uncertainty coefficient U(S | X): the share of S's entropy that X removes.

    .. math:: U(S \mid X) = \frac{I(S;X)}{H(S)}

    Parameters
    ----------
    table : array-like of shape (r, c)
    given_axis : {0, 1}
        Axis of the *conditioning* variable X (0: rows, 1: columns); S is the other axis.

    Returns
    -------
    float
        In [0, 1]; 1 means S is a deterministic function of X. NaN when S is constant.

    References
    ----------
    Theil, H. (1970). On the estimation of relationships involving qualitative variables.
    American Journal of Sociology 76, 103-154.
    """
    if given_axis not in (0, 1):
        raise ValueError(f"The 'given_axis' parameter of theils_u must be 0 or 1. Got {given_axis!r} instead.")
    t = as_counts(table, name="table", func="theils_u", ndim=2)
    h_s = entropy_nats(t.sum(axis=given_axis))
    if h_s <= 0:
        return math.nan
    return float(min(1.0, mutual_info(t) / h_s))
