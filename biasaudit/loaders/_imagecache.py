"""Parquet cache of extracted image attributes, keyed by file, size and modification time.

Columns: the attributes, ``__file``, ``__size``, ``__mtime_ns``, ``__problems`` (newline-joined
reasons) and ``__probe_<j>`` (the flattened probe features).  An unreadable cache is ignored
and rewritten; the file is replaced atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["read_cache", "write_cache"]


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def read_cache(cache, features: bool) -> dict:
    """``{(file, size, mtime_ns): (attributes, probe or None, problems)}``; empty when unusable."""
    path = Path(cache)
    if not path.exists():
        return {}
    try:
        df = pd.read_parquet(path)
    except Exception:
        return {}  # an unreadable cache is rebuilt
    fcols = [c for c in df.columns if c.startswith("__probe_")]
    if features and not fcols:
        return {}
    meta = {"__file", "__size", "__mtime_ns", "__problems"} | set(fcols)
    attr_cols = [c for c in df.columns if c not in meta]
    out = {}
    for row in df.itertuples(index=False):
        rec = dict(zip(df.columns, row))
        attrs = {c: rec[c] for c in attr_cols if not _missing(rec[c])}
        probe = None
        if fcols and not _missing(rec[fcols[0]]):
            probe = np.array([rec[c] for c in fcols], dtype=np.float32).reshape(2, -1)
        problems = [] if _missing(rec["__problems"]) else [p for p in str(rec["__problems"]).split("\n") if p]
        out[(rec["__file"], int(rec["__size"]), int(rec["__mtime_ns"]))] = (attrs, probe, problems)
    return out


def write_cache(cache, keys, frame, probe, problems) -> None:
    """Write every file's attributes (``keys`` = (file, size, mtime_ns) per row of ``frame``)."""
    out = frame.copy()
    out["__file"] = [k[0] for k in keys]
    out["__size"] = [k[1] for k in keys]
    out["__mtime_ns"] = [k[2] for k in keys]
    out["__problems"] = ["\n".join(p) for p in problems]
    if probe is not None:
        flat = probe.reshape(len(keys), -1)
        out = pd.concat([out, pd.DataFrame(flat, columns=[f"__probe_{j}" for j in range(flat.shape[1])])], axis=1)
    import io

    from .._atomic import atomic_write_bytes
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string")
    buf = io.BytesIO()
    out.to_parquet(buf, index=False)
    atomic_write_bytes(Path(cache), buf.getvalue())  # temporary file removed on failure and on signals
