"""The self-contained HTML report: one file, no network request, every data value escaped.

:func:`render_html` reads an :class:`~biasaudit.findings.AuditResult` and fills
``templates/report.html`` (Jinja2, autoescape on).  Plots are inline SVG built by
:mod:`biasaudit.report.plots`; the whole result is embedded as JSON in
``<script type="application/json" id="biasaudit-result">`` with ``<``, ``>``, ``&``, U+2028 and
U+2029 written as ``\\uXXXX`` escapes, so no value can close the element.  Without
``timestamp=True`` two renders of one result are byte-identical.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .._safe import escape_text
from ..settings import SEVERITY_ORDER
from ._atomic import atomic_write_text
from .text import BIAS_TITLES
from . import _views

__all__ = ["render_html", "write_html", "embed_json"]

ESTABLISHED = ("critical", "high", "medium", "low")
#: Findings shown as open cards; ``low`` and ``info`` are listed collapsed (STATISTICS.md §1.5).
OPEN = ("critical", "high", "medium", "weak-evidence", "insufficient-data")
#: Cards per section (open tier, then each collapsed tier) and narrower findings per card; the rest
#: are counted on the page and stay in the embedded JSON, which keeps pages readable and small.
MAX_CARDS = 30
MAX_COLLAPSED = 20
MAX_CHILDREN = 8

BIAS_INTROS = {
    "selection": "Does the sample look like the population it is meant to represent? Shares are compared "
                 "with the reference, where one was given, and between the samples compared.",
    "overgeneralization": "Combinations of attributes that (almost) never occur with a label. A model trained "
                          "here has never seen them and will guess, often with confidence.",
    "group_attribution": "Does the label rate differ between groups? A model learns such a difference as a "
                         "rule about the group: a stereotype.",
    "reporting": "Is information missing, duplicated or recorded differently from group to group?",
    "proxy": "Attributes that reveal a sensitive attribute: leaving the sensitive column out does not "
             "remove what a model can learn from them.",
    "learned_rule": "What a small classifier trained on this table actually learns, and whether its rules "
                    "are supported by the data or are spurious.",
    "prediction_disparity": "Differences in a model's predictions or errors between groups.",
    "label_quality": "Labels that look inconsistent, noisy or assigned differently by group.",
}
SEVERITY_HELP = {
    "critical": "supported, large effect", "high": "supported, medium or large effect",
    "medium": "supported, small or larger effect", "low": "supported but negligible",
    "weak-evidence": "pattern seen, not supported after correction",
    "insufficient-data": "pattern seen, n too small to test", "info": "observation",
}


def embed_json(text: str) -> str:
    """JSON text made safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where ``\\u003c`` (etc.) is an equivalent
    spelling, so ``json.loads`` gives back the same value; U+2028/U+2029 are escaped too.
    """
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(Path(__file__).with_name("templates"))),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(num=fmt_num, p=fmt_p, pct=fmt_pct)
    return env


def fmt_num(x, digits: int = 3) -> str:
    """A number for people: integers with separators, other values to ``digits`` significant digits."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)) or hasattr(x, "__float__"):
        try:
            v = float(x)
        except (TypeError, ValueError):
            return str(x)
        if not math.isfinite(v):
            return "–" if math.isnan(v) else ("∞" if v > 0 else "−∞")
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(x)


def fmt_p(p) -> str:
    """A p-value: three significant digits, scientific below 0.001."""
    if p is None:
        return "–"
    p = float(p)
    if not math.isfinite(p):
        return "–"
    return f"{p:.2e}" if 0 < p < 1e-3 else f"{p:.3g}"


def fmt_pct(x, decimals: int | None = None) -> str:
    """A share as a percentage; one decimal below 10% (so 0.4% is not shown as 0%) unless given."""
    if x is None or not math.isfinite(float(x)):
        return "–"
    v = 100 * float(x)
    if decimals is None:
        decimals = 1 if 0 < abs(v) < 10 else 0
    return f"{v:.{decimals}f}%"


def render_html(result, *, timestamp: bool = False) -> str:
    """The HTML report of ``result`` as a string.

    Parameters
    ----------
    result : AuditResult
    timestamp : bool
        Stamp the page with the UTC time it was made (off by default so that renders are
        reproducible byte for byte).
    """
    ctx = build_context(result)
    ctx["generated_at"] = (_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                           if timestamp else None)
    # control and bidi characters from the data shown as \uXXXX (valid inside the JSON island too)
    return escape_text(_environment().get_template("report.html").render(**ctx), json_safe=True)


def write_html(result, path, *, timestamp: bool = False) -> None:
    """Write the HTML report atomically (temporary file in the same folder, then a rename).

    Refuses to write over the audited file itself; a failed render leaves no file behind.
    """
    source = Path(str(result.dataset.get("source", "")))
    if source.is_file() and Path(path).resolve() == source.resolve():
        raise ValueError(f"The report path {path} is the audited data file; choose another file name.")
    atomic_write_text(path, render_html(result, timestamp=timestamp))


# ---------------------------------------------------------------------------------- context
def build_context(result) -> dict:
    """Everything the template needs, as plain values (the template only lays them out)."""
    d = result.dataset
    findings = list(result.findings)
    by_id = {f.id: f for f in findings}
    hidden = {f.id for f in findings if _views.hidden(f)}
    children: dict = {}
    for f in findings:
        if f.explained_by and f.explained_by in by_id and f.explained_by not in hidden and f.id not in hidden:
            children.setdefault(f.explained_by, []).append(f)
    anchors = {id(f): f"f{i + 1}" for i, f in enumerate(findings)}  # ids of objects: robust to repeats
    confidence = f"{100 * (1 - float(result.settings.get('alpha', 0.05))):g}%"

    def card(f):
        return _card(f, children, anchors, confidence)

    figures = _views.figures(result)
    sections, shown = [], set()
    home: dict = {}  # detector -> the bias type whose section shows its summary
    for f in findings:
        home.setdefault(f.detector, f.bias_type)
    if "probe" in result.sections:
        home.setdefault("probe", "learned_rule")
    known = list(BIAS_TITLES) + sorted({f.bias_type for f in findings} - set(BIAS_TITLES))
    for bias_type in known:
        own = [f for f in findings if f.bias_type == bias_type]
        top = [f for f in own if f.id not in hidden
               and not (f.explained_by in by_id and f.explained_by not in hidden)]
        figs = figures.get(bias_type, [])
        detectors = {det for det, bt in home.items() if bt == bias_type}
        shown |= detectors
        extra = _views.section_extras(result, bias_type, detectors)
        if not own and not figs and not extra:
            continue
        tiers = {"open": [], "low": [], "info": []}
        for f in top:
            tiers["open" if f.severity in OPEN else ("low" if f.severity == "low" else "info")].append(f)
        sections.append({
            "key": bias_type, "anchor": f"sec-{bias_type}",
            "title": BIAS_TITLES.get(bias_type, bias_type.replace("_", " ").capitalize()),
            "intro": BIAS_INTROS.get(bias_type, ""),
            "counts": _severity_counts([f for f in own if f.id not in hidden]),
            "cards": [card(f) for f in tiers["open"][:MAX_CARDS]],
            "more_open": max(0, len(tiers["open"]) - MAX_CARDS),
            "low": [card(f) for f in tiers["low"][:MAX_COLLAPSED]],
            "more_low": max(0, len(tiers["low"]) - MAX_COLLAPSED),
            "info": [card(f) for f in tiers["info"][:MAX_COLLAPSED]],
            "more_info": max(0, len(tiers["info"]) - MAX_COLLAPSED),
            "n_hidden": sum(1 for f in own if f.id in hidden),
            "figures": figs, "extra": extra,
        })
    visible = [f for f in findings if f.id not in hidden]
    return {
        "title": f"biasaudit report: {Path(str(d.get('source', 'data'))).name}",
        "tool": dict(result.tool),
        "header": _header(result, visible, hidden),
        "sections": sections,
        "method": _views.method(result),
        "other_sections": _views.other_sections(result, shown),
        "severity_help": SEVERITY_HELP,
        "result_json": Markup(embed_json(json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False,
                                                    separators=(",", ":")))),
    }


def _severity_counts(findings) -> list:
    counts = {s: 0 for s in SEVERITY_ORDER}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return [(s, c) for s, c in counts.items() if c]


def _header(result, visible, hidden) -> dict:
    d = result.dataset
    lc = d.get("label_counts", {}) or {}
    total = sum(lc.values()) or 1
    labels = [{"value": k, "n": v, "share": v / total, "positive": k == d.get("positive")}
              for k, v in sorted(lc.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    kinds = {c["name"]: c for c in d.get("columns", [])}
    derived = d.get("derived", {}) or {}
    attrs = []
    for a in d.get("attributes", []):
        if a in derived:
            continue
        c = kinds.get(a, {})
        bins = d.get("bins", {}).get(a)
        attrs.append({"name": a, "kind": c.get("kind", "categorical"), "n_unique": c.get("n_unique"),
                      "n_missing": c.get("n_missing"), "sensitive": a in d.get("sensitive", []),
                      "bins": ", ".join(fmt_num(e) for e in bins) if bins else "",
                      "derived": sorted(k for k, v in derived.items() if v == a)})
    by_type = []
    for bias_type, title in BIAS_TITLES.items():
        fs = [f for f in visible if f.bias_type == bias_type]
        if not fs:
            continue
        lead = next((f for f in fs if f.severity != "info" and not f.explained_by), None)
        by_type.append({"key": bias_type, "title": title, "counts": dict(_severity_counts(fs)),
                        "lead": lead.message if lead is not None else None,
                        "lead_severity": lead.severity if lead is not None else None})
    counts = dict(_severity_counts(visible))
    headline = ", ".join(f"{counts[s]} {s}" for s in SEVERITY_ORDER if counts.get(s) and s != "info")
    m = result.sections.get("method", {}) or {}
    st = result.settings
    return {
        "source": str(d.get("source", "")), "n_rows": d.get("n_rows"), "n_audited": d.get("n_rows_audited"),
        "n_weighted": d.get("n_weighted"), "label": d.get("label"), "positive": d.get("positive"),
        "labels": labels, "attributes": attrs, "excluded": dict(d.get("excluded", {}) or {}),
        "ids": list(d.get("ids", []) or []), "weight": d.get("weight"), "notes": list(d.get("notes", []) or []),
        "sensitive": list(d.get("sensitive", []) or []),
        "severity_columns": [s for s in SEVERITY_ORDER if any(t["counts"].get(s) for t in by_type)],
        "by_type": by_type, "counts": counts, "headline": headline or "no pattern to report",
        "n_established": sum(1 for f in visible if f.severity in ESTABLISHED and not f.explained_by),
        "n_insufficient": counts.get("insufficient-data", 0), "n_weak": counts.get("weak-evidence", 0),
        "n_hidden": len(hidden), "family_size": result.family_size, "n_testable": result.n_testable,
        "alpha": st.get("alpha"), "correction": m.get("correction", st.get("correction")),
        "seed": st.get("random_state"),
    }


_EVIDENCE_ROWS = 15
_FRAGILITY_VERBS = {"flip": "relabelled", "delete": "deleted", "deletion": "deleted", "addition": "added",
                    "add": "added"}


def _ci_of(f) -> str | None:
    """What ``ci_low``/``ci_high`` bound: ``details["ci_of"]``; else the group's rate (group rates)
    or the depleted label's share of the cell (cell gaps and rules); None: the effect size."""
    named = f.details.get("ci_of") if f.details else None
    if named:
        return str(named)
    if f.kind == "group_rate":
        return "rate"
    if f.detector == "overgeneralization" and f.effect_size_name == "depletion_ratio":
        label = (f.details.get("depleted_label") if f.details else None) or f.label_value
        return f"{label} share" if label is not None else "share"
    return None


def _card(f, children, anchors, confidence: str = "95%", depth: int = 0) -> dict:
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
    if f.effect_size is not None:
        name = (f.effect_size_name or "effect size").replace("_", " ")
        ci = f" [{fmt_num(f.ci_low)}, {fmt_num(f.ci_high)}]" if has_ci and ci_of is None else ""
        stats.append((name, fmt_num(f.effect_size) + ci))
    if has_ci and (ci_of is not None or f.effect_size is None):
        what = ci_of or "interval"
        if (what in ("rate", "share") or what.endswith(" share")) and f.observed is not None and f.n:
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
    # narrower (folded) findings are shown compact: their evidence stays in the embedded JSON
    columns, rows = _views.evidence_table(f.evidence, limit=_EVIDENCE_ROWS) if depth == 0 else ([], [])
    fragility = None
    if f.fragility:
        fr = dict(f.fragility)
        value = fr.get("value")
        verb = _FRAGILITY_VERBS.get(fr.get("kind", "flip"), str(fr.get("kind")))
        fragility = {"fragile": bool(fr.get("fragile")),
                     "text": (f"{fmt_num(value)} {verb} row(s) would undo it"
                              + (f" ({fmt_pct(fr.get('quotient'), 1)} of the rows)"
                                 if fr.get("quotient") is not None else ""))}
    kids = children.get(f.id, [])
    return {
        "id": f.id, "anchor": anchors[id(f)], "severity": f.severity, "message": f.message,
        "kind": (f.kind or "").replace("_", " "), "detector": f.detector,
        "subject": ", ".join(f"{k}={v}" if v is not None else str(k) for k, v in f.attributes.items()),
        "label_value": f.label_value, "stats": stats, "evidence_columns": columns, "evidence_rows": rows,
        "evidence_more": max(0, len(f.evidence) - _EVIDENCE_ROWS) if depth == 0 else 0,
        "suggestion": f.suggestion if depth == 0 else "",
        "fragility": fragility, "rows_needed": f.rows_needed,
        "note": f.details.get("note") if isinstance(f.details.get("note"), str) else None,
        "in_family": f.in_family,
        "children": [_card(k, children, anchors, confidence, depth + 1) for k in kids[:MAX_CHILDREN]],
        "more_children": max(0, len(kids) - MAX_CHILDREN),
    }
