"""Effect levels and severity grades (STATISTICS.md §1.4).

The two tables are module constants so that the report can print them in its method section.
"""
from __future__ import annotations

import math

__all__ = [
    "EFFECT_THRESHOLDS",
    "SEVERITY_RULES",
    "effect_level",
    "grade_severity",
]


#: Effect thresholds of §1.4: name -> cut-offs for level 1 (small), 2 (medium), 3 (large).
#: ``direction="below"``: ratios, larger effect the further below 1; ``"above"``: larger is stronger.
#: Plain dicts so the report can print them and the JSON writer can serialise them.
EFFECT_THRESHOLDS = {
    "depletion_ratio": {"small": 0.8, "medium": 0.5, "large": 0.2, "direction": "below",
                        "description": "obs/E of a cell (<= 0.2: empty or near-empty)"},
    "disparate_impact": {"small": 0.8, "medium": 0.5, "large": 0.2, "direction": "below",
                         "description": "min rate / max rate (values above 1 are inverted)"},
    "representation_ratio": {"small": 0.8, "medium": 0.5, "large": 0.2, "direction": "below",
                             "description": "sample share / reference share (values above 1 are inverted)"},
    "cohens_w": {"small": 0.1, "medium": 0.3, "large": 0.5, "direction": "above",
                 "description": "Cohen's w"},
    "cramers_v": {"small": 0.1, "medium": 0.3, "large": 0.5, "direction": "above",
                  "description": "Cramér's V * sqrt(min(r,c)-1), on Cohen's w scale"},
    "tvd": {"small": 0.05, "medium": 0.10, "large": 0.20, "direction": "above",
            "description": "total variation distance"},
    "psi": {"small": 0.10, "medium": 0.25, "large": 0.50, "direction": "above",
            "description": "population stability index"},
    "spd": {"small": 0.05, "medium": 0.10, "large": 0.20, "direction": "above",
            "description": "|statistical parity difference|"},
}

#: Severity table of §1.4, most serious first; the first rule that matches wins.
#: ``q_max=None`` means "q <= alpha"; ``min_level=None`` means the rule does not need q <= alpha.
SEVERITY_RULES = (
    {"severity": "critical", "q_max": 0.001, "min_level": 3, "rule": "q <= 0.001 and large effect (level 3)"},
    {"severity": "high", "q_max": 0.01, "min_level": 2, "rule": "q <= 0.01 and effect level >= 2"},
    {"severity": "medium", "q_max": None, "min_level": 1, "rule": "q <= alpha and effect level >= 1"},
    {"severity": "low", "q_max": None, "min_level": 0, "rule": "q <= alpha and negligible effect (level 0)"},
    {"severity": "weak-evidence", "q_max": None, "min_level": None,
     "rule": "testable, q > alpha, descriptive pattern present"},
    {"severity": "insufficient-data", "q_max": None, "min_level": None,
     "rule": "untestable (p_min > alpha), descriptive pattern present"},
    {"severity": "info", "q_max": None, "min_level": None, "rule": "nothing to report"},
)


def effect_level(name: str, value: float, *, dof_star: int = 1) -> int:
    r"""Effect level 0-3 (negligible, small, medium, large) of an effect measure, per §1.4.

    Ratios (``depletion_ratio``, ``disparate_impact``, ``representation_ratio``) are graded by how
    far they fall below 1: level 1 at <= 0.8, 2 at <= 0.5, 3 at <= 0.2. For
    ``representation_ratio`` and ``disparate_impact`` a value above 1 is graded by its inverse
    (symmetric four-fifths band [0.8, 1.25]); a depletion ratio above 1 is level 0 (enrichment is
    the depletion of another label). ``spd`` is graded by its absolute value. ``cramers_v`` is put
    on Cohen's w scale as :math:`V\sqrt{df^*}`, :math:`df^* = \min(r,c)-1` (pass ``dof_star``).
    NaN grades as 0.

    Parameters
    ----------
    name : str
        One of ``EFFECT_THRESHOLDS``.
    value : float
    dof_star : int
        min(r, c) - 1 of the table, used for ``cramers_v`` only.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences (w: 0.1/0.3/0.5).
    EEOC Uniform Guidelines, 29 CFR 1607.4(D) (four-fifths rule).
    """
    if name not in EFFECT_THRESHOLDS:
        raise ValueError(
            f"The 'name' parameter of effect_level must be one of {sorted(EFFECT_THRESHOLDS)}. Got {name!r} instead."
        )
    if value is None or math.isnan(float(value)):
        return 0
    th = EFFECT_THRESHOLDS[name]
    v = float(value)
    if th["direction"] == "below":
        if name != "depletion_ratio" and v > 1:
            v = 1.0 / v
        cuts = (th["large"], th["medium"], th["small"])
        for level, cut in zip((3, 2, 1), cuts):
            if v <= cut:
                return level
        return 0
    if name == "cramers_v":
        v = v * math.sqrt(max(1, dof_star))
    v = abs(v)
    for level, cut in zip((3, 2, 1), (th["large"], th["medium"], th["small"])):
        if v >= cut:
            return level
    return 0


def grade_severity(p_adjusted: float, effect_level: int, *, testable: bool, pattern: bool,
                   alpha: float = 0.05) -> str:
    """Severity of a hypothesis from its adjusted p-value and effect level (§1.4 table).

    ============  =================================================================
    critical      q <= 0.001 and level 3
    high          q <= 0.01 and level >= 2
    medium        q <= alpha and level >= 1
    low           q <= alpha and level 0
    weak-evidence testable, q > alpha (or not adjusted), descriptive pattern present
    insufficient- untestable (p_min > alpha), descriptive pattern present
    data
    info          nothing to report (no pattern)
    ============  =================================================================

    An untestable hypothesis is never graded above ``insufficient-data`` whatever its p.
    """
    if not testable:
        return "insufficient-data" if pattern else "info"
    q = math.nan if p_adjusted is None else float(p_adjusted)
    if not math.isnan(q) and q <= alpha:
        level = int(effect_level)
        for rule in SEVERITY_RULES[:4]:
            q_max = alpha if rule["q_max"] is None else min(rule["q_max"], alpha)
            if q <= q_max and level >= rule["min_level"]:
                return rule["severity"]
    return "weak-evidence" if pattern else "info"
