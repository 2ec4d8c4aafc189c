r"""Whole-model permutation test of the probe tree (Ojala & Garriga 2010), fast.

"Did the model learn anything?": the cross-validated balanced accuracy of the tree is compared with
its values on label permutations.  The result is that of scikit-learn's ``permutation_test_score``;
the fold trees are grown together by :mod:`biasaudit.probe.fasttree`.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from .fasttree import alternatives, grow
from ._common import ALTERNATIVES_MAX_PATTERNS, MIN_GAIN, class_weights

__all__ = ["permutation_p", "permutation_score", "fold_predictions"]


def permutation_p(xr, yr, depth, random_state, rng, n_permutations, perm_rows) -> dict | None:
    """Permutation test on at most ``perm_rows`` rows (seeded sample); None when a label is too rare."""
    if len(yr) > perm_rows:
        idx = np.sort(rng.choice(len(yr), size=perm_rows, replace=False))
        xr, yr = xr[idx], yr[idx]
    counts = np.bincount(yr)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        return None
    n_splits = int(min(5, present.min()))
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    score, p = permutation_score(xr, yr, depth, cv, n_permutations, random_state)
    return {"permutation_p": p, "permutation_score": score, "n_permutations": n_permutations,
            "permutation_rows": int(len(yr)), "permutation_scoring": "balanced_accuracy"}


def _cv_balanced_accuracy(x, y, depth, cv, random_state) -> float:
    scores = []
    for tr, te in cv.split(x, y):
        t = DecisionTreeClassifier(max_depth=depth, class_weight="balanced", random_state=random_state,
                                   min_impurity_decrease=MIN_GAIN)
        pred = t.fit(x[tr], y[tr]).predict(x[te])
        yt = y[te]
        scores.append(np.mean([np.mean(pred[yt == c] == c) for c in np.unique(yt)]))
    return float(np.mean(scores))


def permutation_score(x, y, depth, cv, n_permutations, random_state, patterns=None) -> tuple[float, float]:
    r"""Cross-validated balanced accuracy of the tree and its label-permutation p-value.

    The computation of ``sklearn.model_selection.permutation_test_score`` with
    ``scoring="balanced_accuracy"`` and an integer ``random_state``: the same permutations
    (``RandomState(random_state).permutation``), the same folds, the fold-mean score and
    :math:`p = (1 + \#\{s^*_b \ge s\}) / (B + 1)`.  The (B + 1) x k fold trees are grown together by
    :func:`biasaudit.probe.fasttree.grow` on the row patterns.  With at most
    ``ALTERNATIVES_MAX_PATTERNS`` distinct rows, folds where scikit-learn's tie-breaking could matter
    are resolved exactly (alternative trees, else a scikit-learn refit), so the result equals
    ``permutation_test_score``; with more, tied splits are broken by column order, which is still a
    valid permutation test (the same procedure scores the data and every permutation) of a tree that
    differs from scikit-learn's only in how it breaks exact ties.

    References
    ----------
    Ojala, M. & Garriga, G. C. (2010). Permutation tests for studying classifier performance. JMLR 11.
    """
    rs = np.random.RandomState(random_state)
    ys = [y] + [y[rs.permutation(len(y))] for _ in range(n_permutations)]
    jobs = [(b, tr, te) for b, yb in enumerate(ys) for tr, te in cv.split(x, yb)]
    preds = fold_predictions(x, [(ys[b], tr, te) for b, tr, te in jobs], depth, random_state, patterns=patterns)
    scores = np.zeros(len(ys))
    folds = np.zeros(len(ys))
    for (b, tr, te), yp in zip(jobs, preds):
        yt = ys[b][te]
        scores[b] += np.mean([np.mean(yp[yt == c] == c) for c in np.unique(yt)])
        folds[b] += 1
    scores /= folds
    score, perm = float(scores[0]), scores[1:]
    return score, float((np.sum(perm >= score) + 1.0) / (n_permutations + 1))


def fold_predictions(x: np.ndarray, jobs: list, depth: int, random_state: int, chunk: int = 256,
                     patterns: tuple | None = None) -> list:
    """Test-fold predictions of balanced depth-``depth`` trees, one per job ``(y, train, test)``.

    The trees are grown together on the distinct rows of ``x``; with at most
    ``ALTERNATIVES_MAX_PATTERNS`` distinct rows a job whose prediction hangs on a tie is resolved as
    scikit-learn resolves it (alternative trees, else a refit on the job's rows), so the predictions
    are scikit-learn's; with more, ties are broken by column order.  ``patterns`` may pass the
    distinct rows and each row's index into them when already known.
    """
    if patterns is None:
        pats, pat_idx = np.unique(x, axis=0, return_inverse=True)
    else:
        pats, pat_idx = patterns
    pat_idx = np.asarray(pat_idx).reshape(-1)
    g = len(pats)
    k = int(max(int(yb.max()) for yb, _, _ in jobs)) + 1
    exact_ties = g <= ALTERNATIVES_MAX_PATTERNS
    tables = np.stack([np.bincount(pat_idx[tr] * k + yb[tr], minlength=g * k).reshape(g, k)
                       for yb, tr, te in jobs]).astype(float)
    cw = np.stack([class_weights(t.sum(axis=0)) for t in tables])
    out = []
    for lo in range(0, len(jobs), chunk):
        node, pred, _, amb = grow(pats.astype(float), tables[lo:lo + chunk], cw[lo:lo + chunk], depth,
                                  predict_only=True)
        for j in range(node.shape[0]):
            yb, tr, te = jobs[lo + j]
            yp = pred[j][node[j]][pat_idx[te]]
            if amb[j] and exact_ties:
                alts = alternatives(pats.astype(float), tables[lo + j], cw[lo + j], depth)
                cands = None if alts is None else [pr[nd][pat_idx[te]] for nd, pr in alts]
                if cands is not None and all(np.array_equal(c, cands[0]) for c in cands):
                    yp = cands[0]
                else:
                    t = DecisionTreeClassifier(max_depth=depth, class_weight="balanced", random_state=random_state,
                                               min_impurity_decrease=MIN_GAIN)
                    yp = t.fit(x[tr], yb[tr]).predict(x[te])
            out.append(np.asarray(yp))
    return out
