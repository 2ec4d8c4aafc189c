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

import math
from functools import lru_cache

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..engine.roles import MISSING
from ..findings import BiasType, Finding
from ._cellstats import SHOW_RATIO, CellTest, cell_tests, iut_rows_needed, upper_bound
from ._coverage import CoverageTest, coverage_tests, exclusive_pair
from ._folding import fold_combinations, fold_findings
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


def overgeneralization(ctx: AuditContext) -> tuple[list[Finding], dict]:
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
    extra = _visible_extras(scan, visible, alpha)
    found = [_visible_finding(ctx, scan, t, alpha, extra[i], leaks) for i, t in enumerate(visible)]
    found = fold_findings(ctx, scan, found, visible, alpha)
    out = found + [_hidden_finding(scan, t) for t in hidden]
    out += [_two_sided_finding(scan, t, alpha) for t in visible + hidden if t.p_two_sided is not None]
    shown_cov = [c for c in cover if c.visible]
    cov_found = [_coverage_finding(scan, c, leaks) for c in shown_cov]
    out += fold_combinations(scan, cov_found, shown_cov)
    out += [_coverage_hidden(scan, c) for c in cover if not c.visible and c.testable]
    out += _existence(ctx, scan, alpha)
    s_min = {scan.label_levels[i]: _s_min(scan.n, int(c), alpha) for i, c in enumerate(scan.label_counts)}
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
        "min_support_pure_rule": s_min,
        "n_empty_combinations": sum(1 for c in cover if c.combo.observed == 0),
        "combinations": [{"attributes": dict(c.combo.items), "observed": c.combo.observed,
                          "expected": c.combo.expected, "expected_binding": c.combo.e_binding,
                          "p_value": c.combo.p_value, "p_min": c.combo.p_min,
                          "p_zero_poisson": math.exp(-c.combo.expected) if c.combo.observed == 0 else None,
                          "flagged": c.visible, "cannot_co_occur": c.exclusive} for c in combos[:100]],
    }}
    return out, section


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


# ---------------------------------------------------------------- wording
def _g(x: float) -> str:
    return f"{x:.3g}"


def _word(value) -> bool:
    """A label value that reads as a word ("DOG"), not as a number or a flag ("1", "-1", "true")."""
    text = str(value).strip()
    try:
        float(text)
        return False
    except ValueError:
        return text.lower() not in ("true", "false", "yes", "no", "y", "n", "t", "f")


def _lab(scan, L: int, label: str) -> str:
    name = scan.label_levels[L]
    return str(name) if _word(name) else f"{label}={name}"


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


def _exclusive_label(scan, t: CellTest, label: str) -> bool:
    """A one-item cell that never has a binary label's 'present' value: "cannot co-occur?"."""
    if t.obs != 0 or t.cell.k != 1 or len(scan.label_levels) != 2 or t.tail != "less":
        return False
    item = (label, scan.label_levels[t.label])
    levels = {**scan.levels, label: 2}
    counts = {**scan.item_counts, item: int(scan.label_counts[t.label])}
    return exclusive_pair((t.cell.items[0], item), levels, counts, scan.n)


def _message(scan, t: CellTest, label: str, exclusive: bool) -> str:
    cell = t.cell
    name = _lab(scan, t.label, label)
    n_l = int(scan.label_counts[t.label])
    if t.tail == "greater":  # multi-class purity rule
        return (f"Every example with {cell.text} is {name} ({t.obs} of {cell.support}; base rate "
                f"{n_l / scan.n:.0%}; lift {t.lift:.3g}; chance of such purity p={_g(t.p_value)})")
    bound = f"95% upper bound on the {name} share there: {_g(t.upper_cell)}"
    if t.obs == 0:
        bound += f"; on the share of {name} examples with {cell.text}: {_g(t.upper_label)}"
    if exclusive:
        return (f"{cell.text} and {name} never occur together (0 of {cell.support} examples with {cell.text}; "
                f"{_models_text(t)}): cannot co-occur?")
    if t.kind == "rule":
        other = _lab(scan, 1 - t.label, label)
        n_o = int(scan.label_counts[1 - t.label])
        return (f"Every example with {cell.text} is {other} ({cell.support} of {cell.support}; base rate "
                f"{n_o / scan.n:.0%}): no {name}, against {_models_text(t)}; {bound}")
    head = (f"No example has {cell.text} labelled {name} (0 of {cell.support}" if t.obs == 0 else
            f"Only {t.obs} of {cell.support} examples with {cell.text} are labelled {name} "
            f"({t.obs / cell.support:.0%}")
    return f"{head}; {_models_text(t)}); {bound}"


def _leak_note(items, leaks: dict) -> str | None:
    cols = [a for a, _ in items if a in leaks]
    if not cols:
        return None
    return (f"{', '.join(cols)} may encode the outcome ({leaks[cols[0]]}): this is possible leakage, not a gap "
            f"to fill; leave the column out (--exclude {cols[0]}) unless it is known before the label is.")


def _suggestion(scan, t: CellTest, label: str, exclusive: bool, leaks: dict) -> str:
    cell = t.cell
    note = _leak_note(cell.items, leaks)
    if note:
        return note
    name = _lab(scan, t.label, label)
    if exclusive:
        return (f"Check whether {cell.text} and {name} exclude each other by definition (for example one-hot "
                f"categories); if so this rule is expected and no data are missing.")
    if t.tail == "greater" or t.kind == "rule":
        rl = name if t.tail == "greater" else _lab(scan, 1 - t.label, label)
        return (f"A model trained on these data will likely learn '{cell.text} -> {rl}'. Look for examples "
                f"with {cell.text} and another label if they exist, or document the rule as intended.")
    return (f"Collect examples with {cell.text} labelled {name}, or check whether they were filtered out when "
            f"the data were collected; until then do not generalise about {name} with {cell.text}.")


# ---------------------------------------------------------------- findings
def _finding_id(kind: str, t: CellTest, scan) -> str:
    tail = ":greater" if t.tail == "greater" else ""
    return f"{_DET}:{kind}:{t.cell.key}:label={scan.label_levels[t.label]}{tail}"


def _visible_extras(scan, visible: list, alpha: float) -> list[dict]:
    """Upper bounds, naive-Bayes expectations and addition fragility of the shown tests, vectorised."""
    if not visible:
        return []
    obs = np.array([t.obs for t in visible])
    s = np.array([t.cell.support for t in visible])
    nl = np.array([int(scan.label_counts[t.label]) for t in visible])
    ub = upper_bound(obs, s, alpha)
    ub_label = np.where(obs == 0, 1.0 - np.power(alpha, 1.0 / np.maximum(nl, 1)), np.nan)
    extras = [{"upper_cell": float(ub[i]), "upper_label": float(ub_label[i])} for i in range(len(visible))]
    pairs = [i for i, t in enumerate(visible) if t.cell.k == 2 and t.tail == "less"]
    for i in (i for i, t in enumerate(visible) if t.cell.k > 1 and t.tail == "less"):
        t = visible[i]
        counts = [scan.item_label_counts[(it, t.label)] for it in t.cell.items]
        extras[i]["e_nb"] = float(np.prod(counts, dtype=float) / float(nl[i]) ** (t.cell.k - 1))
    if pairs:
        a = np.array([scan.item_label_counts[(visible[i].cell.items[0], visible[i].label)] for i in pairs])
        b = np.array([scan.item_label_counts[(visible[i].cell.items[1], visible[i].label)] for i in pairs])
        p_nb = stats.hypergeom_cdf(obs[pairs], nl[pairs], a, b)
        for i, v in zip(pairs, p_nb):
            extras[i]["p_nb"] = float(v)
    gaps = [i for i, t in enumerate(visible) if t.tail == "less" and t.p_value <= alpha]
    if gaps:
        width = max(len(visible[i].s_parents) for i in gaps)
        par = np.zeros((len(gaps), max(width, 1), 2), dtype=np.int64)
        for r, i in enumerate(gaps):
            t = visible[i]
            par[r, :, 0], par[r, :, 1] = scan.n, nl[i]
            for j, (sp, lp) in enumerate(zip(t.s_parents, t.l_parents)):
                par[r, j] = (sp, lp)
        fi = stats.gap_addition_fragility(obs[gaps], s[gaps], nl[gaps], np.full(len(gaps), scan.n), alpha, par)
        for i, v in zip(gaps, fi):
            extras[i]["addition_fragility"] = int(v)
    return extras


def _visible_finding(ctx, scan, t: CellTest, alpha: float, extra: dict, leaks: dict) -> Finding:
    cell, name = t.cell, scan.label_levels[t.label]
    label = ctx.roles.label
    n, n_l = scan.n, int(scan.label_counts[t.label])
    upper_cell, upper_label = extra["upper_cell"], extra["upper_label"]
    t.upper_cell, t.upper_label = upper_cell, upper_label
    exclusive = _exclusive_label(scan, t, label)
    details = {
        "k": cell.k, "support": cell.support, "n_label": n_l, "tail": t.tail,
        "expected_overall": t.e_overall, "p_overall": t.p_overall, "p_min_overall": t.pmin_overall,
        "expected_parents": {cell.parent_text(j): t.e_parents[j] for j in range(len(t.e_parents))},
        "p_parents": {cell.parent_text(j): t.p_parents[j] for j in range(len(t.p_parents))},
        "expected_binding": t.e_binding, "binding": t.binding,
        "upper_bound_share": upper_cell, "local_q": t.q_local, "cannot_co_occur": exclusive,
    }
    if t.p_two_sided is not None:
        details.update({"p_two_sided": t.p_two_sided, "p_min_two_sided": t.pmin_two_sided})
    if t.tail == "less":
        details.update({"table2x2": [[t.obs, cell.support - t.obs], [n_l - t.obs, n - cell.support - n_l + t.obs]],
                        "alternative": "less", "depleted_label": name,
                        "upper_bound_label_share": upper_label,
                        "addition_fragility": extra.get("addition_fragility", 0)})
        if "e_nb" in extra:
            details.update({"expected_naive_bayes": extra["e_nb"], "p_naive_bayes": extra.get("p_nb")})
        if t.kind == "rule":
            other = scan.label_levels[1 - t.label]
            n_o = int(scan.label_counts[1 - t.label])
            details.update({"rule_label": other, "confidence": 1.0, "lift": n / n_o,
                            "purity_p": stats.purity_p(cell.support, n, n_o),
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
        attributes=dict(cell.items), message=_message(scan, t, label, exclusive), label_value=name, kind=t.kind,
        test=test, statistic=float(t.obs), p_value=t.p_value, p_min=t.p_min, testable=t.testable,
        in_family=True, effect_size=t.ratio if t.tail == "less" else t.lift,
        effect_size_name="depletion_ratio" if t.tail == "less" else "lift", effect_level=level,
        ci_low=0.0 if t.tail == "less" else None, ci_high=upper_cell if t.tail == "less" else None,
        n=cell.support, observed=float(t.obs), expected=t.e_overall, pattern=t.pattern,
        rows_needed=rows_needed, hypothesis=t.hypothesis,
        evidence=({"cell": cell.key, "support": cell.support, "observed": t.obs,
                   "expected": t.e_overall, "p_value": t.p_value},),
        suggestion=_suggestion(scan, t, label, exclusive, leaks), details=details)


@lru_cache(maxsize=64)
def _s_min(n: int, n_label: int, alpha: float) -> int | None:
    return stats.min_support_for_purity(n, n_label, alpha)


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
        n=t.cell.support, observed=float(t.obs), expected=t.e_overall, pattern=False, hypothesis=t.hypothesis,
        details={"hidden": True, "tail": t.tail})


def _two_sided_finding(scan, t: CellTest, alpha: float) -> Finding:
    """The two-sided view of a binary label's 2 x 2 table: same key, Fisher's two-sided p (hidden)."""
    name = scan.label_levels[t.label]
    return Finding(
        id=f"{_DET}:cell_test:{t.cell.key}:label={name}:two-sided", bias_type=BiasType.OVERGENERALIZATION.value,
        detector=_DET, attributes=dict(t.cell.items), label_value=name, kind="cell_test",
        message=(f"{t.cell.text} against the rest, label {name}: {t.obs} of {t.cell.support} (expected "
                 f"{_g(t.e_overall)}; Fisher's exact two-sided p={_g(t.p_two_sided)})"),
        test="Fisher's exact test, two-sided", statistic=float(t.obs), p_value=t.p_two_sided,
        p_min=t.pmin_two_sided, testable=bool(t.pmin_two_sided <= alpha), in_family=True,
        effect_size=t.ratio, effect_size_name="depletion_ratio",
        effect_level=stats.effect_level("depletion_ratio", t.ratio), n=t.cell.support, observed=float(t.obs),
        expected=t.e_overall, pattern=False, hypothesis=t.hypothesis,
        details={"hidden": True, "tail": "two-sided", "view_of": _finding_id(t.kind, t, scan)})


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


def _coverage_finding(scan, c: CoverageTest, leaks: dict) -> Finding:
    u = c.combo
    if c.exclusive:
        msg = (f"{u.text} never occur together (0 of {scan.n}; {_coverage_models(c)}): cannot co-occur?")
        advice = (f"Check whether {u.text} exclude each other by definition (for example one-hot categories or "
                  f"a definitional exclusion); if so this is a structural zero and no data are missing.")
    elif u.observed == 0:
        msg = f"No example has {u.text} at all (0 of {scan.n}; {_coverage_models(c)})"
        advice = (f"Collect examples with {u.text}, or document that such cases cannot occur (a structural "
                  f"zero); a model trained on these rows will extrapolate there.")
    else:
        msg = (f"Only {u.observed} examples have {u.text} (of {scan.n}; {_coverage_models(c)}; "
               f"{u.ratio:.0%} of the expected count)")
        advice = (f"Collect more examples with {u.text}, or check whether they were filtered out when the data "
                  f"were collected; a model trained on these rows sees few such cases.")
    advice = _leak_note(u.items, leaks) or advice
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
                 "p_zero_poisson": math.exp(-u.expected) if u.observed == 0 else None})


def _coverage_hidden(scan, c: CoverageTest) -> Finding:
    u = c.combo
    return Finding(
        id=_coverage_id(c), bias_type=BiasType.OVERGENERALIZATION.value, detector=_DET,
        attributes=dict(u.items), kind="cell_test",
        message=f"{u.text}: {u.observed} of {scan.n} (expected {_g(u.expected)}; lower-tail p={_g(u.p_value)})",
        test="hypergeometric lower tail given the margins", statistic=float(u.observed), p_value=u.p_value,
        p_min=u.p_min, testable=True, in_family=True, effect_size=u.ratio, effect_size_name="depletion_ratio",
        effect_level=stats.effect_level("depletion_ratio", u.ratio), n=scan.n, observed=float(u.observed),
        expected=u.expected, pattern=False, hypothesis=c.hypothesis, details={"hidden": True, "tail": "less"})


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
