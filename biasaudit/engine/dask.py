"""Dask engine: the streaming scan's two passes, one task per partition, summed on the cluster.

``biasaudit.audit(ddf)`` with a :class:`dask.dataframe.DataFrame` runs

1. a **summary** task per partition (the column dictionaries, value counts and a seeded bottom-k
   row sample of :mod:`biasaudit._colsummary`), merged pairwise in partition order, so that the
   shared dictionary assigns codes in order of first appearance exactly as the streaming
   engine does;
2. after the roles are decided on the client, a **counting** task per partition that codes its
   rows with the shared dictionary and counts the planned tables (one ``np.bincount`` each),
   summed pairwise (a tree) on the workers.

Only summaries and count tables travel; the rows stay where the partitions are.  Tasks run
on the active scheduler: a ``distributed.Client`` when one is connected (``--scheduler ADDRESS``
on the command line), local threads otherwise.  Counts, p-values and findings equal those of
the in-memory engine; detectors that need rows run on the row sample, as in streaming mode.
"""
from __future__ import annotations

from importlib import import_module

import numpy as np
import pandas as pd

from .summaries import ColumnState
from ..errors import BiasAuditError
from .sources import Sample, frame_kinds, pandas_column
from .scan import DEFAULT_SAMPLE_ROWS, ChunkCounter, StreamScan, _coerce

__all__ = ["scan_dask", "read_dask", "connect", "DaskMissingError"]


class DaskMissingError(BiasAuditError, ImportError):
    """The dask engine was asked for but dask (or dask.distributed) is not installed."""


def _require(module: str):
    try:
        return import_module(module)
    except ImportError as exc:
        raise DaskMissingError(f"The dask engine needs {module.split('.')[0]}: pip install \"biasaudit[dask]\" "
                               f"(or use --engine stream).") from exc

_PARTITION_BITS = 40
_SEED_OFFSET = 0xDA5C


def _tree(items: list, fn) -> object:
    """Combine ``items`` pairwise, keeping their order: ((a b) (c d)) ..."""
    items = list(items)
    while len(items) > 1:
        items = [fn(items[i], items[i + 1]) if i + 1 < len(items) else items[i] for i in range(0, len(items), 2)]
    return items[0]


def _partition_columns(pdf: pd.DataFrame, kinds: dict) -> dict:
    return {str(c).strip(): pandas_column(pdf[c], kinds[str(c).strip()]) for c in pdf.columns}


def _summarize(pdf: pd.DataFrame, part: int, kinds: dict, dtypes: dict, label: str, sample_rows: int,
               seed: int) -> tuple:
    """Pass one on one partition: column states, its bottom-k sample (raw values) and its rows."""
    states = {c: ColumnState(c, k, pandas_dtype=dtypes[c]) for c, k in kinds.items()}
    m = len(pdf)
    cols = _partition_columns(pdf, kinds)
    lab = _coerce(cols[label], states[label])
    if lab[0] == "dict":
        present = ~np.append(states[label].local_missing(lab[1]), True)[lab[2]]
    else:
        present = ~np.isnan(lab[1])
    keys = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), _SEED_OFFSET, int(part)]))).random(m)
    take = np.argpartition(keys, sample_rows - 1)[:sample_rows] if m > sample_rows else np.arange(m)
    take = take[np.argsort(take)] if sample_rows else np.empty(0, dtype=np.int64)
    picked = {"__present__": present[take]}
    for c, st in states.items():
        inp = _coerce(cols[c], st)
        if inp[0] == "dict":
            st.add_dict(inp[1], inp[2], present)
            picked[c] = np.array(list(inp[1]) + [None], dtype=object)[inp[2][take]]
        else:
            st.add_num(inp[1], present)
            picked[c] = inp[1][take]
    sample = Sample(sample_rows)
    sample.add(keys[take], (int(part) << _PARTITION_BITS) + take.astype(np.int64), picked)
    return states, sample, m


def _merge(a: tuple, b: tuple) -> tuple:
    """Two summaries, ``b``'s rows after ``a``'s (states are merged in place)."""
    states, sample, m = a
    for c, st in states.items():
        st.merge(b[0][c])
    bs = b[1]
    bs.compact()
    sample.add(bs.keys, bs.rows, bs.cols)
    return states, sample, m + b[2]


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


def _count(pdf: pd.DataFrame, counter: ChunkCounter, states: dict, kinds: dict) -> tuple:
    """Pass two on one partition: its counts of the planned tables."""
    wanted = set(counter.sources)
    raw = {}
    for c in pdf.columns:
        name = str(c).strip()
        if name not in wanted:
            continue
        st = states[name]
        inp = _coerce(pandas_column(pdf[c], kinds[name]), st)
        if inp[0] == "num" and st.mode == "num":
            raw[name] = inp[1]
        elif st.mode == "hash":  # only its null flags are counted (missingness)
            miss = np.isnan(inp[1]) if inp[0] == "num" else np.append(st.local_missing(inp[1]), True)[inp[2]]
            raw[name] = miss.astype(np.uint8)
        else:
            raw[name] = st.global_codes(inp[1], inp[2])
    return counter.count(raw)


def _add(a: tuple, b: tuple) -> tuple:
    ta, na = a
    tb, nb = b
    return {k: ta[k] + tb[k] for k in ta}, na + nb


def scan_dask(ddf, *, sample_rows: int | None = None, progress=None, random_state: int = 0, k_max=None,
              **roles_kw) -> StreamScan:
    """The two passes of the dask engine over a dask DataFrame (see the module docstring).

    Returns
    -------
    biasaudit.stream.StreamScan
        With the count tables summed over the partitions.
    """
    import time

    dask = _require("dask")
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(sample_rows)
    meta = ddf._meta
    kinds, dtypes = frame_kinds(meta)
    kinds = {str(c).strip(): k for c, k in kinds.items()}
    dtypes = {str(c).strip(): d for c, d in dtypes.items()}
    columns = [str(c).strip() for c in meta.columns]
    scan = StreamScan(columns, f"dask DataFrame, {ddf.npartitions} partition(s)", chunk_rows=0,
                      sample_rows=sample_rows, random_state=random_state)
    label = scan.label_of(roles_kw.get("label"))
    parts = ddf.to_delayed()
    t0 = time.perf_counter()
    summarize, merge = dask.delayed(_summarize, pure=True), dask.delayed(_merge, pure=True)
    total = _tree([summarize(p, i, kinds, dtypes, label, sample_rows, random_state) for i, p in enumerate(parts)],
                  merge)
    states, sample, n_rows = dask.compute(total)[0]
    scan.finish_summary(states, _global_sample(states, sample), n_rows, k_max=k_max, **roles_kw)
    t1 = time.perf_counter()
    counter = scan.counter()
    needed = {c: states[c] for c in counter.sources}
    shared = dask.delayed(counter, pure=True), dask.delayed(needed, pure=True)
    count, add = dask.delayed(_count, pure=True), dask.delayed(_add, pure=True)
    out, n = dask.compute(_tree([count(p, shared[0], shared[1], kinds) for p in parts], add))[0]
    scan.set_counts(out, n)
    scan.timings = {"pass1_s": round(t1 - t0, 3), "pass2_s": round(time.perf_counter() - t1, 3)}
    return scan


def connect(scheduler: str | None):
    """A ``distributed.Client`` connected to ``scheduler`` (an address), or None for local threads."""
    if not scheduler:
        return None
    return _require("distributed").Client(scheduler)


def read_dask(path, *, encoding: str = "utf-8", blocksize: str = "64MB"):
    """A CSV/TSV or Parquet file as a dask DataFrame typed like the streaming engine reads it.

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
