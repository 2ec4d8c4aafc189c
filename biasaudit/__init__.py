"""biasaudit: audit a labelled dataset for bias before anyone trains on it.

>>> import biasaudit as ba
>>> result = ba.audit(ba.load("datasets/dogs_cats.csv"), label="species")  # doctest: +SKIP
>>> result.to_frame()  # doctest: +SKIP
"""
from ._version import __version__  # noqa: E402

from .errors import (BiasAuditError, BiasAuditWarning, BiasCheckError, ColumnError, DataError,  # noqa: E402
                     InputFileError)
from .findings import AuditResult, BiasType, Finding, Severity  # noqa: E402
from .loaders import load  # noqa: E402
from .audit.run import audit  # noqa: E402
from .tools.claims import ClaimResult, check_claim, check_claims  # noqa: E402

__all__ = [
    "__version__", "audit", "load", "check_claim", "check_claims", "ClaimResult", "AuditResult", "Finding", "Severity", "BiasType",
    "BiasAuditError", "DataError", "InputFileError", "ColumnError", "BiasCheckError", "BiasAuditWarning",
]
