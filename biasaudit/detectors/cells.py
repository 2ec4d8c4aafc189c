"""Cells of the coverage scan (STATISTICS.md §3.1): attribute combinations and their label counts.

A *cell* is an itemset ``C = {(a_j = v_j)}`` over distinct audited attributes, k = 1 .. k_max.
For every combination of attributes one label table is counted (``ctx.label_table``, a single
``np.bincount``); its margins give every parent cell ``C \\ {item}`` at no extra cost.

Pruning, so that every hypothesis the scan tests is a different one:

* pairs with a functional dependency are never crossed: a derived column and its parent, two
  columns derived from the same parent, a pair where one attribute is a function of the other in
  the data, and (when the dependency is well supported) two attributes that are both functions
  of a third (``multicolor`` and ``color_has_white`` of ``color``): their combinations are only
  groupings of the third attribute's levels;
* closed itemsets only: a k-cell whose support equals the support of a (k-1)-parent has the
  same rows as that parent (``big and multicolor=no`` is ``big``);
* cells with identical rows found through different attributes (``color_has_black=yes`` and
  ``color=black`` when black never occurs in a pair) are kept once, the simplest first;
* the level ``(missing)`` is never an item;
* k_max = 3 by default only from ``AUTO_K3_MIN_N`` rows on, for attributes with at most
  ``FEW_LEVELS`` levels, and only when the 3-way cells fit in a quarter of ``settings.max_cells``
  (an explicit ``k_max`` is obeyed);
* 3-way cells (and every cell once ``settings.max_cells`` is reached) are kept only when their
  support reaches the smallest support at which some label's depletion could be significant
  (support-pruned enumeration, Tarone's p_min depends on the margins only).

Identical row sets are recognised by two random integer signatures per row summed over the cell
(exact in float64 up to 2**33 rows) and confirmed on the row masks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats as sps

from ..engine.context import AuditContext
from ..engine.roles import MISSING

__all__ = ["Cell", "Unobserved", "CellScan", "scan_cells", "choose_k_max", "functional_maps",
           "generalizes", "FEW_LEVELS", "AUTO_K3_MIN_N"]

#: Attributes with at most this many observed levels enter 3-way cells (when k_max allows).
FEW_LEVELS = 6
#: k_max defaults to 3 from this many rows on (STATISTICS.md §3.1), else 2.
AUTO_K3_MIN_N = 500
#: A dependency a = f(c) found in the data makes a and b "siblings" of c only when every level
#: of c has at least this many rows (so that chance dependencies in tiny data do not prune).
_SIBLING_MIN_SUPPORT = 5
_SIG_SEED = 0x5EED


@dataclass(frozen=True)
class Cell:
    """One closed cell with its label counts and the counts of its parents.

    Attributes
    ----------
    items : tuple of (attribute, level)
    support : int
        Rows in the cell (s).
    counts : numpy.ndarray of shape (K,)
        Rows of each label value in the cell (label order of the coded table).
    parents : tuple of (int, numpy.ndarray)
        For k >= 2, one ``(s_P, counts_P)`` per item dropped (parent j drops item j); empty for k = 1.
    signature : tuple
        ``(support, h1, h2)``: identical rows give identical signatures.
    rank : tuple
        Sort key: k, number of derived attributes, attribute positions (never level names).
    """

    items: tuple
    support: int
    counts: np.ndarray
    parents: tuple
    signature: tuple
    rank: tuple

    @property
    def k(self) -> int:
        return len(self.items)

    @property
    def key(self) -> str:
        return ",".join(f"{a}={v}" for a, v in self.items)

    @property
    def text(self) -> str:
        return " and ".join(f"{a}={v}" for a, v in self.items)

    def parent_text(self, j: int) -> str:
        return " and ".join(f"{a}={v}" for i, (a, v) in enumerate(self.items) if i != j)


@dataclass(frozen=True)
class Unobserved:
    """An attribute combination with no row at all whose sub-combinations all occur (§3.1 kind (a))."""

    items: tuple
    expected: float
    p_zero: float
    p_zero_poisson: float
    rank: tuple

    @property
    def key(self) -> str:
        return ",".join(f"{a}={v}" for a, v in self.items)

    @property
    def text(self) -> str:
        return " and ".join(f"{a}={v}" for a, v in self.items)


@dataclass(frozen=True)
class CellScan:
    """Everything the detector needs about the cells of one table."""

    cells: tuple
    unobserved: tuple
    n: int
    label_levels: tuple
    label_counts: np.ndarray
    k_max: int
    n_combinations: int
    n_duplicates: int
    n_pruned: int
    truncated: bool
    skipped_pairs: tuple
    fd: dict = field(default_factory=dict)
    totals: tuple = ()
    complement: dict = field(default_factory=dict)
    k3_skipped: int = 0


def _observed_levels(ctx: AuditContext, attribute: str) -> int:
    t = ctx.table.count(attribute)
    return int(sum(1 for lv, c in zip(t.levels[0], t.counts) if c > 0 and lv != MISSING))


def choose_k_max(ctx: AuditContext) -> int:
    """``settings.k_max`` when given, else 3 from ``AUTO_K3_MIN_N`` rows on and 2 below."""
    if ctx.settings.k_max is not None:
        return int(ctx.settings.k_max)
    return 3 if ctx.table.n >= AUTO_K3_MIN_N else 2


def functional_maps(ctx: AuditContext, attributes) -> tuple[dict, dict]:
    """Functional dependencies found in the data.

    Returns
    -------
    fd : dict
        ``fd[(a, b)] = {level of b: level of a}`` when a is a function of b (each observed level of
        b occurs with exactly one level of a), for a != b.
    min_support : dict
        ``min_support[b]``: rows of the rarest observed level of b.
    """
    fd, min_support = {}, {}
    for b in attributes:
        cb = ctx.table.count(b).counts
        min_support[b] = int(cb[cb > 0].min()) if (cb > 0).any() else 0
    for a, b in combinations(attributes, 2):
        t = ctx.table.count(a, b)
        nz = t.counts > 0
        for x, y, m in ((a, b, nz), (b, a, nz.T)):  # x = f(y) iff every y-column has one x-row
            cols = m.sum(axis=0)
            if np.all(cols[cols > 0] == 1):
                lv_x, lv_y = (t.levels[0], t.levels[1]) if x == a else (t.levels[1], t.levels[0])
                fd[(x, y)] = {lv_y[j]: lv_x[int(np.argmax(m[:, j]))] for j in np.flatnonzero(cols)}
    return fd, min_support


def _blocked_pairs(ctx: AuditContext, attributes, fd: dict, min_support: dict) -> set:
    roles = ctx.roles
    blocked = set()
    for a, b in combinations(attributes, 2):
        why = None
        if roles.parent(a) == b or roles.parent(b) == a or roles.parent(a) == roles.parent(b):
            why = "derived from the same column"
        elif (a, b) in fd or (b, a) in fd:
            why = "functional dependency in the data"
        else:
            for c in attributes:
                if c in (a, b) or (a, c) not in fd or (b, c) not in fd:
                    continue
                if min_support.get(c, 0) >= _SIBLING_MIN_SUPPORT:
                    why = f"both functions of {c}"
                    break
        if why:
            blocked.add(frozenset((a, b)))
    return blocked


def generalizes(general: tuple, specific: tuple, fd: dict) -> bool:
    """True when every item of ``general`` is implied by an item of ``specific``.

    ``(b = w)`` is implied by ``(a = v)`` when b == a and w == v, or when b is a function of a in
    the data and maps v to w (``color_count=2`` is implied by ``color=brown-white``).
    """
    for b, w in general:
        ok = False
        for a, v in specific:
            if a == b and v == w:
                ok = True
            elif (b, a) in fd and fd[(b, a)].get(v) == w:
                ok = True
            if ok:
                break
        if not ok:
            return False
    return True


def _s_floor(n: int, label_counts: np.ndarray, alpha: float) -> int:
    """Smallest support at which some label's depletion (obs = 0) could be significant."""
    best = n
    sizes = np.arange(1, min(n, 100_000) + 1)
    for n_l in label_counts:
        lo = np.maximum(0, sizes - (n - int(n_l)))
        ok = np.flatnonzero(sps.hypergeom.cdf(lo, n, int(n_l), sizes) <= alpha)
        if ok.size:
            best = min(best, int(sizes[ok[0]]))
    return best


def _as_int(counts: np.ndarray) -> np.ndarray:
    return np.rint(counts).astype(np.int64)


def scan_cells(ctx: AuditContext) -> CellScan:
    """Enumerate the closed, distinct cells of ``ctx`` up to k_max (see the module docstring)."""
    table, roles = ctx.table, ctx.roles
    label = roles.label
    positions = {a: i for i, a in enumerate(roles.attributes)}
    attrs = [a for a in roles.attributes if a in table.codes and _observed_levels(ctx, a) >= 1]
    lt = table.count(label)
    label_counts = _as_int(lt.counts)
    n = int(label_counts.sum())
    k_max = max(1, choose_k_max(ctx))
    fd, min_support = functional_maps(ctx, attrs)
    blocked = _blocked_pairs(ctx, attrs, fd, min_support)
    levels = {a: _observed_levels(ctx, a) for a in attrs}
    few = {a for a in attrs if levels[a] <= FEW_LEVELS}
    max_cells = int(getattr(ctx.settings, "max_cells", 20000) or 20000)

    rng = np.random.default_rng(_SIG_SEED)
    r1 = rng.integers(0, 2**20, size=table.n_rows).astype(float)
    r2 = rng.integers(0, 2**20, size=table.n_rows).astype(float)
    totals = (n, float(r1.sum()), float(r2.sum()))

    combos: list[tuple] = [(a,) for a in attrs]
    if k_max >= 2:
        combos += [c for c in combinations(attrs, 2) if frozenset(c) not in blocked]
    k3_skipped = 0
    if k_max >= 3:
        triples = [c for c in combinations(attrs, 3) if all(x in few for x in c)
                   and not any(frozenset(p) in blocked for p in combinations(c, 2))]
        size = sum(math.prod(levels[x] for x in c) for c in triples)
        if ctx.settings.k_max is None and size > max_cells // 4:
            k_max, k3_skipped = 2, size   # automatic k = 3 only within budget
        else:
            combos += triples
    s_floor = _s_floor(n, label_counts, ctx.settings.alpha)
    cells: list[Cell] = []
    unobserved: list[Unobserved] = []
    n_pruned, truncated = 0, False
    for combo in combos:
        if truncated:
            break
        new, unobs = _combo_cells(ctx, combo, label, n, positions, r1, r2)
        unobserved.extend(unobs)
        if len(combo) >= 3:  # 3-way cells only where some label could be significant (§3.1)
            kept = [c for c in new if c.support >= s_floor]
            n_pruned += len(new) - len(kept)
            new = kept
        if len(cells) + len(new) > max_cells:
            kept = [c for c in new if c.support >= s_floor]
            n_pruned += len(new) - len(kept)
            new = kept
            if len(cells) + len(new) > max_cells:
                truncated = True
                n_pruned += len(new)
                break
        cells.extend(new)

    cells.sort(key=lambda c: c.rank)
    by_sig: dict = {}
    distinct: list[Cell] = []
    n_dup = 0
    for c in cells:
        twin = by_sig.get(c.signature)
        if twin is not None and np.array_equal(_mask(ctx, twin.items), _mask(ctx, c.items)):
            n_dup += 1
            continue
        by_sig.setdefault(c.signature, c)
        distinct.append(c)
    complement = {}
    index = {c.signature: i for i, c in enumerate(distinct)}
    for i, c in enumerate(distinct):
        sig = (totals[0] - c.signature[0], totals[1] - c.signature[1], totals[2] - c.signature[2])
        j = index.get(sig)
        if j is not None and j != i:
            complement[i] = j
    unobserved.sort(key=lambda u: (-u.expected, u.rank))
    skipped = tuple(sorted(tuple(sorted(p, key=positions.get)) for p in blocked))
    return CellScan(cells=tuple(distinct), unobserved=tuple(unobserved), n=n,
                    label_levels=tuple(lt.levels[0]), label_counts=label_counts, k_max=k_max,
                    n_combinations=len(combos), n_duplicates=n_dup, n_pruned=n_pruned,
                    truncated=truncated, skipped_pairs=skipped, fd=fd, totals=totals,
                    complement=complement, k3_skipped=k3_skipped)


def _mask(ctx: AuditContext, items: tuple) -> np.ndarray:
    return ctx.table.mask(**dict(items))


def _combo_cells(ctx, combo, label, n, positions, r1, r2) -> tuple[list, list]:
    """Closed cells and minimal unobserved combinations of one attribute combination."""
    table = ctx.table
    t = ctx.label_table(*combo)
    counts = _as_int(t.counts)                     # (l1, ..., lk, K)
    support = counts.sum(axis=-1)                  # (l1, ..., lk)
    k = len(combo)
    shape = support.shape
    combined = np.zeros(table.n_rows, dtype=np.int64)
    for c, size in zip(combo, shape):
        combined *= size
        combined += table.codes[c]
    h1 = np.bincount(combined, weights=r1, minlength=support.size).reshape(shape)
    h2 = np.bincount(combined, weights=r2, minlength=support.size).reshape(shape)
    valid = np.ones(shape, dtype=bool)
    for j, c in enumerate(combo):
        lv = t.levels[j]
        if MISSING in lv:
            idx = [slice(None)] * k
            idx[j] = lv.index(MISSING)
            valid[tuple(idx)] = False
    parent_counts = [np.broadcast_to(counts.sum(axis=j, keepdims=True), counts.shape) for j in range(k)] \
        if k >= 2 else []
    parent_support = [p.sum(axis=-1) for p in parent_counts]
    closed = valid & (support > 0)
    for ps in parent_support:
        closed &= support < ps
    n_derived = sum(1 for a in combo if a in ctx.roles.derived)
    base_rank = (k, n_derived, tuple(positions[a] for a in combo))
    cells = []
    for idx in zip(*np.nonzero(closed)):
        items = tuple((a, t.levels[j][i]) for j, (a, i) in enumerate(zip(combo, idx)))
        parents = tuple((int(parent_support[j][idx]), parent_counts[j][idx].copy())
                        for j in range(len(parent_counts)))
        cells.append(Cell(items=items, support=int(support[idx]), counts=counts[idx].copy(),
                          parents=parents, signature=(int(support[idx]), float(h1[idx]), float(h2[idx])),
                          rank=base_rank + (tuple(int(i) for i in idx),)))
    unobs = []
    if k >= 2:
        empty = valid & (support == 0)
        for ps in parent_support:
            empty &= ps > 0
        if empty.any():
            one_way = [_as_int(table.count(a).counts) for a in combo]
            for idx in zip(*np.nonzero(empty)):
                n_items = [int(one_way[j][i]) for j, i in enumerate(idx)]
                expected = n * math.prod(x / n for x in n_items)
                # P(no row) if item j were independent of the other items, margins fixed; IUT max
                p0 = max(float(sps.hypergeom.pmf(0, n, n_items[j], int(parent_support[j][idx])))
                         for j in range(k))
                items = tuple((a, t.levels[j][i]) for j, (a, i) in enumerate(zip(combo, idx)))
                unobs.append(Unobserved(items=items, expected=expected, p_zero=p0,
                                        p_zero_poisson=math.exp(-expected),
                                        rank=base_rank + (tuple(int(i) for i in idx),)))
    return cells, unobs
