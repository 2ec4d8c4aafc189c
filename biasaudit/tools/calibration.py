"""Calibration and power of the whole scan on simulated data (STATISTICS.md §8).

* **Null**: data with no planted bias (``generate_dogs_cats(planted=False)``, or random relabellings
  of a fixed table).  The share of scans reporting any finding at ``medium`` or above must stay at
  most alpha within simulation error.
* **Power**: data with planted biases (``planted=True``): the share of planted effects found
  established (severity low or above), folded or not.
* **Two families** (STATISTICS.md §1.3 v0.2): :func:`named_gap_data` draws a table with one named
  sensitive attribute (a 25 % group) and a few other attributes; :func:`family_null_rate` is the
  share of null tables (no gap) whose scan reports anything at ``medium`` or above in *either*
  family, :func:`named_gap_recall` the share of tables with a planted gap in which the named
  attribute's primary finding reaches ``medium``.

Used by ``tests/test_calibration.py`` (a fast version) and ``benchmarks/bench_calibration.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import stats
from ..audit.run import audit
from .simulate import generate_dogs_cats, reference_dogs_cats

__all__ = ["PLANTED", "Calibration", "null_rate", "permutation_null_rate", "planted_recall", "found",
           "named_gap_data", "family_null_rate", "named_gap_recall", "FAMILY_DETECTORS"]

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
        return stats.clopper_pearson_ci(self.k, self.n, 0.05)

    @property
    def p_exceeds_alpha(self) -> float:
        return stats.binomial_p(self.k, self.n, self.alpha, alternative="greater")

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


# ------------------------------------------------------------------ two families (named attribute)
#: Detectors of the two-family calibration: every detector whose findings enter a family on a table
#: without reference, compare sample, predictions or images (the probe is left out for time).
FAMILY_DETECTORS = ("group_attribution", "overgeneralization", "conditional", "proxies", "reporting")


def named_gap_data(n: int, seed: int, *, gap: float = 0.0, base_rate: float = 0.40,
                   group_share: float = 0.25) -> pd.DataFrame:
    """A table with a named sensitive attribute ``group`` and three other attributes.

    ``group`` is ``"b"`` with probability ``group_share`` and ``"a"`` otherwise; the label ``y`` is
    ``"yes"`` with probability ``base_rate`` in group a and ``base_rate - gap`` in group b.  The
    other attributes (``region``: 4 levels, ``size``: 3, ``channel``: 2) are independent of
    everything, so with ``gap = 0`` no finding is true.
    """
    rng = np.random.default_rng(seed)
    g = np.where(rng.random(n) < group_share, "b", "a")
    rate = np.where(g == "b", base_rate - gap, base_rate)
    y = np.where(rng.random(n) < rate, "yes", "no")
    return pd.DataFrame({"group": g, "region": rng.choice(["north", "south", "east", "west"], n),
                         "size": rng.choice(["small", "medium", "large"], n, p=[0.5, 0.3, 0.2]),
                         "channel": rng.choice(["web", "shop"], n), "y": y})


def _named_scan(df: pd.DataFrame, alpha: float):
    return audit(df, label="y", sensitive=["group"], positive="yes", alpha=alpha, probe=False,
                 detectors=list(FAMILY_DETECTORS))


def family_null_rate(n: int, seeds, *, alpha: float = 0.05) -> tuple[Calibration, dict]:
    """Null tables (``gap=0``): scans with any finding at ``medium`` or above in either family.

    Returns the calibration and the count of such scans per family.
    """
    seeds = list(seeds)
    k, by_family = 0, {"primary": 0, "exploratory": 0}
    for s in seeds:
        r = _named_scan(named_gap_data(n, int(s)), alpha)
        serious = [f for f in r.findings if f.severity in SERIOUS]
        k += bool(serious)
        for fam in by_family:
            by_family[fam] += any(f.family == fam for f in serious)
    return Calibration(k, len(seeds), alpha), by_family


def named_gap_recall(n: int, seeds, *, gap: float = 0.10, alpha: float = 0.05) -> Calibration:
    """Tables with a planted gap: scans whose primary finding on ``group`` reaches ``medium``."""
    seeds = list(seeds)
    k = 0
    for s in seeds:
        r = _named_scan(named_gap_data(n, int(s), gap=gap), alpha)
        k += any(f.family == "primary" and f.severity in SERIOUS and set(f.attributes) == {"group"}
                 for f in r.findings)
    return Calibration(k, len(seeds), alpha)
