"""Conditional group attribution (CMH) and Simpson's paradox against independent computations.

Oracles: ``statsmodels.stats.contingency_tables.StratifiedTable`` called here on tables built with
pandas, hand formulas (Mantel-Haenszel risk difference, hypergeometric convolution), brute-force
enumeration of label assignments, ``scipy.stats.chi2_contingency``, and STATISTICS.md §4.3 test
vectors C2a (kidney stones, Charig et al. 1986) and C2b (the lecture table).  UC Berkeley
admissions: R's ``UCBAdmissions`` (Bickel, Hammel & O'Connell 1975), typed in below.
"""
from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import StratifiedTable

import biasaudit
from biasaudit.engine.context import AuditContext
from biasaudit.engine.counts import encode
from biasaudit.detectors import conditional as cond
from biasaudit.engine.roles import resolve
from biasaudit.settings import Settings
from conftest import DATASETS, load_compas, make_ctx

# R: UCBAdmissions[, , dept] -> (male admitted, male rejected, female admitted, female rejected)
UCB = {"A": (512, 313, 89, 19), "B": (353, 207, 17, 8), "C": (120, 205, 202, 391),
       "D": (138, 279, 131, 244), "E": (53, 138, 94, 299), "F": (22, 351, 24, 317)}
# Charig et al. (1986): treatment, stone size -> (success, failure)
KIDNEY = {("A", "small"): (81, 6), ("A", "large"): (192, 71), ("B", "small"): (234, 36), ("B", "large"): (55, 25)}




def by_id(findings) -> dict:
    return {f.id: f for f in findings}


@pytest.fixture
def ucb_csv(tmp_path):
    rows = []
    for dept, (ma, mr, fa, fr) in UCB.items():
        rows += [("Admitted", "Male", dept, ma), ("Rejected", "Male", dept, mr),
                 ("Admitted", "Female", dept, fa), ("Rejected", "Female", dept, fr)]
    path = tmp_path / "ucb_admissions.csv"
    pd.DataFrame(rows, columns=["admit", "gender", "dept", "count"]).to_csv(path, index=False)
    return path


@pytest.fixture
def kidney() -> pd.DataFrame:
    rows = [(t, s, ok, n) for (t, s), counts in KIDNEY.items() for ok, n in zip(("yes", "no"), counts)]
    return pd.DataFrame(rows, columns=["treatment", "size", "success", "count"])


# ----------------------------------------------------------------------------- kidney stones [TV C2a]
def test_kidney_stones_vector(kidney):
    r = biasaudit.audit(kidney, label="success", weight="count", sensitive=["treatment"], positive="yes",
                        detectors=["conditional"])
    f = by_id(r.findings)
    c = f["conditional:treatment|size:label=yes"]
    s = f["simpson:treatment=A|size:label=yes"]
    # independent: statsmodels on [[A success, A failure], [B success, B failure]] per stratum
    tables = [np.array([KIDNEY[("A", z)], KIDNEY[("B", z)]], dtype=float) for z in ("small", "large")]
    st = StratifiedTable(tables)
    null = st.test_null_odds(correction=False)
    assert st.oddsratio_pooled == pytest.approx(1.44685, rel=1e-5)
    assert c.details["odds_ratio_mh"] == pytest.approx(st.oddsratio_pooled, rel=1e-12)
    assert c.statistic == pytest.approx(null.statistic, rel=1e-10) and null.statistic == pytest.approx(2.43386, rel=1e-5)
    assert c.p_value == pytest.approx(null.pvalue, rel=1e-10) and c.p_value == pytest.approx(0.118741, rel=1e-5)
    assert c.details["breslow_day_p"] == pytest.approx(st.test_equal_odds(adjust=False).pvalue, rel=1e-10)
    assert c.details["breslow_day_p"] == pytest.approx(0.325068, rel=1e-5)
    assert c.details["exact_p"] == pytest.approx(0.137979, rel=1e-5)
    assert c.in_family and c.test.startswith("Cochran-Mantel-Haenszel")
    # descriptive Simpson reversal: both criteria hold, the test does not reach alpha
    assert s.details["strong_reversal"] and s.details["weak_reversal"]
    assert not s.in_family and s.severity == "info" and s.message.startswith("Descriptive Simpson reversal")
    assert s.details["rd_marginal"] == pytest.approx(273 / 350 - 289 / 350) == pytest.approx(-0.0457143, rel=1e-5)
    assert s.details["or_marginal"] == pytest.approx(273 * 61 / (77 * 289)) == pytest.approx(0.748349, rel=1e-5)
    rds = sorted(ev["rd"] for ev in s.evidence)
    assert rds == pytest.approx(sorted([81 / 87 - 234 / 270, 192 / 263 - 55 / 80]))
    assert rds == pytest.approx([0.042538, 0.0643678], rel=1e-5)


def test_exact_stratified_by_hand_convolution():
    # the exact conditional test as a convolution of hypergeometrics, written out here with scipy
    tables = [np.array(KIDNEY[("A", z)] + KIDNEY[("B", z)]).reshape(2, 2) for z in ("small", "large")]
    pmf, lo_tot = np.ones(1), 0
    for t in tables:
        r1, c1, n = t[0].sum(), t[:, 0].sum(), t.sum()
        lo, hi = max(0, r1 - (n - c1)), min(r1, c1)
        pmf = np.convolve(pmf, sps.hypergeom.pmf(np.arange(lo, hi + 1), n, c1, r1))
        lo_tot += lo
    obs = sum(t[0, 0] for t in tables) - lo_tot
    p = pmf[pmf <= pmf[obs] * (1 + 1e-7)].sum()
    res = biasaudit.stats.cmh_test(tables)
    assert res.exact_p == pytest.approx(p, rel=1e-9) and p == pytest.approx(0.137979, rel=1e-5)


# ----------------------------------------------------------------------------- UC Berkeley
def test_ucb_admissions_reversal(ucb_csv):
    r = biasaudit.audit(str(ucb_csv), label="admit", weight="count", sensitive=["gender"], positive="Admitted",
                        detectors=["conditional"])
    f = by_id(r.findings)
    c = f["conditional:gender|dept:label=Admitted"]
    s = f["simpson:gender=Female|dept:label=Admitted"]
    df = pd.read_csv(ucb_csv)
    # independent: per-department 2 x 2 [[female adm, female rej], [male adm, male rej]] from a pandas pivot
    piv = df.pivot_table(index=["dept", "gender"], columns="admit", values="count", aggfunc="sum")
    tables = [piv.loc[d].loc[["Female", "Male"], ["Admitted", "Rejected"]].to_numpy(float) for d in "ABCDEF"]
    st = StratifiedTable(tables)
    null = st.test_null_odds(correction=False)
    assert c.statistic == pytest.approx(null.statistic, rel=1e-10)
    assert c.p_value == pytest.approx(null.pvalue, rel=1e-10)
    assert c.details["odds_ratio_mh"] == pytest.approx(st.oddsratio_pooled, rel=1e-12)
    assert st.oddsratio_pooled == pytest.approx(1.1050, abs=5e-4)         # 1 / 0.9047 (R: male vs female)
    assert c.details["breslow_day_p"] == pytest.approx(st.test_equal_odds(adjust=False).pvalue, rel=1e-10)
    # marginally men are admitted more (44.5% vs 30.4%); within departments the difference changes sign
    tot = df.groupby(["gender", "admit"])["count"].sum()
    rd_marg = tot["Female", "Admitted"] / tot["Female"].sum() - tot["Male", "Admitted"] / tot["Male"].sum()
    assert s.details["rd_marginal"] == pytest.approx(rd_marg) and rd_marg < -0.14
    num = sum((t[0, 0] * t[1].sum() - t[1, 0] * t[0].sum()) / t.sum() for t in tables)
    den = sum(t[0].sum() * t[1].sum() / t.sum() for t in tables)
    assert c.effect_size == pytest.approx(num / den) and num / den > 0      # Mantel-Haenszel RD, by hand
    assert "changes sign" in c.message and c.explained_by is None
    assert s.details["weak_reversal"] and not s.details["strong_reversal"]  # department differences mixed
    assert not s.in_family and s.message.startswith("Descriptive Simpson reversal")
    assert c.p_value > 0.05


def test_ucb_invariant_to_row_order_and_names(ucb_csv):
    df = pd.read_csv(ucb_csv)
    renamed = df.sample(frac=1, random_state=3).replace({"Male": "m", "Female": "f", "A": "dZ", "F": "dA"})
    runs = [biasaudit.audit(d, label="admit", weight="count", sensitive=["gender"], positive="Admitted",
                            detectors=["conditional"]) for d in (df, renamed)]
    a, b = (sorted((f.kind, f.statistic, f.p_value, abs(f.effect_size)) for f in r.findings) for r in runs)
    assert len(a) == len(b) == 2
    for (ka, sa, pa, ea), (kb, sb, pb, eb) in zip(a, b):
        assert ka == kb and sa == pytest.approx(sb) and pa == pytest.approx(pb) and ea == pytest.approx(eb)


# ----------------------------------------------------------------------------- the lecture table [TV C2b]
def test_lecture_table_no_reversal(dogs_cats):
    ctx = make_ctx(dogs_cats, label="species")
    res = cond.conditional(ctx)
    found, section = res.findings, res.section
    f = by_id(found)
    assert not [x for x in found if x.kind == "simpson"]
    big = f["conditional:size|color:label=DOG"]   # size=small against big, stratified by colour
    assert big.p_value == pytest.approx(0.177778, rel=1e-5) and big.details["cmh_p"] == pytest.approx(0.0485829, rel=1e-5)
    assert big.test.startswith("exact") and big.details["mantel_fleiss"] == pytest.approx(1.46667, rel=1e-5)
    col = f["conditional:color|size:label=DOG"]
    brown = next(e for e in col.evidence if e["group"] == "brown")
    assert brown["p_value"] == pytest.approx(0.0242424, rel=1e-5)   # exact; CMH 0.010415 is invalid there
    # the generalised test: only the small stratum is informative; enumerate its C(11, 3) label assignments
    small = dogs_cats[dogs_cats["size"] == "small"]
    colors = pd.factorize(small["color"])[0]
    obs = (small["species"] == "DOG").to_numpy()

    def q(is_dog):
        t = np.column_stack([np.bincount(colors[is_dog], minlength=colors.max() + 1),
                             np.bincount(colors[~is_dog], minlength=colors.max() + 1)])
        return (len(colors) - 1) / len(colors) * sps.chi2_contingency(t, correction=False).statistic
    q_obs = q(obs)
    null = []
    for pick in itertools.combinations(range(len(colors)), int(obs.sum())):
        z = np.zeros(len(colors), dtype=bool)
        z[list(pick)] = True
        null.append(q(z))
    p = np.mean(np.array(null) >= q_obs * (1 - 1e-7))
    assert col.statistic == pytest.approx(q_obs, rel=1e-9)
    assert col.p_value == pytest.approx(p, rel=1e-9)
    assert col.details["dof"] == 5 and col.testable


def test_simpson_check_rules():
    # strong: marginal +, every stratum - ; weak only: ORs in opposite directions, strata mixed
    strong = np.array([[[1, 9], [20, 80]], [[60, 40], [9, 1]]])
    out = cond.simpson_check(strong, StratifiedTable([s.astype(float) for s in strong]).oddsratio_pooled)
    assert out["rd_marginal"] > 0 and out["strong"] and out["weak"]
    # odds ratios of about 1 have no direction (band log 1.05)
    flat = np.array([[[50, 50], [50, 51]], [[50, 50], [51, 50]]])
    out = cond.simpson_check(flat, 0.999)
    assert not out["weak"] and not out["strong"]


# ----------------------------------------------------------------------------- COMPAS and German credit
def _cmh_from_crosstab(df, a, level, b, label, positive):
    tables = []
    for _, g in df.groupby(b):
        t = pd.crosstab(g[a] == level, g[label] == positive).reindex(index=[True, False], columns=[True, False],
                                                                      fill_value=0).to_numpy(float)
        if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all():
            tables.append(t)
    return StratifiedTable(tables)


def test_compas_cmh_against_statsmodels():
    df = load_compas()
    ctx = make_ctx(df, label="two_year_recid", sensitive=["race", "sex", "age_cat"])
    t0 = time.perf_counter()
    res = cond.conditional(ctx)
    found, section = res.findings, res.section
    elapsed = time.perf_counter() - t0
    f = by_id(found)
    st = _cmh_from_crosstab(df, "sex", "Female", "age_cat", "two_year_recid", 1)
    c = f["conditional:sex|age_cat:label=1"]
    null = st.test_null_odds(correction=False)
    assert c.statistic == pytest.approx(null.statistic, rel=1e-9) and c.p_value == pytest.approx(null.pvalue, rel=1e-6)
    assert c.details["odds_ratio_mh"] == pytest.approx(st.oddsratio_pooled, rel=1e-10)
    assert c.explained_by == "group_attribution:sex:label=two_year_recid"      # persists: folded
    # race: per-level CMH of African-American vs the rest within sex
    st = _cmh_from_crosstab(df, "race", "African-American", "sex", "two_year_recid", 1)
    ev = next(e for e in f["conditional:race|sex:label=1"].evidence if e["group"] == "African-American")
    assert ev["odds_ratio_mh"] == pytest.approx(st.oddsratio_pooled, rel=1e-10)
    assert ev["p_value"] == pytest.approx(st.test_null_odds(correction=False).pvalue, rel=1e-6)
    assert elapsed < 6.0, f"conditional took {elapsed:.2f} s on COMPAS"   # target < 3 s; slack for busy CI


def test_german_credit_cmh_and_functional_dependency():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    ctx = make_ctx(df, label="credit", positive="bad", sensitive=["sex"])
    res = cond.conditional(ctx)
    found, section = res.findings, res.section
    f = by_id(found)
    assert {"attribute": "sex", "stratifier": "personal_status", "reason": "functionally dependent"} in section["skipped"]
    st = _cmh_from_crosstab(df, "sex", "female", "housing", "credit", "bad")
    c = f["conditional:sex|housing:label=bad"]
    null = st.test_null_odds(correction=False)
    assert c.statistic == pytest.approx(null.statistic, rel=1e-9)
    assert c.details["cmh_p"] == pytest.approx(null.pvalue, rel=1e-9)
    assert c.details["breslow_day_p"] == pytest.approx(st.test_equal_odds(adjust=False).pvalue, rel=1e-9)


def test_unnamed_pairs_are_bounded():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    res = cond.conditional(make_ctx(df, label="credit", positive="bad"))
    found, section = res.findings, res.section
    assert found == () and "name the sensitive attributes" in section["text"][-1]
