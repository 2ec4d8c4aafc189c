"""Label quality: conflicting labels, class imbalance, positives per group.

Oracles: pandas ``groupby`` over the raw audited columns (label counts per attribute vector),
``value_counts`` / ``crosstab`` for the class balance, statsmodels' Wilson interval.
Data: the lecture table (DOG/CAT and KURI/PUSI), German credit, small tables built here.
"""
from __future__ import annotations

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from biasaudit import audit
from biasaudit.detectors.label_quality import MIN_EVENTS
from conftest import DATASETS


def run(df, **kw):
    return audit(df, detectors=["label_quality"], probe=False, **kw)


@pytest.mark.parametrize("name, label, pos, neg", [("dogs_cats.csv", "species", "DOG", "CAT"),
                                                   ("kuri_pusi.csv", None, "KURI", "PUSI")])
def test_conflicting_labels_name_the_small_brown_rows(name, label, pos, neg):
    df = pd.read_csv(DATASETS / name)
    label = label or df.columns[-1]
    res = run(df, label=label)
    f = {x.id: x for x in res.findings}[f"label_quality:conflicting_labels:label={label}"]
    assert f.bias_type == "label_quality" and not f.in_family
    ids = df.columns[0]
    assert "size=small, color=brown" in f.message
    assert f"{pos} x3 (Ex01, Ex03, Ex09) vs {neg} x1 (Ex04)" in f.message
    ev = f.evidence[0]
    assert ev["ids"] == {pos: ["Ex01", "Ex03", "Ex09"], neg: ["Ex04"]}
    # pandas: vectors (size, color) with more than one label, and the rows they touch
    g = df.groupby(["size", "color"])[label]
    conflicting = g.nunique()[lambda s: s > 1]
    touched = df.set_index(["size", "color"]).loc[conflicting.index]
    assert len(f.evidence) == len(conflicting) == 1
    assert f.n == len(touched) == 4
    assert f.effect_size == pytest.approx(4 / 14)
    floor = (g.size() - g.agg(lambda s: s.value_counts().max())).sum() / len(df)
    assert f.details["error_floor"] == pytest.approx(floor) == pytest.approx(1 / 14)
    assert set(touched[ids]) == {"Ex01", "Ex03", "Ex04", "Ex09"}
    sec = res.sections["label_quality"]
    assert any("Ex04" in line for line in sec["text"])


def test_no_conflict_no_finding():
    df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"], "label": ["p", "p", "q", "q"]})
    res = run(df, label="label")
    assert not [f for f in res.findings if f.kind == "conflicting_labels"]
    assert res.sections["label_quality"]["conflicts"]["n_rows_conflicting"] == 0


def test_german_credit_conflicts_equal_pandas():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    res = run(df, label="credit")
    c = res.sections["label_quality"]["conflicts"]
    cols = [x for x in df.columns if x != "credit"]
    assert c["columns"] == cols
    n_labels = df.groupby(cols)["credit"].nunique()
    assert c["n_vectors"] == len(n_labels)
    assert len(c["vectors"]) == int((n_labels > 1).sum())


def test_class_balance_and_positives_by_group():
    df = pd.read_csv(DATASETS / "german_credit.csv")
    res = run(df, label="credit", sensitive=["sex", "foreign_worker"])
    sec = res.sections["label_quality"]
    vc = df["credit"].value_counts()
    assert sec["class_balance"]["counts"] == {k: float(v) for k, v in vc.items()}
    assert sec["class_balance"]["positive"] == "bad"
    assert sec["class_balance"]["imbalance_ratio"] == pytest.approx(700 / 300)
    rows = pd.DataFrame(sec["positives_by_group"]).set_index(["attribute", "group"])
    ct = pd.crosstab([df["foreign_worker"]], df["credit"])
    for g in ct.index:
        r = rows.loc[("foreign_worker", g)]
        assert r["positives"] == ct.loc[g, "bad"] and r["negatives"] == ct.loc[g, "good"]
        lo, hi = proportion_confint(ct.loc[g, "bad"], ct.loc[g].sum(), alpha=0.05, method="wilson")
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))
        assert r["few"] == bool(ct.loc[g, "bad"] < MIN_EVENTS or ct.loc[g, "good"] < MIN_EVENTS)
    # foreign_worker=no has 4 bad rows: too few to learn from, and a finding says so
    f = {x.id: x for x in res.findings}["label_quality:few_examples:foreign_worker:label=bad"]
    assert "foreign_worker=no: 4 bad and 33 other of 37" in f.message
    assert "label_quality:few_examples:sex:label=bad" not in {x.id for x in res.findings}
