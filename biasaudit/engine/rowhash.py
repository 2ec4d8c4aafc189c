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

from .summaries import NULL16

__all__ = ["value_ids", "row_hash", "group_sum", "merge_groups", "GroupAccumulator", "label_key"]

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


def value_ids(stored: np.ndarray, canon: np.ndarray | None) -> np.ndarray:
    """Canonical uint64 id of each row's value in one stored column (missing values share one id).

    ``stored`` is what pass one kept: uint16 dictionary codes (``canon`` maps a code to its typed
    distinct value, so raw values that type alike, " a" and "a", get one id), float64 numbers
    (their bits; every NaN one id) or uint64 value hashes.
    """
    if stored.dtype == np.uint16:
        table = np.full(NULL16 + 1, np.uint64(2**63), dtype=np.uint64)
        if canon is not None and len(canon):
            table[:len(canon)] = canon.astype(np.uint64)
        return table[stored]
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
