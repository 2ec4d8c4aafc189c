"""Exact conditional tests that scipy does not provide, and their minimal attainable p-values.

* :func:`fisher_pmin_2x2` -- Tarone's p_min of the two-sided Fisher test (via ``scipy.stats.fisher_exact``).
* :func:`freeman_halton_2xk` -- exact 2 x K test by enumerating the first row (Freeman & Halton 1951),
  at most ``MAX_EXACT_TABLES`` tables; :func:`freeman_halton_2xk_mc` is its seeded Monte Carlo fallback.
* :func:`exact_multinomial` -- exact goodness of fit against known probabilities (stars and bars).
* :func:`monte_carlo_multinomial` -- the same ordering, by seeded simulation, when enumeration is too big.
* :func:`binomial_pmin` / :func:`multinomial_pmin` -- p_min of the exact binomial / multinomial tests.

Every two-sided test orders outcomes by probability and counts an outcome as "at least as extreme"
when ``P(x) <= P(observed) * (1 + 1e-7)`` (the tolerance R's ``fisher.test`` uses).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.special import gammaln

from ._validation import REL_TOL, as_counts, as_probs, as_rng

__all__ = [
    "binomial_p",
    "fisher_pmin_2x2",
    "count_2xk_tables",
    "count_compositions",
    "freeman_halton_2xk",
    "freeman_halton_2xk_mc",
    "MAX_EXACT_TABLES",
    "exact_multinomial",
    "exact_multinomial_full",
    "monte_carlo_multinomial",
    "binomial_pmin",
    "multinomial_pmin",
]

_LOG_TOL = math.log1p(REL_TOL)


def _tail_sum(logp: np.ndarray, threshold: float) -> float:
    """Sum of ``exp(logp)`` over outcomes with ``logp <= threshold + log(1 + 1e-7)``, capped at 1."""
    mask = logp <= threshold + _LOG_TOL
    return float(min(1.0, math.fsum(np.exp(logp[mask]))))


def fisher_pmin_2x2(row_sums, col_sums) -> float:
    r"""Smallest two-sided Fisher p-value attainable with the given margins (Tarone 1990).

    Under the conditional null the top-left cell :math:`a` is hypergeometric; the two-sided
    p-value orders tables by probability, and the hypergeometric pmf is unimodal, so the least
    likely table is one of the two extreme tables

    .. math:: a_{lo} = \max(0, c_1 - r_2), \qquad a_{hi} = \min(r_1, c_1),

    and :math:`p_{min} = \min(p(a_{lo}), p(a_{hi}))` with ``scipy.stats.fisher_exact``.

    Parameters
    ----------
    row_sums, col_sums : array-like of shape (2,)
        Margins of the 2 x 2 table (they must have the same total).

    Returns
    -------
    float
        p_min; 1.0 when only one table has these margins.

    References
    ----------
    Tarone, R. E. (1990). A modified Bonferroni method for discrete data. Biometrics 46, 515-522.
    """
    r = as_counts(row_sums, name="row_sums", func="fisher_pmin_2x2", ndim=1)
    c = as_counts(col_sums, name="col_sums", func="fisher_pmin_2x2", ndim=1)
    if r.size != 2 or c.size != 2 or r.sum() != c.sum():
        raise ValueError(
            "The margins of fisher_pmin_2x2 must be two pairs with the same total. "
            f"Got row_sums={r.tolist()}, col_sums={c.tolist()} instead."
        )
    lo, hi = max(0, c[0] - r[1]), min(r[0], c[0])
    if lo == hi:
        return 1.0
    ps = []
    for a in (lo, hi):
        table = [[a, r[0] - a], [c[0] - a, r[1] - c[0] + a]]
        ps.append(float(stats.fisher_exact(table).pvalue))
    return min(ps)


#: Largest number of tables :func:`freeman_halton_2xk` enumerates (about 2 s and 100 MB); beyond,
#: :func:`freeman_halton_2xk_mc` (seeded Monte Carlo with its standard error) is the fallback.
MAX_EXACT_TABLES = 2_000_000
#: Above this smaller margin the table count is computed in floating point (exact below 2**53).
_EXACT_COUNT_MAX_MARGIN = 2_000


def count_2xk_tables(row_sums, col_sums) -> int:
    """Number of 2 x K tables with the given margins (coefficient of a truncated polynomial product).

    Exact (Python integers) when the smaller row total is at most 2,000; otherwise the same
    recursion in floating point, vectorised (a count beyond the float range is returned as 10**309),
    so that deciding "too many to enumerate" costs O(K x margin) array operations, not big-integer loops.
    """
    r = as_counts(row_sums, name="row_sums", func="count_2xk_tables", ndim=1)
    c = as_counts(col_sums, name="col_sums", func="count_2xk_tables", ndim=1)
    target = int(min(r))
    if target > _EXACT_COUNT_MAX_MARGIN:
        coef = np.zeros(target + 1)
        coef[0] = 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            for cj in c.tolist():
                prefix = np.concatenate([[0.0], np.cumsum(coef)])
                s_ = np.arange(target + 1)
                coef = prefix[s_ + 1] - prefix[np.maximum(0, s_ - cj)]
        value = float(coef[target])
        return int(round(value)) if math.isfinite(value) else 10 ** 309
    coef = [1] + [0] * target  # Python ints: exact, no overflow
    for cj in c.tolist():
        prefix = [0]
        for v in coef:
            prefix.append(prefix[-1] + v)
        coef = [prefix[s + 1] - prefix[max(0, s - cj)] for s in range(target + 1)]
    return int(coef[target])


def count_compositions(n: int, k: int) -> int:
    """Number of count vectors of ``k`` categories summing to ``n``: C(n+k-1, k-1)."""
    return math.comb(int(n) + int(k) - 1, int(k) - 1)


def _expand(partial: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised branching: for state i, every value in lo[i]..hi[i]; return (state index, value)."""
    width = hi - lo + 1
    idx = np.repeat(np.arange(partial.size), width)
    offsets = np.repeat(np.cumsum(width) - width, width)
    values = lo[idx] + (np.arange(idx.size) - offsets)
    return idx, values


def _enumerate_2xk(caps: np.ndarray, r1: int) -> np.ndarray:
    """Log-probabilities of every first row x (0 <= x_j <= caps_j, sum x = r1) of a 2 x K table."""
    n = int(caps.sum())
    rest = np.concatenate([np.cumsum(caps[::-1])[::-1][1:], [0]])
    s = np.zeros(1, dtype=np.int64)
    lp = np.zeros(1)
    for cj, rj in zip(caps.tolist(), rest.tolist()):
        lo = np.maximum(0, r1 - s - rj)
        hi = np.minimum(cj, r1 - s)
        idx, x = _expand(s, lo, hi)
        s = s[idx] + x
        lp = lp[idx] + (gammaln(cj + 1) - gammaln(x + 1) - gammaln(cj - x + 1))
    return lp - (gammaln(n + 1) - gammaln(r1 + 1) - gammaln(n - r1 + 1))


def freeman_halton_2xk(table, *, max_tables: int | None = MAX_EXACT_TABLES) -> tuple[float, float, int]:
    r"""Exact test of independence for a 2 x K table (Freeman-Halton), with Tarone's p_min.

    Given both margins, the first row :math:`x` is multivariate hypergeometric,

    .. math:: P(x) = \frac{\prod_j \binom{c_j}{x_j}}{\binom{n}{r_1}},

    and the p-value is :math:`\sum_{y: P(y) \le P(x_{obs})(1+10^{-7})} P(y)` over every table
    with the same margins. p_min is the total probability of the least likely table(s).

    Parameters
    ----------
    table : array-like of shape (2, K) or (K, 2)
        Integer counts; a K x 2 table is transposed.
    max_tables : int or None
        Raise ``ValueError`` instead of enumerating more tables than this (default
        ``MAX_EXACT_TABLES``, so the work is bounded; None removes the bound).  The fallback is
        :func:`freeman_halton_2xk_mc`, or the chi-square test where Cochran's rule holds.

    Returns
    -------
    p_value : float
    p_min : float
    n_tables : int
        Number of tables with the observed margins.

    References
    ----------
    Freeman, G. H. & Halton, J. H. (1951). Note on an exact treatment of contingency, goodness of
    fit and other problems of significance. Biometrika 38, 141-149.
    """
    t = as_counts(table, name="table", func="freeman_halton_2xk", ndim=2)
    if t.shape[0] != 2 and t.shape[1] == 2:
        t = t.T
    if t.shape[0] != 2:
        raise ValueError(
            f"The 'table' parameter of freeman_halton_2xk must have shape (2, K) or (K, 2). Got {t.shape} instead."
        )
    caps = t.sum(axis=0)
    r1 = int(t[0].sum())
    if max_tables is not None:
        count = count_2xk_tables(t.sum(axis=1), caps)
        if count > max_tables:
            raise ValueError(f"freeman_halton_2xk would enumerate {count} tables (max_tables={max_tables}); "
                             f"use freeman_halton_2xk_mc (seeded Monte Carlo) for this table.")
    lp = _enumerate_2xk(caps, r1)
    n = int(caps.sum())
    lp_obs = float(
        np.sum(gammaln(caps + 1) - gammaln(t[0] + 1) - gammaln(t[1] + 1))
        - (gammaln(n + 1) - gammaln(r1 + 1) - gammaln(n - r1 + 1))
    )
    return _tail_sum(lp, lp_obs), _tail_sum(lp, float(lp.min())), int(lp.size)


def freeman_halton_2xk_mc(table, *, n_draws: int = 99_999, rng=0) -> tuple[float, float]:
    r"""Seeded Monte Carlo version of :func:`freeman_halton_2xk` for tables too many to enumerate.

    Draws B first rows from the multivariate hypergeometric distribution given both margins
    (``Generator.multivariate_hypergeometric``), orders them by probability as the exact test does, and

    .. math:: \hat p = \frac{1 + \#\{b: P(x_b) \le P(x_{obs})(1+10^{-7})\}}{1 + B}, \qquad
              se = \sqrt{\hat p (1-\hat p) / B}.

    Work: O(B K), whatever n.

    Returns
    -------
    p_value, standard_error : float
    """
    t = as_counts(table, name="table", func="freeman_halton_2xk_mc", ndim=2)
    if t.shape[0] != 2 and t.shape[1] == 2:
        t = t.T
    if t.shape[0] != 2:
        raise ValueError(
            f"The 'table' parameter of freeman_halton_2xk_mc must have shape (2, K) or (K, 2). Got {t.shape} instead."
        )
    caps = t.sum(axis=0)
    r1 = int(t[0].sum())
    draws = as_rng(rng).multivariate_hypergeometric(caps, r1, size=int(n_draws))

    def logp(x):
        return np.sum(gammaln(caps + 1) - gammaln(x + 1) - gammaln(caps - x + 1), axis=-1)
    hits = int(np.count_nonzero(logp(draws) <= float(logp(t[0])) + _LOG_TOL))
    p_value = (1 + hits) / (1 + int(n_draws))
    return p_value, math.sqrt(p_value * (1 - p_value) / int(n_draws))


def _multinomial_logpmf_enum(n: int, p: np.ndarray) -> np.ndarray:
    """Log-probabilities of every composition of n into len(p) parts (the last part is implied)."""
    logp = np.log(p)
    s = np.zeros(1, dtype=np.int64)
    lp = np.zeros(1)
    for lpi in logp[:-1]:
        idx, x = _expand(s, np.zeros_like(s), n - s)
        s = s[idx] + x
        lp = lp[idx] + (x * lpi - gammaln(x + 1))
    last = n - s
    return gammaln(n + 1) + lp + (last * logp[-1] - gammaln(last + 1))


def _prepare_gof(observed, probs, func):
    obs = as_counts(observed, name="observed", func=func, ndim=1)
    p = as_probs(probs, size=obs.size, func=func)
    impossible = obs[p == 0]
    if np.any(impossible > 0):
        raise ValueError(
            f"{func}: {int(impossible.sum())} observation(s) fall in categories with probability 0 "
            "(structural zeros). Remove them before testing."
        )
    keep = p > 0
    return obs[keep], p[keep]


def exact_multinomial_full(observed, probs) -> tuple[float, float, int]:
    r"""Exact multinomial goodness-of-fit test; returns ``(p_value, p_min, n_tables)``.

    .. math:: P(x) = n! \prod_i \frac{p_i^{x_i}}{x_i!}, \qquad
              p = \sum_{x:\ P(x) \le P(O)(1+10^{-7})} P(x),

    summed over all :math:`\binom{n+k-1}{k-1}` compositions of n into k parts. Categories with
    probability 0 are dropped (they must be empty).
    """
    obs, p = _prepare_gof(observed, probs, "exact_multinomial")
    n = int(obs.sum())
    if p.size < 2:
        return 1.0, 1.0, 1
    lp = _multinomial_logpmf_enum(n, p)
    lp_obs = float(stats.multinomial.logpmf(obs, n, p))
    return _tail_sum(lp, lp_obs), _tail_sum(lp, float(lp.min())), int(lp.size)


def exact_multinomial(observed, probs) -> tuple[float, int]:
    r"""Exact multinomial test of observed counts against known probabilities.

    .. math:: P(x) = n! \prod_i \frac{p_i^{x_i}}{x_i!}, \qquad
              p = \sum_{x:\ P(x) \le P(O)(1+10^{-7})} P(x)

    over every composition x of n into k parts (stars and bars, :math:`\binom{n+k-1}{k-1}` of them).

    Parameters
    ----------
    observed : array-like of shape (k,)
        Counts per category.
    probs : array-like of shape (k,)
        Probabilities under H0 (sum to 1). Zero-probability categories must be empty.

    Returns
    -------
    p_value : float
    n_tables : int
        Number of outcomes enumerated.

    See Also
    --------
    exact_multinomial_full : also returns p_min.

    References
    ----------
    Read, T. R. C. & Cressie, N. A. C. (1988). Goodness-of-Fit Statistics for Discrete
    Multivariate Data, ch. 7 (exact multinomial test). Springer.
    """
    p_value, _, n_tables = exact_multinomial_full(observed, probs)
    return p_value, n_tables


def multinomial_pmin(n: int, probs) -> float:
    r"""p_min of the exact multinomial test: probability of the least likely outcome(s).

    Since :math:`P(x) \ge p_{(1)}^n\, n!/\prod x_i! \ge p_{(1)}^n`, the least likely outcome puts
    all n observations in the least likely category; ties (equal smallest p) are summed.
    """
    p = np.asarray(probs, dtype=float)
    p = p[p > 0]
    if p.size < 2 or n <= 0:
        return 1.0
    lp = n * np.log(p)
    return _tail_sum(lp, float(lp.min()))


def binomial_p(k: int, n: int, prob: float = 0.5, alternative: str = "two-sided") -> float:
    r"""Exact binomial test of :math:`H_0: \pi = p_0` for k successes in n trials.

    .. math::
        p_{two-sided} = \sum_{j:\ P(j) \le P(k)(1 + 10^{-7})} P(j), \qquad
        p_{greater} = P(X \ge k), \qquad p_{less} = P(X \le k), \qquad X \sim \mathrm{Bin}(n, p_0)

    (``scipy.stats.binomtest(k, n, prob, alternative).pvalue``).

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26, 404-413; Conover, W. J. (1999).
    Practical Nonparametric Statistics, 3rd ed., §3.1.
    """
    return float(stats.binomtest(int(k), int(n), float(prob), alternative=alternative).pvalue)


def binomial_pmin(n: int, prob: float) -> float:
    """p_min of the two-sided exact binomial test (``scipy.stats.binomtest``): min over k = 0 and k = n."""
    if n <= 0 or prob <= 0 or prob >= 1:
        return 1.0
    return float(min(stats.binomtest(0, n, prob).pvalue, stats.binomtest(n, n, prob).pvalue))


def monte_carlo_multinomial(observed, probs, *, n_draws: int = 100_000, rng=0) -> tuple[float, float]:
    r"""Monte Carlo version of :func:`exact_multinomial` for outcome spaces too big to enumerate.

    Draws B tables from Multinomial(n, p) with a seeded generator and returns

    .. math:: \hat p = \frac{1 + \#\{b: P(x_b) \le P(O)(1+10^{-7})\}}{1 + B}, \qquad
              se = \sqrt{\hat p (1-\hat p) / B}.

    Returns
    -------
    p_value, standard_error : float

    References
    ----------
    Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application, sec. 4.2
    (the +1 correction keeps the Monte Carlo p-value valid).
    """
    obs, p = _prepare_gof(observed, probs, "monte_carlo_multinomial")
    n = int(obs.sum())
    if p.size < 2:
        return 1.0, 0.0
    draws = as_rng(rng).multinomial(n, p, size=int(n_draws))
    lp = stats.multinomial.logpmf(draws, n, p)
    lp_obs = float(stats.multinomial.logpmf(obs, n, p))
    hits = int(np.count_nonzero(lp <= lp_obs + _LOG_TOL))
    p_value = (1 + hits) / (1 + int(n_draws))
    return p_value, math.sqrt(p_value * (1 - p_value) / int(n_draws))

