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
at most 0.2 ("far below" its expected count) and it is significant within the scan; milder
depletions (two associated attributes make many cells somewhat rarer) stay in the family as
hidden tests. p_min, the p of the emptiest table the
margins allow, decides testability (Tarone 1990). Every testable combination is one hypothesis
of the exploratory family, keyed ``hypothesis_key("coverage", attributes, cell, "less")``; in a
complete 2 x 2 table of two binary attributes the two cells of a diagonal are the same test and
are kept once (the one with the smaller obs/E).

Wording: a combination of two *common* values that (almost: at most 1 % of the expected count)
never occur together, where both are the
'present' value of a two-level indicator (``Black_Hair=1`` and ``Blond_Hair=1``; ``pregnant=yes``
and ``male=1``), is worded "cannot co-occur?" (one-hot families and definitional exclusions are
structural zeros, not missing data) and gets no advice to collect rows. Values of other
attributes (``size=small`` and ``color=white``) never get this wording: the data alone cannot
tell a structural zero from a gap, and a gap is the case the lecture warns about.
"""
from __future__ import annotations

from dataclasses import dataclass


import numpy as np

from .. import stats
from ..findings import BiasType, Finding, hypothesis_key
from ._combos import Combination
from .cells import CellScan, containing, generalizes

__all__ = ["CoverageTest", "coverage_tests", "is_presence", "exclusive_pair", "fold_combinations", "coverage_finding",
           "coverage_hidden", "leak_note", "COMMON_SHARE", "EXCLUSIVE_RATIO"]

#: Both values must have at least this share of the rows for "cannot co-occur?" wording.
COMMON_SHARE = 0.01
#: "Almost never" for the "cannot co-occur?" wording: at most this share of the expected count
#: (a handful of co-occurrences among hundreds expected is label noise in a one-hot family).
EXCLUSIVE_RATIO = 0.01
_DET = "overgeneralization"
_PRESENCE = frozenset({"1", "1.0", "yes", "y", "true", "t", "present"})
#: A combination is shown when it holds at most this share of its expected count: the "large"
#: depletion of STATISTICS.md §1.4 (zero and near-zero cells).  Two associated attributes make many
#: of their cells somewhat rarer (short loans with large amounts, in German credit 14 of 72
#: expected); those milder depletions are a correlation, not a gap, and stay in the family as
#: hidden tests.
PATTERN_RATIO = 0.2


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


def _g(x: float) -> str:
    return f"{x:.3g}"


def leak_note(items, leaks: dict) -> str | None:
    cols = [a for a, _ in items if a in leaks]
    if not cols:
        return None
    return (f"{', '.join(cols)} may encode the outcome ({leaks[cols[0]]}): this is possible leakage, not a gap "
            f"to fill; leave the column out (--exclude {cols[0]}) unless it is known before the label is.")


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
    # shown: a large effect (obs/E <= PATTERN_RATIO, "far below" the expected count), significant
    # within the scan or a pattern; milder depletions stay in the family as hidden tests
    candidate = ~uninformative & (ratio <= PATTERN_RATIO) & (pattern | (testable & (p <= alpha)))
    out = []
    for i, c in enumerate(combos):
        exclusive = bool(c.ratio <= EXCLUSIVE_RATIO and exclusive_pair(c.items, scan.levels, scan.item_counts, scan.n))
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


def fold_combinations(scan, findings: list[Finding], tests: list) -> list[Finding]:
    """Fold shown coverage combinations so that each attribute combination is shown once.

    A combination folds into a more general one that is shown too (its items implied by the
    former's: ``(size=big, color=brown-white)`` into ``(size=big, multicolor=yes)``; of two
    equivalent ones the smaller rank is the parent), else into the most severe shown cell of the
    same attributes (largest effect level, then smallest p): a strongly associated pair (two
    binned scores) is one finding with its rare cells as evidence, not a dozen. A child is never
    folded under a parent of lower effect level.
    """
    out = list(findings)
    m = len(tests)
    if m < 2:
        return out
    implies = scan.implies
    item_sets = [set(t.combo.items) for t in tests]
    level = [f.effect_level for f in findings]
    parent: dict[int, int] = {}
    for i, js in enumerate(containing(item_sets, implies)):
        u = tests[i].combo
        best = None
        for j in js:
            v = tests[j].combo
            if v.k > u.k or level[j] < level[i]:
                continue
            if generalizes(u.items, v.items, implies) and v.k == u.k and u.rank < v.rank:
                continue  # equivalent: only the worse-ranked one folds
            key = (-v.expected, v.rank)
            if best is None or key < best[0]:
                best = (key, j)
        if best is not None:
            parent[i] = best[1]
    by_attrs: dict = {}
    for i, t in enumerate(tests):
        if i not in parent:
            by_attrs.setdefault(tuple(a for a, _ in t.combo.items), []).append(i)
    for members in by_attrs.values():
        if len(members) < 2:
            continue
        head = min(members, key=lambda i: (-level[i], tests[i].combo.p_value, tests[i].combo.ratio,
                                           tests[i].combo.rank))
        for i in members:
            if i != head:
                parent[i] = head
    for i, j in parent.items():
        seen = {i}
        while j in parent and j not in seen:   # flatten chains to their root
            seen.add(j)
            j = parent[j]
        out[i] = out[i].evolve(explained_by=findings[j].id)
        parent[i] = j
    kids: dict = {}
    for i, j in parent.items():
        kids.setdefault(j, []).append(i)
    for j, members in kids.items():
        rows = tuple({"cell": tests[i].combo.key, "observed": tests[i].combo.observed,
                      "expected": tests[i].combo.expected, "p_value": tests[i].combo.p_value}
                     for i in sorted(members, key=lambda i: (tests[i].combo.p_value, tests[i].combo.rank)))
        out[j] = out[j].evolve(evidence=tuple(out[j].evidence) + rows)
    return out


# ---------------------------------------------------------------- findings
def _coverage_id(c: CoverageTest) -> str:
    return f"{_DET}:coverage_gap:{c.combo.key}"


def _coverage_models(c) -> str:
    u = c.combo
    names = " and ".join(dict.fromkeys(a for a, _ in u.items))
    text = f"{_g(u.expected)} expected if {names} were independent"
    if u.k >= 3:
        parts = [f"{_g(u.e_parts[j])} given {' and '.join(f'{a}={v}' for i, (a, v) in enumerate(u.items) if i != j)}"
                 f" (p={_g(u.p_parts[j])})" for j in range(u.k)]
        text += "; " + ", ".join(parts[:-1]) + " and " + parts[-1] + f"; decisive p={_g(u.p_value)}, the largest"
    else:
        text += f"; exact p={_g(u.p_value)}"
    return text


def coverage_finding(scan, c: CoverageTest, leaks: dict) -> Finding:
    u = c.combo
    if c.exclusive:
        never = "never" if u.observed == 0 else "almost never"
        msg = (f"{u.text} {never} occur together ({u.observed} of {scan.n}; {_coverage_models(c)}): cannot co-occur?")
        advice = (f"Check whether {u.text} exclude each other by definition (for example one-hot categories or "
                  f"a definitional exclusion); if so this is a structural zero and no data are missing.")
    elif u.observed == 0:
        msg = f"No example has {u.text} at all (0 of {scan.n}; {_coverage_models(c)})"
        advice = (f"Collect examples with {u.text}, or document that such cases cannot occur (a structural "
                  f"zero); a model trained on these rows will extrapolate there.")
    else:
        msg = (f"Only {u.observed} {'example has' if u.observed == 1 else 'examples have'} {u.text} "
               f"(of {scan.n}; {_coverage_models(c)}; "
               f"{u.ratio:.0%} of the expected count)")
        advice = (f"Collect more examples with {u.text}, or check whether they were filtered out when the data "
                  f"were collected; a model trained on these rows sees few such cases.")
    advice = leak_note(u.items, leaks) or advice
    return Finding(
        id=_coverage_id(c), bias_type=BiasType.OVERGENERALIZATION.value, detector=_DET,
        attributes=dict(u.items), kind="coverage_gap", message=msg,
        test="hypergeometric lower tail given the margins" + (" (intersection-union over items)" if u.k > 2 else ""),
        statistic=float(u.observed), p_value=u.p_value, p_min=u.p_min, testable=c.testable, in_family=True,
        effect_size=u.ratio, effect_size_name="depletion_ratio",
        effect_level=stats.effect_level("depletion_ratio", u.ratio), n=scan.n, observed=float(u.observed),
        expected=u.expected, pattern=c.pattern, hypothesis=c.hypothesis, suggestion=advice,
        evidence=({"cell": u.key, "observed": u.observed, "expected": u.expected, "p_value": u.p_value},),
        details={"margins": dict(zip((f"{a}={v}" for a, v in u.items), u.margins)),
                 "expected_independent": u.expected, "expected_binding": u.e_binding,
                 "p_parts": list(u.p_parts), "local_q": c.q_local, "cannot_co_occur": c.exclusive,
                 "p_zero_poisson": stats.poisson_zero_p(u.expected) if u.observed == 0 else None})


def coverage_hidden(scan, c: CoverageTest) -> Finding:
    u = c.combo
    return Finding(
        id=_coverage_id(c), bias_type=BiasType.OVERGENERALIZATION.value, detector=_DET,
        attributes=dict(u.items), kind="cell_test",
        message=f"{u.text}: {u.observed} of {scan.n} (expected {_g(u.expected)}; lower-tail p={_g(u.p_value)})",
        test="hypergeometric lower tail given the margins", statistic=float(u.observed), p_value=u.p_value,
        p_min=u.p_min, testable=True, in_family=True, effect_size=u.ratio, effect_size_name="depletion_ratio",
        effect_level=stats.effect_level("depletion_ratio", u.ratio), n=scan.n, observed=float(u.observed),
        expected=u.expected, pattern=False, hypothesis=c.hypothesis, details={"hidden": True, "tail": "less"})
