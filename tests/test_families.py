"""Two families, one hypothesis one test, thresholds per family (STATISTICS.md §1.3-1.5, v0.2).

Every expected number is computed here with scipy / statsmodels, never copied from the tool.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

import biasaudit as ba
from biasaudit.audit.families import (NO_NAMED_NOTE, assign_families, candidate_attributes, hypotheses,
                                      table_signature)
from biasaudit.audit.grading import grade
from biasaudit.findings import Finding, format_p, hypothesis_key
from biasaudit.settings import Settings
from biasaudit.stats import added_threshold, rejection_thresholds

SM = {"bh": "fdr_bh", "holm": "holm", "by": "fdr_by"}


# ------------------------------------------------------------------ thresholds within a family
def _holm_rejects(p, alpha=0.05):
    """Holm's step-down by its definition (statsmodels' Holm runs gc.collect() on every call, too slow
    for a property test; test_holm_oracle_is_statsmodels ties the two)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    out = np.zeros(m, dtype=bool)
    for j, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (m - j):
            break
        out[i] = True
    return out


def _rejected(p, i, method, alpha=0.05):
    if method == "holm":
        return bool(_holm_rejects(p, alpha)[i])
    return bool(multipletests(p, alpha=alpha, method=SM[method])[0][i])


def test_holm_oracle_is_statsmodels():
    rng = np.random.default_rng(0)
    for _ in range(6):
        p = np.round(rng.random(8) * rng.choice([0.05, 1.0]), 3)
        assert np.array_equal(_holm_rejects(p), multipletests(p, method="holm")[0])
        assert ba.stats.adjust_pvalues(p, "holm") == pytest.approx(multipletests(p, method="holm")[1])


@given(st.lists(st.one_of(st.floats(0, 0.06), st.floats(0, 1), st.sampled_from([0.01, 0.02, 0.05])),
                min_size=1, max_size=15),
       st.sampled_from(["bh", "holm", "by"]))
def test_rejection_threshold_is_exact(p, method):
    """Hypothesis i is rejected (statsmodels) iff its p is at most its threshold, the others fixed."""
    p = np.array(p)
    thr = rejection_thresholds(p, method)
    for i in range(len(p)):
        below, above = p.copy(), p.copy()
        below[i] = thr[i] * (1 - 1e-9)
        assert _rejected(below, i, method)
        if thr[i] * (1 + 1e-7) <= 1:
            above[i] = thr[i] * (1 + 1e-7)
            assert not _rejected(above, i, method)
    # the threshold agrees with the adjusted p: q_i <= alpha exactly when p_i <= t_i
    q = ba.stats.adjust_pvalues(p, method)
    assert np.array_equal(q <= 0.05, p <= thr)


@given(st.lists(st.floats(0, 1), min_size=0, max_size=12), st.sampled_from(["bh", "holm", "by"]))
def test_added_threshold_is_the_threshold_of_a_newcomer(p, method):
    t = added_threshold(p, method)
    with_new = np.concatenate([p, [t * (1 - 1e-9)]])
    assert _rejected(with_new, len(p), method)
    if t * (1 + 1e-7) <= 1:
        with_new[-1] = t * (1 + 1e-7)
        assert not _rejected(with_new, len(p), method)


def test_thresholds_by_hand():
    # Holm, m = 4: the others 0.001 <= 0.05/4 and 0.02 > 0.05/3 -> R = 1, t = 0.05/3
    assert rejection_thresholds([0.001, 0.3, 0.02, 0.9], "holm")[1] == pytest.approx(0.05 / 3)
    # BH, m = 4, others 0.001, 0.02, 0.9: k = 3 needs 2 others <= 0.0375 (yes) -> t = 0.0375
    assert rejection_thresholds([0.001, 0.3, 0.02, 0.9], "bh")[1] == pytest.approx(0.0375)


# ------------------------------------------------------------------ one hypothesis, one test
def _f(i, p, *, key=None, level=2, family=None, attrs=None, pmin=0.0, **kw):
    return Finding(id=f"f{i}", bias_type=kw.pop("bias_type", "overgeneralization"), detector="t",
                   attributes=attrs if attrs is not None else {f"a{i}": "x"}, message="m", p_value=p, p_min=pmin,
                   testable=pmin <= 0.05, in_family=True, effect_level=level, hypothesis=key, family=family, **kw)


def test_one_p_in_nine_views_enters_the_family_once():
    """The issue's case: on null data one p of 8e-5, shown as 9 findings, must not become 9 tests."""
    others = list(np.linspace(0.001, 1.0, 2374))  # the rest of an exploratory family under the null
    key = hypothesis_key("2x2", ["group", "y"], {"group": "b"})
    views = [_f(100 + j, 8e-5, key=key) for j in range(9)]
    fs = [_f(i, p) for i, p in enumerate(others)] + views
    out, m, n_testable = grade(fs, Settings())
    # independently: the hypothesis once among the others
    q_once = sps.false_discovery_control(others + [8e-5], method="bh")[-1]
    q_nine = sps.false_discovery_control(others + [8e-5] * 9, method="bh")[-1]
    assert q_once == pytest.approx(0.19, abs=0.005) and q_nine < 0.05  # the bug: 9 copies look established
    got = [f for f in out if f.id.startswith("f1") and f.hypothesis == key]
    assert len(got) == 9 and (m, n_testable) == (2375, 2375)
    assert {f.severity for f in got} == {"weak-evidence"}
    for f in got:
        assert f.p_adjusted == pytest.approx(q_once, rel=1e-12)
        assert len(f.details["hypothesis_test"]["views"]) == 8


def test_views_take_the_largest_p_and_share_severity():
    key = "cell:a,y:a=x:less"
    fs = [_f(0, 0.001, key=key, level=1), _f(1, 0.003, key=key, level=3), _f(2, 0.03), _f(3, 0.2)]
    out, m, _ = grade(fs, Settings())
    q = dict((f.id, f.p_adjusted) for f in out)
    expected = sps.false_discovery_control([0.003, 0.03, 0.2], method="bh")
    assert m == 3 and expected[0] == pytest.approx(0.009)
    assert q["f0"] == q["f1"] == pytest.approx(expected[0])
    assert q["f2"] == pytest.approx(expected[1])
    sev = {f.id: f.severity for f in out}
    # 0.001 < q = 0.009 <= 0.01 and level max(1, 3) = 3: high for both views (level 1 alone: medium)
    assert sev["f0"] == sev["f1"] == "high"


def test_untestable_view_makes_its_hypothesis_untestable():
    key = "k"
    fs = [_f(0, 0.001, key=key), _f(1, 0.3, key=key, pmin=0.2), _f(2, 0.01)]
    out, m, n_testable = grade(fs, Settings())
    assert (m, n_testable) == (2, 1)
    assert {f.severity for f in out if f.hypothesis == key} == {"insufficient-data"}
    assert next(f for f in out if f.id == "f2").p_adjusted == pytest.approx(0.01)


def test_same_table_is_one_hypothesis_without_keys():
    """A two-level attribute: its association and its group-rate test are the same 2 x 2 table."""
    assoc = _f(0, 0.02, attrs={"sex": None}, table=[[30, 70], [50, 50]])
    rate = _f(1, 0.02, attrs={"sex": "f"}, table=[[50, 50], [30, 70]], alternative="two-sided")
    tail = _f(2, 0.01, attrs={"sex": "f"}, table=[[50, 50], [30, 70]], alternative="greater")
    mirror = _f(3, 0.01, attrs={"sex": "m"}, table=[[30, 70], [50, 50]], alternative="less")
    other = _f(4, 0.02, attrs={"age": "old"}, table=[[50, 50], [30, 70]], alternative="two-sided")
    assert table_signature(assoc) == table_signature(rate) != table_signature(tail)
    assert table_signature(tail) == table_signature(mirror)  # swapping the rows flips the tail
    assert table_signature(other) != table_signature(rate)   # same counts, another attribute
    # missingness of two columns missing on the same rows: equal tables, distinct hypotheses
    miss = [_f(5 + j, 1e-9, attrs={"by": None}, bias_type="reporting", table=[[5, 9], [40, 3]])
            for j in range(2)]
    assert table_signature(miss[0]) is None
    hs = hypotheses([assoc, rate, tail, mirror, other])
    assert sorted(h.members for h in hs) == [(0, 1), (2, 3), (4,)]


# ------------------------------------------------------------------ families
def test_candidates_by_name_only():
    cols = ["age_cat", "priors_count", "race", "Male", "page", "foreign_worker", "marital_status",
            "ReligiousAffiliation", "color", "sexe", "c_charge_degree", "country_birth"]
    assert candidate_attributes(cols) == ["age_cat", "race", "Male", "foreign_worker", "marital_status",
                                          "ReligiousAffiliation", "country_birth"]


def test_families_by_named_attributes():
    fs = [_f(0, 0.01, attrs={"race": "b"}, bias_type="group_attribution"),
          _f(1, 0.01, attrs={"race": "b", "sex": "f"}, bias_type="overgeneralization"),
          _f(2, 0.01, attrs={"race": "b", "job": "x"}, bias_type="overgeneralization"),
          _f(3, 0.01, attrs={"race": None, "zip": None}, bias_type="proxy"),
          _f(4, 0.01, attrs={"race": "b"}, bias_type="selection"),
          _f(5, 0.01, attrs={"job": "x"}, key="k", bias_type="overgeneralization"),
          _f(6, 0.01, attrs={"sex": "f"}, key="k", bias_type="group_attribution"),
          Finding(id="x", bias_type="reporting", detector="d", attributes={"race": None}, message="m")]
    out = assign_families(fs, ["race", "sex"])
    # a coverage cell of two named attributes is a follow-up (exploratory); one of a named attribute is primary
    assert [f.family for f in out] == ["primary", "exploratory", "exploratory", "exploratory", "exploratory",
                                       "primary", "primary", None]
    assert {f.family for f in assign_families(fs, None) if f.in_family} == {"exploratory"}


@pytest.fixture(scope="module")
def gap_table():
    """n = 2,000: group b (25 %) has a positive rate 10 points below group a (40 %); 3 other attributes."""
    from biasaudit.tools.calibration import named_gap_data
    return named_gap_data(2000, 7, gap=0.10)


def _pearson_p(t):
    return sps.chi2_contingency(np.asarray(t), correction=False)[1]


def test_primary_family_is_corrected_on_its_own_and_leads(gap_table):
    """A three-level named attribute: the association and three group-vs-rest tests, Holm among them."""
    rng = np.random.default_rng(3)
    df = gap_table.assign(tier=rng.choice(["t1", "t2", "t3"], len(gap_table), p=[0.5, 0.3, 0.2]))
    df["y"] = np.where(rng.random(len(df)) < np.where(df["tier"] == "t3", 0.30, 0.40), "yes", "no")
    kw = dict(label="y", sensitive=["tier"], positive="yes", probe=False)
    r = ba.audit(df, detectors=["group_attribution"], **kw)
    tab = pd.crosstab(df["tier"], df["y"])
    ps = {"assoc": _pearson_p(tab.to_numpy())}
    for g in tab.index:
        rest = tab.drop(index=g).sum()
        ps[g] = _pearson_p([tab.loc[g].to_numpy(), rest.to_numpy()])
    holm = dict(zip(ps, multipletests(list(ps.values()), method="holm")[1]))
    assert r.families["primary"]["size"] == 4 and r.families["exploratory"]["size"] == 0
    got = {("assoc" if f.kind == "association" else f.attributes["tier"]): f for f in r.primary}
    assert set(got) == set(ps)
    for k, f in got.items():
        assert f.p_value == pytest.approx(ps[k], rel=1e-9)
        assert f.p_adjusted == pytest.approx(holm[k], rel=1e-9)
    # adding exploratory hypotheses (proxies of tier) changes no primary q
    more = ba.audit(df, detectors=["group_attribution", "proxies"], **kw)
    assert more.families["exploratory"]["size"] >= 3
    assert {f.id: f.p_adjusted for f in more.primary} == {f.id: f.p_adjusted for f in r.primary}
    # with the coverage scan, cells of tier join the primary family, cells of other attributes do
    # not, and the primary findings come first
    full = ba.audit(df, detectors=["group_attribution", "overgeneralization", "proxies"], **kw)
    assert full.findings[0].family == "primary" and full.primary == full.findings[:len(full.primary)]
    for f in full.findings:
        if f.in_family:
            assert (f.family == "primary") == (set(f.attributes) == {"tier"} and f.bias_type != "proxy"), f.id


def test_without_named_attributes_one_family_and_a_note():
    df = pd.DataFrame({"race": ["a", "b"] * 50, "Age": ["x", "y", "y", "x"] * 25, "tool": ["u", "v"] * 50,
                       "y": [0, 0, 1, 1] * 25})
    r = ba.audit(df, label="y", probe=False)
    fam = r.families
    assert fam["primary"] is None and fam["named"] == []
    assert fam["candidates"] == ["race", "Age"]
    assert fam["note"].startswith(NO_NAMED_NOTE) and "race, Age" in fam["note"]
    assert r.primary == () and {f.family for f in r.findings if f.in_family} <= {"exploratory"}
    assert "No sensitive attribute was named" in r.sections["method"]["families_text"][0]


def test_primary_correction_option(gap_table):
    kw = dict(label="y", sensitive=["group"], positive="yes", probe=False, detectors=["group_attribution"])
    holm, bh = ba.audit(gap_table, **kw), ba.audit(gap_table, primary_correction="bh", **kw)
    assert holm.settings["primary_correction"] == "holm" and bh.settings["primary_correction"] == "bh"
    with pytest.raises(ValueError, match="primary_correction"):
        ba.audit(gap_table, primary_correction="none", **kw)


# ------------------------------------------------------------------ planning numbers
def _plan_family(table, others, method="bh"):
    f = _f(0, _pearson_p(table), attrs={"g": "b"}, level=2,
           details={"table2x2": table, "alternative": "two-sided"})
    fs = [f] + [_f(i + 1, p) for i, p in enumerate(others)]
    out, _, _ = grade(fs, Settings(correction=method))
    return next(g for g in out if g.id == "f0")


def test_rows_needed_is_for_the_adjusted_threshold():
    """'70 rows would establish it' while the tool's own q at n = 70 is 0.062 was the bug."""
    table = [[30, 20], [25, 25]]  # Pearson holds at every scale
    others = list(np.linspace(0.0005, 1.0, 30))
    g = _plan_family(table, others)
    assert g.severity == "weak-evidence" and g.rows_needed
    r = g.rows_needed // 100
    assert g.rows_needed == 100 * r

    def q_at(factor):
        p = _pearson_p(np.asarray(table) * factor)
        return sps.false_discovery_control([p] + others, method="bh")[0]

    assert q_at(r) <= 0.05 < q_at(r - 1)
    raw = next(k for k in range(1, 100) if _pearson_p(np.asarray(table) * k) <= 0.05)
    assert raw < r  # the unadjusted number would have promised too few rows
    assert f"about {g.rows_needed:,} rows" in g.message


def test_fragility_uses_the_own_test_and_the_family_threshold():
    table = np.array([[120, 80], [90, 110]])  # Pearson p ~ 0.003
    others = [0.0001, 0.2, 0.5, 0.9]
    g = _plan_family(table.tolist(), others, method="holm")
    p = _pearson_p(table)
    thr = 0.05 / 4  # Holm, m = 5: 0.0001 <= 0.05/5 passes, then 0.2 fails -> R = 1, t = 0.05/(5-1)
    assert g.details["family_threshold"] == pytest.approx(thr) and p <= thr and g.established
    # brute force over flips within each group (row totals fixed), Pearson as the scan chose it
    best = None
    for d0 in range(-12, 13):
        for d1 in range(-12, 13):
            t = table + np.array([[d0, -d0], [d1, -d1]])
            if (t < 0).any():
                continue
            if _pearson_p(t) > thr:
                k = abs(d0) + abs(d1)
                best = k if best is None else min(best, k)
    assert best is not None and best < 12  # found inside the searched square
    assert g.fragility["value"] == best and g.fragility["threshold"] == pytest.approx(thr)


def test_p_values_never_print_as_zero():
    assert format_p(0.0) == "< 1e-300" and format_p(5e-324) == "< 1e-300"
    assert format_p(1.5e-300) == "1.5e-300" and format_p(0.0456) == "0.0456" and format_p(None) == "n/a"
    # the floor of the asymptotic tests (the smallest normal double) has no digits worth printing
    from biasaudit.report import words
    from biasaudit.report._fmt import fmt_p
    from biasaudit.stats._validation import P_FLOOR, chi2_sf
    assert chi2_sf(5000.0, 1) == P_FLOOR == np.finfo(float).tiny
    assert words.p(P_FLOOR) == fmt_p(P_FLOOR) == format_p(P_FLOOR) == "< 1e-300"
    assert words.p(2e-300) == "2.0e-300" and fmt_p(2e-300) == "2.00e-300"
    floored = _f(2, P_FLOOR, level=3).evolve(message=f"Pearson chi-square p={P_FLOOR:.3g}, exact p=1.43e-195")
    g2 = grade([floored, _f(3, 0.3)], Settings())[0]
    assert next(g for g in g2 if g.id == "f2").message.startswith("Pearson chi-square p < 1e-300, exact p=1.43e-195")
    zero = _f(0, 0.0, level=3).evolve(message="Pearson chi-square p=0, exact p=0.0123, q=0)")
    out, _, _ = grade([zero, _f(1, 0.3)], Settings())
    f = next(g for g in out if g.id == "f0")
    assert f.message.startswith("Pearson chi-square p < 1e-300, exact p=0.0123, q < 1e-300)")
    assert f.p_adjusted == 0.0 and f.severity == "critical"  # the float is kept
    assert "< 1e-300" in f.message and "=0)" not in f.message and "=0," not in f.message


@given(st.lists(st.integers(0, 60), min_size=4, max_size=4))
def test_fast_2x2_p_is_the_scan_test(cells):
    from biasaudit.stats import independence_p_2x2, independence_test
    t = np.array(cells).reshape(2, 2)
    assert independence_p_2x2(t) == pytest.approx(independence_test(t).p_value, rel=1e-9, abs=1e-300)


def test_method_section_counts_families_and_merged_views():
    from biasaudit.audit.families import families_section
    from biasaudit.audit.method import method_section
    key = "2x2:g,y:g=b:two-sided"
    fs = [_f(0, 1e-4, key=key, attrs={"g": "b"}, bias_type="group_attribution"),
          _f(1, 2e-4, key=key, attrs={"g": "b"}, bias_type="overgeneralization"),
          _f(2, 0.3, attrs={"g": None}, bias_type="group_attribution"),
          _f(3, 0.01), _f(4, 0.5), _f(5, 0.04, key="k2"), _f(6, 0.04, key="k2")]
    s = Settings()
    out, m, n_testable = grade(assign_families(fs, ["g"]), s)
    fam = families_section(out, s, ["g"])
    assert (m, n_testable) == (5, 5)
    assert fam["primary"]["size"] == 2 and fam["primary"]["n_views"] == 3 and fam["primary"]["correction"] == "holm"
    assert fam["exploratory"]["size"] == 3 and fam["exploratory"]["n_views"] == 4
    assert (fam["n_shared"], fam["n_views_merged"]) == (2, 2)
    # Holm over the primary hypotheses' p-values (the largest view's p for the shared one)
    q = multipletests([2e-4, 0.3], method="holm")[1]
    assert {f.id: f.p_adjusted for f in out if f.family == "primary"} == pytest.approx(
        {"f0": q[0], "f1": q[0], "f2": q[1]})
    text = method_section(s, m, n_testable, fam)["families_text"]
    assert text[0].startswith("Primary family: 2 hypotheses about the named sensitive attribute(s) g (2 testable)")
    assert text[1].startswith("Exploratory family: 3 hypotheses (3 testable)")
    assert text[2].startswith("2 hypotheses were each shown by several findings")
    assert "2 findings added no test" in text[2]


def test_follow_ups_of_named_attributes_are_exploratory():
    fs = [_f(0, 0.01, attrs={"race": None}, bias_type="group_attribution", kind="association"),
          _f(1, 0.01, attrs={"race": None, "sex": None}, bias_type="group_attribution", kind="intersection_association"),
          _f(2, 0.01, attrs={"race": "b", "sex": "f"}, bias_type="group_attribution", kind="intersection_rate"),
          _f(3, 0.01, attrs={"race": None, "sex": None, "age": None}, bias_type="group_attribution",
             kind="intersection_association")]
    out = assign_families(fs, ["race", "sex", "age"])
    assert [f.family for f in out] == ["primary", "primary", "exploratory", "exploratory"]


def test_rows_needed_is_the_hypothesis_number_when_a_stricter_view_sets_its_p():
    """The group gap is tested by Pearson (p = 0.044) and, as a cell, by Fisher (p = 0.054); the
    hypothesis enters the family with the larger p, so the rows it needs must make *Fisher* reach
    alpha, never "n rows would settle it" at the n it already has."""
    from scipy.stats import chi2_contingency, fisher_exact
    a, b = 40, 42  # label "low" in groups F (383 rows) and M (266 rows)
    table = np.array([[a, 383 - a], [b, 266 - b]])
    assert chi2_contingency(table, correction=False).pvalue < 0.05 < fisher_exact(table).pvalue
    g = ["F"] * 383 + ["M"] * 266
    y = ["low"] * a + ["high"] * (383 - a) + ["low"] * b + ["high"] * (266 - b)
    r = ba.audit(pd.DataFrame({"g": g, "y": y}), label="y", sensitive=["g"], positive="low", probe=False)
    f = next(f for f in r.findings if f.detector == "group_attribution" and f.kind == "association")
    assert f.p_value == pytest.approx(chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    assert not f.established and f.p_adjusted == pytest.approx(fisher_exact(table).pvalue, rel=1e-9)
    assert f.rows_needed is not None and f.rows_needed > 649
    k = f.rows_needed // 649  # the same proportions replicated k times
    assert fisher_exact(table * k).pvalue <= 0.05 < fisher_exact(table * (k - 1)).pvalue
