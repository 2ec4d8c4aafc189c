"""What a model will learn from these data, as plain statements with their support.

Private to :mod:`biasaudit.report.summary`.  Two sources: the coverage rules of the
overgeneralization detector ("no L with C": a model never sees L there) and the rules the probe's
decision tree learned (``sections["probe"]["rules"]``).  A tree leaf that restates a coverage rule
becomes one statement (with how far the model extends it); gaps a supported rule implies are told
as part of that rule.  Nothing is tested here.
"""
from __future__ import annotations


from ..settings import severity_rank
from ._fmt import finite_number as _num
from . import words
from .words import strength

__all__ = ["learned_statements", "MAX_LEARNED"]

ESTABLISHED = ("critical", "high", "medium", "low")
MAX_LEARNED = 6
#: Coverage rules that are not established are told only when they cover this share of the rows.
MIN_SHARE = 0.01
_TAGS = {"weak-evidence": "weak evidence", "insufficient-data": "too few rows", "info": "observed"}


def _cols(f, derived: dict) -> frozenset:
    return frozenset(derived.get(a, a) for a in f.attributes)


def _is_derived(f, derived: dict) -> bool:
    return any(a in derived for a in f.attributes)


def learned_statements(result, vis, derived, alpha, index, used_top) -> tuple[list, set]:
    """Statements a model will learn: the coverage rules (no L where C) and the probe's rules."""
    d = result.dataset
    statements = []      # dicts: key, rank, support, item fields
    used = set()
    existence = {}
    for f in vis:
        if f.kind == "existence" and f.label_value is not None and len(f.attributes) == 1:
            existence[(next(iter(f.attributes)), str(f.label_value))] = f
    n_rows = float(d.get("n_rows_audited") or 0)
    for f in vis:
        if f.detector != "overgeneralization" or f.kind not in ("rule", "gap") or f.observed != 0:
            continue
        if f.severity == "info" or not f.attributes:
            continue
        if f.severity not in ESTABLISHED and (f.n or 0) < MIN_SHARE * n_rows:
            continue  # a handful of rows in a large table: told under "too few", not as what a model learns
        statements.append(_coverage_statement(f, d, derived, existence, alpha, index))
    probe = result.sections.get("probe") if isinstance(result.sections.get("probe"), dict) else {}
    rules = [r for r in (probe.get("rules") or []) if isinstance(r, dict) and r.get("conditions")]
    by_rule_id = {}
    for f in vis:
        if f.detector == "probe" and f.kind == "rule" and f.details:
            by_rule_id[str(f.details.get("rule"))] = f
    keys = {s["key"]: s for s in statements}
    covering = []       # (statement, cells it implies)
    for r in rules:
        s = _probe_statement(r, result, derived, alpha, by_rule_id, index)
        if s is None:
            continue
        same = keys.get(s["key"])
        if same is not None:  # the coverage rule a tree leaf restates: one statement, with the leaf's reach
            if s["extrapolation"]:
                same["notes"] = same["notes"] + (s["extrapolation"],)
            if s["finding"] is not None:
                same.setdefault("also", set()).add(id(s["finding"]))
            continue
        keys[s["key"]] = s
        statements.append(s)
        covering.append((s, {_cell_key(g.get("cell") or {}) for g in s["gaps"]}))
    # coverage rules a broader, better supported rule implies are told as part of it
    kept = []
    for s in statements:
        host = next((c for c, cells in covering if c is not s and s["cell"] in cells and c["rank"] <= s["rank"]), None)
        if host is not None:
            host.setdefault("also", set()).add(id(s["finding"]))
            continue
        kept.append(s)
    statements = kept
    # one statement per root cause; original columns before derived ones
    statements.sort(key=lambda s: (s["rank"], not s["pure"], s["derived"], -s["support"]))
    out, seen = [], set()
    for s in statements:
        if s["key"] in seen or (s["finding"] is not None and id(s["finding"]) in used_top):
            continue
        if s["derived"] and (s["parents"], s["label"]) in {(t["parents"], t["label"]) for t in out}:
            continue
        seen.add(s["key"])
        out.append(s)
    out = out[:MAX_LEARNED]
    for s in out:
        if s["finding"] is not None:
            used.add(id(s["finding"]))
        used.update(s.get("also", ()))
    items = [{"text": s["text"], "strength": s["strength"], "severity": s["severity"], "index": s["index"],
              "notes": tuple(s["notes"]), "tag": _TAGS.get(s["severity"], s["severity"])
              if not (s["probe"] and s["rank"] == 3.5) else "supported"} for s in out]
    return items, used


def _cell_key(cell: dict) -> frozenset:
    return frozenset((str(k), str(v)) for k, v in cell.items())


def _strength_rank(f) -> float:
    if f.severity in ESTABLISHED:
        return float(severity_rank(f.severity))
    return {"weak-evidence": 4.0, "insufficient-data": 5.0}.get(f.severity, 6.0)


def _coverage_statement(f, d, derived, existence, alpha, index) -> dict:
    label = d.get("label")
    det = f.details or {}
    depleted = str(det.get("depleted_label", f.label_value))
    values = [str(v) for v in d.get("label_values") or []]
    others = [v for v in values if v != depleted]
    cell = words.cell(f.attributes, derived)
    s = int(det.get("support") or f.n or 0)
    n_l = det.get("n_label")
    if f.kind == "rule" and len(others) == 1:
        text = f"{cell} → always {words.label(label, others[0])}: {s:,} of {s:,} rows"
    else:
        text = f"no {words.label(label, depleted)} with {cell}: 0 of {s:,} rows"
    if len(f.attributes) == 1:
        (a, v), = f.attributes.items()
        ex = existence.get((a, depleted))
        seen = list((ex.details or {}).get("levels_seen") or []) if ex is not None else []
        if ex is not None and len(seen) == 1:
            text += (f"; every {words.label(label, depleted)} has {words.cell({a: seen[0]}, derived)} "
                     f"({ex.n:,} of {ex.n:,})")
        elif n_l:
            text += f"; none of the {int(n_l):,} {words.label(label, depleted)} rows has it"
    elif n_l and f.kind == "rule":
        text += f"; none of the {int(n_l):,} {words.label(label, depleted)} rows has it"
    return {"key": (_cols(f, derived), depleted, frozenset(f.attributes.items())), "cell": _cell_key(f.attributes),
            "parents": _cols(f, derived), "label": depleted, "derived": _is_derived(f, derived),
            "rank": _strength_rank(f), "support": s, "text": text, "strength": strength(f, alpha),
            "severity": f.severity, "index": index.get(id(f)), "finding": f, "notes": (), "probe": False,
            "pure": True}


def _probe_statement(r, result, derived, alpha, by_rule_id, index) -> dict | None:
    d = result.dataset
    label = d.get("label")
    conds = r.get("conditions") or []
    purity = _num(r.get("purity"))
    support, count = _num(r.get("support")) or 0.0, _num(r.get("count")) or 0.0
    if purity is None or purity < 0.75 or support < 2:
        return None
    lab = str(r.get("label"))
    cond_text = " and ".join(words.condition(c, derived) for c in conds)
    head = "always" if purity >= 1 else "mostly"
    text = f"{cond_text} → {head} {words.label(label, lab)}: {count:,.0f} of {support:,.0f} rows"
    values = [str(v) for v in d.get("label_values") or []]
    other = [v for v in values if v != lab]
    notes = []
    gaps = [g for g in (r.get("reasons") or {}).get("untestable_gaps") or [] if isinstance(g, dict)]
    if gaps and len(other) == 1:
        cells = words.cells([g.get("cell") or {} for g in gaps[:4]], derived)
        sup = [g.get("support") for g in gaps[:4]]
        counts_ = f"0 of {sup[0]} each" if len(set(sup)) == 1 and len(sup) > 1 else ", ".join(f"0 of {x}" for x in sup)
        notes.append(f"so no {words.label(label, other[0])} with {cells} ({counts_}): too few rows to tell")
    ext = (r.get("reasons") or {}).get("extrapolation")
    extrapolation = None
    if isinstance(ext, dict) and ext.get("examples"):
        combos = [e.get("combination") or {} for e in ext["examples"][:4]]
        more = int(ext.get("n") or len(combos)) - len(combos)
        extrapolation = (f"the model extends it to {words.cells(combos, derived)}"
                         f"{f' and {more} more combinations' if more > 0 else ''}, never seen in training")
        notes.append(extrapolation)
    if r.get("reasons", {}).get("non_causal"):
        notes.append("uses " + ", ".join(map(str, r["reasons"]["non_causal"])) + ", which you marked non-causal")
    f = by_rule_id.get(str(r.get("text"))) or by_rule_id.get(str(r.get("rule")))
    p = _num(r.get("p_selection_adjusted"))
    if f is not None and f.severity in ESTABLISHED:
        st, sev, rank = strength(f, alpha), f.severity, _strength_rank(f)
    elif r.get("supported"):
        st = f"supported by the data (selection-adjusted p={words.p(p)})"
        sev, rank = "low", 3.5
    elif not r.get("testable", True):
        st = "n too small to tell" + (f"; about {f.rows_needed:,} rows would settle it"
                                      if f is not None and f.rows_needed else "")
        sev, rank = "insufficient-data", 5.0
    else:
        st = f"not supported by the data (selection-adjusted p={words.p(p)})"
        sev, rank = "weak-evidence", 4.5
    cols = frozenset(derived.get(str(c[0]), str(c[0])) for c in conds if isinstance(c, (list, tuple)) and c)
    simple = {str(c[0]): str(list(c[2])[0]) for c in conds
              if isinstance(c, (list, tuple)) and len(c) == 3 and c[1] == "=" and len(list(c[2])) == 1}
    key_attrs = frozenset(simple.items()) if len(simple) == len(conds) else frozenset(map(str, conds))
    other_label = other[0] if len(other) == 1 else lab
    return {"key": (cols, other_label, key_attrs), "cell": None, "parents": cols, "label": other_label,
            "derived": any(str(c[0]) in derived for c in conds), "rank": rank, "support": support,
            "text": text, "strength": st, "severity": sev, "index": index.get(id(f)) if f is not None else None,
            "finding": f, "notes": tuple(notes), "probe": True, "extrapolation": extrapolation,
            "gaps": gaps, "pure": purity >= 1}


