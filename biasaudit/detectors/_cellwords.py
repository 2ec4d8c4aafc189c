"""Findings of the (cell, label) tests of the overgeneralization scan: sentences, advice, records.

Templates of STATISTICS.md §1.6 and §3.5; label values that do not read as words ("0", "1",
"-1", "true") are written ``label=value`` so that no advice reads "collect 0 examples". A one-item
cell that never holds the 'present' value of a binary label while both are common indicators
(``Black_Hair=1`` and label ``Blond_Hair=1``) is worded "cannot co-occur?" without advice to
collect; columns the leakage detector flags get no advice to collect either.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import stats
from ..findings import BiasType, Finding
from ._cellstats import CellTest, iut_rows_needed, upper_bound
from ._coverage import EXCLUSIVE_RATIO, _g, exclusive_pair, leak_note

__all__ = ["visible_finding", "hidden_finding", "two_sided_finding", "visible_extras", "s_min"]

_DET = "overgeneralization"


# ---------------------------------------------------------------- wording
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
    """A one-item cell that (almost) never has a binary label's 'present' value: "cannot co-occur?"."""
    if t.ratio > EXCLUSIVE_RATIO or t.cell.k != 1 or len(scan.label_levels) != 2 or t.tail != "less":
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
        never = "never" if t.obs == 0 else "almost never"
        return (f"{cell.text} and {name} {never} occur together ({t.obs} of {cell.support} examples with "
                f"{cell.text}; {_models_text(t)}): cannot co-occur?")
    if t.kind == "rule":
        other = _lab(scan, 1 - t.label, label)
        n_o = int(scan.label_counts[1 - t.label])
        return (f"Every example with {cell.text} is {other} ({cell.support} of {cell.support}; base rate "
                f"{n_o / scan.n:.0%}): no {name}, against {_models_text(t)}; {bound}")
    head = (f"No example has {cell.text} labelled {name} (0 of {cell.support}" if t.obs == 0 else
            f"Only {t.obs} of {cell.support} examples with {cell.text} are labelled {name} "
            f"({t.obs / cell.support:.0%}")
    return f"{head}; {_models_text(t)}); {bound}"


def _suggestion(scan, t: CellTest, label: str, exclusive: bool, leaks: dict) -> str:
    cell = t.cell
    note = leak_note(cell.items, leaks)
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


def visible_extras(scan, visible: list, alpha: float) -> list[dict]:
    """Upper bounds, naive-Bayes expectations and addition fragility of the shown tests, vectorised."""
    if not visible:
        return []
    obs = np.array([t.obs for t in visible])
    s = np.array([t.cell.support for t in visible])
    nl = np.array([int(scan.label_counts[t.label]) for t in visible])
    ub = upper_bound(obs, s, alpha)
    ub_label = np.where(obs == 0, stats.clopper_pearson_upper(0, nl, alpha), np.nan)
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


def visible_finding(ctx, scan, t: CellTest, alpha: float, extra: dict, leaks: dict) -> Finding:
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
                            "min_support_pure_rule": s_min(n, n_o, alpha)})
    else:
        details.update({"rule_label": name, "confidence": 1.0, "lift": t.lift,
                        "min_support_pure_rule": s_min(n, n_l, alpha)})
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
def s_min(n: int, n_label: int, alpha: float) -> int | None:
    return stats.min_support_for_purity(n, n_label, alpha)


def hidden_finding(scan, t: CellTest) -> Finding:
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


def two_sided_finding(scan, t: CellTest, alpha: float) -> Finding:
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


