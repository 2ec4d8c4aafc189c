"""The probe detector: what did a small classifier learn from the data, and which of it is spurious?

Answers the lecture's question "what did the network learn, and what did it not learn?" for any
table (STATISTICS.md §6): a shallow tree and a logistic regression are trained on the audited
attributes; the tree's leaves are reported as rules in words with selection-adjusted p-values;
both models are probed on attribute combinations they never saw; and every attribute gets a
counterfactual flip rate.  A learned rule is **spurious** when

* (i)   its prediction depends on an attribute the user marked non-causal (``--non-causal``);
* (ii)  the data do not support it (selection-adjusted p > alpha, or untestable);
* (iii) it makes confident predictions (>= 0.8) on unseen combinations in a coverage gap
        (one of its attribute values never seen together with some other attribute value);
* (iv)  it implies gaps that are too small to test (§3 "insufficient data").

Reasons are reported separately.  Every spurious rule becomes a ``learned_rule`` finding.  Rules
spurious by (i) or (ii) are confirmatory: their selection-adjusted p enters the scan's family, and
the effect level is that of the counterfactual flip rate of the non-causal attribute (graded on
the |SPD| scale), else the depletion ratio of the other labels in the leaf.  A supported rule
spurious only by (iii) or (iv) is an observation (severity ``info``): its p-value tests the rule on
the data it saw, not the extrapolation.  Whether each condition still matters once the others are
known (the rule survives stratification by its own other conditions; intersection-union test) is
reported beside the reasons; on its own it does not make a rule spurious, because deep tree
leaves often carry a condition that matters only elsewhere in the tree.
"""
from __future__ import annotations

import math

from threadpoolctl import threadpool_limits

from .. import stats
from ..context import AuditContext
from ..findings import BiasType, Finding
from .flips import flip_rates, group_accuracy
from .grid import CONFIDENT, unseen_combinations
from .models import build_design, fit_models
from .rules import extract_rules, implied_gaps, selection_adjust, stratification_p

__all__ = ["probe", "model_attributes", "resolve_non_causal", "RELIANCE"]

#: Flip rate above which a model is said to rely on a non-causal attribute (STATISTICS.md §6.5).
RELIANCE = 0.1


def model_attributes(roles) -> tuple:
    """Audited attributes the models use: derived columns only when their parent is not audited.

    A derived indicator (``color_has_white``) is a function of its parent (``color``), whose one-hot
    columns already span it; using both would let "changing only colour" contradict itself.
    """
    attrs = tuple(roles.attributes)
    return tuple(a for a in attrs if not (a in roles.derived and roles.derived[a] in attrs))


def resolve_non_causal(names, roles, attrs) -> tuple[tuple, list]:
    """Map the user's non-causal names onto model attributes; notes for names that were mapped or ignored."""
    out, notes = [], []
    for name in names:
        if name in attrs:
            out.append(name)
        elif roles.derived.get(name) in attrs:
            out.append(roles.derived[name])
            notes.append(f"{name} is derived from {roles.derived[name]}; the probe treats "
                         f"{roles.derived[name]} as non-causal.")
        elif any(roles.derived.get(a) == name for a in attrs):
            out.extend(a for a in attrs if roles.derived.get(a) == name)
        else:
            notes.append(f"Non-causal attribute {name!r} is not among the audited attributes; ignored.")
    return tuple(dict.fromkeys(out)), notes


def probe(ctx: AuditContext) -> tuple[list[Finding], dict]:
    """Run the probe; returns (findings, section).

    BLAS/OpenMP run single-threaded here: the probe's matrices are small and many, and thread
    start-up and contention cost more than they save (5-30x slower on a busy 2-core machine).
    """
    with threadpool_limits(limits=1):
        return _probe(ctx)


def _probe(ctx: AuditContext) -> tuple[list[Finding], dict]:
    s = ctx.settings
    roles = ctx.roles
    attrs = model_attributes(roles)
    non_causal, notes = resolve_non_causal(s.non_causal, roles, attrs)
    labels = ctx.table.levels[roles.label]
    if not attrs or len(labels) < 2:
        return [], {"models": {}, "rules": [], "unseen": [], "flips": [], "notes": notes,
                    "text": ["WHAT DID THE MODEL LEARN? Nothing to probe: no attribute or one label only."]}
    design = build_design(ctx.table.codes, ctx.table.levels, attrs, roles.label, ctx.table.weights, ctx.rng(41))
    notes.extend(design.notes)
    fit = fit_models(design, s.random_state, ctx.rng(42))
    notes.extend(fit.notes)
    xpat = design.onehot(design.patterns)
    shown = tuple(_label_display(roles.label, v) for v in design.labels)
    rules = extract_rules(fit.tree, design, xpat, label_names=shown)
    adjusted, selection = selection_adjust(design, rules, fit.depth, s.random_state, ctx.rng(43))
    unseen, unseen_summary, by_node = unseen_combinations(
        design, fit.tree, fit.logreg, ctx.rng(44), node_attributes={r.node: r.attribute_indices for r in rules})
    tree_flips = flip_rates(design, fit.tree, ctx.rng(45), alpha=s.alpha)
    lr_flips = flip_rates(design, fit.logreg, ctx.rng(46), alpha=s.alpha) if fit.logreg is not None else None
    flips = []
    for i, tf in enumerate(tree_flips):
        flips.append({"attribute": tf["attribute"], "non_causal": tf["attribute"] in non_causal,
                      "tree": {k: v for k, v in tf.items() if k != "attribute"},
                      "logreg": None if lr_flips is None else
                      {k: v for k, v in lr_flips[i].items() if k != "attribute"}})
    cfr = {f["attribute"]: f for f in flips}
    groups = []
    for a in non_causal:
        ai = design.attributes.index(a)
        groups.extend(group_accuracy(design, fit.tree, ai, fit.oof_pred))

    n = design.n
    totals = design.counts.sum(axis=0)
    rule_rows, findings = [], []
    for rule, (p_adj, pmin_adj) in zip(rules, adjusted):
        reasons = _reasons(ctx, design, fit.tree, rule, p_adj, pmin_adj, non_causal, by_node)
        conditions = [list(c[:2]) + [list(c[2])] for c in rule.conditions]
        row = {"node": rule.node, "text": rule.text, "conditions": conditions,
               "label": rule.label, "support": rule.support, "count": rule.count, "purity": rule.purity,
               "counts": dict(zip(design.labels, rule.counts)), "p_naive": rule.p_naive,
               "p_min_naive": rule.p_min_naive, "p_selection_adjusted": p_adj, "p_min_selection_adjusted": pmin_adj,
               "testable": pmin_adj <= s.alpha, "supported": p_adj <= s.alpha and pmin_adj <= s.alpha,
               "stratification_p": reasons["stratification_p"], "spurious": reasons["spurious"],
               "reasons": {k: v for k, v in reasons.items() if k not in ("spurious", "stratification_p")}}
        rule_rows.append(row)
        if reasons["spurious"]:
            findings.append(_rule_finding(ctx, design, rule, row, selection, cfr, totals, n))
    for a in non_causal:
        f = _reliance_finding(ctx, a, cfr[a], groups, findings)
        if f is not None:
            findings.append(f)
    section = {"models": fit.summary, "selection": selection, "rules": rule_rows, "unseen": unseen,
               "unseen_summary": unseen_summary, "flips": flips, "groups": groups,
               "non_causal": list(non_causal), "notes": notes}
    section["text"] = _text(ctx, design, fit, rule_rows, selection, unseen, unseen_summary, flips, groups,
                            non_causal)
    return findings, section


def _leaf_flip_share(design, tree, rule, a: int) -> float:
    """Share of the leaf's (row, other value) pairs whose prediction changes when only attribute a does."""
    m = rule.mask(design.patterns)
    pats, w = design.patterns[m], design.counts[m].sum(axis=1)
    base = tree.predict(design.onehot(pats))
    flips = trials = 0.0
    for v in design.valid_levels(a):
        sel = pats[:, a] != v
        if not sel.any():
            continue
        alt = pats[sel].copy()
        alt[:, a] = v
        flips += float(w[sel] @ (tree.predict(design.onehot(alt)) != base[sel]))
        trials += float(w[sel].sum())
    return flips / trials if trials else 0.0


def _reasons(ctx, design, tree, rule, p_adj, pmin_adj, non_causal, by_node) -> dict:
    alpha = ctx.settings.alpha
    used = [design.attributes[a] for a, _ in rule.allowed]
    # (i) only when the leaf's prediction depends on the non-causal attribute (a split whose two
    # sides predict the same label names the attribute without relying on it)
    leaf_cfr = {a: _leaf_flip_share(design, tree, rule, design.attributes.index(a)) for a in used if a in non_causal}
    nc = [a for a, r in leaf_cfr.items() if r > 0]
    unsupported = bool(p_adj > alpha or pmin_adj > alpha)
    extra = by_node.get(rule.node, {"n": 0, "examples": []})
    gaps = implied_gaps(rule, design, alpha)
    strat = stratification_p(rule, design)
    not_strat = strat is not None and strat > alpha
    return {"non_causal": nc, "non_causal_flip_share": leaf_cfr, "unsupported": unsupported,
            "extrapolation": {"n": extra["n"], "examples": extra["examples"]} if extra["n"] else None,
            "untestable_gaps": gaps, "not_stratified": bool(not_strat), "stratification_p": strat,
            "spurious": bool(nc or unsupported or extra["n"] or gaps)}


def _label_display(label: str, value: str) -> str:
    """``DOG`` for word labels; ``Blond_Hair=1`` for numeric or yes/no labels."""
    v = str(value).strip().lower()
    plain = v.lstrip("-").replace(".", "", 1).isdigit() or v in ("true", "false", "yes", "no", "y", "n")
    return f"{label}={value}" if plain else str(value)


def _shown(design, label: str, code: int) -> str:
    return _label_display(label, design.labels[code])


def _others(design, code, label: str = "label") -> str:
    others = [_label_display(label, lab) for i, lab in enumerate(design.labels) if i != code]
    return others[0] if len(others) == 1 else (
        "/".join(others) if len(others) <= 3 else f"label other than {_shown(design, label, code)}")


def _combo_text(entry: dict, attributes=()) -> str:
    """An unseen combination in words: all of it when short, else the pair never seen together."""
    combo = entry["combination"]
    if len(combo) <= 3:
        return _cell_text(combo)
    gaps = entry.get("gaps") or []
    hit = next((g for g in gaps if set(g) & set(attributes)), gaps[0] if gaps else None)
    if hit is None:
        return _cell_text(combo)
    return f"{_cell_text(hit)} (a pair never seen together; other attributes as observed)"


def _cell_text(cell: dict) -> str:
    return " and ".join(f"{k}={v}" for k, v in cell.items())


def _rule_finding(ctx, design, rule, row, selection, cfr, totals, n) -> Finding:
    s = ctx.settings
    reasons = row["reasons"]
    p_adj, pmin_adj = row["p_selection_adjusted"], row["p_min_selection_adjusted"]
    label = _shown(design, ctx.roles.label, rule.label_code)
    other = _others(design, rule.label_code, ctx.roles.label)
    base = totals[rule.label_code] / n
    n_other = n - totals[rule.label_code]
    obs_other = rule.support - rule.count
    e_other = rule.support * n_other / n if n else float("nan")
    ratio = obs_other / e_other if e_other else float("nan")
    level = stats.effect_level("depletion_ratio", ratio)
    effect, effect_name, ci = ratio, "depletion_ratio", (None, None)
    method = {"exact": f"exact enumeration of {selection.get('n_labelings', 0):,} relabellings",
              "permutation": f"{selection.get('n_permutations')} permutations",
              "bonferroni": "Bonferroni over every leaf the tree could have chosen"}[selection["method"]]
    parts = [f"The model learned {rule.text} (base rate of {label} {base:.0%}; naive p={_p(rule.p_naive)}, "
             f"selection-adjusted p={_p(p_adj)} by {method})"]
    sugg = []
    if reasons["non_causal"]:
        best = max(reasons["non_causal"], key=lambda a: cfr[a]["tree"]["rate"])
        tf = cfr[best]["tree"]
        if math.isfinite(tf["rate"]):
            effect, effect_name, ci = tf["rate"], "counterfactual_flip_rate", (tf["ci_low"], tf["ci_high"])
            level = max(level, stats.effect_level("spd", tf["rate"]))
        parts.append(f"it uses {', '.join(reasons['non_causal'])}, marked non-causal, and changing only {best} "
                     f"flips {tf['rate']:.0%} of its predictions")
        region = " and ".join(c for c in _conds(rule))
        sugg.append(f"Collect {other} examples with {region} (and {label} examples outside it), or remove "
                    f"{', '.join(reasons['non_causal'])} from the model's inputs, so that "
                    f"{', '.join(reasons['non_causal'])} no longer separates the labels.")
    if reasons["extrapolation"]:
        ex = reasons["extrapolation"]["examples"][0]
        k = reasons["extrapolation"]["n"]
        used = [c[0] for c in rule.conditions]
        parts.append(f"it predicts {label} with {ex['tree_p']:.2f} for {_combo_text(ex, used)}, "
                     f"which it never saw" + (f" ({k:,} such unseen combinations)" if k > 1 else ""))
        combos = "; ".join(_combo_text(e, used) for e in reasons["extrapolation"]["examples"][:3])
        sugg.append(f"Collect examples of {combos} before trusting predictions there.")
    if reasons["untestable_gaps"]:
        g = reasons["untestable_gaps"][0]
        parts.append(f"it implies no {other} with {_cell_text(g['cell'])} ({g['other']} of {g['support']}), "
                     f"which {g['support']} rows cannot establish (smallest attainable p {g['p_min']:.3g})")
        sugg.append(f"Collect more rows with {_cell_text(g['cell'])}: the data cannot tell whether {other} "
                    f"are absent there or merely unsampled.")
    if reasons["not_stratified"]:
        parts.append(f"not every condition matters once the others are known (intersection-union p="
                     f"{row['stratification_p']:.3g})")
    if reasons["unsupported"]:
        sugg.append("Do not rely on this rule: it is what a small tree fits to these rows, not a pattern the "
                    "data establish.")
    msg = "; ".join(parts)
    # confirmatory only when the rule relies on a non-causal attribute or may not be real at all;
    # a supported rule whose only fault is extrapolation or small implied gaps is an observation
    in_family = bool(reasons["non_causal"] or reasons["unsupported"])
    attributes = {c[0]: (c[2][0] if c[1] == "=" else None) for c in rule.conditions}
    fid = "probe:rule:" + (",".join(_conds(rule)) or "always") + f":label={rule.label}"
    evidence = ({"rule": rule.text, "n": rule.support, rule.label: rule.count, "other": obs_other,
                 "purity": rule.purity},) + tuple(
        {"cell": _cell_text(g["cell"]), "n": g["support"], "other": g["other"], "p_min": g["p_min"]}
        for g in reasons["untestable_gaps"][:5])
    test = {"exact": "selection-adjusted leaf test (exact relabelling, min leaf p)",
            "permutation": "selection-adjusted leaf test (permutation, min leaf p)",
            "bonferroni": "selection-adjusted leaf test (Bonferroni over candidate leaves)"}[selection["method"]]
    return Finding(
        id=fid, bias_type=BiasType.LEARNED_RULE.value, detector="probe", kind="rule", attributes=attributes,
        message=msg, label_value=rule.label, test=test, statistic=rule.p_naive, p_value=p_adj, p_min=pmin_adj,
        testable=pmin_adj <= s.alpha, in_family=in_family, severity="info", effect_size=effect,
        effect_size_name=effect_name,
        effect_level=int(level), ci_low=ci[0], ci_high=ci[1], n=int(round(rule.support)), observed=obs_other,
        expected=e_other, pattern=bool((rule.support >= 2 and e_other >= 0.5 and ratio <= 0.5)
                                       or effect_name == "counterfactual_flip_rate" and effect > RELIANCE),
        evidence=evidence, suggestion=" ".join(sugg),
        details={"rule": rule.text, "conditions": row["conditions"], "p_naive": rule.p_naive,
                 "p_min_naive": rule.p_min_naive, "selection": selection, "spurious": True,
                 "reasons": reasons, "stratification_p": row["stratification_p"], "model": "decision tree",
                 "depth": selection.get("depth")})


def _conds(rule) -> list:
    from .rules import condition_text
    return [condition_text(c) for c in rule.conditions]


def _reliance_finding(ctx, a, f, groups, findings) -> Finding | None:
    tf, lf = f["tree"], f["logreg"]
    rates = [x["rate"] for x in (tf, lf) if x is not None and math.isfinite(x["rate"])]
    if not rates or max(rates) <= RELIANCE:
        return None
    label = ctx.roles.label
    msg = (f"Predictions depend on {a}, which you marked non-causal: changing only {a} flips {tf['rate']:.0%} "
           f"of the tree's predictions (95% CI {tf['ci_low']:.0%}-{tf['ci_high']:.0%})")
    if lf is not None:
        msg += f" and {lf['rate']:.0%} of the logistic regression's"
    mine = [g for g in groups if g["attribute"] == a]
    if mine:
        worst = min(mine, key=lambda g: (g["accuracy"], g["n"]))   # ties: the rarer group
        overall = sum(g["correct"] for g in mine) / sum(g["n"] for g in mine)
        msg += (f"; the tree is right on {worst['accuracy']:.0%} of rows with {label}={worst['label']} and "
                f"{a}={worst['value']} (n={worst['n']:g}) against {overall:.0%} overall")
    rules_using = [x.id for x in findings
                   if x.kind == "rule" and a in x.details.get("reasons", {}).get("non_causal", ())]
    return Finding(
        id=f"probe:reliance:{a}", bias_type=BiasType.LEARNED_RULE.value, detector="probe", kind="reliance",
        attributes={a: None}, message=msg, label_value=None, test=None, statistic=tf["rate"],
        in_family=False, effect_size=tf["rate"], effect_size_name="counterfactual_flip_rate",
        effect_level=int(stats.effect_level("spd", max(rates))), ci_low=tf["ci_low"], ci_high=tf["ci_high"],
        n=int(round(tf["rows"])), pattern=True, severity="info",
        evidence=tuple({k: g[k] for k in ("value", "label", "n", "accuracy")} for g in mine),
        suggestion=(f"Balance {a} within each {label} (collect or re-weight), or remove {a} from the inputs, "
                    f"and report accuracy per {a} group."),
        details={"tree": tf, "logreg": lf, "rules": rules_using})


def _p(x: float) -> str:
    return "<1e-300" if x == 0 else f"{x:.3g}"


def _pct(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def _text(ctx, design, fit, rules, selection, unseen, summary, flips, groups, non_causal) -> list:
    alpha = ctx.settings.alpha
    m = fit.summary
    t = m["tree"]
    lines = ["WHAT DID THE MODEL LEARN? (probe: a small classifier trained on the audited attributes)"]
    rows = f"{design.n:,.0f} training rows" + (" (a seeded sample)" if design.sampled else "")
    names = list(design.attributes)
    attrs = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    how = (f"chosen by {m['cv']['n_splits']}-fold cross-validation among {min(t['depths_compared'])}-"
           f"{max(t['depths_compared'])}" if m["cv"]["n_splits"] else "fixed: too few rows to cross-validate")
    lines.append(f"  A decision tree of depth {fit.depth} ({how}) and a logistic regression, both with balanced "
                 f"class weights, on {attrs}; {rows}.")
    if t.get("cv_balanced_accuracy") is not None:
        lr = m["logreg"]
        verdict = ""
        if t.get("permutation_p") is not None:
            p = t["permutation_p"]
            verdict = (f"; permutation test p={p:.2g} ({t['n_permutations']} permutations): "
                       + ("the attributes predict the label" if p <= alpha else
                          "no better than shuffled labels: the model learned nothing reliable"))
        lines.append(f"  Cross-validated balanced accuracy: tree {t['cv_balanced_accuracy']:.2f}, logistic regression "
                     f"{lr['cv_balanced_accuracy']:.2f} (chance {m['chance_balanced_accuracy']:.2f}); accuracy "
                     f"{t['cv_accuracy']:.2f} vs {m['baseline_accuracy']:.2f} for always guessing the majority"
                     f"{verdict}.")
    lines.append("  The tree learned:")
    for r in rules:
        if r["supported"]:
            ev = f"supported (selection-adjusted p={r['p_selection_adjusted']:.2g})"
        elif not r["testable"]:
            ev = f"n too small to test (smallest attainable p={r['p_min_selection_adjusted']:.2g})"
        else:
            ev = f"not supported (selection-adjusted p={r['p_selection_adjusted']:.2g})"
        why = []
        rs = r["reasons"]
        if rs["non_causal"]:
            why.append(f"uses {', '.join(rs['non_causal'])} (non-causal)")
        if rs["extrapolation"]:
            why.append("extrapolates into a coverage gap")
        if rs["untestable_gaps"]:
            g = rs["untestable_gaps"][0]
            why.append(f"implies 'no {_others(design, design.labels.index(r['label']), ctx.roles.label)} with "
                       f"{_cell_text(g['cell'])}' from {g['support']} rows")
        if rs["unsupported"] and not why:
            why.append("not supported by the data")
        tail = f"; SPURIOUS: {'; '.join(why)}" if why else ""
        if rs["not_stratified"]:
            tail += "; one of its conditions adds nothing once the others are known"
        lines.append(f"    {r['text']}; {ev}{tail}.")
    if summary.get("n_unseen"):
        where = ("attribute combinations" if summary["mode"] == "full" else
                 "combinations one change away from observed ones")
        lines.append(f"  What it never saw: {summary['n_unseen']:,} of {summary['n_checked']:,} {where} have no "
                     f"training row; {summary['n_confident_in_gaps']:,} of them lie in a coverage gap (a pair of "
                     f"values never seen together) and get a confident prediction (>= {CONFIDENT:.1f}).")
        shown_lines = set()
        for e in unseen[:50]:
            if not e["confident"] or (len(e["combination"]) > 3 and not e["gaps"]):
                continue
            lab = _label_display(ctx.roles.label, e["tree_label"])
            lr = (f" (logistic regression: {_label_display(ctx.roles.label, e['logreg_label'])} "
                  f"{e['logreg_p']:.2f})" if e["logreg_label"] else "")
            key = (_combo_text(e), lab)
            if key not in shown_lines and len(shown_lines) < 5:
                shown_lines.add(key)
                lines.append(f"    never saw {key[0]}, yet predicts {lab} with {e['tree_p']:.2f}{lr}.")
    lines.append("  What its predictions depend on (share of predictions that change when only that attribute "
                 "changes):")
    def rate(f):
        r = [x["rate"] for x in (f["tree"], f["logreg"]) if x is not None and math.isfinite(x["rate"])]
        return max(r) if r else -1.0

    ordered = sorted(flips, key=lambda f: -rate(f))
    shown = [f for i, f in enumerate(ordered) if i < 6 or f["non_causal"]]
    for f in shown:
        tf, lf = f["tree"], f["logreg"]
        extra = f"; logistic regression {_pct(lf['rate'])}" if lf is not None else ""
        mark = " <- marked non-causal" if f["non_causal"] else ""
        lines.append(f"    changing only {f['attribute']} flips {_pct(tf['rate'])} of the tree's predictions "
                     f"({tf['flips']:g} of {tf['trials']:g}; 95% CI {_pct(tf['ci_low'])}-{_pct(tf['ci_high'])})"
                     f"{extra}{mark}.")
    rest = [f for f in ordered if f not in shown]
    if rest:
        lines.append(f"    ... {len(rest)} more attribute(s), each flipping at most {_pct(max(0.0, rate(rest[0])))} "
                     f"of either model's predictions.")
    for a in non_causal:
        mine = [g for g in groups if g["attribute"] == a]
        if mine:
            accs = "; ".join(f"{ctx.roles.label}={g['label']} with {a}={g['value']}: {_pct(g['accuracy'])} "
                             f"(n={g['n']:g})" for g in mine)
            lines.append(f"  Accuracy of the tree by {a} group: {accs}.")
    return lines
