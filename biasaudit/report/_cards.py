"""Evidence cards of the HTML report: one per finding, collapsed, with what the filter reads.

Private to :mod:`biasaudit.report.html`.  A card carries ``data-*`` values for the filter
(severity, bias type, attribute columns); its body holds the statistics, the evidence table, the
advice and the narrower findings folded under it (compact lines, each with its own anchor).
"""
from __future__ import annotations

from . import _views
from ._fmt import fmt_num, fmt_p, fmt_pct
from .summary import difference_ci, short_sentence

__all__ = ["card", "anchor", "EVIDENCE_ROWS"]

EVIDENCE_ROWS = 8
#: Evidence rows of findings that are not established (the embedded JSON keeps every row).
EVIDENCE_ROWS_OTHER = 4
EVIDENCE_ROWS_INFO = 2
_FRAGILITY_VERBS = {"flip": "relabelled", "delete": "deleted", "deletion": "deleted", "addition": "added",
                    "add": "added"}
_METRIC_NAMES = {"tpr": "true positive rate", "fpr": "false positive rate", "fnr": "false negative rate",
                 "ppv": "precision (PPV)", "selection_rate": "selection rate", "npv": "NPV"}


def anchor(i: int) -> str:
    """Anchor of the finding at position ``i`` of ``result.findings``."""
    return f"f{i + 1}"


def _ci_of(f) -> str | None:
    """What ``ci_low``/``ci_high`` bound: ``details["ci_of"]``; else the group's rate (group rates and
    prediction gaps) or the depleted label's share of the cell (cell gaps and rules); None: the effect size."""
    named = f.details.get("ci_of") if f.details else None
    if named:
        return str(named)
    if f.kind == "group_rate":
        return "rate"
    if f.detector == "predictions" and (f.effect_size_name or "").endswith("_difference"):
        metric = (f.details or {}).get("metric") or f.effect_size_name[: -len("_difference")]
        return _METRIC_NAMES.get(metric, str(metric).replace("_", " "))
    if f.detector == "overgeneralization" and f.effect_size_name == "depletion_ratio":
        label = (f.details.get("depleted_label") if f.details else None) or f.label_value
        return f"{label} share" if label is not None else "share"
    return None


def _stats(f, confidence: str, alpha: float) -> list:
    stats = []
    if f.test:
        stats.append(("test", f.test))
    if f.statistic is not None:
        stats.append(("statistic", fmt_num(f.statistic)))
    if f.p_value is not None:
        stats.append(("p (raw)", fmt_p(f.p_value)))
    if f.p_adjusted is not None:
        stats.append(("q (adjusted)", fmt_p(f.p_adjusted)))
    elif f.in_family and not f.testable:
        stats.append(("q (adjusted)", "not testable"))
    if f.p_min is not None:
        stats.append(("smallest attainable p", fmt_p(f.p_min)))
    has_ci = f.ci_low is not None and f.ci_high is not None
    ci_of = _ci_of(f)
    diff = difference_ci(f, alpha)
    if f.effect_size is not None:
        name = (f.effect_size_name or "effect size").replace("_", " ")
        if diff is not None:
            value = (f"{fmt_num(f.effect_size)} [{fmt_num(diff['ci_low'])}, {fmt_num(diff['ci_high'])}]")
            stats.append((f"{name} ({confidence} interval, Newcombe)", value))
        else:
            ci = f" [{fmt_num(f.ci_low)}, {fmt_num(f.ci_high)}]" if has_ci and ci_of is None else ""
            stats.append((name, fmt_num(f.effect_size) + ci))
    if has_ci and (ci_of is not None or f.effect_size is None):
        what = ci_of or "interval"
        if diff is not None:
            stats.append((f"{what} of {diff['group']} ({confidence} interval)",
                          f"{fmt_pct(diff['rate'])} [{fmt_pct(f.ci_low)}, {fmt_pct(f.ci_high)}]"))
        elif (what in ("rate", "share") or what.endswith(" share")) and f.observed is not None and f.n:
            stats.append((f"{what} and {confidence} interval", f"{fmt_pct(f.observed / f.n)} "
                          f"[{fmt_pct(f.ci_low)}, {fmt_pct(f.ci_high)}]"))
        else:
            stats.append((f"{what} ({confidence} interval)", f"[{fmt_num(f.ci_low)}, {fmt_num(f.ci_high)}]"))
    if f.n:
        stats.append(("rows it rests on", fmt_num(f.n)))
    if f.observed is not None:
        stats.append(("observed", fmt_num(f.observed)))
    if f.expected is not None:
        stats.append(("expected", fmt_num(f.expected)))
    return stats


def _short(f) -> str:
    """The card's one-line summary: the whole message when it is short, else its key sentence."""
    whole = f.message.split(" — ")[0].strip()
    return f.message if len(f.message) <= 180 else (whole if len(whole) <= 180 else short_sentence(f, 160))


def _subject(f) -> str:
    return ", ".join(f"{k}={v}" if v is not None else str(k) for k, v in f.attributes.items())


def _columns(f, derived: dict) -> str:
    """The columns a finding is about, derived columns with their parent, ``|``-separated for the filter."""
    cols = []
    for a in f.attributes:
        cols.append(str(a))
        if a in derived:
            cols.append(str(derived[a]))
    return "|".join(dict.fromkeys(cols))


def child(f, i: int, derived: dict) -> dict:
    """A narrower finding folded under another: one line with its own anchor and filter values."""
    return {"anchor": anchor(i), "severity": f.severity, "type": f.bias_type, "cols": _columns(f, derived),
            "subject": _subject(f), "text": f.message if len(f.message) <= 240 else short_sentence(f, 200),
            "q": f.p_adjusted}


def card(f, i: int, kids: list, derived: dict, confidence: str = "95%", alpha: float = 0.05) -> dict:
    """A root finding's card; ``kids`` are ``(finding, index)`` pairs folded under it."""
    limit = (EVIDENCE_ROWS if f.severity in ("critical", "high", "medium", "low") else
             EVIDENCE_ROWS_OTHER if f.severity != "info" else EVIDENCE_ROWS_INFO)
    columns, rows = _views.evidence_table(f.evidence, limit=limit)
    fragility = None
    if f.fragility:
        fr = dict(f.fragility)
        verb = _FRAGILITY_VERBS.get(fr.get("kind", "flip"), str(fr.get("kind")))
        fragility = {"fragile": bool(fr.get("fragile")),
                     "text": (f"{fmt_num(fr.get('value'))} {verb} row(s) would undo it"
                              + (f" ({fmt_pct(fr.get('quotient'), 1)} of the rows)"
                                 if fr.get("quotient") is not None else ""))}
    return {
        "id": f.id, "anchor": anchor(i), "severity": f.severity, "message": f.message,
        "short": _short(f), "type": f.bias_type, "cols": _columns(f, derived),
        "kind": (f.kind or "").replace("_", " "), "detector": f.detector, "subject": _subject(f),
        "label_value": f.label_value, "stats": _stats(f, confidence, alpha), "q": f.p_adjusted,
        "evidence_columns": columns, "evidence_rows": rows,
        "evidence_more": max(0, len(f.evidence) - limit), "suggestion": f.suggestion,
        "fragility": fragility, "rows_needed": f.rows_needed,
        "note": f.details.get("note") if f.details and isinstance(f.details.get("note"), str) else None,
        "in_family": f.in_family, "family": f.family,
        "children": [child(k, j, derived) for k, j in kids],
    }
