"""Roles from column summaries: :func:`biasaudit.roles.resolve` for data the engine never holds.

:func:`resolve_summary` takes the same decisions as :func:`~biasaudit.roles.resolve`, in the same
order and with the same messages, from the typed distinct values and counts of each column
(:mod:`biasaudit._colsummary`); the level names come from the same helpers (``_as_text``,
``_from_codes``, ``roles_bin_labels``), applied to the distinct values instead of the rows.
Each prepared column gets a :class:`ColumnPrep` that turns a chunk's raw codes (or numbers)
into the codes the in-memory engine would give the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .summaries import NULL16
from .coltypes import TypedColumn, quantiles_from_counts
from ..errors import DataError
from .roles import (LABEL_NAMES, MISSING, _ID_NAME, _SMALL_INT_LEVELS, Roles, _as_text, _from_codes, infinite_ends,
                    _missing_column, _split_parts, detect_multi_separator, roles_bin_labels)

__all__ = ["ColumnPrep", "resolve_summary", "infer_label", "missing_indicator", "MISSING_PREFIX"]

#: Name prefix of the hidden missingness indicators the streaming engine counts for reporting.
MISSING_PREFIX = "__missing__:"


def missing_indicator(column: str) -> "ColumnPrep":
    """The hidden column ``__missing__:<column>``: level 0 missing, 1 present."""
    return ColumnPrep(MISSING_PREFIX + column, column, ("missing", "present"), 0, indicator=True)


@dataclass
class ColumnPrep:
    """How one prepared column is computed from its source column, chunk by chunk.

    ``lookup`` (dictionary sources) maps a raw uint16 code to the prepared code; for numbers,
    ``edges`` bin them as ``pd.cut`` does (right-closed, lowest edge included; outer edges open
    when the bins are approximate) and ``values``/``value_codes`` map exact values to codes.
    ``missing_code`` is -1 for the label (the row is dropped).
    """

    name: str
    source: str
    levels: tuple
    missing_code: int
    lookup: np.ndarray | None = None
    edges: np.ndarray | None = None
    open_edges: bool = False
    values: np.ndarray | None = None
    value_codes: np.ndarray | None = None
    indicator: bool = False

    def encode(self, raw: np.ndarray) -> np.ndarray:
        """Prepared codes (int32) of a chunk of raw codes (uint16) or numbers (float64)."""
        if self.indicator:  # 0 missing, 1 present (as reporting's k x 2 tables)
            raw = np.asarray(raw)
            if raw.dtype == np.uint16:
                miss = raw == NULL16
            elif raw.dtype == np.uint8:  # null flags of a column kept only as hashes
                miss = raw == 1
            else:
                miss = np.isnan(raw.astype(float, copy=False))
            return (~miss).astype(np.int32)
        if self.lookup is not None:
            return self.lookup[raw]
        x = np.asarray(raw, dtype=float)
        nan = np.isnan(x)
        if self.edges is not None:
            e = self.edges
            codes = np.searchsorted(e, x, side="left") - 1
            codes[x == e[0]] = 0
            if self.open_edges:
                codes = np.clip(codes, 0, len(e) - 2)
            else:
                codes[(x < e[0]) | (x > e[-1])] = self.missing_code
        else:
            pos = np.clip(np.searchsorted(self.values, x), 0, max(len(self.values) - 1, 0))
            codes = self.value_codes[pos] if len(self.values) else np.zeros(len(x), dtype=np.int64)
        codes = codes.astype(np.int32)
        codes[nan] = self.missing_code
        return codes


def infer_label(columns, label: str | None) -> tuple[str, str | None]:
    """The label column and the note :func:`~biasaudit.roles.resolve` writes when it guesses it."""
    if label is not None:
        return label, None
    by_lower = {str(c).lower(): c for c in columns}
    found = next((by_lower[n] for n in LABEL_NAMES if n in by_lower), None)
    label = found if found is not None else columns[-1]
    why = "its name" if found is not None else "the last column"
    return label, f"Label column not given; using {label!r} ({why}). Pass --label to choose another."


def _require(columns, name: str, what: str) -> None:
    if name not in columns:
        raise _missing_column(name, columns, what)


def _kept_distinct(t: TypedColumn) -> tuple[pd.Series, np.ndarray]:
    """Distinct values seen in kept rows, and their index into ``t.distinct``."""
    idx = np.flatnonzero(t.kept > 0)
    return t.distinct.iloc[idx].reset_index(drop=True), idx


def _text_prep(name: str, source: str, t: TypedColumn, text: pd.Series, idx: np.ndarray) -> ColumnPrep:
    """Prep of a column shown as the categories of ``text`` (``_as_text`` of the kept distinct values)."""
    from .._safe import shorten
    levels = [shorten(str(c)) for c in text.cat.categories]  # long values shortened as by the loader
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


def _numeric_values(t: TypedColumn) -> tuple[np.ndarray, np.ndarray]:
    vals = t.distinct.to_numpy(dtype=float)
    order = np.argsort(vals, kind="stable")
    return vals[order], t.kept[order]


def resolve_summary(columns: list, typed: dict, n_total: int, *, label: str | None = None, sensitive=None,
                    weight: str | None = None, ids=None, attributes=None, multi=None, positive=None,
                    n_bins: int = 5, max_levels: int = 50, auto_multi: bool = True,
                    sample_values=None) -> tuple[Roles, dict, list]:
    """:func:`biasaudit.roles.resolve` from summaries.

    Parameters
    ----------
    columns : list of str
        The columns in file order.
    typed : dict of column -> TypedColumn
    n_total : int
        Rows read.
    sample_values : callable, optional
        ``sample_values(column)`` -> numbers of the row sample's kept rows, for the quantile bins
        of numeric columns with too many distinct values for exact counts.

    Returns
    -------
    roles : Roles
    preps : dict of prepared column -> ColumnPrep (label first, then the attributes)
    approximate : list of str
        What was decided from the sample instead of the whole data.
    """
    if len(set(columns)) != len(columns):
        dup = next(c for i, c in enumerate(columns) if c in columns[:i])
        raise DataError(f"Column name {dup!r} appears more than once. Rename the duplicates and try again.")
    if n_total == 0:
        raise DataError("The table has no rows. An audit needs labelled rows.")
    notes: list[str] = []
    approximate: list[str] = []
    excluded: dict[str, str] = {}
    kinds: dict[str, str] = {}
    label, note = infer_label(columns, label)
    if note:
        notes.append(note)
    _require(columns, label, "Label")
    ty = typed[label]
    y_d, y_idx = _kept_distinct(ty)
    y_text = _as_text(y_d) if len(y_d) else pd.Series([], dtype="category")
    n_missing_label = ty.null_dropped + ty.null_kept
    n = n_total - n_missing_label
    if n_missing_label == n_total:
        raise DataError(f"Label column {label!r} is empty (every value missing). Choose another label.")
    if ty.kind == "hash" or (ty.mode == "num" and not ty.exact):
        raise DataError(f"Label column {label!r} has more than {max_levels} distinct values; it looks continuous "
                        f"or like an id. Binarise it or choose another label with --label.")
    per_cat = np.bincount(y_text.cat.codes.to_numpy(), weights=ty.kept[y_idx],
                          minlength=len(y_text.cat.categories)).astype(np.int64)
    counts = pd.Series(per_cat, index=[str(c) for c in y_text.cat.categories])
    counts = counts[counts > 0]
    if len(counts) < 2:
        raise DataError(f"Label column {label!r} has one value ({counts.index[0]!r}); an audit needs at least "
                        f"two classes. Choose another label with --label.")
    if len(counts) > max_levels:
        raise DataError(f"Label column {label!r} has {len(counts)} distinct values (more than {max_levels}); "
                        f"it looks continuous or like an id. Binarise it or choose another label with --label.")
    if n_missing_label:
        notes.append(f"{n_missing_label} row(s) with a missing label were left out.")
    order = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
    label_values = tuple(str(v) for v in order)
    if positive is None:
        positive = label_values[-1]
    elif str(positive) not in label_values:
        raise DataError(f"Positive label value {positive!r} does not occur in {label!r}; values are "
                        f"{', '.join(label_values)}.")
    kinds[label] = "label"
    preps: dict[str, ColumnPrep] = {}
    lab = _text_prep(label, label, ty, y_text, y_idx)
    lab.missing_code = -1
    if lab.lookup is not None:
        lab.lookup[lab.lookup == len(lab.levels)] = -1
        lab.lookup[NULL16] = -1
    preps[label] = lab

    if weight is not None:
        _require(columns, weight, "Weight")
        tw = typed[weight]
        if tw.kind not in ("num", "bool"):
            raise DataError(f"Weight column {weight!r} holds non-numeric values. Weights must be "
                            f"non-negative frequency counts.")
        if tw.n_missing_all or tw.has_inf:
            raise DataError(f"Weight column {weight!r} has missing or infinite values. Fill them or drop those rows.")
        low = tw.vmin
        if low < 0:
            raise DataError(f"Weight column {weight!r} has negative values (min {low:g}). Weights must be "
                            f"non-negative frequency counts.")
        kinds[weight] = "weight"

    ids = tuple(ids or ())
    for c in ids:
        _require(columns, c, "Id")
        kinds[c] = "id"
    multi = dict(multi or {})
    for c in multi:
        _require(columns, c, "Multi-valued")
    sensitive = tuple(sensitive or ())
    for c in sensitive:
        _require(columns, c, "Sensitive")
        if c == label:
            raise DataError(f"Column {c!r} is the label; it cannot also be a sensitive attribute.")
    if attributes is not None:
        attributes = tuple(attributes)
        for c in attributes:
            _require(columns, c, "Attribute")
    candidates = [c for c in (attributes or columns) if c not in (label, weight) and c not in ids]
    for c in sensitive:
        if c not in candidates:
            candidates.append(c)

    bins: dict[str, list] = {}
    derived: dict[str, str] = {}
    multi_used: dict[str, str] = {}
    audited: list[str] = []
    auto_ids: list[str] = []
    for col in candidates:
        t = typed[col]
        explicit = col in sensitive or (attributes is not None and col in attributes)
        if t.kind == "hash" or (t.mode == "num" and not t.exact):
            n_unique = t.n_unique_kept() if t.n_kept_distinct is not None else n
            unique_rows = not t.repeat_seen and t.null_kept == 0
            if not t.n_unique_exact:
                approximate.append(f"{col}: distinct values counted approximately")
        else:
            n_unique = t.n_unique_kept()
            unique_rows = n_unique == n
        if n_unique <= 1:
            kinds[col] = "constant"
            excluded[col] = "constant (one value)" if n_unique == 1 else "empty (every value missing)"
            if explicit:
                raise DataError(f"Attribute {col!r} is {excluded[col]}; there are no groups to compare. "
                                f"Choose another attribute.")
            continue
        if t.kind == "num":
            if t.exact:
                d, idx = _kept_distinct(t)
                fin = d[np.isfinite(d)]
                is_int = bool((fin == np.round(fin)).all()) and len(fin) == len(d)
            else:
                is_int = t.integral
            if unique_rows and is_int and not explicit and (n > 20 or _ID_NAME.search(str(col))):
                kinds[col] = "id"
                auto_ids.append(col)
                excluded[col] = "id-like (every value unique)"
                continue
            if t.exact and n_unique <= _SMALL_INT_LEVELS and is_int:
                preps[col] = _text_prep(col, col, t, _as_text(d), idx)
                kinds[col] = "categorical"
            else:
                preps[col], bins[col] = _numeric_prep(col, t, n_bins, sample_values, approximate)
                kinds[col] = "numeric"
            audited.append(col)
            continue
        if t.kind == "hash":
            if col in multi:
                raise DataError(f"Multi-valued column {col!r} has more distinct values than the streaming engine "
                                f"keeps in a dictionary; audit it with engine='memory'.")
            if unique_rows and n >= 3 and not explicit:
                kinds[col] = "id"
                auto_ids.append(col)
                excluded[col] = "id-like (every value unique)"
                continue
            kinds[col] = "text"
            excluded[col] = (f"{n_unique} distinct values (more than --max-levels {max_levels}): free text or "
                             f"an identifier")
            if explicit:
                raise DataError(f"Attribute {col!r} has {n_unique} distinct values, more than --max-levels "
                                f"{max_levels}. Group its values first or raise --max-levels.")
            continue
        d, idx = _kept_distinct(t)
        text = _as_text(d)
        sep = multi.get(col) if col in multi else None
        if col in multi and sep is None:
            sep = detect_multi_separator(text.cat.categories) or "|"
        if col not in multi and auto_multi:
            sep = detect_multi_separator(text.cat.categories)
            if sep is not None:
                notes.append(f"Column {col!r} looks multi-valued (values joined by {sep!r}); "
                             f"added a value count and one indicator per value.")
        if n_unique == n and n >= 3 and not explicit and sep is None:
            kinds[col] = "id"
            auto_ids.append(col)
            excluded[col] = "id-like (every value unique)"
            continue
        if sep is not None:
            _multi_preps(col, t, text, idx, sep, n_unique, max_levels, preps, audited, excluded, derived,
                         kinds, notes)
            multi_used[col] = sep
            continue
        if n_unique > max_levels:
            kinds[col] = "text"
            excluded[col] = (f"{n_unique} distinct values (more than --max-levels {max_levels}): free text or "
                             f"an identifier")
            if explicit:
                raise DataError(f"Attribute {col!r} has {n_unique} distinct values, more than --max-levels "
                                f"{max_levels}. Group its values first or raise --max-levels.")
            continue
        preps[col] = _text_prep(col, col, t, text, idx)
        kinds[col] = "categorical"
        audited.append(col)

    if auto_ids:
        notes.append(f"Left out id-like column(s): {', '.join(map(repr, auto_ids))} (every value unique).")
    others = [c for c, why in excluded.items() if c not in auto_ids]
    if others:
        notes.append("Left out: " + "; ".join(f"{c!r} ({excluded[c]})" for c in others) + ".")
    if not audited:
        raise DataError("No column is left to audit besides the label (all are ids, constant or free text). "
                        "Check the file or pass --sensitive.")
    sens = tuple(sensitive) if sensitive else tuple(c for c in audited if c not in derived)
    roles = Roles(label=label, label_values=label_values, positive=str(positive), attributes=tuple(audited),
                  sensitive=sens, ids=ids + tuple(auto_ids), weight=weight, kinds=kinds, bins=bins,
                  derived=derived, multi=multi_used, excluded=excluded, notes=tuple(notes),
                  n_rows_dropped=n_missing_label)
    ordered = {label: preps[label]}
    ordered.update({c: preps[c] for c in audited})
    return roles, ordered, approximate


def _numeric_prep(col: str, t: TypedColumn, n_bins: int, sample_values, approximate: list):
    """Quantile bins as ``roles._bin_numeric``: exact from the value counts, else from the row sample."""
    probs = np.linspace(0, 1, n_bins + 1)
    if t.exact:
        vals, counts = _numeric_values(t)
        fin = np.isfinite(vals)  # infinite values go to the outer bins (roles.infinite_ends)
        qs = np.unique(quantiles_from_counts(vals[fin], counts[fin], probs)) if fin.any() else np.empty(0)
        qs = infinite_ends(qs, bool(np.isneginf(vals).any()), bool(np.isposinf(vals).any()))
        open_edges = False
    else:
        x = np.asarray(sample_values(col), dtype=float) if sample_values is not None else np.empty(0)
        x = x[~np.isnan(x)]
        qs = np.unique(np.nanquantile(x, probs)) if x.size else np.empty(0)
        open_edges = True
        approximate.append(f"{col}: quantile bins from the row sample ({x.size:,} values), not from every value")
    if len(qs) < 2:
        d, idx = _kept_distinct(t)
        return _text_prep(col, col, t, _as_text(d), idx), []
    levels = list(roles_bin_labels(list(qs)))
    miss = len(levels) if t.null_kept > 0 else -1
    if t.null_kept > 0:
        levels.append(MISSING)
    prep = ColumnPrep(col, col, tuple(levels), miss, edges=np.asarray(qs, dtype=float), open_edges=open_edges)
    if t.canon is not None:  # numbers held as a dictionary: bin every distinct value once
        per_distinct = prep.encode(t.distinct.to_numpy(dtype=float))
        lookup = np.full(NULL16 + 1, miss, dtype=np.int32)
        lookup[:len(t.canon)] = per_distinct[t.canon]
        prep = ColumnPrep(col, col, tuple(levels), miss, lookup=lookup)
    return prep, [float(q) for q in qs]


def _multi_preps(col, t, text, idx, sep, n_unique, max_levels, preps, audited, excluded, derived, kinds, notes):
    """The value count and indicators of a multi-valued column (as ``resolve`` builds them)."""
    _, per_cat = _split_parts(text, sep)
    used = sorted({p for tp in per_cat for p in tp})
    if n_unique <= max_levels:
        preps[col] = _text_prep(col, col, t, text, idx)
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
    """A column computed from the parent's category (``roles._from_codes``)."""
    s = _from_codes(np.arange(len(values)), values, pd.RangeIndex(len(values)))
    levels = [str(c) for c in s.cat.categories]
    missing = t.null_kept > 0
    miss = len(levels) if missing else -1
    if missing:
        levels.append(MISSING)
    code_of_cat = np.append(s.cat.codes.to_numpy(), miss)
    per_distinct = code_of_cat[cat_of]  # -1 (not in kept rows) -> miss
    return _prep_from_distinct(name, parent, t, per_distinct.astype(np.int32), tuple(levels), miss)
