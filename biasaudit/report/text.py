"""Plain-text report for the terminal: the answer first (about 30 lines), then the evidence.

The first screen is :func:`biasaudit.report.summary.summarize` in words; the evidence follows by
bias type, each section once, most severe first, folded findings under the broader one that
explains them.  ``top`` caps the findings per section, ``verbose`` shows everything (info
findings, every folded finding, each detector's own summary).
"""
from __future__ import annotations

import textwrap

from .._safe import escape_text
from ..settings import SEVERITY_ORDER, severity_rank
from . import words
from .summary import ESTABLISHED, difference_ci, parents, prediction_rows, summarize, visible, short_sentence
from .words import BIAS_TITLES

__all__ = ["render_text", "render_summary_lines", "render_page", "render_notebook", "BIAS_TITLES",
           "SUMMARY_LINES", "DEFAULT_TOP", "prediction_rows", "difference_interval"]

#: Lines the first screen may take before the evidence starts.
SUMMARY_LINES = 34
#: Findings shown per evidence section unless ``top`` or ``verbose`` says otherwise.
DEFAULT_TOP = 8
_METRICS = (("tpr", "TPR"), ("fpr", "FPR"), ("ppv", "PPV"), ("selection_rate", "selected"))


def _v(value) -> str:
    """Every data value (names, levels, messages) goes through here before it is printed."""
    return str(value)


def _wrap(text: str, indent: str, width: int, hang: str = "    ") -> list:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + hang,
                         break_on_hyphens=False, break_long_words=False) or [indent]


# ------------------------------------------------------------------------------- AuditResult's entry
def render_page(result, path=None, *, timestamp: bool = False) -> str:
    """``AuditResult.to_html``: the HTML page (written atomically to ``path`` when given).

    :class:`~biasaudit.findings.AuditResult` reaches every reader through this module (one
    upward import, listed in the import-graph test), so the HTML modules are imported here lazily.
    """
    from .html import render_html, write_page
    page = render_html(result, timestamp=timestamp)
    if path is not None:
        write_page(result, path, page)
    return page


def render_notebook(result) -> str:
    """``AuditResult._repr_html_``: the summary and a collapsible findings table."""
    from .html import render_summary_html
    return render_summary_html(result)


# ------------------------------------------------------------------------------- the first screen
def render_summary_lines(result, *, width: int = 100, budget: int = SUMMARY_LINES) -> list:
    """The first screen: data, the named attributes' answers, top findings, what a model will
    learn, what the data are too few to tell.  Trimmed to ``budget`` lines (the evidence below
    keeps everything)."""
    s = summarize(result)
    d = result.dataset
    head = [f"biasaudit {result.tool.get('version', '')} — {_v(d.get('source'))}"]
    for line in s.data:
        head += _wrap(_v(line), "", width)
    if s.left_out:
        head += _wrap("Left out: " + "; ".join(f"{_v(c)}: {_v(w)}" for c, w in s.left_out) + ".", "", width)
    method = (result.sections.get("method") or {}).get("correction", result.settings.get("correction"))
    method = str(method).split(" (")[0]
    tested = (f"{s.family_size:,} hypotheses, {s.n_testable:,} testable at n={s.n_rows:,} "
              f"({_v(method)} at {s.alpha:g})")
    est = s.counts.established
    head += _wrap(tested + (f": {est} established finding{'s' if est != 1 else ''}." if est else
                            ": nothing is established at this n."), "", width)
    if not s.named:
        cand = f" (by name: {', '.join(map(_v, s.candidates))})" if s.candidates else ""
        head += _wrap("No sensitive attribute named: every attribute is scanned alike; name the ones you care "
                      f"about with -s to test them first{cand}.", "", width)

    answers = [_wrap(_answer_text(a, d), "  ", width) + [ln for note in a.notes for ln in _wrap(_v(note), "      ", width)]
               for a in s.answers]
    top = [_wrap(f"[{it.severity}] {_v(it.text)}{_related(it)}{f' ({it.key})' if it.key else ''}", "  ", width)
           for it in s.top]
    learned = [(_wrap(f"• {_v(it.text)} — {it.strength}", "  ", width),
                [ln for note in it.notes for ln in _wrap(_v(note), "        ", width)]) for it in s.learned]
    few = [_wrap(f"• {_v(it.text)}{_related(it)} — {it.strength}", "  ", width) for it in s.too_few]
    c = s.counts
    tail = ["", *_wrap(f"{c.headline()}{f' ({c.folded} folded under broader ones)' if c.folded else ''}; "
                       f"the evidence follows, by bias type.", "", width)]

    def assemble() -> list:
        out = list(head)
        if answers:
            out += ["", "THE ANSWER FOR THE SENSITIVE ATTRIBUTES YOU NAMED"] + [ln for a in answers for ln in a]
        if top:
            more = s.n_established_roots - len(top)
            out += ["", "TOP FINDINGS (established; about the label and the named attributes first, then most severe" + (f"; {more} more below)" if more > 0 else ")")]
            out += [ln for t in top for ln in t]
        if learned:
            out += ["", "WHAT A MODEL WILL LEARN FROM THESE DATA"]
            out += [ln for first, notes in learned for ln in first + notes]
        if few:
            out += ["", f"TOO FEW ROWS TO TELL ({s.n_too_few} pattern{'s' if s.n_too_few != 1 else ''} seen but "
                        f"not established; the closest to being settled first)"]
            out += [ln for f in few for ln in f]
        return out + tail

    # trim whole items to the budget, least important first; the named attributes are never cut
    while len(assemble()) > budget and len(few) > 1:
        few.pop()
    while len(assemble()) > budget and any(notes for _, notes in learned):
        i = max(i for i, (_, notes) in enumerate(learned) if notes)
        learned[i] = (learned[i][0], [])
    for block, keep in ((learned, 2), (top, 3), (few, 0), (learned, 1)):
        while len(assemble()) > budget and len(block) > keep:
            block.pop()
    return assemble()


def _related(it) -> str:
    return f" (+{it.related} related)" if it.related else ""


def _answer_text(a, d) -> str:
    rate_of = f"{d.get('label')}={d.get('positive')}"
    g = a.gap
    if g is None:
        return f"{_v(a.attribute)}: {a.verdict}."
    hi, lo = g["high"], g["low"]
    n_groups = len(a.groups)
    name_hi, name_lo = (_v(words.label(a.attribute, g_["group"])) for g_ in (hi, lo))
    if n_groups == 2:
        rates = (f"{rate_of} {words.pct(hi['rate'])} for {name_hi} (n={hi['n']:,.0f}) vs "
                 f"{words.pct(lo['rate'])} for {name_lo} (n={lo['n']:,.0f})")
    else:
        rates = (f"{rate_of} from {words.pct(lo['rate'])} ({name_lo}, n={lo['n']:,.0f}) to "
                 f"{words.pct(hi['rate'])} ({name_hi}, n={hi['n']:,.0f}) across {n_groups} groups")
    ci = (f" [{words.points(g['ci_low'])}, {words.points(g['ci_high'])}]" if g.get("ci_low") is not None else "")
    small = (f" ({g['left_out']} group{'s' if g['left_out'] != 1 else ''} under {g['floor']:,.0f} rows not compared)"
             if g.get("left_out") else "")
    return f"{_v(a.attribute)}: {rates}; gap {words.points(g['difference'])} points{ci}{small} — {a.verdict}"


# ------------------------------------------------------------------------------- the evidence
def render_text(result, *, width: int = 100, top: int | None = None, verbose: bool = False,
                show_info: bool | None = None, max_per_section: int | None = None) -> str:
    """The audit as text a person reads top to bottom.

    Parameters
    ----------
    result : AuditResult
    width : int
        Line width.
    top : int, optional
        Findings shown per evidence section (default ``DEFAULT_TOP``; every one with ``verbose``).
    verbose : bool
        Show everything: info findings, every folded finding in full, each detector's summary.
    show_info, max_per_section
        Older spellings of ``verbose`` (info findings) and ``top``.
    """
    if max_per_section is not None and top is None:
        top = max_per_section
    info = verbose if show_info is None else show_info
    limit = top if top is not None else (None if verbose else DEFAULT_TOP)
    lines = render_summary_lines(result, width=width)
    vis = visible(result)
    parent_of = parents(result)
    children: dict = {}
    for f in vis:
        if f.id in parent_of:
            children.setdefault(parent_of[f.id], []).append(f)
    derived = result.dataset.get("derived") or {}
    home = _section_homes(result, vis)
    known = list(BIAS_TITLES) + sorted({f.bias_type for f in vis} - set(BIAS_TITLES))
    probe_text = _probe_lines(result)
    info_only = []
    for bias_type in known:
        own = [f for f in vis if f.bias_type == bias_type]
        roots = [f for f in own if f.id not in parent_of]
        if bias_type == "learned_rule" and probe_text:
            roots = [f for f in roots if not (f.detector == "probe" and f.kind == "rule")]
        roots.sort(key=lambda f: (severity_rank(f.severity), any(a in derived for a in f.attributes)))
        extra = [] if bias_type != "learned_rule" else probe_text
        extra = extra + (_prediction_table(result, width) if bias_type == "prediction_disparity" else [])
        summaries = [ln for det in sorted(home.get(bias_type, ())) for ln in _detector_lines(result, det)] \
            if verbose else []
        if not own and not extra and not summaries:
            continue
        if not verbose and not extra and all(f.severity == "info" for f in own):
            info_only.append(f"{BIAS_TITLES.get(bias_type, bias_type).lower()} {len(own)}")
            continue
        lines.append("")
        counts = {s: sum(1 for f in own if f.severity == s) for s in SEVERITY_ORDER}
        tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        lines.append(BIAS_TITLES.get(bias_type, bias_type.replace("_", " ").capitalize()).upper()
                     + (f" — {tally}" if tally else ""))
        for ln in extra:
            pad = len(ln) - len(ln.lstrip(" "))
            lines += _wrap(ln.strip(), "  " + " " * pad, width)
        shown = [f for f in roots if info or f.severity != "info"]
        hidden_info = len(roots) - len(shown)
        cut = shown if limit is None else shown[:limit]
        for f in cut:
            lines += _finding_lines(f, children, verbose, width, result)
        more = len(shown) - len(cut)
        notes = []
        if more:
            notes.append(f"{more} more finding(s) here: --top {len(shown)} or --verbose shows them")
        if hidden_info:
            notes.append(f"{hidden_info} info observation(s): --verbose shows them")
        if notes:
            lines += _wrap("... " + "; ".join(notes) + " (all are in the JSON/HTML report).", "  ", width)
        for ln in summaries:
            lines += _wrap(ln, "  ", width)
    if info_only:
        lines.append("")
        lines += _wrap("Information only (--verbose shows it): " + ", ".join(info_only) + ".", "", width)
    if verbose:
        for name, section in result.sections.items():
            if name in _SHOWN or name in {d for ds in home.values() for d in ds}:
                continue
            text = section.get("text") if isinstance(section, dict) else None
            if text:
                lines.append("")
                for ln in (text if isinstance(text, list) else [text]):
                    lines += _wrap(_v(ln), "", width)
    return escape_text("\n".join(lines) + "\n")  # terminal escapes and bidi controls from the data, made visible


_SHOWN = ("probe", "method", "coverage_tables")


def _section_homes(result, vis) -> dict:
    """bias type -> detectors whose section summary belongs there."""
    home: dict = {}
    for f in vis:
        home.setdefault(f.detector, f.bias_type)
    for name in result.sections:
        if name in ("conditional",):
            home.setdefault(name, "group_attribution")
        elif name == "proxies":
            home.setdefault(name, "proxy")
        elif name == "label_quality":
            home.setdefault(name, "label_quality")
        elif name == "predictions":
            home.setdefault(name, "prediction_disparity")
    out: dict = {}
    for det, bt in home.items():
        if det in _SHOWN or det == "predictions":
            continue
        out.setdefault(bt, set()).add(det)
    return out


def _detector_lines(result, name: str) -> list:
    sec = result.sections.get(name)
    text = sec.get("text") if isinstance(sec, dict) else None
    if not text:
        return []
    return [_v(t) for t in (text if isinstance(text, list) else [text])]


def _probe_lines(result) -> list:
    sec = result.sections.get("probe")
    text = sec.get("text") if isinstance(sec, dict) else None
    if not text:
        return []
    lines = [_v(t) for t in (text if isinstance(text, list) else [text])]
    return [ln for ln in lines if not ln.startswith("WHAT DID THE MODEL LEARN")]


def _finding_lines(f, children, verbose, width, result) -> list:
    out = _wrap(f"[{f.severity}] {_v(f.message)}", "  ", width)
    diff = difference_interval(f, result)
    if diff:
        out += _wrap(diff, "      ", width)
    kids = children.get(f.id, [])
    if kids:
        out += _wrap(f"explains {len(kids)} narrower finding(s){'' if verbose else ', among them'}:", "      ", width)
        for k in (kids if verbose else kids[:3]):
            text = _v(k.message) if verbose else short_sentence(k, 140)
            sev = f" [{k.severity}]" if k.severity != "info" else ""
            out += _wrap(f"· {text}{sev}", "        ", width)
        if not verbose and len(kids) > 3:
            out += _wrap(f"· and {len(kids) - 3} more (--verbose)", "        ", width)
    if f.severity in ESTABLISHED and f.suggestion:
        out += _wrap(f"-> {_v(f.suggestion)}", "      ", width)
    return out


# ------------------------------------------------------------------------------- predictions
def _cell(r, key) -> str:
    v, lo, hi = r.get(key), r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
    if v is None:
        return "n/a"
    ci = f" [{100 * lo:.0f}-{100 * hi:.0f}]" if lo is not None and hi is not None else ""
    return f"{100 * v:.0f}%{ci}"


def _prediction_table(result, width: int) -> list:
    by_attr = prediction_rows(result)
    if not by_attr:
        return []
    alpha = float(result.settings.get("alpha", 0.05))
    out = [f"Rates by group with {100 * (1 - alpha):g}% Wilson intervals (TPR: true positives found; FPR: "
           f"negatives flagged; PPV: flagged that are positive; selected: share flagged):"]
    for attr, rows in by_attr.items():
        gw = min(24, max(len(_v(r["group"])) for r in rows) + len(attr) + 1)
        head = f"{'group':<{gw}} {'n':>7} " + " ".join(f"{name:>15}" for _, name in _METRICS)
        out.append("  " + head)
        for r in rows:
            g = f"{attr}={_v(r['group'])}"[:gw]
            out.append("  " + f"{g:<{gw}} {float(r.get('n') or 0):>7,.0f} "
                       + " ".join(f"{_cell(r, k):>15}" for k, _ in _METRICS))
    return out


def difference_interval(f, result) -> str | None:
    """For a two-group prediction finding: the difference with its Newcombe interval, in words."""
    alpha = float(result.settings.get("alpha", 0.05))
    c = difference_ci(f, alpha)
    if c is None:
        return None
    return (f"difference {words.points(c['difference'])} points, {100 * (1 - alpha):g}% interval "
            f"[{words.points(c['ci_low'])}, {words.points(c['ci_high'])}] (Newcombe); {_v(c['group'])}: "
            f"{words.pct(c['rate'])} of {c['n']:,}, {_v(c['other'])}: {words.pct(c['other_rate'])} of {c['other_n']:,}")
