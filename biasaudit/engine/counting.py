"""Pass two: a chunk of stored codes -> counts of the planned tables and of whole-row keys.

:class:`CountTask` encodes a chunk's stored codes into level codes (dropping rows without a label),
adds them into the covering tables (:func:`biasaudit.engine.store.count_chunk`) and, when asked,
keys whole rows (:class:`biasaudit.engine.rowhash.RowKeyer`) for duplicates and conflicting labels.
:class:`Totals` adds the chunks' results up.  Both are small and picklable (dask ships them).
"""
from __future__ import annotations

import numpy as np

from .rowhash import DenseGroups, GroupAccumulator, group_sum, label_key
from .store import count_chunk

__all__ = ["WeightReader", "CountTask", "Totals"]


class WeightReader:
    """Per-row weights of a stored chunk divided by ``unit`` (a power of two: exact): None without a weight
    column.  The unit keeps sums of weights near the float limits finite (:func:`~.weights.weight_scale`)."""

    def __init__(self, column: str | None, table: np.ndarray | None, unit: float = 1.0) -> None:
        self.column, self.unit = column, float(unit)
        self.table = table / self.unit if table is not None and self.unit != 1.0 else table

    def __call__(self, stored: dict) -> np.ndarray | None:
        if not self.column:
            return None
        r = stored[self.column]
        if r.dtype == np.uint16 and self.table is not None:
            return self.table[r]
        w = np.asarray(r, dtype=float)
        return w / self.unit if self.unit != 1.0 else w


class CountTask:
    """Pass two on one chunk of stored codes: table counts, weight sums and (when asked) row hash counts."""

    def __init__(self, scan, tables, hashes) -> None:
        self.preps = {**scan.preps, **scan.indicators}
        self.sizes = {c: scan.sizes[c] for t in tables for c in t}
        self.tables = list(tables)
        self.label = scan.roles.label
        self.weights = scan.weight_reader()
        self.hashes = tuple(hashes)
        self.keyers = scan.keyers(hashes)

    def empty(self) -> dict:
        return {"tables": None, "n": 0.0, "w2": 0.0}

    def __call__(self, offset: int, m: int, stored: dict) -> dict:
        w = self.weights(stored)
        out = {}
        if "duplicates" in self.keyers:
            keyer = self.keyers["duplicates"]
            h = keyer(stored)
            ok = np.arange(m) if w is None else np.flatnonzero(w > 0)  # rows of weight 0 are left out
            out["duplicates"] = _groups(keyer, h[ok], None, ok + offset)
        y = self.preps[self.label].encode(stored[self.label])
        keep = y >= 0
        if "conflicts" in self.keyers:
            keyer = self.keyers["conflicts"]
            key, _ = label_key(keyer(stored), y.clip(0), len(self.preps[self.label].levels))
            kept = np.flatnonzero(keep)
            out["conflicts"] = _groups(keyer, key[kept], None if w is None else w[kept], kept + offset)
        needed = dict.fromkeys(c for t in self.tables for c in t)
        codes = {c: (y if c == self.label else self.preps[c].encode(stored[self.preps[c].source])) for c in needed}
        if not keep.all():
            codes = {c: x[keep] for c, x in codes.items()}
            w = w[keep] if w is not None else None
        out["tables"] = count_chunk(codes, self.sizes, self.tables, w)
        out["n"] = float(w.sum()) if w is not None else int(keep.sum())
        out["w2"] = float(np.dot(w, w)) if w is not None else 0.0
        return out


def _groups(keyer, keys: np.ndarray, weights, positions: np.ndarray):
    """A chunk's row keys for the accumulator: raw for dense keys, else grouped (hash table)."""
    if keyer.dense:
        return ("dense", keys, weights, positions)
    u, rows, sums, first = group_sum(keys, weights)
    return u, rows, sums, positions[first]


class Totals:
    """Pass-two results of many chunks added up (tables, totals; row key counts merged)."""

    def __init__(self, keyers: dict, weighted: bool = False) -> None:
        self.tables, self.n, self.w2 = None, 0.0, 0.0
        self.groups = {k: (DenseGroups(kr.cells, weighted and k == "conflicts") if kr.dense else GroupAccumulator())
                       for k, kr in keyers.items()}

    def add(self, part: dict) -> None:
        if part["tables"] is not None:
            if self.tables is None:
                self.tables = part["tables"]
            else:
                for k, v in part["tables"].items():
                    self.tables[k] += v
        self.n += part["n"]
        self.w2 += part["w2"]
        for k, acc in self.groups.items():
            acc.add(part[k])

    def result(self) -> dict:
        out = {"tables": self.tables, "n": self.n, "w2": self.w2}
        out.update(self.groups)  # read by rowsets.summarize (then released)
        return out


