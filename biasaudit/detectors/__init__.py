"""Detectors: plain functions ``detector(ctx: AuditContext) -> DetectorResult``, one module per bias type,
registered with what they read.

Every registered detector returns a :class:`~biasaudit.findings.DetectorResult`: its findings (a
tuple, possibly empty) and the data of its report section (``AuditResult.sections[name]``; None when
it has none).  A detector with nothing to do (no reference, no compare sample, no predictions, no
images) returns ``DetectorResult()``.  ``tests/test_detector_contract.py`` runs every detector of
:data:`DETECTORS` on null, renamed and shuffled data.

Each detector declares its input in :data:`DETECTORS`:

* ``reads="counts"``: it reads only ``ctx.table.count(*columns)`` (and, when declared in
  ``hashes``, ``ctx.table.duplicates()`` / ``ctx.table.conflicts()``, counted over every row by
  hashing).  Its context holds the engine's count store, exact at any size.  Column sets beyond
  the base plan (the label, every attribute and attribute pair with the label) are declared by an
  optional function ``tables(roles, levels, n, settings) -> list of column tuples`` in its module;
  any other table is still answered (by another pass over the stored codes).
* ``reads="sample"``: it reads rows (``ctx.table.codes``, ``ctx.frame``, ``ctx.raw``).  Its context
  holds the seeded row sample, which is every row when the data have no more rows than
  ``sample_rows``; otherwise its findings are marked approximate.

Each finding carries its raw p-value, its minimal attainable p-value (``p_min``), whether it
enters the scan's multiple-testing family, the key of its null hypothesis (``hypothesis``) and, where
the audit recomputes its test, the typed fields ``table`` and ``alternative`` (and ``hidden`` for a
hypothesis counted but not shown); :func:`biasaudit.audit` adjusts and grades them.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

__all__ = ["DETECTORS", "Detector", "get_detectors", "registry", "planned_tables"]


@dataclass(frozen=True)
class Detector:
    """A registered detector: where it lives and what it reads.

    Attributes
    ----------
    name : str
    target : str
        ``"module:function"``, imported when the detector runs.
    reads : {"counts", "sample"}
    hashes : tuple of str
        Row hash counts it reads from the count store (``"duplicates"``, ``"conflicts"``).
    cost : float
        Seconds on the reference machine per audited attribute (count readers) or per million
        sampled rows x attributes (sample readers): the progress bar's estimate (:meth:`estimate`).
        Measured with ``benchmarks/bench_scale.py`` (the per-stage times of ``audit-df``).
    fixed : float
        Seconds on the reference machine whatever the size (e.g. the probe's permutations).
    """

    name: str
    target: str
    reads: str = "counts"
    hashes: tuple = ()
    cost: float = 0.05
    fixed: float = 0.0

    def estimate(self, n_rows: int, n_sample: int, n_attributes: int) -> float:
        """Estimated seconds on the reference machine (``fixed`` plus the part that grows)."""
        if self.reads == "counts":
            return self.fixed + self.cost * n_attributes
        return self.fixed + self.cost * min(n_rows, n_sample) * n_attributes / 1e6

    @property
    def module(self):
        return import_module(self.target.split(":")[0])

    def function(self) -> Callable:
        return getattr(self.module, self.target.split(":")[1])

    def tables(self, roles, levels, n, settings) -> list:
        """Column sets this detector reads beyond the base plan (its module's ``tables`` function)."""
        fn = getattr(self.module, "tables", None)
        return list(fn(roles, levels, n, settings)) if fn is not None and self.reads == "counts" else []


_D = Detector
#: name -> Detector, in the order they run.  Detectors that still read rows declare ``"sample"``;
#: their declaration flips to ``"counts"`` when they read only count tables.
DETECTORS: dict[str, Detector] = {d.name: d for d in (
    _D("leakage", "biasaudit.detectors.leakage:leakage", "counts", cost=0.02),
    _D("group_attribution", "biasaudit.detectors.group_attribution:group_attribution", "counts", cost=0.05),
    _D("overgeneralization", "biasaudit.detectors.overgeneralization:overgeneralization", "counts", cost=0.5,
       fixed=0.2),
    _D("conditional", "biasaudit.detectors.conditional:conditional", "counts", cost=0.05),
    _D("proxies", "biasaudit.detectors.proxies:proxies", "counts", cost=0.2),
    _D("selection", "biasaudit.detectors.selection:selection", "sample", cost=0.05),
    _D("shift", "biasaudit.detectors.shift:shift", "sample", cost=0.1),
    _D("reporting", "biasaudit.detectors.reporting:reporting", "counts", ("duplicates",), cost=0.03),
    _D("predictions", "biasaudit.detectors.predictions:predictions", "sample", cost=0.1),
    _D("label_quality", "biasaudit.detectors.label_quality:label_quality", "counts", ("conflicts",), cost=0.02),
    _D("image_probe", "biasaudit.detectors.image_probe:image_probe", "sample", cost=0.5),
    _D("probe", "biasaudit.detectors.probe.detector:probe", "sample", cost=3.0, fixed=1.5),
)}


def registry(names=None, probe: bool = True) -> list[Detector]:
    """The detectors to run, in order (all by default; without the two probes when ``probe`` is False)."""
    names = list(DETECTORS) if names is None else list(names)
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise ValueError(f"Unknown detector(s) {unknown}; known: {', '.join(DETECTORS)}.")
    out = [DETECTORS[n] for n in names]
    if not probe:
        out = [d for d in out if d.name not in ("probe", "image_probe")]
    return out


def get_detectors(names=None) -> dict[str, Callable]:
    """The detector functions to run (all by default)."""
    return {d.name: d.function() for d in registry(names)}


def planned_tables(detectors, roles, levels, n, settings) -> list:
    """Every column set the count-reading ``detectors`` declare."""
    out: list = []
    for d in detectors:
        out += [tuple(s) for s in d.tables(roles, levels, n, settings)]
    return list(dict.fromkeys(out))
