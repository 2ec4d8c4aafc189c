"""Checks of a freshly read table that turn a later crash into a one-line message naming the file."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputFileError

__all__ = ["check_flat_records", "shorten_long_text", "NESTED_JSON"]

#: Message for a JSON Lines record holding an object or a list ({path}, {line}, {key}, {kind}).
NESTED_JSON = ("{path}: line {line}, key {key!r} holds a nested {kind}; a JSON Lines table needs flat records "
               "(numbers, text, true/false, null). Flatten it (e.g. pandas.json_normalize) or drop that key.")


def check_flat_records(df: pd.DataFrame, path) -> pd.DataFrame:
    """Raise :class:`InputFileError` at the first record whose value is an object or a list.

    Only object columns whose inferred type is not plain text or numbers are looked into
    (``pandas.api.types.infer_dtype`` runs in C).
    """
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if not pd.api.types.is_object_dtype(s):
            continue
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind in ("string", "integer", "floating", "mixed-integer-float", "boolean", "empty", "decimal"):
            continue
        nested = s.map(lambda v: isinstance(v, (dict, list))).to_numpy(dtype=bool)
        if nested.any():
            row = int(nested.argmax())
            value = s.iloc[row]
            raise InputFileError(NESTED_JSON.format(path=path, line=row + 1, key=str(col),
                                                    kind="object" if isinstance(value, dict) else "list"))
    return df


def shorten_long_text(df: pd.DataFrame, max_chars: int | None = None) -> pd.DataFrame:
    """Text values and column names longer than ``max_chars`` shortened (prefix, ``…`` and a hash).

    Such values would otherwise be copied whole into every finding id, message and evidence row
    of a report.  The hash keeps distinct values distinct, so every count is unchanged; the full
    values stay in the data file.  Works on the distinct values of each column.
    """
    from .._safe import MAX_SHOWN_CHARS, shorten

    limit = MAX_SHOWN_CHARS if max_chars is None else max_chars
    names = [str(c) for c in df.columns]
    hit_columns = []
    if any(len(c) > limit for c in names):
        df.columns = [shorten(c, limit) for c in names]
        hit_columns.append("column names")
    n_values = 0
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = pd.Index(s.cat.categories)
            if cats.dtype == object and (cats.astype(str).str.len() > limit).any():
                new = [shorten(c, limit) if isinstance(c, str) else c for c in cats]
                df.isetitem(i, s.cat.rename_categories(new))
                n_values += int((cats.astype(str).str.len() > limit).sum())
                hit_columns.append(str(col))
            continue
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        u = pd.Index(uniques, dtype=object)
        is_text = u.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool) if len(u) else np.zeros(0, bool)
        long = is_text & (u.astype(str).str.len().to_numpy() > limit)
        if not long.any():
            continue
        fixed = np.array(list(u) + [np.nan], dtype=object)
        for j in np.flatnonzero(long):  # only the long distinct values
            fixed[j] = shorten(fixed[j], limit)
        df.isetitem(i, pd.Series(fixed[codes], index=s.index, dtype=object))
        n_values += int(long.sum())
        hit_columns.append(str(col))
    if hit_columns:
        what = f"{n_values} distinct value(s)" + (" and column names" if "column names" in hit_columns else "")
        cols = [c for c in hit_columns if c != "column names"]
        where = f" in {', '.join(repr(c) for c in cols[:5])}" if cols else ""
        df.attrs["biasaudit_notes"] = list(df.attrs.get("biasaudit_notes", [])) + [
            f"{what}{where} longer than {limit} characters are shown shortened ('…#' and a hash); the data keep "
            f"them whole."]
    return df
