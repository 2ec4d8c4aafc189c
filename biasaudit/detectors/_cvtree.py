r"""Cross-validated balanced accuracy of a shallow tree and its permutation p-value, all fits batched.

Used by the proxies detector to ask "can the other attributes predict S?" (STATISTICS.md §5).
The algorithm is that of ``sklearn.model_selection.permutation_test_score`` with
``scoring="balanced_accuracy"`` (Ojala & Garriga 2010): the stratified k-fold cross-validated
score :math:`s_0` of the data, the same score :math:`s_b` for ``n_permutations`` random
permutations of the target (folds re-drawn for each, stratified by the permuted target), and

.. math:: p = \frac{1 + \#\{b : s_b \ge s_0\}}{B + 1}, \qquad p_{min} = \frac{1}{B + 1}.

The tree is CART with class-balanced Gini (``class_weight="balanced"``: :math:`w_k = n/(K n_k)` on
the training fold) and splits ``attribute == level`` (the splits of a tree on one-hot columns),
depth ``max_depth``, a node splitting when it is impure and its best split decreases the weighted
impurity by at least ``MIN_GAIN`` of the total weight, as ``DecisionTreeClassifier(max_depth=3,
class_weight="balanced", min_impurity_decrease=MIN_GAIN)``.  Exact ties between splits go to the
first column (scikit-learn draws a random column order), and the class sums are accumulated in
single precision, so splits whose gains agree to about 1e-7 may be chosen differently from
scikit-learn; the same rule scores the data and every permutation, so the test stays exact.

Cost: every fit of every replicate is grown together, level by level, with one matrix product
``(B * nodes * (K + 1), G) @ (G, p)`` on the G distinct patterns of the (at most ``max_rows``) rows:
no Python loop over rows, patterns or tree nodes; the work is
:math:`O(B \cdot 2^{depth} \cdot K \cdot G \cdot p)` whatever the number of rows in the data.

References
----------
Ojala, M. & Garriga, G. C. (2010). Permutation tests for studying classifier performance.
JMLR 11, 1833-1863.  Breiman, L. et al. (1984). Classification and Regression Trees. Wadsworth.
"""
from __future__ import annotations

import numpy as np

__all__ = ["cv_permutation_score", "stratified_folds", "grow_batched", "MIN_GAIN"]

#: Smallest impurity decrease (a share of the total weight) for a split, as the probe's tree.
MIN_GAIN = 1e-12
#: Float32 cells per block of the batched product (about 64 MB).
_BLOCK_CELLS = 16_000_000


def stratified_folds(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id of every row: within each class the rows, in random order, are dealt round-robin.

    Vectorised over replicates: ``y`` may be of shape (B, m); every row of it gets its own folds.
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.int64))
    b_n, m = y.shape
    order = np.lexsort((rng.random((b_n, m)), y), axis=-1)
    ys = np.take_along_axis(y, order, axis=1)
    # position of each sorted row within its class run
    pos = np.arange(m)[None, :].repeat(b_n, axis=0)
    start = np.where(np.diff(ys, axis=1, prepend=-1) != 0, pos, 0)
    start = np.maximum.accumulate(start, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, pos - start, axis=1)
    return rank % n_folds


def grow_batched(x: np.ndarray, train: np.ndarray, max_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Grow B class-balanced Gini trees on the same one-hot patterns with different training counts.

    Parameters
    ----------
    x : ndarray of shape (G, p), 0/1
        One-hot patterns.
    train : ndarray of shape (B, G, K)
        Training rows of each pattern in each class, one table per tree.
    max_depth : int

    Returns
    -------
    node : ndarray of shape (B, G)
        Leaf (0 .. 2**max_depth - 1) every pattern reaches.
    pred : ndarray of shape (B, 2**max_depth)
        Predicted class of every leaf (largest weighted class sum; a leaf no training row reaches
        predicts its parent's class).
    chosen : list of ndarray of shape (B, 2**level)
        One-hot column each node of each level splits on (-1: no split).
    """
    b_n, g_n, k_n = train.shape
    xf = np.asarray(x, dtype=np.float32)
    p_n = xf.shape[1]
    nk = train.sum(axis=1)                                            # (B, K)
    present = nk > 0
    cw = np.where(present, nk.sum(axis=1, keepdims=True) / (present.sum(axis=1, keepdims=True)
                                                            * np.where(present, nk, 1)), 0.0)
    w = train * cw[:, None, :]                                        # (B, G, K) weighted
    rows = train.sum(axis=2)                                          # (B, G)
    feats = np.ascontiguousarray(np.concatenate([w, rows[:, :, None]], axis=2).astype(np.float32)
                                 .transpose(0, 2, 1))                  # (B, K+1, G)
    x1 = np.hstack([xf, np.ones((g_n, 1), dtype=np.float32)])         # last column: the node total
    w_all = w.sum(axis=(1, 2))                                        # (B,)
    node = np.zeros((b_n, g_n), dtype=np.int64)
    leaf_pred = np.zeros((b_n, 1), dtype=np.int64)                    # class of each node (parent's if empty)
    open_ = np.ones((b_n, 1), dtype=bool)                             # node may still split
    chosen = []
    for level in range(max_depth):
        n_nodes = 2 ** level
        tot = np.zeros((b_n, n_nodes, k_n + 1))
        right = np.zeros((b_n, n_nodes, k_n + 1, p_n))
        step = max(1, _BLOCK_CELLS // max(1, n_nodes * (k_n + 1) * g_n))
        for lo in range(0, b_n, step):
            hi = min(b_n, lo + step)
            member = (node[lo:hi, None, :] == np.arange(n_nodes)[None, :, None])       # (b, N, G)
            a = member[:, :, None, :] * feats[lo:hi, None, :, :]                      # (b, N, K+1, G)
            out = (a.reshape(-1, g_n) @ x1).reshape(hi - lo, n_nodes, k_n + 1, p_n + 1)
            right[lo:hi], tot[lo:hi] = out[..., :p_n], out[..., p_n]
        left = tot[..., None] - right
        rw, lw = right[:, :, :k_n].sum(axis=2), left[:, :, :k_n].sum(axis=2)           # (B, N, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            child = (np.where(rw > 0, rw - (right[:, :, :k_n] ** 2).sum(axis=2) / rw, 0.0)
                     + np.where(lw > 0, lw - (left[:, :, :k_n] ** 2).sum(axis=2) / lw, 0.0))
            tw = tot[:, :, :k_n].sum(axis=2)
            parent = np.where(tw > 0, tw - (tot[:, :, :k_n] ** 2).sum(axis=2) / tw, 0.0)    # (B, N)
        gain = (parent[:, :, None] - child) / np.where(w_all > 0, w_all, 1.0)[:, None, None]
        valid = (right[:, :, k_n] > 0.5) & (left[:, :, k_n] > 0.5)
        gain = np.where(valid, gain, -np.inf)
        best = np.argmax(gain, axis=2)                                                  # (B, N)
        best_gain = np.take_along_axis(gain, best[:, :, None], axis=2)[:, :, 0]
        impure = (tot[:, :, :k_n] > 0).sum(axis=2) > 1
        splits = open_ & impure & (best_gain >= MIN_GAIN)
        here = np.where(tw > 0, np.argmax(tot[:, :, :k_n], axis=2), leaf_pred)           # (B, N)
        chosen.append(np.where(splits, best, -1))
        # route: child 2*nd + 1 when the pattern has the best split's level
        col = np.take_along_axis(best, node, axis=1)                                   # (B, G) column at its node
        goes_right = xf[np.arange(g_n)[None, :], col] > 0.5
        split_here = np.take_along_axis(splits, node, axis=1)
        node = node * 2 + (split_here & goes_right)
        leaf_pred = np.repeat(here, 2, axis=1)
        open_ = np.repeat(splits, 2, axis=1)
    n_leaves = 2 ** max_depth
    at = (np.arange(b_n)[:, None] * n_leaves + node).ravel()
    sums = np.stack([np.bincount(at, weights=w[:, :, c].ravel(), minlength=b_n * n_leaves)
                     for c in range(k_n)], axis=1).reshape(b_n, n_leaves, k_n)          # (B, L, K)
    pred = np.where(sums.sum(axis=2) > 0, np.argmax(sums, axis=2), leaf_pred)
    return node, pred, chosen


def cv_permutation_score(codes: np.ndarray, sizes, y: np.ndarray, *, n_folds: int = 5, max_depth: int = 3,
                         n_permutations: int = 99, random_state: int = 0) -> dict:
    r"""Stratified k-fold CV balanced accuracy of the tree predicting ``y`` from ``codes``, and its permutation p.

    Parameters
    ----------
    codes : int ndarray of shape (m, J)
        Level codes of the J predictors (code < ``sizes[j]``).
    sizes : sequence of int
        Levels of each predictor.
    y : int ndarray of shape (m,)
        Classes 0..K-1, each present at least ``n_folds`` times.
    n_folds, max_depth, n_permutations, random_state

    Returns
    -------
    dict
        ``balanced_accuracy`` (:math:`s_0`), ``chance`` (1/K), ``lift``, ``p_value``, ``p_min``,
        ``n_permutations``, ``null_mean``, ``n_classes``, ``n_rows``, ``n_patterns``,
        ``splits`` ((depth, predictor, level) of the tree fitted on every row, in the order grown).
    """
    rng = np.random.default_rng(random_state)
    codes = np.asarray(codes, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    m, k = len(y), int(y.max()) + 1
    sizes = np.asarray(sizes, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pats, pid = np.unique(codes, axis=0, return_inverse=True)
    pid = pid.reshape(-1)
    g = len(pats)
    x = np.zeros((g, int(sizes.sum())), dtype=np.float32)
    if codes.shape[1]:
        x[np.arange(g)[:, None], offsets[None, :] + pats] = 1.0
    ys = np.vstack([y[None, :], np.stack([rng.permutation(y) for _ in range(n_permutations)])]) \
        if n_permutations else y[None, :]
    folds = stratified_folds(ys, n_folds, rng)                        # (R, m)
    r_n = ys.shape[0]
    idx = ((np.arange(r_n)[:, None] * n_folds + folds) * g + pid[None, :]) * k + ys
    cnt = np.bincount(idx.ravel(), minlength=r_n * n_folds * g * k).reshape(r_n, n_folds, g, k)
    test = cnt.reshape(r_n * n_folds, g, k)
    train = (cnt.sum(axis=1, keepdims=True) - cnt).reshape(r_n * n_folds, g, k)
    node, pred, _ = grow_batched(x, train, max_depth)
    yhat = np.take_along_axis(pred, node, axis=1)                     # (R*F, G) predicted class per pattern
    hits = np.take_along_axis(test, yhat[:, :, None], axis=2)[:, :, 0]  # held-out rows predicted right
    per_class = (np.eye(k)[yhat] * hits[:, :, None]).sum(axis=1)      # (R*F, K)
    n_class = test.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_class > 0, per_class / np.where(n_class > 0, n_class, 1), np.nan)
    fold_score = np.nanmean(recall, axis=1).reshape(r_n, n_folds)
    scores = fold_score.mean(axis=1)
    s0, null = float(scores[0]), scores[1:]
    p = (1 + int(np.sum(null >= s0 - 1e-12))) / (n_permutations + 1)
    full = np.bincount(pid * k + y, minlength=g * k).reshape(1, g, k).astype(float)
    _, _, chosen = grow_batched(x, full, max_depth)
    splits = []
    for depth, cols in enumerate(chosen):
        for j in cols[0][cols[0] >= 0]:
            a = int(np.searchsorted(offsets, j, side="right") - 1)
            splits.append((depth, a, int(j - offsets[a])))
    return {"balanced_accuracy": s0, "chance": 1 / k, "lift": s0 - 1 / k, "p_value": p,
            "p_min": 1 / (n_permutations + 1), "n_permutations": int(n_permutations),
            "null_mean": float(null.mean()) if len(null) else float("nan"), "n_classes": k, "n_rows": int(m),
            "n_patterns": int(g), "splits": splits}

