"""Count tables precomputed chunk by chunk, served like :class:`biasaudit.counts.CodedTable`.

The streaming and Dask engines never hold the rows.  Before counting they *plan* which
contingency tables the detectors will ask for (every attribute pair with the label, and every
triple of few-level attributes with the label when the coverage scan goes to k = 3), then
*cover* those column sets with a few wider tables (greedy set cover under a cell budget:
one ``np.bincount`` over 6 columns + label gives the 20 triples inside it).  Each chunk adds
its counts to these tables; :meth:`CountStore.count` answers any table inside one of them by
summing out the other axes.

Anything that needs rows (``codes``, ``mask``, ``n_rows``, weights of a weighted table) raises
:class:`RowAccessError`; a table no precomputed table contains raises
:class:`NotPrecomputedError`.  The audit then runs that detector on the seeded row sample.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Iterable, Mapping, Sequence

import numpy as np

from .counts import CountTable
from ..errors import BiasAuditError
from .roles import MISSING

__all__ = ["CountStore", "RowAccessError", "NotPrecomputedError", "RowGuard", "plan_tables", "cover",
           "count_chunk", "MAX_TABLE_CELLS"]

#: Cell budget of one covering table (counts are int64: 2 MiB).
MAX_TABLE_CELLS = 2**18
#: Above this many needed column sets the 3-way sets are not precomputed at all.
_MAX_SETS = 20000


class RowAccessError(BiasAuditError):
    """A detector asked for row-level data, which the streaming engine does not hold."""


class NotPrecomputedError(RowAccessError):
    """A detector asked for a count table the streaming engine did not precompute."""


class _GuardedCodes(Mapping):
    """``table.codes`` of a :class:`CountStore`: membership works, the arrays do not."""

    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)

    def __getitem__(self, key):
        raise RowAccessError(f"Row-level codes of {key!r} are not held by the streaming engine; "
                             f"only count tables are.")

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __contains__(self, key) -> bool:
        return key in self._columns


class RowGuard:
    """Stands in for ``ctx.frame`` / ``ctx.raw`` in streaming mode: only ``columns`` is available."""

    def __init__(self, what: str, columns: Sequence[str]) -> None:
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_columns", list(columns))

    @property
    def columns(self):
        import pandas as pd
        return pd.Index(self._columns, dtype=object)

    @property
    def attrs(self) -> dict:
        """No loader annotations: the streaming engines read plain tables."""
        return {}

    def __getattr__(self, name):
        raise RowAccessError(f"ctx.{self._what}.{name}: the rows are not held by the streaming engine.")

    def __getitem__(self, key):
        raise RowAccessError(f"ctx.{self._what}[{key!r}]: the rows are not held by the streaming engine.")

    def __len__(self) -> int:
        raise RowAccessError(f"len(ctx.{self._what}): the rows are not held by the streaming engine.")

    def __iter__(self):
        raise RowAccessError(f"iter(ctx.{self._what}): the rows are not held by the streaming engine.")


class CountStore:
    """Precomputed count tables with the read-only interface of :class:`~biasaudit.counts.CodedTable`.

    Parameters
    ----------
    levels : mapping of column -> tuple of level names
        In the order of the in-memory engine (the column order is that of ``encode``).
    tables : mapping of tuple of columns -> ndarray
        The covering tables (axes in the order of the key).
    n : int or float
        Rows (or total weight) counted.
    weighted : bool
        True when the counts are sums of frequency weights.
    """

    def __init__(self, levels: Mapping[str, tuple], tables: Mapping[tuple, np.ndarray], n,
                 weighted: bool = False, hidden: Mapping[str, tuple] | None = None) -> None:
        self.levels = dict(levels)
        self._hidden = dict(hidden or {})  # counted but not shown as columns (e.g. missingness indicators)
        self._tables = {tuple(k): v for k, v in tables.items()}
        self._n = n
        self._weighted = bool(weighted)
        self.codes = _GuardedCodes(self.levels)
        self._cache: dict = {}

    @property
    def columns(self) -> tuple:
        return tuple(self.levels)

    @property
    def n(self):
        return float(self._n) if self._weighted else int(self._n)

    @property
    def n_rows(self) -> int:
        raise RowAccessError("table.n_rows: the streaming engine holds count tables, not rows.")

    @property
    def weights(self):
        if not self._weighted:
            return None
        raise RowAccessError("table.weights: the streaming engine does not hold per-row weights.")

    @property
    def tables(self) -> dict:
        """The precomputed (covering) tables, keyed by their columns."""
        return dict(self._tables)

    def count(self, *columns: str) -> CountTable:
        """The contingency table over ``columns``, a margin of the smallest precomputed table holding them."""
        key = tuple(columns)
        if key in self._cache:
            return self._cache[key]
        if not columns:
            return CountTable((), (), np.array(self._n))
        unknown = [c for c in columns if c not in self.levels and c not in self._hidden]
        if unknown:
            raise KeyError(unknown[0])
        if len(set(columns)) != len(columns):
            raise NotPrecomputedError(f"A table over a repeated column {columns} is not precomputed.")
        best = None
        for cols, arr in self._tables.items():
            if set(columns) <= set(cols) and (best is None or arr.size < best[1].size):
                best = (cols, arr)
        if best is None:
            raise NotPrecomputedError(
                f"The streaming engine did not precompute a table over {', '.join(columns)}; it holds every "
                f"attribute pair with the label and the triples the coverage scan uses. Use engine='memory' "
                f"for this detector or let it run on the row sample.")
        cols, arr = best
        drop = tuple(i for i, c in enumerate(cols) if c not in columns)
        counts = arr.sum(axis=drop) if drop else arr
        kept = [c for c in cols if c in columns]
        counts = np.transpose(counts, [kept.index(c) for c in columns]) if kept != list(columns) else counts
        names = {**self._hidden, **self.levels}
        table = CountTable(key, tuple(names[c] for c in columns), np.ascontiguousarray(counts))
        if len(self._cache) < 4096:
            self._cache[key] = table
        return table

    def all_tables(self, columns: Sequence[str], k: int) -> dict:
        return {combo: self.count(*combo) for combo in combinations(columns, k)}

    def has(self, column: str) -> bool:
        """True for a column (shown or hidden) the tables count."""
        return column in self.levels or column in self._hidden

    def mask(self, **cell):
        raise RowAccessError("table.mask(): the streaming engine holds count tables, not rows.")

    def add_column(self, *args, **kwargs):
        raise RowAccessError("table.add_column(): the streaming engine holds count tables, not rows.")


# ----------------------------------------------------------------------------- planning
def plan_tables(roles, levels: Mapping[str, tuple], observed: Mapping[str, int], n: float,
                k_max: int | None) -> list[frozenset]:
    """The column sets the detectors count, each with the label.

    Every attribute pair (so every 1-, 2-way table and attribute x label), and, when the coverage
    scan reaches k = 3 (``k_max`` given, else n >= ``AUTO_K3_MIN_N``), every triple of attributes
    with at most ``FEW_LEVELS`` observed levels whose members are not derived from one another
    (the scan never crosses those).  ``observed`` is the number of observed non-missing levels.
    """
    try:
        from ..detectors.cells import AUTO_K3_MIN_N, FEW_LEVELS
    except ImportError:  # pragma: no cover - the coverage scan is part of the package
        AUTO_K3_MIN_N, FEW_LEVELS = 500, 6
    label, attrs = roles.label, list(roles.attributes)
    need: list[frozenset] = [frozenset((label,))] + [frozenset((a, label)) for a in attrs]
    need += [frozenset((a, b, label)) for a, b in combinations(attrs, 2)]
    k = int(k_max) if k_max is not None else (3 if n >= AUTO_K3_MIN_N else 2)
    if k >= 3:
        few = [a for a in attrs if observed.get(a, 0) <= FEW_LEVELS]

        def related(x, y):
            px, py = roles.parent(x), roles.parent(y)
            return px == y or py == x or px == py

        triples = [frozenset((a, b, c, label)) for a, b, c in combinations(few, 3)
                   if not (related(a, b) or related(a, c) or related(b, c))]
        if len(need) + len(triples) <= _MAX_SETS:
            need += triples
    out = list(dict.fromkeys(need))
    return out


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
