"""The method section: families, tests, corrections, thresholds, software versions, seed."""
from __future__ import annotations

import platform
import sys

from .. import stats
from .._version import __version__

__all__ = ["method_section", "environment", "CORRECTIONS"]

CORRECTIONS = {"bh": "Benjamini-Hochberg (false discovery rate)", "holm": "Holm (family-wise error rate)",
               "by": "Benjamini-Yekutieli (false discovery rate under any dependence)"}


def _n(k: int, one: str, many: str) -> str:
    return f"{k:,} {one if k == 1 else many}"


def _families_text(settings, families: dict) -> list[str]:
    """Sentences on the two families, their sizes, corrections and merged views."""
    out = []
    prim, expl = families.get("primary"), families.get("exploratory") or {}
    if prim is not None:
        out.append(f"Primary family: {_n(prim['size'], 'hypothesis', 'hypotheses')} about the named sensitive "
                   f"attribute(s) "
                   f"{', '.join(families.get('named', []))} ({prim['n_testable']} testable), pre-declared and "
                   f"corrected on their own with {CORRECTIONS[prim['correction']]} at {settings.alpha:g}.")
    else:
        out.append("No sensitive attribute was named, so there is no primary family.")
    out.append(f"Exploratory family: {_n(expl.get('size', 0), 'hypothesis', 'hypotheses')} "
               f"({expl.get('n_testable', 0):,} testable), "
               f"corrected with {CORRECTIONS[settings.correction]} at {settings.alpha:g}.")
    merged, shared = families.get("n_views_merged", 0), families.get("n_shared", 0)
    if merged:
        out.append(f"{_n(shared, 'hypothesis', 'hypotheses')} {'was' if shared == 1 else 'were each'} shown by "
                   f"several findings (views of one table: the association, a group rate, a cell, a rule); "
                   f"{'it was' if shared == 1 else 'each was'} tested once, with the largest of its views' p-values, "
                   f"so {_n(merged, 'finding', 'findings')} added no test to a family.")
    return out


def method_section(settings, family_size: int, n_testable: int, families: dict | None = None) -> dict:
    out = {
        "family_size": family_size,
        "n_testable": n_testable,
        "correction": CORRECTIONS[settings.correction],
        "primary_correction": CORRECTIONS[getattr(settings, "primary_correction", "holm")],
        "alpha": settings.alpha,
        "random_state": settings.random_state,
        "testability": ("Hypotheses whose smallest attainable p-value exceeds alpha (Tarone 1990) are "
                        "screened out of their family and reported as insufficient data."),
        "hypotheses": ("Findings that are views of one null hypothesis (the same table tested as an association, "
                       "a group rate or a cell) enter their family once, with the largest of their p-values, and "
                       "share its adjusted p-value and severity."),
        "planning": ("Rows needed and fragility use the threshold each hypothesis faces in its family (the "
                     "largest p at which it is still rejected, the other tests unchanged) and the finding's own test."),
        "test_choice": ("Pearson chi-square without continuity correction when Cochran's rule holds (every "
                        "expected count >= 1, at most 20% below 5); otherwise Fisher's exact test (2x2), the "
                        "Freeman-Halton exact test (2xK), a seeded Monte Carlo conditional test (small r x c) "
                        "or Pearson after pooling the rarest levels (large r x c)."),
        "severity_rules": stats.SEVERITY_RULES,
        "effect_thresholds": stats.EFFECT_THRESHOLDS,
        "software": environment(),
    }
    if families is not None:
        out["families"] = families
        out["families_text"] = _families_text(settings, families)
    return out


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
