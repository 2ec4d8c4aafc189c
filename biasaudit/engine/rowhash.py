"""Whole rows by hashing: exact duplicate rows and attribute vectors with conflicting labels.

A row's columns are turned into canonical 64-bit value ids (a dictionary column's typed value,
a number's bits, a high-cardinality column's value hash), mixed into one 64-bit row hash per
row (splitmix64 finaliser per value, combined with a per-column constant), and the hashes are
counted chunk by chunk.  Two rows have the same hash when their values are equal (missing equals
missing); distinct rows collide with probability about ``n**2 / 2**65``.
"""
from __future__ import annotations

import numpy as np

from .summaries import NULL16

__all__ = ["value_ids", "row_hash", "group_sum", "merge_groups", "GroupAccumulator", "label_key"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection on 64-bit integers)."""
    x = x.copy()
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
        for j, ids in enumerate(columns):
            h = _mix(h * _GOLD + _mix(ids + np.uint64(j + 1) * _GOLD))
    return h


def group_sum(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys (sorted), their row counts and their weight sums (row counts without weights)."""
    keys = np.asarray(keys, dtype=np.uint64)
    if weights is None:
        u, rows = np.unique(keys, return_counts=True)
        return u, rows.astype(np.int64), rows.astype(float)
    u, inv, rows = np.unique(keys, return_inverse=True, return_counts=True)
    return u, rows.astype(np.int64), np.bincount(inv, weights=weights, minlength=len(u))


def merge_groups(parts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine ``group_sum`` results of several chunks."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([p[0] for p in parts])
    u, inv = np.unique(keys, return_inverse=True)
    rows = np.bincount(inv, weights=np.concatenate([p[1] for p in parts]).astype(float), minlength=len(u))
    sums = np.bincount(inv, weights=np.concatenate([p[2] for p in parts]), minlength=len(u))
    return u, np.rint(rows).astype(np.int64), sums


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
