"""Detectors: plain functions ``detector(ctx: AuditContext) -> list[Finding]``, one module per bias type.

Each finding carries its raw p-value, its minimal attainable p-value (``p_min``) and whether it
enters the scan's multiple-testing family; :func:`biasaudit.audit` adjusts and grades them.
"""
from __future__ import annotations

from importlib import import_module
from typing import Callable

__all__ = ["DETECTORS", "get_detectors"]

#: name -> "module:function"; resolved lazily so a detector's import cost is paid only when it runs.
DETECTORS: dict[str, str] = {
    "group_attribution": "biasaudit.detectors.group_attribution:group_attribution",
    "overgeneralization": "biasaudit.detectors.overgeneralization:overgeneralization",
    "conditional": "biasaudit.detectors.conditional:conditional",
    "proxies": "biasaudit.detectors.proxies:proxies",
    "selection": "biasaudit.detectors.selection:selection",
    "shift": "biasaudit.detectors.shift:shift",
    "reporting": "biasaudit.detectors.reporting:reporting",
    "predictions": "biasaudit.detectors.predictions:predictions",
    "label_quality": "biasaudit.detectors.label_quality:label_quality",
    "image_probe": "biasaudit.detectors.image_probe:image_probe",
    "probe": "biasaudit.detectors.probe.detector:probe",
}


def get_detectors(names=None) -> dict[str, Callable]:
    """The detector functions to run (all by default)."""
    names = list(DETECTORS) if names is None else list(names)
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise ValueError(f"Unknown detector(s) {unknown}; known: {', '.join(DETECTORS)}.")
    out = {}
    for n in names:
        module, func = DETECTORS[n].split(":")
        out[n] = getattr(import_module(module), func)
    return out
