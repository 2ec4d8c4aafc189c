"""The first screen of every report: the answer first, the evidence a click away.

:func:`summarize` reads an :class:`~biasaudit.findings.AuditResult` and returns a :class:`Summary`
of plain values that the text report prints in about 30 lines and the HTML report lays out:

* the data: rows, label, what was left out and why;
* the answer for each named sensitive attribute: rates by group, the largest gap with its
  interval, the verdict of its test;
* the top findings: established ones, ranked by severity then support, one per root cause;
* what a model will learn from these data: the probe's rules and the coverage rules, in words,
  each with how strongly the data support it;
* what the data are too few to tell, with the rows that would settle it.

It runs no new test.  It selects, ranks and words findings; a group's rate and its Wilson
interval come from the audit's group table (``result.groups``); the only number it still derives
is the Newcombe interval of the gap between two groups (:func:`biasaudit.stats.newcombe_diff_ci`).  Folding and counting rules shared by every reader live here too
(:func:`parents`, :func:`counts`) so that the text, the HTML and the notebook agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..settings import SEVERITY_ORDER, severity_rank
from . import words
from .learned import learned_statements
from .words import short_sentence, strength

__all__ = ["Summary", "Item", "Answer", "Counts", "summarize", "parents", "counts", "visible",
           "named_sensitive", "group_rates", "short_sentence", "difference_ci", "prediction_rows", "ESTABLISHED", "MAX_TOP"]

ESTABLISHED = ("critical", "high", "medium", "low")
NOT_ESTABLISHED = ("weak-evidence", "insufficient-data")
MAX_TOP = 10
MAX_TOO_FEW = 4
#: Groups smaller than max(MIN_GAP_N, min(MAX_GAP_N, GAP_SHARE x n)) rows do not set the largest gap
#: when at least two groups are that large (tiny groups would make every gap "from 0% to 100%").
MIN_GAP_N, MAX_GAP_N, GAP_SHARE = 10, 100, 0.02


@dataclass(frozen=True)
class Item:
    """One line of the summary: a plain sentence, how strongly the data support it, its finding."""

    text: str
    strength: str
    severity: str
    index: int | None = None       # position of the finding in ``result.findings`` (the evidence card)
    related: int = 0               # further findings with the same root cause
    key: str = ""                  # its key statistic in short (``q=3.3e-23``)
    tag: str = ""                  # the badge: the severity, or the strength of a learned statement
    notes: tuple = ()              # sub-statements (e.g. gaps a rule implies)


@dataclass(frozen=True)
class Answer:
    """The answer for one named sensitive attribute."""

    attribute: str
    groups: list                   # dicts: group, n, rate, ci_low, ci_high
    gap: dict | None               # high, low (group dicts), difference, ci_low, ci_high
    verdict: str
    severity: str
    index: int | None = None
    notes: tuple = ()              # what happens to the gap when another attribute is held fixed


@dataclass(frozen=True)
class Counts:
    """Finding counts every reader shows (folded findings included, hidden ones not)."""

    by_severity: dict
    total: int
    established: int
    not_established: int
    info: int
    folded: int
    hidden: int

    def headline(self) -> str:
        parts = [f"{self.by_severity[s]} {s}" for s in SEVERITY_ORDER if self.by_severity.get(s)]
        return f"{self.total} finding{'s' if self.total != 1 else ''}" + (f": {', '.join(parts)}" if parts else "")


@dataclass(frozen=True)
class Summary:
    data: list
    left_out: list                 # (column, why)
    named: list                    # named sensitive attributes ([] when none was named)
    candidates: list               # attributes whose names suggest a protected characteristic
    answers: list
    top: list
    n_established_roots: int
    learned: list
    too_few: list
    n_too_few: int
    counts: Counts
    alpha: float
    family_size: int
    n_testable: int
    n_rows: int
    derived_parents: dict = field(default_factory=dict)
    n_attributes: int = 0


# ----------------------------------------------------------------------------- shared rules
def visible(result) -> list:
    """Findings a reader shows (``details["hidden"]`` ones are counted in the method only)."""
    return [f for f in result.findings if not (f.details and f.details.get("hidden"))]


def named_sensitive(result) -> list:
    """The sensitive attributes the user named; [] when none was named.

    Read from the primary family when the audit set one (``Finding.family == "primary"``), else
    from ``dataset["sensitive_named"]``; else ``dataset["sensitive"]`` counts as named only when it
    is not simply every audited attribute (the default when ``-s`` is not given).
    """
    d = result.dataset
    derived = d.get("derived") or {}
    if "sensitive_named" in d:
        return [str(a) for a in d.get("sensitive_named") or ()]
    primary = [a for f in result.findings if f.family == "primary" for a in f.attributes]
    if primary:
        sens = [a for a in d.get("sensitive", []) if a in set(primary)]
        return sens or list(dict.fromkeys(a for a in primary if a not in derived))
    sens = [a for a in d.get("sensitive", []) or () if a not in derived]
    attrs = [a for a in d.get("attributes", []) or () if a not in derived]
    return [] if set(sens) == set(attrs) else sens


def parents(result) -> dict:
    """``{finding id: root id}`` of the findings shown folded under a broader one.

    A child is folded only under a visible parent at least as severe as itself, and a finding on
    a named sensitive attribute only under a parent on that attribute: otherwise it is shown as
    a finding of its own (folding never hides).  Chains are flattened: a child whose parent is
    itself folded is shown under the root of the chain.
    """
    vis = visible(result)
    by_id = {f.id: f for f in vis}
    named = set(named_sensitive(result))
    out = {}
    for f in vis:
        p = by_id.get(f.explained_by) if f.explained_by else None
        if p is None or p is f:
            continue
        if severity_rank(p.severity) > severity_rank(f.severity):
            continue
        if (named & set(f.attributes)) - set(p.attributes):
            continue
        out[f.id] = p.id
    # a chain (child -> folded parent -> root) is shown one level deep: under its root
    flat = {}
    for child in out:
        top, seen = out[child], {child}
        while top in out and top not in seen:
            seen.add(top)
            top = out[top]
        if top not in seen and severity_rank(by_id[top].severity) <= severity_rank(by_id[child].severity):
            flat[child] = top
    return flat


def difference_ci(f, alpha: float) -> dict | None:
    """A two-group prediction finding's difference with its Newcombe interval (``stats.newcombe_diff_ci``).

    The detector's ``ci_low``/``ci_high`` bound the first group's rate; this is the interval of the
    difference itself.  None for other findings.
    """
    from .. import stats
    if f.detector != "predictions" or not (f.effect_size_name or "").endswith("_difference"):
        return None
    ev = [r for r in f.evidence if isinstance(r, dict) and "events" in r and "n" in r]
    if len(ev) != 2:
        return None
    try:
        (k1, n1), (k2, n2) = ((int(round(float(r["events"]))), int(round(float(r["n"])))) for r in ev)
        lo, hi = stats.newcombe_diff_ci(k1, n1, k2, n2, alpha)
    except (TypeError, ValueError):
        return None
    return {"difference": k1 / n1 - k2 / n2, "ci_low": lo, "ci_high": hi, "group": str(ev[0]["group"]),
            "rate": k1 / n1, "n": n1, "other": str(ev[1]["group"]), "other_rate": k2 / n2, "other_n": n2}


def counts(result) -> Counts:
    vis = visible(result)
    by = {s: 0 for s in SEVERITY_ORDER}
    for f in vis:
        by[f.severity] = by.get(f.severity, 0) + 1
    n_hidden = len(result.findings) - len(vis) + int(
        (result.sections.get("method") or {}).get("n_tested_not_reported") or 0)
    return Counts(by_severity=by, total=len(vis), established=sum(by[s] for s in ESTABLISHED),
                  not_established=sum(by[s] for s in NOT_ESTABLISHED), info=by["info"],
                  folded=len(parents(result)), hidden=n_hidden)


def _cols(f, derived: dict) -> frozenset:
    return frozenset(derived.get(a, a) for a in f.attributes)


def _is_derived(f, derived: dict) -> bool:
    return any(a in derived for a in f.attributes)


def _table_key(f):
    """Findings that are views of one table share this key (same columns, same multiset of counts)."""
    det = f.details or {}
    t = det.get("table2x2") if det.get("table2x2") is not None else det.get("table")
    if t is None:
        return None
    try:
        flat = sorted(float(x) for row in t for x in (row if isinstance(row, (list, tuple)) else [row]))
    except (TypeError, ValueError):
        return None
    if f.hypothesis:
        return ("h", f.hypothesis)
    return (frozenset(f.attributes), tuple(flat))


# ----------------------------------------------------------------------------- the summary
def summarize(result) -> Summary:
    d = result.dataset
    alpha = float(result.settings.get("alpha", 0.05))
    derived = dict(d.get("derived") or {})
    findings = list(result.findings)
    index = {id(f): i for i, f in enumerate(findings)}
    vis = visible(result)
    parent_of = parents(result)
    named = named_sensitive(result)
    roots = [f for f in vis if f.id not in parent_of]
    answers = [_answer(result, a, alpha, index) for a in named]
    answered = {id(f) for f in roots if f.detector == "group_attribution" and len(f.attributes) == 1
                and next(iter(f.attributes)) in set(named) and f.kind in ("association", "group_rate")}
    top, used_top, n_est = _top(roots, derived, answered, alpha, index, d.get("label"), named)
    statements, used = learned_statements(result, vis, derived, alpha, index, used_top)
    learned = [Item(**st) for st in statements]
    too_few, n_too_few = _too_few(roots, derived, alpha, index, used | answered)
    left_out = words.group_reasons((d.get("excluded") or {}).items())
    leaked = {str(c) for f in vis if f.kind == "leakage" for c in f.attributes} - set(map(str, d.get("excluded") or {}))
    for f in vis:  # flagged but kept in the audit (a named attribute, or --keep)
        if f.kind == "leakage" and set(map(str, f.attributes)) <= leaked:
            left_out.append((", ".join(map(str, f.attributes)), short_sentence(f, 120)))
    return Summary(
        data=_data_lines(result, named, derived), left_out=left_out, named=named,
        candidates=[] if named else words.protected_candidates([a for a in d.get("attributes", [])
                                                                 if a not in derived]),
        answers=answers, top=top, n_established_roots=n_est, learned=learned, too_few=too_few,
        n_too_few=n_too_few, counts=counts(result), alpha=alpha, family_size=result.family_size,
        n_testable=result.n_testable, n_rows=int(d.get("n_rows_audited") or d.get("n_rows") or 0),
        derived_parents=derived, n_attributes=len([a for a in d.get("attributes", []) if a not in derived]))


def _data_lines(result, named, derived) -> list:
    d = result.dataset
    n = int(d.get("n_rows_audited") or 0)
    lc = d.get("label_counts") or {}
    total = sum(float(v) for v in lc.values()) or 1.0
    plain = all(words.label(d.get("label"), k) == str(k) for k in lc)
    dist = ", ".join(f"{k if plain else words.label(d.get('label'), k) + ':'} {float(v):,.0f} "
                     f"({100 * float(v) / total:.0f}%)" for k, v in sorted(lc.items(), key=lambda kv: -float(kv[1])))
    read = d.get("n_rows")
    rows = f"{n:,} rows" + (f" of {int(read):,} read" if read and int(read) != n else "") + (
        f" (weighted total {float(d['n_weighted']):,.0f})" if d.get("n_weighted") else "")
    lines = [f"{rows} · label {d.get('label') + ': ' if plain else ''}{dist} · rates compared for "
             f"{d.get('label')}={d.get('positive')}"]
    attrs = [a for a in d.get("attributes", []) if a not in derived]
    multi = sorted(set(derived.values()))
    extra = (f" ({', '.join(multi)}: multi-valued, split into {len(derived)} indicator/count columns)"
             if multi else "")
    shown, k = "", len(attrs)
    for k in range(len(attrs), 0, -1):  # as many names as fit on one line
        shown = ", ".join(attrs[:k]) + (f" and {len(attrs) - k} more" if k < len(attrs) else "")
        if len(shown) <= 72:
            break
    lines.append(f"{len(attrs)} attribute{'s' if len(attrs) != 1 else ''}: {shown}{extra}")
    return lines


def group_rates(result, attribute: str) -> list:
    """Each group's positive rate (``k`` of ``n``) with the Wilson interval the audit put in ``result.groups``."""
    g = result.groups
    pos = result.dataset.get("positive")
    col = f"rate:{pos}"
    if g is None or len(g) == 0 or col not in g.columns:
        return []
    rows = []
    for rec in g[g["attribute"] == attribute].to_dict(orient="records"):
        n = float(rec["n"])
        rate = float(rec[col])
        lo, hi = (None if v is None or v != v else v for v in (rec.get(f"ci_low:{pos}"), rec.get(f"ci_high:{pos}")))
        rows.append({"group": str(rec["group"]), "n": n, "k": int(round(rate * n)), "rate": rate,
                     "ci_low": lo, "ci_high": hi})
    return rows


def _answer(result, attribute: str, alpha: float, index: dict) -> Answer:
    from .. import stats
    rows = group_rates(result, attribute)
    total = sum(r["n"] for r in rows)
    floor = max(MIN_GAP_N, min(MAX_GAP_N, GAP_SHARE * total))
    big = [r for r in rows if r["n"] >= floor]
    pool = big if len(big) >= 2 else rows
    gap = None
    if len(pool) >= 2:
        hi = max(pool, key=lambda r: (r["rate"], r["n"]))
        lo = min(pool, key=lambda r: (r["rate"], -r["n"]))
        try:
            c_lo, c_hi = stats.newcombe_diff_ci(hi["k"], int(round(hi["n"])), lo["k"], int(round(lo["n"])), alpha)
        except ValueError:
            c_lo, c_hi = None, None
        gap = {"high": hi, "low": lo, "difference": hi["rate"] - lo["rate"], "ci_low": c_lo, "ci_high": c_hi,
               "left_out": len(rows) - len(pool), "floor": floor}
    assoc = next((f for f in result.findings if f.detector == "group_attribution" and f.kind == "association"
                  and list(f.attributes) == [attribute]), None)
    if assoc is None:
        verdict = "not tested (fewer than two groups)" if len(rows) < 2 else "not tested"
        return Answer(attribute, rows, gap, verdict, "info")
    sev = assoc.severity
    if sev in ESTABLISHED or sev in NOT_ESTABLISHED:
        verdict = strength(assoc, alpha)
    elif assoc.p_adjusted is not None:
        bound = max(abs(gap["ci_low"]), abs(gap["ci_high"])) if gap and gap["ci_low"] is not None else None
        verdict = (f"no gap established ({words.eq('q', assoc.p_adjusted)})"
                   + (f"; the data still allow gaps up to {100 * bound:.0f} points" if bound is not None else ""))
    else:
        verdict = "observed (no test)"
    focus = (gap["high"]["group"], gap["low"]["group"]) if gap else ()
    return Answer(attribute, rows, gap, verdict, sev, index.get(id(assoc)),
                  _held_fixed(result, attribute, alpha, focus, len(rows)))


#: A gap "changes" under stratification when the Mantel-Haenszel difference flips sign or keeps less
#: than this share of the overall difference.
SHRUNK = 0.5
MAX_HELD_NOTES = 2


def _within(f, stratifier) -> str:
    q = f"{words.eq('q', f.p_adjusted)}" if f.p_adjusted is not None else words.eq("p", f.p_value)
    if f.severity in ESTABLISHED:
        return f"a difference within {stratifier} levels remains established ({q})"
    return f"no difference within {stratifier} levels is established ({q})"


def _held_fixed(result, attribute: str, alpha: float, focus=(), n_groups: int = 2) -> tuple:
    """What the conditional (Cochran-Mantel-Haenszel) findings say about ``attribute``'s gap.

    Reads the conditional findings and the Simpson-reversal findings (``kind`` "conditional" /
    "simpson", one exposure level against the rest, by one stratifier).  Per stratifier one finding
    is kept: an exposure among ``focus`` (the two groups the answer compares) first, then the largest
    change.  The strata where the difference changes sign or shrinks below ``SHRUNK`` of itself come
    first (the Simpson's-paradox answer a reader needs next to the gap); otherwise one line names the
    other attributes with which the gap remains established within strata.  With two groups the
    difference *is* the gap; with more, the note names the level compared with the rest.
    """
    cands = [f for f in result.findings if f.detector == "conditional" and f.kind in ("conditional", "simpson")
             and f.attributes and next(iter(f.attributes)) == attribute and f.details
             and f.details.get("rd_mh") is not None and f.details.get("rd_marginal") is not None
             and f.details.get("stratifier") is not None]
    focus = {str(g) for g in focus}
    best: dict = {}
    for f in cands:
        rd, rd0 = float(f.details["rd_mh"]), float(f.details["rd_marginal"])
        key = (str(f.details.get("exposure")) in focus, abs(rd0 - rd))
        strat = str(f.details["stratifier"])
        if strat not in best or key > best[strat][0]:
            best[strat] = (key, f)
    changed, persists = [], []
    for _, f in best.values():
        rd, rd0 = float(f.details["rd_mh"]), float(f.details["rd_marginal"])
        if rd0 != 0 and (rd * rd0 < 0 or abs(rd) < SHRUNK * abs(rd0)):
            changed.append((abs(rd0 - rd), f))
        elif f.severity in ESTABLISHED:
            persists.append(f)
    out = []
    for _, f in sorted(changed, key=lambda t: (-t[0], str(t[1].details["stratifier"])))[:MAX_HELD_NOTES]:
        d = f.details
        how = "changes sign" if float(d["rd_mh"]) * float(d["rd_marginal"]) < 0 else "shrinks"
        exposure = words.label(attribute, d.get("exposure")) if d.get("exposure") is not None else attribute
        if n_groups <= 2:
            what, whom = "the gap", f" for {exposure} against the rest"
        else:
            what, whom = f"the difference of {exposure} against the rest", ""
        out.append(f"holding {d['stratifier']} fixed, {what} {how}: {words.points(d['rd_mh'])} points{whom} "
                   f"within {d['stratifier']} levels (Mantel-Haenszel) vs {words.points(d['rd_marginal'])} "
                   f"overall — {_within(f, d['stratifier'])}")
    if len(changed) > MAX_HELD_NOTES:
        out.append(f"... and {len(changed) - MAX_HELD_NOTES} more attribute(s) that change it when held fixed")
    if persists and not changed:
        names = sorted(str(f.details.get("stratifier")) for f in persists)
        out.append(f"the gap remains established with {'each of ' if len(names) > 1 else ''}{len(names)} other "
                   f"attribute(s) held fixed ({', '.join(names[:4])}{' ...' if len(names) > 4 else ''}; "
                   f"Cochran-Mantel-Haenszel)")
    return tuple(out)


def relevance(f, label, named) -> int:
    """0: about a named sensitive attribute; 1: about the label; 2: structure among the other attributes.

    Label-free findings (combinations that are rare whatever the label, values missing more often in
    some group of another attribute, associations between two attributes no one named) describe the
    features, not what a model will learn about the label: the summary lists them after the rest.
    """
    attrs = {str(a) for a in (f.attributes or {})}
    if f.family == "primary" or (named and attrs & set(named)):
        return 0
    if f.kind == "coverage_gap" or (f.detector == "proxies" and f.kind != "strong_proxy"):
        return 2
    if f.detector == "reporting" and f.kind == "missingness" and label not in attrs:
        return 2
    return 1


def _rank_key(f, derived, label=None, named=()):
    return (relevance(f, label, named), severity_rank(f.severity), _is_derived(f, derived), f.kind == "conditional",
            f.family != "primary", -(f.n or 0))


def _top(roots, derived, answered, alpha, index, label=None, named=()):
    cands = [f for f in roots if f.severity in ESTABLISHED and f.kind != "leakage" and id(f) not in answered]
    cands.sort(key=lambda f: _rank_key(f, derived, label, named))
    items, seen, used = [], {}, set()
    for f in cands:
        key = _cols(f, derived)
        if key in seen:
            seen[key][1] += 1
            continue
        seen[key] = [len(items), 0]
        used.add(id(f))
        items.append(f)
    out = []
    for f in items[:MAX_TOP]:
        out.append(Item(text=short_sentence(f, 140), strength=strength(f, alpha), severity=f.severity,
                        index=index.get(id(f)), related=seen[_cols(f, derived)][1],
                        key=words.eq("q", f.p_adjusted) if f.p_adjusted is not None else ""))
    return out, used, len(cands)


def _too_few(roots, derived, alpha, index, used):
    used_tables = {_table_key(f) for f in roots if id(f) in used} - {None}
    cands = [f for f in roots if f.severity in NOT_ESTABLISHED and id(f) not in used
             and _table_key(f) not in used_tables and f.kind != "leakage"]
    cands.sort(key=lambda f: (severity_rank(f.severity), _is_derived(f, derived),
                              f.rows_needed if f.rows_needed else math.inf, -(f.n or 0)))
    items, seen = [], {}
    for f in cands:
        key = _cols(f, derived)
        if key in seen:
            seen[key] += 1
            continue
        seen[key] = 0
        items.append(f)
    out = [Item(text=short_sentence(f), strength=strength(f, alpha), severity=f.severity,
                index=index.get(id(f)), related=seen[_cols(f, derived)]) for f in items[:MAX_TOO_FEW]]
    return out, len(cands)


def prediction_rows(result) -> dict:
    """``{attribute: [row]}`` from the predictions section: group, n and each metric with its interval."""
    sec = result.sections.get("predictions")
    rows = sec.get("prediction_metrics") if isinstance(sec, dict) else None
    out: dict = {}
    for r in rows or []:
        if isinstance(r, dict) and r.get("attribute") is not None:
            out.setdefault(str(r["attribute"]), []).append(r)
    return out
