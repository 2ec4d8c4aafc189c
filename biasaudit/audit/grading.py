"""Grading: adjust each family's p-values once, grade severity, word the verdict, sort (STATISTICS.md §1.3-1.5)."""
from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..findings import Finding
from ..settings import Settings, severity_rank

__all__ = ["grade", "FRAGILITY_MAX_N"]

#: Largest table (rows) for which the fragility index of an established finding is searched.
FRAGILITY_MAX_N = 5000


def grade(findings: list[Finding], settings: Settings) -> tuple[list[Finding], int, int]:
    """Adjust every family p-value once, grade severity, word the verdict, and sort.

    Hypotheses whose smallest attainable p-value exceeds alpha (Tarone 1990) are screened out of
    the family and graded ``insufficient-data`` when the data show the pattern.
    """
    alpha = settings.alpha
    family = [i for i, f in enumerate(findings)
              if f.in_family and f.testable and f.p_value is not None and math.isfinite(f.p_value)]
    n_in_family = sum(1 for f in findings if f.in_family)
    q = stats.adjust_pvalues(np.array([findings[i].p_value for i in family]), settings.correction) \
        if family else np.array([])
    q_of = dict(zip(family, q))
    out = []
    for i, f in enumerate(findings):
        p_adj = float(q_of[i]) if i in q_of else None
        if f.in_family:
            sev = stats.grade_severity(p_adj if p_adj is not None else 1.0, f.effect_level,
                                       testable=i in q_of, pattern=f.pattern, alpha=alpha)
        else:
            sev = f.severity if f.severity != "info" else "info"
        g = f.evolve(p_adjusted=p_adj, severity=sev)
        g = _add_fragility(g, alpha)
        g = g.evolve(message=_verdict(g, alpha))
        out.append(g)
    present = {f.id for f in out}
    out = [f if f.explained_by is None or f.explained_by in present else f.evolve(explained_by=None)
           for f in out]
    out.sort(key=_sort_key)
    return out, n_in_family, len(family)


def _sort_key(f: Finding):
    p = f.p_adjusted if f.p_adjusted is not None else (f.p_value if f.p_value is not None else 1.0)
    return (severity_rank(f.severity), f.explained_by is not None, -f.effect_level, p,
            -abs(f.effect_size or 0.0), f.id)


def _add_fragility(f: Finding, alpha: float) -> Finding:
    t22 = f.details.get("table2x2") if f.details else None
    if t22 is None or f.fragility is not None:
        return f
    t = np.asarray(t22, dtype=int) if np.allclose(t22, np.round(t22)) else None
    if t is None:
        return f
    alt = f.details.get("alternative", "two-sided")
    # fragility matters for borderline findings; for overwhelming ones on large tables it is large
    # by construction and its search is costly, so it is left out there
    if f.established and (t.sum() > FRAGILITY_MAX_N or (f.p_value is not None and f.p_value < 1e-8)):
        return f
    if f.established:
        fi = stats.fragility_flip(t, alpha=alpha, alternative=alt)
        if fi is None:
            return f
        n = int(t.sum())
        return f.evolve(fragility={"kind": "flip", "value": fi, "quotient": fi / n if n else None,
                                   "fragile": bool(fi <= 3 or (n and fi / n <= 0.01))})
    if (f.severity in ("weak-evidence", "insufficient-data") and f.pattern and f.rows_needed is None
            and not (f.p_value is not None and f.p_value <= alpha)):
        needed = stats.rows_needed(t, lambda x: stats.independence_test(x, alpha=alpha) if alt == "two-sided"
                                   else _depletion_result(x), alpha=alpha)
        return f.evolve(rows_needed=needed)
    return f


class _P:
    def __init__(self, p):
        self.p_value = p


def _depletion_result(t: np.ndarray) -> _P:
    # t = [[obs, s-obs], [n_L-obs, rest]]: cell x (label L, other)
    obs, s = t[0, 0], t[0].sum()
    n_l, n = t[:, 0].sum(), t.sum()
    return _P(stats.depletion_test(obs, s, n_l, n)[0])


def _verdict(f: Finding, alpha: float) -> str:
    base = f.message.rstrip(". ")
    if f.severity in ("critical", "high", "medium", "low"):
        tail = ("statistically supported" + (f" (q={f.p_adjusted:.3g})" if f.p_adjusted is not None else ""))
        if f.fragility and f.fragility.get("fragile"):
            tail += f"; fragile: {f.fragility['value']} relabelled row(s) would undo it"
    elif f.severity == "weak-evidence":
        tail = ("weak evidence: pattern observed, not statistically supported after correction"
                + (f" (q={f.p_adjusted:.3g})" if f.p_adjusted is not None else ""))
    elif f.severity == "insufficient-data":
        pmin = f" (smallest attainable p = {f.p_min:.3g})" if f.p_min is not None else ""
        tail = f"n too small to test: even a perfect pattern here could not reach p <= {alpha:g}{pmin}"
    else:
        return base + "."
    if f.rows_needed:
        tail += f"; about {f.rows_needed:,} rows with the same proportions would establish it"
    return f"{base} — {tail}."

