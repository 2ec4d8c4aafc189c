"""Whole rows by hashing: exact duplicate rows and attribute vectors with conflicting labels.

A row's columns are turned into canonical 64-bit value ids (a dictionary column's typed value,
a number's bits, a high-cardinality column's value hash), combined into one 64-bit row hash per
row (each column's id, offset by a column constant, xor-ed in and mixed by splitmix64's finaliser), and the
hashes are counted chunk by chunk (hash tables, linear in the rows), keeping each key's first row.
Two rows have the same hash when their values are equal (missing equals missing); distinct rows
collide with probability about ``n**2 / 2**65``.
"""
from __future__ import annotations

import numpy as np


__all__ = ["value_ids", "row_hash", "group_sum", "merge_groups", "GroupAccumulator", "label_key", "RowKeyer",
           "DenseGroups", "DENSE_CELLS"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection on 64-bit integers), in place."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def id_table(canon: np.ndarray | None) -> np.ndarray:
    """Stored dictionary code -> value id (the typed distinct value's index; the last entry, 2**63, for
    missing): index it with ``np.minimum(codes, len(table) - 1)``."""
    canon = np.zeros(0, dtype=np.int64) if canon is None else canon
    return np.append(canon.astype(np.uint64), np.uint64(2**63))


def value_ids(stored: np.ndarray, canon: np.ndarray | None, table: np.ndarray | None = None) -> np.ndarray:
    """Canonical uint64 id of each row's value in one stored column (missing values share one id).

    ``stored`` is what pass one kept: uint16 dictionary codes (``canon`` maps a code to its typed
    distinct value, so raw values that type alike, " a" and "a", get one id), float64 numbers
    (their bits; every NaN one id) or uint64 value hashes.
    """
    if stored.dtype == np.uint16:
        table = id_table(canon) if table is None else table
        return table[np.minimum(stored, len(table) - 1)]
    if stored.dtype == np.float64:
        x = stored.copy()
        x[np.isnan(x)] = np.nan
        x[x == 0] = 0.0  # -0.0 == 0.0
        return x.view(np.uint64)
    return np.asarray(stored, dtype=np.uint64)


def label_key(vector: np.ndarray, y: np.ndarray, n_labels: int) -> tuple[np.ndarray, int]:
    """One uint64 key per (vector hash, label code): the label in the low bits; also the bit count."""
    bits = max(1, int(n_labels - 1).bit_length())
    with np.errstate(over="ignore"):
        return (vector << np.uint64(bits)) | y.astype(np.uint64), bits


def row_hash(columns: list) -> np.ndarray:
    """One uint64 hash per row of the value ids in ``columns`` (a list of equal-length arrays)."""
    h = np.zeros(len(columns[0]) if columns else 0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j, ids in enumerate(columns):  # h <- mix(h xor (id + c_j)): a bijection at every step
            h ^= ids + np.uint64(j + 1) * _GOLD
            _mix(h)
    return h


def _first_positions(codes: np.ndarray) -> np.ndarray:
    """Row of the first occurrence of each code, for codes numbered in order of first appearance."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    top = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    new[1:] = top[1:] > top[:-1]
    return np.flatnonzero(new)


def group_sum(keys: np.ndarray, weights: np.ndarray | None = None, offset: int = 0):
    """Distinct keys (in order of first appearance), their row counts, weight sums and first rows.

    Hash-based (``pandas.factorize``), linear in the rows.  Without weights the sums are the row
    counts.  ``offset`` is the position of the chunk's first row in the whole data.
    """
    import pandas as pd
    keys = np.asarray(keys, dtype=np.uint64)
    codes, uniq = pd.factorize(keys)
    rows = np.bincount(codes, minlength=len(uniq)).astype(np.int64)
    sums = rows if weights is None else np.bincount(codes, weights=weights, minlength=len(uniq))
    return np.asarray(uniq, dtype=np.uint64), rows, sums, _first_positions(codes) + int(offset)


def merge_groups(parts: list):
    """Combine ``group_sum`` results of several chunks given in row order (first rows: the earliest)."""
    import pandas as pd
    parts = [p for p in parts if len(p[0])]
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), z, z, z
    if len(parts) == 1:
        return parts[0]
    codes, uniq = pd.factorize(np.concatenate([p[0] for p in parts]))
    k = len(uniq)
    rows = np.rint(np.bincount(codes, weights=np.concatenate([p[1] for p in parts]), minlength=k)).astype(np.int64)
    weighted = any(p[2] is not p[1] for p in parts)
    sums = rows if not weighted else np.bincount(codes, weights=np.concatenate([p[2] for p in parts]), minlength=k)
    # parts come in row order: a key's first occurrence in the concatenation holds its first row
    first = np.concatenate([p[3] for p in parts])[_first_positions(codes)]
    return np.asarray(uniq, dtype=np.uint64), rows, sums, first


class GroupAccumulator:
    """``group_sum`` results of many chunks, merged when the pending parts outgrow the merged table."""

    def __init__(self) -> None:
        self.merged = merge_groups([])
        self.pending: list = []
        self.n_pending = 0

    def add(self, part) -> None:
        self.pending.append(part)
        self.n_pending += len(part[0])
        if self.n_pending > max(len(self.merged[0]), 1 << 22):
            self.flush()

    def flush(self):
        if self.pending:
            self.merged = merge_groups([self.merged] + self.pending)
            self.pending, self.n_pending = [], 0
        return self.merged


#: Largest product of column cardinalities for which whole rows are keyed by their exact cell number
#: (mixed radix) and counted in a dense array instead of hashed (64 MiB of int64 counts).
DENSE_CELLS = 1 << 23


class RowKeyer:
    """One uint64 key per row of ``columns``: the exact cell number when the product of the columns'
    cardinalities (missing included) is at most :data:`DENSE_CELLS` and twice the rows, else the row hash.

    Parameters
    ----------
    columns : list of str
    typed : mapping of column -> TypedColumn
        Every value of a dictionary column is one of its typed distinct values; a number column
        with exact value counts has its distinct values; other columns are hashed.
    """

    def __init__(self, columns, typed, extra: int = 1, n_rows: int | None = None) -> None:
        self.columns = list(columns)
        self.canon = {c: typed[c].canon for c in self.columns}
        self.tables = {c: id_table(typed[c].canon) for c in self.columns if typed[c].mode == "dict"}
        radix, luts = [], {}
        for c in self.columns:
            t = typed[c]
            missing = 1 if t.n_missing_all > 0 else 0  # a level of its own when present
            if t.mode == "dict" and t.canon is not None:
                k = int(t.canon.max()) + 1 if len(t.canon) else 0
                luts[c] = ("codes", np.append(t.canon.astype(np.int64), k))  # the last entry: missing
                radix.append(max(k + missing, 1))
            elif t.mode == "num" and t.exact:
                vals = np.unique(t.distinct.to_numpy(dtype=float))
                luts[c] = ("values", vals)
                radix.append(max(len(vals) + missing, 1))
            else:
                radix = None
                break
        cells = int(extra)  # room for ``extra`` values per cell (e.g. the label, joined in later)
        for r in radix or []:
            cells *= r
        limit = DENSE_CELLS if n_rows is None else min(DENSE_CELLS, 2 * int(n_rows))  # never larger than the data
        self.dense = radix is not None and cells <= limit
        self.cells = cells if self.dense else None  # keys of this keyer times ``extra`` stay below cells
        self.luts, self.radix = luts, radix

    def ids(self, stored: dict, c: str) -> np.ndarray:
        """Value ids of column ``c`` of a stored chunk (see :func:`value_ids`)."""
        return value_ids(stored[c], self.canon[c], self.tables.get(c))

    def __call__(self, stored: dict) -> np.ndarray:
        if not self.dense:
            return row_hash([self.ids(stored, c) for c in self.columns])
        key = None
        for c, r in zip(self.columns, self.radix):
            kind, lut = self.luts[c]
            if kind == "codes":
                code = lut[np.minimum(stored[c], len(lut) - 1)]
            else:
                x = stored[c]
                code = np.searchsorted(lut, x).astype(np.int64)
                code[np.isnan(x)] = len(lut)
            key = code if key is None else key * r + code
        if key is None:
            key = np.zeros(0, dtype=np.int64)
        return key.astype(np.uint64)


class DenseGroups:
    """Counts, weight sums and first rows of keys ``0 .. cells - 1``, added chunk by chunk.

    Counts and first rows are int32 (rows < 2**31); used only when the cells are at most twice the
    rows (:class:`RowKeyer`), so a chunk's ``bincount`` over every cell costs no more than its rows.
    """

    _NONE = np.iinfo(np.int32).max

    def __init__(self, cells: int, weighted: bool) -> None:
        self.rows = np.zeros(cells, dtype=np.int32)
        self.sums = np.zeros(cells) if weighted else None
        self.first = np.full(cells, self._NONE, dtype=np.int32)

    def add(self, part) -> None:
        _, keys, weights, positions = part
        if not len(keys):
            return
        keys = keys.astype(np.intp)
        cells = len(self.rows)
        np.add(self.rows, np.bincount(keys, minlength=cells), out=self.rows, casting="unsafe")
        if self.sums is not None:
            self.sums += np.bincount(keys, weights=weights, minlength=cells)
        new = self.first[keys] == self._NONE  # chunks come in row order: a key's first chunk holds its first row
        self.first[keys[new][::-1]] = positions[new][::-1]  # reversed: the earliest row is written last

    def flush(self):
        nz = np.flatnonzero(self.rows)
        rows = self.rows[nz].astype(np.int64)
        sums = rows if self.sums is None else self.sums[nz]
        return nz.astype(np.uint64), rows, sums, self.first[nz].astype(np.int64)
