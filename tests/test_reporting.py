"""Reporting detectors (missingness by group, duplicate rows) against independent computations.

Oracles: scipy (chi2_contingency, fisher_exact, poisson), statsmodels (StratifiedTable), the
Kronecker-product form of the generalised CMH statistic written out here, pandas counts, and the
worked numbers of STATISTICS.md §2.5-2.6 (test vectors A5, A6, H2).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from biasaudit import audit
from biasaudit.detectors.reporting import generalized_cmh
from conftest import DATASETS

ALPHA = 0.05


def by_id(result) -> dict:
    return {f.id: f for f in result.findings}


def run(data, **kw):
    return audit(data, detectors=["reporting"], **kw)


@pytest.fixture(scope="module")
def small():
    return pd.read_csv(DATASETS / "dogs_cats.csv")


@pytest.fixture(scope="module")
def large():
    return pd.read_csv(DATASETS / "dogs_cats_large.csv")


@pytest.fixture(scope="module")
def large_result(large):
    return by_id(run(large, label="species"))


# --------------------------------------------------------------------------- A6 duplicates
def test_a6_identical_rows_are_expected(small):
    f = by_id(run(small, label="species"))["reporting:duplicates"]
    cols = ["size", "color", "species"]
    n = len(small)
    collision = math.prod(float((small[c].value_counts(normalize=True) ** 2).sum()) for c in cols)
    e_pairs = math.comb(n, 2) * collision
    assert e_pairs == pytest.approx(7.22727, abs=1e-5)
    sizes = small.groupby(cols).size()
    pairs = int(sum(math.comb(int(m), 2) for m in sizes))
    assert (f.details["pairs"], f.details["redundant"], f.details["n_distinct"]) == (pairs, 4, 10) and pairs == 5
    assert f.expected == pytest.approx(e_pairs)
    assert f.p_value == pytest.approx(stats.poisson.sf(pairs - 1, e_pairs)) and f.p_value == pytest.approx(
        0.84675, abs=1e-5)
    assert f.details["cells"] == 24 and f.details["expected_distinct"] == pytest.approx(9.08364, abs=1e-5)
    assert not f.details["duplicate_publication"] and "not evidence of duplication" in f.message
    assert f.severity == "info" and not f.in_family
    groups = sorted(sorted(g["rows"]) for g in f.evidence)
    assert groups == [["Ex01", "Ex03", "Ex09"], ["Ex02", "Ex05"], ["Ex10", "Ex11"]]


def test_large_planted_duplicates_found(large, large_result):
    f = large_result["reporting:duplicates"]
    non_id = [c for c in large.columns if c != "id"]
    assert large.duplicated(subset=non_id).sum() == 20
    assert f.details["redundant"] == 20 and f.details["pairs"] == 20
    assert f.details["duplicate_publication"] and "duplicate publication" in f.message
    assert set(f.details["high_entropy_columns"]) == {"weight_kg", "photo_hash"}
    # the skew table: shares with and without the copies, recomputed with pandas
    dedup = large.drop_duplicates(subset=non_id)
    row = next(r for r in f.details["skew"] if r["attribute"] == "species" and r["group"] == "CAT")
    assert row["share"] == pytest.approx((large["species"] == "CAT").mean())
    assert row["share_deduplicated"] == pytest.approx((dedup["species"] == "CAT").mean())


def _copies(n_cols: int, n_base: int = 70, n_copies: int = 30, seed: int = 1) -> pd.DataFrame:
    """``n_base`` random rows of independent binary columns and ``n_copies`` copies of one row."""
    rng = np.random.default_rng(seed)
    cols = [f"c{i}" for i in range(n_cols)]
    base = pd.DataFrame(rng.integers(0, 2, size=(n_base, n_cols)).astype(str), columns=cols)
    df = pd.concat([base, pd.DataFrame([["0", "1"] * (n_cols // 2)] * n_copies, columns=cols)], ignore_index=True)
    df["label"] = np.tile(["p", "q"], (n_base + n_copies) // 2)
    return df


def test_poisson_rule_in_a_roomy_space():
    # 30 copies among 100 rows of 14 independent binary columns (+ label): K = 2**15 >= n**2 cells,
    # where rows would rarely coincide: the coincidences are evidence of copying
    df = _copies(14)
    f = by_id(run(df, label="label"))["reporting:duplicates"]
    shares = [df[c].value_counts(normalize=True).to_numpy() for c in df.columns]
    e_pairs = math.comb(100, 2) * math.prod(float((p ** 2).sum()) for p in shares)
    sizes = df.groupby(list(df.columns)).size()
    pairs = int(sum(math.comb(int(m), 2) for m in sizes))
    assert f.details["cells"] == 2 ** 15 >= 100 ** 2
    assert f.details["pairs"] == pairs and f.expected == pytest.approx(e_pairs)
    assert f.p_value == pytest.approx(stats.poisson.sf(pairs - 1, e_pairs)) and f.p_value <= ALPHA
    assert f.details["high_entropy_columns"] == []
    assert f.details["duplicate_publication"] and "independent columns predict" in f.message


def test_few_possible_rows_are_no_evidence_of_copying():
    # the same 30 copies among 100 rows of 4 binary columns: only 32 distinct rows exist
    f = by_id(run(_copies(4), label="label"))["reporting:duplicates"]
    assert f.details["cells"] == 32 and f.p_value <= ALPHA
    assert not f.details["duplicate_publication"] and "dimensions imply" in f.message
    assert f.severity == "info" and not f.pattern


def test_no_duplicates_no_finding(small):
    df = small.drop_duplicates(subset=["size", "color", "species"])
    assert "reporting:duplicates" not in by_id(run(df, label="species"))


def test_aggregated_table_has_no_duplicates_and_its_expansion_is_no_evidence(small):
    agg = small.groupby(["size", "color", "species"]).size().rename("count").reset_index()
    assert "reporting:duplicates" not in by_id(run(agg, label="species", weight="count"))
    expanded = agg.loc[agg.index.repeat(agg["count"])].drop(columns="count")
    f = by_id(run(expanded, label="species"))["reporting:duplicates"]
    assert f.details["redundant"] == len(small) - len(agg) and not f.details["duplicate_publication"]


def test_a_weighted_row_listed_twice_is_a_duplicate(small):
    agg = small.groupby(["size", "color", "species"]).size().rename("count").reset_index()
    twice = pd.concat([agg, agg.iloc[[0]]], ignore_index=True)
    f = by_id(run(twice, label="species", weight="count"))["reporting:duplicates"]
    assert (f.details["n_rows"], f.details["redundant"], f.details["pairs"]) == (len(agg) + 1, 1, 1)
    # the copy stands for agg.count[0] records: without it the group's weighted share falls back
    row = agg.iloc[0]
    skew = next(r for r in f.details["skew"] if r["attribute"] == "species" and r["group"] == row["species"])
    total = agg["count"].sum() + row["count"]
    in_group = agg.loc[agg["species"] == row["species"], "count"].sum() + row["count"]
    assert skew["share"] == pytest.approx(in_group / total)
    assert skew["share_deduplicated"] == pytest.approx((in_group - row["count"]) / (total - row["count"]))


# --------------------------------------------------------------------------- A5 missingness
def test_a5_missing_size_by_label_untestable(small):
    df = small.copy()
    df.loc[df["id"] == "Ex12", "size"] = np.nan
    res = by_id(run(df, label="species"))
    f = res["reporting:missing:size~species"]
    table = [[0, 6], [1, 7]]  # DOG, CAT x (missing, present)
    assert f.p_value == pytest.approx(stats.fisher_exact(table).pvalue) and f.p_value == pytest.approx(1.0)
    assert f.p_min == pytest.approx(0.428571, abs=1e-6)
    assert f.severity == "insufficient-data" and not f.testable
    assert f.details["missing_rate_range"] == pytest.approx(0.125)
    # no missingness findings for a column against itself or against columns derived from it
    assert not [k for k in res if k.startswith("reporting:missing:size~size")]


def test_no_missing_values_no_missingness_findings(small):
    assert not [k for k in by_id(run(small, label="species")) if k.startswith("reporting:missing")]


# --------------------------------------------------------------------------- H2 missingness by label, folding
def test_large_missing_weight_by_label(large, large_result):
    f = large_result["reporting:missing:weight_kg~species"]
    table = pd.crosstab(large["species"], large["weight_kg"].isna()).to_numpy()
    chi = stats.chi2_contingency(table, correction=False)
    assert f.test == "Pearson chi-square"
    assert f.p_value == pytest.approx(chi.pvalue, rel=1e-9) and f.statistic == pytest.approx(chi.statistic)
    assert f.explained_by is None and f.established and f.severity in ("medium", "high", "critical")
    rates = large["weight_kg"].isna().groupby(large["species"]).mean()
    assert f.details["missing_rate_range"] == pytest.approx(rates.max() - rates.min())


def test_large_missing_by_size_and_color_explained_by_label(large, large_result):
    """Acceptance test of the folding (§2.5): missingness depends only on the label by construction."""
    primary = "reporting:missing:weight_kg~species"
    for g in ("size", "color", "multicolor"):
        f = large_result[f"reporting:missing:weight_kg~{g}"]
        assert f.explained_by == primary, g
        assert f.details["stratified_p"] > ALPHA
    # size is binary: the stratified test is CMH, checked against statsmodels directly
    f = large_result["reporting:missing:weight_kg~size"]
    miss = large["weight_kg"].isna()
    strata = []
    for _, part in large.groupby("species"):
        m = miss[part.index]
        strata.append(np.array([[int(((part["size"] == s) & m).sum()), int(((part["size"] == s) & ~m).sum())]
                                for s in ("big", "small")], dtype=float))
    strata = [t for t in strata if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all()]
    expected = StratifiedTable(strata).test_null_odds(correction=False).pvalue
    assert f.details["stratified_p"] == pytest.approx(expected, rel=1e-9)
    serious = audit(large, label="species", detectors=["reporting"]).at_or_above("medium")
    assert [x.id for x in serious if x.explained_by is None] == [primary]
    # folded findings still reach --fail-on (folding never hides)
    assert {x.id for x in serious if x.explained_by == primary} <= {f"reporting:missing:weight_kg~{g}"
                                                                     for g in ("size", "color", "multicolor")}


def _cmh_kron(tables):
    """Generalised CMH (general association) in the Kronecker form of Landis, Heyman & Koch (1978)."""
    r, c = tables[0].shape
    a = np.kron(np.eye(r)[:-1], np.eye(c)[:-1])
    g, v = 0, 0
    for t in tables:
        t = np.asarray(t, dtype=float)
        n = t.sum()
        pr, pc = t.sum(axis=1) / n, t.sum(axis=0) / n
        g = g + a @ (t.ravel() - n * np.kron(pr, pc))
        v = v + n * n / (n - 1) * a @ np.kron(np.diag(pr) - np.outer(pr, pr), np.diag(pc) - np.outer(pc, pc)) @ a.T
    q = float(g @ np.linalg.solve(v, g))
    return q, a.shape[0], stats.chi2.sf(q, a.shape[0])


def test_generalized_cmh_against_kronecker_form_and_statsmodels():
    rng = np.random.default_rng(7)
    tables = [rng.integers(3, 30, size=(4, 2)) for _ in range(3)]
    q, dof, p = generalized_cmh(tables)
    q2, dof2, p2 = _cmh_kron(tables)
    assert dof == dof2 == 3 and q == pytest.approx(q2, rel=1e-9) and p == pytest.approx(p2, rel=1e-9)
    two = [t[:2] for t in tables]  # R = 2: the CMH statistic without continuity correction
    res = StratifiedTable([t.astype(float) for t in two]).test_null_odds(correction=False)
    q3, dof3, p3 = generalized_cmh(two)
    assert dof3 == 1 and q3 == pytest.approx(res.statistic, rel=1e-9) and p3 == pytest.approx(res.pvalue, rel=1e-9)
    assert generalized_cmh([np.array([[3, 0], [4, 0]])]) == (0.0, 0, 1.0)  # no information


def test_missingness_invariant_to_row_order_and_names(small):
    df = small.copy()
    df.loc[df["id"].isin(["Ex12", "Ex02", "Ex05"]), "size"] = np.nan
    base = by_id(run(df, label="species"))
    other = df.replace({"DOG": "KURI", "CAT": "PUSI", "white": "weiss"}).sample(frac=1, random_state=5)
    again = by_id(run(other.reset_index(drop=True), label="species"))
    for key, f in base.items():
        if key.startswith("reporting:missing"):
            assert again[key].p_value == pytest.approx(f.p_value, rel=1e-12)
            assert again[key].p_min == pytest.approx(f.p_min, rel=1e-12)


def test_dense_cell_keys_and_row_hashes_find_the_same_duplicates(large, monkeypatch):
    """Rows keyed by their exact cell (few possible rows) or by 64-bit hashes give one answer."""
    from biasaudit.engine import rowhash
    df = large.drop(columns=["weight_kg", "photo_hash"])  # low-cardinality columns: dense cell keys
    kw = dict(label="species", detectors=["reporting", "label_quality"])
    dense = audit(df, **kw)
    monkeypatch.setattr(rowhash, "DENSE_CELLS", 0)
    hashed = audit(df, **kw)
    assert [f.to_dict() for f in dense.findings] == [f.to_dict() for f in hashed.findings]
    f = by_id(dense)["reporting:duplicates"]
    non_id = [c for c in df.columns if c != "id"]
    assert f.details["redundant"] == int(df.duplicated(subset=non_id).sum())
    assert f.details["n_distinct"] == len(df.drop_duplicates(subset=non_id))
