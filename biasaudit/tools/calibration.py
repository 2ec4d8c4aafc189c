"""Calibration and power of the whole scan on simulated data (STATISTICS.md §8).

* **Null**: data with no planted bias (``generate_dogs_cats(planted=False)``, or random relabellings
  of a fixed table).  The share of scans reporting any finding at ``medium`` or above must stay at
  most alpha within simulation error.
* **Power**: data with planted biases (``planted=True``): the share of planted effects found
  established (severity low or above), folded or not.

Used by ``tests/test_calibration.py`` (a fast version) and ``benchmarks/bench_calibration.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..audit.run import audit
from .simulate import generate_dogs_cats, reference_dogs_cats

__all__ = ["PLANTED", "Calibration", "null_rate", "permutation_null_rate", "planted_recall", "found"]

#: Planted effects of the generator as (cell, label that never occurs there).
PLANTED = {
    "all cats small": ({"size": "big"}, "CAT"),
    "multicolour only cats": ({"multicolor": "yes"}, "DOG"),
    "no small white dogs": ({"size": "small", "color": "white"}, "DOG"),
}
SERIOUS = ("critical", "high", "medium")


@dataclass(frozen=True)
class Calibration:
    """k of n simulated scans had the event; with a Clopper-Pearson interval and a one-sided
    binomial test of "the rate exceeds alpha"."""

    k: int
    n: int
    alpha: float

    @property
    def rate(self) -> float:
        return self.k / self.n

    @property
    def ci(self) -> tuple[float, float]:
        ci = sps.binomtest(self.k, self.n).proportion_ci(method="exact")
        return float(ci.low), float(ci.high)

    @property
    def p_exceeds_alpha(self) -> float:
        return float(sps.binomtest(self.k, self.n, self.alpha, alternative="greater").pvalue)

    def to_dict(self) -> dict:
        return {"k": self.k, "n": self.n, "rate": self.rate, "ci": list(self.ci),
                "p_exceeds_alpha": self.p_exceeds_alpha}


def _any_serious(result) -> bool:
    return any(f.severity in SERIOUS for f in result.findings)


def found(result, cell: dict, label: str) -> bool:
    """Whether the audit established that ``label`` is (nearly) absent from ``cell``."""
    for f in result.findings:
        # gaps and rules both carry the depleted (absent) label as label_value
        if (f.bias_type == "overgeneralization" and f.kind in ("gap", "rule") and f.established
                and dict(f.attributes) == cell and f.label_value == label):
            return True
    return False


def null_rate(n: int, seeds, *, alpha: float = 0.05, probe: bool = False, reference: bool = True) -> Calibration:
    """Scans of unplanted generator data (with the true margins as reference) reporting >= medium."""
    ref = reference_dogs_cats() if reference else None
    k = 0
    seeds = list(seeds)
    for s in seeds:
        df = generate_dogs_cats(n, seed=int(s), planted=False)
        k += _any_serious(audit(df, label="species", reference=ref, alpha=alpha, probe=probe, random_state=int(s)))
    return Calibration(k, len(seeds), alpha)


def permutation_null_rate(df: pd.DataFrame, label: str, n_perm: int, *, seed: int = 0, alpha: float = 0.05,
                          probe: bool = True) -> Calibration:
    """Scans of ``df`` with its labels randomly permuted (the exact null of §8 N1, sampled)."""
    rng = np.random.default_rng(seed)
    k = 0
    for _ in range(n_perm):
        shuffled = df.assign(**{label: rng.permutation(df[label].to_numpy())})
        k += _any_serious(audit(shuffled, label=label, alpha=alpha, probe=probe))
    return Calibration(k, n_perm, alpha)


def planted_recall(n: int, seeds, *, probe: bool = False) -> dict:
    """Per planted effect: the share of planted datasets where the audit established it."""
    hits = {name: 0 for name in PLANTED}
    seeds = list(seeds)
    for s in seeds:
        r = audit(generate_dogs_cats(n, seed=int(s), planted=True), label="species", probe=probe)
        for name, (cell, label) in PLANTED.items():
            hits[name] += found(r, cell, label)
    return {name: h / len(seeds) for name, h in hits.items()}
