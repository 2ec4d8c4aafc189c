"""SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format) for code-scanning annotations.

One rule per kind of finding (``detector/kind``), one result per finding, located at the data file
(line 1: the findings are about the table, not one line of it).  Levels: ``error`` for findings that
fail the run (at or above ``fail_on``, neither accepted nor in the baseline, folded or not), ``warning`` for the other
statistically supported findings; patterns the data cannot establish are ``kind: "review"`` and plain
observations ``kind: "informational"`` (both ``level: "none"``, as SARIF §3.27.9 requires for a kind
other than ``fail``).  Accepted findings carry an external, accepted suppression with its reason;
after a baseline comparison every result has a ``baselineState``.

Reference: SARIF Version 2.1.0, OASIS Standard (errata 01, 2023), schema
``https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import quote

from ..findings import jsonable

__all__ = ["render_sarif", "sarif_dict", "SARIF_SCHEMA", "SARIF_VERSION"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
ESTABLISHED = ("critical", "high", "medium", "low")

KIND_TEXT = {
    "gap": "An attribute combination lacks a label: fewer rows than the label's rate predicts.",
    "rule": "Every row of a combination has one label: a rule a model can learn from narrow data.",
    "association": "The label rate differs by group.",
    "group_rate": "One group's label rate differs from the rest of the data.",
    "representation": "The sample's shares differ from a reference population.",
    "shift": "A second sample (for example the test split) differs from the first.",
    "missingness": "Values are missing more often in some groups.",
    "duplicates": "Rows occur more than once.",
    "simpson": "An association reverses or vanishes within strata (Simpson's paradox).",
    "proxy": "An attribute predicts a sensitive attribute.",
    "existence": "A statement about what the data contain.",
}


def _uri(source: str) -> str | None:
    if not source or source == "DataFrame":
        return None
    p = Path(source)
    if p.is_absolute():
        return p.as_uri()
    return quote(p.as_posix(), safe="/._-~")


def _rule_id(f) -> str:
    return f"{f.detector}/{f.kind}" if f.kind else f.detector


def _level_kind(f, failing: set) -> tuple[str, str]:
    if f.id in failing:
        return "error", "fail"
    if f.severity in ESTABLISHED:
        return "warning", "fail"
    if f.severity in ("weak-evidence", "insufficient-data"):
        return "none", "review"
    return "none", "informational"


def sarif_dict(result, *, fail_on: str = "medium", failing: Iterable[str] | None = None,
               accepted: Mapping[str, str] | None = None, baseline_state: Mapping[str, str] | None = None) -> dict:
    """The SARIF log of ``result`` as a dict (see :func:`render_sarif`)."""
    failing_ids = set(failing) if failing is not None else {f.id for f in result.at_or_above(fail_on)}
    accepted = dict(accepted or {})
    uri = _uri(str(result.dataset.get("source", "")))
    rules: list[dict] = []
    index: dict[str, int] = {}
    results = []
    for f in result.findings:
        rid = _rule_id(f)
        if rid not in index:
            index[rid] = len(rules)
            text = KIND_TEXT.get(f.kind, f"{f.bias_type.replace('_', ' ')} finding")
            rules.append({
                "id": rid,
                "name": "".join(w.capitalize() for w in rid.replace("/", "_").split("_")),
                "shortDescription": {"text": f"{f.bias_type.replace('_', ' ')}: {f.kind or f.detector}"},
                "fullDescription": {"text": text},
                "defaultConfiguration": {"level": "warning"},
                "properties": {"tags": ["bias", f.bias_type]},
            })
        level, kind = _level_kind(f, failing_ids)
        res = {
            "ruleId": rid,
            "ruleIndex": index[rid],
            "kind": kind,
            "level": level,
            "message": {"text": f.message + (f" Suggestion: {f.suggestion}" if f.suggestion else "")},
            "partialFingerprints": {"biasauditFindingId/v1": f.id},
            "properties": jsonable({
                "id": f.id, "severity": f.severity, "bias_type": f.bias_type, "attributes": dict(f.attributes),
                "label_value": f.label_value, "test": f.test, "p_value": f.p_value, "p_adjusted": f.p_adjusted,
                "p_min": f.p_min, "effect_size": f.effect_size, "effect_size_name": f.effect_size_name,
                "n": f.n, "explained_by": f.explained_by, "family": f.family, "hypothesis": f.hypothesis}),
        }
        if uri is not None:
            res["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                                      "region": {"startLine": 1}}}]
        if f.id in accepted:
            res["suppressions"] = [{"kind": "external", "status": "accepted",
                                    "justification": accepted[f.id] or "accepted in the biasaudit configuration"}]
        if baseline_state and f.id in baseline_state:
            res["baselineState"] = baseline_state[f.id]
        results.append(res)
    run = {
        "tool": {"driver": {"name": "biasaudit", "version": str(result.tool.get("version", "")), "rules": rules}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": jsonable({"source": result.dataset.get("source"), "n_rows": result.dataset.get("n_rows"),
                                "label": result.dataset.get("label"), "family_size": result.family_size,
                                "n_testable": result.n_testable, "alpha": result.settings.get("alpha"),
                                "correction": result.settings.get("correction"),
                                "primary_correction": result.settings.get("primary_correction"),
                                "families": result.families}),
    }
    if uri is not None:
        run["artifacts"] = [{"location": {"uri": uri}, "roles": ["analysisTarget"]}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(result, *, fail_on: str = "medium", failing: Iterable[str] | None = None,
                 accepted: Mapping[str, str] | None = None, baseline_state: Mapping[str, str] | None = None) -> str:
    """The audit as a SARIF 2.1.0 log (JSON text).

    Parameters
    ----------
    result : AuditResult
    fail_on : str
        Findings at or above it are ``error`` results (ignored when ``failing`` is given).
    failing : iterable of str, optional
        The ids that fail the run.
    accepted : mapping of id to reason, optional
    baseline_state : mapping of id to "new" | "unchanged" | "updated", optional
    """
    doc = sarif_dict(result, fail_on=fail_on, failing=failing, accepted=accepted, baseline_state=baseline_state)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
