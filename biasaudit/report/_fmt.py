"""Numbers for people: the formatting filters of the HTML report (also used by its views)."""
from __future__ import annotations

import math

from ..settings import P_FLOOR

__all__ = ["fmt_num", "fmt_p", "fmt_pct", "finite_number"]


def finite_number(x) -> float | None:
    """``x`` as a finite float, or None (missing, text, NaN or infinite)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


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
    if p < P_FLOOR:  # underflowed, or floored at the smallest double: no digits to show
        return "< 1e-300"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3g}"


def fmt_pct(x, decimals: int | None = None) -> str:
    """A share as a percentage; one decimal below 10% (so 0.4% is not shown as 0%) unless given."""
    if x is None or not math.isfinite(float(x)):
        return "–"
    v = 100 * float(x)
    if decimals is None:
        decimals = 1 if 0 < abs(v) < 10 else 0
    return f"{v:.{decimals}f}%"
