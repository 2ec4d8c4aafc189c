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

from ... import stats
from ...engine.context import AuditContext
from ...findings import BiasType, DetectorResult, Finding
from .flips import flip_rates, group_accuracy
from .grid import unseen_combinations
from .models import build_design, fit_models
from .rules import extract_rules, implied_gaps, selection_adjust, stratification_p
from .text import cell_text, combo_text, fmt_p, label_display, others, render_lines, shown

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


def probe(ctx: AuditContext) -> DetectorResult:
    """Run the probe; returns its findings and its section.

    The section (``AuditResult.sections["probe"]``, JSON key ``probe``) holds

    * ``models``: rows, patterns, one-hot width, baseline (majority) accuracy, chance balanced
      accuracy, ``cv`` (folds, rows), ``tree`` (depth, per-depth CV scores, CV accuracy and
      balanced accuracy, training accuracy, leaves, ``permutation_p`` / ``permutation_score`` /
      ``n_permutations`` / ``permutation_rows``) and ``logreg`` (C, CV and training accuracy);
    * ``selection``: how leaf p-values were adjusted (``exact`` / ``permutation`` / ``bonferroni``);
    * ``rules``: one per leaf: text, conditions, label, support, count, purity, counts per label,
      ``p_naive``, ``p_min_naive``, ``p_selection_adjusted``, ``p_min_selection_adjusted``,
      ``testable``, ``supported``, ``stratification_p``, ``spurious`` and ``reasons``
      (``non_causal``, ``non_causal_flip_share``, ``unsupported``, ``extrapolation``,
      ``untestable_gaps``, ``not_stratified``);
    * ``unseen`` (first 25, coverage gaps first) and ``unseen_summary``;
    * ``flips``: per attribute, ``tree`` and ``logreg`` flip counts, rate and bootstrap interval;
    * ``groups``: tree accuracy per (non-causal value, label), in sample and cross-validated;
    * ``non_causal``, ``notes`` and ``text`` (plain lines for the text report).

    BLAS/OpenMP run single-threaded here: the probe's matrices are small and many, and thread
    start-up and contention cost more than they save (5-30x slower on a busy 2-core machine).
    """
    with threadpool_limits(limits=1):
        return DetectorResult(*_probe(ctx))


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
    display = tuple(label_display(roles.label, v) for v in design.labels)
    rules = extract_rules(fit.tree, design, xpat, label_names=display)
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
    section["text"] = render_lines(ctx, design, fit, rule_rows, selection, unseen, unseen_summary, flips,
                                   groups, non_causal)
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
    leaf_cfr = {a: _leaf_flip_share(design, tree, rule, design.attributes.index(a))
                for a in used if a in non_causal}
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


def _rule_finding(ctx, design, rule, row, selection, cfr, totals, n) -> Finding:
    s = ctx.settings
    reasons = row["reasons"]
    p_adj, pmin_adj = row["p_selection_adjusted"], row["p_min_selection_adjusted"]
    label = shown(design, ctx.roles.label, rule.label_code)
    other = others(design, rule.label_code, ctx.roles.label)
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
    parts = [f"The model learned {rule.text} (base rate of {label} {base:.0%}; naive p={fmt_p(rule.p_naive)}, "
             f"selection-adjusted p={fmt_p(p_adj)} by {method})"]
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
        parts.append(f"it predicts {label} with {ex['tree_p']:.2f} for {combo_text(ex, used)}, "
                     f"which it never saw" + (f" ({k:,} such unseen combinations)" if k > 1 else ""))
        combos = "; ".join(combo_text(e, used) for e in reasons["extrapolation"]["examples"][:3])
        sugg.append(f"Collect examples of {combos} before trusting predictions there.")
    if reasons["untestable_gaps"]:
        g = reasons["untestable_gaps"][0]
        parts.append(f"it implies no {other} with {cell_text(g['cell'])} ({g['other']} of {g['support']}), "
                     f"which {g['support']} rows cannot establish (smallest attainable p {g['p_min']:.3g})")
        sugg.append(f"Collect more rows with {cell_text(g['cell'])}: the data cannot tell whether {other} "
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
        {"cell": cell_text(g["cell"]), "n": g["support"], "other": g["other"], "p_min": g["p_min"]}
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
