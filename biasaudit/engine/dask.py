"""Dask back end: the engine's passes, one task per partition, on the active scheduler.

``biasaudit.audit(ddf)`` with a :class:`dask.dataframe.DataFrame` runs

1. a **summary** task per partition (the column states and the partition's bottom-k row sample,
   :func:`biasaudit.engine.summaries.add_chunk`, the same function the file and DataFrame sources
   use), merged pairwise in partition order, so that the shared dictionary assigns codes in order
   of first appearance exactly as a single pass does;
2. after the roles are decided on the client, every later pass (counting, unplanned tables, row
   hashes) as a task per partition that turns its rows into the shared stored codes and runs the
   same per-chunk function as the other sources; only the small results travel.

Tasks run on the active scheduler: a ``distributed.Client`` when one is connected (``--scheduler
ADDRESS`` on the command line), local threads otherwise.  Counts, p-values and findings equal
those of any other source of the same rows.
"""
from __future__ import annotations

from importlib import import_module

import numpy as np
import pandas as pd

from ..errors import BiasAuditError
from .scan import DEFAULT_SAMPLE_ROWS, Scan
from .sources import column_name, frame_kinds, pandas_column
from .spill import Sample
from .summaries import ColumnState, add_chunk, coerce, value_hashes

__all__ = ["scan_dask", "read_dask", "connect", "DaskMissingError", "DaskScan"]


class DaskMissingError(BiasAuditError, ImportError):
    """The dask engine was asked for but dask (or dask.distributed) is not installed."""


def _require(module: str):
    try:
        return import_module(module)
    except ImportError as exc:
        raise DaskMissingError(f"The dask engine needs {module.split('.')[0]}: pip install \"biasaudit[dask]\" "
                               f"(or pass a pandas DataFrame or a file).") from exc


_PARTITION_BITS = 40
_SEED_OFFSET = 0xDA5C


def _tree(items: list, fn) -> object:
    """Combine ``items`` pairwise, keeping their order: ((a b) (c d)) ..."""
    items = list(items)
    while len(items) > 1:
        items = [fn(items[i], items[i + 1]) if i + 1 < len(items) else items[i] for i in range(0, len(items), 2)]
    return items[0]


def _partition_columns(pdf: pd.DataFrame, kinds: dict) -> dict:
    return {column_name(c): pandas_column(pdf[c], kinds[column_name(c)]) for c in pdf.columns}


def _summarize(pdf: pd.DataFrame, part: int, kinds: dict, dtypes: dict, label: str, sample_rows: int,
               seed: int) -> tuple:
    """Pass one on one partition: column states, its bottom-k sample (raw values) and its length."""
    states = {c: ColumnState(c, k, pandas_dtype=dtypes[c]) for c, k in kinds.items()}
    m = len(pdf)
    present, _, _, inputs = add_chunk(states, _partition_columns(pdf, kinds), label)
    keys = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), _SEED_OFFSET, int(part)]))).random(m)
    take = np.argpartition(keys, sample_rows - 1)[:sample_rows] if m > sample_rows else np.arange(m)
    take = take[np.argsort(take)] if sample_rows else np.empty(0, dtype=np.int64)
    picked = {"__present__": present[take]}
    for c, inp in inputs.items():
        picked[c] = (np.array(list(inp[1]) + [None], dtype=object)[inp[2][take]] if inp[0] == "dict"
                     else inp[1][take])
    sample = Sample(sample_rows)
    sample.add(keys[take], (int(part) << _PARTITION_BITS) + take.astype(np.int64), picked)
    return states, sample, [m]


def _merge(a: tuple, b: tuple) -> tuple:
    """Two summaries, ``b``'s rows after ``a``'s (states are merged in place)."""
    states, sample, lengths = a
    for c, st in states.items():
        st.merge(b[0][c])
    bs = b[1]
    bs.compact()
    sample.add(bs.keys, bs.rows, bs.cols)
    return states, sample, lengths + b[2]


def _global_sample(states: dict, sample: Sample) -> Sample:
    """Sampled raw values -> the shared dictionary's codes (dict mode) or numbers (num mode)."""
    out = sample.ordered()
    for c, st in states.items():
        v = out.cols[c]
        if st.mode == "num" and v.dtype.kind == "f":
            continue
        codes, uniques = pd.factorize(pd.Series(v, dtype=object), use_na_sentinel=True)
        local = [u.item() if isinstance(u, np.generic) else u for u in list(uniques)]
        out.cols[c] = st.global_codes(local, codes.astype(np.int64))
    return out


def _stored(pdf: pd.DataFrame, states: dict, kinds: dict, columns) -> dict:
    """A partition's columns as the engine stores them (shared codes, numbers, value hashes)."""
    wanted = set(columns)
    out = {}
    for c in pdf.columns:
        name = column_name(c)
        if name not in wanted:
            continue
        st = states[name]
        inp = coerce(pandas_column(pdf[c], kinds[name]), st)
        if st.mode == "num":
            out[name] = np.asarray(inp[1], dtype=np.float64)
        elif st.mode == "hash":
            if inp[0] == "num":
                out[name] = value_hashes(st, [f"{v:.15g}" for v in inp[1]], np.isnan(inp[1]))
            else:
                local = inp[1]
                out[name] = np.append(value_hashes(st, local, st.local_missing(local)), np.uint64(0))[inp[2]]
        else:
            out[name] = st.global_codes(inp[1], inp[2])
    return out


def _map_part(pdf: pd.DataFrame, offset: int, states: dict, kinds: dict, columns, fn):
    return fn(offset, len(pdf), _stored(pdf, states, kinds, columns))


class DaskScan(Scan):
    """A :class:`~biasaudit.engine.scan.Scan` whose passes run as dask tasks, one per partition."""

    def attach(self, ddf, kinds: dict) -> None:
        self.parts = ddf.to_delayed()
        self.kinds = kinds

    def map_stored(self, fn, columns, acc=None, progress=None):
        dask = _require("dask")
        needed = {c: self.states[c] for c in columns}
        states = dask.delayed(needed, pure=True)
        task = dask.delayed(_map_part, pure=True)
        offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(int)
        results = dask.compute(*[task(p, int(o), states, self.kinds, list(columns), fn)
                                 for p, o in zip(self.parts, offsets)])
        if progress is not None:
            progress("counting", 1, 1)
        if acc is None:
            return list(results)
        for r in results:
            acc.add(r)
        return acc

    def close(self) -> None:
        self.parts = []


def scan_dask(ddf, *, sample_rows: int | None = None, progress=None, random_state: int = 0, **roles_kw) -> DaskScan:
    """Pass one (a task per partition) and the roles of a dask DataFrame (see the module docstring)."""
    import time

    dask = _require("dask")
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(min(sample_rows, 2**40))
    meta = ddf._meta
    kinds, dtypes = frame_kinds(meta)
    kinds = {column_name(c): k for c, k in kinds.items()}
    dtypes = {column_name(c): d for c, d in dtypes.items()}
    columns = [column_name(c) for c in meta.columns]
    sc = DaskScan(columns, f"dask DataFrame, {ddf.npartitions} partition(s)", chunk_rows=0,
                  sample_rows=sample_rows, random_state=random_state)
    sc.attach(ddf, kinds)
    label = sc.label_of(roles_kw.get("label"))
    t0 = time.perf_counter()
    summarize, merge = dask.delayed(_summarize, pure=True), dask.delayed(_merge, pure=True)
    total = _tree([summarize(p, i, kinds, dtypes, label, sample_rows, random_state)
                   for i, p in enumerate(sc.parts)], merge)
    states, sample, lengths = dask.compute(total)[0]
    sc.lengths = list(lengths)
    sc.set_states(states, _global_sample(states, sample), sum(lengths))
    sc.timings["pass1_s"] = round(time.perf_counter() - t0, 3)
    if progress is not None:
        progress("reading", 1, 1)
    sc.resolve(**roles_kw)
    return sc


def connect(scheduler: str | None):
    """A ``distributed.Client`` connected to ``scheduler`` (an address), or None for local threads."""
    if not scheduler:
        return None
    return _require("distributed").Client(scheduler)


def read_dask(path, *, encoding: str = "utf-8", blocksize: str = "64MB"):
    """A CSV/TSV or Parquet file as a dask DataFrame typed like the engine reads files.

    Delimited text is read as text (``dtype="str"``), so that numbers, booleans and missing
    values are decided over the whole column, as :func:`biasaudit.load` decides them.
    """
    import os
    from pathlib import Path

    dd = _require("dask.dataframe")
    path = Path(os.fspath(path))
    if path.suffix.lower() in (".parquet", ".pq") or path.is_dir():
        return dd.read_parquet(str(path))
    from ..loaders.tables import _head_text, sniff_delimiter
    compression = {".gz": "gzip", ".bz2": "bz2"}.get(path.suffix.lower())
    sep = sniff_delimiter(_head_text(path, compression, encoding), tab_default=path.suffix.lower() in (".tsv", ".tab"))
    return dd.read_csv(str(path), sep=sep, dtype="str", skipinitialspace=True, encoding=encoding,
                       blocksize=None if compression else blocksize, compression=compression)
