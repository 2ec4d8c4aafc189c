"""Plain-text report for the terminal: a short header, then findings by bias type, strongest first."""
from __future__ import annotations

import html
import textwrap

from .._safe import escape_text
from ..settings import SEVERITY_ORDER

__all__ = ["render_text", "render_html_summary", "BIAS_TITLES"]

BIAS_TITLES = {
    "selection": "Selection bias",
    "overgeneralization": "Overgeneralization",
    "group_attribution": "Group attribution",
    "reporting": "Reporting bias",
    "proxy": "Proxies",
    "learned_rule": "What a model learns (probe)",
    "prediction_disparity": "Prediction disparities",
    "label_quality": "Label quality",
}
ESTABLISHED = ("critical", "high", "medium", "low")


def _wrap(text: str, indent: str, width: int) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_on_hyphens=False, break_long_words=False)


def _fmt_share(k, n) -> str:
    return f"{k:g} ({100 * k / n:.0f}%)" if n else f"{k:g}"


def render_text(result, *, width: int = 100, show_info: bool = True, max_per_section: int = 25) -> str:
    """The audit as text a person reads top to bottom."""
    d = result.dataset
    lines = []
    lines.append(f"biasaudit {result.tool.get('version', '')} — {d['source']}")
    n = d["n_rows_audited"]
    lc = d["label_counts"]
    total = sum(lc.values())
    dist = ", ".join(f"{k} {_fmt_share(v, total)}" for k, v in sorted(lc.items(), key=lambda kv: -kv[1]))
    rows = f"{n:,} rows" + (f" (weighted total {d['n_weighted']:,.0f})" if d.get("n_weighted") else "")
    lines.append(f"{rows} · label {d['label']}: {dist} · rates compared for {d['label']}={d['positive']}")
    kinds = {c["name"]: c["kind"] for c in d["columns"]}
    attrs = [a for a in d["attributes"] if a not in d["derived"]]
    desc = []
    for a in attrs:
        extra = f", bins {', '.join(f'{e:g}' for e in d['bins'][a])}" if a in d["bins"] else ""
        desc.append(f"{a} ({kinds.get(a, 'categorical')}{extra})")
    lines.append(_wrap("attributes: " + ", ".join(desc), "", width))
    if d["derived"]:
        parents = sorted(set(d["derived"].values()))
        lines.append(_wrap(f"derived: {len(d['derived'])} indicator/count column(s) from "
                           f"{', '.join(parents)}", "", width))
    if d["excluded"]:
        lines.append(_wrap("left out: " + "; ".join(f"{c} ({w})" for c, w in d["excluded"].items()), "", width))
    m = result.sections.get("method", {})
    lines.append(_wrap(
        f"hypotheses: {result.family_size} in the family, {result.n_testable} testable at n={n:,}; "
        f"{m.get('correction', result.settings.get('correction'))} at {result.settings['alpha']:g}", "", width))
    counts = result.counts_by_severity()
    lines.append("severity: " + " · ".join(f"{counts[s]} {s}" for s in SEVERITY_ORDER if counts[s]))
    if result.n_testable == 0:
        lines.append(_wrap("Nothing here can be established at this n: every pattern below is observed, "
                           "not proven. 'No finding' would not mean 'no bias'.", "", width))
    by_type: dict = {}
    for f in result.findings:
        by_type.setdefault(f.bias_type, []).append(f)
    children: dict = {}
    for f in result.findings:
        if f.explained_by:
            children.setdefault(f.explained_by, []).append(f)
    for bias_type, title in BIAS_TITLES.items():
        fs = [f for f in by_type.get(bias_type, []) if not f.explained_by]
        if not fs:
            continue
        lines.append("")
        lines.append(title.upper())
        shown = 0
        for f in fs:
            if f.severity == "info" and not show_info:
                continue
            if shown >= max_per_section:
                lines.append(f"  ... {len(fs) - shown} more in the JSON/HTML report")
                break
            lines.append(_wrap(f"[{f.severity}] {f.message}", "  ", width))
            kids = children.get(f.id, [])
            if kids:
                lines.append(_wrap(f"explains {len(kids)} further finding(s), among them:", "      ", width))
                for k in kids[:3]:
                    lines.append(_wrap("· " + _short(k), "        ", width))
                if len(kids) > 3:
                    lines.append(_wrap("· and " + "; ".join(_cell(k) for k in kids[3:8])
                                       + (" ..." if len(kids) > 8 else ""), "        ", width))
            if f.severity in ESTABLISHED and f.suggestion:
                lines.append(_wrap(f"-> {f.suggestion}", "      ", width))
            shown += 1
    for name, section in result.sections.items():
        text = section.get("text") if isinstance(section, dict) else None
        if text:
            lines.append("")
            lines.extend(text if isinstance(text, list) else [text])
    return escape_text("\n".join(lines) + "\n")  # terminal escapes and bidi controls from the data, made visible


def _short(f, limit: int = 150) -> str:
    """A folded finding in one short line: its sentence without the verdict, and its p-value."""
    text = f.message.split(" — ")[0]
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = cut + " ..."
    return text + (f" [{f.severity}]" if f.severity != "info" else "")


def _cell(f) -> str:
    return " and ".join(k if v is None else f"{k}={v}" for k, v in f.attributes.items()) + (
        f" ({f.label_value})" if f.label_value is not None else "")


def render_html_summary(result) -> str:
    """A compact HTML table for notebooks (``AuditResult._repr_html_``); every value escaped."""
    e = html.escape
    d = result.dataset
    rows = "".join(
        f"<tr><td>{e(f.severity)}</td><td>{e(f.bias_type)}</td><td>{e(f.message)}</td></tr>"
        for f in result.findings if f.severity != "info")
    return (f"<div><p><b>biasaudit</b>: {e(str(d['source']))}, {d['n_rows_audited']:,} rows, label "
            f"<code>{e(str(d['label']))}</code></p><table><thead><tr><th>severity</th><th>bias type</th>"
            f"<th>finding</th></tr></thead><tbody>{rows}</tbody></table></div>")
