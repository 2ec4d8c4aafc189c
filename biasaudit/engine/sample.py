"""The seeded row sample as the rows a detector that reads rows sees (every row when it holds them all).

Pass one keeps a bottom-k sample of the stored codes (:class:`~biasaudit.engine.spill.Sample`);
here it becomes a loaded-looking frame (``raw``: the values :func:`biasaudit.load` would give),
the prepared frame (``frame``: attributes as categoricals, weight, ids, model outputs) and a
:class:`~biasaudit.engine.counts.CodedTable` over the same level codes the count store uses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .counts import CodedTable
from .summaries import NULL16

__all__ = ["sample_raw", "sample_context", "prepared_frame", "typed_values"]


def typed_values(t, st, stored: np.ndarray) -> pd.Series:
    """Stored codes / numbers / sampled values of one column as the loaded column's values and dtype."""
    if t.mode == "dict":
        vals = t.distinct.tolist()
        per_code = np.empty(NULL16 + 1, dtype=object)
        per_code[:] = np.nan
        if t.canon is not None and len(t.canon):
            per_code[:len(t.canon)] = [vals[j] for j in t.canon]
        v = per_code[stored.astype(np.int64)] if len(stored) else np.empty(0, dtype=object)
        missing = t.n_missing_all > 0
        if t.kind == "bool":
            return pd.Series(v, dtype=object if missing else bool)
        if t.kind == "num":
            return pd.Series(v.astype(float)).astype("int64" if t.int_dtype else "float64")
        if t.kind == "text":
            return pd.Series(v, dtype="str")
        dt = st.pandas_dtype
        if isinstance(dt, pd.CategoricalDtype):
            return pd.Series(pd.Categorical(v, categories=dt.categories, ordered=dt.ordered))
        return pd.Series(v, dtype=object)
    if t.mode == "num":
        x = np.asarray(stored, dtype=float)
        return pd.Series(x).astype("int64" if t.int_dtype else "float64")
    v = np.asarray(stored, dtype=object)
    if st.source == "text":
        s = pd.Series(v, dtype=object)
        try:
            lead, stripped = s.str.lstrip(" "), s.str.strip()
        except AttributeError:
            return pd.Series([np.nan if x is None else x for x in v], dtype=object)
        na = s.isna() | lead.isin(st.na_strings) | (stripped == "")
        out = stripped.where(stripped.notna(), s).where(~na, np.nan)
        return pd.Series(out.to_numpy(dtype=object), dtype="str")
    return pd.Series([np.nan if x is None else x for x in v], dtype=object)


def sample_raw(scan) -> pd.DataFrame:
    """The row sample as :func:`biasaudit.load` would type it (index and attrs of a DataFrame source kept).

    Text values longer than 120 characters are shortened as the loader shortens them
    (:func:`biasaudit.loaders._checks.shorten_long_text`), so that they read as the levels name them.
    """
    from ..loaders._checks import shorten_long_text
    raw = pd.DataFrame({c: typed_values(scan.typed[c], scan.states[c], scan.sample.cols[c]) for c in scan.columns})
    frame = scan.source.frame if scan.source is not None else None
    if frame is not None:
        raw.index = frame.index[scan.sample.rows]
        raw.attrs = dict(frame.attrs)
    notes = raw.attrs.get("biasaudit_notes")
    raw = shorten_long_text(raw)  # its note is the resolver's, said once for the whole data
    if notes is None:
        raw.attrs.pop("biasaudit_notes", None)
    else:
        raw.attrs["biasaudit_notes"] = notes
    return raw


def prepared_frame(scan, stored: dict, raw: pd.DataFrame, keep: np.ndarray) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """The prepared frame of some rows (label and attributes as categoricals), their codes and weights."""
    roles = scan.roles
    codes = {p: prep.encode(stored[prep.source][keep]) for p, prep in scan.preps.items()}
    frame = {}
    for p, prep in scan.preps.items():
        names = list(prep.levels)
        miss = prep.missing_code
        c = codes[p].astype(np.int64)
        cats = names[:miss] + names[miss + 1:] if miss >= 0 else names
        c = np.where(c == miss, -1, c) if miss >= 0 else c
        frame[p] = pd.Categorical.from_codes(c, categories=cats, ordered=p in roles.bins)
    frame = pd.DataFrame(frame)
    w = None
    if roles.weight:
        w = pd.to_numeric(raw[roles.weight][keep], errors="coerce").to_numpy(dtype=float)
        frame[roles.weight] = w
    for c, kind in roles.kinds.items():
        if kind == "prediction":
            frame[c] = raw[c][keep].to_numpy()
    for c in roles.ids:
        frame[c] = raw[c][keep].to_numpy()
    return frame, codes, w


def sample_context(scan, settings, options):
    """An audit context over the row sample (global roles and levels)."""
    from .context import AuditContext
    raw = sample_raw(scan)
    present = np.asarray(scan.sample.cols["__present__"], dtype=bool)
    frame, codes, w = prepared_frame(scan, scan.sample.cols, raw, present)
    table = CodedTable(codes, scan.levels, w)
    if w is not None and scan.weight_design:
        from .weights import weighted_table  # not frequency counts: tests see Kish-scaled counts (scale-free)
        table = weighted_table(table)
    return AuditContext(table=table, roles=scan.roles, settings=settings, frame=frame, raw=raw, options=options)
