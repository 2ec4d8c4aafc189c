"""Orchestration: source -> summaries -> roles -> count store -> detectors -> families -> severity -> result."""
from __future__ import annotations

import time
from typing import Callable, Iterable, Mapping

import pandas as pd

from .._version import __version__
from ..detectors import planned_tables, registry
from ..engine.context import AuditContext
from ..engine.describe import dataset_info, engine_section
from ..engine.levels import parse_bins
from ..engine.store import RowGuard
from ..findings import AuditResult, DetectorResult, Finding
from ..settings import Settings
from .families import assign_families, families_section
from .folding import fold_group_rates, settle_folding
from .grading import grade, sort_key
from .method import method_section
from .tables import coverage_tables, group_table

__all__ = ["audit", "grade", "group_table", "LABEL_TYPE_ERROR", "DETECTOR_CONTRACT_ERROR", "TABLE_NEEDS_DATABASE",
           "WEIGHT_FILE_NEEDS_ROWS"]

#: Message of the TypeError for a detector that returns something other than a DetectorResult.
DETECTOR_CONTRACT_ERROR = "Detector {name!r} must return a DetectorResult. Got a {got} instead."

#: Message of the TypeError for a label that is not a column name.
LABEL_TYPE_ERROR = "The 'label' parameter of audit must be a column name (str). Got {got} instead."
#: Message of the ValueError for ``table=``/``query=`` with a source that is not a database.
TABLE_NEEDS_DATABASE = ("'table' and 'query' select what to audit in a database; give a database URL, a "
                        ".sqlite/.db/.duckdb file or a SQLAlchemy engine.")
#: Message of the ValueError for a weight file with a database (its weights are matched row by row).
WEIGHT_FILE_NEEDS_ROWS = ("A weight file is matched to the rows one by one; export the table (or join the "
                          "weights in the database and give --weight COLUMN) to use one.")


def _names(value, param: str) -> tuple | None:
    """A column name or a list of them as a tuple (a single string is one column)."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (pd.Series, pd.DataFrame)):
        raise TypeError(f"The '{param}' parameter of audit must be column names (str). Got a "
                        f"{type(value).__name__} instead.")
    out = tuple(value)
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise TypeError(f"The '{param}' parameter of audit must be column names (str). Got {bad[0]!r} instead.")
    return out


def audit(data, *, label: str | None = None, sensitive: Iterable[str] | str | None = None,
          weight: str | None = None, ids: Iterable[str] | None = None,
          attributes: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
          keep: Iterable[str] | None = None, multi: Mapping[str, str | None] | None = None, positive: str | None = None, reference=None,
          compare=None, reference_group: Mapping[str, str] | None = None, non_causal: Iterable[str] = (),
          alpha: float = 0.05, correction: str = "bh", primary_correction: str = "holm",
          random_state: int = 0, bins=None, n_bins: int | None = None,
          max_levels: int = 50, k_max: int | None = None, probe: bool = True,
          detectors: Iterable[str] | None = None, source: str | None = None,
          progress: Callable | None = None, engine: str = "auto", chunk_size: int | None = None,
          sample_rows: int | None = None, prediction: str | None = None,
          predicted_positive: Iterable[str] | str | None = None, score: str | None = None,
          threshold: float | None = None, weight_file=None, encoding: str = "utf-8", table: str | None = None,
          query: str | None = None) -> AuditResult:
    """Audit a labelled table for bias.

    Every input takes one path: a source of column chunks, one pass of per-column summaries, one
    role resolver, one count store of encoded tables, then the detectors (see
    :mod:`biasaudit.engine.scan`).

    Parameters
    ----------
    data : pandas.DataFrame, dask DataFrame, path, database URL or SQLAlchemy engine / connection
        The table, or a file :func:`biasaudit.load` reads (CSV/TSV/Parquet files are read in chunks),
        or a database (``postgresql://``, ``sqlite:///``, ``duckdb:///`` URLs, ``.sqlite``/``.db``/
        ``.duckdb`` files) whose ``table`` or ``query`` is summarized and counted in the database.
    label : str, optional
        The label column; inferred when omitted (a column named label/class/target/y/outcome,
        else the last column).
    sensitive : str or list of str, optional
        The sensitive attributes your question is about.  Their hypotheses (association, group
        rates, the association of each pair of them, conditional checks by the other named
        attributes) form the primary family, corrected on its own and reported first.  When
        omitted, every attribute is audited for group attribution and proxies, in one exploratory
        family.
    weight : str, optional
        A column of non-negative frequency weights (aggregated tables).
    attributes, exclude : list of str, optional
        Audit only these columns; leave these columns out.
    keep : list of str, optional
        Columns to audit even when they look like a leak of the outcome or a copy of another column
        (the ``leakage`` detector otherwise leaves them out of every other detector).
    multi : dict, optional
        Multi-valued columns and their separators (None: detect).
    positive : str, optional
        The label value whose rate is compared (default: the minority value, by weight when weighted).
    reference : DataFrame or path, optional
        Population shares (columns attribute, value, share) for the selection detector.
    compare : DataFrame or path, optional
        A second sample (e.g. the test split) for the shift detector.
    alpha : float
        Level of every test and of the false discovery rate.
    correction : {"bh", "holm", "by"}
        Correction of the exploratory family (every hypothesis not about the named attributes).
    primary_correction : {"holm", "bh", "by"}
        Correction of the primary family (Holm: family-wise error control for the few hypotheses
        named before the scan).
    random_state : int
        Seed of the row sample and of every Monte Carlo and permutation procedure.
    bins : int, mapping or list of str, optional
        Quantile bins of numeric attributes (default 5, plus a bottom and a top 5 % bin): an int,
        or per column the cut points (``{"age": [18, 25, 45, 65]}``) or a number of bins; the CLI's
        ``"5"`` / ``"age=18,25,45,65"`` strings are accepted too.  The same name as ``--bins`` and
        the config file's ``bins``.
    n_bins : int, optional
        Deprecated alias of ``bins`` (a FutureWarning; removed in the next release).
    engine : {"auto", "memory", "stream", "dask", "sql"}
        One engine runs in every case.  ``"memory"`` keeps every row in the row sample (exact
        row-reading detectors at any size); ``"dask"`` is implied by a dask DataFrame, ``"sql"`` by
        a database.
    chunk_size : int, optional
        Rows per chunk.
    sample_rows : int, optional
        Rows of the seeded sample that detectors reading rows use (default 200,000); exact when
        the data have no more rows than this.
    prediction, predicted_positive, score, threshold
        A model's outputs, audited by the ``predictions`` detector (its rows are matched, so the
        sample holds every row).
    weight_file : path or DataFrame, optional
        Per-row weights written by ``biasaudit reweigh``; the tests then use counts scaled to
        Kish's effective sample size.
    encoding : str
        Text encoding of a delimited file.
    table, query : str, optional
        For a database: the table or view, or one SELECT statement, to audit
        (:mod:`biasaudit.engine.sqlscan`).

    Returns
    -------
    AuditResult
    """
    if label is not None and not isinstance(label, str):
        raise TypeError(LABEL_TYPE_ERROR.format(got=f"a {type(label).__name__}"))
    sensitive, attributes = _names(sensitive, "sensitive"), _names(attributes, "attributes")
    exclude, ids = _names(exclude, "exclude"), _names(ids, "ids")
    n_given, per_column = parse_bins(bins)
    from ..validation import renamed
    n_bins = renamed(n_given, n_bins, old="n_bins", new="bins", where="audit", default=5)
    from ..validation import validate_all  # the validators of the CLI and the config file
    checked = validate_all(alpha=alpha, correction=correction, random_state=random_state, n_bins=n_bins,
                           max_levels=max_levels, k_max=k_max, threshold=threshold, chunk_size=chunk_size,
                           sample_rows=sample_rows)
    alpha, random_state, n_bins, max_levels = (checked[k] for k in ("alpha", "random_state", "n_bins", "max_levels"))
    if primary_correction not in ("bh", "holm", "by"):
        raise ValueError("The 'primary_correction' parameter of audit must be 'holm', 'bh' or 'by'. "
                         f"Got {primary_correction!r} instead.")
    from ..engine.scan import DEFAULT_SAMPLE_ROWS, ENGINES, choose_engine
    if engine not in ENGINES:
        raise ValueError(f"The 'engine' parameter of audit must be one of {', '.join(ENGINES)}. Got {engine!r} "
                         f"instead.")
    outputs = [c for c in (prediction, score) if c is not None]
    every_row = engine == "memory" or bool(outputs) or weight_file is not None
    if every_row:
        sample_rows = max(int(sample_rows or 0), 2**62)
    chosen_engine = choose_engine(data, engine)
    if (table is not None or query is not None) and chosen_engine != "sql":
        raise ValueError(TABLE_NEEDS_DATABASE)
    if chosen_engine == "sql" and weight_file is not None:
        raise ValueError(WEIGHT_FILE_NEEDS_ROWS)
    if source is None:
        source = "DataFrame" if isinstance(data, pd.DataFrame) else (
            "dask DataFrame" if chosen_engine == "dask" else str(data))
    settings = Settings(alpha=alpha, correction=correction, primary_correction=primary_correction,
                        random_state=random_state, n_bins=n_bins,
                        max_levels=max_levels, k_max=k_max, probe=probe, non_causal=tuple(non_causal))
    options = {"reference": reference, "compare": compare, "reference_group": dict(reference_group or {}),
               "keep": _names(keep, "keep") or (), "named": tuple(sensitive or ()),
               "prediction": prediction, "score": score, "threshold": threshold,
               "predicted_positive": ((predicted_positive,) if isinstance(predicted_positive, str)
                                      else tuple(predicted_positive or ())), "weight_file": weight_file}
    roles_kw = dict(label=label, sensitive=sensitive, weight=weight, ids=ids, attributes=attributes,
                    exclude=exclude, multi=multi, positive=positive, n_bins=n_bins, bins=per_column,
                    max_levels=max_levels, outputs=outputs)
    chosen = registry(detectors, probe)
    tracker = _Progress(progress, chosen)
    if weight_file is not None:  # reweighing / raking weights (biasaudit reweigh), matched by id or row order
        from ..loaders import load
        from ..engine.weights import attach_weight_file
        frame = load(data, label=label, encoding=encoding) if not isinstance(data, pd.DataFrame) else data
        frame, roles_kw["weight"] = attach_weight_file(frame, weight_file, weight=weight)
        data = frame
    if chosen_engine == "sql":  # summaries, sample and count tables computed in the database
        from ..engine.sqlscan import scan_sql
        sc = scan_sql(data, table=table, query=query, sample_rows=sample_rows, progress=tracker.step,
                      random_state=random_state, **roles_kw)
        source = sc.description  # the masked URL and the table or query, never the password
    elif chosen_engine == "dask":
        from ..engine.dask import scan_dask
        sc = scan_dask(data, sample_rows=sample_rows, progress=tracker.step, random_state=random_state, **roles_kw)
    else:
        from ..engine.scan import scan
        sc = scan(data, chunk_rows=chunk_size, sample_rows=DEFAULT_SAMPLE_ROWS if sample_rows is None else sample_rows,
                  progress=tracker.step, random_state=random_state, encoding=encoding, **roles_kw)
    try:
        return _run(sc, chosen, settings, options, source, chosen_engine if chosen_engine != "stream" else "local",
                    tracker, sensitive)
    finally:
        sc.close()


def _run(sc, chosen, settings, options, source, engine, tracker, sensitive) -> AuditResult:
    extra = planned_tables(chosen, sc.roles, sc.all_levels, sc.n_kept, settings)
    hashes = tuple(dict.fromkeys(h for d in chosen for h in d.hashes))
    sc.count(extra, progress=tracker.step, hashes=hashes)
    attrs = sc.source.frame.attrs if sc.source is not None and sc.source.frame is not None else {}
    sample = {}

    def sample_ctx():
        if "ctx" not in sample:
            from ..engine.sample import sample_context
            sample["ctx"] = sample_context(sc, settings, options)
        return sample["ctx"]

    def counts_context(roles):
        return AuditContext(table=sc.store, roles=roles, settings=settings, frame=RowGuard("frame", list(sc.preps)),
                            raw=RowGuard("raw", sc.columns, attrs), options=options,
                            sample_source=sample_ctx if len(sc.sample.rows) else None)

    findings: list[Finding] = []
    sections: dict = {}
    leak = next((d for d in chosen if d.name == "leakage"), None)
    if leak is not None:  # before the others: leaked columns leave the attributes of every other detector
        tracker.start(leak, sc)
        res = _detector_result(leak, leak.function()(counts_context(sc.roles)))
        findings.extend(res.findings)
        if res.section is not None:
            sections[leak.name] = res.section
        sc.roles = without_leaks(sc.roles, {next(iter(f.attributes)): f for f in res.findings}, named=sensitive or ())
    chosen = [d for d in chosen if d.name != "leakage"]
    roles = sc.roles
    counts_ctx = counts_context(roles)
    note = (f"computed on a seeded uniform sample of {len(sc.sample.rows):,} of {sc.n_rows:,} rows: approximate"
            if not sc.sample_complete else None)
    for d in chosen:
        tracker.start(d, sc)
        if d.reads == "sample":
            if len(sc.sample.rows) == 0:
                sc.skipped.append(f"{d.name} (reads rows; sample_rows=0)")
                continue
            sc.sample_readers.append(d.name)
            res = _detector_result(d, d.function()(sample_ctx()))
        else:
            res = _detector_result(d, d.function()(counts_ctx))
        found, section = list(res.findings), res.section
        if d.reads == "sample" and note:
            found = [f.evolve(approximate=note) for f in found]
            if section is not None:
                section = {**section, "approximate": note}
        if section is not None:
            sections[d.name] = section
        findings.extend(found)
    tracker.stage("grading")
    findings, family_size, n_testable = grade(assign_families(findings, sensitive, roles), settings)
    rows_ctx = sample_ctx() if sc.sample_complete and len(sc.sample.rows) else None
    if rows_ctx is None:
        sc.skipped.append("group-rate folding by stratified tests (needs every row; raise --sample-rows)")
    findings = settle_folding(fold_group_rates(findings, roles, rows_ctx), sort_key)
    families = families_section(findings, settings, sensitive, roles)
    # hypotheses tested only to keep the family honest (e.g. cells that are not depleted) count in
    # the family but are not reported one by one
    n_hidden = sum(1 for f in findings if f.hidden)
    findings = [f for f in findings if not f.hidden]
    dataset = dataset_info(sc, source)
    sections["engine"] = sc.engine_section() if hasattr(sc, "engine_section") else engine_section(sc, engine)
    sections["families"] = families
    sections["method"] = method_section(settings, family_size, n_testable, families)
    sections["method"]["n_tested_not_reported"] = n_hidden
    sections["coverage_tables"] = coverage_tables(counts_ctx, findings)
    tracker.done()
    return AuditResult(dataset=dataset, settings=settings.to_dict(), groups=group_table(counts_ctx),
                       findings=tuple(findings), family_size=family_size, n_testable=n_testable,
                       sections=sections, tool={"name": "biasaudit", "version": __version__})


def _detector_result(d, res) -> DetectorResult:
    """``res`` when the detector kept its contract (a :class:`DetectorResult`); else a TypeError naming it."""
    if not isinstance(res, DetectorResult):
        raise TypeError(DETECTOR_CONTRACT_ERROR.format(name=d.name, got=type(res).__name__))
    return res


def without_leaks(roles, leaks: dict, named=()):
    """``roles`` with the leaked columns (and the columns derived from them) left out of the attributes.

    A sensitive attribute the user named (``named``, as passed to :func:`audit`; also when every
    attribute is named) stays, with the columns derived from it: its leakage finding still warns.
    """
    from dataclasses import replace
    named = set(named)
    gone = [c for c in leaks if c not in named and roles.parent(c) not in named]  # the check's order
    if not gone:
        return roles
    keep = tuple(a for a in roles.attributes if roles.parent(a) not in set(gone))
    excluded = {**roles.excluded, **{c: "possible leakage or a proxy of the outcome (--keep to keep it)" for c in gone}}
    return replace(roles, attributes=keep, sensitive=tuple(a for a in roles.sensitive if a in keep),
                   excluded=excluded)


class _Progress:
    """Progress by estimated cost, so that the ETA follows the work left.

    ``progress(stage, done, total)`` is called with ``done`` (seconds elapsed) and ``total`` (elapsed
    plus the estimate of what is left).  What is left: reading (from the rows read so far), counting
    (a third of reading) and every detector still to run (:meth:`Detector.estimate`, on the reference
    machine, scaled by how fast this machine read the data compared with the reference).
    """

    #: Seconds the reference machine takes to read a million rows x columns (pass one).
    REFERENCE_READ = 0.3

    def __init__(self, progress, chosen) -> None:
        self.progress = progress
        self.chosen = chosen
        self.t0 = time.perf_counter()
        self.started: set = set()
        self.shape = None  # (rows, sample rows, attributes, columns) once known
        self.speed = 1.0

    def _emit(self, stage: str, left: float) -> None:
        if self.progress is not None:
            elapsed = time.perf_counter() - self.t0
            self.progress(stage, elapsed, elapsed + max(left, 0.0))

    def _detectors_left(self) -> float:
        shape = self.shape or getattr(self, "estimate", None)
        if shape is None:
            return 0.0
        n, n_sample, n_attr, _ = shape
        return self.speed * sum(d.estimate(n, n_sample, n_attr) for d in self.chosen if d.name not in self.started)

    def step(self, stage: str, done: float, total: float) -> None:
        if stage == "shape":  # columns and sampled rows, before reading: a first estimate of the detectors
            self.columns, self.sampled = int(done), int(total)
            return
        elapsed = time.perf_counter() - self.t0
        frac = done / total if total else 1.0
        if stage == "reading" and self.shape is None and getattr(self, "columns", None):
            rows = total if total > 1 else self.sampled
            self.estimate = (rows, max(min(self.sampled, rows), 1), max(self.columns - 1, 1), self.columns)
        if stage == "reading":
            read_left = elapsed * (1 - frac) / frac if frac > 0 else elapsed
            self._emit(stage, read_left * 1.3 + self._detectors_left())
        else:
            self._emit(stage, self._detectors_left())

    def start(self, d, sc) -> None:
        if self.shape is None:
            self.shape = (sc.n_rows, max(len(sc.sample.rows), 1), len(sc.roles.attributes), len(sc.columns))
            read = sc.timings.get("pass1_s") or 0.0
            cells = sc.n_rows * len(sc.columns) / 1e6
            if read > 0 and cells > 0.05:  # too little data to time the machine reliably
                self.speed = min(max(read / (cells * self.REFERENCE_READ), 0.25), 8.0)
        self.started.add(d.name)
        n, n_sample, n_attr, _ = self.shape
        self._emit(d.name, self._detectors_left() + self.speed * d.estimate(n, n_sample, n_attr))

    def stage(self, name: str) -> None:
        self._emit(name, 0.0)

    def done(self) -> None:
        self._emit("done", 0.0)
