"""The one role resolver: which column plays which part, decided from per-column summaries.

Every input (a DataFrame, a file read in chunks, a dask DataFrame) is summarised column by
column in one pass (:mod:`biasaudit.engine.summaries`, typed by :mod:`biasaudit.engine.coltypes`);
:func:`resolve_summary` then decides, from those typed distinct values and counts alone, the
label, the audited attributes (categorical, numeric binned, multi-valued with a value count and
one indicator per value), ids, the weight and what is left out and why.  Each prepared column gets
a :class:`~biasaudit.engine.preps.ColumnPrep` that turns a chunk's stored codes into its level codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from .._safe import MAX_SHOWN_CHARS, shorten
from ..errors import DataError
from .levels import ID_NAME, LABEL_NAMES, SMALL_INT_LEVELS, as_text, detect_multi_separator, missing_column
from .preps import MISSING_PREFIX, ColumnPrep, kept_distinct, missing_indicator, multi_preps, numeric_prep, text_prep
from .summaries import NULL16

__all__ = ["Roles", "ColumnPrep", "resolve_summary", "label_order", "infer_label", "missing_indicator", "MISSING_PREFIX",
           "ZERO_WEIGHTS", "LONG_VALUES"]

#: Message when no labelled row has a positive weight ({weight}: the column).
ZERO_WEIGHTS = "Every weight in {weight!r} is 0: no row is left to audit. Check the weight column."
#: Note when values longer than MAX_SHOWN_CHARS are named by a prefix and a hash ({n}, {columns}, {limit}).
LONG_VALUES = ("{n} distinct value(s) in {columns} longer than {limit} characters are shown shortened ('…#' and a "
               "hash); the data keep them whole.")


@dataclass(frozen=True)
class Roles:
    """The part every column plays in an audit.

    Attributes
    ----------
    label : str
    label_values : tuple of str
        Label values, most frequent first (ties by name).
    positive : str
        The label value whose rate is compared across groups (default: the minority value,
        by weighted counts when there is a weight).
    attributes : tuple of str
        Every audited attribute (including derived ones).
    sensitive : tuple of str
        Attributes audited for group attribution and proxies (the named ones, else every attribute).
    named : bool
        True when the user named the sensitive attributes.
    ids, weight : identifiers and the frequency-weight column.
    kinds : dict
        column -> categorical / numeric / multi / derived / id / text / constant / label / weight /
        prediction / excluded.
    bins : dict
        numeric column -> its cut points (bins ``<=c0``, ``(c0, c1]``, ..., ``>ck``).
    derived : dict
        derived column -> the column it was computed from (never crossed with it).
    excluded : dict
        column -> why it was left out.
    notes : tuple of str
        What was decided for the user.
    """

    label: str
    label_values: tuple
    positive: str
    attributes: tuple
    sensitive: tuple
    ids: tuple = ()
    weight: str | None = None
    kinds: Mapping[str, str] = field(default_factory=dict)
    bins: Mapping[str, list] = field(default_factory=dict)
    derived: Mapping[str, str] = field(default_factory=dict)
    multi: Mapping[str, str] = field(default_factory=dict)
    excluded: Mapping[str, str] = field(default_factory=dict)
    notes: tuple = ()
    n_rows_dropped: int = 0
    named: bool = False

    def parent(self, column: str) -> str:
        """The source column of a derived attribute (itself otherwise)."""
        return self.derived.get(column, column)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def infer_label(columns, label: str | None) -> tuple[str, str | None]:
    """The label column and, when it was guessed, the note saying so."""
    if label is not None:
        return label, None
    by_lower = {str(c).lower(): c for c in columns}
    found = next((by_lower[n] for n in LABEL_NAMES if n in by_lower), None)
    label = found if found is not None else columns[-1]
    why = "its name" if found is not None else "the last column"
    return label, f"Label column not given; using {label!r} ({why}). Pass --label to choose another."


def _require(columns, name: str, what: str) -> None:
    if name not in columns:
        raise missing_column(name, columns, what)


def label_order(counts: Mapping[str, float]) -> tuple[tuple, str]:
    """Label values most frequent first (ties by name) and the default positive value (the minority)."""
    order = sorted((v for v in counts if counts[v] > 0), key=lambda v: (-counts[v], str(v)))
    return tuple(str(v) for v in order), str(order[-1])


def _label(columns, typed, n_total, label, positive, max_levels, weight, notes):
    """The label's prep, values (most frequent first) and positive value."""
    _require(columns, label, "Label")
    ty = typed[label]
    y_d, y_idx = kept_distinct(ty)
    y_text = as_text(y_d) if len(y_d) else pd.Series([], dtype="category")
    n_missing_label = ty.null_dropped + ty.null_kept
    if n_missing_label == n_total:
        raise DataError(f"Label column {label!r} is empty (every value missing). Choose another label.")
    if ty.kind == "hash" or (ty.mode == "num" and not ty.exact):
        raise DataError(f"Label column {label!r} has more than {max_levels} distinct values; it looks continuous "
                        f"or like an id. Binarise it or choose another label with --label.")
    cats = [str(c) for c in y_text.cat.categories]
    per_cat = np.bincount(y_text.cat.codes.to_numpy(), weights=ty.kept[y_idx], minlength=len(cats)).astype(np.int64)
    counts = pd.Series(per_cat, index=cats)
    counts = counts[counts > 0]
    if len(counts) < 2:
        raise DataError(f"Label column {label!r} has one value ({counts.index[0]!r}); an audit needs at least "
                        f"two classes. Choose another label with --label.")
    if len(counts) > max_levels:
        raise DataError(f"Label column {label!r} has {len(counts)} distinct values (more than {max_levels}); "
                        f"it looks continuous or like an id. Binarise it or choose another label with --label.")
    if n_missing_label:
        notes.append(f"{n_missing_label} row(s) with a missing label were left out.")
    label_values, minority = label_order(dict(weight) if weight is not None else counts.to_dict())
    if positive is None:
        positive = minority
    elif (positive := shorten(str(positive))) not in label_values:  # a long value is named as its level
        raise DataError(f"Positive label value {positive!r} does not occur in {label!r}; values are "
                        f"{', '.join(label_values)}.")
    lab = text_prep(label, label, ty, y_text, y_idx)
    lab.missing_code = -1
    if lab.lookup is not None:
        lab.lookup[lab.lookup == len(lab.levels)] = -1
        lab.lookup[NULL16] = -1
    return lab, label_values, str(positive), n_missing_label


def resolve_summary(columns: list, typed: dict, n_total: int, *, label: str | None = None, sensitive=None,
                    weight: str | None = None, ids=None, attributes=None, exclude=None, multi=None,
                    positive=None, n_bins: int = 5, bins: Mapping | None = None, max_levels: int = 50,
                    auto_multi: bool = True, outputs=None, sample_values=None,
                    weighted_label=None) -> tuple[Roles, dict, list]:
    """Assign roles from column summaries.

    Parameters
    ----------
    columns : list of str
        The columns in source order.
    typed : dict of column -> TypedColumn
    n_total : int
        Rows read.
    label, sensitive, weight, ids, attributes, exclude, multi, positive, max_levels
        As for :func:`biasaudit.audit`.
    n_bins : int
        Quantile bins of numeric attributes (plus a bottom and a top 5 % bin).
    bins : mapping, optional
        Column -> cut points (or a number of quantile bins) overriding ``n_bins``.
    outputs : list of str, optional
        Model outputs (predictions, scores): carried, never audited.
    sample_values : callable, optional
        ``sample_values(column)`` -> numbers of the row sample's kept rows, for the bins of numeric
        columns with too many distinct values for exact counts.
    weighted_label : mapping, optional
        Weighted count of each label value (text) when there is a weight: the default positive
        value is the minority by weight.

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
    lab, label_values, positive, n_missing_label = _label(columns, typed, n_total, label, positive, max_levels,
                                                          weighted_label, notes)
    n = n_total - n_missing_label
    kinds[label] = "label"
    preps: dict[str, ColumnPrep] = {label: lab}

    if weight is not None:
        _weight(columns, typed, weight, notes, n_total)
        kinds[weight] = "weight"
    outputs = tuple(dict.fromkeys(outputs or ()))
    for c in outputs:
        _require(columns, c, "Prediction")
        if c == label:
            raise DataError(f"Column {c!r} is the label; it cannot also be the model's prediction or score.")
        kinds[c] = "prediction"
        excluded[c] = "model output (prediction or score), audited by the predictions detector"
    ids = tuple(ids or ())
    for c in ids:
        _require(columns, c, "Id")
        kinds[c] = "id"
    multi = dict(multi or {})
    for c in multi:
        _require(columns, c, "Multi-valued")
    sensitive = (sensitive,) if isinstance(sensitive, str) else tuple(sensitive or ())
    exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude or ())
    for c in exclude:
        _require(columns, c, "Excluded")
        if c == label:
            raise DataError(f"Column {c!r} is the label; it cannot be excluded. Choose another label with --label.")
        if c in sensitive:
            raise DataError(f"Column {c!r} is both excluded and sensitive; drop one of --exclude / --sensitive.")
    for c in sensitive:
        _require(columns, c, "Sensitive")
        if c == label:
            raise DataError(f"Column {c!r} is the label; it cannot also be a sensitive attribute.")
        if c in outputs:
            raise DataError(f"Column {c!r} is the model's prediction or score; it cannot also be a sensitive "
                            f"attribute.")
    if attributes is not None:
        attributes = (attributes,) if isinstance(attributes, str) else tuple(attributes)
        for c in attributes:
            _require(columns, c, "Attribute")
    bins = dict(bins or {})
    for c in bins:
        _require(columns, c, "Binned")
    candidates = [c for c in (attributes or columns) if c not in (label, weight) and c not in ids
                  and c not in outputs]
    for c in sensitive:
        if c not in candidates:
            candidates.append(c)
    for c in exclude:
        if c in candidates:
            candidates.remove(c)
            kinds[c] = "excluded"
            excluded[c] = "left out by the user (--exclude)"

    cuts: dict[str, list] = {}
    long_notes: list = []  # (column, number of distinct values shown shortened)
    _note_long(label, kept_distinct(typed[label])[0], long_notes)
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
        if col in bins and t.kind != "num":
            raise DataError(f"Bins were given for {col!r}, which is not numeric. Give bins for numeric columns only.")
        if t.kind == "num":
            if t.exact:
                d, idx = kept_distinct(t)
                fin = d[np.isfinite(d)]
                is_int = bool((fin == np.round(fin)).all()) and len(fin) == len(d)
            else:
                is_int = t.integral
            if unique_rows and is_int and not explicit and col not in bins and (n > 20 or ID_NAME.search(str(col))):
                kinds[col] = "id"
                auto_ids.append(col)
                excluded[col] = "id-like (every value unique)"
                continue
            if t.exact and n_unique <= SMALL_INT_LEVELS and is_int and col not in bins:
                preps[col] = text_prep(col, col, t, as_text(d), idx)
                kinds[col] = "categorical"
            else:
                preps[col], cuts[col] = numeric_prep(col, t, bins.get(col, n_bins), sample_values, approximate)
                kinds[col] = "numeric"
            audited.append(col)
            continue
        if t.kind == "hash":
            if col in multi:
                raise DataError(f"Multi-valued column {col!r} has more distinct values than the engine keeps in a "
                                f"dictionary ({n_unique:,}); group its values first.")
            if unique_rows and n >= 3 and not explicit:
                kinds[col] = "id"
                auto_ids.append(col)
                excluded[col] = "id-like (every value unique)"
                continue
            _too_many(col, n_unique, max_levels, explicit, kinds, excluded)
            continue
        d, idx = kept_distinct(t)
        text = as_text(d)
        _note_long(col, d, long_notes)
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
            multi_preps(col, t, text, idx, sep, n_unique, max_levels, preps, audited, excluded, derived,
                         kinds, notes)
            multi_used[col] = sep
            continue
        if n_unique > max_levels:
            _too_many(col, n_unique, max_levels, explicit, kinds, excluded)
            continue
        preps[col] = text_prep(col, col, t, text, idx)
        kinds[col] = "categorical"
        audited.append(col)

    if long_notes:
        notes.append(LONG_VALUES.format(n=sum(n for _, n in long_notes), limit=MAX_SHOWN_CHARS,
                                        columns=", ".join(repr(c) for c, _ in long_notes[:5])))
    if auto_ids:
        notes.append(f"Left out id-like column(s): {', '.join(map(repr, auto_ids))} (every value unique).")
    others = [c for c in excluded if c not in auto_ids]
    if others:
        notes.append("Left out: " + "; ".join(f"{c!r} ({excluded[c]})" for c in others) + ".")
    if not audited:
        raise DataError("No column is left to audit besides the label (all are ids, constant, excluded or free "
                        "text). Check the file or pass --sensitive.")
    if sensitive:
        sens = tuple(sensitive)
    else:  # a multi-valued column with too many combinations is audited through its indicators
        sens = tuple(c for c in audited if c not in derived or derived[c] in excluded)
    roles = Roles(label=label, label_values=label_values, positive=positive, attributes=tuple(audited),
                  sensitive=sens, ids=ids + tuple(auto_ids), weight=weight, kinds=kinds, bins=cuts,
                  derived=derived, multi=multi_used, excluded=excluded, notes=tuple(notes),
                  n_rows_dropped=n_missing_label, named=bool(sensitive))
    ordered = {label: preps[label]}
    ordered.update({c: preps[c] for c in audited})
    return roles, ordered, approximate


def _note_long(col: str, values: pd.Series, out: list) -> None:
    """``(col, n)`` appended to ``out`` when ``n`` distinct values are longer than the shown limit."""
    if len(values) and not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        n = int((values.astype(str).str.len() > MAX_SHOWN_CHARS).sum())
        if n:
            out.append((col, n))


def _too_many(col, n_unique, max_levels, explicit, kinds, excluded) -> None:
    kinds[col] = "text"
    excluded[col] = f"{n_unique} distinct values (more than --max-levels {max_levels}): free text or an identifier"
    if explicit:
        raise DataError(f"Attribute {col!r} has {n_unique} distinct values, more than --max-levels "
                        f"{max_levels}. Group its values first or raise --max-levels.")


def _weight(columns, typed, weight: str, notes: list, n_rows: int) -> None:
    _require(columns, weight, "Weight")
    tw = typed[weight]
    if tw.kind not in ("num", "bool"):
        raise DataError(f"Weight column {weight!r} holds non-numeric values. Weights must be "
                        f"non-negative frequency counts.")
    if tw.n_missing_all or tw.has_inf:
        raise DataError(f"Weight column {weight!r} has missing or infinite values. Fill them or drop those rows.")
    if tw.vmin < 0:
        raise DataError(f"Weight column {weight!r} has negative values (min {tw.vmin:g}). Weights must be "
                        f"non-negative frequency counts.")
    kept = kept_distinct(tw)[0].to_numpy(dtype=float) if tw.exact else np.array([tw.vmax])
    if not (kept > 0).any():
        raise DataError(ZERO_WEIGHTS.format(weight=weight))
    from .weights import weight_scale
    design, _ = weight_scale(tw, n_rows)
    if tw.kind == "num" and not tw.integral:
        notes.append(f"Weights in {weight!r} are not whole numbers (not frequency counts): tests use counts "
                     f"scaled to Kish's effective sample size and rounded (approximate).")
    elif design:
        notes.append(f"Weights in {weight!r} sum past 2**53, beyond exact counts: tests use counts scaled to "
                     f"Kish's effective sample size and rounded (approximate).")


