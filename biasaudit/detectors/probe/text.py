"""The probe section's plain-text lines: the answer to "what did the network learn?"."""
from __future__ import annotations

import math

from .grid import CONFIDENT

__all__ = ["render_lines", "rule_verdict", "label_display", "combo_text", "cell_text", "others", "shown", "fmt_p",
           "pct"]


def label_display(label: str, value: str) -> str:
    """``DOG`` for word labels; ``Blond_Hair=1`` for numeric or yes/no labels."""
    v = str(value).strip().lower()
    plain = v.lstrip("-").replace(".", "", 1).isdigit() or v in ("true", "false", "yes", "no", "y", "n")
    return f"{label}={value}" if plain else str(value)


def shown(design, label: str, code: int) -> str:
    return label_display(label, design.labels[code])


def others(design, code, label: str = "label") -> str:
    rest = [label_display(label, lab) for i, lab in enumerate(design.labels) if i != code]
    return rest[0] if len(rest) == 1 else (
        "/".join(rest) if len(rest) <= 3 else f"label other than {shown(design, label, code)}")


def combo_text(entry: dict, attributes=()) -> str:
    """An unseen combination in words: all of it when short, else the pair never seen together."""
    combo = entry["combination"]
    if len(combo) <= 3:
        return cell_text(combo)
    gaps = entry.get("gaps") or []
    hit = next((g for g in gaps if set(g) & set(attributes)), gaps[0] if gaps else None)
    if hit is None:
        return cell_text(combo)
    return f"{cell_text(hit)} (a pair never seen together; other attributes as observed)"


def cell_text(cell: dict) -> str:
    return " and ".join(f"{k}={v}" for k, v in cell.items())


def fmt_p(x: float) -> str:
    return "<1e-300" if x == 0 else f"{x:.3g}"


def pct(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def rule_verdict(r: dict, design, label: str) -> str:
    """How well the data support a rule, and why it is spurious, as one phrase.

    ``"supported by the data (selection-adjusted p=0.0063), but spurious: it implies ..."``:
    the evidence first, then (after "but" when the rule is supported) the reasons it is spurious.
    """
    if r["supported"]:
        ev = f"supported by the data (selection-adjusted p={r['p_selection_adjusted']:.2g})"
    elif not r["testable"]:
        ev = f"n too small to test (smallest attainable p={r['p_min_selection_adjusted']:.2g})"
    else:
        ev = f"not supported by the data (selection-adjusted p={r['p_selection_adjusted']:.2g})"
    why = []
    rs = r["reasons"]
    if rs["non_causal"]:
        why.append(f"it uses {', '.join(rs['non_causal'])}, which you marked non-causal")
    if rs["extrapolation"]:
        why.append("it extrapolates into a coverage gap")
    if rs["untestable_gaps"]:
        other = others(design, design.labels.index(r["label"]), label)
        gaps = " or ".join(f"{cell_text(g['cell'])} ({g['support']} rows)" for g in rs["untestable_gaps"][:3])
        why.append(f"it implies no {other} with {gaps}, too few rows to tell")
    if rs["not_stratified"]:
        why.append("one of its conditions adds nothing once the others are known")
    if not why:
        return ev
    return ev + (", but spurious: " if r["supported"] else "; spurious: ") + "; ".join(why)


def render_lines(ctx, design, fit, rules, selection, unseen, summary, flips, groups, non_causal) -> list:
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
        lines.append(f"    {r['text']}; {rule_verdict(r, design, ctx.roles.label)}.")
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
            lab = label_display(ctx.roles.label, e["tree_label"])
            lr = (f" (logistic regression: {label_display(ctx.roles.label, e['logreg_label'])} "
                  f"{e['logreg_p']:.2f})" if e["logreg_label"] else "")
            key = (combo_text(e), lab)
            if key not in shown_lines and len(shown_lines) < 5:
                shown_lines.add(key)
                lines.append(f"    never saw {key[0]}, yet predicts {lab} with {e['tree_p']:.2f}{lr}.")
    lines.append("  What its predictions depend on (share of predictions that change when only that attribute "
                 "changes):")
    def rate(f):
        r = [x["rate"] for x in (f["tree"], f["logreg"]) if x is not None and math.isfinite(x["rate"])]
        return max(r) if r else -1.0

    ordered = sorted(flips, key=lambda f: -rate(f))
    listed = [f for i, f in enumerate(ordered) if i < 6 or f["non_causal"]]
    for f in listed:
        tf, lf = f["tree"], f["logreg"]
        extra = f"; logistic regression {pct(lf['rate'])}" if lf is not None else ""
        mark = " <- marked non-causal" if f["non_causal"] else ""
        lines.append(f"    changing only {f['attribute']} flips {pct(tf['rate'])} of the tree's predictions "
                     f"({tf['flips']:g} of {tf['trials']:g}; 95% CI {pct(tf['ci_low'])}-{pct(tf['ci_high'])})"
                     f"{extra}{mark}.")
    rest = [f for f in ordered if f not in listed]
    if rest:
        lines.append(f"    ... {len(rest)} more attribute(s), each flipping at most {pct(max(0.0, rate(rest[0])))} "
                     f"of either model's predictions.")
    for a in non_causal:
        mine = [g for g in groups if g["attribute"] == a]
        if mine:
            accs = "; ".join(f"{ctx.roles.label}={g['label']} with {a}={g['value']}: {pct(g['accuracy'])} "
                             f"(n={g['n']:g})" for g in mine)
            lines.append(f"  Accuracy of the tree by {a} group: {accs}.")
    return lines
