r"""Overgeneralization: coverage gaps, deterministic rules and what the data cannot speak to.

For every closed cell C (:mod:`biasaudit.detectors.cells`) and label value L, the depletion test
of STATISTICS.md §3.2 (s = |C|, n_L = #{y = L}, obs = #{C, y = L}):

.. math::
    p_{overall} = P(X \le obs),\ X \sim \mathrm{Hypergeom}(n, n_L, s), \qquad E = s\,n_L/n;

for k >= 2 the same test within every parent P = C \ {item} (:math:`X \sim
\mathrm{Hypergeom}(s_P, n_{L,P}, s)`) and the intersection-union decision
:math:`p = \max(p_{overall}, \max_P p_P)` (Berger 1982): a gap is reported only when no single
parent explains it. Its smallest attainable value ``p_min`` decides testability (Tarone 1990).

* Binary labels: for a one-item cell, (C, L), (C, L') and (not-C, L'), (not-C, L) are views of
  one 2 x 2 table: one view is reported (the depleted tail, the member with the smaller obs/E)
  with the table's key ``hypothesis_key("2x2", [attribute, label], {attribute: value})``, which
  the group attribution detector uses for the same table, and a hidden view with Fisher's
  two-sided p under the same key: the family sees the table once, two-sided (choosing the
  depleted tail after seeing the data costs what a two-sided test costs). Multi-item cells: both
  labels' one-sided IUT tests are hypotheses of their own. A pure cell (obs = 0) is reported
  once, as the rule C -> L' (§3.3: the rule and the gap are one hypothesis).
* More than two labels: purity C -> L' is its own test, the upper tail
  :math:`P(X' \ge obs')` (= ``hypergeom.pmf(s, n, n_L', s)`` for a pure cell), IUT over parents;
  it is the same test as the lower tail of L' in not-C, which is then kept once (as the rule
  when C is pure, else as the gap).
* Reported (visible) are cells with obs/E <= 0.8 and either the pattern (obs/E <= 0.5, s >= 2,
  E >= 0.5) or a BH q <= alpha within this scan; every other *testable* test is returned hidden
  (``details["hidden"]``, kind ``cell_test``) so that the family stays honest; untestable tests
  without a pattern and uninformative zero cells (s <= 1 or E < 0.5) are only counted.
* Patterns that are not significant (weak evidence, too few rows) are listed up to
  ``MAX_PATTERNS``, those closest to significance first (smallest p); the rest are counted in the
  coverage section. A search over thousands of small cells finds many pure ones by chance, and
  listing all of them would bury the findings.
* Folding (:mod:`biasaudit.detectors._folding`): consequences point to their cause through
  ``explained_by``.

Coverage gaps without the label (§3.1 v0.2, :mod:`biasaudit.detectors._coverage`): attribute
pairs and triples that are empty or far rarer than their margins imply, by the exact
hypergeometric lower tail, in the family with their own keys, graded by obs/E. Also returned:
one existence observation per (attribute, label) with Clopper-Pearson intervals.

Only count tables are read (``ctx.table.count``); :func:`tables` declares the ones beyond every
attribute pair with the label.

References
----------
Berger, R. L. (1982). Technometrics 24, 295-300. Tarone, R. E. (1990). Biometrics 46, 515-522.
Hanley, J. A. & Lippman-Hand, A. (1983). JAMA 249, 1743-1745 (upper bound 1 - alpha^(1/s)).
"""
from __future__ import annotations

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..engine.roles import MISSING
from ..findings import BiasType, DetectorResult, Finding
from ._cellstats import SHOW_RATIO, cell_tests
from ._cellwords import hidden_finding, s_min, two_sided_finding, visible_extras, visible_finding
from ._coverage import _g, coverage_finding, coverage_hidden, coverage_tests, fold_combinations
from ._folding import fold_findings
from .cells import plan_triples, scan_cells

__all__ = ["overgeneralization", "tables", "EXISTENCE_MAX_LEVELS", "SHOW_RATIO", "MAX_PATTERNS"]

#: Non-significant patterns listed at most (the rest are counted).
MAX_PATTERNS = 30

#: Attributes with at most this many observed levels get existence observations.
EXISTENCE_MAX_LEVELS = 8
_DET = "overgeneralization"


def tables(roles, levels, n, settings) -> list[frozenset]:
    """Count tables this detector reads beyond every attribute pair with the label.

    The attribute triples with the label (:func:`biasaudit.detectors.cells.plan_triples`: attributes
    with at most ``FEW_LEVELS`` levels, none derived from another, within ``TRIPLE_BUDGET`` cells):
    the 3-way cells when k_max reaches 3, and the folding of a cell explained by a third attribute.
    ``levels`` maps a column to its level names (or to their number).
    """
    def count(col):
        lv = levels.get(col, ())
        return int(lv) if isinstance(lv, (int, np.integer)) else sum(1 for x in lv if x != MISSING)

    n_levels = {a: count(a) for a in roles.attributes}
    triples = plan_triples(roles, n_levels, max(2, count(roles.label)))
    return [frozenset(t + (roles.label,)) for t in triples]


def overgeneralization(ctx: AuditContext) -> DetectorResult:
    """Coverage gaps, rules and existence observations of ``ctx`` (module docstring)."""
    alpha = ctx.settings.alpha
    scan = scan_cells(ctx)
    tests = cell_tests(ctx, scan, alpha)
    cover = coverage_tests(scan, alpha)
    tests, cover = _local_q(tests, cover, alpha)
    visible, hidden, counts = [], [], {"uninformative": 0, "untestable_no_pattern": 0, "patterns_not_listed": 0}
    patterns = []
    for t in tests:
        if t.visible and t.q_local is not None and t.q_local <= alpha:
            visible.append(t)
        elif t.visible:
            patterns.append(t)
        elif t.testable:      # every testable hypothesis stays in the family
            hidden.append(t)
        elif t.uninformative:
            counts["uninformative"] += 1
        else:
            counts["untestable_no_pattern"] += 1
    patterns.sort(key=lambda t: (t.p_value, -t.e_overall, t.cell.rank, t.label, t.tail))
    visible += patterns[:MAX_PATTERNS]
    for t in patterns[MAX_PATTERNS:]:
        counts["patterns_not_listed"] += 1
        if t.testable:
            hidden.append(t)
    leaks = _leaky(ctx)
    extra = visible_extras(scan, visible, alpha)
    found = [visible_finding(ctx, scan, t, alpha, extra[i], leaks) for i, t in enumerate(visible)]
    found = fold_findings(ctx, scan, found, visible, alpha)
    out = found + [hidden_finding(scan, t) for t in hidden]
    out += [two_sided_finding(scan, t, alpha) for t in visible + hidden if t.p_two_sided is not None]
    shown_cov = [c for c in cover if c.visible]
    cov_found = [coverage_finding(scan, c, leaks) for c in shown_cov]
    out += fold_combinations(scan, cov_found, shown_cov)
    out += [coverage_hidden(scan, c) for c in cover if not c.visible and c.testable]
    out += _existence(ctx, scan, alpha)
    pure_min = {scan.label_levels[i]: s_min(scan.n, int(c), alpha) for i, c in enumerate(scan.label_counts)}
    combos = sorted(cover, key=lambda c: (c.combo.p_value, -c.combo.expected, c.combo.rank))
    section = {"coverage": {
        "n": scan.n, "k_max": scan.k_max, "three_way_cells_skipped": scan.k3_skipped,
        "attribute_combinations": scan.n_combinations,
        "cells": len(scan.cells), "duplicate_cells": scan.n_duplicates, "pruned_cells": scan.n_pruned,
        "truncated": scan.truncated, "not_crossed": [list(p) for p in scan.skipped_pairs],
        "hypotheses": len({f.hypothesis for f in out if f.in_family}),
        "label_hypotheses": len({t.hypothesis for t in tests}), "combination_hypotheses": len(cover),
        "testable": len({f.hypothesis for f in out if f.in_family and f.testable}),
        "shown": len(visible) + len(shown_cov), "hidden_testable": len(hidden) + sum(
            1 for c in cover if not c.visible and c.testable),
        "uninformative": counts["uninformative"] + sum(1 for c in cover if c.uninformative),
        "untestable_no_pattern": counts["untestable_no_pattern"],
        "patterns_not_listed": counts["patterns_not_listed"],
        "min_support_pure_rule": pure_min,
        "n_empty_combinations": sum(1 for c in cover if c.combo.observed == 0),
        "combinations": [{"attributes": dict(c.combo.items), "observed": c.combo.observed,
                          "expected": c.combo.expected, "expected_binding": c.combo.e_binding,
                          "p_value": c.combo.p_value, "p_min": c.combo.p_min,
                          "p_zero_poisson": stats.poisson_zero_p(c.combo.expected) if c.combo.observed == 0 else None,
                          "flagged": c.visible, "cannot_co_occur": c.exclusive} for c in combos[:100]],
    }}
    return DetectorResult(out, section)


def _local_q(tests: list, cover: list, alpha: float) -> tuple[list, list]:
    """BH over every testable hypothesis of the scan (the family p of each), and who is shown (in place)."""
    ps = np.array([t.family_p if t.testable and (t.pmin_two_sided is None or t.pmin_two_sided <= alpha)
                   else np.nan for t in tests] + [c.family_p if c.testable else np.nan for c in cover], dtype=float)
    q = stats.adjust_pvalues(ps, "bh") if ps.size else ps
    for t, qi in zip(tests, q[:len(tests)]):
        t.q_local = None if np.isnan(qi) else float(qi)
        t.visible = bool(t.candidate and (t.pattern or (t.q_local is not None and t.q_local <= alpha)))
        if not t.visible:
            t.kind = "cell_test"
    for c, qi in zip(cover, q[len(tests):]):
        c.q_local = None if np.isnan(qi) else float(qi)
        c.visible = bool(c.candidate and c.q_local is not None and c.q_local <= alpha)
    return tests, cover


def _leaky(ctx: AuditContext) -> dict:
    """Columns the leakage detector flags (possible copies of the outcome), when it is installed."""
    try:
        from .leakage import find_leakage
    except ImportError:
        return {}
    return dict(find_leakage(ctx.table, ctx.roles, ctx.settings))


def _existence(ctx: AuditContext, scan, alpha: float) -> list[Finding]:
    """One info observation per (attribute, label): the levels a label occurs with, and never with."""
    out = []
    roles = ctx.roles
    for a in roles.attributes:
        if a in roles.derived and a != f"{roles.derived[a]}_count":
            continue
        t = ctx.label_table(a)
        keep = [i for i, lv in enumerate(t.levels[0]) if lv != MISSING and t.counts[i].sum() > 0]
        if not 2 <= len(keep) <= EXISTENCE_MAX_LEVELS:
            continue
        for j, name in enumerate(t.levels[1]):
            n_l = int(round(t.counts[:, j].sum()))
            if n_l == 0:
                continue
            rows, seen, never = [], [], []
            for i in sorted(keep, key=lambda i: -t.counts[i, j]):
                k = int(round(t.counts[i, j]))
                lo, hi = stats.clopper_pearson_ci(k, n_l, alpha)
                rows.append({"attribute": a, "value": t.levels[0][i], "n": k, "of": n_l, "share": k / n_l,
                             "ci_low": lo, "ci_high": hi})
                (seen if k else never).append(rows[-1])
            if not seen:  # the label occurs only where this attribute is missing
                continue
            listed = [f"{a}={r['value']} ({r['n']} of {n_l}; 95% CI {r['ci_low']:.3g}-{r['ci_high']:.3g})"
                      for r in seen]
            occurs = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
            msg = f"{name} occurs {'only ' if never else ''}with {occurs}"
            if never:
                ub = stats.zero_upper_bound(n_l, alpha)
                absent = ", ".join(f"{a}={r['value']}" for r in never)
                msg += (f"; never with {absent} (0 of {n_l}; at most {_g(ub)} of {name} examples each, "
                        f"95% upper bound)")
            out.append(Finding(
                id=f"{_DET}:existence:{a}:label={name}", bias_type=BiasType.OVERGENERALIZATION.value,
                detector=_DET, attributes={a: None}, label_value=name, kind="existence", message=msg,
                n=n_l, pattern=False, severity="info", evidence=tuple(rows),
                suggestion="Existence needs one correctly labelled example; no test applies.",
                details={"levels_seen": [r["value"] for r in seen], "levels_never": [r["value"] for r in never]}))
    return out
