"""Small wording helpers shared by the readers: labels, cells, conditions and p-values in words."""
from __future__ import annotations

import math
import re

from ..settings import P_FLOOR

__all__ = ["BIAS_TITLES", "label", "cell", "eq", "cells", "condition", "p", "pct", "points", "protected_candidates",
           "PROTECTED_WORDS", "group_reasons",
           "short_sentence", "strength"]

#: Column-name fragments that suggest a protected characteristic (used in wording only, never in tests).
PROTECTED_WORDS = ("sex", "gender", "race", "ethnic", "age", "religion", "nationality", "national", "foreign",
                   "disab", "marital", "pregnan", "skin", "colour_of_skin", "caste", "origin", "male", "female")
_YES = {"yes", "1", "true", "y"}
#: Section titles of the readers, by bias type.
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


def label(name, value) -> str:
    """``DOG`` for word labels; ``credit=1`` for numeric or yes/no labels."""
    v = str(value).strip().lower()
    plain = v.lstrip("-").replace(".", "", 1).isdigit() or v in ("true", "false", "yes", "no", "y", "n")
    return f"{name}={value}" if plain else str(value)


def _derived_words(column: str, value, derived: dict) -> str | None:
    parent = derived.get(column)
    if parent is None:
        return None
    if column == f"{parent}_count":
        try:
            k = int(float(value))
        except (TypeError, ValueError):
            return f"{parent} with {value} values"
        return f"{k} {parent} value{'s' if k != 1 else ''}"
    prefix = f"{parent}_has_"
    if column.startswith(prefix):
        part = column[len(prefix):]
        return f"{parent} including {part}" if str(value).strip().lower() in _YES else f"{parent} without {part}"
    return None


def cell(attributes, derived: dict | None = None) -> str:
    """``size=small and color=white``; derived indicator/count columns in words (``2 color values``)."""
    derived = derived or {}
    parts = []
    for k, v in dict(attributes).items():
        if v is None:
            parts.append(str(k))
            continue
        parts.append(_derived_words(str(k), v, derived) or f"{k}={v}")
    return " and ".join(parts)


def cells(items, derived: dict | None = None) -> str:
    """Several cells in words, their common part said once: ``size=big and color=red or white``."""
    items = [dict(c) for c in items if c]
    if not items:
        return ""
    if len(items) == 1:
        return cell(items[0], derived)
    common = {k: v for k, v in items[0].items() if all(c.get(k) == v for c in items[1:])}
    rest = [cell({k: v for k, v in c.items() if k not in common}, derived) for c in items]
    if common and all(rest):
        keys = {tuple(k for k in c if k not in common) for c in items}
        if len(keys) == 1 and len(next(iter(keys))) == 1:
            (k,), = keys
            vals = [str(c[k]) for c in items]
            rest = [f"{k}={vals[0]}"] + vals[1:]
        return f"{cell(common, derived)} and " + ", ".join(rest[:-1]) + f" or {rest[-1]}"
    texts = [cell(c, derived) for c in items]
    return ", ".join(texts[:-1]) + f" or {texts[-1]}"


def condition(c, derived: dict | None = None) -> str:
    """A probe condition ``[attribute, op, values]`` in words."""
    if isinstance(c, (list, tuple)) and len(c) == 3:
        attr, op, values = c
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if len(values) == 1:
            if op == "=":
                return cell({attr: values[0]}, derived)
            if op in ("≠", "!="):
                w = _derived_words(str(attr), values[0], derived or {})
                return f"not {w}" if w else f"{attr}≠{values[0]}"
            return f"{attr} {op} {values[0]}"
        inside = ", ".join(map(str, values))
        return f"{attr} in {{{inside}}}" if op == "=" else f"{attr} not in {{{inside}}}"
    if isinstance(c, dict):
        return f"{c.get('attribute')}{c.get('op', '=')}{c.get('value')}"
    return str(c)


def p(x) -> str:
    """A p- or q-value: 2 significant digits, scientific below 0.001, never 0."""
    if x is None:
        return "n/a"
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if x < P_FLOOR:  # underflowed, or floored at the smallest double: no digits to show
        return "< 1e-300"
    return f"{x:.2g}" if x >= 1e-3 else f"{x:.1e}"


def eq(name: str, x) -> str:
    """``q=0.013``, or ``q < 1e-300`` for a value that underflowed."""
    text = p(x)
    return f"{name} {text}" if text.startswith("<") else f"{name}={text}"


def pct(x, decimals: int = 0) -> str:
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    return f"{100 * float(x):.{decimals}f}%"


def points(x) -> str:
    """A difference of two rates in percentage points, signed."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    v = 100 * float(x)
    return f"{v:+.0f}" if abs(v) >= 1 or v == 0 else f"{v:+.1f}"


_MANY = re.compile(r"^\d[\d,]* distinct values \(more than --max-levels (\d+)\)(: )?")


def group_reasons(excluded, limit: int = 6) -> list:
    """``[(columns, why)]``: columns left out for the same reason said once (``name, first and 20 more``)."""
    groups: dict = {}
    for col, why in excluded:
        why = str(why)
        m = _MANY.match(why)
        if m:
            why = f"more than {m.group(1)} distinct values" + (f": {why[m.end():]}" if m.group(2) else "")
        groups.setdefault(why, []).append(str(col))
    out = []
    for why, cols in groups.items():
        shown = ", ".join(cols[:limit]) + (f" and {len(cols) - limit} more" if len(cols) > limit else "")
        out.append((shown, why))
    return out


def protected_candidates(columns) -> list:
    """Columns whose names suggest a protected characteristic (wording only)."""
    out = []
    for c in columns:
        tokens = re.split(r"[^a-z]+", str(c).lower())
        if any(t and (t in PROTECTED_WORDS or any(t.startswith(w) for w in PROTECTED_WORDS if len(w) > 4))
               for t in tokens):
            out.append(str(c))
    return out


# ------------------------------------------------------------------ findings in short
def _split_top(text: str, sep: str) -> list:
    """Split ``text`` at ``sep`` outside parentheses."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            out.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    out.append(text[start:])
    return out


def _clauses(inner: str, most: int = 2) -> str:
    """The clauses of a parenthesis worth keeping in a summary: no p-values, no conditionals."""
    keep = []
    for c in inner.split("; "):
        if "p=" in c or "p <" in c or "q=" in c:
            continue
        c = re.sub(r" if the label did not depend on .*$", "", c)
        keep.append(c)
    return "; ".join(keep[:most])


def _trim_parens(text: str, most: int = 2) -> str:
    """Shorten each top-level parenthesis to its key numbers (see :func:`_clauses`)."""
    out, depth, buf = [], 0, []
    for c in text:
        if c == "(":
            depth += 1
            if depth == 1:
                buf = []
                continue
        elif c == ")" and depth:
            depth -= 1
            if depth == 0:
                kept = _clauses("".join(buf), most)
                out.append(f"({kept})" if kept else "")
                continue
        if depth:
            buf.append(c)
        else:
            out.append(c)
    if depth:
        kept = _clauses("".join(buf), most)
        out.append(f"({kept})" if kept else "")
    return re.sub(r"\s+([,;:)])", r"\1", re.sub(r"  +", " ", "".join(out))).strip()


def short_sentence(f, limit: int = 170) -> str:
    """A finding's message as one short sentence that keeps its key number."""
    text = f.message.split(" — ")[0].strip().rstrip(".")
    first = _split_top(text, "; ")[0]
    text = _trim_parens(first)
    if len(text) > limit:
        text = _trim_parens(first, 1)
    if len(text) > limit:
        head = _split_top(text, ": ")[0]
        text = head if len(head) >= 40 else text
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return text


def strength(f, alpha: float) -> str:
    """How strongly the data support a finding, in words."""
    q = f.p_adjusted
    rows = f" about {f.rows_needed:,} rows would settle it" if f.rows_needed else ""
    if f.severity in ("critical", "high", "medium"):
        return f"established, {f.severity} ({eq('q', q)})" if q is not None else f"established, {f.severity}"
    if f.severity == "low":
        return f"established but negligible ({eq('q', q)})" if q is not None else "established but negligible"
    if f.severity == "weak-evidence":
        return ("not established: weak evidence" + (f" ({eq('q', q)})" if q is not None else "")
                + (";" + rows if rows else ""))
    if f.severity == "insufficient-data":
        return "n too small to tell" + (";" + rows if rows else "")
    if f.p_adjusted is not None:
        return f"no pattern established ({eq('q', q)})"
    return "observed (no test)"
