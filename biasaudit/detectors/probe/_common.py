"""Constants and weights shared by the probe's trees, permutation tests and models (no imports of theirs)."""
from __future__ import annotations

import numpy as np

__all__ = ["MIN_GAIN", "ALTERNATIVES_MAX_PATTERNS", "class_weights"]

#: Smallest weighted impurity decrease for a split.  scikit-learn's default (0) also makes
#: zero-gain splits, and with balanced (non-integer) class weights float noise in the Gini of a
#: pure node (about 1e-16) lets it split pure leaves; 1e-12 removes both and nothing real.
MIN_GAIN = 1e-12

#: Up to this many distinct rows the permutation test resolves tied splits exactly as scikit-learn
#: (enumerating the alternative trees, else refitting); above, ties are broken by column order.
ALTERNATIVES_MAX_PATTERNS = 200


def class_weights(label_totals: np.ndarray) -> np.ndarray:
    r"""Balanced class weights :math:`w_k = n / (K_{present}\, n_k)` (0 for absent classes).

    The same weights as scikit-learn's ``class_weight="balanced"`` on the rows.
    """
    t = np.asarray(label_totals, dtype=float)
    present = t > 0
    out = np.zeros_like(t)
    out[present] = t.sum() / (present.sum() * t[present])
    return out
