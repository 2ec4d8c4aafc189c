"""Which column plays which part: label, sensitive attributes, audited attributes, ids, weight.

:func:`resolve` also decides each column's kind (categorical, numeric, multi-valued, id, text,
constant), bins numeric attributes into quantile bins (edges recorded) and expands
multi-valued attributes into one indicator per value plus a value count.  It returns a
*prepared* frame in which every audited attribute is categorical; the input is not modified.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import ColumnError, DataError

__all__ = ["Roles", "resolve", "LABEL_NAMES", "MISSING"]

#: Column names taken as the label when none is given (case-insensitive), in this order.
LABEL_NAMES = ("label", "class", "target", "y", "outcome")
#: How a missing value is shown as a level of its own.
MISSING = "(missing)"
_MULTI_SEPARATORS = ("|", ";", ",", "/", "+", "-")
_SMALL_INT_LEVELS = 10
_ID_NAME = re.compile(r"(^|_)(id|key|uuid)$", re.IGNORECASE)


@dataclass(frozen=True)
class Roles:
    """The part every column plays in an audit.

    Attributes
    ----------
    label : str
    label_values : tuple of str
        Label values, most frequent first (ties by name only for display).
    positive : str
        The label value whose rate is compared across groups (default: the minority value).
    attributes : tuple of str
        Every audited attribute (including derived ones), in the prepared frame.
    sensitive : tuple of str
        Attributes audited for group attribution and proxies (all attributes when none given).
    ids, weight : identifiers and the frequency-weight column.
    kinds : dict
        column -> categorical / numeric / multi / derived / id / text / constant / label / weight.
    bins : dict
        numeric column -> list of quantile bin edges.
    derived : dict
        derived column -> the column it was computed from (never crossed with it).
    excluded : dict
        column -> why it was left out.
    notes : tuple of str
        What was decided for the user (shown on stderr by the CLI).
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

    def parent(self, column: str) -> str:
        """The source column of a derived attribute (itself otherwise)."""
        return self.derived.get(column, column)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _missing_column(name: str, columns: Iterable[str], what: str) -> ColumnError:
    columns = [str(c) for c in columns]
    lower = {c.lower(): c for c in columns}
    close = [lower[name.lower()]] if name.lower() in lower else difflib.get_close_matches(name, columns, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
    return ColumnError(f"{what} column {name!r} not found.{hint} Columns are: {shown}.")


def _require(df: pd.DataFrame, name: str, what: str) -> str:
    if name not in df.columns:
        raise _missing_column(name, df.columns, what)
    return name


def _as_text(s: pd.Series) -> pd.Series:
    """Values as strings (integral floats without '.0', booleans as true/false), missing kept as NaN."""
    missing = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s):
        out = s.map({True: "true", False: "false"})
    elif pd.api.types.is_float_dtype(s) and s.dropna().eq(s.dropna().round()).all():
        out = s.fillna(0).astype("int64").astype(str)
    else:
        out = s.astype(str)
    out = out.astype(object)
    out[missing] = np.nan
    return out


def detect_multi_separator(values: Iterable[str]) -> str | None:
    """Separator of a multi-valued attribute, or None.

    A column is taken as multi-valued with separator ``sep`` when some of its values contain
    ``sep`` and every part of every such value also occurs on its own as a value (for example
    ``brown-white`` beside ``brown`` and ``white``).  Ranges such as ``25 - 45`` do not qualify.
    """
    values = {str(v) for v in values}
    for sep in _MULTI_SEPARATORS:
        composite = {v for v in values if sep in v}
        single = values - composite
        if not composite or len(single) < 2:
            continue
        parts = {p.strip() for v in composite for p in v.split(sep)}
        if "" not in parts and parts <= single:
            return sep
    return None


def _bin_numeric(s: pd.Series, n_bins: int) -> tuple[pd.Series, list]:
    """Quantile bins with readable labels; edges returned."""
    x = pd.to_numeric(s, errors="coerce").astype(float)
    qs = np.unique(np.nanquantile(x.dropna(), np.linspace(0, 1, n_bins + 1)))
    if len(qs) < 2:
        return _as_text(s), []
    cut = pd.cut(x, bins=qs, include_lowest=True, duplicates="drop")
    fmt = (lambda v: f"{v:g}")
    labels = []
    for i, (lo, hi) in enumerate(zip(qs[:-1], qs[1:])):
        labels.append(f"[{fmt(lo)}, {fmt(hi)}]" if i == len(qs) - 2 else f"[{fmt(lo)}, {fmt(hi)})")
    cut = cut.cat.rename_categories(labels)
    return cut, [float(q) for q in qs]


def resolve(df: pd.DataFrame, *, label: str | None = None, sensitive: Iterable[str] | None = None,
            weight: str | None = None, ids: Iterable[str] | None = None,
            attributes: Iterable[str] | None = None, multi: Mapping[str, str | None] | None = None,
            positive: str | None = None, n_bins: int = 5, max_levels: int = 50,
            auto_multi: bool = True) -> tuple[pd.DataFrame, Roles]:
    """Assign roles and prepare the frame for counting.

    Returns
    -------
    prepared : pandas.DataFrame
        Label and audited attributes as text or ordered categoricals (missing as NaN), the weight
        as float, ids untouched.  Rows with a missing label are dropped (counted in the roles).
    roles : Roles
    """
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise DataError(f"Column name {dup!r} appears more than once. Rename the duplicates and try again.")
    if len(df) == 0:
        raise DataError("The table has no rows. An audit needs labelled rows.")
    notes: list[str] = []
    excluded: dict[str, str] = {}
    kinds: dict[str, str] = {}

    # --- label
    if label is None:
        by_lower = {str(c).lower(): c for c in df.columns}
        found = next((by_lower[n] for n in LABEL_NAMES if n in by_lower), None)
        label = found if found is not None else df.columns[-1]
        why = "its name" if found is not None else "the last column"
        notes.append(f"Label column not given; using {label!r} ({why}). Pass --label to choose another.")
    _require(df, label, "Label")
    y = _as_text(df[label])
    n_missing_label = int(y.isna().sum())
    if n_missing_label == len(df):
        raise DataError(f"Label column {label!r} is empty (every value missing). Choose another label.")
    counts = y.value_counts()
    if len(counts) < 2:
        raise DataError(f"Label column {label!r} has one value ({counts.index[0]!r}); an audit needs at least "
                        f"two classes. Choose another label with --label.")
    if len(counts) > max_levels:
        raise DataError(f"Label column {label!r} has {len(counts)} distinct values (more than {max_levels}); "
                        f"it looks continuous or like an id. Binarise it or choose another label with --label.")
    if n_missing_label:
        notes.append(f"{n_missing_label} row(s) with a missing label were left out.")
    keep = y.notna().to_numpy()
    order = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
    label_values = tuple(str(v) for v in order)
    if positive is None:
        positive = label_values[-1]
    elif str(positive) not in label_values:
        raise DataError(f"Positive label value {positive!r} does not occur in {label!r}; values are "
                        f"{', '.join(label_values)}.")
    kinds[label] = "label"

    # --- weight
    w = None
    if weight is not None:
        _require(df, weight, "Weight")
        w = pd.to_numeric(df[weight], errors="coerce")
        if w.isna().any() and not df[weight].isna().equals(w.isna()):
            raise DataError(f"Weight column {weight!r} holds non-numeric values. Weights must be "
                            f"non-negative frequency counts.")
        if w.isna().any() or not np.isfinite(w.to_numpy(dtype=float)).all():
            raise DataError(f"Weight column {weight!r} has missing or infinite values. Fill them or drop those rows.")
        if (w < 0).any():
            raise DataError(f"Weight column {weight!r} has negative values (min {w.min():g}). Weights must be "
                            f"non-negative frequency counts.")
        kinds[weight] = "weight"

    # --- ids given
    ids = tuple(ids or ())
    for c in ids:
        _require(df, c, "Id")
        kinds[c] = "id"

    multi = dict(multi or {})
    for c in multi:
        _require(df, c, "Multi-valued")
    sensitive = tuple(sensitive or ())
    for c in sensitive:
        _require(df, c, "Sensitive")
        if c == label:
            raise DataError(f"Column {c!r} is the label; it cannot also be a sensitive attribute.")
    if attributes is not None:
        attributes = tuple(attributes)
        for c in attributes:
            _require(df, c, "Attribute")
    candidates = [c for c in (attributes or df.columns) if c not in (label, weight) and c not in ids]
    for c in sensitive:
        if c not in candidates:
            candidates.append(c)

    prepared = {label: y[keep].reset_index(drop=True)}
    bins: dict[str, list] = {}
    derived: dict[str, str] = {}
    multi_used: dict[str, str] = {}
    audited: list[str] = []
    auto_ids: list[str] = []
    n = int(keep.sum())
    for col in candidates:
        s = df[col][keep].reset_index(drop=True)
        n_unique = int(s.nunique(dropna=True))
        explicit = col in sensitive or (attributes is not None and col in attributes)
        if n_unique <= 1:
            kinds[col] = "constant"
            excluded[col] = "constant (one value)" if n_unique == 1 else "empty (every value missing)"
            if explicit:
                raise DataError(f"Attribute {col!r} is {excluded[col]}; there are no groups to compare. "
                                f"Choose another attribute.")
            continue
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if numeric:
            is_int = s.dropna().eq(s.dropna().round()).all()
            if n_unique == n and is_int and not explicit and (n > 20 or _ID_NAME.search(str(col))):
                kinds[col] = "id"
                auto_ids.append(col)
                excluded[col] = "id-like (every value unique)"
                continue
            if n_unique <= _SMALL_INT_LEVELS and is_int:
                prepared[col] = _as_text(s)
                kinds[col] = "categorical"
            else:
                prepared[col], bins[col] = _bin_numeric(s, n_bins)
                kinds[col] = "numeric"
            audited.append(col)
            continue
        text = _as_text(s)
        sep = multi.get(col) if col in multi else None
        if col in multi and sep is None:
            sep = detect_multi_separator(text.dropna().unique()) or "|"
        if col not in multi and auto_multi:
            sep = detect_multi_separator(text.dropna().unique())
            if sep is not None:
                notes.append(f"Column {col!r} looks multi-valued (values joined by {sep!r}); "
                             f"added a value count and one indicator per value.")
        if n_unique == n and n >= 3 and not explicit and sep is None:
            kinds[col] = "id"
            auto_ids.append(col)
            excluded[col] = "id-like (every value unique)"
            continue
        if sep is not None:
            parts = text.map(lambda v: np.nan if pd.isna(v) else tuple(sorted({p.strip() for p in v.split(sep) if p.strip()})))
            values = sorted({p for t in parts.dropna() for p in t})
            if n_unique <= max_levels:
                prepared[col] = text
                audited.append(col)
            else:
                excluded[col] = f"multi-valued with {n_unique} distinct combinations; audited through its indicators"
            kinds[col] = "multi"
            multi_used[col] = sep
            cnt = f"{col}_count"
            prepared[cnt] = parts.map(lambda t: np.nan if not isinstance(t, tuple) else str(len(t))).astype(object)
            derived[cnt] = col
            kinds[cnt] = "derived"
            audited.append(cnt)
            if len(values) > max_levels:
                notes.append(f"Column {col!r} has {len(values)} distinct values; indicators kept for the "
                             f"{max_levels} most frequent.")
                freq = pd.Series([p for t in parts.dropna() for p in t]).value_counts()
                values = sorted(freq.index[:max_levels])
            for v in values:
                ind = f"{col}_has_{v}"
                prepared[ind] = parts.map(lambda t, v=v: np.nan if not isinstance(t, tuple) else ("yes" if v in t else "no")).astype(object)
                derived[ind] = col
                kinds[ind] = "derived"
                audited.append(ind)
            continue
        if n_unique > max_levels:
            kinds[col] = "text"
            excluded[col] = (f"{n_unique} distinct values (more than --max-levels {max_levels}): free text or "
                             f"an identifier")
            if explicit:
                raise DataError(f"Attribute {col!r} has {n_unique} distinct values, more than --max-levels "
                                f"{max_levels}. Group its values first or raise --max-levels.")
            continue
        prepared[col] = text
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
    if sensitive:
        sens = tuple(sensitive)
    else:
        sens = tuple(c for c in audited if c not in derived)
    frame = pd.DataFrame(prepared)
    if w is not None:
        frame[weight] = w[keep].to_numpy(dtype=float)
    for c in ids + tuple(auto_ids):
        frame[c] = df[c][keep].to_numpy()
    roles = Roles(label=label, label_values=label_values, positive=str(positive), attributes=tuple(audited),
                  sensitive=sens, ids=ids + tuple(auto_ids), weight=weight, kinds=kinds, bins=bins,
                  derived=derived, multi=multi_used, excluded=excluded, notes=tuple(notes),
                  n_rows_dropped=n_missing_label)
    return frame, roles
