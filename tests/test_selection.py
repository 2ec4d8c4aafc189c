"""Selection detectors (sample vs reference, two-sample shift) against independent computations.

Oracles: scipy / statsmodels called directly on tables counted here with pandas, an exact
multinomial and a Freeman-Halton enumeration written out in this file, and the worked numbers of
STATISTICS.md §2.1-2.3 (test vectors A1-A4 in statistics-vectors.txt).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.proportion import proportion_confint

from biasaudit import audit
from biasaudit.errors import ColumnError, DataError
from biasaudit.engine.roles import apply_roles, resolve
from biasaudit.tools.simulate import reference_dogs_cats_joint
from conftest import DATASETS, ROOT

ALPHA = 0.05
# The hypothetical reference of STATISTICS.md §2.1 [TV A1].
REF_A1 = {
    "species": {"DOG": 0.5, "CAT": 0.5},
    "size": {"big": 0.4, "small": 0.6},
    "color": {"black": 0.25, "brown": 0.30, "brown-white": 0.10, "red": 0.05, "red-white": 0.10, "white": 0.20},
}


def ref_frame(ref: dict) -> pd.DataFrame:
    return pd.DataFrame([(a, v, s) for a, vals in ref.items() for v, s in vals.items()],
                        columns=["attribute", "value", "share"])


def run_selection(data, reference, **kw):
    return audit(data, reference=reference, detectors=["selection"], **kw)


def by_id(result) -> dict:
    return {f.id: f for f in result.findings}


@pytest.fixture(scope="module")
def small():
    return pd.read_csv(DATASETS / "dogs_cats.csv")


@pytest.fixture(scope="module")
def a1(small):
    return by_id(run_selection(small, ref_frame(REF_A1), label="species"))


@pytest.fixture(scope="module")
def large():
    return pd.read_csv(DATASETS / "dogs_cats_large.csv")


def exact_multinomial_p(obs, p):
    """Exact multinomial p-value by brute-force enumeration with scipy.stats.multinomial."""
    n, k = int(sum(obs)), len(obs)
    p_obs = stats.multinomial.pmf(obs, n, p)
    total = 0.0
    for cut in itertools.combinations(range(n + k - 1), k - 1):  # stars and bars
        x = np.diff([-1, *cut, n + k - 1]) - 1
        px = stats.multinomial.pmf(x, n, p)
        if px <= p_obs * (1 + 1e-7):
            total += px
    return total


# --------------------------------------------------------------------------- A1
def test_a1_label_binomial(a1):
    f = a1["selection:reference:species"]
    assert f.test == "exact binomial"
    assert f.p_value == pytest.approx(stats.binomtest(6, 14, 0.5).pvalue, rel=1e-9)
    assert f.p_value == pytest.approx(0.790527, abs=1e-6)
    assert f.effect_size == pytest.approx(0.5 * (abs(6 / 14 - 0.5) + abs(8 / 14 - 0.5)))
    # null-expected TVD (analytic, §1.4) and "not estimable" at n = 14
    assert f.details["null_tvd"] == pytest.approx(0.106622, abs=1e-6)
    assert f.details["tvd_estimable"] is False
    assert f.severity == "info"  # TVD 0.071 below the noise level: no pattern


def test_a1_size(a1):
    f = a1["selection:reference:size"]
    assert f.p_value == pytest.approx(stats.binomtest(3, 14, 0.4).pvalue, rel=1e-9)
    assert f.p_value == pytest.approx(0.182628, abs=1e-6)
    big = next(r for r in f.evidence if r["value"] == "big")
    lo, hi = proportion_confint(3, 14, alpha=ALPHA, method="beta")
    assert big["rr"] == pytest.approx((3 / 14) / 0.4) and round(big["rr"], 4) == 0.5357
    assert big["ci_low"] == pytest.approx(lo / 0.4) and big["ci_high"] == pytest.approx(hi / 0.4)
    assert round(big["ci_low"], 4) == 0.1164 and round(big["ci_high"], 2) == 1.27
    q, p = np.array([3, 11]) / 14, np.array([0.4, 0.6])
    assert f.effect_size == pytest.approx(0.185714, abs=1e-6)
    x2 = stats.chisquare([3, 11], 14 * p).statistic
    assert f.details["cohens_w"] == pytest.approx(math.sqrt(x2 / 14)) and f.details["cohens_w"] == pytest.approx(
        0.379088, abs=1e-6)
    assert f.details["jsd_bits"] == pytest.approx(jensenshannon(q, p, base=2) ** 2)
    assert f.severity == "weak-evidence"  # a visible pattern that 14 rows cannot establish
    # two-valued attribute: the per-value test is the attribute test, so no separate findings
    assert not any(k.startswith("selection:reference:size=") for k in a1)


def test_a1_color_exact_multinomial(a1):
    f = a1["selection:reference:color"]
    obs, p = [3, 5, 1, 1, 1, 3], list(REF_A1["color"].values())
    assert f.test == "exact multinomial"
    assert f.p_value == pytest.approx(exact_multinomial_p(obs, p), rel=1e-9)
    assert f.p_value == pytest.approx(0.980206, abs=1e-6)
    assert f.effect_size == pytest.approx(0.0928571, abs=1e-7)
    assert f.details["cohens_w"] == pytest.approx(0.206197, abs=1e-6)
    assert f.details["jsd_bits"] == pytest.approx(0.00778611, abs=1e-8)
    assert f.details["min_detectable_w"] == pytest.approx(0.957212, abs=1e-4)  # §2.1 power note
    for value, k in zip(REF_A1["color"], obs):
        g = a1[f"selection:reference:color={value}"]
        assert g.p_value == pytest.approx(stats.binomtest(k, 14, REF_A1["color"][value]).pvalue, rel=1e-9)
        assert g.in_family and g.effect_size == pytest.approx((k / 14) / REF_A1["color"][value])
        assert g.severity in ("info", "weak-evidence")


def test_a1_nothing_established(a1):
    assert not [f for f in a1.values() if f.established]


# --------------------------------------------------------------------------- A2 joint
def test_a2_joint_product_reference(small):
    rows = [("size|color", f"{s}|{c}", ps * pc) for s, ps in REF_A1["size"].items()
            for c, pc in REF_A1["color"].items()]
    ref = pd.DataFrame(rows, columns=["attribute", "value", "share"])
    res = by_id(run_selection(small, ref, label="species"))
    f = res["selection:reference:size|color"]
    assert f.test == "Monte Carlo multinomial"
    assert f.p_value == pytest.approx(0.987365, abs=0.002)  # MC; the spec's s.e. is 0.00025 at 2e5 draws
    obs = pd.crosstab(small["size"], small["color"]).reindex(index=["big", "small"], columns=list(REF_A1["color"]),
                                                                fill_value=0).to_numpy().ravel()
    expected = 14 * np.array([s for _, _, s in rows])
    assert f.statistic == pytest.approx(stats.chisquare(obs, expected).statistic)
    assert f.details["product_of_margins"] and "independent" in f.message
    assert f.details["absent_values"] == ["big|brown-white", "big|red", "big|red-white"]
    zero = res["selection:reference:size|color=big|red"]
    assert zero.observed == 0 and zero.expected == pytest.approx(0.28)
    assert zero.severity == "info"  # E = 0.28: uninformative


# --------------------------------------------------------------------------- large data
@pytest.fixture(scope="module")
def large_ref(large):
    ref = pd.read_csv(DATASETS / "dogs_cats_reference.csv")
    return ref, by_id(run_selection(large, ref, label="species"))


def test_large_color_vs_reference(large, large_ref):
    ref, res = large_ref
    f = res["selection:reference:color"]
    r = ref[ref["attribute"] == "color"]
    obs = large["color"].value_counts().reindex(r["value"], fill_value=0).to_numpy()
    expected = len(large) * r["share"].to_numpy()
    assert (expected >= 5).all()  # Cochran holds, so Pearson is the test (§1.1)
    chi = stats.chisquare(obs, expected)
    assert f.test == "Pearson chi-square"
    assert f.p_value == pytest.approx(chi.pvalue, rel=1e-9)
    tvd = 0.5 * np.abs(obs / len(large) - r["share"].to_numpy()).sum()
    assert f.effect_size == pytest.approx(tvd)
    assert f.p_adjusted <= ALPHA and tvd >= 0.05
    assert f.severity in ("medium", "high", "critical")
    white = res["selection:reference:color=white"]
    k = int((large["color"] == "white").sum())
    assert white.p_value == pytest.approx(stats.binomtest(k, len(large), 0.21875).pvalue, rel=1e-9)
    assert white.effect_size == pytest.approx(k / len(large) / 0.21875) and white.effect_size < 0.8


def test_large_label_vs_reference_small_effect(large, large_ref):
    _, res = large_ref
    f = res["selection:reference:species"]
    k = int((large["species"] == "DOG").sum())
    assert f.p_value == pytest.approx(stats.binomtest(k, len(large), 0.5).pvalue, rel=1e-9)
    assert f.effect_size == pytest.approx(abs(k / len(large) - 0.5))
    assert f.effect_size < 0.05 and f.effect_level == 0  # TVD small: at most "low"
    assert f.severity in ("low", "weak-evidence", "info")


def test_large_joint_reference_zero_cell(large):
    res = by_id(run_selection(large, reference_dogs_cats_joint(), label="species"))
    f = res["selection:reference:size|color|species=small|white|DOG"]
    n = len(large)
    mask = (large["size"] == "small") & (large["color"] == "white") & (large["species"] == "DOG")
    assert mask.sum() == 0 and f.observed == 0
    assert f.expected == pytest.approx(n * 0.0625)
    assert f.p_value == pytest.approx(stats.binomtest(0, n, 0.0625).pvalue, rel=1e-9)
    assert f.severity == "critical"
    assert not res["selection:reference:size|color|species"].details["product_of_margins"]


# --------------------------------------------------------------------------- values on one side only
def test_values_missing_from_reference_and_data(small):
    ref = ref_frame({"color": {"black": 0.3, "brown": 0.3, "white": 0.2, "purple": 0.2}})
    res = by_id(run_selection(small, ref, label="species"))
    imp = res["selection:reference:color:impossible"]
    assert imp.observed == 3 and not imp.in_family and "impossible under the reference" in imp.message
    assert {r["value"] for r in imp.evidence} == {"red", "brown-white", "red-white"}
    purple = res["selection:reference:color=purple"]
    n = 14 - 3  # rows in reference values
    assert purple.n == n and purple.observed == 0 and purple.expected == pytest.approx(0.2 * n)
    assert purple.p_value == pytest.approx(stats.binomtest(0, n, 0.2).pvalue)
    main = res["selection:reference:color"]
    assert main.n == n and "purple" in main.details["absent_values"]
    assert main.p_value == pytest.approx(exact_multinomial_p([3, 5, 3, 0], [0.3, 0.3, 0.2, 0.2]), rel=1e-9)


def test_structural_zero_share(small):
    ref = ref_frame({"size": {"big": 0.0, "small": 1.0}})
    res = by_id(run_selection(small, ref, label="species"))
    assert res["selection:reference:size:impossible"].observed == 3
    assert "selection:reference:size" not in res  # one possible value left: nothing to test


def test_missing_values_left_out(small):
    df = small.copy()
    df.loc[df["id"] == "Ex12", "size"] = np.nan
    res = by_id(run_selection(df, ref_frame({"size": REF_A1["size"]}), label="species"))
    f = res["selection:reference:size"]
    assert f.n == 13 and f.details["n_missing"] == 1
    assert f.p_value == pytest.approx(stats.binomtest(3, 13, 0.4).pvalue, rel=1e-9)


def test_case_mapping_renormalising_and_label_reference(small):
    ref = pd.DataFrame({"attribute": ["size", "size", "species", "species"],
                        "value": ["Big", " SMALL ", "DOG", "CAT"], "share": [0.402, 0.6, 0.5, 0.5]})
    res = by_id(run_selection(small, ref, label="species"))
    f = res["selection:reference:size"]
    notes = " ".join(f.details["notes"])
    assert "renormalised" in notes and "matched" in notes
    assert f.p_value == pytest.approx(stats.binomtest(3, 14, 0.402 / 1.002).pvalue, rel=1e-9)


def test_wide_joint_and_mapping_forms(small):
    wide = pd.DataFrame({"size": ["big", "small"], "species": ["DOG", "CAT"], "share": [0.5, 0.5]})
    res = by_id(run_selection(small, wide, label="species"))
    f = res["selection:reference:size|species"]
    assert f.n == 3 + 8  # big DOG and small CAT rows; small DOG rows are impossible
    assert res["selection:reference:size|species:impossible"].observed == 3
    mapping = by_id(run_selection(small, {"size": {"big": 0.4, "small": 0.6}}, label="species"))
    assert mapping["selection:reference:size"].p_value == pytest.approx(0.182628, abs=1e-6)


def test_numeric_attribute_reference_uses_bins_or_raw_values(large):
    frame, roles = resolve(large, label="species")
    labels = list(frame["weight_kg"].cat.categories)
    ref = pd.DataFrame({"attribute": "weight_kg", "value": labels, "share": [1 / len(labels)] * len(labels)})
    res = by_id(run_selection(large, ref, label="species"))
    f = res["selection:reference:weight_kg"]
    counts = frame["weight_kg"].value_counts().reindex(labels).to_numpy()
    assert f.n == counts.sum()
    assert f.p_value == pytest.approx(stats.chisquare(counts).pvalue, rel=1e-9)
    with pytest.raises(DataError, match="None of the reference values of 'weight_kg'"):
        run_selection(large, ref_frame({"weight_kg": {"light": 0.5, "heavy": 0.5}}), label="species")


# --------------------------------------------------------------------------- bad references
BAD = [
    (pd.DataFrame({"attr": ["size"], "value": ["big"], "share": [1.0]}), "lacks column"),
    (pd.DataFrame({"attribute": ["size"], "value": ["big"]}), "needs a 'share' column"),
    (ref_frame({"size": {"big": -0.1, "small": 1.1}}), "non-negative"),
    (ref_frame({"size": {"big": 0.3, "small": 0.5}}), "sum to 0.8"),
    (ref_frame({"size": {"big": 40, "small": 60}}), "percentages"),
    (ref_frame({"colour": {"white": 1.0}}), "Did you mean 'color'"),
    (pd.DataFrame({"attribute": ["size", "size"], "value": ["big", "big"], "share": [0.5, 0.5]}), "more than once"),
    (pd.DataFrame({"attribute": ["size", "size"], "value": ["big", "small"], "share": ["a", 0.5]}), "finite numbers"),
    (ref_frame({"size|color": {"big": 1.0}}), "2 part"),
    (ref_frame({"size": {"huge": 0.5, "tiny": 0.5}}), "None of the reference values of 'size'"),
    (ref_frame({"id": {"Ex01": 1.0}}), "identifier"),
    (pd.DataFrame(columns=["attribute", "value", "share"]), "no rows"),
]


@pytest.mark.parametrize("ref,message", BAD, ids=[m for _, m in BAD])
def test_bad_reference(small, ref, message):
    with pytest.raises(DataError, match=message):
        run_selection(small, ref, label="species")


def test_unknown_attribute_is_column_error(small):
    with pytest.raises(ColumnError):
        run_selection(small, ref_frame({"Size": {"big": 1.0}}), label="species")


def test_no_reference_no_findings(small):
    assert audit(small, label="species", detectors=["selection"]).findings == ()


def test_name_and_order_invariance(small):
    base = by_id(run_selection(small, ref_frame(REF_A1), label="species"))
    renamed = small.replace({"DOG": "KURI", "CAT": "PUSI"}).sample(frac=1, random_state=3).reset_index(drop=True)
    ref = ref_frame({**REF_A1, "species": {"KURI": 0.5, "PUSI": 0.5}})
    other = by_id(run_selection(renamed, ref, label="species"))
    for key, f in base.items():
        g = other[key]
        assert g.p_value == pytest.approx(f.p_value, rel=1e-12) and g.p_min == pytest.approx(f.p_min, rel=1e-12)
        assert g.severity == f.severity


# --------------------------------------------------------------------------- A3 two samples
@pytest.fixture(scope="module")
def split(small):
    train, test = small.iloc[:10].reset_index(drop=True), small.iloc[10:].reset_index(drop=True)
    return train, test, by_id(audit(train, label="species", compare=test, detectors=["shift"]))


def freeman_halton_p(table):
    """Exact 2 x K test by enumerating every first row with the observed margins."""
    t = np.asarray(table)
    cols, r1, n = t.sum(axis=0), t[0].sum(), t.sum()

    def prob(x):
        return math.prod(math.comb(int(c), int(v)) for c, v in zip(cols, x)) / math.comb(int(n), int(r1))
    p_obs = prob(t[0])
    tables = [x for x in itertools.product(*[range(int(c) + 1) for c in cols]) if sum(x) == r1]
    return sum(prob(x) for x in tables if prob(x) <= p_obs * (1 + 1e-7)), len(tables)


def test_a3_split_tests(split):
    train, test, res = split
    color = res["selection:shift:color"]
    levels = sorted(set(train["color"]) | set(test["color"]))
    table = np.array([[int((d["color"] == v).sum()) for v in levels] for d in (train, test)])
    p, n_tables = freeman_halton_p(table)
    assert n_tables == 64 and color.test == "Freeman-Halton exact"
    assert color.p_value == pytest.approx(p, rel=1e-9) and color.p_value == pytest.approx(0.035964, abs=1e-6)
    assert color.p_min == pytest.approx(0.00599401, abs=1e-8)
    assert color.details["cramers_v_corrected"] == pytest.approx(0.643342, abs=1e-6)
    assert color.details["cramers_v"] == pytest.approx(stats.contingency.association(table, method="cramer"))
    label = res["selection:shift:species"]
    assert label.p_value == pytest.approx(stats.fisher_exact([[5, 5], [1, 3]]).pvalue) and label.p_value == \
        pytest.approx(0.58042, abs=1e-5)
    assert res["selection:shift:size"].p_value == pytest.approx(1.0)
    # [TV A3] BH over the three split tests: colour q = 0.107892, not a finding
    ids = ["selection:shift:species", "selection:shift:size", "selection:shift:color"]
    q = stats.false_discovery_control([res[i].p_value for i in ids], method="bh")
    assert q[2] == pytest.approx(0.107892, abs=1e-6)
    # the scan also tests the label given each attribute and the attribute pair: BH over all of them
    family = [f for f in res.values() if f.in_family]
    assert {f.kind for f in family} == {"shift", "conditional_shift"}
    # size x colour: a relation test on a sparse 2 x 2 x 6 table is reported, not put in the family
    rel = res["selection:shift:size~color"]
    assert rel.kind == "relation_shift" and not rel.in_family and not rel.details["valid"]
    q_all = stats.false_discovery_control([f.p_value for f in family], method="bh")
    assert color.p_adjusted == pytest.approx(q_all[family.index(color)])
    assert color.p_adjusted >= 0.107892 and not color.established and color.severity == "weak-evidence"


def test_compare_missing_columns(small):
    with pytest.raises(DataError, match="lacks column.*'color'"):
        audit(small, label="species", compare=small.drop(columns=["color"]), detectors=["shift"])


def test_numeric_shift_a4():
    a = stats.norm.ppf((np.arange(1, 41) - 0.5) / 40)
    b = stats.norm.ppf((np.arange(1, 21) - 0.5) / 20, loc=0.5)
    lab_a = np.tile(["x", "y"], 20)
    lab_b = np.tile(["x", "y"], 10)
    train = pd.DataFrame({"v": a, "label": lab_a})
    test = pd.DataFrame({"v": b, "label": lab_b})
    f = by_id(audit(train, label="label", compare=test, detectors=["shift"]))["selection:shift:v"]
    ad = stats.anderson_ksamp([a, b], variant="midrank")
    assert f.statistic == pytest.approx(ad.statistic) and f.p_value == pytest.approx(ad.pvalue)
    assert f.p_value == pytest.approx(0.141569, abs=1e-5)
    assert f.details["ks_p"] == pytest.approx(stats.ks_2samp(a, b).pvalue) and f.details["ks_statistic"] == 0.225
    assert f.details["wasserstein_sd"] == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a, ddof=1))
    assert f.details["wasserstein_sd"] == pytest.approx(0.501604, abs=1e-6)
    assert f.severity == "weak-evidence"  # about half an sd, n too small to establish it


def test_apply_roles_reproduces_resolve(large):
    frame, roles = resolve(large, label="species")
    again = apply_roles(large, roles)
    for c in frame.columns:
        assert frame[c].astype(object).fillna("NA").tolist() == again[c].astype(object).fillna("NA").tolist(), c
    cuts = roles.bins["weight_kg"]  # cut points: bins <=c0, (c0, c1], ..., >ck
    out = large.head(3).assign(weight_kg=[cuts[0] - 1, cuts[-1] + 1, cuts[0]])
    binned = apply_roles(out, roles)["weight_kg"].astype(str).tolist()
    cats = list(frame["weight_kg"].cat.categories)
    assert binned == [cats[0], cats[-1], cats[0]]  # outside the range -> edge bins; a cut point -> the lower bin


def test_cli_compare_end_to_end(tmp_path, small):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    small.iloc[:10].to_csv(train, index=False)
    small.iloc[10:].to_csv(test, index=False)
    out = tmp_path / "a.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "biasaudit", "scan", str(train), "--compare", str(test), "--no-probe",
                        "--format", "json", "-o", str(out), "-q"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    found = {f["id"]: f for f in doc["findings"]}
    assert found["selection:shift:color"]["p_value"] == pytest.approx(0.035964, abs=1e-6)
    bad = subprocess.run([sys.executable, "-m", "biasaudit", "scan", str(train), "--reference", str(test), "-q",
                          "--no-probe"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "share" in bad.stderr and "Traceback" not in bad.stderr


# --------------------------------------------------------------------------- the one reference parser
def test_reference_table_is_the_one_parser():
    from biasaudit.detectors._reference import REFERENCE_PATH_ERROR, reference_table
    long = reference_table({"size": {"big": 0.4, " small ": 0.6}})
    assert long.to_dict("list") == {"attribute": ["size", "size"], "value": ["big", "small"], "share": [0.4, 0.6]}
    # {value: share} for one named attribute, and filtering a long table to one attribute
    assert reference_table({"big": 0.4, "small": 0.6}, attribute="size").to_dict("list") == long.to_dict("list")
    both = pd.DataFrame({"attribute": ["size", "size", "color"], "value": ["big", "small", "white"],
                         "share": [0.4, 0.6, 1.0]})
    assert reference_table(both, attribute="size").to_dict("list") == long.to_dict("list")
    wide = pd.DataFrame({"size": ["big", "small"], "color": ["white", "black"], "share": [0.5, 0.5]})
    assert reference_table(wide)["attribute"].tolist() == ["size|color"] * 2
    with pytest.raises(DataError) as e:
        reference_table("datasets/dogs_cats_reference.csv")
    assert str(e.value) == REFERENCE_PATH_ERROR.format(path="datasets/dogs_cats_reference.csv")
    with pytest.raises(DataError, match="no rows for attribute 'age'"):
        reference_table(both, attribute="age")
    with pytest.raises(DataError, match="more than once"):
        reference_table(pd.concat([both, both]))
