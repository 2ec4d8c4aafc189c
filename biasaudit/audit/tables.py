"""Tables of the audit result that readers show: groups, coverage heatmaps, the dataset block."""
from __future__ import annotations

from itertools import combinations

import pandas as pd

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


def group_table(ctx: AuditContext) -> pd.DataFrame:
    """attribute, group, n, share, and the rate of every label value (columns ``rate:<value>``)."""
    recs = []
    label_levels = ctx.table.levels[ctx.roles.label]
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
            recs.append(rec)
    cols = ["attribute", "group", "n", "share"] + [f"rate:{v}" for v in label_levels]
    return pd.DataFrame(recs, columns=cols)
