"""The probe's models: one-hot design over attribute patterns, a shallow tree and a logistic regression.

Rows with the same attribute values are interchangeable for every model used here, so the data are
aggregated once into *patterns* (distinct attribute combinations) with a label-count matrix; the
final models are fitted on the patterns with sample weights ``count x class weight``.  That is the
same objective as a row-level fit with ``class_weight="balanced"`` (the weighted Gini impurity and
the weighted log-loss are sums over rows), and it makes the permutation refits of
:mod:`biasaudit.probe.rules` cheap.  Cross-validation and the permutation test of the whole model
(`sklearn.model_selection.permutation_test_score`) run on rows, on seeded samples when n is large.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from ...engine.roles import MISSING
from ._common import ALTERNATIVES_MAX_PATTERNS, MIN_GAIN, class_weights  # noqa: F401  (re-exported)

__all__ = ["Design", "ModelFit", "build_design", "class_weights", "fit_tree", "fit_logreg", "fit_models",
           "DEPTHS", "MIN_GAIN", "MAX_PATTERNS", "CV_ROWS", "PERM_ROWS", "N_PERMUTATIONS",
           "ALTERNATIVES_MAX_PATTERNS"]

#: Depths compared by cross-validation (the smallest of equally good depths wins).
DEPTHS = (1, 2, 3, 4)
#: Above this many distinct attribute combinations the models train on a seeded sample of rows.
MAX_PATTERNS = 200_000
#: Rows used for depth selection by cross-validation (seeded sample above this).
CV_ROWS = 20_000
#: Rows used by the whole-model permutation test (seeded sample above this).
PERM_ROWS = 1_000
#: Permutations of the whole-model test: p-values are multiples of 1/100, smallest 0.01.
N_PERMUTATIONS = 99
#: Logistic regression: L2 penalty, C = 1 (STATISTICS.md §6).
LOGREG_C = 1.0


@dataclass(frozen=True)
class Design:
    """The training data of the probe, aggregated into attribute patterns.

    Attributes
    ----------
    attributes : tuple of str
        Model attributes, in the fixed column order of the one-hot encoding.
    levels : tuple of tuple of str
        Levels of each attribute (every level gets a one-hot column, missing included).
    offsets : numpy.ndarray
        Index of the first one-hot column of each attribute.
    labels : tuple of str
        Label levels; label codes index this tuple.
    patterns : numpy.ndarray of shape (G, A)
        Level codes of every distinct attribute combination in the training rows.
    counts : numpy.ndarray of shape (G, K)
        Rows (or total weight) of each pattern with each label.
    row_codes : numpy.ndarray of shape (m, A)
        Level codes of the rows used for cross-validation (a seeded sample when n is large).
    row_labels : numpy.ndarray of shape (m,)
    n_source : int
        Rows in the audited table.
    sampled : bool
        True when the models were trained on a sample of ``n`` rows.
    """

    attributes: tuple
    levels: tuple
    offsets: np.ndarray
    labels: tuple
    patterns: np.ndarray
    counts: np.ndarray
    row_codes: np.ndarray
    row_labels: np.ndarray
    n_source: int
    sampled: bool = False
    notes: tuple = ()

    @property
    def n(self) -> float:
        return float(self.counts.sum())

    @property
    def n_features(self) -> int:
        return int(self.offsets[-1] + len(self.levels[-1])) if self.levels else 0

    @property
    def feature_names(self) -> list:
        return [f"{a}={v}" for a, lv in zip(self.attributes, self.levels) for v in lv]

    def feature_of(self, j: int) -> tuple[int, int]:
        """(attribute index, level index) of one-hot column ``j``."""
        a = int(np.searchsorted(self.offsets, j, side="right") - 1)
        return a, int(j - self.offsets[a])

    def onehot(self, codes: np.ndarray) -> np.ndarray:
        """One-hot matrix (float32) of level codes of shape (m, A)."""
        codes = np.asarray(codes)
        out = np.zeros((codes.shape[0], self.n_features), dtype=np.float32)
        if codes.shape[0]:
            out[np.arange(codes.shape[0])[:, None], self.offsets[None, :] + codes] = 1.0
        return out

    def valid_levels(self, a: int) -> list:
        """Level codes of attribute ``a`` that are real values (not the missing level)."""
        return [j for j, v in enumerate(self.levels[a]) if v != MISSING]


@dataclass(frozen=True)
class ModelFit:
    """Fitted probe models and how well they predict.

    ``cv`` holds, per depth, the pooled out-of-fold accuracy and balanced accuracy;
    ``oof_pred`` the out-of-fold tree predictions at the chosen depth (rows of ``Design.row_codes``).
    """

    tree: DecisionTreeClassifier
    logreg: LogisticRegression | None
    depth: int
    summary: dict
    oof_pred: np.ndarray | None = None
    notes: tuple = field(default_factory=tuple)


def build_design(codes: dict, levels: dict, attributes, label: str, weights, rng: np.random.Generator,
                 max_patterns: int = MAX_PATTERNS, cv_rows: int = CV_ROWS) -> Design:
    """Aggregate the coded table into patterns (sampling rows when there are too many patterns).

    Parameters
    ----------
    codes, levels : mapping
        ``CodedTable.codes`` / ``CodedTable.levels``.
    attributes : sequence of str
        Model attributes.
    label : str
    weights : array or None
        Frequency weights.
    rng : numpy.random.Generator
        Seeds the samples.
    """
    attributes = tuple(attributes)
    lv = tuple(tuple(levels[a]) for a in attributes)
    labels = tuple(levels[label])
    n_rows = len(codes[label])
    mat = np.column_stack([np.asarray(codes[a], dtype=np.int64) for a in attributes]) if attributes \
        else np.zeros((n_rows, 0), dtype=np.int64)
    y = np.asarray(codes[label], dtype=np.int64)
    w = None if weights is None else np.asarray(weights, dtype=float)
    notes = []
    patterns, inv = _unique_rows(mat, lv)
    sampled = False
    if len(patterns) > max_patterns:
        m = max_patterns
        if w is None:
            idx = np.sort(rng.choice(n_rows, size=m, replace=False))
        else:
            idx = np.sort(rng.choice(n_rows, size=m, replace=True, p=w / w.sum()))
        mat, y, w = mat[idx], y[idx], None
        patterns, inv = _unique_rows(mat, lv)
        sampled = True
        notes.append(f"{n_rows:,} rows have more than {max_patterns:,} distinct attribute combinations; "
                     f"the models were trained on a seeded sample of {m:,} rows.")
    k = len(labels)
    counts = np.bincount(inv * k + y, weights=w, minlength=len(patterns) * k).reshape(len(patterns), k)
    # rows for cross-validation: every row (unit) when there are few, else a seeded sample of units;
    # integer frequency weights are expanded into units (sampled without replacement)
    rc, rl = mat, y
    if w is not None and np.allclose(w, np.round(w)):
        units = np.round(w).astype(np.int64)
        take = units if units.sum() <= cv_rows else rng.multivariate_hypergeometric(units, cv_rows)
        idx = np.repeat(np.arange(len(units)), take)
        rc, rl = mat[idx], y[idx]
        if units.sum() > cv_rows:
            notes.append(f"Cross-validation used a seeded sample of {cv_rows:,} of the {units.sum():,} weighted rows.")
    elif w is not None:
        idx = rng.choice(len(y), size=cv_rows, replace=True, p=w / w.sum())
        rc, rl = mat[idx], y[idx]
        notes.append(f"Weights are not whole numbers: cross-validation used {cv_rows:,} rows drawn in proportion "
                     f"to the weights (with replacement, so its accuracy is optimistic).")
    elif len(y) > cv_rows:
        idx = np.sort(rng.choice(len(y), size=cv_rows, replace=False))
        rc, rl = mat[idx], y[idx]
        notes.append(f"Cross-validation used a seeded sample of {cv_rows:,} rows.")
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in lv])[:-1]]).astype(np.int64) if lv \
        else np.zeros(0, dtype=np.int64)
    return Design(attributes=attributes, levels=lv, offsets=offsets, labels=labels,
                  patterns=patterns.astype(np.int32), counts=counts, row_codes=rc.astype(np.int32),
                  row_labels=rl, n_source=n_rows, sampled=sampled, notes=tuple(notes))


def _unique_rows(mat: np.ndarray, levels: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a code matrix and the inverse index (mixed-radix keys when they fit int64)."""
    if mat.shape[1] == 0:
        return np.zeros((1, 0), dtype=np.int64), np.zeros(mat.shape[0], dtype=np.int64)
    sizes = [max(1, len(x)) for x in levels]
    if sum(math.log2(s) for s in sizes) < 62:
        key = np.zeros(mat.shape[0], dtype=np.int64)
        for j, s in enumerate(sizes):
            key = key * s + mat[:, j]
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return mat[first], inv.reshape(-1)
    uniq, inv = np.unique(mat, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)


def _aggregated_xy(design: Design, counts: np.ndarray, xpat: np.ndarray | None = None):
    xpat = design.onehot(design.patterns) if xpat is None else xpat
    cw = class_weights(counts.sum(axis=0))
    g, k = np.nonzero(counts > 0)
    return xpat[g], k, counts[g, k] * cw[k]


def fit_tree(design: Design, depth: int, random_state: int, counts: np.ndarray | None = None,
             xpat: np.ndarray | None = None) -> DecisionTreeClassifier:
    """A balanced CART tree of ``max_depth=depth`` on the patterns (weights = counts x class weight).

    Same tree as ``DecisionTreeClassifier(max_depth=depth, class_weight="balanced",
    min_impurity_decrease=MIN_GAIN, random_state=random_state)`` on the rows.
    """
    x, y, sw = _aggregated_xy(design, design.counts if counts is None else counts, xpat)
    return DecisionTreeClassifier(max_depth=depth, random_state=random_state, min_impurity_decrease=MIN_GAIN).fit(
        x, y, sample_weight=sw)


def fit_logreg(design: Design, random_state: int) -> LogisticRegression | None:
    """L2 logistic regression (C = 1, lbfgs) on the patterns with balanced weights."""
    x, y, sw = _aggregated_xy(design, design.counts)
    if len(np.unique(y)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on separable toy data; max_iter is generous
        return LogisticRegression(C=LOGREG_C, max_iter=1000, random_state=random_state).fit(
            x, y, sample_weight=sw)


def _pooled_scores(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float]:
    acc = float(np.mean(pred == y))
    recalls = [np.mean(pred[y == c] == c) for c in range(k) if np.any(y == c)]
    return acc, float(np.mean(recalls))


def fit_models(design: Design, random_state: int, rng: np.random.Generator,
               depths=DEPTHS, n_permutations: int = N_PERMUTATIONS, perm_rows: int = PERM_ROWS) -> ModelFit:
    r"""Choose the tree depth by cross-validation, fit both models, and test the tree by permutation.

    * Depth: stratified k-fold (k = min(5, smallest class)) on the CV rows; the depth with the
      highest pooled out-of-fold balanced accuracy wins, ties to the smaller depth.  The fold trees
      are those of ``DecisionTreeClassifier(max_depth=d, class_weight="balanced",
      min_impurity_decrease=MIN_GAIN)``, grown together (:func:`~biasaudit.probe.permutation.fold_predictions`).
    * Whole-model test: :func:`biasaudit.probe.permutation.permutation_score` (= scikit-learn's
      ``permutation_test_score`` with balanced accuracy) of the tree at that depth on at
      most ``perm_rows`` rows with ``n_permutations`` label permutations;
      :math:`p = (1 + \#\{s^*_b \ge s\}) / (B + 1)` (Ojala & Garriga 2010).

    References
    ----------
    Ojala, M. & Garriga, G. C. (2010). Permutation tests for studying classifier performance. JMLR 11.
    """
    k = len(design.labels)
    xr = design.onehot(design.row_codes)
    yr = design.row_labels
    notes = []
    class_n = np.bincount(yr, minlength=k)
    present = class_n[class_n > 0]
    n_splits = int(min(5, present.min())) if len(present) >= 2 else 0
    depths = [d for d in depths if d <= max(1, design.n_features)]
    cv = {}
    oof_by_depth = {}
    lr_cv = None
    if n_splits >= 2:
        from .permutation import fold_predictions
        folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(xr, yr))
        upat, uidx = _unique_rows(design.row_codes.astype(np.int64), design.levels)
        pats = (design.onehot(upat), uidx)
        for d in depths:
            oof = np.empty(len(yr), dtype=np.int64)
            preds = fold_predictions(xr, [(yr, tr, te) for tr, te in folds], d, random_state, patterns=pats)
            for (tr, te), yp in zip(folds, preds):
                oof[te] = yp
            acc, bal = _pooled_scores(yr, oof, k)
            cv[d] = {"accuracy": acc, "balanced_accuracy": bal}
            oof_by_depth[d] = oof
        best = max(cv[d]["balanced_accuracy"] for d in depths)
        depth = min(d for d in depths if cv[d]["balanced_accuracy"] >= best - 1e-12)
        oof = np.empty(len(yr), dtype=np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for tr, te in folds:
                m = LogisticRegression(C=LOGREG_C, max_iter=1000, class_weight="balanced")
                oof[te] = m.fit(xr[tr], yr[tr]).predict(xr[te])
        acc, bal = _pooled_scores(yr, oof, k)
        lr_cv = {"accuracy": acc, "balanced_accuracy": bal}
    else:
        depth = min(2, max(depths))
        notes.append("Too few rows of some label for cross-validation; the tree depth was fixed at "
                     f"{depth} and no accuracy could be estimated.")
    tree = fit_tree(design, depth, random_state)
    logreg = fit_logreg(design, random_state)
    from .permutation import permutation_p
    perm = permutation_p(xr, yr, depth, random_state, rng, n_permutations, perm_rows) if n_splits >= 2 else None
    totals = design.counts.sum(axis=0)
    summary = {
        "n_rows": design.n_source, "n_train": design.n, "sampled": design.sampled,
        "n_patterns": int(len(design.patterns)), "n_features": design.n_features,
        "attributes": list(design.attributes), "class_weight": "balanced",
        "baseline_accuracy": float(totals.max() / totals.sum()) if totals.sum() else None,
        "chance_balanced_accuracy": 1.0 / int((totals > 0).sum()) if totals.sum() else None,
        "cv": {"n_splits": n_splits, "n_rows": int(len(yr)), "scoring": "pooled out-of-fold"},
        "tree": {"depth": depth, "depths_compared": list(depths), "by_depth": {str(d): v for d, v in cv.items()},
                 "cv_accuracy": cv.get(depth, {}).get("accuracy"),
                 "cv_balanced_accuracy": cv.get(depth, {}).get("balanced_accuracy"),
                 "train_accuracy": _train_accuracy(design, tree.predict(design.onehot(design.patterns)), tree),
                 "n_leaves": int(tree.get_n_leaves()), "random_state": random_state, **(perm or {})},
        "logreg": {"C": LOGREG_C, "penalty": "l2",
                   "cv_accuracy": None if lr_cv is None else lr_cv["accuracy"],
                   "cv_balanced_accuracy": None if lr_cv is None else lr_cv["balanced_accuracy"],
                   "train_accuracy": None if logreg is None else
                   _train_accuracy(design, logreg.predict(design.onehot(design.patterns)), logreg)},
    }
    return ModelFit(tree=tree, logreg=logreg, depth=depth, summary=summary,
                    oof_pred=oof_by_depth.get(depth), notes=tuple(notes))


def _train_accuracy(design: Design, pattern_pred: np.ndarray, model) -> float:
    """Share of training rows whose label the model predicts (predictions are label codes)."""
    pred = np.asarray(pattern_pred, dtype=np.int64)
    return float(design.counts[np.arange(len(pred)), pred].sum() / design.counts.sum())
