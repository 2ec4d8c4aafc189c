"""Detectors: plain functions ``detector(ctx: AuditContext)``, one module per bias type, registered with what they read.

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

Each finding carries its raw p-value, its minimal attainable p-value (``p_min``) and whether it
enters the scan's multiple-testing family; :func:`biasaudit.audit` adjusts and grades them.
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
    weight : float
        Relative cost per sampled row and attribute, for the progress estimate.
    """

    name: str
    target: str
    reads: str = "counts"
    hashes: tuple = ()
    weight: float = 1.0

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
#: name -> Detector, in the order they run.
DETECTORS: dict[str, Detector] = {d.name: d for d in (
    _D("group_attribution", "biasaudit.detectors.group_attribution:group_attribution", "counts", weight=0.2),
    _D("overgeneralization", "biasaudit.detectors.overgeneralization:overgeneralization", "sample", weight=3.0),
    _D("conditional", "biasaudit.detectors.conditional:conditional", "counts", weight=0.5),
    _D("proxies", "biasaudit.detectors.proxies:proxies", "sample", weight=1.0),
    _D("selection", "biasaudit.detectors.selection:selection", "sample", weight=0.1),
    _D("shift", "biasaudit.detectors.shift:shift", "sample", weight=0.3),
    _D("reporting", "biasaudit.detectors.reporting:reporting", "counts", ("duplicates",), weight=0.3),
    _D("predictions", "biasaudit.detectors.predictions:predictions", "sample", weight=0.3),
    _D("label_quality", "biasaudit.detectors.label_quality:label_quality", "counts", ("conflicts",), weight=0.2),
    _D("image_probe", "biasaudit.detectors.image_probe:image_probe", "sample", weight=0.5),
    _D("probe", "biasaudit.detectors.probe.detector:probe", "sample", weight=4.0),
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
