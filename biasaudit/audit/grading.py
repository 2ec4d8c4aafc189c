"""Grading: correct each family once per hypothesis, grade severity, word the verdict, sort
(STATISTICS.md §1.3-1.5, v0.2).

Every in-family finding is a view of one hypothesis (:func:`~biasaudit.audit.families.hypotheses`).
Each hypothesis enters its family once with the largest of its views' p-values; the family is
adjusted with its own correction (``settings.primary_correction`` for the primary family, Holm by
default; ``settings.correction`` for the exploratory one, Benjamini-Hochberg by default); every view
gets its hypothesis' adjusted p-value and severity.  Planning numbers (rows needed, fragility) use the
threshold the hypothesis faces in its family (:func:`~biasaudit.stats.rejection_thresholds`) and the
finding's own test.
"""
from __future__ import annotations

import re
from functools import partial

import numpy as np

from .. import stats
from ..findings import Finding, format_p
from ..settings import Settings, severity_rank
from .families import EXPLORATORY, PRIMARY, hypotheses

__all__ = ["grade", "sort_key", "FRAGILITY_MAX_N"]

#: Largest table (rows) for which the fragility index of an established finding is searched.
FRAGILITY_MAX_N = 5000


def _family_methods(settings: Settings) -> dict:
    return {PRIMARY: getattr(settings, "primary_correction", "holm"), EXPLORATORY: settings.correction}


def grade(findings: list[Finding], settings: Settings) -> tuple[list[Finding], int, int]:
    """Adjust each hypothesis once within its family, grade severity, word the verdict, and sort.

    Hypotheses whose smallest attainable p-value exceeds alpha (Tarone 1990) are screened out of
    their family and graded ``insufficient-data`` when the data show the pattern.  In-family findings
    without a family are put in the exploratory one.

    Returns
    -------
    findings : list of Finding
        Graded and sorted (:func:`sort_key`: primary family first).
    family_size : int
        Distinct hypotheses in both families (each counted once, however many views it has).
    n_testable : int
        How many of them are testable (in the corrected families).
    """
    alpha = settings.alpha
    findings = [f.evolve(family=EXPLORATORY) if f.in_family and f.family is None else f for f in findings]
    hyps = hypotheses(findings)
    methods = _family_methods(settings)
    graded: dict = {}  # finding index -> (hypothesis, q, threshold)
    for fam, method in methods.items():
        hs = [h for h in hyps if h.family == fam]
        tested = [h for h in hs if h.testable]
        p = np.array([h.p_value for h in tested], dtype=float)
        q = stats.adjust_pvalues(p, method) if tested else np.array([])
        thr = stats.rejection_thresholds(p, method, alpha) if tested else np.array([])
        added = stats.added_threshold(p, method, alpha)
        for h, qi, ti in zip(tested, q, thr):
            for i in h.members:
                graded[i] = (h, float(qi), float(ti))
        for h in hs:
            if not h.testable:
                for i in h.members:
                    graded[i] = (h, None, added)
    planned: dict = {}
    for i, f in enumerate(findings):
        if i not in graded:
            continue
        h, q, thr = graded[i]
        sev = stats.grade_severity(q if q is not None else 1.0, h.effect_level, testable=q is not None,
                                   pattern=h.pattern, alpha=alpha)
        details = dict(f.details or {})
        if len(h.members) > 1:
            details["hypothesis_test"] = {"views": [findings[j].id for j in h.members if j != i],
                                          "p_value": h.p_value, "rule": "largest p of the views"}
        details["family_threshold"] = thr
        planned[i] = _plan(f.evolve(p_adjusted=q, severity=sev, details=details), thr, settings)
    planned = _hypothesis_rows_needed(planned, graded, settings)
    out = []
    for i, f in enumerate(findings):
        if i not in graded:
            sev = f.severity if f.severity != "info" else "info"
            out.append(f.evolve(severity=sev, message=_verdict(f.evolve(severity=sev), alpha, settings)))
            continue
        g = planned[i]
        out.append(g.evolve(message=_verdict(g, alpha, settings, n_views=len(graded[i][0].members))))
    present = {f.id for f in out}
    out = [f if f.explained_by is None or f.explained_by in present else f.evolve(explained_by=None)
           for f in out]
    out.sort(key=sort_key)
    n_testable = sum(1 for h in hyps if h.testable)
    return out, len(hyps), n_testable


def sort_key(f: Finding):
    """Primary family first; then severity, unfolded before folded, effect level, adjusted p, effect, id."""
    p = f.p_adjusted if f.p_adjusted is not None else (f.p_value if f.p_value is not None else 1.0)
    return (f.family != PRIMARY, severity_rank(f.severity), f.explained_by is not None, -f.effect_level, p,
            -abs(f.effect_size or 0.0), f.id)


# ------------------------------------------------------------------ the finding's own test
def _independence_p(t: np.ndarray, settings: Settings) -> float:
    if t.shape == (2, 2) and settings.exact_2x2 == "fisher":
        return stats.independence_p_2x2(t)  # the same test choice, without the bookkeeping
    return stats.independence_test(t, alpha=settings.alpha, rng=settings.random_state,
                                   exact_2x2=settings.exact_2x2).p_value


def _one_sided_p(t: np.ndarray, alternative: str) -> float:
    # t = [[obs, s - obs], [n_L - obs, rest]]: cell x (label L, other); "less": L depleted in the cell
    obs, s = int(t[0, 0]), int(t[0].sum())
    n_l, n = int(t[:, 0].sum()), int(t.sum())
    if alternative == "less":
        return stats.depletion_test(obs, s, n_l, n)[0]
    return stats.depletion_test(s - obs, s, n - n_l, n)[0]  # L enriched = the other label depleted


def _own_test(f: Finding, settings: Settings):
    """The test behind a finding's 2 x 2 or r x c table, as a function of the table; None if unknown.

    Two-sided tables use the scan's test choice (:func:`~biasaudit.stats.independence_test`);
    one-sided cell tests the hypergeometric tail.  A cell tested by intersection-union over its
    parent cells is not reproducible from its own 2 x 2 (unless the detector gives a ``planning``
    spec), so it gets no recomputed planning number.
    """
    alt = f.alternative
    if alt == "two-sided":
        return partial(_independence_p, settings=settings)
    if (f.details or {}).get("p_parents"):
        return None
    return partial(_one_sided_p, alternative=alt)


def _integral(table) -> np.ndarray | None:
    t = np.asarray(table, dtype=float)
    if t.size == 0 or not np.allclose(t, np.round(t)) or (t < 0).any():
        return None
    return np.round(t).astype(int)


def _view_rows_needed(planned: dict, members: list, top: int, thr: float, settings: Settings) -> int | None:
    """Rows the view ``top`` needs at threshold ``thr``; a view without its own table (a cell test)
    reads the table of another view of the same hypothesis, and a Fisher view keeps Fisher's test."""
    f = planned[top]
    table = f.table if f.table is not None else next(
        (planned[j].table for j in members if planned[j].table is not None), None)
    t = _integral(table) if table is not None else None
    if t is None:
        return None
    if (f.test or "").startswith("Fisher") and t.shape == (2, 2):
        alt = f.alternative if f.alternative in ("two-sided", "less", "greater") else "two-sided"
        return stats.rows_needed(t, partial(stats.fisher_exact_p, alternative=alt), alpha=thr)
    forced = _plan(f.evolve(severity="weak-evidence", pattern=True, rows_needed=None, table=table), thr, settings)
    return forced.rows_needed


def _hypothesis_rows_needed(planned: dict, graded: dict, settings: Settings) -> dict:
    """Views of one hypothesis get the rows the *hypothesis* needs: the largest of their own numbers.

    The hypothesis enters its family with the largest of its views' p-values, so it is established
    only when every view's test reaches the threshold; a view whose own (smaller) p already does
    would otherwise read "n rows would settle it" at the n it has.  A view that cannot be planned
    (None) leaves the hypothesis unplanned.
    """
    out = dict(planned)
    groups: dict = {}
    for i in planned:
        groups.setdefault(id(graded[i][0]), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        open_ = [i for i in members if planned[i].rows_needed is not None or
                 (planned[i].severity in ("weak-evidence", "insufficient-data") and planned[i].pattern)]
        if not open_:
            continue
        needs = [planned[i].rows_needed for i in open_]
        top = max(members, key=lambda i: -1.0 if planned[i].p_value is None else planned[i].p_value)
        if top not in open_:  # the view whose p entered the family: planned with its own test too
            needs.append(_view_rows_needed(planned, members, top, graded[top][2], settings))
        need = None if any(v is None for v in needs) else max(needs)
        for i in open_:
            if planned[i].rows_needed != need:
                out[i] = planned[i].evolve(rows_needed=need)
    return out


def _plan(f: Finding, thr: float, settings: Settings) -> Finding:
    """Fragility of an established finding, rows needed for one that is not, at threshold ``thr``."""
    d = f.details or {}
    spec = d.get("planning")
    if spec and spec.get("test") == "depletion_iut":
        counts, test, table = np.asarray(spec["counts"], dtype=int), stats.iut_depletion_p, None
    elif f.table is not None and f.kind != "intersection_association":  # intersections: not planned
        table = _integral(f.table)
        counts, test = table, _own_test(f, settings)
    else:
        counts = table = test = None
    if f.established:
        if (table is None or test is None or table.shape != (2, 2) or f.fragility is not None
                or table.sum() > FRAGILITY_MAX_N or (f.p_value is not None and f.p_value < 1e-8)):
            # fragility matters for borderline findings; for overwhelming ones on large tables it
            # is large by construction and its search is costly, so it is left out there
            return f
        fi = stats.fragility_flip(table, alpha=thr, test=test)
        if fi is None:
            return f
        n = int(table.sum())
        return f.evolve(fragility={"kind": "flip", "value": fi, "quotient": fi / n if n else None,
                                   "fragile": bool(fi <= 3 or (n and fi / n <= 0.01)), "threshold": thr,
                                   "test": f.test})
    if f.severity not in ("weak-evidence", "insufficient-data") or not f.pattern:
        return f
    if counts is not None and test is not None:
        n0 = int(spec["n"]) if spec and "n" in spec else None
        needed = stats.rows_needed(counts, test, alpha=thr, n0=n0)
        return f.evolve(rows_needed=needed, details={**d, "rows_needed_threshold": thr})
    if f.rows_needed is not None:  # the detector's number, at the unadjusted alpha: a lower bound
        return f.evolve(details={**d, "rows_needed_lower_bound": True})
    return f


# ------------------------------------------------------------------ wording
def _adjusted_name(f: Finding, settings: Settings) -> str:
    method = _family_methods(settings).get(f.family or EXPLORATORY, settings.correction)
    return "Holm-adjusted p" if method == "holm" else "q"


_ZERO_P = re.compile(r"\b(p|q|p_value|p_min)=(?:0(?![.\deE])|\d(?:\.\d+)?e-3(?:0[1-9]|[1-9]\d)\b)")


def _no_zero_p(text: str) -> str:
    """A detector's sentence with an underflowed "p=0" printed as "p < 1e-300" (see ``format_p``)."""
    return _ZERO_P.sub(r"\1 < 1e-300", text)


def _verdict(f: Finding, alpha: float, settings: Settings, n_views: int = 1) -> str:
    base = _no_zero_p(f.message.rstrip(". "))
    shown = format_p(f.p_adjusted)
    adj = (f" ({_adjusted_name(f, settings)}{' ' if shown.startswith('<') else '='}{shown}"
           + (", primary family" if f.family == PRIMARY else "") + ")") if f.p_adjusted is not None else ""
    if f.severity in ("critical", "high", "medium", "low"):
        tail = "statistically supported" + adj
        if f.fragility and f.fragility.get("fragile"):
            tail += f"; fragile: {f.fragility['value']} relabelled row(s) would undo it"
    elif f.severity == "weak-evidence":
        tail = "weak evidence: pattern observed, not statistically supported after correction" + adj
    elif f.severity == "insufficient-data":
        pmin = f" (smallest attainable p = {format_p(f.p_min)})" if f.p_min is not None else ""
        tail = f"n too small to test: even a perfect pattern here could not reach p <= {alpha:g}{pmin}"
    else:
        return base + "."
    if n_views > 1:
        tail += f"; one test for {n_views} views of the same hypothesis (the largest of their p-values)"
    if f.rows_needed:
        lower = (f.details or {}).get("rows_needed_lower_bound")
        tail += (f"; {'at least' if lower else 'about'} {f.rows_needed:,} rows with the same proportions "
                 f"would {'be needed to ' if lower else ''}establish it"
                 + ("" if lower else " in its family"))
    return f"{base} — {tail}."
