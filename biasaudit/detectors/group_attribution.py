"""Group attribution: does the label rate differ between the groups of an attribute?

For every sensitive attribute (every audited attribute when none is named), and for the
intersections of the named sensitive attributes (pairs; triples when their levels are few:
``MAX_PAIR_CELLS`` / ``MAX_TRIPLE_CELLS``), from one count table (groups x label):

* one association test of groups x label (Pearson chi-square when Cochran's rule holds,
  otherwise an exact test; ``stats.independence_test``), effect size the bias-corrected
  Cramer's V (Bergsma 2013); key ``hypothesis_key("independence", [columns..., label])``, or
  the group's 2x2 key when the table is itself 2 x 2 (one table, one test);
* for every group, its positive-label rate (Wilson interval) against the rest of the data (2x2
  test), with the statistical parity difference (SPD, Newcombe interval), the log odds ratio
  (Woolf interval) and the disparate impact ratio (DI, Katz interval) against a reference group
  (the largest group unless ``reference_group`` names one) and the four-fifths rule (EEOC,
  29 CFR 1607.4(D)).  The effect level is the larger of the |SPD| and |ln OR| levels
  (STATISTICS.md §1.4 v0.2, ``stats.rate_effect_level``): the same table gets the same level
  whichever label value is "positive"; DI and the four-fifths rule are reported only.  Key:
  ``hypothesis_key("2x2", [columns..., label], {column: value, ...})`` (the coverage scan tests the
  same table under the same key); for two groups both 2x2 tables are one table, keyed by the first
  level in sorted order, and only one finding is made.  With more than two label values the
  positive value is part of the cell (positive against the other values is its own table).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, DetectorResult, Finding, hypothesis_key

__all__ = ["group_attribution", "group_rate_rows", "named_sensitive", "intersections", "tables", "FOUR_FIFTHS",
           "MAX_PAIR_CELLS", "MAX_TRIPLE_CELLS"]

FOUR_FIFTHS = 0.8
#: Intersections of two named attributes are audited when they have at most this many observed groups.
MAX_PAIR_CELLS = 100
#: Triples of named attributes are audited when they have at most this many observed groups.
MAX_TRIPLE_CELLS = 36


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def group_rate_rows(ctx: AuditContext, attribute: str) -> list[dict]:
    """Per-group n, positive count, rate and Wilson interval of ``attribute``."""
    t = ctx.label_table(attribute)
    return _rate_rows(ctx, [str(g) for g in t.levels[0]], t.counts)


def _rate_rows(ctx: AuditContext, names: list, counts: np.ndarray) -> list[dict]:
    pos = ctx.label_index(ctx.roles.positive)
    rows = []
    for i, g in enumerate(names):
        n_g = counts[i].sum()
        if n_g == 0:
            continue
        k = counts[i, pos]
        lo, hi = stats.wilson_ci(k, n_g, ctx.settings.alpha)
        rows.append({"group": g, "index": i, "n": n_g, "positives": k, "rate": k / n_g, "ci_low": lo, "ci_high": hi})
    return rows


def named_sensitive(roles) -> tuple:
    """The sensitive attributes the user named (empty when every attribute is audited as sensitive)."""
    plain = [a for a in roles.attributes if roles.parent(a) == a]
    return tuple(roles.sensitive) if any(a not in roles.sensitive for a in plain) else ()


def intersections(ctx: AuditContext) -> list[tuple]:
    """Pairs (and triples, when their levels are few) of named sensitive attributes from distinct columns."""
    named = [a for a in named_sensitive(ctx.roles)]
    observed = {a: int((ctx.table.count(a).counts > 0).sum()) for a in named}
    out = []
    for k, cap in ((2, MAX_PAIR_CELLS), (3, MAX_TRIPLE_CELLS)):
        for combo in itertools.combinations(named, k):
            if len({ctx.roles.parent(a) for a in combo}) < k:
                continue
            if math.prod(observed[a] for a in combo) <= cap:
                out.append(combo)
    return out


def tables(roles, levels, n, settings) -> list[frozenset]:
    """Count tables this detector reads beyond every attribute pair with the label: named triples x label.

    ``levels`` maps a column to its level names (the engine's summaries); observed counts are not
    known before counting, so a triple is planned when its level counts allow it (``MAX_TRIPLE_CELLS``).
    """
    named = named_sensitive(roles)
    out = []
    for combo in itertools.combinations(named, 3):
        if len({roles.parent(a) for a in combo}) == 3 and math.prod(len(levels[a]) for a in combo) <= MAX_TRIPLE_CELLS:
            out.append(frozenset((*combo, roles.label)))
    return out


def group_attribution(ctx: AuditContext) -> DetectorResult:
    """Findings on label rates by group and by intersection of named groups; see the module docstring."""
    out: list[Finding] = []
    for attribute in ctx.roles.sensitive:
        t = ctx.label_table(attribute)
        out.extend(_table_findings(ctx, (attribute,), [(str(g),) for g in t.levels[0]], t.counts))
    for combo in intersections(ctx):
        t = ctx.label_table(*combo)
        counts = t.counts.reshape(-1, t.counts.shape[-1])
        cells = [tuple(str(v) for v in c) for c in itertools.product(*t.levels[:-1])]
        out.extend(_table_findings(ctx, combo, cells, counts))
    return DetectorResult(out)


def _reference_group(ctx: AuditContext, columns: tuple, rows: list[dict]) -> dict:
    chosen = (ctx.options.get("reference_group") or {}).get(columns[0]) if len(columns) == 1 else None
    if chosen is not None:
        for r in rows:
            if r["group"] == str(chosen):
                return r
        raise ValueError(f"Reference group {columns[0]}={chosen!r} does not occur; groups are "
                         f"{', '.join(r['group'] for r in rows)}.")
    return max(rows, key=lambda r: (r["n"], r["rate"]))


def _table_findings(ctx: AuditContext, columns: tuple, cells: list, counts: np.ndarray) -> list[Finding]:
    s = ctx.settings
    label, positive = ctx.roles.label, ctx.roles.positive
    single = len(columns) == 1
    names = [c[0] if single else " & ".join(f"{a}={v}" for a, v in zip(columns, c)) for c in cells]
    what = columns[0] if single else " & ".join(columns)
    table = counts[counts.sum(axis=1) > 0]
    table = table[:, table.sum(axis=0) > 0]
    rows = _rate_rows(ctx, names, counts)
    if len(rows) < 2 or table.shape[1] < 2:
        return []
    ref = _reference_group(ctx, columns, rows)
    total_pos = sum(r["positives"] for r in rows)
    total_n = sum(r["n"] for r in rows)
    # disparate impact over groups large enough for their own test to be able to reach alpha (§4.1)
    for r in rows:
        r["p_min"] = stats.fisher_pmin_2x2([r["n"], total_n - r["n"]], [total_pos, total_n - total_pos]) \
            if float(total_n).is_integer() and total_n - r["n"] > 0 else 0.0
    sized = [r for r in rows if r["p_min"] <= s.alpha]
    pool = sized if len(sized) >= 2 else rows
    lo_row = min(pool, key=lambda r: (r["rate"], -r["n"]))
    hi_row = max(pool, key=lambda r: (r["rate"], r["n"]))
    di_all = lo_row["rate"] / hi_row["rate"] if hi_row["rate"] > 0 and len(sized) >= 2 else float("nan")
    evidence = tuple({"group": r["group"], "n": r["n"], f"{positive}": r["positives"],
                      "rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                      "di_vs_reference": (r["rate"] / ref["rate"]) if ref["rate"] > 0 else None}
                     for r in rows)
    multi_label = len(ctx.table.levels[label]) > 2
    two = len(rows) == 2

    def cell_key(r) -> str:
        g = min(rows, key=lambda x: cells[x["index"]]) if two else r   # two groups: one table, first level
        where = dict(zip(columns, cells[g["index"]]))
        if multi_label:
            where[label] = positive
        return hypothesis_key("2x2", [*columns, label], where)

    res = stats.independence_test(table, alpha=s.alpha, rng=s.random_state, exact_2x2=s.exact_2x2)
    v = stats.cramers_v(table, corrected=True)
    dfs = min(table.shape) - 1
    level = stats.effect_level("cohens_w", v * math.sqrt(dfs)) if math.isfinite(v) else 0
    n_total = int(table.sum()) if float(table.sum()).is_integer() else float(table.sum())
    by = f"by {what}" if single else f"across the groups of {what}"
    example = (lambda r: f"{what}={r['group']}") if single else (lambda r: r["group"])
    msg = (f"The {label}={positive} rate differs {by}: from {_pct(lo_row['rate'])} "
           f"({example(lo_row)}, n={lo_row['n']:g}) to {_pct(hi_row['rate'])} "
           f"({example(hi_row)}, n={hi_row['n']:g}); "
           + (f"disparate impact {di_all:.2f}, " if math.isfinite(di_all) else
              "disparate impact not estimable (fewer than two groups large enough to test), ")
           + f"corrected Cramér's V {v:.2f}, {res.test} p={res.p_value:.3g}")
    key = cell_key(rows[0]) if table.shape == (2, 2) else hypothesis_key("independence", [*columns, label])
    reweigh = " ".join(f"-s {a}" for a in columns)
    out = [Finding(
        id=f"group_attribution:{'&'.join(columns)}:label={label}", bias_type=BiasType.GROUP_ATTRIBUTION.value,
        detector="group_attribution", kind="association" if single else "intersection_association",
        attributes={a: None for a in columns}, label_value=positive, message=msg, test=res.test,
        statistic=res.statistic, p_value=res.p_value, p_min=res.p_min, testable=res.p_min <= s.alpha,
        in_family=True, effect_size=v, effect_size_name="cramers_v_corrected", effect_level=level, n=n_total,
        pattern=bool(math.isfinite(v) and v >= 0.1) or bool(math.isfinite(di_all) and di_all < FOUR_FIFTHS),
        evidence=evidence, hypothesis=key,
        suggestion=(f"Check how {what} groups were sampled and labelled; if the difference is not "
                    f"expected in the population, re-weight or stratify by {what}: "
                    f"biasaudit reweigh DATA -l {label} {reweigh} -o weights.csv, then "
                    f"biasaudit scan DATA --weight-file weights.csv."),
        details={"table": table.tolist(), "disparate_impact": di_all, "reference_group": ref["group"],
                 "dof": res.dof, "valid": res.valid, "note": res.note, "columns": list(columns)})]
    # per group against the rest: one 2x2 each; for two groups the two tests coincide, keep one
    candidates = rows if not two else [min(rows, key=lambda r: (r["rate"], -r["n"]))]
    for r in candidates:
        k, n_g = r["positives"], r["n"]
        k_rest, n_rest = total_pos - k, total_n - n_g
        if n_rest <= 0:
            continue
        t22 = np.array([[k, n_g - k], [k_rest, n_rest - k_rest]])
        r_rest = k_rest / n_rest
        spd = r["rate"] - r_rest
        spd_lo, spd_hi = stats.spd_ci(k, n_g, k_rest, n_rest, s.alpha)
        lor, lor_lo, lor_hi = stats.log_odds_ratio(k, n_g, k_rest, n_rest, s.alpha)
        di_rest = _ratio(r["rate"], r_rest)
        if r["group"] == ref["group"]:  # the reference itself: compare with the rest
            di_ref, ref_name = di_rest, "the rest"
            di_lo, di_hi = stats.rate_ratio_ci(k, n_g, k_rest, n_rest, s.alpha)
        else:
            di_ref, ref_name = _ratio(r["rate"], ref["rate"]), (f"{what}={ref['group']}" if single else ref["group"])
            di_lo, di_hi = stats.rate_ratio_ci(k, n_g, ref["positives"], ref["n"], s.alpha)
        res2 = stats.independence_test(t22, alpha=s.alpha, rng=s.random_state, exact_2x2=s.exact_2x2)
        lvl = stats.rate_effect_level(spd, lor)
        flag = " (below the four-fifths rule)" if math.isfinite(di_ref) and di_ref < FOUR_FIFTHS else ""
        who = f"{what}={r['group']}" if single else r["group"]
        msg = (f"{label}={positive} rate is {_pct(r['rate'])} for {who} vs "
               f"{_pct(r_rest)} otherwise (SPD {spd:+.2f} [{spd_lo:+.2f}, {spd_hi:+.2f}], odds ratio "
               f"{math.exp(lor):.2f}, DI vs {ref_name} {di_ref:.2f}{flag}; {res2.test} p={res2.p_value:.3g})")
        where = dict(zip(columns, cells[r["index"]]))
        out.append(Finding(
            id=f"group_attribution:{'&'.join(f'{a}={x}' for a, x in where.items())}:label={positive}",
            bias_type=BiasType.GROUP_ATTRIBUTION.value, detector="group_attribution",
            kind="group_rate" if single else "intersection_rate",
            attributes=where, label_value=positive, message=msg, test=res2.test,
            statistic=res2.statistic, p_value=res2.p_value, p_min=res2.p_min, testable=res2.p_min <= s.alpha,
            in_family=True, effect_size=spd, effect_size_name="statistical_parity_difference",
            effect_level=lvl, ci_low=spd_lo, ci_high=spd_hi, n=n_g, observed=k,
            expected=n_g * total_pos / total_n, pattern=lvl >= 1, hypothesis=cell_key(r),
            evidence=({"group": r["group"], "n": n_g, positive: k, "rate": r["rate"],
                       "ci_low": r["ci_low"], "ci_high": r["ci_high"]},
                      {"group": "rest", "n": n_rest, positive: k_rest, "rate": r_rest}),
            suggestion=(f"Collect or re-weight {who} examples (biasaudit reweigh DATA -l {label} "
                        f"{reweigh} -o weights.csv), and check whether the label was assigned differently "
                        f"for this group."),
            details={"table2x2": t22.tolist(), "alternative": "two-sided", "disparate_impact": di_ref,
                     "disparate_impact_ci": [di_lo, di_hi], "disparate_impact_vs_rest": di_rest,
                     "reference_group": ref["group"], "rate": r["rate"], "rate_ci": [r["ci_low"], r["ci_high"]],
                     "rate_rest": r_rest, "spd_ci": [spd_lo, spd_hi], "log_odds_ratio": lor,
                     "log_odds_ratio_ci": [lor_lo, lor_hi],
                     "four_fifths": bool(di_ref < FOUR_FIFTHS) if math.isfinite(di_ref) else None}))
    return out


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")
