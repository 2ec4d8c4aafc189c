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
    """Software versions for the method section (read from the installed metadata, nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    def v(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"
    return {"python": sys.version.split()[0], "platform": platform.platform(terse=True),
            "numpy": v("numpy"), "pandas": v("pandas"), "scipy": v("scipy"), "statsmodels": v("statsmodels"),
            "scikit-learn": v("scikit-learn"), "matplotlib": v("matplotlib"), "biasaudit": __version__}

