"""The probe section of the HTML report: the tree drawn as rules, unseen combinations, flip rates.

Private to :mod:`biasaudit.report.html`.  Reads ``result.sections["probe"]`` as written by
:func:`biasaudit.probe.probe` (``rules``, ``flips``, ``unseen``, ``models``) and tolerates a
missing key or an older layout: no data means no block, never an error.
"""
from __future__ import annotations


from ._fmt import finite_number as _num
from . import plots

__all__ = ["probe_figures", "probe_blocks", "flip_rows", "rule_tree"]

MAX_RULES = 40
MAX_UNSEEN = 20


def flip_rows(probe: dict) -> list:
    """One dict per attribute: ``attribute``, ``rate``, ``ci_low``, ``ci_high``, ``other_rate``, ``non_causal``."""
    raw = probe.get("flips", probe.get("flip_rates"))
    non_causal = set(probe.get("non_causal") or ())
    out = []
    if isinstance(raw, dict):
        raw = [{"attribute": k, **(v if isinstance(v, dict) else {"rate": v})} for k, v in raw.items()]
    if not isinstance(raw, list):
        return []
    for r in raw:
        if not isinstance(r, dict) or r.get("attribute") is None:
            continue
        main = r.get("tree") if isinstance(r.get("tree"), dict) else r
        other = r.get("logreg") if isinstance(r.get("logreg"), dict) else {}
        rate = _num(main.get("rate", main.get("flip_rate")))
        if rate is None:
            continue
        out.append({"attribute": str(r["attribute"]), "rate": rate, "ci_low": _num(main.get("ci_low")),
                    "ci_high": _num(main.get("ci_high")), "other_rate": _num(other.get("rate")),
                    "non_causal": bool(r.get("non_causal")) or r["attribute"] in non_causal})
    return out


def probe_figures(result):
    """``(title, figure, alt, caption)`` for the flip-rate chart, when the probe ran."""
    probe = result.sections.get("probe")
    if not isinstance(probe, dict):
        return
    rows = flip_rows(probe)
    if not rows:
        return
    alpha = float(result.settings.get("alpha", 0.05))
    th = _num(probe.get("flip_threshold")) or 0.1
    fig = plots.flip_rate_figure(rows[:25], threshold=th, confidence=f"{100 * (1 - alpha):g}%")
    alt = ("Bar chart of counterfactual flip rates of the probe's decision tree: "
           + "; ".join(f"{r['attribute']}: {100 * r['rate']:.0f}%" for r in rows[:12]) + ".")
    caption = ("Share of the probe's predictions that change when only this attribute is set to another value "
               "(bar: decision tree, with its interval; circle: logistic regression). Above the dashed line the "
               "model leans on the attribute; hatched bars are attributes you marked non-causal.")
    yield "What the probe model leans on", fig, alt, caption


def _condition(c) -> str:
    if isinstance(c, (list, tuple)) and len(c) == 3:
        attr, op, values = c
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if len(values) == 1:
            return f"{attr} {op} {values[0]}"
        return f"{attr} {'∈' if op == '=' else '∉'} {{{', '.join(map(str, values))}}}"
    if isinstance(c, dict):
        return f"{c.get('attribute')} {c.get('op', '=')} {c.get('value')}"
    return str(c)


def _verdict(r: dict) -> tuple[str, list]:
    reasons = r.get("reasons") if isinstance(r.get("reasons"), dict) else {}
    why = []
    if reasons.get("non_causal"):
        why.append("uses " + ", ".join(map(str, reasons["non_causal"])) + ", marked non-causal")
    if reasons.get("unsupported"):
        why.append("not supported by the data" if r.get("testable") else "n too small to test")
    ext = reasons.get("extrapolation")
    if ext:
        n = ext.get("n") if isinstance(ext, dict) else None
        why.append(f"predicts confidently for {n} combination(s) it never saw" if n else "extrapolates")
    gaps = reasons.get("untestable_gaps")
    if gaps:
        why.append(f"implies {len(gaps)} gap(s) too small to test")
    if reasons.get("not_stratified"):
        why.append("a condition adds nothing given the others")
    if r.get("spurious"):
        return "spurious", why
    return ("supported" if r.get("supported") else "not established"), why


def rule_tree(rules: list) -> list:
    """Rules (root-to-leaf paths) merged into a tree of conditions; leaves carry the prediction."""
    root: list = []
    for r in rules[:MAX_RULES]:
        if not isinstance(r, dict):
            continue
        conds = r.get("conditions") or []
        path = [_condition(c) for c in conds] or ["(every row)"]
        level = root
        for i, text in enumerate(path):
            node = next((n for n in level if n["text"] == text and n["leaf"] is None), None)
            if node is None or i == len(path) - 1:
                node = {"text": text, "children": [], "leaf": None}
                level.append(node)
            level = node["children"]
        verdict, why = _verdict(r)
        support, count = _num(r.get("support", r.get("n"))), _num(r.get("count"))
        p = _num(r.get("p_selection_adjusted", r.get("p_adjusted", r.get("p_value"))))
        node["leaf"] = {"label": r.get("label", r.get("prediction")), "support": support, "count": count,
                        "purity": _num(r.get("purity")), "p": p, "verdict": verdict, "why": why,
                        "supported": bool(r.get("supported"))}
    return root


def probe_blocks(result) -> list:
    """Blocks for the template: the model summary, the rule tree and the unseen combinations."""
    from ._fmt import fmt_num, fmt_p
    probe = result.sections.get("probe")
    if not isinstance(probe, dict):
        return []
    out = []
    models = probe.get("models") if isinstance(probe.get("models"), dict) else {}
    tree = models.get("tree") if isinstance(models.get("tree"), dict) else {}
    lines = []
    if tree:
        acc = _num(tree.get("cv_balanced_accuracy"))
        chance = _num(models.get("chance_balanced_accuracy"))
        lines.append(f"A decision tree of depth {tree.get('depth', '?')}"
                     + (f" on {', '.join(map(str, models.get('attributes', [])))}" if models.get("attributes") else "")
                     + (f", trained on {fmt_num(models.get('n_train'))} rows" if models.get("n_train") else "")
                     + (f"; cross-validated balanced accuracy {acc:.2f}" if acc is not None else "")
                     + (f" (chance {chance:.2f})" if chance is not None else "")
                     + (f"; permutation test p = {fmt_p(tree.get('permutation_p'))}"
                        if tree.get("permutation_p") is not None else "") + ".")
    for note in probe.get("notes") or []:
        lines.append(str(note))
    rules = probe.get("rules")
    nodes = rule_tree(rules) if isinstance(rules, list) else []
    if nodes or lines:
        out.append({"type": "tree", "title": "What the probe model learned: its decision tree as rules",
                    "lines": lines, "nodes": nodes,
                    "note": ("Each path from the top is one rule; the leaf says what the tree predicts, on how many "
                             "training rows, and whether the rule is supported (selection-adjusted p) or spurious.")})
    unseen = [u for u in (probe.get("unseen") or []) if isinstance(u, dict)]
    if unseen:
        rows = []
        for u in unseen[:MAX_UNSEEN]:
            combo = u.get("combination") or {}
            rows.append([" and ".join(f"{k}={v}" for k, v in combo.items()) if isinstance(combo, dict) else str(combo),
                         str(u.get("tree_label", "")), fmt_num(u.get("tree_p")),
                         str(u.get("logreg_label", "")), fmt_num(u.get("logreg_p")),
                         "yes" if u.get("confident") else "no"])
        cols = [{"name": n, "numeric": num} for n, num in (("combination never seen", False), ("tree predicts", False),
                                                          ("probability", True), ("logistic regression", False),
                                                          ("probability", True), ("confident", False))]
        out.append({"type": "table", "title": "Combinations the model never saw, and what it predicts for them",
                    "columns": cols, "rows": rows,
                    "text": (f"{len(unseen) - MAX_UNSEEN} more in the embedded JSON." if len(unseen) > MAX_UNSEEN
                             else None)})
    return out
