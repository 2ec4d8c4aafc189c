r"""Folding: point each consequence to the finding that explains it (``explained_by``).

Two rules, applied to the shown cell findings of the overgeneralization scan:

1. **Subset** (STATISTICS.md §3.2): (C, L) folds into (C', L) when rows(C) is a proper subset of
   rows(C') and either C' is significant and the depletion of L in C *within* C' is not,

   .. math:: p_{within} = F_H(obs_C;\ s_{C'}, n_{L,C'}, s_C) > \alpha,

   or C' is an empty (pure) cell for L whose items are implied by C's items
   (``color=brown-white`` -> ``color_count=2``; the zero of C then follows from the zero of C').
   Among several such C', the most general (largest support) wins. The second form also applies
   to patterns that are not significant, since the consequence is logical, not statistical.
0. With more than two labels, a pure rule C -> L' explains the gaps (C, L) of the same cell.
2. **Stratified** (an extension, for overlapping or disjoint cells): a significant (C, L) is
   explained by up to three stronger significant findings F_1..F_m (any label) when L is no
   longer significantly depleted in C after stratifying by membership in their cells; the exact
   conditional test is the lower tail of a sum of independent hypergeometrics,

   .. math:: p = P\Bigl(\sum_j X_j \le obs\Bigr),\quad X_j \sim \mathrm{Hypergeom}(N_j, K_j, s_j),

   over strata j (Mantel-Haenszel's conditional distribution, one-sided). This is how a
   spill-over such as "red animals are less often CAT" folds into "multicoloured animals are
   never DOG" and "no small white DOG": among the rest, red is not depleted.

"Significant" is the scan's own BH q <= alpha (the audit's global family is larger; folding
never changes a p-value or a severity, only where a finding is shown).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

from ..findings import Finding
from .cells import generalizes

__all__ = ["fold_findings", "fold_unobserved", "stratified_lower_p"]

_MAX_EXPLAINERS = 3
_MAX_CANDIDATES = 16


def stratified_lower_p(strata: np.ndarray, in_cell: np.ndarray, is_label: np.ndarray,
                       weights: np.ndarray | None = None) -> float:
    """One-sided exact conditional p of fewer label rows in the cell, stratified (module docstring)."""
    size = int(strata.max()) + 1 if strata.size else 1

    def cnt(mask):
        w = None if weights is None else weights[mask]
        return np.rint(np.bincount(strata[mask], weights=w, minlength=size)).astype(np.int64)

    N, K = cnt(np.ones_like(in_cell)), cnt(is_label)
    s, o = cnt(in_cell), cnt(in_cell & is_label)
    pmf, lo_total = np.ones(1), 0
    for j in np.flatnonzero(s > 0):
        lo, hi = max(0, s[j] - (N[j] - K[j])), min(s[j], K[j])
        pmf = np.convolve(pmf, _hypergeom_pmf(np.arange(lo, hi + 1), N[j], K[j], s[j]))
        lo_total += lo
    idx = int(o.sum()) - lo_total
    return float(min(1.0, pmf[: idx + 1].sum()))


def _lnc(a, b):
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


def _hypergeom_pmf(x: np.ndarray, n: int, k: int, s: int) -> np.ndarray:
    """Hypergeometric pmf on its support via log-gamma (scipy's pmf is slow on long ranges)."""
    return np.exp(_lnc(k, x) + _lnc(n - k, s - x) - _lnc(n, s))


def _within_p(child, parent) -> float:
    if child.tail == "greater":
        return float(sps.hypergeom.sf(child.obs - 1, parent.cell.support, parent.obs, child.cell.support))
    return float(sps.hypergeom.cdf(child.obs, parent.cell.support, parent.obs, child.cell.support))


def _is_zero(t) -> bool:
    return t.obs == t.cell.support if t.tail == "greater" else t.obs == 0


def fold_findings(ctx, scan, findings: list[Finding], tests: list, alpha: float) -> list[Finding]:
    """Set ``explained_by`` on the findings (``findings[i]`` belongs to ``tests[i]``)."""
    m = len(findings)
    if m < 2:
        return findings
    masks = [ctx.table.mask(**dict(t.cell.items)) for t in tests]
    packed = np.packbits(np.stack(masks), axis=1)
    sub = np.stack([~(packed[i] & ~packed).any(axis=1) for i in range(m)])   # sub[i, j]: rows(i) <= rows(j)
    np.fill_diagonal(sub, False)
    strong = [t.q_local is not None and t.q_local <= alpha for t in tests]
    sig = [strong[i] and t.tail == "less" for i, t in enumerate(tests)]
    p = [t.p_value for t in tests]
    weights = ctx.table.weights
    label_codes = ctx.table.codes[ctx.roles.label]
    is_label = {L: label_codes == L for L in {t.label for t in tests}}

    def explained(cell, L, candidates):
        return _stratified(cell, candidates, masks, is_label[L], weights, alpha, p)

    def genuine(i, j) -> bool:
        """Is the depletion of C' outside C real and not the work of other stronger findings?"""
        rest = masks[j] & ~masks[i]
        L = tests[j].label
        if stratified_lower_p(np.zeros(rest.shape, dtype=np.int64), rest, is_label[L], weights) > alpha:
            return False
        cands = [r for r in range(m) if strong[r] and r not in (i, j) and not sub[r, j] and p[r] < p[j]]
        return explained(rest, L, cands) is None

    parent_of: dict[int, tuple] = {}
    rule_of = {t.cell.key: j for j, t in enumerate(tests) if t.tail == "greater" and _is_zero(t)}
    for i, t in enumerate(tests):  # 0. more than two labels: a pure rule explains the gaps of its cell
        if t.tail == "less" and t.cell.key in rule_of:
            parent_of[i] = (rule_of[t.cell.key], {"fold": "same cell, pure for another label"})
    for i, t in enumerate(tests):  # 1. subset folding
        if i in parent_of:
            continue
        best = None
        for j, u in enumerate(tests):
            if not sub[i, j] or u.label != t.label or u.tail != t.tail or u.cell.support <= t.cell.support:
                continue
            wp = _within_p(t, u)
            semantic = generalizes(u.cell.items, t.cell.items, scan.fd)
            if not ((sig[j] and wp > alpha) or (_is_zero(u) and semantic)):
                continue
            key = (not semantic, u.cell.k, -u.cell.support, u.cell.rank)
            if best is not None and key >= best[0]:
                continue
            if sig[j] and not genuine(i, j):
                continue
            best = (key, j, {"fold": "subset", "p_within": wp})
        if best is not None:
            parent_of[i] = (best[1], best[2])
    order = sorted(range(m), key=lambda i: (p[i], tests[i].cell.rank, tests[i].label))
    for i in order:  # 2. stratified folding of the remaining significant findings
        if i in parent_of or not sig[i]:
            continue
        cands = [r for r in range(m) if r != i and r not in parent_of and strong[r] and not sub[i, r]
                 and (p[r] < p[i] or sub[r, i])]
        got = explained(masks[i], tests[i].label, cands)
        if got is not None:
            parent_of[i] = got
    out = list(findings)
    children: dict[int, list] = {}
    for i, (j, info) in parent_of.items():
        seen = {i}
        while j in parent_of and j not in seen:  # flatten to the root
            seen.add(j)
            j = parent_of[j][0]
        children.setdefault(j, []).append(i)
        details = dict(out[i].details)
        info = dict(info)
        if "strata_from" in info:
            info["strata_from"] = [findings[e].id for e in info["strata_from"]]
        details["folding"] = {**info, "into": findings[j].id}
        out[i] = out[i].evolve(explained_by=findings[j].id, details=details)
    for j, kids in children.items():
        rows = tuple({"cell": tests[i].cell.key, "label": findings[i].label_value,
                      "support": tests[i].cell.support, "observed": tests[i].obs,
                      "expected": tests[i].e_overall, "p_value": tests[i].p_value}
                     for i in sorted(kids, key=lambda i: (tests[i].p_value, tests[i].cell.rank)))
        out[j] = out[j].evolve(evidence=tuple(out[j].evidence) + rows)
    return out


def _stratified(cell, candidates, masks, is_label, weights, alpha, p=None):
    """Explainers for ``cell``: (first explainer, info) when up to three of them explain it, else None.

    Every single candidate and every pair among the eight best singles are tried, then the best
    set is extended greedily to three.
    """
    if not candidates:
        return None
    if len(candidates) > _MAX_CANDIDATES and p is not None:  # the strongest ones
        candidates = sorted(candidates, key=lambda e: p[e])[:_MAX_CANDIDATES]

    def p_of(chosen):
        strata = np.zeros(cell.shape, dtype=np.int64)
        for e in chosen:
            strata = strata * 2 + masks[e]
        return stratified_lower_p(strata, cell, is_label, weights)

    singles = sorted(((p_of([e]), e) for e in candidates), key=lambda x: -x[0])
    best_p, best = singles[0][0], [singles[0][1]]
    top = [e for _, e in singles[:8]]
    for a in range(len(top)):
        if best_p > alpha:
            break
        for b in range(a + 1, len(top)):
            pe = p_of([top[a], top[b]])
            if pe > best_p:
                best_p, best = pe, [top[a], top[b]]
    while best_p <= alpha and len(best) < _MAX_EXPLAINERS:
        ext = max(((p_of(best + [e]), e) for e in candidates if e not in best), default=None,
                  key=lambda x: x[0])
        if ext is None or ext[0] <= best_p:
            break
        best_p, best = ext[0], best + [ext[1]]
    if best_p > alpha:
        return best[0], {"fold": "stratified", "p_stratified": best_p, "strata_from": list(best)}
    return None


def fold_unobserved(scan, findings: list[Finding], unobserved: list) -> list[Finding]:
    """An unobserved combination folds into a more general one that is unobserved too.

    Two equivalent combinations (``multicolor=yes`` and ``color_count=2``) fold into the one
    with the smaller rank (fewer derived attributes).
    """
    out = list(findings)
    for i, u in enumerate(unobserved):
        best = None
        for j, v in enumerate(unobserved):
            if j == i or len(v.items) > len(u.items) or not generalizes(v.items, u.items, scan.fd):
                continue
            if generalizes(u.items, v.items, scan.fd) and len(u.items) == len(v.items) and u.rank < v.rank:
                continue  # equivalent: only the worse-ranked one folds
            key = (-v.expected, v.rank)
            if best is None or key < best[0]:
                best = (key, j)
        if best is not None:
            j = best[1]
            seen = {i}
            while out[j].explained_by is not None and j not in seen:
                break
            out[i] = out[i].evolve(explained_by=findings[j].id)
    # flatten chains to their root
    ids = {f.id: f for f in out}
    for i, f in enumerate(out):
        root, seen = f.explained_by, {f.id}
        while root is not None and ids[root].explained_by is not None and root not in seen:
            seen.add(root)
            root = ids[root].explained_by
        if root != f.explained_by:
            out[i] = f.evolve(explained_by=root)
    return out
