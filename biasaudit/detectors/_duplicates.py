r"""Duplicate rows (STATISTICS.md §2.6), counted over every row by the engine's row hashes.

Rows are compared over every column except ids and the weight (missing equals missing).  With a
frequency weight each row of the table is one entry, listed once: the records a weight stands for
are not copies of one another (an aggregated table has no duplicates unless a row is listed twice).
Reported: the groups of identical rows, the redundant copies (n - n_distinct) and the coincident
pairs :math:`\sum_g \binom{m_g}{2}`.

**Chance baseline.** With :math:`p_{jv}` the share of value v in column j, n independent rows
coincide in :math:`E = \binom{n}{2} \prod_j \sum_v p_{jv}^2` pairs on average, and
:math:`P(\text{pairs} \ge \text{obs})` is read from Poisson(E).

**When identical rows are evidence of duplication.** Only in excess of what the table's
dimensions imply:

* a *high-entropy* column takes part (free text or a hash: more than ``max_levels`` distinct
  values; or a non-integer number with more than 10 distinct values): such values almost never
  repeat by chance, so rows that agree on them are copies (*duplicate publication*);
* otherwise only when the columns span a space of K cells large enough that rows would rarely
  coincide (:math:`K \ge n^2`) and the coincidences exceed the chance baseline (Poisson p <= alpha).
  With fewer cells than that (an aggregated table, three low-cardinality columns as in Waterbirds)
  rows must repeat, and dependent columns repeat them further: no evidence of copying.

The finding also shows how the copies shift group shares.  Duplicate findings are observations
outside the test family (severity ``info``).
"""
from __future__ import annotations

import math


from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, Finding
from ..stats import duplicate_baseline

__all__ = ["duplicate_findings", "duplicate_baseline", "high_entropy"]


def high_entropy(info: dict, max_levels: int) -> bool:
    """Values that rarely repeat by chance: free text or hashes, or non-integer numbers with many values."""
    n_unique = info.get("n_unique")
    if n_unique is None:  # too many distinct values to count exactly
        return True
    if info.get("kind") == "num":
        return bool(n_unique > 10 and not info.get("integral", True)) or n_unique > max_levels
    return n_unique > max_levels


def _skew(d: dict) -> list[dict]:
    """Group shares with and without the redundant copies (audited rows), largest change first."""
    rows = []
    for a, (levels, all_c, dup_c) in d["skew"].items():
        n_all, n_dup = float(all_c.sum()), float(dup_c.sum())
        if n_dup <= 0:
            return []
        n_dedup = n_all - n_dup
        for i, g in enumerate(levels):
            if all_c[i] == 0:
                continue
            rows.append({"attribute": a, "group": g, "n": float(all_c[i]), "n_redundant": float(dup_c[i]),
                         "share": float(all_c[i] / n_all), "share_among_redundant": float(dup_c[i] / n_dup),
                         "share_deduplicated": float((all_c[i] - dup_c[i]) / n_dedup) if n_dedup else math.nan})
    rows.sort(key=lambda r: (-abs(r["share"] - r["share_deduplicated"]), r["attribute"], r["group"]))
    return rows


def duplicate_findings(ctx: AuditContext) -> tuple[list[Finding], dict]:
    """One duplicates finding (none when every row is distinct); see the module docstring."""
    alpha, max_levels = ctx.settings.alpha, ctx.settings.max_levels
    d = ctx.table.duplicates()
    n, redundant, pairs = d["n"], d["redundant"], d["pairs"]
    if redundant == 0 or n < 2:
        return [], {"n_rows": n, "n_distinct": d["n_distinct"], "redundant": 0, "pairs": 0}
    cols = d["columns"]
    base = duplicate_baseline([d["margins"][c] for c in cols], n)
    e_pairs, k_cells = base["expected_pairs"], base["cells"]
    p_value = stats.poisson_upper_p(pairs, e_pairs)
    high = [str(c) for c in cols if high_entropy(d["column_info"][c], max_levels)]
    roomy = k_cells >= n * n
    published = bool(high) or (p_value <= alpha and roomy)
    evidence = [{"copies": g["copies"], "rows": g["rows"],
                 **{str(c): v for c, v in g["values"].items() if str(c) not in high}} for g in d["evidence"]]
    skew = _skew(d)
    share = redundant / n
    skew_text = ""
    if skew:
        top = skew[0]
        delta = abs(top["share"] - top["share_deduplicated"])
        skew_text = (f"; removing them changes no group's share by more than {100 * delta:.1f} points" if delta < 0.01
                     else f"; removing them moves {top['attribute']}={top['group']} from {100 * top['share']:.1f}% "
                          f"to {100 * top['share_deduplicated']:.1f}%")
    n_groups = d["groups"]
    if published:
        why = (f"they repeat high-entropy column(s) {', '.join(high[:3])}" if high else
               f"more identical rows than independent columns predict in a space of {k_cells:,} cells (expected "
               f"{e_pairs:.3g} pairs, Poisson p={p_value:.3g}; strongly dependent columns could also explain this)")
        msg = (f"{redundant} row(s) ({100 * share:.1f}%) are exact copies of other rows ({n_groups} group(s), "
               f"{pairs} coincident pair(s)): duplicate publication, as {why}{skew_text}")
        sugg = ("Drop the exact duplicates (keep one row per group) before training and evaluation, and make sure "
                "no copy ends up on both sides of a train/test split.")
    elif not roomy:
        msg = (f"{redundant} row(s) repeat the values of another row ({n_groups} group(s), {pairs} coincident "
               f"pair(s)), as the table's dimensions imply: its {len(cols)} column(s) allow only {k_cells:,} distinct "
               f"rows for {n:,} rows (expected {e_pairs:.3g} pairs if the columns were independent; Poisson "
               f"P(>= {pairs}) = {p_value:.3g}, and dependent columns repeat rows further); this is not evidence of "
               f"duplication")
        sugg = "No action needed; identical rows are expected in a table with so few distinct possible rows."
    else:
        msg = (f"{redundant} row(s) repeat the values of another row ({n_groups} group(s), {pairs} coincident "
               f"pair(s)), but identical feature vectors are expected in a space of {k_cells:,} cells "
               f"(expected {e_pairs:.3g} pairs if the columns were independent; Poisson P(>= {pairs}) = "
               f"{p_value:.3g}); this is not evidence of duplication")
        sugg = "No action needed; keep identical rows unless they are known to be copies of one record."
    details = {"n_rows": n, "n_distinct": d["n_distinct"], "redundant": redundant, "groups": n_groups,
               "pairs": pairs, "expected_pairs": e_pairs, "expected_distinct": base["expected_distinct"],
               "cells": k_cells, "poisson_p": p_value, "high_entropy_columns": high,
               "duplicate_publication": published, "columns": [str(c) for c in cols], "skew": skew}
    finding = Finding(
        id="reporting:duplicates", bias_type=BiasType.REPORTING.value, detector="reporting", kind="duplicates",
        attributes={}, message=msg, test="Poisson chance baseline", statistic=float(pairs), p_value=p_value,
        in_family=False, testable=False, n=n, observed=float(pairs), expected=e_pairs, pattern=published,
        severity="info", evidence=tuple(evidence), suggestion=sugg, details=details)
    return [finding], {k: v for k, v in details.items() if k != "skew"}
