"""The whole scan is calibrated (STATISTICS.md §8), fast version; benchmarks/bench_calibration.py runs
the large one.  Acceptance: the rate of scans reporting anything at medium or above on unbiased data
is not significantly above alpha (one-sided binomial test, scipy), and planted biases are found."""
import pandas as pd
import pytest
from scipy import stats

from biasaudit.tools.calibration import found, null_rate, permutation_null_rate, planted_recall

from conftest import DATASETS


def _not_above_alpha(k, n, alpha=0.05):
    return stats.binomtest(k, n, alpha, alternative="greater").pvalue > 0.01


def test_lecture_table_under_random_relabelling():
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    cal = permutation_null_rate(df, "species", 40, seed=1)
    assert _not_above_alpha(cal.k, cal.n), cal.to_dict()


def test_unplanted_generator_null():
    cal = null_rate(200, range(100, 124))
    assert _not_above_alpha(cal.k, cal.n), cal.to_dict()


def test_planted_effects_are_found_at_n_500():
    recall = planted_recall(500, range(200, 208))
    assert all(r >= 0.95 for r in recall.values()), recall


def test_found_reads_rules_and_gaps():
    from biasaudit import audit
    from biasaudit.tools.simulate import generate_dogs_cats
    r = audit(generate_dogs_cats(500, seed=3, planted=True), label="species", probe=False)
    assert found(r, {"size": "big"}, "CAT")
    assert not found(r, {"size": "big"}, "DOG")   # big dogs are plentiful
