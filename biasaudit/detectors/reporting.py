"""Reporting bias: missingness that differs by group, and duplicate rows (STATISTICS.md §2.5-2.6).

**Missingness.** For every column c with missing values (any column of the data except ids, the
weight and the label) and every audited attribute or the label g (never c itself; columns
derived from a multi-valued attribute are represented by their parent): the table
g x 1[c missing], tested by §1.1 (``stats.independence_test``).
Effects: the range of missing rates across groups, the disparate impact of the *observed* rates
(min / max of 1 - missing rate), and the bias-corrected Cramér's V (graded on Cohen's w scale).
Counts come from one ``np.bincount`` per pair on the coded table.

*Folding.* When c's missingness depends on several attributes, the one with the smallest p-value
(then the largest V) is taken as the explanation; every other g is re-tested stratified on it
and marked ``explained_by`` it when the stratified p-value exceeds alpha.  The stratified test is
the Cochran-Mantel-Haenszel test (exact conditional test when the Mantel-Fleiss criterion
fails; ``stats.cmh_test``) for a two-level g, and for a g with R > 2 levels the generalised CMH
statistic for R x 2 x K tables (:func:`generalized_cmh`, Landis, Heyman & Koch 1978), which
reduces to the CMH statistic when R = 2.

**Duplicates.** Exact duplicate rows over every column except ids (missing values compare
equal): the groups, the redundant copies (n - n_distinct) and the coincident pairs Σ C(m_g, 2).
Chance baseline: with π_c the product of the column marginals, the expected number of coincident
pairs of n independent rows is E = C(n, 2) Σ_c π_c² = C(n, 2) Π_j Σ_v p_jv², and
P(pairs >= obs) is read from Poisson(E).  The rows are called *duplicate publication* only when a
high-entropy column takes part (free text or a hash: more than ``max_levels`` distinct values; or
a non-integer number with more than 10 distinct values) or the Poisson p <= alpha; otherwise the
finding says identical feature vectors are expected in a space of K cells.  Note that dependent
columns also raise the number of coincidences above the independence baseline, so without a
high-entropy column a small Poisson p is worded as "more identical rows than independent columns
predict", not as proof of copying.  The finding also shows how the duplicates shift group shares.
Duplicate findings are observations outside the test family (severity ``info``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, Finding
from ..engine.roles import _as_text

__all__ = ["reporting", "missingness_findings", "duplicate_findings", "generalized_cmh", "duplicate_baseline"]

_MAX_GROUPS_SHOWN = 20


def reporting(ctx: AuditContext) -> tuple[list[Finding], dict]:
    """Missingness and duplicate findings, plus a small section for the report."""
    miss, miss_section = missingness_findings(ctx)
    dups, dup_section = duplicate_findings(ctx)
    text = []
    if miss_section:
        text.append("Missing values: " + "; ".join(f"{r['column']} {r['n_missing']:g} ({100 * r['share']:.1f}%)"
                                                   for r in miss_section))
    return miss + dups, {"missing": miss_section, "duplicates": dup_section, "text": text}


# ----------------------------------------------------------------------------- missingness
def _kept_rows(ctx: AuditContext) -> np.ndarray:
    return _as_text(ctx.raw[ctx.roles.label]).notna().to_numpy()


def generalized_cmh(tables) -> tuple[float, int, float]:
    r"""Generalised Cochran-Mantel-Haenszel test of R x 2 tables across K strata.

    With :math:`x_k` the first-column counts of stratum k (length R), row totals :math:`r_k`,
    first-column total :math:`m_k` and :math:`N_k` rows,

    .. math::
        E_k = r_k m_k / N_k, \qquad
        V_k = \frac{m_k (N_k - m_k)}{N_k^2 (N_k - 1)} \bigl(N_k\,\mathrm{diag}(r_k) - r_k r_k^\top\bigr),

    .. math:: Q = (\textstyle\sum_k x_k - E_k)^\top (\sum_k V_k)^{-} (\sum_k x_k - E_k)
              \sim \chi^2_{\mathrm{rank}(\sum V_k)}

    (generalised inverse; strata with one row or a constant column carry no information).
    For R = 2 it equals the CMH statistic without continuity correction.

    Returns
    -------
    statistic, dof, p_value
        ``(0.0, 0, 1.0)`` when no stratum is informative.

    References
    ----------
    Landis, J. R., Heyman, E. R. & Koch, G. G. (1978). Average partial association in three-way
    contingency tables. International Statistical Review 46, 237-254.
    """
    d, v = None, None
    for t in tables:
        t = np.asarray(t, dtype=float)
        n = t.sum()
        rows = t.sum(axis=1)
        m = t[:, 0].sum()
        if n < 2 or m == 0 or m == n or np.count_nonzero(rows) < 2:
            continue
        e = rows * m / n
        vk = m * (n - m) / (n * n * (n - 1)) * (n * np.diag(rows) - np.outer(rows, rows))
        d = t[:, 0] - e if d is None else d + t[:, 0] - e
        v = vk if v is None else v + vk
    if d is None:
        return 0.0, 0, 1.0
    dof = int(np.linalg.matrix_rank(v, tol=1e-9 * max(1.0, float(np.abs(v).max()))))
    if dof == 0:
        return 0.0, 0, 1.0
    q = float(d @ np.linalg.pinv(v, rcond=1e-10) @ d)
    return q, dof, float(sps.chi2.sf(q, dof))


def _related(ctx: AuditContext, column: str, g: str) -> bool:
    """True when g is the column itself or computed from it (never tested against its own missingness)."""
    roles = ctx.roles
    return g == column or roles.parent(g) == column


def _miss_table(codes: np.ndarray, k: int, miss: np.ndarray, weights) -> np.ndarray:
    """k x 2 counts: column 0 missing, column 1 present."""
    return np.bincount(codes.astype(np.int64) * 2 + (~miss).astype(np.int64), weights=weights,
                       minlength=2 * k).reshape(k, 2)


def missingness_findings(ctx: AuditContext) -> tuple[list[Finding], list]:
    """One finding per (column with missing values, attribute or label); see the module docstring."""
    roles, table, alpha = ctx.roles, ctx.table, ctx.settings.alpha
    keep = _kept_rows(ctx)
    if keep.sum() != table.n_rows:
        return [], []
    skip = set(roles.ids) | {roles.label} | ({roles.weight} if roles.weight else set())
    groups = [roles.label] + [g for g in roles.attributes if g not in roles.derived]
    weights = table.weights
    out: list[Finding] = []
    section = []
    for column in ctx.raw.columns:
        if column in skip:
            continue
        miss = _as_text(ctx.raw[column][keep]).isna().to_numpy()
        n_miss = float(weights[miss].sum()) if weights is not None else int(miss.sum())
        if n_miss == 0:
            continue
        section.append({"column": str(column), "n_missing": n_miss, "share": n_miss / table.n})
        if n_miss == table.n:
            continue
        found = []
        for g in groups:
            if _related(ctx, column, g):
                continue
            t = _miss_table(table.codes[g], len(table.levels[g]), miss, weights)
            f = _missing_finding(ctx, column, g, t)
            if f is not None:
                found.append((f, t))
        out.extend(_fold(ctx, column, miss, found))
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


def _fold(ctx: AuditContext, column: str, miss: np.ndarray, found: list) -> list[Finding]:
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
    s_codes, k_s = ctx.table.codes[s], len(ctx.table.levels[s])
    weights = ctx.table.weights
    out = []
    for f, _ in found:
        if f is primary:
            out.append(f)
            continue
        g = next(iter(f.attributes))
        g_codes, k_g = ctx.table.codes[g], len(ctx.table.levels[g])
        # one bincount: stratum x level of g x missing
        combined = (s_codes.astype(np.int64) * k_g + g_codes) * 2 + (~miss).astype(np.int64)
        cube = np.bincount(combined, weights=weights, minlength=k_s * k_g * 2).reshape(k_s, k_g, 2)
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


# ----------------------------------------------------------------------------- duplicates
def _high_entropy(s: pd.Series, max_levels: int) -> bool:
    n_unique = int(s.nunique(dropna=True))
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        x = s.dropna().astype(float)
        return bool(n_unique > 10 and not x.eq(x.round()).all()) or n_unique > max_levels
    return n_unique > max_levels


def duplicate_baseline(frame: pd.DataFrame, weights: np.ndarray | None = None) -> dict:
    r"""Chance baseline of coincident rows under independent columns.

    .. math:: E[\text{pairs}] = \binom{n}{2} \prod_j \sum_v p_{jv}^2, \qquad
              E[\text{distinct}] = \sum_c 1 - (1 - \pi_c)^n \ (\text{when } K \le 10^6)

    with :math:`p_{jv}` the share of value v in column j (missing is a value; frequency
    ``weights`` count each row that many times) and :math:`\pi_c = \prod_j p_{j c_j}` the share of
    cell c of the K-cell product space.
    """
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)
    n_total = float(w.sum())
    n = int(round(n_total))
    margins = []
    for c in frame.columns:
        codes, uniques = pd.factorize(frame[c], use_na_sentinel=False)
        margins.append(np.bincount(codes, weights=w, minlength=len(uniques)) / n_total)
    margins = [m[m > 0] for m in margins]
    collision = math.prod(float(np.sum(m * m)) for m in margins)
    k_cells = math.prod(len(m) for m in margins)
    expected_pairs = math.comb(n, 2) * collision
    expected_distinct = None
    if k_cells <= 1_000_000:
        pi = np.ones(1)
        for m in margins:
            pi = np.outer(pi, m).ravel()
        expected_distinct = float(np.sum(-np.expm1(n * np.log1p(-np.minimum(pi, 1 - 1e-12)))))
    return {"expected_pairs": expected_pairs, "cells": k_cells, "expected_distinct": expected_distinct}


def duplicate_findings(ctx: AuditContext) -> tuple[list[Finding], dict]:
    """One duplicates finding (or none when every row is distinct); see the module docstring.

    With frequency weights each row stands for ``weight`` identical records, so an aggregated
    table and its expanded rows give the same finding.
    """
    roles, alpha = ctx.roles, ctx.settings.alpha
    raw = ctx.raw
    cols = [c for c in raw.columns if c not in roles.ids and c != roles.weight]
    w = np.ones(len(raw)) if roles.weight is None else \
        pd.to_numeric(raw[roles.weight], errors="coerce").fillna(0).to_numpy(dtype=float)
    from ..engine.weights import needs_design_weights
    if needs_design_weights(w):  # fractional, or beyond exact float counts (1e308)
        return [], {"note": "non-integer weights: duplicate rows are not counted"}
    w = np.round(w).astype(np.int64)
    present = w > 0
    if present.sum() < 1 or not cols:
        return [], {}
    data = raw.loc[present, cols].reset_index(drop=True)
    w = w[present]
    group = data.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
    sizes = np.bincount(group, weights=w).astype(np.int64)
    n = int(w.sum())
    n_distinct = int(np.count_nonzero(sizes))
    redundant = n - n_distinct
    pairs = int(sum(math.comb(int(m), 2) for m in sizes if m > 1))
    if redundant == 0:
        return [], {"n_rows": n, "n_distinct": n_distinct, "redundant": 0, "pairs": 0}
    base = duplicate_baseline(data, w)
    e_pairs = base["expected_pairs"]
    p_value = float(sps.poisson.sf(pairs - 1, e_pairs)) if e_pairs > 0 else 0.0
    high = [str(c) for c in cols if _high_entropy(data[c], ctx.settings.max_levels)]
    published = bool(high) or p_value <= alpha
    dup_groups = np.flatnonzero(sizes > 1)
    ids_all = raw[roles.ids[0]].astype(str).to_numpy() if roles.ids else \
        np.array([f"row {i + 1}" for i in range(len(raw))])
    ids = ids_all[present]
    evidence = []
    for gi in sorted(dup_groups, key=lambda g: (-sizes[g], g))[:_MAX_GROUPS_SHOWN]:
        rows = np.flatnonzero(group == gi)
        evidence.append({"copies": int(sizes[gi]), "rows": [str(x) for x in ids[rows][:50]],
                         **{str(c): _plain(data[c].iloc[rows[0]]) for c in cols if str(c) not in high}})
    skew = _skew(ctx, raw, cols)
    share = redundant / n
    skew_text = ""
    if skew:
        top = skew[0]
        delta = abs(top["share"] - top["share_deduplicated"])
        skew_text = (f"; removing them changes no group's share by more than {100 * delta:.1f} points" if delta < 0.01
                     else f"; removing them moves {top['attribute']}={top['group']} from {100 * top['share']:.1f}% "
                          f"to {100 * top['share_deduplicated']:.1f}%")
    n_groups = int(len(dup_groups))
    if published:
        why = (f"they repeat high-entropy column(s) {', '.join(high[:3])}" if high else
               f"more identical rows than independent columns predict (expected {e_pairs:.3g} pairs, Poisson "
               f"p={p_value:.3g}; strongly dependent columns could also explain this)")
        msg = (f"{redundant} row(s) ({100 * share:.1f}%) are exact copies of other rows ({n_groups} group(s), "
               f"{pairs} coincident pair(s)): duplicate publication, as {why}{skew_text}")
        sugg = ("Drop the exact duplicates (keep one row per group) before training and evaluation, and make sure "
                "no copy ends up on both sides of a train/test split.")
    else:
        msg = (f"{redundant} row(s) repeat the values of another row ({n_groups} group(s), {pairs} coincident "
               f"pair(s)), but identical feature vectors are expected in a space of {base['cells']:,} cells "
               f"(expected {e_pairs:.3g} pairs if the columns were independent; Poisson P(>= {pairs}) = "
               f"{p_value:.3g}); this is not evidence of duplication")
        sugg = "No action needed; keep identical rows unless they are known to be copies of one record."
    details = {"n_rows": n, "n_distinct": n_distinct, "redundant": redundant, "groups": n_groups,
               "pairs": pairs, "expected_pairs": e_pairs, "expected_distinct": base["expected_distinct"],
               "cells": base["cells"], "poisson_p": p_value, "high_entropy_columns": high,
               "duplicate_publication": published, "columns": [str(c) for c in cols], "skew": skew}
    finding = Finding(
        id="reporting:duplicates", bias_type=BiasType.REPORTING.value, detector="reporting", kind="duplicates",
        attributes={}, message=msg, test="Poisson chance baseline", statistic=float(pairs), p_value=p_value,
        in_family=False, testable=False, n=n, observed=float(pairs), expected=e_pairs, pattern=published,
        severity="info", evidence=tuple(evidence), suggestion=sugg, details=details)
    return [finding], {k: v for k, v in details.items() if k != "skew"}


def _plain(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


def _skew(ctx: AuditContext, raw: pd.DataFrame, cols: list) -> list[dict]:
    """Group shares with and without the redundant copies (audited rows), largest change first."""
    keep = _kept_rows(ctx)
    data = raw.loc[keep, cols].reset_index(drop=True)
    group = data.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
    w = ctx.table.weights if ctx.table.weights is not None else np.ones(len(group))
    sizes = np.bincount(group, weights=w)
    _, first = np.unique(group, return_index=True)
    extra = np.maximum(sizes[group[first]] - 1, 0)  # redundant copies of each group, on its first row
    if not extra.any():
        return []
    rows = []
    roles = ctx.roles
    for a in [roles.label] + [c for c in roles.attributes if c not in roles.derived]:
        codes, levels = ctx.table.codes[a], ctx.table.levels[a]
        k = len(levels)
        all_c = np.bincount(codes, weights=w, minlength=k)
        dup_c = np.bincount(codes[first], weights=extra, minlength=k)
        n_all, n_dup = all_c.sum(), dup_c.sum()
        n_dedup = n_all - n_dup
        for i, g in enumerate(levels):
            if all_c[i] == 0:
                continue
            rows.append({"attribute": a, "group": g, "n": float(all_c[i]), "n_redundant": float(dup_c[i]),
                         "share": float(all_c[i] / n_all),
                         "share_among_redundant": float(dup_c[i] / n_dup),
                         "share_deduplicated": float((all_c[i] - dup_c[i]) / n_dedup) if n_dedup else math.nan})
    rows.sort(key=lambda r: (-abs(r["share"] - r["share_deduplicated"]), r["attribute"], r["group"]))
    return rows
