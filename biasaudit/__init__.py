"""biasaudit: audit a labelled dataset for bias before anyone trains on it.

>>> import biasaudit as ba
>>> result = ba.audit(ba.load("datasets/dogs_cats.csv"), label="species")  # doctest: +SKIP
>>> result.to_frame()  # doctest: +SKIP

The public names are imported when first used (``import biasaudit`` stays light: ``biasaudit
--version`` needs no numpy, pandas or scipy).
"""
from __future__ import annotations

import sys
import types
from importlib import import_module

from ._version import __version__

#: public name -> module that defines it
_EXPORTS = {
    "audit": ".audit.run", "load": ".loaders",
    "check_claim": ".tools.claims", "check_claims": ".tools.claims", "ClaimResult": ".tools.claims",
    "AuditResult": ".findings", "Finding": ".findings", "Severity": ".findings", "BiasType": ".findings",
    "BiasAuditError": ".errors", "DataError": ".errors", "InputFileError": ".errors", "ColumnError": ".errors",
    "BiasCheckError": ".errors", "BiasAuditWarning": ".errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'biasaudit' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """The package module: importing the sub-package ``biasaudit.audit`` must not hide the function
    ``biasaudit.audit`` (the import system sets a sub-package as an attribute of its parent)."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
