"""Result records returned by the statistics layer.

Both records are frozen dataclasses with ``to_dict()`` so that detectors, the report and the
JSON writer read the same field names (``statistic``, ``p_value``, ``p_min``...).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["TestResult", "CMHResult"]


@dataclass(frozen=True)
class TestResult:
    """Outcome of one hypothesis test on a contingency table or a count vector.

    Attributes
    ----------
    test : str
        Human-readable name of the test actually run, e.g. ``"Pearson chi-square"``,
        ``"Fisher exact (two-sided)"``, ``"Freeman-Halton exact"``.
    statistic : float
        Test statistic; for exact tests the Pearson X^2 of the table (NaN when undefined).
    dof : int or None
        Degrees of freedom of the X^2 statistic (None when there is none).
    p_value : float
        The p-value of the chosen test.
    p_min : float
        Tarone's minimal attainable p-value given the conditioning margins (0.0 for
        asymptotic tests). A hypothesis with ``p_min > alpha`` can never be rejected.
    valid : bool
        False when the test was forced outside its validity conditions
        (e.g. Pearson X^2 with Cochran's rule failing).
    note : str
        Free text: pooled levels, Monte Carlo standard error, dropped categories.
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    dof: int | None
    p_value: float
    p_min: float
    valid: bool = True
    note: str = ""

    def testable(self, alpha: float = 0.05) -> bool:
        """True when the hypothesis can be rejected at ``alpha`` (``p_min <= alpha``)."""
        return bool(self.p_min <= alpha)

    def to_dict(self) -> dict:
        """Plain-``dict`` view (JSON-ready apart from NaN)."""
        return asdict(self)


@dataclass(frozen=True)
class CMHResult:
    """Conditional association of two binary variables across strata (CMH / exact).

    Attributes
    ----------
    test : str
        The test whose p-value is ``p_value``: the Cochran-Mantel-Haenszel X^2 when the
        Mantel-Fleiss criterion holds, otherwise the exact conditional test.
    statistic : float
        CMH X^2 without continuity correction.
    dof : int
        Always 1.
    p_value, p_min : float
        Decision p-value and its minimal attainable value (0 for the asymptotic test).
    odds_ratio : float
        Mantel-Haenszel pooled odds ratio OR_MH.
    cmh_p : float
        Asymptotic CMH p-value (reported even when it is not the decision p-value).
    exact_p : float
        Exact conditional p-value (convolution of hypergeometrics), two-sided.
    breslow_day_p : float
        Breslow-Day test of equal odds ratios (NaN with fewer than two strata).
    mantel_fleiss : float
        Mantel-Fleiss criterion; the asymptotic test is trusted when it is >= 5.
    n_strata : int
        Informative strata used (strata with a zero margin are dropped).
    valid : bool
        False only when no informative stratum is left.
    note : str
        Free text.
    """

    __test__ = False

    test: str
    statistic: float
    dof: int
    p_value: float
    p_min: float
    odds_ratio: float
    cmh_p: float
    exact_p: float
    breslow_day_p: float
    mantel_fleiss: float
    n_strata: int
    valid: bool = True
    note: str = ""

    def testable(self, alpha: float = 0.05) -> bool:
        """True when ``p_min <= alpha``."""
        return bool(self.p_min <= alpha)

    def to_dict(self) -> dict:
        """Plain-``dict`` view."""
        return asdict(self)


