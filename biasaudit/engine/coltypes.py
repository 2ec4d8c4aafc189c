"""Column types from pass-one summaries: the types :func:`biasaudit.load` would have given.

For a text column read from CSV (or strings in a DataFrame/Parquet file) the loader strips
surrounding whitespace, reads true/false as booleans and columns whose every value is a number
as numbers; :func:`typed_column` takes the same decisions on the column's global dictionary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..loaders.tables import TRUE_WORDS, text_kind
from .summaries import _INT_LITERAL, ColumnState

__all__ = ["TypedColumn", "typed_column", "quantiles_from_counts"]


@dataclass
class TypedColumn:
    """A column's distinct values typed as :func:`biasaudit.load` types them.

    Attributes
    ----------
    kind : {"bool", "num", "text", "object", "hash"}
    distinct : pandas.Series
        The distinct non-missing typed values (those of kept rows first-appearance order for
        dictionaries, sorted numbers otherwise), with the dtype the loaded column has.
    kept, dropped : ndarray
        Rows per distinct value with the label present / missing.
    canon : ndarray or None
        Raw dictionary code -> index into ``distinct`` (-1 missing); None for numbers kept as values.
    vmin, vmax : float
        Smallest and largest number of a numeric column (every row, infinite values included).
    """

    name: str
    kind: str
    mode: str
    distinct: pd.Series
    kept: np.ndarray
    dropped: np.ndarray
    canon: np.ndarray | None
    null_kept: int
    null_dropped: int
    exact: bool = True
    integral: bool = True
    int_dtype: bool = False
    n_unique_all: int | None = None
    n_unique_exact: bool = True
    repeat_seen: bool = False
    vmin: float = float("inf")
    has_inf: bool = False
    n_kept_distinct: int | None = None
    vmax: float = float("-inf")

    @property
    def n_missing_all(self) -> int:
        return int(self.null_kept + self.null_dropped)

    def n_unique_kept(self) -> int:
        """Distinct non-missing values in rows with a label."""
        if self.n_kept_distinct is not None:
            return self.n_kept_distinct
        return int((self.kept > 0).sum())


def _typed_text(values: list) -> tuple[str, list]:
    """The loader's rule (:func:`biasaudit.loaders.tables.text_kind`) on a column's distinct values."""
    stripped = [v.strip() for v in values]
    kind, num = text_kind(stripped)
    if kind == "bool":
        return "bool", [v in TRUE_WORDS for v in stripped]
    if kind == "num":
        return "num", list(num)
    return "text", stripped


def typed_column(state: ColumnState) -> TypedColumn:
    """Type a column from its pass-one state (see :class:`TypedColumn`)."""
    if state.mode == "hash":
        n_all = None if state.hashes_all is None else int(len(state.hashes_all))
        n_kept = None if state.hashes is None else int(len(state.hashes))
        return TypedColumn(state.name, "hash", "hash", pd.Series([], dtype=object), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), None, state.null_kept, state.null_dropped, exact=False,
                           n_unique_all=n_all, n_unique_exact=state.hash_exact, repeat_seen=state.repeat_seen,
                           n_kept_distinct=n_kept)
    if state.mode == "num":
        if state.counts is not None:
            state.counts.merge()
        c = state.counts
        if c is None or not state.exact:
            vals, kept, dropped = np.empty(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            vals, kept, dropped = c.vals, c.kept, c.dropped
        int_dtype = (state.all_integral and state.null_kept + state.null_dropped == 0 and not state.has_inf
                     and (state.int_literals if state.source == "text" else state.pandas_dtype_kind() == "i"))
        return TypedColumn(state.name, "num", "num", pd.Series(vals, dtype=float), kept, dropped, None,
                           state.null_kept, state.null_dropped, exact=state.exact, integral=state.all_integral,
                           int_dtype=bool(int_dtype), n_unique_all=int(len(vals)) if state.exact else None,
                           n_unique_exact=state.exact, repeat_seen=state.repeat_seen, vmin=state.vmin,
                           has_inf=state.has_inf, vmax=state.vmax)
    values = state.values
    if state.source == "text" and state.all_str:
        kind, typed = _typed_text(values) if values else ("text", [])
    else:
        kind, typed = ("bool" if values and all(isinstance(v, (bool, np.bool_)) for v in values) else "object"), \
            list(values)
    # canonical distinct values in first-appearance order (raw values that type alike merge)
    if kind == "num":
        key = [float(v) for v in typed]
    else:
        key = typed
    uniq, canon = {}, np.empty(len(values), dtype=np.int64)
    for i, k in enumerate(key):
        canon[i] = uniq.setdefault(_hashable(k), len(uniq))
    first = {}
    for i, k in enumerate(key):
        first.setdefault(canon[i], k)
    distinct_vals = [first[j] for j in range(len(uniq))]
    kept = np.bincount(canon, weights=state.kept, minlength=len(uniq)).astype(np.int64)
    dropped = np.bincount(canon, weights=state.dropped, minlength=len(uniq)).astype(np.int64)
    if kind == "num":
        int_dtype = state.null_kept + state.null_dropped == 0 and bool(
            pd.Series([v.strip() for v in values], dtype=object).str.match(_INT_LITERAL).all()) \
            if state.source == "text" else state.pandas_dtype_kind() == "i"
        distinct = pd.Series(distinct_vals, dtype=float)
        integral = bool(np.all(distinct[np.isfinite(distinct)] == np.round(distinct[np.isfinite(distinct)])))
        out_kind = "num"
    elif kind == "bool":
        distinct = pd.Series(distinct_vals, dtype=bool)
        int_dtype, integral, out_kind = False, False, "bool"
    elif kind == "text":
        distinct = pd.Series(distinct_vals, dtype="str")
        int_dtype, integral, out_kind = False, False, "text"
    else:
        distinct = _object_series(distinct_vals, state)
        int_dtype, integral = False, False
        out_kind = "num" if pd.api.types.is_numeric_dtype(distinct) and not pd.api.types.is_bool_dtype(distinct) \
            else "object"
        if out_kind == "num":
            integral = bool(np.all(distinct == np.round(distinct)))
            int_dtype = state.pandas_dtype_kind() == "i"
    vmin, vmax, has_inf = float("inf"), float("-inf"), False
    if out_kind == "num" and len(distinct):
        x = distinct.to_numpy(dtype=float)
        vmin, vmax, has_inf = float(np.nanmin(x)), float(np.nanmax(x)), bool(np.isinf(x).any())
    return TypedColumn(state.name, out_kind, "dict", distinct, kept, dropped, canon, state.null_kept,
                       state.null_dropped, integral=integral, int_dtype=bool(int_dtype),
                       n_unique_all=int(len(distinct_vals)), repeat_seen=False, vmin=vmin, has_inf=has_inf,
                       vmax=vmax)


def _object_series(values: list, state: ColumnState) -> pd.Series:
    dt = state.pandas_dtype
    if isinstance(dt, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(values, categories=dt.categories, ordered=dt.ordered))
    try:
        if dt is not None and not (dt == object):
            return pd.Series(values, dtype=dt)
    except (TypeError, ValueError):
        pass
    return pd.Series(values, dtype=object)


def _hashable(v):
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def quantiles_from_counts(vals: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(x, q)`` (method "linear") of the values ``vals`` repeated ``counts`` times.

    The order statistics are read from the cumulative counts and combined exactly as numpy does
    (``numpy.lib._function_base_impl._lerp``), so the result is identical bit for bit.
    """
    keep = counts > 0
    vals, counts = np.asarray(vals, dtype=float)[keep], np.asarray(counts)[keep]
    n = int(counts.sum())
    q = np.asarray(q, dtype=float)
    vi = (n - 1) * q  # numpy's virtual index of the linear method
    prev = np.floor(vi)
    nxt = prev + 1
    above = vi >= n - 1
    prev[above], nxt[above] = n - 1, n - 1
    below = vi < 0
    prev[below], nxt[below] = 0, 0
    prev_i, nxt_i = prev.astype(np.intp), nxt.astype(np.intp)
    gamma = np.asanyarray(vi - np.where(above, -1, prev_i), dtype=float)
    cum = np.cumsum(counts)
    a = vals[np.searchsorted(cum, prev_i, side="right")]
    b = vals[np.searchsorted(cum, nxt_i, side="right")]
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out
