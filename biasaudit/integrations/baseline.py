"""Baselines: accept today's findings, fail only on new or worsened ones (like a linter's baseline).

``biasaudit scan data.csv --write-baseline .biasaudit-baseline.json`` records every finding of the
scan by its stable id with its severity and effect; ``--baseline`` compares a later scan with it:

* **new**: reaches ``fail_on`` now, and is not in the baseline;
* **worsened**: reaches ``fail_on`` now, and its severity was lower in the baseline;
* **unchanged** / **improved**: reaches ``fail_on`` now with the same / a lower severity (accepted);
* **resolved**: reached ``fail_on`` in the baseline, and no longer does (gone, or below the level).

Only new and worsened findings fail.  The file holds no time stamp, so it changes only when the
findings change (it is meant to be committed beside the data).  Every finding is recorded, folded
or not (a folded finding fails checks like any other).

Findings are matched by id, then by a *match key*: the id with the value of every binned numeric
attribute replaced by its bin's rank (``age=<bin 2 of 5>``), so that a resample of the same data,
whose quantile edges move a little ((9, 24.74] vs (9, 24.8]), keeps its findings.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from .config import is_accepted
from ..errors import InputFileError
from ..findings import jsonable
from ..settings import FAIL_ON_LEVELS, severity_rank

__all__ = ["BASELINE_FORMAT", "Baseline", "BaselineComparison", "baseline_dict", "write_baseline",
           "read_baseline", "compare_baseline", "match_key"]

BASELINE_FORMAT = "biasaudit-baseline/1"
_ENTRY_FIELDS = ("severity", "bias_type", "kind", "effect_size", "effect_size_name", "effect_level", "p_adjusted",
                 "n", "message")


@dataclass(frozen=True)
class Baseline:
    """A recorded scan: ``findings`` maps finding id -> recorded fields (severity, effect, message...)."""

    findings: Mapping[str, Mapping]
    source: str | None = None
    label: str | None = None
    n_rows: int | None = None
    path: str | None = None

    def to_dict(self) -> dict:
        return {"format": BASELINE_FORMAT, "source": self.source, "label": self.label, "n_rows": self.n_rows,
                "findings": {k: dict(v) for k, v in sorted(self.findings.items())}}


_INTERVAL = re.compile(r"^[\[(]\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*[\])]$")


def _bin_rank(value, edges) -> int | None:
    """Rank (0-based) of the bin an interval label ``(lo, hi]`` belongs to: the nearest lower edge."""
    m = _INTERVAL.match(str(value))
    if m is None or not edges or len(edges) < 2:
        return None
    try:
        lo = float(m.group(1))
    except ValueError:
        return None
    lows = [float(e) for e in edges[:-1]]
    if not math.isfinite(lo):
        return 0 if lo < 0 else len(lows) - 1
    return min(range(len(lows)), key=lambda i: abs(lows[i] - lo))


def match_key(finding, bins) -> str:
    """The finding's id with each binned attribute's value replaced by its bin rank.

    >>> from biasaudit.findings import Finding
    >>> f = Finding(id="g:age=(24.74, 30]:label=bad", bias_type="x", detector="g",
    ...             attributes={"age": "(24.74, 30]"}, message="m")
    >>> match_key(f, {"age": [19, 24.7412, 30, 75]})
    'g:age=<bin 2 of 3>:label=bad'
    """
    key = str(finding.id)
    for col, value in dict(finding.attributes).items():
        edges = (bins or {}).get(col)
        if value is None or not edges:
            continue
        rank = _bin_rank(value, edges)
        if rank is not None:
            key = key.replace(f"{col}={value}", f"{col}=<bin {rank + 1} of {len(edges) - 1}>")
    return key


def baseline_dict(result) -> dict:
    """The baseline document of an audit (every finding, folded or not, with its match key)."""
    findings = {}
    bins = dict(result.dataset.get("bins") or {})
    for f in result.findings:
        findings[f.id] = {k: jsonable(getattr(f, k)) for k in _ENTRY_FIELDS}
        findings[f.id]["match"] = match_key(f, bins)
    return Baseline(findings=findings, source=str(result.dataset.get("source")), label=result.dataset.get("label"),
                    n_rows=result.dataset.get("n_rows")).to_dict()


def write_baseline(result, path) -> Path:
    """Write the baseline of ``result`` to ``path`` atomically; returns the path."""
    from ..report._atomic import atomic_write_text
    path = Path(path)
    atomic_write_text(path, json.dumps(baseline_dict(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def read_baseline(path) -> Baseline:
    """Read a baseline file written by :func:`write_baseline`."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"Baseline file not found: {path}. Write one with --write-baseline {path}.")
    if path.is_dir():
        raise InputFileError(f"{path} is a directory; --baseline takes the JSON file --write-baseline wrote.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path} is not a biasaudit baseline (not JSON: {exc}).") from None
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT or not isinstance(doc.get("findings"), dict):
        raise InputFileError(f"{path} is not a biasaudit baseline (expected format {BASELINE_FORMAT!r}); "
                             f"write one with --write-baseline.")
    for fid, entry in doc["findings"].items():
        if not isinstance(entry, dict) or entry.get("severity") not in _SEVERITIES:
            raise InputFileError(f"{path}: the entry for {fid!r} has no valid severity.")
    return Baseline(findings=doc["findings"], source=doc.get("source"), label=doc.get("label"),
                    n_rows=doc.get("n_rows"), path=str(path))


_SEVERITIES = ("critical", "high", "medium", "low", "weak-evidence", "insufficient-data", "info")


@dataclass(frozen=True)
class BaselineComparison:
    """A scan compared with a baseline at level ``fail_on``.

    ``new``, ``worsened``, ``unchanged`` and ``improved`` hold current findings; ``resolved`` holds
    ``(id, recorded entry, current severity or None)``; ``accepted`` the ids the configuration accepts.
    """

    fail_on: str
    new: tuple = ()
    worsened: tuple = ()
    unchanged: tuple = ()
    improved: tuple = ()
    resolved: tuple = ()
    accepted: tuple = ()
    previous: Mapping[str, str] = field(default_factory=dict)

    @property
    def failing(self) -> tuple:
        """The findings that fail: new and worsened."""
        return tuple(self.new) + tuple(self.worsened)

    def baseline_state(self) -> dict:
        """SARIF ``baselineState`` of every current finding compared."""
        out = {f.id: "new" for f in self.new}
        out.update({f.id: "updated" for f in self.worsened + self.improved})
        out.update({f.id: "unchanged" for f in self.unchanged})
        return out

    def summary(self) -> str:
        """One line: counts of each class."""
        return (f"baseline (at or above {self.fail_on!r}): {len(self.new)} new, {len(self.worsened)} worsened, "
                f"{len(self.unchanged)} unchanged, {len(self.improved)} improved, {len(self.resolved)} resolved")

    def lines(self) -> list[str]:
        """Readable lines: the summary, then every new, worsened and resolved finding."""
        out = [self.summary()]
        out += [f"  new       [{f.severity}] {f.id}" for f in self.new]
        out += [f"  worsened  [{self.previous.get(f.id)} -> {f.severity}] {f.id}" for f in self.worsened]
        out += [f"  resolved  [{entry.get('severity')} -> {now or 'gone'}] {fid}" for fid, entry, now in self.resolved]
        return out

    def to_dict(self) -> dict:
        return {"fail_on": self.fail_on, "new": [f.id for f in self.new], "worsened": [f.id for f in self.worsened],
                "unchanged": [f.id for f in self.unchanged], "improved": [f.id for f in self.improved],
                "resolved": [fid for fid, _, _ in self.resolved], "accepted": list(self.accepted)}


def compare_baseline(result, baseline, *, fail_on: str = "medium", accept: Iterable = ()) -> BaselineComparison:
    """Compare the findings of ``result`` with ``baseline`` (a :class:`Baseline` or a path) at ``fail_on``.

    Severities are compared by rank (critical > high > medium > low > weak-evidence >
    insufficient-data > info).  Findings covered by ``accept`` never fail and are listed as accepted.
    """
    if fail_on not in FAIL_ON_LEVELS:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON_LEVELS)}. Got {fail_on!r} instead.")
    if not isinstance(baseline, Baseline):
        baseline = read_baseline(baseline)
    recorded = baseline.findings
    by_match: dict = {}
    for fid, entry in recorded.items():
        by_match.setdefault(entry.get("match", fid), fid)
    bins = dict(result.dataset.get("bins") or {})

    def recorded_id(f) -> str | None:
        if f.id in recorded:
            return f.id
        return by_match.get(match_key(f, bins))

    reaching = result.at_or_above(fail_on)
    new, worse, same, better, accepted = [], [], [], [], []
    matched: dict = {}  # current id -> recorded id
    for f in reaching:
        if is_accepted(f.id, accept) is not None:
            accepted.append(f.id)
            continue
        rid = recorded_id(f)
        if rid is None:
            new.append(f)
            continue
        matched[f.id] = rid
        before, now = severity_rank(recorded[rid]["severity"]), severity_rank(f.severity)
        (worse if now < before else same if now == before else better).append(f)
    reached_before = {fid for fid, e in recorded.items() if _reaches(e["severity"], fail_on)}
    reaching_now = {recorded_id(f) or f.id for f in reaching}
    current = {}
    for f in result.findings:
        rid = recorded_id(f)
        if rid is not None:
            current.setdefault(rid, f.severity)
    resolved = tuple((fid, dict(recorded[fid]), current.get(fid))
                     for fid in sorted(reached_before - reaching_now))
    previous = {f.id: recorded[matched[f.id]]["severity"] for f in worse + better + same}
    return BaselineComparison(fail_on=fail_on, new=tuple(new), worsened=tuple(worse), unchanged=tuple(same),
                              improved=tuple(better), resolved=resolved, accepted=tuple(accepted), previous=previous)


def _reaches(severity: str, fail_on: str) -> bool:
    return fail_on != "never" and severity_rank(severity) <= severity_rank(fail_on)
