"""The self-contained HTML report: one file, no network request, every data value escaped.

:func:`render_html` reads an :class:`~biasaudit.findings.AuditResult` and fills
``templates/report.html`` (Jinja2, autoescape on).  The page opens with the same summary as the
text report (:mod:`biasaudit.report.summary`); the evidence follows, collapsed, with a filter by
severity, bias type and attribute and a search box.  The filter is one small inline script that
the page's Content-Security-Policy allows by its SHA-256 hash (no other script runs; without
it every finding is simply shown).  Plots are inline SVG built by :mod:`biasaudit.report.plots`;
the whole result is embedded as JSON (numbers to ``EMBED_DIGITS`` significant digits) in
``<script type="application/json" id="biasaudit-result">``
with ``<``, ``>``, ``&``, U+2028 and U+2029 written as ``\\uXXXX`` escapes, so no value can close
the element.  Without ``timestamp=True`` two renders of one result are byte-identical.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .._safe import escape_text
from ..settings import SEVERITY_ORDER, severity_rank
from . import _cards, _views
from ._atomic import atomic_write_text
from ._fmt import fmt_num, fmt_p, fmt_pct
from ._predviews import prediction_blocks
from .summary import parents, summarize, visible
from .words import BIAS_TITLES

__all__ = ["render_html", "write_html", "write_page", "embed_json", "rounded", "EMBED_DIGITS", "build_context",
           "render_summary_html",
           "fmt_num", "fmt_p", "fmt_pct", "FILTER_SCRIPT", "script_hash"]

ESTABLISHED = ("critical", "high", "medium", "low")
#: Root findings rendered as cards per section; the rest stay in the embedded JSON (and are counted).
MAX_CARDS = 400
#: Severities shown when the page opens (the filter's defaults); info is one click away.
DEFAULT_SEVERITIES = ("critical", "high", "medium", "low", "weak-evidence", "insufficient-data")

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
    "critical": "established, large effect", "high": "established, medium or large effect",
    "medium": "established, small or larger effect", "low": "established but negligible",
    "weak-evidence": "pattern seen, not established after correction",
    "insufficient-data": "pattern seen, n too small to test", "info": "observation, no test",
}

#: The page's only executable script: the evidence filter.  Allowed by its hash (``script_hash``).
FILTER_SCRIPT = """(function(){
var form=document.getElementById("filters");if(!form)return;
var cards=[].slice.call(document.querySelectorAll("#evidence .card"));
var kids=[].slice.call(document.querySelectorAll("#evidence .kid"));
var secs=[].slice.call(document.querySelectorAll("#evidence .ev-section"));
var out=document.getElementById("shown");var texts=new Map();
function text(el){if(!texts.has(el))texts.set(el,el.textContent.toLowerCase());return texts.get(el);}
function match(el,f){return f.sev[el.dataset.sev]&&(!f.type||el.dataset.type===f.type)&&
(!f.col||("|"+el.dataset.cols+"|").indexOf("|"+f.col+"|")>=0)&&(!f.q||text(el).indexOf(f.q)>=0);}
function apply(){var f={sev:{},type:form.elements.type.value,col:form.elements.col.value,
q:form.elements.q.value.trim().toLowerCase()};
[].forEach.call(form.querySelectorAll("input[name=sev]"),function(b){f.sev[b.value]=b.checked;});
var narrow=!!(f.type||f.col||f.q),n=0;
kids.forEach(function(k){var ok=match(k,f);k.hidden=!ok;if(ok)n++;});
cards.forEach(function(c){var own=match(c,f),kid=!!c.querySelector(".kid:not([hidden])");
c.hidden=!(own||kid);if(own)n++;if(kid&&narrow)c.open=true;});
secs.forEach(function(s){var any=s.querySelector(".card:not([hidden])");
s.hidden=s.querySelector(".card")?!any:(narrow&&!(f.type===s.dataset.type));});
out.textContent=n+" of "+out.dataset.total+" findings shown";}
form.addEventListener("input",apply);form.addEventListener("change",apply);
form.addEventListener("reset",function(){setTimeout(apply,0);});
function reveal(id){var el=document.getElementById(id);if(!el)return;if(el.closest("[hidden]")){form.reset();
[].forEach.call(form.querySelectorAll("input[name=sev]"),function(b){b.checked=true;});apply();}
for(var p=el;p;p=p.parentElement){if(p.tagName==="DETAILS")p.open=true;}}
document.addEventListener("click",function(e){var a=e.target.closest("a[href^='#f']");
if(a)reveal(a.getAttribute("href").slice(1));});
apply();if(location.hash)reveal(location.hash.slice(1));})();"""


def script_hash(script: str = FILTER_SCRIPT) -> str:
    """The CSP source (``'sha256-...'``) that allows exactly ``script``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


#: Significant digits of the numbers in the page's embedded JSON (the JSON report keeps every digit).
EMBED_DIGITS = 7


def rounded(value, digits: int = EMBED_DIGITS):
    """``value`` with every float rounded to ``digits`` significant digits (ints, strings untouched)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


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


def render_summary_html(result, *, max_rows: int = 200) -> str:
    """The notebook view (``AuditResult._repr_html_``): the summary and a collapsible findings table."""
    ctx = summary_context(result)
    vis = visible(result)
    parent_of = parents(result)
    roots = sorted((f for f in vis if f.id not in parent_of and f.severity != "info"),
                   key=lambda f: severity_rank(f.severity))
    ctx["rows"] = [{"severity": f.severity, "type": BIAS_TITLES.get(f.bias_type, f.bias_type),
                    "subject": _cards._subject(f), "message": f.message, "q": f.p_adjusted, "n": f.n}
                   for f in roots[:max_rows]]
    ctx["more_rows"] = max(0, len(roots) - max_rows)
    ctx["n_info"] = sum(1 for f in vis if f.severity == "info")
    return _environment().get_template("notebook.html").render(**ctx)


def write_html(result, path, *, timestamp: bool = False) -> None:
    """Write the HTML report atomically (temporary file in the same folder, then a rename).

    Refuses to write over the audited file itself; a failed render leaves no file behind.
    """
    write_page(result, path, render_html(result, timestamp=timestamp))


def write_page(result, path, page: str) -> None:
    """Write a rendered page atomically, never over the audited data file."""
    source = Path(str(result.dataset.get("source", "")))
    if source.is_file() and Path(path).resolve() == source.resolve():
        raise ValueError(f"The report path {path} is the audited data file; choose another file name.")
    atomic_write_text(path, page)


# ---------------------------------------------------------------------------------- context
def summary_context(result) -> dict:
    """What the summary block needs (shared by the page and the notebook view)."""
    s = summarize(result)
    d = result.dataset
    lc = d.get("label_counts", {}) or {}
    total = sum(float(v) for v in lc.values()) or 1.0
    labels = [{"value": k, "n": float(v), "share": float(v) / total, "positive": k == d.get("positive")}
              for k, v in sorted(lc.items(), key=lambda kv: (-float(kv[1]), str(kv[0])))]
    method = (result.sections.get("method") or {}).get("correction", result.settings.get("correction"))
    return {"s": s, "labels": labels, "label": d.get("label"), "positive": d.get("positive"),
            "source": str(d.get("source", "")), "correction": str(method).split(" (")[0],
            "anchor": _cards.anchor, "severity_help": SEVERITY_HELP, "tool": dict(result.tool),
            "confidence": f"{100 * (1 - float(result.settings.get('alpha', 0.05))):g}%"}


def build_context(result) -> dict:
    """Everything the template needs, as plain values (the template only lays them out)."""
    d = result.dataset
    alpha = float(result.settings.get("alpha", 0.05))
    confidence = f"{100 * (1 - alpha):g}%"
    derived = dict(d.get("derived") or {})
    index = {id(f): i for i, f in enumerate(result.findings)}
    vis = visible(result)
    parent_of = parents(result)
    kids: dict = {}
    for f in vis:
        if f.id in parent_of:
            kids.setdefault(parent_of[f.id], []).append((f, index[id(f)]))
    figures = _views.figures(result)
    home: dict = {}  # detector -> the bias type whose section shows its summary
    for f in vis:
        home.setdefault(f.detector, f.bias_type)
    if "probe" in result.sections:
        home.setdefault("probe", "learned_rule")
    sections, shown = [], set()
    known = list(BIAS_TITLES) + sorted({f.bias_type for f in vis} - set(BIAS_TITLES))
    for bias_type in known:
        own = [f for f in vis if f.bias_type == bias_type]
        roots = [f for f in own if f.id not in parent_of]
        roots.sort(key=lambda f: (severity_rank(f.severity), any(a in derived for a in f.attributes)))
        detectors = {det for det, bt in home.items() if bt == bias_type}
        shown |= detectors
        extra = _views.section_extras(result, bias_type, detectors)
        if bias_type == "prediction_disparity":
            extra = prediction_blocks(result) + extra
        figs = figures.get(bias_type, [])
        if not own and not figs and not extra:
            continue
        cards = []
        for f in roots[:MAX_CARDS]:
            mine = [(k, j) for k, j in kids.get(f.id, [])]
            cards.append(_cards.card(f, index[id(f)], mine, derived, confidence, alpha))
        rest = roots[MAX_CARDS:]
        sections.append({
            "key": bias_type, "anchor": f"sec-{bias_type}",
            "title": BIAS_TITLES.get(bias_type, bias_type.replace("_", " ").capitalize()),
            "intro": BIAS_INTROS.get(bias_type, ""), "n": len(own),
            "counts": [(s, n) for s in SEVERITY_ORDER if (n := sum(1 for f in own if f.severity == s))],
            "cards": cards, "more": len(rest) + sum(len(kids.get(f.id, [])) for f in rest),
            "figures": figs, "extra": extra, "n_hidden": sum(1 for f in result.findings if f.bias_type == bias_type
                                                             and f.details and f.details.get("hidden")),
        })
    ctx = summary_context(result)
    c = ctx["s"].counts
    columns: dict = {}
    for f in vis:
        for col in _cards._columns(f, derived).split("|"):
            if col:
                columns[col] = columns.get(col, 0) + 1
    ctx.update({
        "title": f"biasaudit report: {Path(str(d.get('source', 'data'))).name}",
        "sections": sections,
        "filters": {"severities": [(s, c.by_severity.get(s, 0), s in DEFAULT_SEVERITIES) for s in SEVERITY_ORDER
                                   if c.by_severity.get(s)],
                    "types": [(sec["key"], sec["title"], sec["n"]) for sec in sections if sec["n"]],
                    "columns": sorted(columns.items(), key=lambda kv: (-kv[1], kv[0]))[:200]},
        "method": _views.method(result),
        "other_sections": _views.other_sections(result, shown | {"predictions"}),
        "header": _header(result),
        "script": Markup(FILTER_SCRIPT), "script_hash": Markup(script_hash()),  # base64 only
        "result_json": Markup(embed_json(json.dumps(rounded(result.to_dict()), ensure_ascii=False,
                                                    allow_nan=False, separators=(",", ":")))),
    })
    return ctx


def _header(result) -> dict:
    d = result.dataset
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
    st = result.settings
    return {"n_rows": d.get("n_rows"), "n_audited": d.get("n_rows_audited"), "n_weighted": d.get("n_weighted"),
            "attributes": attrs, "ids": list(d.get("ids", []) or []), "weight": d.get("weight"),
            "notes": list(d.get("notes", []) or []), "seed": st.get("random_state"), "alpha": st.get("alpha")}
