r"""How well one categorical variable predicts another, from their count table alone.

Used by the leakage check (an attribute that alone predicts the label almost perfectly, or that
is almost a copy of another attribute).

* :func:`loo_balanced_accuracy` -- balanced accuracy of the per-level classifier "predict the class
  j with the largest :math:`n_{aj}/n_j`" (class-balanced Bayes rule on the table), evaluated by
  leave-one-out *exactly from the counts*: a row of cell (a, l) is predicted from the table without
  it, where cell (a, l) has :math:`n_{al} - 1` rows and class l has :math:`n_l - 1`.  All rows of one
  cell are exchangeable, so one comparison per cell gives every held-out prediction; ties share the
  credit.  Leave-one-out removes the optimism of choosing each level's class on the same rows
  (a level seen once predicts nothing about itself).  Returned with Youden's normalisation
  :math:`J = (BA - 1/K)/(1 - 1/K)` (0 chance, 1 perfect) and a normal-approximation standard error
  :math:`\sqrt{\sum_l r_l(1 - r_l)/n_l}/K` of BA.
* :func:`theils_u_corrected` -- Theil's :math:`U(Y \mid X) = I(X;Y)/H(Y)` with the Miller-Madow
  bias :math:`(r-1)(c-1)/(2n)` subtracted from the plug-in mutual information (clipped at 0).

References
----------
Youden, W. J. (1950). Index for rating diagnostic tests. Cancer 3, 32-35.
Brodersen, K. H. et al. (2010). The balanced accuracy and its posterior distribution. ICPR, 3121-3124.
Miller, G. A. (1955). Note on the bias of information estimates. Information Theory in Psychology.
Theil, H. (1970). On the estimation of relationships involving qualitative variables. Am. J. Sociology 76, 103.
"""
from __future__ import annotations

import math

import numpy as np

from .effects import entropy_nats, mutual_info

__all__ = ["loo_balanced_accuracy", "theils_u_corrected"]

_TIE = 1e-12


def loo_balanced_accuracy(table) -> dict:
    """Leave-one-out balanced accuracy of predicting the columns (classes) from the rows (levels).

    Parameters
    ----------
    table : array-like of shape (r, K)
        Counts; rows the predictor's levels, columns the classes.  Empty rows and columns are dropped.

    Returns
    -------
    dict
        ``balanced_accuracy``, ``youden_j``, ``se`` (of the balanced accuracy), ``recall`` (per
        class), ``n``, ``n_classes``, ``n_levels``.
    """
    c = np.asarray(table, dtype=float)
    c = c[c.sum(axis=1) > 0][:, c.sum(axis=0) > 0]
    r, k = c.shape
    if k < 2:
        return {"balanced_accuracy": math.nan, "youden_j": math.nan, "se": math.nan, "recall": [],
                "n": float(c.sum()), "n_classes": k, "n_levels": r}
    n_j = c.sum(axis=0)
    score = c / n_j                                                # (r, K) class-balanced scores
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(n_j > 1, (c - 1) / np.where(n_j > 1, n_j - 1, 1), 0.0)  # score of l without the row
    # best competing score for every (a, l): the largest score of the other classes in level a
    others = np.where(np.eye(k, dtype=bool)[None, :, :], -np.inf, score[:, None, :])      # (r, l, j)
    other = others.max(axis=2)                                                            # (r, K)
    tol = _TIE * np.maximum(1.0, np.abs(other))
    n_eq = (np.abs(others - other[:, :, None]) <= tol[:, :, None]).sum(axis=2)           # tied competitors
    credit = np.where(own > other + tol, 1.0, np.where(np.abs(own - other) <= tol, 1.0 / (n_eq + 1), 0.0))
    credit = np.where(c > 0, credit, 0.0)
    recall = (c * credit).sum(axis=0) / n_j
    ba = float(recall.mean())
    se = float(math.sqrt(np.sum(recall * (1 - recall) / n_j)) / k)
    return {"balanced_accuracy": ba, "youden_j": (ba - 1 / k) / (1 - 1 / k), "se": se,
            "recall": recall.tolist(), "n": float(c.sum()), "n_classes": k, "n_levels": r}


def theils_u_corrected(table, given_axis: int) -> float:
    r"""Theil's U of the variable *not* on ``given_axis`` given the one on it, Miller-Madow corrected.

    ``given_axis=1``: U(rows | columns) = :math:`(I - (r-1)(c-1)/(2n)) / H(\text{rows})`.
    NaN when the predicted variable has zero entropy.
    """
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    r, c = t.shape
    n = t.sum()
    h = entropy_nats(t.sum(axis=given_axis))
    if n <= 0 or h <= 0:
        return math.nan
    mi = max(0.0, mutual_info(t) - (r - 1) * (c - 1) / (2 * n))
    return float(min(1.0, mi / h))
