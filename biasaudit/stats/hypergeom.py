r"""Exact hypergeometric tails, vectorised over many tables at once.

``scipy.stats.hypergeom`` evaluates one table at a time in C++ (Boost) and its cdf costs up to
0.1-1 s per call when the population is 1e5-1e7: the coverage scan needs tens of thousands.
Here every function takes numpy arrays (broadcast together) and works on all tables at once.

Notation: :math:`X \sim \mathrm{Hypergeom}(M, K, N)` counts the "good" items among ``N`` draws
without replacement from ``M`` items of which ``K`` are good (scipy's ``hypergeom(M, n=K, N)``):

.. math:: P(X = x) = \binom{K}{x}\binom{M-K}{N-x}\Big/\binom{M}{N},
          \qquad \max(0, N-M+K) \le x \le \min(N, K).

* **pmf** (Loader 2000, as R's ``dhyper``): with :math:`p = N/M`,
  :math:`P(X=x) = b(x; K, p)\,b(N-x; M-K, p)/b(N; M, p)` where each binomial term
  :math:`b(x; n, p)` is evaluated by the saddle-point form
  :math:`b = \exp(\delta(n) - \delta(x) - \delta(n-x) - D(x, np) - D(n-x, nq))\,/\sqrt{2\pi x (1 - x/n)}`
  with the Stirling remainder :math:`\delta` and the deviance :math:`D(x, \mu) = x\ln(x/\mu) + \mu - x`
  (its series near :math:`x = \mu`). Relative error about 1e-14 against exact rational
  arithmetic, also in extreme tails (in log space: no underflow below 1e-308); scipy's Boost pmf
  is off by up to 1e-10 at M = 1e6 and 1e-9 at M = 1e7 (``tests/test_hypergeom.py``).
* **lower tail** :math:`P(X \le x)` for :math:`x` at or below the mean: the pmf at :math:`x` times
  :math:`1 + \sum_{j \ge 1} \prod_{i<j} r(x - i)`, :math:`r(y) = P(X=y-1)/P(X=y) =
  \frac{y\,(M-K-N+y)}{(N+1-y)(K+1-y)}`; the terms fall off geometrically, and the sum stops when a
  term is below ``1e-18`` of the sum (summed in blocks of 32, 64, ... terms across all tables).
  Above the mean the complement of the other tail is used (R's ``phyper``): at most
  :math:`O(\sigma)` terms per table (about 9 standard deviations for a value near the mean).
  Relative error about 1e-13.
* **two-sided** (Fisher, probability ordering): :math:`\sum_{y: P(y) \le P(x)(1+10^{-7})} P(y)`, the
  cut on the far side of the mode found by bisection.
* **stratified lower tail** :math:`P(\sum_j X_j \le o)` of independent hypergeometrics
  (the exact conditional Mantel-Haenszel distribution, one-sided): each stratum's pmf on the window
  where its mass is not negligible (Bernstein's bound, valid without replacement by Hoeffding 1963,
  with the smallest binomial variance among the equivalent draws, leaves out less than 1e-16 per
  stratum), convolved by FFT for all problems at once. Absolute error
  below 1e-12. **Fallback** when a window would exceed ``STRATIFIED_MAX_TERMS`` terms (sd above
  about 3,000, i.e. strata of tens of millions of rows): the continuity-corrected normal
  approximation of the same sum (the asymptotic Mantel-Haenszel test), which is accurate to about
  1e-4 there because every stratum then has a variance in the millions.

References
----------
Loader, C. (2000). Fast and accurate computation of binomial probabilities.
Hoeffding, W. (1963). Probability inequalities for sums of bounded random variables. JASA 58, 13-30.
Fisher, R. A. (1935). The Design of Experiments. Mantel, N. & Haenszel, W. (1959). JNCI 22, 719-748.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["hypergeom_logpmf", "hypergeom_pmf", "hypergeom_logcdf", "hypergeom_cdf", "hypergeom_logsf", "hypergeom_logtails",
           "hypergeom_sf", "hypergeom_two_sided", "hypergeom_two_sided_pmin", "stratified_lower_tail",
           "depletion_min_support", "STRATIFIED_MAX_TERMS"]

#: Widest pmf window (terms) of one stratum convolved exactly; beyond it the normal approximation.
STRATIFIED_MAX_TERMS = 1 << 16
_REL_TOL = 1e-7           # probability-ordering tolerance (as R and scipy)
_STOP = 1e-18             # a tail sum stops when a term is below this share of the sum
_BLOCK_CELLS = 1 << 21    # work array budget of one summation block
_LN_2PI = math.log(2 * math.pi)
# Stirling remainder delta(n) = ln n! - (n + 1/2) ln n + n - ln sqrt(2 pi), n = 0..15 (40 digits, exact)
_SFERR = np.array([
    0.0, 8.1061466795327258219670264e-2, 4.1340695955409294093822081e-2, 2.7677925684998339148789293e-2,
    2.0790672103765093111522772e-2, 1.6644691189821192163194865e-2, 1.3876128823070747998745727e-2,
    1.1896709945891770095055724e-2, 1.0411265261972096497478567e-2, 9.2554621827127329177286366e-3,
    8.3305634333628712564693187e-3, 7.5736754879518407949720242e-3, 6.9428401072095298656641527e-3,
    6.4089941880042070684396311e-3, 5.9513701127588477356244160e-3, 5.5547335519628013710386900e-3])


# ----------------------------------------------------------------------------- pmf
def _stirlerr(n: np.ndarray) -> np.ndarray:
    """delta(n) for integer-valued n >= 0 (table up to 15, then the asymptotic series)."""
    n = np.asarray(n, dtype=float)
    m = np.maximum(n, 16.0)
    nn = m * m
    series = (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * nn)) / nn) / nn) / nn) / m
    return np.where(n <= 15, _SFERR[np.clip(n, 0, 15).astype(np.int64)], series)


def _bd0(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Deviance term x ln(x/mu) + mu - x, by its series where |x - mu| < 0.1 (x + mu) (Loader 2000)."""
    x, mu = np.asarray(x, dtype=float), np.asarray(mu, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.where(x > 0, x * np.log(x / mu) + mu - x, mu)
        close = np.abs(x - mu) < 0.1 * (x + mu)
        if not np.any(close):
            return direct
        v = np.where(close, (x - mu) / (x + mu), 0.0)
        s = (x - mu) * v
        ej = 2 * x * v
        v2 = v * v
        for j in range(1, 10):   # |v| < 0.1: the terms shrink by 100 each step; 9 steps reach 1e-18
            ej = ej * v2
            s = s + ej / (2 * j + 1)
    return np.where(close, s, direct)


def _log_binom_raw(x, n, p, q):
    """ln b(x; n, p) for 0 <= x <= n (Loader's saddle-point form; q = 1 - p given separately)."""
    x, n, p, q = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, n, p, q)))
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.clip(x, 1.0, np.maximum(n - 1, 1.0))     # the inner formula on safe values
        ni = np.maximum(n, 2.0)
        lc = (_stirlerr(ni) - _stirlerr(xi) - _stirlerr(ni - xi) - _bd0(xi, ni * p) - _bd0(ni - xi, ni * q))
        inner = lc - 0.5 * (_LN_2PI + np.log(xi) + np.log1p(-xi / ni))
        at0 = np.where(p < 0.1, -_bd0(n, n * q) - n * p, n * np.log(q))
        at0 = np.where(n == 0, 0.0, at0)
        atn = np.where(q < 0.1, -_bd0(n, n * p) - n * q, n * np.log(p))
    return np.where(x == 0, at0, np.where(x == n, atn, inner))


def _args(x, M, K, N):
    x, M, K, N = np.broadcast_arrays(*(np.asarray(a) for a in (x, M, K, N)))
    for name, a in (("x", x), ("M", M), ("K", K), ("N", N)):
        if a.dtype.kind not in "iuf" or (a.size and not np.all(a == np.round(a))):
            raise ValueError(f"The '{name}' parameter of the hypergeometric tails must be integer-valued. "
                             f"Got {a.dtype} values instead.")
    M, K, N = (a.astype(np.int64) for a in (M, K, N))
    if M.size and (np.any(K < 0) or np.any(N < 0) or np.any(K > M) or np.any(N > M)):
        raise ValueError("The hypergeometric parameters need 0 <= K <= M and 0 <= N <= M.")
    return x.astype(np.float64), M, K, N


def _logpmf_valid(x, M, K, N):
    """ln P(X = x) for x inside the support (float arrays of one shape)."""
    M, K, N = (np.asarray(a, dtype=float) for a in (M, K, N))
    out = np.zeros(np.broadcast(x, M, K, N).shape)
    live = M > 0
    if live.any():
        x, M, K, N = (np.broadcast_to(a, out.shape)[live] for a in (x, M, K, N))
        p = N / M
        q = (M - N) / M
        m = x.size   # the three binomial terms in one call
        b = _log_binom_raw(np.concatenate([x, N - x, N]), np.concatenate([K, M - K, M]),
                           np.tile(p, 3), np.tile(q, 3))
        out[live] = b[:m] + b[m:2 * m] - b[2 * m:]
    return out


def hypergeom_logpmf(x, M, K, N) -> np.ndarray:
    """ln P(X = x), -inf outside the support (module docstring)."""
    x, M, K, N = _args(x, M, K, N)
    lo, hi = np.maximum(0, N - (M - K)), np.minimum(N, K)
    out = np.full(x.shape, -np.inf)
    ok = (x >= lo) & (x <= hi)
    if ok.any():
        out[ok] = _logpmf_valid(x[ok], M[ok], K[ok], N[ok])
    return out


def hypergeom_pmf(x, M, K, N) -> np.ndarray:
    """P(X = x), vectorised (equals ``scipy.stats.hypergeom.pmf(x, M, K, N)``)."""
    return np.exp(hypergeom_logpmf(x, M, K, N))


# ----------------------------------------------------------------------------- tails
def _log_lower(x, M, K, N):
    """ln P(X <= x) for x in the support at or below the mean (float arrays, one shape)."""
    x0 = np.asarray(x, dtype=float)
    y = x0.copy()
    Mf, Kf, Nf = (np.asarray(a, dtype=float) for a in (M, K, N))
    lo = np.maximum(0.0, Nf - (Mf - Kf))
    bad = Mf - Kf
    total = np.ones(y.shape)
    term = np.ones(y.shape)
    active = np.flatnonzero(y > lo)
    block = 32
    while active.size:
        step = max(1, min(block, _BLOCK_CELLS // active.size))
        ya = y[active, None] - np.arange(step)[None, :]
        ka, ba, na = Kf[active, None], bad[active, None], Nf[active, None]
        ratio = ya * (ba - na + ya) / ((na + 1 - ya) * (ka + 1 - ya))   # P(y-1)/P(y)
        ratio = np.where(ya > lo[active, None], ratio, 0.0)
        cp = term[active, None] * np.cumprod(ratio, axis=1)
        total[active] += cp.sum(axis=1)
        term[active] = cp[:, -1]
        y[active] -= step
        keep = (term[active] >= _STOP * total[active]) & (y[active] > lo[active])
        active = active[keep]
        block = min(block * 2, 4096)
    return _logpmf_valid(x0, Mf, Kf, Nf) + np.log(total)


def _log1mexp(a: np.ndarray) -> np.ndarray:
    """ln(1 - exp(a)) for a <= 0, accurately on both sides of -ln 2."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(a > -math.log(2), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


def _log_tails(x, M, K, N) -> tuple[np.ndarray, np.ndarray]:
    """(ln P(X <= x), ln P(X > x)) of every entry."""
    x, M, K, N = _args(x, M, K, N)
    x = np.floor(x)
    lo, hi = np.maximum(0, N - (M - K)), np.minimum(N, K)
    logcdf = np.where(x >= hi, 0.0, -np.inf)
    logsf = np.where(x >= hi, -np.inf, 0.0)
    mid = (x >= lo) & (x < hi)
    if mid.any():
        xm = x[mid].astype(np.int64)
        Mm, Km, Nm = M[mid], K[mid], N[mid]
        below = xm * Mm <= Nm * Km          # at or below the mean: sum this tail
        lc, ls = np.empty(xm.shape), np.empty(xm.shape)
        if below.any():
            v = _log_lower(xm[below], Mm[below], Km[below], Nm[below])
            lc[below], ls[below] = v, _log1mexp(v)
        up = ~below
        if up.any():   # P(X >= x + 1) = P(N - X <= N - x - 1), N - X ~ Hypergeom(M, M - K, N)
            v = _log_lower(Nm[up] - xm[up] - 1, Mm[up], Mm[up] - Km[up], Nm[up])
            ls[up], lc[up] = v, _log1mexp(v)
        logcdf[mid], logsf[mid] = lc, ls
    return logcdf, logsf


def hypergeom_logtails(x, M, K, N) -> tuple[np.ndarray, np.ndarray]:
    """(ln P(X <= x), ln P(X > x)) from one summation (the shorter tail; the other by complement)."""
    return _log_tails(x, M, K, N)


def hypergeom_logcdf(x, M, K, N) -> np.ndarray:
    """ln P(X <= x), vectorised; finite far below 1e-308 (module docstring)."""
    return _log_tails(x, M, K, N)[0]


def hypergeom_cdf(x, M, K, N) -> np.ndarray:
    """P(X <= x), vectorised (equals ``scipy.stats.hypergeom.cdf(x, M, K, N)`` to ~1e-13 relative)."""
    return np.exp(_log_tails(x, M, K, N)[0])


def hypergeom_logsf(x, M, K, N) -> np.ndarray:
    """ln P(X > x), vectorised."""
    return _log_tails(x, M, K, N)[1]


def hypergeom_sf(x, M, K, N) -> np.ndarray:
    """P(X > x), vectorised (equals ``scipy.stats.hypergeom.sf(x, M, K, N)``)."""
    return np.exp(_log_tails(x, M, K, N)[1])


# ----------------------------------------------------------------------------- two-sided
def _bisect(pred, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per entry, the boundary of a monotone predicate: pred(left) != pred(right) throughout."""
    left, right = left.copy(), right.copy()
    true_left = pred(left, np.arange(left.size))
    while True:
        gap = np.flatnonzero(right - left > 1)
        if not gap.size:
            return left, right, true_left
        mid = (left[gap] + right[gap]) // 2
        ok = pred(mid, gap)
        same = ok == true_left[gap]
        left[gap[same]] = mid[same]
        right[gap[~same]] = mid[~same]


def hypergeom_two_sided(x, M, K, N) -> np.ndarray:
    r"""Two-sided exact p of X = x by probability ordering (Fisher's exact test of the 2 x 2 table).

    .. math:: p = \sum_{y:\ P(y) \le P(x)(1 + 10^{-7})} P(y) = P(X \le a) + P(X \ge b)

    with ``a`` the last value at or before the mode and ``b`` the first after it whose
    probability is within the cut (found by bisection on the two monotone sides of the pmf).
    Equals ``scipy.stats.fisher_exact([[x, K - x], [N - x, M - K - N + x]]).pvalue``.
    """
    x, M, K, N = _args(x, M, K, N)
    x = x.astype(np.int64)
    lo, hi = np.maximum(0, N - (M - K)), np.minimum(N, K)
    out = np.ones(x.shape)
    live = (hi > lo) & (x >= lo) & (x <= hi)
    if not live.any():
        return np.where((x < lo) | (x > hi), 0.0, out)
    xs, Ms, Ks, Ns, los, his = (a[live] for a in (x, M, K, N, lo, hi))
    thr = _logpmf_valid(xs.astype(float), Ms, Ks, Ns) + math.log1p(_REL_TOL)
    mode = np.clip(((Ns + 1) * (Ks + 1)) // (Ms + 2), los, his)

    def within(y, idx):
        inside = (y >= los[idx]) & (y <= his[idx])
        lp = np.full(y.shape, -np.inf)
        if inside.any():
            j = idx[inside]
            lp[inside] = _logpmf_valid(y[inside].astype(float), Ms[j], Ks[j], Ns[j])
        return lp <= thr[idx]

    # left side [lo - 1, mode]: true then false; right side [mode, hi + 1]: false then true
    a, _, _ = _bisect(within, los - 1, mode + 1)
    right_start = np.where(within(mode, np.arange(mode.size)), mode + 1, mode)
    _, b, _ = _bisect(lambda y, idx: within(y, idx) & (y > mode[idx]), right_start - 1, his + 1)
    lc, _ = _log_tails(a, Ms, Ks, Ns)
    _, ls = _log_tails(b - 1, Ms, Ks, Ns)
    out[live] = np.minimum(1.0, np.exp(lc) + np.exp(ls))
    out[~live & ((x < lo) | (x > hi))] = 0.0
    return out


def hypergeom_two_sided_pmin(M, K, N) -> np.ndarray:
    """Smallest two-sided p attainable with these margins: at one of the two extreme tables (Tarone 1990)."""
    _, M, K, N = _args(0, M, K, N)
    lo, hi = np.maximum(0, N - (M - K)), np.minimum(N, K)
    return np.minimum(hypergeom_two_sided(lo, M, K, N), hypergeom_two_sided(hi, M, K, N))


# ----------------------------------------------------------------------------- sums over strata
_LN_DROP = math.log(2 / 1e-16)


def stratified_lower_tail(obs, N, K, s, *, max_terms: int = STRATIFIED_MAX_TERMS) -> tuple[np.ndarray, np.ndarray]:
    r"""Lower tail :math:`P(\sum_j X_j \le o)` of independent :math:`X_j \sim \mathrm{Hypergeom}(N_j, K_j, s_j)`.

    The exact conditional distribution of the Mantel-Haenszel statistic (the label count of a
    cell summed over strata, all margins fixed), one-sided. See the module docstring for the
    windows, the FFT convolution and the normal fallback.

    Parameters
    ----------
    obs : array of shape (B,)
        Observed sums.
    N, K, s : arrays of shape (B, m)
        Per problem and stratum: rows, rows with the label, rows in the cell. Pad unused strata
        with zeros.
    max_terms : int
        Widest window convolved exactly (``STRATIFIED_MAX_TERMS``).

    Returns
    -------
    p : array of shape (B,)
    exact : bool array of shape (B,)
        False where the normal approximation was used.
    """
    obs = np.asarray(obs, dtype=np.int64).reshape(-1)
    N, K, s = (np.atleast_2d(np.asarray(a, dtype=np.int64)) for a in (N, K, s))
    B, m = N.shape
    if np.any(K > N) or np.any(s > N) or np.any(K < 0) or np.any(s < 0):
        raise ValueError("stratified_lower_tail needs 0 <= K <= N and 0 <= s <= N in every stratum.")
    lo, hi = np.maximum(0, s - (N - K)), np.minimum(s, K)
    Nf = np.maximum(N, 1).astype(float)
    pk, ps = K / Nf, s / Nf
    mu = s * pk
    var_b = s * pk * (1 - pk)
    # Bernstein's variance proxy: X, s - X, K - X and their swaps are hypergeometric with
    # min(s, N - s) or min(K, N - K) draws; each binomial variance bounds the tails (Hoeffding 1963)
    proxy = np.minimum(np.minimum(s, N - s) * pk * (1 - pk), np.minimum(K, N - K) * ps * (1 - ps))
    t = _LN_DROP / 3 + np.sqrt(_LN_DROP ** 2 / 9 + 2 * proxy * _LN_DROP)
    a = np.maximum(lo, np.floor(mu - t).astype(np.int64))
    b = np.minimum(hi, np.ceil(mu + t).astype(np.int64))
    A = a.sum(axis=1)
    b = np.minimum(b, obs[:, None] - (A[:, None] - a))
    p = np.ones(B)
    exact = np.ones(B, dtype=bool)
    empty = np.any(b < a, axis=1)
    p[empty] = 0.0
    width = b - a + 1
    normal = ~empty & (width.max(axis=1) > max_terms)
    if normal.any():
        from scipy.special import ndtr
        var_h = var_b * np.where(N > 1, (N - s) / np.maximum(N - 1, 1), 0.0)
        sd = np.sqrt(var_h[normal].sum(axis=1))
        z = (obs[normal] + 0.5 - mu[normal].sum(axis=1)) / np.where(sd > 0, sd, 1.0)
        p[normal] = np.where(sd > 0, ndtr(z), (obs[normal] >= mu[normal].sum(axis=1)).astype(float))
        exact[normal] = False
    rows = np.flatnonzero(~empty & ~normal)
    if rows.size:
        start = np.exp(_logpmf_valid(a[rows].astype(float), N[rows], K[rows], s[rows]))
        first = np.zeros((B, m))
        first[rows] = start
        length = width[rows].sum(axis=1) - m + 1
        nfft = 1 << np.ceil(np.log2(np.maximum(length, 1))).astype(np.int64)
        for size in np.unique(nfft):
            group = rows[nfft == size]
            chunk = max(1, _BLOCK_CELLS // (m * int(size)))
            for start in range(0, group.size, chunk):
                sel = group[start:start + chunk]
                p[sel] = _convolved_tail(obs[sel] - A[sel], a[sel], width[sel], N[sel], K[sel], s[sel], int(size),
                                         first[sel])
    return np.clip(p, 0.0, 1.0), exact


def _convolved_tail(k, a, width, N, K, s, nfft: int, first) -> np.ndarray:
    """P(sum of the strata <= k + sum of window starts) for a batch with one FFT size; ``first``
    holds each window's first probability."""
    r, m = a.shape
    W = int(width.max())
    af, Nf, Kf, sf = (v.reshape(-1, 1).astype(float) for v in (a, N, K, s))
    start = first.reshape(-1)
    y = af + np.arange(W - 1)[None, :]          # ratio P(y+1)/P(y) = (K-y)(s-y) / ((y+1)(N-K-s+y+1))
    inside = np.arange(1, W)[None, :] < width.reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(inside, (Kf - y) * (sf - y) / ((y + 1) * (Nf - Kf - sf + y + 1)), 0.0)
    arr = np.zeros((r * m, nfft))
    arr[:, 0] = start
    if W > 1:
        arr[:, 1:W] = start[:, None] * np.cumprod(ratio, axis=1)
    spec = np.fft.rfft(arr.reshape(r, m, nfft), axis=2)
    conv = np.fft.irfft(np.prod(spec, axis=1), n=nfft, axis=1)
    cum = np.cumsum(conv, axis=1)
    return cum[np.arange(r), np.clip(k, 0, nfft - 1)]


# ----------------------------------------------------------------------------- planning
def depletion_min_support(n: int, label_counts, alpha: float) -> int:
    r"""Smallest cell support s at which a depletion of some label could reach ``alpha``.

    .. math:: s_{floor} = \min\{s : \min_L P(X_L \le \max(0, s - (n - n_L))) \le \alpha\},
              \quad X_L \sim \mathrm{Hypergeom}(n, n_L, s)

    (Tarone's p_min of the one-sided depletion test; at the bound the cdf is the pmf). Searched
    in growing blocks of sizes; ``n`` when no support reaches alpha.
    """
    n = int(n)
    labels = np.asarray(label_counts, dtype=np.int64).reshape(-1)
    target = math.log(alpha)
    start, width = 1, 64
    while start <= n:
        sizes = np.arange(start, min(n, start + width - 1) + 1)
        S = np.broadcast_to(sizes[None, :], (labels.size, sizes.size))
        L = np.broadcast_to(labels[:, None], S.shape)
        low = np.maximum(0, S - (n - L))
        ok = np.flatnonzero((hypergeom_logpmf(low, n, L, S) <= target).any(axis=0))
        if ok.size:
            return int(sizes[ok[0]])
        start += width
        width *= 4
    return n
