"""The count store: encoded count tables, added up chunk by chunk, answering any table.

Before counting, the engine *plans* the column sets the detectors read (the base plan: the
label, every attribute with the label, every attribute pair with the label; plus what each
detector declares in the registry), then *covers* them with a few wider tables (greedy set cover
under a cell budget: one ``np.bincount`` over 6 columns + label gives the 20 triples inside it).
Each chunk adds its counts to these tables; :meth:`CountStore.count` answers a planned table by
summing out the other axes of the smallest covering table, and an unplanned one by another pass
over the stored codes (``recount``), so a detector never fails on a table nobody planned.

Per-row data (``codes``, ``mask``, ``weights``) are not part of the store: a detector that needs
rows declares it reads the row sample instead (see :mod:`biasaudit.detectors`).
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import BiasAuditError
from .counts import CountTable
from .levels import MISSING

__all__ = ["CountStore", "RowAccessError", "RowGuard", "plan_tables", "cover", "count_chunk",
           "MAX_TABLE_CELLS", "observed_levels"]

#: Cell budget of one covering table (counts are int64: 2 MiB).
MAX_TABLE_CELLS = 2**18


class RowAccessError(BiasAuditError):
    """Code that reads count tables asked for row-level data (a detector declared the wrong input)."""


class _GuardedCodes(Mapping):
    """``table.codes`` of a :class:`CountStore`: membership works, the arrays do not."""

    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)

    def __getitem__(self, key):
        raise RowAccessError(f"Row-level codes of {key!r} are not in the count store; a detector that reads rows "
                             f"must declare reads='sample' in the registry.")

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __contains__(self, key) -> bool:
        return key in self._columns


class _GuardedWeights:
    """``table.weights`` of a weighted :class:`CountStore`: it says the counts are weighted, holds no rows."""

    def __array__(self, *args, **kwargs):
        raise RowAccessError("Per-row weights are not in the count store (its counts are weighted sums); a "
                             "detector that reads rows must declare reads='sample' in the registry.")


class RowGuard:
    """Stands in for ``ctx.frame`` / ``ctx.raw`` of a count-reading detector: only ``columns`` and ``attrs``."""

    def __init__(self, what: str, columns: Sequence[str], attrs: Mapping | None = None) -> None:
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_columns", list(columns))
        object.__setattr__(self, "_attrs", dict(attrs or {}))

    @property
    def columns(self):
        import pandas as pd
        return pd.Index(self._columns, dtype=object)

    @property
    def attrs(self) -> dict:
        return dict(self._attrs)

    def __getattr__(self, name):
        raise RowAccessError(f"ctx.{self._what}.{name}: rows are not available to a detector that reads counts.")

    def __getitem__(self, key):
        raise RowAccessError(f"ctx.{self._what}[{key!r}]: rows are not available to a detector that reads counts.")

    def __len__(self) -> int:
        raise RowAccessError(f"len(ctx.{self._what}): rows are not available to a detector that reads counts.")

    def __iter__(self):
        raise RowAccessError(f"iter(ctx.{self._what}): rows are not available to a detector that reads counts.")


class CountStore:
    """Count tables with the read interface of :class:`~biasaudit.engine.counts.CodedTable`.

    Parameters
    ----------
    levels : mapping of column -> tuple of level names
        The audited columns (label first).
    tables : mapping of tuple of columns -> ndarray
        The covering tables (axes in the order of the key).
    n : int or float
        Rows (or total weight) counted.
    weighted : bool
        True when the counts are sums of frequency weights.
    hidden : mapping, optional
        Columns counted but not shown (e.g. the missingness indicators ``__missing__:<c>``).
    recount : callable, optional
        ``recount(columns) -> ndarray``: counts a table no covering table holds (another pass over
        the stored codes).
    design_scale : float, optional
        Fractional weights: every count is multiplied by Kish's n_eff / sum(w) and rounded
        (:mod:`biasaudit.engine.weights`).
    """

    def __init__(self, levels: Mapping[str, tuple], tables: Mapping[tuple, np.ndarray], n,
                 weighted: bool = False, hidden: Mapping[str, tuple] | None = None,
                 recount: Callable[[tuple], np.ndarray] | None = None, design_scale: float | None = None,
                 row_sets: Mapping[str, Callable[[], dict]] | None = None) -> None:
        self.levels = dict(levels)
        self._hidden = dict(hidden or {})
        self._tables = {tuple(k): v for k, v in tables.items()}
        self._n = n
        self._weighted = bool(weighted)
        self._recount = recount
        self._scale = design_scale
        self._row_sets = dict(row_sets or {})
        self._row_cache: dict = {}
        self.codes = _GuardedCodes(self.levels)
        self._cache: dict = {}
        self.recounted: list = []

    @property
    def columns(self) -> tuple:
        return tuple(self.levels)

    @property
    def hidden(self) -> dict:
        """Counted columns not shown as attributes (name -> levels)."""
        return dict(self._hidden)

    @property
    def n(self):
        if self._scale is not None:
            return float(self._n * self._scale)
        return float(self._n) if self._weighted else int(self._n)

    @property
    def weighted(self) -> bool:
        return self._weighted

    @property
    def weights(self):
        """None for unweighted counts; a guard (not None) for weighted ones (rows are not held)."""
        return _GuardedWeights() if self._weighted else None

    @property
    def tables(self) -> dict:
        """The covering tables, keyed by their columns."""
        return dict(self._tables)

    def count(self, *columns: str) -> CountTable:
        """The contingency table over ``columns`` (any columns, any order)."""
        key = tuple(columns)
        if key in self._cache:
            return self._cache[key]
        if not columns:
            return CountTable((), (), np.array(self.n))
        unknown = [c for c in columns if c not in self.levels and c not in self._hidden]
        if unknown:
            raise KeyError(unknown[0])
        if len(set(columns)) != len(columns):
            raise ValueError(f"A table over a repeated column {columns} is not defined.")
        best = None
        for cols, arr in self._tables.items():
            if set(columns) <= set(cols) and (best is None or arr.size < best[1].size):
                best = (cols, arr)
        if best is None:
            counts = self._unplanned(key)
        else:
            cols, arr = best
            drop = tuple(i for i, c in enumerate(cols) if c not in columns)
            counts = arr.sum(axis=drop) if drop else arr
            kept = [c for c in cols if c in columns]
            counts = np.transpose(counts, [kept.index(c) for c in columns]) if kept != list(columns) else counts
        if self._scale is not None:
            counts = np.rint(counts * self._scale).astype(np.int64)
        names = {**self._hidden, **self.levels}
        table = CountTable(key, tuple(names[c] for c in columns), np.ascontiguousarray(counts))
        if len(self._cache) < 4096:
            self._cache[key] = table
        return table

    def _unplanned(self, key: tuple) -> np.ndarray:
        if self._recount is None:
            raise RowAccessError(f"No count table over {', '.join(key)} was planned and the stored codes are gone.")
        counts = self._recount(key)
        self.recounted.append(list(key))
        self._tables[key] = counts
        return counts

    def all_tables(self, columns: Sequence[str], k: int) -> dict:
        return {combo: self.count(*combo) for combo in combinations(columns, k)}

    def duplicates(self) -> dict:
        """Duplicate rows over every row, from row hash counts (:func:`biasaudit.engine.rowsets.duplicates`)."""
        return self._row_set("duplicates")

    def conflicts(self) -> dict:
        """Attribute vectors with more than one label (:func:`biasaudit.engine.rowsets.conflicts`)."""
        return self._row_set("conflicts")

    def _row_set(self, kind: str) -> dict:
        if kind not in self._row_cache:
            if kind not in self._row_sets:
                raise RowAccessError(f"Row hashes for {kind} were not counted; the detector must declare "
                                     f"hashes=({kind!r},) in the registry.")
            self._row_cache[kind] = self._row_sets[kind]()
        return self._row_cache[kind]

    def has(self, column: str) -> bool:
        """True for a column (shown or hidden) the store counts."""
        return column in self.levels or column in self._hidden

    def mask(self, **cell):
        raise RowAccessError("table.mask(): rows are not available to a detector that reads counts.")

    def add_column(self, *args, **kwargs):
        raise RowAccessError("table.add_column(): rows are not available to a detector that reads counts.")


# ----------------------------------------------------------------------------- planning
def plan_tables(roles, extra: Iterable[Iterable[str]] = ()) -> list[frozenset]:
    """The column sets to count: the label, every attribute and every attribute pair with the label,
    and the ``extra`` sets the detectors declare (:func:`biasaudit.detectors.planned_tables`)."""
    label, attrs = roles.label, list(roles.attributes)
    need: list[frozenset] = [frozenset((label,))] + [frozenset((a, label)) for a in attrs]
    need += [frozenset((a, b, label)) for a, b in combinations(attrs, 2)]
    need += [frozenset(s) for s in extra]
    return list(dict.fromkeys(need))


def cover(needed: Iterable[frozenset], sizes: Mapping[str, int], order: Sequence[str],
          max_cells: int = MAX_TABLE_CELLS) -> list[tuple]:
    """Few tables (column tuples) whose column sets contain every needed set; greedy set cover.

    Each table starts from the largest still-uncovered set and adds, one at a time, the column
    that completes the most uncovered sets while the table stays within ``max_cells`` cells
    (a set wider than that is a table of its own).  Sets are bit masks; for every uncovered set
    the number of its columns outside the growing table is kept, so a step costs the sets of
    the column added, not all sets.  Columns are ordered as in ``order``.
    """
    order = list(order)
    rank = {c: i for i, c in enumerate(order)}
    cols_of = lambda m: [order[i] for i in range(m.bit_length()) if m >> i & 1]  # noqa: E731
    logsize = [math.log2(max(1, sizes[c])) for c in order]
    budget = math.log2(max_cells) + 1e-9
    masks = sorted({sum(1 << rank[c] for c in s) for s in needed},
                   key=lambda m: (-bin(m).count("1"), [i for i in range(m.bit_length()) if m >> i & 1]))
    by_col: list[list[int]] = [[] for _ in order]
    for m in masks:
        for i in range(m.bit_length()):
            if m >> i & 1:
                by_col[i].append(m)
    uncovered = set(masks)
    tables: list[tuple] = []
    for seed in masks:
        if seed not in uncovered:
            continue
        group = seed
        used = sum(logsize[i] for i in range(seed.bit_length()) if seed >> i & 1)
        if used > budget:
            tables.append(tuple(cols_of(seed)))
            uncovered.discard(seed)
            continue
        outside = {m: bin(m & ~group).count("1") for m in uncovered}
        gain = [0] * len(order)
        for m, k in outside.items():
            if k == 1:
                gain[(m & ~group).bit_length() - 1] += 1
        while True:
            best = max((i for i in range(len(order)) if not group >> i & 1 and gain[i] > 0
                        and used + logsize[i] <= budget), key=lambda i: (gain[i], -i), default=None)
            if best is None:
                break
            group |= 1 << best
            used += logsize[best]
            for m in by_col[best]:
                k = outside.get(m)
                if k is None or k == 0:
                    continue
                outside[m] = k - 1
                if k - 1 == 1:
                    gain[(m & ~group).bit_length() - 1] += 1
                elif k - 1 == 0:
                    gain[best] -= 1
        tables.append(tuple(cols_of(group)))
        uncovered = {m for m in uncovered if m & ~group}
    return tables


def count_chunk(codes: Mapping[str, np.ndarray], sizes: Mapping[str, int], tables: Sequence[tuple],
                weights: np.ndarray | None = None, out: dict | None = None) -> dict:
    """Add one chunk's counts to ``out`` (created when None): one ``np.bincount`` per table.

    ``codes[c]`` are non-negative integer codes (< ``sizes[c]``) of equal length.
    """
    if out is None:
        out = {t: np.zeros(tuple(sizes[c] for c in t), dtype=np.float64 if weights is not None else np.int64)
               for t in tables}
    m = len(next(iter(codes.values()))) if codes else 0
    if m == 0:
        return out
    buf = np.empty(m, dtype=np.intp)
    for t in tables:
        shape = out[t].shape
        np.copyto(buf, codes[t[0]], casting="unsafe")
        for c, k in zip(t[1:], shape[1:]):
            buf *= k
            np.add(buf, codes[c], out=buf, casting="unsafe")
        size = out[t].size
        counts = np.bincount(buf, weights=weights, minlength=size)
        out[t] += counts.reshape(shape).astype(out[t].dtype, copy=False)
    return out


def observed_levels(levels: tuple, counts: np.ndarray) -> int:
    """Observed levels other than ``(missing)`` (as the coverage scan counts them)."""
    return int(sum(1 for lv, c in zip(levels, counts) if c > 0 and lv != MISSING))
