"""Orchestration: roles -> counts -> detectors -> one multiple-testing family -> severity -> result."""
from __future__ import annotations

import math
from itertools import combinations
import platform
import sys
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .. import __version__, stats
from ..engine.context import AuditContext
from ..engine.counts import encode
from ..detectors import get_detectors
from ..findings import AuditResult, Finding
from ..loaders import load
from ..engine.roles import MISSING, resolve
from ..settings import Settings, severity_rank

__all__ = ["audit", "grade", "group_table"]

#: Largest table (rows) for which the fragility index of an established finding is searched.
FRAGILITY_MAX_N = 5000


def audit(data, *, label: str | None = None, sensitive: Iterable[str] | None = None,
          weight: str | None = None, ids: Iterable[str] | None = None,
          attributes: Iterable[str] | None = None, multi: Mapping[str, str | None] | None = None,
          positive: str | None = None, reference=None, compare=None,
          reference_group: Mapping[str, str] | None = None, non_causal: Iterable[str] = (),
          alpha: float = 0.05, correction: str = "bh", random_state: int = 0, n_bins: int = 5,
          max_levels: int = 50, k_max: int | None = None, probe: bool = True,
          detectors: Iterable[str] | None = None, source: str | None = None,
          progress: Callable | None = None, engine: str = "auto", chunk_size: int | None = None,
          sample_rows: int | None = None, prediction: str | None = None,
          predicted_positive: Iterable[str] | str | None = None, score: str | None = None,
          threshold: float | None = None, weight_file=None) -> AuditResult:
    """Audit a labelled table for bias.

    Parameters
    ----------
    data : pandas.DataFrame or path
        The table (or a file :func:`biasaudit.load` reads).
    label : str, optional
        The label column; inferred when omitted (a column named label/class/target/y/outcome,
        else the last column).
    sensitive : list of str, optional
        Attributes to audit for group attribution and proxies; every attribute when omitted.
    weight : str, optional
        A column of non-negative frequency weights (aggregated tables).
    multi : dict, optional
        Multi-valued columns and their separators (None: detect).
    positive : str, optional
        The label value whose rate is compared (default: the minority value).
    reference : DataFrame or path, optional
        Population shares (columns attribute, value, share) for the selection detector.
    compare : DataFrame or path, optional
        A second sample (e.g. the test split) for the shift detector.
    alpha : float
        Level of every test and of the false discovery rate.
    correction : {"bh", "holm", "by"}
        Applied once over every p-value of the scan.
    random_state : int
        Seed of all Monte Carlo and permutation procedures.
    engine : {"auto", "memory", "stream", "dask"}
        ``"memory"`` loads the table; ``"stream"`` reads a CSV/Parquet file (or a DataFrame) in
        chunks and counts without holding the rows (:mod:`biasaudit.stream`); ``"dask"`` counts
        a dask DataFrame partition by partition (:mod:`biasaudit.distributed`). ``"auto"``: dask
        for a dask DataFrame, stream for a CSV/Parquet file larger than 256 MB or than a quarter
        of the available memory, memory otherwise. Count-based findings are identical across engines.
    chunk_size : int, optional
        Rows per chunk of the streaming engine.
    sample_rows : int, optional
        Rows of the seeded sample that detectors needing rows (the probe, duplicates, missing
        values, the coverage scan) use under the stream and dask engines; exact when the data
        have no more rows than this.
    prediction : str, optional
        Column of a model's hard predictions; audited by the ``predictions`` detector (error
        rates, PPV and selection rates by group) and left out of the audited attributes.
    predicted_positive : str or list of str, optional
        Prediction value(s) meaning "positive" (default: the label's positive value).
    score : str, optional
        Column of a model's scores: predicted positive when ``score >= threshold``; also used
        for calibration by group.  Left out of the audited attributes.
    threshold : float, optional
        Cut-off of ``score`` (default 0.5 for scores within [0, 1]).
    weight_file : path or DataFrame, optional
        Per-row weights written by ``biasaudit reweigh`` (see :mod:`biasaudit.reweigh`); the
        tests then use counts scaled to Kish's effective sample size.

    Returns
    -------
    AuditResult
    """
    if not 0 < alpha < 1:
        raise ValueError(f"The 'alpha' parameter of audit must be in (0, 1). Got {alpha!r} instead.")
    if correction not in ("bh", "holm", "by"):
        raise ValueError(f"The 'correction' parameter of audit must be 'bh', 'holm' or 'by'. Got {correction!r} instead.")
    from ..engine.scan import choose_engine
    model_inputs = prediction is not None or score is not None or weight_file is not None
    if model_inputs and engine == "auto" and choose_engine(data, engine) == "stream":
        engine = "memory"  # predictions and weight files are matched row by row
    engine = choose_engine(data, engine)
    if model_inputs and engine != "memory":
        raise ValueError(f"Predictions, scores and weight files need engine='memory'. Got {engine!r} instead.")
    if source is None:
        source = "DataFrame" if isinstance(data, pd.DataFrame) else (
            "dask DataFrame" if engine == "dask" else str(data))
    settings = Settings(alpha=alpha, correction=correction, random_state=random_state, n_bins=n_bins,
                        max_levels=max_levels, k_max=k_max, probe=probe, non_causal=tuple(non_causal))
    options = {"reference": reference, "compare": compare, "reference_group": dict(reference_group or {}),
               "prediction": prediction, "score": score, "threshold": threshold,
               "predicted_positive": ((predicted_positive,) if isinstance(predicted_positive, str)
                                      else tuple(predicted_positive or ())), "weight_file": weight_file}
    streamed = None
    if engine == "memory":
        raw = load(data, label=label)
        if raw.attrs.get("biasaudit_multi"):  # multi-valued columns the loader made (e.g. COCO categories)
            multi = {**raw.attrs["biasaudit_multi"], **dict(multi or {})}
        if weight_file is not None:  # reweighing / raking weights (biasaudit reweigh)
            from ..tools.reweigh import attach_weight_file
            raw, weight = attach_weight_file(raw, weight_file, weight=weight)
        frame, roles = resolve(raw, label=label, sensitive=sensitive, weight=weight, ids=ids,
                               attributes=attributes, multi=multi, positive=positive, n_bins=n_bins,
                               max_levels=max_levels, exclude=[c for c in (prediction, score) if c is not None])
        table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
        if weight_file is not None or (table.weights is not None
                                       and not np.allclose(table.weights, np.round(table.weights))):
            from ..tools.reweigh import weighted_table  # fractional weights: tests see Kish-scaled counts
            table = weighted_table(table)
        ctx = AuditContext(table=table, roles=roles, settings=settings, frame=frame, raw=raw, options=options)
    else:  # count tables chunk by chunk (stream) or partition by partition (dask); rows never held
        from ..engine.scan import engine_scan
        streamed = engine_scan(data, engine=engine, chunk_size=chunk_size, sample_rows=sample_rows,
                               progress=progress, label=label, sensitive=sensitive, weight=weight, ids=ids,
                               attributes=attributes, multi=multi, positive=positive, n_bins=n_bins,
                               max_levels=max_levels, k_max=k_max, random_state=random_state)
        roles, table = streamed.roles, streamed.store
        ctx = streamed.context(settings, options)

    names = list(detectors) if detectors is not None else None
    chosen = get_detectors(names)
    if not probe:
        chosen.pop("probe", None)
        chosen.pop("image_probe", None)
    findings: list[Finding] = []
    sections: dict = {}
    for i, (name, fn) in enumerate(chosen.items()):
        if progress is not None:
            progress(name, i, len(chosen))
        found = fn(ctx) if streamed is None else streamed.run(name, fn, settings, options)
        if isinstance(found, tuple):  # (findings, section)
            found, section = found
            sections[name] = section
        findings.extend(found)

    findings, family_size, n_testable = grade(findings, settings)
    findings = fold_group_rates(findings, roles, ctx if streamed is None else streamed.rows_context(settings, options))
    # hypotheses tested only to keep the family honest (e.g. cells that are not depleted) count in
    # the family but are not reported one by one
    n_hidden = sum(1 for f in findings if f.details and f.details.get("hidden"))
    findings = [f for f in findings if not (f.details and f.details.get("hidden"))]
    dataset = _dataset_info(raw, frame, roles, table, source) if streamed is None else streamed.dataset_info(source)
    if streamed is not None:
        sections["engine"] = streamed.section(engine)
    from .method import method_section
    sections["method"] = method_section(settings, family_size, n_testable)
    sections["method"]["n_tested_not_reported"] = n_hidden
    sections["coverage_tables"] = coverage_tables(ctx, findings)
    return AuditResult(dataset=dataset, settings=settings.to_dict(), groups=group_table(ctx),
                       findings=tuple(findings), family_size=family_size, n_testable=n_testable,
                       sections=sections, tool={"name": "biasaudit", "version": __version__})


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
        except (KeyError, ValueError, NotImplementedError):  # not counted (streaming engine)
            continue
        if max(len(t.levels[0]), len(t.levels[1])) > max_levels:
            continue
        tables.append({"attributes": [a, b], "levels": [list(t.levels[0]), list(t.levels[1])],
                       "observed": t.counts.tolist()})
        if len(tables) == limit:
            break
    return {"label": roles.label, "label_values": list(ctx.table.levels[roles.label]), "tables": tables}


def grade(findings: list[Finding], settings: Settings) -> tuple[list[Finding], int, int]:
    """Adjust every family p-value once, grade severity, word the verdict, and sort.

    Hypotheses whose smallest attainable p-value exceeds alpha (Tarone 1990) are screened out of
    the family and graded ``insufficient-data`` when the data show the pattern.
    """
    alpha = settings.alpha
    family = [i for i, f in enumerate(findings)
              if f.in_family and f.testable and f.p_value is not None and math.isfinite(f.p_value)]
    n_in_family = sum(1 for f in findings if f.in_family)
    q = stats.adjust_pvalues(np.array([findings[i].p_value for i in family]), settings.correction) \
        if family else np.array([])
    q_of = dict(zip(family, q))
    out = []
    for i, f in enumerate(findings):
        p_adj = float(q_of[i]) if i in q_of else None
        if f.in_family:
            sev = stats.grade_severity(p_adj if p_adj is not None else 1.0, f.effect_level,
                                       testable=i in q_of, pattern=f.pattern, alpha=alpha)
        else:
            sev = f.severity if f.severity != "info" else "info"
        g = f.evolve(p_adjusted=p_adj, severity=sev)
        g = _add_fragility(g, alpha)
        g = g.evolve(message=_verdict(g, alpha))
        out.append(g)
    present = {f.id for f in out}
    out = [f if f.explained_by is None or f.explained_by in present else f.evolve(explained_by=None)
           for f in out]
    out.sort(key=_sort_key)
    return out, n_in_family, len(family)


def _sort_key(f: Finding):
    p = f.p_adjusted if f.p_adjusted is not None else (f.p_value if f.p_value is not None else 1.0)
    return (severity_rank(f.severity), f.explained_by is not None, -f.effect_level, p,
            -abs(f.effect_size or 0.0), f.id)


def _add_fragility(f: Finding, alpha: float) -> Finding:
    t22 = f.details.get("table2x2") if f.details else None
    if t22 is None or f.fragility is not None:
        return f
    t = np.asarray(t22, dtype=int) if np.allclose(t22, np.round(t22)) else None
    if t is None:
        return f
    alt = f.details.get("alternative", "two-sided")
    # fragility matters for borderline findings; for overwhelming ones on large tables it is large
    # by construction and its search is costly, so it is left out there
    if f.established and (t.sum() > FRAGILITY_MAX_N or (f.p_value is not None and f.p_value < 1e-8)):
        return f
    if f.established:
        fi = stats.fragility_flip(t, alpha=alpha, alternative=alt)
        if fi is None:
            return f
        n = int(t.sum())
        return f.evolve(fragility={"kind": "flip", "value": fi, "quotient": fi / n if n else None,
                                   "fragile": bool(fi <= 3 or (n and fi / n <= 0.01))})
    if (f.severity in ("weak-evidence", "insufficient-data") and f.pattern and f.rows_needed is None
            and not (f.p_value is not None and f.p_value <= alpha)):
        needed = stats.rows_needed(t, lambda x: stats.independence_test(x, alpha=alpha) if alt == "two-sided"
                                   else _depletion_result(x), alpha=alpha)
        return f.evolve(rows_needed=needed)
    return f


class _P:
    def __init__(self, p):
        self.p_value = p


def _depletion_result(t: np.ndarray) -> _P:
    # t = [[obs, s-obs], [n_L-obs, rest]]: cell x (label L, other)
    obs, s = t[0, 0], t[0].sum()
    n_l, n = t[:, 0].sum(), t.sum()
    return _P(stats.depletion_test(obs, s, n_l, n)[0])


def _verdict(f: Finding, alpha: float) -> str:
    base = f.message.rstrip(". ")
    if f.severity in ("critical", "high", "medium", "low"):
        tail = ("statistically supported" + (f" (q={f.p_adjusted:.3g})" if f.p_adjusted is not None else ""))
        if f.fragility and f.fragility.get("fragile"):
            tail += f"; fragile: {f.fragility['value']} relabelled row(s) would undo it"
    elif f.severity == "weak-evidence":
        tail = ("weak evidence: pattern observed, not statistically supported after correction"
                + (f" (q={f.p_adjusted:.3g})" if f.p_adjusted is not None else ""))
    elif f.severity == "insufficient-data":
        pmin = f" (smallest attainable p = {f.p_min:.3g})" if f.p_min is not None else ""
        tail = f"n too small to test: even a perfect pattern here could not reach p <= {alpha:g}{pmin}"
    else:
        return base + "."
    if f.rows_needed:
        tail += f"; about {f.rows_needed:,} rows with the same proportions would establish it"
    return f"{base} — {tail}."


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


def _dataset_info(raw, frame, roles, table, source) -> dict:
    label_counts = table.count(roles.label)
    cols = []
    for c in raw.columns:
        s = raw[c]
        cols.append({"name": str(c), "kind": roles.kinds.get(c, "excluded"), "n_unique": int(s.nunique()),
                     "n_missing": int(s.isna().sum())})
    for c, parent in roles.derived.items():
        cols.append({"name": c, "kind": "derived", "derived_from": parent,
                     "n_unique": int(frame[c].nunique()), "n_missing": int(frame[c].isna().sum())})
    return {
        "source": source, "n_rows": int(len(raw)), "n_rows_audited": int(len(frame)),
        "n_weighted": float(table.n) if roles.weight else None,
        "label": roles.label, "label_values": list(roles.label_values), "positive": roles.positive,
        "label_counts": {v: label_counts.counts[i] for i, v in enumerate(label_counts.levels[0])},
        "sensitive": list(roles.sensitive), "attributes": list(roles.attributes),
        "ids": list(roles.ids), "weight": roles.weight, "bins": dict(roles.bins),
        "derived": dict(roles.derived), "excluded": dict(roles.excluded),
        "notes": list(raw.attrs.get("biasaudit_notes", [])) + list(roles.notes),
        "skipped": list(raw.attrs.get("biasaudit_skipped", [])),
        "columns": cols,
    }


def environment() -> dict:
    """Software versions for the method section."""
    import matplotlib
    import scipy
    import sklearn
    import statsmodels
    return {"python": sys.version.split()[0], "platform": platform.platform(terse=True),
            "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__, "scikit-learn": sklearn.__version__,
            "matplotlib": matplotlib.__version__, "biasaudit": __version__}
