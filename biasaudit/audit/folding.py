"""Folding: a finding that another explains points to it (``explained_by``), and folding never hides.

:func:`fold_group_rates` folds group-rate findings into the cell scan's decisions;
:func:`settle_folding` then undoes every fold that would hide something (STATISTICS.md §1.3 v0.2):

* a finding of the primary family (about the named sensitive attributes) is never folded under a
  finding outside it, nor under one about other attributes;
* a child more severe than its parent is not folded.

Folding is presentation only: checks, ``--fail-on``, JUnit and SARIF see every finding.
"""
from __future__ import annotations

from ..engine.context import AuditContext
from ..engine.roles import MISSING
from ..findings import Finding
from ..settings import severity_rank

__all__ = ["fold_group_rates", "settle_folding", "unfold_reason"]


def unfold_reason(child: Finding, parent: Finding | None) -> str | None:
    """Why ``child`` must not be folded under ``parent`` (None when the fold may stand)."""
    if parent is None:
        return "its parent is not in the result"
    if child.family == "primary":
        if parent.family != "primary":
            return "a finding about a named sensitive attribute is never folded under an exploratory finding"
        if not set(parent.attributes) <= set(child.attributes):
            return "a finding about a named sensitive attribute is never folded under another attribute"
    if severity_rank(child.severity) < severity_rank(parent.severity):
        return f"it is more severe ({child.severity}) than the finding it was folded under ({parent.severity})"
    return None


def settle_folding(findings: list[Finding], sort_key=None) -> list[Finding]:
    """Undo the folds :func:`unfold_reason` forbids, recording why in ``details["unfolded"]``.

    Returns the findings in the order of ``sort_key`` (the grader's) when given.
    """
    by_id = {f.id: f for f in findings}
    out = []
    for f in findings:
        if f.explained_by is not None and f.explained_by != f.id:
            why = unfold_reason(f, by_id.get(f.explained_by))
            if why is not None:
                f = f.evolve(explained_by=None,
                             details={**(f.details or {}), "unfolded": {"from": f.explained_by, "reason": why}})
        elif f.explained_by == f.id:
            f = f.evolve(explained_by=None)
        out.append(f)
    if sort_key is not None:
        out.sort(key=sort_key)
    return out


def fold_group_rates(findings: list[Finding], roles, ctx: AuditContext | None = None) -> list[Finding]:
    """Fold group-attribution findings into the overgeneralization finding on the same cell.

    For a binary label, "the DOG rate of color=black differs from the rest" and "color=black is
    depleted of CAT" are one 2x2 table; the cell scan has already decided whether that cell is a
    consequence of a more general finding (a spill-over of a planted gap, say).  The group-rate
    finding follows that decision instead of repeating it, and an attribute-level association
    whose every established group finding is so explained is folded into the strongest of them.
    """
    binary = len(roles.label_values) == 2
    cells: dict = {}
    for f in findings:
        if f.bias_type == "overgeneralization" and f.kind in ("gap", "rule") and len(f.attributes) == 1:
            if binary or f.label_value == roles.positive:
                key = tuple(f.attributes.items())
                if key not in cells or (cells[key].explained_by is None and f.explained_by is not None):
                    cells[key] = f
    if not cells:
        return findings
    by_attribute: dict = {}
    for key, cell in cells.items():
        by_attribute.setdefault(key[0][0], []).append(cell)
    out = []
    for f in findings:
        if f.detector == "group_attribution" and f.kind == "group_rate" and f.explained_by is None:
            cell = cells.get(tuple(f.attributes.items()))
            (attr, value), = f.attributes.items()
            if cell is None and ctx is not None:  # a two-level attribute: the other level's cell
                levels = [l for l in ctx.table.levels.get(attr, ()) if l != MISSING]
                if len(levels) == 2:
                    cell = next(iter(by_attribute.get(attr, [])), None)
            missing_id = f"reporting:missing:{attr}~{roles.label}"
            if value == MISSING and any(g.id == missing_id for g in findings):
                f = f.evolve(explained_by=missing_id)  # the missingness finding says it already
            elif cell is not None:
                f = f.evolve(explained_by=cell.explained_by or cell.id)
            elif ctx is not None and f.established:
                f = _fold_stratified(f, findings, ctx)
        out.append(f)
    by_attr: dict = {}
    for f in out:
        if f.detector == "group_attribution" and f.kind == "group_rate" and f.established:
            by_attr.setdefault(next(iter(f.attributes)), []).append(f)
    final = []
    for f in out:
        if f.detector == "group_attribution" and f.kind == "association" and f.explained_by is None:
            members = by_attr.get(next(iter(f.attributes)), [])
            if members and all(m.explained_by for m in members):
                strongest = min(members, key=lambda m: (m.p_value if m.p_value is not None else 1.0))
                f = f.evolve(explained_by=strongest.explained_by)
        final.append(f)
    return final


def _fold_stratified(f: Finding, findings: list[Finding], ctx: AuditContext) -> Finding:
    """Fold a group-rate finding that disappears once the established overgeneralization findings
    of other attributes are held fixed (exact stratified test, as the cell scan folds spill-overs)."""
    from ..detectors._folding import _stratified
    (attr, value), = f.attributes.items()
    parent = ctx.roles.parent(attr)
    cands = [g for g in findings if g.bias_type == "overgeneralization" and g.kind in ("gap", "rule")
             and g.established and g.explained_by is None
             and all(ctx.roles.parent(a) != parent for a in g.attributes)
             and all(a in ctx.table.levels for a in g.attributes)]
    if not cands:
        return f
    masks = {g.id: ctx.table.mask(**{a: v for a, v in g.attributes.items()}) for g in cands}
    pvals = {g.id: (g.p_value if g.p_value is not None else 1.0) for g in cands}
    cell = ctx.table.mask(**{attr: value})
    y = ctx.table.codes[ctx.roles.label] == ctx.label_index(ctx.roles.positive)
    depleted = y if (f.effect_size or 0.0) < 0 else ~y
    weights = ctx.table.weights
    hit = _stratified(cell, [g.id for g in cands], masks, depleted, weights, ctx.settings.alpha, p=pvals)
    if hit is None:
        return f
    first, info = hit
    return f.evolve(explained_by=first, details={**f.details, "folding": info})

