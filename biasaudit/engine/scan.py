"""The engine: every input through one path, in passes over column chunks.

1. **Summary** (reads the source once): every column is dictionary-encoded chunk by chunk into
   one global dictionary (codes in order of first appearance, :mod:`biasaudit.engine.summaries`),
   with counts of each value; numbers keep exact value counts up to ``NUM_EXACT_CAP`` distinct
   values.  What a chunk becomes (its *stored* codes) is kept: in memory for a DataFrame, in a
   temporary folder for a file.  A seeded uniform sample of ``sample_rows`` rows is kept
   (bottom-k of one uniform key per row, so the sample does not depend on the chunk size).
2. **Roles** from the summaries (:func:`biasaudit.engine.resolver.resolve_summary`, the one
   resolver), and the count tables to precompute (the base plan and what the detectors declare).
3. **Counting** (reads the stored codes, not the source): each chunk's codes become level codes
   and are added into a few covering tables (:mod:`biasaudit.engine.store`), and, when asked,
   whole rows are hashed and counted (duplicates, conflicting labels; :mod:`biasaudit.engine.rowhash`).

A DataFrame is a source with one chunk (or a few for a large frame); a CSV/TSV/Parquet file is
read in chunks; other files (JSON Lines, zip, image folders, COCO, CelebA, manifests) are loaded
by :func:`biasaudit.load` into a DataFrame first; a dask DataFrame runs the same passes partition
by partition (:mod:`biasaudit.engine.dask`).  Every path gives the same roles, counts and findings.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .coltypes import typed_column
from .resolver import label_order, missing_indicator, resolve_summary, infer_label
from .counting import CountTask, Totals, WeightReader
from .rowhash import RowKeyer
from .sources import Source, frame_source, open_source, stream_format
from .spill import MemorySpill, Sample, Spill, prefetch, sample_keys
from .store import CountStore, count_chunk, cover, plan_tables
from .summaries import NULL16, ColumnState, add_chunk

__all__ = ["Scan", "scan", "open_data", "streamable", "choose_engine", "ENGINES", "DEFAULT_CHUNK_ROWS", "DEFAULT_SAMPLE_ROWS",
           "is_dask"]

#: Accepted values of ``engine=``: all run this engine ("memory"/"stream" only choose defaults).
ENGINES = ("auto", "memory", "stream", "dask", "sql")
#: Rows per chunk when none is given.
DEFAULT_CHUNK_ROWS = 1 << 20
#: Rows of the seeded sample that detectors reading rows use.
DEFAULT_SAMPLE_ROWS = 200_000


def is_dask(data) -> bool:
    mod = type(data).__module__ or ""
    return mod.startswith("dask") and hasattr(data, "npartitions")


def choose_engine(data, engine: str = "auto") -> str:
    """``"dask"`` for a dask DataFrame, ``"sql"`` for a database (:mod:`biasaudit.engine.sqlscan`), else
    ``"stream"`` (kept for callers that ask; one engine runs)."""
    if engine not in ENGINES:
        raise ValueError(f"The 'engine' parameter of audit must be one of {', '.join(ENGINES)}. Got {engine!r} "
                         f"instead.")
    from .sql import is_sql_source
    if is_sql_source(data):  # a database URL or file, or a SQLAlchemy engine: counted by the database
        if engine in ("auto", "sql"):
            return "sql"
        raise ValueError(f"A database is audited with engine='sql' (or 'auto'). Got {engine!r}.")
    if engine == "sql":
        raise ValueError("engine='sql' reads a database URL, a .sqlite/.db/.duckdb file or a SQLAlchemy engine.")
    if is_dask(data):
        if engine in ("auto", "dask"):
            return "dask"
        raise ValueError(f"A dask DataFrame is audited with engine='dask' (or 'auto'). Got {engine!r}.")
    if engine == "dask":
        return "dask"
    return "stream"


def streamable(path, encoding: str = "utf-8") -> bool:
    """True for a CSV/TSV/Parquet file the engine reads in chunks itself; False for files the loaders
    handle (JSON Lines, zip, a CelebA list, a manifest of image paths, whitespace-separated text).

    A file that cannot be read raises the loader's one-line :class:`~biasaudit.errors.InputFileError`.
    """
    path = Path(os.fspath(path))
    if not path.is_file() or path.stat().st_size == 0:
        return False
    fmt = stream_format(path)
    if fmt is None or ".txt" in [s.lower() for s in path.suffixes]:  # .txt may be a CelebA attribute list
        return False
    if fmt[0] == "parquet":
        return True
    from ..loaders.manifest import find_path_column
    from ..loaders.tables import _head_text, load as load_table, sniff_delimiter
    head = load_table(path, nrows=200, encoding=encoding)
    if find_path_column(head) is not None:
        return False
    text = _head_text(path, fmt[1], encoding)
    return len(sniff_delimiter(text, tab_default=path.suffix.lower() in (".tsv", ".tab"))) == 1


def open_data(data, *, chunk_rows: int, encoding: str = "utf-8", delimiter: str | None = None,
              label: str | None = None) -> Source:
    """The source of a DataFrame or a file (files the engine does not stream are loaded first)."""
    if isinstance(data, pd.DataFrame):
        return frame_source(data, chunk_rows)
    path = Path(os.fspath(data))
    if streamable(path, encoding):
        return open_source(path, chunk_rows, encoding=encoding, delimiter=delimiter)
    from ..loaders import load
    df = load(path, label=label, encoding=encoding)
    return frame_source(df, chunk_rows, description=f"{path.name}, loaded")


class Scan:
    """The passes of one audit over one source, and everything the audit reads from them.

    Build it with :func:`scan` (DataFrames, files) or :func:`biasaudit.engine.dask.scan_dask`.
    Attributes: ``roles``, ``store`` (the :class:`CountStore`, after :meth:`count`), ``preps``,
    ``typed``, ``n_rows`` (rows read), ``n_kept`` (rows with a label), ``sample`` (the ordered
    row sample), ``approximate`` (what was decided from the sample) and ``timings``.
    """

    def __init__(self, columns: list, description: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, random_state: int = 0) -> None:
        self.columns = list(columns)
        self.description = description
        self.chunk_rows, self.sample_rows = int(chunk_rows), int(sample_rows)
        self.random_state = int(random_state)
        self.timings: dict = {}
        self.source: Source | None = None
        self.spill = None
        self.store: CountStore | None = None
        self.row_counts: dict = {}
        self.sample_readers: list = []
        self.skipped: list = []
        self.tables: list = []
        self.approximate: list = []

    # ------------------------------------------------------------------ pass one
    def summarize(self, source: Source, label: str, progress=None) -> None:
        """Pass one: column states, stored codes and the row sample."""
        self.source = source
        self.spill = MemorySpill() if source.frame is not None else Spill()
        t0 = time.perf_counter()
        states = {c: ColumnState(c, source.kinds[c], na_strings=source.na_strings if source.kinds[c] == "text"
                                 else frozenset(), pandas_dtype=source.dtypes.get(c)) for c in self.columns}
        sample = Sample(self.sample_rows)
        row = 0
        est = source.rows_estimate
        if progress is not None:
            progress("shape", len(self.columns), min(est or self.sample_rows, self.sample_rows))
            progress("reading", 0, est or 1)
        for m, chunk in prefetch(source.chunks()):
            present, stored, switched, inputs = add_chunk(states, chunk, label)
            for c, before in switched.items():
                self._switched(c, states[c], before, sample)
            keys = sample_keys(self.random_state, row, m)
            take = np.flatnonzero(keys < sample.threshold())
            picked = {"__present__": present[take]}
            for c in self.columns:
                self.spill.write(c, stored[c])
                if states[c].mode != "hash":
                    picked[c] = stored[c][take]
                elif inputs[c][0] == "dict":  # the sample keeps the values themselves
                    picked[c] = np.array(list(inputs[c][1]) + [None], dtype=object)[inputs[c][2][take]]
                else:
                    picked[c] = np.array([None if v != v else v for v in inputs[c][1][take]], dtype=object)
            sample.add(keys[take], row + take, picked)
            self.spill.chunks.append(m)
            row += m
            if progress is not None:
                progress("reading", row, max(row, est or row))
        self.timings["pass1_s"] = round(time.perf_counter() - t0, 3)
        self.set_states(states, sample.ordered(), row)

    def _switched(self, col: str, st: ColumnState, before: str, sample: Sample) -> None:
        """A column changed mode: convert what was stored of earlier chunks (and the sample)."""
        sample.compact()
        prev = st.previous_values
        if before == "dict" and st.mode == "num":
            table = np.full(NULL16 + 1, np.nan)
            text = pd.Series([str(v).strip() for v in prev], dtype=object)
            table[:len(prev)] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
            fn = lambda codes: table[codes]  # noqa: E731
        else:
            from .summaries import value_hashes
            if before == "dict":  # now hashed text
                table = np.zeros(NULL16 + 1, dtype=np.uint64)
                table[:len(prev)] = value_hashes(st, prev, np.zeros(len(prev), dtype=bool))
                fn = lambda codes: table[codes]  # noqa: E731
                objs = np.empty(NULL16 + 1, dtype=object)
                objs[:len(prev)] = prev
                to_sample = lambda codes: objs[codes]  # noqa: E731
            else:  # numbers -> hashed text
                fn = lambda x: value_hashes(st, [f"{v:.15g}" for v in x], np.isnan(x))  # noqa: E731
                to_sample = lambda x: np.array([None if v != v else v for v in x], dtype=object)  # noqa: E731
            self.spill.convert(col, fn)
            if col in sample.cols:
                sample.cols[col] = to_sample(sample.cols[col])
            return
        self.spill.convert(col, fn)
        if col in sample.cols:
            sample.cols[col] = fn(sample.cols[col])

    @property
    def sample_complete(self) -> bool:
        """True when the row sample holds every row."""
        return len(self.sample.rows) >= self.n_rows

    def set_states(self, states: dict, sample: Sample, n_rows: int) -> None:
        self.states, self.sample, self.n_rows = states, sample, int(n_rows)
        for st in states.values():
            if st.counts is not None:
                st.counts.merge()
        self.typed = {c: typed_column(s) for c, s in states.items()}

    # ------------------------------------------------------------------ roles
    def label_of(self, label: str | None) -> str:
        """The label column (inferred from the names when not given); a ColumnError when absent."""
        label, _ = infer_label(self.columns, label)
        if label not in self.columns:
            from .levels import missing_column
            raise missing_column(label, self.columns, "Label")
        return label

    def resolve(self, **roles_kw) -> None:
        """Roles from the summaries; the prepared columns and hidden missingness indicators."""
        self._positive_given = roles_kw.get("positive") is not None
        self.roles, self.preps, self.approximate = resolve_summary(
            self.columns, self.typed, self.n_rows, sample_values=self._sample_values, **roles_kw)
        self.n_kept = self.n_rows - self.roles.n_rows_dropped
        self.weight_design, self.weight_unit = False, 1.0
        if self.roles.weight:  # Kish-scaled counts? weights divided by a power of two before summing?
            from .weights import weight_scale
            self.weight_design, self.weight_unit = weight_scale(self.typed[self.roles.weight], self.n_rows)
        self.levels = {p: prep.levels for p, prep in self.preps.items()}
        roles = self.roles
        skip = set(roles.ids) | {roles.label} | ({roles.weight} if roles.weight else set())
        self.indicators = {}
        for c in self.columns:
            if c not in skip and self.typed[c].null_kept > 0:
                prep = missing_indicator(c)
                self.indicators[prep.name] = prep
        self.sizes = {p: len(prep.levels) for p, prep in {**self.preps, **self.indicators}.items()}

    def _sample_values(self, col: str) -> np.ndarray:
        v = self.sample.cols.get(col)
        if v is None:
            return np.empty(0)
        v = v[self.sample.cols["__present__"]]
        if v.dtype == np.float64:
            return v
        t = self.typed[col]
        if v.dtype == np.uint16 and t.canon is not None:
            table = np.full(NULL16 + 1, np.nan)
            table[:len(t.canon)] = t.distinct.to_numpy(dtype=float)[t.canon]
            return table[v]
        return np.empty(0)

    @property
    def all_levels(self) -> dict:
        """Levels of every counted column, the hidden missingness indicators included."""
        return {**self.levels, **{p: prep.levels for p, prep in self.indicators.items()}}

    # ------------------------------------------------------------------ pass two
    def count(self, extra=(), progress=None, hashes: tuple = ()) -> None:
        """Pass two: the planned tables (base plan + ``extra`` column sets) and the row hash counts asked
        for in ``hashes`` (``"duplicates"``, ``"conflicts"``)."""
        t0 = time.perf_counter()
        needed = plan_tables(self.roles, extra)
        self.tables = cover(needed, self.sizes, list(self.preps) + list(self.indicators))
        cols = self._count_columns(self.tables)
        if "duplicates" in hashes:
            cols += [c for c in self.dup_columns() if c not in cols]
        if "conflicts" in hashes:
            cols += [c for c in self.vector_columns() if c not in cols]
        task = CountTask(self, self.tables, hashes)
        acc = self.map_stored(task, cols, Totals(task.keyers, self.roles.weight is not None), progress)
        self.finish_count(acc.result())
        self.timings["pass2_s"] = round(time.perf_counter() - t0, 3)

    def _count_columns(self, tables) -> list:
        preps = {**self.preps, **self.indicators}
        used = dict.fromkeys(preps[c].source for t in tables for c in t)
        if self.roles.weight:
            used[self.roles.weight] = None
        used[self.roles.label] = None
        return list(used)

    def stored_chunks(self, columns):
        """(row offset, rows, {column: stored codes}) for every chunk of the stored data."""
        offset = 0
        for m, raw in self.spill.read_chunks(columns, self.chunk_rows or None):
            yield offset, m, raw
            offset += m

    def map_stored(self, fn, columns, acc=None, progress=None):
        """``fn(offset, m, stored)`` over every chunk of the stored codes, in order: the list of results, or
        each result added to ``acc`` (``acc.add``), which is returned (the dask engine maps partitions)."""
        out = [] if acc is None else acc
        total = max(1, len(getattr(self.spill, "chunks", [])))
        if progress is not None:
            progress("counting", 0, total)
        for i, (o, m, s) in enumerate(self.stored_chunks(columns)):
            r = fn(o, m, s)
            out.append(r) if acc is None else acc.add(r)
            if progress is not None:
                progress("counting", i + 1, total)
        return out

    def finish_count(self, part: dict) -> None:
        """The summed pass-two results -> the count store (and the row hash counts)."""
        roles = self.roles
        weighted = roles.weight is not None
        out, total = part["tables"], part["n"]
        if out is None:
            out = count_chunk({}, self.sizes, self.tables, np.empty(0) if weighted else None)
        scale = None
        if weighted and part["w2"] > 0 and self.weight_design:  # not frequency counts
            scale = (total / part["w2"])  # Kish: n_eff / sum(w) = sum(w) / sum(w^2), free of the weight unit
        from . import rowsets
        sets = {k: (lambda fn=getattr(rowsets, k): fn(self)) for k in ("duplicates", "conflicts") if k in part}
        self.store = CountStore(self.levels, out, float(total) if weighted else int(total), weighted=weighted,
                                hidden={p: prep.levels for p, prep in self.indicators.items()},
                                recount=self._recount, design_scale=scale, row_sets=sets)
        from .rowsets import summarize
        bits = max(1, int(len(self.levels[roles.label]) - 1).bit_length())
        self.row_counts = {k: summarize(k, part[k], bits) for k in ("duplicates", "conflicts") if k in part}
        if weighted and self._positive_given is False:
            self._weighted_label_order()

    _positive_given = True
    #: Set by :meth:`resolve` from the weight column's summary (:func:`~biasaudit.engine.weights.weight_scale`).
    weight_design, weight_unit = False, 1.0

    def _weighted_label_order(self) -> None:
        """With a weight and no positive value given: label order and the minority by weighted counts."""
        t = self.store.count(self.roles.label)
        w = {v: float(c) for v, c in zip(t.levels[0], t.counts)}
        values, minority = label_order({v: w.get(v, 0.0) + 1e-300 for v in self.roles.label_values})
        self.roles = replace(self.roles, label_values=values, positive=minority)

    def _recount(self, columns: tuple) -> np.ndarray:
        """An unplanned table: another pass over the stored codes."""
        task = CountTask(self, [tuple(columns)], ())
        cols = self._count_columns([tuple(columns)])
        out = self.map_stored(task, cols, Totals({})).result()["tables"]
        return out[tuple(columns)] if out else np.zeros(tuple(self.sizes[c] for c in columns), dtype=np.int64)

    # ------------------------------------------------------------------ row hashes
    def dup_columns(self) -> list:
        """Columns compared for duplicate rows: every column but ids and the weight."""
        roles = self.roles
        return [c for c in self.columns if c not in roles.ids and c != roles.weight]

    def keyers(self, kinds=("duplicates", "conflicts")) -> dict:
        """How whole rows are keyed for duplicates (every column but ids and the weight) and conflicting
        labels (the attribute vector, the label joined in its low bits)."""
        out = {}
        if "duplicates" in kinds:
            out["duplicates"] = RowKeyer(self.dup_columns(), self.typed, n_rows=self.n_rows)
        if "conflicts" in kinds:
            bits = max(1, int(len(self.levels[self.roles.label]) - 1).bit_length())
            out["conflicts"] = RowKeyer(self.vector_columns(), self.typed, extra=1 << bits, n_rows=self.n_rows)
        return out

    def vector_columns(self) -> list:
        """Columns of the attribute vectors compared for conflicting labels (parents of the attributes)."""
        roles = self.roles
        return [c for c in dict.fromkeys(roles.parent(a) for a in roles.attributes) if c in self.columns]

    def weight_reader(self) -> "WeightReader":
        """Reads per-row weights, divided by ``weight_unit``, from a stored chunk (small; shipped to dask workers)."""
        w = self.roles.weight
        table = None
        if w and self.typed[w].canon is not None:
            t = self.typed[w]
            table = np.full(NULL16 + 1, np.nan)
            table[:len(t.canon)] = t.distinct.to_numpy(dtype=float)[t.canon]
        return WeightReader(w, table, self.weight_unit)

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()
            self.spill = None


def scan(data, *, chunk_rows: int | None = None, sample_rows: int | None = None, encoding: str = "utf-8",
         delimiter: str | None = None, progress=None, random_state: int = 0, **roles_kw) -> Scan:
    """Pass one and the roles of a scan of a DataFrame or a file (call :meth:`Scan.count` for pass two).

    Parameters
    ----------
    data : path or pandas.DataFrame
    chunk_rows : int, optional
        Rows per chunk (default ``DEFAULT_CHUNK_ROWS``).
    sample_rows : int, optional
        Rows of the seeded sample for detectors that read rows (default ``DEFAULT_SAMPLE_ROWS``).
    **roles_kw
        label, sensitive, weight, ids, attributes, exclude, multi, positive, n_bins, bins,
        max_levels, outputs: as for :func:`biasaudit.audit`.
    """
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
    if chunk_rows < 1:
        raise ValueError(f"The 'chunk_size' parameter must be a positive number of rows. Got {chunk_rows!r} instead.")
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(sample_rows)
    source = open_data(data, chunk_rows=chunk_rows, encoding=encoding, delimiter=delimiter,
                       label=roles_kw.get("label"))
    attrs = source.frame.attrs if source.frame is not None else {}
    if attrs.get("biasaudit_multi"):  # multi-valued columns a loader made (e.g. COCO categories)
        roles_kw["multi"] = {**attrs["biasaudit_multi"], **dict(roles_kw.get("multi") or {})}
    sc = Scan(source.columns, source.description, chunk_rows=chunk_rows, sample_rows=sample_rows,
              random_state=random_state)
    try:
        sc.summarize(source, sc.label_of(roles_kw.get("label")), progress)
        sc.resolve(**roles_kw)
    except BaseException:
        sc.close()
        raise
    return sc
