r"""Overgeneralization: coverage gaps, deterministic rules and what the data cannot speak to.

For every closed cell C (:mod:`biasaudit.detectors.cells`) and label value L, the depletion test
of STATISTICS.md §3.2 (s = |C|, n_L = #{y = L}, obs = #{C, y = L}):

.. math::
    p_{overall} = P(X \le obs),\ X \sim \mathrm{Hypergeom}(n, n_L, s), \qquad E = s\,n_L/n;

for k >= 2 the same test within every parent P = C \ {item} (:math:`X \sim
\mathrm{Hypergeom}(s_P, n_{L,P}, s)`) and the intersection-union decision
:math:`p = \max(p_{overall}, \max_P p_P)` (Berger 1982): a gap is reported only when no single
parent explains it. Its smallest attainable value ``p_min`` decides testability (Tarone 1990).

* Binary labels: the two tails of a cell are the tests (C, L) and (C, L'); both are in the
  family (so choosing the depleted tail after seeing the data costs what a two-sided test
  costs), and (C, L) is the same test as (not-C, L') when not-C is a cell: kept once, the member
  with the smaller obs/E. A pure cell (obs = 0) is reported once, as the rule C -> L'
  (§3.3: the rule and the gap are one hypothesis).
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

Also returned: attribute combinations that never occur (§3.1 (a), descriptive, severity info),
and one existence observation per (attribute, label) with Clopper-Pearson intervals.

References
----------
Berger, R. L. (1982). Technometrics 24, 295-300. Tarone, R. E. (1990). Biometrics 46, 515-522.
Hanley, J. A. & Lippman-Hand, A. (1983). JAMA 249, 1743-1745 (upper bound 1 - alpha^(1/s)).
"""
from __future__ import annotations

from functools import lru_cache

from scipy import stats as sps

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, Finding
from ..engine.roles import MISSING
from ._cellstats import SHOW_RATIO, CellTest, cell_tests, iut_rows_needed
from ._folding import fold_findings, fold_unobserved
from .cells import scan_cells

__all__ = ["overgeneralization", "EXISTENCE_MAX_LEVELS", "SHOW_RATIO", "MAX_PATTERNS"]

#: Non-significant patterns listed at most (the rest are counted).
MAX_PATTERNS = 30

#: Attributes with at most this many observed levels get existence observations.
EXISTENCE_MAX_LEVELS = 8
_DET = "overgeneralization"


def overgeneralization(ctx: AuditContext) -> tuple[list[Finding], dict]:
    """Coverage gaps, rules, unobserved combinations and existence observations of ``ctx``."""
    alpha = ctx.settings.alpha
    scan = scan_cells(ctx)
    tests = cell_tests(ctx, scan, alpha)
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
    label_names = scan.label_levels
    found = [_visible_finding(ctx, scan, t, alpha) for t in visible]
    found = fold_findings(ctx, scan, found, visible, alpha)
    out = found + [_hidden_finding(scan, t) for t in hidden]
    unobs = [u for u in scan.unobserved if u.p_zero <= alpha]
    out += fold_unobserved(scan, [_unobserved_finding(scan, u) for u in unobs], unobs)
    out += _existence(ctx, scan, alpha)
    s_min = {label_names[i]: _s_min(scan.n, int(c), alpha)
             for i, c in enumerate(scan.label_counts)}
    section = {"coverage": {
        "n": scan.n, "k_max": scan.k_max, "three_way_cells_skipped": scan.k3_skipped,
        "attribute_combinations": scan.n_combinations,
        "cells": len(scan.cells), "duplicate_cells": scan.n_duplicates, "pruned_cells": scan.n_pruned,
        "truncated": scan.truncated, "not_crossed": [list(p) for p in scan.skipped_pairs],
        "hypotheses": len(tests), "testable": sum(t.testable for t in tests),
        "shown": len(visible), "hidden_testable": len(hidden),
        "uninformative": counts["uninformative"], "untestable_no_pattern": counts["untestable_no_pattern"],
        "patterns_not_listed": counts["patterns_not_listed"],
        "min_support_pure_rule": s_min,
        "n_unobserved": len(scan.unobserved),
        "unobserved": [{"attributes": dict(u.items), "expected": u.expected, "p_zero": u.p_zero,
                        "p_zero_poisson": u.p_zero_poisson, "flagged": u.p_zero <= alpha}
                       for u in scan.unobserved[:100]],
    }}
    return out, section


# ---------------------------------------------------------------- wording
def _g(x: float) -> str:
    return f"{x:.3g}"


def _subject(cell) -> str:
    return cell.items[0][0] if cell.k == 1 else "the combination"


def _models_text(t: CellTest) -> str:
    """'0.857 expected if the label did not depend on the combination (p=0.308), 0.667 given ...'."""
    parts = [f"{_g(t.e_overall)} expected if the label did not depend on {_subject(t.cell)}"
             + (f" (p={_g(t.p_overall)})" if t.cell.k > 1 else "")]
    for j in range(len(t.e_parents)):
        parts.append(f"{_g(t.e_parents[j])} given {t.cell.parent_text(j)} (p={_g(t.p_parents[j])})")
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    if t.cell.k > 1:
        text += f"; decisive p={_g(t.p_value)}, the largest"
    else:
        text += f"; exact p={_g(t.p_value)}"
    return text


def _message(scan, t: CellTest, alpha: float) -> str:
    cell, name = t.cell, scan.label_levels[t.label]
    n_l = int(scan.label_counts[t.label])
    if t.tail == "greater":  # multi-class purity rule
        return (f"Every example with {cell.text} is {name} ({t.obs} of {cell.support}; base rate "
                f"{n_l / scan.n:.0%}; lift {t.lift:.3g}; chance of such purity p={_g(t.p_value)})")
    bound = f"95% upper bound on the {name} share there: {_g(t.upper_cell)}"
    if t.obs == 0:
        bound += f"; on the share of {name} examples with {cell.text}: {_g(t.upper_label)}"
    if t.kind == "rule":
        other = scan.label_levels[1 - t.label]
        n_o = int(scan.label_counts[1 - t.label])
        return (f"Every example with {cell.text} is {other} ({cell.support} of {cell.support}; base rate "
                f"{n_o / scan.n:.0%}): no {name}, against {_models_text(t)}; {bound}")
    head = (f"No example has {cell.text} labelled {name} (0 of {cell.support}" if t.obs == 0 else
            f"Only {t.obs} of {cell.support} examples with {cell.text} are labelled {name} "
            f"({t.obs / cell.support:.0%}")
    return f"{head}; {_models_text(t)}); {bound}"


def _suggestion(scan, t: CellTest) -> str:
    cell, name = t.cell, scan.label_levels[t.label]
    if t.tail == "greater" or t.kind == "rule":
        rl = name if t.tail == "greater" else scan.label_levels[1 - t.label]
        return (f"A model trained on these data will likely learn '{cell.text} -> {rl}'. Collect examples of "
                f"other labels with {cell.text} if they exist, or document the rule as intended.")
    return (f"Collect {name} examples with {cell.text}, or check whether they were filtered out when the "
            f"data were collected; until then do not generalise about {name} with {cell.text}.")


# ---------------------------------------------------------------- findings
def _finding_id(kind: str, t: CellTest, scan) -> str:
    tail = ":greater" if t.tail == "greater" else ""
    return f"{_DET}:{kind}:{t.cell.key}:label={scan.label_levels[t.label]}{tail}"


def _visible_finding(ctx, scan, t: CellTest, alpha: float) -> Finding:
    cell, name = t.cell, scan.label_levels[t.label]
    n, n_l = scan.n, int(scan.label_counts[t.label])
    details = {
        "k": cell.k, "support": cell.support, "n_label": n_l, "tail": t.tail,
        "expected_overall": t.e_overall, "p_overall": t.p_overall, "p_min_overall": t.pmin_overall,
        "expected_parents": {cell.parent_text(j): t.e_parents[j] for j in range(len(t.e_parents))},
        "p_parents": {cell.parent_text(j): t.p_parents[j] for j in range(len(t.p_parents))},
        "expected_binding": t.e_binding, "binding": t.binding,
        "upper_bound_share": t.upper_cell, "local_q": t.q_local,
    }
    if t.tail == "less":
        details.update({"table2x2": [[t.obs, cell.support - t.obs], [n_l - t.obs, n - cell.support - n_l + t.obs]],
                        "alternative": "less", "depleted_label": name,
                        "upper_bound_label_share": t.upper_label,
                        "addition_fragility": _addition_fragility(t, n, n_l, alpha) if t.p_value <= alpha else 0})
        if t.e_nb is not None:
            details.update({"expected_naive_bayes": t.e_nb, "p_naive_bayes": t.p_nb})
        if t.kind == "rule":
            other = scan.label_levels[1 - t.label]
            n_o = int(scan.label_counts[1 - t.label])
            details.update({"rule_label": other, "confidence": 1.0, "lift": n / n_o,
                            "purity_p": float(sps.hypergeom.pmf(cell.support, n, n_o, cell.support)),
                            "min_support_pure_rule": _s_min(n, n_o, alpha)})
    else:
        details.update({"rule_label": name, "confidence": 1.0, "lift": t.lift,
                        "min_support_pure_rule": _s_min(n, n_l, alpha)})
    rows_needed = None
    if t.pattern and t.p_value > alpha and cell.k > 1 and t.tail == "less":
        rows_needed = iut_rows_needed(t, n, n_l, alpha)
    level = stats.effect_level("depletion_ratio", t.ratio) if t.tail == "less" else 3
    test = "hypergeometric, one-sided" + (" (intersection-union over parents)" if cell.k > 1 else "")
    return Finding(
        id=_finding_id(t.kind, t, scan), bias_type=BiasType.OVERGENERALIZATION.value, detector=_DET,
        attributes=dict(cell.items), message=_message(scan, t, alpha), label_value=name, kind=t.kind,
        test=test, statistic=float(t.obs), p_value=t.p_value, p_min=t.p_min, testable=t.testable,
        in_family=True, effect_size=t.ratio if t.tail == "less" else t.lift,
        effect_size_name="depletion_ratio" if t.tail == "less" else "lift", effect_level=level,
        ci_low=0.0 if t.tail == "less" else None, ci_high=t.upper_cell if t.tail == "less" else None,
        n=cell.support, observed=float(t.obs), expected=t.e_overall, pattern=t.pattern,
        rows_needed=rows_needed,
        evidence=({"cell": cell.key, "support": cell.support, "observed": t.obs,
                   "expected": t.e_overall, "p_value": t.p_value},),
        suggestion=_suggestion(scan, t), details=details)


@lru_cache(maxsize=64)
def _s_min(n: int, n_label: int, alpha: float) -> int | None:
    return stats.min_support_for_purity(n, n_label, alpha)


def _addition_fragility(t: CellTest, n: int, n_l: int, alpha: float) -> int:
    parents = [(sp, int(cp)) for sp, cp in zip(t.s_parents, t.l_parents)]
    return int(stats.addition_fragility_gap(t.obs, t.cell.support, n_l, n, alpha, parents=parents))


def _hidden_finding(scan, t: CellTest) -> Finding:
    name = scan.label_levels[t.label]
    return Finding(
        id=_finding_id("cell_test", t, scan), bias_type=BiasType.OVERGENERALIZATION.value, detector=_DET,
        attributes=dict(t.cell.items), label_value=name, kind="cell_test",
        message=(f"{name} among {t.cell.text}: {t.obs} of {t.cell.support} (expected {_g(t.e_overall)}; "
                 f"one-sided {t.tail} p={_g(t.p_value)})"),
        test="hypergeometric, one-sided", statistic=float(t.obs), p_value=t.p_value, p_min=t.p_min,
        testable=True, in_family=True, effect_size=t.ratio, effect_size_name="depletion_ratio",
        effect_level=stats.effect_level("depletion_ratio", t.ratio) if t.tail == "less" else 0,
        n=t.cell.support, observed=float(t.obs), expected=t.e_overall, pattern=False,
        details={"hidden": True, "tail": t.tail})


def _unobserved_finding(scan, u) -> Finding:
    names = " and ".join(dict.fromkeys(a for a, _ in u.items))
    return Finding(
        id=f"{_DET}:unobserved_combination:{u.key}", bias_type=BiasType.OVERGENERALIZATION.value,
        detector=_DET, attributes=dict(u.items), kind="unobserved_combination",
        message=(f"No example has {u.text} at all (0 of {scan.n}; {_g(u.expected)} expected if "
                 f"{names} were independent; chance of none {_g(u.p_zero)}): the data say nothing about "
                 f"such cases"),
        test="hypergeometric P(0), margins fixed (descriptive)", p_value=u.p_zero, testable=False,
        in_family=False, n=scan.n, observed=0.0, expected=u.expected, pattern=True, severity="info",
        suggestion=(f"Collect examples with {u.text}, or document that such cases cannot occur "
                    f"(a structural zero); a model will extrapolate there."),
        details={"expected": u.expected, "p_zero": u.p_zero, "p_zero_poisson": u.p_zero_poisson})


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
