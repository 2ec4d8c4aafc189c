r"""The tests of every (cell, label) of the coverage scan, vectorised (STATISTICS.md §3.2-3.4).

Depletion (lower tail), for a cell of support s with obs rows of label L:

.. math::
    p_{overall} = F_H(obs;\ n, n_L, s), \qquad p_P = F_H(obs;\ s_P, n_{L,P}, s), \qquad
    p = \max(p_{overall}, \max_P p_P)

with :math:`F_H(x; M, K, N)` the hypergeometric cdf (:func:`biasaudit.stats.hypergeom_cdf`, equal
to ``scipy.stats.hypergeom.cdf(x, M, K, N)``), evaluated for all cells at once. The smallest
attainable decision value is the same maximum at the smallest count every margin allows,
:math:`obs_{lo} = \max(0, s - (n - n_L), \max_P (s - (s_P - n_{L,P})))` (Tarone 1990).

Purity (upper tail, only for more than two labels): :math:`P(X \ge obs)` with the same
hypergeometric laws, IUT over parents; for a pure cell :math:`P(X = s) = \binom{n_L}{s}/\binom{n}{s}`.

One hypothesis, one test (STATISTICS.md §1.3 v0.2): for a binary label a one-item cell's
depletion of L, its depletion of the other label, and the same for its complement are views of
one 2 x 2 table. One view is kept (the tail with the smaller p, then the member with the smaller
obs/E, whose wording matches a zero), keyed ``hypothesis_key("2x2", [attribute, label],
{attribute: value})`` (a two-level attribute by its first level in sorted order, as the group
attribution detector keys the same table), and carries Fisher's two-sided p of the table
(:func:`biasaudit.stats.hypergeom_two_sided`) for the family: choosing the depleted tail after
seeing the data costs what a two-sided test costs. Multi-item cells (intersection-union tests)
are one-sided hypotheses of their own, one per label.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import hypothesis_key
from .cells import CellScan

__all__ = ["CellTest", "cell_tests", "iut_p", "iut_rows_needed", "upper_bound", "key_2x2",
           "SHOW_RATIO", "PATTERN_RATIO"]

SHOW_RATIO = 0.8
PATTERN_RATIO = 0.5


@dataclass
class CellTest:
    """One one-sided test of a (cell, label); see the module docstring.

    ``candidate`` marks a test that is shown when it is significant within the scan (its local
    BH q, set later in ``q_local``) or shows the descriptive pattern.
    """

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
    binding_index: int
    ratio: float
    lift: float
    pattern: bool
    uninformative: bool
    candidate: bool
    kind: str
    hypothesis: str
    p_two_sided: float | None = None
    pmin_two_sided: float | None = None
    q_local: float | None = None
    visible: bool = False
    upper_cell: float = float("nan")
    upper_label: float = float("nan")

    @property
    def binding(self) -> str:
        """The binding model of the IUT: "overall" or "given <parent>"."""
        b = self.binding_index
        return "overall" if b == 0 else f"given {self.cell.parent_text(b - 1)}"

    @property
    def family_p(self) -> float:
        """The p-value this hypothesis enters its family with (two-sided for a binary 2 x 2 view)."""
        return self.p_value if self.p_two_sided is None else max(self.p_value, self.p_two_sided)


def _cdf(x, m, k, nn, upper: bool):
    """Lower tail P(X <= x) or, for ``upper``, P(X >= x), vectorised (:func:`biasaudit.stats.hypergeom_tail`)."""
    return stats.hypergeom_tail(x, m, k, nn, upper)


def iut_p(obs, s, n_l, n, parents=(), upper: bool = False) -> float:
    """Intersection-union p of one cell: max of the overall and every parent test (:func:`biasaudit.stats.iut_p`)."""
    return stats.iut_p(obs, s, n_l, n, parents, upper)


def iut_rows_needed(t: CellTest, n: int, n_l: int, alpha: float) -> int | None:
    """Rows at which the same proportions (every count times r) would give IUT p <= alpha."""
    vec = [t.obs, t.cell.support, n_l, n] + [x for pair in zip(t.s_parents, t.l_parents) for x in pair]

    def p_of(v):
        v = [int(x) for x in v]
        return iut_p(v[0], v[1], v[2], v[3], list(zip(v[4::2], v[5::2])))

    return stats.rows_needed(np.array(vec), p_of, alpha=alpha, n0=n)


def upper_bound(obs, s, alpha: float) -> np.ndarray:
    """One-sided exact (Clopper-Pearson) upper bound of obs/s (:func:`biasaudit.stats.clopper_pearson_upper`)."""
    return stats.clopper_pearson_upper(obs, s, alpha)


def key_2x2(scan: CellScan, attribute: str, value: str, label: str) -> str:
    """``hypothesis_key("2x2", ...)`` of a one-item cell against the rest; a two-level attribute
    (two levels with rows, ``(missing)`` counting as a level) by its first level in sorted order."""
    present = sorted(str(lv) for (a, lv), c in scan.item_counts.items() if a == attribute and c > 0)
    if len(present) == 2:
        value = present[0]
    return hypothesis_key("2x2", [attribute, label], {attribute: value})


def _key(scan: CellScan, cell, L: int, tail: str, label: str) -> str:
    name = scan.label_levels[L]
    if cell.k == 1 and len(scan.label_levels) == 2:
        return key_2x2(scan, cell.items[0][0], cell.items[0][1], label)
    kind = ("2x2" if cell.k == 1 else "iut") + (":purity" if tail == "greater" else ":depletion")
    return hypothesis_key(kind, [a for a, _ in cell.items] + [label], {**dict(cell.items), label: name}, tail)


def cell_tests(ctx: AuditContext, scan: CellScan, alpha: float) -> list[CellTest]:
    """Every distinct (cell, label) test of ``scan``, with its reporting class (``q_local`` unset)."""
    cells = scan.cells
    if not cells:
        return []
    n, nl = scan.n, scan.label_counts.astype(np.int64)
    K, C = len(nl), len(cells)
    s = np.array([c.support for c in cells], dtype=np.int64)
    cnt = np.stack([c.counts for c in cells]).astype(np.int64)
    pmax = max(1, max(c.k for c in cells) if any(c.k > 1 for c in cells) else 1)
    sP = np.ones((C, pmax), dtype=np.int64)
    cP = np.zeros((C, pmax, K), dtype=np.int64)
    has = np.zeros((C, pmax), dtype=bool)
    for i, c in enumerate(cells):
        for j, (sp, cp) in enumerate(c.parents):
            sP[i, j], cP[i, j], has[i, j] = sp, cp, True
    S = np.broadcast_to(s[:, None], (C, K))
    tails = ["less"] + (["greater"] if K > 2 else [])
    results = {tail: _tail_tests(tail == "greater", cnt, S, n, nl, sP, cP, has) for tail in tails}
    keep = _keep(scan, results, cnt, s, K)
    label = ctx.roles.label
    rows = []
    for tail in tails:
        r = results[tail]
        ii, LL = np.nonzero(keep[tail])
        if not ii.size:
            continue
        cls = _classify(tail == "greater", ii, LL, r, cnt, s, nl, n, sP, cP, has, alpha)
        two = None
        if K == 2 and tail == "less":
            one = np.array([cells[i].k == 1 for i in ii])
            if one.any():
                two = {}
                sel = np.flatnonzero(one)
                x, ss_, kk = cnt[ii[sel], LL[sel]], s[ii[sel]], nl[LL[sel]]
                p2 = stats.hypergeom_two_sided(x, n, kk, ss_)
                pm2 = stats.hypergeom_two_sided_pmin(n, kk, ss_)
                two = {int(r_): (float(a), float(b)) for r_, a, b in zip(sel, p2, pm2)}
        for r_, (i, L) in enumerate(zip(ii, LL)):
            cell = cells[i]
            k = cell.k
            d = {name: v[r_] for name, v in cls.items()}
            b = int(d["binding"])
            p2 = two.get(r_) if two else None
            rows.append(CellTest(
                cell=cell, label=int(L), tail=tail, obs=int(cnt[i, L]), p_value=float(d["p"]), p_min=float(d["pmin"]),
                testable=bool(d["testable"]), p_overall=float(d["p_over"]), pmin_overall=float(d["pmin_over"]),
                e_overall=float(d["e_over"]),
                e_parents=tuple(float(r["comp_e"][1 + j][i, L]) for j in range(k)) if k > 1 else (),
                p_parents=tuple(float(r["comp_p"][1 + j][i, L]) for j in range(k)) if k > 1 else (),
                s_parents=tuple(int(sP[i, j]) for j in range(k)) if k > 1 else (),
                l_parents=tuple(int(cP[i, j, L]) for j in range(k)) if k > 1 else (),
                e_binding=float(d["e_bind"]), binding_index=b,
                ratio=float(d["ratio"]), lift=float(d["lift"]), pattern=bool(d["pattern"]),
                uninformative=bool(d["uninformative"]), candidate=bool(d["candidate"]), kind=str(d["kind"]),
                hypothesis=_key(scan, cell, int(L), tail, label),
                p_two_sided=None if p2 is None else p2[0], pmin_two_sided=None if p2 is None else p2[1]))
    return rows


def _tail_tests(up: bool, cnt, S, n, nl, sP, cP, has) -> dict:
    """Overall and parent tests of one tail for every (cell, label), and their IUT maximum."""
    C, K = cnt.shape
    pmax = sP.shape[1]
    p_over = _cdf(cnt, n, nl[None, :], S, up)
    e_over = S * nl[None, :] / n
    bound = np.minimum(S, nl[None, :]) if up else np.maximum(0, S - (n - nl[None, :]))
    comp_p, comp_e, comp_bound = [p_over], [e_over], [bound]
    parent_args = []
    for j in range(pmax):
        hj = has[:, j][:, None]
        spj = np.where(hj, sP[:, j][:, None], 1)
        cpj = np.where(hj, cP[:, j, :], np.arange(K)[None, :] == 1)   # no parent: a trivial table
        sj = np.where(hj, S, 0)
        parent_args.append((hj, spj, cpj, sj))
        comp_p.append(np.where(hj, _cdf(np.where(hj, cnt, 0), spj, cpj, sj, up), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            comp_e.append(np.where(hj, S * cpj / spj, np.inf))
        bj = np.minimum(S, cpj) if up else np.maximum(0, S - (spj - cpj))
        comp_bound.append(np.where(hj, bj, bound))
    stack_p = np.stack(comp_p)
    b = np.stack(comp_bound)
    extreme = b.min(axis=0) if up else b.max(axis=0)
    pmins = [_cdf(extreme, n, nl[None, :], S, up)]
    for hj, spj, cpj, sj in parent_args:
        pmins.append(np.where(hj, _cdf(np.where(hj, extreme, 0), spj, cpj, sj, up), 0.0))
    binding = stack_p.argmax(axis=0)
    stack_e = np.stack(comp_e)
    return dict(p=np.minimum(stack_p.max(axis=0), 1.0), pmin=np.minimum(np.stack(pmins).max(axis=0), 1.0),
                p_over=p_over, pmin_over=_cdf(bound, n, nl[None, :], S, up), e_over=e_over, comp_p=stack_p,
                comp_e=stack_e, binding=binding, e_bind=np.take_along_axis(stack_e, binding[None], axis=0)[0])


def _ratio(obs, e):
    obs, e = np.asarray(obs, dtype=float), np.asarray(e, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e > 0, obs / np.where(e > 0, e, 1.0), 1.0)


def _keep(scan: CellScan, results: dict, cnt: np.ndarray, s: np.ndarray, K: int) -> dict:
    """Which (cell, label) tests are distinct hypotheses (module docstring)."""
    C = cnt.shape[0]
    keep = {"less": np.ones((C, K), dtype=bool), "greater": np.ones((C, K), dtype=bool)}
    if K == 2:
        r = results["less"]
        ones = [i for i, c in enumerate(scan.cells) if c.k == 1]
        keep["less"][ones, :] = False
        done = set()
        for i in ones:
            if i in done:
                continue
            j = scan.complement.get(i)
            group = [i] + ([j] if j is not None else [])
            done.update(group)
            # views: (i, L) == (j, 1 - L); the tail with the smaller p, then the smaller obs/E
            views = []
            for L in (0, 1):
                members = [(i, L)] + ([(j, 1 - L)] if j is not None else [])
                for (c, l_) in members:
                    views.append((float(r["p"][c, l_]), L, float(_ratio(cnt[c, l_], r["e_bind"][c, l_])),
                                  scan.cells[c].rank, c, l_))
            # ties broken by statistics only (name invariance): then the larger label count
            # (i, L) and (j, 1 - L) are one test: their p-values agree up to rounding (compared to 10 digits)
            best = min(views, key=lambda v: (float(f"{v[0]:.10g}"), v[2], -int(scan.label_counts[v[5]]), v[3], v[1]))
            keep["less"][best[4], best[5]] = True
    else:  # (C, L) lower tail is (not-C, L) upper tail: keep the rule when not-C is pure for L
        for i, j in scan.complement.items():
            for L in range(K):
                if cnt[j, L] == s[j]:
                    keep["less"][i, L] = False
                else:
                    keep["greater"][j, L] = False
    return keep


def _classify(up: bool, ii, LL, r, cnt, s, nl, n, sP, cP, has, alpha) -> dict:
    """Vectorised reporting class of the kept tests (rows ``ii``, labels ``LL``)."""
    obs = cnt[ii, LL].astype(float)
    si = s[ii].astype(float)
    e_over = r["e_over"][ii, LL]
    b = r["binding"][ii, LL]
    e_bind = r["e_bind"][ii, LL]
    p, pmin = r["p"][ii, LL], r["pmin"][ii, LL]
    testable = pmin <= alpha
    ratio = _ratio(obs, e_bind)
    pj = np.clip(b - 1, 0, sP.shape[1] - 1)
    s_par, l_par = sP[ii, pj].astype(float), cP[ii, pj, LL].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.where(b == 0, nl[LL] / n, np.where(s_par > 0, l_par / np.maximum(s_par, 1), 1.0))
        lift = np.where((base > 0) & (si > 0), (obs / np.maximum(si, 1)) / np.where(base > 0, base, 1), 1.0)
    if up:
        uninformative = np.zeros(obs.shape, dtype=bool)
        pattern = (obs == si) & (si >= 2) & (si * (1 - nl[LL] / n) >= 0.5) & (base < 1)
        candidate = pattern.copy()
    else:
        uninformative = (obs == 0) & ((si <= 1) | (e_over < 0.5))
        pattern = (ratio <= PATTERN_RATIO) & (si >= 2) & (e_over >= 0.5)
        candidate = ~uninformative & (ratio <= SHOW_RATIO) & (pattern | (testable & (p <= alpha)))
    K = len(nl)
    kind = np.where(candidate, np.where(up | ((K == 2) & (obs == 0)), "rule", "gap"), "cell_test")
    return dict(p=p, pmin=pmin, testable=testable, p_over=r["p_over"][ii, LL], pmin_over=r["pmin_over"][ii, LL],
                e_over=e_over, e_bind=e_bind, binding=b, ratio=ratio, lift=lift, pattern=pattern,
                uninformative=uninformative, candidate=candidate, kind=kind)
