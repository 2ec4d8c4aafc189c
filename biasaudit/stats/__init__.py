"""Statistics layer of biasaudit: tests, exact enumerations, effect sizes, multiplicity, grading.

Thin over scipy and statsmodels; every Monte Carlo routine is seeded. The specification is
``STATISTICS.md`` (sections cited in each docstring).

Modules
-------
results      TestResult, CMHResult (frozen records with ``to_dict()``)
tests        choosing and running the test of a table (independence, goodness of fit)
exact        own exact enumerations (Freeman-Halton 2 x K, multinomial) and p_min
depletion    cell depletion / rule purity tests of the coverage scan
hypergeom    exact hypergeometric tails vectorised over many tables; sums over strata
effects      effect sizes and confidence intervals
multitest    Benjamini-Hochberg / Holm / Benjamini-Yekutieli
grading      effect levels and severity
stratified   Cochran-Mantel-Haenszel, the exact stratified test, the MH risk difference
gcmh         generalised CMH test of r x 2 x K tables (asymptotic, exact, Monte Carlo)
fragility    fragility indices
shift        continuous train/test shift
planning     rows needed for significance
predictive   leave-one-out balanced accuracy and corrected Theil's U from a count table
threeway     sample x A x B: conditional independence, no three-way interaction
rates        two groups' rates: SPD, DI and ln OR intervals, the symmetric effect level
celltail     one-sided hypergeometric tests of a cell and their intersection-union maximum
leaves       the probe's leaf tests (scipy's hypergeometric)
coincidence  chance baseline of duplicate rows, Poisson tails

Nothing outside this package imports ``scipy.stats``, ``scipy.special`` or ``scipy.optimize``
(``tests/test_import_graph.py``).
"""
from .celltail import hypergeom_tail, iut_p, iut_p_min, one_sided_p
from .coincidence import duplicate_baseline, poisson_upper_p, poisson_zero_p
from .depletion import depletion_test, gap_addition_fragility, min_support_for_purity, purity_p, zero_upper_bound
from .effects import (
    clopper_pearson_ci,
    clopper_pearson_upper,
    mutual_info_bias,
    newcombe_diff_ci,
    cohens_w,
    cramers_v,
    entropy_nats,
    jsd_bits,
    mutual_info,
    null_tvd,
    theils_u,
    tvd,
    two_sample_null_tvd,
    wilson_ci,
)
from .exact import (
    binomial_p,
    binomial_pmin,
    count_2xk_tables,
    count_compositions,
    exact_multinomial,
    exact_multinomial_full,
    fisher_pmin_2x2,
    freeman_halton_2xk,
    freeman_halton_2xk_mc,
    monte_carlo_multinomial,
    multinomial_pmin,
)
from .fragility import (
    addition_fragility_gap,
    fisher_exact_p,
    fragility_delete,
    fragility_flip,
    independence_p_2x2,
    reverse_fragility,
)
from .hypergeom import (
    depletion_min_support,
    hypergeom_cdf,
    hypergeom_logcdf,
    hypergeom_logpmf,
    hypergeom_logsf,
    hypergeom_logtails,
    hypergeom_pmf,
    hypergeom_sf,
    hypergeom_two_sided,
    hypergeom_two_sided_pmin,
    stratified_lower_tail,
)
from .grading import (
    EFFECT_THRESHOLDS,
    SEVERITY_RULES,
    effect_level,
    grade_severity,
)
from .multitest import ADJUST_METHODS, added_threshold, adjust_pvalues, rejection_thresholds
from .leaves import hypergeom_lower_p, leaf_enrichment_p, leaf_enrichment_test
from .planning import iut_depletion_p, min_detectable_w, rows_needed
from .predictive import loo_balanced_accuracy, theils_u_corrected
from .rates import LOG_OR_THRESHOLDS, log_odds_ratio, log_odds_ratio_level, rate_effect_level, rate_ratio_ci, spd_ci
from .results import CMHResult, TestResult
from .shift import numeric_shift, psi, quantile_bins
from .gcmh import general_cmh, generalized_cmh
from .stratified import cmh_test, exact_stratified_test, informative_strata, mantel_fleiss, mh_risk_difference
from .tests import cochran_ok, gof_test, independence_test
from .threeway import conditional_independence_test, no_three_way_interaction_test

__all__ = [
    "fisher_exact_p",
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
    "freeman_halton_2xk_mc",
    "exact_multinomial",
    "exact_multinomial_full",
    "monte_carlo_multinomial",
    "binomial_p",
    "binomial_pmin",
    "multinomial_pmin",
    "count_2xk_tables",
    "count_compositions",
    # cell scan
    "depletion_test",
    "purity_p",
    "min_support_for_purity",
    "zero_upper_bound",
    "gap_addition_fragility",
    # one-sided cell tests and their IUT maximum (coverage scan, claims)
    "hypergeom_tail",
    "one_sided_p",
    "iut_p",
    "iut_p_min",
    # the probe's leaf tests
    "leaf_enrichment_p",
    "leaf_enrichment_test",
    "hypergeom_lower_p",
    # chance coincidences
    "duplicate_baseline",
    "poisson_upper_p",
    "poisson_zero_p",
    # vectorised hypergeometric tails
    "hypergeom_pmf",
    "hypergeom_logpmf",
    "hypergeom_cdf",
    "hypergeom_logcdf",
    "hypergeom_sf",
    "hypergeom_logsf",
    "hypergeom_logtails",
    "hypergeom_two_sided",
    "hypergeom_two_sided_pmin",
    "stratified_lower_tail",
    "depletion_min_support",
    # effects
    "wilson_ci",
    "clopper_pearson_ci",
    "clopper_pearson_upper",
    "newcombe_diff_ci",
    "cramers_v",
    "tvd",
    "cohens_w",
    "jsd_bits",
    "null_tvd",
    "two_sample_null_tvd",
    "mutual_info",
    "mutual_info_bias",
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
    "mh_risk_difference",
    "general_cmh",
    "generalized_cmh",
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
    "min_detectable_w",
    # predicting one variable from another (leakage)
    "loo_balanced_accuracy",
    "theils_u_corrected",
    # three-way tables (shift of a conditional distribution or a relation)
    "conditional_independence_test",
    "no_three_way_interaction_test",
    # two-group rates
    "spd_ci",
    "rate_ratio_ci",
    "log_odds_ratio",
    "log_odds_ratio_level",
    "rate_effect_level",
    "LOG_OR_THRESHOLDS",
    "iut_depletion_p",
]
