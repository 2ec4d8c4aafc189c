"""Group attribution (label rate by group) against independent computations.

Oracles: pandas ``crosstab`` for the counts and rates, ``scipy.stats.chi2_contingency`` (no Yates),
``scipy.stats.fisher_exact``, ``scipy.stats.contingency.association``, statsmodels'
``proportion_confint(method="wilson")``, Bergsma's corrected V written out here, a brute-force
Freeman-Halton test over all C(14, 6) labelings, and STATISTICS.md §4.1 test vector C1.
Data: the lecture table, German credit (label credit, positive "bad") and COMPAS with ProPublica's
filter (6,172 rows; label two_year_recid; sensitive race, sex, age_cat).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.special import gammaln
from scipy.stats.contingency import association
from statsmodels.stats.proportion import proportion_confint

from biasaudit.engine.context import AuditContext
from biasaudit.engine.counts import encode
from biasaudit.detectors.group_attribution import group_attribution
from biasaudit.engine.roles import resolve
from biasaudit.settings import Settings
from conftest import DATASETS, load_compas, make_ctx




def by_id(findings) -> dict:
    return {f.id: f for f in findings}


def bergsma_v(t: np.ndarray) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013), written out."""
    n = t.sum()
    r, k = t.shape
    phi2 = sps.chi2_contingency(t, correction=False).statistic / n
    phi2t = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    kt, rt = k - (k - 1) ** 2 / (n - 1), r - (r - 1) ** 2 / (n - 1)
    return math.sqrt(phi2t / min(kt - 1, rt - 1))


def check_attribute(found: dict, df: pd.DataFrame, attribute: str, label: str, positive) -> None:
    """Every number of the attribute's findings against pandas + scipy on the same data."""
    ct = pd.crosstab(df[attribute].astype(str), df[label].astype(str))
    pos = str(positive)
    t = ct.to_numpy()
    assoc = found[f"group_attribution:{attribute}:label={label}"]
    expected = sps.contingency.expected_freq(t)
    if (expected >= 1).all() and (expected < 5).mean() <= 0.2:
        chi = sps.chi2_contingency(t, correction=False)
        assert assoc.test == "Pearson chi-square"
        assert assoc.statistic == pytest.approx(chi.statistic, rel=1e-10)
        assert assoc.p_value == pytest.approx(chi.pvalue, rel=1e-8, abs=1e-300)
        assert assoc.details["dof"] == chi.dof
    assert assoc.effect_size == pytest.approx(bergsma_v(t), rel=1e-10)
    assert assoc.n == t.sum()
    rates = ct[pos] / ct.sum(axis=1)
    for row in assoc.evidence:
        g = row["group"]
        assert row["n"] == ct.loc[g].sum() and row[pos] == ct.loc[g, pos]
        assert row["rate"] == pytest.approx(rates[g])
        lo, hi = proportion_confint(ct.loc[g, pos], ct.loc[g].sum(), alpha=0.05, method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    for g in ct.index:
        f = found.get(f"group_attribution:{attribute}={g}:label={pos}")
        if f is None:
            continue
        k, n_g = ct.loc[g, pos], ct.loc[g].sum()
        k_rest, n_rest = ct[pos].sum() - k, t.sum() - n_g
        t22 = np.array([[k, n_g - k], [k_rest, n_rest - k_rest]])
        assert f.details["table2x2"] == t22.tolist()
        assert f.effect_size == pytest.approx(k / n_g - k_rest / n_rest)
        e22 = sps.contingency.expected_freq(t22)
        if (e22 >= 5).all():
            assert f.p_value == pytest.approx(sps.chi2_contingency(t22, correction=False).pvalue, rel=1e-8, abs=1e-300)
        else:
            assert f.p_value == pytest.approx(sps.fisher_exact(t22).pvalue, rel=1e-10)


# ----------------------------------------------------------------------------- [TV C1] the lecture table
def test_lecture_table_vector(dogs_cats):
    found = by_id(group_attribution(make_ctx(dogs_cats, label="species")).findings)
    check_attribute(found, dogs_cats, "size", "species", "DOG")
    check_attribute(found, dogs_cats, "color", "species", "DOG")
    size = found["group_attribution:size:label=species"]
    assert size.p_value == pytest.approx(0.0549451, rel=1e-5) and size.p_min == pytest.approx(0.0549451, rel=1e-5)
    assert not size.testable and size.effect_size == pytest.approx(0.55732, rel=1e-5)
    small = found["group_attribution:size=small:label=DOG"]
    assert small.effect_size == pytest.approx(-0.727273, rel=1e-5)
    color = found["group_attribution:color:label=species"]
    assert color.effect_size == pytest.approx(0.0) and color.p_value == pytest.approx(0.55045, rel=1e-5)
    brown = found["group_attribution:color=brown:label=DOG"]
    assert brown.p_value == pytest.approx(0.0909091, rel=1e-5)


def test_lecture_colour_freeman_halton_brute_force(dogs_cats):
    # all C(14, 6) placements of the six DOG labels; probability of the colour x label table, ordered by it
    colors = dogs_cats["color"].to_numpy()
    levels, code = np.unique(colors, return_inverse=True)
    n_c = np.bincount(code)

    def log_prob(dogs):  # multivariate hypergeometric probability of the DOG counts per colour
        return (gammaln(n_c + 1) - gammaln(dogs + 1) - gammaln(n_c - dogs + 1)).sum()
    obs = np.bincount(code[(dogs_cats["species"] == "DOG").to_numpy()], minlength=len(levels))
    seen = {}
    for pick in itertools.combinations(range(14), 6):
        key = tuple(np.bincount(code[list(pick)], minlength=len(levels)))
        seen[key] = seen.get(key, 0) + 1
    total = math.comb(14, 6)
    lp_obs = log_prob(obs)
    p = sum(m for key, m in seen.items() if log_prob(np.array(key)) <= lp_obs + 1e-7) / total
    found = by_id(group_attribution(make_ctx(dogs_cats, label="species")).findings)
    assert found["group_attribution:color:label=species"].p_value == pytest.approx(p, rel=1e-9)
    assert len(seen) == 109                                              # [TV C1]: 109 tables


# ----------------------------------------------------------------------------- German credit
def test_german_credit_against_scipy():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    ctx = make_ctx(df, label="credit", positive="bad", sensitive=["sex", "housing", "foreign_worker", "age"])
    found = by_id(group_attribution(ctx).findings)
    for a in ("sex", "housing", "foreign_worker"):
        check_attribute(found, df, a, "credit", "bad")
    # age is binned into quantiles by roles; the crosstab of the prepared column is the oracle
    frame = ctx.frame.assign(age=ctx.frame["age"].astype(str))
    check_attribute(found, frame, "age", "credit", "bad")
    # two groups: one group-vs-rest finding, for the group with the lower rate (male: 27.7 % vs 35.2 % bad)
    ct = pd.crosstab(df["sex"], df["credit"])
    r = ct["bad"] / ct.sum(axis=1)
    sex = found["group_attribution:sex=male:label=bad"]
    assert "group_attribution:sex=female:label=bad" not in found
    assert sex.details["reference_group"] == "male"                               # the largest group
    assert sex.details["disparate_impact_vs_rest"] == pytest.approx(r["male"] / r["female"])
    assert sex.effect_size == pytest.approx(r["male"] - r["female"])


# ----------------------------------------------------------------------------- COMPAS
def test_compas_rates_and_chi_square():
    df = load_compas()
    assert len(df) == 6172
    ctx = make_ctx(df, label="two_year_recid", sensitive=["race", "sex", "age_cat"])
    found = by_id(group_attribution(ctx).findings)
    for a in ("race", "sex", "age_cat"):
        check_attribute(found, df, a, "two_year_recid", 1)
    race = found["group_attribution:race:label=two_year_recid"]
    assert race.test == "Pearson chi-square" and race.details["dof"] == 5
    ct = pd.crosstab(df["race"], df["two_year_recid"])
    assert race.effect_size < association(ct.to_numpy(), method="cramer")       # corrected < plain V
    aa = found["group_attribution:race=African-American:label=1"]
    r = ct[1] / ct.sum(axis=1)
    assert aa.details["reference_group"] == "African-American"                  # the largest group
    assert found["group_attribution:race=Caucasian:label=1"].details["disparate_impact"] == pytest.approx(
        r["Caucasian"] / r["African-American"])
    assert df["two_year_recid"].mean() == pytest.approx(0.4551, abs=1e-4)        # SOURCE.md: 45.51 %


# ----------------------------------------------------------------------------- v0.2: symmetric effect levels
def _credit_frame(k1=60, n1=1000, k0=60, n0=3000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.r_[np.full(n1, "young"), np.full(n0, "old")]
    outcome = np.r_[np.where(np.arange(n1) < k1, "default", "repaid"), np.where(np.arange(n0) < k0, "default", "repaid")]
    other = rng.choice(["a", "b"], n1 + n0)
    return pd.DataFrame({"age": group, "other": other, "outcome": outcome}).sample(frac=1, random_state=seed)


@pytest.mark.parametrize("k1,n1,k0,n0", [(60, 1000, 60, 3000), (30, 400, 200, 1600), (5, 50, 100, 3000)])
def test_level_symmetric_under_swapping_the_positive_value(k1, n1, k0, n0):
    df = _credit_frame(k1, n1, k0, n0)
    a = by_id(group_attribution(make_ctx(df, label="outcome", positive="default", sensitive=["age"])).findings)
    b = by_id(group_attribution(make_ctx(df, label="outcome", positive="repaid", sensitive=["age"])).findings)
    fa = next(f for f in a.values() if f.kind == "group_rate")
    fb = next(f for f in b.values() if f.kind == "group_rate")
    assert fa.p_value == pytest.approx(fb.p_value, rel=1e-12) and fa.hypothesis == fb.hypothesis
    assert fa.effect_level == fb.effect_level
    # the level is max(|SPD| level, |ln OR| level), computed here by hand
    r1, r0 = k1 / n1, k0 / n0
    lor = abs(math.log(r1 * (1 - r0) / ((1 - r1) * r0)))
    spd_level = sum(abs(r1 - r0) >= t for t in (0.05, 0.10, 0.20))
    lor_level = sum(lor >= t for t in (0.36, 0.91, 1.45))
    assert fa.effect_level == max(spd_level, lor_level)
    # DI depends on which value is positive and is reported, not graded
    assert fa.details["disparate_impact"] != pytest.approx(fb.details["disparate_impact"])


def test_issue_example_default_vs_repaid_same_level():
    # 6 % vs 2 % defaults: DI 0.33 ("medium" by DI) but 0.96 on repayments ("low" by DI); SPD 0.04
    df = _credit_frame(60, 1000, 60, 3000)
    f = next(x for x in group_attribution(make_ctx(df, label="outcome", positive="default", sensitive=["age"])).findings
             if x.kind == "group_rate")
    t = np.array([[60, 940], [60, 2940]])
    assert f.p_value == pytest.approx(sps.chi2_contingency(t, correction=False).pvalue, rel=1e-10)
    assert f.effect_level == 2                     # |ln OR| = ln 3.13 = 1.14: medium, whichever value is positive


def test_intervals_against_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep
    df = _credit_frame(30, 400, 200, 1600)
    f = next(x for x in group_attribution(make_ctx(df, label="outcome", positive="default", sensitive=["age"])).findings
             if x.kind == "group_rate")
    k, n, k0, n0 = 30, 400, 200, 1600        # the lower-rate group (young: 7.5 % vs 12.5 %) against the rest
    assert f.attributes == {"age": "young"} and f.hypothesis == "2x2:age,outcome:age=old:two-sided"
    lo, hi = confint_proportions_2indep(k, n, k0, n0, method="newcomb", compare="diff")
    assert (f.ci_low, f.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    lo, hi = confint_proportions_2indep(k, n, k0, n0, method="log", compare="ratio")
    assert f.details["disparate_impact_ci"] == pytest.approx([lo, hi], rel=1e-9)   # young is not the reference
    lor = math.log(k * (n0 - k0) / ((n - k) * k0))
    se = math.sqrt(1 / k + 1 / (n - k) + 1 / k0 + 1 / (n0 - k0))
    assert f.details["log_odds_ratio_ci"] == pytest.approx([lor - 1.959964 * se, lor + 1.959964 * se], rel=1e-6)


def test_hypothesis_keys():
    df = _credit_frame()
    found = group_attribution(make_ctx(df, label="outcome", positive="default", sensitive=["age", "other"])).findings
    f = by_id(found)
    # a two-level attribute: its association table is the 2x2, one test keyed by the first sorted level
    assert f["group_attribution:age:label=outcome"].hypothesis == "2x2:age,outcome:age=old:two-sided"
    assert f["group_attribution:age=old:label=default"].hypothesis == "2x2:age,outcome:age=old:two-sided"
    three = pd.DataFrame({"g": np.repeat(["x", "y", "z"], 100), "y": np.tile(["p", "q"], 150)})
    f3 = by_id(group_attribution(make_ctx(three, label="y", positive="p", sensitive=["g"])).findings)
    assert f3["group_attribution:g:label=y"].hypothesis == "independence:g,y::two-sided"
    assert f3["group_attribution:g=y:label=p"].hypothesis == "2x2:g,y:g=y:two-sided"


def test_intersections_of_named_attributes_against_pandas():
    rng = np.random.default_rng(4)
    n = 3000
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])
    p = 0.3 + 0.15 * ((sex == "F") & (race == "B"))
    df = pd.DataFrame({"sex": sex, "race": race, "job": rng.choice(["j1", "j2"], n),
                       "hired": np.where(rng.random(n) < p, "yes", "no")})
    found = by_id(group_attribution(make_ctx(df, label="hired", positive="yes", sensitive=["sex", "race"])).findings)
    assoc = found["group_attribution:sex&race:label=hired"]
    ct = pd.crosstab([df["sex"], df["race"]], df["hired"])
    chi = sps.chi2_contingency(ct.to_numpy(), correction=False)
    assert assoc.p_value == pytest.approx(chi.pvalue, rel=1e-8) and assoc.statistic == pytest.approx(chi.statistic)
    assert assoc.hypothesis == "independence:hired,race,sex::two-sided" and assoc.kind == "intersection_association"
    fb = found["group_attribution:sex=F&race=B:label=yes"]
    k, n_g = ct.loc[("F", "B"), "yes"], ct.loc[("F", "B")].sum()
    k_rest, n_rest = ct["yes"].sum() - k, n - n_g
    assert fb.details["table2x2"] == [[k, n_g - k], [k_rest, n_rest - k_rest]]
    assert fb.effect_size == pytest.approx(k / n_g - k_rest / n_rest)
    assert fb.details["rate_ci"] == pytest.approx(list(proportion_confint(k, n_g, method="wilson")))
    assert fb.hypothesis == "2x2:hired,race,sex:race=B&sex=F:two-sided"
    assert fb.attributes == {"sex": "F", "race": "B"}
    # no intersection with an attribute the user did not name, and none without a named attribute
    assert not any("job" in x for x in found)
    unnamed = by_id(group_attribution(make_ctx(df, label="hired", positive="yes")).findings)
    assert not any("&" in x for x in unnamed)


def test_tables_plans_named_triples():
    from biasaudit.detectors.group_attribution import tables
    df = pd.DataFrame({"a": ["x", "y"] * 50, "b": ["p", "q"] * 50, "c": ["u", "v", "w", "z"] * 25,
                       "d": ["m", "n"] * 50, "y": ["0", "1"] * 50})
    ctx = make_ctx(df, label="y", sensitive=["a", "b", "c"])
    assert tables(ctx.roles, ctx.table.levels, 100, None) == [frozenset({"a", "b", "c", "y"})]   # 2 x 2 x 4 = 16
    assert tables(make_ctx(df, label="y").roles, ctx.table.levels, 100, None) == []             # none named
