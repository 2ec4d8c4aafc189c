"""What the HTML report shows, read from an :class:`AuditResult`: figures, tables, the method.

Private to :mod:`biasaudit.report.html`.  Readers of sections written by other detectors
(``coverage_tables``, ``probe``, representation findings) are defensive: a missing or
unexpected structure means "no figure", never an error.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ._fmt import finite_number as _num
from . import _probe, plots
from .summary import group_rates

__all__ = ["figures", "section_extras", "evidence_table", "method", "other_sections", "hidden"]

MAX_GROUPS = 25        # groups per rate plot (largest first)
MAX_RATE_PLOTS = 12    # sensitive attributes with a rate plot (strongest association first)
MAX_LEVELS = 12        # levels per heatmap axis
MAX_HEATMAPS = 2
MAX_FALLBACK_HEATMAPS = 4
MAX_LABEL_PANELS = 4
_PERCENT_KEYS = ("rate", "share", "ci_low", "ci_high", "purity", "confidence", "flip_rate")


def _is_number(value) -> bool:
    if isinstance(value, (bool, str)) or value is None:
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _fmt(key: str, value) -> str:
    from ._fmt import fmt_num
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(key, v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={_fmt(k, v)}" for k, v in value.items())
    if isinstance(value, str):
        return value
    v = _num(value)
    if v is not None and any(k in str(key).lower() for k in _PERCENT_KEYS) and 0 <= v <= 1:
        return f"{100 * v:.1f}%"
    return fmt_num(value)


def evidence_table(evidence, *, limit: int = 25) -> tuple[list, list]:
    """Columns (union of the row keys, first-seen order) and formatted rows of a finding's evidence.

    Each column is ``{"name", "numeric"}``; numeric columns are right-aligned by the template.
    """
    rows = [r for r in (evidence or ()) if isinstance(r, dict)]
    keys = list(OrderedDict.fromkeys(k for r in rows for k in r))
    columns = [{"name": str(k).replace("_", " "),
                "numeric": all(_is_number(r[k]) or r[k] is None for r in rows if k in r)} for k in keys]
    out = [[_fmt(k, r.get(k)) if k in r else "" for k in keys] for r in rows[:limit]]
    return columns, out


# ------------------------------------------------------------------------------- figures
def figures(result) -> dict:
    """Figures per bias type: ``{bias_type: [{"title", "svg", "caption"}]}``."""
    out: dict = {}
    counter = [0]

    def add(bias_type, title, fig, alt, caption):
        counter[0] += 1
        svg = plots.to_svg(fig, prefix=f"g{counter[0]}", alt=alt)
        wide = fig.get_figwidth() * 96 > 560
        out.setdefault(bias_type, []).append({"title": title, "svg": _markup(svg), "caption": caption,
                                              "wide": wide})

    for item in _rate_plots(result):
        add("group_attribution", *item)
    for item in _coverage_plots(result):
        add("overgeneralization", *item)
    for item in _reference_plots(result):
        add("selection", *item)
    for item in _probe.probe_figures(result):
        add("learned_rule", *item)
    from ._predviews import prediction_figures
    for item in prediction_figures(result):
        add("prediction_disparity", *item)
    return out


def _markup(svg: str):
    from markupsafe import Markup
    return Markup(svg)


def _positive_rate(result) -> float | None:
    d = result.dataset
    lc = d.get("label_counts") or {}
    total = sum(lc.values())
    return lc.get(d.get("positive"), 0) / total if total else None


def _rate_plots(result):
    d = result.dataset
    label, pos = d.get("label"), d.get("positive")
    alpha = result.settings.get("alpha", 0.05)
    assoc_of = {}
    for f in result.findings:  # sorted by severity: the strongest association first
        if f.detector == "group_attribution" and f.kind == "association" and len(f.attributes) == 1:
            assoc_of.setdefault(next(iter(f.attributes)), f)
    sensitive = list(d.get("sensitive", []))
    order = sorted(sensitive, key=lambda a: (a not in assoc_of, list(assoc_of).index(a) if a in assoc_of else 0))
    plotted = [a for a in sensitive if a in order[:MAX_RATE_PLOTS]]
    left_out = order[MAX_RATE_PLOTS:]
    for attribute in plotted:
        assoc = assoc_of.get(attribute)
        rows, ref = [], None
        if assoc is not None:
            rows = [{"group": str(r.get("group")), "n": _num(r.get("n")) or 0, "rate": _num(r.get("rate")),
                     "ci_low": _num(r.get("ci_low")), "ci_high": _num(r.get("ci_high"))}
                    for r in assoc.evidence if isinstance(r, dict) and _num(r.get("rate")) is not None]
            ref = assoc.details.get("reference_group")
        if not rows:
            rows = group_rates(result, attribute)
        if len(rows) < 2:
            continue
        if ref is None:
            ref = max(rows, key=lambda r: (r["n"], r["rate"]))["group"]
        dropped = 0
        if len(rows) > MAX_GROUPS:
            keep = sorted(rows, key=lambda r: -r["n"])[:MAX_GROUPS]
            dropped = len(rows) - len(keep)
            rows = [r for r in rows if r in keep]
        ref_row = next((r for r in rows if r["group"] == ref), None)
        outside = [r["group"] for r in rows if ref_row and ref_row["rate"]
                   and not plots.FOUR_FIFTHS * ref_row["rate"] <= r["rate"] <= ref_row["rate"] / plots.FOUR_FIFTHS]
        fig = plots.rate_figure(attribute, rows, label=label, positive=pos, reference_group=ref,
                                overall_rate=_positive_rate(result), alpha=alpha)
        alt = (f"Dot plot: share of {label}={pos} for each {attribute} group with "
               f"{100 * (1 - alpha):.0f}% Wilson intervals. "
               + "; ".join(f"{r['group']}: {100 * r['rate']:.0f}% of {r['n']:,.0f}" for r in rows[:12])
               + (". Outside the four-fifths band of the reference group: " + ", ".join(outside[:12])
                  if outside else ". Every group is inside the four-fifths band of the reference group") + ".")
        caption = (f"Each dot is the share of rows with {label}={pos} in the group, with its "
                   f"{100 * (1 - alpha):.0f}% Wilson interval. The green band spans 0.8 to 1.25 times the rate of "
                   f"the reference group ({attribute}={ref}, solid line); diamonds mark groups outside it "
                   f"(four-fifths rule). Dotted line: the overall rate."
                   + (f" {dropped} smaller groups are left out of the plot." if dropped else "")
                   + (f" Not plotted (weaker associations; rates in the embedded JSON): {', '.join(left_out)}."
                      if left_out and attribute == plotted[-1] else ""))
        yield f"{label}={pos} rate by {attribute}", fig, alt, caption


def _coverage_plots(result):
    """Two-way coverage from ``sections["coverage_tables"]``; else one-way from ``result.groups``."""
    tables = _coverage_tables(result)
    d = result.dataset
    if tables:
        for t in tables[:MAX_HEATMAPS]:
            a, b = t["attributes"]
            la, lb = t["levels"]
            obs, exp = t["observed"], t["expected"]
            sup = obs.sum(axis=2)
            panels = [(f"{d.get('label')} = {v}", obs[:, :, k], exp[:, :, k], sup)
                      for k, v in enumerate(t["label_values"][:MAX_LABEL_PANELS])]
            fig = plots.coverage_figure(a, b, la, lb, panels)
            empty = [f"{a}={la[i]} and {b}={lb[j]}" for i, j in zip(*np.nonzero(sup == 0))]
            zero = [f"{a}={la[i]}, {b}={lb[j]}: no {t['label_values'][k]}"
                    for i, j, k in zip(*np.nonzero((obs == 0) & (exp >= 0.5) & (sup[:, :, None] >= 2)))]
            alt = (f"Heatmaps of {a} by {b}, one per label value, coloured by observed over expected count. "
                   + (f"Combinations with no row: {'; '.join(empty[:10])}. " if empty else "")
                   + (f"Cells with a label missing: {'; '.join(zero[:10])}." if zero else
                      "No cell misses a label it is expected to have."))
            yield f"Coverage of {a} × {b}", fig, alt, _COVERAGE_CAPTION
        return
    label = d.get("label")
    lc = d.get("label_counts") or {}
    total = sum(lc.values())
    values = [v for v in d.get("label_values", list(lc))][:MAX_LABEL_PANELS]
    g = result.groups
    if g is None or len(g) == 0 or not total:
        return
    # one-way fallback: attributes named by single-attribute overgeneralization findings, else the
    # sensitive ones (their rates are also plotted under group attribution)
    derived = d.get("derived") or {}
    named = [a for f in result.findings if f.bias_type == "overgeneralization" and len(f.attributes) == 1
             and not hidden(f) for a in f.attributes if a not in derived]
    attrs = list(dict.fromkeys(named)) or [a for a in d.get("sensitive", []) if a not in derived]
    shown = 0
    for a in attrs:
        rows = g[g["attribute"] == a].to_dict(orient="records")
        if not 2 <= len(rows) <= 2 * MAX_LEVELS or shown >= MAX_FALLBACK_HEATMAPS:
            continue
        rows = sorted(rows, key=lambda r: -r["n"])[:MAX_LEVELS]
        n = np.array([float(r["n"]) for r in rows])
        obs = np.array([[float(r.get(f"rate:{v}", 0.0)) * r["n"] for v in values] for r in rows])
        exp = np.outer(n, [lc.get(v, 0) / total for v in values])
        sup = np.repeat(n[:, None], len(values), axis=1)
        fig = plots.coverage_figure(a, label, [r["group"] for r in rows], values,
                                    [("", obs, exp, sup)])
        zero = [f"{a}={rows[i]['group']}: no {values[j]}"
                for i, j in zip(*np.nonzero((obs == 0) & (exp >= 0.5) & (sup >= 2)))]
        alt = (f"Heatmap of {a} by {label}: observed and expected counts per cell. "
               + (f"Missing combinations: {'; '.join(zero[:10])}." if zero else "Every expected combination occurs."))
        shown += 1
        yield f"Coverage of {a} by {label}", fig, alt, _COVERAGE_CAPTION_1WAY


_COVERAGE_CAPTION = ("Each cell shows the observed count (top) and the count expected if the label did not depend "
                     "on the combination (bottom: rows in the cell × overall label share). Orange: fewer than "
                     "expected; blue: more. ★ and a frame mark a label that is missing or at most half as frequent "
                     "as expected in a cell of at least 2 rows; hatched cells hold no row at all.")
_COVERAGE_CAPTION_1WAY = ("Each cell shows the observed count (top) and the count expected from the overall label "
                          "shares (bottom). Orange: fewer than expected; blue: more. ★ and a frame mark a label that "
                          "is missing or at most half as frequent as expected in a group of at least 2 rows.")


def _coverage_tables(result) -> list:
    sec = result.sections.get("coverage_tables")
    if isinstance(sec, dict):
        raw = sec.get("tables", [])
        label_values = sec.get("label_values")
    elif isinstance(sec, list):
        raw, label_values = sec, None
    else:
        return []
    out = []
    for t in raw:
        try:
            attrs = list(t["attributes"])
            levels = [list(map(str, lv)) for lv in t["levels"]]
            values = list(map(str, t.get("label_values") or label_values))
            obs = np.asarray(t["observed"], dtype=float)
            if len(attrs) != 2 or obs.shape != (len(levels[0]), len(levels[1]), len(values)):
                continue
            if "expected" in t and t["expected"] is not None:
                exp = np.asarray(t["expected"], dtype=float)
            else:  # E = support x n_L / n (STATISTICS.md §3.2, M1)
                n_l = obs.sum(axis=(0, 1))
                exp = obs.sum(axis=2)[:, :, None] * n_l[None, None, :] / max(obs.sum(), 1)
            if exp.shape != obs.shape or max(len(levels[0]), len(levels[1])) > MAX_LEVELS:
                continue
        except (KeyError, TypeError, ValueError):
            continue
        out.append({"attributes": attrs, "levels": levels, "label_values": values, "observed": obs,
                    "expected": exp})
    derived = result.dataset.get("derived") or {}
    out.sort(key=lambda t: sum(a in derived for a in t["attributes"]))  # original columns first
    return out


_LEVEL_KEYS = ("value", "level", "group")
_SAMPLE_KEYS = ("share", "sample_share", "observed_share", "q")
_REF_KEYS = ("reference_share", "reference", "expected_share", "p_ref", "population_share")


def _pick(row: dict, keys):
    for k in keys:
        if k in row and _num(row[k]) is not None:
            return _num(row[k])
    return None


def _reference_plots(result):
    per_attr: dict = OrderedDict()
    for f in result.findings:
        if f.kind != "representation" or hidden(f):
            continue
        attr = next(iter(f.attributes), None)
        if attr is None:
            continue
        for r in f.evidence:
            if not isinstance(r, dict):
                continue
            level = next((r[k] for k in (*_LEVEL_KEYS, attr) if k in r and r[k] is not None), None)
            s, p = _pick(r, _SAMPLE_KEYS), _pick(r, _REF_KEYS)
            if level is not None and s is not None and p is not None:
                per_attr.setdefault(attr, OrderedDict()).setdefault(str(level), (s, p))
    for attr, levels in per_attr.items():
        if not levels:
            continue
        names = list(levels)[:MAX_GROUPS]
        sample = [levels[k][0] for k in names]
        ref = [levels[k][1] for k in names]
        fig = plots.reference_figure(attr, names, sample, ref)
        alt = (f"Dumbbell chart of {attr}: sample share against reference share. "
               + "; ".join(f"{k}: {100 * s:.0f}% in the sample vs {100 * p:.0f}%" for k, s, p in
                           zip(names[:12], sample, ref)) + ".")
        caption = ("Dots: share of each level in this sample; squares: its share in the reference population. "
                   "The ratio sample/reference is written on the right; levels outside 0.8-1.25 (the four-fifths "
                   "band read both ways) are drawn and labelled in orange, whether or not the difference is "
                   "statistically supported (see the cards below).")
        yield f"{attr}: sample vs reference", fig, alt, caption


def hidden(f) -> bool:
    """True when the finding asks to be counted but not shown (``details["hidden"]``)."""
    return bool(f.details.get("hidden")) if f.details else False


def section_extras(result, bias_type: str, detectors: set) -> list:
    """Blocks that belong to a bias-type section but are not findings: detector summaries
    (``sections[detector]["text"]``), the coverage counts and the probe's rules."""
    out = []
    for name in sorted(detectors):
        sec = result.sections.get(name)
        if name == "probe" or not isinstance(sec, dict):
            continue
        text = sec.get("text")
        lines = [text] if isinstance(text, str) else [str(t) for t in (text or [])]
        if lines:
            out.append({"type": "lines", "title": str(sec.get("title") or "Summary"), "lines": lines})
        cov = sec.get("coverage")
        if isinstance(cov, dict) and cov.get("hypotheses") is not None:
            out.append({"type": "lines", "title": "What the cell scan could test", "lines": [_coverage_line(cov)]})
    if bias_type == "learned_rule" or "probe" in detectors:
        out.extend(_probe.probe_blocks(result))
    return out


def _coverage_line(cov: dict) -> str:
    from ._fmt import fmt_num
    parts = [f"{fmt_num(cov.get('cells'))} cells of up to {cov.get('k_max')} attributes were scanned: "
             f"{fmt_num(cov.get('hypotheses'))} hypotheses, {fmt_num(cov.get('testable'))} testable at this n."]
    if cov.get("uninformative"):
        parts.append(f"{fmt_num(cov['uninformative'])} empty or near-empty cells are uninformative (absence is "
                     f"expected by chance) and only counted.")
    s_min = cov.get("min_support_pure_rule")
    if isinstance(s_min, dict) and s_min:
        parts.append("A rule 'every row with this combination is L' needs at least "
                     + ", ".join(f"{fmt_num(v)} rows for {k}" if v is not None else f"more rows than exist for {k}"
                                 for k, v in s_min.items()) + " to be testable.")
    if cov.get("truncated"):
        parts.append("The scan was truncated: too many cells.")
    return " ".join(parts)


# -------------------------------------------------------------------------------- method
def _plain(x):
    if hasattr(x, "to_dict"):
        return x.to_dict()
    return x


def method(result) -> dict:
    m = dict(result.sections.get("method", {}) or {})
    tests: dict = {}
    for f in result.findings:
        if f.test:
            tests[f.test] = tests.get(f.test, 0) + 1
    rules = [_plain(r) for r in (m.get("severity_rules") or ())]
    rules = [{"severity": r.get("severity"), "text": r.get("rule") or r.get("description") or ""}
             for r in rules if isinstance(r, dict)]
    thresholds = []
    for name, th in dict(m.get("effect_thresholds") or {}).items():
        th = _plain(th)
        if isinstance(th, dict):
            thresholds.append({"name": name.replace("_", " "), "small": th.get("small"), "medium": th.get("medium"),
                               "large": th.get("large"), "direction": th.get("direction"),
                               "description": th.get("description", "")})
    software = m.get("software") or {}
    return {
        "correction": m.get("correction", result.settings.get("correction")),
        "alpha": m.get("alpha", result.settings.get("alpha")),
        "seed": m.get("random_state", result.settings.get("random_state")),
        "testability": m.get("testability"), "test_choice": m.get("test_choice"),
        "tests": sorted(tests.items(), key=lambda kv: (-kv[1], kv[0])),
        "severity_rules": rules, "thresholds": thresholds,
        "software": sorted((str(k), str(v)) for k, v in software.items()),
        "settings": [(k.replace("_", " "), _fmt(k, v)) for k, v in result.settings.items()],
        "family_size": result.family_size, "n_testable": result.n_testable,
    }


def other_sections(result, shown: set) -> list:
    """Sections with a ``text`` that no bias-type section has shown."""
    out = []
    for name, sec in result.sections.items():
        if name in shown or name in ("method", "probe", "coverage_tables") or not isinstance(sec, dict):
            continue
        text = sec.get("text")
        if text:
            out.append({"title": str(sec.get("title") or name.replace("_", " ").capitalize()),
                        "lines": text if isinstance(text, list) else [text]})
    return out
