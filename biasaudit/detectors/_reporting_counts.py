"""Detectors that read rows in memory, computed from the streaming engine's count tables instead.

**Reporting, missingness.** :func:`biasaudit.detectors.reporting.missingness_findings` counts, for
every column c with missing values and every group g (the label and every non-derived attribute),
the table g x 1[c missing], and for its folding the cube s x g x 1[c missing].  The streaming
engine counts hidden indicator columns ``__missing__:<c>`` (level 0 missing, 1 present) chunk by
chunk with those tables planned, so the same tests run on the same counts whatever the size of
the data; the findings are built by the detector's own ``_missing_finding`` and the stratified
tests of its ``_fold`` (Cochran-Mantel-Haenszel, generalised CMH).

**Reporting, duplicates.** Exact duplicate rows need every row: they are computed on the row
sample (exact when it holds every row, marked approximate otherwise).
"""
from __future__ import annotations

from .. import stats
from ..engine.summaryroles import MISSING_PREFIX
from ..findings import Finding

__all__ = ["reporting_from_counts"]


def _missingness(ctx) -> tuple[list[Finding], list]:
    """``missingness_findings`` with every table read from ``ctx.table`` (a CountStore)."""
    from .reporting import _missing_finding, _related
    roles, table = ctx.roles, ctx.table
    skip = set(roles.ids) | {roles.label} | ({roles.weight} if roles.weight else set())
    groups = [roles.label] + [g for g in roles.attributes if g not in roles.derived]
    out: list[Finding] = []
    section = []
    weighted = roles.weight is not None
    for column in ctx.raw.columns:
        if column in skip or not table.has(MISSING_PREFIX + column):
            continue
        ind = MISSING_PREFIX + column
        n_miss = table.count(ind).counts[0]
        n_miss = float(n_miss) if weighted else int(n_miss)
        if n_miss == 0:
            continue
        section.append({"column": str(column), "n_missing": n_miss, "share": n_miss / table.n})
        if n_miss == table.n:
            continue
        found = []
        for g in groups:
            if _related(ctx, column, g):
                continue
            t = table.count(g, ind).counts
            f = _missing_finding(ctx, column, g, t)
            if f is not None:
                found.append((f, t))
        out.extend(_fold(ctx, ind, found))
    return out, section


def _fold(ctx, ind: str, found: list) -> list[Finding]:
    """``reporting._fold`` with the cube stratum x g x missing read from the count tables."""
    import numpy as np

    from .reporting import generalized_cmh
    if len(found) < 2:
        return [f for f, _ in found]
    alpha = ctx.settings.alpha
    order = sorted(range(len(found)), key=lambda i: (found[i][0].p_value, -(found[i][0].effect_size or 0.0),
                                                     found[i][0].id))
    primary = found[order[0]][0]
    if primary.p_value > alpha:
        return [f for f, _ in found]
    s = next(iter(primary.attributes))
    out = []
    for f, _ in found:
        if f is primary:
            out.append(f)
            continue
        g = next(iter(f.attributes))
        cube = ctx.table.count(s, g, ind).counts
        cube = np.round(cube[:, cube.sum(axis=(0, 2)) > 0, :]).astype(np.int64)
        if cube.shape[1] == 2:
            cmh = stats.cmh_test(list(cube))
            p_cond, test = cmh.p_value, cmh.test
        else:
            _, _, p_cond = generalized_cmh(list(cube))
            test = "generalised Cochran-Mantel-Haenszel"
        details = {**f.details, "stratified_by": s, "stratified_test": test, "stratified_p": p_cond}
        if p_cond > alpha:
            msg = f"{f.message.rstrip('.')}; not after stratifying by {s} ({test} p={p_cond:.3g})"
            f = f.evolve(explained_by=primary.id, message=msg, details=details)
        else:
            f = f.evolve(details=details)
        out.append(f)
    return out


def reporting_from_counts(ctx, sample_ctx, approximate_note: str | None) -> tuple[list[Finding], dict]:
    """The reporting detector: missingness from the count tables, duplicates from the row sample.

    ``sample_ctx`` is None when there is no sample (duplicates are then not looked for);
    ``approximate_note`` marks the duplicate findings when the sample does not hold every row.
    """
    from .reporting import duplicate_findings
    miss, miss_section = _missingness(ctx)
    dups, dup_section = duplicate_findings(sample_ctx) if sample_ctx is not None else ([], {})
    if approximate_note:
        dups = [f.evolve(details={**(f.details or {}), "approximate": approximate_note}) for f in dups]
        dup_section = {**dup_section, "approximate": approximate_note}
    text = []
    if miss_section:
        text.append("Missing values: " + "; ".join(f"{r['column']} {r['n_missing']:g} ({100 * r['share']:.1f}%)"
                                                   for r in miss_section))
    return miss + dups, {"missing": miss_section, "duplicates": dup_section, "text": text}
