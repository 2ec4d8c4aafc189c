r"""Many CART refits at once: the permutation distribution of the minimum leaf p, vectorised.

The selection adjustment refits the probe tree on hundreds or thousands of relabellings of the
same attribute patterns.  ``DecisionTreeClassifier.fit`` costs about a millisecond of Python
overhead per call, so this module grows all those trees together with matrix products:
greedy depth-first CART with weighted Gini impurity on one-hot (0/1) columns, the split rule of
scikit-learn's ``BestSplitter`` with ``min_impurity_decrease=MIN_GAIN``: a node splits when it is
impure, some column varies in it, and the best column's weighted impurity decrease
:math:`\frac{W_t}{W}\bigl(G_t - \frac{W_R}{W_t} G_R - \frac{W_L}{W_t} G_L\bigr)` reaches ``MIN_GAIN``.

The only freedom scikit-learn has is the order in which tied columns are tried (a seeded random
order).  Whenever the best columns of a node tie *and* induce different partitions of its rows,
or the decrease is within float noise of ``MIN_GAIN``, the relabelling is flagged and the caller
refits it with scikit-learn itself, so the statistic is
always the one scikit-learn's tree would give.  Mirror-image ties (``size=big`` vs ``size=small``)
induce the same partition and need no refit.
"""
from __future__ import annotations

import numpy as np

from ...stats import leaf_enrichment_p

from ._common import MIN_GAIN

__all__ = ["batched_min_leaf_p", "grow", "alternatives"]

_TOL = 1e-10


def _gini(v: np.ndarray) -> np.ndarray:
    """Gini impurity of weighted class sums along the last axis (0 for empty)."""
    tot = v.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 1.0 - np.sum((v / tot[..., None]) ** 2, axis=-1)
    return np.where(tot > 0, g, 0.0)


def batched_min_leaf_p(x: np.ndarray, counts: np.ndarray, class_weight: np.ndarray, depth: int,
                       chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    r"""Minimum naive leaf p of a depth-``depth`` balanced tree, for many labellings at once.

    Parameters
    ----------
    x : ndarray of shape (G, p)
        One-hot patterns (0/1).
    counts : ndarray of shape (B, G, K)
        Rows of each pattern with each label, one table per relabelling (same label totals).
    class_weight : ndarray of shape (K,)
    depth : int

    Returns
    -------
    stat : ndarray of shape (B,)
        :math:`\min_\ell P(X \ge k_\ell)`, :math:`X \sim \mathrm{Hypergeom}(n, n_{L_\ell}, s_\ell)` over
        the leaves, L the leaf's predicted (weighted-majority) label.
    ambiguous : ndarray of bool, shape (B,)
        Relabellings with a tie between columns that split a node differently; refit those.
    """
    out_s, out_a = [], []
    x = np.asarray(x, dtype=float)
    totals = counts[0].sum(axis=0)
    n = int(round(totals.sum()))
    for lo in range(0, counts.shape[0], chunk):
        c = counts[lo:lo + chunk].astype(float)
        _, pred, raw, amb = grow(x, c, class_weight, depth)
        s = raw.sum(axis=2)
        k = np.take_along_axis(raw, pred[:, :, None], axis=2)[:, :, 0]
        p = np.where(s > 0, leaf_enrichment_p(np.round(k), np.round(s), np.round(totals[pred]), n), np.inf)
        out_s.append(p.min(axis=1))
        out_a.append(amb)
    return np.concatenate(out_s), np.concatenate(out_a)


def grow(x: np.ndarray, counts: np.ndarray, class_weight: np.ndarray, depth: int, predict_only: bool = False):
    """Grow B trees on the same patterns with different label counts.

    Parameters
    ----------
    x : ndarray (G, p) of 0/1
    counts : ndarray (B, G, K)
        Training rows per pattern and label (patterns with no rows still get routed to a leaf).
    class_weight : ndarray (K,) or (B, K)
    depth : int
    predict_only : bool
        The caller needs only the predictions: a tie in a node whose children are leaves is then
        harmless when every tied column gives every routed pattern the same predicted label.

    Returns
    -------
    node : ndarray (B, G)
        Leaf (0 .. 2**depth - 1) of every pattern.
    pred : ndarray (B, 2**depth)
        Predicted label of every leaf (first maximum of the weighted class sums).
    raw : ndarray (B, 2**depth, K)
        Training rows per leaf and label.
    ambiguous : ndarray of bool (B,)
    """
    b_n, g_n, k_n = counts.shape
    cw = np.broadcast_to(np.asarray(class_weight, dtype=float), (b_n, k_n))
    w = counts * cw[:, None, :]
    w_all = w.sum(axis=(1, 2))                            # (B,)
    present = counts.sum(axis=2) > 0                      # patterns with training rows
    node = np.zeros((b_n, g_n), dtype=np.int64)
    leaf = np.zeros((b_n, 1), dtype=bool)                 # per (b, node): stopped splitting
    ambiguous = np.zeros(b_n, dtype=bool)
    for level in range(depth):
        n_nodes = 2 ** level
        new_node = node * 2
        new_leaf = np.repeat(leaf, 2, axis=1)
        for nd in range(n_nodes):
            at = node == nd                               # (B, G) every pattern routed here
            m = at & present                              # patterns with rows
            wm = w * m[:, :, None]                        # (B, G, K)
            tot = wm.sum(axis=1)                          # (B, K)
            right = np.matmul(wm.transpose(0, 2, 1), x).transpose(0, 2, 1)   # (B, p, K)
            left = tot[:, None, :] - right
            npat = m.sum(axis=1)                          # (B,)
            npat_r = m.astype(float) @ x                  # (B, p)
            valid = (npat_r > 0) & (npat_r < npat[:, None])
            pure = (tot > 0).sum(axis=1) <= 1
            wt = tot.sum(axis=1)
            wr, wl = right.sum(axis=2), left.sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                imp = (wt / w_all)[:, None] * (_gini(tot)[:, None] - (wr * _gini(right) + wl * _gini(left))
                                               / wt[:, None])
            imp = np.where(valid, imp, -np.inf)
            best_f = np.argmax(imp, axis=1)
            best = imp[np.arange(b_n), best_f]
            can = ~leaf[:, nd] & ~pure & valid.any(axis=1)
            splits = can & (best >= MIN_GAIN)
            ambiguous |= can & (np.abs(best - MIN_GAIN) <= 1e-3 * MIN_GAIN)
            tied = valid & (imp >= best[:, None] - _TOL * np.maximum(1.0, np.abs(best))[:, None])
            # a tie matters only when the tied columns route the node's patterns differently
            xs = x[:, best_f].T * at                     # (B, G): best column within the node
            off = (at & (xs == 0)).astype(float)
            same = xs @ x + off @ (1.0 - x)               # patterns where a column agrees with the best
            mirror = off @ x + xs @ (1.0 - x)             # patterns where it disagrees
            nat = at.sum(axis=1)[:, None]
            differs = tied & ~((same == nat) | (mirror == nat))
            if predict_only and level == depth - 1:
                differs &= _changes_predictions(x, at, right, left, best_f)
            ambiguous |= splits & differs.any(axis=1)
            goes_right = x[:, best_f].T.astype(bool)      # (B, G)
            new_node = np.where(at & splits[:, None] & goes_right, new_node + 1, new_node)
            new_leaf[:, 2 * nd] = ~splits | leaf[:, nd]
            new_leaf[:, 2 * nd + 1] = ~splits | leaf[:, nd]
        node, leaf = new_node, new_leaf
    n_leaves = 2 ** depth
    onehot = (node[:, :, None] == np.arange(n_leaves)[None, None, :]).astype(float)   # (B, G, L)
    raw = np.matmul(onehot.transpose(0, 2, 1), counts)
    weighted = raw * cw[:, None, :]
    pred = np.argmax(weighted, axis=2)
    # a leaf whose two largest weighted class sums tie is decided by float noise in scikit-learn
    ambiguous |= _near_tie(weighted).any(axis=1)
    return node, pred, raw, ambiguous


def _near_tie(weighted: np.ndarray) -> np.ndarray:
    """True where the two largest class sums (last axis) are equal up to float noise (and non-zero)."""
    if weighted.shape[-1] < 2:
        return np.zeros(weighted.shape[:-1], dtype=bool)
    top = np.sort(weighted, axis=-1)
    return (top[..., -1] > 0) & (top[..., -1] - top[..., -2] <= 1e-9 * top[..., -1])


def _changes_predictions(x, at, right, left, best_f) -> np.ndarray:
    """(B, p): would splitting on column f (children = leaves) predict differently than best_f?

    ``right`` / ``left`` are the children's weighted class sums.
    """
    b_n = len(best_f)
    pr = np.argmax(right, axis=2)                          # (B, p) label predicted on the right
    pl = np.argmax(left, axis=2)
    pr_best, pl_best = pr[np.arange(b_n), best_f], pl[np.arange(b_n), best_f]
    go = x[:, best_f].T.astype(bool)
    a = (at & go).astype(float)                            # routed right by best_f
    c = (at & ~go).astype(float)
    ax, a1x, cx, c1x = a @ x, a @ (1 - x), c @ x, c @ (1 - x)
    tie_r, tie_l = _near_tie(right), _near_tie(left)
    return ((ax * ((pr != pr_best[:, None]) | tie_r) + a1x * ((pl != pr_best[:, None]) | tie_l)
             + cx * ((pr != pl_best[:, None]) | tie_r) + c1x * ((pl != pl_best[:, None]) | tie_l)) > 0)


class _GiveUp(Exception):
    pass


def alternatives(x: np.ndarray, counts: np.ndarray, class_weight: np.ndarray, depth: int,
                 max_trees: int = 32) -> list | None:
    """Every tree scikit-learn could grow here, whatever order it tries tied columns in.

    Returns a list of (leaf index of every pattern, predicted label of every leaf) pairs, one per
    distinct way of routing the patterns, or None when there are more than ``max_trees`` or a
    split decision is within float noise of ``MIN_GAIN`` (then only scikit-learn itself can say).
    """
    x = np.asarray(x, dtype=float)
    w = counts * np.asarray(class_weight, dtype=float)[None, :]
    present = counts.sum(axis=1) > 0
    w_all = w.sum()

    def grow_node(idx: np.ndarray, d: int) -> list:
        m = idx[present[idx]]
        wm = w[m]
        tot = wm.sum(axis=0)
        if d == 0 or (tot > 0).sum() <= 1 or len(m) < 2:
            return [[idx]]
        xm = x[m]
        nr = xm.sum(axis=0)
        valid = (nr > 0) & (nr < len(m))
        if not valid.any():
            return [[idx]]
        right = xm.T @ wm
        left = tot[None, :] - right
        wt = tot.sum()
        imp = (wt / w_all) * (_gini(tot) - (right.sum(1) * _gini(right) + left.sum(1) * _gini(left)) / wt)
        imp = np.where(valid, imp, -np.inf)
        best = imp.max()
        if abs(best - MIN_GAIN) <= 1e-3 * MIN_GAIN:
            raise _GiveUp
        if best < MIN_GAIN:
            return [[idx]]
        tied = np.flatnonzero(valid & (imp >= best - _TOL * max(1.0, abs(best))))
        routes = {}
        for f in tied:
            r = x[idx, f] > 0.5
            key = r.tobytes() if not r[0] else (~r).tobytes()   # mirror images route alike
            routes.setdefault(key, r)
        out = []
        for r in routes.values():
            for a in grow_node(idx[~r], d - 1):
                for b in grow_node(idx[r], d - 1):
                    out.append(a + b)
                    if len(out) > max_trees:
                        raise _GiveUp
        return out

    try:
        trees = grow_node(np.arange(len(x)), depth)
    except _GiveUp:
        return None
    res = []
    for leaves in trees:
        node = np.empty(len(x), dtype=np.int64)
        pred = np.empty(len(leaves), dtype=np.int64)
        for j, idx in enumerate(leaves):
            node[idx] = j
            ws = w[idx].sum(axis=0)
            if _near_tie(ws[None, :])[0]:
                return None
            pred[j] = int(np.argmax(ws))
        res.append((node, pred))
    return res
