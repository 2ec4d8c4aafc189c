"""The method section: tests, correction, thresholds, software versions, seed."""
from __future__ import annotations

import platform
import sys

from .. import __version__, stats

__all__ = ["method_section", "environment"]

CORRECTIONS = {"bh": "Benjamini-Hochberg (false discovery rate)", "holm": "Holm (family-wise error rate)",
               "by": "Benjamini-Yekutieli (false discovery rate under any dependence)"}


def method_section(settings, family_size: int, n_testable: int) -> dict:
    return {
        "family_size": family_size,
        "n_testable": n_testable,
        "correction": CORRECTIONS[settings.correction],
        "alpha": settings.alpha,
        "random_state": settings.random_state,
        "testability": ("Hypotheses whose smallest attainable p-value exceeds alpha (Tarone 1990) are "
                        "screened out of the family and reported as insufficient data."),
        "test_choice": ("Pearson chi-square without continuity correction when Cochran's rule holds (every "
                        "expected count >= 1, at most 20% below 5); otherwise Fisher's exact test (2x2), the "
                        "Freeman-Halton exact test (2xK), a seeded Monte Carlo conditional test (small r x c) "
                        "or Pearson after pooling the rarest levels (large r x c)."),
        "severity_rules": stats.SEVERITY_RULES,
        "effect_thresholds": stats.EFFECT_THRESHOLDS,
        "software": environment(),
    }


def environment() -> dict:
    """Software versions for the method section."""
    import matplotlib
    import numpy as np
    import pandas as pd
    import scipy
    import sklearn
    import statsmodels
    return {"python": sys.version.split()[0], "platform": platform.platform(terse=True),
            "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__, "scikit-learn": sklearn.__version__,
            "matplotlib": matplotlib.__version__, "biasaudit": __version__}

