"""Where the engine's chunks come from: files read in chunks, DataFrames.

* Sources: a CSV/TSV file (pyarrow's streaming reader, every column read as text so that types
  are decided over the whole column, as :func:`biasaudit.load` decides them; 1 MiB blocks), a
  Parquet file (record batches; string columns arrive dictionary-encoded, read straight into
  codes) or a pandas DataFrame (slices).  Each chunk is normalised to, per column, either
  ``("dict", local_values, codes)`` or ``("num", float64 values)``.
Where the chunks go between the passes (stored codes, the row sample): :mod:`biasaudit.engine.spill`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from .._safe import shorten
from .summaries import CSV_NA_STRINGS
from ..errors import InputFileError

__all__ = ["Source", "open_source", "frame_kinds", "chunks_of", "pandas_column", "stream_format", "frame_source",
           "column_name"]

#: Bytes pyarrow's CSV reader parses at a time (larger blocks raise its peak memory, not its speed).
_CSV_BLOCK_BYTES = 1 << 20
_STREAM_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".data", ".parquet", ".pq")


def stream_format(path: Path) -> tuple[str, str | None] | None:
    """``("csv", compression)`` or ``("parquet", None)`` for files the engine streams, else None."""
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


def column_name(c) -> str:
    """A column's name as the engine shows it: stripped, and shortened past 120 characters (as the loader does)."""
    return shorten(str(c).strip())


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
    frame: pd.DataFrame | None = None  # the DataFrame a frame source reads (its attrs and index)


def _arrow_column(arr) -> tuple:
    """One arrow column as ``("dict", values, codes)`` (codes -1 missing) or ``("num", float64)``."""
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
    from ..limits import current
    from ..loaders._guard import open_bounded
    from ..loaders.tables import _codec, _head_text, sniff_delimiter
    limits = current()  # read here: the chunks may be read in another thread
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
        name = column_name(raw)
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
        src = open_bounded(path, compression, limits=limits) if compression else str(path)  # bounded
        try:
            reader = pacsv.open_csv(src, read_options=read, parse_options=parse, convert_options=conv)
        except pa.ArrowInvalid as exc:
            raise InputFileError(f"Cannot read {path} as csv: {str(exc).splitlines()[0]}.") from exc
        pending, n_pending = [], 0
        target = min(chunk_rows, _MIN_CHUNK_ROWS)  # small parse blocks, fewer (larger) chunks to encode
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError, EOFError) as exc:
                raise InputFileError(f"Cannot read {path} as csv: {str(exc).splitlines()[0]}.") from exc
            pending.append(batch)
            n_pending += batch.num_rows
            if n_pending >= target:
                yield from _slices(pending, chunk_rows, names)
                pending, n_pending = [], 0
        if pending:
            yield from _slices(pending, chunk_rows, names)

    lines = max(1, len(head.splitlines()) - 1)
    per_row = max(1.0, len(head.encode("utf-8", "replace")) / (lines + 1))
    factor = 1 if compression is None else 4  # a guess for compressed files
    return Source(names, {c: "text" for c in names}, {c: None for c in names}, chunks, CSV_NA_STRINGS,
                  path.stat().st_size, f"CSV file, delimiter {delimiter!r}",
                  rows_estimate=int(path.stat().st_size * factor / per_row))


#: Rows gathered from the CSV reader's small blocks before a chunk is encoded.
_MIN_CHUNK_ROWS = 1 << 18


def _slices(batches: list, chunk_rows: int, names: list):
    """Gathered record batches as encoded chunks of at most ``chunk_rows`` rows."""
    import pyarrow as pa
    table = pa.Table.from_batches(batches).combine_chunks()
    for start in range(0, table.num_rows, chunk_rows):
        part = table.slice(start, chunk_rows)
        yield part.num_rows, dict(zip(names, _encode_columns([c.combine_chunks() for c in part.columns])))


def _parquet_source(path: Path, chunk_rows: int) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(str(path))
    schema = pf.schema_arrow
    names = [column_name(f.name) for f in schema]
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


def pandas_column(s: pd.Series, kind: str) -> tuple:
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
        yield len(part), {column_name(c): pandas_column(part[c], kinds[c]) for c in cols}


def frame_source(df: pd.DataFrame, chunk_rows: int, description: str = "DataFrame") -> Source:
    """A pandas DataFrame as a source: one chunk, or a few of ``chunk_rows`` rows for a large frame."""
    from ..errors import DataError
    if df.shape[1] == 0:
        raise DataError("the DataFrame has no columns. Give a table with a header row.")
    if len(df) == 0:
        raise DataError("the DataFrame has a header but no rows. An audit needs at least one labelled row.")
    kinds, dtypes = frame_kinds(df)
    names = [column_name(c) for c in df.columns]
    return Source(names, {column_name(c): k for c, k in kinds.items()},
                  {column_name(c): d for c, d in dtypes.items()}, lambda: chunks_of(df, chunk_rows, kinds),
                  frozenset(), None, description, rows_estimate=len(df), frame=df)


def open_source(data, chunk_rows: int, encoding: str = "utf-8", delimiter: str | None = None) -> Source:
    """A :class:`Source` for a file path or a pandas DataFrame."""
    if isinstance(data, pd.DataFrame):
        return frame_source(data, chunk_rows)
    path = Path(os.fspath(data))
    if not path.exists():
        raise InputFileError(f"File not found: {path}. Check the path and try again.")
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a table. Give a CSV, TSV or Parquet file.")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty (0 bytes). Give a table with a header and at least one row.")
    fmt = stream_format(path)
    if fmt is None:
        raise InputFileError(f"The streaming engine reads CSV/TSV (optionally .gz/.bz2) and Parquet files; "
                             f"{path.name} is neither. Use engine='memory'.")
    if fmt[0] == "parquet":
        return _parquet_source(path, chunk_rows)
    return _csv_source(path, fmt[1], chunk_rows, encoding, delimiter)
