r"""Tree leaves as plain-word rules, their naive and selection-adjusted p-values, and what they imply.

A leaf of a tree on one-hot inputs is a conjunction of items ``a = v`` / ``a != v``; its rule says
"rows here are L" for the leaf's predicted label L.  Three questions per rule (STATISTICS.md §6):

* **Naive evidence**: is L over-represented in the leaf?  One-sided hypergeometric test
  :math:`p = P(X \ge k)`, :math:`X \sim \mathrm{Hypergeom}(n, n_L, s)` for k of s rows labelled L,
  with the smallest attainable value :math:`p_{min} = P(X = \min(s, n_L))` (Tarone 1990).
* **Selection**: the tree chose the leaf because it looked good, so the naive p is optimistic.
  The adjusted p reruns the *whole fit* on relabelled data with the minimum leaf p as statistic
  (single-step min-p, Westfall & Young 1993): :math:`p^{adj}_\ell = P^*(\min_j p^*_j \le p_\ell)`.
* **Stratification and gaps**: does every item of the rule still matter given the others
  (intersection-union test, Berger 1982), and which cells does the rule assert to be empty of the
  other labels while they are too small to test (§3 "insufficient data")?
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...stats import hypergeom_lower_p, leaf_enrichment_p, leaf_enrichment_test
from .fasttree import alternatives, batched_min_leaf_p
from .models import ALTERNATIVES_MAX_PATTERNS, Design, class_weights, fit_tree

__all__ = ["Rule", "extract_rules", "naive_leaf_p", "selection_adjust", "count_label_vectors",
           "stratification_p", "implied_gaps", "EXACT_MAX_VECTORS", "MC_PERMUTATIONS"]

#: Exact enumeration when the label-count vectors over patterns number at most this (every table
#: with C(n, n_L) <= 1e4 labellings qualifies, as STATISTICS.md §6 asks).
EXACT_MAX_VECTORS = 10_000
#: Monte Carlo permutations: 999 when a refit is cheap (patterns x features <= 2e5), 199 up to 1e6;
#: above that the Bonferroni bound over every leaf a tree of that depth could have chosen.
MC_PERMUTATIONS = ((200_000, 999), (1_000_000, 199))
_NE, _IN, _NOT_IN = "\u2260", "in", "not in"


@dataclass(frozen=True)
class Rule:
    """One leaf of the probe tree, in words and numbers."""

    node: int
    allowed: tuple            # ((attribute index, (level codes allowed, ...)), ...), path order
    conditions: tuple         # ((attribute, op, (values, ...)), ...) with op in "=", "≠", "in", "not in"
    label_code: int
    label: str
    support: float
    count: float
    p_naive: float
    p_min_naive: float
    text: str
    counts: tuple = ()        # rows of each label in the leaf
    extra: dict = field(default_factory=dict)

    @property
    def purity(self) -> float:
        return self.count / self.support if self.support else float("nan")

    def mask(self, patterns: np.ndarray) -> np.ndarray:
        """Which patterns satisfy the rule's conditions."""
        out = np.ones(len(patterns), dtype=bool)
        for a, allowed in self.allowed:
            out &= np.isin(patterns[:, a], allowed)
        return out

    @property
    def attribute_indices(self) -> tuple:
        return tuple(a for a, _ in self.allowed)


def naive_leaf_p(k: float, s: float, n_label: float, n: float) -> tuple[float, float]:
    r"""One-sided hypergeometric p that label L is over-represented in a leaf, and its p_min.

    .. math:: p = P(X \ge k),\quad p_{min} = P(X = \min(s, n_L)),\quad X \sim \mathrm{Hypergeom}(M=n, K=n_L, N=s)

    (:func:`biasaudit.stats.leaf_enrichment_test`; weighted counts are rounded.)
    """
    return leaf_enrichment_test(k, s, n_label, n)


def _condition(design: Design, a: int, allowed: tuple) -> tuple:
    lv = design.levels[a]
    name = design.attributes[a]
    if len(allowed) == 1:
        return (name, "=", (lv[allowed[0]],))
    excluded = tuple(j for j in range(len(lv)) if j not in allowed)
    if len(excluded) == 1:
        return (name, _NE, (lv[excluded[0]],))
    if len(allowed) <= len(excluded):
        return (name, _IN, tuple(lv[j] for j in allowed))
    return (name, _NOT_IN, tuple(lv[j] for j in excluded))


def condition_text(cond: tuple) -> str:
    name, op, values = cond
    if op in ("=", _NE):
        return f"{name}{op}{values[0]}"
    return f"{name} {op} {{{', '.join(values)}}}"


def rule_text(conditions: tuple, label: str, count: float, support: float) -> str:
    """``IF size=small AND color≠brown THEN CAT — 7 of 7 training rows``."""
    head = "IF " + " AND ".join(condition_text(c) for c in conditions) + " THEN" if conditions else "ALWAYS"
    return f"{head} {label} \u2014 {count:g} of {support:g} training rows"


def extract_rules(tree, design: Design, xpat: np.ndarray | None = None, label_names: tuple | None = None) -> list[Rule]:
    """Every root-to-leaf path of ``tree`` (fitted on ``design``) as a :class:`Rule`.

    ``label_names`` are the labels as shown in the rule text (default: the label values).
    """
    t = tree.tree_
    n = design.n
    totals = design.counts.sum(axis=0)
    xpat = design.onehot(design.patterns) if xpat is None else xpat
    leaf_of = tree.apply(xpat)
    out = []
    stack = [(0, {})]
    order: dict = {}
    while stack:
        node, allowed = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            in_leaf = leaf_of == node
            lc = design.counts[in_leaf].sum(axis=0)
            code = int(tree.classes_[int(np.argmax(t.value[node][0]))])
            s, k = float(lc.sum()), float(lc[code])
            p, pmin = naive_leaf_p(k, s, totals[code], n)
            items = tuple((a, tuple(sorted(v))) for a, v in sorted(allowed.items(), key=lambda kv: order[kv[0]]))
            conds = tuple(_condition(design, a, v) for a, v in items)
            label = design.labels[code]
            shown = label if label_names is None else label_names[code]
            out.append(Rule(node=int(node), allowed=items, conditions=conds, label_code=code, label=label,
                            support=s, count=k, p_naive=p, p_min_naive=pmin,
                            text=rule_text(conds, shown, k, s), counts=tuple(float(x) for x in lc)))
            continue
        a, j = design.feature_of(int(t.feature[node]))
        order.setdefault(a, len(order))
        current = allowed.get(a, set(range(len(design.levels[a]))))
        # one-hot split: x <= 0.5 (left) is a != v; right is a = v
        stack.append((right, {**allowed, a: current & {j}}))
        stack.append((left, {**allowed, a: current - {j}}))
    out.sort(key=lambda r: r.node)
    return out


def _leaf_min_p(design: Design, counts: np.ndarray, depth: int, random_state: int, xpat: np.ndarray) -> float:
    """Refit the tree on ``counts`` and return its smallest naive leaf p."""
    tree = fit_tree(design, depth, random_state, counts=counts, xpat=xpat)
    leaf = tree.apply(xpat)
    ul, li = np.unique(leaf, return_inverse=True)
    lc = np.zeros((len(ul), counts.shape[1]))
    np.add.at(lc, li, counts)
    pred = tree.classes_[np.argmax(tree.tree_.value[ul, 0, :], axis=1)]
    totals = counts.sum(axis=0)
    s = lc.sum(axis=1)
    k = lc[np.arange(len(ul)), pred]
    n = counts.sum()
    return float(np.min(leaf_enrichment_p(k, s, totals[pred], n)))


def count_label_vectors(sizes: np.ndarray, total: int, cap: int) -> int:
    """How many vectors k with 0 <= k_g <= sizes_g and sum k = total (capped at cap + 1).

    Each group admits at least two values of k_g whenever the others can absorb the rest, so more
    than ``cap`` groups (with 0 < total < n) always means more than ``cap`` vectors; the count is
    then not computed.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = int(sizes.sum())
    total = min(total, n - total)                       # count by the smaller label: same number
    if total <= 0:
        return 1
    if len(sizes) > cap:
        return cap + 1
    poly = np.zeros(total + 1, dtype=np.int64)
    poly[0] = 1
    for m in sizes:
        m = int(min(m, total))
        poly = np.minimum(np.convolve(poly, np.ones(m + 1, dtype=np.int64))[: total + 1], cap + 1)
    return int(poly[total])


def _label_vectors(sizes: np.ndarray, total: int) -> np.ndarray:
    """All vectors k (0 <= k_g <= sizes_g, sum = total), pruned to feasible partial sums."""
    sizes = [int(m) for m in sizes]
    rest = np.concatenate([np.cumsum(sizes[::-1])[::-1][1:], [0]])
    partial = np.zeros((1, 0), dtype=np.int64)
    sums = np.zeros(1, dtype=np.int64)
    for g, m in enumerate(sizes):
        ks = np.arange(m + 1)
        new_sums = (sums[:, None] + ks[None, :]).reshape(-1)
        keep = (new_sums <= total) & (new_sums + rest[g] >= total)
        rows = np.repeat(partial, m + 1, axis=0)
        col = np.tile(ks, len(partial))
        partial = np.column_stack([rows, col])[keep]
        sums = new_sums[keep]
    return partial


def selection_adjust(design: Design, rules: list[Rule], depth: int, random_state: int,
                     rng: np.random.Generator) -> tuple[list[tuple[float, float]], dict]:
    r"""Selection-adjusted p and p_min of every leaf, by refitting the whole tree on relabelled data.

    Statistic :math:`T = \min_\ell p_\ell` (naive leaf p).  Relabellings keep each label's total
    (a permutation of the labels over rows).  Rows with equal attributes are exchangeable, so the
    :math:`\binom{n}{n_L}` labellings of a binary label are enumerated exactly as label-count
    vectors over the G attribute patterns, each weighted by :math:`\prod_g \binom{m_g}{k_g}` (the
    lecture table: 458 vectors stand for 3003 labellings).  Then

    .. math:: p^{adj}_\ell = P^*(T^* \le p_\ell), \qquad p^{adj}_{min,\ell} = P^*(T^* \le p_{min,\ell}).

    * exact when there are at most ``EXACT_MAX_VECTORS`` vectors (binary labels, integer counts);
    * else Monte Carlo, :math:`(1 + \#\{T^*_b \le p_\ell\}) / (B + 1)` with B = 999 (or 199 when a
      refit is expensive), relabellings drawn as multivariate hypergeometric count tables;
    * else (very many patterns) Bonferroni over every leaf a depth-d tree on p one-hot columns
      could produce: :math:`p^{adj} = \min(1, K M p)`, :math:`M = \sum_{j \le d} \binom{p}{j} 2^j`.

    The refits are grown together by :func:`biasaudit.probe.fasttree.batched_min_leaf_p`;
    relabellings where scikit-learn's tie-breaking could matter are refitted with scikit-learn.
    The depth stays fixed at the cross-validated value during the refits (its choice is not
    re-run), which makes the adjustment slightly optimistic.

    References
    ----------
    Westfall, P. H. & Young, S. S. (1993). Resampling-Based Multiple Testing. Wiley (single-step min-p).
    """
    counts = np.round(design.counts).astype(np.int64)
    sizes = counts.sum(axis=1)
    totals = counts.sum(axis=0)
    k = counts.shape[1]
    g, p_feat = len(sizes), design.n_features
    xpat = design.onehot(design.patterns)
    ps = np.array([r.p_naive for r in rules])
    pmins = np.array([r.p_min_naive for r in rules])
    tol = 1 + 1e-9
    cw = class_weights(totals)
    present = np.flatnonzero(totals > 0)
    info = {"statistic": "minimum naive leaf p", "depth": depth}
    if len(present) == 2 and count_label_vectors(sizes, int(totals[present[1]]), EXACT_MAX_VECTORS) \
            <= EXACT_MAX_VECTORS:
        lo, hi = present
        vecs = _label_vectors(sizes, int(totals[hi]))
        tables = np.zeros((len(vecs), g, k), dtype=np.int64)
        tables[:, :, hi] = vecs
        tables[:, :, lo] = sizes[None, :] - vecs
        stats, n_refit = _null_stats(design, tables, cw, depth, random_state, xpat, counts)
        # integer weights prod_g C(m_g, k_g): exact sums, so no result depends on label order
        w = [math.prod(math.comb(int(m), int(v)) for m, v in zip(sizes, vec)) for vec in vecs]
        total_w = sum(w)
        adj = [(sum(wi for wi, t in zip(w, stats) if t <= p * tol) / total_w,
                sum(wi for wi, t in zip(w, stats) if t <= q * tol) / total_w) for p, q in zip(ps, pmins)]
        info.update(method="exact", n_labelings=math.comb(int(sizes.sum()), int(totals[hi])),
                    n_label_vectors=int(len(vecs)), n_sklearn_refits=n_refit)
        return adj, info
    cost = g * max(1, p_feat)
    b = next((bb for limit, bb in MC_PERMUTATIONS if cost <= limit), None)
    if b is not None:
        tables = np.stack([_random_table(sizes, totals, rng) for _ in range(b)])
        stats, n_refit = _null_stats(design, tables, cw, depth, random_state, xpat, counts)
        adj = [(float((1 + np.sum(stats <= p * tol)) / (b + 1)), float((1 + np.sum(stats <= q * tol)) / (b + 1)))
               for p, q in zip(ps, pmins)]
        info.update(method="permutation", n_permutations=b, n_sklearn_refits=n_refit)
        return adj, info
    m = sum(math.comb(p_feat, j) * 2 ** j for j in range(depth + 1)) * k
    adj = [(min(1.0, m * p), min(1.0, m * q)) for p, q in zip(ps, pmins)]
    info.update(method="bonferroni", n_candidate_leaves=m,
                statistic="naive leaf p x number of (leaf, label) hypotheses a depth-d tree could test")
    return adj, info


def _null_stats(design, tables, cw, depth, random_state, xpat, observed=None) -> tuple[np.ndarray, int]:
    """Min leaf p of every relabelled table: batched CART, scikit-learn where ties could matter.

    Up to ``ALTERNATIVES_MAX_PATTERNS`` patterns every tie is resolved as scikit-learn would (the
    statistic is then exactly scikit-learn's); with more patterns tied splits are broken by column
    order, unless the observed labels themselves are ambiguous (then scikit-learn refits the
    ambiguous tables), so that the observed statistic and its null come from the same procedure.
    """
    stats, ambiguous = batched_min_leaf_p(xpat, tables, cw, depth)
    if len(xpat) > ALTERNATIVES_MAX_PATTERNS:
        obs_amb = observed is not None and batched_min_leaf_p(xpat, observed[None], cw, depth)[1][0]
        if not obs_amb:
            return stats, 0
    totals = tables[0].sum(axis=0)
    n = int(round(totals.sum()))
    refits = 0
    for i in np.flatnonzero(ambiguous):
        small = len(xpat) <= ALTERNATIVES_MAX_PATTERNS
        alts = alternatives(xpat, tables[i].astype(float), cw, depth) if small else None
        values = None
        if alts is not None:
            values = []
            for node, pred in alts:
                raw = np.zeros((len(pred), tables.shape[2]))
                np.add.at(raw, node, tables[i])
                k = raw[np.arange(len(pred)), pred]
                values.append(float(np.min(leaf_enrichment_p(k, raw.sum(axis=1), totals[pred], n))))
        if values and np.allclose(values, values[0], rtol=1e-9, atol=0):
            stats[i] = values[0]
        else:
            stats[i] = _leaf_min_p(design, tables[i], depth, random_state, xpat)
            refits += 1
    return stats, refits


def _random_table(sizes: np.ndarray, totals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pattern x label counts after a uniform random permutation of the labels over the rows."""
    remaining = sizes.copy()
    out = np.zeros((len(sizes), len(totals)), dtype=np.int64)
    for j in range(len(totals) - 1):
        if totals[j] > 0:
            out[:, j] = rng.multivariate_hypergeometric(remaining, int(totals[j]))
            remaining = remaining - out[:, j]
    out[:, -1] = remaining
    return out


def stratification_p(rule: Rule, design: Design) -> float | None:
    r"""Intersection-union p that every item of the rule matters given the others (None for one item).

    For each constrained attribute a, the parent region P drops a's condition; the leaf's other-label
    count o among its s rows is tested within P: :math:`p_P = P(X \le o)`,
    :math:`X \sim \mathrm{Hypergeom}(s_P, o_P, s)`.  The IUT p is the maximum of these and the naive p
    (Berger 1982; STATISTICS.md §3.2).
    """
    if len(rule.allowed) < 2:
        return None
    counts = np.round(design.counts)
    s = int(round(rule.support))
    other = s - int(round(rule.count))
    p = rule.p_naive
    for a, _ in rule.allowed:
        parent = Rule(node=-1, allowed=tuple(x for x in rule.allowed if x[0] != a), conditions=(),
                      label_code=rule.label_code, label=rule.label, support=0, count=0, p_naive=1,
                      p_min_naive=1, text="")
        m = parent.mask(design.patterns)
        s_p = int(counts[m].sum())
        o_p = s_p - int(counts[m, rule.label_code].sum())
        p = max(p, hypergeom_lower_p(other, s_p, o_p, s))
    return p


def implied_gaps(rule: Rule, design: Design, alpha: float, max_attributes: int = 4) -> list[dict]:
    r"""Cells over the rule's attributes that the rule asserts to be (nearly) free of other labels,
    but whose support is too small for that to be testable (§3: insufficient data).

    A cell c (every constrained attribute fixed to an allowed value) with support :math:`s_c`, other
    labels :math:`o_c` and :math:`E = s_c (n - n_L)/n` qualifies when :math:`s_c \ge 2`,
    :math:`E \ge 0.5`, :math:`o_c/E \le 0.5` (the descriptive pattern of §1.4) and its depletion
    p_min :math:`P(X \le \max(0, s_c - n_L))`, :math:`X \sim \mathrm{Hypergeom}(n, n - n_L, s_c)`,
    exceeds alpha.
    """
    attrs = rule.attribute_indices
    if not attrs or len(attrs) > max_attributes:
        return []
    counts = np.round(design.counts)
    n = int(counts.sum())
    n_l = int(counts[:, rule.label_code].sum())
    n_other = n - n_l
    m = rule.mask(design.patterns)
    if not m.any():
        return []
    sub = design.patterns[m][:, list(attrs)]
    cells, inv = np.unique(sub, axis=0, return_inverse=True)
    s_c = np.bincount(inv.reshape(-1), weights=counts[m].sum(axis=1))
    l_c = np.bincount(inv.reshape(-1), weights=counts[m, rule.label_code])
    out = []
    for cell, s, lab in zip(cells, s_c, l_c):
        s, o = int(s), int(s - lab)
        e = s * n_other / n if n else 0.0
        if s < 2 or e < 0.5 or o / e > 0.5:
            continue
        if any(design.levels[a][v] == "(missing)" for a, v in zip(attrs, cell)):
            continue
        pmin = hypergeom_lower_p(max(0, s - n_l), n, n_other, s)
        if pmin > alpha:
            out.append({"cell": {design.attributes[a]: design.levels[a][v] for a, v in zip(attrs, cell)},
                        "support": s, "other": o, "expected_other": e, "p_min": pmin})
    return out
