"""Proxies for sensitive attributes against independent computations.

Oracles: STATISTICS.md §5 test vectors D (the lecture table), ``scipy.stats.contingency.association``,
``scipy.stats.chi2_contingency`` / ``fisher_exact`` on pandas crosstabs, ``sklearn.metrics``
(``mutual_info_score``, ``normalized_mutual_info_score``), ``scipy.stats.entropy``, and scikit-learn's
``DecisionTreeClassifier(max_depth=3, class_weight="balanced")`` with ``cross_val_score`` /
``permutation_test_score`` for the predictability probe.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.stats.contingency import association
from sklearn.metrics import mutual_info_score, normalized_mutual_info_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, permutation_test_score
from sklearn.tree import DecisionTreeClassifier

import biasaudit
from biasaudit.engine.context import AuditContext
from biasaudit.engine.counts import encode
from biasaudit.detectors import proxies as px
from biasaudit.detectors._cvtree import grow_batched, stratified_folds
from biasaudit.engine.roles import resolve
from biasaudit.settings import Settings
from conftest import DATASETS, load_compas, make_ctx




def by_id(findings) -> dict:
    return {f.id: f for f in findings}


def theils_u(s: pd.Series, x: pd.Series) -> float:
    """U(S|X) = I(S;X) / H(S) from sklearn's MI and scipy's entropy."""
    return mutual_info_score(s, x) / sps.entropy(s.value_counts().to_numpy())


# ----------------------------------------------------------------------------- [TV D] the lecture table
def test_lecture_size_label_is_candidate_untestable(dogs_cats):
    r = biasaudit.audit(dogs_cats, label="species", sensitive=["size"], detectors=["proxies"])
    f = by_id(r.findings)["proxies:label->size"]
    s, y = dogs_cats["size"], dogs_cats["species"]
    t = pd.crosstab(s, y).to_numpy()
    assert f.details["mutual_info_nats"] == pytest.approx(mutual_info_score(s, y), rel=1e-10)
    assert f.details["mutual_info_nats"] == pytest.approx(0.222517, rel=1e-5)
    assert f.details["miller_madow_bias"] == pytest.approx(1 / 28) == pytest.approx(0.0357143, rel=1e-5)
    assert f.details["nmi"] == pytest.approx(normalized_mutual_info_score(s, y), rel=1e-10)
    assert f.details["nmi"] == pytest.approx(0.370094, rel=1e-5)
    assert f.details["theils_u"] == pytest.approx(theils_u(s, y), rel=1e-10) == pytest.approx(0.428263, rel=1e-5)
    assert f.details["cramers_v"] == pytest.approx(association(t, method="cramer"), rel=1e-10)
    assert f.effect_size == pytest.approx(0.55732, rel=1e-5)
    assert f.p_value == pytest.approx(sps.fisher_exact(t).pvalue, rel=1e-10) == pytest.approx(0.0549451, rel=1e-5)
    assert f.p_min == pytest.approx(0.0549451, rel=1e-5) and not f.testable
    assert f.severity == "insufficient-data" and "candidate proxy for size" in f.message
    assert "n too small to test" in f.message and not f.in_family
    c = by_id(r.findings)["proxies:color->size"]
    assert c.details["theils_u"] == pytest.approx(theils_u(s, dogs_cats["color"]), rel=1e-10)
    assert c.details["theils_u"] == pytest.approx(0.131015, rel=1e-5) and c.p_value == pytest.approx(1.0)
    assert c.p_min == pytest.approx(0.00824176, rel=1e-5) and not c.pattern
    probe = r.sections["proxies"]["predictability"][0]
    assert probe["status"] == "insufficient data"       # big has 3 rows: no 5-fold CV at n = 14


def test_lecture_color_label_and_derived(dogs_cats):
    r = biasaudit.audit(dogs_cats, label="species", sensitive=["color"], detectors=["proxies"])
    f = by_id(r.findings)["proxies:label->color"]
    assert f.details["cramers_v"] == pytest.approx(0.614636, rel=1e-5) and f.effect_size == pytest.approx(0.0)
    assert f.details["mutual_info_nats"] == pytest.approx(0.231401, rel=1e-5)
    assert f.details["miller_madow_bias"] == pytest.approx(0.178571, rel=1e-5)
    assert f.details["theils_u"] == pytest.approx(0.145223, rel=1e-5)
    assert f.p_value == pytest.approx(0.55045, rel=1e-5) and not f.pattern
    derived = {d["attribute"] for d in r.sections["proxies"]["derived"]}
    assert {"color_count", "color_has_white"} <= derived              # multicolour / has_white of §5: DERIVED
    assert not any(x.kind == "proxy" and "color_has" in x.id for x in r.findings)


# ----------------------------------------------------------------------------- German credit
def test_german_personal_status_carries_sex():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    ctx = make_ctx(df, label="credit", positive="bad", sensitive=["sex"])
    res = px.proxies(ctx)
    found, section = res.findings, res.section
    f = by_id(found)
    ps = f["proxies:personal_status->sex"]
    t = pd.crosstab(df["sex"], df["personal_status"]).to_numpy()
    assert ps.details["theils_u"] == pytest.approx(1.0) and ps.pattern and ps.in_family
    assert ps.details["theils_u"] == pytest.approx(theils_u(df["sex"], df["personal_status"]), rel=1e-10)
    assert ps.p_value == pytest.approx(sps.chi2_contingency(t, correction=False).pvalue, rel=1e-8)
    assert ps.details["cramers_v"] == pytest.approx(association(t, method="cramer"), rel=1e-10)
    assert "does not remove it" in ps.suggestion
    h = f["proxies:housing->sex"]
    th = pd.crosstab(df["sex"], df["housing"]).to_numpy()
    assert h.statistic == pytest.approx(sps.chi2_contingency(th, correction=False).statistic, rel=1e-10)
    assert h.details["nmi"] == pytest.approx(normalized_mutual_info_score(df["sex"], df["housing"]), rel=1e-10)
    # the probe: sex is a function of personal_status, so a depth-3 tree predicts it perfectly
    pr = f["proxies:predict:sex"]
    assert pr.kind == "strong_proxy" and pr.effect_size == pytest.approx(0.5) and pr.p_value == pytest.approx(0.01)


def _one_hot_probe(ctx, s, features):
    tab = ctx.table
    y = np.asarray(tab.codes[s])
    codes = np.column_stack([tab.codes[f] for f in features])
    X = pd.get_dummies(pd.DataFrame(codes).astype(str)).to_numpy(float)
    return X, codes, y


def test_probe_matches_sklearn_tree():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    rng = np.random.default_rng(7)
    df["noise"] = rng.choice(["a", "b", "c"], size=len(df))       # independent of everything
    cols = ["personal_status", "housing", "job", "age", "purpose", "sex", "noise", "credit"]
    ctx = make_ctx(df[cols], label="credit", positive="bad", sensitive=["sex", "noise"])
    features = [a for a in ctx.roles.attributes if a not in ("sex", "noise")]
    sizes = [len(ctx.table.levels[f]) for f in features]
    tree = DecisionTreeClassifier(max_depth=3, class_weight="balanced", random_state=0)
    for s in ("sex", "noise"):
        X, codes, y = _one_hot_probe(ctx, s, features)
        res = px.predictability(codes, sizes, y, n_permutations=0, random_state=0)
        folds = stratified_folds(y, 5, np.random.default_rng(0))[0]   # the folds it draws first
        cv = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(5)]
        ref = cross_val_score(tree, X, y, cv=cv, scoring="balanced_accuracy").mean()
        # identical for sex; for noise one fold has two depth-2 splits of exactly equal Gini cost,
        # which sklearn breaks by a random feature order and the batched tree by the first column
        assert res["balanced_accuracy"] == pytest.approx(ref, abs=1e-12 if s == "sex" else 0.005)
    res = px.predictability(codes, sizes, y, random_state=0)
    # the permutation p against sklearn's permutation_test_score on the same estimator family
    _, _, p_sk = permutation_test_score(tree, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                                        n_permutations=49, random_state=0, scoring="balanced_accuracy")
    assert res["p_value"] > 0.05 and p_sk > 0.05 and abs(res["lift"]) < 0.1    # noise: not predictable
    assert abs(res["null_mean"] - 1 / 3) < 0.02                                 # permuted scores sit at chance


@pytest.mark.parametrize("seed", range(12))
def test_batched_tree_is_sklearns_tree(seed):
    # random tables without exact ties: the batched grower and scikit-learn predict the same class
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 6, 4)
    codes = np.column_stack([rng.integers(0, k, 400) for k in sizes])
    k = 2 + seed % 3
    y = (rng.random(400) * k + 0.8 * (codes[:, 0] == 1) + 0.5 * (codes[:, 1] == 0)).astype(int) % k
    pats, pid = np.unique(codes, axis=0, return_inverse=True)
    pid = pid.ravel()
    off = np.r_[0, np.cumsum(sizes)[:-1]]
    x = np.zeros((len(pats), sizes.sum()))
    x[np.arange(len(pats))[:, None], off + pats] = 1
    train = np.bincount(pid * k + y, minlength=len(pats) * k).reshape(1, -1, k).astype(float)
    node, pred, _ = grow_batched(x, train, 3)
    sk = DecisionTreeClassifier(max_depth=3, class_weight="balanced", min_impurity_decrease=1e-12,
                                random_state=0).fit(x[pid], y)
    np.testing.assert_array_equal(pred[0][node[0]], sk.predict(x))


def test_stratified_folds_balance_each_class():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, (4, 103))
    folds = stratified_folds(y, 5, rng)
    for b in range(4):
        for c in range(3):
            sizes = np.bincount(folds[b][y[b] == c], minlength=5)
            assert sizes.max() - sizes.min() <= 1


def test_predictable_target_has_smallest_p():
    # S is a function of one attribute: balanced accuracy 1 and no permutation reaches it
    rng = np.random.default_rng(11)
    codes = np.column_stack([rng.integers(0, 4, 300), rng.integers(0, 3, 300)])
    y = (codes[:, 0] >= 2).astype(int)
    r = px.predictability(codes, [4, 3], y, random_state=0)
    assert r["balanced_accuracy"] == 1.0 and r["p_value"] == pytest.approx(1 / 100) == r["p_min"]
    assert r["splits"][0][:2] == (0, 0)                    # the root splits on the first attribute


# ----------------------------------------------------------------------------- COMPAS
def test_compas_proxies_against_scipy():
    df = load_compas()
    ctx = make_ctx(df, label="two_year_recid", sensitive=["race", "sex", "age_cat"])
    t0 = time.perf_counter()
    res = px.proxies(ctx)
    found, section = res.findings, res.section
    elapsed = time.perf_counter() - t0
    f = by_id(found)
    for x in ("c_charge_degree", "score_text"):
        t = pd.crosstab(df["race"], df[x]).to_numpy()
        g = f[f"proxies:{x}->race"]
        chi = sps.chi2_contingency(t, correction=False)
        assert g.statistic == pytest.approx(chi.statistic, rel=1e-10) and g.p_value == pytest.approx(chi.pvalue, rel=1e-6)
        assert g.details["cramers_v"] == pytest.approx(association(t, method="cramer"), rel=1e-10)
        assert g.details["theils_u"] == pytest.approx(theils_u(df["race"], df[x]), rel=1e-9)
    race = next(p for p in section["predictability"] if p["sensitive"] == "race")
    # a seeded sample of PROBE_ROWS rows; classes with fewer than MIN_CLASS_ROWS rows in it are named
    assert race["sampled"] and race["n_rows"] <= px.PROBE_ROWS
    assert any(d.startswith("Native American") for d in race["dropped_classes"])
    left_out = sum(int(d.split("(")[1][:-1]) for d in race["dropped_classes"])
    assert race["n_rows"] + left_out == px.PROBE_ROWS
    assert f"seeded sample of {race['n_rows']:,} of {len(df):,} rows" in f["proxies:predict:race"].message
    assert elapsed < 6.0, f"proxies took {elapsed:.2f} s on COMPAS"   # target < 3 s; slack for busy CI


# ----------------------------------------------------------------------------- no sensitive attribute named
def test_pairs_mode_is_descriptive_and_bounded():
    large = pd.read_csv(DATASETS / "dogs_cats_large.csv")
    res = px.proxies(make_ctx(large, label="species"))
    found, section = res.findings, res.section
    f = by_id(found)
    m = f["proxies:multicolor~color"]
    assert m.kind == "derived" and not m.in_family and m.details["theils_u_reverse"] == pytest.approx(1.0)
    assert all(not x.in_family for x in found) and section["mode"] == "pairs"
    ws = f["proxies:weight_kg~size"]
    assert ws.details["theils_u"] == pytest.approx(
        theils_u(large["size"], make_ctx(large, label="species").frame["weight_kg"].astype(object).fillna("(missing)")
                 .astype(str)), rel=1e-9)
    german = pd.read_csv(DATASETS / "german_credit.csv")
    res = px.proxies(make_ctx(german, label="credit"))
    found, section = res.findings, res.section
    assert found == () and "more than 200" in section["text"][-1]


def test_renaming_labels_changes_no_number(dogs_cats):
    # KURI/PUSI -> DOG/CAT and shuffled rows: identical statistics, p-values and measures [TV I]
    kuri = pd.read_csv(DATASETS / "kuri_pusi.csv").sample(frac=1, random_state=5)
    a = px.proxies(make_ctx(dogs_cats, label="species", sensitive=["size"])).findings
    b = px.proxies(make_ctx(kuri, label="label", sensitive=["size"])).findings
    key = lambda f: f.id.replace("label->", "").replace("species", "").replace("label", "")  # noqa: E731
    for fa, fb in zip(sorted(a, key=key), sorted(b, key=key)):
        assert (fa.p_value, fa.p_min, fa.severity) == (fb.p_value, fb.p_min, fb.severity)
        assert fa.details["theils_u"] == pytest.approx(fb.details["theils_u"])
        assert fa.details["mutual_info_nats"] == pytest.approx(fb.details["mutual_info_nats"])


def test_label_proxy_shares_group_attribution_key(dogs_cats):
    # the label x S table is the group-attribution table: one hypothesis, one key
    r = biasaudit.audit(dogs_cats, label="species", sensitive=["size"], detectors=["proxies", "group_attribution"])
    f = by_id(r.findings)
    assert f["proxies:label->size"].hypothesis == f["group_attribution:size:label=species"].hypothesis \
        == "2x2:size,species:size=big:two-sided"
