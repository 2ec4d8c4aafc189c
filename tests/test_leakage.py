"""Leakage: attributes that predict the label almost perfectly, or copy another attribute.

Oracles: leave-one-out computed here by refitting the per-level rule on every expanded row,
``sklearn.metrics.mutual_info_score`` / ``scipy.stats.entropy`` for Theil's U, and the shared real
data sets (raw COMPAS, student performance, bank marketing) for which columns are leaks.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps
from sklearn.metrics import mutual_info_score

from biasaudit import stats
from biasaudit.detectors import leakage as lk
from conftest import make_ctx, shared_path


def _loo_by_rows(table: np.ndarray) -> float:
    """Balanced accuracy of the class-balanced per-level rule, refitted without each row in turn."""
    table = np.asarray(table)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    level = np.repeat(np.arange(table.shape[0]), table.sum(axis=1))
    cls = np.concatenate([np.repeat(np.arange(table.shape[1]), row) for row in table])
    credit = np.zeros(len(cls))
    for i in range(len(cls)):
        t = table.astype(float).copy()
        t[level[i], cls[i]] -= 1
        nj = t.sum(axis=0)
        score = np.where(nj > 0, t[level[i]] / np.where(nj > 0, nj, 1), 0.0)
        best = np.flatnonzero(np.isclose(score, score.max(), rtol=1e-12, atol=0))
        credit[i] = (cls[i] in best) / len(best)
    return float(np.mean([credit[cls == j].mean() for j in range(table.shape[1])]))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(2, 3), st.data())
def test_loo_balanced_accuracy_equals_row_refits(r, k, data):
    cells = data.draw(st.lists(st.integers(0, 6), min_size=r * k, max_size=r * k))
    table = np.array(cells).reshape(r, k)
    if (table.sum(axis=0) > 1).sum() < 2:
        return
    table = table[:, table.sum(axis=0) > 1]          # every class keeps a row when one is held out
    got = stats.loo_balanced_accuracy(table)
    assert got["balanced_accuracy"] == pytest.approx(_loo_by_rows(table), abs=1e-12)
    kk = got["n_classes"]
    assert got["youden_j"] == pytest.approx((got["balanced_accuracy"] - 1 / kk) / (1 - 1 / kk))


def test_loo_balanced_accuracy_perfect_and_chance():
    assert stats.loo_balanced_accuracy([[40, 0], [0, 60]])["youden_j"] == 1.0
    # one level only: held out, every row is predicted as the other class (LOO is pessimistic there)
    assert stats.loo_balanced_accuracy([[40, 60]])["balanced_accuracy"] == pytest.approx(_loo_by_rows([[40, 60]]))


def test_theils_u_corrected_against_sklearn():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, 500)
    y = (x + rng.integers(0, 2, 500)) % 3
    t = pd.crosstab(y, x).to_numpy()
    mi = mutual_info_score(y, x) - (t.shape[0] - 1) * (t.shape[1] - 1) / (2 * 500)
    assert stats.theils_u_corrected(t, given_axis=1) == pytest.approx(mi / sps.entropy(np.bincount(y)), rel=1e-10)
    assert stats.theils_u_corrected(t.T, given_axis=0) == pytest.approx(mi / sps.entropy(np.bincount(y)), rel=1e-10)


def _frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n)
    good = rng.random(n) < np.where(group == "a", 0.7, 0.4)
    label = np.where(good, "yes", "no")
    flip = rng.random(n) < 0.03
    after = np.where(good ^ flip, "paid", "unpaid")                  # recorded after the outcome: 97 % agreement
    strong = np.where(rng.random(n) < np.where(good, 0.75, 0.25), "hi", "lo")   # J = 0.5: strong, not a leak
    return pd.DataFrame({"group": group, "group_copy": np.where(group == "a", "A", np.where(group == "b", "B", "C")),
                         "after": after, "strong": strong, "noise": rng.choice(["x", "y"], n), "label": label})


def test_find_leakage_flags_leak_and_copy_not_strong_predictors():
    df = _frame()
    ctx = make_ctx(df, label="label")
    found = lk.find_leakage(ctx.table, ctx.roles)
    assert set(found) == {"after", "group_copy"}
    assert "alone predicts label" in found["after"] and "almost a copy of group" in found["group_copy"]
    assert lk.find_leakage(ctx.table, ctx.roles, keep=["after"]).keys() == {"group_copy"}
    # a named sensitive attribute is never flagged as the copy: the other column is
    ctx = make_ctx(df, label="label", sensitive=["group_copy"])
    assert "group" in lk.find_leakage(ctx.table, ctx.roles) and "group_copy" not in lk.find_leakage(ctx.table, ctx.roles)


def test_leakage_detector_one_finding_per_column():
    ctx = make_ctx(_frame(), label="label")
    res = lk.leakage(ctx)
    found, section = res.findings, res.section
    assert sorted(f.id for f in found) == ["leakage:after", "leakage:group_copy"]
    f = next(x for x in found if x.id == "leakage:after")
    assert lk.LEAK_MESSAGE.format(column="after") in f.message and not f.in_family and f.n == 2000
    t = pd.crosstab(_frame()["after"], _frame()["label"]).to_numpy()
    assert f.effect_size == pytest.approx(stats.loo_balanced_accuracy(t)["youden_j"])
    assert section["flagged"] == {"after": "outcome", "group_copy": "copy"}


# ----------------------------------------------------------------------------- real data
def test_raw_compas_leaks():
    df = pd.read_csv(shared_path("compas", "compas-scores-two-years.csv"))
    ctx = make_ctx(df, label="two_year_recid")
    found = lk.find_leakage(ctx.table, ctx.roles)
    assert {"is_recid", "r_charge_degree", "event", "end"} <= set(found)
    assert {"decile_score.1", "priors_count.1"} <= set(found)             # copies of decile_score, priors_count
    assert not {"race", "sex", "age_cat", "decile_score", "score_text", "priors_count"} & set(found)


def test_student_and_bank():
    por = pd.read_csv(shared_path("student_performance", "student_por_new.csv"))
    ctx = make_ctx(por, label="class")
    assert "G2" in lk.find_leakage(ctx.table, ctx.roles)
    bank = pd.read_csv(shared_path("bank_marketing", "bank-full_lequy_clean.csv"))
    ctx = make_ctx(bank, label="y")
    # duration is a semantic leak the counts cannot tell from a strong predictor (documented; --exclude it)
    assert lk.find_leakage(ctx.table, ctx.roles) == {}


@pytest.mark.parametrize("named", [["sex"], ["sex", "dept"]])
def test_a_named_sensitive_attribute_is_never_left_out_as_a_leak(named):
    """``sex`` predicts the label for 98 % of the rows: a leak by the rule, but the user asked about it,
    also when every attribute is named; it stays in the audit, with its leakage warning."""
    import biasaudit as ba
    rng = np.random.default_rng(0)
    n = 600
    sex, dept = rng.choice(["F", "M"], n), rng.choice(["A", "B", "C"], n)
    y = np.where(sex == "F", "yes", "no")
    y = np.where(rng.random(n) < 0.02, np.where(y == "yes", "no", "yes"), y)
    r = ba.audit(pd.DataFrame({"sex": sex, "dept": dept, "y": y}), label="y", sensitive=named, positive="yes",
                 probe=False)
    assert "sex" not in r.dataset["excluded"] and "sex" in r.dataset["attributes"]
    assert any(f.id == "leakage:sex" for f in r.findings)  # still warned about
    assoc = next(f for f in r.findings if f.id == "group_attribution:sex:label=y")
    table = pd.crosstab(sex, y).to_numpy()
    assert assoc.p_value == pytest.approx(max(sps.chi2_contingency(table, correction=False).pvalue,
                                              np.finfo(float).tiny), rel=1e-9)
