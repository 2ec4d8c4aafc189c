"""Cells of the coverage scan (STATISTICS.md §3.1), enumerated from count tables only.

A *cell* is an itemset ``C = {(a_j = v_j)}`` over distinct audited attributes, k = 1 .. k_max.
For every combination of attributes one table ``count(*combo, label)`` is read; its margins give
every parent cell ``C \\ {item}`` and the attribute combination's own counts (the coverage cells
without the label, :class:`Combination`).

Row sets are compared by counts, never by rows:

* closed itemsets only: rows(C) is a subset of rows(C minus one item), so the two row sets are equal
  exactly when the supports are equal; such a k-cell is not a new cell (``big and multicolor=no``
  is ``big``);
* item implications from the attribute-pair tables: ``a=v`` implies ``b=w`` when
  ``n(a=v, b=w) = n(a=v)`` (``color=brown-white`` implies ``color_count=2``). A cell C' whose items
  are all implied by the items of C contains C; with equal supports the two are the same rows and
  the simpler one is kept (``color_has_black=yes`` and ``color=black`` when black never occurs in
  a two-colour coat). Identities that need a three-way table (a pair equal to a third attribute's
  level) are not searched;
* complements (for the one hypothesis of a binary label): two one-item cells with supports adding
  up to n and no common row (from their pair table).

Pruning, so that every hypothesis the scan tests is a different one:

* pairs with a functional dependency are never crossed: a derived column and its parent, two
  columns derived from the same parent, a pair where one attribute is a function of the other in
  the data, a derived column and an attribute that is a function of its parent in the data
  (``color_has_black`` and a ``multicolor`` column), and (when the dependency is well supported)
  two attributes that are both functions of a third;
* the level ``(missing)`` is never an item;
* k_max = 3 by default only from ``AUTO_K3_MIN_N`` rows on, for attributes with at most
  ``FEW_LEVELS`` levels, and only when the 3-way cells fit in a quarter of ``settings.max_cells``
  (an explicit ``k_max`` is obeyed);
* 3-way cells (and every cell once ``settings.max_cells`` is reached) are kept only when their
  support reaches the smallest support at which some label's depletion could be significant
  (support-pruned enumeration: Tarone's p_min depends on the margins only).

Cost: one table per attribute combination (pairs: O(p^2) tables of l^2 K cells for p attributes of
l levels; triples: O(p^3) tables of l^3 K cells, only within the budget above), independent of the
number of rows once the tables are counted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..engine.roles import MISSING
from ._combos import Combination, gather, test_all

__all__ = ["Cell", "Combination", "CellScan", "scan_cells", "choose_k_max", "functional_maps",
           "pair_relations", "plan_triples", "generalizes", "containing", "FEW_LEVELS", "AUTO_K3_MIN_N", "TRIPLE_BUDGET"]

#: Attributes with at most this many observed levels enter 3-way cells (when k_max allows).
FEW_LEVELS = 6
#: k_max defaults to 3 from this many rows on (STATISTICS.md §3.1), else 2.
AUTO_K3_MIN_N = 500
#: Cells (label included) of all attribute triples the detector may read; above it, no triple.
TRIPLE_BUDGET = 1 << 20
#: A dependency a = f(c) found in the data makes a and b "siblings" of c only when every level
#: of c has at least this many rows (so that chance dependencies in tiny data do not prune).
_SIBLING_MIN_SUPPORT = 5


@dataclass(frozen=True)
class Cell:
    """One closed cell with its label counts and the counts of its parents.

    Attributes
    ----------
    items : tuple of (attribute, level)
    support : int
        Rows in the cell (s).
    counts : numpy.ndarray of shape (K,)
        Rows of each label value in the cell (label order of the count table).
    parents : tuple of (int, numpy.ndarray)
        For k >= 2, one ``(s_P, counts_P)`` per item dropped (parent j drops item j); empty for k = 1.
    rank : tuple
        Sort key: k, number of derived attributes, attribute positions, level positions (never names).
    """

    items: tuple
    support: int
    counts: np.ndarray
    parents: tuple
    rank: tuple

    @property
    def k(self) -> int:
        return len(self.items)

    @cached_property
    def key(self) -> str:
        return ",".join(f"{a}={v}" for a, v in self.items)

    @cached_property
    def text(self) -> str:
        return " and ".join(f"{a}={v}" for a, v in self.items)

    @property
    def attributes(self) -> tuple:
        return tuple(a for a, _ in self.items)

    def parent_text(self, j: int) -> str:
        return " and ".join(f"{a}={v}" for i, (a, v) in enumerate(self.items) if i != j)


@dataclass(frozen=True)
class CellScan:
    """Everything the detector needs about the cells of one table."""

    cells: tuple
    combinations: tuple
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
    implies: dict = field(default_factory=dict)
    complement: dict = field(default_factory=dict)
    k3_skipped: int = 0
    triples: frozenset = frozenset()
    levels: dict = field(default_factory=dict)
    item_counts: dict = field(default_factory=dict)
    item_label_counts: dict = field(default_factory=dict)


def _observed_levels(ctx: AuditContext, attribute: str) -> int:
    t = ctx.table.count(attribute)
    return int(sum(1 for lv, c in zip(t.levels[0], t.counts) if c > 0 and lv != MISSING))


def choose_k_max(ctx: AuditContext) -> int:
    """``settings.k_max`` when given, else 3 from ``AUTO_K3_MIN_N`` rows on and 2 below."""
    if ctx.settings.k_max is not None:
        return int(ctx.settings.k_max)
    return 3 if ctx.table.n >= AUTO_K3_MIN_N else 2


def pair_relations(ctx: AuditContext, attributes) -> tuple[dict, dict, dict]:
    """Functional dependencies and item implications found in the attribute-pair tables.

    Returns
    -------
    fd : dict
        ``fd[(a, b)] = {level of b: level of a}`` when a is a function of b (each observed level of
        b occurs with exactly one level of a), for a != b.
    min_support : dict
        ``min_support[b]``: rows of the rarest observed level of b.
    implies : dict
        ``implies[(a, v)]``: the items ``(b, w)`` (b != a) with ``n(a=v, b=w) = n(a=v) > 0``: every
        row with a=v has b=w. ``(missing)`` is never an item.
    """
    fd, min_support, implies = {}, {}, {}
    for b in attributes:
        cb = ctx.table.count(b).counts
        min_support[b] = int(cb[cb > 0].min()) if (cb > 0).any() else 0
    for a, b in combinations(attributes, 2):
        t = ctx.table.count(a, b)
        c = np.rint(t.counts).astype(np.int64)
        nz = c > 0
        for x, y, m in ((a, b, nz), (b, a, nz.T)):  # x = f(y) iff every y-column has one x-row
            cols = m.sum(axis=0)
            if np.all(cols[cols > 0] == 1):
                lv_x, lv_y = (t.levels[0], t.levels[1]) if x == a else (t.levels[1], t.levels[0])
                fd[(x, y)] = {lv_y[j]: lv_x[int(np.argmax(m[:, j]))] for j in np.flatnonzero(cols)}
        la, lb = t.levels
        ok_a = np.array([lv != MISSING for lv in la])
        ok_b = np.array([lv != MISSING for lv in lb])
        rows, cols_ = c.sum(axis=1), c.sum(axis=0)
        for i, j in zip(*np.nonzero((c == rows[:, None]) & (c > 0) & ok_a[:, None] & ok_b[None, :])):
            implies.setdefault((a, la[i]), set()).add((b, lb[j]))
        for i, j in zip(*np.nonzero((c == cols_[None, :]) & (c > 0) & ok_a[:, None] & ok_b[None, :])):
            implies.setdefault((b, lb[j]), set()).add((a, la[i]))
    return fd, min_support, implies


def functional_maps(ctx: AuditContext, attributes) -> tuple[dict, dict]:
    """``(fd, min_support)`` of :func:`pair_relations`."""
    fd, min_support, _ = pair_relations(ctx, attributes)
    return fd, min_support


#: Label-free coverage is not tested for two attributes of which one almost determines the other
#: (Theil's uncertainty coefficient, bias-corrected, at least this large either way: ``age`` and
#: ``age_cat``; a score and its decile): their empty cells are definitional, not gaps in the data.
NEAR_FD_U = 0.8


def near_dependent_pairs(ctx: AuditContext, attributes) -> set:
    """Pairs of ``attributes`` of which one almost determines the other (U either way >= ``NEAR_FD_U``)."""
    out = set()
    for a, b in combinations(attributes, 2):
        t = np.rint(ctx.table.count(a, b).counts)
        u = max(stats.theils_u_corrected(t, 0), stats.theils_u_corrected(t, 1))
        if u >= NEAR_FD_U:  # NaN (a constant attribute) compares False
            out.add(frozenset((a, b)))
    return out


def _related(roles, a: str, b: str) -> bool:
    pa, pb = roles.parent(a), roles.parent(b)
    return pa == b or pb == a or pa == pb


def _blocked_pairs(ctx: AuditContext, attributes, fd: dict, min_support: dict) -> set:
    roles = ctx.roles
    blocked = set()
    for a, b in combinations(attributes, 2):
        why = None
        if _related(roles, a, b):
            why = "derived from the same column"
        elif (a, b) in fd or (b, a) in fd:
            why = "functional dependency in the data"
        elif (roles.parent(a) != a and (b, roles.parent(a)) in fd) or (roles.parent(b) != b and (a, roles.parent(b)) in fd):
            why = "both functions of one column, one derived from it"
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


def plan_triples(roles, n_levels: dict, n_labels: int, *, budget: bool = True) -> list[tuple]:
    """Attribute triples the detector may read (with the label): attributes with 1 to ``FEW_LEVELS``
    levels, no two derived from one another; with ``budget``, all of them only when their cells
    (label included) fit ``TRIPLE_BUDGET``, else none."""
    few = [a for a in roles.attributes if 1 <= n_levels.get(a, 0) <= FEW_LEVELS]
    out = [t for t in combinations(few, 3)
           if not (_related(roles, t[0], t[1]) or _related(roles, t[0], t[2]) or _related(roles, t[1], t[2]))]
    if not budget:
        return out
    size = sum(math.prod(n_levels[x] for x in t) for t in out) * max(1, n_labels)
    return out if size <= TRIPLE_BUDGET else []


def generalizes(general: tuple, specific: tuple, implies: dict) -> bool:
    """True when every item of ``general`` is an item of ``specific`` or implied by one of them.

    Then rows(specific) is a subset of rows(general). ``implies`` is the map of
    :func:`pair_relations` (``color_count=2`` is implied by ``color=brown-white``).
    """
    for item in general:
        if item in specific:
            continue
        if not any(item in implies.get(s, ()) for s in specific):
            return False
    return True


def containing(item_sets: list, implies: dict) -> list[list[int]]:
    """``out[i]``: the j != i whose items are all items of i or implied by them (rows(i) within rows(j))."""
    by_item: dict = {}
    for j, items in enumerate(item_sets):
        for it in items:
            by_item.setdefault(it, set()).add(j)
    out = []
    for i, items in enumerate(item_sets):
        closure = set(items)
        for it in items:
            closure |= implies.get(it, set())
        cands = set()
        for it in closure:
            cands |= by_item.get(it, set())
        out.append(sorted(j for j in cands if j != i and item_sets[j] <= closure))
    return out


def _as_int(counts: np.ndarray) -> np.ndarray:
    return np.rint(counts).astype(np.int64)


def scan_cells(ctx: AuditContext) -> CellScan:
    """Enumerate the closed, distinct cells of ``ctx`` up to k_max (see the module docstring)."""
    table, roles = ctx.table, ctx.roles
    label = roles.label
    positions = {a: i for i, a in enumerate(roles.attributes)}
    attrs = [a for a in roles.attributes if a in table.levels and _observed_levels(ctx, a) >= 1]
    lt = table.count(label)
    label_counts = _as_int(lt.counts)
    n = int(label_counts.sum())
    k_max = max(1, choose_k_max(ctx))
    fd, min_support, implies = pair_relations(ctx, attrs)
    blocked = _blocked_pairs(ctx, attrs, fd, min_support)
    levels = {a: _observed_levels(ctx, a) for a in attrs}
    item_counts, item_label_counts = {}, {}
    for a in attrs:
        t = ctx.label_table(a)
        for lv, c in zip(t.levels[0], _as_int(t.counts)):
            item_counts[(a, lv)] = int(c.sum())
            for L in range(c.size):
                item_label_counts[((a, lv), L)] = int(c[L])
    max_cells = int(getattr(ctx.settings, "max_cells", 20000) or 20000)
    named = {a: sum(1 for lv in table.levels[a] if lv != MISSING) for a in attrs}
    declared = plan_triples(roles, named, max(2, sum(1 for lv in lt.levels[0] if lv != MISSING)))

    combos: list[tuple] = [(a,) for a in attrs]
    if k_max >= 2:
        combos += [c for c in combinations(attrs, 2) if frozenset(c) not in blocked]
    k3_skipped = 0
    if k_max >= 3:
        wanted = [c for c in plan_triples(roles, named, 2, budget=False)
                  if not any(frozenset(p) in blocked for p in combinations(c, 2))]
        declared_set = set(declared)
        triples = [c for c in wanted if c in declared_set]
        size = sum(math.prod(levels[x] for x in c) for c in wanted)
        if (ctx.settings.k_max is None and size > max_cells // 4) or len(triples) < len(wanted):
            k_max, k3_skipped = 2, size   # k = 3 only within the cell budgets
        else:
            combos += triples
    s_floor = stats.depletion_min_support(n, label_counts, ctx.settings.alpha)
    cells: list[Cell] = []
    found_combinations: list = []
    n_pruned, truncated = 0, False
    near = near_dependent_pairs(ctx, attrs) if k_max >= 2 else set()
    for combo in combos:
        new, cov = _combo_cells(ctx, combo, n, positions, item_counts)
        if not any(frozenset(p) in near for p in combinations(combo, 2)):
            found_combinations.append(cov)
        if truncated:
            continue
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
                continue
        cells.extend(new)

    cells.sort(key=lambda c: c.rank)
    distinct, n_dup = _distinct(cells, implies)
    complement = _complements(ctx, distinct, n)
    found_combinations = sorted(test_all(found_combinations, n, ctx.settings.alpha), key=lambda u: u.rank)
    skipped = tuple(sorted(tuple(sorted(p, key=positions.get)) for p in blocked))
    return CellScan(cells=tuple(distinct), combinations=tuple(found_combinations), n=n,
                    label_levels=tuple(lt.levels[0]), label_counts=label_counts, k_max=k_max,
                    n_combinations=len(combos), n_duplicates=n_dup, n_pruned=n_pruned,
                    truncated=truncated, skipped_pairs=skipped, fd=fd, implies=implies,
                    complement=complement, k3_skipped=k3_skipped,
                    triples=frozenset(frozenset(t) for t in declared), levels=levels, item_counts=item_counts,
                    item_label_counts=item_label_counts)


def _distinct(cells: list, implies: dict) -> tuple[list, int]:
    """Drop cells with the rows of a simpler cell (equal support and label counts, one contains the other).

    A kept cell d is a twin of c when its items are all in c's closure (c's items and those they
    imply; d is looked up under each closure item) or c's items are all implied by d's (d is
    looked up under the items implying c's first item). Kept cells are indexed by their own items.
    """
    implied_by: dict = {}
    for y, xs in implies.items():
        for x in xs:
            implied_by.setdefault(x, []).append(y)
    index: dict = {}     # (signature, item) -> kept cells holding that item
    distinct, n_dup = [], 0
    for c in cells:   # sorted by rank: the simplest first
        sig = (c.support,) + tuple(int(x) for x in c.counts)
        closure = set(c.items)
        for it in c.items:
            closure |= implies.get(it, set())
        twin = any(generalizes(d.items, c.items, implies) for it in closure for d in index.get((sig, it), ()))
        if not twin:
            x0 = c.items[0]
            twin = any(generalizes(c.items, d.items, implies)
                       for y in [x0] + implied_by.get(x0, []) for d in index.get((sig, y), ()))
        if twin:
            n_dup += 1
            continue
        distinct.append(c)
        for it in c.items:
            index.setdefault((sig, it), []).append(c)
    return distinct, n_dup


def _complements(ctx: AuditContext, cells: list, n: int) -> dict:
    """``{i: j}`` for one-item cells i, j whose rows are complements (supports add up to n, no common row)."""
    ones = [(i, c) for i, c in enumerate(cells) if c.k == 1]
    by_support: dict = {}
    for i, c in ones:
        by_support.setdefault(c.support, []).append((i, c))
    out = {}
    for i, c in ones:
        for j, d in by_support.get(n - c.support, []):
            if j == i:
                continue
            (a, v), (b, w) = c.items[0], d.items[0]
            if a == b:
                disjoint = v != w
            else:
                t = ctx.table.count(a, b)
                disjoint = t.counts[t.levels[0].index(v), t.levels[1].index(w)] == 0
            if disjoint:
                out[i] = j
                break
    return out


def _combo_cells(ctx, combo, n, positions, item_counts) -> tuple[list, list]:
    """Closed cells of one attribute combination, and its coverage combinations (k >= 2)."""
    t = ctx.label_table(*combo)
    counts = _as_int(t.counts)                     # (l1, ..., lk, K)
    support = counts.sum(axis=-1)                  # (l1, ..., lk)
    k = len(combo)
    valid = np.ones(support.shape, dtype=bool)
    for j in range(k):
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
                          parents=parents, rank=base_rank + (tuple(int(i) for i in idx),)))
    cov = gather(t, combo, support, valid, parent_support, n, base_rank, item_counts) if k >= 2 else None
    return cells, cov


