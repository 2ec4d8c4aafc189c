"""Orchestration: roles -> counts -> detectors -> one multiple-testing family -> severity -> result."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .. import __version__
from ..detectors import get_detectors
from ..engine.context import AuditContext
from ..engine.counts import encode
from ..engine.roles import resolve
from ..findings import AuditResult, Finding
from ..loaders import load
from ..settings import Settings
from .folding import fold_group_rates
from .grading import grade
from .method import method_section
from .tables import coverage_tables, dataset_info, group_table

__all__ = ["audit", "grade", "group_table"]


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
          threshold: float | None = None, weight_file=None, table: str | None = None,
          query: str | None = None) -> AuditResult:
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
    table, query : str, optional
        For a database (a ``postgresql://``, ``sqlite:///`` or ``duckdb:///`` URL, a
        ``.sqlite``/``.db``/``.duckdb`` file or a SQLAlchemy engine): the table, or one SELECT
        statement, to audit; counted in the database (engine ``"sql"``, :mod:`biasaudit.engine.sqlscan`).

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
    if (table is not None or query is not None) and engine != "sql":
        raise ValueError("'table' and 'query' select what to audit in a database; give a database URL or file.")
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
                               progress=progress, table=table, query=query, label=label, sensitive=sensitive, weight=weight, ids=ids,
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
    dataset = dataset_info(raw, frame, roles, table, source) if streamed is None else streamed.dataset_info(source)
    if streamed is not None:
        sections["engine"] = streamed.section(engine)
    sections["method"] = method_section(settings, family_size, n_testable)
    sections["method"]["n_tested_not_reported"] = n_hidden
    sections["coverage_tables"] = coverage_tables(ctx, findings)
    return AuditResult(dataset=dataset, settings=settings.to_dict(), groups=group_table(ctx),
                       findings=tuple(findings), family_size=family_size, n_testable=n_testable,
                       sections=sections, tool={"name": "biasaudit", "version": __version__})
