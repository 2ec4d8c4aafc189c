"""The audit's language: :class:`Finding` and :class:`AuditResult`.

Detectors produce findings; :func:`biasaudit.audit` adjusts their p-values and grades their
severity; reports, the CLI and checks only read the result.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import BiasCheckError
from .settings import FAIL_ON_LEVELS, P_FLOOR, SEVERITY_ORDER, severity_rank

__all__ = ["BiasType", "Severity", "Finding", "DetectorResult", "AuditResult", "SCHEMA_VERSION", "jsonable",
           "hypothesis_key", "format_p", "P_FLOOR", "is_coverage_gap", "ALTERNATIVES", "DETECTOR_RESULT_ERROR"]

#: 1.1: typed finding fields ``hidden``, ``table``, ``alternative``, ``approximate``, ``disparate_impact``
#: (the same numbers stay in ``details`` under their 1.0 keys).
SCHEMA_VERSION = "1.1"

#: The alternatives of a finding's test (its ``alternative`` field).
ALTERNATIVES = ("two-sided", "less", "greater")

#: Message of the TypeError for a detector result holding something other than findings.
DETECTOR_RESULT_ERROR = "A DetectorResult holds Finding objects only. Got {got} instead."


class BiasType(str, Enum):
    """Kinds of bias a finding can belong to."""

    SELECTION = "selection"
    OVERGENERALIZATION = "overgeneralization"
    GROUP_ATTRIBUTION = "group_attribution"
    REPORTING = "reporting"
    PROXY = "proxy"
    LEARNED_RULE = "learned_rule"
    PREDICTION_DISPARITY = "prediction_disparity"
    LABEL_QUALITY = "label_quality"

    def __str__(self) -> str:
        return self.value


class Severity(str, Enum):
    """Severity of a finding; see ``STATISTICS.md`` §1.4."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    WEAK_EVIDENCE = "weak-evidence"
    INSUFFICIENT_DATA = "insufficient-data"
    INFO = "info"

    def __str__(self) -> str:
        return self.value


def jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON values (NaN -> None)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)




def format_p(p, digits: int = 3) -> str:
    """A p-value (or adjusted p) as text, never "0": ``"< 1e-300"`` below :data:`P_FLOOR`.

    The float is kept as computed (a p of exactly 0 is an underflow of the tail probability, not a
    certainty); only its printed form changes.  ``None`` and NaN print as ``"n/a"``.

    >>> format_p(0.0), format_p(3.2e-301), format_p(0.01234), format_p(None)
    ('< 1e-300', '< 1e-300', '0.0123', 'n/a')
    """
    if p is None:
        return "n/a"
    v = float(p)
    if math.isnan(v):
        return "n/a"
    if v < P_FLOOR:
        return "< 1e-300"
    return f"{v:.{digits}g}"


def hypothesis_key(kind: str, columns, cell: Mapping[str, Any] | None = None, tail: str = "two-sided") -> str:
    """Canonical key of a null hypothesis, the same whichever detector or view tests it.

    Parameters
    ----------
    kind : str
        The test's kind, e.g. ``"independence"`` (attribute x label), ``"cell"`` (a cell against
        the rest for one label value), ``"cmh"``, ``"coverage"``.
    columns : iterable of str
        The columns of the table tested (sorted in the key, so their order does not matter).
    cell : mapping, optional
        The cell (column -> value) the test is about, sorted by column.
    tail : str
        ``"two-sided"``, ``"less"`` or ``"greater"``.

    Examples
    --------
    >>> hypothesis_key("cell", ["species", "size"], {"size": "big"}, "less")
    'cell:size,species:size=big:less'
    """
    cols = ",".join(sorted(str(c) for c in columns))
    where = "&".join(f"{k}={v}" for k, v in sorted((str(k), str(v)) for k, v in (cell or {}).items()))
    return f"{kind}:{cols}:{where}:{tail}"


def is_coverage_gap(f) -> bool:
    """A depletion finding: a combination with (significantly) fewer rows, or rows of a label, than expected.

    For a binary label a cell without any row of L is worded as the rule "every example is L'"
    (``kind == "rule"``, one hypothesis with the gap); both are gaps of L. ``kind ==
    "coverage_gap"``: an attribute combination empty or depleted without regard to the label.
    """
    if f.detector != "overgeneralization":
        return False
    return f.kind == "coverage_gap" or (f.kind in ("gap", "rule") and f.alternative == "less")


@dataclass(frozen=True)
class Finding:
    """One statement about the data, with its evidence.

    The fields are those of the JSON schema (``docs/json-schema.md``).  ``message`` is one
    plain sentence; ``severity`` is set by the audit from ``p_adjusted`` and ``effect_level``.
    """

    id: str
    bias_type: str
    detector: str
    attributes: Mapping[str, Any]
    message: str
    label_value: Any = None
    kind: str = ""
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    p_min: float | None = None
    testable: bool = False
    in_family: bool = False
    effect_size: float | None = None
    effect_size_name: str | None = None
    effect_level: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    observed: float | None = None
    expected: float | None = None
    pattern: bool = True
    severity: str = "info"
    rows_needed: int | None = None
    fragility: Mapping[str, Any] | None = None
    explained_by: str | None = None
    #: Canonical key of the null hypothesis tested (e.g. ``"2x2:size=big|species"``): findings
    #: that are views of one table share it and enter their family once (the grader keeps one).
    hypothesis: str | None = None
    #: ``"primary"`` (about the sensitive attributes the user named) or ``"exploratory"``; set by
    #: the audit from the roles, None for findings outside every family.
    family: str | None = None
    #: A hypothesis tested only to keep its family honest (e.g. a cell that is not depleted): it
    #: counts in the family and the method, and no reader lists it.
    hidden: bool = False
    #: The 2-D count table (rows: the finding's cells or groups; columns: label values or outcomes)
    #: whose test gives ``p_value``, as nested tuples; None when the p-value is not a test of one
    #: such table.  The audit recomputes the test on it for fragility, rows needed and to merge
    #: views of one table.
    table: tuple | None = None
    #: The alternative of the test on ``table`` (or of the cell's one-sided test): one of
    #: :data:`ALTERNATIVES`; ``"less"`` for a depleted cell.
    alternative: str = "two-sided"
    #: Why the numbers are approximate (computed on a row sample), None when they are exact.
    approximate: str | None = None
    #: The group's label rate over the reference group's (group-rate findings), else None.
    disparate_impact: float | None = None
    evidence: tuple = ()
    suggestion: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # detectors that still give these numbers in ``details`` under their 1.0 keys: the typed
        # field takes them when it is left at its default (see :func:`_typed_from_details`)
        for name, value in _typed_from_details(self).items():
            object.__setattr__(self, name, value)
        if self.alternative not in ALTERNATIVES:
            raise ValueError(f"The 'alternative' of finding {self.id!r} must be one of {', '.join(ALTERNATIVES)}. "
                             f"Got {self.alternative!r} instead.")

    def to_dict(self) -> dict:
        out = {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}
        out["details"] = {**_details_from_typed(self), **out["details"]}
        return out

    def evolve(self, **changes) -> "Finding":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def established(self) -> bool:
        """True when the finding is statistically supported (severity low or above)."""
        return self.severity in ("critical", "high", "medium", "low")


def _as_table(value) -> tuple | None:
    """A 2-D table as nested tuples of numbers (None when it is not one)."""
    if value is None:
        return None
    t = np.asarray(value)
    if t.ndim != 2 or not (np.issubdtype(t.dtype, np.number) or t.dtype == bool):
        return None
    return tuple(tuple(row) for row in t.tolist())


def _typed_from_details(f: Finding) -> dict:
    """Typed fields to take from the 1.0 ``details`` keys of ``f``, for those left at their default.

    ``hidden`` <- ``details["hidden"]``; ``table`` <- ``details["table2x2"]``, else ``details["table"]``
    of an association (the table its independence test reads); ``alternative`` <-
    ``details["alternative"]``, else the one-sided cell test's ``details["tail"]``; ``approximate``
    and ``disparate_impact`` <- their keys.
    """
    d, out = f.details or {}, {}
    if f.table is not None and not isinstance(f.table, tuple):  # an array or lists given directly
        out["table"] = _as_table(f.table)
    if not d:
        return out
    if not f.hidden and d.get("hidden"):
        out["hidden"] = True
    if f.table is None:
        raw = d.get("table2x2")
        if raw is None and f.kind in ("association", "intersection_association"):
            raw = d.get("table")
        t = _as_table(raw)
        if t is not None:
            out["table"] = t
    if f.alternative == "two-sided":
        alt = d.get("alternative") if d.get("alternative") is not None else d.get("tail")
        if alt is not None and alt != "two-sided":
            out["alternative"] = alt
    if f.approximate is None and isinstance(d.get("approximate"), str):
        out["approximate"] = d["approximate"]
    if f.disparate_impact is None and d.get("disparate_impact") is not None:
        out["disparate_impact"] = float(d["disparate_impact"])
    return out


def _details_from_typed(f: Finding) -> dict:
    """The 1.0 ``details`` keys of the typed fields, for readers of schema 1.0 (JSON only)."""
    d = f.details or {}
    out: dict = {}
    if f.hidden:
        out["hidden"] = True
    if f.table is not None and d.get("table2x2") is None and d.get("table") is None:
        out["table2x2" if len(f.table) == 2 and all(len(r) == 2 for r in f.table) else "table"] = jsonable(f.table)
    if f.alternative != "two-sided" and "alternative" not in d and "tail" not in d:
        out["alternative"] = f.alternative
    if f.approximate is not None:
        out["approximate"] = f.approximate
    if f.disparate_impact is not None:
        out["disparate_impact"] = jsonable(f.disparate_impact)
    return out


@dataclass(frozen=True)
class DetectorResult:
    """What every detector returns: its findings and the data of its report section.

    Parameters
    ----------
    findings : sequence of Finding
        Stored as a tuple, in the detector's order.
    section : mapping, optional
        The detector's section of the result (:attr:`AuditResult.sections`, keyed by the
        detector's name), or None when it has none.

    Examples
    --------
    >>> DetectorResult().findings, DetectorResult().section
    ((), None)
    """

    findings: tuple = ()
    section: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        found = tuple(self.findings)
        bad = next((f for f in found if not isinstance(f, Finding)), None)
        if bad is not None:
            raise TypeError(DETECTOR_RESULT_ERROR.format(got=f"a {type(bad).__name__}"))
        object.__setattr__(self, "findings", found)


FRAME_COLUMNS = [
    "id", "bias_type", "detector", "kind", "attributes", "label_value", "severity", "message",
    "test", "statistic", "p_value", "p_adjusted", "p_min", "effect_size", "effect_size_name",
    "n", "observed", "expected", "explained_by", "family", "hypothesis", "suggestion",
]


@dataclass(frozen=True)
class AuditResult:
    """The outcome of :func:`biasaudit.audit`.

    Attributes
    ----------
    dataset : dict
        source, n_rows, label, label_values, positive, sensitive, columns (name, kind, n_unique, n_missing).
    settings : dict
        The settings used, including thresholds.
    groups : pandas.DataFrame
        One row per (attribute, group): n, share and the rate of every label value.
    findings : tuple of Finding
        The primary family first, then by severity and strength.
    family_size, n_testable : int
        Distinct hypotheses in the two multiple-testing families (each counted once, however many
        findings show it), and how many of them were testable.
    sections : dict
        Further tables keyed by name (``coverage``, ``probe``, ``method`` ...).
    """

    dataset: Mapping[str, Any]
    settings: Mapping[str, Any]
    groups: pd.DataFrame
    findings: tuple
    family_size: int = 0
    n_testable: int = 0
    sections: Mapping[str, Any] = field(default_factory=dict)
    tool: Mapping[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    def to_frame(self) -> pd.DataFrame:
        """The findings as a DataFrame, one row each (attributes rendered as ``a=v`` text)."""
        rows = []
        for f in self.findings:
            d = f.to_dict()
            d["attributes"] = ", ".join(f"{k}={v}" for k, v in f.attributes.items())
            rows.append({c: d.get(c) for c in FRAME_COLUMNS})
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def counts_by_severity(self) -> dict:
        out = {s: 0 for s in SEVERITY_ORDER}
        for f in self.findings:
            out[f.severity] += 1
        return out

    @property
    def primary(self) -> tuple:
        """Findings of the primary family (about the named sensitive attributes), in result order.

        Readers show all of them first: they are never folded under another finding and never cut
        by a cap.  Empty when no sensitive attribute was named (see :attr:`families`).
        """
        return tuple(f for f in self.findings if f.family == "primary")

    @property
    def families(self) -> dict:
        """The two families: named attributes, sizes, corrections, merged views, and a ``note`` the
        report's first lines print (with ``candidates``, the attributes whose names suggest a
        protected characteristic, when none was named)."""
        return dict(self.sections.get("families") or {})

    def at_or_above(self, level: str) -> list:
        """Findings whose severity reaches ``level`` (one of ``FAIL_ON_LEVELS``), folded or not.

        A finding folded under another (``explained_by``) is still a finding: a critical child under
        a medium parent must fail a check at ``high``.
        """
        if level not in FAIL_ON_LEVELS:
            raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON_LEVELS)}. Got {level!r} instead.")
        if level == "never":
            return []
        limit = severity_rank(level)
        return [f for f in self.findings if severity_rank(f.severity) <= limit]

    def to_dict(self) -> dict:
        return jsonable({
            "schema_version": SCHEMA_VERSION,
            "tool": dict(self.tool),
            "dataset": dict(self.dataset),
            "settings": dict(self.settings),
            "summary": {
                "family_size": self.family_size,
                "n_testable": self.n_testable,
                "by_severity": self.counts_by_severity(),
            },
            "groups": self._groups_records(),
            "findings": [f.to_dict() for f in self.findings],
            **{k: v for k, v in self.sections.items()},
        })

    def _groups_records(self) -> list:
        recs = []
        for row in self.groups.to_dict(orient="records"):
            rates = {k[len("rate:"):]: row[k] for k in row if k.startswith("rate:")}
            recs.append({"attribute": row["attribute"], "group": row["group"], "n": row["n"],
                         "share": row["share"], "label_rates": rates})
        return recs

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def check(self, fail_on: str = "medium") -> "AuditResult":
        """Raise :class:`BiasCheckError` when a finding reaches ``fail_on``; else return self."""
        failing = self.at_or_above(fail_on)
        if failing:
            frame = self.to_frame()
            frame = frame[frame["id"].isin([f.id for f in failing])].reset_index(drop=True)
            first = failing[0].message
            raise BiasCheckError(
                f"{len(failing)} finding(s) at or above {fail_on!r}; first: {first}", self, frame)
        return self

    def to_html(self, path=None, *, timestamp: bool = False) -> str:
        """The self-contained HTML report; also written (atomically) to ``path`` when given.

        Returns the page in both cases.  The page opens with the summary, then the evidence
        with a filter by severity, bias type and attribute; it loads nothing from the network.
        """
        from .report.text import render_page
        return render_page(self, path, timestamp=timestamp)

    def _repr_html_(self) -> str:
        """Notebook view: the summary and a collapsible table of the findings (same templates as the report)."""
        from .report.text import render_notebook
        return render_notebook(self)

    def __repr__(self) -> str:
        c = self.counts_by_severity()
        shown = ", ".join(f"{v} {k}" for k, v in c.items() if v)
        return (f"AuditResult(source={self.dataset.get('source')!r}, n_rows={self.dataset.get('n_rows')}, "
                f"findings: {shown or 'none'})")
