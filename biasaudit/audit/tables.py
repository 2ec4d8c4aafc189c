"""Tables of the audit result that readers show: groups, coverage heatmaps, the dataset block."""
from __future__ import annotations

from itertools import combinations

import pandas as pd

from .. import stats
from ..engine.context import AuditContext
from ..findings import Finding

__all__ = ["coverage_tables", "group_table"]


def coverage_tables(ctx: AuditContext, findings: list[Finding], limit: int = 4, max_levels: int = 12) -> dict:
    """Attribute pair x label count tables for the report's coverage heatmaps.

    Pairs named by two-way overgeneralization findings come first, then pairs of sensitive
    attributes; pairs derived from one column and pairs with many levels are skipped.
    """
    roles = ctx.roles
    order = {a: i for i, a in enumerate(roles.attributes)}
    pairs: list = []
    for f in findings:
        if f.bias_type == "overgeneralization" and len(f.attributes) == 2 and all(a in order for a in f.attributes):
            p = tuple(sorted(f.attributes, key=order.get))
            if p not in pairs:
                pairs.append(p)
    pairs += [p for p in combinations(roles.sensitive, 2) if p not in pairs and all(a in order for a in p)]
    tables = []
    for a, b in pairs:
        if roles.parent(a) == roles.parent(b):
            continue
        try:
            t = ctx.label_table(a, b)
        except KeyError:  # not an audited column
            continue
        if max(len(t.levels[0]), len(t.levels[1])) > max_levels:
            continue
        tables.append({"attributes": [a, b], "levels": [list(t.levels[0]), list(t.levels[1])],
                       "observed": t.counts.tolist()})
        if len(tables) == limit:
            break
    return {"label": roles.label, "label_values": list(ctx.table.levels[roles.label]), "tables": tables}


def _wilson(rate: float, n: float, alpha: float) -> tuple:
    """Wilson interval of a group's rate (weighted counts rounded); (None, None) below one row."""
    if n < 1:
        return None, None
    try:
        return stats.wilson_ci(round(float(rate) * float(n)), round(float(n)), alpha)
    except ValueError:
        return None, None


def group_table(ctx: AuditContext) -> pd.DataFrame:
    """attribute, group, n, share, the rate of every label value (columns ``rate:<value>``) and its
    Wilson interval at the audit's alpha (``ci_low:<value>``, ``ci_high:<value>``; None below one row)."""
    recs = []
    label_levels = ctx.table.levels[ctx.roles.label]
    alpha = ctx.settings.alpha
    for a in ctx.roles.attributes:
        t = ctx.label_table(a)
        n_all = t.counts.sum()
        for i, g in enumerate(t.levels[0]):
            n_g = t.counts[i].sum()
            if n_g == 0:
                continue
            rec = {"attribute": a, "group": g, "n": n_g, "share": n_g / n_all}
            for j, v in enumerate(label_levels):
                rec[f"rate:{v}"] = t.counts[i, j] / n_g
            for v in label_levels:
                rec[f"ci_low:{v}"], rec[f"ci_high:{v}"] = _wilson(rec[f"rate:{v}"], n_g, alpha)
            recs.append(rec)
    cols = (["attribute", "group", "n", "share"] + [f"rate:{v}" for v in label_levels]
            + [f"{b}:{v}" for v in label_levels for b in ("ci_low", "ci_high")])
    return pd.DataFrame(recs, columns=cols)
