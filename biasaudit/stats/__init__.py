"""Statistics layer of biasaudit: tests, exact enumerations, effect sizes, multiplicity, grading.

Thin over scipy and statsmodels; every Monte Carlo routine is seeded. The specification is
``STATISTICS.md`` (sections cited in each docstring).

Modules
-------
results      TestResult, CMHResult (frozen records with ``to_dict()``)
tests        choosing and running the test of a table (independence, goodness of fit)
exact        own exact enumerations (Freeman-Halton 2 x K, multinomial) and p_min
depletion    cell depletion / rule purity tests of the coverage scan
effects      effect sizes and confidence intervals
multitest    Benjamini-Hochberg / Holm / Benjamini-Yekutieli
grading      effect levels and severity
stratified   Cochran-Mantel-Haenszel and the exact stratified test
fragility    fragility indices
shift        continuous train/test shift
planning     rows needed for significance
"""
from .depletion import depletion_test, min_support_for_purity, purity_p, zero_upper_bound
from .effects import (
    clopper_pearson_ci,
    cohens_w,
    cramers_v,
    entropy_nats,
    jsd_bits,
    mutual_info,
    null_tvd,
    theils_u,
    tvd,
    wilson_ci,
)
from .exact import (
    binomial_pmin,
    count_2xk_tables,
    count_compositions,
    exact_multinomial,
    exact_multinomial_full,
    fisher_pmin_2x2,
    freeman_halton_2xk,
    monte_carlo_multinomial,
    multinomial_pmin,
)
from .fragility import (
    addition_fragility_gap,
    fragility_delete,
    fragility_flip,
    independence_p_2x2,
    reverse_fragility,
)
from .grading import (
    EFFECT_THRESHOLDS,
    SEVERITY_RULES,
    effect_level,
    grade_severity,
)
from .multitest import ADJUST_METHODS, added_threshold, adjust_pvalues, rejection_thresholds
from .planning import iut_depletion_p, rows_needed
from .results import CMHResult, TestResult
from .shift import numeric_shift, psi, quantile_bins
from .stratified import cmh_test, exact_stratified_test, informative_strata, mantel_fleiss
from .tests import cochran_ok, gof_test, independence_test

__all__ = [
    # results
    "TestResult",
    "CMHResult",
    # choosing and running tests
    "cochran_ok",
    "independence_test",
    "gof_test",
    # exact enumerations and p_min
    "fisher_pmin_2x2",
    "freeman_halton_2xk",
    "exact_multinomial",
    "exact_multinomial_full",
    "monte_carlo_multinomial",
    "binomial_pmin",
    "multinomial_pmin",
    "count_2xk_tables",
    "count_compositions",
    # cell scan
    "depletion_test",
    "purity_p",
    "min_support_for_purity",
    "zero_upper_bound",
    # effects
    "wilson_ci",
    "clopper_pearson_ci",
    "cramers_v",
    "tvd",
    "cohens_w",
    "jsd_bits",
    "null_tvd",
    "mutual_info",
    "theils_u",
    "entropy_nats",
    # multiple testing
    "adjust_pvalues",
    "rejection_thresholds",
    "added_threshold",
    "ADJUST_METHODS",
    # grading
    "effect_level",
    "grade_severity",
    "EFFECT_THRESHOLDS",
    "SEVERITY_RULES",
    # stratified
    "cmh_test",
    "exact_stratified_test",
    "mantel_fleiss",
    "informative_strata",
    # fragility
    "fragility_flip",
    "fragility_delete",
    "reverse_fragility",
    "addition_fragility_gap",
    "independence_p_2x2",
    # shift
    "numeric_shift",
    "psi",
    "quantile_bins",
    # planning
    "rows_needed",
    "iut_depletion_p",
]
