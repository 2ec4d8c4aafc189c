"""Fragility of a 2 x 2 result: how many individuals it rests on (STATISTICS.md §4.4).

Rows of the table are the two groups, columns the outcome. "Significant" means ``p <= alpha``,
where ``alpha`` is the threshold the finding faces (its family's adjusted threshold, see
:func:`~biasaudit.stats.multitest.rejection_thresholds`) and p comes from the finding's own test
(``test=``: any function of the 2 x 2 table); by default Fisher's exact test
(``scipy.stats.fisher_exact``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import stats

from ._validation import as_counts

__all__ = [
    "independence_p_2x2",
    "fragility_flip",
    "fragility_delete",
    "reverse_fragility",
    "addition_fragility_gap",
    "EXACT_SEARCH_MAX_N",
]

#: Tables with at most this many rows are searched exhaustively; larger ones greedily.
EXACT_SEARCH_MAX_N = 500
_MAX_EVALUATIONS = 2_000
_ALTERNATIVES = ("two-sided", "less", "greater")


@lru_cache(maxsize=65536)
def _fisher_p(a: int, b: int, c: int, d: int, alternative: str) -> float:
    return float(stats.fisher_exact([[a, b], [c, d]], alternative=alternative).pvalue)


def fisher_exact_p(table2x2, alternative: str = "two-sided") -> float:
    r"""Fisher's exact test of a 2 x 2 table (``scipy.stats.fisher_exact``), cached by its counts.

    The p-value sums the hypergeometric probabilities of the tables with the observed margins that
    are at most as likely as the observed one (two-sided), or one tail.

    References
    ----------
    Fisher, R. A. (1935). The Design of Experiments. Oliver & Boyd.
    """
    t = np.asarray(table2x2)
    if t.shape != (2, 2) or alternative not in _ALTERNATIVES:
        raise ValueError("fisher_exact_p takes a 2 x 2 table and alternative 'two-sided', 'less' or 'greater'.")
    a, b, c, d = (int(round(float(x))) for x in t.ravel())
    return _fisher_p(a, b, c, d, alternative)


def independence_p_2x2(table2x2) -> float:
    r"""The two-sided p-value :func:`~biasaudit.stats.independence_test` gives a 2 x 2 table, fast.

    Pearson's :math:`X^2 = n(ad-bc)^2 / (r_1 r_2 c_1 c_2)` on 1 df (survival function) when Cochran's
    rule holds (every expected count :math:`r_i c_j / n \ge 5` for a 2 x 2), otherwise Fisher's exact
    test (``scipy.stats.fisher_exact``); a table with an empty row or column gives 1.  The same test
    choice as the scan's with ``exact_2x2="fisher"``, without its bookkeeping, for the many tables a
    fragility search or a rows-needed search evaluates.

    References
    ----------
    Cochran (1954) Biometrics 10:417; Fisher (1935) The Design of Experiments.
    """
    t = np.asarray(table2x2, dtype=float)
    r, c = t.sum(axis=1), t.sum(axis=0)
    n = t.sum()
    if n <= 0 or (r <= 0).any() or (c <= 0).any():
        return 1.0
    e = np.outer(r, c) / n
    if np.all(e >= 1) and np.mean(e < 5) <= 0.2:
        x2 = n * (t[0, 0] * t[1, 1] - t[0, 1] * t[1, 0]) ** 2 / (r[0] * r[1] * c[0] * c[1])
        return float(stats.chi2.sf(x2, 1))
    ti = np.round(t).astype(int)
    return float(min(stats.fisher_exact(ti).pvalue, 1.0))


def _table(table2x2, func: str) -> tuple[int, int, int, int]:
    t = as_counts(table2x2, name="table2x2", func=func, ndim=2)
    if t.shape != (2, 2):
        raise ValueError(f"The 'table2x2' parameter of {func} must have shape (2, 2). Got {t.shape} instead.")
    return tuple(int(v) for v in t.ravel())


def _check_alt(alternative: str, func: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"The 'alternative' parameter of {func} must be one of {_ALTERNATIVES}. Got {alternative!r} instead."
        )


def _flip_moves(t):
    a, b, c, d = t
    # flip one label in group 0 or group 1, in either direction (row totals fixed)
    return [m for m in ((a + 1, b - 1, c, d), (a - 1, b + 1, c, d), (a, b, c + 1, d - 1), (a, b, c - 1, d + 1))
            if min(m) >= 0]


def _delete_moves(t):
    return [tuple(v - (i == k) for i, v in enumerate(t)) for k in range(4) if t[k] > 0]


def _p_function(alternative: str, test: Callable | None):
    """p of a table given as (a, b, c, d): Fisher's (cached) or ``test`` (memoised per search)."""
    if test is None:
        return lambda t: _fisher_p(*t, alternative)
    memo: dict = {}

    def p_of(t):
        if t not in memo:
            r = test(np.array(t, dtype=int).reshape(2, 2))
            memo[t] = float(getattr(r, "p_value", r))
        return memo[t]
    return p_of


def _search(start, moves, target, p_of) -> int | None:
    """Fewest moves from ``start`` to a table whose significance equals ``target``.

    Breadth-first (exact) for n <= 500 within an evaluation budget, otherwise greedy steps that
    move log p furthest toward the other side of alpha.
    """
    if target(p_of(start)):
        return 0
    n = sum(start)
    if n <= EXACT_SEARCH_MAX_N:
        frontier, seen, depth, evaluations = {start}, {start}, 0, 0
        while frontier and evaluations < _MAX_EVALUATIONS:
            depth += 1
            nxt = set()
            for t in frontier:
                for m in moves(t):
                    if m in seen:
                        continue
                    seen.add(m)
                    evaluations += 1
                    if target(p_of(m)):
                        return depth
                    nxt.add(m)
            frontier = nxt
        if not frontier:
            return None
    if moves is _flip_moves:
        return _line_search_flips(start, target, p_of)
    # greedy: from start, always take the move whose log p goes furthest toward the target side
    toward_large = target(1.0)
    t, steps = start, 0
    while steps <= n:
        options = moves(t)
        if not options:
            return None
        scored = [(math.log(max(p_of(m), 1e-300)), m) for m in options]
        scored.sort(key=lambda s: s[0], reverse=toward_large)
        t = scored[0][1]
        steps += 1
        if target(p_of(t)):
            return steps
    return None


def _line_search_flips(start, target, p_of) -> int | None:
    """Large tables: fewest flips along each of the four single-group directions, by bisection.

    Along one direction (say ``a -> a+k, b -> b-k``) the rate difference moves linearly in k, so
    the p-value is monotone up to the point where the difference changes sign (and beyond it for
    moves that strengthen the association). Each direction therefore needs O(log n) tests instead
    of one test per flip; the smallest k over the four directions is returned (an upper bound on
    the two-group optimum, and what the one-flip-at-a-time greedy search finds in practice).
    """
    a, b, c, d = start
    n0, n1 = a + b, c + d
    diff0 = a / n0 - c / n1 if n0 and n1 else 0.0
    best = None
    for sign, group in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
        limit = (b if sign > 0 else a) if group == 0 else (d if sign > 0 else c)
        if limit <= 0:
            continue

        def table(k, sign=sign, group=group):
            return (a + sign * k, b - sign * k, c, d) if group == 0 else (a, b, c + sign * k, d - sign * k)

        # the monotone stretch ends where the rate difference changes sign (if this direction shrinks it)
        step = (sign / n0 if group == 0 else -sign / n1) if n0 and n1 else 0.0
        if step and diff0 and (step > 0) != (diff0 > 0):
            limit = min(limit, int(math.ceil(abs(diff0 / step))))
        if not target(p_of(table(limit))):
            continue
        lo, hi = 0, limit  # target false at lo, true at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if target(p_of(table(mid))):
                hi = mid
            else:
                lo = mid
        best = hi if best is None else min(best, hi)
    return best


def fragility_flip(table2x2, alpha: float = 0.05, alternative: str = "two-sided", *,
                   test: Callable | None = None) -> int | None:
    r"""Flip fragility index: fewest label flips (group sizes fixed) that change significance.

    Generalises Walsh et al. (2014) to both groups and both directions: search over
    :math:`(\Delta_0, \Delta_1)`, moving :math:`a \to a+\Delta_0,\ b \to b-\Delta_0` and
    :math:`c \to c+\Delta_1,\ d \to d-\Delta_1`, for the smallest
    :math:`|\Delta_0| + |\Delta_1|` at which ``p <= alpha`` changes. Exact breadth-first search
    when n <= 500, greedy steps otherwise. A non-significant table gives the *reverse* index.

    Parameters
    ----------
    table2x2 : array-like of shape (2, 2)
    alpha : float
        The threshold the finding faces (its adjusted threshold within its family).
    alternative : {"two-sided", "less", "greater"}
        Of Fisher's test (ignored when ``test`` is given).
    test : callable, optional
        The finding's own test: maps a 2 x 2 integer array to a p-value (or a result with
        ``p_value``). Default: Fisher's exact test.

    Returns
    -------
    int or None
        None when no sequence of flips changes significance.

    References
    ----------
    Walsh, M. et al. (2014). The statistical significance of randomized controlled trial results
    is frequently fragile. J Clin Epidemiol 67, 622-628.
    """
    _check_alt(alternative, "fragility_flip")
    t = _table(table2x2, "fragility_flip")
    p_of = _p_function(alternative, test)
    significant = p_of(t) <= alpha
    return _search(t, _flip_moves, lambda p: (p <= alpha) != significant, p_of)


def fragility_delete(table2x2, alpha: float = 0.05, alternative: str = "two-sided", *,
                     test: Callable | None = None) -> int | None:
    """Deletion fragility index: fewest rows removed (from any cell) that change significance.

    Answers "is the result driven by a few individuals?". Same search (and ``test``) as
    :func:`fragility_flip` with single-row deletions as moves.

    References
    ----------
    Lin, L. (2021). Factors that impact fragility index and their visualizations.
    J Eval Clin Pract 27, 356-364.
    """
    _check_alt(alternative, "fragility_delete")
    t = _table(table2x2, "fragility_delete")
    p_of = _p_function(alternative, test)
    significant = p_of(t) <= alpha
    return _search(t, _delete_moves, lambda p: (p <= alpha) != significant, p_of)


def reverse_fragility(table2x2, alpha: float = 0.05, *, kind: str = "flip",
                      alternative: str = "two-sided", test: Callable | None = None) -> int | None:
    """Changes needed for a non-significant table to *become* significant (0 if it already is).

    Parameters
    ----------
    kind : {"flip", "delete"}
        Relabel rows (group sizes fixed) or delete rows.

    References
    ----------
    Khan, M. S. et al. (2020). Application of the reverse fragility index to statistically
    nonsignificant randomized clinical trial results. JAMA Netw Open 3, e2012469.
    """
    _check_alt(alternative, "reverse_fragility")
    if kind not in ("flip", "delete"):
        raise ValueError(f"The 'kind' parameter of reverse_fragility must be 'flip' or 'delete'. Got {kind!r} instead.")
    t = _table(table2x2, "reverse_fragility")
    moves = _flip_moves if kind == "flip" else _delete_moves
    return _search(t, moves, lambda p: p <= alpha, _p_function(alternative, test))


def addition_fragility_gap(obs: int, s: int, n_label: int, n: int, alpha: float = 0.05,
                           parents=()) -> int:
    r"""Counter-examples to add before a depletion gap stops being significant.

    Adds k rows to the cell *with* label L and recomputes the one-sided hypergeometric p
    (:func:`~biasaudit.stats.depletion.depletion_test`); with ``parents`` the decision p is the
    intersection-union maximum over the overall test and every parent test:

    .. math:: p(k) = \max\bigl(F_{H}(obs+k;\ n+k,\ n_L+k,\ s+k),\ \max_P F_{H}(obs+k;\ s_P+k,\ n_{L,P}+k,\ s+k)\bigr)

    Returns the smallest k with :math:`p(k) > \alpha` (0 if the gap is not significant).

    Parameters
    ----------
    obs, s, n_label, n : int
        Cell counts as in :func:`depletion_test`.
    alpha : float
    parents : sequence of (s_P, n_label_P)
        Support of each parent cell and its L count (for the IUT version).

    References
    ----------
    Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling.
    Technometrics 24, 295-300 (intersection-union tests).
    """
    def p_at(k: int) -> float:
        ps = [stats.hypergeom.cdf(obs + k, n + k, n_label + k, s + k)]
        ps += [stats.hypergeom.cdf(obs + k, sp + k, nlp + k, s + k) for sp, nlp in parents]
        return float(max(ps))

    if p_at(0) > alpha:
        return 0
    hi = 1
    while p_at(hi) <= alpha:
        hi *= 2
    lo = hi // 2  # p_at(lo) <= alpha < p_at(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if p_at(mid) > alpha:
            hi = mid
        else:
            lo = mid
    return hi
