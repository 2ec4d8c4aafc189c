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

from ..errors import ColumnError, DataError

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


def _fmt_value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _as_text(s: pd.Series) -> pd.Series:
    """Values as a categorical of text (integral floats without '.0', booleans as true/false).

    Converting the categories rather than every value keeps this fast on millions of rows;
    missing values stay missing.  Unused categories are dropped.
    """
    cat = s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("category")
    cat = cat.cat.remove_unused_categories()
    names = [_fmt_value(v) for v in cat.cat.categories]
    if len(set(names)) == len(names):
        return cat.cat.rename_categories(names)
    # values that print alike (1 and "1"): merge them
    text = pd.Series(np.asarray(names, dtype=object)[cat.cat.codes.to_numpy()], index=s.index, dtype=object)
    text[cat.isna().to_numpy()] = np.nan
    return text.astype("category")


def _split_parts(text: pd.Series, sep: str) -> tuple[pd.Series, list]:
    """For a categorical of multi-valued text: per row the tuple of its values (by category)."""
    cats = list(text.cat.categories)
    per_cat = [tuple(sorted({p.strip() for p in str(c).split(sep) if p.strip()})) for c in cats]
    codes = text.cat.codes.to_numpy()
    return codes, per_cat


def _from_codes(codes: np.ndarray, values: list, index) -> pd.Series:
    """A categorical built from per-category values (missing where code is -1)."""
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
    """Quantile bins (right-closed, the lowest edge included) with readable labels; edges returned."""
    x = pd.to_numeric(s, errors="coerce").astype(float)
    v = x.dropna().to_numpy()
    fin = v[np.isfinite(v)]
    qs = np.unique(np.quantile(fin, np.linspace(0, 1, n_bins + 1))) if fin.size else np.empty(0)
    qs = infinite_ends(qs, bool(np.isneginf(v).any()), bool(np.isposinf(v).any()))
    if len(qs) < 2:
        return _as_text(s), []
    cut = pd.cut(x, bins=qs, include_lowest=True, duplicates="drop")
    cut = cut.cat.rename_categories(roles_bin_labels(list(qs)))
    return cut, [float(q) for q in qs]


def infinite_ends(qs: np.ndarray, neg_inf: bool, pos_inf: bool) -> np.ndarray:
    """Quantile edges of the finite values, the outer ones replaced by -inf / +inf when the data hold them.

    Infinite values then fall in the lowest / highest bin instead of breaking the quantiles.
    """
    qs = np.asarray(qs, dtype=float)
    if not (neg_inf or pos_inf):
        return qs
    if len(qs) == 0:
        return np.array([-np.inf, np.inf]) if neg_inf and pos_inf else qs
    if len(qs) == 1:
        qs = np.array([qs[0], qs[0]])
    qs = qs.copy()
    if neg_inf:
        qs[0] = -np.inf
    if pos_inf:
        qs[-1] = np.inf
    return np.unique(qs)


def resolve(df: pd.DataFrame, *, label: str | None = None, sensitive: Iterable[str] | None = None,
            weight: str | None = None, ids: Iterable[str] | None = None,
            attributes: Iterable[str] | None = None, multi: Mapping[str, str | None] | None = None,
            positive: str | None = None, n_bins: int = 5, max_levels: int = 50,
            auto_multi: bool = True, exclude: Iterable[str] | None = None) -> tuple[pd.DataFrame, Roles]:
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
        if not (w > 0).any():
            raise DataError(f"Every weight in {weight!r} is 0: no row is left to audit. Check the weight column.")
        kinds[weight] = "weight"
        if not np.allclose(w, np.round(w)):
            notes.append(f"Weights in {weight!r} are not whole numbers (not frequency counts): tests use counts "
                         f"scaled to Kish's effective sample size and rounded (approximate).")

    # --- model outputs (predictions, scores): never audited as attributes, carried in the frame
    exclude = tuple(dict.fromkeys(exclude or ()))
    for c in exclude:
        _require(df, c, "Prediction")
        if c == label:
            raise DataError(f"Column {c!r} is the label; it cannot also be the model's prediction or score.")
        kinds[c] = "prediction"
        excluded[c] = "model output (prediction or score), audited by the predictions detector"

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
        if c in exclude:
            raise DataError(f"Column {c!r} is the model's prediction or score; it cannot also be a sensitive "
                            f"attribute.")
    if attributes is not None:
        attributes = tuple(attributes)
        for c in attributes:
            _require(df, c, "Attribute")
    candidates = [c for c in (attributes or df.columns) if c not in (label, weight) and c not in ids
                  and c not in exclude]
    for c in sensitive:
        if c not in candidates:
            candidates.append(c)

    prepared = {label: y[keep].reset_index(drop=True).cat.remove_unused_categories()}
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
            codes, per_cat = _split_parts(text, sep)
            used = sorted({p for t in per_cat for p in t})
            if n_unique <= max_levels:
                prepared[col] = text
                audited.append(col)
            else:
                excluded[col] = f"multi-valued with {n_unique} distinct combinations; audited through its indicators"
            kinds[col] = "multi"
            multi_used[col] = sep
            cnt = f"{col}_count"
            prepared[cnt] = _from_codes(codes, [str(len(t)) for t in per_cat], text.index)
            derived[cnt] = col
            kinds[cnt] = "derived"
            audited.append(cnt)
            if len(used) > max_levels:
                notes.append(f"Column {col!r} has {len(used)} distinct values; indicators kept for the "
                             f"{max_levels} most frequent.")
                freq = np.bincount(codes[codes >= 0], minlength=len(per_cat))
                tally: dict = {}
                for t, f in zip(per_cat, freq):
                    for p in t:
                        tally[p] = tally.get(p, 0) + f
                used = sorted(sorted(tally, key=lambda p: -tally[p])[:max_levels])
            for v in used:
                ind = f"{col}_has_{v}"
                prepared[ind] = _from_codes(codes, ["yes" if v in t else "no" for t in per_cat], text.index)
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
        # a multi-valued column with too many combinations is audited through its indicators
        sens = tuple(c for c in audited if c not in derived or derived[c] in excluded)
    frame = pd.DataFrame(prepared)
    if w is not None:
        frame[weight] = w[keep].to_numpy(dtype=float)
    for c in exclude:
        frame[c] = df[c][keep].to_numpy()
    for c in ids + tuple(auto_ids):
        frame[c] = df[c][keep].to_numpy()
    roles = Roles(label=label, label_values=label_values, positive=str(positive), attributes=tuple(audited),
                  sensitive=sens, ids=ids + tuple(auto_ids), weight=weight, kinds=kinds, bins=bins,
                  derived=derived, multi=multi_used, excluded=excluded, notes=tuple(notes),
                  n_rows_dropped=n_missing_label)
    return frame, roles


def apply_roles(df: pd.DataFrame, roles: Roles, *, what: str = "compare sample") -> pd.DataFrame:
    """Prepare a second sample (e.g. the test split) exactly as :func:`resolve` prepared the first.

    The label and every audited attribute are converted with the *same* rules: values as text,
    numeric attributes cut at the first sample's bin edges (``roles.bins``; the outer edges are
    opened to -inf / +inf so that values outside the first sample's range fall in the first or
    last bin and keep its label), multi-valued attributes split with the same separator into the
    same value count and the same ``<col>_has_<value>`` indicators (values the first sample did
    not have get no indicator).  Rows with a missing label are dropped.  The weight and id
    columns are copied when present.

    Parameters
    ----------
    df : pandas.DataFrame
        The raw second sample.
    roles : Roles
        The roles resolved on the first sample.
    what : str
        How the sample is named in error messages.

    Returns
    -------
    pandas.DataFrame
        Columns: label, every audited attribute (derived ones included), then weight and ids.

    Raises
    ------
    DataError
        When a column the first sample's audit uses is missing (all of them are named).
    """
    parents = [roles.parent(c) for c in roles.attributes]
    needed = list(dict.fromkeys([roles.label] + parents + ([roles.weight] if roles.weight else [])))
    missing = [c for c in needed if c not in df.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(str(c), [str(x) for x in df.columns], n=1)
            hints.append(f"{c!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise DataError(f"The {what} lacks column(s) {', '.join(hints)} that the audit of the first sample "
                        f"uses. Both samples need the same columns.")
    y = _as_text(df[roles.label])
    keep = y.notna().to_numpy()
    out = {roles.label: y[keep].reset_index(drop=True)}
    parts_cache: dict = {}
    for col in roles.attributes:
        parent = roles.parent(col)
        s = df[parent][keep].reset_index(drop=True)
        if col != parent:  # derived from a multi-valued column
            sep = roles.multi.get(parent, "|")
            if parent not in parts_cache:
                parts_cache[parent] = _split_parts(_as_text(s), sep)
            codes, per_cat = parts_cache[parent]
            if col == f"{parent}_count":
                out[col] = _from_codes(codes, [str(len(t)) for t in per_cat], s.index)
            else:
                v = col[len(parent) + len("_has_"):]
                out[col] = _from_codes(codes, ["yes" if v in t else "no" for t in per_cat], s.index)
            continue
        edges = roles.bins.get(col)
        if edges:
            # the same intervals as resolve()'s pd.cut (right-closed, lowest edge included),
            # with the outer edges opened so out-of-range values join the first / last bin
            x = pd.to_numeric(s, errors="coerce").astype(float)
            labels = roles_bin_labels(edges)
            open_edges = [-np.inf] + list(edges[1:-1]) + [np.inf]
            out[col] = pd.cut(x, bins=open_edges, right=True, labels=labels).cat.set_categories(
                labels, ordered=True)
            continue
        out[col] = _as_text(s)
    frame = pd.DataFrame(out)
    if roles.weight:
        frame[roles.weight] = pd.to_numeric(df[roles.weight][keep], errors="coerce").to_numpy(dtype=float)
    for c in roles.ids:
        if c in df.columns:
            frame[c] = df[c][keep].to_numpy()
    return frame


def roles_bin_labels(edges: list) -> list[str]:
    """The bin labels :func:`resolve` gives numeric attributes cut at ``edges``.

    ``pd.cut`` bins are right-closed with the lowest edge included: ``[e0, e1]``, ``(e1, e2]``, ...
    Edges are printed with as many significant digits as it takes to tell them apart.
    """
    qs = list(edges)
    for digits in range(4, 18):
        shown = [f"{v:.{digits}g}" for v in qs]
        if len(set(shown)) == len(shown):
            break
    return [f"[{shown[0]}, {shown[1]}]"] + [f"({lo}, {hi}]" for lo, hi in zip(shown[1:-1], shown[2:])]
