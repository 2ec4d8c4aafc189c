"""Read labelled attribute tables: CSV/TSV (delimiter sniffed), Parquet, JSON Lines, compressed CSV.

The file is only ever opened for reading.  Every failure a user can cause becomes an
:class:`~biasaudit.errors.InputFileError` with one line naming the file, the problem and the fix.
"""
from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, InputFileError
from ._checks import check_flat_records, shorten_long_text
from ._guard import open_bounded

__all__ = ["load", "SUPPORTED_SUFFIXES", "normalise_types", "text_kind", "TRUE_WORDS", "FALSE_WORDS"]

TEXT_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".data")
COMPRESSIONS = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + (".parquet", ".pq", ".jsonl", ".ndjson", ".json") + tuple(COMPRESSIONS)

#: Texts read as booleans (a column whose every non-empty value is one of these).
TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})


def load(source, *, format: str | None = None, encoding: str = "utf-8", delimiter: str | None = None,
         **read_options) -> pd.DataFrame:
    """Load a labelled table.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        A file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.jsonl``, optionally ``.gz``/``.zip``/``.bz2``/``.xz``
        compressed) or a DataFrame, which is passed through (copied, types normalised).
    format : {"csv", "parquet", "jsonl"}, optional
        Override the format guessed from the suffix.
    encoding : str, default "utf-8"
        Text encoding of delimited files (a UTF-8 byte-order mark is accepted).
    delimiter : str, optional
        Field separator; sniffed from the first 64 KiB when omitted.

    Returns
    -------
    pandas.DataFrame
        Booleans as ``bool``, numbers stored as text as numbers, empty strings as missing.

    Raises
    ------
    InputFileError
        Missing file, a directory, unknown format, an empty file, undecodable text.
    DataError
        A table with no rows or no columns.
    """
    if isinstance(source, pd.DataFrame):
        return _check_not_empty(shorten_long_text(normalise_types(source.copy())), "the DataFrame")
    from ..validation import check_encoding
    encoding = check_encoding(encoding)
    path = Path(os.fspath(source))
    if not path.exists():
        raise InputFileError(f"File not found: {path}. Check the path and try again.")
    if path.is_dir():
        raise InputFileError(
            f"{path} is a directory, not a table. Give a CSV, TSV, Parquet or JSON Lines file.")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty (0 bytes). Give a table with a header and at least one row.")
    fmt, compression = _guess_format(path, format)
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path, **read_options)
        elif fmt == "jsonl":
            with open_bounded(path, compression) as fh:
                df = pd.read_json(io.TextIOWrapper(fh, encoding=_codec(encoding)), lines=True, **read_options)
            check_flat_records(df, path)
        else:
            df = _read_delimited(path, compression, encoding, delimiter, **read_options)
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path} is not valid {encoding} text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}). "
            f"Re-save it as UTF-8 or pass --encoding (for example --encoding latin-1).") from exc
    except InputFileError:
        raise
    except (pd.errors.EmptyDataError,) as exc:
        raise InputFileError(f"{path} has no columns. Give a table with a header row.") from exc
    except (pd.errors.ParserError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"Cannot read {path} as {fmt}: {first}. Check the file format.") from exc
    except Exception as exc:  # pyarrow raises its own hierarchy
        if type(exc).__module__.startswith("pyarrow"):
            raise InputFileError(f"Cannot read {path} as {fmt}: {str(exc).splitlines()[0]}.") from exc
        raise
    return _check_not_empty(shorten_long_text(normalise_types(df)), str(path))


def _guess_format(path: Path, fmt: str | None) -> tuple[str, str | None]:
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = COMPRESSIONS[suffixes[-1]]
        suffixes = suffixes[:-1]
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in ("csv", "tsv", "parquet", "jsonl"):
            raise InputFileError(f"Unknown format {fmt!r}. Use csv, tsv, parquet or jsonl.")
        return ("csv" if fmt == "tsv" else fmt), compression
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq"):
        return "parquet", compression
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl", compression
    if last in TEXT_SUFFIXES or (compression and last == ""):
        return "csv", compression
    if compression == "zip" or compression is not None:
        return "csv", compression
    raise InputFileError(
        f"Unknown file format for {path} (suffix {path.suffix or 'none'!r}). "
        f"Use .csv, .tsv, .parquet or .jsonl (optionally .gz, .bz2, .xz or .zip compressed): rename the file if it "
        f"holds one of these.")


def _head_text(path: Path, compression: str | None, encoding: str, size: int = 65536) -> str:
    with open_bounded(path, compression) as fh:
        raw = fh.read(size)
    return _decode_prefix(raw, _codec(encoding), truncated=len(raw) == size)


def _codec(encoding: str) -> str:
    """UTF-8 is read as utf-8-sig so that a byte-order mark does not end up in the first column name."""
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding


def _decode_prefix(raw: bytes, encoding: str, truncated: bool) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        # a multi-byte character may be cut by the end of the sample: that is not an error
        if truncated and exc.start >= len(raw) - 4:
            return raw[: exc.start].decode(encoding)
        raise


def _read_delimited(path, compression, encoding, delimiter, **read_options) -> pd.DataFrame:
    head = _head_text(path, compression, encoding)
    if not head.strip():
        raise InputFileError(f"{path} holds only whitespace. Give a table with a header and at least one row.")
    if delimiter is None:
        delimiter = sniff_delimiter(head, tab_default=path.suffix.lower() in (".tsv", ".tab"))
    with open_bounded(path, compression) as fh:
        return pd.read_csv(fh, sep=delimiter, encoding=_codec(encoding), skipinitialspace=True, low_memory=False,
                           **read_options)


def sniff_delimiter(text: str, tab_default: bool = False) -> str:
    """Guess the field separator from a sample of the file (``csv.Sniffer`` over , ; tab | and space)."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        pass
    counts = {d: lines[0].count(d) for d in ",;\t|"} if lines else {}
    best = max(counts, key=counts.get) if counts else ","
    if counts and counts[best] > 0:
        return best
    if lines and len(lines[0].split()) > 1:
        return r"\s+"
    return "\t" if tab_default else ","


def normalise_types(df: pd.DataFrame) -> pd.DataFrame:
    """Normalise column names and types without losing information.

    Column names are stripped of surrounding whitespace; text columns have surrounding
    whitespace stripped, empty strings become missing, "true"/"false" become booleans and
    columns whose every value is a number written as text become numeric.
    """
    df.columns = [str(c).strip() for c in df.columns]
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        # work on the distinct values only: fast on millions of rows with few levels
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        if len(uniques) and not all(isinstance(u, str) for u in uniques):
            continue  # mixed Python objects: leave them as they are
        stripped = pd.Index(uniques, dtype=object).str.strip()
        nonempty = np.asarray(stripped != "")
        if not nonempty.any():
            df.isetitem(i, pd.Series(np.nan, index=s.index, dtype=object))
            continue
        kind, numbers = text_kind(list(stripped[nonempty]))
        if kind == "bool":
            mapped = np.array([True if v in TRUE_WORDS else (False if v in FALSE_WORDS else pd.NA) for v in stripped]
                              + [pd.NA], dtype=object)
            df.isetitem(i, pd.Series(mapped[codes], index=s.index).astype("boolean"))
            continue
        if kind == "num":
            x = np.full(len(stripped) + 1, np.nan)
            x[np.flatnonzero(nonempty)] = numbers
            df.isetitem(i, pd.Series(x[codes], index=s.index))
            continue
        if (stripped != pd.Index(uniques, dtype=object)).any():
            fixed = np.array([v if v != "" else np.nan for v in stripped] + [np.nan], dtype=object)
            df.isetitem(i, pd.Series(fixed[codes], index=s.index, dtype=object))
    return df


def text_kind(values: list) -> tuple[str, np.ndarray | None]:
    """How a text column is typed, from its distinct stripped non-empty values (one rule for every source).

    ``("bool", None)`` when every value is a true/false word, ``("num", numbers)`` when every
    value parses as a number, else ``("text", None)``.
    """
    if values and set(values) <= (TRUE_WORDS | FALSE_WORDS):
        return "bool", None
    num = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    if len(num) and not np.isnan(num).any():
        return "num", num
    return "text", None


def _check_not_empty(df: pd.DataFrame, where: str) -> pd.DataFrame:
    if df.shape[1] == 0:
        raise DataError(f"{where} has no columns. Give a table with a header row.")
    if df.shape[0] == 0:
        raise DataError(f"{where} has a header but no rows. An audit needs at least one labelled row.")
    return df
