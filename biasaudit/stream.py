"""Streaming scan: audit tables larger than memory, chunk by chunk, with the in-memory results.

Two passes over the data, never the whole table in memory:

1. **Summary** (reads the file once): every column is dictionary-encoded chunk by chunk into one
   global dictionary (codes in order of first appearance; see :mod:`biasaudit._colsummary`),
   with counts of each value; numbers keep exact value counts (exact quantile bins) up to
   ``NUM_EXACT_CAP`` distinct values.  The compact codes are spilled to a temporary folder, and a
   seeded uniform sample of ``sample_rows`` rows is kept (bottom-k of one uniform key per row,
   so the sample does not depend on the chunk size).  Roles are then decided from these
   summaries exactly as :func:`biasaudit.roles.resolve` decides them on the rows.
2. **Counting** (reads the spilled codes, not the file): each chunk's codes become the
   prepared codes and are added into a few covering count tables (:mod:`biasaudit.countstore`).

Detectors read :class:`~biasaudit.countstore.CountStore` exactly as they read the in-memory
:class:`~biasaudit.counts.CodedTable`.  A detector that needs rows (the probe, duplicates and
missingness, the coverage scan's row signatures) raises :class:`~biasaudit.countstore.RowAccessError`
and is run again on the row sample; its findings are then exact when the sample holds every
row, and approximate (marked in ``details["approximate"]``) otherwise.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ._colsummary import CSV_NA_STRINGS, NULL16, ColumnState, typed_column
from ._streamroles import infer_label, resolve_summary
from .countstore import (CountStore, RowAccessError, RowGuard, count_chunk, cover, observed_levels,
                         plan_tables)
from .errors import InputFileError

__all__ = ["StreamScan", "scan", "engine_scan", "choose_engine", "chunks_of", "DEFAULT_CHUNK_ROWS", "DEFAULT_SAMPLE_ROWS",
           "STREAM_MEMORY_SHARE", "ENGINES", "ChunkCounter", "frame_kinds"]

ENGINES = ("auto", "memory", "stream", "dask")
#: Rows per chunk when none is given.
DEFAULT_CHUNK_ROWS = 1 << 20
#: Rows of the seeded sample the row-level detectors run on.
DEFAULT_SAMPLE_ROWS = 200_000
#: ``engine="auto"`` streams files larger than this share of the available memory.
STREAM_MEMORY_SHARE = 0.25
_SAMPLE_SEED_OFFSET = 0x5A3C
#: Bytes pyarrow's CSV reader parses at a time (larger blocks raise its peak memory, not its speed).
_CSV_BLOCK_BYTES = 1 << 20
_STREAM_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".data", ".parquet", ".pq")


# ----------------------------------------------------------------------------- engine choice
def available_memory() -> int:
    """Bytes of MemAvailable (``/proc/meminfo``; psutil or sysconf elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _is_dask(data) -> bool:
    mod = type(data).__module__ or ""
    return mod.startswith("dask") and hasattr(data, "npartitions")


def choose_engine(data, engine: str = "auto") -> str:
    """The engine an audit of ``data`` uses.

    ``"auto"``: ``"dask"`` for a dask DataFrame; ``"stream"`` for a CSV/TSV/Parquet file larger
    than ``STREAM_MEMORY_SHARE`` of the available memory; ``"memory"`` otherwise.
    """
    if engine not in ENGINES:
        raise ValueError(f"The 'engine' parameter of audit must be one of {', '.join(ENGINES)}. Got {engine!r} "
                         f"instead.")
    if _is_dask(data):
        if engine in ("auto", "dask"):
            return "dask"
        raise ValueError(f"A dask DataFrame is audited with engine='dask' (or 'auto'). Got {engine!r}.")
    if engine != "auto":
        return engine
    if isinstance(data, (str, os.PathLike)):
        path = Path(os.fspath(data))
        if path.is_file() and _stream_format(path) is not None:
            return "stream" if path.stat().st_size > STREAM_MEMORY_SHARE * available_memory() else "memory"
    return "memory"


def _stream_format(path: Path) -> tuple[str, str | None] | None:
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in (".gz", ".bz2"):
        compression = {".gz": "gzip", ".bz2": "bz2"}[suffixes[-1]]
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq") and compression is None:
        return "parquet", None
    if last in _STREAM_SUFFIXES:
        return "csv", compression
    return None


# ----------------------------------------------------------------------------- chunk sources
@dataclass
class Source:
    """Columns, their source kinds and an iterator of chunks (see :func:`chunks_of`)."""

    columns: list
    kinds: dict
    dtypes: dict
    chunks: Callable[[], Iterator[tuple[int, dict]]]
    na_strings: frozenset = frozenset()
    total_bytes: int | None = None
    description: str = ""
    rows_estimate: int | None = None


def _arrow_column(arr) -> tuple:
    import pyarrow as pa
    import pyarrow.compute as pc
    t = arr.type
    if pa.types.is_dictionary(t):
        d = arr
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
        d = arr.dictionary_encode()
    elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return ("num", pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False))
    elif pa.types.is_null(t):
        return ("dict", [], np.full(len(arr), -1, dtype=np.int64))
    else:
        d = arr.cast(pa.string()).dictionary_encode() if not pa.types.is_timestamp(t) else arr.dictionary_encode()
    idx = d.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return ("dict", d.dictionary.to_pylist(), idx)


_POOL = None


def _encode_columns(columns: list) -> list:
    """``_arrow_column`` of every column, two at a time (pyarrow's hashing releases the GIL)."""
    global _POOL
    if len(columns) < 4 or (os.cpu_count() or 1) < 2:
        return [_arrow_column(c) for c in columns]
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2), thread_name_prefix="biasaudit-encode")
    return list(_POOL.map(_arrow_column, columns))


def _csv_source(path: Path, compression, chunk_rows: int, encoding: str, delimiter: str | None) -> Source:
    import csv
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from .loaders.tables import _codec, _head_text, sniff_delimiter
    head = _head_text(path, compression, encoding)
    if not head.strip():
        raise InputFileError(f"{path} holds only whitespace. Give a table with a header and at least one row.")
    if delimiter is None:
        delimiter = sniff_delimiter(head, tab_default=path.suffix.lower() in (".tsv", ".tab"))
    if len(delimiter) != 1:
        raise InputFileError(f"The streaming engine reads one-character delimiters; {path} is separated by "
                             f"{delimiter!r}. Use engine='memory'.")
    header = next(csv.reader([head.lstrip("\ufeff").splitlines()[0]], delimiter=delimiter))
    names, seen = [], {}
    for raw in header:
        name = raw.strip()
        if name in seen:  # pandas mangles repeated names as name.1, name.2
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    line = max(1, len(head.splitlines()[1]) if len(head.splitlines()) > 1 else 64)
    # small blocks: pyarrow's streaming reader holds many times its block size while parsing
    block = int(min(max(chunk_rows * (line + 1), 1 << 16), _CSV_BLOCK_BYTES))
    codec = _codec(encoding)
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block,
                             encoding="utf8" if codec in ("utf-8-sig", "utf-8", "utf8") else encoding)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    conv = pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, null_values=sorted(CSV_NA_STRINGS),
                                strings_can_be_null=True, quoted_strings_can_be_null=True)

    def chunks():
        src = pa.input_stream(str(path), compression=compression) if compression else str(path)
        try:
            reader = pacsv.open_csv(src, read_options=read, parse_options=parse, convert_options=conv)
        except pa.ArrowInvalid as exc:
            raise InputFileError(f"Cannot read {path} as csv: {str(exc).splitlines()[0]}.") from exc
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise InputFileError(f"Cannot read {path} as csv: {str(exc).splitlines()[0]}.") from exc
            for start in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(start, chunk_rows)
                yield part.num_rows, dict(zip(names, _encode_columns(part.columns)))

    lines = max(1, len(head.splitlines()) - 1)
    per_row = max(1.0, len(head.encode("utf-8", "replace")) / (lines + 1))
    factor = 1 if compression is None else 4  # a guess for compressed files
    return Source(names, {c: "text" for c in names}, {c: None for c in names}, chunks, CSV_NA_STRINGS,
                  path.stat().st_size, f"CSV file, delimiter {delimiter!r}",
                  rows_estimate=int(path.stat().st_size * factor / per_row))


def _parquet_source(path: Path, chunk_rows: int) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(str(path))
    schema = pf.schema_arrow
    names = [str(f.name).strip() for f in schema]
    kinds, dtypes, text_cols = {}, {}, []
    for name, f in zip(names, schema):
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            kinds[name], dtypes[name] = "text", None
            text_cols.append(f.name)
        elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            kinds[name] = "num"
            dtypes[name] = np.dtype("int64") if pa.types.is_integer(t) else np.dtype("float64")
        else:
            kinds[name], dtypes[name] = "typed", None

    def chunks():
        reader = pq.ParquetFile(str(path), read_dictionary=text_cols)  # strings arrive as codes
        for batch in reader.iter_batches(batch_size=chunk_rows):
            yield batch.num_rows, dict(zip(names, _encode_columns(batch.columns)))

    return Source(names, kinds, dtypes, chunks, frozenset(), path.stat().st_size, "Parquet file",
                  rows_estimate=pf.metadata.num_rows)


def _pandas_column(s: pd.Series, kind: str) -> tuple:
    if kind == "num":
        return ("num", s.to_numpy(dtype=float, na_value=np.nan))
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if isinstance(uniques, pd.Categorical) or hasattr(uniques, "categories"):
        uniques = list(np.asarray(uniques))
    return ("dict", [u.item() if isinstance(u, np.generic) else u for u in list(uniques)], codes.astype(np.int64))


def frame_kinds(df: pd.DataFrame) -> tuple[dict, dict]:
    """Source kind (text / typed / num) and dtype of each column of a pandas frame."""
    kinds, dtypes = {}, {}
    for c in df.columns:
        s = df[c]
        dt = s.dtype
        if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dt):
            kinds[c] = "typed"
        elif pd.api.types.is_numeric_dtype(dt):
            kinds[c] = "num"
        elif pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt):
            kinds[c] = "text"
        else:
            kinds[c] = "typed"
        dtypes[c] = dt
    return kinds, dtypes


def chunks_of(df: pd.DataFrame, chunk_rows: int, kinds: dict | None = None) -> Iterator[tuple[int, dict]]:
    """A pandas frame as normalised chunks of ``chunk_rows`` rows."""
    kinds = kinds or frame_kinds(df)[0]
    cols = list(df.columns)
    for start in range(0, max(len(df), 1), chunk_rows):
        part = df.iloc[start:start + chunk_rows]
        if len(part) == 0:
            break
        yield len(part), {str(c).strip(): _pandas_column(part[c], kinds[c]) for c in cols}


def _frame_source(df: pd.DataFrame, chunk_rows: int) -> Source:
    if df.shape[1] == 0:
        from .errors import DataError
        raise DataError("the DataFrame has no columns. Give a table with a header row.")
    kinds, dtypes = frame_kinds(df)
    names = [str(c).strip() for c in df.columns]
    return Source(names, {str(c).strip(): k for c, k in kinds.items()},
                  {str(c).strip(): d for c, d in dtypes.items()}, lambda: chunks_of(df, chunk_rows, kinds),
                  frozenset(), None, "DataFrame", rows_estimate=len(df))


def open_source(data, chunk_rows: int, encoding: str = "utf-8", delimiter: str | None = None) -> Source:
    """A :class:`Source` for a file path or a pandas DataFrame."""
    if isinstance(data, pd.DataFrame):
        return _frame_source(data, chunk_rows)
    path = Path(os.fspath(data))
    if not path.exists():
        raise InputFileError(f"File not found: {path}. Check the path and try again.")
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a table. Give a CSV, TSV or Parquet file.")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty (0 bytes). Give a table with a header and at least one row.")
    fmt = _stream_format(path)
    if fmt is None:
        raise InputFileError(f"The streaming engine reads CSV/TSV (optionally .gz/.bz2) and Parquet files; "
                             f"{path.name} is neither. Use engine='memory'.")
    if fmt[0] == "parquet":
        return _parquet_source(path, chunk_rows)
    return _csv_source(path, fmt[1], chunk_rows, encoding, delimiter)


# ----------------------------------------------------------------------------- the scan
@dataclass
class _Sample:
    """Bottom-k sample: the rows with the ``size`` smallest uniform keys (compacted lazily)."""

    size: int
    keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    cols: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)
    n_pending: int = 0
    _limit: float = np.inf

    def threshold(self) -> float:
        """Keys at or above this cannot enter the sample (an upper bound between compactions)."""
        return self._limit

    def add(self, keys: np.ndarray, rows: np.ndarray, cols: dict) -> None:
        if len(keys) == 0:
            return
        self.pending.append((keys, rows, cols))
        self.n_pending += len(keys)
        if len(self.keys) + self.n_pending > 2 * max(self.size, 1 << 12):
            self.compact()

    def compact(self) -> None:
        if not self.pending:
            return
        parts = [(self.keys, self.rows, self.cols)] + self.pending if len(self.keys) else self.pending
        self.keys = np.concatenate([p[0] for p in parts])
        self.rows = np.concatenate([p[1] for p in parts])
        names = list(parts[-1][2])
        cols = {}
        for c in names:
            arrs = [p[2][c] for p in parts]
            if len({a.dtype for a in arrs}) > 1:  # numbers in one part, objects in another
                arrs = [a.astype(object) for a in arrs]
            cols[c] = np.concatenate(arrs)
        self.cols = cols
        self.pending, self.n_pending = [], 0
        if len(self.keys) > self.size:
            keep = np.argpartition(self.keys, self.size - 1)[:self.size] if self.size else np.empty(0, int)
            self.keys, self.rows = self.keys[keep], self.rows[keep]
            self.cols = {c: v[keep] for c, v in self.cols.items()}
        if len(self.keys) >= self.size:
            self._limit = float(self.keys.max()) if self.size else -np.inf

    def ordered(self) -> "_Sample":
        self.compact()
        o = np.argsort(self.rows, kind="stable")
        return _Sample(self.size, self.keys[o], self.rows[o], {c: v[o] for c, v in self.cols.items()})


class _Spill:
    """One file per column in a temporary folder: uint16 codes or float64 numbers, chunk after chunk."""

    def __init__(self, root: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="biasaudit-stream-", dir=root)
        self.files: dict = {}
        self.dtype: dict = {}
        self.chunks: list = []

    def write(self, col: str, arr: np.ndarray) -> None:
        if col not in self.files:
            self.files[col] = open(os.path.join(self.dir, f"c{len(self.files)}.bin"), "wb")
            self.dtype[col] = arr.dtype
        self.files[col].write(np.ascontiguousarray(arr).tobytes())

    def convert(self, col: str, fn: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """Rewrite a column (e.g. uint16 codes -> float64 numbers); None drops it."""
        if col not in self.files:
            return
        fh = self.files.pop(col)
        fh.close()
        old, dt = fh.name, self.dtype.pop(col)
        if fn is None:
            os.remove(old)
            return
        new = old + ".new"
        with open(old, "rb") as src, open(new, "wb") as dst:
            while True:
                buf = src.read(dt.itemsize * (1 << 20))
                if not buf:
                    break
                out = fn(np.frombuffer(buf, dtype=dt))
                self.dtype[col] = out.dtype
                dst.write(out.tobytes())
        os.replace(new, old)
        self.files[col] = open(old, "ab")
        self.dtype.setdefault(col, np.dtype("float64"))

    def read_chunks(self, cols: Iterable[str], rows: int) -> Iterator[tuple[int, dict]]:
        """The spilled columns ``rows`` rows at a time (whatever the chunks they were written in)."""
        cols = [c for c in cols if c in self.files]
        for fh in self.files.values():
            fh.flush()
        handles = {c: open(self.files[c].name, "rb") for c in cols}
        total = sum(self.chunks)
        try:
            for start in range(0, total, rows):
                m = min(rows, total - start)
                yield m, {c: np.frombuffer(h.read(m * self.dtype[c].itemsize), dtype=self.dtype[c])
                          for c, h in handles.items()}
        finally:
            for h in handles.values():
                h.close()

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run ``iterator`` (reading and dictionary-encoding, which release the GIL) in a background thread."""
    import queue
    import threading
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="biasaudit-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


def _sample_keys(seed: int, start: int, m: int) -> np.ndarray:
    """Uniform keys of rows start .. start+m-1 of the whole table (independent of the chunking)."""
    bg = np.random.PCG64(np.random.SeedSequence([int(seed), _SAMPLE_SEED_OFFSET]))
    if start:
        bg.advance(start)
    return np.random.Generator(bg).random(m)


@dataclass
class ChunkCounter:
    """Turns a chunk of raw codes / numbers (by source column) into counts of the planned tables."""

    preps: dict
    sizes: dict
    tables: list
    label: str
    weight: str | None = None
    weight_table: np.ndarray | None = None

    def count(self, raw: dict, out: dict | None = None) -> tuple[dict, float]:
        codes = {p: prep.encode(raw[prep.source]) for p, prep in self.preps.items()}
        w = None
        if self.weight:
            r = raw[self.weight]
            w = self.weight_table[r] if self.weight_table is not None else np.asarray(r, dtype=float)
        keep = codes[self.label] >= 0
        if not keep.all():
            codes = {p: c[keep] for p, c in codes.items()}
            w = w[keep] if w is not None else None
        out = count_chunk(codes, self.sizes, self.tables, w, out)
        return out, (float(w.sum()) if w is not None else int(keep.sum()))

    @property
    def sources(self) -> list:
        """The source columns a chunk must carry."""
        return list(dict.fromkeys([p.source for p in self.preps.values()] + ([self.weight] if self.weight else [])))


def _coerce(inp: tuple, st: ColumnState) -> tuple:
    """Make a chunk's column match the state's mode (a partition may type an all-missing column differently)."""
    if inp[0] == "num" and st.mode != "num":
        x = inp[1]
        if np.isnan(x).all():
            return ("dict", [], np.full(len(x), -1, dtype=np.int64))
        codes, uniques = pd.factorize(pd.Series(x), use_na_sentinel=True)
        return ("dict", [float(u) for u in uniques], codes.astype(np.int64))
    if inp[0] == "dict" and st.mode == "num" and st.source != "text":
        local, codes = inp[1], inp[2]
        vals = pd.to_numeric(pd.Series(list(local) + [None], dtype=object), errors="coerce").to_numpy(dtype=float)
        return ("num", vals[codes])
    return inp


class StreamScan:
    """The passes of a streaming scan and everything the audit needs from them.

    Build it with :func:`scan` (files, DataFrames) or :func:`biasaudit.distributed.scan_dask`.
    Attributes: ``roles``, ``store`` (the :class:`CountStore`), ``preps``, ``typed``, ``n_rows``
    (rows read), ``n_kept`` (rows with a label), ``sample`` (the ordered row sample),
    ``approximate`` (what was decided from the sample), ``fallbacks`` (detector -> why it ran
    on the sample) and ``timings``.
    """

    def __init__(self, columns: list, description: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, random_state: int = 0) -> None:
        self.columns = list(columns)
        self.description = description
        self.chunk_rows, self.sample_rows = int(chunk_rows), int(sample_rows)
        self.random_state = int(random_state)
        self.fallbacks: dict = {}
        self.timings: dict = {}
        self.source = None
        self._sample_ctx = None

    @classmethod
    def from_source(cls, source: Source, *, chunk_rows=DEFAULT_CHUNK_ROWS, sample_rows=DEFAULT_SAMPLE_ROWS,
                    random_state=0, k_max=None, spill_dir=None, progress=None, **roles_kw) -> "StreamScan":
        """Both passes over a :class:`Source` (pass two reads the spilled codes)."""
        self = cls(source.columns, source.description, chunk_rows=chunk_rows, sample_rows=sample_rows,
                   random_state=random_state)
        self.source = source
        label = self.label_of(roles_kw.get("label"))
        spill = _Spill(spill_dir)
        try:
            t0 = time.perf_counter()
            states, sample, n_rows = self._pass_one(label, spill, progress)
            t1 = time.perf_counter()
            self.finish_summary(states, sample, n_rows, k_max=k_max, **roles_kw)
            out, total = self._pass_two(spill, progress)
            self.set_counts(out, total)
            self.timings = {"pass1_s": round(t1 - t0, 3), "pass2_s": round(time.perf_counter() - t1, 3)}
        finally:
            spill.close()
        return self

    def label_of(self, label: str | None) -> str:
        """The label column (inferred from the names when not given); a ColumnError when absent."""
        label, _ = infer_label(self.columns, label)
        if label not in self.columns:
            from .roles import _missing_column
            raise _missing_column(label, self.columns, "Label")
        return label

    def finish_summary(self, states: dict, sample: "_Sample", n_rows: int, *, k_max=None, **roles_kw) -> None:
        """Roles from the pass-one summaries, and the count tables to precompute."""
        self.states, self.sample, self.n_rows = states, sample, int(n_rows)
        for st in states.values():
            if st.counts is not None:
                st.counts.merge()
        self.typed = {c: typed_column(s) for c, s in states.items()}
        self.roles, self.preps, self.approximate = resolve_summary(
            self.columns, self.typed, self.n_rows, sample_values=self._sample_values, **roles_kw)
        self.n_kept = self.n_rows - self.roles.n_rows_dropped
        self.levels = {p: prep.levels for p, prep in self.preps.items()}
        self.sizes = {p: len(lv) for p, lv in self.levels.items()}
        needed = plan_tables(self.roles, self.levels, self._observed(), self.n_kept, k_max)
        self.tables = cover(needed, self.sizes, list(self.preps))

    def set_counts(self, out: dict | None, total) -> None:
        """The summed count tables -> the :class:`CountStore`."""
        weighted = self.roles.weight is not None
        if out is None:
            out = count_chunk({}, self.sizes, self.tables, np.empty(0) if weighted else None)
        self.store = CountStore(self.levels, out, float(total) if weighted else int(total), weighted=weighted)

    def counter(self) -> "ChunkCounter":
        """What counting a chunk needs (small; shipped to Dask workers)."""
        w = self.roles.weight
        wtable = None
        if w and self.typed[w].canon is not None:
            t = self.typed[w]
            wtable = np.full(NULL16 + 1, np.nan)
            wtable[:len(t.canon)] = t.distinct.to_numpy(dtype=float)[t.canon]
        return ChunkCounter(self.preps, self.sizes, self.tables, self.roles.label, w, wtable)

    def count_codes(self, raw: dict, out: dict | None = None) -> tuple[dict, float]:
        """Add one chunk of raw codes / numbers (by source column) to the count tables."""
        if getattr(self, "_counter", None) is None:
            self._counter = self.counter()
        return self._counter.count(raw, out)

    # ------------------------------------------------------------------ pass one
    def _pass_one(self, label: str, spill: _Spill, progress):
        src = self.source
        states = {c: ColumnState(c, src.kinds[c], na_strings=src.na_strings if src.kinds[c] == "text" else frozenset(),
                                 pandas_dtype=src.dtypes.get(c)) for c in self.columns}
        sample = _Sample(self.sample_rows)
        row = 0
        est = max(1, -(-int(src.rows_estimate) // self.chunk_rows)) if src.rows_estimate else None
        for i, (m, chunk) in enumerate(_prefetch(src.chunks())):
            lab = _coerce(chunk[label], states[label])
            if lab[0] == "dict":
                present = ~np.append(states[label].local_missing(lab[1]), True)[lab[2]]
            else:
                present = ~np.isnan(lab[1])
            keys = _sample_keys(self.random_state, row, m)
            take = np.flatnonzero(keys < sample.threshold())
            picked = {"__present__": present[take]}
            for c in self.columns:
                st = states[c]
                inp = _coerce(chunk[c], st)
                before = st.mode
                out = st.add_dict(inp[1], inp[2], present) if inp[0] == "dict" else st.add_num(inp[1], present)
                if st.mode != before:
                    self._switched(c, st, before, spill, sample)
                if st.mode == "dict":
                    spill.write(c, out)
                    picked[c] = out[take]
                elif st.mode == "num":
                    spill.write(c, np.asarray(out, dtype=np.float64))
                    picked[c] = np.asarray(out, dtype=np.float64)[take]
                elif inp[0] == "dict":
                    picked[c] = np.array(list(inp[1]) + [None], dtype=object)[inp[2][take]]
                else:
                    picked[c] = inp[1][take].astype(object)
            sample.add(keys[take], row + take, picked)
            spill.chunks.append(m)
            row += m
            if progress is not None:
                progress("reading", i, max(i + 1, est or 1))
        return states, sample.ordered(), row

    @staticmethod
    def _switched(col: str, st: ColumnState, before: str, spill: _Spill, sample: _Sample) -> None:
        sample.compact()
        prev = st.previous_values
        if before == "dict" and st.mode == "num":
            table = np.full(NULL16 + 1, np.nan)
            text = pd.Series([str(v).strip() for v in prev], dtype=object)
            table[:len(prev)] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
            spill.convert(col, lambda codes: table[codes])
            if col in sample.cols:
                sample.cols[col] = table[sample.cols[col]]
            return
        spill.convert(col, None)
        if col in sample.cols:
            old = sample.cols[col]
            if before == "dict":
                objs = np.empty(NULL16 + 1, dtype=object)
                objs[:len(prev)] = prev
                sample.cols[col] = objs[old]
            else:
                sample.cols[col] = np.array([None if np.isnan(v) else v for v in old], dtype=object)

    def _sample_values(self, col: str) -> np.ndarray:
        v = self.sample.cols.get(col)
        if v is None:
            return np.empty(0)
        v = v[self.sample.cols["__present__"]]
        return np.asarray(pd.to_numeric(pd.Series(v), errors="coerce"), dtype=float)

    def _observed(self) -> dict:
        """Observed non-missing levels of each prepared column (0 when only the sample knows them)."""
        out = {}
        for p, prep in self.preps.items():
            t = self.typed[prep.source]
            st = self.states[prep.source]
            if prep.lookup is not None and t.canon is not None:
                codes = prep.lookup[np.arange(len(t.canon))]
                w = st.kept[:len(t.canon)]
                ok = codes >= 0
                c = np.bincount(codes[ok], weights=w[ok], minlength=len(prep.levels))
            elif t.exact and len(t.distinct):
                codes = prep.encode(t.distinct.to_numpy(dtype=float))
                ok = codes >= 0
                c = np.bincount(codes[ok], weights=t.kept[ok], minlength=len(prep.levels))
            else:
                out[p] = 0
                continue
            out[p] = 0 if self.roles.weight else observed_levels(prep.levels, c)
        return out

    # ------------------------------------------------------------------ pass two
    def _pass_two(self, spill: _Spill, progress) -> tuple[dict | None, float]:
        sources = self.counter().sources
        out, total = None, 0.0
        n_chunks = -(-sum(spill.chunks) // self.chunk_rows)
        for i, (m, raw) in enumerate(spill.read_chunks(sources, self.chunk_rows)):
            out, t = self.count_codes(raw, out)
            total += t
            if progress is not None:
                progress("counting", i, n_chunks)
        return out, total

    # ------------------------------------------------------------------ contexts
    @property
    def sample_complete(self) -> bool:
        return len(self.sample.rows) >= self.n_rows

    def context(self, settings, options):
        from .context import AuditContext
        return AuditContext(table=self.store, roles=self.roles, settings=settings,
                            frame=RowGuard("frame", list(self.preps)), raw=RowGuard("raw", self.columns),
                            options=options)

    def sample_raw(self) -> pd.DataFrame:
        """The row sample as :func:`biasaudit.load` would type it."""
        out = {}
        for c in self.columns:
            out[c] = _typed_values(self.typed[c], self.states[c], self.sample.cols[c])
        return pd.DataFrame(out)

    def sample_context(self, settings, options):
        """An in-memory context over the row sample (global roles and levels)."""
        if self._sample_ctx is not None:
            return self._sample_ctx
        from .context import AuditContext
        from .counts import CodedTable
        raw = self.sample_raw()
        present = np.asarray(self.sample.cols["__present__"], dtype=bool)
        codes = {p: prep.encode(self.sample.cols[prep.source][present]) for p, prep in self.preps.items()}
        w = None
        if self.roles.weight:
            w = pd.to_numeric(raw[self.roles.weight][present], errors="coerce").to_numpy(dtype=float)
        table = CodedTable(codes, self.levels, w)
        frame = {}
        for p, prep in self.preps.items():
            names = [lv for lv in prep.levels]
            miss = prep.missing_code
            c = codes[p].astype(np.int64)
            cats = names[:miss] + names[miss + 1:] if miss >= 0 else names
            c = np.where(c == miss, -1, c) if miss >= 0 else c
            frame[p] = pd.Categorical.from_codes(c, categories=cats, ordered=p in self.roles.bins)
        frame = pd.DataFrame(frame)
        if self.roles.weight:
            frame[self.roles.weight] = w
        for c in self.roles.ids:
            frame[c] = raw[c][present].to_numpy()
        self._sample_ctx = AuditContext(table=table, roles=self.roles, settings=settings, frame=frame, raw=raw,
                                        options=options)
        return self._sample_ctx

    def run(self, name: str, fn, settings, options):
        """Run a detector on the count tables; on the row sample when it needs rows."""
        try:
            return fn(self.context(settings, options))
        except RowAccessError as exc:
            self.fallbacks[name] = str(exc)
        found = fn(self.sample_context(settings, options))
        if self.sample_complete:
            return found
        note = (f"computed on a seeded uniform sample of {len(self.sample.rows):,} of {self.n_rows:,} rows "
                f"(streaming engine): approximate")
        section = None
        if isinstance(found, tuple):
            found, section = found
        found = [f.evolve(details={**(f.details or {}), "approximate": note}) for f in found]
        return (found, section) if section is not None else found

    # ------------------------------------------------------------------ report
    def dataset_info(self, source: str) -> dict:
        """The ``dataset`` block of the audit result (as ``audit._dataset_info`` builds it)."""
        roles = self.roles
        label_counts = self.store.count(roles.label)
        cols = []
        for c in self.columns:
            t = self.typed[c]
            n_u = t.n_unique_all if t.n_unique_all is not None else int(pd.Series(
                self.sample.cols[c]).nunique())
            cols.append({"name": str(c), "kind": roles.kinds.get(c, "excluded"), "n_unique": int(n_u),
                         "n_missing": int(t.n_missing_all)})
        for c, parent in roles.derived.items():
            lv = self.levels[c]
            counts = self.store.count(c).counts
            n_u = int(sum(1 for name, k in zip(lv, counts) if k > 0 and name != "(missing)"))
            cols.append({"name": c, "kind": "derived", "derived_from": parent, "n_unique": n_u,
                         "n_missing": int(self.typed[parent].null_kept)})
        return {
            "source": source, "n_rows": int(self.n_rows), "n_rows_audited": int(self.n_kept),
            "n_weighted": float(self.store.n) if roles.weight else None,
            "label": roles.label, "label_values": list(roles.label_values), "positive": roles.positive,
            "label_counts": {v: label_counts.counts[i] for i, v in enumerate(label_counts.levels[0])},
            "sensitive": list(roles.sensitive), "attributes": list(roles.attributes),
            "ids": list(roles.ids), "weight": roles.weight, "bins": dict(roles.bins),
            "derived": dict(roles.derived), "excluded": dict(roles.excluded), "notes": list(roles.notes),
            "skipped": [], "columns": cols,
        }

    def section(self, engine: str = "stream") -> dict:
        """What the engine did, for the report's method section."""
        n_s = len(self.sample.rows)
        exact_rows = self.sample_complete
        text = [f"{engine.capitalize()} engine: {self.description}, {self.n_rows:,} rows read in chunks of "
                f"{self.chunk_rows:,}; {len(self.tables)} count table(s) precomputed chunk by chunk."]
        binned = [c for c in self.roles.bins]
        if binned:
            how = [f"{c} ({'quantiles of the row sample' if any(a.startswith(c + ':') for a in self.approximate) else 'exact quantiles from a first pass'})"
                   for c in binned]
            text.append("Numeric attributes binned: " + ", ".join(how) + ".")
        if self.fallbacks:
            text.append(f"Detectors that need rows ({', '.join(self.fallbacks)}) ran on a seeded uniform sample of "
                        f"{n_s:,} rows" + (" (every row: exact)." if exact_rows else "; their findings are approximate."))
        return {"engine": engine, "chunk_rows": self.chunk_rows, "n_rows": int(self.n_rows), "sample_rows": n_s,
                "sample_complete": exact_rows, "tables": [list(t) for t in self.tables],
                "row_detectors": dict(self.fallbacks), "approximate": list(self.approximate),
                "timings": dict(self.timings), "text": text}


def _typed_values(t, st: ColumnState, raw: np.ndarray) -> pd.Series:
    """Sampled raw codes / numbers / values as the loaded column's values and dtype."""
    if t.mode == "dict":
        vals = t.distinct.tolist()
        per_code = np.empty(NULL16 + 1, dtype=object)
        per_code[:] = np.nan
        if t.canon is not None and len(t.canon):
            per_code[:len(t.canon)] = [vals[j] for j in t.canon]
        v = per_code[raw.astype(np.int64)] if len(raw) else np.empty(0, dtype=object)
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
        x = np.asarray(raw, dtype=float)
        return pd.Series(x).astype("int64" if t.int_dtype else "float64")
    v = np.asarray(raw, dtype=object)
    if st.source == "text":
        v = np.array([np.nan if (x is None or (isinstance(x, str) and (not x.strip()
                                                                      or x.lstrip(" ") in st.na_strings)))
                      else (x.strip() if isinstance(x, str) else x) for x in v], dtype=object)
        return pd.Series(v, dtype="str")
    return pd.Series([np.nan if x is None else x for x in v], dtype=object)


def scan(data, *, chunk_rows: int | None = None, sample_rows: int | None = None, encoding: str = "utf-8",
         delimiter: str | None = None, spill_dir: str | None = None, progress=None, **roles_kw) -> StreamScan:
    """Run both passes of a streaming scan over a file or a DataFrame (see the module docstring).

    Parameters
    ----------
    data : path or pandas.DataFrame
        A CSV/TSV (optionally .gz/.bz2) or Parquet file, or a DataFrame read in chunks.
    chunk_rows : int, optional
        Rows per chunk (default ``DEFAULT_CHUNK_ROWS``).
    sample_rows : int, optional
        Rows of the seeded sample for detectors that need rows (default ``DEFAULT_SAMPLE_ROWS``).
    **roles_kw
        label, sensitive, weight, ids, attributes, multi, positive, n_bins, max_levels, k_max,
        random_state: as for :func:`biasaudit.audit`.
    """
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
    if chunk_rows < 1:
        raise ValueError(f"The 'chunk_size' parameter must be a positive number of rows. Got {chunk_rows!r} instead.")
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(sample_rows)
    source = open_source(data, chunk_rows, encoding=encoding, delimiter=delimiter)
    return StreamScan.from_source(source, chunk_rows=chunk_rows, sample_rows=sample_rows, spill_dir=spill_dir,
                                  progress=progress, **roles_kw)


def engine_scan(data, *, engine: str = "stream", chunk_size: int | None = None, sample_rows: int | None = None,
                progress=None, **roles_kw):
    """The scan of the stream or dask engine (what :func:`biasaudit.audit` calls)."""
    if engine == "dask":
        from .distributed import scan_dask
        return scan_dask(data, sample_rows=sample_rows, progress=progress, **roles_kw)
    return scan(data, chunk_rows=chunk_size, sample_rows=sample_rows, progress=progress, **roles_kw)
