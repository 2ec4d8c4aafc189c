"""The probe: rules a small classifier learns, unseen combinations, counterfactual flips.

Oracles: STATISTICS.md §6 / statistics-vectors.txt section E (the lecture table, computed with
scikit-learn directly), scipy's hypergeometric distribution, scikit-learn fitted here on the rows,
and ``sklearn.model_selection.permutation_test_score``.
"""
from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, permutation_test_score
from sklearn.tree import DecisionTreeClassifier

import biasaudit as ba
from biasaudit.engine.context import AuditContext
from biasaudit.engine.counts import encode
from biasaudit.detectors.probe import probe
from biasaudit.detectors.probe.fasttree import batched_min_leaf_p
from biasaudit.detectors.probe.models import MIN_GAIN, build_design, class_weights
from biasaudit.detectors.probe.permutation import permutation_score
from biasaudit.detectors.probe.rules import _leaf_min_p, _random_table, count_label_vectors
from biasaudit.engine.roles import resolve
from biasaudit.settings import Settings

from conftest import DATASETS, shared_path

CELEBA_SUBSET = ["Blond_Hair", "Male", "Young", "Attractive", "Heavy_Makeup", "Wearing_Lipstick", "Smiling",
                 "Pale_Skin", "Eyeglasses", "Wavy_Hair", "Bangs", "Straight_Hair"]


def make_ctx(df: pd.DataFrame, label: str, non_causal=(), ids=None, random_state: int = 0) -> AuditContext:
    frame, roles = resolve(df, label=label, ids=ids)
    table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
    settings = Settings(non_causal=tuple(non_causal), random_state=random_state)
    return AuditContext(table=table, roles=roles, settings=settings, frame=frame, raw=df, options={})


def sk_tree(depth: int, random_state: int = 0) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(max_depth=depth, class_weight="balanced", random_state=random_state,
                                  min_impurity_decrease=MIN_GAIN)


def flips_by_hand(model, df: pd.DataFrame, columns: list, attribute: str) -> tuple[int, int]:
    """Counterfactual flips of ``model`` (fitted on get_dummies(df[columns])) changing only ``attribute``."""
    dummies = pd.get_dummies(df[columns]).astype(float)
    base = model.predict(dummies.to_numpy())
    flips = trials = 0
    for v in sorted(df[attribute].unique()):
        alt = df[columns].copy()
        sel = alt[attribute] != v
        alt.loc[sel, attribute] = v
        x = pd.get_dummies(alt).astype(float).reindex(columns=dummies.columns, fill_value=0.0).to_numpy()
        pred = model.predict(x)
        flips += int(np.sum(pred[sel.to_numpy()] != base[sel.to_numpy()]))
        trials += int(sel.sum())
    return flips, trials


# --------------------------------------------------------------------------- the lecture table


@pytest.fixture(scope="module")
def dc():
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    res = probe(make_ctx(df, "species", non_causal=("color",)))
    findings, section = res.findings, res.section
    return df, findings, section


def test_dogs_cats_learns_the_lecture_rules(dc):
    df, _, sec = dc
    assert sec["models"]["tree"]["depth"] == 2
    texts = {r["text"] for r in sec["rules"]}
    # [TV E]: size=big -> KURI 3/3; small and colour != brown -> PUSI 7/7; small and brown -> KURI 3/4
    assert texts == {"IF size=big THEN DOG \u2014 3 of 3 training rows",
                     "IF size=small AND color\u2260brown THEN CAT \u2014 7 of 7 training rows",
                     "IF size=small AND color=brown THEN DOG \u2014 3 of 4 training rows"}
    # the same partition as scikit-learn's tree fitted on the rows here
    x = pd.get_dummies(df[["size", "color"]]).astype(float)
    tree = sk_tree(2).fit(x.to_numpy(), df["species"])
    leaves = tree.apply(x.to_numpy())
    groups = {frozenset(np.flatnonzero(leaves == v)) for v in np.unique(leaves)}
    expected = {frozenset(np.flatnonzero((df["size"] == "big").to_numpy())),
                frozenset(np.flatnonzero(((df["size"] == "small") & (df["color"] != "brown")).to_numpy())),
                frozenset(np.flatnonzero(((df["size"] == "small") & (df["color"] == "brown")).to_numpy()))}
    assert groups == expected


def test_dogs_cats_leaf_p_values(dc):
    _, _, sec = dc
    rules = {r["text"].split(" \u2014")[0]: r for r in sec["rules"]}
    cat = rules["IF size=small AND color\u2260brown THEN CAT"]
    big = rules["IF size=big THEN DOG"]
    brown = rules["IF size=small AND color=brown THEN DOG"]
    # naive one-sided hypergeometric p, by hand: C(8,7)/C(14,7) and C(6,3)/C(14,3)
    assert cat["p_naive"] == pytest.approx(8 / math.comb(14, 7)) == pytest.approx(0.002331, rel=1e-4)
    assert big["p_naive"] == pytest.approx(20 / 364) == pytest.approx(0.0549451, rel=1e-6)
    assert brown["p_naive"] == pytest.approx(sps.hypergeom.sf(2, 14, 6, 4)) == pytest.approx(0.174825, rel=1e-5)
    assert brown["p_min_naive"] == pytest.approx(15 / 1001)
    # [TV E] selection-adjusted p over all 3003 labellings: 19/3003
    assert cat["p_selection_adjusted"] == pytest.approx(0.00632701, rel=1e-6)
    assert cat["p_selection_adjusted"] == pytest.approx(19 / 3003)
    assert cat["supported"] and not big["testable"] and not brown["testable"]
    assert sec["selection"]["method"] == "exact" and sec["selection"]["n_labelings"] == 3003


def test_null_statistic_equals_sklearn_refits_on_rows():
    """The refits behind the adjusted p give scikit-learn's own statistic (the oracle of [TV E]).

    For 300 of the 3003 labellings (seeded), scikit-learn is refitted on the 14 rows and its
    minimum naive leaf p compared with the probe's wherever the tree is determined (no two splits
    tie exactly; tied splits are broken by float noise, differently on rows and on patterns).
    """
    from biasaudit.detectors.probe.rules import _null_stats
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    ctx = make_ctx(df, "species")
    d = build_design(ctx.table.codes, ctx.table.levels, ("size", "color"), "species", None, np.random.default_rng(0))
    x = pd.get_dummies(df[["size", "color"]]).astype(np.float32).to_numpy()
    n, n_dog = 14, 6
    # pattern of every row in the design's order
    row_pat = np.array([np.flatnonzero((d.patterns == np.array([ctx.table.codes[a][i] for a in ("size", "color")]))
                                       .all(axis=1))[0] for i in range(n)])
    dog = d.labels.index("DOG")

    def min_leaf_p(y):
        t = sk_tree(2).fit(x, y)
        leaf = t.apply(x)
        best = 1.0
        for v in np.unique(leaf):
            m = leaf == v
            pred = t.classes_[np.argmax(t.tree_.value[v][0])]
            k, nl = (y[m].sum(), n_dog) if pred == 1 else ((1 - y[m]).sum(), n - n_dog)
            best = min(best, sps.hypergeom.sf(k - 1, n, nl, m.sum()))
        return best

    combos = list(itertools.combinations(range(n), n_dog))
    pick = np.random.default_rng(3).choice(len(combos), 300, replace=False)
    ys, tables = [], []
    for i in pick:
        y = np.zeros(n, dtype=int)
        y[list(combos[i])] = 1
        t = np.zeros((len(d.patterns), 2), dtype=np.int64)
        np.add.at(t, (row_pat, np.where(y == 1, dog, 1 - dog)), 1)
        ys.append(y)
        tables.append(t)
    counts = np.round(d.counts).astype(np.int64)
    cw = class_weights(counts.sum(0))
    mine, _ = _null_stats(d, np.stack(tables), cw, 2, 0, d.onehot(d.patterns), counts)
    _, ambiguous = batched_min_leaf_p(d.onehot(d.patterns), np.stack(tables), cw, 2)
    ref = np.array([min_leaf_p(y) for y in ys])
    assert (~ambiguous).sum() > 150
    assert np.allclose(mine[~ambiguous], ref[~ambiguous], rtol=1e-9, atol=0)


def test_dogs_cats_flip_rates(dc):
    df, _, sec = dc
    flips = {f["attribute"]: f for f in sec["flips"]}
    # [TV E]: CFR(size) = 9/14, CFR(colour) = 27/70, also checked against a tree fitted here
    tree = sk_tree(2).fit(pd.get_dummies(df[["size", "color"]]).astype(float).to_numpy(), df["species"])
    assert flips_by_hand(tree, df, ["size", "color"], "size") == (9, 14)
    assert flips_by_hand(tree, df, ["size", "color"], "color") == (27, 70)
    assert (flips["size"]["tree"]["flips"], flips["size"]["tree"]["trials"]) == (9, 14)
    assert (flips["color"]["tree"]["flips"], flips["color"]["tree"]["trials"]) == (27, 70)
    assert flips["color"]["tree"]["rate"] == pytest.approx(0.385714, rel=1e-5)
    assert flips["color"]["non_causal"] and not flips["size"]["non_causal"]
    lo, hi = flips["color"]["tree"]["ci_low"], flips["color"]["tree"]["ci_high"]
    assert lo < 27 / 70 < hi
    # logistic regression (L2, C=1, balanced) fitted on the rows here flips the same predictions
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    lr.fit(pd.get_dummies(df[["size", "color"]]).astype(float).to_numpy(), df["species"])
    assert (flips["color"]["logreg"]["flips"], flips["color"]["logreg"]["trials"]) == \
        flips_by_hand(lr, df, ["size", "color"], "color")


def test_dogs_cats_unseen_combinations(dc):
    df, _, sec = dc
    unseen = {(e["combination"]["size"], e["combination"]["color"]): e for e in sec["unseen"]}
    assert set(unseen) == {("big", "brown-white"), ("big", "red"), ("big", "red-white")}
    dummies = pd.get_dummies(df[["size", "color"]]).astype(float)
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(dummies.to_numpy(), df["species"])
    for (size, color), e in unseen.items():
        assert e["tree_label"] == "DOG" and e["tree_p"] == 1.0 and e["confident"]
        assert e["gaps"] == [{"size": size, "color": color}]
        row = pd.get_dummies(pd.DataFrame({"size": [size], "color": [color]})).astype(float)
        row = row.reindex(columns=dummies.columns, fill_value=0.0).to_numpy()
        p_dog = lr.predict_proba(row)[0, list(lr.classes_).index("DOG")]
        assert e["logreg_label"] == ("DOG" if p_dog >= 0.5 else "CAT")
        assert e["logreg_p"] == pytest.approx(max(p_dog, 1 - p_dog), abs=1e-4)
    assert sec["unseen_summary"]["grid_size"] == 12 and sec["unseen_summary"]["n_unseen"] == 3


def test_dogs_cats_spurious_reasons_and_findings(dc):
    _, findings, sec = dc
    rules = {r["text"].split(" \u2014")[0]: r for r in sec["rules"]}
    cat = rules["IF size=small AND color\u2260brown THEN CAT"]["reasons"]
    big = rules["IF size=big THEN DOG"]["reasons"]
    assert cat["non_causal"] == ["color"] and not cat["unsupported"]
    assert {tuple(g["cell"].items()) for g in cat["untestable_gaps"]} == {
        (("size", "small"), ("color", "black")), (("size", "small"), ("color", "white"))}
    assert cat["untestable_gaps"][0]["p_min"] == pytest.approx(28 / 91)      # S6: 0.307692
    assert big["non_causal"] == [] and big["unsupported"] and big["extrapolation"]["n"] == 3
    assert [g["p_min"] for g in big["untestable_gaps"]] == [pytest.approx(20 / 364)]   # S2
    by_id = {f.id: f for f in findings}
    rule = by_id["probe:rule:size=small,color\u2260brown:label=CAT"]
    assert rule.bias_type == "learned_rule" and rule.in_family and rule.testable
    assert rule.p_value == pytest.approx(19 / 3003) and rule.effect_level == 3
    assert rule.effect_size_name == "counterfactual_flip_rate" and rule.effect_size == pytest.approx(27 / 70)
    assert "probe:reliance:color" in by_id and not by_id["probe:reliance:color"].in_family


def test_dogs_cats_text_reads_like_the_lecture(dc):
    _, _, sec = dc
    text = "\n".join(sec["text"])
    assert "WHAT DID THE MODEL LEARN?" in text
    assert "IF size=big THEN DOG \u2014 3 of 3 training rows" in text
    assert "never saw size=big and color=red, yet predicts DOG with 1.00" in text
    assert "changing only color flips 39% of the tree's predictions (27 of 70" in text
    json.dumps(ba.findings.jsonable(sec), allow_nan=False)


def test_audit_grades_the_supported_non_causal_rule_high():
    r = ba.audit(DATASETS / "dogs_cats.csv", label="species", non_causal=["color"], detectors=["probe"])
    f = next(f for f in r.findings if f.id == "probe:rule:size=small,color\u2260brown:label=CAT")
    # the only testable hypothesis of this family: q = p = 19/3003 <= 0.01, effect level 3 -> high
    assert r.n_testable == 1 and f.p_adjusted == pytest.approx(19 / 3003) and f.severity == "high"
    assert "probe" in r.sections and "WHAT DID THE MODEL LEARN?" in r.to_json()
    from biasaudit.report.text import render_text
    assert "IF size=small AND color\u2260brown THEN CAT" in render_text(r)
    off = ba.audit(DATASETS / "dogs_cats.csv", label="species", probe=False, detectors=["probe"])
    assert "probe" not in off.sections and not off.findings


def test_renaming_labels_changes_no_p_value(dc):
    df, _, sec = dc
    renamed = df.assign(species=df["species"].map({"DOG": "KURI", "CAT": "PUSI"}))
    res = probe(make_ctx(renamed, "species", non_causal=("color",)))
    sec2 = res.section
    a = sorted((r["support"], r["p_naive"], r["p_selection_adjusted"]) for r in sec["rules"])
    b = sorted((r["support"], r["p_naive"], r["p_selection_adjusted"]) for r in sec2["rules"])
    assert a == b


# --------------------------------------------------------------------------- a noise attribute


def test_noise_attribute_does_not_flip_and_is_not_spurious():
    rng = np.random.default_rng(7)
    n = 600
    cause = rng.choice(["a", "b", "c"], n)
    noise = rng.choice(["p", "q", "r", "s"], n)
    y = np.where((cause == "a") ^ (rng.random(n) < 0.1), "yes", "no")
    df = pd.DataFrame({"cause": cause, "noise": noise, "label": y})
    res = probe(make_ctx(df, "label", non_causal=("noise",)))
    findings, sec = res.findings, res.section
    flips = {f["attribute"]: f for f in sec["flips"]}
    assert flips["noise"]["tree"]["rate"] == 0.0
    assert flips["noise"]["logreg"]["rate"] <= 0.02
    assert flips["cause"]["tree"]["rate"] > 0.3
    # independently: the tree scikit-learn fits at the chosen depth ignores the noise column
    depth = sec["models"]["tree"]["depth"]
    tree = sk_tree(depth).fit(pd.get_dummies(df[["cause", "noise"]]).astype(float).to_numpy(), df["label"])
    assert flips_by_hand(tree, df, ["cause", "noise"], "noise")[0] == 0
    assert not any(r["spurious"] for r in sec["rules"])
    assert not [f for f in findings if f.details.get("spurious") or f.kind == "reliance"]


# --------------------------------------------------------------------------- CelebA


def test_celeba_reliance_on_male_and_blond_male_accuracy():
    from biasaudit.loaders.celeba import load_celeba_attributes
    path = shared_path("celeba_attr_subset", "list_attr_celeba_first20000.txt")
    raw = pd.read_csv(path, sep=r"\s+", skiprows=1)        # header line names 40 columns; index = file
    df = load_celeba_attributes(path, attributes=CELEBA_SUBSET)
    assert len(df) == len(raw) == 20000
    assert (df["Male"].to_numpy() == (raw["Male"].to_numpy() + 1) // 2).all()
    res = probe(make_ctx(df, "Blond_Hair", non_causal=("Male",), ids=["image_id"]))
    findings, sec = res.findings, res.section
    flips = {f["attribute"]: f for f in sec["flips"]}
    assert flips["Male"]["non_causal"] and flips["Male"]["tree"]["rate"] > 0.1
    reliance = next(f for f in findings if f.id == "probe:reliance:Male")
    assert "Male" in reliance.message
    assert any("Male" in f.details.get("reasons", {}).get("non_causal", []) and f.testable for f in findings)
    # accuracy on blond males, computed independently with scikit-learn on the rows
    cols = CELEBA_SUBSET[1:]
    x = pd.get_dummies(df[cols].astype(str)).astype(float).to_numpy()
    tree = sk_tree(sec["models"]["tree"]["depth"]).fit(x, df["Blond_Hair"])
    pred = tree.predict(x)
    blond_male = ((df["Blond_Hair"] == 1) & (df["Male"] == 1)).to_numpy()
    expected = float(np.mean(pred[blond_male] == 1))
    group = next(g for g in sec["groups"] if g["value"] == "1" and g["label"] == "1")
    assert group["n"] == blond_male.sum() == 186
    assert group["accuracy"] == pytest.approx(expected)
    assert group["accuracy"] < float(np.mean(pred == df["Blond_Hair"].to_numpy())) - 0.3
    assert "Blond_Hair=1 with Male=1" in "\n".join(sec["text"])


def test_celeba_loader_options(tmp_path):
    from biasaudit.errors import DataError
    from biasaudit.loaders.celeba import load_celeba_attributes
    p = tmp_path / "attrs.txt"
    p.write_text("99\nA B\n1.jpg  1 -1\n2.jpg -1 -1\n")
    df = load_celeba_attributes(p)
    assert df.to_dict("list") == {"image_id": ["1.jpg", "2.jpg"], "A": [1, 0], "B": [0, 0]}
    assert load_celeba_attributes(p, binary="raw")["A"].tolist() == [1, -1]
    with pytest.raises(DataError, match="not in"):
        load_celeba_attributes(p, attributes=["C"])


# --------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("seed,n,depth", [(0, 14, 2), (3, 40, 3), (5, 60, 1)])
def test_permutation_score_equals_sklearn(seed, n, depth):
    rng = np.random.default_rng(seed)
    if n == 14:
        df = pd.read_csv(DATASETS / "dogs_cats.csv")
        x = pd.get_dummies(df[["size", "color"]]).astype(np.float32).to_numpy()
        y = (df["species"] == "DOG").to_numpy().astype(int)
    else:
        x = np.hstack([np.eye(3)[rng.integers(0, 3, n)], np.eye(4)[rng.integers(0, 4, n)]]).astype(np.float32)
        y = rng.integers(0, 2, n)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    mine = permutation_score(x, y, depth, cv, 19, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score, _, p = permutation_test_score(sk_tree(depth, seed), x, y, cv=cv, n_permutations=19,
                                             random_state=seed, scoring="balanced_accuracy")
    assert mine == (pytest.approx(score), pytest.approx(p))


def test_batched_refits_equal_sklearn_where_unambiguous():
    big = pd.read_csv(DATASETS / "dogs_cats_large.csv")
    ctx = make_ctx(big[["size", "color", "multicolor", "species"]], "species")
    d = build_design(ctx.table.codes, ctx.table.levels, ("size", "color", "multicolor"), "species", None,
                     np.random.default_rng(0))
    counts = np.round(d.counts).astype(int)
    rng = np.random.default_rng(1)
    tables = np.stack([_random_table(counts.sum(1), counts.sum(0), rng) for _ in range(40)])
    assert (tables.sum(axis=2) == counts.sum(1)).all() and (tables.sum(axis=1) == counts.sum(0)).all()
    xpat = d.onehot(d.patterns)
    stats, ambiguous = batched_min_leaf_p(xpat, tables, class_weights(counts.sum(0)), 3)
    ref = np.array([_leaf_min_p(d, t, 3, 0, xpat) for t in tables])
    assert np.allclose(stats[~ambiguous], ref[~ambiguous], rtol=1e-9, atol=0)


def test_count_label_vectors_by_brute_force():
    sizes = np.array([2, 1, 1, 1, 4, 2, 1, 1, 1])      # the lecture table's 9 patterns
    brute = sum(1 for v in itertools.product(*[range(m + 1) for m in sizes]) if sum(v) == 6)
    assert count_label_vectors(sizes, 6, 10**6) == brute == 458
    assert count_label_vectors(np.ones(14, int), 6, 10**6) == math.comb(14, 6)


def test_large_tables_train_on_a_stated_sample():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"a{i}": rng.integers(0, 6, 3000).astype(str) for i in range(5)})
    df["label"] = np.where(rng.random(3000) < 0.5, "x", "y")
    ctx = make_ctx(df, "label")
    d = build_design(ctx.table.codes, ctx.table.levels, ctx.roles.attributes, "label", None,
                     np.random.default_rng(0), max_patterns=500)
    assert d.sampled and d.n == 500 and "seeded sample of 500 rows" in d.notes[0]


def test_probe_is_deterministic(dc):
    df, _, sec = dc
    res = probe(make_ctx(df, "species", non_causal=("color",)))
    again = res.section
    assert json.dumps(ba.findings.jsonable(again)) == json.dumps(ba.findings.jsonable(sec))


def test_frequency_weights_give_the_same_probe(dc):
    df, _, sec = dc
    agg = df.groupby(["size", "color", "species"]).size().reset_index(name="count")
    frame, roles = resolve(agg, label="species", weight="count")
    table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
    ctx = AuditContext(table=table, roles=roles, settings=Settings(non_causal=("color",)), frame=frame, raw=agg,
                       options={})
    sec_w = probe(ctx).section
    key = lambda s: sorted((r["text"], r["p_selection_adjusted"]) for r in s["rules"])   # noqa: E731
    assert key(sec_w) == key(sec)
    assert [(f["tree"]["flips"], f["tree"]["trials"]) for f in sec_w["flips"]] == \
        [(f["tree"]["flips"], f["tree"]["trials"]) for f in sec["flips"]]
    assert sec_w["models"]["tree"]["cv_balanced_accuracy"] == sec["models"]["tree"]["cv_balanced_accuracy"]


def test_three_labels_and_missing_values():
    rng = np.random.default_rng(2)
    n = 300
    df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["p", "q", None], n)})
    df["label"] = np.where(df["a"] == "x", "L1", np.where(df["b"] == "p", "L2", "L3"))
    res = probe(make_ctx(df, "label", non_causal=("b",)))
    findings, sec = res.findings, res.section
    assert {r["label"] for r in sec["rules"]} == {"L1", "L2", "L3"}
    assert all(r["purity"] == 1.0 for r in sec["rules"])
    # leaf "a=x -> L1": k of s rows, P(X >= k) with X ~ Hypergeom(n, n_L1, s), by scipy directly
    r = next(r for r in sec["rules"] if r["label"] == "L1")
    n_l1 = int((df["label"] == "L1").sum())
    assert r["p_naive"] == pytest.approx(sps.hypergeom.sf(r["count"] - 1, n, n_l1, r["support"]))
    assert any(f.kind == "reliance" for f in findings)
    assert "(missing)" not in {e["combination"]["b"] for e in sec["unseen"]}
