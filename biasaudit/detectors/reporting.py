"""Reporting bias: missingness that differs by group, and duplicate rows (STATISTICS.md §2.5-2.6).

**Missingness.** For every column c with missing values (any column of the data except ids, the
weight and the label) and every audited attribute or the label g (never c itself; columns
derived from a multi-valued attribute are represented by their parent): the table
g x 1[c missing], tested by §1.1 (``stats.independence_test``).
Effects: the range of missing rates across groups, the disparate impact of the *observed* rates
(min / max of 1 - missing rate), and the bias-corrected Cramér's V (graded on Cohen's w scale).
Every table is read from the count store: the engine counts a hidden indicator column
``__missing__:<c>`` (level 0 missing, 1 present) chunk by chunk, with the tables g x indicator and
s x g x indicator declared by :func:`tables`, so the tests are exact at any size.

*Folding.* When c's missingness depends on several attributes, the one with the smallest p-value
(then the largest V) is taken as the explanation; every other g is re-tested stratified on it
and marked ``explained_by`` it when the stratified p-value exceeds alpha.  The stratified test is
the Cochran-Mantel-Haenszel test (exact conditional test when the Mantel-Fleiss criterion
fails; ``stats.cmh_test``) for a two-level g, and for a g with R > 2 levels the generalised CMH
statistic for R x 2 x K tables (:func:`biasaudit.stats.generalized_cmh`, Landis, Heyman & Koch 1978), which
reduces to the CMH statistic when R = 2.

**Duplicates** (:mod:`biasaudit.detectors._duplicates`): identical rows over every column except
ids and the weight, counted over every row by hashing whole rows.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from .. import stats
from ..engine.context import AuditContext
from ..engine.resolver import MISSING_PREFIX
from ..findings import BiasType, DetectorResult, Finding
from ..stats import generalized_cmh
from ._duplicates import duplicate_baseline, duplicate_findings

__all__ = ["reporting", "tables", "missingness_findings", "duplicate_findings", "generalized_cmh",
           "duplicate_baseline"]


def _groups(roles) -> list:
    """The label and every non-derived attribute: what a column's missingness is tested against."""
    return [roles.label] + [g for g in roles.attributes if g not in roles.derived]


def tables(roles, levels, n, settings) -> list:
    """g x 1[c missing] and, for folding, s x g x 1[c missing] for every column c with missing values."""
    groups = _groups(roles)
    out = []
    for ind in levels:
        if not ind.startswith(MISSING_PREFIX):
            continue
        column = ind[len(MISSING_PREFIX):]
        gs = [g for g in groups if g != column and roles.parent(g) != column]
        out += [(g, ind) for g in gs]
        out += [(a, b, ind) for a, b in combinations(gs, 2)]
    return out


def reporting(ctx: AuditContext) -> DetectorResult:
    """Missingness and duplicate findings, plus a small section for the report."""
    miss, miss_section = missingness_findings(ctx)
    dups, dup_section = duplicate_findings(ctx)
    text = []
    if miss_section:
        text.append("Missing values: " + "; ".join(f"{r['column']} {r['n_missing']:g} ({100 * r['share']:.1f}%)"
                                                   for r in miss_section))
    return DetectorResult(miss + dups, {"missing": miss_section, "duplicates": dup_section, "text": text})


# ----------------------------------------------------------------------------- missingness
def _related(ctx: AuditContext, column: str, g: str) -> bool:
    """True when g is the column itself or computed from it (never tested against its own missingness)."""
    roles = ctx.roles
    return g == column or roles.parent(g) == column


def missingness_findings(ctx: AuditContext) -> tuple[list[Finding], list]:
    """One finding per (column with missing values, attribute or label); see the module docstring."""
    roles, table = ctx.roles, ctx.table
    skip = set(roles.ids) | {roles.label} | ({roles.weight} if roles.weight else set())
    weighted = roles.weight is not None
    out: list[Finding] = []
    section = []
    for column in ctx.raw.columns:
        ind = MISSING_PREFIX + str(column)
        if column in skip or not table.has(ind):
            continue
        n_miss = table.count(ind).counts[0]
        n_miss = float(n_miss) if weighted else int(n_miss)
        if n_miss == 0:
            continue
        section.append({"column": str(column), "n_missing": n_miss, "share": n_miss / table.n})
        if n_miss == table.n:
            continue
        found = []
        for g in _groups(roles):
            if _related(ctx, column, g):
                continue
            t = table.count(g, ind).counts
            f = _missing_finding(ctx, column, g, t)
            if f is not None:
                found.append((f, t))
        out.extend(_fold(ctx, ind, found))
    return out, section


def _missing_finding(ctx: AuditContext, column: str, g: str, t: np.ndarray) -> Finding | None:
    alpha = ctx.settings.alpha
    levels = ctx.table.levels[g]
    keep = t.sum(axis=1) > 0
    if keep.sum() < 2 or not np.allclose(t, np.round(t)):
        return None
    t = np.round(t[keep]).astype(np.int64)
    names = [l for l, k in zip(levels, keep) if k]
    n_g = t.sum(axis=1)
    rates = t[:, 0] / n_g
    named = pd.DataFrame(t, index=[f"{g}={x}" for x in names], columns=["missing", "present"])
    res = stats.independence_test(named, alpha=alpha, rng=ctx.rng(31), exact_2x2=ctx.settings.exact_2x2)
    v = stats.cramers_v(t, corrected=True)
    lo, hi = int(np.argmin(rates)), int(np.argmax(rates))
    spread = float(rates[hi] - rates[lo])
    observed = 1 - rates
    di = float(observed.min() / observed.max()) if observed.max() > 0 else math.nan
    level = stats.effect_level("cramers_v", v, dof_star=1) if math.isfinite(v) else 0
    pattern = bool((math.isfinite(v) and v >= 0.1) or stats.effect_level("spd", spread) >= 1)
    what = f"the label {g}" if g == ctx.roles.label else g
    msg = (f"{column} is missing more often for some values of {what}: {100 * rates[hi]:.1f}% for {g}={names[hi]} "
           f"({t[hi, 0]} of {n_g[hi]}) vs {100 * rates[lo]:.1f}% for {g}={names[lo]} ({t[lo, 0]} of {n_g[lo]}); "
           f"corrected Cramér's V {v:.2f}; {res.test} p={res.p_value:.3g}")
    evidence = tuple({"group": names[i], "n": int(n_g[i]), "missing": int(t[i, 0]), "rate": float(rates[i])}
                     for i in range(len(names)))
    details = {"column": str(column), "table": t.tolist(), "levels": names, "missing_rate_range": spread,
               "disparate_impact_observed": di,
               "cramers_v_corrected": v, "dof": res.dof, "valid": res.valid, "note": res.note}
    if t.shape[0] == 2:
        details.update({"table2x2": t.tolist(), "alternative": "two-sided"})
    return Finding(
        id=f"reporting:missing:{column}~{g}", bias_type=BiasType.REPORTING.value, detector="reporting",
        kind="missingness", attributes={g: None}, message=msg, test=res.test, statistic=res.statistic,
        p_value=res.p_value, p_min=res.p_min, testable=res.p_min <= alpha, in_family=True, effect_size=v,
        effect_size_name="cramers_v_corrected", effect_level=level, n=int(t.sum()), observed=float(t[:, 0].sum()),
        pattern=pattern, evidence=evidence,
        suggestion=(f"Find out why {column} is recorded less often for {g}={names[hi]}; impute it conditional on "
                    f"{g} (or model the missingness) instead of dropping incomplete rows, which would under-sample "
                    f"that group."),
        details=details)


def _fold(ctx: AuditContext, ind: str, found: list) -> list[Finding]:
    """Mark the consequences of the strongest association ``explained_by`` it (stratified test p > alpha)."""
    if len(found) < 2:
        return [f for f, _ in found]
    alpha = ctx.settings.alpha
    order = sorted(range(len(found)), key=lambda i: (found[i][0].p_value, -(found[i][0].effect_size or 0.0),
                                                     found[i][0].id))
    primary = found[order[0]][0]
    if primary.p_value > alpha:
        return [f for f, _ in found]
    s = next(iter(primary.attributes))
    out = []
    for f, _ in found:
        if f is primary:
            out.append(f)
            continue
        g = next(iter(f.attributes))
        cube = ctx.table.count(s, g, ind).counts  # stratum x level of g x (missing, present)
        cube = np.round(cube[:, cube.sum(axis=(0, 2)) > 0, :]).astype(np.int64)
        if cube.shape[1] == 2:
            cmh = stats.cmh_test(list(cube))
            p_cond, test = cmh.p_value, cmh.test
        else:
            _, _, p_cond = generalized_cmh(list(cube))
            test = "generalised Cochran-Mantel-Haenszel"
        details = {**f.details, "stratified_by": s, "stratified_test": test, "stratified_p": p_cond}
        if p_cond > alpha:
            msg = f"{f.message.rstrip('.')}; not after stratifying by {s} ({test} p={p_cond:.3g})"
            f = f.evolve(explained_by=primary.id, message=msg, details=details)
        else:
            f = f.evolve(details=details)
        out.append(f)
    return out
