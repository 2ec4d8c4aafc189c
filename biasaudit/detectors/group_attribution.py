"""Group attribution: does the label rate differ between the groups of an attribute?

For every sensitive attribute (every audited attribute when none is named):

* one association test of attribute x label (Pearson chi-square when Cochran's rule holds,
  otherwise an exact test; ``stats.independence_test``), effect size the bias-corrected
  Cramer's V (Bergsma 2013);
* for every group, its positive-label rate against the rest of the data (2x2 test), with the
  statistical parity difference (SPD), the disparate impact ratio (DI) against a reference
  group (the largest group unless ``reference_group`` names one) and the four-fifths rule
  (EEOC, 29 CFR 1607.4(D)).
"""
from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, Finding

__all__ = ["group_attribution", "group_rate_rows"]

FOUR_FIFTHS = 0.8


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def group_rate_rows(ctx: AuditContext, attribute: str) -> list[dict]:
    """Per-group n, positive count, rate and Wilson interval of ``attribute``."""
    t = ctx.label_table(attribute)
    pos = ctx.label_index(ctx.roles.positive)
    rows = []
    for i, g in enumerate(t.levels[0]):
        n_g = t.counts[i].sum()
        if n_g == 0:
            continue
        k = t.counts[i, pos]
        lo, hi = stats.wilson_ci(k, n_g, ctx.settings.alpha)
        rows.append({"group": g, "n": n_g, "positives": k, "rate": k / n_g, "ci_low": lo, "ci_high": hi})
    return rows


def group_attribution(ctx: AuditContext) -> list[Finding]:
    """Findings on label rates by group; see the module docstring."""
    out: list[Finding] = []
    for attribute in ctx.roles.sensitive:
        out.extend(_attribute_findings(ctx, attribute))
    return out


def _reference_group(ctx: AuditContext, attribute: str, rows: list[dict]) -> dict:
    chosen = (ctx.options.get("reference_group") or {}).get(attribute)
    if chosen is not None:
        for r in rows:
            if r["group"] == str(chosen):
                return r
        raise ValueError(f"Reference group {attribute}={chosen!r} does not occur; groups are "
                         f"{', '.join(r['group'] for r in rows)}.")
    return max(rows, key=lambda r: (r["n"], r["rate"]))


def _attribute_findings(ctx: AuditContext, attribute: str) -> list[Finding]:
    s = ctx.settings
    label, positive = ctx.roles.label, ctx.roles.positive
    t = ctx.label_table(attribute)
    table = t.counts[t.counts.sum(axis=1) > 0]
    table = table[:, table.sum(axis=0) > 0]
    rows = group_rate_rows(ctx, attribute)
    if len(rows) < 2 or table.shape[1] < 2:
        return []
    ref = _reference_group(ctx, attribute, rows)
    # disparate impact over groups large enough for their own test to be able to reach alpha (§4.1)
    total_pos = sum(r["positives"] for r in rows)
    total_n = sum(r["n"] for r in rows)
    col_pos = total_pos
    for r in rows:
        r["p_min"] = stats.fisher_pmin_2x2([r["n"], total_n - r["n"]], [col_pos, total_n - col_pos]) \
            if float(total_n).is_integer() and total_n - r["n"] > 0 else 0.0
    sized = [r for r in rows if r["p_min"] <= s.alpha]
    pool = sized if len(sized) >= 2 else rows
    lo_row = min(pool, key=lambda r: (r["rate"], -r["n"]))
    hi_row = max(pool, key=lambda r: (r["rate"], r["n"]))
    # DI only over groups large enough to be tested on their own; otherwise it is not estimable
    di_all = lo_row["rate"] / hi_row["rate"] if hi_row["rate"] > 0 and len(sized) >= 2 else float("nan")
    evidence = tuple({"group": r["group"], "n": r["n"], f"{positive}": r["positives"],
                      "rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                      "di_vs_reference": (r["rate"] / ref["rate"]) if ref["rate"] > 0 else None}
                     for r in rows)
    res = stats.independence_test(table, alpha=s.alpha, rng=s.random_state, exact_2x2=s.exact_2x2)
    v = stats.cramers_v(table, corrected=True)
    dfs = min(table.shape) - 1
    level = stats.effect_level("cohens_w", v * math.sqrt(dfs)) if math.isfinite(v) else 0
    n_total = int(table.sum()) if float(table.sum()).is_integer() else float(table.sum())
    msg = (f"The {label}={positive} rate differs by {attribute}: from {_pct(lo_row['rate'])} "
           f"({attribute}={lo_row['group']}, n={lo_row['n']:g}) to {_pct(hi_row['rate'])} "
           f"({attribute}={hi_row['group']}, n={hi_row['n']:g}); "
           + (f"disparate impact {di_all:.2f}, " if math.isfinite(di_all) else
              "disparate impact not estimable (fewer than two groups large enough to test), ")
           + f"corrected Cramér's V {v:.2f}, {res.test} p={res.p_value:.3g}")
    out = [Finding(
        id=f"group_attribution:{attribute}:label={label}", bias_type=BiasType.GROUP_ATTRIBUTION.value,
        detector="group_attribution", kind="association", attributes={attribute: None},
        label_value=positive, message=msg, test=res.test, statistic=res.statistic, p_value=res.p_value,
        p_min=res.p_min, testable=res.p_min <= s.alpha, in_family=True, effect_size=v,
        effect_size_name="cramers_v_corrected", effect_level=level, n=n_total,
        pattern=bool(math.isfinite(v) and v >= 0.1) or bool(math.isfinite(di_all) and di_all < FOUR_FIFTHS),
        evidence=evidence,
        suggestion=(f"Check how {attribute} groups were sampled and labelled; if the difference is not "
                    f"expected in the population, re-weight or stratify by {attribute}: "
                    f"biasaudit reweigh DATA -l {label} -s {attribute} -o weights.csv, then "
                    f"biasaudit scan DATA --weight-file weights.csv."),
        details={"table": table.tolist(), "disparate_impact": di_all, "reference_group": ref["group"],
                 "dof": res.dof, "valid": res.valid, "note": res.note})]
    # per group against the rest: one 2x2 each; for two groups the two tests coincide, keep one
    pos = ctx.label_index(positive)
    candidates = rows if len(rows) > 2 else [min(rows, key=lambda r: (r["rate"], -r["n"]))]
    for r in candidates:
        k, n_g = r["positives"], r["n"]
        k_rest, n_rest = total_pos - k, total_n - n_g
        if n_rest <= 0:
            continue
        t22 = np.array([[k, n_g - k], [k_rest, n_rest - k_rest]])
        r_rest = k_rest / n_rest
        spd = r["rate"] - r_rest
        di_rest = _ratio(r["rate"], r_rest)
        if r["group"] == ref["group"]:  # the reference itself: compare with the rest
            di_ref, ref_name = di_rest, "the rest"
        else:
            di_ref, ref_name = _ratio(r["rate"], ref["rate"]), f"{attribute}={ref['group']}"
        res2 = stats.independence_test(t22, alpha=s.alpha, rng=s.random_state, exact_2x2=s.exact_2x2)
        lvl = max(stats.effect_level("spd", abs(spd)),
                  stats.effect_level("disparate_impact", min(di_rest, 1 / di_rest) if di_rest > 0 else 0.0)
                  if math.isfinite(di_rest) else 0)
        flag = " (below the four-fifths rule)" if math.isfinite(di_ref) and di_ref < FOUR_FIFTHS else ""
        msg = (f"{label}={positive} rate is {_pct(r['rate'])} for {attribute}={r['group']} vs "
               f"{_pct(r_rest)} otherwise (SPD {spd:+.2f}, DI vs {ref_name} "
               f"{di_ref:.2f}{flag}; {res2.test} p={res2.p_value:.3g})")
        out.append(Finding(
            id=f"group_attribution:{attribute}={r['group']}:label={positive}",
            bias_type=BiasType.GROUP_ATTRIBUTION.value, detector="group_attribution", kind="group_rate",
            attributes={attribute: r["group"]}, label_value=positive, message=msg, test=res2.test,
            statistic=res2.statistic, p_value=res2.p_value, p_min=res2.p_min, testable=res2.p_min <= s.alpha,
            in_family=True, effect_size=spd, effect_size_name="statistical_parity_difference",
            effect_level=lvl, ci_low=r["ci_low"], ci_high=r["ci_high"], n=n_g, observed=k,
            expected=n_g * total_pos / total_n, pattern=lvl >= 1,
            evidence=({"group": r["group"], "n": n_g, positive: k, "rate": r["rate"]},
                      {"group": "rest", "n": n_rest, positive: k_rest, "rate": r_rest}),
            suggestion=(f"Collect or re-weight {attribute}={r['group']} examples (biasaudit reweigh DATA -l {label} "
                        f"-s {attribute} -o weights.csv), and check whether the label was assigned differently "
                        f"for this group."),
            details={"table2x2": t22.tolist(), "alternative": "two-sided", "disparate_impact": di_ref,
                     "disparate_impact_vs_rest": di_rest, "reference_group": ref["group"],
                     "four_fifths": bool(di_ref < FOUR_FIFTHS) if math.isfinite(di_ref) else None}))
    return out


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")
