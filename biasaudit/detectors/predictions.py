"""Prediction disparity: a model's errors, precision and selection rates by group (no-op without predictions).

Given hard predictions (``prediction`` column, ``predicted_positive`` values) or scores
(``score >= threshold`` is a positive prediction), with the label's ``positive`` value as the
true positive class (every other value negative), for every sensitive attribute and group:

* confusion counts tp, fp, tn, fn and TPR = tp/(tp+fn), FPR = fp/(fp+tn), FNR = fn/(tp+fn),
  PPV = tp/(tp+fp), selection rate = (tp+fp)/n, each with a Wilson interval;
* each disparity tested on its own sub-table against the reference group (largest group unless
  ``reference_group`` names one): FPR among the true negatives, FNR (equivalently TPR) among the
  true positives, PPV among the predicted positives, the selection rate among all rows.  The
  2 x 2 (group, reference) x (event, no event) is tested by ``stats.independence_test``
  (Pearson X^2 when Cochran's rule holds, Fisher exact otherwise; STATISTICS.md §1.1), with the
  difference and the ratio of the rates as effects (level: the larger of the |difference| and
  |ln OR| levels, symmetric under swapping event and non-event, §1.4 v0.2; the ratio is reported); with three
  or more groups one r x 2 test per metric as well;
* the equalized-odds difference, max(max_g TPR - min_g TPR, max_g FPR - min_g FPR) over the
  groups (Hardt, Price & Srebro 2016; fairlearn's ``equalized_odds_difference``), descriptive;
* two-way intersections of sensitive attributes: the error rates (FPR, FNR) of each cell
  against the rest of the data, kept when the sub-table can reach significance (Tarone
  p_min <= alpha, §1.2, §4.5);
* calibration by group when a score is given: the outcome rate per score bin (each distinct
  score when there are at most 20, else deciles), and a test of equal calibration, group vs
  reference stratified by score bin (Cochran-Mantel-Haenszel, exact conditional test when the
  Mantel-Fleiss criterion fails; ``stats.cmh_test``), effect the Mantel-Haenszel risk difference.

Every test enters the scan's one multiple-testing family.  The section ``predictions`` holds
``prediction_metrics`` (attribute, group, n, tp, fp, tn, fn, tpr, fpr, fnr, ppv, selection_rate
and Wilson bounds), ``disparities``, ``equalized_odds`` and ``calibration``.

References
----------
Hardt, M., Price, E. & Srebro, N. (2016). Equality of opportunity in supervised learning. NeurIPS.
Chouldechova, A. (2017). Fair prediction with disparate impact. Big Data 5, 153-163.
Angwin, J. et al. (2016). Machine Bias. ProPublica.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from .. import stats
from ..engine.context import AuditContext
from ..errors import DataError
from ..findings import BiasType, DetectorResult, Finding, hypothesis_key
from ..engine.roles import _as_text
from ._predcal import calibration_findings

__all__ = ["predictions", "METRICS", "INTERSECTION_METRICS", "outcomes"]

#: metric -> (name, population, event); counts indexed tp=0, fp=1, tn=2, fn=3.
METRICS = {
    "fpr": ("false positive rate", (1, 2), (1,)),
    "fnr": ("false negative rate", (0, 3), (3,)),
    "ppv": ("precision (PPV)", (0, 1), (0,)),
    "selection_rate": ("selection rate", (0, 1, 2, 3), (0, 1)),
}
#: Metrics compared in two-way subgroups: the error rates of equalized odds.
INTERSECTION_METRICS = ("fpr", "fnr")
_WHO = {"fpr": "true negatives", "fnr": "true positives", "ppv": "predicted positives", "selection_rate": "rows"}
_WHAT = {"fpr": "predicted positive", "fnr": "predicted negative", "ppv": "truly positive",
         "selection_rate": "predicted positive"}
_BINARY = ({"0", "1"}, "1"), ({"false", "true"}, "true"), ({"no", "yes"}, "yes")


def outcomes(ctx: AuditContext) -> dict:
    """Per audited row: true positive class, predicted positive, prediction present, score."""
    opts, roles, frame = ctx.options, ctx.roles, ctx.frame
    pred_col, score_col = opts.get("prediction"), opts.get("score")
    y = ctx.table.codes[roles.label] == ctx.label_index(roles.positive)
    out = {"y": y, "score": None, "notes": []}
    if score_col is not None:
        raw = frame[score_col]
        s = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        if np.isnan(s).sum() > raw.isna().sum():
            raise DataError(f"Score column {score_col!r} holds non-numeric values; a score must be a number.")
        out["score"] = s
    if pred_col is not None:
        p = _as_text(frame[pred_col])
        values = sorted(str(v) for v in p.cat.categories)
        chosen = tuple(str(v) for v in (opts.get("predicted_positive") or ()))
        if not chosen:
            chosen = _default_positive(values, roles.positive, pred_col)
        if not set(chosen) & set(values):
            raise DataError(f"None of the predicted-positive value(s) {', '.join(chosen)} occurs in {pred_col!r}; "
                            f"its values are {', '.join(values[:12])}.")
        out["valid"] = p.notna().to_numpy()
        out["yhat"] = p.isin(chosen).to_numpy() & out["valid"]
        out["rule"] = f"{pred_col} in {{{', '.join(chosen)}}}"
        out["predicted_positive"] = list(chosen)
        if opts.get("threshold") is not None and score_col is not None:
            out["notes"].append(f"predictions come from {pred_col!r}; {score_col!r} is used for calibration only")
    elif score_col is not None:
        s = out["score"]
        thr = opts.get("threshold")
        if thr is None:
            if np.nanmin(s) < 0 or np.nanmax(s) > 1:
                raise DataError(f"Score {score_col!r} is not within [0, 1]; give the cut-off with --threshold.")
            thr = 0.5
            out["notes"].append("threshold not given: 0.5 for a score within [0, 1]")
        out["valid"] = ~np.isnan(s)
        out["yhat"] = np.where(out["valid"], s >= float(thr), False)
        out["rule"] = f"{score_col} >= {float(thr):g}"
        out["threshold"] = float(thr)
    else:
        raise ValueError("outcomes() needs a prediction or a score column in ctx.options.")
    return out


def _default_positive(values: list, positive: str, col: str) -> tuple:
    if positive in values:
        return (positive,)
    low = {v.lower(): v for v in values}
    for pair, pos in _BINARY:
        if set(low) <= pair and pos in low:
            return (low[pos],)
    raise DataError(f"Cannot tell which value of {col!r} is a positive prediction (values: {', '.join(values[:12])}); "
                    f"name it with --predicted-positive.")


def _confusion(codes: np.ndarray, k: int, o: dict, w) -> np.ndarray:
    """(k, 4) counts tp, fp, tn, fn per level of ``codes`` over rows with a prediction."""
    y, yhat, valid = o["y"], o["yhat"], o["valid"]
    cat = np.where(yhat, np.where(y, 0, 1), np.where(y, 3, 2))
    idx = codes.astype(np.int64) * 4 + cat
    return np.bincount(idx[valid], weights=None if w is None else w[valid], minlength=4 * k).reshape(k, 4)


def _rate(conf: np.ndarray, metric: str) -> tuple[float, float]:
    _, pop, ev = METRICS[metric]
    n, e = conf[list(pop)].sum(), conf[list(ev)].sum()
    return e, n


def _metric_row(attribute: str, group: str, c: np.ndarray, alpha: float) -> dict:
    tp, fp, tn, fn = (float(x) for x in c)
    n = tp + fp + tn + fn
    rec = {"attribute": attribute, "group": group, "n": n, "tp": tp, "fp": fp, "tn": tn, "fn": fn}
    for name, (e, m) in {"tpr": (tp, tp + fn), "fpr": (fp, fp + tn), "fnr": (fn, tp + fn),
                         "ppv": (tp, tp + fp), "selection_rate": (tp + fp, n)}.items():
        rec[name] = e / m if m > 0 else None
        ki, mi = int(round(e)), int(round(m))
        lo, hi = stats.wilson_ci(ki, mi, alpha) if mi > 0 else (None, None)
        rec[f"{name}_ci_low"], rec[f"{name}_ci_high"] = lo, hi
    return rec


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")


def _pct(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def _two_groups(ctx, metric, cond, cg, cr, against, kind, ids, extra) -> Finding | None:
    """One 2 x 2 test of ``metric``: (this group, comparison) x (event, no event)."""
    s = ctx.settings
    eg, ng = _rate(cg, metric)
    er, nr = _rate(cr, metric)
    if ng <= 0 or nr <= 0:
        return None
    t22 = np.rint([[eg, ng - eg], [er, nr - er]]).astype(np.int64)
    res = stats.independence_test(t22, alpha=s.alpha, rng=s.random_state, exact_2x2=s.exact_2x2)
    rg, rr = eg / ng, er / nr
    diff, ratio = rg - rr, _ratio(rg, rr)
    # symmetric level (STATISTICS.md §1.4 v0.2): |difference| and |ln OR| of the 2 x 2; the ratio is reported
    lvl = stats.rate_effect_level(diff, stats.log_odds_ratio(eg, ng, er, nr)[0])
    name = METRICS[metric][0]
    label, attrs_txt = ctx.roles.label, " and ".join(f"{a}={v}" for a, v in cond.items())
    msg = (f"The model's {name} is {_pct(rg)} for {attrs_txt} vs {_pct(rr)} for {against} (difference "
           f"{diff:+.2f}, ratio {ratio:.2f}; {int(t22[0, 0])} of {int(t22[0].sum())} vs {int(t22[1, 0])} of "
           f"{int(t22[1].sum())} {_WHO[metric]} {_WHAT[metric]}; {res.test} p={res.p_value:.3g})")
    lo, hi = stats.wilson_ci(int(t22[0, 0]), int(t22[0].sum()), s.alpha)
    return Finding(
        id=ids, bias_type=BiasType.PREDICTION_DISPARITY.value, detector="predictions", kind=kind,
        attributes=dict(cond), label_value=ctx.roles.positive, message=msg, test=res.test,
        statistic=res.statistic, p_value=res.p_value, p_min=res.p_min, testable=res.p_min <= s.alpha,
        in_family=True, effect_size=diff, effect_size_name=f"{metric}_difference", effect_level=lvl,
        ci_low=lo, ci_high=hi, n=int(t22.sum()), observed=float(eg), expected=float(ng * (eg + er) / (ng + nr)),
        hypothesis=hypothesis_key(f"prediction-{metric}", [*cond, label], {**cond, "vs": against}),
        pattern=lvl >= 1,
        evidence=({"group": attrs_txt, "n": int(t22[0].sum()), "events": int(t22[0, 0]), "rate": rg},
                  {"group": against, "n": int(t22[1].sum()), "events": int(t22[1, 0]), "rate": rr}),
        suggestion=_suggestion(metric, attrs_txt, label, list(cond)),
        details={"table2x2": t22.tolist(), "alternative": "two-sided", "metric": metric, "rate": rg,
                 "rate_reference": rr, "difference": diff, "ratio": ratio, "valid": res.valid, "note": res.note,
                 **extra})


def _suggestion(metric: str, who: str, label: str, attributes: list) -> str:
    s_opts = " ".join(f"-s {a}" for a in attributes)
    fix = (f"biasaudit reweigh DATA -l {label} {s_opts} -o weights.csv, then retrain with the weights and "
           f"re-audit (biasaudit scan DATA --weight-file weights.csv)")
    if metric in ("fpr", "fnr"):
        return (f"Inspect the model's errors for {who}: thresholds set per group can equalise error rates "
                f"(Hardt et al. 2016); to remove the label-group dependence the model may have learned: {fix}.")
    if metric == "ppv":
        return (f"A positive prediction means something different for {who}; check the score's calibration by "
                f"group before using one threshold.")
    return f"Check why the model selects {who} at a different rate; to rebalance the training data: {fix}."


def _association(ctx, attribute, metric, conf, levels) -> Finding | None:
    s = ctx.settings
    _, pop, ev = METRICS[metric]
    e = conf[:, list(ev)].sum(axis=1)
    n = conf[:, list(pop)].sum(axis=1)
    keep = n > 0
    if keep.sum() < 3:
        return None
    table = np.rint(np.stack([e[keep], n[keep] - e[keep]], axis=1)).astype(np.int64)
    res = stats.independence_test(table, alpha=s.alpha, rng=s.random_state, exact_2x2=s.exact_2x2)
    v = stats.cramers_v(table, corrected=True)
    lvl = stats.effect_level("cohens_w", v) if math.isfinite(v) else 0
    groups = [g for g, k in zip(levels, keep) if k]
    rates = table[:, 0] / np.maximum(table.sum(axis=1), 1)
    lo, hi = int(np.argmin(rates)), int(np.argmax(rates))
    name = METRICS[metric][0]
    msg = (f"The model's {name} differs by {attribute}: from {_pct(rates[lo])} ({attribute}={groups[lo]}, "
           f"{int(table[lo].sum())} {_WHO[metric]}) to {_pct(rates[hi])} ({attribute}={groups[hi]}, "
           f"{int(table[hi].sum())}); corrected Cramér's V {v:.2f}, {res.test} p={res.p_value:.3g}")
    return Finding(
        id=f"prediction_disparity:{attribute}:{metric}", bias_type=BiasType.PREDICTION_DISPARITY.value,
        detector="predictions", kind="association", attributes={attribute: None}, label_value=ctx.roles.positive,
        message=msg, test=res.test, statistic=res.statistic, p_value=res.p_value, p_min=res.p_min,
        testable=res.p_min <= s.alpha, in_family=True, effect_size=v, effect_size_name="cramers_v_corrected",
        effect_level=lvl, n=int(table.sum()), pattern=bool(math.isfinite(v) and v >= 0.1),
        hypothesis=hypothesis_key(f"prediction-{metric}", [attribute, ctx.roles.label]),
        evidence=tuple({"group": g, "n": int(t.sum()), "events": int(t[0]), "rate": float(r)}
                       for g, t, r in zip(groups, table, rates)),
        suggestion=_suggestion(metric, f"some {attribute} groups", ctx.roles.label, [attribute]),
        details={"table": table.tolist(), "metric": metric, "dof": res.dof, "valid": res.valid, "note": res.note})


def _reference(ctx, attribute, levels, conf) -> int:
    chosen = (ctx.options.get("reference_group") or {}).get(attribute)
    if chosen is not None:
        if str(chosen) not in levels:
            raise DataError(f"Reference group {attribute}={chosen!r} does not occur; groups are {', '.join(levels)}.")
        return levels.index(str(chosen))
    n = conf.sum(axis=1)
    return int(max(range(len(levels)), key=lambda i: (n[i], -i)))


def _eod(rows: list) -> dict:
    tpr = [r["tpr"] for r in rows if r["tpr"] is not None]
    fpr = [r["fpr"] for r in rows if r["fpr"] is not None]
    d_tpr = max(tpr) - min(tpr) if tpr else float("nan")
    d_fpr = max(fpr) - min(fpr) if fpr else float("nan")
    return {"tpr_difference": d_tpr, "fpr_difference": d_fpr, "equalized_odds_difference": max(d_tpr, d_fpr)}


def predictions(ctx: AuditContext) -> DetectorResult:
    """Findings and the ``predictions`` section; no-op (no findings) without a prediction or score."""
    opts = ctx.options
    if opts.get("prediction") is None and opts.get("score") is None:
        return DetectorResult()
    o = outcomes(ctx)
    w, alpha, roles = ctx.table.weights, ctx.settings.alpha, ctx.roles
    out, metrics, disparities, eods = [], [], [], []
    for attribute in roles.sensitive:
        codes, levels = ctx.table.codes[attribute], list(ctx.table.levels[attribute])
        conf = _confusion(codes, len(levels), o, w)
        present = [i for i in range(len(levels)) if conf[i].sum() > 0]
        rows = [_metric_row(attribute, levels[i], conf[i], alpha) for i in present]
        metrics += rows
        if len(present) < 2:
            continue
        ref = _reference(ctx, attribute, levels, conf)
        eods.append({"attribute": attribute, "reference": levels[ref], **_eod(rows)})
        for metric in METRICS:
            if len(present) >= 3:
                f = _association(ctx, attribute, metric, conf[present], [levels[i] for i in present])
                out += [f] if f is not None else []
            for i in present:
                if i == ref:
                    continue
                f = _two_groups(ctx, metric, {attribute: levels[i]}, conf[i], conf[ref],
                                f"{attribute}={levels[ref]}", "gap",
                                f"prediction_disparity:{attribute}={levels[i]}:{metric}:vs={levels[ref]}",
                                {"reference_group": levels[ref]})
                if f is not None:
                    out.append(f)
                    disparities.append({"attribute": attribute, "group": levels[i], "reference": levels[ref],
                                        "metric": metric, "value": f.details["rate"],
                                        "reference_value": f.details["rate_reference"],
                                        "difference": f.details["difference"], "ratio": f.details["ratio"],
                                        "test": f.test, "p_value": f.p_value})
    inter, n_untestable = _intersections(ctx, o, w)
    out += inter
    cal_findings, calibration = ([], [])
    if o["score"] is not None:
        cal_findings, calibration = calibration_findings(ctx, o, w, _reference)
    out += cal_findings
    section = {"title": "Model predictions", "rule": o["rule"], "positive": roles.positive,
               "n_with_prediction": int(o["valid"].sum()), "n_missing_prediction": int((~o["valid"]).sum()),
               "prediction_metrics": metrics, "disparities": disparities, "equalized_odds": eods,
               "calibration": calibration, "intersections": {"tested": len(inter), "untestable": n_untestable},
               "notes": o["notes"]}
    section["text"] = _text(ctx, o, metrics, eods, section)
    return DetectorResult(out, section)


def _intersections(ctx: AuditContext, o: dict, w) -> tuple[list, int]:
    """Two-way cells of sensitive attributes against the rest, when their test can reach alpha."""
    roles, s = ctx.roles, ctx.settings
    if s.k_max is not None and s.k_max < 2:
        return [], 0
    out, untestable = [], 0
    total = _confusion(np.zeros(len(o["y"]), dtype=np.int64), 1, o, w)[0]
    for a, b in combinations(roles.sensitive, 2):
        if roles.parent(a) == roles.parent(b):
            continue
        ka, kb = len(ctx.table.levels[a]), len(ctx.table.levels[b])
        conf = _confusion(ctx.table.codes[a].astype(np.int64) * kb + ctx.table.codes[b], ka * kb, o, w)
        for cell in np.flatnonzero(conf.sum(axis=1) > 0):
            i, j = divmod(int(cell), kb)
            cond = {a: ctx.table.levels[a][i], b: ctx.table.levels[b][j]}
            rest = total - conf[cell]
            for metric in INTERSECTION_METRICS:
                e, n = _rate(conf[cell], metric)
                er, nr = _rate(rest, metric)
                if n <= 0 or nr <= 0:
                    continue
                c1 = int(round(e + er))
                pmin = stats.fisher_pmin_2x2([int(round(n)), int(round(nr))], [c1, int(round(n + nr)) - c1])
                if pmin > s.alpha:
                    untestable += 1
                    continue
                key = ",".join(f"{k}={v}" for k, v in cond.items())
                f = _two_groups(ctx, metric, cond, conf[cell], rest, "the rest", "intersection",
                                f"prediction_disparity:{key}:{metric}", {"reference_group": "rest"})
                if f is not None:
                    out.append(f)
    return out, untestable


def _text(ctx, o, metrics, eods, section) -> list:
    roles = ctx.roles
    default = " (the minority class; --positive to change)" if roles.positive == roles.label_values[-1] else ""
    lines = [f"Predictions: positive when {o['rule']}; true class {roles.label}={roles.positive}{default}; "
             f"{section['n_with_prediction']:,} rows with a prediction"
             + (f", {section['n_missing_prediction']:,} without (left out)." if section["n_missing_prediction"]
                else ".")]
    for e in eods:
        lines.append(f"{e['attribute']}: equalized-odds difference {e['equalized_odds_difference']:.2f} "
                     f"(TPR spread {e['tpr_difference']:.2f}, FPR spread {e['fpr_difference']:.2f}); "
                     f"reference group {e['reference']}.")
    for r in metrics:
        lines.append(f"  {r['attribute']}={r['group']} (n={r['n']:,.0f}): TPR {_pct(r['tpr'])}, FPR {_pct(r['fpr'])}, "
                     f"FNR {_pct(r['fnr'])}, PPV {_pct(r['ppv'])}, selected {_pct(r['selection_rate'])}")
    if section["intersections"]["untestable"]:
        lines.append(f"{section['intersections']['untestable']} two-way subgroup comparisons were too small to "
                     f"test (p_min > alpha) and are not listed.")
    return lines + [f"Note: {n}." for n in o["notes"]]
