"""Roles of a DataFrame's columns, and a second sample prepared with the first one's roles.

:func:`resolve` runs the engine's summary pass over a DataFrame (one chunk) and the one role
resolver (:func:`biasaudit.engine.resolver.resolve_summary`), and returns the prepared frame in
which every audited attribute is categorical; the input is not modified.  The level helpers and
:class:`Roles` are re-exported here for the modules that read them.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import DataError
from .levels import (ID_NAME, LABEL_NAMES, MISSING, SMALL_INT_LEVELS, as_text, cut_codes, cut_labels,
                     detect_multi_separator, fmt_value, from_codes, missing_column, roles_bin_labels, split_parts)
from .resolver import Roles, label_order
from .sample import prepared_frame
from .scan import Scan
from .sources import frame_source

__all__ = ["Roles", "resolve", "apply_roles", "LABEL_NAMES", "MISSING", "detect_multi_separator", "roles_bin_labels"]

# names kept for the modules that import them from here
_as_text, _fmt_value, _from_codes, _split_parts = as_text, fmt_value, from_codes, split_parts
_missing_column, _ID_NAME, _SMALL_INT_LEVELS = missing_column, ID_NAME, SMALL_INT_LEVELS


def resolve(df: pd.DataFrame, *, label: str | None = None, sensitive: Iterable[str] | None = None,
            weight: str | None = None, ids: Iterable[str] | None = None,
            attributes: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
            multi: Mapping[str, str | None] | None = None, positive: str | None = None, n_bins: int = 5,
            bins: Mapping | None = None, max_levels: int = 50, auto_multi: bool = True,
            outputs: Iterable[str] | None = None) -> tuple[pd.DataFrame, Roles]:
    """Assign roles and prepare the frame for counting (the engine's resolver over one chunk).

    Returns
    -------
    prepared : pandas.DataFrame
        Label and audited attributes as text or ordered categoricals (missing as NaN), the weight
        as float, ids and model outputs untouched.  Rows with a missing label are dropped.
    roles : Roles
    """
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise DataError(f"Column name {dup!r} appears more than once. Rename the duplicates and try again.")
    if len(df) == 0:
        raise DataError("The table has no rows. An audit needs labelled rows.")
    raw = df.set_axis([str(c).strip() for c in df.columns], axis=1)
    source = frame_source(raw, max(len(raw), 1))
    sc = Scan(source.columns, "DataFrame", chunk_rows=max(len(raw), 1), sample_rows=0)
    sc.summarize(source, sc.label_of(label))
    sc.resolve(label=label, sensitive=sensitive, weight=weight, ids=ids, attributes=attributes, exclude=exclude,
               multi=multi, positive=positive, n_bins=n_bins, bins=bins, max_levels=max_levels,
               auto_multi=auto_multi, outputs=outputs)
    stored = {c: np.concatenate(parts) if len(parts) > 1 else parts[0] for c, parts in sc.spill.parts.items()}
    sc.close()
    keep = sc.preps[sc.roles.label].encode(stored[sc.roles.label]) >= 0
    frame, codes, w = prepared_frame(sc, stored, raw, keep)
    roles = sc.roles
    if w is not None and positive is None:
        y = codes[roles.label]
        sums = np.bincount(y, weights=w, minlength=len(sc.levels[roles.label]))
        by = dict(zip(sc.levels[roles.label], sums))
        values, minority = label_order({v: by.get(v, 0.0) + 1e-300 for v in roles.label_values})
        from dataclasses import replace
        roles = replace(roles, label_values=values, positive=minority)
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
    y = as_text(df[roles.label])
    keep = y.notna().to_numpy()
    out = {roles.label: y[keep].reset_index(drop=True)}
    parts_cache: dict = {}
    for col in roles.attributes:
        parent = roles.parent(col)
        s = df[parent][keep].reset_index(drop=True)
        if col != parent:  # derived from a multi-valued column
            sep = roles.multi.get(parent, "|")
            if parent not in parts_cache:
                parts_cache[parent] = split_parts(as_text(s), sep)
            codes, per_cat = parts_cache[parent]
            if col == f"{parent}_count":
                out[col] = from_codes(codes, [str(len(t)) for t in per_cat], s.index)
            else:
                v = col[len(parent) + len("_has_"):]
                out[col] = from_codes(codes, ["yes" if v in t else "no" for t in per_cat], s.index)
            continue
        cuts = roles.bins.get(col)
        if cuts:  # the same bins (outer bins open, so out-of-range values join the first / last bin)
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            labels = cut_labels(cuts)
            codes = cut_codes(x, cuts)
            out[col] = pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True))
            continue
        out[col] = as_text(s)
    frame = pd.DataFrame(out)
    if roles.weight:
        frame[roles.weight] = pd.to_numeric(df[roles.weight][keep], errors="coerce").to_numpy(dtype=float)
    for c in roles.ids:
        if c in df.columns:
            frame[c] = df[c][keep].to_numpy()
    return frame


