"""Level names: how values, missing values, numeric bins and multi-valued parts are shown.

Every engine path (and every reader) names a level the same way: values as text (integral
floats without ``.0``, booleans as ``true``/``false``, values over 120 characters shortened with a
hash), a missing value as :data:`MISSING`, numeric bins by their cut points (:func:`cut_labels`),
the parts of a multi-valued value in sorted order.  Bin cut points are rounded to stable values (:func:`nice_cuts`) so that a bin's
name, and with it every finding id that names it, does not move when the data are resampled.
"""
from __future__ import annotations

import math
import re
from typing import Iterable

import numpy as np
import pandas as pd

from .._safe import shorten
from ..errors import missing_column  # noqa: F401  (re-exported)

__all__ = ["MISSING", "LABEL_NAMES", "as_text", "fmt_value", "split_parts", "from_codes",
           "detect_multi_separator", "cut_labels", "cut_codes", "nice_cuts", "quantile_probs",
           "roles_bin_labels", "missing_column", "TAIL_SHARE"]

#: Column names taken as the label when none is given (case-insensitive), in this order.
LABEL_NAMES = ("label", "class", "target", "y", "outcome")
#: How a missing value is shown as a level of its own.
MISSING = "(missing)"
#: Share of the rows in each tail bin of a numeric attribute (the bottom and top 5 %).
TAIL_SHARE = 0.05
#: Tail bins are added when each would hold at least this many rows (n >= 600).
MIN_TAIL_ROWS = 30
MULTI_SEPARATORS = ("|", ";", ",", "/", "+", "-")
SMALL_INT_LEVELS = 10
ID_NAME = re.compile(r"(^|_)(id|key|uuid)$", re.IGNORECASE)


def fmt_value(v) -> str:
    """A value as its level name: ``true``/``false``, ``3`` for 3.0, else ``str``.

    A value longer than :data:`biasaudit._safe.MAX_SHOWN_CHARS` is named by its prefix, ``…`` and a
    hash (:func:`biasaudit._safe.shorten`): distinct values keep distinct names, and a 200 kB cell is
    not copied into every finding id, message and evidence row.
    """
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return shorten(v)


def as_text(s: pd.Series) -> pd.Series:
    """Values as a categorical of text (see :func:`fmt_value`); missing values stay missing.

    Only the categories are converted, so this is fast on millions of rows; values that print
    alike (1 and "1") merge; unused categories are dropped.
    """
    cat = s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("category")
    cat = cat.cat.remove_unused_categories()
    names = [fmt_value(v) for v in cat.cat.categories]
    if len(set(names)) == len(names):
        return cat.cat.rename_categories(names)
    text = pd.Series(np.asarray(names, dtype=object)[cat.cat.codes.to_numpy()], index=s.index, dtype=object)
    text[cat.isna().to_numpy()] = np.nan
    return text.astype("category")


def split_parts(text: pd.Series, sep: str) -> tuple[np.ndarray, list]:
    """For a categorical of multi-valued text: its codes and, per category, the sorted tuple of its parts."""
    cats = list(text.cat.categories)
    per_cat = [tuple(sorted({p.strip() for p in str(c).split(sep) if p.strip()})) for c in cats]
    return text.cat.codes.to_numpy(), per_cat


def from_codes(codes: np.ndarray, values: list, index) -> pd.Series:
    """A categorical built from per-category values (missing where the code is -1)."""
    uniq = sorted(set(values), key=lambda v: (len(v), v))
    lookup = {v: i for i, v in enumerate(uniq)}
    mapped = np.array([lookup[v] for v in values] + [-1], dtype=np.int64)[codes]
    return pd.Series(pd.Categorical.from_codes(mapped, categories=uniq), index=index)


def detect_multi_separator(values: Iterable[str]) -> str | None:
    """Separator of a multi-valued attribute, or None.

    A column is taken as multi-valued with separator ``sep`` when some of its values contain
    ``sep`` and every part of every such value also occurs on its own as a value (for example
    ``brown-white`` beside ``brown`` and ``white``).  Ranges such as ``25 - 45`` do not qualify.
    """
    values = {str(v) for v in values}
    for sep in MULTI_SEPARATORS:
        composite = {v for v in values if sep in v}
        single = values - composite
        if not composite or len(single) < 2:
            continue
        parts = {p.strip() for v in composite for p in v.split(sep)}
        if "" not in parts and parts <= single:
            return sep
    return None


# ----------------------------------------------------------------------------- numeric bins
def quantile_probs(n_bins: int, n_rows: float = np.inf) -> np.ndarray:
    """Probabilities of the default cut points: ``n_bins`` quantile bins, plus a bottom and a top 5 % bin
    when each would hold at least ``MIN_TAIL_ROWS`` rows (a tail hidden in a wide bin stays visible)."""
    inner = np.linspace(0, 1, int(n_bins) + 1)[1:-1]
    if TAIL_SHARE * n_rows < MIN_TAIL_ROWS:
        return inner
    return np.unique(np.concatenate([[TAIL_SHARE], inner, [1 - TAIL_SHARE]]))


def _round_sig(x: np.ndarray, digits: int) -> np.ndarray:
    out = np.zeros_like(x, dtype=float)
    nz = (x != 0) & np.isfinite(x)
    mag = np.floor(np.log10(np.abs(x[nz])))
    scale = 10.0 ** (digits - 1 - mag)
    out[nz] = np.round(x[nz] * scale) / scale
    return out


def nice_cuts(cuts, integral: bool = False) -> list[float]:
    """Cut points rounded to two significant digits (more only where two would merge distinct cuts).

    Quantiles of a resample move a little; rounded cut points (and the bin names built on them)
    do not, unless a quantile sits on a rounding boundary.  Integral data keep integral cuts.
    """
    x = np.unique(np.asarray(cuts, dtype=float))
    x = x[np.isfinite(x)]
    if not x.size:
        return []
    for digits in range(2, 16):
        r = _round_sig(x, digits)
        if integral:
            r = np.where(np.abs(r) >= 1, np.round(r), r)
        if len(np.unique(r)) == len(x):
            break
    return [float(v) for v in np.unique(r)]


def _num(v: float) -> str:
    return f"{v:.15g}"


def cut_labels(cuts) -> list[str]:
    """Bin names for cut points c0 < ... < ck: ``<=c0``, ``(c0, c1]``, ..., ``>ck``.

    The outer bins are open: their names do not depend on the smallest or largest value seen.
    """
    cuts = list(cuts)
    if not cuts:
        return []
    shown = [_num(c) for c in cuts]
    return [f"<={shown[0]}"] + [f"({a}, {b}]" for a, b in zip(shown[:-1], shown[1:])] + [f">{shown[-1]}"]


def cut_codes(x: np.ndarray, cuts) -> np.ndarray:
    """Bin index (0 .. len(cuts)) of each value (right-closed bins, see :func:`cut_labels`); NaN -> -1."""
    x = np.asarray(x, dtype=float)
    codes = np.searchsorted(np.asarray(cuts, dtype=float), x, side="left").astype(np.int64)
    codes[np.isnan(x)] = -1
    return codes


def roles_bin_labels(edges: list) -> list[str]:
    """Names of closed bins between ``edges`` (``[e0, e1]``, ``(e1, e2]``, ...), as ``pd.cut`` bins them.

    Used where the edges are fixed by the caller (e.g. calibration bins of scores in [0, 1]).
    """
    qs = list(edges)
    for digits in range(4, 18):
        shown = [f"{v:.{digits}g}" for v in qs]
        if len(set(shown)) == len(shown):
            break
    return [f"[{shown[0]}, {shown[1]}]"] + [f"({lo}, {hi}]" for lo, hi in zip(shown[1:-1], shown[2:])]


def is_integral(x: np.ndarray) -> bool:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return bool(np.all(x == np.round(x)))


def parse_bins(value) -> tuple[int | None, dict]:
    """``bins`` as given in Python, config or CLI -> (number of quantile bins or None, {column: cuts}).

    Accepts an int, a mapping ``{"age": [18, 25, 45, 65]}`` (an int value: that many bins for the
    column), or strings ``"5"`` / ``"age=18,25,45,65"`` (a list of them, as the CLI repeats ``--bins``).
    """
    if value is None:
        return None, {}
    if isinstance(value, bool):
        raise TypeError(f"The 'bins' parameter must be an int or a mapping of column -> cut points. Got {value!r}.")
    if isinstance(value, (int, np.integer)):
        return _check_n(int(value)), {}
    if isinstance(value, str):
        value = [value]
    n, per = None, {}
    items = value.items() if isinstance(value, dict) else None
    if items is None:
        items = []
        for v in value:
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                n = _check_n(int(v))
                continue
            s = str(v).strip()
            if "=" not in s:
                try:
                    k = int(s)
                except ValueError:
                    raise ValueError(f"--bins expects a number of bins or COLUMN=EDGES (e.g. age=18,25,45,65). "
                                     f"Got {s!r}.") from None
                n = _check_n(k)
                continue
            col, edges = s.split("=", 1)
            items.append((col.strip(), edges))
    for col, edges in items:
        per[str(col)] = _parse_cuts(col, edges)
    return n, per


def _check_n(n: int) -> int:
    """A number of bins, checked by the validator the CLI, the config file and Python share."""
    from ..validation import validate
    return validate("bins", n)


def _parse_cuts(col, edges):
    if isinstance(edges, (int, np.integer)) and not isinstance(edges, bool):
        return _check_n(int(edges))
    if isinstance(edges, str):
        parts = [p for p in edges.replace(";", ",").split(",") if p.strip()]
        try:
            edges = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"Bin edges of {col!r} must be numbers separated by commas "
                             f"(e.g. {col}=18,25,45,65). Got {','.join(parts)!r}.") from None
    try:
        cuts = [float(e) for e in edges]
    except (TypeError, ValueError):
        raise ValueError(f"Bin edges of {col!r} must be a list of numbers. Got {edges!r}.") from None
    if not cuts or not all(math.isfinite(c) for c in cuts) or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"Bin edges of {col!r} must be finite and increasing. Got {cuts!r}.")
    return cuts
