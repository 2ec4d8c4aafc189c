"""Prepared columns: how each audited column's level codes are computed from its stored codes.

A :class:`ColumnPrep` turns a chunk's stored codes (uint16 dictionary codes, float64 numbers or
uint64 value hashes) into the level codes of one prepared column: a categorical's text levels, a
numeric column's bins, a multi-valued column's value count and indicators, the hidden missingness
indicators.  The builders work on a column's typed distinct values (:mod:`biasaudit.engine.coltypes`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .coltypes import TypedColumn, quantiles_from_counts
from .levels import (MISSING, as_text, cut_codes, cut_labels, from_codes, is_integral, nice_cuts, quantile_probs,
                     split_parts)
from .summaries import NULL16

__all__ = ["ColumnPrep", "missing_indicator", "MISSING_PREFIX", "kept_distinct", "text_prep", "numeric_prep",
           "multi_preps"]

#: Name prefix of the hidden missingness indicators counted for the reporting detector.
MISSING_PREFIX = "__missing__:"


def missing_indicator(column: str) -> "ColumnPrep":
    """The hidden column ``__missing__:<column>``: level 0 missing, 1 present."""
    return ColumnPrep(MISSING_PREFIX + column, column, ("missing", "present"), 0, indicator=True)


@dataclass
class ColumnPrep:
    """How one prepared column is computed from its source column, chunk by chunk.

    ``lookup`` (dictionary sources) maps a stored uint16 code to the level code; numbers are binned
    at ``cuts`` (:func:`~biasaudit.engine.levels.cut_codes`; ``bin_map`` drops empty bins) or
    mapped through the exact ``values``/``value_codes``.  ``missing_code`` is -1 for the label
    (the row is dropped).
    """

    name: str
    source: str
    levels: tuple
    missing_code: int
    lookup: np.ndarray | None = None
    cuts: np.ndarray | None = None
    bin_map: np.ndarray | None = None
    values: np.ndarray | None = None
    value_codes: np.ndarray | None = None
    indicator: bool = False

    def encode(self, raw: np.ndarray) -> np.ndarray:
        """Level codes (int32) of a chunk of stored codes (uint16), numbers (float64) or value hashes (uint64)."""
        if self.indicator:  # 0 missing, 1 present
            raw = np.asarray(raw)
            if raw.dtype == np.uint16:
                miss = raw == NULL16
            elif raw.dtype == np.uint64:  # value hashes of a high-cardinality column; 0 is missing
                miss = raw == 0
            else:
                miss = np.isnan(raw.astype(float, copy=False))
            return (~miss).astype(np.int32)
        if self.lookup is not None:
            return self.lookup[raw]
        x = np.asarray(raw, dtype=float)
        nan = np.isnan(x)
        if self.cuts is not None:
            codes = self.bin_map[cut_codes(x, self.cuts).clip(0)]
        else:
            pos = np.clip(np.searchsorted(self.values, x), 0, max(len(self.values) - 1, 0))
            codes = self.value_codes[pos] if len(self.values) else np.zeros(len(x), dtype=np.int64)
        codes = codes.astype(np.int32)
        codes[nan] = self.missing_code
        return codes


def kept_distinct(t: TypedColumn) -> tuple[pd.Series, np.ndarray]:
    """Distinct values seen in kept rows, and their index into ``t.distinct``."""
    idx = np.flatnonzero(t.kept > 0)
    return t.distinct.iloc[idx].reset_index(drop=True), idx


def text_prep(name: str, source: str, t: TypedColumn, text: pd.Series, idx: np.ndarray) -> ColumnPrep:
    """Prep of a column shown as the categories of ``text`` (``as_text`` of the kept distinct values)."""
    levels = [str(c) for c in text.cat.categories]
    missing = t.null_kept > 0
    miss_code = len(levels) if missing else -1
    if missing:
        levels.append(MISSING)
    per_distinct = np.full(len(t.distinct), miss_code, dtype=np.int32)
    per_distinct[idx] = text.cat.codes.to_numpy()
    return _prep_from_distinct(name, source, t, per_distinct, tuple(levels), miss_code)


def _prep_from_distinct(name, source, t: TypedColumn, per_distinct: np.ndarray, levels: tuple,
                        miss_code: int) -> ColumnPrep:
    if t.canon is not None:
        lookup = np.full(NULL16 + 1, miss_code, dtype=np.int32)
        lookup[:len(t.canon)] = per_distinct[t.canon]
        return ColumnPrep(name, source, levels, miss_code, lookup=lookup)
    vals = t.distinct.to_numpy(dtype=float)
    return ColumnPrep(name, source, levels, miss_code, values=vals, value_codes=per_distinct)


def numeric_prep(col: str, t: TypedColumn, spec, sample_values, approximate: list):
    """Bins of a numeric column: given cut points, or rounded quantiles (exact from the value counts,
    else from the row sample) with a bottom and a top 5 % bin."""
    if t.exact:
        vals = t.distinct.to_numpy(dtype=float)
        order = np.argsort(vals, kind="stable")
        vals, kept = vals[order], t.kept[order]
        vals, kept = vals[kept > 0], kept[kept > 0]
    else:
        x = np.asarray(sample_values(col), dtype=float) if sample_values is not None else np.empty(0)
        vals, kept = np.unique(x[~np.isnan(x)], return_counts=True)
        approximate.append(f"{col}: bins from the row sample ({int(kept.sum()):,} values), not from every value")
    finite = np.isfinite(vals)
    if isinstance(spec, (list, tuple, np.ndarray)):
        cuts = [float(c) for c in spec]
    elif finite.any():
        q = quantiles_from_counts(vals[finite], kept[finite], quantile_probs(int(spec), float(kept[finite].sum())))
        cuts = nice_cuts(q, integral=is_integral(vals[finite]))
    else:
        cuts = []
    if not cuts:
        d, idx = kept_distinct(t)
        return text_prep(col, col, t, as_text(d), idx), []
    names = cut_labels(cuts)
    per_bin = np.bincount(cut_codes(vals, cuts), weights=kept, minlength=len(names))
    used = per_bin > 0 if t.exact else np.ones(len(names), dtype=bool)
    bin_map = np.full(len(names), -1, dtype=np.int32)
    bin_map[used] = np.arange(int(used.sum()))
    levels = [nm for nm, u in zip(names, used) if u]
    miss = len(levels) if t.null_kept > 0 else -1
    if t.null_kept > 0:
        levels.append(MISSING)
    bin_map[~used] = miss
    prep = ColumnPrep(col, col, tuple(levels), miss, cuts=np.asarray(cuts, dtype=float), bin_map=bin_map)
    if t.canon is not None:  # numbers held as a dictionary: bin every distinct value once
        per_distinct = prep.encode(t.distinct.to_numpy(dtype=float))
        lookup = np.full(NULL16 + 1, miss, dtype=np.int32)
        lookup[:len(t.canon)] = per_distinct[t.canon]
        prep = ColumnPrep(col, col, tuple(levels), miss, lookup=lookup)
    return prep, cuts


def multi_preps(col, t, text, idx, sep, n_unique, max_levels, preps, audited, excluded, derived, kinds, notes):
    """The value count and indicators of a multi-valued column."""
    _, per_cat = split_parts(text, sep)
    used = sorted({p for tp in per_cat for p in tp})
    if n_unique <= max_levels:
        preps[col] = text_prep(col, col, t, text, idx)
        audited.append(col)
    else:
        excluded[col] = f"multi-valued with {n_unique} distinct combinations; audited through its indicators"
    kinds[col] = "multi"
    cat_of = np.full(len(t.distinct), -1, dtype=np.int64)
    cat_of[idx] = text.cat.codes.to_numpy()
    cnt = f"{col}_count"
    preps[cnt] = _derived_prep(cnt, col, t, cat_of, [str(len(tp)) for tp in per_cat])
    derived[cnt] = col
    kinds[cnt] = "derived"
    audited.append(cnt)
    if len(used) > max_levels:
        notes.append(f"Column {col!r} has {len(used)} distinct values; indicators kept for the "
                     f"{max_levels} most frequent.")
        freq = np.bincount(cat_of[idx], weights=t.kept[idx], minlength=len(per_cat))
        tally: dict = {}
        for tp, f in zip(per_cat, freq):
            for p in tp:
                tally[p] = tally.get(p, 0) + f
        used = sorted(sorted(tally, key=lambda p: -tally[p])[:max_levels])
    for v in used:
        ind = f"{col}_has_{v}"
        preps[ind] = _derived_prep(ind, col, t, cat_of, ["yes" if v in tp else "no" for tp in per_cat])
        derived[ind] = col
        kinds[ind] = "derived"
        audited.append(ind)


def _derived_prep(name: str, parent: str, t: TypedColumn, cat_of: np.ndarray, values: list) -> ColumnPrep:
    """A column computed from the parent's category."""
    s = from_codes(np.arange(len(values)), values, pd.RangeIndex(len(values)))
    levels = [str(c) for c in s.cat.categories]
    missing = t.null_kept > 0
    miss = len(levels) if missing else -1
    if missing:
        levels.append(MISSING)
    code_of_cat = np.append(s.cat.codes.to_numpy(), miss)
    per_distinct = code_of_cat[cat_of]  # -1 (not in kept rows) -> miss
    return _prep_from_distinct(name, parent, t, per_distinct.astype(np.int32), tuple(levels), miss)
