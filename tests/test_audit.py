import json
from importlib import resources

import jsonschema
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import biasaudit as ba
from biasaudit.audit import grade
from biasaudit.findings import Finding
from biasaudit.settings import Settings

from conftest import DATASETS

SCHEMA = json.loads(resources.files("biasaudit.report").joinpath("schema.json").read_text())


@pytest.fixture(scope="module")
def dc_result():
    return ba.audit(ba.load(DATASETS / "dogs_cats.csv"), label="species", probe=False)


@pytest.mark.parametrize("name,label", [("dogs_cats.csv", "species"), ("german_credit.csv", "credit"),
                                        ("dogs_cats_large.csv", "species")])
def test_json_validates_against_schema(name, label):
    r = ba.audit(DATASETS / name, label=label, probe=False)
    doc = json.loads(r.to_json())
    jsonschema.validate(doc, SCHEMA)
    assert doc["dataset"]["n_rows"] == len(pd.read_csv(DATASETS / name))


def test_groups_match_crosstab(dc_result):
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    ct = pd.crosstab(df["size"], df["species"])
    g = dc_result.groups.set_index(["attribute", "group"])
    for size, row in ct.iterrows():
        assert g.loc[("size", size), "n"] == row.sum()
        assert g.loc[("size", size), "rate:DOG"] == pytest.approx(row["DOG"] / row.sum())
        assert g.loc[("size", size), "share"] == pytest.approx(row.sum() / len(df))


def test_size_association_is_fisher_and_untestable(dc_result):
    f = next(f for f in dc_result.findings if f.id == "group_attribution:size:label=species")
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    table = pd.crosstab(df["size"], df["species"]).to_numpy()
    assert f.p_value == pytest.approx(sps.fisher_exact(table).pvalue, rel=1e-9)   # 0.0549451
    assert f.p_value == pytest.approx(0.0549451, rel=1e-5)
    assert f.p_min == pytest.approx(f.p_value) and not f.testable
    assert f.severity == "insufficient-data"
    assert "n too small to test" in f.message


def test_ids_are_stable_and_unique(dc_result):
    again = ba.audit(ba.load(DATASETS / "dogs_cats.csv"), label="species", probe=False)
    ids = [f.id for f in dc_result.findings]
    assert ids == [f.id for f in again.findings]
    assert len(ids) == len(set(ids))


def test_check_raises_with_result_and_failures():
    r = ba.audit(DATASETS / "german_credit.csv", label="credit", sensitive=["status"], probe=False)
    with pytest.raises(ba.BiasCheckError) as info:
        r.check(fail_on="high")
    err = info.value
    assert err.result is r
    assert set(err.failures["severity"]) <= {"critical", "high"} and len(err.failures) > 0
    assert r.check(fail_on="never") is r


def test_to_frame_columns(dc_result):
    frame = dc_result.to_frame()
    assert len(frame) == len(dc_result.findings)
    for col in ("id", "bias_type", "severity", "message", "p_value", "p_adjusted", "effect_size", "n"):
        assert col in frame.columns


def test_repr_html_escapes():
    df = pd.DataFrame({"<b>x</b>": ["<script>alert(1)</script>", "a"] * 20, "y": [0, 1] * 20})
    html = ba.audit(df, label="y", probe=False)._repr_html_()
    assert "<script>alert" not in html


def _finding(i, p, level=3, pattern=True, pmin=0.0):
    return Finding(id=f"t{i}", bias_type="selection", detector="t", attributes={}, message="m",
                   p_value=p, p_min=pmin, testable=pmin <= 0.05, in_family=True, effect_level=level,
                   pattern=pattern)


def test_grade_adjusts_once_with_bh_and_screens_untestable():
    ps = [0.0001, 0.004, 0.03, 0.2, 0.6]
    fs = [_finding(i, p) for i, p in enumerate(ps)] + [_finding(9, 0.3, pmin=0.3)]
    out, m, testable = grade(fs, Settings())
    assert (m, testable) == (6, 5)
    q = dict((f.id, f.p_adjusted) for f in out)
    expected = sps.false_discovery_control(ps, method="bh")
    for i, e in enumerate(expected):
        assert q[f"t{i}"] == pytest.approx(e)
    sev = {f.id: f.severity for f in out}
    assert sev["t0"] == "critical" and sev["t9"] == "insufficient-data" and sev["t4"] == "weak-evidence"
    assert all(f.p_adjusted is None or f.p_adjusted >= f.p_value for f in out)


def test_weighted_aggregate_equals_expanded_rows():
    agg = pd.DataFrame({"g": ["a", "a", "b", "b"], "y": ["yes", "no", "yes", "no"], "count": [30, 70, 60, 40]})
    expanded = agg.loc[agg.index.repeat(agg["count"])].drop(columns="count")
    r1 = ba.audit(agg, label="y", weight="count", probe=False)
    r2 = ba.audit(expanded, label="y", probe=False)
    f1 = {f.id: f.p_value for f in r1.findings}
    f2 = {f.id: f.p_value for f in r2.findings}
    # the expanded rows repeat by construction (4 possible rows); the aggregated table lists each once
    assert "reporting:duplicates" not in f1
    assert not next(f for f in r2.findings if f.id == "reporting:duplicates").details["duplicate_publication"]
    f2.pop("reporting:duplicates")
    assert f1.keys() == f2.keys()
    for k in f1:
        if f1[k] is None or f2[k] is None:  # descriptive findings carry no p-value
            assert f1[k] is f2[k] is None, k
        else:
            assert f1[k] == pytest.approx(f2[k], rel=1e-9), k
