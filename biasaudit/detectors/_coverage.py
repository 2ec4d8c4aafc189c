r"""Coverage gaps without the label: attribute combinations far rarer than their margins imply.

STATISTICS.md §3.1 (v0.2). For a combination C of attribute values (k = 2 or 3) with ``obs`` rows
among n, under independence of the attributes with every margin fixed:

* k = 2, ``a=v`` and ``b=w``: :math:`X \sim \mathrm{Hypergeom}(n, n_v, n_w)` (the conditional
  distribution of one cell of the a x b table given its margins, Fisher 1935),
  :math:`E = n_v n_w / n`, p = :math:`P(X \le obs)`: the exact lower tail (an empty cell has
  :math:`p = P(X = 0) = \prod_{i < n_w} (n - n_v - i)/(n - i)`).
* k = 3: one item against the pair of the others, :math:`X_j \sim \mathrm{Hypergeom}(n, n_j,
  n_{C \setminus j})`, for each of the three items, and the largest p (intersection-union,
  Berger 1982): a triple is a gap only when no pair explains it.

The effect is the depletion ratio obs/E of the binding model (STATISTICS.md §1.4: at most 0.8
small, 0.5 medium, 0.2 large; an empty cell is large). A combination is shown when its ratio is
at most 0.5 ("far below" its expected count) and it is significant within the scan; milder
depletions (two associated attributes make many cells somewhat rarer) stay in the family as
hidden tests. p_min, the p of the emptiest table the
margins allow, decides testability (Tarone 1990). Every testable combination is one hypothesis
of the exploratory family, keyed ``hypothesis_key("coverage", attributes, cell, "less")``; in a
complete 2 x 2 table of two binary attributes the two cells of a diagonal are the same test and
are kept once (the one with the smaller obs/E).

Wording: a combination of two *common* values that never occur together, where both are the
'present' value of a two-level indicator (``Black_Hair=1`` and ``Blond_Hair=1``; ``pregnant=yes``
and ``male=1``), is worded "cannot co-occur?" (one-hot families and definitional exclusions are
structural zeros, not missing data) and gets no advice to collect rows. Values of other
attributes (``size=small`` and ``color=white``) never get this wording: the data alone cannot
tell a structural zero from a gap, and a gap is the case the lecture warns about.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..findings import hypothesis_key
from .cells import CellScan, Combination

__all__ = ["CoverageTest", "coverage_tests", "is_presence", "exclusive_pair", "COMMON_SHARE"]

#: Both values must have at least this share of the rows for "cannot co-occur?" wording.
COMMON_SHARE = 0.01
_PRESENCE = frozenset({"1", "1.0", "yes", "y", "true", "t", "present"})
PATTERN_RATIO = 0.5


@dataclass
class CoverageTest:
    """The coverage test of one :class:`~biasaudit.detectors.cells.Combination` and its reporting class."""

    combo: Combination
    testable: bool
    pattern: bool
    uninformative: bool
    candidate: bool
    exclusive: bool
    hypothesis: str
    q_local: float | None = None
    visible: bool = False

    @property
    def family_p(self) -> float:
        return self.combo.p_value


def is_presence(level) -> bool:
    """True for the 'present' value of an indicator: 1, yes, true, present (any case)."""
    return str(level).strip().lower() in _PRESENCE


def exclusive_pair(items, levels: dict, item_counts: dict, n: int) -> bool:
    """Two common values worded as "cannot co-occur?" (module docstring); ``levels``: observed levels
    per attribute (a label can be passed as an attribute)."""
    if len(items) != 2 or n <= 0:
        return False
    (a, v), (b, w) = items
    if any(item_counts.get(it, 0) < COMMON_SHARE * n for it in items):
        return False
    return all(levels.get(x) == 2 and is_presence(lv) for x, lv in items)


def coverage_tests(scan: CellScan, alpha: float) -> list[CoverageTest]:
    """The coverage tests of ``scan.combinations`` that are distinct hypotheses (``q_local`` unset)."""
    combos = _distinct_2x2(scan)
    if not combos:
        return []
    obs = np.array([c.observed for c in combos], dtype=float)
    e_b = np.array([c.e_binding for c in combos])
    p = np.array([c.p_value for c in combos])
    pmin = np.array([c.p_min for c in combos])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(e_b > 0, obs / np.where(e_b > 0, e_b, 1.0), 1.0)
    testable = pmin <= alpha
    uninformative = (obs == 0) & (e_b < 0.5)
    pattern = (ratio <= PATTERN_RATIO) & (e_b >= 0.5)
    # shown: at least a medium effect (obs/E <= 0.5, "far below" the expected count), significant
    # within the scan or a pattern; milder depletions stay in the family as hidden tests
    candidate = ~uninformative & (ratio <= PATTERN_RATIO) & (pattern | (testable & (p <= alpha)))
    out = []
    for i, c in enumerate(combos):
        exclusive = bool(c.observed == 0 and exclusive_pair(c.items, scan.levels, scan.item_counts, scan.n))
        out.append(CoverageTest(
            combo=c, testable=bool(testable[i]), pattern=bool(pattern[i]), uninformative=bool(uninformative[i]),
            candidate=bool(candidate[i]), exclusive=exclusive,
            hypothesis=hypothesis_key("coverage", [a for a, _ in c.items], dict(c.items), "less")))
    return out


def _distinct_2x2(scan: CellScan) -> list[Combination]:
    """Drop the second cell of each diagonal of a complete 2 x 2 table of two binary attributes."""
    by_attrs: dict = {}
    for c in scan.combinations:
        if c.k == 2:
            by_attrs.setdefault(tuple(a for a, _ in c.items), []).append(c)
    drop = set()
    for attrs, group in by_attrs.items():
        if len(group) != 4 or any(scan.levels.get(a) != 2 for a in attrs):
            continue
        if sum(c.observed for c in group) != scan.n:   # missing values: not one 2 x 2 table
            continue
        pos = [sorted({c.rank[-1][j] for c in group}) for j in range(2)]
        for parity in (0, 1):
            pair = [c for c in group if (pos[0].index(c.rank[-1][0]) + pos[1].index(c.rank[-1][1])) % 2 == parity]
            if len(pair) == 2:
                keep = min(pair, key=lambda c: (c.ratio, c.rank))
                drop.update(id(c) for c in pair if c is not keep)
    return [c for c in scan.combinations if id(c) not in drop]
