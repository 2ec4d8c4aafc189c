"""What the models predict on attribute combinations they never saw.

The full grid of attribute levels (missing excluded) is probed when it has at most ``MAX_GRID``
points; otherwise the *adjacent* combinations, one attribute changed from an observed combination
(at most ``MAX_SOURCES`` observed combinations, seeded), which is where a model is most tempted to
extrapolate.  An unseen combination lies in a **coverage gap** when one of its attribute pairs never
occurs in the training data (a zero two-way cell, STATISTICS.md §3.1); a prediction there with
probability >= ``CONFIDENT`` is a *confident extrapolation*.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from .models import Design

__all__ = ["unseen_combinations", "pair_zero_tables", "MAX_GRID", "MAX_SOURCES", "MAX_CANDIDATES", "CONFIDENT"]

#: Probe the full grid up to this many points (STATISTICS.md §6 samples above 1e5).
MAX_GRID = 100_000
#: Observed combinations used as starting points of adjacent combinations on large grids.
MAX_SOURCES = 2_000
#: At most this many unseen candidates are predicted (seeded sample above).
MAX_CANDIDATES = 50_000
#: Unseen combinations listed in the report section (the counts cover all of them).
MAX_ENTRIES = 25
#: Probability from which a prediction on an unseen combination counts as confident.
CONFIDENT = 0.8


def pair_zero_tables(design: Design) -> dict:
    """For every attribute pair (a, b), a boolean table: True where the pair never occurs."""
    w = design.counts.sum(axis=1)
    out = {}
    for a, b in combinations(range(len(design.attributes)), 2):
        la, lb = len(design.levels[a]), len(design.levels[b])
        tab = np.bincount(design.patterns[:, a].astype(np.int64) * lb + design.patterns[:, b], weights=w,
                          minlength=la * lb).reshape(la, lb)
        out[(a, b)] = tab == 0
    return out


def _keys(codes: np.ndarray, sizes: list) -> np.ndarray | None:
    if sum(math.log2(max(2, s)) for s in sizes) >= 62:
        return None
    key = np.zeros(len(codes), dtype=np.int64)
    for j, s in enumerate(sizes):
        key = key * s + codes[:, j]
    return key


def _not_observed(cand: np.ndarray, observed: np.ndarray, sizes: list) -> np.ndarray:
    kc, ko = _keys(cand, sizes), _keys(observed, sizes)
    if kc is not None:
        return ~np.isin(kc, ko)
    both = np.vstack([observed, cand])
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    return ~np.isin(inv[len(observed):], inv[: len(observed)])


def unseen_combinations(design: Design, tree, logreg, rng: np.random.Generator,
                        node_attributes: dict | None = None, max_grid: int = MAX_GRID) -> tuple[list, dict, dict]:
    """Predictions of both models on unseen combinations.

    Returns
    -------
    entries : list of dict
        combination, tree_label, tree_p, logreg_label, logreg_p, confident, gaps (zero pairs), node
        (the tree leaf), sorted: coverage gaps first, then by the tree's confidence; the first
        ``MAX_ENTRIES``.
    summary : dict
        mode ("full" / "adjacent"), grid_size, n_checked (candidates), n_unseen, n_predicted,
        n_in_gaps, n_confident, n_confident_in_gaps.
    by_node : dict
        tree leaf -> {"n": confident predictions in coverage gaps that involve an attribute of the
        leaf's rule (``node_attributes``: leaf -> attribute indices), "examples": first five entries}.
    """
    a_n = len(design.attributes)
    valid = [np.array(design.valid_levels(a), dtype=np.int64) for a in range(a_n)]
    sizes = [len(lv) for lv in design.levels]
    grid_size = math.prod(len(v) for v in valid) if a_n else 0
    if a_n == 0 or grid_size == 0:
        return [], {"mode": "none", "grid_size": 0, "n_checked": 0, "n_unseen": 0, "n_in_gaps": 0,
                    "n_confident": 0, "n_confident_in_gaps": 0}, {}
    if grid_size <= max_grid:
        mode = "full"
        idx = np.indices([len(v) for v in valid]).reshape(a_n, -1).T
        cand = np.column_stack([valid[a][idx[:, a]] for a in range(a_n)])
    else:
        mode = "adjacent"
        ok = np.ones(len(design.patterns), dtype=bool)
        for a in range(a_n):
            ok &= np.isin(design.patterns[:, a], valid[a])
        src = design.patterns[ok].astype(np.int64)
        if len(src) > MAX_SOURCES:
            src = src[np.sort(rng.choice(len(src), size=MAX_SOURCES, replace=False))]
        parts = []
        for a in range(a_n):
            for v in valid[a]:
                sel = src[:, a] != v
                c = src[sel].copy()
                c[:, a] = v
                parts.append(c)
        cand = np.unique(np.vstack(parts), axis=0) if parts else np.zeros((0, a_n), dtype=np.int64)
    n_candidates = len(cand)
    cand = cand[_not_observed(cand, design.patterns.astype(np.int64), sizes)]
    n_unseen_all = len(cand)
    if len(cand) > MAX_CANDIDATES:
        cand = cand[np.sort(rng.choice(len(cand), size=MAX_CANDIDATES, replace=False))]
    summary = {"mode": mode, "grid_size": int(grid_size), "n_checked": int(n_candidates),
               "n_unseen": int(n_unseen_all), "n_predicted": int(len(cand)), "n_in_gaps": 0, "n_confident": 0,
               "n_confident_in_gaps": 0, "confident_threshold": CONFIDENT}
    if len(cand) == 0:
        return [], summary, {}
    zeros = pair_zero_tables(design)
    x = design.onehot(cand)
    tp = tree.predict_proba(x)
    t_arg = np.argmax(tp, axis=1)
    t_lab, t_p = tree.classes_[t_arg], tp[np.arange(len(cand)), t_arg]
    nodes = tree.apply(x)
    on_path = np.zeros((int(tree.tree_.node_count), a_n), dtype=bool)
    for nd, attrs in (node_attributes or {}).items():
        on_path[nd, list(attrs)] = True
    n_gaps = np.zeros(len(cand), dtype=np.int64)
    rule_gap = np.zeros(len(cand), dtype=bool)
    for (a, b), z in zeros.items():
        hit = z[cand[:, a], cand[:, b]]
        n_gaps += hit
        rule_gap |= hit & (on_path[nodes, a] | on_path[nodes, b])
    confident = t_p >= CONFIDENT - 1e-12
    in_gap = n_gaps > 0
    if logreg is not None:
        lp = logreg.predict_proba(x)
        l_arg = np.argmax(lp, axis=1)
        l_lab, l_p = logreg.classes_[l_arg], lp[np.arange(len(cand)), l_arg]
    # coverage gaps first, then confident, then by the tree's probability; ties by codes (deterministic)
    order = np.lexsort(tuple(cand[:, j] for j in range(a_n - 1, -1, -1)) + (-t_p, ~confident, ~in_gap))

    def entry(i: int) -> dict:
        row = cand[i]
        gaps = [{design.attributes[a]: design.levels[a][row[a]], design.attributes[b]: design.levels[b][row[b]]}
                for (a, b), z in zeros.items() if z[row[a], row[b]]]
        return {
            "combination": {design.attributes[a]: design.levels[a][row[a]] for a in range(a_n)},
            "train_n": 0,
            "tree_label": design.labels[int(t_lab[i])], "tree_p": float(t_p[i]),
            "logreg_label": None if logreg is None else design.labels[int(l_lab[i])],
            "logreg_p": None if logreg is None else float(l_p[i]),
            "confident": bool(confident[i]), "gaps": gaps, "node": int(nodes[i]),
        }

    entries = [entry(int(i)) for i in order[:MAX_ENTRIES]]
    by_node: dict = {}
    hit = np.flatnonzero(confident & rule_gap)
    for node in np.unique(nodes[hit]):
        sel = order[(nodes[order] == node) & confident[order] & rule_gap[order]][:5]
        idx = [int(i) for i in sel]
        by_node[int(node)] = {"n": int(np.sum(nodes[hit] == node)), "examples": [entry(i) for i in idx]}
    summary.update(n_in_gaps=int(in_gap.sum()), n_confident=int(confident.sum()),
                   n_confident_in_gaps=int((confident & in_gap).sum()),
                   n_confident_in_rule_gaps=int((confident & rule_gap).sum()))
    return entries, summary, by_node
