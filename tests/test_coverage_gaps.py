"""Coverage gaps without the label, one hypothesis per table, wording, and the count-only contract
of the overgeneralization detector. Expected numbers come from scipy and pandas in the test."""
from __future__ import annotations

import re
import sys
import types
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import biasaudit as ba
from biasaudit.audit import grade
from biasaudit.detectors import _coverage
from biasaudit.detectors._combos import Combination
from biasaudit.detectors.overgeneralization import overgeneralization, tables
from biasaudit.engine.context import AuditContext
from biasaudit.engine.counts import encode
from biasaudit.engine.roles import resolve
from biasaudit.engine.store import CountStore, RowGuard
from biasaudit.findings import hypothesis_key
from biasaudit.integrations import checks
from biasaudit.settings import Settings
from biasaudit.tools.simulate import generate_dogs_cats

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
PREFIX = "overgeneralization"


def context(df: pd.DataFrame, label: str, **settings) -> AuditContext:
    frame, roles = resolve(df, label=label)
    table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
    return AuditContext(table=table, roles=roles, settings=Settings(**settings), frame=frame, raw=df, options={})


def scan(df: pd.DataFrame, label: str, **settings):
    ctx = context(df, label, **settings)
    res = overgeneralization(ctx)
    found, section = res.findings, res.section
    graded, _, _ = grade(list(found), ctx.settings)
    return {f.id: f for f in found}, {f.id: f for f in graded}, section, ctx


@pytest.fixture(scope="module")
def no_small_white():
    """The planted DOGS & CATS table without any small white animal (about 1,800 rows)."""
    df = generate_dogs_cats(2000, seed=0)
    return df[~((df["size"] == "small") & (df["color"] == "white"))].reset_index(drop=True)


@pytest.fixture(scope="module")
def depleted():
    """Two independent attributes; the cell x=x1, z=z1 thinned to 15 rows where about 120 are expected."""
    rng = np.random.default_rng(11)
    n = 2200
    df = pd.DataFrame({"x": rng.choice(["x1", "x2", "x3"], n), "z": rng.choice(["z1", "z2", "z3", "z4"], n),
                       "y": rng.choice(["yes", "no"], n)})
    cell = np.flatnonzero((df["x"] == "x1") & (df["z"] == "z1"))
    return df.drop(index=cell[15:]).reset_index(drop=True)


# ----------------------------------------------------------------------------- empty and depleted
def test_empty_combination_is_a_high_finding(no_small_white):
    df = no_small_white
    raw, graded, _, _ = scan(df, "species")
    n, n_small, n_white = len(df), int((df["size"] == "small").sum()), int((df["color"] == "white").sum())
    f = raw[f"{PREFIX}:coverage_gap:size=small,color=white"]
    p = sps.hypergeom.cdf(0, n, n_small, n_white)
    assert p == pytest.approx(np.prod([(n - n_small - i) / (n - i) for i in range(n_white)]), rel=1e-10)
    assert f.p_value == pytest.approx(p, rel=1e-12) and p < 1e-30
    assert f.expected == pytest.approx(n_small * n_white / n)
    assert f.observed == 0 and f.effect_level == 3 and f.in_family and f.testable
    assert f.hypothesis == hypothesis_key("coverage", ["size", "color"], {"size": "small", "color": "white"}, "less")
    assert graded[f.id].severity in ("critical", "high")
    assert f"No example has size=small and color=white at all (0 of {n}" in f.message
    assert "cannot co-occur" not in f.message and "Collect examples with size=small and color=white" in f.suggestion


def test_depleted_combination_is_reported(depleted):
    df = depleted
    raw, graded, _, _ = scan(df, "y")
    n, n_x, n_z = len(df), int((df["x"] == "x1").sum()), int((df["z"] == "z1").sum())
    expected = n_x * n_z / n
    assert 100 < expected < 140, expected
    f = raw[f"{PREFIX}:coverage_gap:x=x1,z=z1"]
    assert f.observed == 15 and f.expected == pytest.approx(expected)
    assert f.p_value == pytest.approx(sps.hypergeom.cdf(15, n, n_x, n_z), rel=1e-12)
    assert f.effect_size == pytest.approx(15 / expected) and f.effect_size <= 0.2 and f.effect_level == 3
    assert graded[f.id].severity in ("critical", "high")
    assert f.message.startswith("Only 15 examples have x=x1 and z=z1")
    # the other cells of the independent table are not shown (hidden tests in the family at most)
    shown = [g for g in raw.values() if g.kind == "coverage_gap"]
    assert [g.id for g in shown] == [f.id]


def test_assert_no_coverage_gaps_lists_empty_and_depleted(no_small_white, depleted):
    with pytest.raises(ba.BiasCheckError) as err:
        checks.assert_no_coverage_gaps(no_small_white, label="species", attributes=["size", "color"])
    assert f"{PREFIX}:coverage_gap:size=small,color=white" in set(err.value.failures["id"])
    with pytest.raises(ba.BiasCheckError) as err:
        checks.assert_no_coverage_gaps(depleted, label="y")
    assert set(err.value.failures["id"]) == {f"{PREFIX}:coverage_gap:x=x1,z=z1"}


def test_triple_gap_needs_every_pair_to_be_covered():
    # a, b, c independent except that (a1, b1, c1) never occurs; every pair is present
    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"a": rng.choice(["a1", "a2"], n), "b": rng.choice(["b1", "b2"], n),
                       "c": rng.choice(["c1", "c2"], n), "y": rng.choice(["p", "q"], n)})
    df = df[~((df["a"] == "a1") & (df["b"] == "b1") & (df["c"] == "c1"))].reset_index(drop=True)
    raw, graded, _, _ = scan(df, "y", k_max=3)
    f = raw[f"{PREFIX}:coverage_gap:a=a1,b=b1,c=c1"]
    n = len(df)
    cnt = {col: int((df[col] == f"{col}1").sum()) for col in "abc"}
    pair = {col: int(np.all([df[o] == f"{o}1" for o in "abc" if o != col], axis=0).sum()) for col in "abc"}
    ps = [sps.hypergeom.cdf(0, n, cnt[col], pair[col]) for col in "abc"]
    assert f.p_value == pytest.approx(max(ps), rel=1e-12)
    assert f.expected == pytest.approx(n * np.prod([cnt[c] / n for c in "abc"]))
    assert graded[f.id].severity in ("critical", "high")


# ----------------------------------------------------------------------------- wording
def _hair(n=4000, seed=3):
    rng = np.random.default_rng(seed)
    hair = rng.choice(["black", "blond", "brown", "gray"], n, p=[0.3, 0.25, 0.3, 0.15])
    return pd.DataFrame({"Black_Hair": np.where(hair == "black", "1", "-1"),
                         "Blond_Hair": np.where(hair == "blond", "1", "-1"),
                         "Male": rng.choice(["1", "-1"], n), "Smiling": rng.choice(["1", "-1"], n)})


def test_mutually_exclusive_indicators_cannot_co_occur():
    df = _hair()
    raw, graded, _, _ = scan(df, "Smiling")
    f = raw[f"{PREFIX}:coverage_gap:Black_Hair=1,Blond_Hair=1"]
    assert f.message.startswith("Black_Hair=1 and Blond_Hair=1 never occur together") and "cannot co-occur?" in f.message
    assert not re.search(r"\bcollect", f.suggestion.lower()) and f.details["cannot_co_occur"]
    assert graded[f.id].severity == "critical"     # still reported: the data cannot tell
    # the same pair with the label: "Collect blond examples with Black_Hair=1" must not appear
    raw, _, _, _ = scan(df, "Blond_Hair")
    rule = [g for g in raw.values() if g.kind in ("rule", "gap") and g.attributes == {"Black_Hair": "1"}]
    assert len(rule) == 1 and "cannot co-occur?" in rule[0].message
    assert not re.search(r"\bcollect", rule[0].suggestion.lower())
    # one noisy co-occurrence among hundreds expected (CelebA has 1 of 4,853): still "almost never"
    noisy = df.copy()
    noisy.loc[noisy.index[noisy["Black_Hair"] == "1"][0], "Blond_Hair"] = "1"
    raw, _, _, _ = scan(noisy, "Blond_Hair")
    rule = [g for g in raw.values() if g.kind in ("rule", "gap") and g.attributes == {"Black_Hair": "1"}]
    assert len(rule) == 1 and rule[0].observed == 1 and "almost never occur together" in rule[0].message
    assert rule[0].effect_size <= 0.01 and not re.search(r"\bcollect", rule[0].suggestion.lower())


def test_exclusion_wording_needs_common_indicator_values():
    assert not _coverage.exclusive_pair((("Black_Hair", "1"), ("Blond_Hair", "1")), {"Black_Hair": 2, "Blond_Hair": 2},
                                        {("Black_Hair", "1"): 5, ("Blond_Hair", "1"): 1000}, 4000)  # 5 < 1 % of n
    assert _coverage.exclusive_pair((("pregnant", "yes"), ("male", "1")), {"pregnant": 2, "male": 2},
                                    {("pregnant", "yes"): 80, ("male", "1"): 2000}, 4000)
    assert not _coverage.exclusive_pair((("size", "small"), ("color", "white")), {"size": 2, "color": 10},
                                        {("size", "small"): 1200, ("color", "white"): 140}, 1800)


def test_no_advice_counts_examples():
    # 0/1 labels: no "Collect 0 examples" / "Collect 1 examples" in any suggestion
    rng = np.random.default_rng(2)
    n = 1500
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n), "h": rng.choice(["u", "v"], n)})
    df["label"] = rng.choice([0, 1], n)
    df.loc[(df["g"] == "a") & (df["h"] == "u"), "label"] = 0
    df.loc[df["g"] == "c", "label"] = np.where(rng.random((df["g"] == "c").sum()) < 0.9, 1, 0)
    raw, _, _, _ = scan(df, "label")
    advice = [f.suggestion for f in raw.values() if f.suggestion]
    assert advice and not any(re.search(r"[Cc]ollect \d", s) for s in advice)
    assert any("labelled label=0" in s or "label=0" in s for s in advice)


def test_leaked_columns_get_no_collect_advice(monkeypatch):
    rng = np.random.default_rng(4)
    n = 1200
    y = rng.choice(["yes", "no"], n)
    df = pd.DataFrame({"leaky": np.where(rng.random(n) < 0.97, y, "other"), "g": rng.choice(["a", "b"], n), "y": y})
    module = types.ModuleType("biasaudit.detectors.leakage")
    module.find_leakage = lambda table, roles, settings: {"leaky": "predicts the label almost perfectly"}
    monkeypatch.setitem(sys.modules, "biasaudit.detectors.leakage", module)
    raw, _, _, _ = scan(df, "y")
    leaky = [f for f in raw.values() if f.suggestion and "leaky" in f.attributes and f.kind != "existence"]
    assert leaky
    for f in leaky:
        assert not re.search(r"\bcollect", f.suggestion.lower()) and "possible leakage" in f.suggestion


# ----------------------------------------------------------------------------- one hypothesis, one test
def test_one_key_per_2x2_table_with_a_two_sided_view():
    df = pd.read_csv(DATASETS / "dogs_cats_large.csv")
    raw, graded, _, _ = scan(df, "species")
    big = raw[f"{PREFIX}:rule:size=big:label=CAT"]
    key = hypothesis_key("2x2", ["size", "species"], {"size": "big"})     # two levels: the first in sorted order
    assert big.hypothesis == key
    views = [f for f in raw.values() if f.hypothesis == key]
    assert {f.id for f in views} == {big.id, f"{big.id.replace(':rule:', ':cell_test:')}:two-sided"}
    two = next(f for f in views if f.id != big.id)
    n_big, n_cat = int((df["size"] == "big").sum()), int((df["species"] == "CAT").sum())
    table = [[0, n_big], [n_cat, len(df) - n_big - n_cat]]
    assert two.p_value == pytest.approx(sps.fisher_exact(table).pvalue, rel=1e-9) and two.details["hidden"]
    multi = raw[f"{PREFIX}:rule:multicolor=yes:label=DOG"]
    assert multi.hypothesis == hypothesis_key("2x2", ["multicolor", "species"], {"multicolor": "no"})
    # no other shown finding about size=big or size=small alone and the label
    for f in raw.values():
        if f.detector == PREFIX and f.kind != "existence" and not f.details.get("hidden") and \
                set(f.attributes) == {"size"}:
            assert f.id == big.id
    # multi-item cells: one-sided hypotheses of their own, one per label
    sw = raw[f"{PREFIX}:rule:size=small,color=white:label=DOG"]
    assert sw.hypothesis == hypothesis_key("iut:depletion", ["size", "color", "species"],
                                           {"size": "small", "color": "white", "species": "DOG"}, "less")
    keys = [f.hypothesis for f in raw.values() if f.in_family and not f.details.get("hidden")]
    assert len(keys) == len(set(keys))


# ----------------------------------------------------------------------------- counts only
def _count_store_context(ctx: AuditContext) -> AuditContext:
    roles, table = ctx.roles, ctx.table
    label = roles.label
    needed = [(a, b, label) for a, b in combinations(roles.attributes, 2)]
    needed += [tuple(sorted(s - {label}, key=roles.attributes.index)) + (label,)
               for s in tables(roles, table.levels, table.n, ctx.settings)]
    store = CountStore({c: table.levels[c] for c in table.columns},
                       {cols: table.count(*cols).counts for cols in needed}, table.n)
    cols = list(ctx.frame.columns)
    return AuditContext(table=store, roles=roles, settings=ctx.settings, frame=RowGuard("frame", cols),
                        raw=RowGuard("raw", cols), options={})


@pytest.mark.parametrize("name,label", [("dogs_cats_large.csv", "species"), ("dogs_cats.csv", "species"),
                                        ("german_credit.csv", "credit")])
def test_reads_only_the_declared_count_tables(name, label):
    ctx = context(pd.read_csv(DATASETS / name), label)
    res = overgeneralization(ctx)
    found, section = res.findings, res.section
    res2 = overgeneralization(_count_store_context(ctx))
    streamed, section2 = res2.findings, res2.section   # no rows: codes/mask/n_rows raise
    a = {f.id: (f.p_value, f.p_min, f.observed, f.explained_by, f.hypothesis, f.message) for f in found}
    b = {f.id: (f.p_value, f.p_min, f.observed, f.explained_by, f.hypothesis, f.message) for f in streamed}
    assert a == b and section == section2


def test_declared_tables_are_the_triples_with_the_label():
    ctx = context(pd.read_csv(DATASETS / "dogs_cats_large.csv"), "species")
    declared = tables(ctx.roles, ctx.table.levels, ctx.table.n, ctx.settings)
    assert declared and all("species" in s and len(s) == 4 for s in declared)
    roles = ctx.roles
    for s in declared:
        attrs = sorted(s - {"species"})
        assert all(sum(lv != "(missing)" for lv in ctx.table.levels[a]) <= 6 for a in attrs)
        assert not any(roles.parent(x) == roles.parent(y) or roles.parent(x) == y or roles.parent(y) == x
                       for x, y in combinations(attrs, 2))


# ----------------------------------------------------------------------------- folding rules
def _combo(items, obs, expected, rank):
    return Combination(items=items, observed=obs, expected=expected, margins=(1, 1), parent_support=(1, 1),
                       p_value=1e-9, p_min=1e-12, e_parts=(expected, expected), p_parts=(1e-9, 1e-9), binding=0,
                       rank=rank)


def test_combinations_of_one_pair_fold_into_the_most_severe():
    from biasaudit.detectors._coverage import coverage_finding as _coverage_finding
    from biasaudit.detectors._coverage import fold_combinations
    sc = types.SimpleNamespace(implies={}, n=1000, levels={}, item_counts={})
    cells = [_combo((("a", "1"), ("b", "1")), 0, 50.0, (2, 0, (0, 1), (0, 0))),
             _combo((("a", "1"), ("b", "2")), 20, 50.0, (2, 0, (0, 1), (0, 1))),     # ratio 0.4: medium
             _combo((("a", "2"), ("c", "1")), 0, 40.0, (2, 0, (0, 2), (1, 0)))]
    tests_ = [_coverage.CoverageTest(combo=c, testable=True, pattern=True, uninformative=False, candidate=True,
                                     exclusive=False, hypothesis=str(i), q_local=1e-9, visible=True)
              for i, c in enumerate(cells)]
    found = [_coverage_finding(sc, t, {}) for t in tests_]
    assert [f.effect_level for f in found] == [3, 2, 3]
    out = fold_combinations(sc, found, tests_)
    assert out[1].explained_by == out[0].id and out[0].explained_by is None and out[2].explained_by is None
    assert out[0].evidence[-1]["cell"] == "a=1,b=2"
    # a more severe child is never folded under a less severe cell of its pair
    out = fold_combinations(sc, [found[1], found[0]], [tests_[1], tests_[0]])
    assert out[0].explained_by == found[0].id and out[1].explained_by is None


def test_an_attribute_and_its_coarsening_have_no_coverage_gaps():
    """age and age_cat (one almost a function of the other) leave empty cells by definition."""
    rng = np.random.default_rng(5)
    n = 3000
    age = rng.integers(18, 80, n)
    df = pd.DataFrame({"age": age.astype(str), "age_cat": np.where(age < 25, "young", np.where(age < 45, "mid", "old")),
                       "x": rng.choice(["a", "b", "c"], n), "y": rng.choice(["yes", "no"], n)})
    df["age"] = pd.cut(age, [17, 24, 35, 50, 80]).astype(str)  # (35, 50] straddles 45: not an exact function
    df.loc[(df["x"] == "a") & (df["age_cat"] == "old"), "x"] = "b"   # a real gap between independent attributes
    # the uncertainty coefficient of age_cat given age, computed by hand from the entropies: high, not 1
    t = pd.crosstab(df["age"], df["age_cat"]).to_numpy().astype(float)
    p = t / t.sum()
    h_cat = -(p.sum(axis=0) * np.log(p.sum(axis=0))).sum()
    pa = p.sum(axis=1, keepdims=True)
    h_cat_given_age = -(p[p > 0] * np.log((p / pa)[p > 0])).sum()
    assert 0.8 <= 1 - h_cat_given_age / h_cat < 1
    found, graded, _, _ = scan(df, "y")
    gaps = [f for f in graded.values() if f.kind == "coverage_gap"]
    assert not [f for f in gaps if set(f.attributes) == {"age", "age_cat"}]
    assert any(set(f.attributes) == {"x", "age_cat"} and f.attributes["x"] == "a" for f in gaps)
