"""Checks of a freshly read table that turn a later crash into a one-line message naming the file."""
from __future__ import annotations

import pandas as pd

from ..errors import InputFileError

__all__ = ["check_flat_records", "NESTED_JSON"]

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
