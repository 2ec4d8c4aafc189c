r"""The tests of every (cell, label) of the coverage scan, vectorised (STATISTICS.md §3.2-3.4).

Depletion (lower tail), for a cell of support s with obs rows of label L:

.. math::
    p_{overall} = F_H(obs;\ n, n_L, s), \qquad p_P = F_H(obs;\ s_P, n_{L,P}, s), \qquad
    p = \max(p_{overall}, \max_P p_P)

with :math:`F_H(x; M, K, N)` = ``scipy.stats.hypergeom.cdf(x, M, K, N)``. The smallest attainable
decision value is the same maximum at the smallest count every margin allows,
:math:`obs_{lo} = \max(0, s - (n - n_L), \max_P (s - (s_P - n_{L,P})))` (Tarone 1990).

Purity (upper tail, only for more than two labels): :math:`P(X \ge obs)` with the same
hypergeometric laws (``hypergeom.sf(obs - 1, ...)``), IUT over parents; for a pure cell
:math:`P(X = s) = \binom{n_L}{s}/\binom{n}{s}` (§3.3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .. import stats
from ..engine.context import AuditContext
from .cells import CellScan

__all__ = ["CellTest", "cell_tests", "iut_p", "iut_rows_needed", "SHOW_RATIO", "PATTERN_RATIO"]

SHOW_RATIO = 0.8
PATTERN_RATIO = 0.5


@dataclass(frozen=True)
class CellTest:
    """One one-sided test of a (cell, label); see the module docstring."""

    cell: object
    label: int
    tail: str
    obs: int
    p_value: float
    p_min: float
    testable: bool
    p_overall: float
    pmin_overall: float
    e_overall: float
    e_parents: tuple
    p_parents: tuple
    s_parents: tuple
    l_parents: tuple
    e_binding: float
    binding: str
    ratio: float
    lift: float
    pattern: bool
    uninformative: bool
    visible: bool
    kind: str
    upper_cell: float
    upper_label: float
    e_nb: float | None
    p_nb: float | None
    q_local: float | None


def _cdf(x, m, k, nn, upper: bool):
    x, m, k, nn = np.broadcast_arrays(x, m, k, nn)
    return sps.hypergeom.sf(x - 1, m, k, nn) if upper else sps.hypergeom.cdf(x, m, k, nn)


def iut_p(obs, s, n_l, n, parents=(), upper: bool = False) -> float:
    """Intersection-union p of one cell: max of the overall and every parent test."""
    ps = [_cdf(obs, n, n_l, s, upper)]
    ps += [_cdf(obs, sp, lp, s, upper) for sp, lp in parents]
    return float(np.max(ps))


def iut_rows_needed(t: CellTest, n: int, n_l: int, alpha: float) -> int | None:
    """Rows at which the same proportions (every count times r) would give IUT p <= alpha."""
    vec = [t.obs, t.cell.support, n_l, n] + [x for pair in zip(t.s_parents, t.l_parents) for x in pair]

    def p_of(v):
        v = [int(x) for x in v]
        parents = list(zip(v[4::2], v[5::2]))
        return iut_p(v[0], v[1], v[2], v[3], parents)

    return stats.rows_needed(np.array(vec), p_of, alpha=alpha, n0=n)


def _upper_bound(obs: np.ndarray, s: np.ndarray, alpha: float) -> np.ndarray:
    """One-sided exact (Clopper-Pearson) upper bound of obs/s; 1 - alpha^(1/s) when obs = 0."""
    out = np.ones(obs.shape, dtype=float)
    zero = obs == 0
    out[zero] = 1.0 - np.power(alpha, 1.0 / np.maximum(s[zero], 1))
    mid = (obs > 0) & (obs < s)
    out[mid] = sps.beta.ppf(1 - alpha, obs[mid] + 1, s[mid] - obs[mid])
    return out


def cell_tests(ctx: AuditContext, scan: CellScan, alpha: float) -> list[CellTest]:
    """Every distinct (cell, label) test of ``scan``, with its reporting class."""
    cells = scan.cells
    if not cells:
        return []
    n, nl = scan.n, scan.label_counts.astype(np.int64)
    K, C = len(nl), len(cells)
    s = np.array([c.support for c in cells], dtype=np.int64)
    cnt = np.stack([c.counts for c in cells]).astype(np.int64)
    pmax = max(c.k for c in cells) if any(c.k > 1 for c in cells) else 0
    sP = np.ones((C, max(pmax, 1)), dtype=np.int64)
    cP = np.zeros((C, max(pmax, 1), K), dtype=np.int64)
    has = np.zeros((C, max(pmax, 1)), dtype=bool)
    for i, c in enumerate(cells):
        for j, (sp, cp) in enumerate(c.parents):
            sP[i, j], cP[i, j], has[i, j] = sp, cp, True
    S = s[:, None] + np.zeros((1, K), dtype=np.int64)
    tails = ["less"] + (["greater"] if K > 2 else [])
    results = {}
    for tail in tails:
        up = tail == "greater"
        p_over = _cdf(cnt, n, nl[None, :], S, up)
        e_over = S * nl[None, :] / n
        if up:
            bound = np.minimum(S, nl[None, :])
        else:
            bound = np.maximum(0, S - (n - nl[None, :]))
        comp_p, comp_e, comp_bound = [p_over], [e_over], [bound]
        for j in range(pmax):
            hj = has[:, j][:, None]
            spj = np.where(hj, sP[:, j][:, None], 1)
            cpj = np.where(hj, cP[:, j, :], 0)
            sj = np.where(hj, S, 0)
            pj = np.where(hj, _cdf(np.where(hj, cnt, 0), spj, cpj, sj, up), 0.0)
            comp_p.append(pj)
            comp_e.append(np.where(hj, S * cpj / spj, np.inf))
            bj = np.minimum(S, cpj) if up else np.maximum(0, S - (spj - cpj))
            comp_bound.append(np.where(hj, bj, bound))
        stack_p = np.stack(comp_p)
        p = stack_p.max(axis=0)
        b = np.stack(comp_bound)
        extreme = b.min(axis=0) if up else b.max(axis=0)
        pmins = [_cdf(extreme, n, nl[None, :], S, up)]
        for j in range(pmax):
            hj = has[:, j][:, None]
            spj = np.where(hj, sP[:, j][:, None], 1)
            cpj = np.where(hj, cP[:, j, :], 0)
            pmins.append(np.where(hj, _cdf(np.where(hj, extreme, 0), spj, cpj, np.where(hj, S, 0), up), 0.0))
        pmin = np.stack(pmins).max(axis=0)
        binding = stack_p.argmax(axis=0)
        e_bind = np.take_along_axis(np.stack(comp_e), binding[None], axis=0)[0]
        results[tail] = dict(p=np.minimum(p, 1.0), pmin=np.minimum(pmin, 1.0), p_over=p_over,
                             pmin_over=_cdf(bound, n, nl[None, :], S, up), e_over=e_over,
                             comp_p=stack_p, comp_e=np.stack(comp_e), binding=binding, e_bind=e_bind)
    keep = {"less": np.ones((C, K), dtype=bool), "greater": np.ones((C, K), dtype=bool)}
    if K == 2:
        keep["less"] = _dedupe_binary(scan, results["less"], cnt)
    else:  # (C, L) lower tail is (not-C, L) upper tail: keep the rule when not-C is pure for L
        for i, j in scan.complement.items():
            for L in range(K):
                if cnt[j, L] == s[j]:
                    keep["less"][i, L] = False
                else:
                    keep["greater"][j, L] = False
    one_way = _one_way(ctx, cells)
    rows = []
    for tail in tails:
        r = results[tail]
        for i in range(C):
            for L in range(K):
                if not keep[tail][i, L]:
                    continue
                rows.append(_classify(cells[i], i, L, tail, r, cnt, s, nl, n, sP, cP, has, alpha, one_way, K))
    ps = np.array([t["p_value"] if t["testable"] else np.nan for t in rows])
    q = stats.adjust_pvalues(ps, "bh") if len(ps) else ps
    out = []
    for t, qi in zip(rows, q):
        qi = None if np.isnan(qi) else float(qi)
        if t["visible"] and not t["pattern"] and not (qi is not None and qi <= alpha):
            t = {**t, "visible": False, "kind": "cell_test"}  # small effect, not even locally significant
        out.append(CellTest(**t, q_local=qi))
    return out


def _ratio(obs, e):
    return float(obs / e) if e > 0 else 1.0


def _dedupe_binary(scan: CellScan, r: dict, cnt: np.ndarray) -> np.ndarray:
    """(C, L) and (not-C, L') are one test for binary labels: keep the smaller obs/E."""
    C = cnt.shape[0]
    keep = np.ones((C, 2), dtype=bool)
    for i, j in scan.complement.items():
        if j < i:
            continue
        for L in (0, 1):
            a = _ratio(cnt[i, L], r["e_bind"][i, L])
            b = _ratio(cnt[j, 1 - L], r["e_bind"][j, 1 - L])
            if b < a:
                keep[i, L] = False
            else:
                keep[j, 1 - L] = False
    return keep


def _one_way(ctx: AuditContext, cells) -> dict:
    label = ctx.roles.label
    out = {}
    for a in {a for c in cells for a, _ in c.items}:
        t = ctx.table.count(a, label)
        for i, lv in enumerate(t.levels[0]):
            out[(a, lv)] = np.rint(t.counts[i]).astype(np.int64)
    return out


def _classify(cell, i, L, tail, r, cnt, s, nl, n, sP, cP, has, alpha, one_way, K) -> dict:
    up = tail == "greater"
    obs, si = int(cnt[i, L]), int(s[i])
    k = cell.k
    e_over = float(r["e_over"][i, L])
    e_parents = tuple(float(r["comp_e"][1 + j][i, L]) for j in range(k) if k > 1)
    p_parents = tuple(float(r["comp_p"][1 + j][i, L]) for j in range(k) if k > 1)
    s_parents = tuple(int(sP[i, j]) for j in range(k) if k > 1)
    l_parents = tuple(int(cP[i, j, L]) for j in range(k) if k > 1)
    b = int(r["binding"][i, L])
    binding = "overall" if b == 0 else f"given {cell.parent_text(b - 1)}"
    e_bind = float(r["e_bind"][i, L])
    p, pmin = float(r["p"][i, L]), float(r["pmin"][i, L])
    testable = pmin <= alpha
    ratio = _ratio(obs, e_bind)
    base = nl[L] / n if b == 0 else (l_parents[b - 1] / s_parents[b - 1] if s_parents[b - 1] else 1.0)
    lift = (obs / si) / base if base > 0 and si else 1.0
    if up:
        uninformative = False
        pattern = obs == si and si >= 2 and si * (1 - nl[L] / n) >= 0.5 and base < 1
        visible = pattern
    else:
        uninformative = obs == 0 and (si <= 1 or e_over < 0.5)
        pattern = ratio <= PATTERN_RATIO and si >= 2 and e_over >= 0.5
        visible = (not uninformative) and ratio <= SHOW_RATIO and (pattern or (testable and p <= alpha))
    kind = "cell_test"
    if visible:
        kind = "rule" if (up or (K == 2 and obs == 0)) else "gap"
    e_nb = p_nb = None
    if k > 1 and not up and visible:
        counts = [one_way[it][L] for it in cell.items]
        e_nb = float(np.prod(counts, dtype=float) / float(nl[L]) ** (k - 1))
        if k == 2:
            p_nb = float(sps.hypergeom.cdf(obs, int(nl[L]), int(counts[0]), int(counts[1])))
    ub = _upper_bound(np.array([obs]), np.array([si]), alpha)[0] if visible else float("nan")
    ub_label = 1.0 - alpha ** (1.0 / nl[L]) if obs == 0 else float("nan")
    return dict(cell=cell, label=L, tail=tail, obs=obs, p_value=p, p_min=pmin, testable=bool(testable),
                p_overall=float(r["p_over"][i, L]), pmin_overall=float(r["pmin_over"][i, L]),
                e_overall=e_over, e_parents=e_parents, p_parents=p_parents, s_parents=s_parents,
                l_parents=l_parents, e_binding=e_bind, binding=binding, ratio=ratio, lift=float(lift),
                pattern=bool(pattern), uninformative=bool(uninformative), visible=bool(visible), kind=kind,
                upper_cell=float(ub), upper_label=float(ub_label), e_nb=e_nb, p_nb=p_nb)
