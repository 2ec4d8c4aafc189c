"""Every threshold of an audit in one frozen object, printed in the report's method section."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Settings", "SEVERITY_ORDER", "FAIL_ON_LEVELS", "severity_rank", "P_FLOOR"]

#: Smallest p-value printed as a number; below it (and at an underflowed 0) readers print "< 1e-300".
P_FLOOR = 1e-300

#: Severities from the most to the least serious.  ``weak-evidence`` and ``insufficient-data``
#: are patterns the data show but cannot establish; ``info`` is a plain observation.
SEVERITY_ORDER = ("critical", "high", "medium", "low", "weak-evidence", "insufficient-data", "info")

#: Values accepted by ``--fail-on`` / ``fail_on=``.
FAIL_ON_LEVELS = ("never", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Rank of a severity, 0 for ``critical``; larger is less serious."""
    return SEVERITY_ORDER.index(severity)


@dataclass(frozen=True)
class Settings:
    """Parameters of one audit.

    Attributes
    ----------
    alpha : float
        Level of every test, of the false discovery rate and of the family-wise error rate.
    correction : {"bh", "holm", "by"}
        Multiple-testing correction of the exploratory family (every hypothesis not about the named
        sensitive attributes; Benjamini-Hochberg by default).
    primary_correction : {"holm", "bh", "by"}
        Correction of the primary family (the hypotheses about the sensitive attributes named before
        the scan; Holm by default: few hypotheses the user will cite, so family-wise error control).
    random_state : int
        Seed of every Monte Carlo or permutation routine.
    n_bins : int
        Quantile bins for numeric attributes.
    max_levels : int
        Attributes with more distinct values are treated as free text / ids and left out.
    k_max : int or None
        Largest attribute combination scanned (None: 2, or 3 when n >= 500 and levels are few).
    """

    alpha: float = 0.05
    correction: str = "bh"
    primary_correction: str = "holm"
    random_state: int = 0
    n_bins: int = 5
    max_levels: int = 50
    k_max: int | None = None
    max_cells: int = 20000
    min_group_n: int = 1
    exact_2x2: str = "fisher"
    probe: bool = True
    non_causal: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["non_causal"] = list(self.non_causal)
        return d
