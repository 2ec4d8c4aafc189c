"""The counting engine: encode every used column to integer codes once, then count any
1-, 2- or 3-way contingency table with one ``np.bincount`` on combined codes.

Detectors read nothing but these tables.  A :class:`CountTable` knows its level names, so
tables counted on different chunks of a file (or on different workers) add up with ``+``.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .levels import MISSING

__all__ = ["CountTable", "CodedTable", "encode", "encode_column"]


@dataclass(frozen=True)
class CountTable:
    """A contingency table over ``columns`` with named ``levels`` on each axis.

    ``counts[i, j, ...]`` is the number (or total weight) of rows with
    ``columns[0] == levels[0][i]`` and ``columns[1] == levels[1][j]`` ...
    """

    columns: tuple
    levels: tuple
    counts: np.ndarray

    @property
    def n(self) -> float:
        return self.counts.sum()

    def __add__(self, other: "CountTable") -> "CountTable":
        if self.columns != other.columns:
            raise ValueError(f"Cannot add tables over {self.columns} and {other.columns}.")
        levels = tuple(tuple(dict.fromkeys(a + b)) for a, b in zip(self.levels, other.levels))
        out = np.zeros(tuple(len(l) for l in levels), dtype=np.result_type(self.counts, other.counts))
        for t in (self, other):
            idx = np.ix_(*[[lv.index(x) for x in tl] for lv, tl in zip(levels, t.levels)])
            out[idx] += t.counts
        return CountTable(self.columns, levels, out)

    def margin(self, *columns: str) -> "CountTable":
        """Sum out every column not named."""
        axes = tuple(i for i, c in enumerate(self.columns) if c not in columns)
        keep = [i for i, c in enumerate(self.columns) if c in columns]
        return CountTable(tuple(self.columns[i] for i in keep), tuple(self.levels[i] for i in keep),
                          self.counts.sum(axis=axes))

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per cell with a ``n`` column."""
        index = pd.MultiIndex.from_product(self.levels, names=self.columns)
        return pd.DataFrame({"n": self.counts.reshape(-1)}, index=index).reset_index()


def encode_column(values: pd.Series) -> tuple[np.ndarray, tuple]:
    """Integer codes and level names of one column; missing values become the level ``(missing)``.

    Ordered categoricals (numeric bins) keep their order; other levels are sorted as text.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in values.cat.categories]
        raw = values.cat.codes.to_numpy()
    else:
        raw, uniques = pd.factorize(values, use_na_sentinel=True)
        names = np.array([str(u) for u in uniques], dtype=object)
        order = np.argsort(names, kind="stable")
        cats = [str(x) for x in names[order]]
        if not np.array_equal(order, np.arange(len(order))):
            rank = np.empty(len(order) + 1, dtype=np.int64)
            rank[order] = np.arange(len(order))
            rank[-1] = -1
            raw = rank[raw]  # -1 (missing) indexes the last entry, which stays -1
    dtype = np.int32 if len(cats) < 2**31 - 1 else np.int64
    if len(raw) and raw.min() < 0:
        codes = np.where(raw < 0, len(cats), raw).astype(dtype)
        cats = cats + [MISSING]
    else:
        codes = raw.astype(dtype, copy=False)
    return codes, tuple(cats)


class CodedTable:
    """Every used column as integer codes, read once; counts any cross-table on demand.

    Parameters
    ----------
    codes : mapping of column -> int array
    levels : mapping of column -> tuple of level names
    weights : array, optional
        Frequency weights (e.g. an aggregated table's count column).
    """

    def __init__(self, codes: Mapping[str, np.ndarray], levels: Mapping[str, tuple],
                 weights: np.ndarray | None = None) -> None:
        self.codes = dict(codes)
        self.levels = dict(levels)
        self.weights = None if weights is None else np.asarray(weights, dtype=float)
        lengths = {len(c) for c in self.codes.values()}
        if len(lengths) > 1:
            raise ValueError("All coded columns must have the same length.")
        self.n_rows = lengths.pop() if lengths else 0
        self._cache: dict = {}

    @property
    def columns(self) -> tuple:
        return tuple(self.codes)

    @property
    def n(self) -> float:
        """Total count (sum of weights when weighted)."""
        return float(self.weights.sum()) if self.weights is not None else self.n_rows

    def count(self, *columns: str) -> CountTable:
        """The contingency table over ``columns`` (any order, any number).

        Combined codes ``c0 * k1 * k2 + c1 * k2 + c2`` are counted by a single ``np.bincount``.
        """
        key = tuple(columns)
        if key in self._cache:
            return self._cache[key]
        shape = tuple(len(self.levels[c]) for c in columns)
        if not columns:
            counts = np.array(self.n)
        else:
            combined = self.codes[columns[0]].astype(np.int64)
            for c, k in zip(columns[1:], shape[1:]):
                combined *= k
                combined += self.codes[c]
            size = int(np.prod(shape))
            counts = np.bincount(combined, weights=self.weights, minlength=size).reshape(shape)
            if self.weights is None:
                counts = counts.astype(np.int64)
        table = CountTable(key, tuple(self.levels[c] for c in columns), counts)
        if len(self._cache) < 4096:
            self._cache[key] = table
        return table

    def all_tables(self, columns: Sequence[str], k: int) -> dict:
        """Every k-way table over ``columns``."""
        return {combo: self.count(*combo) for combo in combinations(columns, k)}

    def mask(self, **cell) -> np.ndarray:
        """Boolean row mask of a cell, e.g. ``mask(size="small", color="white")``."""
        out = np.ones(self.n_rows, dtype=bool)
        for col, value in cell.items():
            out &= self.codes[col] == self.levels[col].index(str(value))
        return out

    def add_column(self, name: str, codes: np.ndarray, levels: tuple) -> None:
        """Add an already coded column (e.g. a missingness indicator)."""
        if len(codes) != self.n_rows:
            raise ValueError("Length mismatch.")
        self.codes[name] = np.asarray(codes)
        self.levels[name] = tuple(levels)


def encode(frame: pd.DataFrame, columns: Iterable[str], weight: str | None = None) -> CodedTable:
    """Encode ``columns`` of ``frame`` once."""
    codes, levels = {}, {}
    for c in columns:
        codes[c], levels[c] = encode_column(frame[c])
    weights = frame[weight].to_numpy(dtype=float) if weight is not None else None
    return CodedTable(codes, levels, weights)
