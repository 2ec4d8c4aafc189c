"""The first screen: the text report opens with the answer, in about 30 lines, and every reader agrees.

Oracles: pandas counts from the CSV, hand-computed binomial facts of the lecture table
(STATISTICS.md §9: the selection-adjusted p of 'small and not brown -> CAT' is 19/3003 by exact
enumeration of the 3003 labellings), Newcombe's interval computed here from its formula with
``scipy.stats.norm`` (not the library's wrapper), and the folding relation read off the result.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import biasaudit
from biasaudit.findings import AuditResult, Finding
from biasaudit.integrations.cli import cli
from biasaudit.report import summary as S
from biasaudit.report.text import SUMMARY_LINES, render_summary_lines, render_text
from biasaudit.settings import severity_rank
from oracles import newcombe
from conftest import DATASETS


@pytest.fixture(scope="module")
def lecture_text() -> str:
    r = CliRunner().invoke(cli, ["scan", str(DATASETS / "dogs_cats.csv"), "-q"])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def dc_result():
    return biasaudit.audit(DATASETS / "dogs_cats.csv", label="species", source="datasets/dogs_cats.csv")


def _line_with(lines, *words):
    hits = [ln for ln in lines if all(w in ln for w in words)]
    assert hits, f"no line has {words}:\n" + "\n".join(lines)
    return hits[0]


def _logical_lines(text: str, n: int) -> list:
    """The first ``n`` printed lines, wrapped continuations (indented 4 more) joined to their line."""
    out, start = [], 0
    for ln in text.splitlines()[:n]:
        indent = len(ln) - len(ln.lstrip(" "))
        if out and ln.strip() and indent == start + 4:
            out[-1] += " " + ln.strip()
        else:
            out.append(ln)
            start = indent
    return out


def test_first_30_lines_say_what_the_lecture_concludes(lecture_text):
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    first = lecture_text.splitlines()[:30]
    lines = _logical_lines(lecture_text, 30)
    n_cat, n_dog = int((df.species == "CAT").sum()), int((df.species == "DOG").sum())
    assert f"{len(df)} rows" in first[1] and f"CAT {n_cat}" in first[1] and f"DOG {n_dog}" in first[1]
    assert any("nothing is established" in ln for ln in lines)           # 14 rows establish none of them
    # big animals are dogs; cats are always small
    big = df[df["size"] == "big"]
    assert (big.species == "DOG").all()
    ln = _line_with(lines, "size=big", "DOG", f"{len(big)} of {len(big)}")
    assert f"every CAT has size=small ({n_cat} of {n_cat})" in ln
    assert "too small to tell" in ln
    # dogs are one-coloured
    dogs_single = int((~df[df.species == "DOG"].color.str.contains("-")).sum())
    assert dogs_single == n_dog
    _line_with(lines, "every DOG has 1 color value", f"({n_dog} of {n_dog})")
    # no small white dog (and no small black one): told as what 'small and not brown -> CAT' implies
    small_white = df[(df["size"] == "small") & (df.color == "white")]
    assert (small_white.species == "CAT").all()
    _line_with(lines, "no DOG with size=small", "white", f"0 of {len(small_white)}")
    # the one supported rule, with its selection-adjusted p (19/3003 by exact enumeration)
    rule = df[(df["size"] == "small") & (df.color != "brown")]
    assert (rule.species == "CAT").all()
    ln = _line_with(lines, "size=small and color≠brown", "CAT", f"{len(rule)} of {len(rule)}")
    assert f"p={19 / 3003:.2g}" in ln and "supported" in ln


def test_summary_fits_the_budget_and_precedes_the_evidence(lecture_text, dc_result):
    lines = lecture_text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("OVERGENERALIZATION"))
    assert start <= SUMMARY_LINES + 1
    assert len(render_summary_lines(dc_result)) <= SUMMARY_LINES
    # each section once (the probe and label quality were printed twice)
    assert lecture_text.count("WHAT DID THE MODEL LEARN") == 0
    assert lecture_text.count("WHAT A MODEL LEARNS (PROBE)") == 1
    assert lecture_text.count("IF size=big THEN DOG") == 1


def test_rule_verdict_is_one_phrase(lecture_text):
    ln = _line_with(_logical_lines(lecture_text, 400), "IF size=small AND color≠brown THEN CAT")
    assert "SPURIOUS" not in ln and "; spurious" not in ln
    assert re.search(r"supported by the data \(selection-adjusted p=0\.0063\), but spurious: it implies no DOG", ln)


def test_counts_agree_between_headline_and_sections(dc_result):
    c = S.counts(dc_result)
    vis = S.visible(dc_result)
    assert c.total == len(vis) == sum(c.by_severity.values())
    assert c.established + c.not_established + c.info == c.total
    text = render_text(dc_result, verbose=True)
    assert c.headline() in " ".join(text.split())
    tallies = re.findall(r"^[A-Z][A-Z ()]+ — (.*)$", text, re.M)
    per_sev = {}
    for t in tallies:
        for n, sev in re.findall(r"(\d+) ([a-z-]+)", t):
            per_sev[sev] = per_sev.get(sev, 0) + int(n)
    assert per_sev == {k: v for k, v in c.by_severity.items() if v}


def test_children_are_never_more_severe_than_their_parents(dc_result):
    vis = {f.id: f for f in S.visible(dc_result)}
    pairs = S.parents(dc_result)
    assert pairs, "the lecture table folds some findings"
    for child, parent in pairs.items():
        assert severity_rank(vis[parent].severity) <= severity_rank(vis[child].severity)
    # the audit itself never leaves a child under a less severe parent (it unfolds it instead)
    by_id = {f.id: f for f in dc_result.findings}
    for f in dc_result.findings:
        if f.explained_by in by_id:
            assert severity_rank(by_id[f.explained_by].severity) <= severity_rank(f.severity), f.id


def _finding(fid, sev, **kw):
    base = dict(id=fid, bias_type="overgeneralization", detector="overgeneralization", attributes={"a": "x"},
                message=f"{fid} sentence.", severity=sev, n=10)
    base.update(kw)
    return Finding(**base)


def _result(findings, sensitive=("a",), attributes=("a", "b")):
    dataset = {"source": "t.csv", "n_rows": 100, "n_rows_audited": 100, "label": "y", "positive": "1",
               "label_values": ["0", "1"], "label_counts": {"0": 60, "1": 40}, "sensitive": list(sensitive),
               "attributes": list(attributes), "columns": [], "derived": {}, "bins": {}, "excluded": {}, "notes": []}
    groups = pd.DataFrame({"attribute": ["a", "a"], "group": ["x", "z"], "n": [50, 50], "share": [.5, .5],
                           "rate:0": [.4, .8], "rate:1": [.6, .2]})
    return AuditResult(dataset=dataset, settings={"alpha": 0.05, "correction": "bh", "random_state": 0},
                       groups=groups, findings=tuple(findings), family_size=3, n_testable=3,
                       sections={"method": {"correction": "Benjamini-Hochberg"}}, tool={"version": "t"})


def test_a_more_severe_child_is_shown_as_its_own_finding():
    parent = _finding("p", "medium", attributes={"b": "u"})
    child = _finding("c", "critical", attributes={"b": "u", "c": "v"}, explained_by="p")
    quiet = _finding("k", "low", attributes={"b": "u", "d": "w"}, explained_by="p")
    r = _result([child, parent, quiet], sensitive=(), attributes=("b", "c", "d"))
    assert S.parents(r) == {"k": "p"}
    text = render_text(r)
    assert re.search(r"^  \[critical\] c sentence\.", text, re.M)     # a root line, not folded
    assert re.search(r"^        · k sentence", text, re.M)             # folded under p


def test_a_finding_on_a_named_attribute_is_never_folded_under_another():
    parent = _finding("p", "high", attributes={"b": "u"})
    child = _finding("c", "medium", attributes={"a": "x"}, explained_by="p")
    r = _result([parent, child], sensitive=("a",))
    assert S.named_sensitive(r) == ["a"] and S.parents(r) == {}





@pytest.mark.parametrize("k1,n1,k2,n2", [(30, 50, 10, 50), (0, 7, 3, 9), (696, 2103, 1829, 3175), (5, 5, 0, 4)])
def test_newcombe_interval_matches_its_formula(k1, n1, k2, n2):
    lo, hi = biasaudit.stats.newcombe_diff_ci(k1, n1, k2, n2)
    assert (lo, hi) == pytest.approx(newcombe(k1, n1, k2, n2), abs=1e-12)


@pytest.fixture(scope="module")
def named():
    """400 rows, a planted gap on the named attribute g (60% vs 30%) and a noise column h."""
    rng = np.random.default_rng(3)
    g = np.repeat(["p", "q"], [240, 160])
    y = np.where(g == "p", rng.random(400) < 0.6, rng.random(400) < 0.3).astype(int)
    df = pd.DataFrame({"g": g, "h": rng.choice(["u", "v", "w"], 400), "y": y})
    return df, biasaudit.audit(df, label="y", sensitive=["g"], probe=False)


def test_the_named_attribute_is_answered_first(named):
    df, r = named
    lines = render_summary_lines(r)
    head = lines.index("THE ANSWER FOR THE SENSITIVE ATTRIBUTES YOU NAMED")
    text = " ".join(ln.strip() for ln in lines[head + 1:head + 4])
    rates = df.groupby("g").y.agg(["sum", "count"])
    kp, np_ = int(rates.loc["p", "sum"]), int(rates.loc["p", "count"])
    kq, nq = int(rates.loc["q", "sum"]), int(rates.loc["q", "count"])
    hi, lo = ("p", "q") if kp / np_ > kq / nq else ("q", "p")
    assert f"y=1 {100 * kp / np_:.0f}% for p (n={np_})" in text or f"{100 * kp / np_:.0f}% for p" in text
    c_lo, c_hi = newcombe(kp, np_, kq, nq) if hi == "p" else newcombe(kq, nq, kp, np_)
    diff = (kp / np_ - kq / nq) if hi == "p" else (kq / nq - kp / np_)
    assert f"gap {100 * diff:+.0f} points [{100 * c_lo:+.0f}, {100 * c_hi:+.0f}]" in text
    assert "established" in text and "not established" not in text
    assert not any("No sensitive attribute named" in ln for ln in lines)


def test_without_named_attributes_the_first_lines_say_so(dc_result):
    assert S.named_sensitive(dc_result) == []
    assert any(ln.startswith("No sensitive attribute named") for ln in render_summary_lines(dc_result)[:8])


def test_derived_columns_never_lead(dc_result, lecture_text):
    s = S.summarize(dc_result)
    for it in s.learned + s.top + s.too_few:
        assert "color_has_" not in it.text and "color_count" not in it.text, it.text
    # in each evidence section, findings on original columns come before derived ones of the same severity
    derived = set(dc_result.dataset["derived"])
    body = lecture_text[lecture_text.index("OVERGENERALIZATION"):]
    for section in re.split(r"\n\n(?=[A-Z])", body):
        seen_derived = set()
        for sev, text in re.findall(r"^  \[([a-z-]+)\] (.*)$", section, re.M):
            is_derived = any(d in text for d in derived)
            assert is_derived or sev not in seen_derived, (sev, text)
            if is_derived:
                seen_derived.add(sev)


def test_top_and_verbose(dc_result):
    vis = S.visible(dc_result)
    roots = [f for f in vis if f.id not in S.parents(dc_result)]
    one = render_text(dc_result, top=1)
    sections = re.split(r"\n\n(?=[A-Z])", one[one.index("OVERGENERALIZATION"):])
    for sec in sections:
        assert len(re.findall(r"^  \[", sec, re.M)) <= 1
    verbose = render_text(dc_result, verbose=True)
    flat = " ".join(verbose.split())
    shown = [f for f in roots if not (f.detector == "probe" and f.kind == "rule")]
    for f in shown:
        assert " ".join(f.message.split()) in flat, f.id
    folded = [f for f in vis if f.id in S.parents(dc_result)]
    for f in folded:
        assert " ".join(f.message.split()) in flat, f.id
    r = CliRunner().invoke(cli, ["scan", str(DATASETS / "dogs_cats.csv"), "-q", "--top", "1"])
    assert r.exit_code == 0 and r.output == one.replace("datasets/dogs_cats.csv", str(DATASETS / "dogs_cats.csv"))


def test_left_out_columns_are_grouped_by_reason():
    from biasaudit.report.words import group_reasons
    out = group_reasons([("a", "12 distinct values (more than --max-levels 5): free text or an identifier"),
                         ("b", "300 distinct values (more than --max-levels 5): free text or an identifier"),
                         ("c", "constant (one value)")], limit=6)
    assert out == [("a, b", "more than 5 distinct values: free text or an identifier"), ("c", "constant (one value)")]


@pytest.mark.parametrize("u,text", [(0.0996, "10%"), (0.25, "25%"), (0.004, "0.4%"), (0.0, "0%")])
def test_uncertainty_percent_is_plain(u, text):
    from biasaudit.detectors.proxies import _pct
    assert _pct(u) == text


def test_no_advice_names_a_bare_number_label():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(95), np.zeros(5), np.zeros(100)].astype(int)
    df = pd.DataFrame({"a": np.repeat(["x", "z"], 100), "y": y})
    df["b"] = rng.choice(["u", "v"], 200)
    r = biasaudit.audit(df, label="y", probe=False)
    assert r.findings
    for f in r.findings:
        assert not re.search(r"Collect [01] examples", f.suggestion), f.suggestion


@pytest.mark.parametrize("pattern,p,words", [(False, 0.6, "no sign of differing"), (True, 0.2, "not beyond"),
                                             (True, 0.001, "the backgrounds differ by class")])
def test_image_probe_says_what_its_numbers_say(pattern, p, words):
    from biasaudit.detectors.image_probe import _border_verdict
    text = _border_verdict(pattern, p, 0.05)
    assert words in text
    if not pattern:
        assert "differ by class, a shortcut" not in text


def test_the_primary_family_names_the_sensitive_attributes():
    a = _finding("p", "medium", attributes={"a": "x"}, family="primary")
    b = _finding("q", "high", attributes={"b": "u"}, family="exploratory")
    r = _result([a, b], sensitive=("a", "b"), attributes=("a", "b"))
    assert S.named_sensitive(r) == ["a"]          # the audit's family, not the roles' default list
    r2 = _result([b], sensitive=("a", "b"), attributes=("a", "b"))
    assert S.named_sensitive(r2) == []            # every attribute, nothing named: the default


@pytest.mark.parametrize("items,text", [
    ([{"size": "big", "color": "red"}, {"size": "big", "color": "white"}], "size=big and color=red or white"),
    ([{"a": "1"}, {"b": "2"}], "a=1 or b=2"),
    ([{"color_count": "2"}], "2 color values"),
    ([{"color_has_white": "no", "size": "small"}], "color without white and size=small"),
])
def test_cells_in_words(items, text):
    from biasaudit.report.words import cells
    derived = {"color_count": "color", "color_has_white": "color"}
    assert cells(items, derived) == text


def test_chains_fold_under_their_root_and_nothing_is_lost():
    root = _finding("r", "high", attributes={"b": "u"})
    mid = _finding("m", "medium", attributes={"b": "u", "c": "v"}, explained_by="r")
    leaf = _finding("l", "low", attributes={"b": "u", "c": "v", "d": "w"}, explained_by="m")
    loud = _finding("x", "critical", attributes={"b": "u", "e": "z"}, explained_by="m")
    r = _result([root, mid, leaf, loud], sensitive=(), attributes=("b", "c", "d", "e"))
    assert S.parents(r) == {"m": "r", "l": "r"}
    text = render_text(r, verbose=True)
    for f in (root, mid, leaf, loud):
        assert text.count(f.message) == 1, f.id
    from biasaudit.report.html import render_html
    html = render_html(r)
    assert sorted(re.findall(r'<(?:details class="card|li class="kid)[^>]*data-sev="([a-z-]+)"', html)) == sorted(
        f.severity for f in (root, mid, leaf, loud))


# ------------------------------------------------------------------ held fixed: Simpson's paradox
#: Berkeley 1973 graduate admissions, six largest departments (Bickel, Hammel & O'Connell 1975):
#: (admitted, rejected) for men, then for women.
UCB = {"A": (512, 313, 89, 19), "B": (353, 207, 17, 8), "C": (120, 205, 202, 391),
       "D": (138, 279, 131, 244), "E": (53, 138, 94, 299), "F": (22, 351, 24, 317)}


def _ucb_frame() -> pd.DataFrame:
    rows = []
    for dept, (ma, mr, fa, fr) in UCB.items():
        for gender, adm, rej in (("Male", ma, mr), ("Female", fa, fr)):
            rows += [(dept, gender, "Admitted")] * adm + [(dept, gender, "Rejected")] * rej
    return pd.DataFrame(rows, columns=["Dept", "Gender", "Admit"])


def test_the_named_answer_says_when_holding_another_attribute_fixed_reverses_the_gap():
    r = biasaudit.audit(_ucb_frame(), label="Admit", sensitive=["Gender"], positive="Admitted", probe=False)
    answer = S.summarize(r).answers[0]
    # overall: women 557/1835, men 1198/2691; Mantel-Haenszel risk difference with weights n1 n0 / N
    women = sum(fa for _, _, fa, _ in UCB.values()), sum(fa + fr for _, _, fa, fr in UCB.values())
    men = sum(ma for ma, _, _, _ in UCB.values()), sum(ma + mr for ma, mr, _, _ in UCB.values())
    overall = women[0] / women[1] - men[0] / men[1]
    num = den = 0.0
    for ma, mr, fa, fr in UCB.values():
        n1, n0 = fa + fr, ma + mr
        w = n1 * n0 / (n1 + n0)
        num += w * (fa / n1 - ma / n0)
        den += w
    rd_mh = num / den
    assert overall == pytest.approx(-0.1416, abs=5e-4) and rd_mh > 0  # the reversal
    note = answer.notes[0]
    assert note.startswith("holding Dept fixed, the gap changes sign")
    assert f"{100 * rd_mh:+.0f} points for Female" in note and f"vs {100 * overall:+.0f} overall" in note
    assert "no difference within Dept levels is established" in note
    text = render_text(r)
    head = text[:text.index("TOP FINDINGS")] if "TOP FINDINGS" in text else text
    assert "holding Dept fixed, the gap changes sign" in " ".join(head.split())


def _mh_difference(cells: dict, exposure: str) -> tuple[float, float]:
    """Overall and Mantel-Haenszel risk differences of ``exposure`` against the rest, by hand.

    ``cells``: {(group, stratum): (positives, n)}; weights n1 n0 / N per stratum."""
    groups = {g for g, _ in cells}
    strata = sorted({s for _, s in cells})
    k1 = sum(k for (g, _), (k, n) in cells.items() if g == exposure)
    n1 = sum(n for (g, _), (k, n) in cells.items() if g == exposure)
    k0 = sum(k for (g, _), (k, n) in cells.items() if g != exposure)
    n0 = sum(n for (g, _), (k, n) in cells.items() if g != exposure)
    num = den = 0.0
    for s in strata:
        a, m1 = cells[(exposure, s)]
        b = sum(cells[(g, s)][0] for g in groups if g != exposure)
        m0 = sum(cells[(g, s)][1] for g in groups if g != exposure)
        w = m1 * m0 / (m1 + m0)
        num += w * (a / m1 - b / m0)
        den += w
    return k1 / n1 - k0 / n0, num / den


def _frame(cells: dict, names=("g", "s")) -> pd.DataFrame:
    rows = []
    for (g, s), (k, n) in cells.items():
        rows += [(g, s, "yes")] * k + [(g, s, "no")] * (n - k)
    return pd.DataFrame(rows, columns=[*names, "y"])


def test_an_established_simpson_reversal_is_said_under_the_named_attribute():
    """Two-level attribute, strong reversal: the conditional detector reports it as a Simpson finding
    (in the family, established); the answer must still say that the gap changes sign."""
    cells = {("M", "A"): (800, 1000), ("M", "B"): (20, 200), ("F", "A"): (190, 200), ("F", "B"): (150, 1000)}
    r = biasaudit.audit(_frame(cells, ("sex", "dept")), label="y", sensitive=["sex"], positive="yes",
                        probe=False, keep=["dept"])
    overall, mh = _mh_difference(cells, "F")
    assert overall == pytest.approx(340 / 1200 - 820 / 1200) and mh > 0
    note = S.summarize(r).answers[0].notes[0]
    assert note.startswith("holding dept fixed, the gap changes sign")
    assert f"{100 * mh:+.0f} points for F against the rest" in note and f"vs {100 * overall:+.0f} overall" in note
    assert "remains established" in note


def test_with_three_groups_the_note_is_about_a_compared_group():
    """race a/b/c; only a is confounded with dept: the note names a (one of the two groups the answer
    compares), not the level with the largest stratified statistic."""
    cells = {("a", "A"): (480, 800), ("a", "B"): (60, 200), ("b", "A"): (120, 200), ("b", "B"): (256, 800),
             ("c", "A"): (150, 250), ("c", "B"): (75, 250)}
    r = biasaudit.audit(_frame(cells, ("race", "dept")), label="y", sensitive=["race"], positive="yes",
                        probe=False, keep=["dept"])
    answer = S.summarize(r).answers[0]
    assert {answer.gap["high"]["group"], answer.gap["low"]["group"]} == {"a", "b"}
    note = next(n for n in answer.notes if n.startswith("holding dept fixed"))
    group = note.split("the difference of ")[1].split(" ")[0]
    assert group in ("a", "b")  # never c, which the answer does not compare
    overall, mh = _mh_difference(cells, group)
    assert mh * overall < 0 or abs(mh) < 0.5 * abs(overall)
    pts = lambda x: f"{100 * x:+.0f}" if abs(100 * x) >= 1 else f"{100 * x:+.1f}"  # noqa: E731 (points, as printed)
    assert f"{pts(mh)} points within dept levels" in note and f"vs {pts(overall)} overall" in note
